/*
 * coord.c - the coordination state shared by all workers: applied when
 * newer, read by sessions, announced to each worker through its event.
 */
#include "autoconfig.h"

#include <string.h>

#include "clock.h"
#include "coord.h"
#include "log.h"
#include "runtime.h"
#include "worker.h"

void lms_coord_init(struct lms_runtime *rt)
{
	pthread_mutex_init(&rt->coord.lock, NULL);
	rt->coord.epoch = 0;
	rt->coord.cutover_id = 0;
	rt->coord.paused_since_us = 0;
	rt->coord.applied_us = 0;
	/* With a coordination store, SQL waits for its first reading
	 * (DESIGN.md: an instance that cannot read the state refuses). */
	bool store = rt->cfg && rt->cfg->coordination && strcmp(rt->cfg->coordination, "off") != 0;
	__atomic_store_n(&rt->coord.phase, store ? LMS_PHASE_UNKNOWN : LMS_PHASE_SERVING, __ATOMIC_RELEASE);
}

void lms_coord_free(struct lms_runtime *rt)
{
	pthread_mutex_destroy(&rt->coord.lock);
}

int lms_coord_phase(const struct lms_runtime *rt)
{
	return __atomic_load_n(&rt->coord.phase, __ATOMIC_ACQUIRE);
}

void lms_coord_get(struct lms_runtime *rt, struct lms_coord_view *out)
{
	pthread_mutex_lock(&rt->coord.lock);
	out->epoch = rt->coord.epoch;
	out->phase = rt->coord.phase;
	out->truth = __atomic_load_n(&rt->source_of_truth, __ATOMIC_ACQUIRE);
	out->cutover_id = rt->coord.cutover_id;
	out->paused_since_us = rt->coord.paused_since_us;
	out->applied_us = rt->coord.applied_us;
	pthread_mutex_unlock(&rt->coord.lock);
}

/* Tell every worker to look at the new state (thread-safe). */
static void announce(struct lms_runtime *rt)
{
	for (int i = 0; i < rt->nworkers; i++)
		if (rt->workers && rt->workers[i].notify_ev)
			lms_worker_notify(&rt->workers[i], LMS_WORKER_COORD);
}

bool lms_coord_apply(struct lms_runtime *rt, uint64_t epoch, int phase, int truth, uint64_t cutover_id)
{
	if ((phase != LMS_PHASE_SERVING && phase != LMS_PHASE_PAUSED && phase != LMS_PHASE_UNKNOWN) ||
	    (truth != LMS_ROLE_SOURCE && truth != LMS_ROLE_TARGET))
		return false;
	pthread_mutex_lock(&rt->coord.lock);
	int old_phase = rt->coord.phase;
	int old_truth = __atomic_load_n(&rt->source_of_truth, __ATOMIC_ACQUIRE);
	bool newer = epoch > rt->coord.epoch || (old_phase == LMS_PHASE_UNKNOWN && phase != LMS_PHASE_UNKNOWN);
	if (newer) {
		rt->coord.epoch = epoch;
		rt->coord.cutover_id = cutover_id;
		rt->coord.applied_us = lms_mono_us();
		if (phase == LMS_PHASE_PAUSED && old_phase != LMS_PHASE_PAUSED)
			rt->coord.paused_since_us = lms_mono_us();
		else if (phase != LMS_PHASE_PAUSED)
			rt->coord.paused_since_us = 0;
		/* The source of truth first: a session released by the phase
		 * change must already see where to go. */
		__atomic_store_n(&rt->source_of_truth, truth, __ATOMIC_RELEASE);
		__atomic_store_n(&rt->coord.phase, phase, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&rt->coord.lock);
	if (!newer)
		return false;
	static const char *const phases[] = { "serving", "paused", "unknown" };
	lms_log(LMS_LOG_LEVEL_INFO, "coord_applied", "epoch=%llu phase=%s source_of_truth=%s cutover=%llu%s",
		(unsigned long long)epoch, phases[phase], truth == LMS_ROLE_SOURCE ? "source" : "target",
		(unsigned long long)cutover_id, truth != old_truth ? " switched=1" : "");
	announce(rt);
	return true;
}
