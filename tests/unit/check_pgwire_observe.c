/*
 * check_pgwire_observe.c - plugins/pgwire in observe mode (ABI 1.1):
 * statement fingerprints and prepared-statement tracking on the client's
 * side; columns, canonical row values, tags, errors, transient SQLSTATEs
 * per flavor on the database's side; and the own-login startup that
 * keeps a pgwire client's session parameters.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire.h"

/* ---- host API and message builders ------------------------------------- */

#include "../common/stub_host.h"
#include "../common/pg_msg.h"

static void setup(void)
{
	pg_host = &stub_host;
	pg_flavor = &pg_flavor_postgres;
}

/* A fingerprint into a static buffer, and its flags. */
static const char *fp(const char *sql, uint32_t *flags)
{
	static char out[PG_FP_MAX];
	uint32_t f = pg_fingerprint(sql, strlen(sql), out, sizeof(out));
	if (flags)
		*flags = f;
	return out;
}

/* ---- fingerprints ------------------------------------------------------ */

START_TEST(test_fp_literals)
{
	ck_assert_str_eq(fp("SELECT 'a''b', E'x\\'y', $$z$$, $t$w$'$t$, 12, 1.5e-3, .5, B'101', X'ff', "
			    "N'n', U&'d\\0061t', 0x1F, 1_000, t1.c2 FROM t WHERE x = $1", NULL),
			 "select ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, t1.c2 from t where x = $1");
	/* Digits inside identifiers and parameters stay. */
	ck_assert_str_eq(fp("select col2, \"x1\" from tab_3 where a=$12", NULL),
			 "select col2, \"x1\" from tab_3 where a=$12");
	/* A dollar sign inside a word is part of it, not a quote. */
	ck_assert_str_eq(fp("select a$b$ from t", NULL), "select a$b$ from t");
}
END_TEST

START_TEST(test_fp_comments_space_case)
{
	const char *a = "  SELECT /* a /* nested */ still */ a\n\t-- comment 'x'\nFROM   T  ";
	ck_assert_str_eq(fp(a, NULL), "select a from t");
	ck_assert_str_eq(fp("select a from t", NULL), "select a from t");
	ck_assert_str_eq(fp("SELECT \"MixedCase\", \"a\"\"b\" FROM \"T\"", NULL),
			 "select \"MixedCase\", \"a\"\"b\" from \"T\"");
	ck_assert_str_eq(fp("SELECT -- only a comment", NULL), "select");
	ck_assert_str_eq(fp("", NULL), "");
	ck_assert_str_eq(fp(" \n\t ", NULL), "");
}
END_TEST

START_TEST(test_fp_in_list)
{
	ck_assert_str_eq(fp("select * from t where id in (1, 2, 3)", NULL), "select * from t where id in (?)");
	ck_assert_str_eq(fp("select * from t where id IN('a','b')", NULL), "select * from t where id in(?)");
	ck_assert_str_eq(fp("select * from t where id in (7)", NULL), "select * from t where id in (?)");
	/* Parameters and expressions are not folded. */
	ck_assert_str_eq(fp("select * from t where id in ($1, $2)", NULL), "select * from t where id in ($1, $2)");
	ck_assert_str_eq(fp("select * from t where id in (1, a)", NULL), "select * from t where id in (?, a)");
	ck_assert_str_eq(fp("select * from t where (a) in ((1, 2))", NULL),
			 "select * from t where (a) in ((?, ?))");
}
END_TEST

START_TEST(test_fp_order_by)
{
	uint32_t f;
	fp("select a from t order by a", &f);
	ck_assert_uint_eq(f, LMS_STMT_ORDERED);
	fp("SELECT a FROM t ORDER /* c */\n BY a DESC", &f);
	ck_assert_uint_eq(f, LMS_STMT_ORDERED);
	fp("select a from (select a from t order by a limit 3) s", &f);
	ck_assert_uint_eq(f, 0);
	fp("select array_agg(a order by a), rank() over (order by b) from t", &f);
	ck_assert_uint_eq(f, 0);
	fp("select order_by, \"order\" by_x from t", &f);
	ck_assert_uint_eq(f, 0);
	fp("select 1; select a from t order by 1", &f);
	ck_assert_uint_eq(f, LMS_STMT_ORDERED);
	fp("select 'order by' from t", &f);
	ck_assert_uint_eq(f, 0);
	/* An unbalanced ')' does not take the depth below zero. */
	fp("select ) from t order by a", &f);
	ck_assert_uint_eq(f, LMS_STMT_ORDERED);
}
END_TEST

START_TEST(test_fp_setting)
{
	uint32_t f;
	const char *set[] = { "SET search_path = x", "  reset all", "set local statement_timeout = 5",
			      "SET SESSION TimeZone TO 'UTC'", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
			      "/* c */ set x = 1", "select 1; SET x = 1" };
	/* REPLAY: one session-level statement, safe to run again on a new
	 * connection; not SET LOCAL / SET TRANSACTION, not with others. */
	const uint32_t want[] = { LMS_STMT_REPLAY, LMS_STMT_REPLAY, 0, LMS_STMT_REPLAY, 0, LMS_STMT_REPLAY, 0 };
	for (size_t k = 0; k < sizeof(set) / sizeof(set[0]); k++) {
		fp(set[k], &f);
		ck_assert_msg(f == (LMS_STMT_SETTING | want[k]), "%s: flags %u", set[k], f);
	}
	const char *replay[] = { "PREPARE p (int) AS select $1", "deallocate all", "LISTEN ch", "unlisten *",
				 "discard all", "set a = 1;" };
	for (size_t k = 0; k < sizeof(replay) / sizeof(replay[0]); k++) {
		fp(replay[k], &f);
		ck_assert_msg(f & LMS_STMT_REPLAY, "%s: flags %u", replay[k], f);
	}
	const char *no_replay[] = { "set a = 1; insert into t values (1)", "select 1", "prepared_table_select()",
				    "listen_t", "insert into t select 1" };
	for (size_t k = 0; k < sizeof(no_replay) / sizeof(no_replay[0]); k++) {
		fp(no_replay[k], &f);
		ck_assert_msg(!(f & LMS_STMT_REPLAY), "%s: flags %u", no_replay[k], f);
	}
	const char *not_set[] = { "select 1", "update t set a = 1", "select set from t", "insert into reset values (1)" };
	for (size_t k = 0; k < sizeof(not_set) / sizeof(not_set[0]); k++) {
		fp(not_set[k], &f);
		ck_assert_msg(f == 0, "%s: flags %u", not_set[k], f);
	}
	ck_assert_str_eq(fp("SET x = 'y'", &f), "set x = ?");
}
END_TEST

/* Fingerprint a copy of s of exactly its length (no NUL after it), so
 * AddressSanitizer sees any read past the end. */
static const char *fp_exact(const char *s)
{
	size_t n = strlen(s);
	char *copy = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, s, n);
	static char out[PG_FP_MAX];
	pg_fingerprint(copy, n, out, sizeof(out));
	free(copy);
	return out;
}

START_TEST(test_fp_unterminated)
{
	ck_assert_str_eq(fp_exact("select 'abc"), "select ?");
	ck_assert_str_eq(fp_exact("select e'\\"), "select ?");
	ck_assert_str_eq(fp_exact("select 'a''"), "select ?");
	ck_assert_str_eq(fp_exact("select /* abc /* x */"), "select");
	ck_assert_str_eq(fp_exact("select /"), "select /");
	ck_assert_str_eq(fp_exact("select $a$ xx $a"), "select ?");
	ck_assert_str_eq(fp_exact("select $"), "select $");
	ck_assert_str_eq(fp_exact("select $a"), "select $a");
	ck_assert_str_eq(fp_exact("select \"abc"), "select \"abc");
	ck_assert_str_eq(fp_exact("select u&"), "select u&");
	ck_assert_str_eq(fp_exact("select 1e"), "select ?");
	ck_assert_str_eq(fp_exact("select 1e+"), "select ?+");
	ck_assert_str_eq(fp_exact("--"), "");
	ck_assert_str_eq(fp_exact("e"), "e");
	/* The text ends at a NUL. */
	char out[32];
	pg_fingerprint("_ \0\0 x", 6, out, sizeof(out));
	ck_assert_str_eq(out, "_");
}
END_TEST

START_TEST(test_fp_truncation)
{
	/* ASCII: cut at cap - 1, a prefix of the whole. */
	char sql[4000], whole[4000], small[16];
	memcpy(sql, "select ", 7);
	memset(sql + 7, 'a', 3000);
	sql[3007] = 0;
	pg_fingerprint(sql, strlen(sql), whole, sizeof(whole));
	ck_assert_str_eq(whole, sql);
	ck_assert_str_eq(fp(sql, NULL), (whole[PG_FP_MAX - 1] = 0, whole));
	ck_assert_uint_eq(strlen(fp(sql, NULL)), PG_FP_MAX - 1);
	pg_fingerprint("select 1, 2, 3", 14, small, 10);
	ck_assert_str_eq(small, "select ?,");
	/* Two-byte UTF-8 characters are never split. */
	memcpy(sql, "select a", 8);
	for (size_t k = 0; k < 600; k++)
		memcpy(sql + 8 + 2 * k, "\xc3\xa9", 2);
	sql[1208] = 0;
	const char *out = fp(sql, NULL);
	ck_assert_uint_eq(strlen(out), PG_FP_MAX - 2);
	ck_assert_int_eq((unsigned char)out[strlen(out) - 1], 0xa9);
	/* A tiny buffer: just the NUL. */
	pg_fingerprint("select 1", 8, small, 1);
	ck_assert_str_eq(small, "");
}
END_TEST

/* Words are copied while they are scanned when the rest of the text fits,
 * and cut by fp_put when it does not: the same text either way. */
START_TEST(test_fp_word_at_limit)
{
	const char *want[] = { "select", "select a", "select ab", "select abc", "select abc" };
	for (size_t cap = 8; cap <= 12; cap++) {
		char out[16];
		pg_fingerprint("SELECT ABC", 10, out, cap);
		ck_assert_str_eq(out, want[cap - 8]);
	}
	uint32_t f;
	ck_assert_str_eq(fp("SeLeCt A, \"B\" fRoM T_1 oRdEr bY 1", &f), "select a, \"B\" from t_1 order by ?");
	ck_assert_uint_eq(f, LMS_STMT_ORDERED);
	ck_assert_str_eq(fp("BeGiN", &f), "begin");
	ck_assert_uint_eq(f, LMS_STMT_BEGIN);
	ck_assert_str_eq(fp("sElEcT \xc3\x89t\xc3\xa9 FROM x", NULL), "select \xc3\x89t\xc3\xa9 from x");
}
END_TEST

/* ---- frontend: statements through Q, P, B, C ---------------------------- */

struct fe_call {
	struct lms_frame f;
	struct lms_out out;
	struct lms_result res;
};

/* A frontend past its startup, observing when observe. */
static void *fe_typed(int observe)
{
	struct lms_fe_opts o;
	memset(&o, 0, sizeof(o));
	o.observe = observe;
	void *fe = pg_fe_new(&o);
	ck_assert_ptr_nonnull(fe);
	static const char params[] = "user\0alice\0database\0sales\0";
	uint8_t st[64];
	size_t n = 8 + sizeof(params);
	pg_put32(st, (uint32_t)n);
	pg_put32(st + 4, PG_PROTOCOL_3);
	memcpy(st + 8, params, sizeof(params));
	struct fe_call c;
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(pg_fe_frame(fe, st, n, &c.f), LMS_FRAME_OK);
	ck_assert_int_eq(pg_fe_decode(fe, st, n, &c.out, &c.res), 0);
	ck_assert_uint_eq(c.res.action, LMS_ACT_CONNECT);
	return fe;
}

/* Frame and (when flagged) decode one typed message; returns the flags. */
static uint32_t fe_run(void *fe, const struct msg *m, struct fe_call *c)
{
	memset(c, 0, sizeof(*c));
	ck_assert_int_eq(pg_fe_frame(fe, m->b, m->n, &c->f), LMS_FRAME_OK);
	ck_assert_uint_eq(c->f.len, m->n);
	if (c->f.flags & LMS_FRAME_NEED_BODY) {
		ck_assert_int_eq(pg_fe_decode(fe, m->b, m->n, &c->out, &c->res), 0);
		ck_assert_uint_eq(c->res.verdict, LMS_FORWARD);
		ck_assert_uint_eq(c->res.action, LMS_ACT_NONE);
		ck_assert_uint_eq(c->out.len, 0);
	}
	return c->f.flags;
}

static void parse_msg(struct msg *m, const char *name, const char *sql)
{
	msg_begin(m, 'P');
	msg_str(m, name);
	msg_str(m, sql);
	msg_u16(m, 0);
	msg_end(m);
}

static void bind_msg(struct msg *m, const char *name)
{
	msg_begin(m, 'B');
	msg_str(m, "");
	msg_str(m, name);
	msg_u16(m, 0);
	msg_u16(m, 0);
	msg_u16(m, 0);
	msg_end(m);
}

/* Bind name and return the fingerprint it names (NULL when none). */
static const char *fe_bind(void *fe, const char *name, uint32_t *flags)
{
	static struct msg m;
	static struct fe_call c;
	bind_msg(&m, name);
	ck_assert(fe_run(fe, &m, &c) & LMS_FRAME_NEED_BODY);
	if (flags)
		*flags = c.res.stmt_flags;
	return c.res.fingerprint;
}

START_TEST(test_fe_query_fingerprint)
{
	static struct msg m;
	struct fe_call c;
	void *fe = fe_typed(1);
	msg_begin(&m, 'Q');
	msg_bytes(&m, "SELECT a FROM t ORDER BY 1\0garbage 'x", 38);
	msg_end(&m);
	uint32_t flags = fe_run(fe, &m, &c);
	ck_assert_uint_eq(flags, LMS_FRAME_NEED_BODY | LMS_FRAME_ENDS_REQUEST);
	ck_assert_uint_eq(c.f.kind, LMS_MSG_QUERY);
	ck_assert_str_eq(c.res.fingerprint, "select a from t order by ?");
	ck_assert_uint_eq(c.res.stmt_flags, LMS_STMT_ORDERED);
	/* Without a NUL the query runs to the end of the message. */
	msg_begin(&m, 'Q');
	msg_bytes(&m, "set x = 1", 9);
	msg_end(&m);
	fe_run(fe, &m, &c);
	ck_assert_str_eq(c.res.fingerprint, "set x = ?");
	ck_assert_uint_eq(c.res.stmt_flags, LMS_STMT_SETTING | LMS_STMT_REPLAY);
	/* Sync, Describe and Execute are asked for (the backends note them)
	 * and forwarded untouched, naming no statement. */
	msg_begin(&m, 'S');
	msg_end(&m);
	ck_assert_uint_eq(fe_run(fe, &m, &c), LMS_FRAME_NEED_BODY | LMS_FRAME_ENDS_REQUEST);
	ck_assert_ptr_null(c.res.fingerprint);
	msg_begin(&m, 'D');
	msg_bytes(&m, "Ss1", 4);
	msg_end(&m);
	ck_assert_uint_eq(fe_run(fe, &m, &c), LMS_FRAME_NEED_BODY);
	ck_assert_ptr_null(c.res.fingerprint);
	msg_begin(&m, 'E');
	msg_str(&m, "");
	msg_u32(&m, 0);
	msg_end(&m);
	ck_assert_uint_eq(fe_run(fe, &m, &c), LMS_FRAME_NEED_BODY);
	ck_assert_ptr_null(c.res.fingerprint);
	/* Other messages are not asked for. */
	msg_begin(&m, 'H');
	msg_end(&m);
	ck_assert_uint_eq(fe_run(fe, &m, &c), 0);
	pg_fe_free(fe);
}
END_TEST

/* Which messages the core keeps to replay on a new connection: a named
 * Parse and the Close of a named statement; not an unnamed Parse, a Bind
 * or an Execute, which would run something again. */
START_TEST(test_fe_replay_flags)
{
	void *fe = fe_typed(1);
	struct msg m;
	struct fe_call c;
	parse_msg(&m, "s1", "insert into t values ($1)");
	fe_run(fe, &m, &c);
	ck_assert(c.res.stmt_flags & LMS_STMT_REPLAY);
	parse_msg(&m, "", "set a = 1");
	fe_run(fe, &m, &c);
	ck_assert(!(c.res.stmt_flags & LMS_STMT_REPLAY));
	uint32_t flags;
	fe_bind(fe, "s1", &flags);
	ck_assert(!(flags & LMS_STMT_REPLAY));
	fe_bind(fe, "", &flags);
	ck_assert(!(flags & LMS_STMT_REPLAY));
	msg_begin(&m, 'C');
	msg_bytes(&m, "S", 1);
	msg_str(&m, "s1");
	msg_end(&m);
	fe_run(fe, &m, &c);
	ck_assert(c.res.stmt_flags & LMS_STMT_REPLAY);
	msg_begin(&m, 'C');
	msg_bytes(&m, "P", 1);
	msg_str(&m, "portal");
	msg_end(&m);
	fe_run(fe, &m, &c);
	ck_assert(!(c.res.stmt_flags & LMS_STMT_REPLAY));
	pg_fe_free(fe);
}
END_TEST

/* LMS_OBSERVE_STATE: only Q, P and C are decoded, no fingerprint, and the
 * flags that matter to a cutover's replay. */
START_TEST(test_fe_state_flags)
{
	static const struct { const char *sql; uint32_t flags; } q[] = {
		{ "select 1", 0 },
		{ "SET search_path = a", LMS_STMT_SETTING | LMS_STMT_REPLAY },
		{ "/* c */ set local x = 1", LMS_STMT_SETTING },
		{ "-- c\nBEGIN", LMS_STMT_BEGIN },
		{ "start transaction", LMS_STMT_BEGIN },
		{ "prepare p as select 1", LMS_STMT_REPLAY },
		{ "set a = 1; delete from t", LMS_STMT_SETTING },
		{ "", 0 },
		/* whole words only, any case */
		{ "set_config('a', 'b', false)", 0 },
		{ "settle", 0 },
		{ "Begin;", LMS_STMT_BEGIN },
		{ "beginning", 0 },
		{ "  \tLISTEN ch", LMS_STMT_REPLAY },
		{ "unlisten *", LMS_STMT_REPLAY },
		{ "Deallocate s1", LMS_STMT_REPLAY },
		{ "reset all", LMS_STMT_SETTING | LMS_STMT_REPLAY },
		{ "DISCARD ALL", LMS_STMT_REPLAY },
		{ "$1", 0 },
	};
	struct lms_fe_opts o;
	memset(&o, 0, sizeof(o));
	o.observe = LMS_OBSERVE_STATE;
	void *fe = pg_fe_new(&o);
	ck_assert_ptr_nonnull(fe);
	struct msg m;
	struct fe_call c;
	for (size_t k = 0; k < sizeof(q) / sizeof(q[0]); k++) {
		ck_assert_uint_eq(pg_state_flags((const uint8_t *)"Q\0\0\0\4", 5), 0);
		msg_begin(&m, 'Q');
		msg_str(&m, q[k].sql);
		msg_end(&m);
		ck_assert_uint_eq(pg_state_flags(m.b, m.n), q[k].flags);
	}
	parse_msg(&m, "s1", "select 1");
	ck_assert_uint_eq(pg_state_flags(m.b, m.n), LMS_STMT_REPLAY);
	parse_msg(&m, "", "set a = 1");
	ck_assert_uint_eq(pg_state_flags(m.b, m.n), 0);
	pg_fe_free(fe);
	/* through the frontend: Q decoded without a fingerprint, B streamed */
	fe = fe_typed(LMS_OBSERVE_STATE);
	msg_begin(&m, 'Q');
	msg_str(&m, "set a = 1");
	msg_end(&m);
	ck_assert(fe_run(fe, &m, &c) & LMS_FRAME_NEED_BODY);
	ck_assert_ptr_null(c.res.fingerprint);
	ck_assert_uint_eq(c.res.stmt_flags, LMS_STMT_SETTING | LMS_STMT_REPLAY);
	bind_msg(&m, "s1");
	ck_assert(!(fe_run(fe, &m, &c) & LMS_FRAME_NEED_BODY));
	/* the latest statement is fingerprinted only when asked */
	char fpout[64];
	ck_assert_int_eq(pg_fe_statement(fe, fpout, sizeof(fpout)), 0);
	ck_assert_str_eq(fpout, "set a = ?");
	parse_msg(&m, "s2", "SELECT * FROM t WHERE id = 42");
	fe_run(fe, &m, &c);
	ck_assert_int_eq(pg_fe_statement(fe, fpout, sizeof(fpout)), 0);
	ck_assert_str_eq(fpout, "select * from t where id = ?");
	pg_fe_free(fe);
	fe = fe_typed(LMS_OBSERVE_STATE);
	ck_assert_int_eq(pg_fe_statement(fe, fpout, sizeof(fpout)), -1);
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_not_observing)
{
	static struct msg m;
	struct fe_call c;
	void *fe = fe_typed(0);
	msg_begin(&m, 'Q');
	msg_str(&m, "select 1");
	msg_end(&m);
	ck_assert_uint_eq(fe_run(fe, &m, &c), LMS_FRAME_ENDS_REQUEST);
	parse_msg(&m, "s", "select 1");
	ck_assert_uint_eq(fe_run(fe, &m, &c), 0);
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_oversized_not_decoded)
{
	/* A Query longer than LMS_DECODE_MAX: only its header is framed,
	 * nothing is asked for (the core names it itself). */
	uint8_t hdr[5] = { 'Q' };
	pg_put32(hdr + 1, LMS_DECODE_MAX + 100);
	struct lms_frame f;
	void *fe = fe_typed(1);
	ck_assert_int_eq(pg_fe_frame(fe, hdr, 5, &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.len, LMS_DECODE_MAX + 101);
	ck_assert_uint_eq(f.flags, LMS_FRAME_ENDS_REQUEST);
	pg_fe_free(fe);
}
END_TEST

/* The first bytes of a message too big to decode, its length saying more. */
static size_t big_msg(uint8_t *b, char type, const char *name, const char *text, size_t total)
{
	size_t n = 5;
	b[0] = (uint8_t)type;
	pg_put32(b + 1, (uint32_t)total - 1);
	if (name) {
		memcpy(b + n, name, strlen(name) + 1);
		n += strlen(name) + 1;
	}
	memcpy(b + n, text, strlen(text));
	return n + strlen(text);
}

START_TEST(test_fe_oversized_named)
{
	/* An oversized Q, P or B is named from the bytes at hand: the start
	 * of its text, marked; a P is remembered for its Binds. */
	static uint8_t b[2048];
	char out[PG_FP_MAX];
	struct lms_frame f;
	uint32_t flags;
	void *fe = fe_typed(LMS_OBSERVE_FULL);
	size_t n = big_msg(b, 'Q', NULL, "INSERT INTO t VALUES (1, 'abc'), (2, 'de", LMS_DECODE_MAX + 500);
	ck_assert_int_eq(pg_fe_frame(fe, b, n, &f), LMS_FRAME_OK);
	ck_assert(!(f.flags & LMS_FRAME_NEED_BODY));
	ck_assert_int_eq(pg_fe_statement(fe, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "insert into t values (?, ?), (?, ? ... (oversized)");
	/* only the header at hand: a plain name */
	ck_assert_int_eq(pg_fe_frame(fe, b, 5, &f), LMS_FRAME_OK);
	ck_assert_int_eq(pg_fe_statement(fe, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "(oversized statement)");
	/* a named Parse, then its Bind (small, decoded) */
	n = big_msg(b, 'P', "big", "select $1::text || 'x", LMS_DECODE_MAX + 10);
	ck_assert_int_eq(pg_fe_frame(fe, b, n, &f), LMS_FRAME_OK);
	ck_assert_int_eq(pg_fe_statement(fe, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "select $1::text || ? ... (oversized)");
	ck_assert_str_eq(fe_bind(fe, "big", &flags), "select $1::text || ? ... (oversized)");
	ck_assert(flags & LMS_STMT_OVERSIZED);
	/* an oversized Bind of it */
	n = big_msg(b, 'B', "", "", LMS_DECODE_MAX + 10);
	memcpy(b + 6, "big", 4);
	n = 10;
	ck_assert_int_eq(pg_fe_frame(fe, b, n, &f), LMS_FRAME_OK);
	ck_assert_int_eq(pg_fe_statement(fe, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "select $1::text || ? ... (oversized)");
	/* a long text: only PG_OVERSIZED_PREFIX bytes of it are read */
	static char text[1900];
	memset(text, 'a', sizeof(text) - 1);
	memcpy(text, "select ", 7);
	n = big_msg(b, 'Q', NULL, text, LMS_DECODE_MAX + 500);
	ck_assert_int_eq(pg_fe_frame(fe, b, n, &f), LMS_FRAME_OK);
	ck_assert_int_eq(pg_fe_statement(fe, out, sizeof(out)), 0);
	ck_assert_uint_le(strlen(out), PG_FP_MAX - 1);
	ck_assert(strstr(out, "(oversized)") != NULL);
	pg_fe_free(fe);
	/* state only: the start of the text is kept for listings */
	fe = fe_typed(LMS_OBSERVE_STATE);
	n = big_msg(b, 'Q', NULL, "UPDATE t SET v = 'xyz", LMS_DECODE_MAX + 500);
	ck_assert_int_eq(pg_fe_frame(fe, b, n, &f), LMS_FRAME_OK);
	ck_assert_int_eq(pg_fe_statement(fe, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "update t set v = ?");
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_statements)
{
	static struct msg m;
	struct fe_call c;
	uint32_t flags;
	void *fe = fe_typed(1);
	parse_msg(&m, "s1", "SELECT * FROM t WHERE id = $1 ORDER BY id");
	ck_assert(fe_run(fe, &m, &c) & LMS_FRAME_NEED_BODY);
	ck_assert_str_eq(c.res.fingerprint, "select * from t where id = $1 order by id");
	parse_msg(&m, "", "select 'unnamed one'");
	fe_run(fe, &m, &c);
	ck_assert_str_eq(c.res.fingerprint, "select ?");
	ck_assert_str_eq(fe_bind(fe, "s1", &flags), "select * from t where id = $1 order by id");
	ck_assert_uint_eq(flags, LMS_STMT_ORDERED);
	ck_assert_str_eq(fe_bind(fe, "", &flags), "select ?");
	ck_assert_uint_eq(flags, 0);
	/* Each unnamed Parse replaces the unnamed statement. */
	parse_msg(&m, "", "set a = 1");
	fe_run(fe, &m, &c);
	ck_assert_str_eq(fe_bind(fe, "", &flags), "set a = ?");
	ck_assert_uint_eq(flags, LMS_STMT_SETTING);
	/* A named Parse again replaces it; an unknown name gives NULL. */
	parse_msg(&m, "s1", "select 2");
	fe_run(fe, &m, &c);
	ck_assert_str_eq(fe_bind(fe, "s1", NULL), "select ?");
	ck_assert_ptr_null(fe_bind(fe, "nope", NULL));
	/* Close statement forgets it; Close portal does not. */
	msg_begin(&m, 'C');
	msg_bytes(&m, "P", 1);
	msg_str(&m, "s1");
	msg_end(&m);
	ck_assert(fe_run(fe, &m, &c) & LMS_FRAME_NEED_BODY);
	ck_assert_ptr_null(c.res.fingerprint);
	ck_assert_ptr_nonnull(fe_bind(fe, "s1", NULL));
	msg_begin(&m, 'C');
	msg_bytes(&m, "S", 1);
	msg_str(&m, "s1");
	msg_end(&m);
	fe_run(fe, &m, &c);
	ck_assert_ptr_null(fe_bind(fe, "s1", NULL));
	msg_begin(&m, 'C');
	msg_bytes(&m, "S", 1);
	msg_str(&m, "");
	msg_end(&m);
	fe_run(fe, &m, &c);
	ck_assert_ptr_null(fe_bind(fe, "", NULL));
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_statements_bounded)
{
	static struct msg m;
	struct fe_call c;
	char name[32];
	void *fe = fe_typed(1);
	for (int k = 0; k < PG_STMT_MAX + 44; k++) {
		snprintf(name, sizeof(name), "s%d", k);
		parse_msg(&m, name, "select 1");
		fe_run(fe, &m, &c);
	}
	/* The 44 oldest were evicted, the rest are known. */
	ck_assert_ptr_null(fe_bind(fe, "s0", NULL));
	ck_assert_ptr_null(fe_bind(fe, "s43", NULL));
	ck_assert_str_eq(fe_bind(fe, "s44", NULL), "select ?");
	snprintf(name, sizeof(name), "s%d", PG_STMT_MAX + 43);
	ck_assert_str_eq(fe_bind(fe, name, NULL), "select ?");
	/* Names longer than PG_STMT_NAME_MAX are not remembered. */
	char longname[PG_STMT_NAME_MAX + 2];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	parse_msg(&m, longname, "select 1");
	fe_run(fe, &m, &c);
	ck_assert_str_eq(c.res.fingerprint, "select ?");
	ck_assert_ptr_null(fe_bind(fe, longname, NULL));
	/* A long query's fingerprint is cut to PG_FP_MAX - 1 bytes. */
	char *sql = malloc(20000);
	ck_assert_ptr_nonnull(sql);
	memcpy(sql, "select ", 7);
	memset(sql + 7, 'x', 19990);
	sql[19997] = 0;
	parse_msg(&m, "long", sql);
	fe_run(fe, &m, &c);
	ck_assert_uint_eq(strlen(c.res.fingerprint), PG_FP_MAX - 1);
	ck_assert_uint_eq(strlen(fe_bind(fe, "long", NULL)), PG_FP_MAX - 1);
	free(sql);
	pg_fe_free(fe);
}
END_TEST

START_TEST(test_fe_malformed_statements)
{
	static struct msg m;
	struct fe_call c;
	void *fe = fe_typed(1);
	/* A Parse whose name runs off the end: forwarded, nothing named. */
	msg_begin(&m, 'P');
	msg_bytes(&m, "abc", 3);
	msg_end(&m);
	fe_run(fe, &m, &c);
	ck_assert_ptr_null(c.res.fingerprint);
	/* A Bind with no statement name. */
	msg_begin(&m, 'B');
	msg_str(&m, "");
	msg_end(&m);
	fe_run(fe, &m, &c);
	ck_assert_ptr_null(c.res.fingerprint);
	/* Empty Close. */
	msg_begin(&m, 'C');
	msg_end(&m);
	fe_run(fe, &m, &c);
	ck_assert_ptr_null(c.res.fingerprint);
	pg_fe_free(fe);
}
END_TEST

/* ---- backend: observe ---------------------------------------------------- */

/* The values one row emitted. */
struct row {
	int n;
	int null[16];
	char v[16][128];
};

static void collect(void *ctx, const uint8_t *data, size_t len)
{
	struct row *r = ctx;
	ck_assert_int_lt(r->n, 16);
	ck_assert_uint_lt(len, sizeof(r->v[0]));
	r->null[r->n] = data == NULL;
	if (data)
		memcpy(r->v[r->n], data, len);
	r->v[r->n][data ? len : 0] = 0;
	r->n++;
}

static void *be_observing(void)
{
	static struct lms_backend_conf conf;
	memset(&conf, 0, sizeof(conf));
	struct lms_be_opts o;
	memset(&o, 0, sizeof(o));
	o.conf = &conf;
	o.relay_auth = 1;
	o.observe = 1;
	void *be = pg_be_new(&o);
	ck_assert_ptr_nonnull(be);
	uint8_t st[] = { 0, 0, 0, 17, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'a', 0, 0, 0 };
	struct lms_startup s = { "pgwire", "a", "a", st, sizeof(st) };
	struct lms_out out;
	struct lms_result res;
	memset(&res, 0, sizeof(res));
	out.len = 0;
	ck_assert_int_eq(pg_be_start(be, 0, &s, &out, &res), 0);
	return be;
}

/* A backend past its login's ReadyForQuery (decoded as the core does). */
static void *be_logged_in(void)
{
	void *be = be_observing();
	struct lms_out out;
	struct lms_result res;
	memset(&res, 0, sizeof(res));
	out.len = 0;
	ck_assert_int_eq(pg_be_decode(be, (const uint8_t *)"Z\0\0\0\x05I", 6, &out, &res), 0);
	ck_assert_uint_eq(res.action, LMS_ACT_READY);
	return be;
}

/* Observe m: frame it (it must be asked for whole), then be_observe. */
static int observe(void *be, const struct msg *m, struct lms_event *ev, struct row *r)
{
	struct lms_frame f;
	memset(ev, 0, sizeof(*ev));
	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(pg_be_frame(be, m->b, m->n, &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.len, m->n);
	ck_assert(f.flags & LMS_FRAME_NEED_BODY);
	return pg_be_observe(be, m->b, m->n, ev, collect, r);
}

struct coldef {
	uint32_t oid;
	uint16_t format;
};

static void row_desc(struct msg *m, const struct coldef *cols, int n)
{
	msg_begin(m, 'T');
	msg_u16(m, (uint16_t)n);
	for (int k = 0; k < n; k++) {
		msg_str(m, "c");
		msg_u32(m, 0);
		msg_u16(m, 0);
		msg_u32(m, cols[k].oid);
		msg_u16(m, 0);
		msg_u32(m, 0xffffffffu);
		msg_u16(m, cols[k].format);
	}
	msg_end(m);
}

/* A value: length then bytes; len -1 is NULL. */
static void row_val(struct msg *m, const void *p, int len)
{
	msg_u32(m, (uint32_t)len);
	if (len > 0)
		msg_bytes(m, p, (size_t)len);
}

static void row_text(struct msg *m, const char *s)
{
	row_val(m, s, s ? (int)strlen(s) : -1);
}

static const struct coldef text_cols[] = { { 23, 0 }, { 20, 0 }, { 1700, 0 }, { 701, 0 }, { 700, 0 }, { 16, 0 },
					   { 23, 0 }, { 21, 0 }, { 1700, 0 }, { 25, 0 }, { 17, 0 } };
static const struct coldef bin_cols[] = { { 20, 1 }, { 23, 1 }, { 1700, 1 }, { 701, 1 }, { 700, 1 }, { 16, 1 },
					  { 23, 1 }, { 21, 1 }, { 1700, 1 }, { 25, 1 }, { 17, 1 } };
static const char *const want_row[] = { "5", "5", "1.5", "0.1", "0.1", "1", NULL, "-3", "12345.678", "héllo",
					"\\x01ab" };
#define NCOLS 11

START_TEST(test_obs_rows_text_and_binary_equal)
{
	static struct msg m;
	struct lms_event ev;
	struct row text, bin;
	void *be = be_observing();
	row_desc(&m, text_cols, NCOLS);
	ck_assert_int_eq(observe(be, &m, &ev, &text), 0);
	ck_assert_uint_eq(ev.kind, LMS_EV_COLUMNS);
	ck_assert_uint_eq(ev.ncols, NCOLS);
	msg_begin(&m, 'D');
	msg_u16(&m, NCOLS);
	const char *tv[] = { "+005", "5", "1.50", "0.1", "0.1", "t", NULL, "-3", "12345.6780", "héllo", "\\x01ab" };
	for (int k = 0; k < NCOLS; k++)
		row_text(&m, tv[k]);
	msg_end(&m);
	ck_assert_int_eq(observe(be, &m, &ev, &text), 0);
	ck_assert_uint_eq(ev.kind, LMS_EV_ROW);
	ck_assert_uint_eq(ev.ncols, NCOLS);

	row_desc(&m, bin_cols, NCOLS);
	ck_assert_int_eq(observe(be, &m, &ev, &bin), 0);
	msg_begin(&m, 'D');
	msg_u16(&m, NCOLS);
	row_val(&m, "\0\0\0\0\0\0\0\5", 8);
	row_val(&m, "\0\0\0\5", 4);
	row_val(&m, "\0\2\0\0\0\0\0\2\0\1\23\210", 12); /* 1.5: digits 1, 5000 */
	row_val(&m, "\x3f\xb9\x99\x99\x99\x99\x99\x9a", 8); /* 0.1 */
	row_val(&m, "\x3d\xcc\xcc\xcd", 4);                  /* 0.1f */
	row_val(&m, "\1", 1);
	row_val(&m, NULL, -1);
	row_val(&m, "\xff\xfd", 2);
	row_val(&m, "\0\3\0\1\0\0\0\3\0\1\x09\x29\x1a\x7c", 14); /* 1 2345 6780, weight 1 */
	row_val(&m, "h\xc3\xa9llo", 6);
	row_val(&m, "\x01\xab", 2);
	msg_end(&m);
	ck_assert_int_eq(observe(be, &m, &ev, &bin), 0);
	ck_assert_int_eq(text.n, NCOLS);
	ck_assert_int_eq(bin.n, NCOLS);
	for (int k = 0; k < NCOLS; k++) {
		ck_assert_int_eq(text.null[k], want_row[k] == NULL);
		ck_assert_int_eq(bin.null[k], want_row[k] == NULL);
		if (want_row[k]) {
			ck_assert_str_eq(text.v[k], want_row[k]);
			ck_assert_str_eq(bin.v[k], want_row[k]);
		}
	}
	pg_be_free(be);
}
END_TEST

/* The canonical text of one value of type oid in format fmt. */
static const char *canon(uint32_t oid, uint32_t fmt, const void *p, size_t len)
{
	static struct row r;
	memset(&r, 0, sizeof(r));
	pg_value_emit(oid, fmt, 0, p, len, collect, &r);
	ck_assert_int_eq(r.n, 1);
	return r.v[0];
}

/* As canon(), with pg_value_emit's norm. */
static const char *canon_as(unsigned norm, uint32_t oid, uint32_t fmt, const void *p, size_t len)
{
	static struct row r;
	memset(&r, 0, sizeof(r));
	pg_value_emit(oid, fmt, norm, p, len, collect, &r);
	ck_assert_int_eq(r.n, 1);
	return r.v[0];
}

/* Rules for every client (timestamptz, interval, json, -0) and those
 * only beside a MySQL client (PG_NORM_MYSQL: real at 6 digits, JSON in
 * text), in both formats. */
START_TEST(test_norm_families)
{
	/* -0 is 0 */
	ck_assert_str_eq(canon(701, 0, "-0", 2), "0");
	ck_assert_str_eq(canon(701, 1, "\x80\0\0\0\0\0\0\0", 8), "0");
	/* timestamptz: equal instants in two zones are equal */
	char a[64];
	snprintf(a, sizeof(a), "%s", canon(1184, 0, "2024-01-02 05:04:05+02", 22));
	ck_assert_str_eq(a, canon(1184, 0, "2024-01-02 03:04:05+00", 22));
	ck_assert_str_eq(canon(1184, 0, "2024-01-02 05:04:05+02:00", 25), "2024-01-02 03:04:05"); /* CockroachDB */
	snprintf(a, sizeof(a), "%s", canon(1184, 0, "2024-01-02 03:04:05+02", 22));
	ck_assert_str_ne(a, canon(1184, 0, "2024-01-02 03:04:05+00", 22));
	/* interval: days and hours as one duration */
	snprintf(a, sizeof(a), "%s", canon(1186, 0, "1 day", 5));
	ck_assert_str_eq(a, canon(1186, 0, "24:00:00", 8));
	/* json and jsonb: one spelling */
	snprintf(a, sizeof(a), "%s", canon(114, 0, "{\"b\":1, \"a\" : 2}", 16));
	ck_assert_str_eq(a, canon(3802, 0, "{\"a\": 2, \"b\": 1}", 16));
	ck_assert_str_eq(a, "{\"a\":2,\"b\":1}");
	/* a PostgreSQL client keeps every digit of a real, and text as it is */
	ck_assert_str_eq(canon(700, 0, "1.2345678", 9), "1.2345678");
	ck_assert_str_eq(canon(700, 1, "\x3f\x9e\x06\x51", 4), "1.2345678");
	ck_assert_str_eq(canon(25, 0, "{\"b\": 1}", 8), "{\"b\": 1}");
	/* beside MySQL: a real at 6 digits, JSON text as JSON */
	ck_assert_str_eq(canon_as(PG_NORM_MYSQL, 700, 0, "1.2345678", 9), "1.23457");
	ck_assert_str_eq(canon_as(PG_NORM_MYSQL, 700, 1, "\x3f\x9e\x06\x51", 4), "1.23457");
	ck_assert_str_eq(canon_as(PG_NORM_MYSQL, 700, 0, "NaN", 3), "NaN");
	ck_assert_str_eq(canon_as(PG_NORM_MYSQL, 700, 0, "x", 1), "x");
	ck_assert_str_eq(canon_as(PG_NORM_MYSQL, 25, 0, "{\"b\": 1}", 8), "{\"b\":1}");
	ck_assert_str_eq(canon_as(PG_NORM_MYSQL, 1042, 0, "[1, 2]  ", 8), "[1,2]");
	ck_assert_str_eq(canon_as(PG_NORM_MYSQL, 25, 0, "{not json}", 10), "{not json}");
	ck_assert_str_eq(canon_as(PG_NORM_MYSQL, 25, 1, "{\"b\": 1}", 8), "{\"b\": 1}"); /* binary: bytes */
}
END_TEST

START_TEST(test_norm_numbers)
{
	ck_assert_str_eq(canon(23, 0, "-007", 4), "-7");
	ck_assert_str_eq(canon(20, 0, "-0", 2), "0");
	ck_assert_str_eq(canon(20, 0, "000", 3), "0");
	ck_assert_str_eq(canon(26, 0, "100", 3), "100");
	ck_assert_str_eq(canon(1700, 0, "10.000", 6), "10");
	ck_assert_str_eq(canon(1700, 0, "-0.000", 6), "0");
	ck_assert_str_eq(canon(1700, 0, "0.50", 4), "0.5");
	ck_assert_str_eq(canon(1700, 0, "NaN", 3), "NaN");
	ck_assert_str_eq(canon(1700, 0, "1e5", 3), "1e5"); /* not PostgreSQL's: untouched */
	ck_assert_str_eq(canon(23, 0, "", 0), "");
	ck_assert_str_eq(canon(23, 0, "12a", 3), "12a");
	/* canonical already (passed through as is) and the spellings next
	 * to it that are not */
	ck_assert_str_eq(canon(23, 0, "0", 1), "0");
	ck_assert_str_eq(canon(23, 0, "-12", 3), "-12");
	ck_assert_str_eq(canon(20, 0, "9223372036854775807", 19), "9223372036854775807");
	ck_assert_str_eq(canon(23, 0, "+0", 2), "0");
	ck_assert_str_eq(canon(23, 0, "+12", 3), "12");
	ck_assert_str_eq(canon(23, 0, "012", 3), "12");
	ck_assert_str_eq(canon(23, 0, "-012", 4), "-12");
	ck_assert_str_eq(canon(23, 0, "-", 1), "-");
	ck_assert_str_eq(canon(23, 0, "1-", 2), "1-");
	ck_assert_str_eq(canon(1700, 0, "12.", 3), "12");
	ck_assert_str_eq(canon(701, 0, "1e+20", 5), canon(701, 1, "\x44\x15\xaf\x1d\x78\xb5\x8c\x40", 8));
	ck_assert_str_eq(canon(701, 0, "0.30000000000000004", 19), "0.30000000000000004");
	ck_assert_str_eq(canon(701, 0, "NaN", 3), "NaN");
	ck_assert_str_eq(canon(701, 0, "Infinity", 8), "Infinity");
	ck_assert_str_eq(canon(701, 0, "-Infinity", 9), "-Infinity");
	ck_assert_str_eq(canon(701, 1, "\x7f\xf0\0\0\0\0\0\0", 8), "Infinity");
	ck_assert_str_eq(canon(700, 1, "\xff\x80\0\0", 4), "-Infinity");
	ck_assert_str_eq(canon(700, 0, "1.10000002", 10), "1.1");
	ck_assert_str_eq(canon(701, 0, "garbage", 7), "garbage");
	ck_assert_str_eq(canon(26, 1, "\xee\x6b\x28\0", 4), "4000000000");
	ck_assert_str_eq(canon(20, 1, "\x80\0\0\0\0\0\0\0", 8), "-9223372036854775808");
	/* booleans as 1/0: equal to MySQL's TINYINT(1) (ABI 1.3) */
	ck_assert_str_eq(canon(16, 0, "f", 1), "0");
	ck_assert_str_eq(canon(16, 1, "\0", 1), "0");
	ck_assert_str_eq(canon(16, 0, "t", 1), "1");
	ck_assert_str_eq(canon(16, 1, "\1", 1), "1");
}
END_TEST

START_TEST(test_norm_binary_numeric)
{
	/* 0.0001: one digit, weight -1; 0.00000001: weight -2. */
	ck_assert_str_eq(canon(1700, 1, "\0\1\xff\xff\0\0\0\4\0\1", 10), "0.0001");
	ck_assert_str_eq(canon(1700, 1, "\0\1\xff\xfe\0\0\0\x08\0\1", 10), "0.00000001");
	/* -20000: digit 2, weight 1 (trailing integer group implied). */
	ck_assert_str_eq(canon(1700, 1, "\0\1\0\1\x40\0\0\0\0\2", 10), "-20000");
	/* Zero, negative zero, no digits. */
	ck_assert_str_eq(canon(1700, 1, "\0\0\0\0\0\0\0\0", 8), "0");
	ck_assert_str_eq(canon(1700, 1, "\0\0\0\0\x40\0\0\2", 8), "0");
	ck_assert_str_eq(canon(1700, 1, "\0\0\0\0\xc0\0\0\0", 8), "NaN");
	ck_assert_str_eq(canon(1700, 1, "\0\0\0\0\xf0\0\0\0", 8), "-Infinity");
	/* Malformed: a digit over 9999, a wrong length, a bad sign: hex. */
	ck_assert_str_eq(canon(1700, 1, "\0\1\0\0\0\0\0\0\x27\x10", 10), "\\x00010000000000002710");
	ck_assert_str_eq(canon(1700, 1, "\0\2\0\0\0\0\0\0\0\1", 10), "\\x00020000000000000001");
	ck_assert_str_eq(canon(1700, 1, "\0\0\0\0\x12\x34\0\0", 8), "\\x0000000012340000");
	/* Wrong widths and unknown types: hex. */
	ck_assert_str_eq(canon(23, 1, "\0\0\5", 3), "\\x000005");
	ck_assert_str_eq(canon(1082, 1, "\0\0\x1e\xa0", 4), "\\x00001ea0");
	ck_assert_str_eq(canon(1082, 0, "2024-01-02", 10), "2024-01-02");
}
END_TEST

START_TEST(test_obs_row_untyped)
{
	/* A row whose column count differs from the last RowDescription (or
	 * with none before it) passes its bytes through. */
	static struct msg m;
	struct lms_event ev;
	struct row r;
	void *be = be_observing();
	msg_begin(&m, 'D');
	msg_u16(&m, 2);
	row_text(&m, "007");
	row_val(&m, "", 0);
	msg_end(&m);
	ck_assert_int_eq(observe(be, &m, &ev, &r), 0);
	ck_assert_int_eq(r.n, 2);
	ck_assert_str_eq(r.v[0], "007");
	ck_assert_int_eq(r.null[1], 0);
	ck_assert_str_eq(r.v[1], "");
	/* Zero columns. */
	msg_begin(&m, 'D');
	msg_u16(&m, 0);
	msg_end(&m);
	ck_assert_int_eq(observe(be, &m, &ev, &r), 0);
	ck_assert_uint_eq(ev.kind, LMS_EV_ROW);
	ck_assert_int_eq(r.n, 0);
	pg_be_free(be);
}
END_TEST

/* Observe a CommandComplete with tag t. */
static void complete(void *be, const char *t, struct lms_event *ev)
{
	static struct msg m;
	struct row r;
	msg_begin(&m, 'C');
	msg_str(&m, t);
	msg_end(&m);
	ck_assert_int_eq(observe(be, &m, ev, &r), 0);
	ck_assert_uint_eq(ev->kind, LMS_EV_COMPLETE);
}

START_TEST(test_obs_complete)
{
	static const struct {
		const char *in, *tag;
		uint64_t rows;
	} cases[] = { { "INSERT 0 5", "INSERT", 5 }, { "SELECT 3", "SELECT", 3 }, { "UPDATE 2", "UPDATE", 2 },
		      { "DELETE 1", "DELETE", 1 },   { "MERGE 4", "MERGE", 4 },   { "MOVE 7", "MOVE", 7 },
		      { "FETCH 8", "FETCH", 8 },     { "COPY 9", "COPY", 9 },
		      { "SELECT 18446744073709551615", "SELECT", UINT64_MAX } };
	struct lms_event ev;
	void *be = be_observing();
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		complete(be, cases[k].in, &ev);
		ck_assert_str_eq(ev.tag, cases[k].tag);
		ck_assert_uint_eq(ev.flags, LMS_EV_ROWS_KNOWN);
		ck_assert_uint_eq(ev.rows, cases[k].rows);
	}
	complete(be, "CREATE TABLE", &ev);
	ck_assert_str_eq(ev.tag, "CREATE TABLE");
	ck_assert_uint_eq(ev.flags, 0);
	complete(be, "SET", &ev);
	ck_assert_str_eq(ev.tag, "SET");
	ck_assert_uint_eq(ev.flags, 0);
	/* A count that overflows is not a count. */
	complete(be, "SELECT 18446744073709551616", &ev);
	ck_assert_uint_eq(ev.flags, 0);
	complete(be, "ALTER DEFAULT PRIVILEGES IN SCHEMA PUBLIC GRANT", &ev);
	ck_assert_uint_eq(strlen(ev.tag), LMS_TAG_MAX - 1);
	pg_be_free(be);
}
END_TEST

static void error_msg(struct msg *m, const char *sqlstate, const char *text)
{
	msg_begin(m, 'E');
	msg_bytes(m, "S", 1);
	msg_str(m, "ERROR");
	msg_bytes(m, "C", 1);
	msg_str(m, sqlstate);
	msg_bytes(m, "M", 1);
	msg_str(m, text);
	msg_bytes(m, "", 1);
	msg_end(m);
}

/* Is an error with sqlstate transient for flavor fl? */
static int transient(const struct pg_flavor *fl, const char *sqlstate)
{
	static struct msg m;
	struct lms_event ev;
	struct row r;
	pg_flavor = fl;
	void *be = be_observing();
	error_msg(&m, sqlstate, "could not serialize access");
	ck_assert_int_eq(observe(be, &m, &ev, &r), 0);
	ck_assert_uint_eq(ev.kind, LMS_EV_ERROR);
	ck_assert_str_eq(ev.sqlstate, sqlstate);
	ck_assert_str_eq(ev.text, "could not serialize access");
	pg_be_free(be);
	return (ev.flags & LMS_EV_TRANSIENT) != 0;
}

START_TEST(test_obs_error_transient)
{
	ck_assert(transient(&pg_flavor_postgres, "40001"));
	ck_assert(transient(&pg_flavor_postgres, "40P01"));
	ck_assert(!transient(&pg_flavor_postgres, "40003"));
	ck_assert(!transient(&pg_flavor_postgres, "42P01"));
	ck_assert(transient(&pg_flavor_cockroach, "40001"));
	ck_assert(transient(&pg_flavor_cockroach, "40003"));
	ck_assert(!transient(&pg_flavor_cockroach, "40P01"));
	ck_assert(!transient(&pg_flavor_cockroach, "23505"));
	ck_assert(transient(NULL, "40P01")); /* no flavor: postgres */
}
END_TEST

START_TEST(test_obs_error_fields)
{
	static struct msg m;
	struct lms_event ev;
	struct row r;
	void *be = be_observing();
	char text[600];
	memset(text, 'm', sizeof(text) - 1);
	text[sizeof(text) - 1] = 0;
	error_msg(&m, "42P01TOOLONG", text);
	ck_assert_int_eq(observe(be, &m, &ev, &r), 0);
	ck_assert_str_eq(ev.sqlstate, "42P01");
	ck_assert_uint_eq(strlen(ev.text), LMS_EV_TEXT_MAX - 1);
	/* No fields at all: an error with an unknown SQLSTATE. */
	msg_begin(&m, 'E');
	msg_bytes(&m, "", 1);
	msg_end(&m);
	ck_assert_int_eq(observe(be, &m, &ev, &r), 0);
	ck_assert_uint_eq(ev.kind, LMS_EV_ERROR);
	ck_assert_str_eq(ev.sqlstate, "");
	pg_be_free(be);
}
END_TEST

START_TEST(test_obs_ready_param_other)
{
	static struct msg m;
	struct lms_event ev;
	struct row r;
	void *be = be_observing();
	const char states[] = "ITE";
	const uint32_t txn[] = { LMS_TXN_IDLE, LMS_TXN_OPEN, LMS_TXN_FAILED };
	for (int k = 0; k < 3; k++) {
		msg_begin(&m, 'Z');
		msg_bytes(&m, states + k, 1);
		msg_end(&m);
		ck_assert_int_eq(observe(be, &m, &ev, &r), 0);
		ck_assert_uint_eq(ev.kind, LMS_EV_READY);
		ck_assert_uint_eq(ev.txn, txn[k]);
	}
	msg_begin(&m, 'S');
	msg_str(&m, "TimeZone");
	msg_str(&m, "Europe/Paris");
	msg_end(&m);
	ck_assert_int_eq(observe(be, &m, &ev, &r), 0);
	ck_assert_uint_eq(ev.kind, LMS_EV_PARAM);
	ck_assert_str_eq(ev.tag, "TimeZone");
	ck_assert_str_eq(ev.text, "Europe/Paris");
	/* A notice is not compared. */
	msg_begin(&m, 'N');
	msg_bytes(&m, "", 1);
	msg_end(&m);
	memset(&ev, 0xff, sizeof(ev));
	ck_assert_int_eq(pg_be_observe(be, m.b, m.n, &ev, collect, &r), 0);
	ck_assert_uint_eq(ev.kind, LMS_EV_NONE);
	pg_be_free(be);
}
END_TEST

/* be_observe on m must say malformed. */
static void assert_malformed(void *be, const struct msg *m)
{
	struct lms_event ev;
	struct row r;
	memset(&r, 0, sizeof(r));
	memset(&ev, 0, sizeof(ev));
	ck_assert_int_eq(pg_be_observe(be, m->b, m->n, &ev, collect, &r), -1);
	ck_assert_int_eq(r.n, 0); /* nothing emitted from a broken row */
}

START_TEST(test_obs_malformed)
{
	static struct msg m;
	void *be = be_observing();
	/* RowDescription: two columns announced, one there; trailing byte. */
	static const struct coldef one[] = { { 23, 0 } };
	row_desc(&m, one, 1);
	m.b[6] = 2;
	assert_malformed(be, &m);
	row_desc(&m, one, 1);
	msg_bytes(&m, "x", 1);
	msg_end(&m);
	assert_malformed(be, &m);
	/* DataRow: count too high, length past the end, bytes left over. */
	msg_begin(&m, 'D');
	msg_u16(&m, 2);
	row_text(&m, "1");
	msg_end(&m);
	assert_malformed(be, &m);
	msg_begin(&m, 'D');
	msg_u16(&m, 1);
	msg_u32(&m, 5);
	msg_bytes(&m, "ab", 2);
	msg_end(&m);
	assert_malformed(be, &m);
	msg_begin(&m, 'D');
	msg_u16(&m, 1);
	msg_u32(&m, 0xfffffffeu);
	msg_end(&m);
	assert_malformed(be, &m);
	msg_begin(&m, 'D');
	msg_u16(&m, 1);
	row_text(&m, "1");
	msg_bytes(&m, "z", 1);
	msg_end(&m);
	assert_malformed(be, &m);
	msg_begin(&m, 'D');
	msg_bytes(&m, "\0", 1);
	msg_end(&m);
	assert_malformed(be, &m);
	/* CommandComplete without its NUL, with a NUL inside, empty. */
	msg_begin(&m, 'C');
	msg_bytes(&m, "SELECT 1", 8);
	msg_end(&m);
	assert_malformed(be, &m);
	msg_begin(&m, 'C');
	msg_bytes(&m, "SEL\0T 1", 8);
	msg_end(&m);
	assert_malformed(be, &m);
	msg_begin(&m, 'C');
	msg_end(&m);
	assert_malformed(be, &m);
	/* ErrorResponse without the final NUL, with a field cut off. */
	error_msg(&m, "40001", "x");
	m.n--;
	msg_end(&m);
	assert_malformed(be, &m);
	msg_begin(&m, 'E');
	msg_bytes(&m, "Cabc", 4);
	msg_end(&m);
	assert_malformed(be, &m);
	/* ParameterStatus without a value, with bytes after it. */
	msg_begin(&m, 'S');
	msg_str(&m, "a");
	msg_end(&m);
	assert_malformed(be, &m);
	msg_begin(&m, 'S');
	msg_str(&m, "a");
	msg_str(&m, "b");
	msg_bytes(&m, "c", 1);
	msg_end(&m);
	assert_malformed(be, &m);
	/* ReadyForQuery with an unknown state or a wrong length. */
	msg_begin(&m, 'Z');
	msg_bytes(&m, "X", 1);
	msg_end(&m);
	assert_malformed(be, &m);
	msg_begin(&m, 'Z');
	msg_end(&m);
	assert_malformed(be, &m);
	/* A length field that disagrees with len; too short for a header. */
	msg_begin(&m, 'C');
	msg_str(&m, "SELECT 1");
	msg_end(&m);
	m.b[4]++;
	assert_malformed(be, &m);
	struct lms_event ev;
	ck_assert_int_eq(pg_be_observe(be, m.b, 4, &ev, collect, NULL), -1);
	pg_be_free(be);
}
END_TEST

START_TEST(test_obs_framing)
{
	static struct msg m;
	struct lms_frame f;
	void *be = be_observing();
	const char types[] = "TDCESZK";
	for (int k = 0; types[k]; k++) {
		msg_begin(&m, types[k]);
		msg_bytes(&m, "xx", 2);
		msg_end(&m);
		ck_assert_int_eq(pg_be_frame(be, m.b, m.n, &f), LMS_FRAME_OK);
		ck_assert_msg(f.flags & LMS_FRAME_NEED_BODY, "%c not asked for", types[k]);
	}
	/* Notices and async notifications stream. */
	msg_begin(&m, 'N');
	msg_end(&m);
	ck_assert_int_eq(pg_be_frame(be, m.b, m.n, &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.flags, 0);
	/* A row too big to decode streams, with its kind. */
	uint8_t hdr[5] = { 'D' };
	pg_put32(hdr + 1, LMS_DECODE_MAX);
	ck_assert_int_eq(pg_be_frame(be, hdr, 5, &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.flags, 0);
	ck_assert_uint_eq(f.kind, LMS_MSG_ROW);
	/* be_decode still forwards what observe asked for. */
	msg_begin(&m, 'D');
	msg_u16(&m, 0);
	msg_end(&m);
	struct lms_out out;
	struct lms_result res;
	out.len = 0;
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(pg_be_decode(be, m.b, m.n, &out, &res), 0);
	ck_assert_uint_eq(res.verdict, LMS_FORWARD);
	ck_assert_uint_eq(res.action, LMS_ACT_NONE);
	pg_be_free(be);
	/* The table has be_observe. */
	struct lms_dialect d;
	pg_dialect_fill(&d, "cockroach");
	ck_assert(d.be_observe == pg_be_observe);
	ck_assert_uint_ge(d.abi_minor, 1); /* be_observe came with 1.1 */
}
END_TEST

/* Counts values, and those that came out as "7". */
struct tally {
	uint32_t values, canonical;
};

static void count_canonical(void *ctx, const uint8_t *data, size_t len)
{
	struct tally *t = ctx;
	t->values++;
	t->canonical += data && len == 1 && data[0] == '7';
}

START_TEST(test_obs_many_columns)
{
	/* More columns than PostgreSQL allows: the first PG_COLS_MAX are
	 * typed, the rest pass through. */
	static struct msg m;
	struct lms_event ev;
	struct row r;
	void *be = be_observing();
	uint32_t n = PG_COLS_MAX + 1;
	msg_begin(&m, 'T');
	msg_u16(&m, (uint16_t)n);
	for (uint32_t k = 0; k < n; k++) {
		msg_str(&m, "");
		msg_u32(&m, 0);
		msg_u16(&m, 0);
		msg_u32(&m, 23);
		msg_u16(&m, 4);
		msg_u32(&m, 0);
		msg_u16(&m, 0);
	}
	msg_end(&m);
	ck_assert_int_eq(observe(be, &m, &ev, &r), 0);
	ck_assert_uint_eq(ev.ncols, n);
	msg_begin(&m, 'D');
	msg_u16(&m, (uint16_t)n);
	for (uint32_t k = 0; k < n; k++)
		row_text(&m, "007");
	msg_end(&m);
	struct tally t = { 0, 0 };
	ck_assert_int_eq(pg_be_observe(be, m.b, m.n, &ev, count_canonical, &t), 0);
	ck_assert_uint_eq(t.values, n);
	ck_assert_uint_eq(t.canonical, PG_COLS_MAX);
	pg_be_free(be);
}
END_TEST

/* ---- own-login startup ------------------------------------------------- */

/* pg_be_start's startup for a pgwire client with params (a list of
 * "key\0value\0" pairs, the final NUL included in plen). */
static struct lms_out *own_startup(const char *params, size_t plen, const char *urldb)
{
	static struct lms_backend_conf conf;
	static uint8_t raw[256];
	static struct lms_out out;
	memset(&conf, 0, sizeof(conf));
	conf.user = "lms_admin";
	conf.database = (char *)urldb;
	struct lms_be_opts o;
	memset(&o, 0, sizeof(o));
	o.conf = &conf;
	void *be = pg_be_new(&o);
	ck_assert_ptr_nonnull(be);
	pg_put32(raw, (uint32_t)(8 + plen));
	pg_put32(raw + 4, PG_PROTOCOL_3);
	memcpy(raw + 8, params, plen);
	struct lms_startup st = { "pgwire", "alice", "alice", raw, 8 + plen };
	struct lms_result res;
	memset(&res, 0, sizeof(res));
	out.len = 0;
	ck_assert_int_eq(pg_be_start(be, 0, &st, &out, &res), 0);
	ck_assert_uint_eq(res.action, LMS_ACT_NONE);
	pg_be_free(be);
	return &out;
}

START_TEST(test_own_login_carries_params)
{
	static const char params[] = "user\0alice\0replication\0database\0database\0sales\0client_encoding\0UTF8\0"
				     "DateStyle\0ISO, MDY\0TimeZone\0UTC\0extra_float_digits\0" "3\0"
				     "application_name\0psql\0options\0-c geqo=off\0";
	static const char want[] = "user\0lms_admin\0database\0sales\0client_encoding\0UTF8\0"
				   "DateStyle\0ISO, MDY\0TimeZone\0UTC\0extra_float_digits\0" "3\0"
				   "application_name\0psql\0options\0-c geqo=off\0";
	struct lms_out *out = own_startup(params, sizeof(params), "urldb");
	ck_assert_uint_eq(out->len, 8 + sizeof(want));
	ck_assert_uint_eq(pg_get32(out->data), out->len);
	ck_assert_uint_eq(pg_get32(out->data + 4), PG_PROTOCOL_3);
	ck_assert_mem_eq(out->data + 8, want, sizeof(want));
}
END_TEST

START_TEST(test_own_login_database_fallback)
{
	/* No database (or an empty one) from the client: the URL's. */
	static const char params[] = "user\0alice\0database\0\0TimeZone\0UTC\0";
	static const char want[] = "user\0lms_admin\0database\0urldb\0TimeZone\0UTC\0";
	struct lms_out *out = own_startup(params, sizeof(params), "urldb");
	ck_assert_uint_eq(out->len, 8 + sizeof(want));
	ck_assert_mem_eq(out->data + 8, want, sizeof(want));
	/* Neither: the client's database as the frontend named it. */
	static const char p2[] = "user\0alice\0";
	static const char w2[] = "user\0lms_admin\0database\0alice\0";
	out = own_startup(p2, sizeof(p2), NULL);
	ck_assert_uint_eq(out->len, 8 + sizeof(w2));
	ck_assert_mem_eq(out->data + 8, w2, sizeof(w2));
}
END_TEST

/* ---- prepared statements (be_note_request) ------------------------------ */

/* The core sends client message m to be (frontend-flagged NEED_BODY). */
static void note(void *be, const struct msg *m)
{
	pg_be_note_request(be, m->b, m->n);
}

/* The server answers m: framed, then, when asked for whole, decoded and
 * observed as the core does.  r gets a row's values. */
static void answer(void *be, const struct msg *m, struct row *r)
{
	struct lms_frame f;
	struct lms_out out;
	struct lms_result res;
	struct lms_event ev;
	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(pg_be_frame(be, m->b, m->n, &f), LMS_FRAME_OK);
	ck_assert_uint_eq(f.len, m->n);
	if (!(f.flags & LMS_FRAME_NEED_BODY))
		return;
	out.len = 0;
	memset(&res, 0, sizeof(res));
	memset(&ev, 0, sizeof(ev));
	ck_assert_int_eq(pg_be_decode(be, m->b, m->n, &out, &res), 0);
	ck_assert_int_eq(pg_be_observe(be, m->b, m->n, &ev, collect, r), 0);
}

static void note_describe(void *be, char what, const char *name)
{
	static struct msg m;
	msg_begin(&m, 'D');
	msg_bytes(&m, &what, 1);
	msg_str(&m, name);
	msg_end(&m);
	note(be, &m);
}

/* Bind portal to stmt with nf result format codes fmt (one parameter). */
static void note_bind(void *be, const char *portal, const char *stmt, int nf, const uint16_t *fmt)
{
	static struct msg m;
	msg_begin(&m, 'B');
	msg_str(&m, portal);
	msg_str(&m, stmt);
	msg_u16(&m, 1);
	msg_u16(&m, 0);
	msg_u16(&m, 1);
	row_text(&m, "42");
	msg_u16(&m, (uint16_t)nf);
	for (int k = 0; k < nf; k++)
		msg_u16(&m, fmt[k]);
	msg_end(&m);
	note(be, &m);
}

static void note_type(void *be, char type, const char *name)
{
	static struct msg m;
	msg_begin(&m, type);
	if (type == 'E') {
		msg_str(&m, name);
		msg_u32(&m, 0);
	} else if (type == 'P') {
		msg_str(&m, name);
		msg_str(&m, "select a from t where b = $1");
		msg_u16(&m, 0);
	} else if (type == 'Q') {
		msg_str(&m, name);
	}
	msg_end(&m);
	note(be, &m);
}

/* A server message with no body, or a one-byte one (ReadyForQuery). */
static void answer_bare(void *be, char type)
{
	static struct msg m;
	struct row r;
	msg_begin(&m, type);
	if (type == 'Z')
		msg_bytes(&m, "I", 1);
	if (type == 't')
		msg_u16(&m, 0);
	if (type == 'C')
		msg_str(&m, "SELECT 1");
	msg_end(&m);
	answer(be, &m, &r);
}

static void answer_cols(void *be, const struct coldef *cols, int n)
{
	static struct msg m;
	struct row r;
	row_desc(&m, cols, n);
	answer(be, &m, &r);
}

/* A one-column DataRow holding p[0..len); returns its canonical text. */
static const char *answer_row(void *be, const void *p, int len)
{
	static struct msg m;
	static struct row r;
	msg_begin(&m, 'D');
	msg_u16(&m, 1);
	row_val(&m, p, len);
	msg_end(&m);
	answer(be, &m, &r);
	ck_assert_int_eq(r.n, 1);
	return r.v[0];
}

static const uint8_t bin4_5[] = { 0, 0, 0, 5 };
static const uint8_t bin8_5[] = { 0, 0, 0, 0, 0, 0, 0, 5 };
static const uint16_t fmt_bin[] = { 1 };
static const struct coldef int4_text[] = { { 23, 0 } };
static const struct coldef int8_text[] = { { 20, 0 } };

/* Prepare stmt as pgx does: Parse + Describe('S') + Sync. */
static void note_prepare(void *be, const char *stmt)
{
	note_type(be, 'P', stmt);
	note_describe(be, 'S', stmt);
	note_type(be, 'S', NULL);
}

/* The answers to note_prepare: one column of type (NULL: NoData). */
static void answer_prepare(void *be, const struct coldef *type)
{
	answer_bare(be, '1');
	answer_bare(be, 't');
	if (type)
		answer_cols(be, type, 1);
	else
		answer_bare(be, 'n');
	answer_bare(be, 'Z');
}

/* Bind stmt to the unnamed portal with nf result formats, Execute, Sync. */
static void note_run(void *be, const char *stmt, int nf, const uint16_t *fmt)
{
	note_bind(be, "", stmt, nf, fmt);
	note_type(be, 'E', "");
	note_type(be, 'S', NULL);
}

/* pgx: prepared with text formats in the RowDescription, then run with
 * binary results: the row comes without a RowDescription. */
static const char *pgx_run(void *be, const char *stmt, const struct coldef *type, const void *v, int len)
{
	note_prepare(be, stmt);
	answer_prepare(be, type);
	note_run(be, stmt, 1, fmt_bin);
	answer_bare(be, '2');
	const char *got = answer_row(be, v, len);
	answer_bare(be, 'C');
	answer_bare(be, 'Z');
	return got;
}

START_TEST(test_prep_pgx_binary)
{
	void *src = be_logged_in();
	void *dst = be_logged_in();
	char a[128];
	snprintf(a, sizeof(a), "%s", pgx_run(src, "stmtcache_1", int4_text, bin4_5, 4));
	ck_assert_str_eq(a, "5");
	ck_assert_str_eq(pgx_run(dst, "stmtcache_1", int8_text, bin8_5, 8), a);
	/* Without notes (an older core) the rows fall back to the last
	 * RowDescription: text, so the binary bytes pass as they are. */
	void *old = be_observing();
	answer_cols(old, int4_text, 1);
	ck_assert_mem_eq(answer_row(old, bin4_5, 4), bin4_5, 4);
	pg_be_free(src);
	pg_be_free(dst);
	pg_be_free(old);
}
END_TEST

START_TEST(test_prep_noted_during_login)
{
	/* A shadow is sent the first request while it logs in: the login's
	 * own ReadyForQuery must not end that request's Sync. */
	void *be = be_observing();
	note_prepare(be, "s1");
	answer_bare(be, 'Z');
	answer_prepare(be, int4_text);
	note_run(be, "s1", 1, fmt_bin);
	answer_bare(be, '2');
	ck_assert_str_eq(answer_row(be, bin4_5, 4), "5");
	pg_be_free(be);
}
END_TEST

START_TEST(test_prep_two_statements)
{
	static const struct coldef text1[] = { { 25, 0 } };
	void *be = be_logged_in();
	note_type(be, 'P', "s1");
	note_describe(be, 'S', "s1");
	note_type(be, 'P', "s2");
	note_describe(be, 'S', "s2");
	note_type(be, 'S', NULL);
	answer_bare(be, '1');
	answer_bare(be, 't');
	answer_cols(be, int4_text, 1);
	answer_bare(be, '1');
	answer_bare(be, 't');
	answer_cols(be, text1, 1);
	answer_bare(be, 'Z');
	/* The last RowDescription (s2's text) must not type s1's rows. */
	note_bind(be, "p1", "s1", 1, fmt_bin);
	note_bind(be, "p2", "s2", 0, NULL);
	note_type(be, 'E', "p1");
	note_type(be, 'E', "p2");
	note_bind(be, "", "s1", 0, NULL);
	note_type(be, 'E', "");
	note_type(be, 'S', NULL);
	answer_bare(be, '2');
	answer_bare(be, '2');
	ck_assert_str_eq(answer_row(be, bin4_5, 4), "5");
	answer_bare(be, 'C');
	ck_assert_str_eq(answer_row(be, "\x01\x02", 2), "\x01\x02");
	answer_bare(be, 'C');
	answer_bare(be, '2');
	ck_assert_str_eq(answer_row(be, "0005", 4), "5");
	answer_bare(be, 'C');
	answer_bare(be, 'Z');
	pg_be_free(be);
}
END_TEST

START_TEST(test_prep_unnamed_and_lazy)
{
	void *be = be_logged_in();
	ck_assert_str_eq(pgx_run(be, "", int4_text, bin4_5, 4), "5");
	/* Each unnamed Parse replaces the unnamed statement. */
	ck_assert_str_eq(pgx_run(be, "", int8_text, bin8_5, 8), "5");
	/* One pipeline: Describe('S') is answered before the rows. */
	note_type(be, 'P', "");
	note_describe(be, 'S', "");
	note_run(be, "", 1, fmt_bin);
	answer_bare(be, '1');
	answer_bare(be, 't');
	answer_cols(be, int4_text, 1);
	answer_bare(be, '2');
	ck_assert_str_eq(answer_row(be, bin4_5, 4), "5");
	answer_bare(be, 'C');
	answer_bare(be, 'Z');
	pg_be_free(be);
}
END_TEST

START_TEST(test_prep_describe_portal)
{
	static const struct coldef int8_bin[] = { { 20, 1 } };
	void *be = be_logged_in();
	/* libpq's PQexecParams: the portal's RowDescription is authoritative. */
	note_type(be, 'P', "");
	note_bind(be, "", "", 1, fmt_bin);
	note_describe(be, 'P', "");
	note_type(be, 'E', "");
	note_type(be, 'S', NULL);
	answer_bare(be, '1');
	answer_bare(be, '2');
	answer_cols(be, int8_bin, 1);
	ck_assert_str_eq(answer_row(be, bin8_5, 8), "5");
	answer_bare(be, 'C');
	answer_bare(be, 'Z');
	/* A simple Query afterwards: its own RowDescription. */
	note_type(be, 'Q', "select 5");
	answer_cols(be, int4_text, 1);
	ck_assert_str_eq(answer_row(be, "05", 2), "5");
	answer_bare(be, 'C');
	answer_bare(be, 'Z');
	pg_be_free(be);
}
END_TEST

START_TEST(test_prep_nodata)
{
	void *be = be_logged_in();
	note_prepare(be, "ins");
	answer_prepare(be, NULL);
	note_bind(be, "", "ins", 1, fmt_bin);
	note_type(be, 'E', "");
	note_bind(be, "", "ins", 1, fmt_bin);
	note_describe(be, 'P', "");
	note_type(be, 'E', "");
	note_type(be, 'S', NULL);
	answer_bare(be, '2');
	answer_bare(be, 'C');
	answer_bare(be, '2');
	answer_bare(be, 'n');
	answer_bare(be, 'C');
	answer_bare(be, 'Z');
	/* Still in step: a prepared statement after it. */
	ck_assert_str_eq(pgx_run(be, "s1", int4_text, bin4_5, 4), "5");
	pg_be_free(be);
}
END_TEST

START_TEST(test_prep_error_mid_pipeline)
{
	static struct msg e;
	struct row r;
	error_msg(&e, "22012", "division by zero");
	void *be = be_logged_in();
	ck_assert_str_eq(pgx_run(be, "s1", int4_text, bin4_5, 4), "5");
	ck_assert_str_eq(pgx_run(be, "s8", int8_text, bin8_5, 8), "5");
	/* The first Execute fails: the server skips to Sync. */
	note_bind(be, "", "s1", 1, fmt_bin);
	note_type(be, 'E', "");
	note_run(be, "s8", 1, fmt_bin);
	answer_bare(be, '2');
	answer(be, &e, &r);
	answer_bare(be, 'Z');
	note_run(be, "s8", 1, fmt_bin);
	answer_bare(be, '2');
	ck_assert_str_eq(answer_row(be, bin8_5, 8), "5");
	answer_bare(be, 'C');
	answer_bare(be, 'Z');
	/* The error arrives before the client sent its Sync: what it sends
	 * until then is skipped by the server, and by us. */
	note_bind(be, "", "nosuch", 1, fmt_bin);
	answer(be, &e, &r);
	note_type(be, 'E', "");
	note_describe(be, 'S', "s1");
	note_type(be, 'S', NULL);
	answer_bare(be, 'Z');
	note_run(be, "s1", 1, fmt_bin);
	answer_bare(be, '2');
	ck_assert_str_eq(answer_row(be, bin4_5, 4), "5");
	answer_bare(be, 'C');
	answer_bare(be, 'Z');
	pg_be_free(be);
}
END_TEST

START_TEST(test_prep_bounded)
{
	void *be = be_logged_in();
	char name[32];
	/* More statements than remembered: the oldest are forgotten, the
	 * newest still typed. */
	for (int k = 0; k < PG_TRACK_STMTS + 10; k++) {
		snprintf(name, sizeof(name), "s%d", k);
		ck_assert_str_eq(pgx_run(be, name, int4_text, bin4_5, 4), "5");
	}
	/* A pipeline longer than the queue: tracking pauses (rows untyped
	 * as before), then resumes once every Sync was answered. */
	for (int k = 0; k < PG_TRACK_PENDING + 5; k++) {
		note_bind(be, "", "s300", 1, fmt_bin);
		note_type(be, 'E', "");
	}
	note_type(be, 'S', NULL);
	answer_bare(be, 'Z');
	ck_assert_str_eq(pgx_run(be, "s300", int4_text, bin4_5, 4), "5");
	pg_be_free(be);
}
END_TEST

START_TEST(test_prep_malformed_notes)
{
	static struct msg m;
	void *be = be_logged_in();
	/* Truncated or inconsistent client messages are ignored. */
	static const char *const bad[] = { "B\0\0\0\x06x", "B\0\0\0\x0a\0s\0\0\x05", "D\0\0\0\x05S", "E\0\0\0\x04",
					   "C\0\0\0\x06Xa", "P\0\0\0\x05p" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		size_t n = 1 + (size_t)bad[k][4];
		memcpy(m.b, bad[k], n);
		pg_be_note_request(be, m.b, n);
		pg_be_note_request(be, m.b, n > 5 ? n - 1 : n);
	}
	pg_be_note_request(be, m.b, 3);
	ck_assert_str_eq(pgx_run(be, "s1", int4_text, bin4_5, 4), "5");
	pg_be_free(be);
}
END_TEST

static Suite *observe_suite(void)
{
	Suite *s = suite_create("pgwire_observe");
	TCase *fpc = tcase_create("fingerprint");
	tcase_add_checked_fixture(fpc, setup, NULL);
	tcase_add_test(fpc, test_fp_literals);
	tcase_add_test(fpc, test_fp_comments_space_case);
	tcase_add_test(fpc, test_fp_in_list);
	tcase_add_test(fpc, test_fp_order_by);
	tcase_add_test(fpc, test_fp_setting);
	tcase_add_test(fpc, test_fp_unterminated);
	tcase_add_test(fpc, test_fp_truncation);
	tcase_add_test(fpc, test_fp_word_at_limit);
	suite_add_tcase(s, fpc);

	TCase *fe = tcase_create("frontend");
	tcase_add_checked_fixture(fe, setup, NULL);
	tcase_add_test(fe, test_fe_query_fingerprint);
	tcase_add_test(fe, test_fe_not_observing);
	tcase_add_test(fe, test_fe_replay_flags);
	tcase_add_test(fe, test_fe_state_flags);
	tcase_add_test(fe, test_fe_oversized_not_decoded);
	tcase_add_test(fe, test_fe_oversized_named);
	tcase_add_test(fe, test_fe_statements);
	tcase_add_test(fe, test_fe_statements_bounded);
	tcase_add_test(fe, test_fe_malformed_statements);
	suite_add_tcase(s, fe);

	TCase *be = tcase_create("observe");
	tcase_add_checked_fixture(be, setup, NULL);
	tcase_add_test(be, test_obs_rows_text_and_binary_equal);
	tcase_add_test(be, test_norm_numbers);
	tcase_add_test(be, test_norm_families);
	tcase_add_test(be, test_norm_binary_numeric);
	tcase_add_test(be, test_obs_row_untyped);
	tcase_add_test(be, test_obs_complete);
	tcase_add_test(be, test_obs_error_transient);
	tcase_add_test(be, test_obs_error_fields);
	tcase_add_test(be, test_obs_ready_param_other);
	tcase_add_test(be, test_obs_malformed);
	tcase_add_test(be, test_obs_framing);
	tcase_add_test(be, test_obs_many_columns);
	suite_add_tcase(s, be);

	TCase *prep = tcase_create("prepared");
	tcase_add_checked_fixture(prep, setup, NULL);
	tcase_add_test(prep, test_prep_pgx_binary);
	tcase_add_test(prep, test_prep_noted_during_login);
	tcase_add_test(prep, test_prep_two_statements);
	tcase_add_test(prep, test_prep_unnamed_and_lazy);
	tcase_add_test(prep, test_prep_describe_portal);
	tcase_add_test(prep, test_prep_nodata);
	tcase_add_test(prep, test_prep_error_mid_pipeline);
	tcase_add_test(prep, test_prep_bounded);
	tcase_add_test(prep, test_prep_malformed_notes);
	suite_add_tcase(s, prep);

	TCase *own = tcase_create("own_login");
	tcase_add_checked_fixture(own, setup, NULL);
	tcase_add_test(own, test_own_login_carries_params);
	tcase_add_test(own, test_own_login_database_fallback);
	suite_add_tcase(s, own);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(observe_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
