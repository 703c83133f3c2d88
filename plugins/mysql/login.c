/*
 * login.c - the client's login verified by mysql.so itself (plugin ABI
 * 1.4, lms_fe_opts.own_login): the source of truth speaks another wire
 * family, so there is no MySQL server to relay the login to.
 *
 * The plugin sends its own greeting (a fresh 20-byte scramble,
 * mysql_native_password), lets the client upgrade to TLS as usual, and
 * checks the client's scramble answer against the verifier the core holds
 * for user@address (host API credential_of: the source's mysql.user,
 * copied into the coordination store).  A client that starts with another
 * authentication plugin is asked to switch to mysql_native_password.
 * Only a verified client makes the core connect the database (with the
 * URL's credentials); the client's OK comes once that login succeeded
 * (my_fe_login_done).  docs/mysql-auth.md describes the design and its
 * security trade-offs.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "mysql.h"

#define NATIVE "mysql_native_password"
/* What clients see as the server's version: MariaDB's "5.5.5-" prefix
 * tells MariaDB connectors (Connector/J, the mariadb client) the server
 * is MariaDB; PyMySQL and MySQL connectors read 5.5.5, old enough to
 * avoid MySQL 8-only start-up queries. */
#define SERVER_VERSION "5.5.5-10.11.0-molt-lms"
#define CHARSET_UTF8MB4 45u
#define STATUS_AUTOCOMMIT 0x2u

/* What the proxy offers in its own greeting: no compression, no LOCAL
 * INFILE (the database behind does not speak MySQL), no session tracking. */
#define OWN_CAPS (MY_CAP_MYSQL | 0x2u /* FOUND_ROWS */ | 0x4u /* LONG_FLAG */ | MY_CAP_CONNECT_WITH_DB | \
		  0x100u /* IGNORE_SPACE */ | MY_CAP_PROTOCOL_41 | 0x400u /* INTERACTIVE */ | \
		  0x1000u /* IGNORE_SIGPIPE */ | MY_CAP_TRANSACTIONS | MY_CAP_SECURE_CONNECTION | \
		  MY_CAP_MULTI_STATEMENTS | MY_CAP_MULTI_RESULTS | 0x40000u /* PS_MULTI_RESULTS */ | \
		  MY_CAP_PLUGIN_AUTH | 0x100000u /* CONNECT_ATTRS */ | MY_CAP_PLUGIN_AUTH_LENENC | \
		  MY_CAP_DEPRECATE_EOF)

/* 20 scramble bytes as MySQL servers make them: 7-bit, never NUL (the
 * greeting ends its second part with one) nor '$'.  Returns 0 or -1. */
int my_login_scramble(uint8_t out[MY_SCRAMBLE_LEN])
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	/* fuzzers replay inputs: the same scramble every time */
	memcpy(out, "abcdefghijklmnopqrst", MY_SCRAMBLE_LEN);
	return 0;
#endif
	size_t got = 0;
	while (got < MY_SCRAMBLE_LEN) {
		ssize_t n = getrandom(out + got, MY_SCRAMBLE_LEN - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	for (size_t i = 0; i < MY_SCRAMBLE_LEN; i++) {
		out[i] &= 0x7f;
		if (out[i] == 0 || out[i] == '$')
			out[i]++;
	}
	return 0;
}

int my_login_greet(struct my_sess *s, struct lms_out *out)
{
	if (my_login_scramble(s->scramble) < 0)
		return -1;
	s->scramble_known = 1;
	uint32_t caps = OWN_CAPS | (s->tls_available ? MY_CAP_SSL : 0);
	uint8_t *d = out->data;
	size_t off = MY_HDR;
	d[off++] = 10; /* protocol version */
	memcpy(d + off, SERVER_VERSION, sizeof(SERVER_VERSION));
	off += sizeof(SERVER_VERSION);
	memcpy(d + off, s->conn_id, 4);
	off += 4;
	memcpy(d + off, s->scramble, 8);
	off += 8;
	d[off++] = 0;
	d[off++] = (uint8_t)caps;
	d[off++] = (uint8_t)(caps >> 8);
	d[off++] = CHARSET_UTF8MB4;
	d[off++] = STATUS_AUTOCOMMIT;
	d[off++] = 0;
	d[off++] = (uint8_t)(caps >> 16);
	d[off++] = (uint8_t)(caps >> 24);
	d[off++] = MY_SCRAMBLE_LEN + 1;
	memset(d + off, 0, 10); /* reserved (MariaDB's extended capabilities: none) */
	off += 10;
	memcpy(d + off, s->scramble + 8, MY_SCRAMBLE_LEN - 8);
	off += MY_SCRAMBLE_LEN - 8;
	d[off++] = 0;
	memcpy(d + off, NATIVE, sizeof(NATIVE));
	off += sizeof(NATIVE);
	my_put24(d, (uint32_t)(off - MY_HDR));
	d[3] = 0;
	out->len = off;
	s->server_caps = caps;
	s->adv_caps = caps;
	s->state = MY_S_HANDSHAKE;
	s->cseq = 1;
	s->to_client = 1;
	return 0;
}

/* "*" and 40 hex digits into 20 bytes.  Returns 0 or -1. */
static int unhex_verifier(const char *v, uint8_t out[SHA_DIGEST_LENGTH])
{
	if (!v || v[0] != '*' || strlen(v) != 1 + 2 * SHA_DIGEST_LENGTH)
		return -1;
	for (size_t i = 0; i < SHA_DIGEST_LENGTH; i++) {
		unsigned b = 0;
		for (int k = 0; k < 2; k++) {
			char c = v[1 + 2 * i + (size_t)k];
			unsigned x = c >= '0' && c <= '9' ? (unsigned)(c - '0')
				   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
				   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16u;
			if (x > 15)
				return -1;
			b = b * 16 + x;
		}
		out[i] = (uint8_t)b;
	}
	return 0;
}

int my_native_check(const uint8_t scramble[MY_SCRAMBLE_LEN], const uint8_t *resp, size_t rlen, const char *verifier)
{
	if (!verifier || !verifier[0])
		return rlen == 0 ? 0 : -1; /* a user without a password */
	uint8_t stored[SHA_DIGEST_LENGTH], mask[SHA_DIGEST_LENGTH], cand[SHA_DIGEST_LENGTH], check[SHA_DIGEST_LENGTH];
	if (rlen != SHA_DIGEST_LENGTH || unhex_verifier(verifier, stored) < 0)
		return -1;
	/* resp = SHA1(pw) XOR SHA1(scramble || SHA1(SHA1(pw))), and stored
	 * is SHA1(SHA1(pw)): undo the mask, hash, compare */
	uint8_t buf[MY_SCRAMBLE_LEN + SHA_DIGEST_LENGTH];
	memcpy(buf, scramble, MY_SCRAMBLE_LEN);
	memcpy(buf + MY_SCRAMBLE_LEN, stored, SHA_DIGEST_LENGTH);
	SHA1(buf, sizeof(buf), mask);
	for (size_t i = 0; i < SHA_DIGEST_LENGTH; i++)
		cand[i] = resp[i] ^ mask[i];
	SHA1(cand, sizeof(cand), check);
	int ok = CRYPTO_memcmp(check, stored, SHA_DIGEST_LENGTH) == 0;
	OPENSSL_cleanse(cand, sizeof(cand));
	return ok ? 0 : -1;
}

/* ERR 1045 (28000) for the client's packet of sequence id seq, then close. */
static void deny(struct my_sess *s, uint8_t seq, const char *why, struct lms_out *out, struct lms_result *res)
{
	char msg[640];
	snprintf(msg, sizeof(msg), "Access denied for user '%.127s'@'%.47s' (molt-lms: %.400s)", s->login_user,
		 s->client_ip[0] ? s->client_ip : "unknown", why);
	my_err_packet(out, (uint8_t)(seq + 1), 1045, "28000", msg, 1);
	res->verdict = LMS_REPLY;
	res->action = LMS_ACT_CLOSE;
	s->state = MY_S_CLOSED;
}

int my_login_check(const char *user, const char *client_ip, const uint8_t scramble[MY_SCRAMBLE_LEN],
		   const uint8_t *resp, size_t rlen, char *why, size_t whylen)
{
	char plugin[64], verifier[LMS_VERIFIER_MAX];
	int rc = LMS_HOST_HAS(my_host, credential_of)
		 ? my_host->credential_of(user, client_ip, plugin, sizeof(plugin), verifier, sizeof(verifier))
		 : -2;
	if (rc == -2) {
		snprintf(why, whylen, "the database serving now is not MySQL, and this proxy holds no copy of the "
			 "source's logins (_molt_lms.credentials in the coordination store: run molt-lms-cli initialize "
			 "or begin with the orchestrator's SOURCE_URL set to the MySQL source)");
		return -1;
	}
	if (rc != 0) {
		snprintf(why, whylen, "no such login in the copy of the source's users taken at the last initialize "
			 "or begin");
		return -1;
	}
	if (strcmp(plugin, NATIVE) != 0 && plugin[0] != 0) {
		snprintf(why, whylen, "this login uses the %s authentication plugin, which molt-lms cannot verify once "
			 "the source is no longer serving; give it a mysql_native_password password on the source and run "
			 "begin again", plugin);
		return -1;
	}
	rc = my_native_check(scramble, resp, rlen, verifier);
	OPENSSL_cleanse(verifier, sizeof(verifier));
	if (rc < 0) {
		snprintf(why, whylen, "wrong password (using password: %s)", rlen ? "YES" : "NO");
		return -1;
	}
	return 0;
}

/* Verify resp[0..rlen) (the answer to our scramble, client packet seq):
 * on success ask the core to connect, else deny. */
static int verify(struct my_sess *s, uint8_t seq, const uint8_t *resp, size_t rlen, struct lms_out *out,
		  struct lms_result *res)
{
	char why[400];
	if (my_login_check(s->login_user, s->client_ip, s->scramble, resp, rlen, why, sizeof(why)) < 0) {
		deny(s, seq, why, out, res);
		return 0;
	}
	res->verdict = LMS_DROP;
	res->action = LMS_ACT_CONNECT;
	res->startup.family = "mysql";
	res->startup.user = s->login_user;
	res->startup.database = s->login_db[0] ? s->login_db : NULL;
	size_t dbl = strnlen(s->login_db, sizeof(s->db) - 1); /* MySQL names: 64 characters at most */
	memcpy(s->db, s->login_db, dbl); /* for USE and DATABASE() after the cutover */
	s->db[dbl] = 0;
	res->startup.raw = (const uint8_t *)""; /* nothing to forward: another family */
	res->startup.raw_len = 0;
	s->state = MY_S_AUTH;
	s->owes = MY_OWES_NOTHING;
	s->login_ok_seq = (uint8_t)(seq + 1);
	s->to_client = (uint8_t)(seq + 1); /* an ERR if the database refuses us */
	return 0;
}

/* A NUL-terminated string at pl[*off..n) into dst[0..cap).  Returns 0, or
 * -1 when it has no NUL or does not fit. */
static int take_cstr(const uint8_t *pl, size_t n, size_t *off, char *dst, size_t cap)
{
	const uint8_t *nul = *off < n ? memchr(pl + *off, 0, n - *off) : NULL;
	if (!nul)
		return -1;
	size_t len = (size_t)(nul - (pl + *off));
	if (len >= cap)
		return -1;
	memcpy(dst, pl + *off, len + 1);
	*off += len + 1;
	return 0;
}

int my_login_response(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out,
		      struct lms_result *res)
{
	const uint8_t *pl = msg + MY_HDR;
	size_t n = len - MY_HDR;
	uint8_t seq = msg[3];
	uint32_t caps = my_le32(pl);
	s->caps = caps & s->adv_caps;
	size_t off = 32;
	s->login_user[0] = 0;
	if (take_cstr(pl, n, &off, s->login_user, sizeof(s->login_user)) < 0)
		goto bad;
	uint64_t alen;
	if (caps & MY_CAP_PLUGIN_AUTH_LENENC) {
		int k = off < n ? my_lenenc(pl + off, n - off, &alen) : 0;
		if (k <= 0)
			goto bad;
		off += (size_t)k;
	} else if (caps & MY_CAP_SECURE_CONNECTION) {
		if (off >= n)
			goto bad;
		alen = pl[off++];
	} else {
		const uint8_t *nul = off < n ? memchr(pl + off, 0, n - off) : NULL;
		if (!nul)
			goto bad;
		alen = (uint64_t)(nul - (pl + off));
	}
	if (alen > n - off)
		goto bad;
	const uint8_t *auth = pl + off;
	size_t auth_len = (size_t)alen;
	off += auth_len + (!(caps & (MY_CAP_PLUGIN_AUTH_LENENC | MY_CAP_SECURE_CONNECTION)) ? 1 : 0);
	s->login_db[0] = 0;
	if ((caps & MY_CAP_CONNECT_WITH_DB) && off < n && take_cstr(pl, n, &off, s->login_db, sizeof(s->login_db)) < 0)
		goto bad;
	char cplugin[64] = NATIVE;
	if ((caps & MY_CAP_PLUGIN_AUTH) && off < n && take_cstr(pl, n, &off, cplugin, sizeof(cplugin)) < 0)
		goto bad;
	if (strcmp(cplugin, NATIVE) != 0) {
		/* e.g. caching_sha2_password (MySQL 8 clients), client_ed25519:
		 * ask for mysql_native_password over the same scramble */
		if (!(caps & MY_CAP_PLUGIN_AUTH)) {
			deny(s, seq, "the client cannot switch to mysql_native_password", out, res);
			return 0;
		}
		uint8_t *d = out->data;
		size_t o = MY_HDR;
		d[o++] = 0xFE;
		memcpy(d + o, NATIVE, sizeof(NATIVE));
		o += sizeof(NATIVE);
		memcpy(d + o, s->scramble, MY_SCRAMBLE_LEN);
		o += MY_SCRAMBLE_LEN;
		d[o++] = 0;
		my_put24(d, (uint32_t)(o - MY_HDR));
		d[3] = (uint8_t)(seq + 1);
		out->len = o;
		res->verdict = LMS_REPLY; /* not named yet: CONNECT names the session */
		s->state = MY_S_AUTH;
		s->owes = MY_OWES_AUTH;
		s->cseq = (uint8_t)(seq + 2);
		s->to_client = (uint8_t)(seq + 2);
		return 0;
	}
	return verify(s, seq, auth, auth_len, out, res);
bad:
	my_err_packet(out, (uint8_t)(seq + 1), 1043, "08S01", "Bad handshake (molt-lms: malformed response)", 1);
	res->verdict = LMS_REPLY;
	res->action = LMS_ACT_CLOSE;
	s->state = MY_S_CLOSED;
	return 0;
}

int my_login_switch_answer(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out,
			   struct lms_result *res)
{
	s->owes = MY_OWES_NOTHING;
	return verify(s, msg[3], msg + MY_HDR, len - MY_HDR, out, res);
}

int my_fe_login_done(void *fe, struct lms_out *out)
{
	struct my_sess *s = fe;
	if (!s->own_login || s->state != MY_S_AUTH || s->owes != MY_OWES_NOTHING)
		return -1;
	static const uint8_t ok[] = { 0x00, 0x00, 0x00, STATUS_AUTOCOMMIT, 0x00, 0x00, 0x00 };
	my_put24(out->data, sizeof(ok));
	out->data[3] = s->login_ok_seq;
	memcpy(out->data + MY_HDR, ok, sizeof(ok));
	out->len = MY_HDR + sizeof(ok);
	s->state = MY_S_READY;
	s->txn = LMS_TXN_IDLE;
	s->cseq = 0;
	s->to_client = 1;
	return 0;
}
