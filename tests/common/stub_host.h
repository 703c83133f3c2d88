/*
 * stub_host.h - the host API that the unit tests and the fuzz targets hand
 * to a plugin in place of the core's: malloc/free/strdup, and a log that
 * is silent unless stub_host_echo is set (then it prints to stderr).
 *
 * Header-only, one copy per test program; include it after the plugin's
 * own header.  A test that needs another callback (backend_key_of, ...)
 * copies stub_host into a struct of its own and sets that field.
 */
#ifndef LMS_TESTS_STUB_HOST_H
#define LMS_TESTS_STUB_HOST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lms/plugin.h"

/* Set to 1 to see what the plugin logs (unit tests that debug by it). */
static int stub_host_echo;

static inline void stub_host_log(int level, const char *fmt, ...)
{
	if (!stub_host_echo)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "plugin log %d: ", level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static inline char *stub_host_strdup(const char *s)
{
	return strdup(s);
}

static const struct lms_host_api stub_host = {
	.abi_major = LMS_PLUGIN_ABI_MAJOR,
	.abi_minor = LMS_PLUGIN_ABI_MINOR,
	.size = sizeof(struct lms_host_api),
	.log = stub_host_log,
	.alloc = malloc,
	.free = free,
	.strdup = stub_host_strdup,
};

#endif
