/*
 * stats.h - per-worker counters.  Each worker writes only its own block
 * (no locks, no atomic read-modify-write); the metrics thread sums them
 * with relaxed atomic loads.
 */
#ifndef LMS_STATS_H
#define LMS_STATS_H

#include <stdint.h>

#include "digest.h"
#include "fpstats.h"

#define LMS_LAT_BUCKETS 15 /* finite upper bounds, see stats.c */

enum lms_role { LMS_ROLE_SOURCE = 0, LMS_ROLE_TARGET = 1, LMS_ROLES = 2 };

enum lms_err_kind {
	LMS_ERR_BACKEND_CONNECT = 0,
	LMS_ERR_BACKEND_TLS,
	LMS_ERR_BACKEND_LOST,
	LMS_ERR_CLIENT_TLS,
	LMS_ERR_CLIENT_PROTOCOL,
	LMS_ERR_BACKEND_PROTOCOL,
	LMS_ERR_TIMEOUT,
	LMS_ERR_REJECTED,
	LMS_ERR_KINDS
};

struct lms_stats {
	uint64_t conns_total;
	uint64_t conns_active;
	uint64_t requests[LMS_ROLES][2]; /* [role][0 ok, 1 error] */
	uint64_t lat_bucket[LMS_ROLES][LMS_LAT_BUCKETS + 1];
	uint64_t lat_sum_us[LMS_ROLES];
	uint64_t bytes_in;   /* client to proxy */
	uint64_t bytes_out;  /* proxy to client */
	uint64_t errors[LMS_ERR_KINDS];
	uint64_t cancels;
	/* shadowing: requests by how they ended (enum lms_fp_result), the
	 * kind of each difference, async drops (the part of the dropped that
	 * async mode did not send because the shadow was behind), shadow
	 * connections opened and given up (timeout, loss, desync) */
	uint64_t shadow[LMS_FP_RESULTS];
	uint64_t shadow_diff[LMS_DIFFS];
	uint64_t shadow_async_dropped;
	uint64_t shadow_connects;
	uint64_t shadow_broken;
	uint64_t shadow_orphans; /* gauge: shadows finishing after their client left */
	/* cutover: sessions of this worker whose next request waits for the
	 * pause to end (a gauge, kept by the sessions) */
	uint64_t coord_queued_sessions;
	/* sessions this worker took over from another (balance.h) */
	uint64_t sessions_adopted;
};

extern const double lms_lat_bounds[LMS_LAT_BUCKETS];
extern const char *const lms_err_names[LMS_ERR_KINDS];

/* Add n to a counter owned by the calling thread. */
static inline void lms_stat_add(uint64_t *p, uint64_t n)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline uint64_t lms_stat_get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Record one finished request's latency in microseconds. */
void lms_stats_latency(struct lms_stats *st, int role, uint64_t us);

#endif
