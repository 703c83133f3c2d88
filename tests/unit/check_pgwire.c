/*
 * check_pgwire.c - plugins/pgwire: client framing and decoding, backend
 * negotiation and rewriting, ErrorResponse encoding and connection URLs.
 *
 * Links libpgwire.la directly and hands it a host API built here, the way
 * postgres.so's entry point does.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire.h"

/* ---- host API and helpers -------------------------------------------- */

#include "../common/stub_host.h"

static void setup(void)
{
	pg_host = &stub_host;
}

/* Everything a decode call touches, zeroed the way the core does. */
struct call {
	struct lms_out out;
	struct lms_result res;
	struct lms_frame f;
};

static void call_reset(struct call *c)
{
	memset(c, 0, sizeof(*c));
}

static size_t put32(uint8_t *p, uint32_t v)
{
	pg_put32(p, v);
	return 4;
}

/* Build a startup-phase packet: length, code, then NUL-terminated strings
 * from the NULL-terminated list, then the final NUL when terminate. */
static size_t build_startup(uint8_t *buf, size_t cap, uint32_t code, int terminate, ...)
{
	size_t n = 8;
	va_list ap;
	va_start(ap, terminate);
	for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
		size_t l = strlen(s) + 1;
		ck_assert_uint_le(n + l + 1, cap);
		memcpy(buf + n, s, l);
		n += l;
	}
	va_end(ap);
	if (terminate)
		buf[n++] = 0;
	put32(buf, (uint32_t)n);
	put32(buf + 4, code);
	return n;
}

/* A typed message: type byte, int32 length, payload. */
static size_t build_typed(uint8_t *buf, uint8_t type, const void *payload, size_t n)
{
	buf[0] = type;
	put32(buf + 1, (uint32_t)(n + 4));
	if (n)
		memcpy(buf + 5, payload, n);
	return n + 5;
}

/* Parsed ErrorResponse fields. */
struct pg_err {
	char s[64], v[64], c[16], m[8192], h[8192];
	int fields;
};

/* Parse an ErrorResponse; fails the test when it is malformed. */
static void parse_error(const uint8_t *p, size_t len, struct pg_err *e)
{
	memset(e, 0, sizeof(*e));
	ck_assert_uint_ge(len, 6);
	ck_assert_int_eq(p[0], 'E');
	ck_assert_uint_eq(pg_get32(p + 1), len - 1);
	ck_assert_int_eq(p[len - 1], 0);
	size_t i = 5;
	while (p[i] != 0) {
		char code = (char)p[i++];
		const char *v = (const char *)p + i;
		size_t n = strnlen(v, len - i);
		ck_assert_uint_lt(i + n, len - 1);
		char *dst = code == 'S' ? e->s : code == 'V' ? e->v : code == 'C' ? e->c
			  : code == 'M' ? e->m : code == 'H' ? e->h : NULL;
		ck_assert_msg(dst != NULL, "unexpected field %c", code);
		size_t cap = code == 'M' || code == 'H' ? sizeof(e->m) : code == 'C' ? sizeof(e->c) : sizeof(e->s);
		ck_assert_uint_lt(n, cap);
		memcpy(dst, v, n + 1);
		e->fields++;
		i += n + 1;
	}
	ck_assert_uint_eq(i, len - 1);
}

/* ---- frontend ---------------------------------------------------------- */

static void *fe_make(int tls_available, int tls_required)
{
	struct lms_fe_opts o;
	memset(&o, 0, sizeof(o));
	o.tls_available = tls_available;
	o.tls_required = tls_required;
	memcpy(o.proxy_key, "PROXYKEY", 8);
	void *fe = pg_fe_new(&o);
	ck_assert_ptr_nonnull(fe);
	return fe;
}

/* Frame msg as one whole startup-phase message and decode it. */
static int fe_feed(void *fe, const uint8_t *msg, size_t len, struct call *c)
{
	call_reset(c);
	ck_assert_int_eq(pg_fe_frame(fe, msg, len, &c->f), LMS_FRAME_OK);
	ck_assert_uint_eq(c->f.len, len);
	ck_assert_uint_eq(c->f.kind, LMS_MSG_STARTUP);
	ck_assert_uint_eq(c->f.flags, LMS_FRAME_NEED_BODY);
	return pg_fe_decode(fe, msg, len, &c->out, &c->res);
}

/* The decode replied with a FATAL ErrorResponse carrying sqlstate, and
 * asked to close. */
static void assert_refused(const struct call *c, const char *sqlstate)
{
	struct pg_err e;
	ck_assert_uint_eq(c->res.verdict, LMS_REPLY);
	ck_assert_uint_eq(c->res.action, LMS_ACT_CLOSE);
	parse_error(c->out.data, c->out.len, &e);
	ck_assert_str_eq(e.s, "FATAL");
	ck_assert_str_eq(e.c, sqlstate);
}

static const uint8_t ssl_request[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
static const uint8_t gss_request[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30 };

START_TEST(test_fe_accept)
{
	void *fe = fe_make(0, 0);
	struct call c;
	call_reset(&c);
	c.res.action = 99;
	ck_assert_int_eq(pg_fe_accept(fe, &c.out, &c.res), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_NONE);
	ck_assert_uint_eq(c.out.len, 0);
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_ssl_request_with_tls)
{
	void *fe = fe_make(1, 0);
	struct call c;
	ck_assert_int_eq(fe_feed(fe, ssl_request, 8, &c), 0);
	ck_assert_uint_eq(c.res.verdict, LMS_REPLY);
	ck_assert_uint_eq(c.res.action, LMS_ACT_START_TLS);
	ck_assert_uint_eq(c.out.len, 1);
	ck_assert_int_eq(c.out.data[0], 'S');
	/* After the handshake, a second SSLRequest is a protocol violation. */
	pg_fe_tls_done(fe);
	ck_assert_int_eq(fe_feed(fe, ssl_request, 8, &c), 0);
	assert_refused(&c, "08P01");
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_ssl_request_without_tls)
{
	void *fe = fe_make(0, 0);
	struct call c;
	ck_assert_int_eq(fe_feed(fe, ssl_request, 8, &c), 0);
	ck_assert_uint_eq(c.res.verdict, LMS_REPLY);
	ck_assert_uint_eq(c.res.action, LMS_ACT_NONE);
	ck_assert_uint_eq(c.out.len, 1);
	ck_assert_int_eq(c.out.data[0], 'N');
	/* The client goes on in plain text. */
	uint8_t m[128];
	size_t n = build_startup(m, sizeof(m), PG_PROTOCOL_3, 1, "user", "alice", NULL);
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_CONNECT);
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_gssenc_request)
{
	void *fe = fe_make(1, 0);
	struct call c;
	ck_assert_int_eq(fe_feed(fe, gss_request, 8, &c), 0);
	ck_assert_uint_eq(c.res.verdict, LMS_REPLY);
	ck_assert_uint_eq(c.res.action, LMS_ACT_NONE);
	ck_assert_uint_eq(c.out.len, 1);
	ck_assert_int_eq(c.out.data[0], 'N');
	/* Then SSLRequest is still possible. */
	ck_assert_int_eq(fe_feed(fe, ssl_request, 8, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_START_TLS);
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_cancel_request)
{
	void *fe = fe_make(1, 1);
	uint8_t m[16];
	put32(m, 16);
	put32(m + 4, PG_CANCEL_REQUEST);
	memcpy(m + 8, "\x01\x02\x03\x04\xa5\xb6\xc7\xd8", 8);
	struct call c;
	ck_assert_int_eq(fe_feed(fe, m, 16, &c), 0);
	ck_assert_uint_eq(c.res.verdict, LMS_DROP);
	ck_assert_uint_eq(c.res.action, LMS_ACT_CANCEL);
	ck_assert_uint_eq(c.res.key_len, 8);
	ck_assert_mem_eq(c.res.key, m + 8, 8);
	ck_assert_uint_eq(c.out.len, 0);
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_cancel_wrong_length)
{
	/* A CancelRequest code with a body of the wrong size is not a cancel. */
	void *fe = fe_make(0, 0);
	uint8_t m[20] = { 0 };
	put32(m, 20);
	put32(m + 4, PG_CANCEL_REQUEST);
	struct call c;
	ck_assert_int_eq(fe_feed(fe, m, 20, &c), 0);
	ck_assert_uint_ne(c.res.action, LMS_ACT_CANCEL);
	assert_refused(&c, "0A000");
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_startup)
{
	void *fe = fe_make(0, 0);
	uint8_t m[256];
	size_t n = build_startup(m, sizeof(m), PG_PROTOCOL_3, 1, "user", "alice", "database", "sales",
				 "application_name", "psql", NULL);
	struct call c;
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	ck_assert_uint_eq(c.res.verdict, LMS_DROP);
	ck_assert_uint_eq(c.res.action, LMS_ACT_CONNECT);
	ck_assert_str_eq(c.res.startup.family, "pgwire");
	ck_assert_str_eq(c.res.startup.user, "alice");
	ck_assert_str_eq(c.res.startup.database, "sales");
	ck_assert_ptr_eq(c.res.startup.raw, m);
	ck_assert_uint_eq(c.res.startup.raw_len, n);
	/* Now typed messages: a query frames as such, decode refuses. */
	uint8_t q[32];
	size_t qn = build_typed(q, 'Q', "select 1", 9);
	call_reset(&c);
	ck_assert_int_eq(pg_fe_frame(fe, q, qn, &c.f), LMS_FRAME_OK);
	ck_assert_uint_eq(c.f.kind, LMS_MSG_QUERY);
	ck_assert_int_eq(pg_fe_decode(fe, q, qn, &c.out, &c.res), -1);
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_startup_database_defaults_to_user)
{
	void *fe = fe_make(0, 0);
	uint8_t m[128];
	size_t n = build_startup(m, sizeof(m), PG_PROTOCOL_3, 1, "user", "bob", NULL);
	struct call c;
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_CONNECT);
	ck_assert_str_eq(c.res.startup.user, "bob");
	ck_assert_str_eq(c.res.startup.database, "bob");
	pg_fe_free(fe);
}
END_TEST

/* Known bug: an empty parameter value (legal; PostgreSQL accepts it) is
 * taken for the end of the list, so the packet is refused as malformed. */
START_TEST(test_regression_fe_startup_empty_value)
{
	void *fe = fe_make(0, 0);
	uint8_t m[128];
	size_t n = build_startup(m, sizeof(m), PG_PROTOCOL_3, 1, "database", "", "user", "carol", NULL);
	struct call c;
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_CONNECT);
	ck_assert_str_eq(c.res.startup.database, "carol");
	pg_fe_free(fe);

	fe = fe_make(0, 0);
	n = build_startup(m, sizeof(m), PG_PROTOCOL_3, 1, "user", "", NULL);
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	assert_refused(&c, "28000"); /* no user name, as PostgreSQL says */
	pg_fe_free(fe);
}
END_TEST

/* A TLS client, a database that offered SCRAM-SHA-256-PLUS (withheld by
 * the backend side): a SASLInitialResponse with gs2 flag 'y' gets a clear
 * refusal; 'n' is forwarded untouched. */
static size_t sasl_initial(uint8_t *m, char flag)
{
	const char mech[] = "SCRAM-SHA-256";
	char data[64];
	int dl = snprintf(data, sizeof(data), "%c,,n=,r=abcdefgh", flag);
	size_t n = 5;
	memcpy(m + n, mech, sizeof(mech));
	n += sizeof(mech);
	n += put32(m + n, (uint32_t)dl);
	memcpy(m + n, data, (size_t)dl);
	n += (size_t)dl;
	m[0] = 'p';
	put32(m + 1, (uint32_t)(n - 1));
	return n;
}

START_TEST(test_fe_sasl_channel_binding_refused)
{
	uint8_t m[128], su[128];
	struct call c;
	for (int flag = 0; flag < 2; flag++) {
		void *fe = fe_make(1, 1);
		pg_fe_tls_done(fe);
		size_t sn = build_startup(su, sizeof(su), PG_PROTOCOL_3, 1, "user", "app", NULL);
		ck_assert_int_eq(fe_feed(fe, su, sn, &c), 0);
		pg_fe_note_plus_withheld(fe);
		size_t n = sasl_initial(m, flag ? 'y' : 'n');
		call_reset(&c);
		ck_assert_int_eq(pg_fe_frame(fe, m, n, &c.f), LMS_FRAME_OK);
		ck_assert(c.f.flags & LMS_FRAME_NEED_BODY);
		ck_assert_int_eq(pg_fe_decode(fe, m, n, &c.out, &c.res), 0);
		if (flag) {
			assert_refused(&c, "28000");
		} else {
			ck_assert_uint_eq(c.res.verdict, LMS_FORWARD);
			ck_assert_uint_eq(c.res.action, LMS_ACT_NONE);
		}
		/* Only the first SASL message is looked at. */
		call_reset(&c);
		ck_assert_int_eq(pg_fe_frame(fe, m, n, &c.f), LMS_FRAME_OK);
		ck_assert(!(c.f.flags & LMS_FRAME_NEED_BODY));
		pg_fe_free(fe);
	}
}
END_TEST

START_TEST(test_fe_startup_minor_version)
{
	/* Protocol 3.2 (newer libpq) is still protocol 3: accepted. */
	void *fe = fe_make(0, 0);
	uint8_t m[128];
	size_t n = build_startup(m, sizeof(m), PG_PROTOCOL_3 + 2, 1, "user", "dave",
				 "_pq_.frob", "1", "database", "db1", NULL);
	struct call c;
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_CONNECT);
	/* The proxy answers as a 3.0 server: NegotiateProtocolVersion with
	 * minor 0 and the one option it ignores ... */
	ck_assert_uint_eq(c.res.verdict, LMS_REPLY);
	ck_assert_uint_eq(c.out.data[0], 'v');
	ck_assert_uint_eq(pg_get32(c.out.data + 1), c.out.len - 1);
	ck_assert_uint_eq(pg_get32(c.out.data + 5), 0);
	ck_assert_uint_eq(pg_get32(c.out.data + 9), 1);
	ck_assert_str_eq((const char *)c.out.data + 13, "_pq_.frob");
	/* ... and hands the database a 3.0 startup without it. */
	const uint8_t *r = c.res.startup.raw;
	ck_assert_uint_eq(pg_get32(r), c.res.startup.raw_len);
	ck_assert_uint_eq(pg_get32(r + 4), PG_PROTOCOL_3);
	uint8_t want[128];
	size_t wn = build_startup(want, sizeof(want), PG_PROTOCOL_3, 1, "user", "dave", "database", "db1", NULL);
	ck_assert_uint_eq(wn, c.res.startup.raw_len);
	ck_assert_int_eq(memcmp(want, r, wn), 0);
	ck_assert_str_eq(c.res.startup.database, "db1");
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_startup_no_user)
{
	void *fe = fe_make(0, 0);
	uint8_t m[128];
	size_t n = build_startup(m, sizeof(m), PG_PROTOCOL_3, 1, "database", "x", NULL);
	struct call c;
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	assert_refused(&c, "28000");
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_tls_required)
{
	void *fe = fe_make(1, 1);
	uint8_t m[128];
	size_t n = build_startup(m, sizeof(m), PG_PROTOCOL_3, 1, "user", "alice", NULL);
	struct call c;
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	assert_refused(&c, "28000");
	struct pg_err e;
	parse_error(c.out.data, c.out.len, &e);
	ck_assert_ptr_nonnull(strstr(e.m, "sslmode=require"));
	ck_assert_uint_eq(e.fields, 5); /* S V C M H */
	pg_fe_free(fe);

	/* The same client over TLS is let in. */
	fe = fe_make(1, 1);
	ck_assert_int_eq(fe_feed(fe, ssl_request, 8, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_START_TLS);
	pg_fe_tls_done(fe);
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_CONNECT);
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_startup_malformed)
{
	uint8_t m[128];
	struct call c;
	/* No final terminator. */
	void *fe = fe_make(0, 0);
	size_t n = build_startup(m, sizeof(m), PG_PROTOCOL_3, 0, "user", "alice", NULL);
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	assert_refused(&c, "08P01");
	pg_fe_free(fe);
	/* Odd number of strings: a key without its value. */
	fe = fe_make(0, 0);
	n = build_startup(m, sizeof(m), PG_PROTOCOL_3, 1, "user", "alice", "database", NULL);
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	assert_refused(&c, "08P01");
	pg_fe_free(fe);
	/* Last string not NUL-terminated. */
	fe = fe_make(0, 0);
	n = build_startup(m, sizeof(m), PG_PROTOCOL_3, 0, "user", "alice", NULL);
	m[n - 1] = 'x';
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	assert_refused(&c, "08P01");
	pg_fe_free(fe);
	/* Only the code, no parameters at all. */
	fe = fe_make(0, 0);
	n = build_startup(m, sizeof(m), PG_PROTOCOL_3, 0, NULL);
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	assert_refused(&c, "08P01");
	pg_fe_free(fe);
	/* Bytes after the terminator. */
	fe = fe_make(0, 0);
	n = build_startup(m, sizeof(m), PG_PROTOCOL_3, 1, "user", "alice", NULL);
	m[n] = 'z';
	m[n + 1] = 0;
	put32(m, (uint32_t)(n + 2));
	ck_assert_int_eq(fe_feed(fe, m, n + 2, &c), 0);
	assert_refused(&c, "08P01");
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_unsupported_protocol)
{
	void *fe = fe_make(0, 0);
	uint8_t m[128];
	size_t n = build_startup(m, sizeof(m), 2u << 16, 1, "user", "alice", NULL);
	struct call c;
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	assert_refused(&c, "0A000");
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_startup_length_limits)
{
	void *fe = fe_make(0, 0);
	uint8_t m[8] = { 0 };
	struct lms_frame f;
	for (uint32_t len = 0; len < 8; len++) {
		put32(m, len);
		ck_assert_int_eq(pg_fe_frame(fe, m, sizeof(m), &f), LMS_FRAME_INVALID);
	}
	put32(m, 8);
	ck_assert_int_eq(pg_fe_frame(fe, m, sizeof(m), &f), LMS_FRAME_OK);
	put32(m, PG_MAX_STARTUP);
	ck_assert_int_eq(pg_fe_frame(fe, m, sizeof(m), &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.len, PG_MAX_STARTUP);
	ck_assert_uint_le(f.len, LMS_DECODE_MAX);
	const uint32_t big[] = { PG_MAX_STARTUP + 1, 10000000u, 0x80000000u, 0xffffffffu };
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		put32(m, big[i]);
		ck_assert_int_eq(pg_fe_frame(fe, m, sizeof(m), &f), LMS_FRAME_INVALID);
	}
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_decode_too_short)
{
	void *fe = fe_make(0, 0);
	struct call c;
	call_reset(&c);
	ck_assert_int_eq(pg_fe_decode(fe, ssl_request, 7, &c.out, &c.res), -1);
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_startup_split_points)
{
	void *fe = fe_make(0, 0);
	struct lms_frame f;
	for (size_t avail = 0; avail < 4; avail++)
		ck_assert_int_eq(pg_fe_frame(fe, ssl_request, avail, &f), LMS_FRAME_NEED_MORE);
	for (size_t avail = 4; avail <= 8; avail++) {
		ck_assert_int_eq(pg_fe_frame(fe, ssl_request, avail, &f), LMS_FRAME_OK);
		ck_assert_uint_eq(f.len, 8);
	}
	pg_fe_free(fe);
}
END_TEST

/* A frontend already past its startup. */
static void *fe_typed(void)
{
	void *fe = fe_make(0, 0);
	uint8_t m[64];
	size_t n = build_startup(m, sizeof(m), PG_PROTOCOL_3, 1, "user", "u", NULL);
	struct call c;
	ck_assert_int_eq(fe_feed(fe, m, n, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_CONNECT);
	return fe;
}

START_TEST(test_fe_typed_split_points)
{
	void *fe = fe_typed();
	uint8_t q[32];
	size_t n = build_typed(q, 'Q', "select 1", 9);
	struct lms_frame f;
	for (size_t avail = 0; avail < 5; avail++)
		ck_assert_int_eq(pg_fe_frame(fe, q, avail, &f), LMS_FRAME_NEED_MORE);
	for (size_t avail = 5; avail <= n; avail++) {
		ck_assert_int_eq(pg_fe_frame(fe, q, avail, &f), LMS_FRAME_OK);
		ck_assert_uint_eq(f.len, n);
	}
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_typed_kinds)
{
	static const struct {
		uint8_t type;
		uint32_t kind, flags;
	} cases[] = {
		{ 'Q', LMS_MSG_QUERY, LMS_FRAME_ENDS_REQUEST },
		{ 'F', LMS_MSG_QUERY, LMS_FRAME_ENDS_REQUEST },
		{ 'S', LMS_MSG_SYNC, LMS_FRAME_ENDS_REQUEST },
		{ 'P', LMS_MSG_EXTENDED, 0 }, { 'B', LMS_MSG_EXTENDED, 0 },
		{ 'D', LMS_MSG_EXTENDED, 0 }, { 'E', LMS_MSG_EXTENDED, 0 },
		{ 'C', LMS_MSG_EXTENDED, 0 }, { 'H', LMS_MSG_EXTENDED, 0 },
		{ 'd', LMS_MSG_COPY, 0 }, { 'c', LMS_MSG_COPY, 0 }, { 'f', LMS_MSG_COPY, 0 },
		{ 'X', LMS_MSG_TERMINATE, 0 }, { 'p', LMS_MSG_AUTH, 0 },
		{ 'z', LMS_MSG_OTHER, 0 }, { 0, LMS_MSG_OTHER, 0 },
	};
	void *fe = fe_typed();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t m[16];
		size_t n = build_typed(m, cases[i].type, "abc", 3);
		struct lms_frame f = { .len = 0, .kind = 99, .flags = 99 };
		ck_assert_int_eq(pg_fe_frame(fe, m, n, &f), LMS_FRAME_OK);
		ck_assert_msg(f.kind == cases[i].kind && f.flags == cases[i].flags,
			      "type %c: kind %u flags %u", cases[i].type, f.kind, f.flags);
		ck_assert_uint_eq(f.len, 8);
		/* The header alone is enough: typed messages stream. */
		ck_assert_int_eq(pg_fe_frame(fe, m, 5, &f), LMS_FRAME_OK);
		ck_assert_uint_eq(f.flags & LMS_FRAME_NEED_BODY, 0);
	}
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_typed_lengths)
{
	void *fe = fe_typed();
	uint8_t m[5] = { 'Q', 0, 0, 0, 0 };
	struct lms_frame f;
	for (uint32_t len = 0; len < 4; len++) {
		put32(m + 1, len);
		ck_assert_int_eq(pg_fe_frame(fe, m, 5, &f), LMS_FRAME_INVALID);
	}
	put32(m + 1, 4);
	ck_assert_int_eq(pg_fe_frame(fe, m, 5, &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.len, 5);
	put32(m + 1, 0x7fffffffu);
	ck_assert_int_eq(pg_fe_frame(fe, m, 5, &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.len, 0x80000000ull);
	put32(m + 1, 0x80000000u);
	ck_assert_int_eq(pg_fe_frame(fe, m, 5, &f), LMS_FRAME_INVALID);
	put32(m + 1, 0xffffffffu);
	ck_assert_int_eq(pg_fe_frame(fe, m, 5, &f), LMS_FRAME_INVALID);
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_error)
{
	void *fe = fe_make(0, 0);
	struct lms_error e = { "FATAL", "57P01", "terminating connection", "try again" };
	struct lms_out out;
	out.len = 0;
	ck_assert_int_eq(pg_fe_error(fe, &e, &out), 0);
	struct pg_err pe;
	parse_error(out.data, out.len, &pe);
	ck_assert_str_eq(pe.c, "57P01");
	ck_assert_str_eq(pe.h, "try again");
	pg_fe_free(fe);
}
END_TEST

/* ---- ErrorResponse ----------------------------------------------------- */

START_TEST(test_error_round_trip)
{
	struct lms_error e = { "ERROR", "42P01", "relation \"t\" does not exist", "create it first" };
	struct lms_out out;
	out.len = 0;
	ck_assert_int_eq(pg_error_response(&e, &out), 0);
	struct pg_err pe;
	parse_error(out.data, out.len, &pe);
	ck_assert_str_eq(pe.s, "ERROR");
	ck_assert_str_eq(pe.v, "ERROR");
	ck_assert_str_eq(pe.c, "42P01");
	ck_assert_str_eq(pe.m, "relation \"t\" does not exist");
	ck_assert_str_eq(pe.h, "create it first");
	ck_assert_uint_eq(pe.fields, 5);
	/* 'E' len | S ERROR | V ERROR | C 42P01 | M ... | H ... | 0 */
	size_t want = 5 + 7 + 7 + 7 + (2 + strlen(e.message)) + (2 + strlen(e.hint)) + 1;
	ck_assert_uint_eq(out.len, want);
}
END_TEST

START_TEST(test_error_no_hint_and_defaults)
{
	struct lms_error e = { NULL, NULL, NULL, NULL };
	struct lms_out out;
	out.len = 0;
	ck_assert_int_eq(pg_error_response(&e, &out), 0);
	struct pg_err pe;
	parse_error(out.data, out.len, &pe);
	ck_assert_uint_eq(pe.fields, 4);
	ck_assert_str_eq(pe.s, "ERROR");
	ck_assert_str_eq(pe.c, "XX000");
	ck_assert_str_eq(pe.h, "");
}
END_TEST

START_TEST(test_error_appends)
{
	/* Encoding appends after what out already holds. */
	struct lms_error e = { "ERROR", "08006", "one", NULL };
	struct lms_out out;
	out.len = 0;
	ck_assert_int_eq(pg_error_response(&e, &out), 0);
	size_t first = out.len;
	e.message = "two";
	ck_assert_int_eq(pg_error_response(&e, &out), 0);
	ck_assert_uint_eq(out.len, 2 * first);
	struct pg_err pe;
	parse_error(out.data + first, out.len - first, &pe);
	ck_assert_str_eq(pe.m, "two");
}
END_TEST

START_TEST(test_error_too_long)
{
	/* Fixed part: 5 + S 7 + V 7 + C 7 + M 2 + final 1 = 29 bytes. */
	size_t fit = LMS_OUT_MAX - 29;
	char *msg = malloc(LMS_OUT_MAX + 2);
	ck_assert_ptr_nonnull(msg);
	memset(msg, 'm', LMS_OUT_MAX + 1);
	struct lms_error e = { "ERROR", "54000", msg, NULL };
	struct lms_out out;

	msg[fit] = 0;
	out.len = 0;
	ck_assert_int_eq(pg_error_response(&e, &out), 0);
	ck_assert_uint_eq(out.len, LMS_OUT_MAX);
	ck_assert_uint_eq(pg_get32(out.data + 1), LMS_OUT_MAX - 1);

	msg[fit] = 'm';
	msg[fit + 1] = 0;
	out.len = 0;
	ck_assert_int_eq(pg_error_response(&e, &out), -1);
	ck_assert_uint_eq(out.len, 0);

	msg[LMS_OUT_MAX + 1] = 0;
	out.len = 100;
	ck_assert_int_eq(pg_error_response(&e, &out), -1);
	ck_assert_uint_eq(out.len, 100); /* left as it was */

	/* A long hint fails the same way. */
	e.message = "short";
	e.hint = msg;
	out.len = 0;
	ck_assert_int_eq(pg_error_response(&e, &out), -1);
	ck_assert_uint_eq(out.len, 0);

	/* No room for even the header. */
	e.hint = NULL;
	out.len = LMS_OUT_MAX - 5;
	ck_assert_int_eq(pg_error_response(&e, &out), -1);
	ck_assert_uint_eq(out.len, LMS_OUT_MAX - 5);
	free(msg);
}
END_TEST

/* ---- backend ---------------------------------------------------------- */

static struct lms_backend_conf be_conf;
static uint8_t client_startup[128];
static size_t client_startup_len;

static void *be_make(uint32_t tls_mode)
{
	memset(&be_conf, 0, sizeof(be_conf));
	be_conf.tls_mode = tls_mode;
	struct lms_be_opts o;
	memset(&o, 0, sizeof(o));
	o.conf = &be_conf;
	o.relay_auth = 1;
	memcpy(o.proxy_key, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	void *be = pg_be_new(&o);
	ck_assert_ptr_nonnull(be);
	return be;
}

static struct lms_startup client_start(void)
{
	client_startup_len = build_startup(client_startup, sizeof(client_startup), PG_PROTOCOL_3, 1,
					   "user", "alice", "database", "sales", NULL);
	struct lms_startup st = { "pgwire", "alice", "sales", client_startup, client_startup_len };
	return st;
}

/* Frame and decode one whole backend message. */
static int be_feed(void *be, const uint8_t *msg, size_t len, struct call *c)
{
	call_reset(c);
	ck_assert_int_eq(pg_be_frame(be, msg, len, &c->f), LMS_FRAME_OK);
	ck_assert_uint_eq(c->f.len, len);
	ck_assert(c->f.flags & LMS_FRAME_NEED_BODY);
	return pg_be_decode(be, msg, len, &c->out, &c->res);
}

/* A backend that has sent its startup and now reads typed messages. */
static void *be_typed(void)
{
	void *be = be_make(LMS_TLS_DISABLE);
	struct lms_startup st = client_start();
	struct call c;
	call_reset(&c);
	ck_assert_int_eq(pg_be_start(be, 0, &st, &c.out, &c.res), 0);
	return be;
}

START_TEST(test_be_start_disable)
{
	void *be = be_make(LMS_TLS_DISABLE);
	struct lms_startup st = client_start();
	struct call c;
	call_reset(&c);
	ck_assert_int_eq(pg_be_start(be, 0, &st, &c.out, &c.res), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_NONE);
	ck_assert_uint_eq(c.out.len, client_startup_len);
	ck_assert_mem_eq(c.out.data, client_startup, client_startup_len);
	/* Typed messages next. */
	uint8_t z[8];
	size_t n = build_typed(z, 'Z', "I", 1);
	ck_assert_int_eq(be_feed(be, z, n, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_READY);
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_start_prefer_accepted)
{
	void *be = be_make(LMS_TLS_PREFER);
	struct lms_startup st = client_start();
	struct call c;
	call_reset(&c);
	ck_assert_int_eq(pg_be_start(be, 0, &st, &c.out, &c.res), 0);
	ck_assert_uint_eq(c.out.len, 8);
	ck_assert_mem_eq(c.out.data, ssl_request, 8);
	/* The one-byte answer: nothing until it arrives. */
	ck_assert_int_eq(pg_be_frame(be, (const uint8_t *)"S", 0, &c.f), LMS_FRAME_NEED_MORE);
	ck_assert_int_eq(be_feed(be, (const uint8_t *)"S", 1, &c), 0);
	ck_assert_uint_eq(c.f.len, 1);
	ck_assert_uint_eq(c.res.action, LMS_ACT_START_TLS);
	ck_assert_uint_ne(c.res.verdict, LMS_FORWARD);
	/* TLS up: now the client's startup goes. */
	call_reset(&c);
	ck_assert_int_eq(pg_be_start(be, 1, &st, &c.out, &c.res), 0);
	ck_assert_uint_ne(c.res.action, LMS_ACT_FAIL);
	ck_assert_uint_eq(c.out.len, client_startup_len);
	ck_assert_mem_eq(c.out.data, client_startup, client_startup_len);
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_start_prefer_refused)
{
	void *be = be_make(LMS_TLS_PREFER);
	struct lms_startup st = client_start();
	struct call c;
	call_reset(&c);
	ck_assert_int_eq(pg_be_start(be, 0, &st, &c.out, &c.res), 0);
	ck_assert_int_eq(be_feed(be, (const uint8_t *)"N", 1, &c), 0);
	ck_assert_uint_eq(c.res.verdict, LMS_REPLY);
	ck_assert_uint_eq(c.res.action, LMS_ACT_NONE);
	ck_assert_uint_eq(c.out.len, client_startup_len);
	ck_assert_mem_eq(c.out.data, client_startup, client_startup_len);
	/* And the login goes on in plain text. */
	uint8_t r[16];
	size_t n = build_typed(r, 'R', "\0\0\0\0", 4);
	ck_assert_int_eq(be_feed(be, r, n, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_AUTH_OK);
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_start_require_refused)
{
	const uint32_t modes[] = { LMS_TLS_REQUIRE, LMS_TLS_VERIFY_CA, LMS_TLS_VERIFY_FULL };
	for (size_t i = 0; i < 3; i++) {
		void *be = be_make(modes[i]);
		struct lms_startup st = client_start();
		struct call c;
		call_reset(&c);
		ck_assert_int_eq(pg_be_start(be, 0, &st, &c.out, &c.res), 0);
		ck_assert_uint_eq(c.out.len, 8);
		ck_assert_int_eq(be_feed(be, (const uint8_t *)"N", 1, &c), 0);
		ck_assert_uint_eq(c.res.action, LMS_ACT_FAIL);
		ck_assert_ptr_nonnull(c.res.error.message);
		ck_assert_ptr_nonnull(strstr(c.res.error.message, "sslmode"));
		ck_assert_uint_ne(c.res.verdict, LMS_FORWARD);
		pg_be_free(be);
	}
}
END_TEST

START_TEST(test_be_ssl_answer_garbage)
{
	void *be = be_make(LMS_TLS_PREFER);
	struct lms_startup st = client_start();
	struct call c;
	call_reset(&c);
	ck_assert_int_eq(pg_be_start(be, 0, &st, &c.out, &c.res), 0);
	/* An old server answers SSLRequest with an ErrorResponse. */
	ck_assert_int_eq(be_feed(be, (const uint8_t *)"E", 1, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_FAIL);
	call_reset(&c);
	ck_assert_int_eq(pg_be_decode(be, (const uint8_t *)"SS", 2, &c.out, &c.res), -1);
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_start_other_family)
{
	/* A client of another wire family: a startup is built from user and
	 * database. */
	void *be = be_make(LMS_TLS_DISABLE);
	struct lms_startup st = { "mysql", "erin", "shop", NULL, 0 };
	struct call c;
	call_reset(&c);
	ck_assert_int_eq(pg_be_start(be, 0, &st, &c.out, &c.res), 0);
	uint8_t want[128];
	size_t n = build_startup(want, sizeof(want), PG_PROTOCOL_3, 1, "user", "erin", "database", "shop",
				 "application_name", "molt-lms", NULL);
	ck_assert_uint_eq(c.out.len, n);
	ck_assert_mem_eq(c.out.data, want, n);
	pg_be_free(be);

	/* Our own login (relay_auth off) for a pgwire client: the URL's user,
	 * the client's database and its other parameters (none here; see
	 * check_pgwire_observe.c for the carry-over). */
	memset(&be_conf, 0, sizeof(be_conf));
	be_conf.user = "lms_admin";
	be_conf.database = "urldb";
	struct lms_be_opts o;
	memset(&o, 0, sizeof(o));
	o.conf = &be_conf;
	be = pg_be_new(&o);
	struct lms_startup pst = client_start();
	call_reset(&c);
	ck_assert_int_eq(pg_be_start(be, 0, &pst, &c.out, &c.res), 0);
	n = build_startup(want, sizeof(want), PG_PROTOCOL_3, 1, "user", "lms_admin", "database", pst.database,
			  NULL);
	ck_assert_uint_eq(c.out.len, n);
	ck_assert_mem_eq(c.out.data, want, n);
	pg_be_free(be);

	/* Parameters too long for a startup message: FAIL, not a crash. */
	be = be_make(LMS_TLS_DISABLE);
	char *longname = malloc(PG_MAX_STARTUP);
	ck_assert_ptr_nonnull(longname);
	memset(longname, 'u', PG_MAX_STARTUP - 1);
	longname[PG_MAX_STARTUP - 1] = 0;
	st.user = longname;
	call_reset(&c);
	pg_be_start(be, 0, &st, &c.out, &c.res);
	ck_assert_uint_eq(c.res.action, LMS_ACT_FAIL);
	ck_assert_ptr_nonnull(c.res.error.message);
	free(longname);
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_frame_before_start)
{
	void *be = be_make(LMS_TLS_DISABLE);
	uint8_t z[8];
	size_t n = build_typed(z, 'Z', "I", 1);
	struct lms_frame f;
	ck_assert_int_eq(pg_be_frame(be, z, n, &f), LMS_FRAME_INVALID);
	pg_be_free(be);
}
END_TEST

/* An AuthenticationSASL message listing the given mechanisms. */
static size_t build_sasl(uint8_t *buf, size_t cap, const char *const *mechs, size_t nmechs)
{
	uint8_t body[512];
	size_t n = put32(body, 10);
	for (size_t i = 0; i < nmechs; i++) {
		size_t l = strlen(mechs[i]) + 1;
		memcpy(body + n, mechs[i], l);
		n += l;
	}
	body[n++] = 0;
	ck_assert_uint_le(n + 5, cap);
	return build_typed(buf, 'R', body, n);
}

START_TEST(test_be_sasl_plus_removed)
{
	void *be = be_typed();
	const char *mechs[] = { "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256" };
	uint8_t m[128];
	size_t n = build_sasl(m, sizeof(m), mechs, 2);
	struct call c;
	ck_assert_int_eq(be_feed(be, m, n, &c), 0);
	ck_assert_uint_eq(c.f.kind, LMS_MSG_AUTH_REQUEST);
	ck_assert_uint_eq(c.res.verdict, LMS_REWRITE);
	const char *plain[] = { "SCRAM-SHA-256" };
	uint8_t want[64];
	size_t wn = build_sasl(want, sizeof(want), plain, 1);
	ck_assert_uint_eq(c.out.len, wn);
	ck_assert_mem_eq(c.out.data, want, wn);
	ck_assert_uint_eq(pg_get32(c.out.data + 1), c.out.len - 1);
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_sasl_plain_untouched)
{
	void *be = be_typed();
	const char *mechs[] = { "SCRAM-SHA-256" };
	uint8_t m[64];
	size_t n = build_sasl(m, sizeof(m), mechs, 1);
	struct call c;
	ck_assert_int_eq(be_feed(be, m, n, &c), 0);
	ck_assert_uint_ne(c.res.action, LMS_ACT_FAIL);
	if (c.res.verdict == LMS_REWRITE) {
		ck_assert_uint_eq(c.out.len, n);
		ck_assert_mem_eq(c.out.data, m, n);
	} else {
		ck_assert_uint_eq(c.res.verdict, LMS_FORWARD);
	}
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_sasl_only_plus)
{
	void *be = be_typed();
	const char *mechs[] = { "SCRAM-SHA-256-PLUS" };
	uint8_t m[64];
	size_t n = build_sasl(m, sizeof(m), mechs, 1);
	struct call c;
	ck_assert_int_eq(be_feed(be, m, n, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_FAIL);
	ck_assert_ptr_nonnull(c.res.error.message);
	ck_assert_uint_ne(c.res.verdict, LMS_FORWARD);
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_sasl_truncated)
{
	void *be = be_typed();
	const char *mechs[] = { "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256" };
	uint8_t m[128];
	size_t n = build_sasl(m, sizeof(m), mechs, 2);
	struct call c;
	/* Without the list's final NUL, then cut inside a name, then no list. */
	const size_t cuts[] = { n - 1, n - 5, 9 };
	for (size_t i = 0; i < 3; i++) {
		put32(m + 1, (uint32_t)(cuts[i] - 1));
		ck_assert_int_eq(be_feed(be, m, cuts[i], &c), -1);
	}
	/* Shorter than the auth code. */
	uint8_t s[8];
	size_t sn = build_typed(s, 'R', "\0\0", 2);
	ck_assert_int_eq(be_feed(be, s, sn, &c), -1);
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_auth_codes)
{
	void *be = be_typed();
	struct call c;
	uint8_t m[32];
	const uint32_t relayed[] = { 3, 11, 12 };
	for (size_t i = 0; i < 3; i++) {
		uint8_t body[8];
		put32(body, relayed[i]);
		size_t n = build_typed(m, 'R', body, 4);
		ck_assert_int_eq(be_feed(be, m, n, &c), 0);
		ck_assert_uint_eq(c.res.verdict, LMS_FORWARD);
		ck_assert_uint_eq(c.res.action, LMS_ACT_NONE);
	}
	size_t n = build_typed(m, 'R', "\0\0\0\5salt", 8); /* md5 with salt */
	ck_assert_int_eq(be_feed(be, m, n, &c), 0);
	ck_assert_uint_eq(c.res.verdict, LMS_FORWARD);
	const uint32_t refused[] = { 2, 7, 9 }; /* Kerberos, GSSAPI, SSPI */
	for (size_t i = 0; i < 3; i++) {
		uint8_t body[8];
		put32(body, refused[i]);
		n = build_typed(m, 'R', body, 4);
		ck_assert_int_eq(be_feed(be, m, n, &c), 0);
		ck_assert_uint_eq(c.res.action, LMS_ACT_FAIL);
		ck_assert_ptr_nonnull(c.res.error.message);
	}
	n = build_typed(m, 'R', "\0\0\0\0", 4);
	ck_assert_int_eq(be_feed(be, m, n, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_AUTH_OK);
	ck_assert_uint_eq(c.res.verdict, LMS_FORWARD);
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_auth_too_big)
{
	void *be = be_typed();
	uint8_t m[5] = { 'R' };
	put32(m + 1, LMS_DECODE_MAX);
	struct lms_frame f;
	ck_assert_int_eq(pg_be_frame(be, m, 5, &f), LMS_FRAME_INVALID);
	put32(m + 1, LMS_DECODE_MAX - 1);
	ck_assert_int_eq(pg_be_frame(be, m, 5, &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.len, LMS_DECODE_MAX);
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_backend_key)
{
	void *be = be_typed();
	uint8_t m[16];
	size_t n = build_typed(m, 'K', "\x00\x00\x30\x39\xde\xad\xbe\xef", 8);
	struct call c;
	ck_assert_int_eq(be_feed(be, m, n, &c), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_BACKEND_KEY);
	ck_assert_uint_eq(c.res.verdict, LMS_REWRITE);
	ck_assert_uint_eq(c.res.key_len, 8);
	ck_assert_mem_eq(c.res.key, "\x00\x00\x30\x39\xde\xad\xbe\xef", 8);
	ck_assert_uint_eq(c.out.len, 13);
	ck_assert_mem_eq(c.out.data, m, 5);
	ck_assert_mem_eq(c.out.data + 5, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	/* Wrong length. */
	n = build_typed(m, 'K', "\1\2\3\4\5\6\7", 7);
	ck_assert_int_eq(be_feed(be, m, n, &c), -1);
	/* Too long to even decode. */
	put32(m + 1, 100);
	ck_assert_int_eq(pg_be_frame(be, m, 5, &c.f), LMS_FRAME_INVALID);
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_ready_for_query)
{
	static const struct {
		char status;
		uint32_t txn;
	} cases[] = { { 'I', LMS_TXN_IDLE }, { 'T', LMS_TXN_OPEN }, { 'E', LMS_TXN_FAILED } };
	void *be = be_typed();
	struct call c;
	uint8_t m[8];
	for (size_t i = 0; i < 3; i++) {
		size_t n = build_typed(m, 'Z', &cases[i].status, 1);
		ck_assert_int_eq(be_feed(be, m, n, &c), 0);
		ck_assert_uint_eq(c.f.kind, LMS_MSG_READY);
		ck_assert_uint_eq(c.res.action, LMS_ACT_READY);
		ck_assert_uint_eq(c.res.verdict, LMS_FORWARD);
		ck_assert_uint_eq(c.res.txn, cases[i].txn);
	}
	size_t n = build_typed(m, 'Z', "X", 1);
	ck_assert_int_eq(be_feed(be, m, n, &c), -1);
	n = build_typed(m, 'Z', "II", 2);
	ck_assert_int_eq(be_feed(be, m, n, &c), -1);
	n = build_typed(m, 'Z', "", 0);
	ck_assert_int_eq(be_feed(be, m, n, &c), -1);
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_typed_kinds)
{
	static const struct {
		uint8_t type;
		uint32_t kind;
	} cases[] = {
		{ 'D', LMS_MSG_ROW }, { 'C', LMS_MSG_COMPLETE }, { 'E', LMS_MSG_ERROR },
		{ 'N', LMS_MSG_NOTICE }, { 'A', LMS_MSG_ASYNC }, { 'S', LMS_MSG_ASYNC },
		{ 'T', LMS_MSG_OTHER }, { '1', LMS_MSG_OTHER },
	};
	void *be = be_typed();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t m[16];
		size_t n = build_typed(m, cases[i].type, "abcd", 4);
		struct lms_frame f;
		ck_assert_int_eq(pg_be_frame(be, m, 5, &f), LMS_FRAME_OK);
		ck_assert_uint_eq(f.len, n);
		ck_assert_uint_eq(f.kind, cases[i].kind);
		ck_assert_uint_eq(f.flags, 0);
	}
	uint8_t m[5] = { 'D' };
	struct lms_frame f;
	for (size_t avail = 0; avail < 5; avail++)
		ck_assert_int_eq(pg_be_frame(be, m, avail, &f), LMS_FRAME_NEED_MORE);
	put32(m + 1, 3);
	ck_assert_int_eq(pg_be_frame(be, m, 5, &f), LMS_FRAME_INVALID);
	put32(m + 1, 0x80000000u);
	ck_assert_int_eq(pg_be_frame(be, m, 5, &f), LMS_FRAME_INVALID);
	pg_be_free(be);
}
END_TEST

START_TEST(test_be_cancel)
{
	struct lms_out out;
	out.len = 0;
	const uint8_t key[8] = { 0, 0, 0x30, 0x39, 0xde, 0xad, 0xbe, 0xef };
	ck_assert_int_eq(pg_be_cancel(key, 8, &out), 0);
	ck_assert_uint_eq(out.len, 16);
	ck_assert_uint_eq(pg_get32(out.data), 16);
	ck_assert_uint_eq(pg_get32(out.data + 4), PG_CANCEL_REQUEST);
	ck_assert_mem_eq(out.data + 8, key, 8);
	ck_assert_int_eq(pg_be_cancel(key, 4, &out), -1);
	ck_assert_int_eq(pg_be_cancel(key, LMS_KEY_MAX, &out), -1);
}
END_TEST

/* ---- connection URLs -------------------------------------------------- */

static void conf_free(struct lms_backend_conf *c)
{
	char **fields[] = { &c->host, &c->port, &c->user, &c->password, &c->database,
			    &c->tls_root_cert, &c->tls_cert, &c->tls_key };
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		free(*fields[i]);
		*fields[i] = NULL;
	}
}

static char url_err[512];

static int parse(const char *url, struct lms_backend_conf *conf)
{
	url_err[0] = 0;
	return pg_parse_url(url, conf, url_err, sizeof(url_err));
}

START_TEST(test_url_full)
{
	struct lms_backend_conf c;
	ck_assert_int_eq(parse("postgresql://alice:s%40cret@db.example.com:6543/sales?sslmode=verify-full"
			       "&sslrootcert=/etc/ca.crt&sslcert=/etc/client.crt&sslkey=/etc/client.key", &c), 0);
	ck_assert_str_eq(c.host, "db.example.com");
	ck_assert_str_eq(c.port, "6543");
	ck_assert_str_eq(c.user, "alice");
	ck_assert_str_eq(c.password, "s@cret");
	ck_assert_str_eq(c.database, "sales");
	ck_assert_uint_eq(c.tls_mode, LMS_TLS_VERIFY_FULL);
	ck_assert_str_eq(c.tls_root_cert, "/etc/ca.crt");
	ck_assert_str_eq(c.tls_cert, "/etc/client.crt");
	ck_assert_str_eq(c.tls_key, "/etc/client.key");
	conf_free(&c);
}
END_TEST

START_TEST(test_url_defaults)
{
	struct lms_backend_conf c;
	ck_assert_int_eq(parse("postgres://db.example.com", &c), 0);
	ck_assert_str_eq(c.host, "db.example.com");
	ck_assert_str_eq(c.port, "5432");
	ck_assert_uint_eq(c.tls_mode, LMS_TLS_PREFER);
	ck_assert_ptr_null(c.user);
	ck_assert_ptr_null(c.password);
	ck_assert_ptr_null(c.database);
	ck_assert_ptr_null(c.tls_root_cert);
	conf_free(&c);

	ck_assert_int_eq(parse("postgresql://", &c), 0);
	ck_assert_str_eq(c.host, "localhost");
	ck_assert_str_eq(c.port, "5432");
	conf_free(&c);

	ck_assert_int_eq(parse("postgresql://[::1]:7000/x", &c), 0);
	ck_assert_str_eq(c.host, "::1");
	ck_assert_str_eq(c.port, "7000");
	conf_free(&c);
}
END_TEST

START_TEST(test_url_sslmodes)
{
	static const struct {
		const char *name;
		uint32_t mode;
	} modes[] = {
		{ "disable", LMS_TLS_DISABLE }, { "allow", LMS_TLS_PREFER }, { "prefer", LMS_TLS_PREFER },
		{ "require", LMS_TLS_REQUIRE }, { "verify-ca", LMS_TLS_VERIFY_CA },
		{ "verify-full", LMS_TLS_VERIFY_FULL },
	};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char url[128];
		snprintf(url, sizeof(url), "postgresql://h/db?sslmode=%s", modes[i].name);
		struct lms_backend_conf c;
		ck_assert_int_eq(parse(url, &c), 0);
		ck_assert_uint_eq(c.tls_mode, modes[i].mode);
		conf_free(&c);
	}
}
END_TEST

START_TEST(test_url_bad_sslmode)
{
	struct lms_backend_conf c;
	ck_assert_int_eq(parse("postgresql://u:hunter2@h/db?sslmode=always", &c), -1);
	ck_assert_ptr_nonnull(strstr(url_err, "'always'"));
	ck_assert_ptr_nonnull(strstr(url_err, "disable|prefer|require|verify-ca|verify-full"));
	ck_assert_ptr_null(strstr(url_err, "hunter2"));
	conf_free(&c);
}
END_TEST

START_TEST(test_url_multi_host)
{
	struct lms_backend_conf c;
	ck_assert_int_eq(parse("postgresql://u:pw@h1:5432,h2:5433/db", &c), -1);
	ck_assert_ptr_nonnull(strstr(url_err, "one host"));
	conf_free(&c);
	ck_assert_int_eq(parse("postgresql://u@/db?host=h1,h2", &c), -1);
	ck_assert_ptr_nonnull(strstr(url_err, "one host"));
	conf_free(&c);
}
END_TEST

START_TEST(test_url_not_a_url)
{
	struct lms_backend_conf c;
	ck_assert_int_eq(parse("host=h user=u password=hunter2", &c), -1);
	ck_assert_ptr_nonnull(strstr(url_err, "postgresql://"));
	ck_assert_ptr_null(strstr(url_err, "hunter2"));
	conf_free(&c);
	ck_assert_int_eq(parse("mysql://u@h/db", &c), -1);
	conf_free(&c);
}
END_TEST

START_TEST(test_url_no_password_in_errors)
{
	static const char *const urls[] = {
		"postgresql://bob:hunt%zzer2@host/db",            /* bad escape in the password */
		"postgresql://bob:hunter2@host/db?sslmode=%zz",   /* bad escape elsewhere */
		"postgresql://bob:hunter2@host/db%",              /* truncated escape */
		"postgresql://bob:hunt%00er2@host/db",            /* forbidden %00 */
		"postgresql://bob:hunter2@[::1/db",               /* unterminated IPv6 host */
		"postgresql://bob:hunter2@host/db?sslmode",       /* missing '=' */
		"postgresql://bob:hunter2@host/db?bogus=1",       /* unknown parameter */
	};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct lms_backend_conf c;
		ck_assert_int_eq(parse(urls[i], &c), -1);
		ck_assert_msg(url_err[0] != 0, "no message for %s", urls[i]);
		ck_assert_msg(strstr(url_err, "hunt") == NULL && strstr(url_err, "er2") == NULL,
			      "password leaked for %s: %s", urls[i], url_err);
		conf_free(&c);
	}
}
END_TEST

/* Known bug: a literal '"' in the password ends the redaction early. */
START_TEST(test_regression_url_quote_in_password)
{
	struct lms_backend_conf c;
	ck_assert_int_eq(parse("postgresql://bob:hun\"ter%zz2@host/db", &c), -1);
	ck_assert_msg(strstr(url_err, "ter%zz2") == NULL, "password leaked: %s", url_err);
	conf_free(&c);
}
END_TEST

START_TEST(test_url_small_error_buffer)
{
	struct lms_backend_conf c;
	char small[16];
	memset(small, 'x', sizeof(small));
	ck_assert_int_eq(pg_parse_url("postgresql://bob:hunt%zzer2@host/db", &c, small, sizeof(small)), -1);
	ck_assert_ptr_nonnull(memchr(small, 0, sizeof(small)));
	ck_assert_ptr_null(strstr(small, "hunt"));
	conf_free(&c);
}
END_TEST

/* ---- the dialect table ------------------------------------------------- */

START_TEST(test_dialect_fill)
{
	struct lms_dialect d;
	pg_dialect_fill(&d, "postgres");
	ck_assert_uint_eq(d.abi_major, LMS_PLUGIN_ABI_MAJOR);
	ck_assert_uint_eq(d.size, sizeof(d));
	ck_assert_str_eq(d.name, "postgres");
	ck_assert_str_eq(d.family, "pgwire");
	ck_assert_ptr_nonnull(d.version);
	ck_assert(d.parse_url == pg_parse_url && d.fe_frame == pg_fe_frame && d.be_decode == pg_be_decode);
	for (size_t i = 0; i < sizeof(d.reserved) / sizeof(d.reserved[0]); i++)
		ck_assert_ptr_null(d.reserved[i]);
}
END_TEST

static Suite *pgwire_suite(void)
{
	Suite *s = suite_create("pgwire");
	TCase *fe = tcase_create("frontend");
	tcase_add_checked_fixture(fe, setup, NULL);
	tcase_add_test(fe, test_fe_accept);
	tcase_add_test(fe, test_fe_ssl_request_with_tls);
	tcase_add_test(fe, test_fe_ssl_request_without_tls);
	tcase_add_test(fe, test_fe_gssenc_request);
	tcase_add_test(fe, test_fe_cancel_request);
	tcase_add_test(fe, test_fe_cancel_wrong_length);
	tcase_add_test(fe, test_fe_startup);
	tcase_add_test(fe, test_fe_startup_database_defaults_to_user);
	tcase_add_test(fe, test_fe_startup_minor_version);
	tcase_add_test(fe, test_fe_startup_no_user);
	tcase_add_test(fe, test_fe_tls_required);
	tcase_add_test(fe, test_fe_startup_malformed);
	tcase_add_test(fe, test_fe_unsupported_protocol);
	tcase_add_test(fe, test_fe_startup_length_limits);
	tcase_add_test(fe, test_fe_decode_too_short);
	tcase_add_test(fe, test_fe_startup_split_points);
	tcase_add_test(fe, test_fe_typed_split_points);
	tcase_add_test(fe, test_fe_typed_kinds);
	tcase_add_test(fe, test_fe_typed_lengths);
	tcase_add_test(fe, test_fe_error);
	suite_add_tcase(s, fe);

	TCase *err = tcase_create("error_response");
	tcase_add_test(err, test_error_round_trip);
	tcase_add_test(err, test_error_no_hint_and_defaults);
	tcase_add_test(err, test_error_appends);
	tcase_add_test(err, test_error_too_long);
	suite_add_tcase(s, err);

	TCase *be = tcase_create("backend");
	tcase_add_checked_fixture(be, setup, NULL);
	tcase_add_test(be, test_be_start_disable);
	tcase_add_test(be, test_be_start_prefer_accepted);
	tcase_add_test(be, test_be_start_prefer_refused);
	tcase_add_test(be, test_be_start_require_refused);
	tcase_add_test(be, test_be_ssl_answer_garbage);
	tcase_add_test(be, test_be_start_other_family);
	tcase_add_test(be, test_be_frame_before_start);
	tcase_add_test(be, test_be_sasl_plus_removed);
	tcase_add_test(be, test_be_sasl_plain_untouched);
	tcase_add_test(be, test_be_sasl_only_plus);
	tcase_add_test(be, test_be_sasl_truncated);
	tcase_add_test(be, test_be_auth_codes);
	tcase_add_test(be, test_be_auth_too_big);
	tcase_add_test(be, test_be_backend_key);
	tcase_add_test(be, test_be_ready_for_query);
	tcase_add_test(be, test_be_typed_kinds);
	tcase_add_test(be, test_be_cancel);
	suite_add_tcase(s, be);

	TCase *url = tcase_create("url");
	tcase_add_checked_fixture(url, setup, NULL);
	tcase_add_test(url, test_url_full);
	tcase_add_test(url, test_url_defaults);
	tcase_add_test(url, test_url_sslmodes);
	tcase_add_test(url, test_url_bad_sslmode);
	tcase_add_test(url, test_url_multi_host);
	tcase_add_test(url, test_url_not_a_url);
	tcase_add_test(url, test_url_no_password_in_errors);
	tcase_add_test(url, test_url_small_error_buffer);
	tcase_add_test(url, test_dialect_fill);
	suite_add_tcase(s, url);

	TCase *bugs = tcase_create("regressions");
	tcase_add_checked_fixture(bugs, setup, NULL);
	tcase_add_test(bugs, test_regression_url_quote_in_password);
	tcase_add_test(bugs, test_regression_fe_startup_empty_value);
	tcase_add_test(bugs, test_fe_sasl_channel_binding_refused);
	suite_add_tcase(s, bugs);
	return s;
}

int main(void)
{
	stub_host_echo = 1; /* show what the plugin logs */
	SRunner *sr = srunner_create(pgwire_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
