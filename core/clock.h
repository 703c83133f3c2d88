/*
 * clock.h - the monotonic clock in microseconds, for timeouts, latencies
 * and pause lengths (never wall time).
 */
#ifndef LMS_CLOCK_H
#define LMS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t lms_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif
