/*
 * fuzz_pg_frontend.c - client bytes through pg_fe_frame/pg_fe_decode the
 * way the core feeds them.
 *
 * Byte 0: bit 0 the proxy has TLS, bit 1 TLS is required, bit 2 the
 * connection is already TLS when it starts, bit 3 the core observes the
 * session (statement fingerprints, ABI 1.1; the rest of the input is also
 * fingerprinted directly, cut to a size chosen by byte 1), bit 4 (without
 * bit 3) it observes the session's state only.  Byte 1: split
 * seed.  Rest: what the client sends.
 */
#include "autoconfig.h"

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fe_ctx {
	void *fe;
	int tls_available;
	int observe;
	struct evlog *log;
};

/* A message observed for shadowing (Q/P/B/C name statements; D/E/S/F are
 * asked for so the backends can note them): forwarded as it is, with a
 * fingerprint that fits and known flags; only Q/P/C may be kept for
 * replay. */
static int fe_named(struct fe_ctx *c, const uint8_t *msg, const struct lms_result *res)
{
	FUZZ_CHECK(c->observe == LMS_OBSERVE_FULL ? memchr("QPBCDESF", msg[0], 8) != NULL
						  : c->observe == LMS_OBSERVE_STATE && memchr("QPC", msg[0], 3));
	FUZZ_CHECK(c->observe == LMS_OBSERVE_FULL || res->fingerprint == NULL);
	FUZZ_CHECK(res->action == LMS_ACT_NONE);
	FUZZ_CHECK((res->stmt_flags & ~(LMS_STMT_ORDERED | LMS_STMT_SETTING | LMS_STMT_REPLAY | LMS_STMT_BEGIN)) == 0);
	FUZZ_CHECK(!(res->stmt_flags & LMS_STMT_REPLAY) || memchr("QPC", msg[0], 3));
	if (!res->fingerprint)
		return 0;
	size_t n = strnlen(res->fingerprint, PG_FP_MAX);
	FUZZ_CHECK(n < PG_FP_MAX);
	ev_add(c->log, res->fingerprint, n);
	ev_u64(c->log, res->stmt_flags);
	return 0;
}

/* NegotiateProtocolVersion: 'v', a length that matches, minor 0, and as
 * many NUL-terminated option names as it says. */
static int is_negotiate_version(const uint8_t *p, size_t len)
{
	if (len < 13 || p[0] != 'v' || pg_get32(p + 1) != len - 1 || pg_get32(p + 5) != 0)
		return 0;
	uint32_t n = pg_get32(p + 9);
	size_t i = 13;
	for (uint32_t k = 0; k < n; k++) {
		size_t l = strnlen((const char *)p + i, len - i);
		if (i + l >= len)
			return 0;
		i += l + 1;
	}
	return i == len;
}

/* The core's reaction to a decoded client message (core/session.c
 * apply_front), plus checks on what the plugin asked for. */
static int fe_act(void *arg, const uint8_t *msg, size_t len, const struct lms_out *out,
		  const struct lms_result *res, size_t pending)
{
	struct fe_ctx *c = arg;
	if (res->verdict == LMS_FORWARD && msg[0] != 'p')
		return fe_named(c, msg, res);
	if (res->verdict == LMS_REPLY)
		FUZZ_CHECK((out->len == 1 && (out->data[0] == 'S' || out->data[0] == 'N')) ||
			   is_error_response(out->data, out->len) ||
			   (res->action == LMS_ACT_CONNECT && is_negotiate_version(out->data, out->len)));
	FUZZ_CHECK(res->verdict != LMS_FORWARD && res->verdict != LMS_REWRITE);
	switch (res->action) {
	case LMS_ACT_NONE:
		return 0;
	case LMS_ACT_START_TLS:
		FUZZ_CHECK(c->tls_available);
		FUZZ_CHECK(out->len == 1 && out->data[0] == 'S');
		c->log->frozen = 1; /* from here on, what arrives depends on the split */
		if (pending > 0)
			return -1; /* unencrypted bytes after the TLS request */
		pg_fe_tls_done(c->fe);
		return 0;
	case LMS_ACT_CONNECT:
		/* The client's own bytes, or (newer protocol asked for) a 3.0
		 * copy no longer than them. */
		FUZZ_CHECK((res->startup.raw == msg && res->startup.raw_len == len) ||
			   (res->verdict == LMS_REPLY && res->startup.raw_len <= len));
		FUZZ_CHECK(res->startup.family && strcmp(res->startup.family, "pgwire") == 0);
		FUZZ_CHECK(res->startup.user && res->startup.user[0]);
		FUZZ_CHECK(str_inside(res->startup.user, msg, len));
		FUZZ_CHECK(res->startup.database && res->startup.database[0]);
		FUZZ_CHECK(str_inside(res->startup.database, msg, len));
		return 0; /* typed messages follow; the backend is not simulated */
	case LMS_ACT_CANCEL:
		FUZZ_CHECK(res->key_len == 8);
		return -1;
	case LMS_ACT_CLOSE:
		return -1;
	default:
		FUZZ_CHECK(!"unexpected action from the frontend");
		return -1;
	}
}

/* Fingerprint raw bytes from an exact-size copy into a buffer of a size
 * chosen by seed (1 byte up to PG_FP_MAX), and check the result. */
static void fingerprint_raw(const uint8_t *data, size_t size, uint8_t seed)
{
	size_t cap = seed < 128 ? (size_t)seed % 64 + 1 : PG_FP_MAX;
	char *sql = malloc(size ? size : 1);
	char *out = malloc(cap);
	FUZZ_CHECK(sql != NULL && out != NULL);
	memcpy(sql, data, size);
	uint32_t flags = pg_fingerprint(sql, size, out, cap);
	FUZZ_CHECK((flags & ~(LMS_STMT_ORDERED | LMS_STMT_SETTING | LMS_STMT_REPLAY | LMS_STMT_BEGIN)) == 0);
	size_t n = strnlen(out, cap);
	FUZZ_CHECK(n < cap);
	/* Trimmed at the start (the end may be inside a quoted identifier
	 * that was cut or left open, which keeps its spaces). */
	FUZZ_CHECK(n == 0 || out[0] != ' ');
	free(out);
	free(sql);
}

/* One connection's worth: returns the event log. */
static struct evlog run_once(uint8_t opts, uint8_t seed, int whole, const uint8_t *data, size_t size)
{
	struct lms_fe_opts o;
	memset(&o, 0, sizeof(o));
	o.tls_available = opts & 1;
	o.tls_required = (opts >> 1) & 1;
	o.observe = (opts >> 3) & 1 ? LMS_OBSERVE_FULL : (opts >> 4) & 1 ? LMS_OBSERVE_STATE : 0;
	void *fe = pg_fe_new(&o);
	FUZZ_CHECK(fe != NULL);
	struct lms_out *out = malloc(sizeof(*out));
	struct lms_result res;
	FUZZ_CHECK(out != NULL);
	out->len = 0;
	memset(&res, 0, sizeof(res));
	FUZZ_CHECK(pg_fe_accept(fe, out, &res) == 0 && out->len == 0);
	free(out);
	if (opts & 4)
		pg_fe_tls_done(fe);
	struct evlog log = { 0xcbf29ce484222325ull, 0, 0 };
	struct fe_ctx c = { fe, o.tls_available, o.observe, &log };
	struct side sd = { fe, pg_fe_frame, pg_fe_decode, fe_act, &c, &log, NULL };
	struct splitter sp;
	split_init(&sp, seed, whole);
	run_stream(&sd, data, size, &sp);
	pg_fe_free(fe);
	return log;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	pg_host = &stub_host;
	uint8_t opts = data[0], seed = data[1];
	/* Up to a TLS switch, the events must not depend on the split. */
	struct evlog a = run_once(opts, seed, 1, data + 2, size - 2);
	struct evlog b = run_once(opts, seed, 0, data + 2, size - 2);
	FUZZ_CHECK(a.hash == b.hash && a.count == b.count);
	if (opts & 8)
		fingerprint_raw(data + 2, size - 2, seed);
	return 0;
}
