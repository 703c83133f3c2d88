/*
 * http.c - evhttp listener setup and JSON replies.
 */
#include "autoconfig.h"

#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "config.h"

/* evhttp asks for a bufferevent per accepted connection: wrap it in TLS. */
static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);
	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

struct evhttp *orch_http_start(struct event_base *base, const char *name, const char *addr, SSL_CTX *tls,
			       void (*cb)(struct evhttp_request *, void *), void *arg, char *err, size_t errlen)
{
	char host[256];
	int port;
	if (orch_split_hostport(addr, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "%s: invalid value '%s' (allowed: HOST:PORT or :PORT)", name, addr);
		return NULL;
	}
	struct evhttp *http = evhttp_new(base);
	if (!http) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	evhttp_set_gencb(http, cb, arg);
	evhttp_set_timeout(http, 120);
	evhttp_set_max_body_size(http, 1 << 20);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
				   EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	if (tls)
		evhttp_set_bevcb(http, tls_bev, tls);
	if (evhttp_bind_socket(http, host, (ev_uint16_t)port) != 0) {
		snprintf(err, errlen, "%s: cannot listen on %s (in use, or not an address of this host)", name, addr);
		evhttp_free(http);
		return NULL;
	}
	return http;
}

void orch_http_reply_json(struct evhttp_request *req, int code, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, text, strlen(text));
	evbuffer_add(b, "\n", 1);
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, code, NULL, b);
	evbuffer_free(b);
}

void orch_http_reply_error(struct evhttp_request *req, int code, const char *msg)
{
	orch_http_reply_json(req, code, json_pack("{s:s}", "error", msg));
}

SSL *orch_http_ssl(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
	return bev ? bufferevent_openssl_get_ssl(bev) : NULL;
}

json_t *orch_http_body(struct evhttp_request *req, char *err, size_t errlen)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (len == 0)
		return json_object();
	json_error_t je;
	json_t *v = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &je);
	if (!v) {
		snprintf(err, errlen, "the request body is not JSON: %s", je.text);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		snprintf(err, errlen, "the request body must be a JSON object");
		return NULL;
	}
	return v;
}
