/*
 * url.c - mysql://user:password@host:port/database?ssl-mode=...
 *
 * ssl-mode takes MySQL's names (DISABLED, PREFERRED, REQUIRED, VERIFY_CA,
 * VERIFY_IDENTITY, any case) or libpq's (disable ... verify-full);
 * ssl-ca, ssl-cert and ssl-key name PEM files (sslrootcert, sslcert and
 * sslkey are accepted too).  User, password and database may be
 * percent-encoded.  Errors never show the password.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql.h"

static const struct {
	const char *name;
	uint32_t mode;
} tls_modes[] = {
	{ "disabled", LMS_TLS_DISABLE },    { "disable", LMS_TLS_DISABLE },
	{ "preferred", LMS_TLS_PREFER },    { "prefer", LMS_TLS_PREFER },
	{ "required", LMS_TLS_REQUIRE },    { "require", LMS_TLS_REQUIRE },
	{ "verify_ca", LMS_TLS_VERIFY_CA }, { "verify-ca", LMS_TLS_VERIFY_CA },
	{ "verify_identity", LMS_TLS_VERIFY_FULL }, { "verify-full", LMS_TLS_VERIFY_FULL },
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A percent-decoded copy of s[0..n) (host->alloc), or NULL: *bad is set
 * when the encoding is broken (else out of memory). */
static char *decode(const char *s, size_t n, int *bad)
{
	char *out = my_host->alloc(n + 1);
	size_t o = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= n) {
			*bad = 1;
			my_host->free(out);
			return NULL;
		}
		int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			*bad = 1;
			my_host->free(out);
			return NULL;
		}
		out[o++] = (char)(hi * 16 + lo);
		i += 2;
	}
	out[o] = 0;
	return out;
}

/* Set *dst to the decoded s[0..n); -1 with a message in err. */
static int set_part(char **dst, const char *s, size_t n, const char *what, char *err, size_t errlen)
{
	int bad = 0;
	*dst = decode(s, n, &bad);
	if (*dst)
		return 0;
	snprintf(err, errlen, bad ? "invalid percent-encoding in the URL's %s" : "out of memory", what);
	return -1;
}

static int parse_query(char *q, struct lms_backend_conf *conf, char *err, size_t errlen)
{
	char *save = NULL;
	for (char *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq) {
			snprintf(err, errlen, "URL option '%.40s' has no value", kv);
			return -1;
		}
		*eq = 0;
		const char *k = kv, *v = eq + 1;
		char **dst = NULL;
		if (!strcmp(k, "ssl-mode") || !strcmp(k, "sslmode") || !strcmp(k, "ssl_mode")) {
			conf->tls_mode = 0xffff;
			for (size_t i = 0; i < sizeof(tls_modes) / sizeof(tls_modes[0]); i++)
				if (!strcasecmp(v, tls_modes[i].name))
					conf->tls_mode = tls_modes[i].mode;
			if (conf->tls_mode == 0xffff) {
				snprintf(err, errlen, "invalid ssl-mode '%.40s' (allowed: DISABLED|PREFERRED|REQUIRED|"
					 "VERIFY_CA|VERIFY_IDENTITY)", v);
				return -1;
			}
			continue;
		}
		if (!strcmp(k, "ssl-ca") || !strcmp(k, "sslrootcert"))
			dst = &conf->tls_root_cert;
		else if (!strcmp(k, "ssl-cert") || !strcmp(k, "sslcert"))
			dst = &conf->tls_cert;
		else if (!strcmp(k, "ssl-key") || !strcmp(k, "sslkey"))
			dst = &conf->tls_key;
		if (!dst) {
			snprintf(err, errlen, "unknown URL option '%.40s' (known: ssl-mode, ssl-ca, ssl-cert, ssl-key)", k);
			return -1;
		}
		if (*dst)
			my_host->free(*dst);
		if (set_part(dst, v, strlen(v), k, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* host, [v6], host:port; port checked to be a number 1..65535. */
static int parse_hostport(const char *h, size_t n, struct lms_backend_conf *conf, char *err, size_t errlen)
{
	const char *port = NULL, *end_all = h + n;
	size_t hn = n;
	if (n > 0 && h[0] == '[') {
		const char *close = memchr(h, ']', n);
		if (!close) {
			snprintf(err, errlen, "unterminated [IPv6] host in the URL");
			return -1;
		}
		if ((size_t)(close - h) + 1 < n) {
			if (close[1] != ':') {
				snprintf(err, errlen, "invalid text after the [IPv6] host in the URL");
				return -1;
			}
			port = close + 2;
		}
		h++;
		hn = (size_t)(close - h);
	} else {
		const char *colon = memchr(h, ':', n);
		if (colon) {
			port = colon + 1;
			hn = (size_t)(colon - h);
		}
	}
	if (port) {
		size_t pn = (size_t)(end_all - port);
		char buf[8];
		char *end;
		if (pn == 0 || pn >= sizeof(buf)) {
			snprintf(err, errlen, "invalid port in the URL");
			return -1;
		}
		memcpy(buf, port, pn);
		buf[pn] = 0;
		long v = strtol(buf, &end, 10);
		if (*end || v < 1 || v > 65535) {
			snprintf(err, errlen, "invalid port '%s' in the URL", buf);
			return -1;
		}
		if (set_part(&conf->port, buf, pn, "port", err, errlen) < 0)
			return -1;
	}
	if (hn > 0 && set_part(&conf->host, h, hn, "host", err, errlen) < 0)
		return -1;
	return 0;
}

int my_parse_url(const char *url, struct lms_backend_conf *conf, char *err, size_t errlen)
{
	memset(conf, 0, sizeof(*conf));
	conf->tls_mode = LMS_TLS_PREFER;
	if (strncmp(url, "mysql://", 8) != 0 && strncmp(url, "mariadb://", 10) != 0) {
		snprintf(err, errlen, "not a MySQL URL: it must start with mysql:// "
			 "(e.g. mysql://user:password@host:3306/db?ssl-mode=VERIFY_IDENTITY)");
		return -1;
	}
	char *copy = my_host->strdup(strchr(url, ':') + 3);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int rc = -1;
	char *q = strchr(copy, '?');
	if (q)
		*q++ = 0;
	char *slash = strchr(copy, '/');
	if (slash)
		*slash++ = 0;
	char *at = strrchr(copy, '@');
	char *hp = copy;
	if (at) {
		*at = 0;
		hp = at + 1;
		char *colon = strchr(copy, ':');
		if (colon) {
			*colon = 0;
			if (set_part(&conf->password, colon + 1, strlen(colon + 1), "password", err, errlen) < 0)
				goto out;
		}
		if (copy[0] && set_part(&conf->user, copy, strlen(copy), "user", err, errlen) < 0)
			goto out;
	}
	if (parse_hostport(hp, strlen(hp), conf, err, errlen) < 0)
		goto out;
	if (slash && slash[0] && set_part(&conf->database, slash, strlen(slash), "database", err, errlen) < 0)
		goto out;
	if (q && parse_query(q, conf, err, errlen) < 0)
		goto out;
	if (!conf->host && set_part(&conf->host, "localhost", 9, "host", err, errlen) < 0)
		goto out;
	if (!conf->port && set_part(&conf->port, "3306", 4, "port", err, errlen) < 0)
		goto out;
	rc = 0;
out:
	my_host->free(copy);
	return rc; /* on failure what was set is freed by the core */
}
