/*
 * metrics.h - the orchestrator's Prometheus text: state epoch, phase,
 * source of truth, healthy instances, cutovers by status, last pause.
 */
#ifndef ORCH_METRICS_H
#define ORCH_METRICS_H

#include <event2/http.h>

#include "context.h"

/* Answer req with the metrics, read from the store and the instances. */
void orch_metrics_reply(struct orch_ctx *ctx, struct evhttp_request *req);

#endif
