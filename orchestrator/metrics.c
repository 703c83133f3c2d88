/*
 * metrics.c - Prometheus text format for GET /metrics.
 */
#include "autoconfig.h"

#include "metrics.h"

#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "status.h"
#include "store.h"

static void gauge(struct evbuffer *b, const char *name, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* One sample per value in values, 1 for the one equal to current. */
static void one_of(struct evbuffer *b, const char *name, const char *label, const char *const *values,
		   const char *current)
{
	for (size_t i = 0; values[i]; i++)
		evbuffer_add_printf(b, "%s{%s=\"%s\"} %d\n", name, label, values[i], current && !strcmp(values[i], current));
}

/* The parts that come from the status document (state and instances). */
static void status_metrics(struct evbuffer *b, json_t *st)
{
	static const char *const phases[] = { "serving", "paused", NULL };
	static const char *const truths[] = { "source", "target", NULL };
	gauge(b, "lms_orchestrator_state_epoch", "Epoch of the coordination state");
	evbuffer_add_printf(b, "lms_orchestrator_state_epoch %" JSON_INTEGER_FORMAT "\n",
			    json_integer_value(json_object_get(st, "epoch")));
	gauge(b, "lms_orchestrator_phase", "1 for the current phase");
	one_of(b, "lms_orchestrator_phase", "phase", phases, json_string_value(json_object_get(st, "phase")));
	gauge(b, "lms_orchestrator_source_of_truth", "1 for the current source of truth");
	one_of(b, "lms_orchestrator_source_of_truth", "source_of_truth", truths,
	       json_string_value(json_object_get(st, "source_of_truth")));
	int healthy = 0, unhealthy = 0;
	size_t i;
	json_t *inst;
	json_array_foreach(json_object_get(st, "instances"), i, inst) {
		if (json_is_true(json_object_get(inst, "healthy")))
			healthy++;
		else
			unhealthy++;
	}
	gauge(b, "lms_orchestrator_instances", "Proxy instances by health");
	evbuffer_add_printf(b, "lms_orchestrator_instances{health=\"healthy\"} %d\n", healthy);
	evbuffer_add_printf(b, "lms_orchestrator_instances{health=\"unhealthy\"} %d\n", unhealthy);
}

static void cutover_metrics(struct evbuffer *b, struct orch_ctx *ctx)
{
	static const char *const statuses[] = { "begun", "committed", "aborted", "failed" };
	json_t *by_status;
	double last_ms;
	char err[512];
	if (orch_store_cutover_stats(ctx->store, &by_status, &last_ms, err, sizeof(err)) != ORCH_STORE_OK)
		return;
	gauge(b, "lms_orchestrator_cutovers", "Cutovers by status");
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		evbuffer_add_printf(b, "lms_orchestrator_cutovers{status=\"%s\"} %" JSON_INTEGER_FORMAT "\n", statuses[i],
				    json_integer_value(json_object_get(by_status, statuses[i])));
	json_decref(by_status);
	if (last_ms >= 0) {
		gauge(b, "lms_orchestrator_last_pause_seconds", "How long the last ended cutover paused traffic");
		evbuffer_add_printf(b, "lms_orchestrator_last_pause_seconds %.6f\n", last_ms / 1e3);
	}
}

void orch_metrics_reply(struct orch_ctx *ctx, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	json_t *st = NULL;
	int code = orch_status_get(ctx, NULL, &st);
	gauge(b, "lms_orchestrator_store_up", "1 when the coordination store answered");
	evbuffer_add_printf(b, "lms_orchestrator_store_up %d\n", code == 200);
	if (code == 200) {
		status_metrics(b, st);
		cutover_metrics(b, ctx);
	}
	json_decref(st);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}
