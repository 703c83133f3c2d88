/*
 * config.h - molt-lms settings: defaults, config.json, environment, flags.
 *
 * Every setting has a flag, an environment variable and a JSON key; later
 * sources win: default < config file < environment < command line.  A
 * bad value is reported naming where it came from, the value, and what is
 * allowed.
 */
#ifndef LMS_CONFIG_H
#define LMS_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

/* The smallest mismatchLogMaxBytes: room for a few lines per file. */
#define LMS_MISMATCH_LOG_MIN_BYTES 4096

struct lms_config {
	char *config_file;
	char *source_dialect;
	char *target_dialect;
	char *shadow_mode;
	char *listen;
	char *metrics_listen;
	char *plugin_dir;
	char *init_source;
	char *init_target;
	char *ssl_cert;
	char *ssl_key;
	char *ssl_ca;
	bool allow_tls_disable;
	int workers;
	int max_connections;
	double connect_timeout;
	double login_timeout;
	double idle_timeout;
	double shutdown_timeout;
	double shadow_timeout;       /* s the other side may take per request */
	char *mismatch_log;          /* path; "" disables */
	long long mismatch_log_max_bytes; /* >= LMS_MISMATCH_LOG_MIN_BYTES */
	int mismatch_log_files;      /* rotated files kept, 0 to 100 */
	long long translate_memory;  /* bytes for translated messages over 32 KiB (bigmsg.h) */
	double max_pause;            /* s a request may wait while paused for a cutover, > 0 */
	char *instance_id;           /* NULL: <hostname>:<listen port>:<start time> */
	char *advertise_admin_host;  /* NULL: see advertise_admin_url's default */
	char *advertise_admin_url;   /* NULL: http(s)://<host>:<metrics port> */
	char *session_placement;     /* "balance" (sessions move between workers) or "pinned" */
	char *coordination;          /* "auto" (the store in the target) or "off" */
	int log_level;
	bool check_config;
	bool show_help;
	bool show_version;
};

/* Fill cfg from all sources.  Returns 0, or -1 after writing a message
 * naming the setting to err (size errlen).  cfg owns its strings. */
int lms_config_load(struct lms_config *cfg, int argc, char **argv,
		    char *err, size_t errlen);

/* Check cross-setting rules (TLS files present, dialect given, a known
 * shadowMode, ...).  Returns 0 or -1 with a message. */
int lms_config_validate(const struct lms_config *cfg, char *err, size_t errlen);

/* Print --help text. */
void lms_config_usage(FILE *out, const char *prog);

void lms_config_free(struct lms_config *cfg);

#endif
