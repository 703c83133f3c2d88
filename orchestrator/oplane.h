/*
 * oplane.h - the operation lane: the API calls that change the state
 * (initialize, begin, commit, abort, and forgetting an instance) run one
 * at a time on a thread of their own, with their own store connections,
 * so that the event loop keeps answering status, connections and metrics
 * while a begin waits for a drain or a commit for replication.
 */
#ifndef ORCH_OPLANE_H
#define ORCH_OPLANE_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "context.h"

struct orch_oplane;

/* What *ctx->interrupt holds while an op runs (0: nothing). */
#define ORCH_INTERRUPT_ABORT 1    /* an abort waits behind it */
#define ORCH_INTERRUPT_STOPPING 2 /* the orchestrator is stopping */

typedef int (*orch_op_fn)(struct orch_ctx *ctx, json_t *req, json_t **resp);

/* Start the lane's thread; ops run with ctx (owned by the caller, used by
 * the lane's thread only, until orch_oplane_stop returns).  NULL with a
 * message in err. */
struct orch_oplane *orch_oplane_start(struct event_base *base, struct orch_ctx *ctx, char *err, size_t errlen);

/* Interrupt a running begin, wait for the running op, answer the queued
 * ones 503, and free the lane.  On the loop's thread, before the HTTP
 * servers are freed. */
void orch_oplane_stop(struct orch_oplane *l);

/* Queue fn(body) as op `name` (a static string) for req: the reply is
 * sent from the loop's thread when it ends, and logged with path and the
 * time since t0_ms.  An abort also interrupts a begin that waits for its
 * drain (the abort runs next).  Takes body.  Returns 0, or -1 when the
 * queue is full (err says so; the caller answers 409). */
int orch_oplane_submit(struct orch_oplane *l, const char *name, const char *path, orch_op_fn fn, json_t *body,
		       struct evhttp_request *req, double t0_ms, char *err, size_t errlen);

/* {"name", "running_s", "queued"} of the op running now, or NULL. */
json_t *orch_oplane_describe(struct orch_oplane *l);

#endif
