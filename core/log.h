/*
 * log.h - structured logging: one line per event, "key=value" pairs.
 *
 * Lines look like:
 *   ts=2026-11-25T01:02:03.456Z level=info event=conn_open worker=0 peer=127.0.0.1:5000
 * The first argument after the level is the event name; the format string
 * carries the rest of the pairs.  Never pass a password to these functions:
 * callers log hosts, ports, users and databases only.
 */
#ifndef LMS_LOG_H
#define LMS_LOG_H

#include <stdarg.h>

enum lms_log_level {
	LMS_LOG_LEVEL_ERROR = 0,
	LMS_LOG_LEVEL_WARN = 1,
	LMS_LOG_LEVEL_INFO = 2,
	LMS_LOG_LEVEL_DEBUG = 3
};

/* Set the most verbose level that is printed. */
void lms_log_set_level(int level);
int lms_log_get_level(void);

/* Parse "error", "warn", "info", "debug"; returns -1 for anything else. */
int lms_log_parse_level(const char *s);

/* Print one line when level is enabled. */
void lms_log(int level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Copy s into out (cap bytes, cap > 0) for a quoted value of a log line:
 * at most max bytes of s, cut at a UTF-8 character's start; '"' and '\\'
 * become '\'' and '/', control characters a space, so that text from the
 * network (a statement, a server's message) cannot end the value or the
 * line.  Returns out. */
char *lms_log_quote(const char *s, size_t max, char *out, size_t cap);

/* The same, for plugins: fmt is the whole free-form message. */
void lms_log_plugin(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define lms_log_enabled(level) ((level) <= lms_log_get_level())

#endif
