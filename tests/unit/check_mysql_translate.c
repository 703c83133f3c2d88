/*
 * check_mysql_translate.c - what a MySQL source needs to be shadowed onto
 * a PostgreSQL-protocol target (ABI 1.3): the placeholder scanner, the
 * fingerprint and tag of a statement (plugins/mysql/lexer.c), the shared
 * canonical forms (plugins/common/canon.c), and that MySQL text and
 * binary values and PostgreSQL values of the same logical value
 * normalize to the same bytes (mysql.so's observe.c, pgwire's
 * normalize.c), and pgwire's request encoder (encode.c).
 */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "mysql.h"
#include "pgwire.h"

#include "../common/stub_host.h"
#include "../common/my_stmt.h"

static void setup(void)
{
	my_host = &stub_host;
	pg_host = &stub_host;
}

/* ---- placeholders ------------------------------------------------------ */

/* The holes of sql as "o1,o2,..." (or "-1"). */
static const char *holes_of(const char *sql)
{
	static char out[256];
	uint32_t h[16];
	long n = my_placeholders(sql, strlen(sql), h, 16);
	if (n < 0)
		return "-1";
	size_t k = 0;
	out[0] = 0;
	for (long i = 0; i < n; i++)
		k += (size_t)snprintf(out + k, sizeof(out) - k, "%s%u", i ? "," : "", h[i]);
	return out;
}

START_TEST(test_placeholders)
{
	ck_assert_str_eq(holes_of("select ? , ?"), "7,11");
	ck_assert_str_eq(holes_of("select * from t where a=? and b='?' and c=\"?\""), "24");
	ck_assert_str_eq(holes_of("select 'it''s ?', 'a\\'?', ?"), "26");
	ck_assert_str_eq(holes_of("select \"x\"\"?\", ?"), "15");
	ck_assert_str_eq(holes_of("select `we?ird``?` from t where x = ?"), "36");
	ck_assert_str_eq(holes_of("select ? -- ?\n, ?"), "7,16");
	ck_assert_str_eq(holes_of("select ? # ?\n, ?"), "7,15");
	ck_assert_str_eq(holes_of("select ? /* ? */, ?"), "7,18");
	ck_assert_str_eq(holes_of("select 1--?"), "10"); /* "--" without a space: minus minus */
	ck_assert_str_eq(holes_of("select ?/*?"), "7");  /* unterminated comment runs to the end */
	ck_assert_str_eq(holes_of("select '?"), "");     /* unterminated string */
	ck_assert_str_eq(holes_of("select 'a\\"), "");   /* a backslash at the very end */
	ck_assert_str_eq(holes_of("?"), "0");
	ck_assert_str_eq(holes_of(""), "");
	uint32_t h[2];
	ck_assert_int_eq(my_placeholders("?,?,?", 5, h, 2), -1);
}
END_TEST

START_TEST(test_fingerprint_and_tag)
{
	char fp[128], tag[LMS_TAG_MAX];
	uint32_t fl;
	const char *q = "SELECT  v FROM t /* c */ WHERE id = 42 AND s = 'x''y' AND z = ? ORDER BY v";
	my_fingerprint(q, strlen(q), fp, sizeof(fp), &fl);
	ck_assert_str_eq(fp, "select v from t where id = ? and s = ? and z = ? order by v");
	ck_assert_uint_eq(fl, LMS_STMT_ORDERED);
	q = "select a from (select a from t order by a) x";
	my_fingerprint(q, strlen(q), fp, sizeof(fp), &fl);
	ck_assert_uint_eq(fl, 0); /* ORDER BY inside a subquery orders nothing */
	my_fingerprint("START TRANSACTION", 17, fp, sizeof(fp), &fl);
	ck_assert_uint_eq(fl, LMS_STMT_BEGIN);
	my_fingerprint("set autocommit=1", 16, fp, sizeof(fp), &fl);
	ck_assert_str_eq(fp, "set autocommit=?");
	ck_assert_uint_eq(fl, LMS_STMT_SETTING);
	my_fingerprint("select `a`, 1.5e3, 0x1f", 23, fp, 12, &fl);
	ck_assert_str_eq(fp, "select `a`,"); /* cut to fit */

	my_tag("  select 1", 10, tag);
	ck_assert_str_eq(tag, "SELECT");
	my_tag("create temporary table t (a int)", 32, tag);
	ck_assert_str_eq(tag, "CREATE TABLE");
	my_tag("Start Transaction", 17, tag);
	ck_assert_str_eq(tag, "START TRANSACTION");
	my_tag("truncate t", 10, tag);
	ck_assert_str_eq(tag, "TRUNCATE TABLE");
	my_tag("with x as (select 1) select * from x", 36, tag);
	ck_assert_str_eq(tag, "SELECT");
	my_tag("/* only */", 10, tag);
	ck_assert_str_eq(tag, "");
}
END_TEST

START_TEST(test_txn_flags)
{
	const uint32_t A = LMS_REQ_STMT_ATOMIC, CF = LMS_REQ_COMMIT_FIRST, R = LMS_REQ_READ;
	static const struct {
		const char *sql;
		uint32_t flags;
	} cases[] = {
		{ "select 1", A | R },
		{ "SELECT a FROM t WHERE b = 'for update'", A | R },
		{ "select a from t for update", A },
		{ "select a from t where id = 1 FOR SHARE", A },
		{ "select a from t lock in share mode", A },
		{ "select a into @x from t", A },
		{ "select * from t for no key update", A },
		{ "  BEGIN", A | CF },
		{ "/* x */ start transaction read only", A | CF },
		{ "Create table t (a int)", A | CF },
		{ "create temporary table t (a int)", A },
		{ "DROP TEMPORARY TABLE t", A },
		{ "drop table t", A | CF },
		{ "alter table t add b int", A | CF },
		{ "truncate t", A | CF },
		{ "commit", A | LMS_REQ_COMMIT },
		{ "COMMIT WORK", A | LMS_REQ_COMMIT },
		{ "committed", A },
		{ "rollback", A },
		{ "'begin'", A },
		{ "", A },
		{ "create", A | CF },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		ck_assert_msg(my_txn_flags(cases[k].sql, strlen(cases[k].sql), 1) == cases[k].flags, "%s", cases[k].sql);
	/* outside a transaction a SELECT is not scanned: READ would change nothing */
	ck_assert_uint_eq(my_txn_flags("select 1", 8, 0), A);
}
END_TEST

/* ---- transaction characteristics (lexer.c, isolation.c) ---------------- */

START_TEST(test_txn_chars)
{
	static const struct {
		const char *sql;
		int scope;
		uint8_t level, access;
	} cases[] = {
		{ "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", MY_TXC_SESSION, MY_ISO_READ_COMMITTED, 0 },
		{ "set session transaction isolation level repeatable read", MY_TXC_SESSION, MY_ISO_REPEATABLE_READ, 0 },
		{ "SET LOCAL TRANSACTION READ ONLY", MY_TXC_SESSION, 0, MY_ACCESS_READ_ONLY },
		{ "set @@session.transaction isolation level serializable", MY_TXC_SESSION, MY_ISO_SERIALIZABLE, 0 },
		{ "SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED, READ WRITE;", MY_TXC_SESSION,
		  MY_ISO_READ_UNCOMMITTED, MY_ACCESS_READ_WRITE },
		{ "/* c */ SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", MY_TXC_NEXT, MY_ISO_SERIALIZABLE, 0 },
		{ "SET TRANSACTION READ ONLY, ISOLATION LEVEL READ COMMITTED", MY_TXC_NEXT, MY_ISO_READ_COMMITTED,
		  MY_ACCESS_READ_ONLY },
		{ "SET SESSION transaction_isolation = 'READ-COMMITTED'", MY_TXC_SESSION, MY_ISO_READ_COMMITTED, 0 },
		{ "set tx_isolation='repeatable-read'", MY_TXC_SESSION, MY_ISO_REPEATABLE_READ, 0 },
		{ "SET @@session.tx_isolation := \"SERIALIZABLE\"", MY_TXC_SESSION, MY_ISO_SERIALIZABLE, 0 },
		{ "SET @@transaction_isolation = 'READ-UNCOMMITTED'", MY_TXC_NEXT, MY_ISO_READ_UNCOMMITTED, 0 },
		/* not one of those alone: as written */
		{ "SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED", MY_TXC_NONE, 0, 0 },
		{ "SET @@global.transaction_isolation = 'READ-COMMITTED'", MY_TXC_NONE, 0, 0 },
		{ "SET SESSION TRANSACTION ISOLATION LEVEL READ", MY_TXC_NONE, 0, 0 },
		{ "SET SESSION TRANSACTION ISOLATION LEVEL SNAPSHOT", MY_TXC_NONE, 0, 0 },
		{ "SET SESSION TRANSACTION READ ONLY, autocommit = 1", MY_TXC_NONE, 0, 0 },
		{ "SET transaction_isolation = 'READ-COMMITTED', autocommit = 0", MY_TXC_NONE, 0, 0 },
		{ "SET transaction_isolation = READ", MY_TXC_NONE, 0, 0 },
		{ "SET @@session transaction isolation level serializable", MY_TXC_NONE, 0, 0 },
		{ "SET NAMES utf8mb4", MY_TXC_NONE, 0, 0 },
		{ "SET SESSION TRANSACTION", MY_TXC_NONE, 0, 0 },
		{ "SET", MY_TXC_NONE, 0, 0 },
		{ "select 1", MY_TXC_NONE, 0, 0 },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct my_txc t;
		int scope = my_txn_chars(cases[k].sql, strlen(cases[k].sql), &t);
		ck_assert_msg(scope == cases[k].scope, "%s: scope %d", cases[k].sql, scope);
		if (scope != MY_TXC_NONE)
			ck_assert_msg(t.level == cases[k].level && t.access == cases[k].access, "%s: %u %u",
				      cases[k].sql, t.level, t.access);
	}
	ck_assert_int_eq(my_bare_begin("BEGIN", 5), MY_BEGIN_BEGIN);
	ck_assert_int_eq(my_bare_begin(" begin work ;", 13), MY_BEGIN_BEGIN);
	ck_assert_int_eq(my_bare_begin("START TRANSACTION", 17), MY_BEGIN_START);
	ck_assert_int_eq(my_bare_begin("start transaction read only", 27), 0);
	ck_assert_int_eq(my_bare_begin("begin not atomic", 16), 0);
	ck_assert_int_eq(my_bare_begin("started", 7), 0);
}
END_TEST

/* req for sql after session s decoded it, as fe_decode and fe_request do */
static const char *other_of(struct my_sess *s, const char *sql)
{
	static char out[128];
	struct lms_request req = { .kind = LMS_REQ_QUERY, .sql = sql, .sql_len = strlen(sql) };
	my_iso_decoded(s, sql, strlen(sql));
	my_iso_request(s, &req);
	if (!req.other_sql)
		return "";
	snprintf(out, sizeof(out), "%.*s", (int)req.other_sql_len, req.other_sql);
	return out;
}

START_TEST(test_iso_requests)
{
	struct my_sess *s = my_sess_new();
	ck_assert_str_eq(other_of(s, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"),
			 "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ");
	ck_assert_str_eq(my_iso_value(s, "transaction_isolation"), "REPEATABLE-READ");
	ck_assert_str_eq(my_iso_value(s, "tx_isolation"), "REPEATABLE-READ");
	ck_assert_ptr_null(my_iso_value(s, "transaction_read_only"));
	ck_assert_str_eq(other_of(s, "set session transaction read only, isolation level read committed"),
			 "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY");
	ck_assert_str_eq(my_iso_value(s, "transaction_isolation"), "READ-COMMITTED");
	ck_assert_str_eq(my_iso_value(s, "tx_read_only"), "1");
	ck_assert_str_eq(other_of(s, "SET transaction_isolation = 'SERIALIZABLE'"),
			 "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE");
	/* the next transaction's: kept for a BEGIN alone, SETs between */
	ck_assert_str_eq(other_of(s, "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED"), "");
	ck_assert_str_eq(other_of(s, "SET NAMES utf8mb4"), "");
	ck_assert_str_eq(other_of(s, "START TRANSACTION"), "START TRANSACTION ISOLATION LEVEL READ UNCOMMITTED");
	ck_assert_str_eq(other_of(s, "commit"), "");
	ck_assert_str_eq(other_of(s, "BEGIN"), ""); /* used once */
	ck_assert_str_eq(other_of(s, "SET @@transaction_isolation = 'READ-COMMITTED'"), "");
	ck_assert_str_eq(other_of(s, "begin work"), "BEGIN ISOLATION LEVEL READ COMMITTED");
	/* forgotten by any other statement, and not appended where BEGIN says more */
	other_of(s, "SET TRANSACTION READ WRITE");
	ck_assert_str_eq(other_of(s, "select 1"), "");
	ck_assert_str_eq(other_of(s, "begin"), "");
	other_of(s, "SET TRANSACTION READ WRITE");
	ck_assert_str_eq(other_of(s, "start transaction read only"), "");
	ck_assert_str_eq(other_of(s, "start transaction"), "");
	/* the session's level stays */
	ck_assert_str_eq(my_iso_value(s, "transaction_isolation"), "SERIALIZABLE");
	/* ABI 1.9: carried to a new connection at a cutover, one request */
	struct lms_request st;
	ck_assert_int_eq(my_fe_switch_state(s, 0, &st), 1);
	ck_assert_uint_eq(st.kind, LMS_REQ_QUERY);
	ck_assert_int_eq((int)st.sql_len, (int)strlen("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY"));
	ck_assert_int_eq(memcmp(st.sql, "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY", st.sql_len), 0);
	ck_assert_str_eq(st.other_sql,
			 "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY");
	ck_assert_int_eq(my_fe_switch_state(s, 1, &st), 0);
	my_sess_free(s);
	s = my_sess_new(); /* nothing set: nothing carried */
	ck_assert_int_eq(my_fe_switch_state(s, 0, &st), 0);
	/* translated with autocommit off: molt-lms's own state, not carried */
	s->translated = 1;
	s->autocommit = 0;
	ck_assert_int_eq(my_fe_switch_state(s, 0, &st), 0);
	/* moved back (a cut back): MariaDB's state again, after the level */
	s->state = MY_S_READY;
	char why[128];
	ck_assert_int_eq(my_fe_set_relayed(s, why, sizeof(why)), 0);
	s->autocommit = 1; /* the new connection's login says on */
	ck_assert_int_eq(my_fe_switch_state(s, 0, &st), 1);
	ck_assert_int_eq(memcmp(st.sql, "SET autocommit=0", st.sql_len), 0);
	ck_assert_int_eq(my_fe_switch_state(s, 1, &st), 0);
	s->iso.level = MY_ISO_READ_COMMITTED;
	ck_assert_int_eq(my_fe_switch_state(s, 0, &st), 1);
	ck_assert_int_eq(memcmp(st.sql, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", st.sql_len), 0);
	ck_assert_int_eq(my_fe_switch_state(s, 1, &st), 1);
	ck_assert_int_eq(memcmp(st.sql, "SET autocommit=0", st.sql_len), 0);
	ck_assert_int_eq(my_fe_switch_state(s, 2, &st), 0);
	my_sess_free(s);
}
END_TEST

/* ---- canonical values -------------------------------------------------- */

struct got {
	char buf[256];
	size_t len;
	int null;
};

static void collect(void *ctx, const uint8_t *data, size_t len)
{
	struct got *g = ctx;
	g->null = data == NULL;
	g->len = len < sizeof(g->buf) - 1 ? len : sizeof(g->buf) - 1;
	if (data)
		memcpy(g->buf, data, g->len);
	g->buf[g->len] = 0;
}

static const char *my_text(uint8_t type, uint16_t charset, const char *v, size_t n)
{
	static struct got g;
	struct my_col c = { type, 0, charset, 0 };
	my_value_emit(&c, (const uint8_t *)v, n, collect, &g);
	return g.buf;
}

static const char *pg_text(uint32_t oid, const char *v, size_t n)
{
	static struct got g;
	pg_value_emit(oid, 0, PG_NORM_MYSQL, (const uint8_t *)v, n, collect, &g);
	return g.buf;
}

#define MY(t, v) my_text(t, 33, v, strlen(v))
#define PG(o, v) pg_text(o, v, strlen(v))

START_TEST(test_canon_shared)
{
	char d[64];
	ck_assert_int_eq(canon_text_decimal("+0012.3400", 10, d), 5);
	ck_assert_int_eq(memcmp(d, "12.34", 5), 0);
	ck_assert_int_eq(canon_text_decimal("-0.000", 6, d), 1);
	ck_assert_int_eq(canon_text_decimal("1e5", 3, d), -1);
	ck_assert_int_eq(canon_text_decimal("-", 1, d), -1);
	size_t n = canon_datetime("2024-01-02T03:04:05.120000+02", 29, d);
	d[n] = 0;
	ck_assert_str_eq(d, "2024-01-02 03:04:05.12+02");
	n = canon_datetime("10:00:00.000", 12, d);
	d[n] = 0;
	ck_assert_str_eq(d, "10:00:00");
	ck_assert_uint_eq(canon_unpad("ab  ", 4), 2);
	n = canon_float(0.1f, 1, d);
	d[n] = 0;
	ck_assert_str_eq(d, "0.1");
}
END_TEST

START_TEST(test_values_equal_across_families)
{
	/* integers of any width; MySQL BOOLEAN is TINYINT(1): PostgreSQL's
	 * boolean compares as 1/0 */
	ck_assert_str_eq(MY(1, "1"), PG(16, "t"));
	ck_assert_str_eq(MY(1, "0"), PG(16, "f"));
	ck_assert_str_eq(MY(8, "-42"), PG(23, "-42"));
	ck_assert_str_eq(MY(3, "7"), PG(20, "7"));
	/* DECIMAL with another scale */
	ck_assert_str_eq(MY(246, "1.50"), PG(1700, "1.5000"));
	ck_assert_str_eq(MY(246, "-0.00"), PG(1700, "0"));
	ck_assert_str_eq(MY(246, "100"), PG(1700, "100.00"));
	/* floats: shortest round trip, whatever the spelling */
	ck_assert_str_eq(MY(5, "1e20"), PG(701, "1e+20"));
	ck_assert_str_eq(MY(5, "0.1"), PG(701, "0.1"));
	ck_assert_str_eq(MY(4, "0.1"), PG(700, "0.1"));
	/* DATETIME(n) vs timestamp: fraction zeros trimmed */
	ck_assert_str_eq(MY(12, "2024-01-02 03:04:05.500000"), PG(1114, "2024-01-02 03:04:05.5"));
	ck_assert_str_eq(MY(12, "2024-01-02 03:04:05.000"), PG(1114, "2024-01-02 03:04:05"));
	ck_assert_str_eq(MY(7, "1999-12-31 00:00:00"), PG(1114, "1999-12-31 00:00:00"));
	ck_assert_str_eq(MY(10, "2024-02-29"), PG(1082, "2024-02-29"));
	/* strings, CHAR(n) padding, bytes */
	ck_assert_str_eq(MY(253, "héllo"), PG(1043, "héllo"));
	ck_assert_str_eq(MY(254, "ab"), PG(1042, "ab   "));
	ck_assert_str_eq(my_text(253, 63, "\x01\xab", 2), PG(17, "\\x01ab"));
	ck_assert_str_eq(my_text(252, 63, "", 0), PG(17, "\\x"));
	/* a value that is not equal stays different */
	ck_assert_str_ne(MY(246, "1.51"), PG(1700, "1.5"));
	ck_assert_str_ne(MY(253, "ab "), PG(1043, "ab"));
}
END_TEST

/* A binary-protocol value of type t as the text row would give it. */
static const char *my_bin(uint8_t type, uint32_t flags, const void *p, size_t n)
{
	static struct got g;
	char t[128];
	size_t used, tn;
	if (my_binary_value(type, flags, p, n, &used, t, sizeof(t), &tn) < 0 || used != n)
		return "(invalid)";
	struct my_col c = { type, (uint16_t)flags, 33, 0 };
	my_value_emit(&c, (const uint8_t *)t, tn, collect, &g);
	return g.buf;
}

START_TEST(test_binary_values)
{
	ck_assert_str_eq(my_bin(1, 0, "\xff", 1), "-1");
	ck_assert_str_eq(my_bin(1, MY_FLAG_UNSIGNED, "\xff", 1), "255");
	ck_assert_str_eq(my_bin(2, 0, "\x00\x80", 2), "-32768");
	ck_assert_str_eq(my_bin(3, 0, "\x2a\0\0\0", 4), "42");
	ck_assert_str_eq(my_bin(8, 0, "\0\0\0\0\0\0\0\x80", 8), "-9223372036854775808");
	ck_assert_str_eq(my_bin(8, MY_FLAG_UNSIGNED, "\xff\xff\xff\xff\xff\xff\xff\xff", 8), "18446744073709551615");
	double v = 0.1;
	ck_assert_str_eq(my_bin(5, 0, &v, 8), PG(701, "0.1"));
	float f = 0.1f;
	ck_assert_str_eq(my_bin(4, 0, &f, 4), PG(700, "0.1"));
	/* DATETIME: length 11 (with microseconds), 7, 4, 0 */
	ck_assert_str_eq(my_bin(12, 0, "\x0b\xe8\x07\x01\x02\x03\x04\x05\x20\xa1\x07\x00", 12),
			 PG(1114, "2024-01-02 03:04:05.5"));
	ck_assert_str_eq(my_bin(12, 0, "\x07\xe8\x07\x01\x02\x03\x04\x05", 8), "2024-01-02 03:04:05");
	ck_assert_str_eq(my_bin(10, 0, "\x04\xe8\x07\x02\x1d", 5), PG(1082, "2024-02-29"));
	ck_assert_str_eq(my_bin(12, 0, "\x00", 1), "0000-00-00 00:00:00");
	/* TIME: -1 day 02:03:04 */
	ck_assert_str_eq(my_bin(11, 0, "\x08\x01\x01\0\0\0\x02\x03\x04", 9), "-26:03:04");
	/* DECIMAL travels as a length-encoded string */
	ck_assert_str_eq(my_bin(246, 0, "\x04" "1.50", 5), PG(1700, "1.5000"));
	size_t used, n;
	char t[8];
	ck_assert_int_eq(my_binary_value(12, 0, (const uint8_t *)"\x05\0\0\0\0\0", 6, &used, t, sizeof(t), &n), -1);
	ck_assert_int_eq(my_binary_value(3, 0, (const uint8_t *)"\0\0", 2, &used, t, sizeof(t), &n), -1);
	ck_assert_int_eq(my_binary_value(253, 0, (const uint8_t *)"\x09" "abc", 4, &used, t, sizeof(t), &n), -1);
}
END_TEST

/* A text value of a column with a length (BIT(n), LONGTEXT). */
static const char *my_col_text(uint8_t type, uint16_t charset, uint32_t length, const char *v, size_t n)
{
	static struct got g;
	struct my_col c = { type, 0, charset, length };
	my_value_emit(&c, (const uint8_t *)v, n, collect, &g);
	return g.buf;
}

/* PostgreSQL's value of oid for a PostgreSQL client (no MySQL rules). */
static const char *pg_own(uint32_t oid, const char *v)
{
	static struct got g;
	pg_value_emit(oid, 0, 0, (const uint8_t *)v, strlen(v), collect, &g);
	return g.buf;
}

/* The type matrix of docs/mysql.md, value by value (test_63 runs it
 * against the servers). */
START_TEST(test_values_types_matrix)
{
	/* -0 is 0 (MariaDB stores 0; PostgreSQL keeps -0) */
	ck_assert_str_eq(MY(5, "0"), PG(701, "-0"));
	ck_assert_str_eq(MY(4, "0"), PG(700, "-0"));
	ck_assert_str_eq(pg_own(701, "-0"), "0");
	/* FLOAT at 6 significant digits beside MySQL: its text protocol
	 * sends no more; a PostgreSQL client keeps them all */
	ck_assert_str_eq(MY(4, "1.23457"), PG(700, "1.2345678"));
	ck_assert_str_eq(MY(4, "3.40282e38"), PG(700, "3.4028235e+38"));
	ck_assert_str_eq(MY(4, "16777200"), PG(700, "1.6777216e+07"));
	float f = 1.2345678f;
	ck_assert_str_eq(my_bin(4, 0, &f, 4), PG(700, "1.2345678"));
	ck_assert_str_ne(MY(4, "0.100001"), PG(700, "0.1"));
	ck_assert_str_eq(pg_own(700, "1.2345678"), "1.2345678");
	/* timestamptz: the instant in UTC, without its offset */
	ck_assert_str_eq(PG(1184, "2024-01-02 05:04:05.5+02"), "2024-01-02 03:04:05.5");
	ck_assert_str_eq(PG(1184, "2024-02-29 20:30:00-03:30"), "2024-03-01 00:00:00");
	ck_assert_str_eq(PG(1184, "2000-01-01 00:00:00+00:53:28"), "1999-12-31 23:06:32");
	ck_assert_str_eq(PG(1184, "1970-01-01 00:00:01+00"), MY(7, "1970-01-01 00:00:01"));
	ck_assert_str_eq(PG(1184, "12345-01-01 00:00:00+00"), "12345-01-01 00:00:00");
	ck_assert_str_eq(PG(1184, "0001-01-01 00:00:00+02"), "0001-01-01 00:00:00+02"); /* BC: kept */
	ck_assert_str_eq(PG(1184, "2024-01-02 03:04:05+02 BC"), "2024-01-02 03:04:05+02 BC");
	ck_assert_str_eq(PG(1184, "infinity"), "infinity");
	ck_assert_str_eq(PG(1184, "2024-01-02 03:04:05"), "2024-01-02 03:04:05"); /* no offset: kept */
	/* interval as MySQL's TIME */
	ck_assert_str_eq(PG(1186, "-838:59:59"), MY(11, "-838:59:59"));
	ck_assert_str_eq(PG(1186, "1 day 02:00:00"), MY(11, "26:00:00"));
	ck_assert_str_eq(PG(1186, "-1 days +02:00:00"), "-22:00:00");
	ck_assert_str_eq(PG(1186, "-2 days -01:30:00.5"), "-49:30:00.5");
	ck_assert_str_eq(PG(1186, "00:00:00"), "00:00:00");
	ck_assert_str_eq(PG(1186, "3 days"), "72:00:00");
	ck_assert_str_eq(PG(1186, "1 year 2 mons"), "1 year 2 mons");
	ck_assert_str_eq(PG(1186, "1 mon 02:00:00"), "1 mon 02:00:00");
	ck_assert_str_eq(PG(1186, "99999999999 days"), "99999999999 days");
	ck_assert_str_eq(PG(1186, "-00:00:00.000001"), MY(11, "-00:00:00.000001"));
	/* BIT(n) as n bits, BIT(1) as a boolean */
	ck_assert_str_eq(my_col_text(16, 63, 10, "\x00\x0a", 2), "0000001010");
	ck_assert_str_eq(my_col_text(16, 63, 1, "\x01", 1), PG(16, "t"));
	ck_assert_str_eq(my_col_text(16, 63, 1, "\x00", 1), PG(16, "f"));
	ck_assert_str_eq(my_col_text(16, 63, 64, "\x80\0\0\0\0\0\0\x01", 8),
			 "1000000000000000000000000000000000000000000000000000000000000001");
	ck_assert_str_eq(my_col_text(16, 63, 0, "\x01", 1), "\\x01"); /* no length: bytes */
	/* JSON: MariaDB's text as written, jsonb's as re-printed */
	ck_assert_str_eq(my_col_text(252, 45, 0xffffffffu, "{\"b\": 1,  \"a\":[1,2.50, true, null]}", 35),
			 PG(3802, "{\"a\": [1, 2.50, true, null], \"b\": 1}"));
	ck_assert_str_eq(PG(3802, "{\"a\": [1, 2.50, true, null], \"b\": 1}"), "{\"a\":[1,2.5,true,null],\"b\":1}");
	ck_assert_str_eq(MY(252, "{\"\\u00e9\": \"\\u00e9\\n\\/\", \"x\": {\"z\": [], \"y\": -0.50}}"),
			 PG(3802, "{\"x\": {\"y\": -0.5, \"z\": []}, \"é\": \"é\\n/\"}"));
	ck_assert_str_eq(MY(252, "[1e3, 1.0, -0, 1E-2, 0.5e-1, 12.5e+1, -1.25e1]"),
			 PG(3802, "[1000, 1, 0, 0.01, 0.05, 125, -12.5]"));
	ck_assert_str_eq(MY(252, "[\"\\ud83d\\ude00\", \"\\u0001\", \"\\\"\"]"), PG(3802, "[\"😀\", \"\\u0001\", \"\\\"\"]"));
	ck_assert_str_ne(MY(252, "{\"a\": 1}"), PG(3802, "{\"a\": 2}"));
	ck_assert_str_ne(MY(252, "{\"a\": 1, \"a\": 2}"), PG(3802, "{\"a\": 2}")); /* duplicates kept */
	ck_assert_str_ne(MY(252, "[1, 2]"), PG(3802, "[2, 1]")); /* arrays keep their order */
	/* not JSON, or a scalar: compared as text */
	ck_assert_str_eq(MY(252, "{\"a\": 1"), "{\"a\": 1");
	ck_assert_str_eq(MY(252, "[01]"), "[01]");
	ck_assert_str_eq(MY(252, "[\"\\ud800\"]"), "[\"\\ud800\"]");
	ck_assert_str_eq(MY(252, "[1e1001]"), "[1e1001]");
	ck_assert_str_eq(MY(252, "1e3"), "1e3");
	ck_assert_str_eq(MY(252, "[1] x"), "[1] x");
	ck_assert_str_eq(pg_own(25, "{\"b\": 1}"), "{\"b\": 1}"); /* text, PostgreSQL client: as it is */
	ck_assert_str_eq(PG(25, "{\"b\": 1}"), "{\"b\":1}");
	/* YEAR, unsigned, CHAR with JSON-free content */
	ck_assert_str_eq(MY(13, "0000"), PG(21, "0"));
	ck_assert_str_eq(MY(8, "18446744073709551615"), PG(1700, "18446744073709551615"));
	ck_assert_str_eq(MY(254, "{\"a\":1}  "), PG(1042, "{\"a\": 1}"));
}
END_TEST

/* Deeply nested and long JSON: refused or canonical, never overrun. */
START_TEST(test_json_bounds)
{
	static char deep[200], mem[32768];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	const char *out;
	ck_assert_int_eq(canon_json(deep, 200, mem, &out), -1); /* deeper than 64 */
	ck_assert_uint_ge(sizeof(mem), canon_json_mem(128));
	ck_assert_int_eq(canon_json(deep + 40, 120, mem, &out), 120);
	ck_assert_uint_eq(canon_json_mem(CANON_JSON_MAX + 1), 0);
	for (size_t n = 0; n <= 12; n++) /* every cut of a document */
		ck_assert_int_eq(canon_json("{\"a\":[1,2]}" + 0, n, mem, &out) >= 0, n == 11);
	ck_assert_int_eq(canon_json("[1e999]", 7, mem, &out) > 1000, 1); /* grows, within its room */
}
END_TEST

/* my_binary_span: where a value ends, and where a string's bytes start */
START_TEST(test_binary_span)
{
	size_t used, str;
	/* fixed width: no string part */
	ck_assert_int_eq(my_binary_span(8, (const uint8_t *)"\1\0\0\0\0\0\0\0", 8, &used, &str), 0);
	ck_assert_uint_eq(used, 8);
	ck_assert_uint_eq(str, 0);
	ck_assert_int_eq(my_binary_span(8, (const uint8_t *)"\1\0\0\0\0\0\0", 7, &used, &str), -1);
	/* NULL takes no bytes */
	ck_assert_int_eq(my_binary_span(6, (const uint8_t *)"", 0, &used, &str), 0);
	ck_assert_uint_eq(used, 0);
	/* a date-time: its length byte, no string part; past the end refused */
	ck_assert_int_eq(my_binary_span(10, (const uint8_t *)"\x04\xe8\x07\x02\x1d", 5, &used, &str), 0);
	ck_assert_uint_eq(used, 5);
	ck_assert_uint_eq(str, 0);
	ck_assert_int_eq(my_binary_span(10, (const uint8_t *)"\x04\xe8\x07\x02", 4, &used, &str), -1);
	ck_assert_int_eq(my_binary_span(10, (const uint8_t *)"", 0, &used, &str), -1);
	/* strings: one-byte and 0xfc two-byte lengths, the empty string */
	ck_assert_int_eq(my_binary_span(253, (const uint8_t *)"\x03" "abcX", 5, &used, &str), 0);
	ck_assert_uint_eq(used, 4);
	ck_assert_uint_eq(str, 1);
	ck_assert_int_eq(my_binary_span(253, (const uint8_t *)"\0", 1, &used, &str), 0);
	ck_assert_uint_eq(used, 1);
	ck_assert_uint_eq(str, 1);
	uint8_t big[3 + 300];
	memset(big, 'x', sizeof(big));
	big[0] = 0xfc;
	big[1] = 300 & 0xff;
	big[2] = 300 >> 8;
	ck_assert_int_eq(my_binary_span(252, big, sizeof(big), &used, &str), 0);
	ck_assert_uint_eq(used, sizeof(big));
	ck_assert_uint_eq(str, 3);
	/* a length past the end, a truncated length, no bytes at all */
	ck_assert_int_eq(my_binary_span(252, big, sizeof(big) - 1, &used, &str), -1);
	ck_assert_int_eq(my_binary_span(253, (const uint8_t *)"\xfc\x01", 2, &used, &str), -1);
	ck_assert_int_eq(my_binary_span(253, (const uint8_t *)"", 0, &used, &str), -1);
}
END_TEST

/* ---- pgwire's encoder --------------------------------------------------- */

/* The message types of buf[0..n) as a string ("PBDES"). */
static const char *types_of(const uint8_t *buf, long n)
{
	static char t[256];
	size_t k = 0, at = 0;
	while (at + 5 <= (size_t)n && k + 1 < sizeof(t)) {
		t[k++] = (char)buf[at];
		at += 1 + ((size_t)buf[at + 1] << 24 | (size_t)buf[at + 2] << 16 | (size_t)buf[at + 3] << 8 | buf[at + 4]);
	}
	t[k] = 0;
	return at == (size_t)n ? t : "(bad lengths)";
}

/* The k-th message of buf (0-based). */
static const uint8_t *msg_at(const uint8_t *buf, int k)
{
	size_t at = 0;
	while (k-- > 0)
		at += 1 + ((size_t)buf[at + 1] << 24 | (size_t)buf[at + 2] << 16 | (size_t)buf[at + 3] << 8 | buf[at + 4]);
	return buf + at;
}

START_TEST(test_pg_encode_execute)
{
	struct lms_be_opts bo = { 0 };
	struct lms_backend_conf conf = { 0 };
	bo.conf = &conf;
	void *be = pg_be_new(&bo);
	ck_assert_ptr_nonnull(be);
	const char *sql = "select a from t where a = ? and b = '?' and c = ?";
	uint32_t holes[4];
	long nh = my_placeholders(sql, strlen(sql), holes, 4);
	ck_assert_int_eq(nh, 2);
	struct lms_param params[2] = { { (const uint8_t *)"42", 2 }, { NULL, 0 } };
	struct lms_request req = { .kind = LMS_REQ_EXECUTE, .stmt_id = 3, .sql = sql, .sql_len = strlen(sql),
				   .holes = holes, .nholes = 2, .params = params, .nparams = 2 };
	uint8_t buf[512];
	/* too small a buffer: not encodable, nothing remembered */
	ck_assert_int_eq(pg_be_encode_request(be, &req, buf, 20), -1);
	long n = pg_be_encode_request(be, &req, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	/* Parse of "lms_s3", $1 and $2 in place of the placeholders only */
	ck_assert_str_eq(types_of(buf, n), "PBDES");
	ck_assert_str_eq((const char *)buf + 5, "lms_s3");
	const char *want = "select a from t where a = $1 and b = '?' and c = $2";
	ck_assert_int_eq(memcmp(buf + 12, want, strlen(want) + 1), 0);
	/* Bind: unnamed portal, statement lms_s3, text, "42" and NULL */
	const uint8_t *b = msg_at(buf, 1);
	ck_assert_int_eq(b[5], 0);
	ck_assert_str_eq((const char *)b + 6, "lms_s3");
	ck_assert_int_eq(memcmp(b + 13, "\0\0\0\x02\0\0\0\x02" "42\xff\xff\xff\xff\0\0", 16), 0);
	/* a NUL in the text: not encodable */
	req.kind = LMS_REQ_QUERY;
	req.sql = "select ?\0";
	req.sql_len = 9;
	ck_assert_int_eq(pg_be_encode_request(be, &req, buf, sizeof(buf)), -1);
	req.sql_len = 8;
	n = pg_be_encode_request(be, &req, buf, sizeof(buf));
	ck_assert_int_eq(n, 14);
	ck_assert_int_eq(memcmp(buf + 5, "select ?", 9), 0); /* a query's '?' are its own */
	/* ABI 1.9: a query's text for this family, in place of the client's */
	static const char iso[] = "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE";
	req.sql = "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE";
	req.sql_len = strlen(req.sql);
	req.other_sql = iso;
	req.other_sql_len = strlen(iso);
	n = pg_be_encode_request(be, &req, buf, sizeof(buf));
	ck_assert_int_eq(n, 5 + (long)sizeof(iso)); /* Query, no Sync */
	ck_assert_int_eq(memcmp(buf + 5, iso, sizeof(iso)), 0);
	struct lms_host_api old = stub_host;
	old.abi_minor = 8; /* an older core's struct has no such member: ignored */
	pg_host = &old;
	n = pg_be_encode_request(be, &req, buf, sizeof(buf));
	ck_assert_int_eq(memcmp(buf + 5, req.sql, req.sql_len + 1), 0);
	pg_host = &stub_host;
	req.other_sql = NULL;
	req.kind = LMS_REQ_CLOSE;
	req.stmt_id = 99; /* never executed: nothing to close */
	ck_assert_int_eq(pg_be_encode_request(be, &req, buf, sizeof(buf)), 0);
	req.kind = LMS_REQ_UNSUPPORTED;
	ck_assert_int_eq(pg_be_encode_request(be, &req, buf, sizeof(buf)), -1);
	pg_be_free(be);
}
END_TEST

/* Feed the backend one server message: type t with body[0..n). */
static void server_says(void *be, uint8_t t, const char *body, size_t n)
{
	uint8_t m[128];
	struct lms_out out;
	struct lms_result res;
	m[0] = t;
	m[1] = m[2] = 0;
	m[3] = (uint8_t)((n + 4) >> 8);
	m[4] = (uint8_t)(n + 4);
	memcpy(m + 5, body, n);
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(pg_be_decode(be, m, n + 5, &out, &res), 0);
}

static void ready(void *be)
{
	server_says(be, 'Z', "I", 1);
}

static void error_state(void *be, const char *sqlstate)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "SERROR%cC%s%cMboom%c", 0, sqlstate, 0, 0);
	body[n] = 0; /* the terminator */
	server_says(be, 'E', body, (size_t)n + 1);
}

/* Encode an execution of statement id with sql; its message types. */
static const char *exec_types(void *be, uint32_t id, const char *sql, uint8_t *buf, size_t cap)
{
	struct lms_request req = { .kind = LMS_REQ_EXECUTE, .stmt_id = id, .sql = sql, .sql_len = strlen(sql) };
	long n = pg_be_encode_request(be, &req, buf, cap);
	return n < 0 ? "(failed)" : types_of(buf, n);
}

START_TEST(test_pg_encode_named)
{
	struct lms_be_opts bo = { 0 };
	struct lms_backend_conf conf = { 0 };
	bo.conf = &conf;
	void *be = pg_be_new(&bo);
	uint8_t buf[4096];
	ready(be); /* the login's */
	/* first execution parses; a second before its answer parses again */
	ck_assert_str_eq(exec_types(be, 7, "select 1", buf, sizeof(buf)), "PBDES");
	ck_assert_str_eq(exec_types(be, 7, "select 1", buf, sizeof(buf)), "CPBDES");
	ck_assert_int_eq(buf[5], 'S');
	ck_assert_str_eq((const char *)buf + 6, "lms_s7");
	ready(be);
	ready(be);
	/* answered without an error: bound only from now on */
	ck_assert_str_eq(exec_types(be, 7, "select 1", buf, sizeof(buf)), "BDES");
	ck_assert_str_eq((const char *)buf + 6, "lms_s7");
	ready(be);
	ck_assert_str_eq(exec_types(be, 7, "select 1", buf, sizeof(buf)), "BDES");
	ready(be);
	/* the same id with another text: closed and parsed anew */
	ck_assert_str_eq(exec_types(be, 7, "select 2", buf, sizeof(buf)), "CPBDES");
	ck_assert_int_eq(memcmp(msg_at(buf, 1) + 12, "select 2", 9), 0);
	/* its Parse fails: parsed again next time, and then kept */
	error_state(be, "25P02");
	ready(be);
	ck_assert_str_eq(exec_types(be, 7, "select 2", buf, sizeof(buf)), "CPBDES");
	ready(be);
	ck_assert_str_eq(exec_types(be, 7, "select 2", buf, sizeof(buf)), "BDES");
	ready(be);
	/* an error in another request leaves it alone */
	struct lms_request q = { .kind = LMS_REQ_QUERY, .sql = "x", .sql_len = 1 };
	ck_assert_int_gt(pg_be_encode_request(be, &q, buf, sizeof(buf)), 0);
	error_state(be, "42601");
	ready(be);
	ck_assert_str_eq(exec_types(be, 7, "select 2", buf, sizeof(buf)), "BDES");
	ready(be);
	/* CLOSE: Close('S') without Sync; executed again: parsed (no Close) */
	struct lms_request c = { .kind = LMS_REQ_CLOSE, .stmt_id = 7 };
	long n = pg_be_encode_request(be, &c, buf, sizeof(buf));
	ck_assert_str_eq(types_of(buf, n), "C");
	ck_assert_str_eq((const char *)buf + 6, "lms_s7");
	ck_assert_int_eq(pg_be_encode_request(be, &c, buf, sizeof(buf)), 0); /* once */
	ck_assert_str_eq(exec_types(be, 7, "select 2", buf, sizeof(buf)), "PBDES");
	ready(be);
	/* the database says one of ours is missing: all are parsed again */
	ck_assert_str_eq(exec_types(be, 8, "select 8", buf, sizeof(buf)), "PBDES");
	ready(be);
	ck_assert_str_eq(exec_types(be, 8, "select 8", buf, sizeof(buf)), "BDES");
	error_state(be, "26000");
	ready(be);
	ck_assert_str_eq(exec_types(be, 7, "select 2", buf, sizeof(buf)), "CPBDES");
	ready(be);
	ck_assert_str_eq(exec_types(be, 8, "select 8", buf, sizeof(buf)), "CPBDES");
	ready(be);
	/* not encodable (too small): nothing changes */
	ck_assert_str_eq(exec_types(be, 9, "select 9", buf, 16), "(failed)");
	ck_assert_str_eq(exec_types(be, 8, "select 8", buf, 16), "(failed)");
	ck_assert_str_eq(exec_types(be, 8, "select 8", buf, sizeof(buf)), "BDES");
	ready(be);
	/* bounded: the least recently used is closed for a new one */
	for (uint32_t id = 100; id < 100 + PG_NAMED_MAX - 2; id++) {
		ck_assert_str_eq(exec_types(be, id, "select 100", buf, sizeof(buf)), "PBDES");
		ready(be);
	}
	ck_assert_str_eq(exec_types(be, 8, "select 8", buf, sizeof(buf)), "BDES"); /* 7 is now the oldest */
	ready(be);
	ck_assert_str_eq(exec_types(be, 500, "select 500", buf, sizeof(buf)), "CPBDES");
	ck_assert_str_eq((const char *)buf + 6, "lms_s7");
	ck_assert_str_eq((const char *)msg_at(buf, 1) + 5, "lms_s500");
	ready(be);
	ck_assert_str_eq(exec_types(be, 7, "select 2", buf, sizeof(buf)), "CPBDES"); /* 100 goes */
	ck_assert_str_eq((const char *)buf + 6, "lms_s100");
	ready(be);
	/* RESET closes every one, then Sync */
	struct lms_request r = { .kind = LMS_REQ_RESET };
	n = pg_be_encode_request(be, &r, buf, sizeof(buf));
	const char *t = types_of(buf, n);
	ck_assert_uint_eq(strlen(t), PG_NAMED_MAX + 1);
	ck_assert_int_eq(t[PG_NAMED_MAX], 'S');
	ck_assert_int_eq(t[0], 'C');
	ready(be);
	ck_assert_str_eq(exec_types(be, 8, "select 8", buf, sizeof(buf)), "PBDES");
	ready(be);
	pg_be_free(be);
}
END_TEST

/* ---- statement ids of a session moved back (remap.c) ------------------- */

START_TEST(test_remap_ids)
{
	struct my_sess *s = my_sess_new();
	s->state = MY_S_READY;
	struct my_stmt *a = stmt_with(s, 7, "select ?", 1);
	struct my_stmt *b = stmt_with(s, 12, "select 1", 0);
	s->max_stmt_id = 12;
	a->types = malloc(2);
	memcpy(a->types, "\xfd\x00", 2);
	my_remap_start(s);
	ck_assert_int_eq(s->remap, 1);
	/* prepared again, in order, with the client's ids */
	struct lms_request req;
	ck_assert_int_eq(my_remap_state(s, 0, &req), 1);
	ck_assert_uint_eq(req.kind, LMS_REQ_PREPARE);
	ck_assert_uint_eq(req.stmt_id, 7);
	ck_assert_int_eq(my_remap_state(s, 1, &req), 1);
	ck_assert_uint_eq(req.stmt_id, 12);
	ck_assert_int_eq(my_remap_state(s, 2, &req), 0);
	my_remap_reprepared(s, 7, 301);
	my_remap_reprepared(s, 12, 302);
	/* a close of 12: patched to 302 */
	uint8_t m[64];
	struct lms_frame f = { .len = 0 };
	size_t n = cmd_packet(m, "\x19\x0c\0\0\0", 5);
	f.len = n;
	ck_assert_int_eq(my_remap_frame(s, MY_COM_STMT_CLOSE, m, n, &f), 0);
	ck_assert_uint_eq(f.patch_at, 5);
	ck_assert_uint_eq(f.patch_len, 4);
	ck_assert_uint_eq(my_le32(f.patch), 302);
	ck_assert_int_eq(my_remap_frame(s, MY_COM_STMT_CLOSE, m, 6, &f), -1); /* the id not at hand yet */
	/* an unknown id: 0 there; MariaDB's "the last prepared" as it is */
	memset(&f, 0, sizeof(f));
	n = cmd_packet(m, "\x1a\x63\0\0\0", 5);
	f.len = n;
	ck_assert_int_eq(my_remap_frame(s, MY_COM_STMT_RESET, m, n, &f), 0);
	ck_assert_uint_eq(f.patch_len, 4);
	ck_assert_uint_eq(my_le32(f.patch), 0);
	memset(&f, 0, sizeof(f));
	n = cmd_packet(m, "\x17\xff\xff\xff\xff\x00\x01\0\0\0", 10);
	f.len = n;
	ck_assert_int_eq(my_remap_frame(s, MY_COM_STMT_EXECUTE, m, n, &f), 0);
	ck_assert_uint_eq(f.patch_len, 0);
	/* an execution of 7 without types, the first there: decoded, and
	 * rewritten with the types the client sent last */
	static const uint8_t exec[] = "\x17\x07\0\0\0\x00\x01\0\0\0\x00\x00\x01z";
	memset(&f, 0, sizeof(f));
	n = cmd_packet(m, exec, sizeof(exec) - 1);
	f.len = n;
	ck_assert_int_eq(my_remap_frame(s, MY_COM_STMT_EXECUTE, m, n, &f), 1);
	struct lms_out out;
	struct lms_result res;
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(my_remap_retype(s, m, n, &out, &res), 0);
	ck_assert_uint_eq(res.verdict, LMS_REWRITE);
	static const uint8_t want[] = "\x10\0\0\0\x17\x2d\x01\0\0\x00\x01\0\0\0\x00\x01\xfd\x00\x01z";
	ck_assert_uint_eq(out.len, sizeof(want) - 1);
	ck_assert_int_eq(memcmp(out.data, want, out.len), 0);
	/* typed there now: the next one goes as it is, patched */
	memset(&f, 0, sizeof(f));
	f.len = n;
	ck_assert_int_eq(my_remap_frame(s, MY_COM_STMT_EXECUTE, m, n, &f), 0);
	ck_assert_uint_eq(my_le32(f.patch), 301);
	/* the client's own PREPARE: an id above all it holds, the database's kept */
	s->prep_sql = strdup("select 2");
	s->prep_len = 8;
	n = cmd_packet(m, "\x00\x2f\x01\0\0\x01\0\0\0\0\0\0", 12);
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(my_remap_prepare_ok(s, m, n, 0, 1, &out, &res), 0);
	ck_assert_uint_eq(res.verdict, LMS_REWRITE);
	ck_assert_uint_eq(my_le32(out.data + 5), 13);
	ck_assert_uint_eq(my_stmt_find(s, 13)->db_id, 302 + 1);
	(void)b;
	my_sess_free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("mysql_translate");
	TCase *t = tcase_create("translate");
	tcase_add_checked_fixture(t, setup, NULL);
	tcase_add_test(t, test_placeholders);
	tcase_add_test(t, test_fingerprint_and_tag);
	tcase_add_test(t, test_txn_flags);
	tcase_add_test(t, test_txn_chars);
	tcase_add_test(t, test_iso_requests);
	tcase_add_test(t, test_canon_shared);
	tcase_add_test(t, test_values_equal_across_families);
	tcase_add_test(t, test_binary_values);
	tcase_add_test(t, test_binary_span);
	tcase_add_test(t, test_values_types_matrix);
	tcase_add_test(t, test_json_bounds);
	tcase_add_test(t, test_pg_encode_execute);
	tcase_add_test(t, test_pg_encode_named);
	tcase_add_test(t, test_remap_ids);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
