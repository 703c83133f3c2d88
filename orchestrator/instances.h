/*
 * instances.h - which proxy instances the orchestrator talks to: the
 * static --lms-addresses list, or those registered in
 * _molt_lms.instances with a fresh heartbeat; and calls to all of them.
 */
#ifndef ORCH_INSTANCES_H
#define ORCH_INSTANCES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "context.h"
#include "proxies.h"

/* A heartbeat older than this makes a registered instance stale. */
#define ORCH_HEARTBEAT_STALE_S 10.0

/* The longest instance id: molt-lms keeps at most 299 bytes of it
 * (core/control.c). */
#define ORCH_INSTANCE_ID_MAX 299

/* Which registrations orch_instances_list returns. */
enum orch_which {
	ORCH_LIVE,          /* heartbeat under ORCH_HEARTBEAT_STALE_S */
	ORCH_PARTICIPANTS,  /* and stale ones not yet forgotten (--forget-instance-after):
			     * a proxy cut off from the store still serves, so a cutover
			     * must reach it through its admin API or wait */
	ORCH_ALL,           /* every registration */
};

/* The instances as a new array of objects with at least "id" and
 * "admin_url" (plus the registration's columns when there is one), each
 * with "live".  NULL with a message when the store cannot be read and no
 * static list is configured. */
json_t *orch_instances_list(struct orch_ctx *ctx, enum orch_which which, char *err, size_t errlen);

/* Call method path (body may be NULL) on every instance in parallel.
 * Returns a new array of n calls in the instances' order (free with
 * orch_instances_calls_free); an instance whose "id" is its admin URL
 * takes the instance_id the proxy reports. */
struct orch_call *orch_instances_call(struct orch_ctx *ctx, json_t *instances, const char *method, const char *path,
				      const char *body, double timeout_s);
void orch_instances_calls_free(struct orch_call *calls, size_t n);

/* DELETE /api/v1/instances/{id} (an op of the operation lane): req is
 * {"id": "..."} (the decoded id, checked by the caller).  Deletes the
 * registration of an instance that is gone for good, so that a cutover
 * no longer waits for it.  Refuses (409) an instance whose heartbeat is
 * under ORCH_HEARTBEAT_STALE_S old, or whose admin API still answers as
 * that instance; 404 when there is no such registration.  Returns the
 * HTTP status with *resp set. */
int orch_instances_forget(struct orch_ctx *ctx, json_t *req, json_t **resp);

#endif
