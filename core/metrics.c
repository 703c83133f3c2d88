/*
 * metrics.c - Prometheus text exposition, health endpoints and the admin
 * API (evhttp).  lms_metrics_answer decides every answer; the evhttp
 * callback only translates.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/x509.h>

#include "admin.h"
#include "bigmsg.h"
#include "buf.h"
#include "clock.h"
#include "control.h"
#include "coord.h"
#include "fpstats.h"
#include "metrics.h"
#include "mismatch_log.h"
#include "stats.h"
#include "worker.h"

struct lms_metrics {
	struct evhttp *http;
	struct lms_runtime *rt;
	SSL_CTX *tls;
};

/* A growing text buffer for the exposition. */
struct text {
	char *p;
	size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (t->p && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 8192;
		while (cap < t->len + (size_t)n + 1)
			cap *= 2;
		char *np = realloc(t->p, cap);
		if (!np)
			return;
		t->p = np;
		t->cap = cap;
	}
}

static void head(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Sum one counter over all workers. */
#define SUM(rt, field) sum_field(rt, offsetof(struct lms_stats, field))
static uint64_t sum_field(struct lms_runtime *rt, size_t off)
{
	uint64_t v = 0;
	for (int i = 0; i < rt->nworkers; i++)
		v += lms_stat_get((const uint64_t *)((const char *)&rt->workers[i].stats + off));
	return v;
}

static const char *const role_names[LMS_ROLES] = { "source", "target" };

static void render_requests(struct text *t, struct lms_runtime *rt)
{
	head(t, "lms_requests_total", "counter", "Requests finished, by backend and outcome.");
	for (int r = 0; r < LMS_ROLES; r++)
		for (int o = 0; o < 2; o++)
			put(t, "lms_requests_total{backend=\"%s\",outcome=\"%s\"} %llu\n", role_names[r],
			    o ? "error" : "ok",
			    (unsigned long long)sum_field(rt, offsetof(struct lms_stats, requests) +
							      ((size_t)r * 2 + (size_t)o) * sizeof(uint64_t)));
	head(t, "lms_request_duration_seconds", "histogram",
	     "Time from a request's first message to the database's ready-for-query.");
	for (int r = 0; r < LMS_ROLES; r++) {
		uint64_t cum = 0;
		size_t base = offsetof(struct lms_stats, lat_bucket) + (size_t)r * (LMS_LAT_BUCKETS + 1) * sizeof(uint64_t);
		for (int b = 0; b <= LMS_LAT_BUCKETS; b++) {
			cum += sum_field(rt, base + (size_t)b * sizeof(uint64_t));
			if (b < LMS_LAT_BUCKETS)
				put(t, "lms_request_duration_seconds_bucket{backend=\"%s\",le=\"%g\"} %llu\n",
				    role_names[r], lms_lat_bounds[b], (unsigned long long)cum);
			else
				put(t, "lms_request_duration_seconds_bucket{backend=\"%s\",le=\"+Inf\"} %llu\n",
				    role_names[r], (unsigned long long)cum);
		}
		uint64_t sum = sum_field(rt, offsetof(struct lms_stats, lat_sum_us) + (size_t)r * sizeof(uint64_t));
		put(t, "lms_request_duration_seconds_sum{backend=\"%s\"} %.6f\n", role_names[r], (double)sum / 1e6);
		put(t, "lms_request_duration_seconds_count{backend=\"%s\"} %llu\n", role_names[r],
		    (unsigned long long)cum);
	}
}

/* One counter family without labels. */
static void counter(struct text *t, const char *name, const char *help, uint64_t v)
{
	head(t, name, "counter", help);
	put(t, "%s %llu\n", name, (unsigned long long)v);
}

static uint64_t sum_shadow(struct lms_runtime *rt, int r)
{
	return sum_field(rt, offsetof(struct lms_stats, shadow) + (size_t)r * sizeof(uint64_t));
}

static void put_line(void *ctx, const char *line)
{
	put(ctx, "%s\n", line);
}

static void render_shadow(struct text *t, struct lms_runtime *rt)
{
	head(t, "lms_shadow_requests_total", "counter", "Shadowed requests, by how they ended.");
	for (int r = 0; r < LMS_FP_RESULTS; r++)
		put(t, "lms_shadow_requests_total{result=\"%s\"} %llu\n", lms_fpstats_result_name((enum lms_fp_result)r),
		    (unsigned long long)sum_shadow(rt, r));
	counter(t, "lms_shadow_mismatches_total", "Shadowed requests whose answers differed.",
		sum_shadow(rt, LMS_FP_MISMATCH));
	counter(t, "lms_shadow_async_dropped_total",
		"Requests not shadowed because the shadow was behind (async: the previous one had not finished).",
		SUM(rt, shadow_async_dropped));
	head(t, "lms_shadow_differences_total", "counter", "Differences found, by the first that differed.");
	for (int d = LMS_DIFF_NONE + 1; d < LMS_DIFFS; d++)
		put(t, "lms_shadow_differences_total{kind=\"%s\"} %llu\n", lms_diff_name((enum lms_diff)d),
		    (unsigned long long)sum_field(rt, offsetof(struct lms_stats, shadow_diff) +
							  (size_t)d * sizeof(uint64_t)));
	counter(t, "lms_shadow_connections_opened_total", "Connections opened to the other database.",
		SUM(rt, shadow_connects));
	counter(t, "lms_shadow_connections_abandoned_total",
		"Connections to the other database given up (timeout, loss, desynchronisation).",
		SUM(rt, shadow_broken));
	head(t, "lms_shadow_orphans", "gauge",
	     "Shadow connections finishing the requests they run after their client left (--shadow-timeout).");
	put(t, "lms_shadow_orphans %llu\n", (unsigned long long)SUM(rt, shadow_orphans));
	counter(t, "lms_mismatch_log_lines_total", "Lines written to the mismatch log.", lms_mismatch_log_lines());
	counter(t, "lms_mismatch_log_errors_total", "Mismatch log write errors.", lms_mismatch_log_errors());
	lms_fpstats_metrics(put_line, t);
}

/* Copy s into out as a Prometheus label value (\\, \" and newlines escaped). */
static void label_escape(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	for (; *s && o + 3 < cap; s++) {
		if (*s == '\\' || *s == '"')
			out[o++] = '\\';
		out[o++] = *s == '\n' ? ' ' : *s;
	}
	out[o] = 0;
}

/* Each database: its role, dialect, address and the version it reported
 * (known once a connection to it logged in with shadowing on). */
static void render_backends(struct text *t, struct lms_runtime *rt)
{
	head(t, "lms_backend_info", "gauge", "The databases, and the server version each reported.");
	for (int i = 0; i < 2; i++) {
		const struct lms_backend *b = &rt->backends[i];
		char v[64], ve[140], addr[620];
		lms_backend_version(b, v, sizeof(v));
		label_escape(v, ve, sizeof(ve));
		label_escape(b->label, addr, sizeof(addr));
		put(t, "lms_backend_info{role=\"%s\",dialect=\"%s\",address=\"%s\",server_version=\"%s\"} 1\n",
		    b->role_name ? b->role_name : "-", b->plugin.d ? b->plugin.d->name : "-", addr, ve);
	}
}

/* The coordination state, the queues and the pause. */
static void render_coord(struct text *t, struct lms_runtime *rt)
{
	static const char *const phases[] = { "serving", "paused", "unknown" };
	struct lms_coord_view v;
	lms_coord_get(rt, &v);
	head(t, "lms_source_of_truth", "gauge", "1 for the database that is the source of truth.");
	for (int r = 0; r < LMS_ROLES; r++)
		put(t, "lms_source_of_truth{role=\"%s\"} %d\n", role_names[r], r == v.truth);
	head(t, "lms_state_epoch", "gauge", "Coordination epoch applied by this instance.");
	put(t, "lms_state_epoch %llu\n", (unsigned long long)v.epoch);
	head(t, "lms_state_phase", "gauge", "1 for the phase this instance is in.");
	for (int p = 0; p < 3; p++)
		put(t, "lms_state_phase{phase=\"%s\"} %d\n", phases[p], p == v.phase);
	head(t, "lms_queued_sessions", "gauge", "Sessions whose next request or login waits for the pause to end.");
	put(t, "lms_queued_sessions %llu\n", (unsigned long long)SUM(rt, coord_queued_sessions));
	double pause = 0;
	if (v.phase == LMS_PHASE_PAUSED && v.paused_since_us) {
		uint64_t now = lms_mono_us();
		pause = now > v.paused_since_us ? (double)(now - v.paused_since_us) / 1e6 : 0;
	}
	head(t, "lms_pause_seconds", "gauge", "How long the current pause for a cutover has lasted (0 when serving).");
	put(t, "lms_pause_seconds %.3f\n", pause);
	head(t, "lms_coordination_store_up", "gauge",
	     "1 when the coordination store in the target could be read at the last attempt.");
	put(t, "lms_coordination_store_up %d\n", rt->control && lms_control_store_up(rt->control) ? 1 : 0);
}

char *lms_metrics_render(struct lms_runtime *rt)
{
	struct text t = { NULL, 0, 0 };
	head(&t, "lms_info", "gauge", "Build and settings of this molt-lms.");
	put(&t, "lms_info{version=\"%s\",source_dialect=\"%s\",shadow_mode=\"%s\"} 1\n", PACKAGE_VERSION,
	    rt->cfg->source_dialect, rt->cfg->shadow_mode);
	render_backends(&t, rt);
	head(&t, "lms_connections_active", "gauge", "Client connections open now.");
	put(&t, "lms_connections_active %llu\n", (unsigned long long)SUM(rt, conns_active));
	head(&t, "lms_connections_total", "counter", "Client connections accepted.");
	put(&t, "lms_connections_total %llu\n", (unsigned long long)SUM(rt, conns_total));
	render_requests(&t, rt);
	head(&t, "lms_bytes_total", "counter", "Bytes relayed, by direction.");
	put(&t, "lms_bytes_total{direction=\"client_to_backend\"} %llu\n", (unsigned long long)SUM(rt, bytes_in));
	put(&t, "lms_bytes_total{direction=\"backend_to_client\"} %llu\n", (unsigned long long)SUM(rt, bytes_out));
	head(&t, "lms_errors_total", "counter", "Failures, by kind.");
	for (int k = 0; k < LMS_ERR_KINDS; k++)
		put(&t, "lms_errors_total{kind=\"%s\"} %llu\n", lms_err_names[k],
		    (unsigned long long)sum_field(rt, offsetof(struct lms_stats, errors) + (size_t)k * sizeof(uint64_t)));
	counter(&t, "lms_cancel_requests_total", "Cancel requests received from clients.", SUM(rt, cancels));
	counter(&t, "lms_session_moves_total",
		"Sessions moved to another worker between transactions (--session-placement balance).",
		SUM(rt, sessions_adopted));
	head(&t, "lms_workers_in_use", "gauge", "Workers sessions are packed onto (--session-placement balance).");
	put(&t, "lms_workers_in_use %d\n", rt->nworkers > 0 ? __atomic_load_n(&rt->balance_active, __ATOMIC_RELAXED) : 0);
	render_coord(&t, rt);
	head(&t, "lms_buffer_bytes", "gauge", "Memory held by I/O buffers.");
	put(&t, "lms_buffer_bytes %llu\n", (unsigned long long)lms_buf_allocated_bytes());
	head(&t, "lms_translate_memory_bytes", "gauge",
	     "Memory held for translated messages over 32 KiB (--translate-memory).");
	put(&t, "lms_translate_memory_bytes %llu\n", (unsigned long long)lms_bigmsg_held());
	head(&t, "lms_shutting_down", "gauge", "1 while draining after SIGTERM.");
	put(&t, "lms_shutting_down %d\n", __atomic_load_n(&rt->shutting_down, __ATOMIC_RELAXED));
	render_shadow(&t, rt);
	return t.p;
}

/* Fill r with a copy of a constant body. */
static void answer(struct lms_metrics_reply *r, int code, const char *reason, const char *ctype, const char *body)
{
	r->code = code;
	r->reason = reason;
	r->ctype = ctype;
	r->body = strdup(body);
}

/* Take ownership of body, a malloc'ed document (NULL: out of memory). */
static void answer_owned(struct lms_metrics_reply *r, const char *ctype, char *body)
{
	if (!body) {
		answer(r, 500, "Internal Server Error", "text/plain", "out of memory\n");
		return;
	}
	r->code = 200;
	r->reason = "OK";
	r->ctype = ctype;
	r->body = body;
}

void lms_metrics_answer(struct lms_runtime *rt, const char *method, const char *path,
			struct lms_metrics_reply *r)
{
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		answer(r, 405, "Method Not Allowed", "text/plain", "only GET and HEAD are supported\n");
	else if (strcmp(path, "/metrics") == 0)
		answer_owned(r, "text/plain; version=0.0.4", lms_metrics_render(rt));
	else if (strcmp(path, "/healthz") == 0)
		answer(r, 200, "OK", "text/plain", "ok\n");
	else if (strcmp(path, "/readyz") == 0 && __atomic_load_n(&rt->shutting_down, __ATOMIC_RELAXED))
		answer(r, 503, "Service Unavailable", "text/plain", "shutting down\n");
	else if (strcmp(path, "/readyz") == 0)
		answer(r, 200, "OK", "text/plain", "ready\n");
	else if (strcmp(path, "/api/v1/mismatches") == 0)
		answer_owned(r, "application/json", lms_fpstats_json());
	else if (strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0)
		answer(r, 404, "Not Found", "text/plain", "not found: the API has /api/v1/mismatches, "
		       "/api/v1/state, /api/v1/connections and /api/v1/watermark (docs/api.md)\n");
	else
		answer(r, 404, "Not Found", "text/plain",
		       "not found: try /metrics, /healthz, /readyz or /api/v1/mismatches\n");
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_POST:
		return "POST";
	default:
		return "OTHER";
	}
}

/* Did the caller present a certificate that LMS_SSL_CA verified? */
static bool peer_verified(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	if (!ssl)
		return false;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	X509 *peer = SSL_get1_peer_certificate(ssl);
#else
	X509 *peer = SSL_get_peer_certificate(ssl);
#endif
	bool ok = peer && SSL_get_verify_result(ssl) == X509_V_OK;
	X509_free(peer);
	return ok;
}

/* Why an /api/v1/ request is refused (NULL: allowed).  Without TLS
 * (--allow-tls-mode-disable) the API is open; with TLS and LMS_SSL_CA
 * every route wants a verified client certificate; with TLS and no CA
 * nobody can be authenticated, so the control routes are closed. */
static const char *api_refusal(struct lms_metrics *m, struct evhttp_request *req, const char *path)
{
	if (!m->tls)
		return NULL;
	if (!m->rt->cfg->ssl_ca)
		return lms_admin_route(path) ? "configure LMS_SSL_CA to enable the admin API (it requires a client "
					       "certificate signed by that CA)" : NULL;
	if (!peer_verified(req))
		return "a client certificate signed by LMS_SSL_CA is required for /api/v1/";
	return NULL;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct lms_metrics *m = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *method = method_name(evhttp_request_get_command(req));
	struct lms_metrics_reply r;
	if (path && strncmp(path, "/api/v1/", 8) == 0) {
		const char *refused = api_refusal(m, req, path);
		if (refused) {
			lms_admin_error(req, 403, refused);
			return;
		}
		if (lms_admin_route(path)) {
			lms_admin_handle(m->rt, req, method, path);
			return;
		}
	}
	lms_metrics_answer(m->rt, method, path ? path : "", &r);
	struct evbuffer *b = evbuffer_new();
	if (!b || !r.body) {
		evhttp_send_error(req, 500, "out of memory");
		goto out;
	}
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	evhttp_add_header(hdrs, "Content-Type", r.ctype);
	if (r.code == 405)
		evhttp_add_header(hdrs, "Allow", "GET, HEAD");
	evbuffer_add(b, r.body, strlen(r.body));
	evhttp_send_reply(req, r.code, r.reason, b); /* evhttp sends no body for HEAD */
out:
	if (b)
		evbuffer_free(b);
	free(r.body);
}

/* evhttp asks for a bufferevent per connection: wrap it in TLS. */
static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct lms_metrics *m = arg;
	SSL *ssl = SSL_new(m->tls);
	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

struct lms_metrics *lms_metrics_start(struct event_base *base, struct lms_runtime *rt, const char *addr,
				      SSL_CTX *tls, char *err, size_t errlen)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;
	if (!colon || *end || port <= 0 || port > 65535 || (size_t)(colon - addr) >= sizeof(host)) {
		snprintf(err, errlen, "metrics-listen: invalid value '%s' (allowed: HOST:PORT, [IPv6]:PORT or :PORT)", addr);
		return NULL;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* [IPv6]:PORT */
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = 0;
	}
	if (!host[0])
		snprintf(host, sizeof(host), "0.0.0.0");
	struct lms_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->rt = rt;
	m->tls = tls;
	m->http = evhttp_new(base);
	if (!m->http)
		goto fail;
	evhttp_set_gencb(m->http, on_request, m);
	evhttp_set_timeout(m->http, 10);
	/* let every usual method reach on_request, which answers 405 itself */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
				   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	if (tls)
		evhttp_set_bevcb(m->http, tls_bev, m);
	if (evhttp_bind_socket(m->http, host, (ev_uint16_t)port) != 0) {
		snprintf(err, errlen, "metrics-listen: cannot listen on %s", addr);
		goto fail;
	}
	return m;
fail:
	lms_metrics_stop(m);
	return NULL;
}

void lms_metrics_stop(struct lms_metrics *m)
{
	if (!m)
		return;
	if (m->http)
		evhttp_free(m->http);
	free(m);
}
