/*
 * check_pgwire_atomic.c - plugins/pgwire/atomic.c: the statements put in
 * front of translated requests to keep a MySQL client's transaction
 * semantics (ABI 1.5), the answers hidden for them, the state reported,
 * pipelining, and malformed input.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire.h"

#include "../common/stub_host.h"
#include "../common/pg_msg.h"

static struct pg_atom A;

static void setup(void)
{
	pg_host = &stub_host;
	pg_flavor = &pg_flavor_postgres;
	pg_atom_reset(&A);
}

/* Plan and push one request; returns its statements joined by '|'. */
static const char *send_req(uint32_t flags, int simple)
{
	static char out[256];
	const char *st[PG_ATOM_STMTS];
	struct pg_atom_req r;
	int n = pg_atom_plan(&A, flags, simple, st, &r);
	ck_assert_int_ge(n, 0);
	out[0] = 0;
	for (int k = 0; k < n; k++) {
		if (k)
			strcat(out, "|");
		strcat(out, st[k]);
	}
	pg_atom_push(&A, &r);
	return out;
}

/* Feed one message; returns what pg_atom_decode said, and whether it is
 * hidden in *hidden. */
static int feed(const struct msg *m, int *hidden)
{
	int rc = pg_atom_decode(&A, m->b, m->n);
	*hidden = A.hiding;
	return rc;
}

static int feed_type(char t, int *hidden)
{
	struct msg m;
	msg_begin(&m, t);
	msg_end(&m);
	return feed(&m, hidden);
}

static int feed_complete(const char *tag, int *hidden)
{
	struct msg m;
	msg_begin(&m, 'C');
	msg_str(&m, tag);
	msg_end(&m);
	return feed(&m, hidden);
}

static int feed_error(const char *sqlstate)
{
	struct msg m;
	int hidden;
	msg_begin(&m, 'E');
	msg_bytes(&m, "SERROR", 7);
	msg_bytes(&m, "C", 1);
	msg_str(&m, sqlstate);
	msg_bytes(&m, "Mboom", 6);
	msg_bytes(&m, "", 1);
	msg_end(&m);
	ck_assert_int_eq(feed(&m, &hidden), 0);
	return hidden;
}

static int feed_ready(char state)
{
	struct msg m;
	int hidden;
	msg_begin(&m, 'Z');
	msg_bytes(&m, &state, 1);
	msg_end(&m);
	int rc = feed(&m, &hidden);
	ck_assert_int_eq(rc == 1, hidden);
	return rc;
}

/* The answers to n extended-protocol statements of ours, all hidden. */
static void ours_ok(int n, const char *tag)
{
	int hidden;
	for (int k = 0; k < n; k++) {
		feed_type('1', &hidden);
		ck_assert(hidden);
		feed_type('2', &hidden);
		ck_assert(hidden);
		feed_complete(tag, &hidden);
		ck_assert(hidden);
	}
}

/* The client's own statement succeeding: nothing of it hidden. */
static void theirs_ok(void)
{
	int hidden;
	feed_type('1', &hidden);
	ck_assert(!hidden);
	feed_complete("INSERT 0 1", &hidden);
	ck_assert(!hidden);
}

START_TEST(test_no_transaction_no_statements)
{
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC, 0), "");
	theirs_ok();
	ck_assert_int_eq(feed_ready('I'), 0);
	ck_assert_uint_eq(pg_atom_txn(&A), LMS_TXN_IDLE);
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC | LMS_REQ_COMMIT_FIRST, 1), "");
}
END_TEST

START_TEST(test_savepoints_and_repair)
{
	send_req(LMS_REQ_STMT_ATOMIC | LMS_REQ_COMMIT_FIRST, 1); /* BEGIN */
	ck_assert_int_eq(feed_ready('T'), 0);
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC, 0), "SAVEPOINT molt_lms");
	ours_ok(1, "SAVEPOINT");
	theirs_ok();
	feed_ready('T');
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC, 0), "RELEASE SAVEPOINT molt_lms|SAVEPOINT molt_lms");
	ours_ok(2, "SAVEPOINT");
	ck_assert(!feed_error("23505"));
	feed_ready('E');
	ck_assert_uint_eq(pg_atom_txn(&A), LMS_TXN_OPEN); /* undone alone: still open */
	/* the next request repairs first; the savepoint stays where it was */
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC, 1), "ROLLBACK TO SAVEPOINT molt_lms");
	int hidden;
	feed_complete("ROLLBACK", &hidden);
	ck_assert(hidden);
	feed_complete("INSERT 0 1", &hidden);
	ck_assert(!hidden);
	feed_ready('T');
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC | LMS_REQ_COMMIT, 1),
			 "RELEASE SAVEPOINT molt_lms|SAVEPOINT molt_lms");
	ours_ok(0, "");
	feed_complete("RELEASE", &hidden);
	feed_complete("SAVEPOINT", &hidden);
	ck_assert(hidden);
	feed_complete("COMMIT", &hidden);
	ck_assert(!hidden && !A.commit_lost);
	feed_ready('I');
	ck_assert_uint_eq(pg_atom_txn(&A), LMS_TXN_IDLE);
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC, 1), "");
}
END_TEST

START_TEST(test_reads_keep_the_savepoint)
{
	const uint32_t R = LMS_REQ_STMT_ATOMIC | LMS_REQ_READ, W = LMS_REQ_STMT_ATOMIC;
	int hidden;
	send_req(W | LMS_REQ_COMMIT_FIRST, 1); /* BEGIN */
	feed_ready('T');
	ck_assert_str_eq(send_req(R, 1), "SAVEPOINT molt_lms");
	feed_complete("SAVEPOINT", &hidden);
	feed_ready('T');
	ck_assert_str_eq(send_req(R, 1), ""); /* only reads since: it still marks the state */
	feed_ready('T');
	ck_assert_str_eq(send_req(R, 1), "");
	feed_error("42703");
	feed_ready('E');
	ck_assert_uint_eq(pg_atom_txn(&A), LMS_TXN_OPEN);
	ck_assert_str_eq(send_req(W, 1), "ROLLBACK TO SAVEPOINT molt_lms");
	feed_complete("ROLLBACK", &hidden);
	ck_assert(hidden);
	feed_ready('T');
	ck_assert_str_eq(send_req(R, 1), "RELEASE SAVEPOINT molt_lms|SAVEPOINT molt_lms"); /* a write ran */
	feed_complete("RELEASE", &hidden);
	feed_complete("SAVEPOINT", &hidden);
	feed_ready('T');
	ck_assert_str_eq(send_req(W, 1), ""); /* only a read since */
	feed_ready('T');
	ck_assert_str_eq(send_req(R, 1), "RELEASE SAVEPOINT molt_lms|SAVEPOINT molt_lms");
}
END_TEST

START_TEST(test_commit_first)
{
	send_req(LMS_REQ_STMT_ATOMIC, 1);
	feed_ready('T');
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC | LMS_REQ_COMMIT_FIRST, 1), "COMMIT");
	int hidden;
	feed_complete("COMMIT", &hidden);
	ck_assert(hidden);
	feed_complete("BEGIN", &hidden);
	ck_assert(!hidden);
	feed_ready('T');
	/* a new transaction: no savepoint of ours to release */
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC, 1), "SAVEPOINT molt_lms");
	/* a reset rolls back */
	feed_complete("SAVEPOINT", &hidden);
	feed_ready('T');
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC | PG_ATOM_RESET, 0), "ROLLBACK");
	ours_ok(1, "ROLLBACK");
	feed_ready('I');
	ck_assert_uint_eq(pg_atom_txn(&A), LMS_TXN_IDLE);
}
END_TEST

START_TEST(test_class40_rolls_back_at_once)
{
	send_req(LMS_REQ_STMT_ATOMIC, 1);
	feed_ready('T');
	send_req(LMS_REQ_STMT_ATOMIC, 1);
	int hidden;
	feed_complete("SAVEPOINT", &hidden);
	ck_assert(hidden);
	ck_assert(!feed_error("40P01"));
	ck_assert_int_eq(feed_ready('E'), 1); /* ours: answered with ROLLBACK */
	feed_complete("ROLLBACK", &hidden);
	ck_assert(hidden);
	ck_assert_int_eq(feed_ready('I'), 0);
	ck_assert_uint_eq(pg_atom_txn(&A), LMS_TXN_IDLE);
	ck_assert_uint_eq(A.len, 0);
}
END_TEST

START_TEST(test_class40_pipelined_repairs_later)
{
	send_req(LMS_REQ_STMT_ATOMIC, 1);
	feed_ready('T');
	send_req(LMS_REQ_STMT_ATOMIC, 1);
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC, 1), ""); /* pipelined: as it is */
	int hidden;
	feed_complete("SAVEPOINT", &hidden);
	feed_error("40001");
	ck_assert_int_eq(feed_ready('E'), 0); /* another request in flight: not now */
	ck_assert_uint_eq(pg_atom_txn(&A), LMS_TXN_IDLE);
	feed_error("25P02");
	feed_ready('E');
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC, 1), "ROLLBACK");
}
END_TEST

START_TEST(test_pipelined_failure_is_broken)
{
	send_req(LMS_REQ_STMT_ATOMIC | LMS_REQ_COMMIT_FIRST, 1); /* BEGIN */
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC, 1), "");  /* pipelined */
	int hidden;
	feed_complete("BEGIN", &hidden);
	ck_assert(!hidden);
	feed_ready('T');
	feed_error("23505");
	feed_ready('E');
	ck_assert_uint_eq(pg_atom_txn(&A), LMS_TXN_FAILED);
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC, 1), ""); /* nothing to repair with */
	feed_error("25P02");
	feed_ready('E');
	send_req(LMS_REQ_STMT_ATOMIC | LMS_REQ_COMMIT, 1);
	feed_complete("ROLLBACK", &hidden);
	ck_assert(!hidden && A.commit_lost);
	feed_ready('I');
	ck_assert_uint_eq(pg_atom_txn(&A), LMS_TXN_IDLE);
}
END_TEST

START_TEST(test_our_statement_fails)
{
	send_req(LMS_REQ_STMT_ATOMIC, 1);
	feed_ready('T');
	send_req(LMS_REQ_STMT_ATOMIC, 0);
	int hidden;
	feed_type('1', &hidden);
	ck_assert(hidden);
	ck_assert(!feed_error("25P02")); /* the client sees it */
	feed_ready('E');
	ck_assert_uint_eq(pg_atom_txn(&A), LMS_TXN_FAILED);
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC, 0), "");
}
END_TEST

START_TEST(test_queue_bounded_and_malformed)
{
	for (int k = 0; k < PG_ATOM_QUEUE; k++)
		send_req(LMS_REQ_STMT_ATOMIC, 1);
	const char *st[PG_ATOM_STMTS];
	struct pg_atom_req r;
	ck_assert_int_eq(pg_atom_plan(&A, LMS_REQ_STMT_ATOMIC, 1, st, &r), -1);
	ck_assert_int_eq(pg_atom_decode(&A, (const uint8_t *)"Z\0\0\0\x06II", 7), -1);
	/* a truncated error, an unknown message: no crash, nothing hidden */
	ck_assert_int_eq(pg_atom_decode(&A, (const uint8_t *)"E\0\0\0\x06" "C4", 7), 0);
	ck_assert_int_eq(pg_atom_decode(&A, (const uint8_t *)"N\0\0\0\x04", 5), 0);
	/* a SQLSTATE at the very end, without its terminator (found by fuzz_pg_observe) */
	uint8_t *e = malloc(11);
	memcpy(e, "E\0\0\0\x0a" "C23505", 11);
	ck_assert_int_eq(pg_atom_decode(&A, e, 11), 0);
	free(e);
	ck_assert(!A.hiding);
	/* answers nobody asked for */
	pg_atom_reset(&A);
	int hidden;
	ck_assert_int_eq(feed_type('C', &hidden), 0);
	ck_assert(!hidden);
	ck_assert_int_eq(feed_ready('I'), 0);
}
END_TEST

/* Through the backend: the Query text and the messages written. */
START_TEST(test_encode_prefix)
{
	struct lms_backend_conf conf;
	memset(&conf, 0, sizeof(conf));
	struct lms_be_opts o;
	memset(&o, 0, sizeof(o));
	o.conf = &conf;
	o.relay_auth = 1;
	void *be = pg_be_new(&o);
	ck_assert_ptr_nonnull(be);
	uint8_t buf[512];
	struct lms_request q;
	memset(&q, 0, sizeof(q));
	q.kind = LMS_REQ_QUERY;
	q.sql = "insert into t values (1)";
	q.sql_len = strlen(q.sql);
	q.flags = LMS_REQ_STMT_ATOMIC;
	/* no transaction: the text as written */
	long n = pg_be_encode_request(be, &q, buf, sizeof(buf));
	ck_assert_int_eq(n, 5 + (long)q.sql_len + 1);
	struct pg_atom *a = pg_be_atom(be, 0);
	ck_assert_ptr_nonnull(a);
	pg_atom_decode(a, (const uint8_t *)"Z\0\0\0\x05T", 6);
	n = pg_be_encode_request(be, &q, buf, sizeof(buf));
	const char *want = "SAVEPOINT molt_lms; insert into t values (1)";
	ck_assert_int_eq(n, 5 + (long)strlen(want) + 1);
	ck_assert_mem_eq(buf + 5, want, strlen(want) + 1);
	/* too small a buffer: nothing queued */
	uint32_t len = a->len;
	pg_atom_decode(a, (const uint8_t *)"Z\0\0\0\x05T", 6);
	ck_assert_int_eq(pg_be_encode_request(be, &q, buf, 10), -1);
	ck_assert_uint_eq(a->len, len - 1);
	/* an execution: Parse, Bind, Execute of ours first */
	struct lms_request x;
	memset(&x, 0, sizeof(x));
	x.kind = LMS_REQ_EXECUTE;
	x.sql = "select 1";
	x.sql_len = 8;
	x.flags = LMS_REQ_STMT_ATOMIC;
	n = pg_be_encode_request(be, &x, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	const char *types = "PBEPBEP";
	const char *sql[] = { "RELEASE SAVEPOINT molt_lms", "SAVEPOINT molt_lms" };
	size_t p = 0;
	for (int k = 0; k < 6; k++) {
		ck_assert_uint_eq(buf[p], (uint8_t)types[k]);
		if (types[k] == 'P')
			ck_assert_mem_eq(buf + p + 6, sql[k / 3], strlen(sql[k / 3]) + 1);
		p += 1 + pg_get32(buf + p + 1);
	}
	ck_assert_uint_eq(buf[p], 'P');
	ck_assert_mem_eq(buf + p + 5, "lms_s0\0select 1", 16); /* named (named.c) */
	pg_be_free(be);
}
END_TEST

/* ABI 1.8: autocommit off, no transaction open: BEGIN and a savepoint go
 * first; a failed first statement undoes only itself and the transaction
 * stays open; once it is open nothing is begun again; after COMMIT, the
 * next statement begins anew. */
START_TEST(test_begin_first)
{
	const uint32_t atomic = LMS_REQ_STMT_ATOMIC | LMS_REQ_BEGIN_FIRST;
	ck_assert_str_eq(send_req(atomic, 1), "BEGIN|SAVEPOINT molt_lms");
	int hidden;
	feed_complete("BEGIN", &hidden);
	ck_assert(hidden);
	feed_complete("SAVEPOINT", &hidden);
	ck_assert(hidden);
	ck_assert(!feed_error("23505"));
	feed_ready('E');
	ck_assert_uint_eq(pg_atom_txn(&A), LMS_TXN_OPEN); /* undone alone: still open */
	ck_assert_str_eq(send_req(LMS_REQ_STMT_ATOMIC, 1), "ROLLBACK TO SAVEPOINT molt_lms");
	feed_complete("ROLLBACK", &hidden);
	feed_complete("INSERT 0 1", &hidden);
	ck_assert(!hidden);
	feed_ready('T');
	/* open: the flag asks for nothing (mysql.so sets it only when idle) */
	ck_assert_str_eq(send_req(atomic | LMS_REQ_COMMIT, 1), "RELEASE SAVEPOINT molt_lms|SAVEPOINT molt_lms");
	feed_complete("RELEASE", &hidden);
	feed_complete("SAVEPOINT", &hidden);
	feed_complete("COMMIT", &hidden);
	ck_assert(!hidden);
	feed_ready('I');
	ck_assert_str_eq(send_req(atomic, 0), "BEGIN|SAVEPOINT molt_lms");
	ours_ok(2, "BEGIN");
}
END_TEST

static Suite *atomic_suite(void)
{
	Suite *s = suite_create("pgwire_atomic");
	TCase *tc = tcase_create("atomic");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_no_transaction_no_statements);
	tcase_add_test(tc, test_savepoints_and_repair);
	tcase_add_test(tc, test_begin_first);
	tcase_add_test(tc, test_reads_keep_the_savepoint);
	tcase_add_test(tc, test_commit_first);
	tcase_add_test(tc, test_class40_rolls_back_at_once);
	tcase_add_test(tc, test_class40_pipelined_repairs_later);
	tcase_add_test(tc, test_pipelined_failure_is_broken);
	tcase_add_test(tc, test_our_statement_fails);
	tcase_add_test(tc, test_queue_bounded_and_malformed);
	tcase_add_test(tc, test_encode_prefix);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(atomic_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
