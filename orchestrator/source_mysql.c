/*
 * source_mysql.c - a MySQL or MariaDB source over libmariadb (source.h):
 * the watermark in the database _molt_lms, and the logins of mysql.user.
 *
 * SOURCE_URL is mysql://user:password@host:port/database?options (also
 * mariadb://), with the options docs/mysql.md lists for INIT_SOURCE
 * (ssl-mode, ssl-ca, ssl-cert, ssl-key).  One connection, opened on first
 * use and reopened once when it was lost.
 */
#include "autoconfig.h"

#include "source.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <errmsg.h>

#include "store.h"

#define CONNECT_TIMEOUT_S 5u
#define IO_TIMEOUT_S 10u
#define LOGINS_MAX 100000u /* more users than this is not a real server */

enum ssl_mode { SSL_DISABLED = 0, SSL_PREFERRED, SSL_REQUIRED, SSL_VERIFY_CA, SSL_VERIFY_IDENTITY };

struct my_source {
	const char *url;
	char *user, *password, *host, *database;
	char *ssl_ca, *ssl_cert, *ssl_key;
	unsigned port;
	int ssl_mode;
	char url_err[200]; /* why the URL does not parse ("" when it does) */
	MYSQL *conn;
};

/* s[0..n) percent-decoded into a new string (NULL when malformed). */
static char *decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[j++] = s[i];
			continue;
		}
		if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2])) {
			free(out);
			return NULL;
		}
		char hex[3] = { s[i + 1], s[i + 2], 0 };
		out[j++] = (char)strtol(hex, NULL, 16);
		i += 2;
	}
	out[j] = 0;
	return out;
}

static int parse_ssl_mode(const char *v)
{
	static const char *const names[][2] = { { "disabled", "disable" }, { "preferred", "prefer" },
						{ "required", "require" }, { "verify_ca", "verify-ca" },
						{ "verify_identity", "verify-full" } };
	for (int i = 0; i < 5; i++)
		if (!strcasecmp(v, names[i][0]) || !strcasecmp(v, names[i][1]))
			return i;
	return -1;
}

/* One key=value option of the query string. */
static int parse_option(struct my_source *m, const char *opt, size_t n)
{
	const char *eq = memchr(opt, '=', n);
	if (!eq)
		return -1;
	size_t kl = (size_t)(eq - opt);
	char *v = decode(eq + 1, n - kl - 1);
	if (!v)
		return -1;
	char **slot = NULL;
	if ((kl == 8 && !strncmp(opt, "ssl-mode", kl)) || (kl == 7 && !strncmp(opt, "sslmode", kl))) {
		m->ssl_mode = parse_ssl_mode(v);
		free(v);
		return m->ssl_mode < 0 ? -1 : 0;
	}
	if ((kl == 6 && !strncmp(opt, "ssl-ca", kl)) || (kl == 11 && !strncmp(opt, "sslrootcert", kl)))
		slot = &m->ssl_ca;
	else if ((kl == 8 && !strncmp(opt, "ssl-cert", kl)) || (kl == 7 && !strncmp(opt, "sslcert", kl)))
		slot = &m->ssl_cert;
	else if ((kl == 7 && !strncmp(opt, "ssl-key", kl)) || (kl == 6 && !strncmp(opt, "sslkey", kl)))
		slot = &m->ssl_key;
	if (!slot) {
		free(v);
		return -1;
	}
	free(*slot);
	*slot = v;
	return 0;
}

/* Split the URL into m's fields.  Returns 0, or -1 with m->url_err. */
static int parse_url(struct my_source *m, const char *url)
{
	const char *p;
	if (!strncmp(url, "mysql://", 8))
		p = url + 8;
	else if (!strncmp(url, "mariadb://", 10))
		p = url + 10;
	else
		goto bad;
	const char *end = p + strcspn(p, "/?");
	const char *at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		m->user = decode(p, (size_t)((colon ? colon : at) - p));
		m->password = colon ? decode(colon + 1, (size_t)(at - colon - 1)) : NULL;
		if (!m->user || (colon && !m->password))
			goto bad;
		p = at + 1;
	}
	const char *hend = p, *port = NULL;
	if (*p == '[') {
		hend = memchr(p, ']', (size_t)(end - p));
		if (!hend)
			goto bad;
		m->host = decode(p + 1, (size_t)(hend - p - 1));
		port = hend + 1 < end && hend[1] == ':' ? hend + 2 : NULL;
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		m->host = decode(p, (size_t)((colon ? colon : end) - p));
		port = colon ? colon + 1 : NULL;
	}
	m->port = 3306;
	if (port) {
		char *e;
		unsigned long v = strtoul(port, &e, 10);
		if (e != end || v == 0 || v > 65535)
			goto bad;
		m->port = (unsigned)v;
	}
	p = end;
	if (*p == '/') {
		size_t n = strcspn(p + 1, "?");
		m->database = n ? decode(p + 1, n) : NULL;
		p += 1 + n;
	}
	m->ssl_mode = SSL_PREFERRED;
	while (*p == '?' || *p == '&') {
		p++;
		size_t n = strcspn(p, "&");
		if (n && parse_option(m, p, n) < 0)
			goto bad;
		p += n;
	}
	if (!m->host || !*m->host)
		goto bad;
	return 0;
bad:
	snprintf(m->url_err, sizeof(m->url_err), "SOURCE_URL: not a valid mysql://user:password@host:port/db?"
		 "ssl-mode=...&ssl-ca=...&ssl-cert=...&ssl-key=... URL");
	return -1;
}

void *orch_source_mysql_new(const char *url)
{
	struct my_source *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->url = url;
	parse_url(m, url); /* a bad URL is reported by each call */
	return m;
}

static void my_free(void *impl)
{
	struct my_source *m = impl;
	if (m->conn)
		mysql_close(m->conn);
	if (m->password)
		memset(m->password, 0, strlen(m->password));
	char *strs[] = { m->user, m->password, m->host, m->database, m->ssl_ca, m->ssl_cert, m->ssl_key };
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(strs[i]);
	free(m);
}

/* The client's error as "SOURCE_URL: what: message". */
static void my_error(MYSQL *c, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "SOURCE_URL: %s: %s (MySQL error %u)", what, c ? mysql_error(c) : "out of memory",
		 c ? mysql_errno(c) : 0);
}

/* Set the TLS options of ssl-mode on a fresh handle. */
static void tls_options(struct my_source *m, MYSQL *c)
{
	if (m->ssl_mode == SSL_DISABLED)
		return;
	if (m->ssl_ca || m->ssl_cert || m->ssl_key)
		mysql_ssl_set(c, m->ssl_key, m->ssl_cert, m->ssl_ca, NULL, NULL);
	if (m->ssl_mode >= SSL_REQUIRED) {
		my_bool on = 1;
		mysql_optionsv(c, MYSQL_OPT_SSL_ENFORCE, &on);
	}
	my_bool verify = m->ssl_mode >= SSL_VERIFY_CA;
	mysql_optionsv(c, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
}

/* An open connection, or NULL with a message. */
static MYSQL *my_conn(struct my_source *m, char *err, size_t errlen)
{
	if (m->url_err[0]) {
		snprintf(err, errlen, "%s", m->url_err);
		return NULL;
	}
	if (m->conn)
		return m->conn;
	MYSQL *c = mysql_init(NULL);
	if (!c) {
		my_error(NULL, "cannot connect", err, errlen);
		return NULL;
	}
	unsigned ct = CONNECT_TIMEOUT_S, io = IO_TIMEOUT_S;
	mysql_optionsv(c, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_optionsv(c, MYSQL_OPT_READ_TIMEOUT, &io);
	mysql_optionsv(c, MYSQL_OPT_WRITE_TIMEOUT, &io);
	mysql_optionsv(c, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	tls_options(m, c);
	if (!mysql_real_connect(c, m->host, m->user, m->password, NULL, m->port, NULL, 0)) {
		my_error(c, "cannot connect", err, errlen);
		mysql_close(c);
		return NULL;
	}
	m->conn = c;
	return c;
}

/* Run sql; a lost connection is reopened once.  Returns 0 or -1. */
static int my_run(struct my_source *m, const char *sql, char *err, size_t errlen)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		MYSQL *c = my_conn(m, err, errlen);
		if (!c)
			return -1;
		if (mysql_query(c, sql) == 0)
			return 0;
		unsigned e = mysql_errno(c);
		my_error(c, "query failed", err, errlen);
		if (e != CR_SERVER_GONE_ERROR && e != CR_SERVER_LOST)
			return -1;
		mysql_close(c);
		m->conn = NULL;
	}
	return -1;
}

/* Run a query returning rows; NULL with a message. */
static MYSQL_RES *my_rows(struct my_source *m, const char *sql, char *err, size_t errlen)
{
	if (my_run(m, sql, err, errlen) < 0)
		return NULL;
	MYSQL_RES *r = mysql_store_result(m->conn);
	if (!r)
		my_error(m->conn, "cannot read the result", err, errlen);
	return r;
}

static int my_init_watermark(void *impl, json_t *created, json_t *existing, char *err, size_t errlen)
{
	struct my_source *m = impl;
	MYSQL_RES *r = my_rows(m, "SELECT 1 FROM information_schema.tables WHERE table_schema = '_molt_lms' "
			       "AND table_name = 'watermark'", err, errlen);
	if (!r)
		return ORCH_STORE_ERROR;
	bool found = mysql_num_rows(r) > 0;
	mysql_free_result(r);
	if (!found && (my_run(m, "CREATE DATABASE IF NOT EXISTS _molt_lms", err, errlen) < 0 ||
		       my_run(m, "CREATE TABLE IF NOT EXISTS _molt_lms.watermark (id INT PRIMARY KEY, "
			      "token VARCHAR(128) NOT NULL, written_at DATETIME(6) NOT NULL)", err, errlen) < 0))
		return ORCH_STORE_ERROR;
	json_array_append_new(found ? existing : created, json_string("source:_molt_lms.watermark"));
	return ORCH_STORE_OK;
}

static int my_write_watermark(void *impl, const char *token, char *err, size_t errlen)
{
	struct my_source *m = impl;
	size_t n = strlen(token);
	if (n > 128) {
		snprintf(err, errlen, "SOURCE_URL: the watermark token is too long");
		return ORCH_STORE_ERROR;
	}
	if (!my_conn(m, err, errlen))
		return ORCH_STORE_ERROR;
	char esc[2 * 128 + 1], sql[512];
	mysql_real_escape_string(m->conn, esc, token, (unsigned long)n);
	snprintf(sql, sizeof(sql), "INSERT INTO _molt_lms.watermark (id, token, written_at) VALUES (1, '%s', "
		 "UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE token = VALUES(token), written_at = VALUES(written_at)",
		 esc);
	return my_run(m, sql, err, errlen) < 0 ? ORCH_STORE_ERROR : ORCH_STORE_OK;
}

static int my_read_watermark(void *impl, char *buf, size_t cap, char *err, size_t errlen)
{
	struct my_source *m = impl;
	MYSQL_RES *r = my_rows(m, "SELECT token FROM _molt_lms.watermark WHERE id = 1", err, errlen);
	if (!r)
		return ORCH_STORE_ERROR;
	MYSQL_ROW row = mysql_fetch_row(r);
	snprintf(buf, cap, "%s", row && row[0] ? row[0] : "");
	mysql_free_result(r);
	return ORCH_STORE_OK;
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static int my_read_logins(void *impl, struct orch_login **out, size_t *n, char *err, size_t errlen)
{
	struct my_source *m = impl;
	*out = NULL;
	*n = 0;
	MYSQL_RES *r = my_rows(m, "SELECT User, Host, plugin, authentication_string FROM mysql.user", err, errlen);
	if (!r) {
		size_t len = strlen(err);
		snprintf(err + len, errlen - len, "; the SOURCE_URL user needs GRANT SELECT ON mysql.user TO "
			 "that user (MariaDB and MySQL 8 alike) to copy the login verifiers");
		return ORCH_STORE_ERROR;
	}
	uint64_t rows = mysql_num_rows(r);
	if (rows > LOGINS_MAX) {
		mysql_free_result(r);
		snprintf(err, errlen, "SOURCE_URL: mysql.user has %llu rows, more than %u", (unsigned long long)rows,
			 LOGINS_MAX);
		return ORCH_STORE_ERROR;
	}
	struct orch_login *l = calloc(rows ? rows : 1, sizeof(*l));
	size_t k = 0;
	MYSQL_ROW row;
	while (l && (row = mysql_fetch_row(r)) != NULL) {
		l[k] = (struct orch_login){ dup_or_empty(row[0]), dup_or_empty(row[1]), dup_or_empty(row[2]),
					    dup_or_empty(row[3]) };
		k++;
		if (!l[k - 1].user || !l[k - 1].host || !l[k - 1].plugin || !l[k - 1].verifier) {
			orch_logins_free(l, k);
			l = NULL;
		}
	}
	mysql_free_result(r);
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return ORCH_STORE_ERROR;
	}
	*out = l;
	*n = k;
	return ORCH_STORE_OK;
}

const struct orch_source_ops orch_source_mysql_ops = {
	.init_watermark = my_init_watermark,
	.write_watermark = my_write_watermark,
	.read_watermark = my_read_watermark,
	.read_logins = my_read_logins,
	.free = my_free,
};
