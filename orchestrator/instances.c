/*
 * instances.c - finding the proxy instances, calling them all, and
 * forgetting one that is gone.
 */
#include "autoconfig.h"

#include "instances.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "store.h"

/* The registration whose admin_url is url, borrowed from regs, or NULL. */
static json_t *find_registration(json_t *regs, const char *url)
{
	size_t i;
	json_t *r;
	json_array_foreach(regs, i, r) {
		const char *u = json_string_value(json_object_get(r, "admin_url"));
		if (u && !strcmp(u, url))
			return r;
	}
	return NULL;
}

/* Each --lms-addresses entry, with its registration's columns if any. */
static json_t *static_list(const char *addresses, json_t *regs)
{
	json_t *list = json_array();
	char *copy = strdup(addresses), *save = NULL;
	for (char *a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		json_t *reg = regs ? find_registration(regs, a) : NULL;
		json_t *o = reg ? json_deep_copy(reg) : json_pack("{s:s}", "id", a);
		json_object_set_new(o, "admin_url", json_string(a));
		json_object_set_new(o, "live", json_true());
		json_array_append_new(list, o);
	}
	free(copy);
	return list;
}

json_t *orch_instances_list(struct orch_ctx *ctx, enum orch_which which, char *err, size_t errlen)
{
	json_t *regs = NULL;
	int rc = orch_store_instances(ctx->store, &regs, err, errlen);
	if (ctx->cfg->lms_addresses) {
		if (rc != ORCH_STORE_OK)
			lms_log(LMS_LOG_LEVEL_DEBUG, "instances_unregistered", "reason=\"%s\"", err);
		json_t *list = static_list(ctx->cfg->lms_addresses, regs);
		json_decref(regs);
		return list;
	}
	if (rc != ORCH_STORE_OK)
		return NULL;
	json_t *list = json_array();
	size_t i;
	json_t *r;
	json_array_foreach(regs, i, r) {
		double age = json_number_value(json_object_get(r, "heartbeat_age_s"));
		bool live = age < ORCH_HEARTBEAT_STALE_S;
		if (!live && (which == ORCH_LIVE || (which == ORCH_PARTICIPANTS && age >= ctx->cfg->forget_after)))
			continue;
		json_object_set_new(r, "live", json_boolean(live));
		json_array_append(list, r);
	}
	json_decref(regs);
	return list;
}

struct orch_call *orch_instances_call(struct orch_ctx *ctx, json_t *instances, const char *method, const char *path,
				      const char *body, double timeout_s)
{
	size_t n = json_array_size(instances);
	struct orch_call *calls = calloc(n ? n : 1, sizeof(*calls));
	if (!calls)
		return NULL;
	for (size_t i = 0; i < n; i++)
		calls[i].url = json_string_value(json_object_get(json_array_get(instances, i), "admin_url"));
	orch_proxies_call(ctx->client_tls, calls, n, method, path, body, timeout_s);
	for (size_t i = 0; i < n; i++) {
		json_t *inst = json_array_get(instances, i);
		const char *id = json_string_value(json_object_get(inst, "id"));
		json_t *reported = calls[i].body ? json_object_get(calls[i].body, "instance_id") : NULL;
		if (id && calls[i].url && !strcmp(id, calls[i].url) && json_is_string(reported))
			json_object_set(inst, "id", reported);
	}
	return calls;
}

void orch_instances_calls_free(struct orch_call *calls, size_t n)
{
	if (!calls)
		return;
	orch_proxies_clear(calls, n);
	free(calls);
}

/* Asking a stale instance's admin API whether it still runs is quick, or
 * it counts as not answering (as status probes). */
#define FORGET_PROBE_TIMEOUT_S 2.0

static int answer_error(json_t **resp, int code, const char *msg)
{
	*resp = json_pack("{s:s}", "error", msg);
	return code;
}

/* Whether call c (GET /api/v1/state on inst's admin URL) reached a
 * running process that may be inst: any HTTP answer, or a TLS handshake
 * that failed, unless the answer names another instance (a proxy that
 * restarted at the same address with a new id).  Fills why (for the
 * answer; cap >= 1200 holds it whole, the URL and ids bounded) either
 * way. */
static bool still_answers(json_t *inst, const struct orch_call *c, char *why, size_t cap)
{
	const char *id = json_string_value(json_object_get(inst, "id"));
	char url[400];
	lms_log_quote(json_string_value(json_object_get(inst, "admin_url")), sizeof(url) - 1, url, sizeof(url));
	const char *other = c->body ? json_string_value(json_object_get(c->body, "instance_id")) : NULL;
	if (c->status != 0 && other && strcmp(other, id)) {
		char q[ORCH_INSTANCE_ID_MAX + 1]; /* network text: bounded, cut at a character */
		snprintf(why, cap, "its admin URL %s now answers as instance '%s'", url,
			 lms_log_quote(other, ORCH_INSTANCE_ID_MAX, q, sizeof(q)));
		return false;
	}
	if (c->status != 0) {
		snprintf(why, cap, "instance '%s' answers on its admin API at %s (HTTP %d): it is running; stop it, "
			 "or let it reconnect to the store (it then heartbeats again)", id, url, c->status);
		return true;
	}
	if (c->tls_failed) {
		snprintf(why, cap, "something answers on the admin API of instance '%s' at %s, but %s: it may be "
			 "the instance, running; stop it, or fix its TLS and let it reconnect to the store", id, url,
			 c->error);
		return true;
	}
	snprintf(why, cap, "%s", c->error[0] ? c->error : "no answer");
	return false;
}

/* The cutover the events of a forget belong to: the one in progress, or
 * 0.  Returns 0, or an HTTP status with *resp set. */
static int forget_cutover_id(struct orch_ctx *ctx, int64_t *cutover_id, json_t **resp)
{
	char err[512];
	struct orch_state st;
	int rc = orch_store_read_state(ctx->store, &st, err, sizeof(err));
	if (rc != ORCH_STORE_OK)
		return answer_error(resp, rc == ORCH_STORE_UNINIT ? 409 : 503, err);
	*cutover_id = strcmp(st.phase, "paused") ? 0 : st.cutover_id;
	return 0;
}

int orch_instances_forget(struct orch_ctx *ctx, json_t *req, json_t **resp)
{
	const char *id = json_string_value(json_object_get(req, "id"));
	char err[512], msg[700];
	int64_t cutover_id = 0;
	int code;
	if (!id || !id[0])
		return answer_error(resp, 400, "an instance id is needed: DELETE /api/v1/instances/{id}");
	if (ctx->cfg->lms_addresses)
		return answer_error(resp, 409, "the orchestrator runs with --lms-addresses: that list, not the "
				    "registrations, says which instances a cutover waits for; remove the instance "
				    "from it instead");
	if ((code = forget_cutover_id(ctx, &cutover_id, resp)))
		return code;
	json_t *inst = NULL;
	int rc = orch_store_instance(ctx->store, id, &inst, err, sizeof(err));
	if (rc != ORCH_STORE_OK) {
		if (rc == ORCH_STORE_NOTFOUND)
			snprintf(err + strlen(err), sizeof(err) - strlen(err), " ('molt-lms-cli status' lists them)");
		return answer_error(resp, rc == ORCH_STORE_NOTFOUND ? 404 : 503, err);
	}
	double age = json_number_value(json_object_get(inst, "heartbeat_age_s"));
	const char *url = json_string_value(json_object_get(inst, "admin_url"));
	if (age < ORCH_HEARTBEAT_STALE_S) {
		snprintf(msg, sizeof(msg), "instance '%s' is live (last heartbeat %.1f s ago): it would only register "
			 "again; stop it first (a molt-lms that stops removes its registration), or check the id "
			 "('molt-lms-cli status')", id, age);
		json_decref(inst);
		return answer_error(resp, 409, msg);
	}
	struct orch_call call = { .url = url };
	orch_proxies_call(ctx->client_tls, &call, 1, "GET", "/api/v1/state", NULL, FORGET_PROBE_TIMEOUT_S);
	char why[1200];
	bool running = still_answers(inst, &call, why, sizeof(why));
	orch_proxies_clear(&call, 1);
	if (running) {
		json_decref(inst);
		return answer_error(resp, 409, why);
	}
	json_t *detail = json_pack("{s:s?,s:f,s:s}", "admin_url", url, "heartbeat_age_s", age, "admin_api", why);
	char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	rc = orch_store_forget_instance(ctx->store, id, json_string_value(json_object_get(inst, "heartbeat_at")),
					cutover_id, text, err, sizeof(err));
	free(text);
	json_decref(inst);
	if (rc != ORCH_STORE_OK) {
		json_decref(detail);
		return answer_error(resp, rc == ORCH_STORE_NOTFOUND ? 409 : 503, err);
	}
	char qid[ORCH_INSTANCE_ID_MAX + 1], qwhy[256];
	lms_log(LMS_LOG_LEVEL_INFO, "instance_forgotten", "instance=\"%s\" heartbeat_age_s=%.1f admin_api=\"%s\"",
		lms_log_quote(id, ORCH_INSTANCE_ID_MAX, qid, sizeof(qid)), age,
		lms_log_quote(why, sizeof(qwhy) - 1, qwhy, sizeof(qwhy)));
	json_object_set_new(detail, "id", json_string(id));
	*resp = json_pack("{s:o}", "forgotten", detail);
	if (cutover_id)
		json_object_set_new(*resp, "cutover_id", json_integer(cutover_id));
	return 200;
}
