/*
 * coord.h - the proxy's view of the coordination state (epoch, phase,
 * source of truth) that drives a consistent cutover, how a new state
 * reaches the workers, and what the workers report back.
 *
 * Writers: the control thread (core/control.c: the store, polled) and the
 * admin API (POST /api/v1/state, pushed by the orchestrator).  A state is
 * applied only when its epoch is newer.  Readers: the workers' sessions,
 * through lms_coord_get(), after the worker's coord event fired.
 */
#ifndef LMS_COORD_H
#define LMS_COORD_H

#include <stdbool.h>
#include <stdint.h>

struct lms_runtime;

enum lms_phase {
	LMS_PHASE_SERVING = 0,
	LMS_PHASE_PAUSED = 1,   /* new requests and logins wait in queues */
	LMS_PHASE_UNKNOWN = 2   /* the store could not be read yet: SQL is refused */
};

struct lms_coord_view {
	uint64_t epoch;
	int phase;              /* enum lms_phase */
	int truth;              /* enum lms_role */
	uint64_t cutover_id;
	uint64_t paused_since_us; /* monotonic time the pause began, 0 if serving */
	uint64_t applied_us;    /* monotonic time this state was applied */
};

/* Apply a state if epoch is newer than the current one (or the current
 * phase is UNKNOWN).  Returns true when applied; then every worker's
 * coord event is activated.  Thread-safe. */
bool lms_coord_apply(struct lms_runtime *rt, uint64_t epoch, int phase, int truth, uint64_t cutover_id);

/* A consistent copy of the current state.  Thread-safe. */
void lms_coord_get(struct lms_runtime *rt, struct lms_coord_view *out);

/* The current phase alone, without a lock (read on every request). */
int lms_coord_phase(const struct lms_runtime *rt);

/* Set up / tear down rt's coordination state: epoch 0 (any stored state
 * is newer), source of truth the source; phase UNKNOWN when rt->cfg has
 * coordination auto (until the control thread reads the store), serving
 * when it is off.  rt->cfg must be set. */
void lms_coord_init(struct lms_runtime *rt);
void lms_coord_free(struct lms_runtime *rt);

#endif
