/*
 * fuzz_my_placeholders.c - the '?' -> $n translation of a MySQL prepared
 * statement (ABI 1.3): mysql.so's placeholder scanner, fingerprint and tag
 * (plugins/mysql/lexer.c) on arbitrary SQL text, then pgwire's encoder
 * (plugins/pgwire/encode.c) writing the statement with $1, $2, ...;
 * and the statements LMS answers itself after a cutover to another wire
 * family (ABI 1.4, plugins/mysql/local.c): classified, then answered;
 * and SET TRANSACTION ... (plugins/mysql/isolation.c): what PostgreSQL
 * gets instead is a whole statement of its own words.
 *
 * Checked: holes are ascending, inside the text, each on a '?'; the
 * encoded Parse holds the text with exactly those bytes replaced by $k
 * (so its length adds up) and no '?' left where a hole was; fingerprints
 * and tags are NUL-terminated within their buffers; nothing reads past
 * the input (ASan).
 *
 * Byte 0: the fingerprint buffer's size (1..256).  Rest: the SQL text.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql.h"
#include "pgwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                            \
	do {                                                                \
		if (!(c)) {                                                 \
			fprintf(stderr, "check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
			abort();                                            \
		}                                                           \
	} while (0)

#include "../common/stub_host.h"

static uint32_t holes[LMS_REQ_HOLES_MAX];
static uint8_t enc[3 * 65536 + 64];

static size_t digits(uint32_t k)
{
	size_t n = 1;
	while (k >= 10) {
		k /= 10;
		n++;
	}
	return n;
}

/* The Parse message's text equals sql with each hole replaced by $k. */
static void check_parse(const char *sql, size_t len, long nh, const uint8_t *m, size_t mlen)
{
	CHECK(mlen >= 8 && m[0] == 'P' && m[5] == 0);
	const char *t = (const char *)m + 6;
	size_t tl = strnlen(t, mlen - 6);
	size_t want = len;
	for (long k = 0; k < nh; k++)
		want += digits((uint32_t)k + 1); /* "$k" in place of one '?' */
	CHECK(tl == want);
	size_t from = 0, o = 0;
	for (long k = 0; k < nh; k++) {
		size_t h = holes[k];
		CHECK(memcmp(t + o, sql + from, h - from) == 0);
		o += h - from;
		char num[16];
		int n = snprintf(num, sizeof(num), "$%ld", k + 1);
		CHECK(memcmp(t + o, num, (size_t)n) == 0);
		o += (size_t)n;
		from = h + 1;
	}
	CHECK(memcmp(t + o, sql + from, len - from) == 0);
}

/* The text as a COM_QUERY in a translated session: its local class, and
 * the packets of its answer, which must parse back into whole packets. */
static void check_local(const uint8_t *sql, size_t len)
{
	static uint8_t pl[1 + 65536], out[65536];
	if (len > 65536)
		return;
	pl[0] = MY_COM_QUERY;
	memcpy(pl + 1, sql, len);
	uint8_t cls = my_local_class(pl, len + 1);
	CHECK(cls <= MY_L_AC_ON); /* a SET naming autocommit: AC_OFF or AC_ON */
	if (cls == MY_L_NONE)
		return;
	struct my_sess *s = my_sess_new();
	CHECK(s != NULL);
	struct my_cmd cmd;
	memset(&cmd, 0, sizeof(cmd));
	cmd.cmd = MY_COM_QUERY;
	cmd.local = cls;
	cmd.prep = (char *)pl + 1;
	cmd.prep_len = len;
	s->to_client = 1;
	struct my_pk w = { out, sizeof(out), 0, 0, 0 };
	my_local_answer(s, &cmd, &w, 2);
	CHECK(!w.bad && w.len > 0);
	size_t i = 0;
	uint8_t seq = 1;
	while (i < w.len) {
		CHECK(w.len - i >= MY_HDR);
		size_t n = my_le24(out + i);
		CHECK(n <= w.len - i - MY_HDR && out[i + 3] == seq++);
		i += MY_HDR + n;
	}
	my_sess_free(s);
}

/* SET TRANSACTION ...: a scope with a known level and access mode, and
 * the text PostgreSQL gets, then the next BEGIN's. */
static void check_txn_chars(const char *sql, size_t len)
{
	struct my_txc t;
	int scope = my_txn_chars(sql, len, &t);
	CHECK(scope >= MY_TXC_NONE && scope <= MY_TXC_NEXT);
	CHECK(t.level <= MY_ISO_SERIALIZABLE && t.access <= MY_ACCESS_READ_WRITE);
	CHECK(scope == MY_TXC_NONE || t.level || t.access);
	int begin = my_bare_begin(sql, len);
	CHECK(begin >= 0 && begin <= MY_BEGIN_START && !(begin && scope));
	struct my_sess *s = my_sess_new();
	CHECK(s != NULL);
	for (int round = 0; round < 2; round++) {
		const char *text = round ? "begin" : sql;
		size_t tl = round ? 5 : len;
		struct lms_request req = { .kind = LMS_REQ_QUERY, .sql = text, .sql_len = tl };
		my_iso_decoded(s, text, tl);
		my_iso_request(s, &req);
		if (!req.other_sql)
			continue;
		CHECK(req.other_sql_len > 0 && req.other_sql_len < sizeof(s->other));
		CHECK(strlen(req.other_sql) == req.other_sql_len);
		CHECK(strncmp(req.other_sql, "SET SESSION CHARACTERISTICS AS TRANSACTION ", 43) == 0 ||
		      strncmp(req.other_sql, "BEGIN ", 6) == 0 || strncmp(req.other_sql, "START TRANSACTION ", 18) == 0);
	}
	my_sess_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	my_host = &stub_host;
	pg_host = &stub_host;
	size_t cap = 1 + data[0];
	const char *sql = (const char *)data + 1;
	size_t len = size - 1;

	long nh = my_placeholders(sql, len, holes, LMS_REQ_HOLES_MAX);
	CHECK(nh >= -1 && nh <= (long)LMS_REQ_HOLES_MAX);
	for (long k = 0; k < nh; k++) {
		CHECK(holes[k] < len && sql[holes[k]] == '?');
		CHECK(k == 0 || holes[k] > holes[k - 1]);
	}

	char fp[257];
	uint32_t flags;
	memset(fp, 'x', sizeof(fp));
	size_t fl = my_fingerprint(sql, len, fp, cap, &flags);
	CHECK(fl < cap && fp[fl] == 0 && strlen(fp) == fl);
	CHECK((flags & ~(LMS_STMT_ORDERED | LMS_STMT_BEGIN | LMS_STMT_SETTING)) == 0);
	char tag[LMS_TAG_MAX];
	my_tag(sql, len, tag);
	CHECK(strnlen(tag, sizeof(tag)) < sizeof(tag));
	check_local((const uint8_t *)sql, len);
	check_txn_chars(sql, len);

	if (nh < 0)
		return 0;
	struct lms_backend_conf conf;
	memset(&conf, 0, sizeof(conf));
	struct lms_be_opts bo;
	memset(&bo, 0, sizeof(bo));
	bo.conf = &conf;
	bo.observe = 1;
	void *be = pg_be_new(&bo);
	if (!be)
		return 0;
	struct lms_request req;
	memset(&req, 0, sizeof(req));
	req.kind = LMS_REQ_PREPARE;
	req.sql = sql;
	req.sql_len = len;
	req.holes = holes;
	req.nholes = (uint32_t)nh;
	long n = pg_be_encode_request(be, &req, enc, sizeof(enc));
	if (memchr(sql, 0, len))
		CHECK(n == -1); /* a NUL cannot travel in a PostgreSQL string */
	else if (n >= 0)
		check_parse(sql, len, nh, enc, (size_t)n);
	/* too small a buffer is refused, never overrun */
	CHECK(pg_be_encode_request(be, &req, enc, len / 2) == -1 || len / 2 >= len + 13);
	pg_be_free(be);
	return 0;
}
