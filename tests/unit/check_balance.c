/*
 * check_balance.c - core/balance.c: how many workers serve sessions, and
 * where a worker hands its sessions.
 */
#include "autoconfig.h"

#include <check.h>
#include <limits.h>
#include <stdlib.h>

#include "balance.h"

START_TEST(test_active_one_worker)
{
	ck_assert_int_eq(lms_balance_active(0.0, 1, 1), 1);
	ck_assert_int_eq(lms_balance_active(5.0, 1, 1), 1);
	ck_assert_int_eq(lms_balance_active(5.0, 3, 1), 1);
}
END_TEST

START_TEST(test_active_grows_one_step)
{
	/* light: stay packed on one */
	ck_assert_int_eq(lms_balance_active(0.45, 1, 4), 1);
	ck_assert_int_eq(lms_balance_active(0.70, 1, 4), 1);
	/* over GROW per worker: one more, never more than one at a time */
	ck_assert_int_eq(lms_balance_active(0.71, 1, 4), 2);
	ck_assert_int_eq(lms_balance_active(3.50, 1, 4), 2);
	ck_assert_int_eq(lms_balance_active(1.50, 2, 4), 3);
	/* all in use: stays */
	ck_assert_int_eq(lms_balance_active(3.90, 4, 4), 4);
}
END_TEST

START_TEST(test_active_hysteresis)
{
	/* two in use: shrinks only once one would be under SHRINK */
	ck_assert_int_eq(lms_balance_active(0.90, 2, 2), 2);
	ck_assert_int_eq(lms_balance_active(0.46, 2, 2), 2);
	ck_assert_int_eq(lms_balance_active(0.44, 2, 2), 1);
	ck_assert_int_eq(lms_balance_active(0.00, 3, 4), 2);
	/* between SHRINK and GROW nothing changes, either way */
	ck_assert_int_eq(lms_balance_active(1.00, 2, 4), 2);
}
END_TEST

START_TEST(test_active_clamps)
{
	ck_assert_int_eq(lms_balance_active(0.10, 0, 4), 1);
	ck_assert_int_eq(lms_balance_active(0.10, -3, 4), 1);
	ck_assert_int_eq(lms_balance_active(9.00, 9, 4), 4);
	ck_assert_int_eq(lms_balance_active(0.0, 9, 4), 3);
}
END_TEST

START_TEST(test_target_evacuates_unused_worker)
{
	int busy[3] = { 5, 2, 4 };
	int quota = -1;
	/* worker 2 is outside the 2 in use: all of its sessions go to the
	 * least busy in use */
	ck_assert_int_eq(lms_balance_target(2, 2, busy, 3, &quota), 1);
	ck_assert_int_eq(quota, INT_MAX);
	/* one in use: worker 1 hands everything to worker 0 */
	ck_assert_int_eq(lms_balance_target(1, 1, busy, 3, &quota), 0);
	ck_assert_int_eq(quota, INT_MAX);
}
END_TEST

START_TEST(test_target_spreads_half_the_lead)
{
	int busy[2] = { 8, 0 };
	int quota = -1;
	ck_assert_int_eq(lms_balance_target(0, 2, busy, 2, &quota), 1);
	ck_assert_int_eq(quota, 4);
	/* the lighter one keeps its sessions */
	ck_assert_int_eq(lms_balance_target(1, 2, busy, 2, &quota), -1);
	ck_assert_int_eq(quota, 0);
	/* a lead of one is balanced enough: no ping-pong */
	int close[2] = { 5, 4 };
	ck_assert_int_eq(lms_balance_target(0, 2, close, 2, &quota), -1);
	int two[2] = { 6, 4 };
	ck_assert_int_eq(lms_balance_target(0, 2, two, 2, &quota), 1);
	ck_assert_int_eq(quota, 1);
}
END_TEST

START_TEST(test_target_alone)
{
	int busy[2] = { 8, 0 };
	int quota = -1;
	/* the only worker in use has nowhere to go */
	ck_assert_int_eq(lms_balance_target(0, 1, busy, 2, &quota), -1);
	ck_assert_int_eq(quota, 0);
	int one[1] = { 3 };
	ck_assert_int_eq(lms_balance_target(0, 1, one, 1, &quota), -1);
	/* active larger than the workers: only real workers are targets */
	ck_assert_int_eq(lms_balance_target(0, 5, busy, 2, &quota), 1);
	ck_assert_int_eq(quota, 4);
}
END_TEST

static Suite *balance_suite(void)
{
	Suite *s = suite_create("balance");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_active_one_worker);
	tcase_add_test(tc, test_active_grows_one_step);
	tcase_add_test(tc, test_active_hysteresis);
	tcase_add_test(tc, test_active_clamps);
	tcase_add_test(tc, test_target_evacuates_unused_worker);
	tcase_add_test(tc, test_target_spreads_half_the_lead);
	tcase_add_test(tc, test_target_alone);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(balance_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
