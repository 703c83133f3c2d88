/*
 * main.c - molt-lms: read settings, load plugins, start the workers and
 * the metrics listener, and drain on SIGTERM.
 */
#include "autoconfig.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>

#include "bigmsg.h"
#include "config.h"
#include "control.h"
#include "fpstats.h"
#include "log.h"
#include "metrics.h"
#include "mismatch_log.h"
#include "runtime.h"
#include "tls.h"
#include "worker.h"

#define EXIT_CONFIG 2

struct main_state {
	struct event_base *base;
	struct lms_runtime *rt;
	struct event *poll_ev;
	int signals;
};

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Poll until every worker has drained, then leave the main loop. */
static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct main_state *ms = arg;
	(void)fd;
	(void)what;
	int left = 0;
	for (int i = 0; i < ms->rt->nworkers; i++)
		left += !__atomic_load_n(&ms->rt->workers[i].done, __ATOMIC_ACQUIRE);
	if (left == 0)
		event_base_loopexit(ms->base, NULL);
}

/* Re-resolve the databases' host names, so a DNS change (a managed
 * database's failover, say) reaches new connections. */
static void on_dns_refresh(evutil_socket_t fd, short what, void *arg)
{
	struct main_state *ms = arg;
	(void)fd;
	(void)what;
	lms_runtime_refresh_dns(ms->rt);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *ms = arg;
	(void)what;
	ms->signals++;
	if (ms->signals > 1) {
		lms_log(LMS_LOG_LEVEL_WARN, "shutdown_forced", "signal=%d", (int)sig);
		exit(1);
	}
	lms_log(LMS_LOG_LEVEL_INFO, "shutdown_begin", "signal=%d timeout_s=%g", (int)sig,
		ms->rt->cfg->shutdown_timeout);
	__atomic_store_n(&ms->rt->shutting_down, 1, __ATOMIC_RELAXED);
	lms_workers_drain(ms->rt);
	struct timeval tv = { 0, 50000 };
	ms->poll_ev = event_new(ms->base, -1, EV_PERSIST, on_poll, ms);
	event_add(ms->poll_ev, &tv);
}

/* --check-config: log in to both databases with their URL credentials. */
static int check_backends(struct lms_runtime *rt)
{
	int rc = 0;
	for (int i = 0; i < 2; i++) {
		struct lms_backend *b = &rt->backends[i];
		char err[512] = "";
		const char *key = i == 0 ? "INIT_SOURCE" : "INIT_TARGET";
		if (!b->plugin.d->check_backend) {
			printf("%s: %s (%s): plugin %s cannot test connections; settings are valid\n", key,
			       b->label, b->role_name, b->plugin.d->name);
			continue;
		}
		if (b->plugin.d->check_backend(&b->conf, err, sizeof(err)) < 0) {
			fprintf(stderr, "molt-lms: %s: cannot log in to %s: %s\n", key, b->label, err);
			rc = 1;
		} else {
			printf("%s: %s ok (user %s, database %s)\n", key, b->label,
			       b->conf.user ? b->conf.user : "-", b->conf.database ? b->conf.database : "-");
		}
	}
	return rc;
}

/* Shadowing state shared by the workers: the per-fingerprint aggregates,
 * and the mismatch log when a shadow mode is on.  Returns 0, or -1 after
 * printing why. */
static int shadow_open(const struct lms_config *cfg)
{
	char err[1024] = "";
	lms_fpstats_init();
	if (strcmp(cfg->shadow_mode, "none") == 0)
		return 0;
	if (lms_mismatch_log_open(cfg->mismatch_log, (uint64_t)cfg->mismatch_log_max_bytes,
				  cfg->mismatch_log_files, err, sizeof(err)) < 0) {
		fprintf(stderr, "molt-lms: %s (set --mismatch-log, LMS_MISMATCH_LOG or \"mismatchLog\" "
			"to a writable file, or to \"\" to disable the log)\n", err);
		return -1;
	}
	return 0;
}

static void shadow_close(void)
{
	lms_mismatch_log_close();
	lms_fpstats_free();
}

static int serve(struct lms_runtime *rt)
{
	char err[1024] = "";
	struct main_state ms = { 0 };
	ms.rt = rt;
	ms.base = event_base_new();
	if (!ms.base)
		return 1;
	if (lms_workers_init(rt, err, sizeof(err)) < 0) {
		fprintf(stderr, "molt-lms: %s\n", err);
		return EXIT_CONFIG;
	}
	SSL_CTX *mtls = NULL;
	if (rt->cfg->ssl_cert) {
		/* LMS_SSL_CA: client certificates are requested, and the
		 * admin API requires one (metrics.c); probes need none. */
		mtls = lms_tls_server_ctx(rt->cfg->ssl_cert, rt->cfg->ssl_key, rt->cfg->ssl_ca, false, err,
					  sizeof(err));
		if (!mtls) {
			fprintf(stderr, "molt-lms: %s\n", err);
			return EXIT_CONFIG;
		}
	}
	struct lms_metrics *m = lms_metrics_start(ms.base, rt, rt->cfg->metrics_listen, mtls, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "molt-lms: %s\n", err);
		return EXIT_CONFIG;
	}
	struct event *sigterm = evsignal_new(ms.base, SIGTERM, on_signal, &ms);
	struct event *sigint = evsignal_new(ms.base, SIGINT, on_signal, &ms);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	struct event *dns = event_new(ms.base, -1, EV_PERSIST, on_dns_refresh, &ms);
	struct timeval dns_every = { LMS_DNS_REFRESH_SEC, 0 };
	event_add(dns, &dns_every);
	rt->control = lms_control_start(rt, ms.base, err, sizeof(err));
	if (!rt->control) {
		fprintf(stderr, "molt-lms: %s\n", err);
		return 1;
	}
	/* Serve SQL knowing the state when the store answers quickly (it
	 * stays UNKNOWN, refusing logins, while it cannot be read). */
	lms_control_wait_first(rt->control, 6.0);
	if (lms_workers_start(rt) < 0) {
		fprintf(stderr, "molt-lms: cannot start worker threads\n");
		return 1;
	}
	lms_log(LMS_LOG_LEVEL_INFO, "listening", "listen=%s metrics=%s workers=%d tls=%s source=%s target=%s "
		"dialect=%s shadow_mode=%s", rt->cfg->listen, rt->cfg->metrics_listen, rt->nworkers,
		rt->server_tls ? "on" : "off", rt->backends[0].label, rt->backends[1].label,
		rt->cfg->source_dialect, rt->cfg->shadow_mode);
	event_base_dispatch(ms.base);
	lms_workers_join(rt);
	lms_control_stop(rt->control);
	rt->control = NULL;
	event_base_loop(ms.base, EVLOOP_NONBLOCK); /* answers the control thread left */
	lms_log(LMS_LOG_LEVEL_INFO, "shutdown_done", "%s", "");
	lms_metrics_stop(m);
	event_free(sigterm);
	event_free(sigint);
	event_free(dns);
	if (ms.poll_ev)
		event_free(ms.poll_ev);
	lms_workers_free(rt);
	event_base_free(ms.base);
	if (mtls)
		SSL_CTX_free(mtls);
	return 0;
}

int main(int argc, char **argv)
{
	struct lms_config cfg;
	struct lms_runtime rt;
	char err[1024] = "";
	int rc;
	signal(SIGPIPE, SIG_IGN);
	if (lms_config_load(&cfg, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "molt-lms: %s\n", err);
		lms_config_free(&cfg);
		return EXIT_CONFIG;
	}
	if (cfg.show_help) {
		lms_config_usage(stdout, "molt-lms");
		lms_config_free(&cfg);
		return 0;
	}
	if (cfg.show_version) {
		printf("molt-lms %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, LMS_PLUGIN_ABI_MAJOR, LMS_PLUGIN_ABI_MINOR);
		lms_config_free(&cfg);
		return 0;
	}
	lms_log_set_level(cfg.log_level);
	if (lms_config_validate(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "molt-lms: %s\n", err);
		lms_config_free(&cfg);
		return EXIT_CONFIG;
	}
	lms_bigmsg_set_budget((uint64_t)cfg.translate_memory);
	if (shadow_open(&cfg) < 0) {
		shadow_close();
		lms_config_free(&cfg);
		return EXIT_CONFIG;
	}
	/* Locks for the main loop only (the control thread hands its answers
	 * to it); the workers' loops are made without (worker.c). */
	evthread_use_pthreads();
	raise_fd_limit();
	if (lms_runtime_init(&rt, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "molt-lms: %s\n", err);
		lms_runtime_free(&rt);
		shadow_close();
		lms_config_free(&cfg);
		return EXIT_CONFIG;
	}
	rc = cfg.check_config ? check_backends(&rt) : serve(&rt);
	if (cfg.check_config && rc == 0)
		printf("configuration ok\n");
	lms_runtime_free(&rt);
	shadow_close();
	lms_config_free(&cfg);
	return rc;
}
