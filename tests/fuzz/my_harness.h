/*
 * my_harness.h - shared by the mysql.so libFuzzer targets: a host API, a
 * session (frontend and backend sharing their state, as in the core), the
 * core's pump for one direction (frame; decode whole NEED_BODY packets;
 * stream the rest) over arbitrary split points, and checks on what the
 * plugin returns.
 *
 * Input layout: byte 0 = options, byte 1 = split seed, the rest = bytes as
 * they arrive from the peer being fuzzed.  The same bytes run once whole
 * and once cut at the seed's split points; what the plugin says must not
 * depend on the cuts.  A broken invariant calls abort().
 */
#ifndef LMS_FUZZ_MY_HARNESS_H
#define LMS_FUZZ_MY_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql.h"
#include "../common/stub_host.h"

#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

/* The core's key table with one session: any id whose top byte is 0x11
 * (so that KILL statements the fuzzer writes are rewritten too), on a
 * server thread of the prefix's low bytes. */
static int fuzz_backend_key_of(const uint8_t *prefix, size_t len, uint8_t *key, size_t *key_len)
{
	if (len != 4 || prefix[0] != 0x11)
		return -1;
	memcpy(key, prefix + 1, 3);
	key[3] = 0;
	*key_len = 4;
	return 0;
}

/* The core's copy of the source's logins (own login, ABI 1.4): "app"
 * with password "x" (MariaDB's PASSWORD('x')), "ed" with ed25519. */
static int fuzz_credential_of(const char *user, const char *ip, char *plugin, size_t pcap, char *verifier,
			      size_t vcap)
{
	(void)ip;
	if (strcmp(user, "app") == 0) {
		snprintf(plugin, pcap, "mysql_native_password");
		snprintf(verifier, vcap, "*B69027D44F6E5EDC07F1AEAD1477967B16F28227");
		return 0;
	}
	if (strcmp(user, "ed") == 0) {
		snprintf(plugin, pcap, "ed25519");
		snprintf(verifier, vcap, "ed25519-key");
		return 0;
	}
	return user[0] == 0 ? -2 : -1;
}

/* stub_host with the key table and logins above; filled in by sess_new. */
static struct lms_host_api fuzz_host;

static struct lms_dialect fuzz_dialect;

/* ---- a running hash of what the plugin said ---------------------------- */

struct evlog {
	uint64_t hash;
	uint64_t count;
};

static inline void ev_add(struct evlog *l, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		l->hash = (l->hash ^ b[i]) * 0x100000001b3ull;
	l->count++;
}

static void ev_u64(struct evlog *l, uint64_t v)
{
#ifdef FUZZ_TRACE
	fprintf(stderr, "ev %llu\n", (unsigned long long)v);
#endif
	ev_add(l, &v, sizeof(v));
}

/* ---- split points ------------------------------------------------------ */

struct splitter {
	uint32_t state;
	int whole;
};

static inline void split_init(struct splitter *s, uint8_t seed, int whole)
{
	s->state = 0x9e3779b9u ^ seed;
	s->whole = whole || seed == 0;
}

static inline size_t split_next(struct splitter *s, size_t left)
{
	if (s->whole)
		return left;
	s->state ^= s->state << 13;
	s->state ^= s->state >> 17;
	s->state ^= s->state << 5;
	size_t n = (s->state & 3) == 0 ? 1 : (s->state & 3) == 1 ? 1 + (s->state >> 8) % 8
		   : 1 + (s->state >> 8) % 512;
	return n < left ? n : left;
}

/* ---- a session ---------------------------------------------------------- */

struct sess {
	const struct lms_dialect *d;
	void *fe;
	void *be;
	struct lms_backend_conf conf;
};

/* The core observes the session (shadowing, ABI 1.1/1.3): set by a
 * target's setup before sess_new. */
static int fuzz_observe;
/* The plugin logs the client in itself (ABI 1.4 own_login): likewise. */
static int fuzz_own_login;
/* The session is translated (ABI 1.4, fe_set_translated): every command is
 * framed NEED_BODY whatever its size, and the core ends the session on one
 * larger than LMS_DECODE_MAX ("too large to translate"). */
static int fuzz_translated;

static inline void sess_new(struct sess *x, int tls_available, int tls_required, uint32_t tls_mode)
{
	fuzz_host = stub_host;
	fuzz_host.backend_key_of = fuzz_backend_key_of;
	fuzz_host.credential_of = fuzz_credential_of;
	x->d = my_entry(&fuzz_host, &fuzz_dialect);
	FUZZ_CHECK(x->d != NULL);
	struct lms_fe_opts fo;
	memset(&fo, 0, sizeof(fo));
	fo.tls_available = tls_available;
	fo.tls_required = tls_required;
	fo.observe = fuzz_observe ? LMS_OBSERVE_FULL : 0;
	fo.own_login = fuzz_own_login;
	memcpy(fo.client_ip, "127.0.0.1", 10);
	memcpy(fo.proxy_key, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	x->fe = x->d->fe_new(&fo);
	FUZZ_CHECK(x->fe != NULL);
	memset(&x->conf, 0, sizeof(x->conf));
	x->conf.tls_mode = tls_mode;
	struct lms_be_opts bo;
	memset(&bo, 0, sizeof(bo));
	bo.conf = &x->conf;
	bo.relay_auth = 1;
	bo.fe_state = x->fe;
	bo.observe = fuzz_observe;
	x->be = x->d->be_new(&bo);
	FUZZ_CHECK(x->be != NULL);
}

static inline void sess_free(struct sess *x)
{
	x->d->be_free(x->be);
	x->d->fe_free(x->fe);
}

static struct my_sess *S(struct sess *x)
{
	return x->fe;
}

/* ---- checks ------------------------------------------------------------- */

static inline void check_frame(const struct lms_frame *f)
{
	FUZZ_CHECK(f->len >= MY_HDR && f->len <= MY_HDR + MY_MAX_PAYLOAD);
	FUZZ_CHECK(f->kind <= LMS_MSG_ASYNC);
	FUZZ_CHECK((f->flags & ~(LMS_FRAME_NEED_BODY | LMS_FRAME_ENDS_REQUEST | LMS_FRAME_ENDS_ANSWER |
				 LMS_FRAME_NO_ANSWER)) == 0);
	/* a message that gets no answer (ABI 1.7) ends no request */
	FUZZ_CHECK(!((f->flags & LMS_FRAME_NO_ANSWER) && (f->flags & LMS_FRAME_ENDS_REQUEST)));
	if ((f->flags & LMS_FRAME_NEED_BODY) && !fuzz_translated)
		FUZZ_CHECK(f->len <= LMS_DECODE_MAX);
}

/* out holds packets: each header's length adds up to out->len. */
static inline void check_packets(const struct lms_out *out)
{
	size_t off = 0;
	FUZZ_CHECK(out->len > 0 && out->len <= LMS_OUT_MAX);
	while (off < out->len) {
		FUZZ_CHECK(out->len - off >= MY_HDR);
		off += MY_HDR + my_le24(out->data + off);
	}
	FUZZ_CHECK(off == out->len);
}

static inline void check_result(int rc, const struct lms_out *out, const struct lms_result *res)
{
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc < 0)
		return;
	FUZZ_CHECK(res->verdict <= LMS_REPLY);
	FUZZ_CHECK(res->action <= LMS_ACT_BACKEND_TLS);
	if (res->verdict == LMS_REWRITE || res->verdict == LMS_REPLY)
		check_packets(out);
	if (res->verdict == LMS_REPLY && res->action != LMS_ACT_NONE)
		FUZZ_CHECK(out->data[MY_HDR] == 0xFF); /* the proxy's own refusals are ERR packets */
	if (res->action == LMS_ACT_FAIL)
		FUZZ_CHECK(res->error.message != NULL);
	if (res->action == LMS_ACT_READY)
		FUZZ_CHECK(res->txn <= LMS_TXN_OPEN);
}

static inline void log_result(struct evlog *l, int rc, const struct lms_out *out, const struct lms_result *res)
{
	ev_u64(l, (uint64_t)(int64_t)rc);
	if (rc < 0)
		return;
	ev_u64(l, res->verdict);
	ev_u64(l, res->action);
	ev_u64(l, res->txn);
	if (res->verdict == LMS_REWRITE || res->verdict == LMS_REPLY)
		ev_add(l, out->data, out->len);
}

/* ---- observing (shadowing) ---------------------------------------------- */

static void fuzz_emit(void *ctx, const uint8_t *data, size_t len)
{
	struct evlog *l = ctx;
	ev_u64(l, data ? len : UINT64_MAX);
	if (data)
		ev_add(l, data, len);
}

/* What the core asks of a decoded message when it observes: the backend's
 * description of an answer (be_observe), the frontend's common request
 * (fe_request, ABI 1.3).  Logged, so that how the bytes arrived changes
 * nothing. */
static inline void describe(struct sess *x, int be, const uint8_t *msg, size_t len, struct evlog *l)
{
	if (!fuzz_observe)
		return;
	if (be) {
		struct lms_event ev;
		memset(&ev, 0, sizeof(ev));
		int rc = x->d->be_observe(x->be, msg, len, &ev, fuzz_emit, l);
		FUZZ_CHECK(rc == 0 || rc == -1);
		FUZZ_CHECK(ev.kind <= LMS_EV_PARAM);
		FUZZ_CHECK(memchr(ev.tag, 0, sizeof(ev.tag)) && memchr(ev.text, 0, sizeof(ev.text)));
		ev_u64(l, (uint64_t)(int64_t)rc);
		ev_u64(l, ev.kind);
		ev_u64(l, ev.rows);
		ev_add(l, ev.tag, strlen(ev.tag));
		return;
	}
	struct lms_request req;
	int rc = x->d->fe_request(x->fe, msg, len, &req);
	FUZZ_CHECK(rc == 0 || rc == -1);
	ev_u64(l, (uint64_t)(int64_t)rc);
	if (rc < 0)
		return;
	FUZZ_CHECK(req.kind <= LMS_REQ_DESCRIBE); /* DESCRIBE: a translated session's prepare */
	ev_u64(l, req.kind);
	if (req.sql)
		ev_add(l, req.sql, req.sql_len);
	for (uint32_t k = 0; k < req.nholes; k++) {
		FUZZ_CHECK(req.holes[k] < req.sql_len && req.sql[req.holes[k]] == '?');
		FUZZ_CHECK(k == 0 || req.holes[k] > req.holes[k - 1]);
	}
	FUZZ_CHECK(req.nparams == 0 || req.nparams == req.nholes);
	for (uint32_t k = 0; k < req.nparams; k++)
		fuzz_emit(l, req.params[k].data, req.params[k].len);
}

/* ---- the pump ----------------------------------------------------------- */

/* One direction's bytes as they arrive. */
struct stream {
	const uint8_t *data;
	size_t received;
	size_t pos;
	uint64_t fwd; /* bytes still to stream of the current packet */
	size_t size;  /* all of data */
};

/* Called after each decode; returns 0 to go on, -1 when the core closes. */
typedef int (*act_fn)(struct sess *x, const struct lms_result *res, struct evlog *l);
/* Called when the side is idle between packets (to inject the other
 * side's part of the exchange). */
typedef void (*idle_fn)(struct sess *x, struct evlog *l);

/* Frame from an exact-size copy so that AddressSanitizer sees any read
 * past avail. */
static inline int frame_copy(struct sess *x, int be, const uint8_t *p, size_t avail, struct lms_frame *f)
{
	uint8_t *copy = malloc(avail ? avail : 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, p, avail);
	int st = be ? x->d->be_frame(x->be, copy, avail, f) : x->d->fe_frame(x->fe, copy, avail, f);
	free(copy);
	return st;
}

/* Move what has arrived; returns -1 when the core would close. */
static inline int pump(struct sess *x, int be, struct stream *s, act_fn act, idle_fn idle, struct evlog *l)
{
	while (s->pos < s->received) {
		size_t avail = s->received - s->pos;
		if (s->fwd > 0) {
			size_t n = avail < s->fwd ? avail : (size_t)s->fwd;
			s->pos += n;
			s->fwd -= n;
			continue;
		}
		if (idle)
			idle(x, l);
		struct lms_frame f = { .len = 0 };
		size_t cap = avail > 64 ? 64 : avail; /* what a framer may look at */
		int st = avail > 64 ? (be ? x->d->be_frame(x->be, s->data + s->pos, avail, &f)
					  : x->d->fe_frame(x->fe, s->data + s->pos, avail, &f))
				    : frame_copy(x, be, s->data + s->pos, cap, &f);
		if (st == LMS_FRAME_NEED_MORE)
			return 0;
		if (st == LMS_FRAME_OK) {
			check_frame(&f);
			/* a patch (ABI 1.10) lies within the message and the bytes at hand */
			FUZZ_CHECK(f.patch_len == 0 || (f.patch_len <= LMS_PATCH_MAX && f.patch_at + f.patch_len <= f.len &&
							f.patch_at + f.patch_len <= avail));
			if ((f.flags & LMS_FRAME_NEED_BODY) && f.len > LMS_DECODE_MAX)
				return -1; /* translated: the core ends the session */
			if ((f.flags & LMS_FRAME_NEED_BODY) && avail < f.len)
				return 0; /* framed again once it is whole */
		}
		ev_u64(l, (uint64_t)st);
		if (st != LMS_FRAME_OK)
			return -1;
		ev_u64(l, f.len);
		ev_u64(l, f.kind);
		ev_u64(l, f.flags);
		if (!(f.flags & LMS_FRAME_NEED_BODY)) {
			/* a streamed row over LMS_DECODE_MAX is described whole once
			 * it passed (core/session.c row_copy); nothing reaches the
			 * plugin meanwhile, so here is as good as its end */
			if (be && f.kind == LMS_MSG_ROW && f.len > LMS_DECODE_MAX && f.len <= s->size - s->pos) {
				uint8_t *row = malloc((size_t)f.len);
				FUZZ_CHECK(row != NULL);
				memcpy(row, s->data + s->pos, (size_t)f.len);
				describe(x, be, row, (size_t)f.len, l);
				free(row);
			}
			s->fwd = f.len;
			continue;
		}
		uint8_t *msg = malloc((size_t)f.len);
		FUZZ_CHECK(msg != NULL);
		memcpy(msg, s->data + s->pos, (size_t)f.len);
		struct lms_out *out = malloc(sizeof(*out));
		struct lms_result res;
		FUZZ_CHECK(out != NULL);
		out->len = 0;
		memset(&res, 0, sizeof(res));
		int rc = be ? x->d->be_decode(x->be, msg, (size_t)f.len, out, &res)
			    : x->d->fe_decode(x->fe, msg, (size_t)f.len, out, &res);
		check_result(rc, out, &res);
		log_result(l, rc, out, &res);
		if (rc == 0)
			describe(x, be, msg, (size_t)f.len, l);
		free(out);
		free(msg);
		s->pos += (size_t)f.len;
		if (rc < 0 || act(x, &res, l) < 0)
			return -1;
	}
	return 0;
}

/* Run the bytes through one session, arriving in pieces. */
typedef void (*setup_fn)(struct sess *x, uint8_t opts, struct evlog *l);

static inline void run_once(const uint8_t *data, size_t size, int whole, setup_fn setup, int be, act_fn act,
		     idle_fn idle, struct evlog *l)
{
	struct sess x;
	struct splitter sp;
	size_t total = size - 2;
	struct stream s = { data + 2, 0, 0, 0, total };
	split_init(&sp, data[1], whole);
	setup(&x, data[0], l);
	while (s.received < total) {
		s.received += split_next(&sp, total - s.received);
		if (pump(&x, be, &s, act, idle, l) < 0)
			break;
	}
	sess_free(&x);
}

#endif /* LMS_FUZZ_MY_HARNESS_H */
