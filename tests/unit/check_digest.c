/*
 * check_digest.c - core/digest.c: row hashing, folding events into an
 * outcome, and the order in which lms_outcome_compare reports the first
 * difference.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"

/* Hash one row of NUL-terminated values; a NULL pointer is SQL NULL. */
static uint64_t row_of(int n, const char *const *vals)
{
	uint64_t h;
	lms_row_hash_begin(&h);
	for (int i = 0; i < n; i++)
		lms_row_hash_value(&h, (const uint8_t *)vals[i], vals[i] ? strlen(vals[i]) : 0);
	return h;
}

static void feed(struct lms_outcome *o, uint32_t kind, uint32_t flags)
{
	struct lms_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.flags = flags;
	lms_outcome_event(o, &ev, 0);
}

static void feed_columns(struct lms_outcome *o, uint32_t ncols)
{
	struct lms_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = LMS_EV_COLUMNS;
	ev.ncols = ncols;
	lms_outcome_event(o, &ev, 0);
}

static void feed_row(struct lms_outcome *o, const char *a, const char *b)
{
	const char *vals[2] = { a, b };
	struct lms_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = LMS_EV_ROW;
	ev.ncols = 2;
	lms_outcome_event(o, &ev, row_of(2, vals));
}

static void feed_complete(struct lms_outcome *o, const char *tag, uint64_t rows)
{
	struct lms_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = LMS_EV_COMPLETE;
	ev.flags = LMS_EV_ROWS_KNOWN;
	ev.rows = rows;
	snprintf(ev.tag, sizeof(ev.tag), "%s", tag);
	lms_outcome_event(o, &ev, 0);
}

static void feed_error(struct lms_outcome *o, const char *sqlstate, const char *msg, uint32_t flags)
{
	struct lms_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = LMS_EV_ERROR;
	ev.flags = flags;
	snprintf(ev.sqlstate, sizeof(ev.sqlstate), "%s", sqlstate);
	snprintf(ev.text, sizeof(ev.text), "%s", msg);
	lms_outcome_event(o, &ev, 0);
}

/* A SELECT of three two-column rows in the order given by idx. */
static void select3(struct lms_outcome *o, const int idx[3])
{
	static const char *const rows[3][2] = { { "1", "a" }, { "2", "b" }, { "3", NULL } };
	lms_outcome_reset(o);
	feed_columns(o, 2);
	for (int i = 0; i < 3; i++)
		feed_row(o, rows[idx[i]][0], rows[idx[i]][1]);
	feed_complete(o, "SELECT", 3);
	feed(o, LMS_EV_READY, 0);
}

static struct lms_outcome t, o;
static const int in_order[3] = { 0, 1, 2 };
static const int reversed[3] = { 2, 1, 0 };

START_TEST(test_same_answer)
{
	select3(&t, in_order);
	select3(&o, in_order);
	ck_assert(t.done);
	ck_assert_uint_eq(t.rows, 3);
	ck_assert_uint_eq(t.affected, 3);
	ck_assert_uint_eq(t.ncols, 2);
	ck_assert_uint_eq(t.statements, 1);
	ck_assert_str_eq(t.tag, "SELECT");
	ck_assert_int_eq(lms_outcome_compare(&t, &o, LMS_CMP_ORDERED), LMS_DIFF_NONE);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_NONE);
}
END_TEST

START_TEST(test_order)
{
	select3(&t, in_order);
	select3(&o, reversed);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_NONE);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, LMS_CMP_ORDERED), LMS_DIFF_VALUES);
}
END_TEST

START_TEST(test_multiset_counts_duplicates)
{
	/* {x, x, y} and {x, y, y}: same count, different multisets. */
	lms_outcome_reset(&t);
	lms_outcome_reset(&o);
	feed_row(&t, "x", "1");
	feed_row(&t, "x", "1");
	feed_row(&t, "y", "2");
	feed_row(&o, "x", "1");
	feed_row(&o, "y", "2");
	feed_row(&o, "y", "2");
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_VALUES);
}
END_TEST

START_TEST(test_canonical_bytes)
{
	/* int4 5 and int8 5 reach the core as the same canonical text. */
	const char *a[1] = { "5" }, *b[1] = { "5" }, *c[1] = { "6" };
	ck_assert_uint_eq(row_of(1, a), row_of(1, b));
	ck_assert_uint_ne(row_of(1, a), row_of(1, c));
}
END_TEST

START_TEST(test_value_boundaries)
{
	const char *ab_c[2] = { "ab", "c" }, *a_bc[2] = { "a", "bc" };
	ck_assert_uint_ne(row_of(2, ab_c), row_of(2, a_bc));
	const char *null1[1] = { NULL }, *empty1[1] = { "" };
	ck_assert_uint_ne(row_of(1, null1), row_of(1, empty1));
	const char *none[1] = { NULL };
	ck_assert_uint_ne(row_of(0, none), row_of(1, empty1)); /* no column vs one empty */
	const char *two_empty[2] = { "", "" };
	ck_assert_uint_ne(row_of(1, empty1), row_of(2, two_empty));
	const char *null_a[2] = { NULL, "a" }, *a_null[2] = { "a", NULL };
	ck_assert_uint_ne(row_of(2, null_a), row_of(2, a_null));
	/* A value holding the bytes of a length header is still one value. */
	uint64_t h1, h2;
	lms_row_hash_begin(&h1);
	lms_row_hash_value(&h1, (const uint8_t *)"\0\0", 2);
	lms_row_hash_begin(&h2);
	lms_row_hash_value(&h2, NULL, 0);
	ck_assert_uint_ne(h1, h2);
}
END_TEST

/* Short values are hashed with their header in one pass, long ones after
 * it: around that limit, every byte of a value still counts, and so does
 * where one value ends. */
START_TEST(test_short_and_long_values)
{
	for (size_t len = 50; len <= 60; len++) {
		char v[64], w[64];
		memset(v, 'x', len);
		v[len] = 0;
		memcpy(w, v, len + 1);
		w[len - 1] = 'y';
		const char *rv[1] = { v }, *rw[1] = { w };
		ck_assert_uint_ne(row_of(1, rv), row_of(1, rw));
		const char *rv2[1] = { v };
		ck_assert_uint_eq(row_of(1, rv), row_of(1, rv2));
		/* one value vs the same bytes split in two */
		char head[64];
		memcpy(head, v, len - 1);
		head[len - 1] = 0;
		const char *split[2] = { head, "x" };
		ck_assert_uint_ne(row_of(1, rv), row_of(2, split));
	}
}
END_TEST

START_TEST(test_values_differ)
{
	select3(&t, in_order);
	lms_outcome_reset(&o);
	feed_columns(&o, 2);
	feed_row(&o, "1", "a");
	feed_row(&o, "2", "B");
	feed_row(&o, "3", NULL);
	feed_complete(&o, "SELECT", 3);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_VALUES);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, LMS_CMP_ORDERED), LMS_DIFF_VALUES);
}
END_TEST

START_TEST(test_counts_differ)
{
	select3(&t, in_order);
	/* one row fewer, same COMPLETE count: ROWS */
	lms_outcome_reset(&o);
	feed_columns(&o, 2);
	feed_row(&o, "1", "a");
	feed_row(&o, "2", "b");
	feed_complete(&o, "SELECT", 3);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_ROWS);
	/* a different column count comes before rows */
	feed_columns(&o, 3);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_COLUMNS);
	/* the same columns and rows with another affected count: AFFECTED */
	lms_outcome_reset(&o);
	feed_columns(&o, 2);
	feed_row(&o, "1", "a");
	feed_row(&o, "2", "b");
	feed_row(&o, "3", "c");
	feed_complete(&o, "SELECT", 2);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_AFFECTED);
}
END_TEST

START_TEST(test_tags)
{
	lms_outcome_reset(&t);
	lms_outcome_reset(&o);
	feed_complete(&t, "INSERT", 1);
	feed_complete(&o, "UPDATE", 1);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_TAG);
	/* tags come before counts */
	lms_outcome_reset(&o);
	feed_complete(&o, "UPDATE", 7);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_TAG);
	/* every statement's tag counts, in order; tag[] keeps the first */
	lms_outcome_reset(&t);
	lms_outcome_reset(&o);
	feed_complete(&t, "BEGIN", 0);
	feed_complete(&t, "INSERT", 1);
	feed_complete(&o, "INSERT", 1);
	feed_complete(&o, "BEGIN", 0);
	ck_assert_str_eq(t.tag, "BEGIN");
	ck_assert_uint_eq(t.statements, 2);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_TAG);
	/* "CREATE TABLE" then "X" is not "CREATE" then "TABLE X" */
	lms_outcome_reset(&t);
	lms_outcome_reset(&o);
	feed_complete(&t, "CREATE TABLE", 0);
	feed_complete(&t, "X", 0);
	feed_complete(&o, "CREATE", 0);
	feed_complete(&o, "TABLE X", 0);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_TAG);
}
END_TEST

START_TEST(test_affected_unknown_not_counted)
{
	struct lms_event ev;
	lms_outcome_reset(&t);
	memset(&ev, 0, sizeof(ev));
	ev.kind = LMS_EV_COMPLETE;
	ev.rows = 99; /* without ROWS_KNOWN: ignored */
	snprintf(ev.tag, sizeof(ev.tag), "CREATE TABLE");
	lms_outcome_event(&t, &ev, 0);
	ck_assert_uint_eq(t.affected, 0);
	ck_assert_uint_eq(t.statements, 1);
}
END_TEST

/* Two UPDATEs of 1 and 2 rows are not two of 2 and 1: the same sum,
 * different statements. */
START_TEST(test_affected_statement_by_statement)
{
	lms_outcome_reset(&t);
	lms_outcome_reset(&o);
	feed_complete(&t, "UPDATE", 1);
	feed_complete(&t, "UPDATE", 2);
	feed_complete(&o, "UPDATE", 2);
	feed_complete(&o, "UPDATE", 1);
	ck_assert_uint_eq(t.affected, o.affected); /* shown: the sum */
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_AFFECTED);
	lms_outcome_reset(&o);
	feed_complete(&o, "UPDATE", 1);
	feed_complete(&o, "UPDATE", 2);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_NONE);
}
END_TEST

/* Unordered, each statement's rows are one multiset: a row that moved
 * from the first SELECT's result to the second's is a difference; the
 * order within each is not. */
START_TEST(test_multiset_per_statement)
{
	lms_outcome_reset(&t);
	lms_outcome_reset(&o);
	feed_row(&t, "1", "a");
	feed_row(&t, "2", "b");
	feed_complete(&t, "SELECT", 2);
	feed_row(&t, "3", "c");
	feed_complete(&t, "SELECT", 1);
	feed_row(&o, "2", "b");
	feed_row(&o, "1", "a");
	feed_complete(&o, "SELECT", 2);
	feed_row(&o, "3", "c");
	feed_complete(&o, "SELECT", 1);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_NONE);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, LMS_CMP_ORDERED), LMS_DIFF_VALUES);
	lms_outcome_reset(&o);
	feed_row(&o, "1", "a");
	feed_row(&o, "3", "c");
	feed_complete(&o, "SELECT", 2);
	feed_row(&o, "2", "b");
	feed_complete(&o, "SELECT", 1);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_VALUES);
	/* rows of a result not completed (an error, a suspended portal) count too */
	lms_outcome_reset(&t);
	lms_outcome_reset(&o);
	feed_row(&t, "1", "a");
	feed_row(&o, "9", "z");
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_VALUES);
}
END_TEST

START_TEST(test_errors_by_class)
{
	lms_outcome_reset(&t);
	lms_outcome_reset(&o);
	feed_error(&t, "23505", "duplicate key", 0);
	feed_error(&o, "23503", "foreign key", 0);
	ck_assert_str_eq(t.sqlstate, "23505");
	ck_assert_str_eq(t.error, "duplicate key");
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_NONE);

	lms_outcome_reset(&o);
	feed_error(&o, "42P01", "no such table", 0);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_SQLSTATE);

	/* only the first error counts */
	feed_error(&t, "42P01", "second", 0);
	ck_assert_str_eq(t.sqlstate, "23505");
	ck_assert_str_eq(t.error, "duplicate key");
}
END_TEST

START_TEST(test_one_side_error)
{
	select3(&t, in_order);
	lms_outcome_reset(&o);
	feed_error(&o, "42703", "no such column", 0);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_ERROR);
	ck_assert_int_eq(lms_outcome_compare(&o, &t, 0), LMS_DIFF_ERROR);
	/* an error without a SQLSTATE or message is still an error */
	lms_outcome_reset(&o);
	feed_error(&o, "", "", 0);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_ERROR);
}
END_TEST

START_TEST(test_transient)
{
	select3(&t, in_order);
	lms_outcome_reset(&o);
	feed_error(&o, "40001", "restart transaction", LMS_EV_TRANSIENT);
	ck_assert(o.transient);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_TRANSIENT);
	ck_assert_int_eq(lms_outcome_compare(&o, &t, 0), LMS_DIFF_TRANSIENT);
	/* transient wins over an error on the other side */
	lms_outcome_reset(&t);
	feed_error(&t, "23505", "duplicate key", 0);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_TRANSIENT);
}
END_TEST

START_TEST(test_lost)
{
	select3(&t, in_order);
	lms_outcome_reset(&o);
	feed_error(&o, "40001", "restart", LMS_EV_TRANSIENT);
	lms_outcome_lost(&o, "timeout after 5 s");
	ck_assert(o.lost);
	ck_assert(o.done);
	ck_assert_str_eq(o.error, "timeout after 5 s");
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_LOST);
}
END_TEST

START_TEST(test_oversized)
{
	/* a row too large to copy is counted, its values not compared: at
	 * best unchecked, whatever its size (CHAR padding, a numeric's scale
	 * or another wire protocol make sizes differ for equal values) */
	select3(&t, in_order);
	select3(&o, in_order);
	lms_outcome_oversized(&t, LMS_MSG_ROW, 100000);
	lms_outcome_oversized(&o, LMS_MSG_ROW, 90000);
	ck_assert_uint_eq(t.rows, 4);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, LMS_CMP_ORDERED), LMS_DIFF_UNCHECKED);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_UNCHECKED);
	/* the same rows left out on both sides: a difference in the
	 * described ones is still found */
	feed_row(&t, "4", "d");
	feed_row(&o, "4", "e");
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_VALUES);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, LMS_CMP_ORDERED), LMS_DIFF_VALUES);
	/* an oversized row on one side, a decoded one on the other (the
	 * memory budget copied one side's only): the described rows are not
	 * the same rows, nothing can be said about the values */
	select3(&t, in_order);
	select3(&o, in_order);
	lms_outcome_oversized(&t, LMS_MSG_ROW, 40000);
	feed_row(&o, "4", "d");
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_UNCHECKED);
	ck_assert_int_eq(lms_outcome_compare(&o, &t, LMS_CMP_ORDERED), LMS_DIFF_UNCHECKED);
	/* ... but a difference in what both counted still is one */
	feed_row(&t, "5", "e");
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_ROWS);
	/* an oversized error fails the request as XX000, saying why; an
	 * earlier error stays the one compared; other kinds change nothing */
	select3(&t, in_order);
	select3(&o, in_order);
	lms_outcome_oversized(&o, LMS_MSG_NOTICE, 50000);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_NONE);
	lms_outcome_oversized(&o, LMS_MSG_ERROR, 50000);
	ck_assert_str_eq(o.sqlstate, "XX000");
	ck_assert_ptr_nonnull(strstr(o.error, "50000 bytes"));
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_ERROR);
	lms_outcome_oversized(&o, LMS_MSG_ERROR, 60000);
	ck_assert_ptr_nonnull(strstr(o.error, "50000 bytes"));
}
END_TEST

/* Each side's memory budget decides on its own which large rows it
 * copies.  The truth copied large row A but not B, the shadow B but not
 * A: equal answers, as many rows left out on each side, but not the same
 * ones: unchecked (before: the described rows, A against B, compared as
 * a 'values' mismatch). */
START_TEST(test_copies_refused_on_different_rows)
{
	lms_outcome_reset(&t);
	lms_outcome_reset(&o);
	feed_columns(&t, 2);
	feed_columns(&o, 2);
	/* row A (40000 bytes on the wire), row B (50000): equal on both sides */
	feed_row(&t, "A", "a...");          /* truth: A copied, described */
	lms_outcome_oversized(&o, LMS_MSG_ROW, 40000); /* shadow: A refused */
	lms_outcome_oversized(&t, LMS_MSG_ROW, 50000); /* truth: B refused */
	feed_row(&o, "B", "b...");          /* shadow: B copied, described */
	feed_complete(&t, "SELECT 2", 2);
	feed_complete(&o, "SELECT 2", 2);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, 0), LMS_DIFF_UNCHECKED);
	ck_assert_int_eq(lms_outcome_compare(&t, &o, LMS_CMP_ORDERED), LMS_DIFF_UNCHECKED);
}
END_TEST

START_TEST(test_ready_and_reset)
{
	struct lms_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = LMS_EV_READY;
	ev.txn = LMS_TXN_OPEN;
	lms_outcome_reset(&t);
	ck_assert(!t.done);
	lms_outcome_event(&t, &ev, 0);
	ck_assert(t.done);
	ck_assert_uint_eq(t.txn, LMS_TXN_OPEN);
	feed(&t, LMS_EV_PARAM, 0); /* ignored */
	feed(&t, LMS_EV_NONE, 0);
	lms_outcome_reset(&o);
	o.done = true;
	o.txn = LMS_TXN_OPEN;
	ck_assert_int_eq(memcmp(&t, &o, sizeof(t)), 0);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(lms_diff_name(LMS_DIFF_NONE), "none");
	ck_assert_str_eq(lms_diff_name(LMS_DIFF_TRANSIENT), "transient");
	ck_assert_str_eq(lms_diff_name(LMS_DIFF_LOST), "lost");
	ck_assert_str_eq(lms_diff_name(LMS_DIFF_ERROR), "error");
	ck_assert_str_eq(lms_diff_name(LMS_DIFF_SQLSTATE), "sqlstate");
	ck_assert_str_eq(lms_diff_name(LMS_DIFF_TAG), "tag");
	ck_assert_str_eq(lms_diff_name(LMS_DIFF_AFFECTED), "affected");
	ck_assert_str_eq(lms_diff_name(LMS_DIFF_COLUMNS), "columns");
	ck_assert_str_eq(lms_diff_name(LMS_DIFF_ROWS), "rows");
	ck_assert_str_eq(lms_diff_name(LMS_DIFF_VALUES), "values");
	ck_assert_str_eq(lms_diff_name(LMS_DIFF_UNCHECKED), "unchecked");
	ck_assert_str_eq(lms_diff_name(LMS_DIFFS), "unknown");
}
END_TEST

START_TEST(test_long_texts_cut)
{
	struct lms_event ev;
	memset(&ev, 'x', sizeof(ev)); /* no NUL anywhere in tag or text */
	ev.kind = LMS_EV_ERROR;
	ev.flags = 0;
	lms_outcome_reset(&t);
	lms_outcome_event(&t, &ev, 0);
	ck_assert_uint_eq(strlen(t.error), LMS_OUTCOME_ERR_MAX - 1);
	ck_assert_uint_eq(strlen(t.sqlstate), 5);
	ev.kind = LMS_EV_COMPLETE;
	lms_outcome_event(&t, &ev, 0);
	ck_assert_uint_eq(strlen(t.tag), LMS_TAG_MAX - 1);
}
END_TEST

static Suite *digest_suite(void)
{
	Suite *s = suite_create("digest");
	TCase *tc = tcase_create("compare");
	tcase_add_test(tc, test_same_answer);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_multiset_counts_duplicates);
	tcase_add_test(tc, test_canonical_bytes);
	tcase_add_test(tc, test_value_boundaries);
	tcase_add_test(tc, test_short_and_long_values);
	tcase_add_test(tc, test_values_differ);
	tcase_add_test(tc, test_counts_differ);
	tcase_add_test(tc, test_tags);
	tcase_add_test(tc, test_affected_unknown_not_counted);
	tcase_add_test(tc, test_affected_statement_by_statement);
	tcase_add_test(tc, test_multiset_per_statement);
	tcase_add_test(tc, test_errors_by_class);
	tcase_add_test(tc, test_one_side_error);
	tcase_add_test(tc, test_transient);
	tcase_add_test(tc, test_lost);
	tcase_add_test(tc, test_oversized);
	tcase_add_test(tc, test_copies_refused_on_different_rows);
	tcase_add_test(tc, test_ready_and_reset);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_long_texts_cut);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(digest_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
