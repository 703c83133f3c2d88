/*
 * check_cpus.c - core/cpus.c: cgroup CPU limits and the default worker
 * count.
 */
#include "autoconfig.h"

#include <check.h>
#include <sched.h>
#include <stdlib.h>

#include "cpus.h"

START_TEST(test_parse_v2)
{
	ck_assert_int_eq(lms_cpus_parse_v2("max 100000\n"), 0);
	ck_assert_int_eq(lms_cpus_parse_v2("100000 100000\n"), 1);
	ck_assert_int_eq(lms_cpus_parse_v2("150000 100000"), 2); /* 1.5 CPUs: round up */
	ck_assert_int_eq(lms_cpus_parse_v2("50000 100000"), 1);
	ck_assert_int_eq(lms_cpus_parse_v2("400000 100000"), 4);
	ck_assert_int_eq(lms_cpus_parse_v2(""), -1);
	ck_assert_int_eq(lms_cpus_parse_v2("lots 100000"), -1);
	ck_assert_int_eq(lms_cpus_parse_v2("100000 0"), -1);
}
END_TEST

START_TEST(test_from_v1)
{
	ck_assert_int_eq(lms_cpus_from_v1(-1, 100000), 0);
	ck_assert_int_eq(lms_cpus_from_v1(200000, 100000), 2);
	ck_assert_int_eq(lms_cpus_from_v1(250000, 100000), 3);
	ck_assert_int_eq(lms_cpus_from_v1(100000, 0), 0);
}
END_TEST

START_TEST(test_available_follows_affinity)
{
	cpu_set_t old, one;
	ck_assert_int_eq(sched_getaffinity(0, sizeof(old), &old), 0);
	int all = lms_cpus_available();
	ck_assert_int_ge(all, 1);
	ck_assert_int_le(all, CPU_COUNT(&old));
	CPU_ZERO(&one);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &old)) {
			CPU_SET(i, &one);
			break;
		}
	ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	ck_assert_int_eq(lms_cpus_available(), 1);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(old), &old), 0);
}
END_TEST

static Suite *cpus_suite(void)
{
	Suite *s = suite_create("cpus");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_parse_v2);
	tcase_add_test(tc, test_from_v1);
	tcase_add_test(tc, test_available_follows_affinity);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cpus_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
