/*
 * status.c - initialize, status, connections and cutover records.
 */
#include "autoconfig.h"

#include "status.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "instances.h"
#include "source.h"
#include "store.h"

/* Probing an instance or LMS for status is quick or it counts as down. */
#define PROBE_TIMEOUT_S 2.0

static int error_answer(json_t **resp, int code, const char *msg)
{
	*resp = json_pack("{s:s}", "error", msg);
	return code;
}

static int store_error(json_t **resp, int rc, const char *err)
{
	return error_answer(resp, rc == ORCH_STORE_UNINIT ? 409 : rc == ORCH_STORE_NOTFOUND ? 404 : 503, err);
}

int orch_status_initialize(struct orch_ctx *ctx, json_t *req, json_t **resp)
{
	(void)req;
	char err[512];
	json_t *created = json_array(), *existing = json_array();
	int rc = orch_store_initialize(ctx->store, created, existing, err, sizeof(err));
	const char *watermark = "SOURCE_URL is not configured: create _molt_lms.watermark (id INT PRIMARY KEY, "
				"token TEXT NOT NULL, written_at TIMESTAMPTZ NOT NULL) on the source and replicate it "
				"to the target, or commit with skip_replication_check";
	if (rc == ORCH_STORE_OK && ctx->source) {
		rc = ctx->source->ops->init_watermark(ctx->source->impl, created, existing, err, sizeof(err));
		watermark = "on the source (SOURCE_URL)";
	}
	json_t *logins = NULL;
	if (rc == ORCH_STORE_OK) {
		logins = orch_source_copy_logins(ctx->source, ctx->store, err, sizeof(err));
		rc = logins ? ORCH_STORE_OK : ORCH_STORE_ERROR;
	}
	struct orch_state st;
	if (rc == ORCH_STORE_OK)
		rc = orch_store_read_state(ctx->store, &st, err, sizeof(err));
	if (rc != ORCH_STORE_OK) {
		json_decref(created);
		json_decref(existing);
		json_decref(logins);
		return store_error(resp, rc, err);
	}
	*resp = json_pack("{s:o,s:o,s:s,s:{s:I,s:s,s:s},s:o}", "created", created, "existing", existing,
			  "source_watermark", watermark, "state", "epoch", (json_int_t)st.epoch, "source_of_truth",
			  st.source_of_truth, "phase", st.phase, "logins", logins);
	return 200;
}

/* One instance's status entry from its registration and its answer. */
static json_t *instance_status(json_t *inst, const struct orch_call *c)
{
	json_t *b = c->error[0] ? NULL : c->body;
	json_t *age = json_object_get(inst, "heartbeat_age_s");
	bool fresh = !age || json_number_value(age) < ORCH_HEARTBEAT_STALE_S;
	json_t *o = json_pack("{s:O?,s:O?,s:b,s:O?}", "id", json_object_get(inst, "id"), "admin_url",
			      json_object_get(inst, "admin_url"), "healthy", b && fresh, "heartbeat_age_s", age);
	/* what the instance says now, else what it last wrote in the store */
	static const char *const keys[][2] = { { "version", "version" }, { "shadow_mode", "shadow_mode" },
					       { "acked_epoch", "epoch" }, { "phase", "phase" },
					       { "source_of_truth", "source_of_truth" }, { "store", "store" },
					       { "sessions", "sessions" }, { "in_transaction", "in_transaction" },
					       { "queued_requests", "queued_requests" }, { "drained", "drained" } };
	static const char *const stored[] = { "version", "shadow_mode", "acked_epoch", "acked_phase",
					      "acked_source_of_truth", NULL, NULL, NULL, NULL, NULL };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = b ? json_object_get(b, keys[i][1]) : NULL;
		if (!v && stored[i])
			v = json_object_get(inst, stored[i]);
		json_object_set(o, keys[i][0], v ? v : json_null());
	}
	if (c->error[0])
		json_object_set_new(o, "error", json_string(c->error));
	else if (!fresh)
		json_object_set_new(o, "error", json_string("heartbeat older than 10 s"));
	return o;
}

/* The "select 1" probe through LMS_URL. */
static json_t *lms_probe(struct orch_ctx *ctx)
{
	if (!ctx->lms)
		return json_null();
	struct timespec a, b;
	char err[512];
	clock_gettime(CLOCK_MONOTONIC, &a);
	int rc = orch_store_ping(ctx->lms, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	if (rc == ORCH_STORE_OK)
		return json_pack("{s:b,s:f}", "ok", 1, "ms", ms);
	return json_pack("{s:b,s:f,s:s}", "ok", 0, "ms", ms, "error", err);
}

/* The shadow mode all reachable instances share, "mixed", or null. */
static json_t *common_shadow_mode(json_t *list)
{
	json_t *mode = NULL;
	size_t i;
	json_t *o;
	json_array_foreach(list, i, o) {
		json_t *m = json_object_get(o, "shadow_mode");
		if (!json_is_string(m))
			continue;
		if (mode && !json_equal(mode, m))
			return json_string("mixed");
		mode = m;
	}
	return mode ? json_incref(mode) : json_null();
}

int orch_status_get(struct orch_ctx *ctx, json_t *req, json_t **resp)
{
	(void)req;
	char err[512];
	struct orch_state st;
	int rc = orch_store_read_state(ctx->store, &st, err, sizeof(err));
	if (rc != ORCH_STORE_OK)
		return store_error(resp, rc, err);
	json_t *instances = orch_instances_list(ctx, ORCH_ALL, err, sizeof(err));
	if (!instances)
		return store_error(resp, ORCH_STORE_ERROR, err);
	size_t n = json_array_size(instances);
	struct orch_call *calls = orch_instances_call(ctx, instances, "GET", "/api/v1/state", NULL, PROBE_TIMEOUT_S);
	json_t *list = json_array();
	for (size_t i = 0; calls && i < n; i++)
		json_array_append_new(list, instance_status(json_array_get(instances, i), &calls[i]));
	orch_instances_calls_free(calls, n);
	json_decref(instances);
	*resp = json_pack("{s:I,s:s,s:s,s:o,s:s?,s:o,s:o,s:o}", "epoch", (json_int_t)st.epoch, "phase", st.phase,
			  "source_of_truth", st.source_of_truth, "cutover_id",
			  st.cutover_id ? json_integer(st.cutover_id) : json_null(), "source_dialect",
			  ctx->cfg->source_dialect, "shadow_mode", common_shadow_mode(list), "lms_probe", lms_probe(ctx),
			  "instances", list);
	return 200;
}

int orch_status_connections(struct orch_ctx *ctx, json_t *req, json_t **resp)
{
	(void)req;
	char err[512];
	json_t *instances = orch_instances_list(ctx, ORCH_LIVE, err, sizeof(err));
	if (!instances)
		return store_error(resp, ORCH_STORE_ERROR, err);
	size_t n = json_array_size(instances);
	struct orch_call *calls = orch_instances_call(ctx, instances, "GET", "/api/v1/connections", NULL,
						      PROBE_TIMEOUT_S);
	json_t *ok = json_array(), *down = json_array();
	for (size_t i = 0; calls && i < n; i++) {
		json_t *inst = json_array_get(instances, i);
		json_t *conns = json_object_get(calls[i].body, "connections");
		if (calls[i].error[0] || !json_is_array(conns))
			json_array_append_new(down, json_pack("{s:O?,s:O?,s:s}", "id", json_object_get(inst, "id"),
							      "admin_url", json_object_get(inst, "admin_url"), "error",
							      calls[i].error[0] ? calls[i].error : "no connections list"));
		else
			json_array_append_new(ok, json_pack("{s:O?,s:O?,s:O}", "id", json_object_get(inst, "id"),
							    "admin_url", json_object_get(inst, "admin_url"),
							    "connections", conns));
	}
	orch_instances_calls_free(calls, n);
	json_decref(instances);
	*resp = json_pack("{s:o,s:o}", "instances", ok, "unreachable", down);
	return 200;
}

int orch_status_cutover(struct orch_ctx *ctx, const char *id, json_t **resp)
{
	char *end, err[512];
	errno = 0;
	long long n = strtoll(id, &end, 10);
	if (errno || end == id || *end || n <= 0)
		return error_answer(resp, 400, "a cutover id is a positive integer: /api/v1/cutovers/{id}");
	int rc = orch_store_cutover(ctx->store, n, resp, err, sizeof(err));
	return rc == ORCH_STORE_OK ? 200 : store_error(resp, rc, err);
}
