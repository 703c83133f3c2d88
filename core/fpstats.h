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
/* Fingerprints are keyed by their first LMS_FPSTATS_TEXT_MAX bytes (longer
 * statements sharing those are counted together), which bounds memory. */
#define LMS_FPSTATS_TEXT_MAX 4096

/* How one shadowed (or dropped) request ended. */
enum lms_fp_result {
	LMS_FP_MATCH = 0,
	LMS_FP_MISMATCH,
	LMS_FP_TRANSIENT,
	LMS_FP_LOST,        /* the other side timed out or was down */
	LMS_FP_DROPPED,     /* async: not sent to the other side */
	LMS_FP_SETTING,     /* a session setting the other side refused */
	LMS_FP_LOCAL,       /* not comparable: molt-lms answers it itself on a
			       database of another family (LMS_STMT_LOCAL) */
	LMS_FP_UNCHECKED,   /* no difference found, but rows too large to copy
			       were not compared by value (LMS_DIFF_UNCHECKED) */
	LMS_FP_RESULTS
};

/* "match", "mismatch", "transient", "lost", "dropped", "setting", "local",
 * "unchecked" (the result label of the metrics); "unknown" out of range. */
const char *lms_fpstats_result_name(enum lms_fp_result r);

/* Set up the table (before the workers start); lms_fpstats_record before
 * init, or after free, counts nothing.  Free everything at exit, when no
 * other thread calls these functions any more. */
void lms_fpstats_init(void);
void lms_fpstats_free(void);

/* Count one request of fingerprint fp (NULL or "": "(unnamed)").  other_us
 * is 0 when the other side gave no latency (dropped, lost); such requests
 * do not count in the other side's average. */
void lms_fpstats_record(const char *fp, enum lms_fp_result r, uint64_t truth_us, uint64_t other_us);

/* The aggregates as a JSON document (malloc'ed, NUL-terminated, caller
 * frees), sorted by mismatches then count, descending:
 *   {"fingerprints":[{"fingerprint":"...","id":"<16 hex>","requests":N,
 *     "match":N,"mismatch":N,"transient":N,"lost":N,"dropped":N,
 *     "setting":N,"local":N,"unchecked":N,"truth_latency_ms":{"avg":x,"max":x},
 *     "other_latency_ms":{"avg":x,"max":x}}, ...],
 *    "tracked":N,"limit":LMS_FPSTATS_MAX}
 * "(other)" is listed once it counted a request; "tracked" does not count
 * it.  id is the XXH3-64 of the fingerprint, as in the metrics.  NULL when
 * out of memory. */
char *lms_fpstats_json(void);

/* Give fn the Prometheus lines (without '\n') of the family
 * lms_shadow_fingerprint_requests_total: its HELP and TYPE lines, then
 * one line per fingerprint (tracked ones and "(other)") and result,
 * labelled fingerprint_id="<16 hex>" and result="match", ...; never the
 * statement text. */
typedef void (*lms_fpstats_line_fn)(void *ctx, const char *line);
void lms_fpstats_metrics(lms_fpstats_line_fn fn, void *ctx);

#endif
