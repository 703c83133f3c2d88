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

#endif
