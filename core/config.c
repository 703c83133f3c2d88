/*
 * config.c - one table of settings drives the flags, the environment,
 * config.json and --help.
 */
#include "autoconfig.h"

#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cpus.h"
#include "log.h"

enum opt_type {
	OPT_STRING,
	OPT_BOOL,
	OPT_INT,        /* int, 1 to 1000000 unless a rule says otherwise */
	OPT_BYTES,      /* long long, 0 to LLONG_MAX unless a rule says otherwise */
	OPT_SECONDS,    /* double, >= 0 */
	OPT_TIMEOUT,    /* double, > 0 */
	OPT_LEVEL
};

struct opt {
	const char *flag;     /* long option, without "--" */
	const char *env;      /* environment variable */
	const char *json;     /* key in config.json */
	enum opt_type type;
	size_t offset;        /* into struct lms_config */
	const char *allowed;  /* "a|b|c" or NULL */
	const char *help;
};

/* Settings that differ from their type's rule: numeric bounds other than
 * the type's, or a string for which "" is a value (then an empty
 * environment variable is not ignored). */
struct opt_rule {
	size_t offset;
	long long min, max;   /* OPT_INT, OPT_BYTES */
	bool empty_ok;        /* OPT_STRING */
};

#define OFF(f) offsetof(struct lms_config, f)

static const struct opt opts[] = {
	{ "config", "LMS_CONFIG", NULL, OPT_STRING, OFF(config_file), NULL,
	  "JSON file with INIT_SOURCE, INIT_TARGET and any other setting" },
	{ "source-dialect", "LMS_SOURCE_DIALECT", "sourceDialect", OPT_STRING, OFF(source_dialect),
	  NULL, "dialect plugin of the source database: postgres, cockroach, mysql (required)" },
	{ "target-dialect", "LMS_TARGET_DIALECT", "targetDialect", OPT_STRING, OFF(target_dialect),
	  NULL, "plugin for the target database (default cockroach)" },
	{ "shadow-mode", "LMS_SHADOW_MODE", "shadowMode", OPT_STRING, OFF(shadow_mode),
	  "none|async|sync|strict-sync",
	  "also run requests on the other database and compare: none, async, sync, strict-sync (default none)" },
	{ "listen", "LMS_LISTEN", "listen", OPT_STRING, OFF(listen), NULL,
	  "SQL listener HOST:PORT (default 0.0.0.0:9043)" },
	{ "metrics-listen", "LMS_METRICS_LISTEN", "metricsListen", OPT_STRING, OFF(metrics_listen), NULL,
	  "HTTP(S) listener for /metrics, /healthz and /readyz, HOST:PORT (default :9044)" },
	{ "plugin-dir", "LMS_PLUGIN_DIR", "pluginDir", OPT_STRING, OFF(plugin_dir), NULL,
	  "directory holding <dialect>.so (default " LMS_PLUGIN_DIR_DEFAULT ")" },
	{ "init-source", "INIT_SOURCE", "INIT_SOURCE", OPT_STRING, OFF(init_source), NULL,
	  "source database URL, e.g. postgresql://user:pass@host:5432/db?sslmode=verify-full" },
	{ "init-target", "INIT_TARGET", "INIT_TARGET", OPT_STRING, OFF(init_target), NULL,
	  "target (CockroachDB) URL" },
	{ "ssl-cert", "LMS_SSL_CERT", "LMS_SSL_CERT", OPT_STRING, OFF(ssl_cert), NULL,
	  "certificate (PEM) the proxy presents to clients" },
	{ "ssl-key", "LMS_SSL_KEY", "LMS_SSL_KEY", OPT_STRING, OFF(ssl_key), NULL,
	  "private key (PEM) for --ssl-cert" },
	{ "ssl-ca", "LMS_SSL_CA", "LMS_SSL_CA", OPT_STRING, OFF(ssl_ca), NULL,
	  "CA (PEM): when set, clients must present a certificate it signed" },
	{ "allow-tls-mode-disable", "LMS_ALLOW_TLS_MODE_DISABLE", "allowTLSModeDisable", OPT_BOOL,
	  OFF(allow_tls_disable), NULL, "run without TLS on the listeners (local testing only)" },
	{ "workers", "LMS_WORKERS", "workers", OPT_INT, OFF(workers), NULL,
	  "worker threads (default: the CPUs this process may use, after affinity and cgroup limits)" },
	{ "session-placement", "LMS_SESSION_PLACEMENT", "sessionPlacement", OPT_STRING, OFF(session_placement),
	  "balance|pinned",
	  "balance: sessions move between workers between transactions, packed onto few while the load is "
	  "light and spread as it grows; pinned: a session stays on the worker that accepted it "
	  "(default balance)" },
	{ "max-connections", "LMS_MAX_CONNECTIONS", "maxConnections", OPT_INT, OFF(max_connections), NULL,
	  "client connections accepted at once (default 20000)" },
	{ "connect-timeout", "LMS_CONNECT_TIMEOUT", "connectTimeout", OPT_SECONDS, OFF(connect_timeout), NULL,
	  "seconds to open a connection (TCP and TLS) to a database (default 10)" },
	{ "login-timeout", "LMS_LOGIN_TIMEOUT", "loginTimeout", OPT_SECONDS, OFF(login_timeout), NULL,
	  "seconds a client has to finish logging in, 0 = no limit (default 60)" },
	{ "idle-timeout", "LMS_IDLE_TIMEOUT", "idleTimeout", OPT_SECONDS, OFF(idle_timeout), NULL,
	  "close client connections idle this many seconds, 0 = never (default 0)" },
	{ "shutdown-timeout", "LMS_SHUTDOWN_TIMEOUT", "shutdownTimeout", OPT_SECONDS, OFF(shutdown_timeout), NULL,
	  "on SIGTERM, seconds to let running queries finish (default 30)" },
	{ "shadow-timeout", "LMS_SHADOW_TIMEOUT", "shadowTimeout", OPT_TIMEOUT, OFF(shadow_timeout), NULL,
	  "seconds the other database may take per shadowed request, > 0 (default 5)" },
	{ "mismatch-log", "LMS_MISMATCH_LOG", "mismatchLog", OPT_STRING, OFF(mismatch_log), NULL,
	  "JSON-lines file of shadow differences, \"\" = none (default mismatches.jsonl)" },
	{ "mismatch-log-max-bytes", "LMS_MISMATCH_LOG_MAX_BYTES", "mismatchLogMaxBytes", OPT_BYTES,
	  OFF(mismatch_log_max_bytes), NULL,
	  "rotate the mismatch log at this size in bytes (default 104857600, min 4096)" },
	{ "mismatch-log-files", "LMS_MISMATCH_LOG_FILES", "mismatchLogFiles", OPT_INT, OFF(mismatch_log_files),
	  NULL, "rotated mismatch logs kept, 0 = truncate instead (default 5, max 100)" },
	{ "translate-memory", "LMS_TRANSLATE_MEMORY", "translateMemory", OPT_BYTES, OFF(translate_memory), NULL,
	  "bytes all sessions served across wire protocols (MySQL clients after a cutover) may hold for "
	  "messages over 32 KiB, each up to 16 MiB; 0 = refuse them (default 268435456)" },
	{ "max-pause", "LMS_MAX_PAUSE", "maxPause", OPT_TIMEOUT, OFF(max_pause), NULL,
	  "seconds a request or login may wait while paused for a cutover, > 0 (default 60)" },
	{ "coordination", "LMS_COORDINATION", "coordination", OPT_STRING, OFF(coordination), "auto|off",
	  "auto: follow the cutover state in the target (schema _molt_lms); off: never read it, always "
	  "serve from the source (shadowing only) (default auto)" },
	{ "instance-id", "LMS_INSTANCE_ID", "instanceId", OPT_STRING, OFF(instance_id), NULL,
	  "this instance's name in the coordination store (default <hostname>:<listen port>:<start time>)" },
	{ "advertise-admin-url", "LMS_ADVERTISE_ADMIN_URL", "advertiseAdminUrl", OPT_STRING,
	  OFF(advertise_admin_url), NULL,
	  "URL the orchestrator uses to reach this instance's admin API (default "
	  "http(s)://<hostname or metrics host>:<metrics port>)" },
	{ "advertise-admin-host", "LMS_ADVERTISE_ADMIN_HOST", "advertiseAdminHost", OPT_STRING,
	  OFF(advertise_admin_host), NULL,
	  "host (name, IPv4 or IPv6 address) in the default admin URL, e.g. a pod IP; the scheme and "
	  "port still come from the TLS settings and --metrics-listen" },
	{ "log-level", "LMS_LOG_LEVEL", "logLevel", OPT_LEVEL, OFF(log_level), "error|warn|info|debug",
	  "log verbosity (default info)" },
	{ "check-config", NULL, NULL, OPT_BOOL, OFF(check_config), NULL,
	  "validate the settings, log in to both databases, and exit" },
	{ "help", NULL, NULL, OPT_BOOL, OFF(show_help), NULL, "show this help and exit" },
	{ "version", NULL, NULL, OPT_BOOL, OFF(show_version), NULL, "show the version and exit" },
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const struct opt_rule rules[] = {
	{ OFF(mismatch_log), 0, 0, true },
	{ OFF(mismatch_log_max_bytes), LMS_MISMATCH_LOG_MIN_BYTES, LLONG_MAX, false },
	{ OFF(mismatch_log_files), 0, 100, false },
	{ OFF(translate_memory), 0, LLONG_MAX, false },
};

/* The rule for setting o; the type's own rule when it has none. */
static struct opt_rule opt_rule(const struct opt *o)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].offset == o->offset)
			return rules[i];
	struct opt_rule r = { o->offset, 0, LLONG_MAX, false };
	if (o->type == OPT_INT) {
		r.min = 1;
		r.max = 1000000;
	}
	return r;
}

static void config_defaults(struct lms_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->target_dialect = strdup("cockroach");
	cfg->shadow_mode = strdup("none");
	cfg->listen = strdup("0.0.0.0:9043");
	cfg->metrics_listen = strdup(":9044");
	cfg->plugin_dir = strdup(LMS_PLUGIN_DIR_DEFAULT);
	int n = lms_cpus_available();
	cfg->workers = n < 256 ? n : 256;
	cfg->max_connections = 20000;
	cfg->connect_timeout = 10;
	cfg->login_timeout = 60;
	cfg->idle_timeout = 0;
	cfg->shutdown_timeout = 30;
	cfg->shadow_timeout = 5;
	cfg->mismatch_log = strdup("mismatches.jsonl");
	cfg->mismatch_log_max_bytes = 104857600;
	cfg->mismatch_log_files = 5;
	cfg->max_pause = 60;
	cfg->translate_memory = 268435456;
	cfg->coordination = strdup("auto");
	cfg->session_placement = strdup("balance");
	cfg->log_level = LMS_LOG_LEVEL_INFO;
}

/* Is host a host name, an IPv4 address, or an IPv6 address (bracketed or
 * not), with no port and nothing else that would change a URL's meaning? */
static bool valid_admin_host(const char *host)
{
	char inner[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	size_t len = strlen(host);
	if (len == 0 || len > 253)
		return false;
	if (host[0] == '[') {
		if (len < 3 || host[len - 1] != ']' || len - 2 >= sizeof(inner))
			return false;
		snprintf(inner, sizeof(inner), "%.*s", (int)(len - 2), host + 1);
		return inet_pton(AF_INET6, inner, &a6) == 1;
	}
	if (strchr(host, ':'))
		return inet_pton(AF_INET6, host, &a6) == 1;
	for (const char *p = host; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			return false;
	return true;
}

/* Is value one of the '|'-separated words in allowed? */
static bool allowed_has(const char *allowed, const char *value)
{
	size_t vlen = strlen(value);
	const char *p = allowed;
	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == vlen && strncmp(p, value, len) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

/* The setting stored at offset off of struct lms_config. */
static const struct opt *opt_at(size_t off)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].offset == off)
			return &opts[i];
	return NULL;
}

/* Store value into the setting; where names the source for messages. */
static int opt_set(struct lms_config *cfg, const struct opt *o, const char *value,
		   const char *where, char *err, size_t errlen)
{
	void *field = (char *)cfg + o->offset;
	char *end = NULL;
	switch (o->type) {
	case OPT_STRING:
		if (o->allowed && !allowed_has(o->allowed, value)) {
			snprintf(err, errlen, "%s: invalid value '%s' (allowed: %s)", where, value, o->allowed);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = strdup(value);
		return *(char **)field ? 0 : -1;
	case OPT_BOOL:
		if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on")) {
			*(bool *)field = true;
		} else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off")) {
			*(bool *)field = false;
		} else {
			snprintf(err, errlen, "%s: invalid value '%s' (allowed: true|false)", where, value);
			return -1;
		}
		return 0;
	case OPT_INT:
	case OPT_BYTES: {
		struct opt_rule r = opt_rule(o);
		long long lo = r.min, hi = r.max;
		errno = 0;
		long long v = strtoll(value, &end, 10);
		if (errno || end == value || *end || v < lo || v > hi) {
			if (hi == LLONG_MAX)
				snprintf(err, errlen, "%s: invalid value '%s' (allowed: a whole number >= %lld)",
					 where, value, lo);
			else
				snprintf(err, errlen, "%s: invalid value '%s' (allowed: a whole number from %lld to %lld)",
					 where, value, lo, hi);
			return -1;
		}
		if (o->type == OPT_INT)
			*(int *)field = (int)v;
		else
			*(long long *)field = v;
		return 0;
	}
	case OPT_SECONDS:
	case OPT_TIMEOUT: {
		bool zero_ok = o->type == OPT_SECONDS;
		errno = 0;
		double v = strtod(value, &end);
		if (errno || end == value || *end || !isfinite(v) || v < 0 || (v == 0 && !zero_ok) ||
		    v > 86400 * 365) {
			snprintf(err, errlen, "%s: invalid value '%s' (allowed: seconds, a number %s 0)", where, value,
				 zero_ok ? ">=" : ">");
			return -1;
		}
		*(double *)field = v;
		return 0;
	}
	case OPT_LEVEL: {
		int lv = lms_log_parse_level(value);
		if (lv < 0) {
			snprintf(err, errlen, "%s: invalid value '%s' (allowed: %s)", where, value, o->allowed);
			return -1;
		}
		*(int *)field = lv;
		return 0;
	}
	}
	return -1;
}

/* Turn a JSON scalar into text for opt_set. */
static int json_scalar_text(json_t *v, char *buf, size_t cap)
{
	if (json_is_string(v))
		snprintf(buf, cap, "%s", json_string_value(v));
	else if (json_is_true(v))
		snprintf(buf, cap, "true");
	else if (json_is_false(v))
		snprintf(buf, cap, "false");
	else if (json_is_integer(v))
		snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, cap, "%.17g", json_real_value(v));
	else
		return -1;
	return 0;
}

/* Apply every key of the config file. */
static int config_load_file(struct lms_config *cfg, const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	if (!root) {
		snprintf(err, errlen, "config file %s: %s (line %d)", path, jerr.text, jerr.line);
		return -1;
	}
	int rc = 0;
	if (!json_is_object(root)) {
		snprintf(err, errlen, "config file %s: the top level must be a JSON object", path);
		rc = -1;
		goto out;
	}
	const char *key;
	json_t *value;
	json_object_foreach(root, key, value) {
		const struct opt *o = NULL;
		for (size_t i = 0; i < NOPTS; i++)
			if (opts[i].json && strcmp(opts[i].json, key) == 0)
				o = &opts[i];
		char where[256];
		snprintf(where, sizeof(where), "config file %s: key %s", path, key);
		if (!o) {
			snprintf(err, errlen, "%s: unknown setting (see molt-lms --help for the keys)", where);
			rc = -1;
			goto out;
		}
		char text[4096];
		if (json_scalar_text(value, text, sizeof(text)) < 0) {
			snprintf(err, errlen, "%s: must be a string, number or boolean", where);
			rc = -1;
			goto out;
		}
		if (opt_set(cfg, o, text, where, err, errlen) < 0) {
			rc = -1;
			goto out;
		}
	}
out:
	json_decref(root);
	return rc;
}

static int config_load_env(struct lms_config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		if (!o->env || o->offset == OFF(config_file))
			continue;
		const char *v = getenv(o->env);
		if (!v || (!*v && !opt_rule(o).empty_ok))
			continue;
		char where[128];
		snprintf(where, sizeof(where), "environment variable %s", o->env);
		if (opt_set(cfg, o, v, where, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* Parse argv with getopt_long; with only_config, just find --config. */
static int config_load_flags(struct lms_config *cfg, int argc, char **argv,
			     bool only_config, char *err, size_t errlen)
{
	struct option lopts[NOPTS + 1];
	for (size_t i = 0; i < NOPTS; i++) {
		lopts[i].name = opts[i].flag;
		lopts[i].has_arg = opts[i].type == OPT_BOOL ? no_argument : required_argument;
		lopts[i].flag = NULL;
		lopts[i].val = 1000 + (int)i;
	}
	memset(&lopts[NOPTS], 0, sizeof(lopts[NOPTS]));
	optind = 1;
	opterr = 0;
	int c, idx;
	while ((c = getopt_long(argc, argv, "hV", lopts, &idx)) != -1) {
		if (c == 'h') {
			cfg->show_help = true;
			continue;
		}
		if (c == 'V') {
			cfg->show_version = true;
			continue;
		}
		if (c < 1000) {
			snprintf(err, errlen, "unknown or incomplete option '%s' (see molt-lms --help)",
				 argv[optind - 1]);
			return -1;
		}
		const struct opt *o = &opts[c - 1000];
		if (o->offset == OFF(show_help) || o->offset == OFF(show_version)) {
			*(bool *)((char *)cfg + o->offset) = true;
			continue;
		}
		if (only_config != (o->offset == OFF(config_file)))
			continue;
		char where[128];
		snprintf(where, sizeof(where), "option --%s", o->flag);
		if (opt_set(cfg, o, optarg ? optarg : "true", where, err, errlen) < 0)
			return -1;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see molt-lms --help)", argv[optind]);
		return -1;
	}
	return 0;
}

int lms_config_load(struct lms_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	config_defaults(cfg);
	const char *env_cfg = getenv("LMS_CONFIG");
	if (env_cfg && *env_cfg)
		cfg->config_file = strdup(env_cfg);
	if (config_load_flags(cfg, argc, argv, true, err, errlen) < 0)
		return -1;
	if (cfg->show_help || cfg->show_version)
		return 0;
	if (cfg->config_file && config_load_file(cfg, cfg->config_file, err, errlen) < 0)
		return -1;
	if (config_load_env(cfg, err, errlen) < 0)
		return -1;
	return config_load_flags(cfg, argc, argv, false, err, errlen);
}

/* A file setting must name a readable file. */
static int check_readable(const char *key, const char *path, char *err, size_t errlen)
{
	if (!path)
		return 0;
	if (access(path, R_OK) != 0) {
		snprintf(err, errlen, "%s: cannot read '%s': %s", key, path, strerror(errno));
		return -1;
	}
	return 0;
}

int lms_config_validate(const struct lms_config *cfg, char *err, size_t errlen)
{
	if (!cfg->source_dialect) {
		snprintf(err, errlen, "sourceDialect is not set: give --source-dialect, LMS_SOURCE_DIALECT "
			 "or \"sourceDialect\" in config.json (allowed: postgres|cockroach|mysql)");
		return -1;
	}
	if (!cfg->init_source) {
		snprintf(err, errlen, "INIT_SOURCE is not set: put the source database URL in config.json "
			 "(\"INIT_SOURCE\"), the INIT_SOURCE environment variable or --init-source");
		return -1;
	}
	if (!cfg->init_target) {
		snprintf(err, errlen, "INIT_TARGET is not set: put the target database URL in config.json "
			 "(\"INIT_TARGET\"), the INIT_TARGET environment variable or --init-target");
		return -1;
	}
	const struct opt *mode = opt_at(OFF(shadow_mode));
	if (!cfg->shadow_mode || !allowed_has(mode->allowed, cfg->shadow_mode)) {
		snprintf(err, errlen, "shadowMode: invalid value '%s' (allowed: %s)",
			 cfg->shadow_mode ? cfg->shadow_mode : "", mode->allowed);
		return -1;
	}
	if (cfg->instance_id && !cfg->instance_id[0]) {
		snprintf(err, errlen, "instanceId: must not be empty (or leave it unset for the default)");
		return -1;
	}
	if (cfg->advertise_admin_url && strncmp(cfg->advertise_admin_url, "http://", 7) != 0 &&
	    strncmp(cfg->advertise_admin_url, "https://", 8) != 0) {
		snprintf(err, errlen, "advertiseAdminUrl: invalid value '%s' (allowed: http://HOST:PORT or "
			 "https://HOST:PORT)", cfg->advertise_admin_url);
		return -1;
	}
	if (cfg->advertise_admin_host && cfg->advertise_admin_url) {
		snprintf(err, errlen, "advertiseAdminHost: give either advertiseAdminHost or advertiseAdminUrl, "
			 "not both");
		return -1;
	}
	if (cfg->advertise_admin_host && !valid_admin_host(cfg->advertise_admin_host)) {
		snprintf(err, errlen, "advertiseAdminHost: invalid value '%s' (allowed: a host name, an IPv4 "
			 "address or an IPv6 address, bracketed or not, without a port)", cfg->advertise_admin_host);
		return -1;
	}
	if (cfg->coordination && strcmp(cfg->coordination, "auto") == 0 &&
	    strncmp(cfg->init_target, "postgresql://", 13) != 0 && strncmp(cfg->init_target, "postgres://", 11) != 0) {
		snprintf(err, errlen, "coordination auto keeps the cutover state in the target, which needs a "
			 "postgresql:// INIT_TARGET; use --coordination off to only shadow");
		return -1;
	}
	bool has_cert = cfg->ssl_cert != NULL, has_key = cfg->ssl_key != NULL;
	if (has_cert != has_key) {
		snprintf(err, errlen, "LMS_SSL_CERT and LMS_SSL_KEY must be given together (got only %s)",
			 has_cert ? "LMS_SSL_CERT" : "LMS_SSL_KEY");
		return -1;
	}
	if (!has_cert && !cfg->allow_tls_disable) {
		snprintf(err, errlen, "TLS is required: set LMS_SSL_CERT and LMS_SSL_KEY (or --ssl-cert and "
			 "--ssl-key) to a certificate and key, or start with --allow-tls-mode-disable "
			 "for local testing only");
		return -1;
	}
	if (cfg->ssl_ca && !has_cert) {
		snprintf(err, errlen, "LMS_SSL_CA needs LMS_SSL_CERT and LMS_SSL_KEY as well");
		return -1;
	}
	if (check_readable("LMS_SSL_CERT", cfg->ssl_cert, err, errlen) < 0 ||
	    check_readable("LMS_SSL_KEY", cfg->ssl_key, err, errlen) < 0 ||
	    check_readable("LMS_SSL_CA", cfg->ssl_ca, err, errlen) < 0)
		return -1;
	return 0;
}

void lms_config_usage(FILE *out, const char *prog)
{
	fprintf(out, "Usage: %s [OPTION]...\n"
		"molt-lms is a live-migration proxy: applications connect to it as to their source\n"
		"database; it routes each request to the source of truth.\n\nOptions:\n", prog);
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		char left[64];
		snprintf(left, sizeof(left), "--%s%s", o->flag,
			 o->type == OPT_BOOL ? "" : o->type == OPT_STRING || o->type == OPT_LEVEL ? " VALUE" : " N");
		fprintf(out, "  %-30s %s\n", left, o->help);
		if (o->env || o->json)
			fprintf(out, "  %-30s   env %s%s%s\n", "", o->env ? o->env : "-",
				o->json ? ", config.json key " : "", o->json ? o->json : "");
	}
	fprintf(out, "\nExample:\n  %s --source-dialect postgres --config config.json \\\n"
		"      --ssl-cert proxy.crt --ssl-key proxy.key\n", prog);
}

void lms_config_free(struct lms_config *cfg)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].type == OPT_STRING) {
			char **f = (char **)((char *)cfg + opts[i].offset);
			free(*f);
			*f = NULL;
		}
}
