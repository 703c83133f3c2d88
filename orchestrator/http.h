/*
 * http.h - evhttp listeners (plain or TLS) and JSON answers, shared by
 * the API and the metrics listener.
 */
#ifndef ORCH_HTTP_H
#define ORCH_HTTP_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/ssl.h>

/* Listen on addr (HOST:PORT) and send every request to cb.  tls (may be
 * NULL: plain HTTP) is borrowed and must outlive the listener.  name
 * ("listen", "metrics-listen") is used in err.  Returns NULL with a
 * message. */
struct evhttp *orch_http_start(struct event_base *base, const char *name, const char *addr, SSL_CTX *tls,
			       void (*cb)(struct evhttp_request *, void *), void *arg, char *err, size_t errlen);

/* Send body (a reference is taken over: decref'd here) with code. */
void orch_http_reply_json(struct evhttp_request *req, int code, json_t *body);

/* Send {"error": msg} with code. */
void orch_http_reply_error(struct evhttp_request *req, int code, const char *msg);

/* The request's TLS session, or NULL on plain HTTP. */
SSL *orch_http_ssl(struct evhttp_request *req);

/* The request body parsed as a JSON object ({} when empty).  Returns a new
 * reference, or NULL with a message in err. */
json_t *orch_http_body(struct evhttp_request *req, char *err, size_t errlen);

#endif
