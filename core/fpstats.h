/*
 * fpstats.h - shadowing aggregates per statement fingerprint: how often
 * it ran, how often the other database agreed, disagreed, failed
 * transiently or did not answer, and the latency on each side.  Served by
 * the admin API (GET /api/v1/mismatches) and as metrics.
 *
 * Bounded: at most LMS_FPSTATS_MAX fingerprints are tracked; later new
 * ones are counted under the fingerprint "(other)".  Safe from any
 * thread (one mutex; called once per shadowed request).
 */
#ifndef LMS_FPSTATS_H
#define LMS_FPSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

#define LMS_FPSTATS_MAX 4096

/* How one shadowed (or dropped) request ended. */
enum lms_fp_result {
	LMS_FP_MATCH = 0,
	LMS_FP_MISMATCH,
	LMS_FP_TRANSIENT,
	LMS_FP_LOST,        /* the other side timed out or was down */
	LMS_FP_DROPPED,     /* async: not sent to the other side */
	LMS_FP_SETTING,     /* a session setting the other side refused */
	LMS_FP_RESULTS
};

void lms_fpstats_init(void);
void lms_fpstats_free(void);

/* Count one request of fingerprint fp.  other_us is 0 when the other side
 * gave no latency (dropped, lost). */
void lms_fpstats_record(const char *fp, enum lms_fp_result r, uint64_t truth_us, uint64_t other_us);

/* The aggregates as a JSON document (malloc'ed, NUL-terminated, caller
 * frees), sorted by mismatches then count, descending.  NULL when out of
 * memory. */
char *lms_fpstats_json(void);

/* Write Prometheus lines for the tracked fingerprints into a callback. */
typedef void (*lms_fpstats_line_fn)(void *ctx, const char *line);
void lms_fpstats_metrics(lms_fpstats_line_fn fn, void *ctx);

#endif
