/*
 * store.c - SQL on the control plane: the target's _molt_lms schema and
 * the source's watermark table.  Portable between PostgreSQL and
 * CockroachDB (no unique_rowid(), a sequence for event ids).
 */
#include "autoconfig.h"

#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"
#include "source.h"

#define CONNECT_TIMEOUT "5"
#define STATEMENT_OPTIONS "-c statement_timeout=10000 -c TimeZone=UTC"

struct orch_store {
	const char *url;
	const char *name;
	PGconn *conn;
};

struct orch_store *orch_store_new(const char *url, const char *name)
{
	struct orch_store *s = calloc(1, sizeof(*s));
	if (s) {
		s->url = url;
		s->name = name;
	}
	return s;
}

void orch_store_free(struct orch_store *s)
{
	if (!s)
		return;
	if (s->conn)
		PQfinish(s->conn);
	free(s);
}

/* libpq's message without its trailing newline. */
static void pq_msg(struct orch_store *s, const char *what, const char *msg, char *err, size_t errlen)
{
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	snprintf(err, errlen, "%s: %s: %.*s", s->name, what, (int)n, msg);
}

/* Server notices (NOTICE: ... already exists) go to the debug log, not
 * straight to stderr between the structured lines. */
static void on_notice(void *arg, const char *msg)
{
	struct orch_store *s = arg;
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		n--;
	lms_log(LMS_LOG_LEVEL_DEBUG, "store_notice", "store=%s msg=\"%.*s\"", s->name, (int)n, msg);
}

/* An open connection, or NULL with a message. */
static PGconn *store_conn(struct orch_store *s, char *err, size_t errlen)
{
	if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
		return s->conn;
	if (s->conn)
		PQfinish(s->conn);
	const char *keys[] = { "dbname", "connect_timeout", "options", "application_name", NULL };
	const char *vals[] = { s->url, CONNECT_TIMEOUT, STATEMENT_OPTIONS, "molt-lms-orchestrator", NULL };
	s->conn = PQconnectdbParams(keys, vals, 1);
	if (!s->conn) {
		snprintf(err, errlen, "%s: out of memory", s->name);
		return NULL;
	}
	if (PQstatus(s->conn) != CONNECTION_OK) {
		pq_msg(s, "cannot connect", PQerrorMessage(s->conn), err, errlen);
		PQfinish(s->conn);
		s->conn = NULL;
		return NULL;
	}
	PQsetNoticeProcessor(s->conn, on_notice, s);
	lms_log(LMS_LOG_LEVEL_INFO, "store_connected", "store=%s host=%s port=%s database=%s user=%s", s->name,
		PQhost(s->conn), PQport(s->conn), PQdb(s->conn), PQuser(s->conn));
	return s->conn;
}

/* Run sql with text params (NULL entries are SQL NULL).  Returns the
 * result (PGRES_COMMAND_OK or TUPLES_OK; the caller PQclear()s it) or
 * NULL with a message.  A lost connection is reopened once, outside a
 * transaction only. */
static PGresult *run(struct orch_store *s, const char *sql, int n, const char *const *params, char *err,
		     size_t errlen)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		PGconn *c = store_conn(s, err, errlen);
		if (!c)
			return NULL;
		bool idle = PQtransactionStatus(c) == PQTRANS_IDLE;
		PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
		ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
			return r;
		const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
		pq_msg(s, "query failed", msg && *msg ? msg : PQerrorMessage(c), err, errlen);
		PQclear(r);
		if (PQstatus(c) == CONNECTION_OK || !idle)
			return NULL;
	}
	return NULL;
}

/* Run a statement whose result is not needed.  Returns 0 or -1. */
static int exec0(struct orch_store *s, const char *sql, int n, const char *const *params, char *err, size_t errlen)
{
	PGresult *r = run(s, sql, n, params, err, errlen);
	PQclear(r);
	return r ? 0 : -1;
}

/* End a transaction that failed part way. */
static void rollback(struct orch_store *s)
{
	if (s->conn && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		PQclear(PQexec(s->conn, "ROLLBACK"));
}

/* Whether an object named name exists in _molt_lms (kind "table" or
 * "sequence").  Returns 1, 0, or -1 with a message. */
static int exists(struct orch_store *s, const char *kind, const char *name, char *err, size_t errlen)
{
	const char *sql = !strcmp(kind, "sequence")
		? "SELECT 1 FROM information_schema.sequences WHERE sequence_schema = '_molt_lms' AND sequence_name = $1"
		: "SELECT 1 FROM information_schema.tables WHERE table_schema = '_molt_lms' AND table_name = $1";
	const char *p[] = { name };
	PGresult *r = run(s, sql, 1, p, err, errlen);
	if (!r)
		return -1;
	int found = PQntuples(r) > 0;
	PQclear(r);
	return found;
}

struct ddl {
	const char *kind;
	const char *name;
	const char *sql;
};

static const struct ddl target_ddl[] = {
	{ "table", "state",
	  "CREATE TABLE IF NOT EXISTS _molt_lms.state (id INT PRIMARY KEY CHECK (id = 1), epoch BIGINT NOT NULL, "
	  "source_of_truth TEXT NOT NULL, phase TEXT NOT NULL, cutover_id BIGINT, updated_at TIMESTAMPTZ NOT NULL)" },
	{ "table", "instances",
	  "CREATE TABLE IF NOT EXISTS _molt_lms.instances (id TEXT PRIMARY KEY, admin_url TEXT NOT NULL, "
	  "version TEXT NOT NULL, shadow_mode TEXT NOT NULL, started_at TIMESTAMPTZ NOT NULL, "
	  "heartbeat_at TIMESTAMPTZ NOT NULL, acked_epoch BIGINT NOT NULL, acked_phase TEXT NOT NULL, "
	  "acked_source_of_truth TEXT NOT NULL)" },
	{ "table", "cutovers",
	  "CREATE TABLE IF NOT EXISTS _molt_lms.cutovers (id BIGINT PRIMARY KEY, from_truth TEXT NOT NULL, "
	  "to_truth TEXT NOT NULL, status TEXT NOT NULL, begun_at TIMESTAMPTZ NOT NULL, "
	  "paused_ms DOUBLE PRECISION, ended_at TIMESTAMPTZ, error TEXT)" },
	{ "sequence", "events_id_seq", "CREATE SEQUENCE IF NOT EXISTS _molt_lms.events_id_seq" },
	{ "table", "events",
	  "CREATE TABLE IF NOT EXISTS _molt_lms.events (id BIGINT PRIMARY KEY "
	  "DEFAULT nextval('_molt_lms.events_id_seq'), at TIMESTAMPTZ NOT NULL, cutover_id BIGINT, "
	  "kind TEXT NOT NULL, epoch BIGINT, instance TEXT, duration_ms DOUBLE PRECISION, detail TEXT)" },
	{ "table", "watermark", NULL }, /* the replicated copy of the source's table */
	/* login verifiers copied from a source whose clients LMS logs in
	 * itself after a cutover (docs/mysql-auth.md) */
	{ "table", "credentials",
	  "CREATE TABLE IF NOT EXISTS _molt_lms.credentials (username TEXT NOT NULL, host TEXT NOT NULL, "
	  "plugin TEXT NOT NULL, verifier TEXT NOT NULL, copied_at TIMESTAMPTZ NOT NULL, "
	  "PRIMARY KEY (username, host))" },
};

#define WATERMARK_DDL "CREATE TABLE IF NOT EXISTS _molt_lms.watermark (id INT PRIMARY KEY, " \
	"token TEXT NOT NULL, written_at TIMESTAMPTZ NOT NULL)"

/* Create each object of ddl that is missing, listing it in created or
 * existing as "_molt_lms.<name>" (prefix before it, e.g. "source:"). */
static int create_missing(struct orch_store *s, const struct ddl *ddl, size_t n, const char *prefix,
			  json_t *created, json_t *existing, char *err, size_t errlen)
{
	if (exec0(s, "CREATE SCHEMA IF NOT EXISTS _molt_lms", 0, NULL, err, errlen) < 0)
		return ORCH_STORE_ERROR;
	for (size_t i = 0; i < n; i++) {
		char label[128];
		snprintf(label, sizeof(label), "%s_molt_lms.%s", prefix, ddl[i].name);
		int e = exists(s, ddl[i].kind, ddl[i].name, err, errlen);
		if (e < 0)
			return ORCH_STORE_ERROR;
		if (!e && exec0(s, ddl[i].sql ? ddl[i].sql : WATERMARK_DDL, 0, NULL, err, errlen) < 0)
			return ORCH_STORE_ERROR;
		json_array_append_new(e ? existing : created, json_string(label));
	}
	return ORCH_STORE_OK;
}

int orch_store_initialize(struct orch_store *s, json_t *created, json_t *existing, char *err, size_t errlen)
{
	int rc = create_missing(s, target_ddl, sizeof(target_ddl) / sizeof(target_ddl[0]), "", created, existing,
				err, errlen);
	if (rc != ORCH_STORE_OK)
		return rc;
	PGresult *r = run(s, "INSERT INTO _molt_lms.state (id, epoch, source_of_truth, phase, cutover_id, updated_at) "
			  "VALUES (1, 1, 'source', 'serving', NULL, now()) ON CONFLICT (id) DO NOTHING",
			  0, NULL, err, errlen);
	if (!r)
		return ORCH_STORE_ERROR;
	bool inserted = atoi(PQcmdTuples(r)) > 0;
	PQclear(r);
	json_array_append_new(inserted ? created : existing, json_string("_molt_lms.state row"));
	if (inserted)
		return orch_store_event(s, 0, "initialize", 1, NULL, -1, NULL, err, errlen);
	return ORCH_STORE_OK;
}

int orch_store_init_watermark(struct orch_store *s, json_t *created, json_t *existing, char *err, size_t errlen)
{
	static const struct ddl source_ddl[] = { { "table", "watermark", NULL } };
	return create_missing(s, source_ddl, 1, "source:", created, existing, err, errlen);
}

static void copy_text(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

int orch_store_read_state(struct orch_store *s, struct orch_state *st, char *err, size_t errlen)
{
	if (!store_conn(s, err, errlen))
		return ORCH_STORE_ERROR;
	int e = exists(s, "table", "state", err, errlen);
	if (e <= 0) {
		if (e == 0)
			snprintf(err, errlen, "the coordination store is not initialized: run initialize "
				 "(POST /api/v1/initialize, or molt-lms-cli initialize)");
		return e < 0 ? ORCH_STORE_ERROR : ORCH_STORE_UNINIT;
	}
	PGresult *r = run(s, "SELECT epoch, source_of_truth, phase, coalesce(cutover_id, 0), "
			  "extract(epoch from now()) - extract(epoch from updated_at) FROM _molt_lms.state WHERE id = 1",
			  0, NULL, err, errlen);
	if (!r)
		return ORCH_STORE_ERROR;
	int rc = ORCH_STORE_OK;
	if (PQntuples(r) != 1) {
		snprintf(err, errlen, "the coordination store has no state row: run initialize");
		rc = ORCH_STORE_UNINIT;
	} else {
		st->epoch = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		copy_text(st->source_of_truth, sizeof(st->source_of_truth), PQgetvalue(r, 0, 1));
		copy_text(st->phase, sizeof(st->phase), PQgetvalue(r, 0, 2));
		st->cutover_id = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
		st->updated_age_s = strtod(PQgetvalue(r, 0, 4), NULL);
	}
	PQclear(r);
	return rc;
}

/* Start or end the cutover row of t, inside the open transaction. */
static int transition_cutover(struct orch_store *s, struct orch_transition *t, char *err, size_t errlen)
{
	char idbuf[32];
	if (t->new_cutover) {
		PGresult *r = run(s, "SELECT coalesce(max(id), 0) + 1 FROM _molt_lms.cutovers", 0, NULL, err, errlen);
		if (!r)
			return -1;
		t->cutover_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		snprintf(idbuf, sizeof(idbuf), "%" PRId64, t->cutover_id);
		const char *p[] = { idbuf, t->from, t->to };
		if (exec0(s, "INSERT INTO _molt_lms.cutovers (id, from_truth, to_truth, status, begun_at) "
			  "VALUES ($1::bigint, $2, $3, 'begun', now())", 3, p, err, errlen) < 0)
			return -1;
		return exec0(s, "UPDATE _molt_lms.state SET cutover_id = $1::bigint WHERE id = 1", 1, p, err, errlen);
	}
	t->paused_ms = -1;
	if (t->cutover_id <= 0)
		return 0;
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, t->cutover_id);
	const char *p[] = { idbuf, t->end_status };
	PGresult *r = run(s, "UPDATE _molt_lms.cutovers SET status = $2, ended_at = now(), "
			  "paused_ms = (extract(epoch from now()) - extract(epoch from begun_at)) * 1000 "
			  "WHERE id = $1::bigint RETURNING paused_ms", 2, p, err, errlen);
	if (!r)
		return -1;
	if (PQntuples(r) == 1)
		t->paused_ms = strtod(PQgetvalue(r, 0, 0), NULL);
	PQclear(r);
	return 0;
}

/* Record the event (orch_store_event) and commit the transaction open on
 * s; on failure roll it back.  Returns ORCH_STORE_OK or ORCH_STORE_ERROR. */
static int commit_with_event(struct orch_store *s, int64_t cutover_id, const char *kind, int64_t epoch,
			     const char *instance, double duration_ms, const char *detail, char *err, size_t errlen)
{
	if (orch_store_event(s, cutover_id, kind, epoch, instance, duration_ms, detail, err, errlen) != ORCH_STORE_OK ||
	    exec0(s, "COMMIT", 0, NULL, err, errlen) < 0) {
		rollback(s);
		return ORCH_STORE_ERROR;
	}
	return ORCH_STORE_OK;
}

int orch_store_transition(struct orch_store *s, struct orch_transition *t, char *err, size_t errlen)
{
	if (exec0(s, "BEGIN", 0, NULL, err, errlen) < 0)
		return ORCH_STORE_ERROR;
	char old[32];
	snprintf(old, sizeof(old), "%" PRId64, t->old_epoch);
	const char *p[] = { t->phase, t->source_of_truth, old };
	PGresult *r = run(s, "UPDATE _molt_lms.state SET epoch = epoch + 1, phase = $1, source_of_truth = $2, "
			  "updated_at = now() WHERE id = 1 AND epoch = $3::bigint RETURNING epoch", 3, p, err, errlen);
	if (!r)
		goto fail;
	if (PQntuples(r) != 1) {
		PQclear(r);
		rollback(s);
		snprintf(err, errlen, "the state changed meanwhile (epoch %" PRId64 " is no longer current: another "
			 "orchestrator or a retry won); read the status and try again", t->old_epoch);
		return ORCH_STORE_STALE;
	}
	t->epoch = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (transition_cutover(s, t, err, errlen) < 0)
		goto fail;
	return commit_with_event(s, t->cutover_id, t->kind, t->epoch, NULL, t->new_cutover ? -1 : t->paused_ms,
				 t->detail, err, errlen);
fail:
	rollback(s);
	return ORCH_STORE_ERROR;
}

int orch_store_event(struct orch_store *s, int64_t cutover_id, const char *kind, int64_t epoch,
		     const char *instance, double duration_ms, const char *detail, char *err, size_t errlen)
{
	char id[32], ep[32], dur[32];
	snprintf(id, sizeof(id), "%" PRId64, cutover_id);
	snprintf(ep, sizeof(ep), "%" PRId64, epoch);
	snprintf(dur, sizeof(dur), "%.3f", duration_ms);
	const char *p[] = { cutover_id > 0 ? id : NULL, kind, epoch > 0 ? ep : NULL, instance,
			    duration_ms >= 0 ? dur : NULL, detail };
	return exec0(s, "INSERT INTO _molt_lms.events (at, cutover_id, kind, epoch, instance, duration_ms, detail) "
		     "VALUES (now(), $1::bigint, $2, $3::bigint, $4, $5::float8, $6)", 6, p, err, errlen) < 0
		? ORCH_STORE_ERROR : ORCH_STORE_OK;
}

int orch_store_cutover_error(struct orch_store *s, int64_t cutover_id, const char *error, char *err, size_t errlen)
{
	char id[32];
	snprintf(id, sizeof(id), "%" PRId64, cutover_id);
	const char *p[] = { id, error };
	return exec0(s, "UPDATE _molt_lms.cutovers SET error = $2 WHERE id = $1::bigint", 2, p, err, errlen) < 0
		? ORCH_STORE_ERROR : ORCH_STORE_OK;
}

/* Column c of row i as JSON: NULL as null; numbers when numeric. */
static json_t *cell(PGresult *r, int i, int c, bool numeric)
{
	if (PQgetisnull(r, i, c))
		return json_null();
	const char *v = PQgetvalue(r, i, c);
	if (!numeric)
		return json_string(v);
	if (strchr(v, '.') || strchr(v, 'e'))
		return json_real(strtod(v, NULL));
	return json_integer(strtoll(v, NULL, 10));
}

/* Rows of r as an array of objects named by names; numeric[i] marks
 * number columns. */
static json_t *rows(PGresult *r, const char *const *names, const bool *numeric)
{
	json_t *a = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *o = json_object();
		for (int c = 0; c < PQnfields(r); c++)
			json_object_set_new(o, names[c], cell(r, i, c, numeric[c]));
		json_array_append_new(a, o);
	}
	return a;
}

int orch_store_instances(struct orch_store *s, json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	PGresult *r = run(s, "SELECT id, admin_url, version, shadow_mode, "
			  "extract(epoch from now()) - extract(epoch from heartbeat_at), acked_epoch, acked_phase, "
			  "acked_source_of_truth FROM _molt_lms.instances ORDER BY id", 0, NULL, err, errlen);
	if (!r)
		return ORCH_STORE_ERROR;
	static const char *const names[] = { "id", "admin_url", "version", "shadow_mode", "heartbeat_age_s",
					     "acked_epoch", "acked_phase", "acked_source_of_truth" };
	static const bool numeric[] = { false, false, false, false, true, true, false, false };
	*out = rows(r, names, numeric);
	PQclear(r);
	return ORCH_STORE_OK;
}

int orch_store_instance(struct orch_store *s, const char *id, json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	const char *p[] = { id };
	PGresult *r = run(s, "SELECT id, admin_url, extract(epoch from now()) - extract(epoch from heartbeat_at), "
			  "heartbeat_at::text FROM _molt_lms.instances WHERE id = $1", 1, p, err, errlen);
	if (!r)
		return ORCH_STORE_ERROR;
	static const char *const names[] = { "id", "admin_url", "heartbeat_age_s", "heartbeat_at" };
	static const bool numeric[] = { false, false, true, false };
	json_t *list = rows(r, names, numeric);
	PQclear(r);
	if (json_array_size(list) != 1) {
		json_decref(list);
		snprintf(err, errlen, "no instance '%s' is registered in _molt_lms.instances", id);
		return ORCH_STORE_NOTFOUND;
	}
	*out = json_incref(json_array_get(list, 0));
	json_decref(list);
	return ORCH_STORE_OK;
}

int orch_store_forget_instance(struct orch_store *s, const char *id, const char *heartbeat_at, int64_t cutover_id,
			       const char *detail, char *err, size_t errlen)
{
	if (exec0(s, "BEGIN", 0, NULL, err, errlen) < 0)
		return ORCH_STORE_ERROR;
	const char *p[] = { id, heartbeat_at };
	PGresult *r = run(s, "DELETE FROM _molt_lms.instances WHERE id = $1 AND heartbeat_at = $2::timestamptz",
			  2, p, err, errlen);
	if (!r)
		goto fail;
	bool deleted = atoi(PQcmdTuples(r)) == 1;
	PQclear(r);
	if (!deleted) {
		rollback(s);
		snprintf(err, errlen, "the registration of instance '%s' changed while it was checked (it heartbeated "
			 "again, or it was removed): nothing was forgotten", id);
		return ORCH_STORE_NOTFOUND;
	}
	return commit_with_event(s, cutover_id, "forget", 0, id, -1, detail, err, errlen);
fail:
	rollback(s);
	return ORCH_STORE_ERROR;
}

/* Per instance, the last event about it in events (ordered by id). */
static json_t *instance_summary(json_t *events)
{
	json_t *by_id = json_object(), *list = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e) {
		const char *inst = json_string_value(json_object_get(e, "instance"));
		const char *kind = json_string_value(json_object_get(e, "kind"));
		if (!inst || !kind)
			continue;
		const char *status = !strcmp(kind, "ack") ? "acknowledged" : !strcmp(kind, "drained") ? "drained"
				     : !strcmp(kind, "failed") ? "failed" : !strcmp(kind, "forget") ? "forgotten" : kind;
		json_object_set_new(by_id, inst, json_pack("{s:s,s:O,s:s,s:O}", "id", inst, "acked_epoch",
							   json_object_get(e, "epoch"), "status", status, "detail",
							   json_object_get(e, "detail")));
	}
	const char *k;
	json_t *v;
	json_object_foreach(by_id, k, v)
		json_array_append(list, v);
	json_decref(by_id);
	return list;
}

int orch_store_cutover(struct orch_store *s, int64_t id, json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	char idbuf[32];
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	const char *p[] = { idbuf };
	PGresult *r = run(s, "SELECT id, status, from_truth, to_truth, begun_at::text, ended_at::text, paused_ms, "
			  "error FROM _molt_lms.cutovers WHERE id = $1::bigint", 1, p, err, errlen);
	if (!r)
		return ORCH_STORE_ERROR;
	static const char *const cnames[] = { "id", "status", "from", "to", "begun_at", "ended_at", "paused_ms",
					      "error" };
	static const bool cnum[] = { true, false, false, false, false, false, true, false };
	json_t *list = rows(r, cnames, cnum);
	PQclear(r);
	if (json_array_size(list) != 1) {
		json_decref(list);
		snprintf(err, errlen, "no cutover %" PRId64, id);
		return ORCH_STORE_NOTFOUND;
	}
	json_t *c = json_incref(json_array_get(list, 0));
	json_decref(list);
	r = run(s, "SELECT id, at::text, kind, epoch, instance, duration_ms, detail FROM _molt_lms.events "
		"WHERE cutover_id = $1::bigint ORDER BY id", 1, p, err, errlen);
	if (!r) {
		json_decref(c);
		return ORCH_STORE_ERROR;
	}
	static const char *const enames[] = { "id", "at", "kind", "epoch", "instance", "duration_ms", "detail" };
	static const bool enums[] = { true, false, false, true, false, true, false };
	json_t *events = rows(r, enames, enums);
	PQclear(r);
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e) {
		/* detail is JSON text: show it as JSON */
		const char *text = json_string_value(json_object_get(e, "detail"));
		json_t *d = text ? json_loads(text, 0, NULL) : NULL;
		if (d)
			json_object_set_new(e, "detail", d);
	}
	json_object_set_new(c, "instances", instance_summary(events));
	json_object_set_new(c, "events", events);
	*out = c;
	return ORCH_STORE_OK;
}

int orch_store_cutover_stats(struct orch_store *s, json_t **by_status, double *last_paused_ms, char *err,
			     size_t errlen)
{
	*by_status = NULL;
	*last_paused_ms = -1;
	PGresult *r = run(s, "SELECT status, count(*) FROM _molt_lms.cutovers GROUP BY status", 0, NULL, err, errlen);
	if (!r)
		return ORCH_STORE_ERROR;
	json_t *o = json_object();
	for (int i = 0; i < PQntuples(r); i++)
		json_object_set_new(o, PQgetvalue(r, i, 0), json_integer(strtoll(PQgetvalue(r, i, 1), NULL, 10)));
	PQclear(r);
	r = run(s, "SELECT paused_ms FROM _molt_lms.cutovers WHERE paused_ms IS NOT NULL ORDER BY id DESC LIMIT 1",
		0, NULL, err, errlen);
	if (!r) {
		json_decref(o);
		return ORCH_STORE_ERROR;
	}
	if (PQntuples(r) == 1)
		*last_paused_ms = strtod(PQgetvalue(r, 0, 0), NULL);
	PQclear(r);
	*by_status = o;
	return ORCH_STORE_OK;
}

int orch_store_write_watermark(struct orch_store *s, const char *token, char *err, size_t errlen)
{
	const char *p[] = { token };
	/* Flushed at commit even where synchronous_commit is off: WAL senders
	 * send only flushed WAL, so an unflushed watermark would wait for the
	 * WAL writer and lengthen the pause. */
	if (exec0(s, "SET synchronous_commit = on", 0, NULL, err, errlen) < 0)
		return ORCH_STORE_ERROR;
	return exec0(s, "INSERT INTO _molt_lms.watermark (id, token, written_at) VALUES (1, $1, now()) "
		     "ON CONFLICT (id) DO UPDATE SET token = excluded.token, written_at = excluded.written_at",
		     1, p, err, errlen) < 0 ? ORCH_STORE_ERROR : ORCH_STORE_OK;
}

int orch_store_read_watermark(struct orch_store *s, char *buf, size_t cap, char *err, size_t errlen)
{
	PGresult *r = run(s, "SELECT token FROM _molt_lms.watermark WHERE id = 1", 0, NULL, err, errlen);
	if (!r)
		return ORCH_STORE_ERROR;
	copy_text(buf, cap, PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return ORCH_STORE_OK;
}

int orch_store_replace_logins(struct orch_store *s, const struct orch_login *l, size_t n, char *err, size_t errlen)
{
	if (exec0(s, "BEGIN", 0, NULL, err, errlen) < 0)
		return ORCH_STORE_ERROR;
	if (exec0(s, "DELETE FROM _molt_lms.credentials", 0, NULL, err, errlen) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const char *p[] = { l[i].user, l[i].host, l[i].plugin, l[i].verifier };
		if (exec0(s, "INSERT INTO _molt_lms.credentials (username, host, plugin, verifier, copied_at) "
			  "VALUES ($1, $2, $3, $4, now()) ON CONFLICT (username, host) DO UPDATE SET "
			  "plugin = excluded.plugin, verifier = excluded.verifier, copied_at = excluded.copied_at",
			  4, p, err, errlen) < 0)
			goto fail;
	}
	if (exec0(s, "COMMIT", 0, NULL, err, errlen) < 0)
		goto fail;
	return ORCH_STORE_OK;
fail:
	rollback(s);
	return ORCH_STORE_ERROR;
}

int orch_store_ping(struct orch_store *s, char *err, size_t errlen)
{
	return exec0(s, "SELECT 1", 0, NULL, err, errlen) < 0 ? ORCH_STORE_ERROR : ORCH_STORE_OK;
}
