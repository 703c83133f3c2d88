/*
 * fuzz_pg_backend.c - database bytes through pg_be_frame/pg_be_decode the
 * way the core feeds them, starting from pg_be_start.
 *
 * Byte 0: bits 0-2 the URL's sslmode (value % 5: disable, prefer, require,
 * verify-ca, verify-full), bit 3 the client speaks another wire family (a
 * startup is built from user and database), bits 4-7 the user name's
 * length in units of 600 bytes (to reach "too long").  Byte 1: split seed.
 * Rest: what the database sends.
 */
#include "autoconfig.h"

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct be_ctx {
	void *be;
	uint32_t tls_mode;
	int ssl_wait;            /* SSLRequest sent, answer not yet seen */
	int own_login;           /* relay_auth off: the plugin answers the login */
	struct lms_startup st;
	struct evlog *log;
};

/* A startup message must frame itself: length, protocol 3, final NUL. */
static void check_startup(const uint8_t *p, size_t len)
{
	FUZZ_CHECK(len >= 9 && len <= PG_MAX_STARTUP);
	FUZZ_CHECK(pg_get32(p) == len);
	FUZZ_CHECK(pg_get32(p + 4) >> 16 == 3);
	FUZZ_CHECK(p[len - 1] == 0);
}

/* The startup goes out once TLS is settled; it must be the same bytes
 * however the negotiation went. */
static void check_startup_out(struct be_ctx *c, const struct lms_out *out)
{
	check_startup(out->data, out->len);
	if (c->st.raw && !c->own_login) {
		FUZZ_CHECK(out->len == c->st.raw_len);
		FUZZ_CHECK(memcmp(out->data, c->st.raw, out->len) == 0);
	}
}

static int be_start_tls(struct be_ctx *c, size_t pending)
{
	FUZZ_CHECK(c->ssl_wait && c->tls_mode != LMS_TLS_DISABLE);
	c->ssl_wait = 0;
	c->log->frozen = 1; /* from here on, what arrives depends on the split */
	if (pending > 0)
		return -1; /* plain bytes after 'S': the core refuses */
	struct lms_out *out = malloc(sizeof(*out));
	struct lms_result res;
	FUZZ_CHECK(out != NULL);
	out->len = 0;
	memset(&res, 0, sizeof(res));
	int rc = pg_be_start(c->be, 1, &c->st, out, &res);
	FUZZ_CHECK(rc == 0 && res.action != LMS_ACT_FAIL);
	check_startup_out(c, out);
	free(out);
	return 0;
}

/* The core's reaction to a decoded backend message (core/session.c
 * apply_back), plus checks on what the plugin asked for. */
static int be_act(void *arg, const uint8_t *msg, size_t len, const struct lms_out *out,
		  const struct lms_result *res, size_t pending)
{
	struct be_ctx *c = arg;
	if (res->verdict == LMS_REWRITE) {
		FUZZ_CHECK(out->len >= 5 && out->data[0] == msg[0]);
		FUZZ_CHECK(pg_get32(out->data + 1) + 1 == out->len);
		FUZZ_CHECK(out->len <= len);
	}
	if (res->verdict == LMS_REPLY && c->own_login && !c->ssl_wait) {
		/* An answer to an AuthenticationRequest: one framed 'p' message. */
		FUZZ_CHECK(len >= 9 && msg[0] == 'R');
		FUZZ_CHECK(out->len >= 5 && out->data[0] == 'p');
		FUZZ_CHECK(pg_get32(out->data + 1) + 1 == out->len);
	} else if (res->verdict == LMS_REPLY) {
		FUZZ_CHECK(c->ssl_wait && c->tls_mode == LMS_TLS_PREFER && len == 1 && msg[0] == 'N');
		c->ssl_wait = 0;
		check_startup_out(c, out);
	}
	switch (res->action) {
	case LMS_ACT_NONE:
	case LMS_ACT_AUTH_OK:
		return 0;
	case LMS_ACT_START_TLS:
		return be_start_tls(c, pending);
	case LMS_ACT_BACKEND_KEY:
		FUZZ_CHECK(res->key_len == 8 && res->verdict == LMS_REWRITE && out->len == 13);
		FUZZ_CHECK(memcmp(out->data + 5, "PROXYKEY", 8) == 0);
		return 0;
	case LMS_ACT_READY:
		FUZZ_CHECK(msg[0] == 'Z' && len == 6);
		return 0;
	case LMS_ACT_FAIL:
		FUZZ_CHECK(res->verdict != LMS_FORWARD && res->verdict != LMS_REWRITE);
		return -1;
	case LMS_ACT_CLOSE:
		return -1;
	default:
		FUZZ_CHECK(!"unexpected action from the backend");
		return -1;
	}
}

/* The client's startup, as the frontend would have handed it over. */
static size_t client_startup(uint8_t *buf)
{
	static const char params[] = "user\0alice\0database\0sales\0application_name\0fuzz\0";
	memcpy(buf + 8, params, sizeof(params)); /* includes the final NUL */
	size_t len = 8 + sizeof(params);
	pg_put32(buf, (uint32_t)len);
	pg_put32(buf + 4, PG_PROTOCOL_3);
	return len;
}

/* Write the first bytes; returns 0 when the connection goes on. */
static int start(struct be_ctx *c)
{
	struct lms_out *out = malloc(sizeof(*out));
	struct lms_result res;
	FUZZ_CHECK(out != NULL);
	out->len = 0;
	memset(&res, 0, sizeof(res));
	int rc = pg_be_start(c->be, 0, &c->st, out, &res);
	int go = -1;
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0 && res.action == LMS_ACT_FAIL) {
		FUZZ_CHECK(res.error.message != NULL);
	} else if (rc == 0) {
		FUZZ_CHECK(res.action == LMS_ACT_NONE);
		if (c->tls_mode != LMS_TLS_DISABLE) {
			FUZZ_CHECK(out->len == 8 && pg_get32(out->data) == 8);
			FUZZ_CHECK(pg_get32(out->data + 4) == PG_SSL_REQUEST);
			c->ssl_wait = 1;
		} else {
			check_startup_out(c, out);
		}
		go = 0;
	}
	free(out);
	return go;
}

static struct evlog run_once(uint8_t opts, uint8_t seed, int whole, const uint8_t *data, size_t size,
			     char *user)
{
	struct lms_backend_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.tls_mode = (opts & 7) % 5;
	struct lms_be_opts bo;
	memset(&bo, 0, sizeof(bo));
	bo.conf = &conf;
	bo.relay_auth = !(opts & 16);
	conf.user = "bob";
	conf.password = "pw";
	conf.database = "db";
	memcpy(bo.proxy_key, "PROXYKEY", 8);
	struct evlog log = { 0xcbf29ce484222325ull, 0, 0 };
	struct be_ctx *c = calloc(1, sizeof(*c));
	FUZZ_CHECK(c != NULL);
	c->be = pg_be_new(&bo);
	FUZZ_CHECK(c->be != NULL);
	c->tls_mode = conf.tls_mode;
	c->own_login = !bo.relay_auth;
	c->log = &log;
	uint8_t raw[128];
	if (opts & 8) {
		c->st = (struct lms_startup){ "mysql", user, "shop", NULL, 0 };
	} else {
		size_t n = client_startup(raw);
		c->st = (struct lms_startup){ "pgwire", "alice", "sales", raw, n };
	}
	if (start(c) == 0) {
		struct side sd = { c->be, pg_be_frame, pg_be_decode, be_act, c, &log, NULL };
		struct splitter sp;
		split_init(&sp, seed, whole);
		run_stream(&sd, data, size, &sp);
	}
	pg_be_free(c->be);
	free(c);
	return log;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	pg_host = &stub_host;
	uint8_t opts = data[0], seed = data[1];
	size_t ulen = (size_t)(opts >> 4) * 600;
	char *user = malloc(ulen + 1);
	FUZZ_CHECK(user != NULL);
	memset(user, 'u', ulen);
	user[ulen] = 0;
	/* Up to a TLS switch, the events must not depend on the split. */
	struct evlog a = run_once(opts, seed, 1, data + 2, size - 2, user);
	struct evlog b = run_once(opts, seed, 0, data + 2, size - 2, user);
	FUZZ_CHECK(a.hash == b.hash && a.count == b.count);
	free(user);
	return 0;
}
