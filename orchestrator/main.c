/*
 * main.c - molt-lms-orchestrator: read settings, open the stores, serve
 * the API and metrics until SIGTERM or SIGINT.
 */
#include "autoconfig.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "api.h"
#include "config.h"
#include "context.h"
#include "log.h"
#include "source.h"
#include "store.h"
#include "tls.h"

#define EXIT_CONFIG 2

/* How long the loop runs on after a signal, so that the replies to the
 * operations it interrupted reach their callers. */
#define REPLY_FLUSH_MS 200

struct running {
	struct event_base *base;
	struct orch_api *api;
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct running *r = arg;
	struct timeval flush = { 0, REPLY_FLUSH_MS * 1000 };
	(void)what;
	lms_log(LMS_LOG_LEVEL_INFO, "shutdown", "signal=%d", (int)sig);
	orch_api_quiesce(r->api);
	event_base_loopexit(r->base, &flush);
}

/* The TLS contexts: API (client certificates), metrics (none asked) and
 * calls to the proxies.  Returns 0 or -1 with a message. */
static int open_tls(const struct orch_config *cfg, SSL_CTX **api, SSL_CTX **metrics, SSL_CTX **client, char *err,
		    size_t errlen)
{
	if (!cfg->tls_cert)
		return 0;
	*api = orch_tls_server_ctx(cfg->tls_cert, cfg->tls_key, cfg->tls_ca, err, errlen);
	*metrics = *api ? orch_tls_server_ctx(cfg->tls_cert, cfg->tls_key, NULL, err, errlen) : NULL;
	*client = *metrics ? orch_tls_client_ctx(cfg->tls_cert, cfg->tls_key, cfg->tls_ca, err, errlen) : NULL;
	return *client ? 0 : -1;
}

/* Open ctx's stores (connections are made on first use).  Returns 0, or
 * -1 when out of memory. */
static int ctx_open(struct orch_ctx *ctx, const struct orch_config *cfg, SSL_CTX *client_tls)
{
	*ctx = (struct orch_ctx){ .cfg = cfg, .client_tls = client_tls };
	ctx->store = orch_store_new(cfg->crdb_url, "CRDB_URL");
	ctx->source = cfg->source_url ? orch_source_new(cfg->source_dialect, cfg->source_url) : NULL;
	/* libpq cannot speak MySQL: the probe needs a pgwire source dialect */
	if (cfg->lms_url && !(cfg->source_dialect && !strcmp(cfg->source_dialect, "mysql")))
		ctx->lms = orch_store_new(cfg->lms_url, "LMS_URL");
	return ctx->store && (ctx->source || !cfg->source_url) ? 0 : -1;
}

static void ctx_close(struct orch_ctx *ctx)
{
	orch_store_free(ctx->store);
	orch_source_free(ctx->source);
	orch_store_free(ctx->lms);
}

/* Serve until a signal.  Returns the exit status. */
static int serve(struct orch_config *cfg)
{
	int rc = 1;
	char err[1024] = "";
	SSL_CTX *api_tls = NULL, *metrics_tls = NULL, *client_tls = NULL;
	struct orch_ctx ctx = { .cfg = cfg }, op_ctx = { .cfg = cfg };
	struct event_base *base = NULL;
	struct orch_api *api = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	if (open_tls(cfg, &api_tls, &metrics_tls, &client_tls, err, sizeof(err)) < 0) {
		fprintf(stderr, "molt-lms-orchestrator: %s\n", err);
		rc = EXIT_CONFIG;
		goto out;
	}
	if (cfg->source_dialect && !strcmp(cfg->source_dialect, "mysql") && !cfg->source_url)
		lms_log(LMS_LOG_LEVEL_WARN, "no_source_url", "reason=\"sourceDialect mysql without SOURCE_URL: the "
			"source's logins are not copied into _molt_lms.credentials, so MySQL clients cannot log in "
			"after a cutover, and the watermark cannot be written (set SOURCE_URL=mysql://...)\"");
	base = event_base_new();
	if (ctx_open(&ctx, cfg, client_tls) < 0 || ctx_open(&op_ctx, cfg, client_tls) < 0 || !base) {
		fprintf(stderr, "molt-lms-orchestrator: out of memory\n");
		goto out;
	}
	api = orch_api_start(base, &ctx, &op_ctx, api_tls, metrics_tls, api_tls != NULL, err, sizeof(err));
	if (!api) {
		fprintf(stderr, "molt-lms-orchestrator: %s\n", err);
		rc = EXIT_CONFIG;
		goto out;
	}
	struct running running = { base, api };
	sigterm = evsignal_new(base, SIGTERM, on_signal, &running);
	sigint = evsignal_new(base, SIGINT, on_signal, &running);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	lms_log(LMS_LOG_LEVEL_INFO, "started", "version=%s listen=%s metrics_listen=%s tls=%s instances=%s",
		PACKAGE_VERSION, cfg->listen, cfg->metrics_listen, api_tls ? "mutual" : "disabled",
		cfg->lms_addresses ? "static" : "registered");
	event_base_dispatch(base);
	rc = 0;
	lms_log(LMS_LOG_LEVEL_INFO, "stopped", "status=0");
out:
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	orch_api_stop(api);
	if (base)
		event_base_free(base);
	ctx_close(&ctx);
	ctx_close(&op_ctx);
	SSL_CTX_free(api_tls);
	SSL_CTX_free(metrics_tls);
	SSL_CTX_free(client_tls);
	return rc;
}

int main(int argc, char **argv)
{
	struct orch_config cfg;
	char err[1024] = "";
	int rc = EXIT_CONFIG;
	signal(SIGPIPE, SIG_IGN);
	if (orch_config_load(&cfg, argc, argv, err, sizeof(err)) < 0 ||
	    (!cfg.show_help && !cfg.show_version && orch_config_validate(&cfg, err, sizeof(err)) < 0)) {
		fprintf(stderr, "molt-lms-orchestrator: %s\n", err);
		goto out;
	}
	rc = 0;
	if (cfg.show_help) {
		orch_config_usage(stdout, "molt-lms-orchestrator");
		goto out;
	}
	if (cfg.show_version) {
		printf("molt-lms-orchestrator %s\n", PACKAGE_VERSION);
		goto out;
	}
	lms_log_set_level(cfg.log_level);
	rc = serve(&cfg);
out:
	orch_config_free(&cfg);
	return rc;
}
