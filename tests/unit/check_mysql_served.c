/*
 * check_mysql_served.c - serving a MySQL client from a PostgreSQL-protocol
 * source of truth (ABI 1.4): pgwire's be_answer (plugins/pgwire/answer.c)
 * on well-formed and malformed messages, mysql.so's fe_answer
 * (plugins/mysql/answer.c) on every kind of answer and on events that do
 * not fit, the statements LMS answers itself (local.c), and the commands
 * beyond queries (cmds.c: long data, cursors, COM_CHANGE_USER, ...).
 */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql.h"
#include "pgwire.h"
#include "../common/stub_host.h"
#include "../common/pg_msg.h"
#include "../common/my_stmt.h"

static void setup(void)
{
	my_host = &stub_host;
	pg_host = &stub_host;
}

/* ---- building PostgreSQL messages ---- */

static void msg_field(struct msg *m, const char *name, uint32_t oid, int32_t typmod, uint16_t format)
{
	msg_bytes(m, name, strlen(name) + 1);
	msg_u32(m, 0);
	msg_u16(m, 0);
	msg_u32(m, oid);
	msg_u16(m, 0);
	msg_u32(m, (uint32_t)typmod);
	msg_u16(m, format);
}

static void msg_value(struct msg *m, const void *p, int32_t n)
{
	msg_u32(m, (uint32_t)n);
	if (n > 0)
		msg_bytes(m, p, (size_t)n);
}

/* ---- pgwire be_answer ---- */

START_TEST(test_pg_answer_columns_and_rows)
{
	struct pg_ans *a = NULL;
	struct lms_answer ans;
	struct msg m;
	msg_begin(&m, 'T');
	msg_u16(&m, 7);
	msg_field(&m, "id", 23, -1, 0);
	msg_field(&m, "amount", 1700, (12 << 16 | 4) + 4, 0);
	msg_field(&m, "name", 1043, 50 + 4, 0);
	msg_field(&m, "ts", 1114, 3, 0);
	msg_field(&m, "data", 17, -1, 0);
	msg_field(&m, "n8", 20, -1, 1);
	msg_field(&m, "d", 1082, -1, 1);
	msg_end(&m);
	memset(&ans, 0, sizeof(ans));
	ck_assert_int_eq(pg_answer(&a, m.b, m.n, &ans), 0);
	ck_assert_uint_eq(ans.kind, LMS_ANS_COLUMNS);
	ck_assert_uint_eq(ans.n, 7);
	ck_assert_uint_eq(ans.cols[0].type_class, LMS_TC_INT);
	ck_assert_uint_eq(ans.cols[0].size, 4);
	ck_assert_uint_eq(ans.cols[1].type_class, LMS_TC_DECIMAL);
	ck_assert_int_eq(ans.cols[1].length, 12);
	ck_assert_int_eq(ans.cols[1].scale, 4);
	ck_assert_int_eq(ans.cols[2].length, 50);
	ck_assert_int_eq(ans.cols[3].scale, 3);
	ck_assert_uint_eq(ans.cols[4].type_class, LMS_TC_BYTES);
	ck_assert_uint_eq(ans.cols[2].name_len, 4);
	ck_assert(memcmp(ans.cols[2].name, "name", 4) == 0);

	uint8_t n8[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe }; /* -2 */
	uint8_t d[4] = { 0, 0, 0x21, 0x9c };                              /* 8604 days: 2023-07-23 */
	msg_begin(&m, 'D');
	msg_u16(&m, 7);
	msg_value(&m, "5", 1);
	msg_value(&m, "1.50", 4);
	msg_value(&m, NULL, -1);
	msg_value(&m, "2024-01-02 03:04:05.5", 21);
	msg_value(&m, "\\x00ff41", 8);
	msg_value(&m, n8, 8);
	msg_value(&m, d, 4);
	msg_end(&m);
	memset(&ans, 0, sizeof(ans));
	ck_assert_int_eq(pg_answer(&a, m.b, m.n, &ans), 0);
	ck_assert_uint_eq(ans.kind, LMS_ANS_ROW);
	ck_assert_uint_eq(ans.values[1].len, 4);
	ck_assert(memcmp(ans.values[1].data, "1.50", 4) == 0); /* raw, not canonical */
	ck_assert_ptr_null(ans.values[2].data);
	ck_assert_uint_eq(ans.values[4].len, 3);
	ck_assert(memcmp(ans.values[4].data, "\x00\xff" "A", 3) == 0);
	ck_assert_uint_eq(ans.values[5].len, 2);
	ck_assert(memcmp(ans.values[5].data, "-2", 2) == 0);
	ck_assert_uint_eq(ans.values[6].len, 10);
	ck_assert(memcmp(ans.values[6].data, "2023-07-23", 10) == 0);

	/* a bytea that is not bytea text, a row of another width */
	msg_begin(&m, 'D');
	msg_u16(&m, 7);
	for (int k = 0; k < 4; k++)
		msg_value(&m, "1", 1);
	msg_value(&m, "\\xZZ", 4);
	msg_value(&m, n8, 8);
	msg_value(&m, d, 4);
	msg_end(&m);
	ck_assert_int_eq(pg_answer(&a, m.b, m.n, &ans), -1);
	msg_begin(&m, 'D');
	msg_u16(&m, 1);
	msg_value(&m, "1", 1);
	msg_end(&m);
	ck_assert_int_eq(pg_answer(&a, m.b, m.n, &ans), -1);
	pg_ans_free(a);
}
END_TEST

START_TEST(test_pg_answer_other_messages)
{
	struct pg_ans *a = NULL;
	struct lms_answer ans;
	struct msg m;
	msg_begin(&m, 'C');
	msg_bytes(&m, "INSERT 0 2", 11);
	msg_end(&m);
	memset(&ans, 0, sizeof(ans));
	ck_assert_int_eq(pg_answer(&a, m.b, m.n, &ans), 0);
	ck_assert_uint_eq(ans.kind, LMS_ANS_COMPLETE);
	ck_assert_str_eq(ans.tag, "INSERT");
	ck_assert_uint_eq(ans.rows, 2);
	ck_assert(ans.flags & LMS_ANS_ROWS_KNOWN);

	msg_begin(&m, 'E');
	msg_bytes(&m, "SERROR\0C23505\0Mduplicate key\0", 30);
	msg_end(&m);
	memset(&ans, 0, sizeof(ans));
	ck_assert_int_eq(pg_answer(&a, m.b, m.n, &ans), 0);
	ck_assert_uint_eq(ans.kind, LMS_ANS_ERROR);
	ck_assert_str_eq(ans.sqlstate, "23505");
	ck_assert_str_eq(ans.text, "duplicate key");

	static const struct {
		const char *bytes;
		size_t n;
		uint32_t kind, count;
	} simple[] = {
		{ "Z\0\0\0\5T", 6, LMS_ANS_READY, 0 },
		{ "I\0\0\0\4", 5, LMS_ANS_COMPLETE, 0 },
		{ "n\0\0\0\4", 5, LMS_ANS_NODATA, 0 },
		{ "1\0\0\0\4", 5, LMS_ANS_PARSED, 0 },
		{ "2\0\0\0\4", 5, LMS_ANS_NONE, 0 },
		{ "t\0\0\0\16\0\2\0\0\0\27\0\0\0\31", 15, LMS_ANS_PARAMS, 2 },
	};
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		memset(&ans, 0, sizeof(ans));
		ck_assert_int_eq(pg_answer(&a, (const uint8_t *)simple[i].bytes, simple[i].n, &ans), 0);
		ck_assert_uint_eq(ans.kind, simple[i].kind);
		ck_assert_uint_eq(ans.n, simple[i].count);
	}
	ck_assert_uint_eq(ans.kind, LMS_ANS_PARAMS);
	memset(&ans, 0, sizeof(ans));
	ck_assert_int_eq(pg_answer(&a, (const uint8_t *)"Z\0\0\0\5T", 6, &ans), 0);
	ck_assert_uint_eq(ans.txn, LMS_TXN_OPEN);

	/* malformed: lengths that do not add up, truncated fields */
	static const struct {
		const char *bytes;
		size_t n;
	} bad[] = {
		{ "Z\0\0\0\5X", 6 },
		{ "Z\0\0\0\6I", 6 },
		{ "t\0\0\0\12\0\2\0\0\0\27", 11 },
		{ "T\0\0\0\6\0", 6 },
		{ "T\0\0\0\14\0\1abc\0\0", 13 },
		{ "D\0\0\0\12\0\1\0\0\0\7", 11 },
		{ "n\0\0\0\5x", 6 },
		{ "C\0\0\0\6XY", 7 },
		{ "E\0\0\0\7Cx", 8 },
		{ "Q", 1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ans, 0, sizeof(ans));
		ck_assert_msg(pg_answer(&a, (const uint8_t *)bad[i].bytes, bad[i].n, &ans) == -1, "bad[%zu]", i);
	}
	pg_ans_free(a);
}
END_TEST

/* ---- mysql fe_answer ---- */

/* The packets in buf[0..n): count them, check sequence ids from seq0,
 * and copy packet k's payload into pl (its length in *pn). */
static int packets(const uint8_t *buf, size_t n, uint8_t seq0, int k, const uint8_t **pl, size_t *pn)
{
	size_t i = 0;
	int count = 0;
	while (i < n) {
		ck_assert_uint_ge(n - i, 4);
		size_t len = my_le24(buf + i);
		ck_assert_uint_le(len, n - i - 4);
		ck_assert_uint_eq(buf[i + 3], (uint8_t)(seq0 + count));
		if (count == k) {
			*pl = buf + i + 4;
			*pn = len;
		}
		i += 4 + len;
		count++;
	}
	return count;
}

static struct my_sess *served(uint32_t caps)
{
	struct lms_fe_opts o;
	memset(&o, 0, sizeof(o));
	o.keep_statements = 1;
	struct my_sess *s = my_fe_new(&o);
	ck_assert_ptr_nonnull(s);
	s->state = MY_S_READY;
	s->caps = caps | MY_CAP_PROTOCOL_41;
	snprintf(s->db, sizeof(s->db), "appdb");
	my_fe_set_translated(s);
	return s;
}

static const struct lms_column cols2[2] = {
	{ "id", 2, LMS_TC_INT, 8, -1, -1 },
	{ "ok", 2, LMS_TC_BOOL, 0, -1, -1 },
};

static long feed(struct my_sess *s, uint32_t kind, uint8_t *buf, size_t cap)
{
	struct lms_answer a;
	memset(&a, 0, sizeof(a));
	a.kind = kind;
	return my_fe_answer(s, &a, buf, cap);
}

START_TEST(test_fe_answer_text_result)
{
	struct my_sess *s = served(0);
	static uint8_t buf[65536];
	const uint8_t *pl;
	size_t pn;
	my_queue_push(s, MY_COM_QUERY, 1);
	struct lms_answer a;
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_COLUMNS;
	a.n = 2;
	a.cols = cols2;
	long n = my_fe_answer(s, &a, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), 4); /* count, 2 defs, EOF */
	ck_assert_uint_eq(pn, 1);
	ck_assert_uint_eq(pl[0], 2);
	packets(buf, (size_t)n, 1, 1, &pl, &pn);
	ck_assert_uint_eq(pl[pn - 6], 8); /* MYSQL_TYPE_LONGLONG */
	packets(buf, (size_t)n, 1, 2, &pl, &pn);
	ck_assert_uint_eq(pl[pn - 6], 1); /* MYSQL_TYPE_TINY */
	struct lms_param v[2] = { { (const uint8_t *)"42", 2 }, { (const uint8_t *)"t", 1 } };
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_ROW;
	a.n = 2;
	a.values = v;
	n = my_fe_answer(s, &a, buf, sizeof(buf));
	ck_assert_int_eq(n, 4 + 5);
	ck_assert_uint_eq(buf[3], 5);
	ck_assert(memcmp(buf + 4, "\002" "42" "\001" "1", 5) == 0);
	v[0].data = NULL;
	n = my_fe_answer(s, &a, buf, sizeof(buf));
	ck_assert(memcmp(buf + 4, "\xfb\001" "1", 3) == 0);
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_COMPLETE;
	ck_assert_int_eq(my_fe_answer(s, &a, buf, sizeof(buf)), 0); /* held for READY */
	a.kind = LMS_ANS_READY;
	a.txn = LMS_TXN_OPEN;
	n = my_fe_answer(s, &a, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 7, 0, &pl, &pn), 1);
	ck_assert_uint_eq(pl[0], 0xFE);
	ck_assert_uint_eq(pl[3], 0x3); /* in transaction, autocommit */
	ck_assert_uint_eq(s->q_len, 0);
	my_fe_free(s);
}
END_TEST

START_TEST(test_fe_answer_time_text)
{
	struct my_sess *s = served(0);
	static uint8_t buf[65536];
	static const struct lms_column c3[3] = {
		{ "ts", 2, LMS_TC_TIMESTAMPTZ, 0, -1, 3 },
		{ "t", 1, LMS_TC_TIME, 0, -1, 0 },
		{ "u", 1, LMS_TC_TIMESTAMP, 0, -1, -1 },
	};
	my_queue_push(s, MY_COM_QUERY, 1);
	struct lms_answer a;
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_COLUMNS;
	a.n = 3;
	a.cols = c3;
	ck_assert_int_gt(my_fe_answer(s, &a, buf, sizeof(buf)), 0);
	struct lms_param v[3] = {
		{ (const uint8_t *)"2024-01-02 03:04:05.5-08", 24 },
		{ (const uint8_t *)"10:11:12", 8 },
		{ (const uint8_t *)"infinity", 8 },
	};
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_ROW;
	a.n = 3;
	a.values = v;
	long n = my_fe_answer(s, &a, buf, sizeof(buf));
	static const char want[] = "\x17" "2024-01-02 03:04:05.500" "\x08" "10:11:12" "\x08" "infinity";
	ck_assert_int_eq(n, 4 + (long)sizeof(want) - 1);
	ck_assert(memcmp(buf + 4, want, sizeof(want) - 1) == 0);
	my_fe_free(s);
}
END_TEST

START_TEST(test_fe_answer_ok_error_multi)
{
	struct my_sess *s = served(MY_CAP_DEPRECATE_EOF);
	static uint8_t buf[65536];
	const uint8_t *pl;
	size_t pn;
	my_queue_push(s, MY_COM_QUERY, 1);
	struct lms_answer a;
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_COMPLETE;
	a.flags = LMS_ANS_ROWS_KNOWN;
	a.rows = 3;
	ck_assert_int_eq(my_fe_answer(s, &a, buf, sizeof(buf)), 0);
	a.rows = 4; /* a second statement: the first one's OK says more follow */
	long n = my_fe_answer(s, &a, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), 1);
	ck_assert_uint_eq(pl[0], 0x00);
	ck_assert_uint_eq(pl[1], 3);
	ck_assert_uint_eq(pl[3] & MY_ST_MORE_RESULTS, MY_ST_MORE_RESULTS);
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_ERROR;
	memcpy(a.sqlstate, "23505", 6);
	snprintf(a.text, sizeof(a.text), "duplicate key");
	n = my_fe_answer(s, &a, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 2, 1, &pl, &pn), 1); /* the held OK; the ERR waits */
	ck_assert_uint_eq(pl[0], 0x00);
	/* the ERR comes with READY: the database is ready for the next command */
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_READY;
	a.txn = LMS_TXN_IDLE;
	n = my_fe_answer(s, &a, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 3, 1, &pl, &pn), 1);
	ck_assert_uint_eq(pl[0], 0xFF);
	ck_assert_uint_eq(my_le16(pl + 1), 1062);
	ck_assert(memcmp(pl + 3, "#23505duplicate key", 19) == 0);

	/* the errno table */
	ck_assert_uint_eq(my_errno_of("42P01"), 1146);
	ck_assert_uint_eq(my_errno_of("42601"), 1064);
	ck_assert_uint_eq(my_errno_of("40001"), 1213);
	ck_assert_uint_eq(my_errno_of("23502"), 1048);
	ck_assert_uint_eq(my_errno_of("42703"), 1054);
	ck_assert_uint_eq(my_errno_of("23503"), 1452);
	ck_assert_uint_eq(my_errno_of("22012"), 1365);
	ck_assert_uint_eq(my_errno_of("57014"), 1317);
	ck_assert_uint_eq(my_errno_of("XX000"), 1105);

	/* PING: OK with the transaction state; an unsolicited event: nothing */
	my_queue_push(s, MY_COM_PING, 1);
	n = feed(s, LMS_ANS_READY, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), 1);
	ck_assert_uint_eq(pl[0], 0x00);
	ck_assert_int_eq(feed(s, LMS_ANS_READY, buf, sizeof(buf)), 0);
	my_fe_free(s);
}
END_TEST

START_TEST(test_fe_answer_prepare_and_binary)
{
	struct my_sess *s = served(0);
	static uint8_t buf[65536];
	const uint8_t *pl;
	size_t pn;
	s->max_stmt_id = 7; /* ids the client got from the source */
	my_queue_push(s, MY_COM_STMT_PREPARE, 1);
	s->queue[s->q_head].prep = strdup("select ?, ?");
	s->queue[s->q_head].prep_len = 11;
	struct lms_answer a;
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_PARAMS;
	a.n = 2;
	ck_assert_int_eq(my_fe_answer(s, &a, buf, sizeof(buf)), 0);
	static const struct lms_column c5[5] = {
		{ "a", 1, LMS_TC_INT, 2, -1, -1 },      { "b", 1, LMS_TC_FLOAT, 8, -1, -1 },
		{ "c", 1, LMS_TC_DATE, 0, -1, -1 },     { "d", 1, LMS_TC_TIMESTAMPTZ, 0, -1, 6 },
		{ "e", 1, LMS_TC_TIME, 0, -1, -1 },
	};
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_COLUMNS;
	a.n = 5;
	a.cols = c5;
	long n = my_fe_answer(s, &a, buf, sizeof(buf));
	/* PREPARE OK, 2 params + EOF, 5 columns + EOF */
	ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), 1 + 3 + 6);
	ck_assert_uint_eq(pl[0], 0x00);
	ck_assert_uint_eq(my_le32(pl + 1), 8);
	ck_assert_uint_eq(my_le16(pl + 5), 5);
	ck_assert_uint_eq(my_le16(pl + 7), 2);
	ck_assert_int_eq(feed(s, LMS_ANS_READY, buf, sizeof(buf)), 0);
	struct my_stmt *st = my_stmt_find(s, 8);
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(st->sql, "select ?, ?");
	ck_assert_uint_eq(st->nparams, 2);

	/* an execution: binary rows */
	my_queue_push(s, MY_COM_STMT_EXECUTE, 1);
	n = my_fe_answer(s, &a, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), 7);
	struct lms_param v[5] = {
		{ (const uint8_t *)"-3", 2 },
		{ (const uint8_t *)"0.5", 3 },
		{ NULL, 0 },
		{ (const uint8_t *)"2024-01-02 03:04:05.25+01", 25 },
		{ (const uint8_t *)"26:00:01", 8 },
	};
	struct lms_answer r;
	memset(&r, 0, sizeof(r));
	r.kind = LMS_ANS_ROW;
	r.n = 5;
	r.values = v;
	n = my_fe_answer(s, &r, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 8, 0, &pl, &pn), 1);
	static const uint8_t want[] = {
		0x00, 0x10,                                     /* header, NULL bitmap: column 2 */
		0xfd, 0xff,                                     /* -3 */
		0, 0, 0, 0, 0, 0, 0xe0, 0x3f,                   /* 0.5 */
		11, 0xe8, 0x07, 1, 2, 3, 4, 5, 0x90, 0xd0, 3, 0, /* 2024-01-02 03:04:05.25 */
		8, 0, 1, 0, 0, 0, 2, 0, 1,                      /* 1 day 02:00:01 */
	};
	ck_assert_uint_eq(pn, sizeof(want));
	ck_assert(memcmp(pl, want, sizeof(want)) == 0);
	/* a value a binary row cannot carry fails the answer */
	v[2].data = (const uint8_t *)"infinity";
	v[2].len = 8;
	ck_assert_int_eq(my_fe_answer(s, &r, buf, sizeof(buf)), -1);
	my_fe_free(s);
}
END_TEST

START_TEST(test_fe_answer_malformed)
{
	struct my_sess *s = served(0);
	static uint8_t buf[65536];
	struct lms_param v[2] = { { (const uint8_t *)"1", 1 }, { (const uint8_t *)"t", 1 } };
	struct lms_answer a;
	my_queue_push(s, MY_COM_QUERY, 1);
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_ROW; /* a row before its columns */
	a.n = 2;
	a.values = v;
	ck_assert_int_eq(my_fe_answer(s, &a, buf, sizeof(buf)), -1);
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_COLUMNS;
	a.n = MY_COLS_MAX + 1;
	a.cols = cols2;
	ck_assert_int_eq(my_fe_answer(s, &a, buf, sizeof(buf)), -1);
	a.n = 0;
	ck_assert_int_eq(my_fe_answer(s, &a, buf, sizeof(buf)), -1);
	a.n = 2;
	ck_assert_int_eq(my_fe_answer(s, &a, buf, 20), -1); /* does not fit */
	ck_assert_int_gt(my_fe_answer(s, &a, buf, sizeof(buf)), 0);
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_ROW;
	a.n = 1; /* not as many values as columns */
	a.values = v;
	ck_assert_int_eq(my_fe_answer(s, &a, buf, sizeof(buf)), -1);
	my_fe_free(s);
}
END_TEST

/* ---- local answers ---- */

static uint8_t local_of(const char *sql)
{
	uint8_t pl[512];
	pl[0] = MY_COM_QUERY;
	memcpy(pl + 1, sql, strlen(sql));
	return my_local_class(pl, strlen(sql) + 1);
}

START_TEST(test_local_classes)
{
	ck_assert_uint_eq(local_of("SET NAMES utf8mb4"), MY_L_OK);
	ck_assert_uint_eq(local_of("set names 'utf8' collate 'utf8_general_ci';"), MY_L_OK);
	ck_assert_uint_eq(local_of("SET character_set_results = NULL"), MY_L_OK);
	ck_assert_uint_eq(local_of("SET autocommit=1"), MY_L_AC_ON);
	ck_assert_uint_eq(local_of("set @@session.autocommit = ON"), MY_L_AC_ON);
	ck_assert_uint_eq(local_of("set autocommit=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')"),
			  MY_L_AC_ON);
	ck_assert_uint_eq(local_of("SET autocommit=0"), MY_L_AC_OFF);
	ck_assert_uint_eq(local_of("SET AUTOCOMMIT = 0, names utf8mb4"), MY_L_AC_OFF);
	ck_assert_uint_eq(local_of("SET autocommit=0, autocommit=1"), MY_L_AC_ON);
	ck_assert_uint_eq(local_of("SET autocommit=2"), MY_L_NONE);
	ck_assert_uint_eq(local_of("SET statement_timeout = 5"), MY_L_NONE);
	ck_assert_uint_eq(local_of("SET GLOBAL sql_mode = ''"), MY_L_NONE);
	ck_assert_uint_eq(local_of("SET @x = 1"), MY_L_NONE);
	ck_assert_uint_eq(local_of("SELECT @@version_comment LIMIT 1"), MY_L_VARS);
	ck_assert_uint_eq(local_of("select @@session.auto_increment_increment AS inc, @@max_allowed_packet"),
			  MY_L_VARS);
	ck_assert_uint_eq(local_of("SELECT @@nope"), MY_L_ERROR);
	ck_assert_uint_eq(local_of("SELECT @@version, 1"), MY_L_NONE);
	ck_assert_uint_eq(local_of("SELECT 1"), MY_L_NONE);
	ck_assert_uint_eq(local_of("select database()"), MY_L_DATABASE);
	ck_assert_uint_eq(local_of("SHOW VARIABLES LIKE 'max%'"), MY_L_SHOW);
	ck_assert_uint_eq(local_of("SHOW SESSION VARIABLES"), MY_L_SHOW);
	ck_assert_uint_eq(local_of("show warnings"), MY_L_WARNINGS);
	ck_assert_uint_eq(local_of("show tables"), MY_L_NONE);
	ck_assert_uint_eq(local_of("use `appdb`"), MY_L_INIT_DB);
	ck_assert_uint_eq(local_of("users"), MY_L_NONE);
	ck_assert_uint_eq(local_of("SET"), MY_L_NONE);
	ck_assert_uint_eq(local_of("SET autocommit"), MY_L_NONE);
	ck_assert_uint_eq(local_of("SELECT @@"), MY_L_NONE);
	ck_assert_uint_eq(local_of("SHOW VARIABLES LIKE 'unterminated"), MY_L_SHOW);
	uint8_t init[] = { MY_COM_INIT_DB, 'x' };
	ck_assert_uint_eq(my_local_class(init, 2), MY_L_INIT_DB);
	ck_assert_uint_eq(my_local_class(init, 0), MY_L_NONE);
}
END_TEST

START_TEST(test_local_answers)
{
	struct my_sess *s = served(0);
	static uint8_t buf[65536];
	const uint8_t *pl;
	size_t pn;
	const char *sql = "SELECT @@version_comment LIMIT 1";
	my_queue_push(s, MY_COM_QUERY, 1);
	s->queue[s->q_head].local = local_of(sql);
	s->queue[s->q_head].prep = strdup(sql + 0);
	s->queue[s->q_head].prep_len = strlen(sql);
	ck_assert_int_eq(feed(s, LMS_ANS_NONE, buf, sizeof(buf)), 0);
	long n = feed(s, LMS_ANS_READY, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), 5); /* count, def, EOF, row, EOF */
	packets(buf, (size_t)n, 1, 3, &pl, &pn);
	ck_assert(memmem(pl, pn, "molt-lms", 8) != NULL);

	sql = "SHOW VARIABLES LIKE 'tx\\_%'";
	my_queue_push(s, MY_COM_QUERY, 1);
	s->queue[s->q_head].local = local_of(sql);
	s->queue[s->q_head].prep = strdup(sql);
	s->queue[s->q_head].prep_len = strlen(sql);
	n = feed(s, LMS_ANS_READY, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), 1 + 2 + 1 + 2 + 1); /* tx_isolation, tx_read_only */

	/* a pattern that would take exponential time with naive backtracking */
	sql = "SHOW VARIABLES LIKE '%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%_%z'";
	my_queue_push(s, MY_COM_QUERY, 1);
	s->queue[s->q_head].local = local_of(sql);
	s->queue[s->q_head].prep = strdup(sql);
	s->queue[s->q_head].prep_len = strlen(sql);
	n = feed(s, LMS_ANS_READY, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), 1 + 2 + 1 + 1); /* no rows */
	sql = "SHOW VARIABLES WHERE Variable_name IN ('version', 'TX_ISOLATION', 'nope')";
	my_queue_push(s, MY_COM_QUERY, 1);
	s->queue[s->q_head].local = local_of(sql);
	s->queue[s->q_head].prep = strdup(sql);
	s->queue[s->q_head].prep_len = strlen(sql);
	n = feed(s, LMS_ANS_READY, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), 1 + 2 + 1 + 2 + 1);

	my_queue_push(s, MY_COM_INIT_DB, 1);
	s->queue[s->q_head].local = MY_L_INIT_DB;
	s->queue[s->q_head].prep = strdup("other");
	s->queue[s->q_head].prep_len = 5;
	n = feed(s, LMS_ANS_READY, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), 1);
	ck_assert_uint_eq(pl[0], 0xFF);
	ck_assert_uint_eq(my_le16(pl + 1), 1049);
	my_fe_free(s);
}
END_TEST

/* ---- commands beyond queries (cmds.c) ---- */


START_TEST(test_cmds_cursor_and_fetch)
{
	struct my_sess *s = served(0);
	static uint8_t buf[65536];
	const uint8_t *pl;
	size_t pn;
	stmt_with(s, 5, "select id, ok from t", 0);
	my_queue_push(s, MY_COM_STMT_EXECUTE, 1);
	s->queue[s->q_head].cursor = 1;
	s->queue[s->q_head].stmt = 5;
	struct lms_answer a;
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_COLUMNS;
	a.n = 2;
	a.cols = cols2;
	ck_assert_int_eq(my_fe_answer(s, &a, buf, sizeof(buf)), 0); /* kept */
	struct lms_param v[2] = { { (const uint8_t *)"1", 1 }, { (const uint8_t *)"t", 1 } };
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_ROW;
	a.n = 2;
	a.values = v;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(my_fe_answer(s, &a, buf, sizeof(buf)), 0);
	ck_assert_int_eq(feed(s, LMS_ANS_COMPLETE, buf, sizeof(buf)), 0);
	long n = feed(s, LMS_ANS_READY, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), 4); /* count, 2 defs, EOF */
	packets(buf, (size_t)n, 1, 3, &pl, &pn);
	ck_assert_uint_eq(pl[0], 0xFE);
	ck_assert_uint_eq(my_le16(pl + 3), MY_ST_CURSOR_EXISTS | 0x2);
	ck_assert_uint_gt(s->cur_bytes, 0);

	/* fetch 2: rows, then CURSOR_EXISTS; fetch 2: the last, LAST_ROW_SENT */
	uint32_t status[2] = { MY_ST_CURSOR_EXISTS, MY_ST_LAST_ROW_SENT };
	int rows[2] = { 2, 1 };
	for (int f = 0; f < 2; f++) {
		my_queue_push(s, MY_COM_STMT_FETCH, 1);
		s->queue[s->q_head].local = MY_L_FETCH;
		s->queue[s->q_head].stmt = 5;
		s->queue[s->q_head].nrows = 2;
		n = feed(s, LMS_ANS_READY, buf, sizeof(buf));
		ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), rows[f] + 1);
		ck_assert_uint_eq(pl[0], 0x00); /* a binary row */
		packets(buf, (size_t)n, 1, rows[f], &pl, &pn);
		ck_assert_uint_eq(pl[0], 0xFE);
		ck_assert_uint_eq(my_le16(pl + 3), status[f] | 0x2);
	}
	ck_assert_uint_eq(s->cur_bytes, 0); /* closed once read to its end */
	uint32_t ids[2] = { 5, 77 };
	uint16_t codes[2] = { 1421, 1243 };
	for (int i = 0; i < 2; i++) {
		my_queue_push(s, MY_COM_STMT_FETCH, 1);
		s->queue[s->q_head].local = MY_L_FETCH;
		s->queue[s->q_head].stmt = ids[i];
		s->queue[s->q_head].nrows = 1;
		n = feed(s, LMS_ANS_READY, buf, sizeof(buf));
		ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), 1);
		ck_assert_uint_eq(my_le16(pl + 1), codes[i]);
	}
	/* an error while opening: an ERR with sequence id 1, nothing kept */
	my_queue_push(s, MY_COM_STMT_EXECUTE, 1);
	s->queue[s->q_head].cursor = 1;
	s->queue[s->q_head].stmt = 5;
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_COLUMNS;
	a.n = 2;
	a.cols = cols2;
	ck_assert_int_eq(my_fe_answer(s, &a, buf, sizeof(buf)), 0);
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_ERROR;
	memcpy(a.sqlstate, "22012", 6);
	ck_assert_int_eq(my_fe_answer(s, &a, buf, sizeof(buf)), 0); /* the ERR waits for READY */
	n = feed(s, LMS_ANS_READY, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)n, 1, 0, &pl, &pn), 1);
	ck_assert_uint_eq(my_le16(pl + 1), 1365);
	ck_assert_uint_eq(s->cur_bytes, 0);
	my_fe_free(s);
}
END_TEST

START_TEST(test_cmds_long_data)
{
	struct my_sess *s = served(0);
	uint8_t m[64 + 40000];
	struct lms_out out;
	struct lms_result res;
	struct lms_request req;
	struct my_stmt *st = stmt_with(s, 3, "update t set a = ? where b = ?", 2);
	st->types = malloc(4);
	memcpy(st->types, "\xfd\x00\x03\x00", 4);
	/* malformed and hostile chunks: too short, unknown statement, a
	 * parameter out of range (that one spoils the execution) */
	static const uint8_t short_ld[] = { MY_COM_STMT_SEND_LONG_DATA, 3, 0 };
	static const uint8_t other_ld[] = { MY_COM_STMT_SEND_LONG_DATA, 9, 0, 0, 0, 0, 0, 'x' };
	static const uint8_t chunk1[] = { MY_COM_STMT_SEND_LONG_DATA, 3, 0, 0, 0, 0, 0, 'a', 'b' };
	static const uint8_t chunk2[] = { MY_COM_STMT_SEND_LONG_DATA, 3, 0, 0, 0, 0, 0, 'c' };
	static const uint8_t bad_param[] = { MY_COM_STMT_SEND_LONG_DATA, 3, 0, 0, 0, 7, 0, 'x' };
	const uint8_t *pls[] = { short_ld, other_ld, chunk1, chunk2 };
	size_t lens[] = { sizeof(short_ld), sizeof(other_ld), sizeof(chunk1), sizeof(chunk2) };
	for (int i = 0; i < 4; i++) {
		memset(&res, 0, sizeof(res));
		size_t n = cmd_packet(m, pls[i], lens[i]);
		ck_assert_int_eq(my_fe_decode(s, m, n, &out, &res), 0);
		ck_assert_int_eq(my_fe_request(s, m, n, &req), 0);
		ck_assert_uint_eq(req.kind, LMS_REQ_NONE);
	}
	ck_assert_uint_eq(s->ld_bytes, 3);
	/* the execution: parameter 0 from the long data, 1 as sent */
	static const uint8_t exec[] = { MY_COM_STMT_EXECUTE, 3, 0, 0, 0, 0, 1, 0, 0, 0, 0x00, 1, 0xfd, 0, 3, 0,
					 9, 0, 0, 0 };
	size_t n = cmd_packet(m, exec, sizeof(exec));
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(my_fe_decode(s, m, n, &out, &res), 0);
	ck_assert_int_eq(my_fe_request(s, m, n, &req), 0);
	ck_assert_uint_eq(req.kind, LMS_REQ_EXECUTE);
	ck_assert_uint_eq(req.nparams, 2);
	ck_assert_uint_eq(req.params[0].len, 3);
	ck_assert(memcmp(req.params[0].data, "abc", 3) == 0);
	ck_assert_uint_eq(req.params[1].len, 1);
	ck_assert(memcmp(req.params[1].data, "9", 1) == 0);
	ck_assert_uint_eq(s->ld_bytes, 0);
	s->q_len = 0;
	/* forgotten: the next execution must carry a value (here none: malformed) */
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(my_fe_decode(s, m, n, &out, &res), 0);
	ck_assert_int_eq(my_fe_request(s, m, n, &req), -1);
	s->q_len = 0;
	/* a parameter out of range, or a chunk too big to assemble: ERR 1153
	 * (a chunk over 32 KiB is assembled whole by a 1.6 core) */
	for (int i = 0; i < 2; i++) {
		if (i == 0) {
			n = cmd_packet(m, bad_param, sizeof(bad_param));
			memset(&res, 0, sizeof(res));
			ck_assert_int_eq(my_fe_decode(s, m, n, &out, &res), 0);
		} else {
			uint8_t big[9] = { MY_COM_STMT_SEND_LONG_DATA, 3, 0, 0, 0, 0, 0, 'x', 'x' };
			n = cmd_packet(m, big, sizeof(big));
			my_put24(m, 40000); /* more than LMS_DECODE_MAX: decoded whole */
			struct lms_frame f;
			ck_assert_int_eq(my_fe_frame(s, m, n, &f), LMS_FRAME_OK);
			ck_assert_uint_eq(f.flags & LMS_FRAME_NEED_BODY, LMS_FRAME_NEED_BODY);
			my_put24(m, 0xFFFFFF); /* a packet continued: more than LMS_TRANSLATE_MAX */
			ck_assert_int_eq(my_fe_frame(s, m, n, &f), LMS_FRAME_OK);
			ck_assert_uint_eq(f.flags & LMS_FRAME_NEED_BODY, 0);
		}
		n = cmd_packet(m, exec, sizeof(exec));
		memset(&res, 0, sizeof(res));
		ck_assert_int_eq(my_fe_decode(s, m, n, &out, &res), 0);
		ck_assert_uint_eq(s->queue[(s->q_head + s->q_len - 1) % MY_QUEUE].local, MY_L_LONG_ERR);
		ck_assert_int_eq(my_fe_request(s, m, n, &req), 0);
		ck_assert_uint_eq(req.kind, LMS_REQ_PING);
		static uint8_t buf[4096];
		const uint8_t *pl;
		size_t pn;
		long k = feed(s, LMS_ANS_READY, buf, sizeof(buf));
		ck_assert_int_eq(packets(buf, (size_t)k, 1, 0, &pl, &pn), 1);
		ck_assert_uint_eq(my_le16(pl + 1), 1153);
	}
	my_fe_free(s);
}
END_TEST

/* ABI 1.7: a translated session relayed again after a cutover back only
 * with nothing in flight, and with a core older than 1.10 (no frame patch
 * for the ids, remap.c) only with no statement open; COM_STMT_CLOSE opens
 * no request (LMS_FRAME_NO_ANSWER) for a 1.7 core, long data joins the
 * execution's. */
START_TEST(test_move_back)
{
	struct my_sess *s = served(0);
	char why[200];
	stmt_with(s, 4, "select 1", 0);
	stmt_with(s, 6, "select 2", 0);
	struct lms_host_api v9 = stub_host;
	v9.abi_minor = 9;
	my_host = &v9;
	ck_assert_int_eq(my_fe_set_relayed(s, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "it has 2 prepared statements open, whose ids MariaDB never gave this connection");
	ck_assert_int_eq(s->translated, 1);
	uint8_t m[64];
	struct lms_frame f;
	static const uint8_t close4[] = { MY_COM_STMT_CLOSE, 4, 0, 0, 0 };
	static const uint8_t close6[] = { MY_COM_STMT_CLOSE, 6, 0, 0, 0 };
	static const uint8_t ld[] = { MY_COM_STMT_SEND_LONG_DATA, 6, 0, 0, 0, 0, 0, 'x' };
	struct lms_out out;
	struct lms_result res;
	size_t n = cmd_packet(m, close4, sizeof(close4));
	ck_assert_int_eq(my_fe_frame(s, m, n, &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.flags, LMS_FRAME_NO_ANSWER | LMS_FRAME_NEED_BODY);
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(my_fe_decode(s, m, n, &out, &res), 0);
	ck_assert_int_eq(my_fe_set_relayed(s, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "it has 1 prepared statement open, whose ids MariaDB never gave this connection");
	my_host = &stub_host;
	n = cmd_packet(m, ld, sizeof(ld));
	ck_assert_int_eq(my_fe_frame(s, m, n, &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.flags & (LMS_FRAME_NO_ANSWER | LMS_FRAME_ENDS_REQUEST), 0);
	/* a 1.6 core knows no such flag: the close is framed as before */
	struct lms_host_api old = stub_host;
	old.abi_minor = 6;
	my_host = &old;
	n = cmd_packet(m, close6, sizeof(close6));
	ck_assert_int_eq(my_fe_frame(s, m, n, &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.flags, LMS_FRAME_NEED_BODY);
	my_host = &stub_host;
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(my_fe_decode(s, m, n, &out, &res), 0);
	/* nothing open: relayed again; something in flight: not yet */
	s->q_len = 1;
	ck_assert_int_eq(my_fe_set_relayed(s, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "a command of it is still being answered");
	s->q_len = 0;
	ck_assert_int_eq(my_fe_set_relayed(s, why, sizeof(why)), 0);
	ck_assert_int_eq(s->translated, 0);
	ck_assert_int_eq(s->remap, 0); /* nothing to rewrite */
	my_fe_free(s);
	/* a 1.10 core: moved with its statements, prepared again there */
	s = served(0);
	stmt_with(s, 4, "select 1", 0);
	ck_assert_int_eq(my_fe_set_relayed(s, why, sizeof(why)), 0);
	ck_assert_int_eq(s->remap, 1);
	struct lms_request req;
	ck_assert_int_eq(my_fe_switch_state(s, 0, &req), 1);
	ck_assert_uint_eq(req.kind, LMS_REQ_PREPARE);
	ck_assert_uint_eq(req.stmt_id, 4);
	ck_assert_int_eq(my_fe_switch_state(s, 1, &req), 0);
	my_fe_free(s);
}
END_TEST

START_TEST(test_cmds_change_user_refused_and_others)
{
	struct my_sess *s = served(MY_CAP_SECURE_CONNECTION | MY_CAP_PLUGIN_AUTH);
	uint8_t m[512];
	struct lms_out out;
	struct lms_result res;
	static uint8_t buf[4096];
	const uint8_t *pl;
	size_t pn;
	/* truncated payloads: ERR 1045 at once, the connection ends */
	static const uint8_t bad1[] = { MY_COM_CHANGE_USER, 'u' };
	static const uint8_t bad2[] = { MY_COM_CHANGE_USER, 'u', 0, 20, 1, 2 };
	static const uint8_t bad3[] = { MY_COM_CHANGE_USER, 'u', 0, 0, 'd', 'b' };
	const uint8_t *bads[] = { bad1, bad2, bad3 };
	size_t lens[] = { sizeof(bad1), sizeof(bad2), sizeof(bad3) };
	for (int i = 0; i < 3; i++) {
		s->state = MY_S_READY;
		s->q_len = 0;
		size_t n = cmd_packet(m, bads[i], lens[i]);
		memset(&res, 0, sizeof(res));
		ck_assert_int_eq(my_fe_decode(s, m, n, &out, &res), 0);
		ck_assert_uint_eq(res.verdict, LMS_REPLY);
		ck_assert_uint_eq(res.action, LMS_ACT_CLOSE);
		ck_assert_uint_eq(out.data[3], 1);
		ck_assert_uint_eq(my_le16(out.data + 5), 1045);
		ck_assert_ptr_nonnull(memmem(out.data, out.len, "malformed", 9));
	}
	/* well formed, but this core holds no copy of the logins */
	s->state = MY_S_READY;
	s->q_len = 0;
	s->scramble_known = 1;
	uint8_t ok[64] = { MY_COM_CHANGE_USER, 'a', 'p', 'p', 0, 0, 'd', 'b', 0, 45, 0 };
	memcpy(ok + 11, "mysql_native_password", 22);
	size_t n = cmd_packet(m, ok, 33);
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(my_fe_decode(s, m, n, &out, &res), 0);
	ck_assert_uint_eq(res.action, LMS_ACT_CLOSE);
	ck_assert_ptr_nonnull(memmem(out.data, out.len, "no copy", 7));
	/* another client plugin: a switch request at READY, the session's scramble */
	s->state = MY_S_READY;
	s->q_len = 0;
	memcpy(ok + 11, "client_ed25519", 15);
	n = cmd_packet(m, ok, 26);
	memset(&res, 0, sizeof(res));
	memcpy(s->scramble, "01234567890123456789", MY_SCRAMBLE_LEN);
	ck_assert_int_eq(my_fe_decode(s, m, n, &out, &res), 0);
	ck_assert_uint_eq(res.verdict, LMS_FORWARD);
	ck_assert_uint_eq(s->local_req, LMS_REQ_PING);
	long k = feed(s, LMS_ANS_READY, buf, sizeof(buf));
	ck_assert_int_eq(packets(buf, (size_t)k, 1, 0, &pl, &pn), 1);
	ck_assert_uint_eq(pn, 1 + 22 + 20 + 1);
	ck_assert(memcmp(pl, "\xfemysql_native_password\0" "01234567890123456789", 43) == 0);
	ck_assert_int_eq(s->owes, MY_OWES_AUTH);
	/* its answer is framed whole, ends a request; a wrong one closes */
	uint8_t ans[24] = { 20, 0, 0, 2 };
	struct lms_frame f;
	ck_assert_int_eq(my_fe_frame(s, ans, sizeof(ans), &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.flags, LMS_FRAME_NEED_BODY | LMS_FRAME_ENDS_REQUEST);
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(my_fe_decode(s, ans, sizeof(ans), &out, &res), 0);
	ck_assert_uint_eq(res.action, LMS_ACT_CLOSE);
	ck_assert_uint_eq(out.data[3], 3);

	/* COM_STATISTICS: a string; COM_FIELD_LIST: ERR 1235 */
	s->state = MY_S_READY;
	s->owes = MY_OWES_NOTHING;
	s->q_len = 0;
	uint8_t cmds[2] = { MY_COM_STATISTICS, MY_COM_FIELD_LIST };
	for (int i = 0; i < 2; i++) {
		uint8_t c[3] = { cmds[i], 't', 0 };
		n = cmd_packet(m, c, i ? 3 : 1);
		memset(&res, 0, sizeof(res));
		ck_assert_int_eq(my_fe_decode(s, m, n, &out, &res), 0);
		ck_assert_uint_eq(s->local_req, LMS_REQ_PING);
		k = feed(s, LMS_ANS_READY, buf, sizeof(buf));
		ck_assert_int_eq(packets(buf, (size_t)k, 1, 0, &pl, &pn), 1);
		if (i == 0)
			ck_assert(memcmp(pl, "Uptime: ", 8) == 0);
		else
			ck_assert_uint_eq(my_le16(pl + 1), 1235);
	}
	/* COM_SET_OPTION: EOF for multi-statements on or off, ERR for others */
	uint8_t opts[3][3] = { { MY_COM_SET_OPTION, 0, 0 }, { MY_COM_SET_OPTION, 1, 0 }, { MY_COM_SET_OPTION, 7, 0 } };
	for (int i = 0; i < 3; i++) {
		n = cmd_packet(m, opts[i], 3);
		memset(&res, 0, sizeof(res));
		ck_assert_int_eq(my_fe_decode(s, m, n, &out, &res), 0);
		ck_assert_uint_eq(s->local_req, LMS_REQ_PING);
		k = feed(s, LMS_ANS_READY, buf, sizeof(buf));
		ck_assert_int_eq(packets(buf, (size_t)k, 1, 0, &pl, &pn), 1);
		if (i < 2)
			ck_assert(pl[0] == 0xFE || pl[0] == 0x00);
		else
			ck_assert_uint_eq(my_le16(pl + 1), 1047);
	}
	my_fe_free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("mysql_served");
	TCase *t = tcase_create("core");
	tcase_add_checked_fixture(t, setup, NULL);
	tcase_add_test(t, test_pg_answer_columns_and_rows);
	tcase_add_test(t, test_pg_answer_other_messages);
	tcase_add_test(t, test_fe_answer_text_result);
	tcase_add_test(t, test_fe_answer_time_text);
	tcase_add_test(t, test_fe_answer_ok_error_multi);
	tcase_add_test(t, test_fe_answer_prepare_and_binary);
	tcase_add_test(t, test_fe_answer_malformed);
	tcase_add_test(t, test_local_classes);
	tcase_add_test(t, test_local_answers);
	tcase_add_test(t, test_cmds_cursor_and_fetch);
	tcase_add_test(t, test_cmds_long_data);
	tcase_add_test(t, test_cmds_change_user_refused_and_others);
	tcase_add_test(t, test_move_back);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
