/*
 * url.c - connection URLs through libpq's own parser, and the blocking
 * login test behind molt-lms --check-config.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgwire.h"

/* Copy msg into err, replacing everything between the first and the last
 * double quote: libpq quotes the offending part of the URL, which may hold
 * (part of) the password. */
static void redact(char *err, size_t errlen, const char *prefix, const char *msg)
{
	const char *q1 = strchr(msg, '"');
	const char *q2 = strrchr(msg, '"');
	char line[512];
	if (q1 && q2 && q2 > q1)
		snprintf(line, sizeof(line), "%.*s\"...\"%s", (int)(q1 - msg), msg, q2 + 1);
	else
		snprintf(line, sizeof(line), "%s", msg);
	line[strcspn(line, "\n")] = 0;
	snprintf(err, errlen, "%s%s", prefix, line);
}

static const struct {
	const char *name;
	uint32_t mode;
} tls_modes[] = {
	{ "disable", LMS_TLS_DISABLE }, { "allow", LMS_TLS_PREFER }, { "prefer", LMS_TLS_PREFER },
	{ "require", LMS_TLS_REQUIRE }, { "verify-ca", LMS_TLS_VERIFY_CA }, { "verify-full", LMS_TLS_VERIFY_FULL },
};

static int set_str(char **dst, const char *v)
{
	if (!v || !*v)
		return 0;
	*dst = pg_host->strdup(v);
	return *dst ? 0 : -1;
}

int pg_parse_url(const char *url, struct lms_backend_conf *conf, char *err, size_t errlen)
{
	char *msg = NULL;
	memset(conf, 0, sizeof(*conf));
	if (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0) {
		snprintf(err, errlen, "not a PostgreSQL URL: it must start with postgresql:// "
			 "(e.g. postgresql://user:password@host:5432/db?sslmode=verify-full)");
		return -1;
	}
	PQconninfoOption *opts = PQconninfoParse(url, &msg);
	if (!opts) {
		redact(err, errlen, "invalid URL: ", msg ? msg : "out of memory");
		PQfreemem(msg);
		return -1;
	}
	int rc = 0;
	const char *sslmode = "prefer";
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		const char *k = o->keyword;
		if (!strcmp(k, "host"))
			rc |= set_str(&conf->host, o->val);
		else if (!strcmp(k, "port"))
			rc |= set_str(&conf->port, o->val);
		else if (!strcmp(k, "user"))
			rc |= set_str(&conf->user, o->val);
		else if (!strcmp(k, "password"))
			rc |= set_str(&conf->password, o->val);
		else if (!strcmp(k, "dbname"))
			rc |= set_str(&conf->database, o->val);
		else if (!strcmp(k, "sslrootcert"))
			rc |= set_str(&conf->tls_root_cert, o->val);
		else if (!strcmp(k, "sslcert"))
			rc |= set_str(&conf->tls_cert, o->val);
		else if (!strcmp(k, "sslkey"))
			rc |= set_str(&conf->tls_key, o->val);
		else if (!strcmp(k, "sslmode") && *o->val)
			sslmode = o->val;
	}
	conf->tls_mode = 0xffff;
	for (size_t i = 0; i < sizeof(tls_modes) / sizeof(tls_modes[0]); i++)
		if (!strcmp(sslmode, tls_modes[i].name))
			conf->tls_mode = tls_modes[i].mode;
	if (conf->tls_mode == 0xffff) {
		snprintf(err, errlen, "invalid sslmode '%s' (allowed: disable|prefer|require|verify-ca|verify-full)",
			 sslmode);
		rc = -1;
	} else if (rc) {
		snprintf(err, errlen, "out of memory");
	}
	if (!rc && !conf->host)
		rc |= set_str(&conf->host, "localhost");
	if (!rc && !conf->port)
		rc |= set_str(&conf->port, "5432");
	if (!rc && conf->host && strchr(conf->host, ',')) {
		snprintf(err, errlen, "several hosts in one URL are not supported: give one host");
		rc = -1;
	}
	PQconninfoFree(opts);
	return rc ? -1 : 0;
}

static const char *tls_mode_name(uint32_t mode)
{
	for (size_t i = 0; i < sizeof(tls_modes) / sizeof(tls_modes[0]); i++)
		if (tls_modes[i].mode == mode && strcmp(tls_modes[i].name, "allow") != 0)
			return tls_modes[i].name;
	return "prefer";
}

int pg_check_backend(const struct lms_backend_conf *conf, char *err, size_t errlen)
{
	const char *keys[12], *vals[12];
	int n = 0;
#define KV(k, v) do { if (v) { keys[n] = (k); vals[n] = (v); n++; } } while (0)
	KV("host", conf->host);
	KV("port", conf->port);
	KV("user", conf->user);
	KV("password", conf->password);
	KV("dbname", conf->database);
	KV("sslmode", tls_mode_name(conf->tls_mode));
	KV("sslrootcert", conf->tls_root_cert);
	KV("sslcert", conf->tls_cert);
	KV("sslkey", conf->tls_key);
	KV("connect_timeout", "10");
	KV("application_name", "molt-lms --check-config");
#undef KV
	keys[n] = vals[n] = NULL;
	PGconn *c = PQconnectdbParams(keys, vals, 0);
	int rc = 0;
	if (!c || PQstatus(c) != CONNECTION_OK) {
		/* libpq's connection errors name host, port and user, never the
		 * password: show them whole. */
		snprintf(err, errlen, "%s", c ? PQerrorMessage(c) : "out of memory");
		err[strcspn(err, "\n")] = 0;
		rc = -1;
	} else {
		PGresult *r = PQexec(c, "SELECT 1");
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			snprintf(err, errlen, "SELECT 1 failed: %s", PQerrorMessage(c));
			err[strcspn(err, "\n")] = 0;
			rc = -1;
		}
		PQclear(r);
	}
	PQfinish(c);
	return rc;
}
