/*
 * admin.c - the proxy admin API (admin.h, docs/api.md): JSON built with
 * jansson from the coordination view and a snapshot of every worker's
 * sessions; POST bodies validated field by field.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "admin.h"
#include "control.h"
#include "coord.h"
#include "creds.h"
#include "clock.h"
#include "jsontext.h"
#include "log.h"
#include "runtime.h"
#include "stats.h"
#include "worker.h"

#define SNAPSHOT_TIMEOUT_S 1.0
#define MAX_BODY 65536
#define MAX_TOKEN 200

static const char *const phase_names[] = { "serving", "paused", "unknown" };

bool lms_admin_route(const char *path)
{
	return strcmp(path, "/api/v1/state") == 0 || strcmp(path, "/api/v1/connections") == 0 ||
	       strcmp(path, "/api/v1/watermark") == 0;
}

static const char *reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* Send text (malloc'ed JSON, taken over; NULL: out of memory). */
static void send_json(struct evhttp_request *req, int code, char *text)
{
	struct evbuffer *b = evbuffer_new();
	if (!b || !text) {
		evhttp_send_error(req, 500, "out of memory");
		goto out;
	}
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	evhttp_add_header(hdrs, "Content-Type", "application/json");
	if (code == 405)
		evhttp_add_header(hdrs, "Allow", strstr(evhttp_request_get_uri(req), "/connections") ? "GET, HEAD"
						 : strstr(evhttp_request_get_uri(req), "/watermark") ? "GET, POST"
						 : "GET, HEAD, POST");
	evbuffer_add(b, text, strlen(text));
	evbuffer_add(b, "\n", 1);
	evhttp_send_reply(req, code, reason(code), b);
out:
	if (b)
		evbuffer_free(b);
	free(text);
}

/* Dump doc (reference taken) and send it. */
static void send_doc(struct evhttp_request *req, int code, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	send_json(req, code, text);
}

void lms_admin_error(struct evhttp_request *req, int code, const char *msg)
{
	send_doc(req, code, json_pack("{s:o}", "error", lms_json_text(msg)));
}

/* Set key to a new reference, ignoring out of memory (the key is then
 * missing; the caller notices the document is NULL only when it is). */
static void set(json_t *o, const char *key, json_t *v)
{
	json_object_set_new(o, key, v);
}

static const char *instance_id(struct lms_runtime *rt)
{
	return rt->control ? lms_control_instance_id(rt->control) : "";
}

/* The session counts and drained flag of the state document, from a
 * snapshot of every worker's sessions (waits for each worker's loop). */
static void set_session_counts(struct lms_runtime *rt, json_t *doc, const struct lms_coord_view *v)
{
	struct lms_session_info *items = NULL;
	size_t n = 0;
	int missing = lms_workers_snapshot(rt, SNAPSHOT_TIMEOUT_S, &items, &n);
	size_t active = 0, in_txn = 0, queued = 0;
	for (size_t i = 0; i < n; i++) {
		active += strcmp(items[i].state, "active") == 0;
		in_txn += strcmp(items[i].state, "in_transaction") == 0;
		queued += items[i].queued;
	}
	free(items);
	set(doc, "sessions", json_integer((json_int_t)n));
	set(doc, "active", json_integer((json_int_t)active));
	set(doc, "in_transaction", json_integer((json_int_t)in_txn));
	set(doc, "queued_sessions", json_integer((json_int_t)queued));
	/* Not knowing every session means not drained. */
	set(doc, "drained", json_boolean(v->phase == LMS_PHASE_PAUSED && missing == 0 && active == 0 && in_txn == 0));
	if (missing != 0)
		set(doc, "unanswered_workers", json_integer(missing));
}

char *lms_admin_state_json(struct lms_runtime *rt, int applied, bool sessions)
{
	struct lms_coord_view v;
	lms_coord_get(rt, &v);
	uint64_t queued_requests = 0; /* a queued session holds exactly one request */
	for (int i = 0; i < rt->nworkers; i++)
		queued_requests += lms_stat_get(&rt->workers[i].stats.coord_queued_sessions);
	char store[512];
	if (rt->control)
		lms_control_store_status(rt->control, store, sizeof(store));
	else
		snprintf(store, sizeof(store), "not started");
	json_t *doc = json_object();
	if (!doc)
		return NULL;
	set(doc, "instance_id", lms_json_text(instance_id(rt)));
	set(doc, "admin_url", lms_json_text(rt->control ? lms_control_admin_url(rt->control) : ""));
	set(doc, "version", json_string(PACKAGE_VERSION));
	set(doc, "shadow_mode", lms_json_text(rt->cfg->shadow_mode));
	set(doc, "epoch", json_integer((json_int_t)v.epoch));
	set(doc, "phase", json_string(phase_names[v.phase]));
	set(doc, "source_of_truth", json_string(v.truth == LMS_ROLE_TARGET ? "target" : "source"));
	set(doc, "cutover_id", v.cutover_id ? json_integer((json_int_t)v.cutover_id) : json_null());
	set(doc, "store", lms_json_text(store));
	long creds = lms_creds_count(); /* ABI 1.4 own logins: rows held, or none */
	set(doc, "credentials", creds >= 0 ? json_integer(creds) : json_null());
	set(doc, "queued_requests", json_integer((json_int_t)queued_requests));
	if (sessions)
		set_session_counts(rt, doc, &v);
	if (applied >= 0)
		set(doc, "applied", json_boolean(applied));
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

/* GET /api/v1/connections. */
static json_t *connections_doc(struct lms_runtime *rt)
{
	struct lms_session_info *items = NULL;
	size_t n = 0;
	int missing = lms_workers_snapshot(rt, SNAPSHOT_TIMEOUT_S, &items, &n);
	json_t *doc = json_object(), *list = json_array();
	if (!doc || !list || missing < 0) {
		json_decref(doc);
		json_decref(list);
		free(items);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct lms_session_info *s = &items[i];
		json_t *c = json_object();
		if (!c)
			continue;
		set(c, "id", json_integer((json_int_t)s->id));
		set(c, "peer", lms_json_text(s->peer));
		set(c, "user", lms_json_text(s->user));
		set(c, "database", lms_json_text(s->database));
		set(c, "state", json_string(s->state));
		set(c, "transaction_age_s", json_real(s->transaction_age_s));
		set(c, "last_statement", lms_json_text(s->last_statement));
		set(c, "backend", json_string(s->backend));
		set(c, "queued", json_boolean(s->queued));
		json_array_append_new(list, c);
	}
	free(items);
	set(doc, "instance_id", lms_json_text(instance_id(rt)));
	set(doc, "connections", list);
	if (missing > 0)
		set(doc, "unanswered_workers", json_integer(missing));
	return doc;
}

/* Parse req's body as a JSON object.  Returns it (new reference), or
 * NULL after answering 400/413. */
static json_t *read_body(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (len > MAX_BODY) {
		lms_admin_error(req, 413, "the body is too large (at most 65536 bytes)");
		return NULL;
	}
	char *text = malloc(len + 1);
	if (!text) {
		lms_admin_error(req, 500, "out of memory");
		return NULL;
	}
	evbuffer_copyout(in, text, len);
	text[len] = 0;
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!doc || !json_is_object(doc)) {
		char msg[300];
		if (doc)
			snprintf(msg, sizeof(msg), "the body must be a JSON object");
		else
			snprintf(msg, sizeof(msg), "the body is not valid JSON: %s (column %d)", jerr.text, jerr.column);
		json_decref(doc);
		lms_admin_error(req, 400, msg);
		return NULL;
	}
	return doc;
}

/* Refuse keys not in allowed ("a|b|c").  Returns 0, or -1 after 400. */
static int only_keys(struct evhttp_request *req, json_t *body, const char *const *allowed, const char *hint)
{
	const char *key;
	json_t *val;
	json_object_foreach(body, key, val) {
		bool known = false;
		for (const char *const *a = allowed; *a; a++)
			known |= strcmp(*a, key) == 0;
		if (!known) {
			char msg[400];
			snprintf(msg, sizeof(msg), "unknown field '%.100s' (allowed: %s)", key, hint);
			lms_admin_error(req, 400, msg);
			return -1;
		}
	}
	return 0;
}

/* POST /api/v1/state: validate, apply when newer, acknowledge. */
static void post_state(struct lms_runtime *rt, struct evhttp_request *req)
{
	static const char *const keys[] = { "epoch", "phase", "source_of_truth", "cutover_id", NULL };
	json_t *body = read_body(req);
	if (!body)
		return;
	const char *bad = NULL;
	json_t *je = json_object_get(body, "epoch"), *jp = json_object_get(body, "phase");
	json_t *jt = json_object_get(body, "source_of_truth"), *jc = json_object_get(body, "cutover_id");
	const char *ps = json_string_value(jp), *ts = json_string_value(jt);
	int phase = ps && strcmp(ps, "serving") == 0 ? LMS_PHASE_SERVING : ps && strcmp(ps, "paused") == 0 ? LMS_PHASE_PAUSED : -1;
	int truth = ts && strcmp(ts, "source") == 0 ? LMS_ROLE_SOURCE : ts && strcmp(ts, "target") == 0 ? LMS_ROLE_TARGET : -1;
	if (only_keys(req, body, keys, "epoch, phase, source_of_truth, cutover_id") < 0)
		goto out;
	if (!json_is_integer(je) || json_integer_value(je) < 1)
		bad = "epoch must be a whole number >= 1";
	else if (phase < 0)
		bad = "phase must be \"serving\" or \"paused\"";
	else if (truth < 0)
		bad = "source_of_truth must be \"source\" or \"target\"";
	else if (jc && !json_is_null(jc) && (!json_is_integer(jc) || json_integer_value(jc) < 0))
		bad = "cutover_id must be a whole number >= 0 or null";
	if (bad) {
		lms_admin_error(req, 400, bad);
		goto out;
	}
	char why[300];
	if (lms_runtime_cutover_refused(rt, phase, truth, why, sizeof(why))) {
		lms_admin_error(req, 409, why);
		goto out;
	}
	uint64_t cutover = json_is_integer(jc) ? (uint64_t)json_integer_value(jc) : 0;
	uint64_t t0 = lms_mono_us();
	bool applied = lms_coord_apply(rt, (uint64_t)json_integer_value(je), phase, truth, cutover);
	if (applied && rt->control)
		lms_control_ack(rt->control);
	uint64_t t1 = lms_mono_us();
	/* Ending a pause: answer at once rather than wait for the workers,
	 * which are releasing the queued requests (docs/api.md). */
	send_json(req, 200, lms_admin_state_json(rt, applied, phase == LMS_PHASE_PAUSED));
	lms_log(LMS_LOG_LEVEL_DEBUG, "state_pushed", "epoch=%lld phase=%s applied=%d apply_ms=%.3f answer_ms=%.3f",
		(long long)json_integer_value(je), ps, applied, (double)(t1 - t0) / 1e3,
		(double)(lms_mono_us() - t1) / 1e3);
out:
	json_decref(body);
}

/* The control thread wrote the watermark (or not): answer. */
static void watermark_done(void *arg, bool ok, int code, const char *msg)
{
	struct evhttp_request *req = arg;
	if (ok)
		send_doc(req, 200, json_pack("{s:b}", "written", 1));
	else
		lms_admin_error(req, code, msg);
}

/* POST /api/v1/watermark: handed to the control thread. */
static void post_watermark(struct lms_runtime *rt, struct evhttp_request *req)
{
	static const char *const keys[] = { "token", NULL };
	json_t *body = read_body(req);
	if (!body)
		return;
	const char *token = json_string_value(json_object_get(body, "token"));
	if (only_keys(req, body, keys, "token") < 0)
		goto out;
	if (!token || !token[0] || strlen(token) > MAX_TOKEN)
		lms_admin_error(req, 400, "token must be a non-empty string of at most 200 bytes");
	else if (!rt->control || lms_control_watermark(rt->control, token, watermark_done, req) < 0)
		lms_admin_error(req, 503, "cannot write the watermark now (shutting down or out of memory)");
out:
	json_decref(body);
}

/* The control thread read the source's watermark (or not): answer. */
static void watermark_read(void *arg, bool ok, int code, const char *msg)
{
	struct evhttp_request *req = arg;
	if (ok)
		send_doc(req, 200, json_pack("{s:s?}", "token", msg[0] ? msg : NULL));
	else
		lms_admin_error(req, code, msg);
}

/* GET /api/v1/watermark: the source's token, read on the control thread
 * (the orchestrator's replication check on the way back, without
 * SOURCE_URL). */
static void get_watermark(struct lms_runtime *rt, struct evhttp_request *req)
{
	if (!rt->control || lms_control_watermark(rt->control, NULL, watermark_read, req) < 0)
		lms_admin_error(req, 503, "cannot read the watermark now (shutting down or out of memory)");
}

void lms_admin_handle(struct lms_runtime *rt, struct evhttp_request *req, const char *method, const char *path)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool post = strcmp(method, "POST") == 0;
	if (strcmp(path, "/api/v1/state") == 0 && get)
		send_json(req, 200, lms_admin_state_json(rt, -1, true));
	else if (strcmp(path, "/api/v1/state") == 0 && post)
		post_state(rt, req);
	else if (strcmp(path, "/api/v1/connections") == 0 && get)
		send_doc(req, 200, connections_doc(rt));
	else if (strcmp(path, "/api/v1/watermark") == 0 && post)
		post_watermark(rt, req);
	else if (strcmp(path, "/api/v1/watermark") == 0 && get)
		get_watermark(rt, req);
	else
		lms_admin_error(req, 405, "method not allowed on this route (see docs/api.md)");
}
