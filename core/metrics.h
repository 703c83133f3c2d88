/*
 * metrics.h - the HTTP(S) listener for /metrics, /healthz, /readyz and
 * the admin API (/api/v1/mismatches).
 */
#ifndef LMS_METRICS_H
#define LMS_METRICS_H

#include <stddef.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "runtime.h"

struct lms_metrics;

/* Listen on addr ("HOST:PORT" or ":PORT") on base, with TLS when tls is
 * set.  Returns NULL with a message in err. */
struct lms_metrics *lms_metrics_start(struct event_base *base, struct lms_runtime *rt,
				      const char *addr, SSL_CTX *tls, char *err, size_t errlen);
void lms_metrics_stop(struct lms_metrics *m);

/* Render the Prometheus text into a malloc'd string (caller frees). */
char *lms_metrics_render(struct lms_runtime *rt);

/* One answer of the metrics port. */
struct lms_metrics_reply {
	int code;            /* HTTP status */
	const char *reason;  /* static */
	const char *ctype;   /* static Content-Type */
	char *body;          /* malloc'ed, caller frees; NULL when out of memory */
};

/* Answer a request: method "GET", "HEAD" or any other name, path without
 * the query string.  GET and HEAD only (else 405); /metrics, /healthz,
 * /readyz, /api/v1/mismatches (JSON); anything else 404. */
void lms_metrics_answer(struct lms_runtime *rt, const char *method, const char *path,
			struct lms_metrics_reply *r);

#endif
