/*
 * proxies.c - a small parallel HTTP client over libevent's evhttp, with
 * TLS through bufferevent_openssl.
 */
#include "autoconfig.h"

#include "proxies.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

struct pending {
	struct orch_call *call;
	struct evhttp_connection *conn;
	struct bufferevent *bev;
	struct event_base *base;
	int *left;
	struct timespec t0;
	int failure;          /* enum evhttp_request_error + 1, 0 if none */
	bool done;            /* on_done ran */
};

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void on_error(enum evhttp_request_error e, void *arg)
{
	struct pending *p = arg;
	p->failure = (int)e + 1;
}

/* Why a request got no answer, as precisely as libevent and OpenSSL say. */
static void describe_failure(struct pending *p)
{
	unsigned long ssl_err = p->bev ? bufferevent_get_openssl_error(p->bev) : 0;
	if (ssl_err) {
		char reason[160];
		ERR_error_string_n(ssl_err, reason, sizeof(reason));
		snprintf(p->call->error, sizeof(p->call->error), "TLS failed: %s", reason);
		p->call->tls_failed = true;
		return;
	}
	const char *what = "connection refused or closed";
	switch (p->failure - 1) {
	case EVREQ_HTTP_TIMEOUT:
		what = "timed out";
		break;
	case EVREQ_HTTP_EOF:
		what = "connection closed before an answer";
		break;
	case EVREQ_HTTP_INVALID_HEADER:
		what = "invalid HTTP answer";
		break;
	default:
		break;
	}
	snprintf(p->call->error, sizeof(p->call->error), "no answer: %s", what);
}

static void on_done(struct evhttp_request *req, void *arg)
{
	struct pending *p = arg;
	struct orch_call *c = p->call;
	p->done = true;
	c->ms = ms_since(&p->t0);
	c->status = req ? evhttp_request_get_response_code(req) : 0;
	if (c->status == 0) {
		describe_failure(p);
	} else {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		json_error_t je;
		c->body = len ? json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &je) : NULL;
		const json_t *msg = c->body ? json_object_get(c->body, "error") : NULL;
		if (!c->body)
			snprintf(c->error, sizeof(c->error), "HTTP %d without a JSON body", c->status);
		else if (c->status < 200 || c->status > 299)
			snprintf(c->error, sizeof(c->error), "HTTP %d: %s", c->status,
				 json_is_string(msg) ? json_string_value(msg) : "error");
	}
	if (--*p->left == 0)
		event_base_loopbreak(p->base);
}

/* Host name verification for https: an IP address matches IP SANs. */
static SSL *new_ssl(SSL_CTX *ctx, const char *host)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	unsigned char addr[16];
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(vp, host);
	} else {
		SSL_set_tlsext_host_name(ssl, host);
		X509_VERIFY_PARAM_set1_host(vp, host, 0);
	}
	return ssl;
}

/* Open p's connection and send the request.  Returns 0, or -1 with
 * p->call->error set. */
static int start_one(SSL_CTX *tls, struct pending *p, const char *method, const char *path, const char *body,
		     double timeout_s)
{
	struct orch_call *c = p->call;
	struct evhttp_uri *uri = evhttp_uri_parse(c->url);
	const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
	const char *urihost = uri ? evhttp_uri_get_host(uri) : NULL;
	int port = uri ? evhttp_uri_get_port(uri) : -1;
	int rc = -1;
	bool https = scheme && !strcmp(scheme, "https");
	char host[256];
	/* an IPv6 literal keeps its brackets in the URI; connect and verify without them */
	size_t hl = urihost ? strlen(urihost) : 0;
	if (hl >= 2 && urihost[0] == '[' && urihost[hl - 1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), urihost + 1);
	else
		snprintf(host, sizeof(host), "%s", urihost ? urihost : "");
	if (!host[0] || port <= 0 || !scheme || (!https && strcmp(scheme, "http"))) {
		snprintf(c->error, sizeof(c->error), "not an admin URL http(s)://host:port");
		goto out;
	}
	if (https && !tls) {
		snprintf(c->error, sizeof(c->error), "https needs ORCH_CA_TLS_CERT, ORCH_TLS_CERT and ORCH_TLS_KEY");
		goto out;
	}
	if (https) {
		SSL *ssl = new_ssl(tls, host);
		p->bev = ssl ? bufferevent_openssl_socket_new(p->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
							     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS) : NULL;
		if (!p->bev) {
			SSL_free(ssl);
			snprintf(c->error, sizeof(c->error), "out of memory");
			goto out;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(p->bev, 1);
	}
	p->conn = evhttp_connection_base_bufferevent_new(p->base, NULL, p->bev, host, (ev_uint16_t)port);
	if (!p->conn) {
		snprintf(c->error, sizeof(c->error), "out of memory");
		goto out;
	}
	struct timeval tv = { (time_t)timeout_s, (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6) };
	evhttp_connection_set_timeout_tv(p->conn, &tv);
	evhttp_connection_set_retries(p->conn, 0);
	struct evhttp_request *req = evhttp_request_new(on_done, p);
	evhttp_request_set_error_cb(req, on_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char hostport[300];
	snprintf(hostport, sizeof(hostport), "%s:%d", urihost, port);
	evhttp_add_header(h, "Host", hostport);
	evhttp_add_header(h, "Accept", "application/json");
	evhttp_add_header(h, "Connection", "close");
	if (body) {
		evhttp_add_header(h, "Content-Type", "application/json");
		evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
	}
	enum evhttp_cmd_type cmd = !strcmp(method, "POST") ? EVHTTP_REQ_POST : EVHTTP_REQ_GET;
	if (evhttp_make_request(p->conn, req, cmd, path) != 0) {
		snprintf(c->error, sizeof(c->error), "cannot send the request");
		goto out;
	}
	rc = 0;
out:
	evhttp_uri_free(uri);
	return rc;
}

/* A last resort: never wait longer than the timeout plus a second. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

void orch_proxies_call(SSL_CTX *client_tls, struct orch_call *calls, size_t n, const char *method,
		       const char *path, const char *body, double timeout_s)
{
	struct event_base *base = event_base_new();
	struct pending *ps = calloc(n ? n : 1, sizeof(*ps));
	int left = 0;
	for (size_t i = 0; i < n; i++) {
		calls[i].status = 0;
		calls[i].body = NULL;
		calls[i].error[0] = 0;
		calls[i].ms = 0;
		calls[i].tls_failed = false;
		if (!base || !ps) {
			snprintf(calls[i].error, sizeof(calls[i].error), "out of memory");
			continue;
		}
		ps[i].call = &calls[i];
		ps[i].base = base;
		ps[i].left = &left;
		clock_gettime(CLOCK_MONOTONIC, &ps[i].t0);
		/* counted first: a connection that fails at once calls on_done */
		left++;
		if (start_one(client_tls, &ps[i], method, path, body, timeout_s) < 0 && !ps[i].done)
			left--;
	}
	if (left > 0) {
		double guard = timeout_s + 1;
		struct timeval tv = { (time_t)guard, (suseconds_t)((guard - (double)(time_t)guard) * 1e6) };
		struct event *deadline = evtimer_new(base, on_deadline, base);
		evtimer_add(deadline, &tv);
		event_base_dispatch(base);
		event_free(deadline);
	}
	for (size_t i = 0; ps && i < n; i++) {
		if (ps[i].conn && ps[i].call->status == 0 && !ps[i].call->error[0])
			snprintf(ps[i].call->error, sizeof(ps[i].call->error), "no answer: timed out");
		if (ps[i].conn)
			evhttp_connection_free(ps[i].conn); /* frees the bufferevent too */
		else if (ps[i].bev)
			bufferevent_free(ps[i].bev);
	}
	free(ps);
	if (base)
		event_base_free(base);
}

void orch_proxies_clear(struct orch_call *calls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_decref(calls[i].body);
		calls[i].body = NULL;
	}
}
