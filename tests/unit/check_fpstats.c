/*
 * check_fpstats.c - core/fpstats.c: counting per fingerprint, the JSON
 * document and its order, the bound with its "(other)" bucket, the
 * Prometheus lines, and concurrent recording.
 *
 * Each test runs in its own process (the table is process-wide state).
 */
#include "autoconfig.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fpstats.h"

static void setup(void)
{
	lms_fpstats_init();
}

static void teardown(void)
{
	lms_fpstats_free();
}

/* The current document, parsed (caller decrefs). */
static json_t *doc(void)
{
	char *text = lms_fpstats_json();
	ck_assert_ptr_nonnull(text);
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	ck_assert_msg(j != NULL, "bad JSON: %s", jerr.text);
	free(text);
	return j;
}

/* The entry for fingerprint fp in document j, or NULL. */
static json_t *entry(json_t *j, const char *fp)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(j, "fingerprints"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "fingerprint")), fp) == 0)
			return e;
	return NULL;
}

static long long num(json_t *e, const char *key)
{
	return (long long)json_integer_value(json_object_get(e, key));
}

static double ms(json_t *e, const char *side, const char *key)
{
	return json_real_value(json_object_get(json_object_get(e, side), key));
}

START_TEST(test_counts_and_latency)
{
	const char *q = "SELECT * FROM t WHERE id = ?";
	lms_fpstats_record(q, LMS_FP_MATCH, 1000, 3000);
	lms_fpstats_record(q, LMS_FP_MATCH, 2000, 5000);
	lms_fpstats_record(q, LMS_FP_MISMATCH, 3000, 1000);
	lms_fpstats_record(q, LMS_FP_DROPPED, 6000, 0); /* no latency on the other side */
	json_t *j = doc();
	ck_assert_int_eq(num(j, "tracked"), 1);
	ck_assert_int_eq(num(j, "limit"), LMS_FPSTATS_MAX);
	json_t *e = entry(j, q);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(num(e, "requests"), 4);
	ck_assert_int_eq(num(e, "match"), 2);
	ck_assert_int_eq(num(e, "mismatch"), 1);
	ck_assert_int_eq(num(e, "transient"), 0);
	ck_assert_int_eq(num(e, "lost"), 0);
	ck_assert_int_eq(num(e, "dropped"), 1);
	ck_assert_int_eq(num(e, "setting"), 0);
	ck_assert(ms(e, "truth_latency_ms", "avg") == 3.0);
	ck_assert(ms(e, "truth_latency_ms", "max") == 6.0);
	ck_assert(ms(e, "other_latency_ms", "avg") == 3.0);
	ck_assert(ms(e, "other_latency_ms", "max") == 5.0);
	const char *id = json_string_value(json_object_get(e, "id"));
	ck_assert_uint_eq(strlen(id), 16);
	ck_assert_uint_eq(strspn(id, "0123456789abcdef"), 16);
	json_decref(j);
}
END_TEST

START_TEST(test_sorted)
{
	for (int i = 0; i < 5; i++)
		lms_fpstats_record("busy", LMS_FP_MATCH, 10, 10);
	for (int i = 0; i < 3; i++)
		lms_fpstats_record("quiet", LMS_FP_MATCH, 10, 10);
	lms_fpstats_record("bad", LMS_FP_MISMATCH, 10, 10);
	lms_fpstats_record("worse", LMS_FP_MISMATCH, 10, 10);
	lms_fpstats_record("worse", LMS_FP_MISMATCH, 10, 10);
	json_t *j = doc();
	json_t *list = json_object_get(j, "fingerprints");
	const char *want[] = { "worse", "bad", "busy", "quiet" };
	ck_assert_uint_eq(json_array_size(list), 4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, i), "fingerprint")), want[i]);
	json_decref(j);
}
END_TEST

START_TEST(test_bound_and_other)
{
	char fp[64];
	for (int i = 0; i < LMS_FPSTATS_MAX + 10; i++) {
		snprintf(fp, sizeof(fp), "SELECT %d", i);
		lms_fpstats_record(fp, LMS_FP_MATCH, 1, 1);
	}
	lms_fpstats_record("SELECT 0", LMS_FP_MISMATCH, 1, 1); /* tracked: still its own */
	json_t *j = doc();
	ck_assert_int_eq(num(j, "tracked"), LMS_FPSTATS_MAX);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "fingerprints")), LMS_FPSTATS_MAX + 1);
	json_t *other = entry(j, "(other)");
	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(num(other, "requests"), 10);
	json_t *first = json_array_get(json_object_get(j, "fingerprints"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(first, "fingerprint")), "SELECT 0");
	ck_assert_int_eq(num(first, "requests"), 2);
	ck_assert_ptr_null(entry(j, "SELECT 4100"));
	json_decref(j);
}
END_TEST

START_TEST(test_long_and_odd_texts)
{
	/* longer than the key: cut, and statements sharing the cut merge */
	size_t n = LMS_FPSTATS_TEXT_MAX + 100;
	char *a = malloc(n + 1), *b = malloc(n + 1);
	memset(a, 'x', n);
	a[n] = 0;
	memcpy(b, a, n + 1);
	b[n - 1] = 'y';
	lms_fpstats_record(a, LMS_FP_MATCH, 1, 1);
	lms_fpstats_record(b, LMS_FP_MATCH, 1, 1);
	lms_fpstats_record(NULL, LMS_FP_LOST, 1, 0);
	lms_fpstats_record("", LMS_FP_LOST, 1, 0);
	lms_fpstats_record("SELECT '\xff'", LMS_FP_MATCH, 1, 1); /* not UTF-8 */
	lms_fpstats_record("x", (enum lms_fp_result)LMS_FP_RESULTS, 1, 1); /* ignored */
	json_t *j = doc();
	ck_assert_int_eq(num(j, "tracked"), 3);
	a[LMS_FPSTATS_TEXT_MAX] = 0;
	json_t *e = entry(j, a);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(num(e, "requests"), 2);
	ck_assert_int_eq(num(entry(j, "(unnamed)"), "lost"), 2);
	ck_assert_ptr_nonnull(entry(j, "SELECT '?'"));
	json_decref(j);
	free(a);
	free(b);
}
END_TEST

struct lines {
	int n;
	int family;        /* lines of lms_shadow_fingerprint_requests_total */
	int leaked_sql;    /* lines that hold statement text */
	char match_line[256];
};

static void on_line(void *ctx, const char *line)
{
	struct lines *l = ctx;
	l->n++;
	ck_assert_ptr_null(strchr(line, '\n'));
	if (strncmp(line, "lms_shadow_fingerprint_requests_total{", 38) == 0)
		l->family++;
	if (strstr(line, "SELECT"))
		l->leaked_sql++;
	if (strstr(line, "result=\"mismatch\"") && !l->match_line[0])
		snprintf(l->match_line, sizeof(l->match_line), "%s", line);
}

START_TEST(test_metrics_lines)
{
	lms_fpstats_record("SELECT 1", LMS_FP_MISMATCH, 1, 1);
	lms_fpstats_record("SELECT 1", LMS_FP_MISMATCH, 1, 1);
	lms_fpstats_record("SELECT 2", LMS_FP_MATCH, 1, 1);
	struct lines l;
	memset(&l, 0, sizeof(l));
	lms_fpstats_metrics(on_line, &l);
	ck_assert_int_eq(l.family, 2 * LMS_FP_RESULTS);
	ck_assert_int_eq(l.n, 2 + 2 * LMS_FP_RESULTS); /* with HELP and TYPE */
	ck_assert_int_eq(l.leaked_sql, 0);
	/* the first is the most mismatched, under the id the API shows */
	json_t *j = doc();
	char want[256];
	snprintf(want, sizeof(want),
		 "lms_shadow_fingerprint_requests_total{fingerprint_id=\"%s\",result=\"mismatch\"} 2",
		 json_string_value(json_object_get(entry(j, "SELECT 1"), "id")));
	ck_assert_str_eq(l.match_line, want);
	json_decref(j);
}
END_TEST

START_TEST(test_before_init_and_after_free)
{
	lms_fpstats_free();
	lms_fpstats_record("SELECT 1", LMS_FP_MATCH, 1, 1); /* ignored, no crash */
	json_t *j = doc();
	ck_assert_int_eq(num(j, "tracked"), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "fingerprints")), 0);
	json_decref(j);
	lms_fpstats_init();
	lms_fpstats_init(); /* twice is harmless */
	lms_fpstats_record("SELECT 1", LMS_FP_MATCH, 1, 1);
	j = doc();
	ck_assert_int_eq(num(j, "tracked"), 1);
	json_decref(j);
}
END_TEST

#define THREADS 4
#define PER_THREAD 20000
#define DISTINCT 100

static void *recorder(void *arg)
{
	int t = *(int *)arg;
	char fp[32];
	for (int i = 0; i < PER_THREAD; i++) {
		snprintf(fp, sizeof(fp), "SELECT %d", (i + t) % DISTINCT);
		lms_fpstats_record(fp, (enum lms_fp_result)(i % LMS_FP_RESULTS), 1, 2);
		if (i % 5000 == 0)
			free(lms_fpstats_json()); /* readers at the same time */
	}
	return NULL;
}

START_TEST(test_threads)
{
	pthread_t th[THREADS];
	int ids[THREADS];
	for (int i = 0; i < THREADS; i++) {
		ids[i] = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, recorder, &ids[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	json_t *j = doc();
	ck_assert_int_eq(num(j, "tracked"), DISTINCT);
	long long total = 0, per_result[LMS_FP_RESULTS] = { 0 };
	static const char *const names[LMS_FP_RESULTS] = { "match", "mismatch", "transient", "lost",
							   "dropped", "setting", "local", "unchecked" };
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(j, "fingerprints"), i, e) {
		total += num(e, "requests");
		for (int r = 0; r < LMS_FP_RESULTS; r++)
			per_result[r] += num(e, names[r]);
	}
	ck_assert_int_eq(total, THREADS * PER_THREAD);
	long long sum = 0;
	for (int r = 0; r < LMS_FP_RESULTS; r++)
		sum += per_result[r];
	ck_assert_int_eq(sum, total);
	json_decref(j);
}
END_TEST

static Suite *fpstats_suite(void)
{
	Suite *s = suite_create("fpstats");
	TCase *tc = tcase_create("fpstats");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_counts_and_latency);
	tcase_add_test(tc, test_sorted);
	tcase_add_test(tc, test_bound_and_other);
	tcase_add_test(tc, test_long_and_odd_texts);
	tcase_add_test(tc, test_metrics_lines);
	tcase_add_test(tc, test_before_init_and_after_free);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fpstats_suite());
	srunner_set_fork_status(sr, CK_FORK); /* the table is process-wide */
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
