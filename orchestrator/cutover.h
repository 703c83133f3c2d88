/*
 * cutover.h - the consistent cutover: begin (pause and drain every
 * instance), commit (confirm replication, switch the source of truth),
 * abort (resume on the same source of truth).  docs/api.md describes the
 * requests and answers.
 *
 * Each function reads the state from the store, writes its transition
 * there with a conditional update (a concurrent change makes it fail with
 * 409), then pushes the new state to every instance.  It blocks until
 * done: at most the drain or replication timeout plus a few seconds.
 */
#ifndef ORCH_CUTOVER_H
#define ORCH_CUTOVER_H

#include <jansson.h>

#include "context.h"

/* Each takes the request body (borrowed) and stores a new reference to
 * the answer in *resp; returns the HTTP status. */
int orch_cutover_begin(struct orch_ctx *ctx, json_t *req, json_t **resp);
int orch_cutover_commit(struct orch_ctx *ctx, json_t *req, json_t **resp);
int orch_cutover_abort(struct orch_ctx *ctx, json_t *req, json_t **resp);

#endif
