/*
 * stats.c - latency buckets and names shared by the workers and /metrics.
 */
#include "autoconfig.h"

#include "stats.h"

const double lms_lat_bounds[LMS_LAT_BUCKETS] = {
	0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

const char *const lms_err_names[LMS_ERR_KINDS] = {
	"backend_connect", "backend_tls", "backend_lost", "client_tls",
	"client_protocol", "backend_protocol", "timeout", "rejected"
};

void lms_stats_latency(struct lms_stats *st, int role, uint64_t us)
{
	double s = (double)us / 1e6;
	int i = 0;
	while (i < LMS_LAT_BUCKETS && s > lms_lat_bounds[i])
		i++;
	lms_stat_add(&st->lat_bucket[role][i], 1);
	lms_stat_add(&st->lat_sum_us[role], us);
}
