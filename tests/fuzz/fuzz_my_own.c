/*
 * fuzz_my_own.c - database bytes through mysql.so's backend when it logs
 * in itself (relay_auth 0, its own session state: the shadow toward
 * MariaDB after a cutover, plugins/mysql/auth_own.c), then the answers to
 * the requests it encoded (shadow_req.c), described by be_observe, the way
 * core/shadow.c drives it.
 *
 * Byte 0: bits 0-2 the URL's ssl-mode (value % 5), bit 3 an empty
 * password.  Byte 1: split seed.  Rest: what the database sends.  The
 * input is fed whole, then in pieces; both must say the same.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql.h"
#include "../common/stub_host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(c) \
	do { \
		if (!(c)) \
			abort(); \
	} while (0)

static struct lms_dialect dialect;

struct run {
	uint64_t hash;
	uint64_t count;
};

static void note(struct run *r, uint64_t v)
{
#ifdef FUZZ_TRACE
	fprintf(stderr, "note %llu\n", (unsigned long long)v);
#endif
	for (int i = 0; i < 8; i++)
		r->hash = (r->hash ^ (uint8_t)(v >> (8 * i))) * 0x100000001b3ull;
	r->count++;
}

static void emit(void *ctx, const uint8_t *p, size_t n)
{
	struct run *r = ctx;
	note(r, p ? n : 0xFFFF);
}

/* The next request, once the previous answer ended. */
static void next_request(const struct lms_dialect *d, void *be, unsigned *k, struct run *r)
{
	static const char sel[] = "select a from t where b = ?";
	static const uint32_t hole = sizeof(sel) - 2;
	static const struct lms_param prm = { (const uint8_t *)"7", 1 };
	struct lms_request q;
	memset(&q, 0, sizeof(q));
	switch ((*k)++ % 5) {
	case 0:
		q.kind = LMS_REQ_QUERY;
		q.sql = "select 1";
		q.sql_len = 8;
		break;
	case 1:
		q.kind = LMS_REQ_DESCRIBE;
		q.sql = sel;
		q.sql_len = sizeof(sel) - 1;
		q.holes = &hole;
		q.nholes = 1;
		break;
	case 2:
		q.kind = LMS_REQ_EXECUTE;
		q.sql = sel;
		q.sql_len = sizeof(sel) - 1;
		q.holes = &hole;
		q.nholes = 1;
		q.params = &prm;
		q.nparams = 1;
		break;
	case 3:
		q.kind = LMS_REQ_PING;
		break;
	default:
		q.kind = LMS_REQ_RESET;
		break;
	}
	uint8_t buf[256];
	long n = d->be_encode_request(be, &q, buf, sizeof(buf));
	note(r, (uint64_t)n);
}

/* Feed data[0..size) in pieces cut by seed (0: whole). */
static void run_once(const uint8_t *data, size_t size, uint8_t opts, uint8_t seed, struct run *r)
{
	const struct lms_dialect *d = my_entry(&stub_host, &dialect);
	FUZZ_CHECK(d != NULL);
	struct lms_backend_conf conf = { .user = "lms_admin", .password = (opts & 8) ? "" : "pw",
					 .database = "db", .tls_mode = (opts & 7) % 5 };
	struct lms_be_opts bo = { .conf = &conf, .relay_auth = 0, .observe = 1 };
	void *be = d->be_new(&bo);
	FUZZ_CHECK(be != NULL);
	struct lms_out out;
	struct lms_result res;
	struct lms_startup st = { .family = "mysql", .user = "app", .database = "appdb" };
	memset(&res, 0, sizeof(res));
	out.len = 0;
	FUZZ_CHECK(d->be_start(be, 0, &st, &out, &res) == 0 && out.len == 0);
	uint8_t *buf = malloc(size + 1);
	FUZZ_CHECK(buf != NULL);
	size_t have = 0, fed = 0;
	uint64_t fwd = 0;
	unsigned k = 0;
	int ready = 0;
	while (fed < size || have > 0) {
		size_t piece = seed ? 1 + (size_t)((seed * (fed + 7)) % 13) : size;
		if (fed < size) {
			size_t n = piece < size - fed ? piece : size - fed;
			memcpy(buf + have, data + fed, n);
			have += n;
			fed += n;
		}
		for (;;) {
			if (fwd > 0) { /* a streamed message's rest, as the shadow skips it */
				size_t n = fwd < have ? (size_t)fwd : have;
				memmove(buf, buf + n, have - n);
				have -= n;
				fwd -= n;
				if (fwd > 0)
					break;
			}
			if (have == 0)
				break;
			struct lms_frame f = { .len = 0 };
			int fs = d->be_frame(be, buf, have, &f);
			if (fs == LMS_FRAME_NEED_MORE)
				break;
			if (fs != LMS_FRAME_OK || f.len == 0 ||
			    ((f.flags & LMS_FRAME_NEED_BODY) && f.len > LMS_DECODE_MAX)) {
				note(r, 1000); /* the shadow breaks: invalid message */
				goto out;
			}
			if (!(f.flags & LMS_FRAME_NEED_BODY)) {
				note(r, f.kind); /* committed when framed: streamed */
				fwd = f.len;
				continue;
			}
			if (f.len > have)
				break; /* framed again once whole */
			memset(&res, 0, sizeof(res));
			out.len = 0;
			if (d->be_decode(be, buf, (size_t)f.len, &out, &res) < 0) {
				note(r, 1000); /* the same as a framing refusal: malformed
						  bytes may be refused before or after
						  they are whole */
				goto out;
			}
			note(r, f.kind);
			struct lms_event ev;
			memset(&ev, 0, sizeof(ev));
			if (d->be_observe(be, buf, (size_t)f.len, &ev, emit, r) < 0)
				note(r, 3000);
			note(r, ev.kind);
			note(r, res.action);
			note(r, out.len);
			memmove(buf, buf + f.len, have - (size_t)f.len);
			have -= (size_t)f.len;
			if (res.action == LMS_ACT_FAIL || res.action == LMS_ACT_CLOSE)
				goto out;
			if (res.action == LMS_ACT_START_TLS) {
				memset(&res, 0, sizeof(res));
				out.len = 0;
				FUZZ_CHECK(d->be_start(be, 1, &st, &out, &res) == 0);
				note(r, out.len);
			}
			if (res.action == LMS_ACT_READY) {
				ready = 1;
				next_request(d, be, &k, r);
			}
		}
		if (fed >= size)
			break;
	}
out:
	note(r, (uint64_t)ready);
	free(buf);
	d->be_free(be);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 65536)
		return 0;
	struct run whole = { 0xcbf29ce484222325ull, 0 }, split = { 0xcbf29ce484222325ull, 0 };
	run_once(data + 2, size - 2, data[0], 0, &whole);
	run_once(data + 2, size - 2, data[0], data[1] ? data[1] : 1, &split);
	FUZZ_CHECK(whole.hash == split.hash && whole.count == split.count);
	return 0;
}
