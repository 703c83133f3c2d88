/*
 * check_mysql_own.c - plugins/mysql/auth_own.c and shadow_req.c: the
 * backend's own login to MySQL/MariaDB with the URL's credentials, and the
 * common requests it writes for a shadow with its own state.
 *
 * The scramble vectors were computed independently when the test was
 * written, with /usr/bin/python3's hashlib (scramble: the 20 bytes
 * 0x21..0x34):
 *   native = SHA1(pw) ^ SHA1(scramble + SHA1(SHA1(pw)))
 *   sha2   = SHA256(pw) ^ SHA256(SHA256(SHA256(pw)) + scramble)
 * The login is driven through the dialect table the way the core's shadow
 * drives it: be_start, the server's greeting, the exchange, OK.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql.h"
#include "../common/stub_host.h"

static const uint8_t SCR[20] = { 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a,
				 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34 };

#define NATIVE_SECRET "1f44f306295a10870fd7895d358cb5f975d7d47f"
#define SHA2_SECRET "3e6e1d1225dfe8531b46e47caf897453dba8211b1e2fdca5e10ef0f98718b18e"
#define NATIVE_ADMIN "2a41aaa815a522abf1988e57c2de2a935994171c"
#define SHA2_ADMIN "a1a7127cd7a57d11081f5bc6dd0e30ad3542ab901c56d294bf468f4a75d32385"
/* MariaDB's SELECT PASSWORD('x') */
#define MARIADB_X "*B69027D44F6E5EDC07F1AEAD1477967B16F28227"

static struct lms_dialect dialect;
static const struct lms_dialect *D;

static void setup(void)
{
	D = my_entry(&stub_host, &dialect);
	ck_assert_ptr_nonnull(D);
	ck_assert_ptr_nonnull(D->be_encode_request);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

START_TEST(test_scramble_vectors)
{
	uint8_t out[32];
	char h[65];
	ck_assert_int_eq(my_scramble_native(SCR, "secret", 6, out), 0);
	hex(out, 20, h);
	ck_assert_str_eq(h, NATIVE_SECRET);
	ck_assert_int_eq(my_scramble_native(SCR, "lms-admin-pw", 12, out), 0);
	hex(out, 20, h);
	ck_assert_str_eq(h, NATIVE_ADMIN);
	ck_assert_int_eq(my_scramble_sha256(SCR, "secret", 6, out), 0);
	hex(out, 32, h);
	ck_assert_str_eq(h, SHA2_SECRET);
	ck_assert_int_eq(my_scramble_sha256(SCR, "lms-admin-pw", 12, out), 0);
	hex(out, 32, h);
	ck_assert_str_eq(h, SHA2_ADMIN);
	/* what the proxy sends is what a MariaDB server accepts: checked
	 * against MariaDB's own verifier by login.c's server-side check */
	ck_assert_int_eq(my_scramble_native(SCR, "x", 1, out), 0);
	ck_assert_int_eq(my_native_check(SCR, out, 20, MARIADB_X), 0);
}
END_TEST

/* ---- the login through the dialect table ---- */

struct be {
	void *be;
	struct lms_backend_conf conf;
	struct lms_out out;
	struct lms_result res;
};

static void be_open(struct be *b, const char *password, uint32_t tls_mode)
{
	memset(b, 0, sizeof(*b));
	b->conf.user = "lms_admin";
	b->conf.password = (char *)password;
	b->conf.database = "urldb";
	b->conf.tls_mode = tls_mode;
	struct lms_be_opts bo = { .conf = &b->conf, .relay_auth = 0, .observe = 1 };
	b->be = D->be_new(&bo);
	ck_assert_ptr_nonnull(b->be);
	struct lms_startup st = { .family = "mysql", .user = "app", .database = "appdb" };
	b->out.len = 0;
	ck_assert_int_eq(D->be_start(b->be, 0, &st, &b->out, &b->res), 0);
	ck_assert_uint_eq(b->out.len, 0); /* the server speaks first */
	ck_assert_uint_eq(b->res.action, LMS_ACT_NONE);
}

/* Frame (whole) and decode one server packet. */
static int feed(struct be *b, const uint8_t *p, size_t n)
{
	struct lms_frame f;
	memset(&b->res, 0, sizeof(b->res));
	b->out.len = 0;
	int st = D->be_frame(b->be, p, n, &f);
	if (st != LMS_FRAME_OK)
		return -2;
	ck_assert_uint_eq(f.len, n);
	ck_assert(f.flags & LMS_FRAME_NEED_BODY);
	return D->be_decode(b->be, p, n, &b->out, &b->res);
}

/* A MariaDB 10.11 greeting with scramble SCR and plugin name. */
static size_t greeting(uint8_t *b, uint32_t caps, const char *plugin)
{
	size_t o = 4;
	b[o++] = 10;
	memcpy(b + o, "5.5.5-10.11.6-MariaDB", 22);
	o += 22;
	memcpy(b + o, "\x07\x00\x00\x00", 4);
	o += 4;
	memcpy(b + o, SCR, 8);
	o += 8;
	b[o++] = 0;
	b[o++] = (uint8_t)caps;
	b[o++] = (uint8_t)(caps >> 8);
	b[o++] = 45;
	b[o++] = 2;
	b[o++] = 0;
	b[o++] = (uint8_t)(caps >> 16);
	b[o++] = (uint8_t)(caps >> 24);
	b[o++] = 21;
	memset(b + o, 0, 10);
	o += 10;
	memcpy(b + o, SCR + 8, 12);
	o += 12;
	b[o++] = 0;
	memcpy(b + o, plugin, strlen(plugin) + 1);
	o += strlen(plugin) + 1;
	my_put24(b, (uint32_t)(o - 4));
	b[3] = 0;
	return o;
}

/* MariaDB's: no CLIENT_MYSQL bit (it has extended capabilities) */
#define SRV_CAPS (0xFFFFFFFEu & ~(MY_CAP_SSL | MY_CAP_COMPRESS | MY_CAP_ZSTD | MY_CAP_OPTIONAL_METADATA))

static size_t packet(uint8_t *b, uint8_t seq, const void *pl, size_t n)
{
	my_put24(b, (uint32_t)n);
	b[3] = seq;
	memcpy(b + 4, pl, n);
	return 4 + n;
}

/* Parse our HandshakeResponse41 in out: caps, user, auth, db, plugin. */
struct hs {
	uint32_t caps;
	char user[64];
	uint8_t auth[64];
	size_t auth_len;
	char db[64];
	char plugin[64];
};

static void parse_response(const struct lms_out *out, uint8_t seq, struct hs *h)
{
	ck_assert_uint_ge(out->len, 4 + 32 + 2);
	ck_assert_uint_eq(my_le24(out->data), out->len - 4);
	ck_assert_uint_eq(out->data[3], seq);
	const uint8_t *p = out->data + 4;
	size_t n = out->len - 4, o = 32;
	h->caps = my_le32(p);
	ck_assert(h->caps & MY_CAP_PROTOCOL_41);
	ck_assert(h->caps & MY_CAP_PLUGIN_AUTH);
	snprintf(h->user, sizeof(h->user), "%s", (const char *)p + o);
	o += strlen(h->user) + 1;
	h->auth_len = p[o++];
	memcpy(h->auth, p + o, h->auth_len);
	o += h->auth_len;
	h->db[0] = 0;
	if (h->caps & MY_CAP_CONNECT_WITH_DB) {
		snprintf(h->db, sizeof(h->db), "%s", (const char *)p + o);
		o += strlen(h->db) + 1;
	}
	snprintf(h->plugin, sizeof(h->plugin), "%s", (const char *)p + o);
	o += strlen(h->plugin) + 1;
	ck_assert_uint_eq(o, n);
}

static const uint8_t OK_PL[] = { 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00 };

START_TEST(test_native_login_ok)
{
	struct be b;
	uint8_t buf[256];
	struct hs h;
	char x[80];
	be_open(&b, "secret", LMS_TLS_DISABLE);
	ck_assert_int_eq(feed(&b, buf, greeting(buf, SRV_CAPS, "mysql_native_password")), 0);
	ck_assert_uint_eq(b.res.verdict, LMS_REPLY);
	ck_assert_uint_eq(b.res.action, LMS_ACT_BACKEND_KEY); /* the server's thread id */
	ck_assert_uint_eq(b.res.key_len, 4);
	parse_response(&b.out, 1, &h);
	ck_assert_str_eq(h.user, "lms_admin");
	ck_assert_str_eq(h.db, "appdb"); /* the client's database wins over the URL's */
	ck_assert_str_eq(h.plugin, "mysql_native_password");
	ck_assert_uint_eq(h.auth_len, 20);
	hex(h.auth, 20, x);
	ck_assert_str_eq(x, NATIVE_SECRET);
	ck_assert(!(h.caps & MY_CAP_SSL));
	ck_assert(h.caps & MY_CAP_DEPRECATE_EOF);
	ck_assert(h.caps & 0x2u); /* FOUND_ROWS: matched rows, as PostgreSQL counts */
	ck_assert(!(h.caps & MY_CAP_COMPRESS));
	ck_assert_int_eq(feed(&b, buf, packet(buf, 2, OK_PL, sizeof(OK_PL))), 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_READY);
	ck_assert_uint_eq(b.res.txn, LMS_TXN_IDLE);
	D->be_free(b.be);
}
END_TEST

START_TEST(test_tls_then_response)
{
	struct be b;
	uint8_t buf[256];
	struct hs h;
	be_open(&b, "secret", LMS_TLS_REQUIRE);
	/* a server without TLS is refused when the URL requires it */
	ck_assert_int_eq(feed(&b, buf, greeting(buf, SRV_CAPS, "mysql_native_password")), 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_FAIL);
	ck_assert_ptr_nonnull(strstr(b.res.error.message, "does not offer TLS"));
	D->be_free(b.be);
	be_open(&b, "secret", LMS_TLS_REQUIRE);
	ck_assert_int_eq(feed(&b, buf, greeting(buf, SRV_CAPS | MY_CAP_SSL, "mysql_native_password")), 0);
	ck_assert_uint_eq(b.res.verdict, LMS_REPLY);
	ck_assert_uint_eq(b.res.action, LMS_ACT_START_TLS);
	ck_assert_uint_eq(b.out.len, 4 + 32); /* the SSLRequest */
	ck_assert_uint_eq(b.out.data[3], 1);
	ck_assert(my_le32(b.out.data + 4) & MY_CAP_SSL);
	struct lms_startup st = { .family = "mysql" };
	memset(&b.res, 0, sizeof(b.res));
	ck_assert_int_eq(D->be_start(b.be, 1, &st, &b.out, &b.res), 0);
	parse_response(&b.out, 2, &h);
	ck_assert(h.caps & MY_CAP_SSL);
	ck_assert_int_eq(feed(&b, buf, packet(buf, 3, OK_PL, sizeof(OK_PL))), 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_READY);
	D->be_free(b.be);
}
END_TEST

START_TEST(test_switch_and_sha2)
{
	struct be b;
	uint8_t buf[256], pl[128];
	struct hs h;
	char x[80];
	/* greeting names caching_sha2_password: answered with it at once */
	be_open(&b, "secret", LMS_TLS_DISABLE);
	ck_assert_int_eq(feed(&b, buf, greeting(buf, SRV_CAPS, "caching_sha2_password")), 0);
	parse_response(&b.out, 1, &h);
	ck_assert_str_eq(h.plugin, "caching_sha2_password");
	ck_assert_uint_eq(h.auth_len, 32);
	hex(h.auth, 32, x);
	ck_assert_str_eq(x, SHA2_SECRET);
	/* fast path OK, then the OK */
	ck_assert_int_eq(feed(&b, buf, packet(buf, 2, "\x01\x03", 2)), 0);
	ck_assert_uint_eq(b.out.len, 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_NONE);
	ck_assert_int_eq(feed(&b, buf, packet(buf, 3, OK_PL, sizeof(OK_PL))), 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_READY);
	D->be_free(b.be);
	/* full authentication without TLS: refused, no RSA, no password sent */
	be_open(&b, "secret", LMS_TLS_DISABLE);
	ck_assert_int_eq(feed(&b, buf, greeting(buf, SRV_CAPS, "caching_sha2_password")), 0);
	ck_assert_int_eq(feed(&b, buf, packet(buf, 2, "\x01\x04", 2)), 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_FAIL);
	ck_assert_ptr_nonnull(strstr(b.res.error.message, "ssl-mode=REQUIRED"));
	ck_assert_ptr_null(strstr(b.res.error.message, "secret"));
	D->be_free(b.be);
	/* an AuthSwitchRequest to caching_sha2_password with a new scramble */
	be_open(&b, "lms-admin-pw", LMS_TLS_DISABLE);
	ck_assert_int_eq(feed(&b, buf, greeting(buf, SRV_CAPS, "mysql_native_password")), 0);
	size_t n = 0;
	pl[n++] = 0xFE;
	memcpy(pl + n, "caching_sha2_password", 22);
	n += 22;
	memcpy(pl + n, SCR, 20);
	n += 20;
	pl[n++] = 0;
	ck_assert_int_eq(feed(&b, buf, packet(buf, 2, pl, n)), 0);
	ck_assert_uint_eq(b.res.verdict, LMS_REPLY);
	ck_assert_uint_eq(b.out.len, 4 + 32);
	ck_assert_uint_eq(b.out.data[3], 3);
	hex(b.out.data + 4, 32, x);
	ck_assert_str_eq(x, SHA2_ADMIN);
	ck_assert_int_eq(feed(&b, buf, packet(buf, 4, OK_PL, sizeof(OK_PL))), 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_READY);
	D->be_free(b.be);
}
END_TEST

START_TEST(test_refusals)
{
	struct be b;
	uint8_t buf[256], pl[128];
	/* a switch to client_ed25519: refused with the reason */
	be_open(&b, "secret", LMS_TLS_DISABLE);
	ck_assert_int_eq(feed(&b, buf, greeting(buf, SRV_CAPS, "mysql_native_password")), 0);
	size_t n = 0;
	pl[n++] = 0xFE;
	memcpy(pl + n, "client_ed25519", 15);
	n += 15;
	memcpy(pl + n, SCR, 20);
	n += 20;
	pl[n++] = 0;
	ck_assert_int_eq(feed(&b, buf, packet(buf, 2, pl, n)), 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_FAIL);
	ck_assert_ptr_nonnull(strstr(b.res.error.message, "client_ed25519"));
	ck_assert_ptr_nonnull(strstr(b.res.error.message, "mysql_native_password"));
	D->be_free(b.be);
	/* mysql_clear_password without TLS: refused */
	be_open(&b, "secret", LMS_TLS_DISABLE);
	ck_assert_int_eq(feed(&b, buf, greeting(buf, SRV_CAPS, "mysql_native_password")), 0);
	ck_assert_int_eq(feed(&b, buf, packet(buf, 2, "\xfemysql_clear_password\0", 22)), 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_FAIL);
	ck_assert_ptr_nonnull(strstr(b.res.error.message, "only over TLS"));
	D->be_free(b.be);
	/* the server's ERR: its message, never the password */
	be_open(&b, "secret", LMS_TLS_DISABLE);
	ck_assert_int_eq(feed(&b, buf, greeting(buf, SRV_CAPS, "mysql_native_password")), 0);
	static const char err[] = "\xff\x15\x04#28000Access denied for user 'lms_admin'@'localhost' (using password: YES)";
	ck_assert_int_eq(feed(&b, buf, packet(buf, 2, err, sizeof(err) - 1)), 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_FAIL);
	ck_assert_ptr_nonnull(strstr(b.res.error.message, "Access denied for user 'lms_admin'"));
	ck_assert_ptr_null(strstr(b.res.error.message, "secret"));
	/* nothing more is accepted */
	ck_assert_int_eq(feed(&b, buf, packet(buf, 3, OK_PL, sizeof(OK_PL))), -2);
	D->be_free(b.be);
	/* a greeting that refuses the connection */
	be_open(&b, "secret", LMS_TLS_DISABLE);
	static const char busy[] = "\xff\x10\x04Too many connections";
	ck_assert_int_eq(feed(&b, buf, packet(buf, 0, busy, sizeof(busy) - 1)), 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_FAIL);
	ck_assert_ptr_nonnull(strstr(b.res.error.message, "Too many connections"));
	D->be_free(b.be);
	/* a sequence id out of order */
	be_open(&b, "secret", LMS_TLS_DISABLE);
	ck_assert_int_eq(feed(&b, buf, greeting(buf, SRV_CAPS, "mysql_native_password")), 0);
	ck_assert_int_eq(feed(&b, buf, packet(buf, 5, OK_PL, sizeof(OK_PL))), -2);
	D->be_free(b.be);
}
END_TEST

START_TEST(test_malformed_greetings)
{
	uint8_t buf[256];
	size_t full = greeting(buf, SRV_CAPS, "mysql_native_password");
	/* every truncation: -1 or a failure, never a crash (ASan) */
	for (size_t cut = 5; cut < full; cut++) {
		struct be b;
		uint8_t g[256];
		memcpy(g, buf, cut);
		my_put24(g, (uint32_t)(cut - 4));
		be_open(&b, "secret", LMS_TLS_DISABLE);
		int rc = feed(&b, g, cut);
		ck_assert(rc == -1 || rc == -2 || b.res.action == LMS_ACT_FAIL || b.res.verdict == LMS_REPLY);
		D->be_free(b.be);
	}
	/* protocol 9 */
	struct be b;
	be_open(&b, "secret", LMS_TLS_DISABLE);
	buf[4] = 9;
	ck_assert_int_eq(feed(&b, buf, full), 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_FAIL);
	D->be_free(b.be);
}
END_TEST

/* ---- requests for a shadow with its own state ---- */

static void logged_in(struct be *b)
{
	uint8_t buf[256];
	be_open(b, "secret", LMS_TLS_DISABLE);
	ck_assert_int_eq(feed(b, buf, greeting(buf, SRV_CAPS, "mysql_native_password")), 0);
	ck_assert_int_eq(feed(b, buf, packet(buf, 2, OK_PL, sizeof(OK_PL))), 0);
	ck_assert_uint_eq(b->res.action, LMS_ACT_READY);
}

START_TEST(test_encode_requests)
{
	struct be b;
	uint8_t out[512], buf[256];
	logged_in(&b);
	static const char sel[] = "select id from t where id = ?";
	uint32_t hole = (uint32_t)strlen(sel) - 1;
	/* an execution of a statement never prepared here: not encoded */
	struct lms_param prm = { (const uint8_t *)"12", 2 };
	struct lms_request x = { .kind = LMS_REQ_EXECUTE, .stmt_id = 99, .sql = sel, .sql_len = strlen(sel),
				 .holes = &hole, .nholes = 1, .params = &prm, .nparams = 1 };
	ck_assert_int_eq(D->be_encode_request(b.be, &x, out, sizeof(out)), -1);
	/* PREPARE (the translated client's DESCRIBE): COM_STMT_PREPARE */
	struct lms_request p = { .kind = LMS_REQ_DESCRIBE, .sql = sel, .sql_len = strlen(sel), .holes = &hole,
				 .nholes = 1 };
	long n = D->be_encode_request(b.be, &p, out, sizeof(out));
	ck_assert_int_eq(n, 4 + 1 + (long)strlen(sel));
	ck_assert_uint_eq(out[3], 0);
	ck_assert_uint_eq(out[4], MY_COM_STMT_PREPARE);
	ck_assert_int_eq(memcmp(out + 5, sel, strlen(sel)), 0);
	/* its answer: PREPARE OK id 7, 1 column, 1 parameter, definitions */
	static const uint8_t ok[] = { 0x00, 0x07, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 };
	ck_assert_int_eq(feed(&b, buf, packet(buf, 1, ok, sizeof(ok))), 0);
	static const uint8_t def[] = { 3, 'd', 'e', 'f', 0, 0, 0, 1, '?', 0, 0x0c, 0x3f, 0, 0, 0, 0, 0, 0xfe,
				       0x80, 0, 0, 0, 0 };
	struct lms_frame f;
	ck_assert_int_eq(D->be_frame(b.be, buf, packet(buf, 2, def, sizeof(def)), &f), LMS_FRAME_OK);
	if (f.flags & LMS_FRAME_NEED_BODY)
		ck_assert_int_eq(D->be_decode(b.be, buf, (size_t)f.len, &b.out, &b.res), 0);
	memset(&b.res, 0, sizeof(b.res));
	size_t m = packet(buf, 3, def, sizeof(def));
	ck_assert_int_eq(D->be_frame(b.be, buf, m, &f), LMS_FRAME_OK);
	ck_assert_int_eq(D->be_decode(b.be, buf, m, &b.out, &b.res), 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_READY); /* the last definition ends it (DEPRECATE_EOF) */
	/* now an execution: COM_STMT_EXECUTE of id 7, the parameter a string */
	n = D->be_encode_request(b.be, &x, out, sizeof(out));
	ck_assert_int_eq(n, 4 + 10 + 1 + 1 + 2 + 1 + 2);
	ck_assert_uint_eq(out[4], MY_COM_STMT_EXECUTE);
	ck_assert_uint_eq(my_le32(out + 5), 7);
	ck_assert_uint_eq(out[9], 0);          /* no cursor */
	ck_assert_uint_eq(my_le32(out + 10), 1);
	ck_assert_uint_eq(out[14], 0);         /* NULL bitmap */
	ck_assert_uint_eq(out[15], 1);         /* types bound */
	ck_assert_uint_eq(out[16], 0xFE);      /* MYSQL_TYPE_STRING */
	ck_assert_uint_eq(out[18], 2);
	ck_assert_int_eq(memcmp(out + 19, "12", 2), 0);
	/* a NULL parameter: bit set, no value */
	struct lms_param null = { NULL, 0 };
	x.params = &null;
	n = D->be_encode_request(b.be, &x, out, sizeof(out));
	ck_assert_int_eq(n, 4 + 10 + 1 + 1 + 2);
	ck_assert_uint_eq(out[14], 1);
	/* the wrong parameter count: not encoded */
	x.nparams = 0;
	ck_assert_int_eq(D->be_encode_request(b.be, &x, out, sizeof(out)), -1);
	/* QUERY, PING, CLOSE (nothing), too small a buffer */
	struct lms_request q = { .kind = LMS_REQ_QUERY, .sql = "select 1", .sql_len = 8 };
	ck_assert_int_eq(D->be_encode_request(b.be, &q, out, sizeof(out)), 4 + 9);
	ck_assert_uint_eq(out[4], MY_COM_QUERY);
	ck_assert_int_eq(D->be_encode_request(b.be, &q, out, 10), -1);
	struct lms_request ping = { .kind = LMS_REQ_PING };
	ck_assert_int_eq(D->be_encode_request(b.be, &ping, out, sizeof(out)), 5);
	ck_assert_uint_eq(out[4], MY_COM_PING);
	struct lms_request close = { .kind = LMS_REQ_CLOSE, .stmt_id = 7 };
	ck_assert_int_eq(D->be_encode_request(b.be, &close, out, sizeof(out)), 0);
	/* preparing the same text again closes the old one first */
	n = D->be_encode_request(b.be, &p, out, sizeof(out));
	ck_assert_int_eq(n, 4 + 5 + 4 + 1 + (long)strlen(sel));
	ck_assert_uint_eq(out[4], MY_COM_STMT_CLOSE);
	ck_assert_uint_eq(my_le32(out + 5), 7);
	ck_assert_uint_eq(out[13], MY_COM_STMT_PREPARE);
	D->be_free(b.be);
}
END_TEST

/* An answer packet framed, decoded and described; *ends is its frame's
 * ENDS_ANSWER flag. */
static void answer(struct be *b, const uint8_t *p, size_t n, int *ends, struct lms_event *ev)
{
	struct lms_frame f;
	memset(&b->res, 0, sizeof(b->res));
	ck_assert_int_eq(D->be_frame(b->be, p, n, &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.len, n);
	*ends = (f.flags & LMS_FRAME_ENDS_ANSWER) != 0;
	ck_assert_int_eq(D->be_decode(b->be, p, n, &b->out, &b->res), 0);
	memset(ev, 0, sizeof(*ev));
	ck_assert_int_eq(D->be_observe(b->be, p, n, ev, NULL, NULL), 0);
}

START_TEST(test_encode_begin_first)
{
	/* autocommit off on the client (LMS_REQ_BEGIN_FIRST): the statement
	 * opens a transaction here too, whose START TRANSACTION's answer is
	 * hidden; one open here is joined */
	struct be b;
	uint8_t out[512], buf[64];
	int ends;
	struct lms_event ev;
	logged_in(&b);
	static const char ins[] = "insert into t values (1)";
	struct lms_request q = { .kind = LMS_REQ_QUERY, .sql = ins, .sql_len = strlen(ins),
				 .flags = LMS_REQ_BEGIN_FIRST };
	ck_assert_int_eq(D->be_encode_request(b.be, &q, out, 4 + 18 + 4 + 10), -1); /* too small: nothing queued */
	long n = D->be_encode_request(b.be, &q, out, sizeof(out));
	ck_assert_int_eq(n, 4 + 18 + 4 + 1 + (long)strlen(ins));
	ck_assert_uint_eq(out[4], MY_COM_QUERY);
	ck_assert_int_eq(memcmp(out + 5, "START TRANSACTION", 17), 0);
	ck_assert_uint_eq(out[22 + 4], MY_COM_QUERY);
	ck_assert_int_eq(memcmp(out + 22 + 5, ins, strlen(ins)), 0);
	/* START TRANSACTION's OK (in a transaction now): not an answer */
	static const uint8_t in_txn[] = { 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00 };
	static const uint8_t one[] = { 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00 };
	answer(&b, buf, packet(buf, 1, in_txn, sizeof(in_txn)), &ends, &ev);
	ck_assert_int_eq(ends, 0);
	ck_assert_uint_eq(b.res.action, LMS_ACT_NONE);
	ck_assert_uint_eq(ev.kind, LMS_EV_NONE);
	/* the statement's: the request's answer */
	answer(&b, buf, packet(buf, 1, one, sizeof(one)), &ends, &ev);
	ck_assert_int_eq(ends, 1);
	ck_assert_uint_eq(b.res.action, LMS_ACT_READY);
	ck_assert_uint_eq(b.res.txn, LMS_TXN_OPEN);
	ck_assert_uint_eq(ev.kind, LMS_EV_COMPLETE);
	ck_assert_uint_eq(ev.rows, 1);
	/* a transaction is open here: the next statement joins it */
	n = D->be_encode_request(b.be, &q, out, sizeof(out));
	ck_assert_int_eq(n, 4 + 1 + (long)strlen(ins));
	answer(&b, buf, packet(buf, 1, one, sizeof(one)), &ends, &ev);
	ck_assert_uint_eq(b.res.action, LMS_ACT_READY);
	/* after COMMIT (status: autocommit, no transaction) it begins again */
	struct lms_request c = { .kind = LMS_REQ_QUERY, .sql = "COMMIT", .sql_len = 6 };
	ck_assert_int_eq(D->be_encode_request(b.be, &c, out, sizeof(out)), 4 + 7);
	answer(&b, buf, packet(buf, 1, OK_PL, sizeof(OK_PL)), &ends, &ev);
	ck_assert_uint_eq(b.res.txn, LMS_TXN_IDLE);
	n = D->be_encode_request(b.be, &q, out, sizeof(out));
	ck_assert_int_eq(n, 4 + 18 + 4 + 1 + (long)strlen(ins));
	D->be_free(b.be);
}
END_TEST

START_TEST(test_encode_needs_own_state)
{
	/* a backend sharing the client's state (the session's own
	 * connection) never encodes: the client's bytes are its requests */
	struct my_sess *s = my_sess_new();
	struct lms_backend_conf conf = { .user = "u" };
	struct lms_be_opts bo = { .conf = &conf, .relay_auth = 1, .fe_state = s };
	void *be = D->be_new(&bo);
	uint8_t out[64];
	struct lms_request q = { .kind = LMS_REQ_QUERY, .sql = "select 1", .sql_len = 8 };
	ck_assert_int_eq(D->be_encode_request(be, &q, out, sizeof(out)), -1);
	D->be_free(be);
	my_sess_free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mysql_own");
	TCase *t = tcase_create("own");
	tcase_add_checked_fixture(t, setup, NULL);
	tcase_add_test(t, test_scramble_vectors);
	tcase_add_test(t, test_native_login_ok);
	tcase_add_test(t, test_tls_then_response);
	tcase_add_test(t, test_switch_and_sha2);
	tcase_add_test(t, test_refusals);
	tcase_add_test(t, test_malformed_greetings);
	tcase_add_test(t, test_encode_requests);
	tcase_add_test(t, test_encode_begin_first);
	tcase_add_test(t, test_encode_needs_own_state);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
