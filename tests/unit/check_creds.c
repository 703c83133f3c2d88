/*
 * check_creds.c - core/creds.c: the copy of _molt_lms.credentials and the
 * MySQL-like user@host matching behind the host API's credential_of.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"

static struct lms_cred row(const char *u, const char *h, const char *p, const char *v)
{
	struct lms_cred c = { strdup(u), strdup(h), strdup(p), strdup(v) };
	return c;
}

START_TEST(test_host_rank)
{
	ck_assert_int_ge(lms_creds_host_rank("10.0.0.5", "10.0.0.5"), 0);
	ck_assert_int_eq(lms_creds_host_rank("10.0.0.5", "10.0.0.50"), -1);
	ck_assert_int_ge(lms_creds_host_rank("localhost", "127.0.0.1"), 0);
	ck_assert_int_ge(lms_creds_host_rank("localhost", "::1"), 0);
	ck_assert_int_eq(lms_creds_host_rank("localhost", "10.0.0.5"), -1);
	ck_assert_int_ge(lms_creds_host_rank("%", "10.0.0.5"), 0);
	ck_assert_int_ge(lms_creds_host_rank("10.0.%", "10.0.0.5"), 0);
	ck_assert_int_eq(lms_creds_host_rank("10.1.%", "10.0.0.5"), -1);
	ck_assert_int_ge(lms_creds_host_rank("10.0.0._", "10.0.0.5"), 0);
	ck_assert_int_eq(lms_creds_host_rank("10.0.0._", "10.0.0.50"), -1);
	/* an IPv4 client on a dual-stack socket */
	ck_assert_int_ge(lms_creds_host_rank("10.0.0.5", "::ffff:10.0.0.5"), 0);
	ck_assert_int_ge(lms_creds_host_rank("localhost", "::ffff:127.0.0.1"), 0);
	/* more specific ranks higher */
	int exact = lms_creds_host_rank("10.0.0.5", "10.0.0.5");
	int net = lms_creds_host_rank("10.0.0.%", "10.0.0.5");
	int wide = lms_creds_host_rank("10.%", "10.0.0.5");
	int any = lms_creds_host_rank("%", "10.0.0.5");
	ck_assert_int_gt(exact, net);
	ck_assert_int_gt(net, wide);
	ck_assert_int_gt(wide, any);
	ck_assert_int_eq(lms_creds_host_rank(NULL, "x"), -1);
}
END_TEST

START_TEST(test_lookup)
{
	char p[64], v[64];
	lms_creds_free();
	ck_assert_int_eq(lms_creds_lookup("app", "10.0.0.5", p, sizeof(p), v, sizeof(v)), -2);
	ck_assert_int_eq(lms_creds_count(), -1);
	struct lms_cred *r = calloc(5, sizeof(*r));
	r[0] = row("app", "%", "mysql_native_password", "*ANY");
	r[1] = row("app", "10.0.0.%", "mysql_native_password", "*NET");
	r[2] = row("app", "localhost", "mysql_native_password", "*LOCAL");
	r[3] = row("ed", "%", "ed25519", "edkey");
	r[4] = row("App", "%", "mysql_native_password", "*CASE");
	lms_creds_replace(r, 5);
	ck_assert_int_eq(lms_creds_count(), 5);
	ck_assert_int_eq(lms_creds_lookup("app", "10.0.0.5", p, sizeof(p), v, sizeof(v)), 0);
	ck_assert_str_eq(v, "*NET");
	ck_assert_int_eq(lms_creds_lookup("app", "127.0.0.1", p, sizeof(p), v, sizeof(v)), 0);
	ck_assert_str_eq(v, "*LOCAL");
	ck_assert_int_eq(lms_creds_lookup("app", "192.168.1.1", p, sizeof(p), v, sizeof(v)), 0);
	ck_assert_str_eq(v, "*ANY");
	ck_assert_int_eq(lms_creds_lookup("App", "192.168.1.1", p, sizeof(p), v, sizeof(v)), 0);
	ck_assert_str_eq(v, "*CASE"); /* user names are case-sensitive */
	ck_assert_int_eq(lms_creds_lookup("ed", "1.2.3.4", p, sizeof(p), v, sizeof(v)), 0);
	ck_assert_str_eq(p, "ed25519");
	ck_assert_int_eq(lms_creds_lookup("nobody", "1.2.3.4", p, sizeof(p), v, sizeof(v)), -1);
	/* does not fit */
	ck_assert_int_eq(lms_creds_lookup("app", "1.2.3.4", p, sizeof(p), v, 3), -3);
	/* replaced whole: an empty copy is a copy */
	lms_creds_replace(calloc(1, sizeof(struct lms_cred)), 0);
	ck_assert_int_eq(lms_creds_count(), 0);
	ck_assert_int_eq(lms_creds_lookup("app", "1.2.3.4", p, sizeof(p), v, sizeof(v)), -1);
	lms_creds_free();
	ck_assert_int_eq(lms_creds_lookup("app", "1.2.3.4", p, sizeof(p), v, sizeof(v)), -2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("creds");
	TCase *t = tcase_create("creds");
	tcase_add_test(t, test_host_rank);
	tcase_add_test(t, test_lookup);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
