/*
 * check_pgwire_rerun.c - plugins/pgwire/rerun.c through a whole backend
 * (pg_be_encode_request, pg_be_decode, pg_be_answer): an execution
 * refused at Bind with 0A000 or 26000 is sent again with its statement
 * parsed anew, the refusal hidden; inside a transaction after ROLLBACK TO
 * SAVEPOINT; never twice; never with another request in flight, another
 * error, or a first execution.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire.h"

#include "../common/stub_host.h"
#include "../common/pg_msg.h"

static struct lms_backend_conf conf;
static void *be;
static uint8_t sent[16384];
static size_t sent_len;

static const char SQL[] = "select * from t where id = ?";
static const uint32_t HOLES[] = { 27 };
static const uint8_t FIVE[] = "5";
static const struct lms_param PARAM = { .data = FIVE, .len = 1 };

/* Feed one backend message whole; returns be_answer's kind, and the
 * bytes the plugin sends back (LMS_REPLY) in sent. */
static uint32_t feed(const struct msg *m)
{
	struct lms_out out;
	struct lms_result res;
	struct lms_answer ans;
	struct lms_frame f;
	memset(&res, 0, sizeof(res));
	memset(&ans, 0, sizeof(ans));
	out.len = 0;
	ck_assert_int_eq(pg_be_frame(be, m->b, m->n, &f), LMS_FRAME_OK);
	ck_assert_int_eq(pg_be_decode(be, m->b, m->n, &out, &res), 0);
	ck_assert_int_eq(pg_be_answer(be, m->b, m->n, &ans), 0);
	sent_len = 0;
	if (res.verdict == LMS_REPLY) {
		memcpy(sent, out.data, out.len);
		sent_len = out.len;
		ck_assert_uint_ne(res.action, LMS_ACT_READY);
	}
	if (m->b[0] == 'Z' && res.verdict != LMS_REPLY)
		ck_assert_uint_eq(res.action, LMS_ACT_READY);
	return ans.kind;
}

static uint32_t feed_type(char t)
{
	struct msg m;
	msg_begin(&m, t);
	msg_end(&m);
	return feed(&m);
}

static uint32_t feed_ready(char state)
{
	struct msg m;
	msg_begin(&m, 'Z');
	msg_bytes(&m, &state, 1);
	msg_end(&m);
	return feed(&m);
}

static uint32_t feed_error(const char *sqlstate)
{
	struct msg m;
	msg_begin(&m, 'E');
	msg_bytes(&m, "SERROR", 7);
	msg_bytes(&m, "C", 1);
	msg_str(&m, sqlstate);
	msg_bytes(&m, "Mno", 4);
	msg_bytes(&m, "", 1);
	msg_end(&m);
	return feed(&m);
}

static uint32_t feed_complete(const char *tag)
{
	struct msg m;
	msg_begin(&m, 'C');
	msg_str(&m, tag);
	msg_end(&m);
	return feed(&m);
}

/* A one-column result (an int4 "id"), one row. */
static void feed_result(void)
{
	struct msg m;
	msg_begin(&m, 'T');
	msg_u16(&m, 1);
	msg_str(&m, "id");
	msg_u32(&m, 0);
	msg_u16(&m, 0);
	msg_u32(&m, 23);
	msg_u16(&m, 4);
	msg_u32(&m, 0xFFFFFFFFu);
	msg_u16(&m, 0);
	msg_end(&m);
	ck_assert_uint_eq(feed(&m), LMS_ANS_COLUMNS);
	msg_begin(&m, 'D');
	msg_u16(&m, 1);
	msg_u32(&m, 1);
	msg_bytes(&m, "5", 1);
	msg_end(&m);
	ck_assert_uint_eq(feed(&m), LMS_ANS_ROW);
	ck_assert_uint_eq(feed_complete("SELECT 1"), LMS_ANS_COMPLETE);
}

static void setup(void)
{
	pg_host = &stub_host;
	pg_flavor = &pg_flavor_postgres;
	memset(&conf, 0, sizeof(conf));
	conf.user = "lms_admin";
	conf.database = "db";
	struct lms_be_opts o;
	memset(&o, 0, sizeof(o));
	o.conf = &conf;
	be = pg_be_new(&o);
	ck_assert_ptr_nonnull(be);
	uint8_t startup[64];
	size_t n = 0;
	struct lms_startup st = { "mysql", "app", "db", startup, n };
	struct lms_out out;
	struct lms_result res;
	memset(&res, 0, sizeof(res));
	out.len = 0;
	ck_assert_int_eq(pg_be_start(be, 0, &st, &out, &res), 0);
	struct msg m;
	msg_begin(&m, 'R');
	msg_u32(&m, 0);
	msg_end(&m);
	feed(&m);
	feed_ready('I'); /* the login's: logged in */
}

static void teardown(void)
{
	pg_be_free(be);
}

/* Encode request kind with flags; returns its bytes in *buf. */
static long encode(uint32_t kind, uint32_t id, const char *sql, uint32_t flags, uint8_t *buf, size_t cap)
{
	struct lms_request req;
	memset(&req, 0, sizeof(req));
	req.kind = kind;
	req.stmt_id = id;
	req.sql = sql;
	req.sql_len = strlen(sql);
	req.flags = flags;
	if (kind == LMS_REQ_EXECUTE && strchr(sql, '?')) {
		req.holes = HOLES;
		req.nholes = 1;
		req.params = &PARAM;
		req.nparams = 1;
	}
	long n = pg_be_encode_request(be, &req, buf, cap);
	ck_assert_int_gt(n, 0);
	return n;
}

static long execute(uint8_t *buf)
{
	return encode(LMS_REQ_EXECUTE, 7, SQL, LMS_REQ_STMT_ATOMIC | LMS_REQ_READ, buf, 4096);
}

/* The answer to an execution that parses (Parse, Bind, rows). */
static void answer_parsed(char state)
{
	ck_assert_uint_eq(feed_type('1'), LMS_ANS_PARSED);
	ck_assert_uint_eq(feed_type('2'), LMS_ANS_NONE);
	feed_result();
	ck_assert_uint_eq(feed_ready(state), LMS_ANS_READY);
	ck_assert_uint_eq(sent_len, 0);
}

/* Where message type t first starts in buf[0..n), or -1. */
static long find_msg(const uint8_t *buf, size_t n, char t)
{
	size_t at = 0;
	while (at + 5 <= n) {
		if (buf[at] == (uint8_t)t)
			return (long)at;
		at += 1 + pg_get32(buf + at + 1);
	}
	return -1;
}

/* Where the last message of type t starts in buf[0..n), or -1. */
static long last_msg(const uint8_t *buf, size_t n, char t)
{
	long last = -1;
	for (size_t at = 0; at + 5 <= n; at += 1 + pg_get32(buf + at + 1))
		if (buf[at] == (uint8_t)t)
			last = (long)at;
	return last;
}

START_TEST(test_refused_then_rerun)
{
	uint8_t first[4096], again[4096];
	execute(first);
	ck_assert_int_ge(find_msg(first, 4096, 'P'), 0);
	answer_parsed('I');
	long n = execute(again);
	ck_assert_uint_eq(again[0], 'B'); /* bound only */
	ck_assert_uint_eq(feed_error("0A000"), LMS_ANS_NONE);
	ck_assert_uint_eq(feed_ready('I'), LMS_ANS_NONE);
	/* Close + Parse of lms_s7, then the very same Bind .. Sync */
	ck_assert_uint_gt(sent_len, (size_t)n);
	ck_assert_uint_eq(sent[0], 'C');
	ck_assert_mem_eq(sent + 6, "lms_s7", 7);
	long p = find_msg(sent, sent_len, 'P');
	ck_assert_int_gt(p, 0);
	ck_assert_mem_eq(sent + sent_len - (size_t)n, again, (size_t)n);
	ck_assert_int_ge(find_msg(first, 4096, 'P'), 0);
	size_t plen = 1 + pg_get32(sent + p + 1);
	ck_assert_mem_eq(sent + p, first + find_msg(first, 4096, 'P'), plen);
	/* the retry's answer is the client's (CloseComplete is ours: none) */
	ck_assert_uint_eq(feed_type('3'), LMS_ANS_NONE);
	answer_parsed('I');
	/* parsed again: the next execution binds only */
	execute(again);
	ck_assert_uint_eq(again[0], 'B');
	feed_type('2');
	feed_result();
	ck_assert_uint_eq(feed_ready('I'), LMS_ANS_READY);
}
END_TEST

START_TEST(test_never_twice)
{
	uint8_t buf[4096];
	execute(buf);
	answer_parsed('I');
	execute(buf);
	ck_assert_uint_eq(feed_error("26000"), LMS_ANS_NONE);
	ck_assert_uint_eq(feed_ready('I'), LMS_ANS_NONE);
	ck_assert_uint_gt(sent_len, 0);
	feed_type('3');
	ck_assert_uint_eq(feed_error("0A000"), LMS_ANS_ERROR); /* the retry's Parse or Bind: the client's */
	ck_assert_uint_eq(feed_ready('I'), LMS_ANS_READY);
	ck_assert_uint_eq(sent_len, 0);
	/* the statement is parsed again at its next execution */
	execute(buf);
	ck_assert_uint_eq(buf[0], 'C');
	ck_assert_int_ge(find_msg(buf, 4096, 'P'), 0);
}
END_TEST

START_TEST(test_inside_a_transaction)
{
	uint8_t buf[4096];
	execute(buf);
	answer_parsed('I');
	encode(LMS_REQ_QUERY, 0, "begin", LMS_REQ_STMT_ATOMIC, buf, sizeof(buf));
	ck_assert_uint_eq(feed_complete("BEGIN"), LMS_ANS_COMPLETE);
	ck_assert_uint_eq(feed_ready('T'), LMS_ANS_READY);
	encode(LMS_REQ_QUERY, 0, "insert into u values (1)", LMS_REQ_STMT_ATOMIC, buf, sizeof(buf));
	ck_assert_uint_eq(feed_complete("SAVEPOINT"), LMS_ANS_NONE);
	ck_assert_uint_eq(feed_complete("INSERT 0 1"), LMS_ANS_COMPLETE);
	ck_assert_uint_eq(feed_ready('T'), LMS_ANS_READY);
	long n = execute(buf); /* RELEASE + SAVEPOINT first, then Bind .. Sync */
	ck_assert_uint_eq(buf[0], 'P');
	for (int k = 0; k < 2; k++) {
		ck_assert_uint_eq(feed_type('1'), LMS_ANS_NONE);
		ck_assert_uint_eq(feed_type('2'), LMS_ANS_NONE);
		ck_assert_uint_eq(feed_complete(k ? "SAVEPOINT" : "RELEASE"), LMS_ANS_NONE);
	}
	ck_assert_uint_eq(feed_error("0A000"), LMS_ANS_NONE);
	ck_assert_uint_eq(feed_ready('E'), LMS_ANS_NONE);
	/* ROLLBACK TO SAVEPOINT, Close, Parse, the execution */
	ck_assert_uint_eq(sent[0], 'P');
	ck_assert_ptr_nonnull(memmem(sent, sent_len, "ROLLBACK TO SAVEPOINT molt_lms", 30));
	long b = last_msg(buf, (size_t)n, 'B'); /* the client's Bind: after ours */
	ck_assert_mem_eq(sent + sent_len - (size_t)(n - b), buf + b, (size_t)(n - b));
	ck_assert_uint_eq(feed_type('1'), LMS_ANS_NONE);
	ck_assert_uint_eq(feed_type('2'), LMS_ANS_NONE);
	ck_assert_uint_eq(feed_complete("ROLLBACK"), LMS_ANS_NONE);
	ck_assert_uint_eq(feed_type('3'), LMS_ANS_NONE);
	answer_parsed('T');
	encode(LMS_REQ_QUERY, 0, "commit", LMS_REQ_STMT_ATOMIC | LMS_REQ_COMMIT, buf, sizeof(buf));
	ck_assert_uint_eq(feed_complete("COMMIT"), LMS_ANS_COMPLETE);
	ck_assert_uint_eq(feed_ready('I'), LMS_ANS_READY);
}
END_TEST

START_TEST(test_not_rerun)
{
	uint8_t buf[4096], two[4096];
	/* a first execution parses: its refusal is the client's */
	execute(buf);
	ck_assert_uint_eq(feed_error("0A000"), LMS_ANS_ERROR);
	ck_assert_uint_eq(feed_ready('I'), LMS_ANS_READY);
	ck_assert_uint_eq(sent_len, 0);
	execute(buf);
	answer_parsed('I');
	/* another error */
	execute(buf);
	ck_assert_uint_eq(feed_error("42703"), LMS_ANS_ERROR);
	ck_assert_uint_eq(feed_ready('I'), LMS_ANS_READY);
	execute(buf);
	answer_parsed('I');
	/* another request in flight behind it */
	execute(buf);
	encode(LMS_REQ_QUERY, 0, "select 2", LMS_REQ_STMT_ATOMIC, two, sizeof(two));
	ck_assert_uint_eq(feed_error("0A000"), LMS_ANS_ERROR);
	ck_assert_uint_eq(feed_ready('I'), LMS_ANS_READY);
	feed_result();
	ck_assert_uint_eq(feed_ready('I'), LMS_ANS_READY);
	ck_assert_uint_eq(sent_len, 0);
	/* without transaction flags (a client that promises nothing) */
	execute(buf);
	answer_parsed('I');
	encode(LMS_REQ_EXECUTE, 7, SQL, 0, buf, sizeof(buf));
	ck_assert_uint_eq(feed_error("0A000"), LMS_ANS_ERROR);
	ck_assert_uint_eq(feed_ready('I'), LMS_ANS_READY);
}
END_TEST

/* The client pipelines a request between the refusal (hidden) and its
 * ReadyForQuery: the retry would be answered after it, so the backend
 * gives up at that ReadyForQuery, which ends nothing as a success. */
START_TEST(test_overtaken)
{
	uint8_t buf[4096], two[4096];
	execute(buf);
	answer_parsed('I');
	execute(buf);
	ck_assert_uint_eq(feed_error("0A000"), LMS_ANS_NONE);
	encode(LMS_REQ_QUERY, 0, "select 2", LMS_REQ_STMT_ATOMIC, two, sizeof(two));
	struct msg m;
	char state = 'I';
	msg_begin(&m, 'Z');
	msg_bytes(&m, &state, 1);
	msg_end(&m);
	struct lms_out out;
	struct lms_result res;
	struct lms_answer ans;
	memset(&res, 0, sizeof(res));
	memset(&ans, 0, sizeof(ans));
	out.len = 0;
	ck_assert_int_eq(pg_be_decode(be, m.b, m.n, &out, &res), 0);
	ck_assert_uint_eq(res.action, LMS_ACT_FAIL);
	ck_assert_uint_ne(res.verdict, LMS_REPLY);
	ck_assert_ptr_nonnull(strstr(res.error.message, "so that no answer is wrong"));
	ck_assert_int_eq(pg_be_answer(be, m.b, m.n, &ans), 0);
	ck_assert_uint_eq(ans.kind, LMS_ANS_NONE);
}
END_TEST

START_TEST(test_too_big_to_keep)
{
	/* a statement whose Parse and parameters do not fit in one retry */
	static char sql[PG_RERUN_ROOM + 64];
	memset(sql, ' ', sizeof(sql) - 1);
	memcpy(sql, "select 1", 8);
	sql[sizeof(sql) - 1] = 0;
	static uint8_t buf[PG_RERUN_ROOM + 512];
	encode(LMS_REQ_EXECUTE, 9, sql, LMS_REQ_STMT_ATOMIC, buf, sizeof(buf));
	answer_parsed('I');
	encode(LMS_REQ_EXECUTE, 9, sql, LMS_REQ_STMT_ATOMIC, buf, sizeof(buf));
	ck_assert_uint_eq(buf[0], 'B');
	ck_assert_uint_eq(feed_error("0A000"), LMS_ANS_ERROR);
	ck_assert_uint_eq(feed_ready('I'), LMS_ANS_READY);
	ck_assert_uint_eq(sent_len, 0);
}
END_TEST

static Suite *rerun_suite(void)
{
	Suite *s = suite_create("pgwire_rerun");
	TCase *t = tcase_create("rerun");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_refused_then_rerun);
	tcase_add_test(t, test_never_twice);
	tcase_add_test(t, test_inside_a_transaction);
	tcase_add_test(t, test_not_rerun);
	tcase_add_test(t, test_overtaken);
	tcase_add_test(t, test_too_big_to_keep);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rerun_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
