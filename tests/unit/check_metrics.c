/*
 * check_metrics.c - core/metrics.c without a socket: the shadow counters
 * of the exposition, summed over workers, and the answers of
 * lms_metrics_answer (methods, /api/v1/mismatches, 404s).
 *
 * The runtime is a hand-made one with two workers whose stats blocks the
 * tests fill; nothing listens.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fpstats.h"
#include "metrics.h"
#include "runtime.h"
#include "worker.h"

#define NWORKERS 2

static struct lms_config cfg;
static struct lms_runtime rt;

static void setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.source_dialect = "postgres";
	cfg.shadow_mode = "sync";
	memset(&rt, 0, sizeof(rt));
	rt.cfg = &cfg;
	rt.nworkers = NWORKERS;
	rt.workers = calloc(NWORKERS, sizeof(*rt.workers));
	ck_assert_ptr_nonnull(rt.workers);
	lms_fpstats_init();
}

static void teardown(void)
{
	lms_fpstats_free();
	free(rt.workers);
}

/* The exposition holds this exact line. */
static void assert_line(const char *text, const char *line)
{
	char want[512];
	snprintf(want, sizeof(want), "\n%s\n", line);
	ck_assert_msg(strstr(text, want) != NULL, "no line '%s'", line);
}

START_TEST(test_shadow_counters_summed)
{
	for (int w = 0; w < NWORKERS; w++) {
		struct lms_stats *st = &rt.workers[w].stats;
		st->shadow[LMS_FP_MATCH] = 10;
		st->shadow[LMS_FP_MISMATCH] = 2;
		st->shadow[LMS_FP_DROPPED] = 3;
		st->shadow_async_dropped = 1; /* the others: not sent for another reason */
		st->shadow_diff[LMS_DIFF_VALUES] = 1;
		st->shadow_diff[LMS_DIFF_ROWS] = 1;
		st->shadow_connects = 4;
		st->shadow_broken = 1;
	}
	lms_fpstats_record("SELECT * FROM t WHERE id = ?", LMS_FP_MISMATCH, 100, 200);
	char *text = lms_metrics_render(&rt);
	ck_assert_ptr_nonnull(text);
	assert_line(text, "lms_shadow_requests_total{result=\"match\"} 20");
	assert_line(text, "lms_shadow_requests_total{result=\"mismatch\"} 4");
	assert_line(text, "lms_shadow_requests_total{result=\"setting\"} 0");
	assert_line(text, "lms_shadow_mismatches_total 4");
	assert_line(text, "lms_shadow_requests_total{result=\"dropped\"} 6");
	assert_line(text, "lms_shadow_async_dropped_total 2");
	assert_line(text, "lms_shadow_differences_total{kind=\"values\"} 2");
	assert_line(text, "lms_shadow_differences_total{kind=\"rows\"} 2");
	assert_line(text, "lms_shadow_differences_total{kind=\"tag\"} 0");
	ck_assert_ptr_null(strstr(text, "kind=\"none\""));
	assert_line(text, "lms_shadow_connections_opened_total 8");
	assert_line(text, "lms_shadow_connections_abandoned_total 2");
	assert_line(text, "lms_mismatch_log_lines_total 0");
	assert_line(text, "lms_mismatch_log_errors_total 0");
	assert_line(text, "# TYPE lms_shadow_fingerprint_requests_total counter");
	ck_assert_ptr_nonnull(strstr(text, "lms_shadow_fingerprint_requests_total{fingerprint_id=\""));
	ck_assert_ptr_null(strstr(text, "FROM t")); /* never the statement */
	/* every family is declared once */
	ck_assert_ptr_null(strstr(strstr(text, "# TYPE lms_shadow_requests_total") + 1,
				  "# TYPE lms_shadow_requests_total"));
	free(text);
}
END_TEST

START_TEST(test_api_mismatches)
{
	lms_fpstats_record("SELECT ?", LMS_FP_MATCH, 1000, 2000);
	struct lms_metrics_reply r;
	lms_metrics_answer(&rt, "GET", "/api/v1/mismatches", &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_str_eq(r.ctype, "application/json");
	json_error_t jerr;
	json_t *j = json_loads(r.body, 0, &jerr);
	ck_assert_msg(j != NULL, "bad JSON: %s", jerr.text);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "tracked")), 1);
	json_t *e = json_array_get(json_object_get(j, "fingerprints"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "fingerprint")), "SELECT ?");
	json_decref(j);
	free(r.body);

	lms_metrics_answer(&rt, "HEAD", "/api/v1/mismatches", &r);
	ck_assert_int_eq(r.code, 200);
	free(r.body);
}
END_TEST

/* method path gets code, and a body holding want (when not NULL). */
static void expect(const char *method, const char *path, int code, const char *want)
{
	struct lms_metrics_reply r;
	lms_metrics_answer(&rt, method, path, &r);
	ck_assert_msg(r.code == code, "%s %s: %d, not %d", method, path, r.code, code);
	ck_assert_ptr_nonnull(r.body);
	if (want)
		ck_assert_msg(strstr(r.body, want) != NULL, "%s %s: body lacks '%s'", method, path, want);
	free(r.body);
}

START_TEST(test_routes)
{
	expect("POST", "/api/v1/mismatches", 405, "GET and HEAD");
	expect("OTHER", "/metrics", 405, NULL);
	expect("GET", "/api/v1/nothing", 404, "/api/v1/mismatches");
	expect("GET", "/api", 404, NULL);
	expect("GET", "/nothing", 404, "/metrics");
	expect("GET", "/metrics", 200, "lms_shadow_mismatches_total 0");
	expect("HEAD", "/metrics", 200, NULL);
	expect("GET", "/healthz", 200, "ok");
	expect("GET", "/readyz", 200, "ready");
	rt.shutting_down = 1;
	expect("GET", "/readyz", 503, "shutting down");
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("render");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_shadow_counters_summed);
	tcase_add_test(tc, test_api_mismatches);
	tcase_add_test(tc, test_routes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	srunner_set_fork_status(sr, CK_FORK); /* fpstats is process-wide */
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
