/*
 * check_pgwire_genkey.c - plugins/pgwire/genkey.c: which INSERTs get
 * their generated key (ABI 1.6), where " RETURNING ..." goes, the lookup
 * planned once per table, the answers hidden, the key read from the first
 * row, and malformed answers.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire.h"

#include "../common/stub_host.h"
#include "../common/pg_msg.h"

static struct pg_atom A;
static struct pg_key K;

static void setup(void)
{
	pg_host = &stub_host;
	pg_flavor = &pg_flavor_postgres;
	pg_atom_reset(&A);
	pg_key_reset(&K);
}

static int plan(const char *sql, struct pg_key_plan *p)
{
	struct lms_request req;
	memset(&req, 0, sizeof(req));
	req.kind = LMS_REQ_QUERY;
	req.flags = LMS_REQ_STMT_ATOMIC | LMS_REQ_INSERT_ID;
	req.sql = sql;
	req.sql_len = strlen(sql);
	return pg_key_plan(&K, &req, p);
}

/* Plan sql and queue it as sent (atomic.c's entry carries the plan). */
static int send_sql(const char *sql, struct pg_key_plan *p)
{
	struct pg_atom_req r;
	const char *st[PG_ATOM_STMTS];
	ck_assert_int_ge(pg_atom_plan(&A, LMS_REQ_STMT_ATOMIC, 1, st, &r), 0);
	int mode = plan(sql, p);
	r.key = (uint8_t)mode;
	r.key_slot = p->slot;
	pg_atom_push(&A, &r);
	return mode;
}

/* Decode one message as the backend does; returns 1 when hidden, and
 * the answer's key (or -1) in *id. */
static int feed(const struct msg *m, long long *id)
{
	struct lms_answer ans;
	memset(&ans, 0, sizeof(ans));
	ck_assert_int_ge(pg_atom_decode(&A, m->b, m->n), 0);
	pg_key_decode(&K, &A, m->b, m->n);
	if (K.hiding)
		return 1;
	ans.kind = m->b[0] == 'C' ? LMS_ANS_COMPLETE : LMS_ANS_NONE;
	pg_key_answer(&K, &ans);
	*id = ans.flags & LMS_ANS_INSERT_ID ? (long long)ans.insert_id : -1;
	return 0;
}

static void row_desc(struct msg *m, const char *const *names, int n)
{
	msg_begin(m, 'T');
	msg_u16(m, (uint16_t)n);
	for (int k = 0; k < n; k++) {
		msg_str(m, names[k]);
		msg_u32(m, 0);
		msg_u16(m, 0);
		msg_u32(m, 23);
		msg_u16(m, 4);
		msg_u32(m, 0xFFFFFFFFu);
		msg_u16(m, 0);
	}
	msg_end(m);
}

static void data_row(struct msg *m, const char *const *vals, int n)
{
	msg_begin(m, 'D');
	msg_u16(m, (uint16_t)n);
	for (int k = 0; k < n; k++) {
		if (!vals[k]) {
			msg_u32(m, 0xFFFFFFFFu);
			continue;
		}
		msg_u32(m, (uint32_t)strlen(vals[k]));
		msg_bytes(m, vals[k], strlen(vals[k]));
	}
	msg_end(m);
}

static void tagged(struct msg *m, char type, const char *s)
{
	msg_begin(m, type);
	if (type == 'Z')
		msg_bytes(m, s, 1);
	else
		msg_str(m, s);
	msg_end(m);
}

START_TEST(test_which_inserts)
{
	struct pg_key_plan p;
	ck_assert_int_eq(plan("select 1", &p), PG_KEY_OFF);
	ck_assert_int_eq(plan("update t set v = 1", &p), PG_KEY_OFF);
	ck_assert_int_eq(plan("insert into t (v) values (1) returning id", &p), PG_KEY_OFF);
	ck_assert_int_eq(plan("insert into t (v) values (1); select 2", &p), PG_KEY_OFF);
	ck_assert_int_eq(plan("insert t (v) values (1)", &p), PG_KEY_OFF);
	ck_assert_int_eq(plan("insert into a.b.c.d values (1)", &p), PG_KEY_OFF);
	ck_assert_int_eq(plan("insert into 't' values (1)", &p), PG_KEY_OFF);
	ck_assert_int_eq(plan("insert into \"it's\" values (1)", &p), PG_KEY_OFF);
	ck_assert_int_eq(plan("with x as (select 1) insert into t select * from x", &p), PG_KEY_OFF);
	/* a RETURNING inside parentheses or a string is not the statement's */
	const char *sql = "insert into s.\"T\" (v) values ((select 'returning')) ; -- done";
	ck_assert_int_eq(plan(sql, &p), PG_KEY_LOOKUP);
	ck_assert_uint_eq(p.at, strlen("insert into s.\"T\" (v) values ((select 'returning'))"));
	ck_assert_str_eq(p.ret, " RETURNING *");
	ck_assert_ptr_nonnull(strstr(p.lookup, "'s.\"T\"'::pg_catalog.regclass"));
	/* without the flag, or for a 1.5 host: nothing */
	struct lms_request req = { .kind = LMS_REQ_QUERY, .sql = "insert into t values (1)", .sql_len = 24 };
	ck_assert_int_eq(pg_key_plan(&K, &req, &p), PG_KEY_OFF);
	struct lms_host_api old = stub_host;
	old.abi_minor = 5;
	pg_host = &old;
	ck_assert_int_eq(plan("insert into u values (1)", &p), PG_KEY_OFF);
	pg_host = &stub_host;
}
END_TEST

START_TEST(test_lookup_then_known)
{
	struct pg_key_plan p;
	struct msg m;
	long long id;
	const char *name[] = { "attname" }, *idcol[] = { "id" }, *cols[] = { "v", "id" };
	ck_assert_int_eq(send_sql("insert into t (v) values (1), (2)", &p), PG_KEY_LOOKUP);
	row_desc(&m, name, 1);
	ck_assert_int_eq(feed(&m, &id), 1);
	data_row(&m, idcol, 1);
	ck_assert_int_eq(feed(&m, &id), 1);
	tagged(&m, 'C', "SELECT 1");
	ck_assert_int_eq(feed(&m, &id), 1);
	row_desc(&m, cols, 2); /* RETURNING * */
	ck_assert_int_eq(feed(&m, &id), 1);
	const char *r1[] = { "1", "41" }, *r2[] = { "2", "42" };
	data_row(&m, r1, 2);
	ck_assert_int_eq(feed(&m, &id), 1);
	data_row(&m, r2, 2);
	ck_assert_int_eq(feed(&m, &id), 1);
	tagged(&m, 'C', "INSERT 0 2");
	ck_assert_int_eq(feed(&m, &id), 0);
	ck_assert_int_eq(id, 41); /* the first row's */
	tagged(&m, 'Z', "I");
	ck_assert_int_eq(feed(&m, &id), 0);
	/* known now: RETURNING the column, no lookup */
	ck_assert_int_eq(send_sql("insert into t (v) values (3)", &p), PG_KEY_STMT);
	ck_assert_str_eq(p.ret, " RETURNING \"id\"");
	ck_assert_str_eq(p.lookup, "");
	row_desc(&m, idcol, 1);
	ck_assert_int_eq(feed(&m, &id), 1);
	const char *r3[] = { "18446744073709551615" };
	data_row(&m, r3, 1);
	ck_assert_int_eq(feed(&m, &id), 1);
	tagged(&m, 'C', "INSERT 0 1");
	ck_assert_int_eq(feed(&m, &id), 0);
	ck_assert_uint_eq((unsigned long long)id, 18446744073709551615ull);
	tagged(&m, 'Z', "I");
	feed(&m, &id);
	/* an INSERT that inserts nothing: no key */
	send_sql("insert into t (v) select 1 where false", &p);
	row_desc(&m, idcol, 1);
	feed(&m, &id);
	tagged(&m, 'C', "INSERT 0 0");
	ck_assert_int_eq(feed(&m, &id), 0);
	ck_assert_int_eq(id, -1);
	tagged(&m, 'Z', "I");
	feed(&m, &id);
	/* a new search path: names may mean other tables, looked up again */
	struct lms_request set = { .kind = LMS_REQ_QUERY, .sql = "SET TIME ZONE 'UTC'", .sql_len = 19 };
	pg_key_session(&K, &set);
	ck_assert_int_eq(plan("insert into t (v) values (3)", &p), PG_KEY_STMT);
	set.sql = "set Search_Path to other, public";
	set.sql_len = strlen(set.sql);
	pg_key_session(&K, &set);
	ck_assert_int_eq(plan("insert into t (v) values (3)", &p), PG_KEY_LOOKUP);
	pg_key_abandon(&K, &p);
	pg_key_session(NULL, &set);
}
END_TEST

START_TEST(test_no_key_and_failures)
{
	struct pg_key_plan p;
	struct msg m;
	long long id;
	const char *name[] = { "attname" };
	/* a table without a generated key: no row; then sent as written */
	send_sql("insert into n values (1)", &p);
	row_desc(&m, name, 1);
	feed(&m, &id);
	tagged(&m, 'C', "SELECT 0");
	ck_assert_int_eq(feed(&m, &id), 1);
	const char *cols[] = { "v" }, *v[] = { "1" };
	row_desc(&m, cols, 1);
	ck_assert_int_eq(feed(&m, &id), 1); /* RETURNING *: still hidden */
	data_row(&m, v, 1);
	ck_assert_int_eq(feed(&m, &id), 1);
	tagged(&m, 'C', "INSERT 0 1");
	ck_assert_int_eq(feed(&m, &id), 0);
	ck_assert_int_eq(id, -1);
	tagged(&m, 'Z', "I");
	feed(&m, &id);
	ck_assert_int_eq(plan("insert into n values (2)", &p), PG_KEY_OFF);
	/* the lookup fails (an aborted transaction): the error is the
	 * request's, and the table is asked about again next time */
	send_sql("insert into f values (1)", &p);
	msg_begin(&m, 'E');
	msg_str(&m, "SERROR");
	msg_str(&m, "C25P02");
	msg_bytes(&m, "", 1);
	msg_end(&m);
	ck_assert_int_eq(feed(&m, &id), 0);
	tagged(&m, 'Z', "E");
	feed(&m, &id);
	ck_assert_int_eq(plan("insert into f values (1)", &p), PG_KEY_LOOKUP);
	tagged(&m, 'Z', "I"); /* (that plan was not sent: its answers never come) */
	/* a database whose catalog cannot answer the lookup: off for good */
	send_sql("insert into g values (1)", &p);
	msg_begin(&m, 'E');
	msg_str(&m, "SERROR");
	msg_str(&m, "C42883");
	msg_bytes(&m, "", 1);
	msg_end(&m);
	ck_assert_int_eq(feed(&m, &id), 0);
	tagged(&m, 'Z', "I");
	feed(&m, &id);
	ck_assert_int_eq(plan("insert into g values (1)", &p), PG_KEY_OFF);
	ck_assert_int_eq(plan("insert into t values (1)", &p), PG_KEY_OFF);
}
END_TEST

START_TEST(test_malformed_rows)
{
	struct pg_key_plan p;
	struct msg m;
	long long id;
	const char *idcol[] = { "id" };
	/* learn the column first */
	send_sql("insert into t values (1)", &p);
	data_row(&m, idcol, 1);
	feed(&m, &id);
	tagged(&m, 'C', "SELECT 1");
	feed(&m, &id);
	tagged(&m, 'C', "INSERT 0 1");
	feed(&m, &id);
	tagged(&m, 'Z', "I");
	feed(&m, &id);
	const char *bad[] = { "12a", "-1", "", "123456789012345678901", NULL };
	for (int k = 0; k < 5; k++) {
		send_sql("insert into t values (1)", &p);
		row_desc(&m, idcol, 1);
		feed(&m, &id);
		data_row(&m, &bad[k], 1);
		feed(&m, &id);
		tagged(&m, 'C', "INSERT 0 1");
		feed(&m, &id);
		ck_assert_int_eq(id, -1);
		tagged(&m, 'Z', "I");
		feed(&m, &id);
	}
	/* a row whose length runs past its end, a RowDescription cut short */
	send_sql("insert into t values (1)", &p);
	msg_begin(&m, 'T');
	msg_u16(&m, 3);
	msg_str(&m, "x");
	msg_end(&m);
	feed(&m, &id);
	msg_begin(&m, 'D');
	msg_u16(&m, 1);
	msg_u32(&m, 100);
	msg_bytes(&m, "12", 2);
	msg_end(&m);
	feed(&m, &id);
	tagged(&m, 'C', "INSERT 0 1");
	feed(&m, &id);
	ck_assert_int_eq(id, -1);
}
END_TEST

static Suite *genkey_suite(void)
{
	Suite *s = suite_create("pgwire_genkey");
	TCase *tc = tcase_create("genkey");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_which_inserts);
	tcase_add_test(tc, test_lookup_then_known);
	tcase_add_test(tc, test_no_key_and_failures);
	tcase_add_test(tc, test_malformed_rows);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(genkey_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
