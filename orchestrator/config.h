/*
 * config.h - molt-lms-orchestrator settings: defaults, config.json,
 * environment, flags (later sources win).  A bad value is reported naming
 * the key, the value and what is allowed.
 */
#ifndef ORCH_CONFIG_H
#define ORCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct orch_config {
	char *config_file;
	char *lms_url;          /* optional: probe "select 1" through LMS */
	char *crdb_url;         /* required: the target, holds _molt_lms */
	char *source_url;       /* optional: direct source connection */
	char *source_dialect;   /* optional: postgres|cockroach|mysql */
	char *listen;           /* API, HOST:PORT */
	char *metrics_listen;   /* Prometheus text, HOST:PORT */
	char *lms_addresses;    /* comma list of admin URLs, or NULL: registered ones */
	char *tls_ca;
	char *tls_cert;
	char *tls_key;
	bool allow_tls_disable;
	double drain_timeout;        /* s, > 0 */
	double replication_timeout;  /* s, > 0 */
	double forget_after;         /* s, > 0: a registration without a heartbeat this long is gone */
	int log_level;
	bool show_help;
	bool show_version;
};

/* Fill cfg from every source.  Returns 0, or -1 with a message in err.
 * cfg owns its strings (orch_config_free). */
int orch_config_load(struct orch_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Rules across settings: CRDB_URL given, TLS files complete, addresses
 * well formed.  Returns 0 or -1 with a message. */
int orch_config_validate(const struct orch_config *cfg, char *err, size_t errlen);

void orch_config_usage(FILE *out, const char *prog);

void orch_config_free(struct orch_config *cfg);

/* Split "HOST:PORT" or ":PORT" (host then "0.0.0.0") into host (size
 * hostlen) and port.  Returns 0 or -1. */
int orch_split_hostport(const char *addr, char *host, size_t hostlen, int *port);

#endif
