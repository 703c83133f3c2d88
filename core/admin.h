/*
 * admin.h - the proxy admin API of docs/api.md on the metrics port:
 * GET/POST /api/v1/state, GET /api/v1/connections, POST
 * /api/v1/watermark.  metrics.c authenticates the caller (mutual TLS)
 * and routes here; everything runs on the metrics loop's thread and
 * never blocks on a database (the watermark is written by the control
 * thread and answered later).
 */
#ifndef LMS_ADMIN_H
#define LMS_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/http.h>

struct lms_runtime;

/* Is path one of the admin routes above? */
bool lms_admin_route(const char *path);

/* Answer req (method "GET", "HEAD", "POST" or another name) for an admin
 * route, now or, for the watermark, once the control thread is done.
 * Takes over req: it is always answered. */
void lms_admin_handle(struct lms_runtime *rt, struct evhttp_request *req, const char *method, const char *path);

/* Send {"error": msg} with status code (evhttp reason from the code). */
void lms_admin_error(struct evhttp_request *req, int code, const char *msg);

/* GET /api/v1/state's document (malloc'ed JSON text, caller frees; NULL
 * when out of memory).  With sessions, asks the workers for their
 * sessions (up to 1 s) for the counts and "drained"; without, it has the
 * state alone.  applied is added when >= 0 (POST: whether the state was
 * applied). */
char *lms_admin_state_json(struct lms_runtime *rt, int applied, bool sessions);

#endif
