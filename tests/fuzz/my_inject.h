/*
 * my_inject.h - for the mysql.so fuzz targets: play the side that is not
 * fuzzed, one well-formed packet at a time, through the plugin (so the
 * session's shared state moves as in the core).
 */
#ifndef LMS_FUZZ_MY_INJECT_H
#define LMS_FUZZ_MY_INJECT_H

#include "my_harness.h"

/* One packet (header + payload) into buf; returns its length. */
static inline size_t mk(uint8_t *buf, uint8_t seq, const void *payload, size_t n)
{
	my_put24(buf, (uint32_t)n);
	buf[3] = seq;
	memcpy(buf + MY_HDR, payload, n);
	return MY_HDR + n;
}

/* Pass one whole packet from the other side through the plugin; returns
 * -1 when the core would close. */
static inline int inject(struct sess *x, int be, const uint8_t *p, size_t n, struct evlog *l)
{
	struct lms_frame f = { .len = 0 };
	int st = be ? x->d->be_frame(x->be, p, n, &f) : x->d->fe_frame(x->fe, p, n, &f);
	ev_u64(l, 1000 + (uint64_t)st);
	if (st != LMS_FRAME_OK)
		return -1;
	check_frame(&f);
	FUZZ_CHECK(f.len == n);
	if (!(f.flags & LMS_FRAME_NEED_BODY))
		return 0;
	struct lms_out *out = malloc(sizeof(*out));
	struct lms_result res;
	FUZZ_CHECK(out != NULL);
	out->len = 0;
	memset(&res, 0, sizeof(res));
	int rc = be ? x->d->be_decode(x->be, p, n, out, &res) : x->d->fe_decode(x->fe, p, n, out, &res);
	check_result(rc, out, &res);
	log_result(l, rc, out, &res);
	if (rc == 0)
		describe(x, be, p, n, l);
	int ret = rc < 0 ? -1 : 0;
	if (rc == 0 && res.action == LMS_ACT_START_TLS && !be)
		x->d->fe_tls_done(x->fe);
	if (rc == 0 && res.action == LMS_ACT_BACKEND_TLS) {
		FUZZ_CHECK(!be && res.verdict == LMS_REWRITE && out->len == MY_HDR + 32);
		struct lms_result r2;
		memset(&r2, 0, sizeof(r2));
		out->len = 0;
		FUZZ_CHECK(x->d->be_start(x->be, 1, NULL, out, &r2) == 0);
		if (r2.action != LMS_ACT_FAIL)
			check_packets(out);
	}
	if (rc == 0 && (res.action == LMS_ACT_CLOSE || res.action == LMS_ACT_FAIL))
		ret = -1;
	free(out);
	return ret;
}

/* The client's SSLRequest (when use_tls) and HandshakeResponse41. */
static inline int client_login(struct sess *x, uint32_t caps, int use_tls, struct evlog *l)
{
	uint8_t pl[96], b[128];
	memset(pl, 0, sizeof(pl));
	uint8_t seq = 1;
	if (use_tls) {
		caps |= MY_CAP_SSL;
		for (int i = 0; i < 4; i++)
			pl[i] = (uint8_t)(caps >> (8 * i));
		if (inject(x, 0, b, mk(b, seq++, pl, 32), l) < 0)
			return -1;
	}
	for (int i = 0; i < 4; i++)
		pl[i] = (uint8_t)(caps >> (8 * i));
	pl[8] = 45;
	memcpy(pl + 32, "app\0\x14", 5);
	memset(pl + 37, 0x42, 20);
	memcpy(pl + 57, "mysql_native_password", 22);
	return inject(x, 0, b, mk(b, seq, pl, 79), l);
}

/* A MariaDB-like greeting with capabilities caps. */
static inline size_t server_greeting(uint8_t *b, uint32_t caps)
{
	uint8_t pl[96];
	size_t n = 0;
	pl[n++] = 10;
	memcpy(pl + n, "5.5.5-10.11.19-MariaDB", 23);
	n += 23;
	memcpy(pl + n, "\x2a\0\0\0" "abcdefgh\0", 13);
	n += 13;
	pl[n++] = (uint8_t)caps;
	pl[n++] = (uint8_t)(caps >> 8);
	pl[n++] = 45;
	pl[n++] = 2;
	pl[n++] = 0;
	pl[n++] = (uint8_t)(caps >> 16);
	pl[n++] = (uint8_t)(caps >> 24);
	pl[n++] = 21;
	memset(pl + n, 0, 10);
	n += 10;
	memcpy(pl + n, "ijklmnopqrst\0mysql_native_password", 35);
	n += 35;
	return mk(b, 0, pl, n);
}

#define FUZZ_SRV_CAPS (MY_CAP_PROTOCOL_41 | MY_CAP_SSL | MY_CAP_SECURE_CONNECTION | MY_CAP_PLUGIN_AUTH | \
		       MY_CAP_MULTI_RESULTS | MY_CAP_MULTI_STATEMENTS | MY_CAP_TRANSACTIONS | MY_CAP_LOCAL_FILES | \
		       MY_CAP_DEPRECATE_EOF | MY_CAP_COMPRESS)

#endif /* LMS_FUZZ_MY_INJECT_H */
