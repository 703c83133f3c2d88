/*
 * check_bigmsg.c - core/bigmsg.c: the budget shared by large translated
 * messages, assembly in pieces, the size limit, the memory given back, and
 * the half of the budget that copies for comparison may use.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bigmsg.h"

START_TEST(test_budget)
{
	lms_bigmsg_set_budget(100000);
	void *a = lms_bigmsg_alloc(60000);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(lms_bigmsg_held(), 60000);
	ck_assert_ptr_null(lms_bigmsg_alloc(40001)); /* over what is left */
	void *b = lms_bigmsg_alloc(40000);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(lms_bigmsg_held(), 100000);
	lms_bigmsg_free(a, 60000);
	lms_bigmsg_free(b, 40000);
	lms_bigmsg_free(NULL, 123); /* nothing */
	ck_assert_uint_eq(lms_bigmsg_held(), 0);
	lms_bigmsg_set_budget(0);
	ck_assert_ptr_null(lms_bigmsg_alloc(1));
	ck_assert_uint_eq(lms_bigmsg_held(), 0);
}
END_TEST

START_TEST(test_assembly)
{
	struct lms_bigmsg m;
	uint8_t src[70000];
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7);
	lms_bigmsg_set_budget(LMS_BIGMSG_BUDGET_DEFAULT);
	ck_assert_int_eq(lms_bigmsg_begin(&m, LMS_BIGMSG_MAX + 1, 1, 2), -1);
	ck_assert_ptr_null(m.data);
	ck_assert_int_eq(lms_bigmsg_begin(&m, 0, 1, 2), -1);
	ck_assert_int_eq(lms_bigmsg_begin(&m, 50000, 7, 9), 0);
	ck_assert_uint_eq(lms_bigmsg_held(), 50000);
	ck_assert(!lms_bigmsg_whole(&m));
	ck_assert_uint_eq(lms_bigmsg_fill(&m, src, 32768), 32768);
	ck_assert_uint_eq(lms_bigmsg_fill(&m, src + 32768, 0), 0);
	ck_assert_uint_eq(lms_bigmsg_fill(&m, src + 32768, 30000), 50000 - 32768); /* no more than the message */
	ck_assert(lms_bigmsg_whole(&m));
	ck_assert_int_eq(memcmp(m.data, src, 50000), 0);
	ck_assert_uint_eq(m.kind, 7);
	ck_assert_uint_eq(m.flags, 9);
	lms_bigmsg_end(&m);
	ck_assert_ptr_null(m.data);
	ck_assert_uint_eq(lms_bigmsg_held(), 0);
	lms_bigmsg_end(&m); /* twice: nothing */
	/* the budget refuses a message it cannot hold */
	lms_bigmsg_set_budget(1000);
	ck_assert_int_eq(lms_bigmsg_begin(&m, 1001, 0, 0), -1);
	ck_assert_uint_eq(lms_bigmsg_held(), 0);
}
END_TEST

START_TEST(test_spare_half)
{
	/* copies that are only good to have stay within half the budget,
	 * counting what the sessions hold; the sessions may use all of it */
	struct lms_bigmsg m, n;
	lms_bigmsg_set_budget(100000);
	ck_assert_ptr_null(lms_bigmsg_alloc_spare(50001));
	void *a = lms_bigmsg_alloc_spare(30000);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(lms_bigmsg_begin_spare(&m, 20001, 1, 0), -1);
	ck_assert_int_eq(lms_bigmsg_begin_spare(&m, 20000, 1, 0), 0);
	ck_assert_uint_eq(lms_bigmsg_held(), 50000);
	ck_assert_int_eq(lms_bigmsg_begin(&n, 50000, 1, 0), 0); /* a session's message */
	ck_assert_ptr_null(lms_bigmsg_alloc_spare(1));
	lms_bigmsg_end(&m);
	lms_bigmsg_free(a, 30000);
	ck_assert_ptr_null(lms_bigmsg_alloc_spare(1)); /* the session holds half */
	lms_bigmsg_end(&n);
	ck_assert_uint_eq(lms_bigmsg_held(), 0);
	lms_bigmsg_set_budget(1);
	ck_assert_ptr_null(lms_bigmsg_alloc_spare(1));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bigmsg");
	TCase *tc = tcase_create("bigmsg");
	tcase_add_test(tc, test_budget);
	tcase_add_test(tc, test_assembly);
	tcase_add_test(tc, test_spare_half);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
