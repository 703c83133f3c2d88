/*
 * check_mismatch_log.c - core/mismatch_log.c: the fields of a line, size
 * rotation, truncation with keep 0, whole lines from concurrent writers,
 * and errors that are counted instead of failing the caller.
 *
 * Each test runs in its own process (the log is process-wide state) and
 * its own temporary directory.
 */
#include "autoconfig.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "mismatch_log.h"

static char dir[256];
static char path[512];
static char err[512];
static struct lms_outcome truth, other;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/lms-check-mlog.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mismatches.jsonl", dir);
	err[0] = 0;
	lms_outcome_reset(&truth);
	lms_outcome_reset(&other);
}

static void teardown(void)
{
	char cmd[600];
	lms_mismatch_log_close();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A typical difference: the target returned one row fewer. */
static struct lms_mismatch sample(void)
{
	struct lms_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = LMS_EV_COMPLETE;
	ev.flags = LMS_EV_ROWS_KNOWN;
	ev.rows = 2;
	snprintf(ev.tag, sizeof(ev.tag), "SELECT");
	lms_outcome_event(&truth, &ev, 0);
	ev.rows = 1;
	lms_outcome_event(&other, &ev, 0);
	struct lms_mismatch m = {
		.conn = "0:127.0.0.1:5000", .user = "app", .database = "shop",
		.fingerprint = "SELECT * FROM t WHERE id = ?", .diff = LMS_DIFF_AFFECTED,
		.ordered = false, .truth_role = "source", .other_role = "target",
		.truth = &truth, .other = &other, .truth_us = 1234, .other_us = 5000678,
	};
	return m;
}

/* Lines of a file, each parsed; fails the test on a partial line. */
static int count_lines(const char *p, json_t **first)
{
	FILE *f = fopen(p, "r");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int count = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		ck_assert_msg(line[n - 1] == '\n', "partial line in %s", p);
		json_error_t jerr;
		json_t *j = json_loads(line, 0, &jerr);
		ck_assert_msg(j != NULL, "line %d of %s does not parse: %s", count + 1, p, jerr.text);
		if (first && count == 0)
			*first = j;
		else
			json_decref(j);
		count++;
	}
	free(line);
	fclose(f);
	return count;
}

static off_t file_size(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? st.st_size : -1;
}

START_TEST(test_fields)
{
	ck_assert_int_eq(lms_mismatch_log_open(path, 1 << 20, 5, err, sizeof(err)), 0);
	struct lms_mismatch m = sample();
	lms_mismatch_log_write(&m);
	ck_assert_uint_eq(lms_mismatch_log_lines(), 1);
	json_t *j = NULL;
	ck_assert_int_eq(count_lines(path, &j), 1);
	const char *time = json_string_value(json_object_get(j, "time"));
	ck_assert_ptr_nonnull(time);
	ck_assert_uint_eq(strlen(time), 24); /* 2026-11-25T01:02:03.456Z */
	ck_assert_int_eq(time[10], 'T');
	ck_assert_int_eq(time[19], '.');
	ck_assert_int_eq(time[23], 'Z');
	ck_assert_str_eq(json_string_value(json_object_get(j, "conn")), "0:127.0.0.1:5000");
	ck_assert_str_eq(json_string_value(json_object_get(j, "user")), "app");
	ck_assert_str_eq(json_string_value(json_object_get(j, "database")), "shop");
	ck_assert_str_eq(json_string_value(json_object_get(j, "fingerprint")), "SELECT * FROM t WHERE id = ?");
	ck_assert_str_eq(json_string_value(json_object_get(j, "diff")), "affected");
	ck_assert(json_is_false(json_object_get(j, "ordered")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "source_of_truth")), "source");
	json_t *src = json_object_get(j, "source"), *tgt = json_object_get(j, "target");
	ck_assert(json_is_object(src) && json_is_object(tgt));
	ck_assert_str_eq(json_string_value(json_object_get(src, "tag")), "SELECT");
	ck_assert_int_eq(json_integer_value(json_object_get(src, "statements")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(src, "rows")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(src, "affected")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(tgt, "affected")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(src, "columns")), 0);
	char hex[17];
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)truth.unordered);
	ck_assert_str_eq(json_string_value(json_object_get(src, "digest")), hex);
	ck_assert(json_is_null(json_object_get(src, "error")));
	ck_assert(json_is_null(json_object_get(src, "lost")));
	ck_assert(json_real_value(json_object_get(src, "latency_ms")) == 1.234);
	ck_assert(json_real_value(json_object_get(tgt, "latency_ms")) == 5000.678);
	json_decref(j);
	/* three decimals in the text itself */
	FILE *f = fopen(path, "r");
	char buf[4096];
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "\"latency_ms\":1.234"));
	ck_assert_ptr_nonnull(strstr(buf, "\"latency_ms\":5000.678"));
}
END_TEST

START_TEST(test_error_lost_and_target_truth)
{
	ck_assert_int_eq(lms_mismatch_log_open(path, 1 << 20, 5, err, sizeof(err)), 0);
	struct lms_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = LMS_EV_ERROR;
	snprintf(ev.sqlstate, sizeof(ev.sqlstate), "42P01");
	/* a message cut in the middle of a UTF-8 sequence */
	snprintf(ev.text, sizeof(ev.text), "relation \"caf\xc3\" does not exist");
	lms_outcome_event(&truth, &ev, 0);
	lms_outcome_lost(&other, "timeout after 5 s");
	struct lms_mismatch m = {
		.conn = "1:[::1]:6000", .user = NULL, .database = "db", .fingerprint = "SELECT ?",
		.diff = LMS_DIFF_LOST, .ordered = true, .truth_role = "target", .other_role = "source",
		.truth = &truth, .other = &other,
	};
	lms_mismatch_log_write(&m);
	json_t *j = NULL;
	ck_assert_int_eq(count_lines(path, &j), 1);
	ck_assert(json_is_null(json_object_get(j, "user")));
	ck_assert(json_is_true(json_object_get(j, "ordered")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "source_of_truth")), "target");
	json_t *t = json_object_get(j, "target"), *s = json_object_get(j, "source");
	json_t *e = json_object_get(t, "error");
	ck_assert_str_eq(json_string_value(json_object_get(e, "sqlstate")), "42P01");
	ck_assert_str_eq(json_string_value(json_object_get(e, "message")), "relation \"caf?\" does not exist");
	ck_assert(json_is_null(json_object_get(t, "lost")));
	ck_assert(json_is_null(json_object_get(s, "error")));
	ck_assert_str_eq(json_string_value(json_object_get(s, "lost")), "timeout after 5 s");
	char hex[17];
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)truth.ordered);
	ck_assert_str_eq(json_string_value(json_object_get(t, "digest")), hex);
	ck_assert_str_eq(json_string_value(json_object_get(j, "diff")), "lost");
	json_decref(j);
}
END_TEST

/* Write n sample lines. */
static void write_n(int n)
{
	struct lms_mismatch m = sample();
	for (int i = 0; i < n; i++)
		lms_mismatch_log_write(&m);
}

START_TEST(test_rotation_keeps_n)
{
	const uint64_t cap = 4096;
	ck_assert_int_eq(lms_mismatch_log_open(path, cap, 3, err, sizeof(err)), 0);
	write_n(400); /* far more than 4 files hold */
	ck_assert_uint_eq(lms_mismatch_log_lines(), 400);
	ck_assert_uint_eq(lms_mismatch_log_errors(), 0);
	char p[600];
	int total = 0;
	for (int i = 0; i <= 4; i++) {
		if (i == 0)
			snprintf(p, sizeof(p), "%s", path);
		else
			snprintf(p, sizeof(p), "%s.%d", path, i);
		if (i == 4) {
			ck_assert_int_eq(file_size(p), -1); /* the oldest was dropped */
			break;
		}
		off_t sz = file_size(p);
		ck_assert_msg(sz > 0 && sz <= (off_t)cap, "%s has %lld bytes", p, (long long)sz);
		int n = count_lines(p, NULL);
		ck_assert_int_gt(n, 0);
		total += n;
		if (i > 0) /* a full file: one more line would not have fit */
			ck_assert_int_gt(sz + sz / n, (off_t)cap);
	}
	ck_assert_int_lt(total, 400);
}
END_TEST

START_TEST(test_rotation_keep_zero_truncates)
{
	ck_assert_int_eq(lms_mismatch_log_open(path, 4096, 0, err, sizeof(err)), 0);
	write_n(200);
	char p[600];
	snprintf(p, sizeof(p), "%s.1", path);
	ck_assert_int_eq(file_size(p), -1);
	ck_assert_int_le(file_size(path), 4096);
	ck_assert_int_gt(count_lines(path, NULL), 0);
}
END_TEST

START_TEST(test_reopen_appends_and_rotates_existing)
{
	ck_assert_int_eq(lms_mismatch_log_open(path, 1 << 20, 2, err, sizeof(err)), 0);
	write_n(3);
	lms_mismatch_log_close();
	ck_assert_int_eq(lms_mismatch_log_open(path, 1 << 20, 2, err, sizeof(err)), 0);
	write_n(2);
	ck_assert_int_eq(count_lines(path, NULL), 5);
	lms_mismatch_log_close();
	/* a smaller cap than the file already holds: rotate before writing */
	off_t before = file_size(path);
	ck_assert_int_eq(lms_mismatch_log_open(path, (uint64_t)before, 2, err, sizeof(err)), 0);
	write_n(1);
	char p[600];
	snprintf(p, sizeof(p), "%s.1", path);
	ck_assert_int_eq(count_lines(p, NULL), 5);
	ck_assert_int_eq(count_lines(path, NULL), 1);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777 & ~0640, 0); /* never wider than 0640 */
}
END_TEST

#define THREADS 4
#define PER_THREAD 500

static void *writer(void *arg)
{
	struct lms_mismatch *m = arg;
	for (int i = 0; i < PER_THREAD; i++)
		lms_mismatch_log_write(m);
	return NULL;
}

/* THREADS threads write PER_THREAD sample lines each, at once. */
static void run_writers(void)
{
	struct lms_mismatch m = sample();
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, writer, &m), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
}

START_TEST(test_concurrent_whole_lines)
{
	ck_assert_int_eq(lms_mismatch_log_open(path, 64 << 20, 1, err, sizeof(err)), 0);
	run_writers();
	ck_assert_int_eq(count_lines(path, NULL), THREADS * PER_THREAD);
	ck_assert_uint_eq(lms_mismatch_log_lines(), THREADS * PER_THREAD);
}
END_TEST

START_TEST(test_concurrent_with_rotation)
{
	ck_assert_int_eq(lms_mismatch_log_open(path, 32768, 100, err, sizeof(err)), 0);
	run_writers();
	int total = count_lines(path, NULL);
	char p[600];
	for (int i = 1; i <= 100; i++) {
		snprintf(p, sizeof(p), "%s.%d", path, i);
		int n = count_lines(p, NULL);
		if (n < 0)
			break;
		total += n;
	}
	ck_assert_int_eq(total, THREADS * PER_THREAD); /* 100 files hold them all */
}
END_TEST

START_TEST(test_open_error_names_path)
{
	ck_assert_int_eq(lms_mismatch_log_open("/nonexistent/dir/m.jsonl", 4096, 1, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir/m.jsonl"));
	struct lms_mismatch m = sample();
	lms_mismatch_log_write(&m); /* not open: nothing, no crash */
	ck_assert_uint_eq(lms_mismatch_log_lines(), 0);
}
END_TEST

START_TEST(test_disabled)
{
	ck_assert_int_eq(lms_mismatch_log_open("", 4096, 1, err, sizeof(err)), 0);
	write_n(3);
	ck_assert_uint_eq(lms_mismatch_log_lines(), 0);
	ck_assert_uint_eq(lms_mismatch_log_errors(), 0);
}
END_TEST

START_TEST(test_write_error_counted)
{
	if (access("/dev/full", W_OK) != 0)
		return; /* no /dev/full here */
	ck_assert_int_eq(lms_mismatch_log_open("/dev/full", 1 << 20, 0, err, sizeof(err)), 0);
	write_n(3);
	ck_assert_uint_eq(lms_mismatch_log_lines(), 0);
	ck_assert_uint_eq(lms_mismatch_log_errors(), 3);
}
END_TEST

/* The main log's quoted values: a statement's text cannot end the value
 * or the line, and a cut never splits a UTF-8 character. */
START_TEST(test_log_quote)
{
	char out[32];
	ck_assert_str_eq(lms_log_quote("select \"x\nts=1 level=error\" \\ from t", 31, out, sizeof(out)),
			 "select 'x ts=1 level=error' / f");
	ck_assert_str_eq(lms_log_quote("a\tb\r\x7f", 100, out, sizeof(out)), "a b  ");
	ck_assert_str_eq(lms_log_quote("ab\xc3\xa9", 3, out, sizeof(out)), "ab"); /* é cut: dropped whole */
	ck_assert_str_eq(lms_log_quote("ab\xc3\xa9", 4, out, sizeof(out)), "ab\xc3\xa9");
	ck_assert_str_eq(lms_log_quote("\xe2\x82\xac\xe2\x82\xac", 5, out, sizeof(out)), "\xe2\x82\xac");
	ck_assert_str_eq(lms_log_quote("abcdef", 100, out, 4), "abc"); /* cap wins over max */
	ck_assert_str_eq(lms_log_quote(NULL, 10, out, sizeof(out)), "");
}
END_TEST

static Suite *mismatch_log_suite(void)
{
	Suite *s = suite_create("mismatch_log");
	TCase *tc = tcase_create("log");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_log_quote);
	tcase_add_test(tc, test_error_lost_and_target_truth);
	tcase_add_test(tc, test_rotation_keeps_n);
	tcase_add_test(tc, test_rotation_keep_zero_truncates);
	tcase_add_test(tc, test_reopen_appends_and_rotates_existing);
	tcase_add_test(tc, test_concurrent_whole_lines);
	tcase_add_test(tc, test_concurrent_with_rotation);
	tcase_add_test(tc, test_open_error_names_path);
	tcase_add_test(tc, test_disabled);
	tcase_add_test(tc, test_write_error_counted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(mismatch_log_suite());
	srunner_set_fork_status(sr, CK_FORK); /* the log is process-wide */
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
