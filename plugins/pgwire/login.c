/*
 * login.c - logging in to a database with a URL's own credentials
 * (relay_auth == 0): cleartext, md5 and SCRAM-SHA-256 (RFC 5802/7677,
 * without channel binding).  This is how a connection that no client
 * authenticates through (the shadow side, --check-config, cutover) logs in.
 *
 * Every function answers one AuthenticationRequest with the bytes to send
 * back; the caller (backend.c) turns them into a REPLY verdict.
 */
#include "autoconfig.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "login.h"

#define SCRAM_KEY 32 /* SHA-256 */

/* Start a typed message in out; returns the offset of its length field. */
static size_t msg_begin(struct lms_out *out, uint8_t type)
{
	out->data[0] = type;
	out->len = 5;
	return 1;
}

static void msg_end(struct lms_out *out)
{
	pg_put32(out->data + 1, (uint32_t)(out->len - 1));
}

static int put_bytes(struct lms_out *out, const void *p, size_t n)
{
	if (out->len + n > LMS_OUT_MAX)
		return -1;
	memcpy(out->data + out->len, p, n);
	out->len += n;
	return 0;
}

int pg_login_cleartext(const char *password, struct lms_out *out)
{
	msg_begin(out, 'p');
	if (put_bytes(out, password, strlen(password) + 1) < 0)
		return -1;
	msg_end(out);
	return 0;
}

/* Lower-case hex of n bytes into dst (2n+1 bytes). */
static void hex(const uint8_t *p, size_t n, char *dst)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		dst[2 * i] = digits[p[i] >> 4];
		dst[2 * i + 1] = digits[p[i] & 15];
	}
	dst[2 * n] = 0;
}

/* md5(a || b) as 32 hex characters. */
static int md5_hex(const void *a, size_t alen, const void *b, size_t blen, char out[33])
{
	uint8_t d[16];
	unsigned int dlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, EVP_md5(), NULL) && EVP_DigestUpdate(c, a, alen) &&
		 EVP_DigestUpdate(c, b, blen) && EVP_DigestFinal_ex(c, d, &dlen) && dlen == 16;
	EVP_MD_CTX_free(c);
	if (!ok)
		return -1;
	hex(d, 16, out);
	return 0;
}

int pg_login_md5(const char *user, const char *password, const uint8_t salt[4], struct lms_out *out)
{
	char inner[33], outer[36] = "md5";
	if (md5_hex(password, strlen(password), user, strlen(user), inner) < 0 ||
	    md5_hex(inner, 32, salt, 4, outer + 3) < 0)
		return -1;
	msg_begin(out, 'p');
	if (put_bytes(out, outer, strlen(outer) + 1) < 0)
		return -1;
	msg_end(out);
	return 0;
}

/* ---- SCRAM-SHA-256 ---- */

int pg_scram_begin(struct pg_scram *sc, struct lms_out *out)
{
	uint8_t raw[18];
	if (!sc->nonce[0]) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
		memset(raw, 'x', sizeof(raw)); /* fuzzers compare runs: be repeatable */
#else
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return -1;
#endif
		EVP_EncodeBlock((unsigned char *)sc->nonce, raw, sizeof(raw));
	}
	/* gs2 header "n,," (no channel binding), empty user: the server uses
	 * the startup packet's user. */
	int n = snprintf(sc->client_first_bare, sizeof(sc->client_first_bare), "n=,r=%s", sc->nonce);
	if (n < 0 || (size_t)n >= sizeof(sc->client_first_bare))
		return -1;
	const char mech[] = "SCRAM-SHA-256";
	char first[160];
	int fl = snprintf(first, sizeof(first), "n,,%s", sc->client_first_bare);
	uint8_t len[4];
	pg_put32(len, (uint32_t)fl);
	msg_begin(out, 'p');
	if (put_bytes(out, mech, sizeof(mech)) < 0 || put_bytes(out, len, 4) < 0 ||
	    put_bytes(out, first, (size_t)fl) < 0)
		return -1;
	msg_end(out);
	sc->step = 1;
	return 0;
}

/* Find attribute "k=" in a comma-separated SCRAM message; copies its value. */
static int scram_attr(const char *msg, char k, char *val, size_t cap)
{
	const char *p = msg;
	while (p && *p) {
		if (p[0] == k && p[1] == '=') {
			const char *e = strchr(p, ',');
			size_t n = e ? (size_t)(e - p - 2) : strlen(p + 2);
			if (n >= cap)
				return -1;
			memcpy(val, p + 2, n);
			val[n] = 0;
			return 0;
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return -1;
}

static int hmac256(const uint8_t *key, size_t klen, const void *msg, size_t mlen, uint8_t out[SCRAM_KEY])
{
	unsigned int n = 0;
	return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n) && n == SCRAM_KEY ? 0 : -1;
}

/* SaltedPassword (PBKDF2, thousands of HMACs: milliseconds) is the same
 * for every login of one URL to one server, which keeps the user's salt
 * and iteration count.  Logins that come together - every session's
 * shadow, every session moved by a cutover - would each spend those
 * milliseconds of a worker's time; so the last few results are kept,
 * keyed by a hash of the password, the salt and the iterations.  The
 * password itself is not kept here. */
#define SALTED_CACHE 4

struct salted_entry {
	int used;
	uint8_t pw_hash[SCRAM_KEY];
	uint8_t salt[96];
	int saltlen;
	int iters;
	uint8_t salted[SCRAM_KEY];
};

static struct salted_entry salted_cache[SALTED_CACHE];
static unsigned salted_next;
static pthread_mutex_t salted_lock = PTHREAD_MUTEX_INITIALIZER;

/* Find (lookup, store == 0) or remember (store == 1) a SaltedPassword. */
static int salted_cache_op(const uint8_t pw_hash[SCRAM_KEY], const uint8_t *salt, int saltlen, int iters,
			   uint8_t salted[SCRAM_KEY], int store)
{
	int found = -1;
	if (saltlen < 0 || (size_t)saltlen > sizeof(salted_cache[0].salt))
		return -1;
	pthread_mutex_lock(&salted_lock);
	for (int i = 0; i < SALTED_CACHE && found < 0; i++) {
		struct salted_entry *e = &salted_cache[i];
		if (e->used && e->iters == iters && e->saltlen == saltlen && memcmp(e->salt, salt, (size_t)saltlen) == 0 &&
		    memcmp(e->pw_hash, pw_hash, SCRAM_KEY) == 0)
			found = i;
	}
	if (found >= 0 && !store)
		memcpy(salted, salted_cache[found].salted, SCRAM_KEY);
	if (found < 0 && store) {
		struct salted_entry *e = &salted_cache[salted_next++ % SALTED_CACHE];
		e->used = 1;
		memcpy(e->pw_hash, pw_hash, SCRAM_KEY);
		memcpy(e->salt, salt, (size_t)saltlen);
		e->saltlen = saltlen;
		e->iters = iters;
		memcpy(e->salted, salted, SCRAM_KEY);
	}
	pthread_mutex_unlock(&salted_lock);
	return found >= 0 ? 0 : -1;
}

/* SaltedPassword := Hi(password, salt, iterations), from the cache when
 * this password, salt and count were seen before. */
static int salted_password(const char *password, const uint8_t *salt, int saltlen, int iters,
			   uint8_t salted[SCRAM_KEY])
{
	uint8_t pw_hash[SCRAM_KEY];
	if (SHA256((const unsigned char *)password, strlen(password), pw_hash) == NULL)
		return -1;
	if (salted_cache_op(pw_hash, salt, saltlen, iters, salted, 0) == 0)
		return 0;
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, saltlen, iters, EVP_sha256(),
			      SCRAM_KEY, salted) != 1)
		return -1;
	salted_cache_op(pw_hash, salt, saltlen, iters, salted, 1);
	return 0;
}

/* The client's proof and the server signature we expect, for AuthMessage. */
static int scram_keys(struct pg_scram *sc, const char *password, const uint8_t *salt, int saltlen,
		      int iters, const char *auth_msg, uint8_t proof[SCRAM_KEY])
{
	uint8_t salted[SCRAM_KEY], client_key[SCRAM_KEY], stored[SCRAM_KEY], sig[SCRAM_KEY], server_key[SCRAM_KEY];
	if (salted_password(password, salt, saltlen, iters, salted) < 0)
		return -1;
	if (hmac256(salted, SCRAM_KEY, "Client Key", 10, client_key) < 0 ||
	    SHA256(client_key, SCRAM_KEY, stored) == NULL ||
	    hmac256(stored, SCRAM_KEY, auth_msg, strlen(auth_msg), sig) < 0 ||
	    hmac256(salted, SCRAM_KEY, "Server Key", 10, server_key) < 0 ||
	    hmac256(server_key, SCRAM_KEY, auth_msg, strlen(auth_msg), sc->server_sig) < 0)
		return -1;
	for (int i = 0; i < SCRAM_KEY; i++)
		proof[i] = client_key[i] ^ sig[i];
	return 0;
}

int pg_scram_continue(struct pg_scram *sc, const char *password, const char *server_first,
		      struct lms_out *out)
{
	char nonce[128], salt64[128], iter_s[16];
	uint8_t salt[96], proof[SCRAM_KEY];
	if (sc->step != 1 || scram_attr(server_first, 'r', nonce, sizeof(nonce)) < 0 ||
	    scram_attr(server_first, 's', salt64, sizeof(salt64)) < 0 ||
	    scram_attr(server_first, 'i', iter_s, sizeof(iter_s)) < 0)
		return -1;
	/* The server's nonce must extend ours. */
	if (strncmp(nonce, sc->nonce, strlen(sc->nonce)) != 0 || strlen(nonce) <= strlen(sc->nonce))
		return -1;
	int iters = atoi(iter_s);
	size_t s64 = strlen(salt64);
	if (iters < 1 || iters > 10000000 || s64 % 4 != 0 || s64 / 4 * 3 > sizeof(salt))
		return -1;
	int saltlen = EVP_DecodeBlock(salt, (const unsigned char *)salt64, (int)s64);
	if (saltlen < 0)
		return -1;
	saltlen -= (s64 > 0 && salt64[s64 - 1] == '=') + (s64 > 1 && salt64[s64 - 2] == '=');
	char final_wo_proof[200], auth_msg[600], proof64[64], final[300];
	int n = snprintf(final_wo_proof, sizeof(final_wo_proof), "c=biws,r=%s", nonce);
	if (n < 0 || (size_t)n >= sizeof(final_wo_proof))
		return -1;
	n = snprintf(auth_msg, sizeof(auth_msg), "%s,%s,%s", sc->client_first_bare, server_first, final_wo_proof);
	if (n < 0 || (size_t)n >= sizeof(auth_msg))
		return -1;
	if (scram_keys(sc, password, salt, saltlen, iters, auth_msg, proof) < 0)
		return -1;
	EVP_EncodeBlock((unsigned char *)proof64, proof, SCRAM_KEY);
	n = snprintf(final, sizeof(final), "%s,p=%s", final_wo_proof, proof64);
	if (n < 0 || (size_t)n >= sizeof(final))
		return -1;
	msg_begin(out, 'p');
	if (put_bytes(out, final, (size_t)n) < 0)
		return -1;
	msg_end(out);
	sc->step = 2;
	return 0;
}

int pg_scram_finish(struct pg_scram *sc, const char *server_final)
{
	char v64[64];
	uint8_t v[48];
	if (sc->step != 2 || scram_attr(server_final, 'v', v64, sizeof(v64)) < 0 || strlen(v64) != 44)
		return -1;
	if (EVP_DecodeBlock(v, (const unsigned char *)v64, 44) != 33)
		return -1;
	sc->step = 3;
	return CRYPTO_memcmp(v, sc->server_sig, SCRAM_KEY) == 0 ? 0 : -1;
}
