/*
 * api.c - routes of the orchestrator API; the answers come from
 * status.c and cutover.c.
 */
#include "autoconfig.h"

#include "api.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "config.h"
#include "cutover.h"
#include "http.h"
#include "instances.h"
#include "log.h"
#include "metrics.h"
#include "oplane.h"
#include "status.h"
#include "tls.h"

struct orch_api {
	struct orch_ctx *ctx;        /* the loop's: status, connections, metrics */
	struct orch_oplane *lane;    /* runs the ops that change the state */
	struct evhttp *http;
	struct evhttp *metrics;
	int require_client_cert;
};

typedef int (*route_fn)(struct orch_ctx *ctx, json_t *req, json_t **resp);

struct route {
	const char *path;
	enum evhttp_cmd_type method;
	route_fn fn;
	const char *op; /* runs on the operation lane under this name, or NULL */
};

static const struct route routes[] = {
	{ "/api/v1/initialize", EVHTTP_REQ_POST, orch_status_initialize, "initialize" },
	{ "/api/v1/status", EVHTTP_REQ_GET, orch_status_get, NULL },
	{ "/api/v1/connections", EVHTTP_REQ_GET, orch_status_connections, NULL },
	{ "/api/v1/cutover/consistent/begin", EVHTTP_REQ_POST, orch_cutover_begin, "begin" },
	{ "/api/v1/cutover/consistent/commit", EVHTTP_REQ_POST, orch_cutover_commit, "commit" },
	{ "/api/v1/cutover/consistent/abort", EVHTTP_REQ_POST, orch_cutover_abort, "abort" },
};

#define CUTOVERS_PREFIX "/api/v1/cutovers/"
#define INSTANCES_PREFIX "/api/v1/instances/"

/* DELETE /api/v1/instances/{id}: on the operation lane, so that it never
 * changes the instances under a running begin, commit or abort. */
static const struct route forget_route = { "/api/v1/instances/{id}", EVHTTP_REQ_DELETE, orch_instances_forget,
					   "forget" };

static double mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Hand route r's request to the operation lane (takes body).  Returns 0
 * (answered later), or the status sent now. */
static int submit(struct orch_api *api, const struct route *r, json_t *body, struct evhttp_request *req, double t0)
{
	char err[256];
	if (!api->lane) {
		json_decref(body);
		orch_http_reply_error(req, 503, "the orchestrator is shutting down: run the command again once it is back");
		return 503;
	}
	if (orch_oplane_submit(api->lane, r->op, r->path, r->fn, body, req, t0, err, sizeof(err)) == 0)
		return 0;
	orch_http_reply_error(req, 409, err);
	return 409;
}

/* Run route r now, on the loop (takes body).  Returns the status sent. */
static int run_now(struct orch_api *api, const struct route *r, json_t *body, struct evhttp_request *req)
{
	json_t *resp = NULL;
	int code = r->fn(api->ctx, body, &resp);
	json_decref(body);
	if (r->fn == orch_status_get && json_is_object(resp) && api->lane) {
		json_t *op = orch_oplane_describe(api->lane);
		json_object_set_new(resp, "operation", op ? op : json_null());
	}
	orch_http_reply_json(req, code, resp);
	return code;
}

/* The instance id in raw (the path after INSTANCES_PREFIX, still
 * percent-encoded) as a new JSON string, or NULL with a message in err:
 * one path segment, valid percent-encoding, at most ORCH_INSTANCE_ID_MAX
 * bytes once decoded, valid UTF-8 without control characters. */
static json_t *instance_id(const char *raw, char *err, size_t errlen)
{
	if (!raw[0]) {
		snprintf(err, errlen, "no instance id: DELETE /api/v1/instances/{id}");
		return NULL;
	}
	if (strchr(raw, '/')) {
		snprintf(err, errlen, "more than one path segment: DELETE /api/v1/instances/{id} names one instance "
			 "(percent-encode a '/' in its id as %%2F)");
		return NULL;
	}
	for (const char *p = raw; *p; p++) {
		if (*p == '%' && !(isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]))) {
			snprintf(err, errlen, "the instance id is not valid percent-encoding (a '%%' must be followed "
				 "by two hex digits)");
			return NULL;
		}
	}
	size_t len = 0;
	char *id = evhttp_uridecode(raw, 0, &len);
	if (!id) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	json_t *v = NULL;
	bool control = false;
	for (size_t i = 0; i < len; i++)
		control = control || (unsigned char)id[i] < 0x20 || (unsigned char)id[i] == 0x7f;
	if (len > ORCH_INSTANCE_ID_MAX)
		snprintf(err, errlen, "the instance id is longer than %d bytes: no instance has such an id",
			 ORCH_INSTANCE_ID_MAX);
	else if (control)
		snprintf(err, errlen, "the instance id holds control characters: no instance has such an id");
	else if (!(v = json_stringn(id, len)))
		snprintf(err, errlen, "the instance id is not valid UTF-8");
	free(id);
	return v;
}

/* DELETE /api/v1/instances/{id} (raw: the id as in the path).  Returns
 * the status sent, or 0 when the operation lane answers later. */
static int forget(struct orch_api *api, struct evhttp_request *req, const char *raw, double t0)
{
	if (evhttp_request_get_command(req) != EVHTTP_REQ_DELETE) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "DELETE");
		orch_http_reply_error(req, 405, "use DELETE (to forget an instance that is gone for good)");
		return 405;
	}
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	if (uri && evhttp_uri_get_query(uri)) {
		orch_http_reply_error(req, 400, "DELETE /api/v1/instances/{id} takes no parameters (there is no force: "
				      "a live instance must be stopped first)");
		return 400;
	}
	char err[256];
	json_t *id = instance_id(raw, err, sizeof(err));
	if (!id) {
		orch_http_reply_error(req, 400, err);
		return 400;
	}
	return submit(api, &forget_route, json_pack("{s:o}", "id", id), req, t0);
}

/* Answer req; returns the status sent, or 0 when the operation lane
 * answers it later. */
static int dispatch(struct orch_api *api, struct evhttp_request *req, const char *path, double t0)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	if (!strcmp(path, "/healthz")) {
		orch_http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
		return 200;
	}
	if (strncmp(path, "/api/v1/", 8)) {
		orch_http_reply_error(req, 404, "no such route (the API is under /api/v1/)");
		return 404;
	}
	if (api->require_client_cert) {
		SSL *ssl = orch_http_ssl(req);
		if (!ssl || !orch_tls_peer_ok(ssl)) {
			orch_http_reply_error(req, 401, "a client certificate signed by ORCH_CA_TLS_CERT is required "
					      "(molt-lms-cli --tls-client-cert and --tls-client-key)");
			return 401;
		}
	}
	json_t *resp = NULL;
	int code;
	if (!strncmp(path, CUTOVERS_PREFIX, strlen(CUTOVERS_PREFIX))) {
		if (cmd != EVHTTP_REQ_GET) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
			orch_http_reply_error(req, 405, "use GET");
			return 405;
		}
		code = orch_status_cutover(api->ctx, path + strlen(CUTOVERS_PREFIX), &resp);
		orch_http_reply_json(req, code, resp);
		return code;
	}
	if (!strncmp(path, INSTANCES_PREFIX, strlen(INSTANCES_PREFIX)))
		return forget(api, req, path + strlen(INSTANCES_PREFIX), t0);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i].path, path))
			continue;
		if (cmd != routes[i].method) {
			bool post = routes[i].method == EVHTTP_REQ_POST;
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", post ? "POST" : "GET");
			orch_http_reply_error(req, 405, post ? "use POST" : "use GET");
			return 405;
		}
		char err[256];
		json_t *body = orch_http_body(req, err, sizeof(err));
		if (!body) {
			orch_http_reply_error(req, 400, err);
			return 400;
		}
		return routes[i].op ? submit(api, &routes[i], body, req, t0) : run_now(api, &routes[i], body, req);
	}
	orch_http_reply_error(req, 404, "no such route");
	return 404;
}

static void on_api(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	double t0 = mono_ms();
	int code = dispatch(arg, req, path ? path : "", t0);
	if (code == 0)
		return; /* logged when the operation lane answers */
	lms_log(code >= 500 ? LMS_LOG_LEVEL_WARN : LMS_LOG_LEVEL_INFO, "api_request", "path=%s status=%d ms=%.1f",
		path ? path : "-", code, mono_ms() - t0);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct orch_api *api = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (path && !strcmp(path, "/healthz")) {
		orch_http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
		return;
	}
	if (!path || strcmp(path, "/metrics")) {
		orch_http_reply_error(req, 404, "no such route (try /metrics)");
		return;
	}
	orch_metrics_reply(api->ctx, req);
}

struct orch_api *orch_api_start(struct event_base *base, struct orch_ctx *ctx, struct orch_ctx *op_ctx, SSL_CTX *tls,
				SSL_CTX *metrics_tls, int require_client_cert, char *err, size_t errlen)
{
	struct orch_api *api = calloc(1, sizeof(*api));
	if (!api) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	api->ctx = ctx;
	api->require_client_cert = require_client_cert;
	api->lane = orch_oplane_start(base, op_ctx, err, errlen);
	if (!api->lane) {
		free(api);
		return NULL;
	}
	api->http = orch_http_start(base, "listen", ctx->cfg->listen, tls, on_api, api, err, errlen);
	if (api->http)
		api->metrics = orch_http_start(base, "metrics-listen", ctx->cfg->metrics_listen, metrics_tls, on_metrics,
					       api, err, errlen);
	if (!api->metrics) {
		orch_api_stop(api);
		return NULL;
	}
	return api;
}

void orch_api_quiesce(struct orch_api *api)
{
	if (!api || !api->lane)
		return;
	orch_oplane_stop(api->lane);
	api->lane = NULL;
}

void orch_api_stop(struct orch_api *api)
{
	if (!api)
		return;
	orch_api_quiesce(api);
	if (api->http)
		evhttp_free(api->http);
	if (api->metrics)
		evhttp_free(api->metrics);
	free(api);
}
