/*
 * log.c - structured, thread-safe logging to stderr.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_level = LMS_LOG_LEVEL_INFO;

static const char *level_names[] = { "error", "warn", "info", "debug" };

void lms_log_set_level(int level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

int lms_log_get_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int lms_log_parse_level(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	if (strcmp(s, "warning") == 0)
		return LMS_LOG_LEVEL_WARN;
	return -1;
}

/* Format the timestamp prefix into buf; returns its length. */
static size_t log_prefix(char *buf, size_t cap, int level)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(buf, cap, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
			 level_names[level < 0 ? 0 : level > 3 ? 3 : level]);
	return n < 0 ? 0 : (size_t)n;
}

/* Write a finished line with one write(2) so lines from threads never mix. */
static void log_emit(char *line, size_t len, size_t cap)
{
	if (len >= cap - 1)
		len = cap - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

/* Format one line: prefix, then head (already formatted), then fmt/ap,
 * then tail; write it whole. */
static void log_line(int level, const char *head, const char *tail, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = log_prefix(line, sizeof(line), level);
	int m = snprintf(line + n, sizeof(line) - n, "%s", head);
	if (m > 0)
		n += (size_t)m;
	if (n < sizeof(line)) {
		m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (m > 0)
			n += (size_t)m;
	}
	if (n > sizeof(line) - 1)
		n = sizeof(line) - 1;
	m = snprintf(line + n, sizeof(line) - n, "%s", tail);
	if (m > 0)
		n += (size_t)m;
	log_emit(line, n, sizeof(line));
}

void lms_log(int level, const char *event, const char *fmt, ...)
{
	if (!lms_log_enabled(level))
		return;
	char head[96];
	snprintf(head, sizeof(head), "event=%s ", event);
	va_list ap;
	va_start(ap, fmt);
	log_line(level, head, "", fmt, ap);
	va_end(ap);
}

void lms_log_plugin(int level, const char *fmt, ...)
{
	if (!lms_log_enabled(level))
		return;
	va_list ap;
	va_start(ap, fmt);
	log_line(level, "event=plugin msg=\"", "\"", fmt, ap);
	va_end(ap);
}

char *lms_log_quote(const char *s, size_t max, char *out, size_t cap)
{
	size_t n = 0;
	if (max > cap - 1)
		max = cap - 1;
	for (; s && s[n] && n < max; n++) {
		unsigned char ch = (unsigned char)s[n];
		out[n] = ch == '"' ? '\'' : ch == '\\' ? '/' : (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
	}
	/* cut before a UTF-8 character the limit split: back over its
	 * continuation bytes to its lead byte */
	if (s && s[n]) {
		size_t k = n;
		while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
			k--;
		n = k;
	}
	out[n] = '\0';
	return out;
}
