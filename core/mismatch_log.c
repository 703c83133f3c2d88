/*
 * mismatch_log.c - the shadow mismatch log: one compact JSON object per
 * line (jansson), appended under one mutex, rotated by size.
 *
 * The line is built outside the lock; the lock covers the size check, the
 * rotation and the write, so lines from threads never interleave and the
 * file never grows past max_bytes by more than one line that is itself
 * bigger than max_bytes.
 */
#include "autoconfig.h"

#include "mismatch_log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jsontext.h"
#include "log.h"

#define LOG_MODE 0640
#define LOG_FLAGS (O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC)

/* The one log of the process; every field is guarded by lock but the
 * counters, which are also read without it. */
static struct {
	pthread_mutex_t lock;
	int enabled;         /* a path is set (read without the lock) */
	int fd;              /* -1: closed, disabled, or a reopen failed */
	char *path;          /* owned */
	uint64_t max_bytes;
	int keep;
	uint64_t size;       /* bytes in the current file */
	bool error_logged;   /* a write error was reported once */
	uint64_t lines;
	uint64_t errors;
} mlog = { PTHREAD_MUTEX_INITIALIZER, 0, -1, NULL, 0, 0, 0, false, 0, 0 };

/* ---- building the line ------------------------------------------------ */

/* "2026-11-25T01:02:03.456Z" into buf (64 bytes leave room for any year). */
static void rfc3339_now(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* null, or {"sqlstate": ..., "message": ...} when o failed (not lost). */
static json_t *outcome_error_json(const struct lms_outcome *o)
{
	if (o->lost || (!o->sqlstate[0] && !o->error[0]))
		return json_null();
	return json_pack("{s:o,s:o}", "sqlstate", lms_json_text(o->sqlstate), "message", lms_json_text(o->error));
}

/* One side's outcome as a JSON object; ordered picks the digest that was
 * compared.  Returns a new reference, NULL when out of memory. */
static json_t *outcome_json(const struct lms_outcome *o, bool ordered, uint64_t us)
{
	char digest[17];
	snprintf(digest, sizeof(digest), "%016" PRIx64, ordered ? o->ordered : o->unordered);
	return json_pack("{s:o,s:I,s:I,s:I,s:I,s:s,s:o,s:o,s:f}",
			 "tag", lms_json_text(o->tag),
			 "statements", (json_int_t)o->statements,
			 "rows", (json_int_t)o->rows,
			 "affected", (json_int_t)o->affected,
			 "columns", (json_int_t)o->ncols,
			 "digest", digest,
			 "error", outcome_error_json(o),
			 "lost", o->lost ? lms_json_text(o->error) : json_null(),
			 "latency_ms", (double)us / 1000.0);
}

/* The whole line, '\n'-terminated, malloc'ed (caller frees); NULL when
 * out of memory. */
static char *mismatch_line(const struct lms_mismatch *m, size_t *len)
{
	char when[64];
	char *text = NULL, *line = NULL;
	rfc3339_now(when, sizeof(when));
	json_t *root = json_pack("{s:s,s:o,s:o,s:o,s:o,s:s,s:b,s:o}",
				 "time", when,
				 "conn", lms_json_text(m->conn),
				 "user", lms_json_text(m->user),
				 "database", lms_json_text(m->database),
				 "fingerprint", lms_json_text(m->fingerprint),
				 "diff", lms_diff_name(m->diff),
				 "ordered", (int)m->ordered,
				 "source_of_truth", lms_json_text(m->truth_role));
	if (!root)
		goto out;
	/* the truth first, then the other side, each under its role name */
	if (json_object_set_new(root, m->truth_role ? m->truth_role : "truth",
				outcome_json(m->truth, m->ordered, m->truth_us)) < 0 ||
	    json_object_set_new(root, m->other_role ? m->other_role : "other",
				outcome_json(m->other, m->ordered, m->other_us)) < 0)
		goto out;
	/* 15 significant digits print a latency in whole microseconds as
	 * exactly three decimals of milliseconds */
	text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
	if (!text)
		goto out;
	*len = strlen(text) + 1;
	line = malloc(*len);
	if (line) {
		memcpy(line, text, *len - 1);
		line[*len - 1] = '\n';
	}
out:
	free(text);
	json_decref(root);
	return line;
}

/* ---- the file ----------------------------------------------------------- */

/* Count one failure; report the first one (with its cause) in the log. */
static void mlog_failed(const char *what, const char *path, int err)
{
	__atomic_fetch_add(&mlog.errors, 1, __ATOMIC_RELAXED);
	if (mlog.error_logged)
		return;
	mlog.error_logged = true;
	lms_log(LMS_LOG_LEVEL_ERROR, "mismatch_log_error", "path=%s op=%s error=\"%s\" note=\"further errors "
		"are only counted (lms_mismatch_log_errors_total)\"", path, what, strerror(err));
}

/* Open mlog.path for appending; sets fd and size.  Lock held. */
static int mlog_reopen(int extra_flags)
{
	struct stat st;
	mlog.fd = open(mlog.path, LOG_FLAGS | extra_flags, LOG_MODE);
	if (mlog.fd < 0)
		return -1;
	mlog.size = fstat(mlog.fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

/* path -> path.1 -> ... -> path.keep (the oldest is overwritten), or with
 * keep 0 truncate path; then reopen.  Lock held. */
static void mlog_rotate(void)
{
	size_t cap = strlen(mlog.path) + 16;
	char *from = malloc(cap), *to = malloc(cap);
	close(mlog.fd);
	mlog.fd = -1;
	if (!from || !to) {
		mlog_failed("rotate", mlog.path, ENOMEM);
		goto reopen;
	}
	if (mlog.keep == 0) {
		if (mlog_reopen(O_TRUNC) < 0)
			mlog_failed("truncate", mlog.path, errno);
		goto out;
	}
	for (int i = mlog.keep - 1; i >= 1; i--) {
		snprintf(from, cap, "%s.%d", mlog.path, i);
		snprintf(to, cap, "%s.%d", mlog.path, i + 1);
		if (rename(from, to) < 0 && errno != ENOENT)
			mlog_failed("rotate", from, errno);
	}
	snprintf(to, cap, "%s.1", mlog.path);
	if (rename(mlog.path, to) < 0 && errno != ENOENT)
		mlog_failed("rotate", mlog.path, errno);
reopen:
	if (mlog_reopen(0) < 0)
		mlog_failed("open", mlog.path, errno);
out:
	free(from);
	free(to);
}

/* Write all of p; returns 0 or -1 with errno. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int lms_mismatch_log_open(const char *path, uint64_t max_bytes, int keep, char *err, size_t errlen)
{
	int rc = 0;
	lms_mismatch_log_close();
	if (!path || !*path)
		return 0;
	pthread_mutex_lock(&mlog.lock);
	mlog.path = strdup(path);
	mlog.max_bytes = max_bytes;
	mlog.keep = keep < 0 ? 0 : keep;
	mlog.error_logged = false;
	if (!mlog.path || mlog_reopen(0) < 0) {
		snprintf(err, errlen, "mismatch log %s: cannot open for appending: %s", path,
			 mlog.path ? strerror(errno) : "out of memory");
		free(mlog.path);
		mlog.path = NULL;
		rc = -1;
	}
	__atomic_store_n(&mlog.enabled, rc == 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&mlog.lock);
	return rc;
}

void lms_mismatch_log_write(const struct lms_mismatch *m)
{
	if (!__atomic_load_n(&mlog.enabled, __ATOMIC_RELAXED))
		return;
	size_t len = 0;
	char *line = mismatch_line(m, &len);
	pthread_mutex_lock(&mlog.lock);
	if (!mlog.path)
		goto out;
	if (!line) {
		mlog_failed("format", mlog.path, ENOMEM);
		goto out;
	}
	if (mlog.fd >= 0 && mlog.size > 0 && mlog.size + len > mlog.max_bytes)
		mlog_rotate();
	if (mlog.fd < 0 && mlog_reopen(0) < 0) { /* retry after a failed rotation */
		mlog_failed("open", mlog.path, errno);
		goto out;
	}
	if (write_all(mlog.fd, line, len) < 0) {
		mlog_failed("write", mlog.path, errno);
		goto out;
	}
	mlog.size += len;
	__atomic_fetch_add(&mlog.lines, 1, __ATOMIC_RELAXED);
out:
	pthread_mutex_unlock(&mlog.lock);
	free(line);
}

uint64_t lms_mismatch_log_lines(void)
{
	return __atomic_load_n(&mlog.lines, __ATOMIC_RELAXED);
}

uint64_t lms_mismatch_log_errors(void)
{
	return __atomic_load_n(&mlog.errors, __ATOMIC_RELAXED);
}

void lms_mismatch_log_close(void)
{
	pthread_mutex_lock(&mlog.lock);
	__atomic_store_n(&mlog.enabled, 0, __ATOMIC_RELAXED);
	if (mlog.fd >= 0)
		close(mlog.fd);
	mlog.fd = -1;
	free(mlog.path);
	mlog.path = NULL;
	mlog.size = 0;
	pthread_mutex_unlock(&mlog.lock);
}
