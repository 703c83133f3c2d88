/*
 * api.h - the orchestrator's HTTP/JSON API (port 4200) and its metrics
 * listener (port 4201).
 */
#ifndef ORCH_API_H
#define ORCH_API_H

#include <stddef.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "context.h"

struct orch_api;

/* Start the API on ctx->cfg->listen (tls may be NULL: plain HTTP; with
 * require_client_cert, /api/v1/ routes answer only callers whose
 * certificate verified) and the metrics listener (metrics_tls may be
 * NULL).  ctx serves the reads on the loop; op_ctx (its own store
 * connections) serves initialize, begin, commit, abort and forgetting an
 * instance on the operation lane's thread (oplane.h).  Both contexts and
 * the TLS contexts are borrowed until orch_api_stop returns.  NULL with a
 * message in err. */
struct orch_api *orch_api_start(struct event_base *base, struct orch_ctx *ctx, struct orch_ctx *op_ctx, SSL_CTX *tls,
				SSL_CTX *metrics_tls, int require_client_cert, char *err, size_t errlen);
/* Stop taking state changes: interrupt a begin that waits for a drain,
 * wait for the running op, and queue the replies to it and to those
 * waiting (503), which the loop sends if it runs a little longer.  Later
 * calls do nothing. */
void orch_api_quiesce(struct orch_api *api);

/* Quiesce, then close the listeners and free api. */
void orch_api_stop(struct orch_api *api);

#endif
