/*
 * harness.h - shared by the pgwire libFuzzer targets: a host API, the
 * core's pump loop (frame; decode whole NEED_BODY messages; stream the
 * rest), arbitrary split points, and checks on what the plugin returns.
 *
 * Input layout for every target: byte 0 = options, byte 1 = split seed,
 * the rest = bytes as they arrive from the peer.  The same bytes are run
 * once in one piece and once cut at the seed's split points; the events
 * (framed messages, decode results) must match up to the first TLS switch,
 * since a framer must not depend on how bytes arrive.
 *
 * A broken invariant calls abort() so that libFuzzer records a crash.
 */
#ifndef LMS_FUZZ_HARNESS_H
#define LMS_FUZZ_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire.h"
#include "../common/stub_host.h"

#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

/* ---- event log: a running hash of what the plugin said ---------------- */

struct evlog {
	uint64_t hash;
	uint64_t count;
	int frozen; /* stop recording (after a TLS switch) */
};

static void ev_add(struct evlog *l, const void *p, size_t n)
{
	if (l->frozen)
		return;
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		l->hash = (l->hash ^ b[i]) * 0x100000001b3ull;
	l->count++;
}

static void ev_u64(struct evlog *l, uint64_t v)
{
	ev_add(l, &v, sizeof(v));
}

/* ---- split points ----------------------------------------------------- */

/* Chunk sizes from a seed: 0 = everything at once; otherwise a mix of
 * 1-byte, header-sized and larger pieces. */
struct splitter {
	uint32_t state;
	int whole;
};

static void split_init(struct splitter *s, uint8_t seed, int whole)
{
	s->state = 0x9e3779b9u ^ seed;
	s->whole = whole || seed == 0;
}

static size_t split_next(struct splitter *s, size_t left)
{
	if (s->whole)
		return left;
	s->state ^= s->state << 13;
	s->state ^= s->state >> 17;
	s->state ^= s->state << 5;
	size_t n;
	switch (s->state & 3) {
	case 0:
		n = 1;
		break;
	case 1:
		n = 1 + (s->state >> 8) % 8;
		break;
	case 2:
		n = 1 + (s->state >> 8) % 64;
		break;
	default:
		n = 1 + (s->state >> 8) % 4096;
		break;
	}
	return n < left ? n : left;
}

/* ---- the pump ---------------------------------------------------------- */

/* What the side being fuzzed looks like to the pump. */
struct side {
	void *st;
	int (*frame)(void *st, const uint8_t *p, size_t avail, struct lms_frame *f);
	int (*decode)(void *st, const uint8_t *msg, size_t len, struct lms_out *out,
		      struct lms_result *res);
	/* Act on a decode result; returns 0 to go on, -1 when the core would
	 * close.  pending = bytes received after this message. */
	int (*act)(void *ctx, const uint8_t *msg, size_t len, const struct lms_out *out,
		   const struct lms_result *res, size_t pending);
	void *ctx;
	struct evlog *log;
	/* A streamed row over LMS_DECODE_MAX, whole: the core copies it as
	 * it passes and describes it once it did (NULL: not observed). */
	void (*streamed)(void *ctx, const uint8_t *msg, size_t len);
};

struct stream {
	const uint8_t *data; /* all bytes, as given by libFuzzer */
	size_t received;     /* how many have arrived */
	size_t pos;          /* first unconsumed byte */
	uint64_t fwd;        /* bytes still to stream of the current message */
	size_t size;         /* all of data */
};

static void check_frame(const struct lms_frame *f)
{
	FUZZ_CHECK(f->len >= 1);
	FUZZ_CHECK(f->kind <= LMS_MSG_ASYNC);
	FUZZ_CHECK((f->flags & ~(LMS_FRAME_NEED_BODY | LMS_FRAME_ENDS_REQUEST)) == 0);
}

/* Checks that hold for any decode result. */
static void check_result(int rc, const uint8_t *msg, size_t len, const struct lms_out *out,
			 const struct lms_result *res)
{
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc < 0)
		return;
	FUZZ_CHECK(res->verdict <= LMS_REPLY);
	FUZZ_CHECK(res->action <= LMS_ACT_FAIL);
	FUZZ_CHECK(out->len <= LMS_OUT_MAX);
	FUZZ_CHECK(res->key_len <= LMS_KEY_MAX);
	if (res->verdict == LMS_REWRITE || res->verdict == LMS_REPLY)
		FUZZ_CHECK(out->len > 0);
	if (res->action == LMS_ACT_FAIL)
		FUZZ_CHECK(res->error.message != NULL);
	if (res->action == LMS_ACT_READY)
		FUZZ_CHECK(res->txn <= LMS_TXN_FAILED);
	(void)msg;
	(void)len;
}

static void log_result(struct evlog *l, int rc, const struct lms_out *out, const struct lms_result *res)
{
	ev_u64(l, (uint64_t)(int64_t)rc);
	if (rc < 0)
		return;
	ev_u64(l, res->verdict);
	ev_u64(l, res->action);
	ev_u64(l, res->txn);
	ev_add(l, res->key, res->key_len);
	ev_add(l, out->data, out->len);
}

/* Frame the bytes at pos, giving the framer an exact-size copy of short
 * inputs so that AddressSanitizer sees any read past avail. */
static int frame_at(struct side *sd, struct stream *s, struct lms_frame *f)
{
	size_t avail = s->received - s->pos;
	const uint8_t *p = s->data + s->pos;
	if (avail > 64)
		return sd->frame(sd->st, p, avail, f);
	uint8_t *copy = malloc(avail ? avail : 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, p, avail);
	int st = sd->frame(sd->st, avail ? copy : copy + 1, avail, f);
	free(copy);
	return st;
}

/* Decode one whole message from an exact-size copy. */
static int decode_at(struct side *sd, struct stream *s, size_t len)
{
	uint8_t *msg = malloc(len);
	FUZZ_CHECK(msg != NULL);
	memcpy(msg, s->data + s->pos, len);
	struct lms_out *out = malloc(sizeof(*out));
	FUZZ_CHECK(out != NULL);
	struct lms_result res;
	out->len = 0;
	memset(&res, 0, sizeof(res));
	int rc = sd->decode(sd->st, msg, len, out, &res);
	check_result(rc, msg, len, out, &res);
	log_result(sd->log, rc, out, &res);
	int go = -1;
	if (rc == 0)
		go = sd->act(sd->ctx, msg, len, out, &res, s->received - s->pos - len);
	free(out);
	free(msg);
	if (go == 0)
		s->pos += len;
	return go;
}

/* A streamed row, whole, from an exact-size copy (see side.streamed). */
static void streamed_at(struct side *sd, struct stream *s, size_t len)
{
	uint8_t *msg = malloc(len);
	FUZZ_CHECK(msg != NULL);
	memcpy(msg, s->data + s->pos, len);
	sd->streamed(sd->ctx, msg, len);
	free(msg);
}

/* Move through the bytes received so far, as core/session.c pump() does.
 * Returns 0 to wait for more bytes, -1 when the connection would close. */
static int pump(struct side *sd, struct stream *s)
{
	while (s->pos < s->received) {
		size_t avail = s->received - s->pos;
		if (s->fwd > 0) {
			size_t n = avail < s->fwd ? avail : (size_t)s->fwd;
			s->pos += n;
			s->fwd -= n;
			continue;
		}
		struct lms_frame f = { .len = 0 };
		int st = frame_at(sd, s, &f);
		FUZZ_CHECK(st == LMS_FRAME_OK || st == LMS_FRAME_NEED_MORE || st == LMS_FRAME_INVALID);
		if (st == LMS_FRAME_NEED_MORE)
			return 0;
		if (st != LMS_FRAME_OK) {
			ev_u64(sd->log, (uint64_t)st);
			return -1;
		}
		check_frame(&f);
		int body = (f.flags & LMS_FRAME_NEED_BODY) != 0;
		if (body && f.len <= LMS_DECODE_MAX && avail < f.len)
			return 0; /* framed again when more arrives: log it once */
		ev_u64(sd->log, f.len);
		ev_u64(sd->log, f.kind);
		ev_u64(sd->log, f.flags);
		if (body && f.len > LMS_DECODE_MAX)
			return -1;
		if (!body) {
			/* nothing reaches the plugin while it streams past: describing
			 * it at its frame is what the core does at its end */
			if (sd->streamed && f.kind == LMS_MSG_ROW && f.len > LMS_DECODE_MAX && f.len <= s->size - s->pos)
				streamed_at(sd, s, (size_t)f.len);
			s->fwd = f.len;
			continue;
		}
		if (decode_at(sd, s, (size_t)f.len) < 0)
			return -1;
	}
	return 0;
}

/* Deliver data[0..size) in pieces chosen by the splitter. */
static void run_stream(struct side *sd, const uint8_t *data, size_t size, struct splitter *sp)
{
	struct stream s = { data, 0, 0, 0, size };
	while (s.received < size) {
		s.received += split_next(sp, size - s.received);
		if (pump(sd, &s) < 0)
			return;
	}
}

/* Is msg[0..len) an ErrorResponse whose length field and fields add up? */
static inline int is_error_response(const uint8_t *p, size_t len)
{
	if (len < 6 || p[0] != 'E' || pg_get32(p + 1) != len - 1 || p[len - 1] != 0)
		return 0;
	size_t i = 5;
	while (i < len - 1) {
		if (p[i] == 0)
			return 0;
		size_t n = strnlen((const char *)p + i + 1, len - i - 1);
		i += n + 2;
	}
	return i == len - 1;
}

/* Does the C string s lie inside msg[0..len), terminated there? */
static inline int str_inside(const char *s, const uint8_t *msg, size_t len)
{
	const uint8_t *b = (const uint8_t *)s;
	if (b < msg || b >= msg + len)
		return 0;
	return memchr(b, 0, (size_t)(msg + len - b)) != NULL;
}

#endif
