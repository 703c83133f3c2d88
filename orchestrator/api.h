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
 * NULL).  ctx and the TLS contexts are borrowed.  Returns NULL with a
 * message. */
struct orch_api *orch_api_start(struct event_base *base, struct orch_ctx *ctx, SSL_CTX *tls,
				SSL_CTX *metrics_tls, int require_client_cert, char *err, size_t errlen);
void orch_api_stop(struct orch_api *api);

#endif
