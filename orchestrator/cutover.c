/*
 * cutover.c - begin, commit and abort, driven from the store's state.
 */
#include "autoconfig.h"

#include "cutover.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "instances.h"
#include "log.h"
#include "oplane.h"
#include "source.h"
#include "store.h"

/* How long one call to an instance may take while polling. */
#define CALL_TIMEOUT_S 5.0
/* An instance writes the watermark with its own connection to the source. */
#define WATERMARK_CALL_TIMEOUT_S 10.0
/* ... at begin, where a failure only means commit writes its own: the
 * queues wait meanwhile, so give up sooner (and try one instance only). */
#define BEGIN_WATERMARK_CALL_TIMEOUT_S 3.0
/* Pause between polling rounds (drain, watermark): short, since requests
 * wait in the queues meanwhile; each round is one cheap call. */
#define POLL_INTERVAL_MS 5
/* Begin holds its events back only while the drain is quick: past this,
 * a killed orchestrator would lose them (acks, drained), so they are
 * written and the rest go out at once. */
#define HOLD_EVENTS_MS 200

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

/* Why the op running now must stop waiting: ORCH_INTERRUPT_* (oplane.h),
 * 0 for no reason. */
static int interrupted(const struct orch_ctx *ctx)
{
	return ctx->interrupt ? __atomic_load_n(ctx->interrupt, __ATOMIC_ACQUIRE) : 0;
}

/* When the begin, commit or abort being served came in (debug timeline). */
static double call_t0;

static json_t *begin_watermark(struct orch_ctx *ctx, const char *truth, json_t *instances, int64_t cutover_id,
			       int64_t epoch);

/* Debug: one step of begin, commit or abort, ms after the call came in. */
static void step(const char *what)
{
	lms_log(LMS_LOG_LEVEL_DEBUG, "cutover_step", "step=%s at_ms=%.3f", what, now_ms() - call_t0);
}

static int fail(json_t **resp, int code, const char *msg)
{
	*resp = json_pack("{s:s}", "error", msg);
	return code;
}

/* Read an optional member: bool, or a number of seconds > 0. */
static int opt_bool(json_t *req, const char *key, bool *out, json_t **resp)
{
	json_t *v = json_object_get(req, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		char msg[160];
		snprintf(msg, sizeof(msg), "\"%s\" must be true or false", key);
		return fail(resp, 400, msg);
	}
	*out = json_is_true(v);
	return 0;
}

static int opt_seconds(json_t *req, const char *key, double *out, json_t **resp)
{
	json_t *v = json_object_get(req, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 86400) {
		char msg[160];
		snprintf(msg, sizeof(msg), "\"%s\" must be a number of seconds, more than 0, at most 86400", key);
		return fail(resp, 400, msg);
	}
	*out = json_number_value(v);
	return 0;
}

/* The store's state; 0, or an HTTP status with *resp set. */
static int load_state(struct orch_ctx *ctx, struct orch_state *st, json_t **resp)
{
	char err[512];
	int rc = orch_store_read_state(ctx->store, st, err, sizeof(err));
	if (rc == ORCH_STORE_OK)
		return 0;
	return fail(resp, rc == ORCH_STORE_UNINIT ? 409 : 503, err);
}

/* The instances a state change must reach: the live ones, and those
 * whose heartbeat stopped less than --forget-instance-after ago (one that
 * cannot reach the store may still be serving: only its admin API can
 * pause it).  NULL with *code and *resp set. */
static json_t *cutover_instances(struct orch_ctx *ctx, int *code, json_t **resp)
{
	char err[512];
	json_t *list = orch_instances_list(ctx, ORCH_PARTICIPANTS, err, sizeof(err));
	if (!list)
		*code = fail(resp, 503, err);
	return list;
}

static const char *other_truth(const char *truth)
{
	return strcmp(truth, "source") ? "source" : "target";
}

/* Events held back while begin waits for the drain and writes the
 * watermark (events_hold .. events_write): each is a round trip to the
 * store, and the queued requests wait meanwhile.  NULL: written at once. */
static json_t *held_events;

/* Write one event; a failure to write it is logged, not fatal. */
static void write_event(struct orch_ctx *ctx, int64_t cutover_id, const char *kind, int64_t epoch,
			const char *instance, double ms, json_t *detail)
{
	char err[512];
	char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	if (orch_store_event(ctx->store, cutover_id, kind, epoch, instance, ms, text, err, sizeof(err)) != ORCH_STORE_OK)
		lms_log(LMS_LOG_LEVEL_WARN, "event_not_written", "kind=%s reason=\"%s\"", kind, err);
	free(text);
}

/* Log an event (takes detail), now or, while held, later. */
static void event(struct orch_ctx *ctx, int64_t cutover_id, const char *kind, int64_t epoch, const char *instance,
		  double ms, json_t *detail)
{
	if (held_events) {
		json_array_append_new(held_events, json_pack("{s:I,s:s,s:I,s:s?,s:f,s:o?}", "cutover_id",
							     (json_int_t)cutover_id, "kind", kind, "epoch",
							     (json_int_t)epoch, "instance", instance, "ms", ms, "detail",
							     detail));
		return;
	}
	write_event(ctx, cutover_id, kind, epoch, instance, ms, detail);
	json_decref(detail);
}

static void events_hold(void)
{
	if (!held_events)
		held_events = json_array();
}

/* Write the held events, in order, and stop holding. */
static void events_write(struct orch_ctx *ctx)
{
	json_t *list = held_events, *e;
	size_t i;
	held_events = NULL;
	json_array_foreach(list, i, e) {
		json_t *detail = json_object_get(e, "detail");
		write_event(ctx, json_integer_value(json_object_get(e, "cutover_id")),
			    json_string_value(json_object_get(e, "kind")), json_integer_value(json_object_get(e, "epoch")),
			    json_string_value(json_object_get(e, "instance")), json_number_value(json_object_get(e, "ms")),
			    json_is_null(detail) ? NULL : detail);
	}
	json_decref(list);
}

static const char *inst_id(json_t *inst)
{
	return json_string_value(json_object_get(inst, "id"));
}

/* {id, admin_url, error} for an instance that did not answer. */
static json_t *unreachable_entry(json_t *inst, const char *error)
{
	if (json_is_true(json_object_get(inst, "live")) || !json_object_get(inst, "heartbeat_age_s"))
		return json_pack("{s:s?,s:O?,s:s}", "id", inst_id(inst), "admin_url", json_object_get(inst, "admin_url"),
				 "error", error);
	char why[800];
	snprintf(why, sizeof(why), "%s; its last heartbeat is %.0f s old: it cannot reach the store and may still "
		 "serve from the old source of truth; make its admin API reachable, or stop it (a molt-lms that "
		 "stops removes its registration; one that crashed is forgotten --forget-instance-after seconds "
		 "after its last heartbeat, or now with 'molt-lms-cli instances forget ID')", error,
		 json_number_value(json_object_get(inst, "heartbeat_age_s")));
	return json_pack("{s:s?,s:O?,s:s,s:O}", "id", inst_id(inst), "admin_url", json_object_get(inst, "admin_url"),
			 "error", why, "heartbeat_age_s", json_object_get(inst, "heartbeat_age_s"));
}

/* POST the state to every instance; an "ack" or "failed" event each.
 * Returns the answers (array) and fills *unreachable. */
static json_t *push_state(struct orch_ctx *ctx, json_t *instances, int64_t epoch, const char *phase,
			  const char *truth, int64_t cutover_id, json_t **unreachable)
{
	json_t *doc = json_pack("{s:I,s:s,s:s,s:I}", "epoch", (json_int_t)epoch, "phase", phase, "source_of_truth",
				truth, "cutover_id", (json_int_t)cutover_id);
	char *body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	size_t n = json_array_size(instances);
	struct orch_call *calls = orch_instances_call(ctx, instances, "POST", "/api/v1/state", body, CALL_TIMEOUT_S);
	free(body);
	json_t *acks = json_array();
	*unreachable = json_array();
	for (size_t i = 0; calls && i < n; i++) {
		json_t *inst = json_array_get(instances, i);
		if (calls[i].error[0]) {
			json_array_append_new(*unreachable, unreachable_entry(inst, calls[i].error));
			event(ctx, cutover_id, "failed", epoch, inst_id(inst), calls[i].ms,
			      json_pack("{s:O?,s:s}", "admin_url", json_object_get(inst, "admin_url"), "error",
					calls[i].error));
			lms_log(LMS_LOG_LEVEL_WARN, "push_failed", "instance=%s epoch=%" PRId64 " reason=\"%s\"",
				inst_id(inst), epoch, calls[i].error);
			continue;
		}
		lms_log(LMS_LOG_LEVEL_DEBUG, "push_ack", "instance=%s epoch=%" PRId64 " phase=%s ms=%.3f", inst_id(inst),
			epoch, phase, calls[i].ms);
		json_t *ack = json_pack("{s:s?,s:O?,s:O?,s:O?,s:f}", "id", inst_id(inst), "admin_url",
					json_object_get(inst, "admin_url"), "epoch", json_object_get(calls[i].body, "epoch"),
					"phase", json_object_get(calls[i].body, "phase"), "ms", calls[i].ms);
		if (json_is_boolean(json_object_get(calls[i].body, "drained")))
			json_object_set(ack, "drained", json_object_get(calls[i].body, "drained"));
		json_array_append_new(acks, ack);
		event(ctx, cutover_id, "ack", epoch, inst_id(inst), calls[i].ms,
		      json_pack("{s:O?,s:O?}", "phase", json_object_get(calls[i].body, "phase"), "source_of_truth",
				json_object_get(calls[i].body, "source_of_truth")));
	}
	orch_instances_calls_free(calls, n);
	return acks;
}

/* "a, b, c" from the "id" members of list, each with its "error" when
 * it has one: "a (no answer: timed out)". */
static void join_ids(json_t *list, char *buf, size_t cap)
{
	size_t i, n = 0;
	json_t *e;
	buf[0] = 0;
	json_array_foreach(list, i, e) {
		const char *id = json_string_value(json_object_get(e, "id"));
		const char *why = json_string_value(json_object_get(e, "error"));
		int m = snprintf(buf + n, cap - n, "%s%s%s%s%s", i ? ", " : "", id ? id : "?", why ? " (" : "",
				 why ? why : "", why ? ")" : "");
		if (m < 0 || (size_t)m >= cap - n)
			break;
		n += (size_t)m;
	}
}

/* The connections of an instance that keep it from draining. */
static json_t *blocking_connections(json_t *conns)
{
	json_t *out = json_array();
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(conns, "connections"), i, c) {
		const char *state = json_string_value(json_object_get(c, "state"));
		if (state && (!strcmp(state, "in_transaction") || !strcmp(state, "active")))
			json_array_append_new(out, json_pack("{s:O?,s:s,s:O?,s:O?,s:O?,s:O?}", "id",
							     json_object_get(c, "id"), "state", state, "transaction_age_s",
							     json_object_get(c, "transaction_age_s"), "last_statement",
							     json_object_get(c, "last_statement"), "user",
							     json_object_get(c, "user"), "peer", json_object_get(c, "peer")));
	}
	return out;
}

/* For each instance: its GET /api/v1/connections filtered to what blocks
 * a drain: [{instance, admin_url, connections}].  Unreachable ones go to
 * unreachable. */
static json_t *blocking_report(struct orch_ctx *ctx, json_t *instances, json_t *unreachable)
{
	size_t n = json_array_size(instances);
	struct orch_call *calls = orch_instances_call(ctx, instances, "GET", "/api/v1/connections", NULL, CALL_TIMEOUT_S);
	json_t *out = json_array();
	for (size_t i = 0; calls && i < n; i++) {
		json_t *inst = json_array_get(instances, i);
		if (calls[i].error[0]) {
			json_array_append_new(unreachable, unreachable_entry(inst, calls[i].error));
			continue;
		}
		json_array_append_new(out, json_pack("{s:s?,s:O?,s:o}", "instance", inst_id(inst), "admin_url",
						     json_object_get(inst, "admin_url"), "connections",
						     blocking_connections(calls[i].body)));
	}
	orch_instances_calls_free(calls, n);
	return out;
}

/* Wait until every instance reports drained for epoch, or an abort comes
 * in.  Returns the instances still not drained (empty when all did);
 * unreachable gets those that stopped answering, drained gets {id, ms} per
 * drained one. */
static json_t *wait_drained(struct orch_ctx *ctx, json_t *instances, int64_t epoch, int64_t cutover_id,
			    double timeout_s, json_t *drained, json_t *unreachable)
{
	json_t *pending = json_copy(instances);
	double t0 = now_ms(), deadline = t0 + timeout_s * 1e3;
	for (;;) {
		double left_s = (deadline - now_ms()) / 1e3;
		double call_s = left_s < 1 ? 1 : left_s < CALL_TIMEOUT_S ? left_s : CALL_TIMEOUT_S;
		size_t n = json_array_size(pending);
		struct orch_call *calls = orch_instances_call(ctx, pending, "GET", "/api/v1/state", NULL, call_s);
		json_t *next = json_array();
		for (size_t i = 0; calls && i < n; i++) {
			json_t *inst = json_array_get(pending, i);
			json_t *b = calls[i].body;
			if (calls[i].error[0]) {
				json_array_append_new(unreachable, unreachable_entry(inst, calls[i].error));
				event(ctx, cutover_id, "failed", epoch, inst_id(inst), -1,
				      json_pack("{s:s}", "error", calls[i].error));
			} else if (json_is_true(json_object_get(b, "drained")) &&
				   json_integer_value(json_object_get(b, "epoch")) >= epoch) {
				double ms = now_ms() - t0;
				json_array_append_new(drained, json_pack("{s:s?,s:O?,s:f}", "id", inst_id(inst), "admin_url",
									 json_object_get(inst, "admin_url"), "drain_ms", ms));
				event(ctx, cutover_id, "drained", epoch, inst_id(inst), ms, NULL);
			} else {
				json_array_append(next, inst);
			}
		}
		orch_instances_calls_free(calls, n);
		json_decref(pending);
		pending = next;
		if (json_array_size(pending) == 0 || json_array_size(unreachable) > 0 || now_ms() >= deadline ||
		    interrupted(ctx))
			return pending;
		if (held_events && now_ms() - t0 >= HOLD_EVENTS_MS)
			events_write(ctx);
		sleep_ms(POLL_INTERVAL_MS);
	}
}

/* The instances whose answer to the pause (acks) already says drained go
 * to drained ({id, admin_url, drain_ms}, with a "drained" event); returns
 * the others, to be polled. */
static json_t *drained_on_ack(struct orch_ctx *ctx, json_t *instances, json_t *acks, int64_t epoch,
			      int64_t cutover_id, json_t *drained)
{
	json_t *rest = json_array();
	size_t i, j;
	json_t *inst, *a;
	json_array_foreach(instances, i, inst) {
		json_t *hit = NULL;
		json_array_foreach(acks, j, a)
			if (json_equal(json_object_get(a, "admin_url"), json_object_get(inst, "admin_url")))
				hit = a;
		if (!hit || !json_is_true(json_object_get(hit, "drained")) ||
		    json_integer_value(json_object_get(hit, "epoch")) < epoch) {
			json_array_append(rest, inst);
			continue;
		}
		double ms = json_number_value(json_object_get(hit, "ms"));
		json_array_append_new(drained, json_pack("{s:s?,s:O?,s:f}", "id", inst_id(inst), "admin_url",
							 json_object_get(inst, "admin_url"), "drain_ms", ms));
		event(ctx, cutover_id, "drained", epoch, inst_id(inst), ms, NULL);
	}
	return rest;
}

/* dry_run of begin: what pausing would wait for. */
static int begin_dry_run(struct orch_ctx *ctx, const struct orch_state *st, json_t *instances, json_t **resp)
{
	size_t n = json_array_size(instances);
	struct orch_call *calls = orch_instances_call(ctx, instances, "GET", "/api/v1/state", NULL, CALL_TIMEOUT_S);
	json_t *reports = json_array(), *unreachable = json_array();
	json_int_t queued = 0, in_txn = 0;
	for (size_t i = 0; calls && i < n; i++) {
		json_t *inst = json_array_get(instances, i);
		if (calls[i].error[0]) {
			json_array_append_new(unreachable, unreachable_entry(inst, calls[i].error));
			continue;
		}
		queued += json_integer_value(json_object_get(calls[i].body, "queued_requests"));
		in_txn += json_integer_value(json_object_get(calls[i].body, "in_transaction"));
		json_t *r = json_deep_copy(calls[i].body);
		json_object_set_new(r, "admin_url", json_incref(json_object_get(inst, "admin_url")));
		json_array_append_new(reports, r);
	}
	orch_instances_calls_free(calls, n);
	json_t *reached = json_array();
	size_t i;
	json_t *inst;
	json_array_foreach(instances, i, inst) {
		bool down = false;
		size_t j;
		json_t *u;
		json_array_foreach(unreachable, j, u)
			down = down || json_equal(json_object_get(u, "admin_url"), json_object_get(inst, "admin_url"));
		if (!down)
			json_array_append(reached, inst);
	}
	json_t *blocking = blocking_report(ctx, reached, unreachable);
	json_decref(reached);
	char would[256];
	snprintf(would, sizeof(would), "%s: epoch %" PRId64 " -> %" PRId64 ", phase paused, source of truth %s",
		 strcmp(st->phase, "paused") ? "pause" : "already paused; begin would wait for the drain again",
		 st->epoch, st->epoch + 1, st->source_of_truth);
	*resp = json_pack("{s:b,s:s,s:I,s:s,s:s,s:o,s:o,s:o,s:I,s:I}", "dry_run", 1, "would", would, "epoch",
			  (json_int_t)st->epoch, "phase", st->phase, "source_of_truth", st->source_of_truth, "instances",
			  reports, "open_transactions", blocking, "unreachable", unreachable, "in_transaction", in_txn,
			  "queued_requests", queued);
	return 200;
}

/* Write the begin transition (or, when already paused, carry on with it). */
static int begin_transition(struct orch_ctx *ctx, const struct orch_state *st, int64_t *epoch, int64_t *cutover_id,
			    json_t **resp)
{
	if (!strcmp(st->phase, "paused")) {
		*epoch = st->epoch;
		*cutover_id = st->cutover_id;
		lms_log(LMS_LOG_LEVEL_INFO, "begin_retry", "epoch=%" PRId64 " cutover_id=%" PRId64, *epoch, *cutover_id);
		return 0;
	}
	const char *to = other_truth(st->source_of_truth);
	struct orch_transition t = { .old_epoch = st->epoch, .phase = "paused", .source_of_truth = st->source_of_truth,
				     .kind = "begin", .new_cutover = true, .from = st->source_of_truth, .to = to };
	char err[512];
	int rc = orch_store_transition(ctx->store, &t, err, sizeof(err));
	if (rc != ORCH_STORE_OK)
		return fail(resp, rc == ORCH_STORE_STALE ? 409 : 503, err);
	*epoch = t.epoch;
	*cutover_id = t.cutover_id;
	lms_log(LMS_LOG_LEVEL_INFO, "cutover_begin", "cutover_id=%" PRId64 " epoch=%" PRId64 " from=%s to=%s",
		t.cutover_id, t.epoch, st->source_of_truth, to);
	return 0;
}

/* The answer when instances did not answer or did not drain: the state
 * stays paused. */
static int begin_failed(struct orch_ctx *ctx, int64_t epoch, int64_t cutover_id, json_t *pending,
			json_t *unreachable, json_t **resp)
{
	int code = json_array_size(unreachable) ? 502 : 504;
	json_t *blocking = code == 504 ? blocking_report(ctx, pending, unreachable) : json_array();
	char names[1024], msg[1600];
	if (code == 502) {
		join_ids(unreachable, names, sizeof(names));
		snprintf(msg, sizeof(msg), "instances unreachable: %s; the state stays paused (epoch %" PRId64 "): "
			 "abort the cutover, or fix them and run begin again", names, epoch);
	} else {
		join_ids(pending, names, sizeof(names));
		size_t len = (size_t)snprintf(msg, sizeof(msg), "drain timeout: instances not drained: %s;", names);
		size_t i, j;
		json_t *b, *c;
		json_array_foreach(blocking, i, b)
			json_array_foreach(json_object_get(b, "connections"), j, c)
				if (len < sizeof(msg))
					len += (size_t)snprintf(msg + len, sizeof(msg) - len,
						" %s connection %" JSON_INTEGER_FORMAT " %s for %.1f s (%s);",
						json_string_value(json_object_get(b, "instance")),
						json_integer_value(json_object_get(c, "id")),
						json_string_value(json_object_get(c, "state")),
						json_number_value(json_object_get(c, "transaction_age_s")),
						json_string_value(json_object_get(c, "last_statement")) ?
						json_string_value(json_object_get(c, "last_statement")) : "");
		if (len < sizeof(msg))
			snprintf(msg + len, sizeof(msg) - len, " the state stays paused (epoch %" PRId64 "): abort the "
				 "cutover, or end those transactions and run begin again", epoch);
	}
	char err[512];
	if (orch_store_cutover_error(ctx->store, cutover_id, msg, err, sizeof(err)) != ORCH_STORE_OK)
		lms_log(LMS_LOG_LEVEL_WARN, "cutover_error_not_written", "reason=\"%s\"", err);
	event(ctx, cutover_id, "failed", epoch, NULL, -1,
	      json_pack("{s:s,s:O,s:O}", "error", msg, "blocking", blocking, "unreachable", unreachable));
	lms_log(LMS_LOG_LEVEL_WARN, "begin_failed", "cutover_id=%" PRId64 " epoch=%" PRId64 " status=%d", cutover_id,
		epoch, code);
	*resp = json_pack("{s:s,s:I,s:I,s:o,s:O}", "error", msg, "cutover_id", (json_int_t)cutover_id, "epoch",
			  (json_int_t)epoch, "blocking", blocking, "unreachable", unreachable);
	return code;
}

/* The answer when an abort came in while begin waited for the drain (the
 * abort, next on the operation lane, resumes), or the orchestrator is
 * stopping (the state stays paused). */
static int begin_interrupted(struct orch_ctx *ctx, int64_t epoch, int64_t cutover_id, json_t *pending, json_t **resp)
{
	char names[1024], msg[1280];
	join_ids(pending, names, sizeof(names));
	if (interrupted(ctx) == ORCH_INTERRUPT_ABORT)
		snprintf(msg, sizeof(msg), "begin interrupted by an abort request while waiting for instances to drain "
			 "(%s); the abort runs next", names);
	else
		snprintf(msg, sizeof(msg), "begin interrupted: the orchestrator is stopping while instances were not "
			 "drained (%s); the state stays paused (epoch %" PRId64 "): run begin again, or abort, once it "
			 "is back", names, epoch);
	event(ctx, cutover_id, "failed", epoch, NULL, -1, json_pack("{s:s}", "error", msg));
	lms_log(LMS_LOG_LEVEL_WARN, "begin_interrupted", "cutover_id=%" PRId64 " epoch=%" PRId64, cutover_id, epoch);
	*resp = json_pack("{s:s,s:I,s:I}", "error", msg, "cutover_id", (json_int_t)cutover_id, "epoch", (json_int_t)epoch);
	return 409;
}

static void iso_now(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000) % 1000);
}

int orch_cutover_begin(struct orch_ctx *ctx, json_t *req, json_t **resp)
{
	double drain_s = ctx->cfg->drain_timeout;
	bool dry = false;
	call_t0 = now_ms();
	step("begin_received");
	struct orch_state st;
	int code;
	if ((code = opt_seconds(req, "drain_timeout_s", &drain_s, resp)) || (code = opt_bool(req, "dry_run", &dry, resp)) ||
	    (code = load_state(ctx, &st, resp)))
		return code;
	json_t *instances = cutover_instances(ctx, &code, resp);
	if (!instances)
		return code;
	if (dry) {
		code = begin_dry_run(ctx, &st, instances, resp);
		json_decref(instances);
		return code;
	}
	/* before pausing: logins the proxies verify once the target serves */
	char err[700];
	json_t *logins = orch_source_copy_logins(ctx->source, ctx->store, err, sizeof(err));
	step("begin_logins_copied");
	if (!logins) {
		json_decref(instances);
		char msg[900];
		snprintf(msg, sizeof(msg), "cannot copy the source's logins into the coordination store (nothing "
			 "was paused): %s", err);
		return fail(resp, 502, msg);
	}
	int64_t epoch, cutover_id;
	if ((code = begin_transition(ctx, &st, &epoch, &cutover_id, resp))) {
		json_decref(logins);
		json_decref(instances);
		return code;
	}
	char paused_at[64];
	iso_now(paused_at, sizeof(paused_at));
	step("begin_transition_written");
	events_hold();
	json_t *unreachable;
	json_t *acks = push_state(ctx, instances, epoch, "paused", st.source_of_truth, cutover_id, &unreachable);
	step("begin_pushed");
	json_t *drained = json_array(), *pending = json_array();
	json_t *rest = drained_on_ack(ctx, instances, acks, epoch, cutover_id, drained);
	json_decref(acks);
	if (json_array_size(unreachable) == 0 && json_array_size(rest) > 0) {
		json_decref(pending);
		pending = wait_drained(ctx, rest, epoch, cutover_id, drain_s, drained, unreachable);
	}
	json_decref(rest);
	step("begin_drain_checked");
	if (json_array_size(pending) && !json_array_size(unreachable) && interrupted(ctx)) {
		events_write(ctx);
		code = begin_interrupted(ctx, epoch, cutover_id, pending, resp);
	} else if (json_array_size(pending) || json_array_size(unreachable)) {
		events_write(ctx);
		code = begin_failed(ctx, epoch, cutover_id, pending, unreachable, resp);
	} else {
		json_t *wm = begin_watermark(ctx, st.source_of_truth, instances, cutover_id, epoch);
		step("begin_watermark_written");
		events_write(ctx);
		event(ctx, cutover_id, "drained", epoch, NULL, -1,
		      json_pack("{s:I}", "instances", (json_int_t)json_array_size(drained)));
		lms_log(LMS_LOG_LEVEL_INFO, "cutover_paused", "cutover_id=%" PRId64 " epoch=%" PRId64 " instances=%zu",
			cutover_id, epoch, json_array_size(drained));
		*resp = json_pack("{s:I,s:I,s:s,s:s,s:O,s:o,s:O}", "cutover_id", (json_int_t)cutover_id, "epoch",
				  (json_int_t)epoch, "paused_at", paused_at, "source_of_truth", st.source_of_truth,
				  "instances", drained, "watermark", wm, "logins", logins);
		if (json_array_size(instances) == 0)
			json_object_set_new(*resp, "warning", json_string("no live instances: none registered with "
									  "a heartbeat under 10 s, and no --lms-addresses"));
		code = 200;
	}
	json_decref(logins);
	json_decref(drained);
	json_decref(pending);
	json_decref(unreachable);
	json_decref(instances);
	return code;
}

/* Write token on the source: directly with SOURCE_URL, otherwise through
 * the first of the first `tries` instances that can, each call up to
 * call_s.  0, or an HTTP status with *resp set. */
static int write_on_source(struct orch_ctx *ctx, json_t *instances, const char *token, double call_s, size_t tries,
			   json_t **resp)
{
	char err[512];
	if (ctx->source) {
		if (ctx->source->ops->write_watermark(ctx->source->impl, token, err, sizeof(err)) == ORCH_STORE_OK)
			return 0;
		char msg[700];
		snprintf(msg, sizeof(msg), "cannot write the watermark on the source: %s", err);
		return fail(resp, 502, msg);
	}
	json_t *body = json_pack("{s:s}", "token", token);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	char why[1500] = "";
	size_t len = 0;
	for (size_t i = 0; i < json_array_size(instances) && i < tries; i++) {
		json_t *one = json_pack("[O]", json_array_get(instances, i));
		struct orch_call *c = orch_instances_call(ctx, one, "POST", "/api/v1/watermark", text,
							 call_s);
		bool ok = c && !c->error[0] && json_is_true(json_object_get(c->body, "written"));
		if (!ok && len < sizeof(why))
			len += (size_t)snprintf(why + len, sizeof(why) - len, "%s%s: %s", len ? "; " : "",
						inst_id(json_array_get(one, 0)), c && c->error[0] ? c->error : "not written");
		orch_instances_calls_free(c, 1);
		json_decref(one);
		if (ok) {
			free(text);
			return 0;
		}
	}
	free(text);
	char msg[1800];
	snprintf(msg, sizeof(msg), "cannot write the watermark on the source: no instance could (%s); configure "
		 "SOURCE_URL, or commit with skip_replication_check", len ? why : "no live instances");
	return fail(resp, 502, msg);
}

/* Write token where the writes of source of truth `truth` went: on the
 * source (write_on_source), or, on the way back, on the target (the
 * store).  0, or an HTTP status with *resp set. */
static int write_watermark(struct orch_ctx *ctx, const char *truth, json_t *instances, const char *token,
			   double call_s, size_t tries, json_t **resp)
{
	char err[512], msg[700];
	if (strcmp(truth, "target"))
		return write_on_source(ctx, instances, token, call_s, tries, resp);
	if (orch_store_write_watermark(ctx->store, token, err, sizeof(err)) == ORCH_STORE_OK)
		return 0;
	snprintf(msg, sizeof(msg), "cannot write the watermark on the target: %s", err);
	return fail(resp, 502, msg);
}

/* The source's watermark token read through the instances (the way back
 * without SOURCE_URL): the first that answers.  ORCH_STORE_OK with seen
 * ("" when no row), or ORCH_STORE_ERROR with err naming each failure. */
static int read_through_instances(struct orch_ctx *ctx, json_t *instances, char *seen, size_t cap, char *err,
				  size_t errlen)
{
	size_t len = 0;
	err[0] = 0;
	for (size_t i = 0; i < json_array_size(instances); i++) {
		json_t *one = json_pack("[O]", json_array_get(instances, i));
		struct orch_call *c = orch_instances_call(ctx, one, "GET", "/api/v1/watermark", NULL, CALL_TIMEOUT_S);
		bool ok = c && !c->error[0] && json_is_object(c->body);
		if (ok) {
			const char *t = json_string_value(json_object_get(c->body, "token"));
			snprintf(seen, cap, "%s", t ? t : "");
		} else if (len < errlen) {
			len += (size_t)snprintf(err + len, errlen - len, "%s%s: %s", len ? "; " : "",
						inst_id(json_array_get(one, 0)), c && c->error[0] ? c->error : "no answer");
		}
		orch_instances_calls_free(c, 1);
		json_decref(one);
		if (ok)
			return ORCH_STORE_OK;
	}
	if (!len)
		snprintf(err, errlen, "no live instance to read the source's _molt_lms.watermark through");
	return ORCH_STORE_ERROR;
}

/* Read the token on the side that must receive the writes of source of
 * truth `truth`: the target (the store), or on the way back the source,
 * with SOURCE_URL or else through the instances. */
static int read_other_side(struct orch_ctx *ctx, const char *truth, json_t *instances, char *seen, size_t cap,
			   char *err, size_t errlen)
{
	if (strcmp(truth, "target"))
		return orch_store_read_watermark(ctx->store, seen, cap, err, errlen);
	if (ctx->source)
		return ctx->source->ops->read_watermark(ctx->source->impl, seen, cap, err, errlen);
	return read_through_instances(ctx, instances, seen, cap, err, errlen);
}

/* Poll the other side of source of truth `truth` (read_other_side) until
 * token shows; 0 with *lag_ms (since t0) and *first (seen at the first
 * look), or 409/503. */
static int wait_watermark(struct orch_ctx *ctx, const char *truth, json_t *instances, const char *token,
			  double timeout_s, double t0, double *lag_ms, bool *first, json_t **resp)
{
	bool back = !strcmp(truth, "target");
	double deadline = now_ms() + timeout_s * 1e3;
	char seen[256], err[1024];
	for (*first = true;; *first = false) {
		if (read_other_side(ctx, truth, instances, seen, sizeof(seen), err, sizeof(err)) != ORCH_STORE_OK)
			return fail(resp, 503, err);
		if (!strcmp(seen, token)) {
			*lag_ms = now_ms() - t0;
			return 0;
		}
		if (now_ms() >= deadline)
			break;
		if (interrupted(ctx))
			return fail(resp, 409, interrupted(ctx) == ORCH_INTERRUPT_ABORT ?
				    "commit interrupted by an abort request while waiting for replication to catch up: "
				    "nothing was switched; the abort runs next" :
				    "commit interrupted: the orchestrator is stopping; nothing was switched and the state "
				    "stays paused: run commit again, or abort, once it is back");
		sleep_ms(POLL_INTERVAL_MS);
	}
	char msg[700];
	snprintf(msg, sizeof(msg), "replication has not caught up: watermark token %s written on the %s is not "
		 "in the %s's _molt_lms.watermark after %.1f s; check that replication includes that table, "
		 "then retry commit (or skip_replication_check), or abort", token, back ? "target" : "source",
		 back ? "source" : "target", timeout_s);
	return fail(resp, 409, msg);
}

/* The watermark begin wrote once every instance drained: the replication
 * catch-up starts there, not when commit comes.  Only a shortcut: commit
 * uses it when it is for the pause in the store (same cutover and
 * epoch), and otherwise (e.g. the orchestrator restarted) writes its own
 * token as before.  The operation lane runs one call at a time. */
static struct {
	int64_t cutover_id, epoch;
	char token[160];
	double written_ms;        /* now_ms() when the write began */
	char written_at[64];      /* the same, wall clock */
	json_t *drained;          /* admin URLs of the instances that drained */
} mark;

/* Whether url is one of the admin URLs in mark.drained. */
static bool drained_url(const char *url)
{
	if (!url)
		return false;
	size_t i;
	json_t *u;
	json_array_foreach(mark.drained, i, u)
		if (!strcmp(json_string_value(u), url))
			return true;
	return false;
}

/* Whether this process's begin saw every instance live now drained for
 * the pause in the store (it wrote the watermark then).  Instances stay
 * drained while paused (new requests and logins wait in the queues), so
 * commit need not ask them again.  An instance that was not live at begin
 * (it could not reach the store, so begin did not count it) may have
 * opened a transaction since: then commit asks them all, and writes a
 * watermark of its own. */
static bool drained_at_begin(const struct orch_state *st, json_t *instances)
{
	if (mark.cutover_id == 0 || mark.cutover_id != st->cutover_id || mark.epoch != st->epoch)
		return false;
	size_t i;
	json_t *inst;
	json_array_foreach(instances, i, inst)
		if (!drained_url(json_string_value(json_object_get(inst, "admin_url"))))
			return false;
	return true;
}

/* Remember the admin URLs of instances as begin's drained set. */
static void mark_drained(json_t *instances)
{
	json_decref(mark.drained);
	mark.drained = json_array();
	size_t i;
	json_t *inst;
	json_array_foreach(instances, i, inst) {
		json_t *u = json_object_get(inst, "admin_url");
		if (json_is_string(u))
			json_array_append(mark.drained, u);
	}
}

/* Commit's precondition: every live instance reports drained at the
 * paused epoch.  A begin that timed out (a transaction still open), or one
 * cut short by a restart, leaves the state paused without that; switching
 * then would end those transactions.  0, or 409 (not drained) / 502 (no
 * answer) / 503 with *resp set; the state stays paused. */
static int require_drained(struct orch_ctx *ctx, const struct orch_state *st, json_t *instances, json_t **resp)
{
	size_t n = json_array_size(instances);
	struct orch_call *calls = orch_instances_call(ctx, instances, "GET", "/api/v1/state", NULL, CALL_TIMEOUT_S);
	if (!calls)
		return fail(resp, 503, "out of memory");
	json_t *pending = json_array(), *unreachable = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *inst = json_array_get(instances, i);
		json_t *b = calls[i].body;
		if (calls[i].error[0])
			json_array_append_new(unreachable, unreachable_entry(inst, calls[i].error));
		else if (!json_is_true(json_object_get(b, "drained")) ||
			 json_integer_value(json_object_get(b, "epoch")) < st->epoch)
			json_array_append_new(pending, json_pack("{s:s?,s:O?,s:O?,s:O?,s:O?}", "id", inst_id(inst),
								 "admin_url", json_object_get(inst, "admin_url"),
								 "epoch", json_object_get(b, "epoch"), "phase",
								 json_object_get(b, "phase"), "in_transaction",
								 json_object_get(b, "in_transaction")));
	}
	orch_instances_calls_free(calls, n);
	if (!json_array_size(pending) && !json_array_size(unreachable)) {
		json_decref(pending);
		json_decref(unreachable);
		return 0;
	}
	char not_drained[1024], down[1024], msg[2300];
	join_ids(pending, not_drained, sizeof(not_drained));
	join_ids(unreachable, down, sizeof(down));
	snprintf(msg, sizeof(msg), "instances not drained at epoch %" PRId64 ": %s%s%s; the state stays paused: run "
		 "begin again (it waits for the drain and names what blocks it), or abort", st->epoch,
		 json_array_size(pending) ? not_drained : "", json_array_size(pending) && json_array_size(unreachable) ?
		 "; " : "", json_array_size(unreachable) ? down : "");
	event(ctx, st->cutover_id, "failed", st->epoch, NULL, -1,
	      json_pack("{s:s,s:s,s:O,s:O}", "step", "drain check", "error", msg, "not_drained", pending, "unreachable",
			unreachable));
	lms_log(LMS_LOG_LEVEL_WARN, "commit_refused", "cutover_id=%" PRId64 " reason=not_drained", st->cutover_id);
	*resp = json_pack("{s:s,s:I,s:I,s:o,s:o}", "error", msg, "cutover_id", (json_int_t)st->cutover_id, "epoch",
			  (json_int_t)st->epoch, "not_drained", pending, "unreachable", unreachable);
	return json_array_size(unreachable) && !json_array_size(pending) ? 502 : 409;
}

/* What commit's replication check found. */
struct repl_check {
	double lag_ms;            /* watermark written -> seen on the target */
	double wait_ms;           /* of which commit waited */
	bool before_commit;       /* already there at commit's first look */
	bool at_begin;            /* written by begin */
	char written_at[64];
};

static void make_token(int64_t cutover_id, int64_t epoch, char *buf, size_t cap)
{
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	snprintf(buf, cap, "%" PRId64 "-%" PRId64 "-%lld%03d", cutover_id, epoch, (long long)wall.tv_sec,
		 (int)(wall.tv_nsec / 1000000) % 1000);
}

/* Begin, every instance drained: write the watermark now.  Returns the
 * begin answer's "watermark" member.  A failure only means commit writes
 * its own (and reports why it cannot). */
static json_t *begin_watermark(struct orch_ctx *ctx, const char *truth, json_t *instances, int64_t cutover_id,
			       int64_t epoch)
{
	json_t *resp = NULL;
	mark.cutover_id = 0;
	make_token(cutover_id, epoch, mark.token, sizeof(mark.token));
	mark.written_ms = now_ms();
	iso_now(mark.written_at, sizeof(mark.written_at));
	if (write_watermark(ctx, truth, instances, mark.token, BEGIN_WATERMARK_CALL_TIMEOUT_S, 1, &resp)) {
		const char *why = json_string_value(json_object_get(resp, "error"));
		lms_log(LMS_LOG_LEVEL_WARN, "begin_watermark_failed", "cutover_id=%" PRId64 " reason=\"%s\"", cutover_id,
			why ? why : "?");
		json_t *out = json_pack("{s:s?}", "error", why);
		json_decref(resp);
		return out;
	}
	mark.cutover_id = cutover_id;
	mark.epoch = epoch;
	mark_drained(instances);
	return json_pack("{s:s,s:s}", "token", mark.token, "written_at", mark.written_at);
}

/* Commit's replication check, in the direction of the cutover: a token
 * written where the writes went must show where they go next.  0 with *rc
 * filled, or an HTTP status. */
static int replication_check(struct orch_ctx *ctx, const struct orch_state *st, json_t *instances, double timeout_s,
			     struct repl_check *rc, json_t **resp)
{
	char token[160];
	double t0;
	int code = 0;
	double wait0 = now_ms();
	rc->at_begin = drained_at_begin(st, instances);
	if (rc->at_begin) {
		snprintf(token, sizeof(token), "%s", mark.token);
		snprintf(rc->written_at, sizeof(rc->written_at), "%s", mark.written_at);
		t0 = mark.written_ms;
	} else {
		make_token(st->cutover_id, st->epoch, token, sizeof(token));
		iso_now(rc->written_at, sizeof(rc->written_at));
		t0 = now_ms();
		code = write_watermark(ctx, st->source_of_truth, instances, token, WATERMARK_CALL_TIMEOUT_S,
				       json_array_size(instances), resp);
		step("watermark_written");
	}
	if (!code)
		code = wait_watermark(ctx, st->source_of_truth, instances, token, timeout_s, t0, &rc->lag_ms,
				      &rc->before_commit, resp);
	rc->wait_ms = now_ms() - wait0;
	step("watermark_seen");
	if (code) {
		event(ctx, st->cutover_id, "failed", st->epoch, NULL, now_ms() - t0,
		      json_pack("{s:s,s:O}", "step", "replication check", "error", json_object_get(*resp, "error")));
		lms_log(LMS_LOG_LEVEL_WARN, "commit_refused", "cutover_id=%" PRId64 " status=%d", st->cutover_id, code);
	}
	return code;
}

/* Commit or abort: end the pause with source of truth `truth`. */
static int end_pause(struct orch_ctx *ctx, const struct orch_state *st, json_t *instances, const char *kind,
		     const char *truth, const struct repl_check *check, json_t **resp)
{
	struct orch_transition t = { .old_epoch = st->epoch, .phase = "serving", .source_of_truth = truth,
				     .kind = kind, .cutover_id = st->cutover_id,
				     .end_status = !strcmp(kind, "commit") ? "committed" : "aborted" };
	char err[512];
	int rc = orch_store_transition(ctx->store, &t, err, sizeof(err));
	step("end_transition_written");
	if (rc != ORCH_STORE_OK)
		return fail(resp, rc == ORCH_STORE_STALE ? 409 : 503, err);
	lms_log(LMS_LOG_LEVEL_INFO, "cutover_end", "kind=%s cutover_id=%" PRId64 " epoch=%" PRId64
		" source_of_truth=%s paused_ms=%.1f", kind, t.cutover_id, t.epoch, truth, t.paused_ms);
	json_t *unreachable;
	json_t *acks = push_state(ctx, instances, t.epoch, "serving", truth, t.cutover_id, &unreachable);
	step("end_pushed");
	*resp = json_pack("{s:I,s:I,s:s,s:s,s:o,s:o}", "cutover_id", (json_int_t)t.cutover_id, "epoch",
			  (json_int_t)t.epoch, "source_of_truth", truth, "phase", "serving", "instances", acks,
			  "unreachable", unreachable);
	json_object_set_new(*resp, "paused_ms", t.paused_ms >= 0 ? json_real(t.paused_ms) : json_null());
	if (!strcmp(kind, "commit"))
		json_object_set_new(*resp, "replication_lag_ms", check ? json_real(check->lag_ms) : json_null());
	if (check)
		json_object_set_new(*resp, "replication_check",
				    json_pack("{s:s,s:s,s:f,s:b}", "watermark_written_at", check->written_at,
					      "watermark_written_by", check->at_begin ? "begin" : "commit",
					      "commit_wait_ms", check->wait_ms, "caught_up_before_commit",
					      check->before_commit));
	if (json_array_size(unreachable))
		json_object_set_new(*resp, "warning", json_string("some instances did not answer: the new state is in the "
								  "store and they apply it when they next read it"));
	return 200;
}

/* The pre-checks shared by commit and abort: phase must be paused. */
static int require_paused(struct orch_ctx *ctx, const char *what, struct orch_state *st, json_t **resp)
{
	int code = load_state(ctx, st, resp);
	if (code)
		return code;
	if (strcmp(st->phase, "paused")) {
		char msg[256];
		snprintf(msg, sizeof(msg), "no cutover in progress: %s needs phase paused, the phase is %s (epoch %" PRId64
			 "); run begin first", what, st->phase, st->epoch);
		return fail(resp, 409, msg);
	}
	return 0;
}

/* dry_run of commit or abort. */
static json_t *end_dry_run(const struct orch_state *st, json_t *instances, const char *truth, const char *extra)
{
	char would[300];
	snprintf(would, sizeof(would), "epoch %" PRId64 " -> %" PRId64 ", phase serving, source of truth %s%s",
		 st->epoch, st->epoch + 1, truth, extra);
	return json_pack("{s:b,s:s,s:I,s:I,s:s,s:O}", "dry_run", 1, "would", would, "cutover_id",
			 (json_int_t)st->cutover_id, "epoch", (json_int_t)st->epoch, "source_of_truth",
			 st->source_of_truth, "instances", instances);
}

int orch_cutover_commit(struct orch_ctx *ctx, json_t *req, json_t **resp)
{
	bool skip = false, dry = false;
	double repl_s = ctx->cfg->replication_timeout;
	struct repl_check rc;
	struct orch_state st;
	int code;
	call_t0 = now_ms();
	step("commit_received");
	if ((code = opt_bool(req, "skip_replication_check", &skip, resp)) || (code = opt_bool(req, "dry_run", &dry, resp)) ||
	    (code = opt_seconds(req, "replication_timeout_s", &repl_s, resp)) ||
	    (code = require_paused(ctx, "commit", &st, resp)))
		return code;
	json_t *instances = cutover_instances(ctx, &code, resp);
	if (!instances)
		return code;
	const char *to = other_truth(st.source_of_truth);
	step("commit_state_read");
	if (dry) {
		*resp = end_dry_run(&st, instances, to, skip ? " (replication check skipped)"
				    : strcmp(to, "source") ? ", after a watermark written on the source shows on the target"
				    : ", after a watermark written on the target shows on the source");
		code = 200;
	} else if ((!drained_at_begin(&st, instances) && (code = require_drained(ctx, &st, instances, resp))) ||
		   (!skip && (code = replication_check(ctx, &st, instances, repl_s, &rc, resp)))) {
		/* refused: the state stays paused */
	} else {
		code = end_pause(ctx, &st, instances, "commit", to, skip ? NULL : &rc, resp);
	}
	json_decref(instances);
	return code;
}

int orch_cutover_abort(struct orch_ctx *ctx, json_t *req, json_t **resp)
{
	bool dry = false;
	struct orch_state st;
	int code;
	call_t0 = now_ms();
	step("abort_received");
	if ((code = opt_bool(req, "dry_run", &dry, resp)) || (code = require_paused(ctx, "abort", &st, resp)))
		return code;
	json_t *instances = cutover_instances(ctx, &code, resp);
	if (!instances)
		return code;
	if (dry) {
		*resp = end_dry_run(&st, instances, st.source_of_truth, " (unchanged)");
		code = 200;
	} else {
		code = end_pause(ctx, &st, instances, "abort", st.source_of_truth, NULL, resp);
	}
	json_decref(instances);
	return code;
}
