/*
 * status.h - the read-mostly API answers: initialize, status,
 * connections, one cutover's record.
 */
#ifndef ORCH_STATUS_H
#define ORCH_STATUS_H

#include <jansson.h>

#include "context.h"

/* Each stores a new reference to the answer in *resp and returns the
 * HTTP status.  req is the request body (borrowed; may be unused). */
int orch_status_initialize(struct orch_ctx *ctx, json_t *req, json_t **resp);
int orch_status_get(struct orch_ctx *ctx, json_t *req, json_t **resp);
int orch_status_connections(struct orch_ctx *ctx, json_t *req, json_t **resp);
int orch_status_cutover(struct orch_ctx *ctx, const char *id, json_t **resp);

#endif
