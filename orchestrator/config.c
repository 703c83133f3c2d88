/*
 * config.c - the orchestrator's settings.  One table names each setting's
 * flag, environment variable and config.json key.
 */
#include "autoconfig.h"

#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"

enum setting_kind { S_STRING, S_BOOL, S_SECONDS, S_LEVEL };

struct setting {
	const char *flag;
	const char *env;
	const char *key;       /* config.json */
	enum setting_kind kind;
	size_t offset;
	const char *help;
};

#define AT(f) offsetof(struct orch_config, f)

static const struct setting settings[] = {
	{ "config", "ORCH_CONFIG", NULL, S_STRING, AT(config_file),
	  "JSON file with CRDB_URL, LMS_URL and any other setting" },
	{ "crdb-url", "CRDB_URL", "CRDB_URL", S_STRING, AT(crdb_url),
	  "target database URL; holds the coordination store _molt_lms (required)" },
	{ "lms-url", "LMS_URL", "LMS_URL", S_STRING, AT(lms_url),
	  "connection string through the proxies, for the \"select 1\" probe in status" },
	{ "source-url", "SOURCE_URL", "SOURCE_URL", S_STRING, AT(source_url),
	  "direct source URL: initialize creates _molt_lms.watermark there, commit writes it" },
	{ "source-dialect", "ORCH_SOURCE_DIALECT", "sourceDialect", S_STRING, AT(source_dialect),
	  "dialect of the source: postgres, cockroach or mysql" },
	{ "listen", "ORCH_LISTEN", "listen", S_STRING, AT(listen),
	  "API listener HOST:PORT (default 0.0.0.0:4200)" },
	{ "metrics-listen", "ORCH_METRICS_LISTEN", "metricsListen", S_STRING, AT(metrics_listen),
	  "Prometheus /metrics listener HOST:PORT (default :4201)" },
	{ "lms-addresses", "ORCH_LMS_ADDRESSES", "lmsAddresses", S_STRING, AT(lms_addresses),
	  "comma list of proxy admin URLs http(s)://host:port (default: the registered instances)" },
	{ "drain-timeout", "ORCH_DRAIN_TIMEOUT", "drainTimeout", S_SECONDS, AT(drain_timeout),
	  "seconds begin waits for instances to drain (default 30)" },
	{ "replication-timeout", "ORCH_REPLICATION_TIMEOUT", "replicationTimeout", S_SECONDS,
	  AT(replication_timeout), "seconds commit waits for the watermark on the target (default 30)" },
	{ "forget-instance-after", "ORCH_FORGET_INSTANCE_AFTER", "forgetInstanceAfter", S_SECONDS, AT(forget_after),
	  "seconds without a heartbeat after which begin and commit no longer wait for a registered proxy "
	  "(default 600)" },
	{ "tls-ca-cert", "ORCH_CA_TLS_CERT", "ORCH_CA_TLS_CERT", S_STRING, AT(tls_ca),
	  "CA (PEM): API callers must present a certificate it signed; proxies are verified with it" },
	{ "tls-cert", "ORCH_TLS_CERT", "ORCH_TLS_CERT", S_STRING, AT(tls_cert),
	  "certificate (PEM) of the API, also the client certificate shown to proxies" },
	{ "tls-key", "ORCH_TLS_KEY", "ORCH_TLS_KEY", S_STRING, AT(tls_key), "private key (PEM) of --tls-cert" },
	{ "allow-tls-mode-disable", "ORCH_ALLOW_TLS_MODE_DISABLE", "allowTLSModeDisable", S_BOOL,
	  AT(allow_tls_disable), "serve plain HTTP without certificates (local testing only)" },
	{ "log-level", "ORCH_LOG_LEVEL", "logLevel", S_LEVEL, AT(log_level), "error, warn, info or debug (default info)" },
	{ "help", NULL, NULL, S_BOOL, AT(show_help), "show this help and exit" },
	{ "version", NULL, NULL, S_BOOL, AT(show_version), "show the version and exit" },
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static void set_string(char **slot, const char *v)
{
	free(*slot);
	*slot = v ? strdup(v) : NULL;
}

/* Store text v for setting s (from where, e.g. "--drain-timeout" or
 * "ORCH_DRAIN_TIMEOUT").  Returns 0 or -1 with a message. */
static int apply_text(struct orch_config *cfg, const struct setting *s, const char *where, const char *v,
		      char *err, size_t errlen)
{
	char *base = (char *)cfg + s->offset;
	char *end;
	switch (s->kind) {
	case S_STRING:
		set_string((char **)base, v);
		return 0;
	case S_BOOL:
		if (!v || !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) {
			*(bool *)base = true;
			return 0;
		}
		if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) {
			*(bool *)base = false;
			return 0;
		}
		snprintf(err, errlen, "%s: invalid value '%s' (allowed: true, false, 1, 0)", where, v);
		return -1;
	case S_SECONDS: {
		errno = 0;
		double d = strtod(v, &end);
		if (errno || end == v || *end || !isfinite(d) || d <= 0 || d > 86400) {
			snprintf(err, errlen, "%s: invalid value '%s' (allowed: seconds, more than 0, at most 86400)",
				 where, v);
			return -1;
		}
		*(double *)base = d;
		return 0;
	}
	case S_LEVEL: {
		int l = lms_log_parse_level(v);
		if (l < 0) {
			snprintf(err, errlen, "%s: invalid value '%s' (allowed: error, warn, info, debug)", where, v);
			return -1;
		}
		*(int *)base = l;
		return 0;
	}
	}
	return -1;
}

/* A config.json value as text for apply_text: strings as they are,
 * numbers and booleans spelled out; lmsAddresses may be a list. */
static int json_text(const json_t *v, char *buf, size_t cap)
{
	if (json_is_string(v))
		return snprintf(buf, cap, "%s", json_string_value(v)) < (int)cap ? 0 : -1;
	if (json_is_number(v))
		return snprintf(buf, cap, "%.17g", json_number_value(v)) < (int)cap ? 0 : -1;
	if (json_is_boolean(v))
		return snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false"), 0;
	if (json_is_array(v)) {
		size_t i, n = 0;
		json_t *e;
		buf[0] = 0;
		json_array_foreach(v, i, e) {
			if (!json_is_string(e))
				return -1;
			int m = snprintf(buf + n, cap - n, "%s%s", i ? "," : "", json_string_value(e));
			if (m < 0 || (size_t)m >= cap - n)
				return -1;
			n += (size_t)m;
		}
		return 0;
	}
	return -1;
}

static int load_file(struct orch_config *cfg, const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	if (!root) {
		snprintf(err, errlen, "config file %s: %s (line %d)", path, je.text, je.line);
		return -1;
	}
	int rc = -1;
	if (!json_is_object(root)) {
		snprintf(err, errlen, "config file %s: the top level must be a JSON object", path);
		goto out;
	}
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		const struct setting *s = NULL;
		for (size_t i = 0; i < NSETTINGS; i++)
			if (settings[i].key && !strcmp(settings[i].key, key))
				s = &settings[i];
		if (!s) {
			snprintf(err, errlen, "config file %s: unknown key '%s' (see --help for the keys)", path, key);
			goto out;
		}
		char text[4096], where[300];
		snprintf(where, sizeof(where), "config file %s: \"%s\"", path, key);
		if (json_text(v, text, sizeof(text)) < 0) {
			snprintf(err, errlen, "%s: invalid value (allowed: a string%s)", where,
				 s->kind == S_STRING ? "" : ", a number or a boolean");
			goto out;
		}
		if (apply_text(cfg, s, where, text, err, errlen) < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static int load_env(struct orch_config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *v = s->env ? getenv(s->env) : NULL;
		if (!v || !*v || s->offset == AT(config_file))
			continue;
		if (apply_text(cfg, s, s->env, v, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* Parse argv.  With only_config, just pick up --config/--help/--version;
 * otherwise apply every flag. */
static int load_flags(struct orch_config *cfg, int argc, char **argv, bool only_config, char *err, size_t errlen)
{
	struct option longopts[NSETTINGS + 1];
	for (size_t i = 0; i < NSETTINGS; i++) {
		longopts[i].name = settings[i].flag;
		longopts[i].has_arg = settings[i].kind == S_BOOL ? no_argument : required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = 1000 + (int)i;
	}
	memset(&longopts[NSETTINGS], 0, sizeof(longopts[0]));
	optind = 0;
	opterr = 0;
	int c, idx;
	while ((c = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
		if (c < 1000) {
			snprintf(err, errlen, "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
			return -1;
		}
		const struct setting *s = &settings[c - 1000];
		bool early = s->offset == AT(config_file) || s->offset == AT(show_help) ||
			     s->offset == AT(show_version);
		if (only_config != early)
			continue;
		char where[64];
		snprintf(where, sizeof(where), "--%s", s->flag);
		if (apply_text(cfg, s, where, optarg, err, errlen) < 0)
			return -1;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
		return -1;
	}
	return 0;
}

int orch_config_load(struct orch_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = strdup("0.0.0.0:4200");
	cfg->metrics_listen = strdup(":4201");
	cfg->drain_timeout = 30;
	cfg->replication_timeout = 30;
	cfg->forget_after = 600;
	cfg->log_level = LMS_LOG_LEVEL_INFO;
	const char *envfile = getenv("ORCH_CONFIG");
	if (envfile && *envfile)
		set_string(&cfg->config_file, envfile);
	if (load_flags(cfg, argc, argv, true, err, errlen) < 0)
		return -1;
	if (cfg->show_help || cfg->show_version)
		return 0;
	if (cfg->config_file && load_file(cfg, cfg->config_file, err, errlen) < 0)
		return -1;
	if (load_env(cfg, err, errlen) < 0)
		return -1;
	return load_flags(cfg, argc, argv, false, err, errlen);
}

int orch_split_hostport(const char *addr, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(addr, ':');
	char *end;
	if (!colon || (size_t)(colon - addr) >= hostlen)
		return -1;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p <= 0 || p > 65535)
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	if (!host[0])
		snprintf(host, hostlen, "0.0.0.0");
	*port = (int)p;
	return 0;
}

/* Every comma-separated admin URL is http(s)://host:port. */
static int check_addresses(const char *list, char *err, size_t errlen)
{
	char *copy = strdup(list), *save = NULL;
	int rc = 0, n = 0;
	for (char *a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		const char *rest = !strncmp(a, "http://", 7) ? a + 7 : !strncmp(a, "https://", 8) ? a + 8 : NULL;
		char host[256];
		int port;
		if (!rest || strchr(rest, '/') || orch_split_hostport(rest, host, sizeof(host), &port) < 0) {
			snprintf(err, errlen, "lms-addresses: invalid address '%s' (allowed: http://HOST:PORT or "
				 "https://HOST:PORT, comma separated)", a);
			rc = -1;
			break;
		}
		n++;
	}
	if (rc == 0 && n == 0) {
		snprintf(err, errlen, "lms-addresses: invalid value '%s' (allowed: a comma list of "
			 "http(s)://HOST:PORT)", list);
		rc = -1;
	}
	free(copy);
	return rc;
}

int orch_config_validate(const struct orch_config *cfg, char *err, size_t errlen)
{
	char host[256];
	int port;
	if (!cfg->crdb_url || !*cfg->crdb_url) {
		snprintf(err, errlen, "CRDB_URL is required: the target database URL that holds _molt_lms "
			 "(config.json \"CRDB_URL\", environment CRDB_URL or --crdb-url)");
		return -1;
	}
	if (cfg->source_dialect && strcmp(cfg->source_dialect, "postgres") &&
	    strcmp(cfg->source_dialect, "cockroach") && strcmp(cfg->source_dialect, "mysql")) {
		snprintf(err, errlen, "sourceDialect: invalid value '%s' (allowed: postgres, cockroach, mysql)",
			 cfg->source_dialect);
		return -1;
	}
	if (orch_split_hostport(cfg->listen, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "listen: invalid value '%s' (allowed: HOST:PORT or :PORT)", cfg->listen);
		return -1;
	}
	if (orch_split_hostport(cfg->metrics_listen, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "metrics-listen: invalid value '%s' (allowed: HOST:PORT or :PORT)",
			 cfg->metrics_listen);
		return -1;
	}
	if (cfg->lms_addresses && check_addresses(cfg->lms_addresses, err, errlen) < 0)
		return -1;
	if (!cfg->tls_cert != !cfg->tls_key) {
		snprintf(err, errlen, "%s is set but %s is not: give both (--tls-cert and --tls-key)",
			 cfg->tls_cert ? "ORCH_TLS_CERT" : "ORCH_TLS_KEY", cfg->tls_cert ? "ORCH_TLS_KEY" : "ORCH_TLS_CERT");
		return -1;
	}
	if (cfg->tls_cert && !cfg->tls_ca) {
		snprintf(err, errlen, "ORCH_CA_TLS_CERT is required with ORCH_TLS_CERT: the API accepts only "
			 "callers with a certificate signed by that CA (--tls-ca-cert)");
		return -1;
	}
	if (!cfg->tls_cert && !cfg->allow_tls_disable) {
		snprintf(err, errlen, "TLS is not configured: set ORCH_TLS_CERT, ORCH_TLS_KEY and ORCH_CA_TLS_CERT "
			 "(--tls-cert, --tls-key, --tls-ca-cert), or start with --allow-tls-mode-disable for "
			 "local testing");
		return -1;
	}
	return 0;
}

void orch_config_usage(FILE *out, const char *prog)
{
	fprintf(out, "Usage: %s [OPTION]...\n"
		"Coordinate molt-lms proxy instances: the coordination store, status and the\n"
		"consistent cutover API (HTTP/JSON, mutual TLS).\n\n"
		"Each setting: flag, environment variable, config.json key. Later wins:\n"
		"config file < environment < flags.\n\n", prog);
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s%s", s->flag, s->kind == S_BOOL ? "" : " VALUE");
		fprintf(out, "  %-30s %s\n", flag, s->help);
		if (s->env || s->key)
			fprintf(out, "  %-30s   (%s%s%s%s%s)\n", "", s->env ? "env " : "", s->env ? s->env : "",
				s->env && s->key ? ", " : "", s->key ? "json " : "", s->key ? s->key : "");
	}
	fprintf(out, "\nExit status: 0 after SIGTERM or SIGINT, 1 on a runtime error, 2 on a bad setting.\n");
}

void orch_config_free(struct orch_config *cfg)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (settings[i].kind == S_STRING)
			set_string((char **)((char *)cfg + settings[i].offset), NULL);
}
