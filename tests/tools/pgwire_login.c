/*
 * pgwire_login.c - log in to a real PostgreSQL server with a URL's own
 * credentials through the pgwire plugin's backend functions (relay_auth
 * off), over a plain blocking socket, and report how it went.
 *
 * Usage: pgwire_login 'postgresql://user:password@host:port/db?sslmode=disable'
 * Exit 0 after ReadyForQuery; 1 with the reason on stderr otherwise.
 * Used by tests/integration/test_16_own_login.py.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pgwire.h"

static void quiet_log(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

static char *dup_str(const char *s)
{
	return strdup(s);
}

static const struct lms_host_api host = {
	LMS_PLUGIN_ABI_MAJOR, LMS_PLUGIN_ABI_MINOR, sizeof(struct lms_host_api),
	quiet_log, malloc, free, dup_str, NULL, /* no backend_key_of (ABI 1.3) */
	NULL,                                   /* no credential_of (ABI 1.4) */
};

/* Print "what: detail" and return the failure exit status. */
static int fail(const char *what, const char *detail)
{
	fprintf(stderr, "%s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	return 1;
}

static int dial(const struct lms_backend_conf *c)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	if (getaddrinfo(c->host, c->port, &hints, &ai) != 0)
		return -1;
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The 'M' field of an ErrorResponse. */
static const char *error_message(const uint8_t *m, size_t len)
{
	for (size_t i = 5; i < len && m[i];) {
		const char *v = (const char *)m + i + 1;
		if (m[i] == 'M')
			return v;
		i += 1 + strnlen(v, len - i - 1) + 1;
	}
	return "error without a message";
}

static void conf_free(struct lms_backend_conf *c)
{
	char *strs[] = { c->host, c->port, c->user, c->password, c->database,
			 c->tls_root_cert, c->tls_cert, c->tls_key };
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(strs[i]);
}

static int login(struct lms_backend_conf *conf);
static int exchange(const struct lms_backend_conf *c, void *be, int fd);

int main(int argc, char **argv)
{
	struct lms_backend_conf conf;
	char err[512];
	if (argc != 2)
		return fail("usage: pgwire_login URL", NULL);
	pg_host = &host;
	int rc = pg_parse_url(argv[1], &conf, err, sizeof(err)) < 0 ? fail("bad URL", err) : login(&conf);
	conf_free(&conf);
	return rc;
}

/* Connect, log in with conf's credentials, return the exit status. */
static int login(struct lms_backend_conf *c)
{
	struct lms_backend_conf conf = *c;
	if (conf.tls_mode != LMS_TLS_DISABLE)
		return fail("this tool speaks plain TCP only: add sslmode=disable", NULL);
	struct lms_be_opts bo = { .conf = &conf, .relay_auth = 0 };
	void *be = pg_be_new(&bo);
	int fd = dial(&conf);
	int rc = !be || fd < 0 ? fail("cannot connect to", conf.host) : exchange(&conf, be, fd);
	if (be)
		pg_be_free(be);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Run the login on fd until ReadyForQuery or a failure. */
static int exchange(const struct lms_backend_conf *c, void *be, int fd)
{
	struct lms_backend_conf conf = *c;
	struct lms_startup st = { .family = "test", .database = conf.database };
	struct lms_out out = { .len = 0 };
	struct lms_result res;
	memset(&res, 0, sizeof(res));
	if (pg_be_start(be, 0, &st, &out, &res) < 0 || send_all(fd, out.data, out.len) < 0)
		return fail("cannot send the startup message", NULL);
	static uint8_t buf[1 << 16];
	size_t have = 0;
	int auth_ok = 0;
	for (;;) {
		ssize_t r = recv(fd, buf + have, sizeof(buf) - have, 0);
		if (r <= 0)
			return fail("the server closed the connection", NULL);
		have += (size_t)r;
		size_t off = 0;
		struct lms_frame f;
		while (pg_be_frame(be, buf + off, have - off, &f) == LMS_FRAME_OK && f.len <= have - off) {
			const uint8_t *m = buf + off;
			if (m[0] == 'E')
				return fail("server error", error_message(m, (size_t)f.len));
			if (f.flags & LMS_FRAME_NEED_BODY) {
				out.len = 0;
				memset(&res, 0, sizeof(res));
				if (pg_be_decode(be, m, (size_t)f.len, &out, &res) < 0)
					return fail("the plugin could not answer the server", NULL);
				if (res.action == LMS_ACT_FAIL)
					return fail("login refused by the plugin", res.error.message);
				if (res.verdict == LMS_REPLY && send_all(fd, out.data, out.len) < 0)
					return fail("send failed", NULL);
				if (res.action == LMS_ACT_AUTH_OK)
					auth_ok = 1;
				if (res.action == LMS_ACT_READY) {
					printf("logged in as %s to %s (%s)\n", conf.user, conf.database,
					       auth_ok ? "authenticated" : "no authentication asked");
					return 0;
				}
			}
			off += (size_t)f.len;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
}
