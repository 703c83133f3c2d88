/*
 * auth_own.c - the backend's own login to a MySQL or MariaDB server with
 * the URL's user and password (lms_be_opts.relay_auth == 0): the shadow
 * toward MariaDB once the PostgreSQL-wire target is the source of truth,
 * and a session moved back to MariaDB by a cutover.
 *
 * The server speaks first.  Its greeting gives the scramble and the
 * default plugin; the plugin answers with a HandshakeResponse41 (after
 * its own SSLRequest and TLS when the URL's ssl-mode asks for it):
 *   mysql_native_password  SHA1(pw) XOR SHA1(scramble || SHA1(SHA1(pw)))
 *   caching_sha2_password  SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || scramble);
 *                          full authentication: the password in clear,
 *                          only over TLS (no RSA)
 *   mysql_clear_password   the password in clear, only over TLS
 * An AuthSwitchRequest to one of them is answered the same way; any other
 * plugin (client_ed25519, ...) is refused with the reason.  The password
 * is never logged and is wiped from the buffers that held it.
 *
 * Capabilities: with the frontend's state (a session's own connection),
 * those the client negotiated with the proxy, so that answers relayed
 * later have the shape the client expects; without it (a shadow, whose
 * answers are only compared), a fixed set with CLIENT_FOUND_ROWS, so that
 * an UPDATE counts rows matched as PostgreSQL does.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "mysql.h"

#define NATIVE "mysql_native_password"
#define SHA2 "caching_sha2_password"
#define CLEAR "mysql_clear_password"
#define CHARSET_UTF8MB4 45u
#define CAP_FOUND_ROWS 0x2u
#define CAP_LONG_FLAG 0x4u
#define CAP_PS_MULTI_RESULTS 0x40000u

/* Always asked: the protocol this plugin speaks. */
#define OWN_REQUIRED (MY_CAP_MYSQL | MY_CAP_PROTOCOL_41 | MY_CAP_SECURE_CONNECTION | MY_CAP_PLUGIN_AUTH)
/* A shadow's: what a client of the proxy may negotiate at most. */
#define OWN_SHADOW (OWN_REQUIRED | CAP_FOUND_ROWS | CAP_LONG_FLAG | MY_CAP_TRANSACTIONS | MY_CAP_MULTI_STATEMENTS | \
		    MY_CAP_MULTI_RESULTS | CAP_PS_MULTI_RESULTS | MY_CAP_PLUGIN_AUTH_LENENC | MY_CAP_DEPRECATE_EOF)
/* Of the client's, those that change the shape of answers: the database
 * must support them all. */
#define OWN_SHAPE (CAP_FOUND_ROWS | MY_CAP_MULTI_STATEMENTS | MY_CAP_MULTI_RESULTS | CAP_PS_MULTI_RESULTS | \
		   MY_CAP_DEPRECATE_EOF)

/* One digest of a[0..an) || b[0..bn) into out.  Returns 0 or -1. */
static int digest2(const EVP_MD *md, const uint8_t *a, size_t an, const uint8_t *b, size_t bn, uint8_t *out)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, md, NULL) == 1 && EVP_DigestUpdate(c, a, an) == 1 &&
		 (bn == 0 || EVP_DigestUpdate(c, b, bn) == 1) && EVP_DigestFinal_ex(c, out, NULL) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

/* out = H(pw) XOR H(scramble || H(H(pw))) (mysql_native_password, SHA-1)
 * or H(pw) XOR H(H(H(pw)) || scramble) (caching_sha2_password, SHA-256),
 * n bytes.  Intermediate hashes are wiped.  Returns 0 or -1. */
static int scramble_with(const EVP_MD *md, size_t n, int scramble_first, const uint8_t scramble[MY_SCRAMBLE_LEN],
			 const char *pw, size_t pwlen, uint8_t *out)
{
	uint8_t h1[MY_SHA2_LEN], h2[MY_SHA2_LEN], mask[MY_SHA2_LEN];
	int rc = -1;
	if (digest2(md, (const uint8_t *)pw, pwlen, NULL, 0, h1) < 0 || digest2(md, h1, n, NULL, 0, h2) < 0)
		goto out;
	if (scramble_first ? digest2(md, scramble, MY_SCRAMBLE_LEN, h2, n, mask)
			   : digest2(md, h2, n, scramble, MY_SCRAMBLE_LEN, mask))
		goto out;
	for (size_t i = 0; i < n; i++)
		out[i] = h1[i] ^ mask[i];
	rc = 0;
out:
	OPENSSL_cleanse(h1, sizeof(h1));
	OPENSSL_cleanse(h2, sizeof(h2));
	OPENSSL_cleanse(mask, sizeof(mask));
	return rc;
}

int my_scramble_native(const uint8_t scramble[MY_SCRAMBLE_LEN], const char *pw, size_t pwlen,
		       uint8_t out[MY_NATIVE_LEN])
{
	return scramble_with(EVP_sha1(), MY_NATIVE_LEN, 1, scramble, pw, pwlen, out);
}

int my_scramble_sha256(const uint8_t scramble[MY_SCRAMBLE_LEN], const char *pw, size_t pwlen,
		       uint8_t out[MY_SHA2_LEN])
{
	return scramble_with(EVP_sha256(), MY_SHA2_LEN, 0, scramble, pw, pwlen, out);
}

static const char *password(const struct my_be *b)
{
	return b->conf && b->conf->password ? b->conf->password : "";
}

/* Give up on the login: res says why (b->why keeps the text). */
static int own_fail(struct my_be *b, struct lms_result *res, const char *why)
{
	if (why != b->why)
		snprintf(b->why, sizeof(b->why), "%s", why);
	b->s->state = MY_S_CLOSED;
	res->action = LMS_ACT_FAIL;
	res->error.sqlstate = "28000";
	res->error.message = b->why;
	return 0;
}

/* The answer to plugin `name` over b->scramble into out[0..cap): its
 * length, -1 for a plugin this login cannot answer, -2 when the answer
 * would be the password in clear without TLS. */
static long auth_answer(struct my_be *b, const char *name, uint8_t *out, size_t cap)
{
	const char *pw = password(b);
	size_t pl = strlen(pw);
	if (strcmp(name, NATIVE) == 0) {
		if (pl == 0)
			return 0;
		return cap < MY_NATIVE_LEN || my_scramble_native(b->scramble, pw, pl, out) < 0 ? -1 : (long)MY_NATIVE_LEN;
	}
	if (strcmp(name, SHA2) == 0) {
		if (pl == 0)
			return 0;
		return cap < MY_SHA2_LEN || my_scramble_sha256(b->scramble, pw, pl, out) < 0 ? -1 : (long)MY_SHA2_LEN;
	}
	if (strcmp(name, CLEAR) == 0) {
		if (!b->s->be_tls)
			return -2;
		if (pl + 1 > cap)
			return -1;
		memcpy(out, pw, pl + 1);
		return (long)pl + 1;
	}
	return -1;
}

/* The capabilities of our HandshakeResponse.  Returns 0, or -1 when the
 * database lacks one the client's answers need (b->why says which). */
static int own_caps(struct my_be *b, const char *db, uint32_t *caps)
{
	struct my_sess *s = b->s;
	uint32_t want = b->own ? OWN_SHADOW : OWN_REQUIRED | MY_CAP_PLUGIN_AUTH_LENENC | MY_CAP_TRANSACTIONS |
						      CAP_LONG_FLAG | (s->caps & OWN_SHAPE);
	uint32_t missing = (want & (OWN_REQUIRED | (b->own ? 0 : OWN_SHAPE))) & ~(s->server_caps | MY_CAP_MYSQL);
	if (missing) {
		snprintf(b->why, sizeof(b->why), "the database lacks capabilities 0x%x that molt-lms's own login "
			 "needs (protocol 4.1, plugin authentication, or one the client negotiated)", (unsigned)missing);
		return -1;
	}
	want &= s->server_caps | MY_CAP_MYSQL;
	if (db && db[0])
		want |= MY_CAP_CONNECT_WITH_DB;
	if (s->be_tls)
		want |= MY_CAP_SSL;
	*caps = want;
	return 0;
}

/* The first 32 bytes of a HandshakeResponse41 (also the SSLRequest). */
static void put_header(uint8_t *d, uint32_t caps)
{
	for (int i = 0; i < 4; i++)
		d[i] = (uint8_t)(caps >> (8 * i));
	d[4] = 0;
	d[5] = 0;
	d[6] = 0;
	d[7] = 1; /* max packet: 16 MiB */
	d[8] = CHARSET_UTF8MB4;
	memset(d + 9, 0, 23);
}

/* The HandshakeResponse41 (sequence id seq) into out, as a REPLY.
 * Returns 0 (a failure sets LMS_ACT_FAIL: res says why). */
static int write_response(struct my_be *b, uint8_t seq, struct lms_out *out, struct lms_result *res)
{
	struct my_sess *s = b->s;
	const char *user = b->conf && b->conf->user ? b->conf->user : "";
	const char *db = b->db[0] ? b->db : NULL;
	uint32_t caps;
	if (own_caps(b, db, &caps) < 0)
		return own_fail(b, res, b->why);
	uint8_t auth[64];
	const char *plugin = strcmp(b->plugin, SHA2) == 0 ? SHA2 : NATIVE; /* else the server switches */
	long al = auth_answer(b, plugin, auth, sizeof(auth));
	size_t ul = strlen(user), dl = db ? strlen(db) : 0;
	size_t need = MY_HDR + 32 + ul + 1 + 1 + 64 + dl + 1 + sizeof(SHA2);
	if (al < 0 || need > LMS_OUT_MAX || ul > 255 || dl > 255) {
		OPENSSL_cleanse(auth, sizeof(auth));
		return own_fail(b, res, "cannot write the login for the URL's user");
	}
	uint8_t *d = out->data;
	size_t o = MY_HDR;
	put_header(d + o, caps);
	o += 32;
	memcpy(d + o, user, ul + 1);
	o += ul + 1;
	d[o++] = (uint8_t)al; /* lenenc (< 251) or, without LENENC, its one-byte length */
	memcpy(d + o, auth, (size_t)al);
	o += (size_t)al;
	OPENSSL_cleanse(auth, sizeof(auth));
	if (db) {
		memcpy(d + o, db, dl + 1);
		o += dl + 1;
	}
	memcpy(d + o, plugin, strlen(plugin) + 1);
	o += strlen(plugin) + 1;
	my_put24(d, (uint32_t)(o - MY_HDR));
	d[3] = seq;
	out->len = o;
	res->verdict = LMS_REPLY;
	s->caps = caps & ~MY_CAP_SSL;
	s->sseq = (uint8_t)(seq + 1);
	s->state = MY_S_AUTH;
	s->owes = MY_OWES_NOTHING;
	return 0;
}

/* The database's greeting: keep the scramble and plugin, then answer with
 * the SSLRequest (TLS) or the HandshakeResponse. */
int my_own_greeting(struct my_be *b, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res)
{
	struct my_sess *s = b->s;
	const uint8_t *pl = msg + MY_HDR;
	size_t n = len - MY_HDR;
	if (n >= 3 && pl[0] == 0xFF) { /* too many connections, host blocked */
		char text[200];
		size_t off = n >= 9 && pl[3] == '#' ? 9 : 3;
		snprintf(text, sizeof(text), "%.*s", (int)(n - off < 190 ? n - off : 190), (const char *)pl + off);
		snprintf(b->why, sizeof(b->why), "the database refused the connection: %s", text);
		return own_fail(b, res, b->why);
	}
	if (n < 1 || pl[0] != 10)
		return own_fail(b, res, "the database does not speak MySQL protocol 10");
	const uint8_t *nul = memchr(pl + 1, 0, n - 1);
	if (!nul)
		return -1;
	size_t id = (size_t)(nul - pl) + 1;
	size_t part1 = id + 4, cl = part1 + 8 + 1, ch = cl + 2 + 1 + 2, dlen = ch + 2, part2 = dlen + 1 + 10;
	if (n < part2 + 12)
		return -1;
	uint32_t caps = my_le16(pl + cl) | my_le16(pl + ch) << 16;
	if (!(caps & MY_CAP_PROTOCOL_41) || !(caps & MY_CAP_SECURE_CONNECTION))
		return own_fail(b, res, "the database does not speak protocol 4.1");
	memcpy(b->scramble, pl + part1, 8);
	memcpy(b->scramble + 8, pl + part2, 12);
	size_t after = part2 + (pl[dlen] > 8 + 13 ? (size_t)pl[dlen] - 8 : 13);
	b->plugin[0] = 0;
	if ((caps & MY_CAP_PLUGIN_AUTH) && after < n) {
		size_t k = n - after;
		const uint8_t *end = memchr(pl + after, 0, k);
		size_t nl = end ? (size_t)(end - (pl + after)) : k;
		if (nl < sizeof(b->plugin)) {
			memcpy(b->plugin, pl + after, nl);
			b->plugin[nl] = 0;
		}
	}
	int srv_tls = (caps & MY_CAP_SSL) != 0;
	if (b->tls_mode >= LMS_TLS_REQUIRE && !srv_tls)
		return own_fail(b, res, "the database does not offer TLS, and ssl-mode in the URL requires it");
	s->be_tls = b->tls_mode != LMS_TLS_DISABLE && srv_tls;
	s->server_caps = caps;
	if (!s->be_tls) {
		/* the server's thread id: what a KILL naming this session becomes */
		memcpy(res->key, pl + id, 4);
		res->key_len = 4;
		res->action = LMS_ACT_BACKEND_KEY;
		return write_response(b, 1, out, res);
	}
	uint32_t want;
	if (own_caps(b, b->db[0] ? b->db : NULL, &want) < 0)
		return own_fail(b, res, b->why);
	put_header(out->data + MY_HDR, want);
	my_put24(out->data, 32);
	out->data[3] = 1;
	out->len = MY_HDR + 32;
	res->verdict = LMS_REPLY;
	res->action = LMS_ACT_START_TLS;
	s->state = MY_S_AUTH;
	return 0;
}

/* After TLS: the HandshakeResponse, sequence id 2. */
int my_own_start_tls(struct my_be *b, struct lms_out *out, struct lms_result *res)
{
	return write_response(b, 2, out, res);
}

/* AuthSwitchRequest: plugin name, then its data (the scramble). */
static int own_switch(struct my_be *b, const uint8_t *pl, size_t n, uint8_t seq, struct lms_out *out,
		      struct lms_result *res)
{
	const uint8_t *nul = n > 1 ? memchr(pl + 1, 0, n - 1) : NULL;
	if (!nul)
		return -1;
	size_t nl = (size_t)(nul - (pl + 1));
	if (nl >= sizeof(b->plugin))
		return own_fail(b, res, "the database asks for an unknown authentication plugin");
	memcpy(b->plugin, pl + 1, nl);
	b->plugin[nl] = 0;
	size_t data = nl + 2;
	if (n >= data + MY_SCRAMBLE_LEN)
		memcpy(b->scramble, pl + data, MY_SCRAMBLE_LEN);
	else if (strcmp(b->plugin, CLEAR) != 0)
		return -1;
	long al = auth_answer(b, b->plugin, out->data + MY_HDR, LMS_OUT_MAX - MY_HDR);
	if (al == -2)
		return own_fail(b, res, "the database asks for mysql_clear_password, which sends the password in clear: "
				"molt-lms does that only over TLS (set ssl-mode=REQUIRED or VERIFY_* in the URL)");
	if (al < 0) {
		char name[64];
		memcpy(name, b->plugin, sizeof(name));
		snprintf(b->why, sizeof(b->why), "the URL's user authenticates with the %s plugin, which molt-lms's "
			 "own login does not implement: give it a mysql_native_password or caching_sha2_password password",
			 name);
		return own_fail(b, res, b->why);
	}
	my_put24(out->data, (uint32_t)al);
	out->data[3] = (uint8_t)(seq + 1);
	out->len = MY_HDR + (size_t)al;
	res->verdict = LMS_REPLY;
	b->s->sseq = (uint8_t)(seq + 2);
	return 0;
}

/* A packet of the authentication exchange. */
int my_own_auth(struct my_be *b, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res)
{
	struct my_sess *s = b->s;
	const uint8_t *pl = msg + MY_HDR;
	size_t n = len - MY_HDR;
	uint8_t seq = msg[3];
	s->sseq = (uint8_t)(seq + 1);
	switch (pl[0]) {
	case 0x00:
		s->resp = MY_R_IDLE;
		return my_login_ok(s, pl, n, res);
	case 0xFF: {
		char text[300];
		size_t off = n >= 9 && pl[3] == '#' ? 9 : 3;
		snprintf(text, sizeof(text), "%.*s", (int)(n > off ? (n - off < 280 ? n - off : 280) : 0),
			 (const char *)pl + off);
		snprintf(b->why, sizeof(b->why), "the database refused molt-lms's login with the URL's user: %s", text);
		return own_fail(b, res, b->why);
	}
	case 0xFE:
		return own_switch(b, pl, n, seq, out, res);
	case 0x01:
		if (n >= 2 && pl[1] == 0x03)
			return 0; /* caching_sha2_password: fast authentication succeeded, OK follows */
		if (n >= 2 && pl[1] == 0x04) {
			/* full authentication: the password itself */
			if (!s->be_tls)
				return own_fail(b, res, "caching_sha2_password asks for full authentication, which "
						"sends the password: molt-lms does it only over TLS (set ssl-mode=REQUIRED or "
						"VERIFY_* in the URL; it does not use the server's RSA key)");
			const char *pw = password(b);
			size_t pl2 = strlen(pw);
			if (MY_HDR + pl2 + 1 > LMS_OUT_MAX)
				return own_fail(b, res, "the URL's password is too long");
			memcpy(out->data + MY_HDR, pw, pl2 + 1);
			my_put24(out->data, (uint32_t)(pl2 + 1));
			out->data[3] = (uint8_t)(seq + 1);
			out->len = MY_HDR + pl2 + 1;
			res->verdict = LMS_REPLY;
			s->sseq = (uint8_t)(seq + 2);
			return 0;
		}
		return own_fail(b, res, "the database asks for more authentication data molt-lms cannot give");
	default:
		return -1;
	}
}
