/*
 * store.h - the coordination store (schema _molt_lms, docs/api.md) over
 * libpq, and the source's watermark table.
 *
 * Each call runs on one connection, opened on first use and reopened
 * once when it was lost.  Every statement is bounded by statement_timeout
 * and connecting by connect_timeout, so no call blocks longer.  Error
 * messages name the database's reason, never the URL (it may hold a
 * password).
 */
#ifndef ORCH_STORE_H
#define ORCH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum orch_store_rc {
	ORCH_STORE_OK = 0,
	ORCH_STORE_ERROR = -1,   /* the database failed or cannot be reached */
	ORCH_STORE_STALE = -2,   /* the state's epoch is not the one expected */
	ORCH_STORE_UNINIT = -3,  /* _molt_lms.state does not exist or has no row */
	ORCH_STORE_NOTFOUND = -4
};

struct orch_store;

struct orch_state {
	int64_t epoch;
	char source_of_truth[16];
	char phase[16];
	int64_t cutover_id;      /* 0 when none */
	double updated_age_s;
};

/* A transition (begin, commit, abort): from old_epoch to epoch+1. */
struct orch_transition {
	int64_t old_epoch;
	const char *phase;            /* new phase */
	const char *source_of_truth;  /* new source of truth */
	const char *kind;             /* event: begin|commit|abort */
	const char *detail;           /* event detail (JSON text) or NULL */
	/* begin: a new cutover row from -> to; otherwise end cutover_id */
	bool new_cutover;
	const char *from, *to;
	int64_t cutover_id;           /* in (end) / out (begin) */
	const char *end_status;       /* committed|aborted */
	/* out */
	int64_t epoch;
	double paused_ms;             /* end: since the cutover began */
};

/* A store for url (borrowed, must outlive it); name ("CRDB_URL",
 * "SOURCE_URL") prefixes errors.  Connects lazily.  Returns NULL when out
 * of memory. */
struct orch_store *orch_store_new(const char *url, const char *name);
void orch_store_free(struct orch_store *s);

/* Create what is missing of _molt_lms on the target (tables, sequence,
 * the initial state row, the target's copy of watermark), appending the
 * names to created or existing. */
int orch_store_initialize(struct orch_store *s, json_t *created, json_t *existing, char *err, size_t errlen);

/* Create _molt_lms.watermark on the source when missing. */
int orch_store_init_watermark(struct orch_store *s, json_t *created, json_t *existing, char *err, size_t errlen);

int orch_store_read_state(struct orch_store *s, struct orch_state *st, char *err, size_t errlen);

/* Apply t in one transaction: the conditional state update, the cutover
 * row, and an event.  ORCH_STORE_STALE when the epoch moved meanwhile. */
int orch_store_transition(struct orch_store *s, struct orch_transition *t, char *err, size_t errlen);

/* Append an event (instance, detail may be NULL; duration_ms < 0: NULL). */
int orch_store_event(struct orch_store *s, int64_t cutover_id, const char *kind, int64_t epoch,
		     const char *instance, double duration_ms, const char *detail, char *err, size_t errlen);

/* Record an error on a cutover row (state unchanged). */
int orch_store_cutover_error(struct orch_store *s, int64_t cutover_id, const char *error, char *err, size_t errlen);

/* Registered instances: a new array of objects {id, admin_url, version,
 * shadow_mode, heartbeat_age_s, acked_epoch, acked_phase,
 * acked_source_of_truth}; *out NULL on error. */
int orch_store_instances(struct orch_store *s, json_t **out, char *err, size_t errlen);

/* The registration of instance id: a new object {id, admin_url,
 * heartbeat_age_s, heartbeat_at} (heartbeat_at as the store's text, for
 * orch_store_forget_instance); ORCH_STORE_NOTFOUND when there is none. */
int orch_store_instance(struct orch_store *s, const char *id, json_t **out, char *err, size_t errlen);

/* Delete instance id's registration, only if its heartbeat_at is still
 * heartbeat_at (the text orch_store_instance gave), and append a "forget"
 * event (cutover_id 0: none; detail: JSON text or NULL), in one
 * transaction.  ORCH_STORE_NOTFOUND when the row is gone or heartbeated
 * meanwhile (nothing deleted). */
int orch_store_forget_instance(struct orch_store *s, const char *id, const char *heartbeat_at, int64_t cutover_id,
			       const char *detail, char *err, size_t errlen);

/* One cutover's row and its events as docs/api.md's /cutovers/{id}. */
int orch_store_cutover(struct orch_store *s, int64_t id, json_t **out, char *err, size_t errlen);

/* Cutovers counted by status, and the last paused_ms (or -1), for metrics. */
int orch_store_cutover_stats(struct orch_store *s, json_t **by_status, double *last_paused_ms,
			     char *err, size_t errlen);

/* Upsert (1, token, now()) into _molt_lms.watermark. */
int orch_store_write_watermark(struct orch_store *s, const char *token, char *err, size_t errlen);

/* The token in _molt_lms.watermark's row 1 into buf ("" when none). */
int orch_store_read_watermark(struct orch_store *s, char *buf, size_t cap, char *err, size_t errlen);

/* Replace _molt_lms.credentials by the n logins l in one transaction. */
struct orch_login;
int orch_store_replace_logins(struct orch_store *s, const struct orch_login *l, size_t n, char *err, size_t errlen);

/* Run "select 1" (the LMS probe). */
int orch_store_ping(struct orch_store *s, char *err, size_t errlen);

#endif
