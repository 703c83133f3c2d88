/*
 * check_mysql_login.c - plugins/mysql/login.c: mysql_native_password
 * verification (vectors computed here with OpenSSL from a password, and
 * one MariaDB-produced PASSWORD('x')), and the own login driven through
 * the dialect table the way the core drives it (ABI 1.4): greeting,
 * HandshakeResponse, auth switch, fe_login_done, refusals and malformed
 * responses.  The host's credential_of is played by a small table.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "mysql.h"
#include "../common/stub_host.h"

/* MariaDB's SELECT PASSWORD('x') */
#define MARIADB_X "*B69027D44F6E5EDC07F1AEAD1477967B16F28227"

static int cred_mode; /* 0: the table below; -2: no copy */
static const char *last_ip;

static int fake_credential_of(const char *user, const char *ip, char *plugin, size_t pcap, char *verifier,
			      size_t vcap)
{
	static const char *const rows[][3] = {
		{ "app", "mysql_native_password", MARIADB_X },
		{ "ed", "ed25519", "Ip8Jx0q7Gx1eSa3u6qkOkJo6cCT0Q8rJ2Ky1C2T4hDk" },
		{ "nopw", "mysql_native_password", "" },
	};
	last_ip = ip;
	if (cred_mode == -2)
		return -2;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (strcmp(rows[i][0], user) != 0)
			continue;
		snprintf(plugin, pcap, "%s", rows[i][1]);
		snprintf(verifier, vcap, "%s", rows[i][2]);
		return 0;
	}
	return -1;
}

/* stub_host with the table above; filled in by setup. */
static struct lms_host_api test_host;

static struct lms_dialect dialect;
static const struct lms_dialect *D;

static void setup(void)
{
	test_host = stub_host;
	test_host.credential_of = fake_credential_of;
	D = my_entry(&test_host, &dialect);
	ck_assert_ptr_nonnull(D);
	ck_assert_ptr_nonnull(D->fe_login_done);
	cred_mode = 0;
}

/* "*" + hex of SHA1(SHA1(pw)) */
static void verifier_of(const char *pw, char out[42])
{
	uint8_t h1[20], h2[20];
	SHA1((const uint8_t *)pw, strlen(pw), h1);
	SHA1(h1, 20, h2);
	out[0] = '*';
	for (int i = 0; i < 20; i++)
		snprintf(out + 1 + 2 * i, 3, "%02X", h2[i]);
}

/* What a client answers: SHA1(pw) XOR SHA1(scramble || SHA1(SHA1(pw))) */
static void answer(const char *pw, const uint8_t scramble[20], uint8_t out[20])
{
	uint8_t h1[20], h2[20], buf[40], mask[20];
	SHA1((const uint8_t *)pw, strlen(pw), h1);
	SHA1(h1, 20, h2);
	memcpy(buf, scramble, 20);
	memcpy(buf + 20, h2, 20);
	SHA1(buf, 40, mask);
	for (int i = 0; i < 20; i++)
		out[i] = h1[i] ^ mask[i];
}

START_TEST(test_native_vectors)
{
	uint8_t scramble[20], resp[20];
	for (int i = 0; i < 20; i++)
		scramble[i] = (uint8_t)(0x21 + i * 3);
	char v[42];
	verifier_of("s3cret", v);
	answer("s3cret", scramble, resp);
	ck_assert_int_eq(my_native_check(scramble, resp, 20, v), 0);
	/* lower-case hex is the same verifier */
	for (char *p = v; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	ck_assert_int_eq(my_native_check(scramble, resp, 20, v), 0);
	/* wrong password, another scramble, a flipped bit, wrong lengths */
	answer("s3cre", scramble, resp);
	ck_assert_int_eq(my_native_check(scramble, resp, 20, v), -1);
	answer("s3cret", scramble, resp);
	resp[7] ^= 1;
	ck_assert_int_eq(my_native_check(scramble, resp, 20, v), -1);
	resp[7] ^= 1;
	ck_assert_int_eq(my_native_check(scramble, resp, 19, v), -1);
	ck_assert_int_eq(my_native_check(scramble, resp, 0, v), -1);
	uint8_t other[20];
	memcpy(other, scramble, 20);
	other[0]++;
	ck_assert_int_eq(my_native_check(other, resp, 20, v), -1);
	/* MariaDB's own verifier of 'x' */
	char mine[42];
	verifier_of("x", mine);
	ck_assert_str_eq(mine, MARIADB_X);
	answer("x", scramble, resp);
	ck_assert_int_eq(my_native_check(scramble, resp, 20, MARIADB_X), 0);
	/* malformed verifiers never match */
	ck_assert_int_eq(my_native_check(scramble, resp, 20, MARIADB_X + 1), -1);
	ck_assert_int_eq(my_native_check(scramble, resp, 20, "*B69027D44F6E5EDC07F1AEAD1477967B16F2822"), -1);
	ck_assert_int_eq(my_native_check(scramble, resp, 20, "*G69027D44F6E5EDC07F1AEAD1477967B16F28227"), -1);
	ck_assert_int_eq(my_native_check(scramble, resp, 20, "ed25519-something"), -1);
	/* no password: only an empty answer */
	ck_assert_int_eq(my_native_check(scramble, resp, 0, ""), 0);
	ck_assert_int_eq(my_native_check(scramble, resp, 20, ""), -1);
}
END_TEST

/* ---- the own login through the dialect table ---- */

struct own {
	void *fe;
	struct my_sess *s;
	uint8_t scramble[20];
	struct lms_out out;
	struct lms_result res;
};

static void own_new(struct own *o, int tls_required)
{
	struct lms_fe_opts fo;
	memset(&fo, 0, sizeof(fo));
	fo.tls_available = tls_required;
	fo.tls_required = tls_required;
	fo.own_login = 1;
	snprintf(fo.client_ip, sizeof(fo.client_ip), "10.1.2.3");
	memcpy(fo.proxy_key, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	o->fe = D->fe_new(&fo);
	ck_assert_ptr_nonnull(o->fe);
	o->s = o->fe;
	memset(&o->res, 0, sizeof(o->res));
	o->out.len = 0;
	ck_assert_int_eq(D->fe_accept(o->fe, &o->out, &o->res), 0);
	ck_assert_int_eq(o->res.action, LMS_ACT_NONE); /* no database yet */
	/* the greeting: protocol 10, version, id, scramble in two parts */
	const uint8_t *p = o->out.data;
	ck_assert_uint_eq(p[3], 0);
	ck_assert_uint_eq(my_le24(p), o->out.len - 4);
	ck_assert_uint_eq(p[4], 10);
	const char *ver = (const char *)p + 5;
	ck_assert_str_eq(ver, "5.5.5-10.11.0-molt-lms");
	size_t off = 5 + strlen(ver) + 1 + 4;
	memcpy(o->scramble, p + off, 8);
	off += 8 + 1;
	uint32_t caps = my_le16(p + off);
	caps |= my_le16(p + off + 5) << 16;
	ck_assert(caps & MY_CAP_PLUGIN_AUTH);
	ck_assert_uint_eq((caps & MY_CAP_SSL) != 0, (unsigned)tls_required);
	ck_assert_uint_eq(p[off + 7], 21);
	off += 8 + 10;
	memcpy(o->scramble + 8, p + off, 12);
	ck_assert_uint_eq(p[off + 12], 0);
	ck_assert_str_eq((const char *)p + off + 13, "mysql_native_password");
	for (int i = 0; i < 20; i++)
		ck_assert(o->scramble[i] != 0 && o->scramble[i] < 0x80);
}

/* A HandshakeResponse41 (seq 1) with a 1-byte-length auth response. */
static size_t response(uint8_t *b, const char *user, const uint8_t *auth, size_t alen, const char *db,
		       const char *plugin)
{
	uint32_t caps = MY_CAP_PROTOCOL_41 | MY_CAP_SECURE_CONNECTION | MY_CAP_PLUGIN_AUTH |
			(db ? MY_CAP_CONNECT_WITH_DB : 0);
	size_t off = 4;
	memset(b + off, 0, 32);
	for (int i = 0; i < 4; i++)
		b[off + i] = (uint8_t)(caps >> (8 * i));
	b[off + 8] = 45;
	off += 32;
	memcpy(b + off, user, strlen(user) + 1);
	off += strlen(user) + 1;
	b[off++] = (uint8_t)alen;
	if (alen)
		memcpy(b + off, auth, alen);
	off += alen;
	if (db) {
		memcpy(b + off, db, strlen(db) + 1);
		off += strlen(db) + 1;
	}
	if (plugin) {
		memcpy(b + off, plugin, strlen(plugin) + 1);
		off += strlen(plugin) + 1;
	}
	my_put24(b, (uint32_t)(off - 4));
	b[3] = 1;
	return off;
}

/* Frame (must be NEED_BODY) and decode one client packet. */
static int feed(struct own *o, const uint8_t *b, size_t n)
{
	struct lms_frame f;
	memset(&f, 0, sizeof(f));
	int st = D->fe_frame(o->fe, b, n, &f);
	if (st != LMS_FRAME_OK)
		return -100 - st;
	ck_assert(f.flags & LMS_FRAME_NEED_BODY);
	ck_assert_uint_eq(f.len, n);
	memset(&o->res, 0, sizeof(o->res));
	o->out.len = 0;
	return D->fe_decode(o->fe, b, n, &o->out, &o->res);
}

/* The reply is an ERR with code and sequence id seq; returns its message. */
static const char *err_of(struct own *o, uint16_t code, uint8_t seq)
{
	static char msg[600];
	ck_assert_int_eq(o->res.verdict, LMS_REPLY);
	ck_assert_int_eq(o->res.action, LMS_ACT_CLOSE);
	ck_assert_uint_eq(o->out.data[3], seq);
	ck_assert_uint_eq(o->out.data[4], 0xFF);
	ck_assert_uint_eq(my_le16(o->out.data + 5), code);
	size_t n = o->out.len - 4 - 9;
	memcpy(msg, o->out.data + 4 + 9, n);
	msg[n] = 0;
	return msg;
}

START_TEST(test_own_login_ok)
{
	struct own o;
	own_new(&o, 0);
	uint8_t resp[20], b[512];
	answer("x", o.scramble, resp);
	size_t n = response(b, "app", resp, 20, "appdb", "mysql_native_password");
	ck_assert_int_eq(feed(&o, b, n), 0);
	ck_assert_int_eq(o.res.action, LMS_ACT_CONNECT);
	ck_assert_int_eq(o.res.verdict, LMS_DROP);
	ck_assert_str_eq(o.res.startup.user, "app");
	ck_assert_str_eq(o.res.startup.database, "appdb");
	ck_assert_str_eq(last_ip, "10.1.2.3");
	/* nothing more from the client until the OK */
	struct lms_frame f;
	ck_assert_int_eq(D->fe_frame(o.fe, b, n, &f), LMS_FRAME_INVALID);
	/* a target login failure: the ERR follows the response (seq 2) */
	struct lms_error e = { "FATAL", "28000", "refused", NULL };
	struct lms_out eo;
	ck_assert_int_eq(D->fe_error(o.fe, &e, &eo), 0);
	ck_assert_uint_eq(eo.data[3], 2);
	ck_assert_uint_eq(my_le16(eo.data + 5), 1045);
	/* the database accepted the core's login: OK, seq 2, autocommit */
	o.out.len = 0;
	ck_assert_int_eq(D->fe_login_done(o.fe, &o.out), 0);
	ck_assert_uint_eq(o.out.len, 11);
	ck_assert_uint_eq(o.out.data[3], 2);
	ck_assert_uint_eq(o.out.data[4], 0x00);
	ck_assert_uint_eq(o.out.data[7], 0x02);
	ck_assert_int_eq(o.s->state, MY_S_READY);
	/* a second call is refused */
	ck_assert_int_eq(D->fe_login_done(o.fe, &o.out), -1);
	/* commands start at sequence 0 */
	uint8_t ping[5] = { 1, 0, 0, 0, MY_COM_PING };
	ck_assert_int_eq(D->fe_frame(o.fe, ping, 5, &f), LMS_FRAME_OK);
	D->fe_free(o.fe);
}
END_TEST

START_TEST(test_own_login_no_password_user)
{
	struct own o;
	own_new(&o, 0);
	uint8_t b[512];
	size_t n = response(b, "nopw", NULL, 0, NULL, "mysql_native_password");
	ck_assert_int_eq(feed(&o, b, n), 0);
	ck_assert_int_eq(o.res.action, LMS_ACT_CONNECT);
	ck_assert_ptr_null(o.res.startup.database);
	D->fe_free(o.fe);
}
END_TEST

START_TEST(test_own_login_refusals)
{
	struct own o;
	uint8_t resp[20], b[512];
	own_new(&o, 0);
	answer("y", o.scramble, resp);
	ck_assert_int_eq(feed(&o, b, response(b, "app", resp, 20, "appdb", NULL)), 0);
	const char *m = err_of(&o, 1045, 2);
	ck_assert_ptr_nonnull(strstr(m, "Access denied for user 'app'@'10.1.2.3'"));
	ck_assert_ptr_nonnull(strstr(m, "wrong password"));
	ck_assert_int_eq(o.s->state, MY_S_CLOSED);
	D->fe_free(o.fe);

	own_new(&o, 0);
	ck_assert_int_eq(feed(&o, b, response(b, "ed", resp, 20, "appdb", NULL)), 0);
	m = err_of(&o, 1045, 2);
	ck_assert_ptr_nonnull(strstr(m, "ed25519"));
	ck_assert_ptr_nonnull(strstr(m, "mysql_native_password"));
	D->fe_free(o.fe);

	own_new(&o, 0);
	ck_assert_int_eq(feed(&o, b, response(b, "ghost", resp, 20, "appdb", NULL)), 0);
	ck_assert_ptr_nonnull(strstr(err_of(&o, 1045, 2), "no such login"));
	D->fe_free(o.fe);

	cred_mode = -2;
	own_new(&o, 0);
	ck_assert_int_eq(feed(&o, b, response(b, "app", resp, 20, "appdb", NULL)), 0);
	ck_assert_ptr_nonnull(strstr(err_of(&o, 1045, 2), "_molt_lms.credentials"));
	D->fe_free(o.fe);
	cred_mode = 0;

	/* TLS required: a clear answer before any verification */
	own_new(&o, 1);
	answer("x", o.scramble, resp);
	ck_assert_int_eq(feed(&o, b, response(b, "app", resp, 20, "appdb", NULL)), 0);
	err_of(&o, 3159, 2);
	D->fe_free(o.fe);
}
END_TEST

START_TEST(test_own_login_auth_switch)
{
	struct own o;
	own_new(&o, 0);
	uint8_t resp[32], b[512];
	memset(resp, 0x5a, sizeof(resp));
	ck_assert_int_eq(feed(&o, b, response(b, "app", resp, 32, "appdb", "caching_sha2_password")), 0);
	ck_assert_int_eq(o.res.verdict, LMS_REPLY);
	ck_assert_int_eq(o.res.action, LMS_ACT_NONE);
	ck_assert_uint_eq(o.out.data[3], 2);
	ck_assert_uint_eq(o.out.data[4], 0xFE);
	ck_assert_str_eq((const char *)o.out.data + 5, "mysql_native_password");
	ck_assert_mem_eq(o.out.data + 5 + 22, o.scramble, 20);
	/* the answer, seq 3 */
	answer("x", o.scramble, resp);
	size_t n = 4 + 20;
	my_put24(b, 20);
	b[3] = 3;
	memcpy(b + 4, resp, 20);
	ck_assert_int_eq(feed(&o, b, n), 0);
	ck_assert_int_eq(o.res.action, LMS_ACT_CONNECT);
	o.out.len = 0;
	ck_assert_int_eq(D->fe_login_done(o.fe, &o.out), 0);
	ck_assert_uint_eq(o.out.data[3], 4);
	D->fe_free(o.fe);

	/* a wrong sequence id after the switch is a framing error */
	own_new(&o, 0);
	ck_assert_int_eq(feed(&o, b, response(b, "app", resp, 20, "appdb", "client_ed25519")), 0);
	ck_assert_uint_eq(o.out.data[4], 0xFE);
	my_put24(b, 20);
	b[3] = 5;
	ck_assert_int_eq(feed(&o, b, 24), -100 - LMS_FRAME_INVALID);
	/* the right one with a wrong answer: 1045 with seq 4 */
	b[3] = 3;
	ck_assert_int_eq(feed(&o, b, 24), 0);
	err_of(&o, 1045, 4);
	D->fe_free(o.fe);
}
END_TEST

START_TEST(test_own_login_malformed)
{
	struct own o;
	uint8_t b[512];
	uint8_t resp[20] = { 0 };
	size_t n = response(b, "app", resp, 20, "appdb", "mysql_native_password");
	/* every truncation of a valid response: an ERR (1043) or a
	 * protocol error, never a login */
	for (size_t cut = 4; cut < n; cut++) {
		uint8_t t[512];
		memcpy(t, b, cut);
		my_put24(t, (uint32_t)(cut - 4));
		own_new(&o, 0);
		int rc = feed(&o, t, cut);
		ck_assert(rc == -1 || (rc == 0 && o.res.action != LMS_ACT_CONNECT) ||
			  /* cut inside the trailing plugin name: the default applies */
			  (rc == 0 && cut > n - sizeof("mysql_native_password")));
		D->fe_free(o.fe);
	}
	/* a user name without its NUL */
	own_new(&o, 0);
	memset(b + 4, 0, 32);
	b[4] = (uint8_t)MY_CAP_PROTOCOL_41;
	b[5] = (uint8_t)(MY_CAP_PROTOCOL_41 >> 8);
	memcpy(b + 36, "appppp", 6);
	my_put24(b, 38);
	b[3] = 1;
	ck_assert_int_eq(feed(&o, b, 42), 0);
	err_of(&o, 1043, 2);
	D->fe_free(o.fe);
	/* an auth length past the end */
	own_new(&o, 0);
	n = response(b, "app", resp, 20, NULL, NULL);
	b[4 + 32 + 4] = 200;
	ck_assert_int_eq(feed(&o, b, n), 0);
	err_of(&o, 1043, 2);
	D->fe_free(o.fe);
	/* a user name longer than any MySQL allows */
	own_new(&o, 0);
	char longuser[300];
	memset(longuser, 'u', sizeof(longuser) - 1);
	longuser[sizeof(longuser) - 1] = 0;
	n = response(b, longuser, resp, 20, NULL, NULL);
	ck_assert_int_eq(feed(&o, b, n), 0);
	err_of(&o, 1043, 2);
	D->fe_free(o.fe);
	/* a database name without its NUL */
	own_new(&o, 0);
	n = response(b, "app", resp, 20, "appdb", NULL);
	my_put24(b, (uint32_t)(n - 4 - 1));
	ck_assert_int_eq(feed(&o, b, n - 1), 0);
	err_of(&o, 1043, 2);
	D->fe_free(o.fe);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mysql_login");
	TCase *t = tcase_create("native");
	tcase_add_checked_fixture(t, setup, NULL);
	tcase_add_test(t, test_native_vectors);
	suite_add_tcase(s, t);
	t = tcase_create("own_login");
	tcase_add_checked_fixture(t, setup, NULL);
	tcase_add_test(t, test_own_login_ok);
	tcase_add_test(t, test_own_login_no_password_user);
	tcase_add_test(t, test_own_login_refusals);
	tcase_add_test(t, test_own_login_auth_switch);
	tcase_add_test(t, test_own_login_malformed);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
