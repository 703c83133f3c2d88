/*
 * shadow.h - a session's connection to the database that is not the
 * source of truth, and the comparison of its answers with the source of
 * truth's (shadowMode async, sync, strict-sync).
 *
 * The shadow logs in with the credentials of its own URL (INIT_TARGET or
 * INIT_SOURCE, whichever is not the source of truth) and the client's
 * database, receives a copy of every request the mode lets through, and
 * digests its answers without sending them anywhere.  The session tells
 * it where each client request starts and ends, what the source of truth
 * answered, and asks it whether a request's final answer (READY) may go
 * to the client yet.
 *
 * Requests are numbered in the order the client starts them; the source
 * of truth and the shadow answer them in that order, which is how the
 * two answers to one request are matched.  A shadow that falls out of
 * step (timeout, lost connection, a request it could not take whole) is
 * closed; the session opens a new one at its next request outside a
 * transaction.
 *
 * Ownership: the session owns the shadow (lms_shadow_free).  The shadow
 * never calls into the session: when the session should look again (a
 * held answer may now go out), it activates the session's wake event.
 */
#ifndef LMS_SHADOW_H
#define LMS_SHADOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "conn.h"
#include "lms/plugin.h"

struct lms_worker;
struct lms_shadow;

enum lms_shadow_mode {
	LMS_SHADOW_NONE = 0,
	LMS_SHADOW_ASYNC,
	LMS_SHADOW_SYNC,
	LMS_SHADOW_STRICT,
	LMS_SHADOW_STANDBY       /* not a shadowMode: a connection opened while
				    paused for a cutover, logged in and holding
				    the session's state, that takes no requests
				    and is promoted at commit */
};

/* What the shadow needs from its session; strings and startup bytes are
 * borrowed and must outlive the shadow. */
struct lms_shadow_ctx {
	struct lms_worker *w;
	int mode;                /* enum lms_shadow_mode, not NONE */
	int truth_role;          /* enum lms_role */
	const char *family;      /* the client's wire family */
	const char *user;        /* the client's user (for the log) */
	const char *database;    /* the client's database */
	const uint8_t *startup_raw;
	size_t startup_len;
	const char *peer;        /* "ip:port" of the client */
	struct event *wake;      /* activated when the session should look again */
	/* The session's state to replay right after the login (messages the
	 * frontend flagged LMS_STMT_REPLAY; copied), and the READYs it gets. */
	const uint8_t *replay;
	size_t replay_len;
	uint32_t replay_reqs;
};

/* Answer to lms_shadow_request_start(). */
enum lms_shadow_start {
	LMS_SHADOW_SKIP = 0,     /* this request is not sent to the shadow */
	LMS_SHADOW_SEND = 1,     /* send every message of it (lms_shadow_send) */
	LMS_SHADOW_WAIT = 2      /* sync modes: too many requests in flight;
				    start it again once woken */
};

/* Create the shadow and start connecting.  NULL when out of memory. */
struct lms_shadow *lms_shadow_new(const struct lms_shadow_ctx *ctx);

/* Free now: every request still in flight is counted lost (or dropped,
 * when it never went out). */
void lms_shadow_free(struct lms_shadow *sh);

/* Moving with its session to another worker (session.c, balance.h).
 * lms_shadow_quiet: nothing in flight, buffered, half sent or being
 * dialled; only then may lms_shadow_leave_loop (the old worker's thread)
 * take its socket and timer off that loop, and lms_shadow_join_loop (the
 * new worker's thread) put them on w's.  Nothing is allocated: join
 * cannot fail.  The session's wake event (ctx.wake) moves with the
 * session, which re-assigns it to the same loop. */
bool lms_shadow_quiet(const struct lms_shadow *sh);
void lms_shadow_leave_loop(struct lms_shadow *sh);
void lms_shadow_join_loop(struct lms_shadow *sh, struct lms_worker *w);

/* The session's user and database changed (names the session owns, for
 * the shadow's log lines and its next login).  sh may be NULL. */
void lms_shadow_set_names(struct lms_shadow *sh, const char *user, const char *database);

/* The session closes (its client left): the requests the shadow already
 * runs are finished without it.  The shadow leaves the session for its
 * worker's list of orphans (struct lms_worker.orphans, owned there),
 * reads the answers, compares them with what the source of truth had
 * answered, and frees itself when none is left or --shadow-timeout ends
 * the wait.  A request the source of truth had not answered yet is
 * counted lost; one the shadow had not been sent whole is dropped.  At
 * most 256 orphans per worker; beyond, it is freed at once (counted lost).
 * sh (and the ctx strings it borrowed) must not be used after. */
void lms_shadow_close(struct lms_shadow *sh);

/* Free every orphan of w now (the shutdown timeout): what is in flight is
 * counted lost. */
void lms_shadow_orphans_close(struct lms_worker *w);

/* ---- the client's requests ---- */

/* The client starts a request.  idle: the session is outside any
 * transaction with nothing in flight, so a new shadow connection may be
 * opened here if the last one was lost. */
int lms_shadow_request_start(struct lms_shadow *sh, bool idle);

/* The client sends bulk data (COPY) for the request it started last:
 * the bytes belong to that request, which then runs on both databases at
 * once (the source of truth needs the data before it can answer).
 * Returns true when the data goes to the shadow too. */
bool lms_shadow_request_continue(struct lms_shadow *sh);

/* The current request's statement (first one named wins). */
void lms_shadow_request_name(struct lms_shadow *sh, const char *fingerprint, uint32_t stmt_flags);

/* Bytes the shadow can take now for the current request. */
size_t lms_shadow_room(struct lms_shadow *sh);

/* Is the current request still going to the shadow?  (It stops when the
 * shadow gave up on it.) */
bool lms_shadow_sending(const struct lms_shadow *sh);

/* Queue n bytes of the current request.  Returns false when they do not
 * fit whole: the shadow gave up (the rest of the request is not sent). */
bool lms_shadow_send(struct lms_shadow *sh, const uint8_t *p, size_t n);

/* Does the shadow speak another wire family than the client (ABI 1.3)?
 * Then its requests are translated (lms_shadow_translate) instead of
 * copied: lms_shadow_send only notes that a message could not be. */
bool lms_shadow_translates(const struct lms_shadow *sh);

/* Translation: one whole client message of the current request, described
 * by the clients' plugin front (frontend state fe) and encoded by the
 * shadow's plugin, is queued.  A message without a translation leaves
 * the request uncompared; a request whose messages owe no answer at all
 * is counted as dropped. */
void lms_shadow_translate(struct lms_shadow *sh, const struct lms_dialect *front, void *fe, const uint8_t *p,
			  size_t n);

/* A client message of len bytes, too big to decode (over LMS_DECODE_MAX),
 * starts streaming in the current request: a translating shadow
 * assembles it (within the --translate-memory budget, up to
 * LMS_BIGMSG_MAX) from what lms_shadow_send gets, and translates it once
 * whole, as lms_shadow_translate would; otherwise it is not compared. */
void lms_shadow_whole_begin(struct lms_shadow *sh, const struct lms_dialect *front, void *fe, uint64_t len);

/* A whole client message of the current request was just queued
 * (lms_shadow_send): tell the shadow's backend plugin, which keeps what
 * it needs to read the answers (be_note_request).  Does nothing when the
 * request does not go to the shadow. */
void lms_shadow_note_request(struct lms_shadow *sh, const uint8_t *p, size_t len);

/* The current request's last message was queued. */
void lms_shadow_request_end(struct lms_shadow *sh);

/* Send what is queued; call after a pass of the session's pump. */
void lms_shadow_flush(struct lms_shadow *sh);

/* ---- the source of truth's answers ---- */

/* One observed message of the answer to the oldest unanswered request. */
void lms_shadow_truth_event(struct lms_shadow *sh, const struct lms_event *ev, uint64_t row_hash);
/* A message of the answer too big to decode (kind LMS_MSG_*, len bytes):
 * lms_outcome_oversized (a row counted, its values not compared; an
 * error as XX000). */
void lms_shadow_truth_oversized(struct lms_shadow *sh, int kind, uint64_t len);
/* A whole row of it that streamed past (a copy), described with backend
 * plugin d (state be): lms_outcome_streamed_row. */
void lms_shadow_truth_row(struct lms_shadow *sh, const struct lms_dialect *d, void *be, const uint8_t *msg,
			  size_t len);

/* The source of truth's READY for its current request is next: may it go
 * to the client now?  (sync modes hold it until the shadow answered.)
 * Also marks that request answered by the source of truth, which releases
 * it to the shadow when it was waiting for that (see shadow.c). */
bool lms_shadow_truth_may_finish(struct lms_shadow *sh);

/* The source of truth's READY is going to the client.  Returns true when
 * strict-sync wants the client to get the shadow's error instead of the
 * source of truth's success: *err is filled (its strings point into buf
 * and static text). */
bool lms_shadow_truth_done(struct lms_shadow *sh, struct lms_error *err, char *buf, size_t cap);

/* ---- promotion (cutover) ---- */

/* Logged in, state replayed, nothing in flight: could become the
 * session's connection to the source of truth? */
bool lms_shadow_promotable(const struct lms_shadow *sh);

/* The database this shadow talks to (enum lms_role). */
int lms_shadow_role(const struct lms_shadow *sh);

/* Hand the connection over: moved into dst (owned by cb(owner)), its
 * backend plugin state into *be (the caller frees it), its cancel key into
 * key/key_len.  The shadow is left without a connection; free it next.
 * Returns 0, or -1 when it is not promotable. */
int lms_shadow_detach(struct lms_shadow *sh, struct lms_conn *dst, lms_conn_cb cb, void *owner, void **be,
		      uint8_t key[LMS_KEY_MAX], size_t *key_len);

/* ---- state ---- */

/* Parse a shadowMode name; -1 when unknown. */
int lms_shadow_mode_parse(const char *name);

#endif
