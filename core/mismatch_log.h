/*
 * mismatch_log.h - the shadow mismatch log: one JSON object per line,
 * one line per difference, size-capped with rotation (path, path.1, ...).
 * Safe from any thread; written only when a difference is found.
 */
#ifndef LMS_MISMATCH_LOG_H
#define LMS_MISMATCH_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

/* One difference, as the session saw it.  Strings are borrowed. */
struct lms_mismatch {
	const char *conn;         /* "worker:peer" of the client connection */
	const char *user;
	const char *database;
	const char *fingerprint;  /* statement, literals replaced by '?' */
	enum lms_diff diff;
	bool ordered;             /* rows compared in order */
	const char *truth_role;   /* "source" or "target" */
	const char *other_role;
	const struct lms_outcome *truth;
	const struct lms_outcome *other;
	uint64_t truth_us;        /* latency of each side */
	uint64_t other_us;
};

/* Open (append to) path; rotate when it would grow past max_bytes,
 * keeping `keep` old files (path.1 newest).  path "" disables the log.
 * Returns 0, or -1 with a message naming the path. */
int lms_mismatch_log_open(const char *path, uint64_t max_bytes, int keep, char *err, size_t errlen);

/* Append one line.  Never fails the caller: a write error is logged once
 * and counted (lms_mismatch_log_errors). */
void lms_mismatch_log_write(const struct lms_mismatch *m);

/* Lines written, and write errors, since start (for metrics). */
uint64_t lms_mismatch_log_lines(void);
uint64_t lms_mismatch_log_errors(void);

void lms_mismatch_log_close(void);

#endif
