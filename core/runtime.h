/*
 * runtime.h - what every worker shares, read-only once serving starts
 * (except the atomics named below).
 */
#ifndef LMS_RUNTIME_H
#define LMS_RUNTIME_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "config.h"
#include "lms/plugin.h"
#include "plugin_loader.h"

#define LMS_MAX_ADDRS 8
#define LMS_DNS_REFRESH_SEC 30

/* One database the proxy can route to. */
struct lms_backend {
	const char *role_name;               /* "source" or "target" */
	struct lms_plugin plugin;            /* its dialect */
	struct lms_backend_conf conf;        /* parsed from INIT_SOURCE/INIT_TARGET */
	/* Resolved addresses, tried in order.  Written by the main thread (at
	 * start and every LMS_DNS_REFRESH_SEC), read once per new backend
	 * connection with lms_backend_addr(); addr_lock guards them. */
	pthread_mutex_t addr_lock;
	struct sockaddr_storage addrs[LMS_MAX_ADDRS];
	socklen_t addrlens[LMS_MAX_ADDRS];
	int naddrs;
	SSL_CTX *tls;                        /* NULL when sslmode=disable */
	char server_version[64];             /* reported by the database; addr_lock */
	char label[300];                     /* host:port for messages */
};

struct lms_worker;
struct lms_control;

/* The coordination state behind coord.h (lock for the view; phase and
 * source_of_truth are also readable without it). */
struct lms_coord_state {
	pthread_mutex_t lock;
	uint64_t epoch;
	uint64_t cutover_id;
	uint64_t paused_since_us;
	uint64_t applied_us;                 /* monotonic time the state was applied */
	int phase;                           /* atomic: enum lms_phase */
};

struct lms_runtime {
	const struct lms_config *cfg;
	const struct lms_dialect *front;     /* the source dialect speaks to clients */
	struct lms_backend backends[2];      /* [LMS_ROLE_SOURCE], [LMS_ROLE_TARGET] */
	SSL_CTX *server_tls;                 /* NULL with --allow-tls-mode-disable */
	int source_of_truth;                 /* atomic: enum lms_role */
	int shadow_mode;                     /* enum lms_shadow_mode */
	struct lms_coord_state coord;
	struct lms_control *control;         /* control.h; NULL until serving starts */
	int shutting_down;                   /* atomic: 1 after SIGTERM */
	int active_conns;                    /* atomic: all workers */
	struct lms_worker *workers;
	int nworkers;
	int balance_active;                  /* atomic: workers in use (balance.h) */
};

/* Load the plugins, parse and resolve both URLs, make TLS contexts.
 * Returns 0 or -1 with a message. */
int lms_runtime_init(struct lms_runtime *rt, const struct lms_config *cfg,
		     char *err, size_t errlen);
void lms_runtime_free(struct lms_runtime *rt);

/* Copy the i-th resolved address of b.  Returns 0, or -1 when there is
 * no such address.  Safe from any thread. */
int lms_backend_addr(const struct lms_backend *b, int i, struct sockaddr_storage *out, socklen_t *len);

/* Resolve every backend's host again (blocking; main thread only) and
 * publish the addresses that changed. */
void lms_runtime_refresh_dns(struct lms_runtime *rt);

/* Remember / copy the server version a database reported (any thread). */
void lms_backend_set_version(const struct lms_backend *b, const char *version);
void lms_backend_version(const struct lms_backend *b, char *out, size_t cap);

/* The backend currently serving as source of truth. */
const struct lms_backend *lms_runtime_truth(struct lms_runtime *rt, int *role);

/* Which role is the source of truth now (enum lms_role): one atomic load,
 * for the checks sessions make at every request boundary. */
static inline int lms_runtime_truth_role(const struct lms_runtime *rt)
{
	return __atomic_load_n(&rt->source_of_truth, __ATOMIC_ACQUIRE);
}

/* Would the coordination state (phase, truth) pause or move this instance
 * while it cannot follow (the clients' wire family differs from the
 * target's)?  Then true, with the reason in why. */
bool lms_runtime_cutover_refused(const struct lms_runtime *rt, int phase, int truth, char *why, size_t cap);

#endif
