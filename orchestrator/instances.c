/*
 * instances.c - finding the proxy instances and calling them all.
 */
#include "autoconfig.h"

#include "instances.h"

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
