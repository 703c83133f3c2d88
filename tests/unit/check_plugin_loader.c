/*
 * check_plugin_loader.c - core/plugin_loader.c: the real plugins load, and
 * every kind of bad plugin is refused with a message that says what is
 * wrong.  The bad plugins are built from tests/fixtures/badabi.c.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_loader.h"

#ifndef LMS_TEST_PLUGIN_DIR
#error "LMS_TEST_PLUGIN_DIR must name the directory holding postgres.so"
#endif
#ifndef LMS_TEST_FIXTURE_DIR
#error "LMS_TEST_FIXTURE_DIR must name the directory holding the fixture plugins"
#endif

static char err[2048];

#define assert_err_has(s) ck_assert_msg(strstr(err, (s)) != NULL, "error '%s' lacks '%s'", err, (s))

/* Load name from dir, expecting a refusal; the handle must not linger. */
static void expect_refused(const char *dir, const char *name)
{
	struct lms_plugin p;
	err[0] = 0;
	ck_assert_int_eq(lms_plugin_load(&p, dir, name, err, sizeof(err)), -1);
	ck_assert_ptr_null(p.handle);
	ck_assert_ptr_null(p.d);
	ck_assert_msg(err[0] != 0, "no error message for %s", name);
}

static void expect_loads(const char *name, const char *family)
{
	struct lms_plugin p;
	err[0] = 0;
	ck_assert_msg(lms_plugin_load(&p, LMS_TEST_PLUGIN_DIR, name, err, sizeof(err)) == 0,
		      "loading %s failed: %s", name, err);
	ck_assert_ptr_nonnull(p.handle);
	ck_assert_ptr_nonnull(p.d);
	ck_assert_str_eq(p.d->name, name);
	ck_assert_str_eq(p.d->family, family);
	ck_assert_uint_eq(p.d->abi_major, LMS_PLUGIN_ABI_MAJOR);
	ck_assert_uint_ge(p.d->size, offsetof(struct lms_dialect, reserved));
	ck_assert_ptr_nonnull(strstr(p.path, LMS_TEST_PLUGIN_DIR));
	ck_assert_int_eq(lms_plugin_check(p.d, name, p.path, err, sizeof(err)), 0);
	lms_plugin_unload(&p);
	ck_assert_ptr_null(p.handle);
	ck_assert_ptr_null(p.d);
}

START_TEST(test_load_postgres)
{
	expect_loads("postgres", "pgwire");
}
END_TEST

START_TEST(test_load_cockroach)
{
	expect_loads("cockroach", "pgwire");
}
END_TEST

START_TEST(test_load_mysql)
{
	expect_loads("mysql", "mysql");
}
END_TEST

START_TEST(test_load_twice)
{
	/* Both dialects at once (source and target), each with its own table. */
	struct lms_plugin a, b;
	ck_assert_int_eq(lms_plugin_load(&a, LMS_TEST_PLUGIN_DIR, "postgres", err, sizeof(err)), 0);
	ck_assert_int_eq(lms_plugin_load(&b, LMS_TEST_PLUGIN_DIR, "cockroach", err, sizeof(err)), 0);
	ck_assert_str_eq(a.d->name, "postgres");
	ck_assert_str_eq(b.d->name, "cockroach");
	lms_plugin_unload(&a);
	lms_plugin_unload(&b);
}
END_TEST

START_TEST(test_missing_file)
{
	expect_refused("/nonexistent/lms-plugins", "postgres");
	assert_err_has("/nonexistent/lms-plugins/postgres.so");
	assert_err_has("'postgres'");

	expect_refused(LMS_TEST_PLUGIN_DIR, "sqlite");
	assert_err_has(LMS_TEST_PLUGIN_DIR "/sqlite.so");
}
END_TEST

START_TEST(test_bad_abi)
{
	expect_refused(LMS_TEST_FIXTURE_DIR, "badabi");
	assert_err_has(LMS_TEST_FIXTURE_DIR "/badabi.so");
	assert_err_has("99.0");  /* the plugin's version */
	assert_err_has("ABI 1."); /* ours */
}
END_TEST

START_TEST(test_missing_function)
{
	expect_refused(LMS_TEST_FIXTURE_DIR, "nofunc");
	assert_err_has("nofunc.so");
	assert_err_has("fe_decode");
}
END_TEST

START_TEST(test_name_mismatch)
{
	expect_refused(LMS_TEST_FIXTURE_DIR, "misnamed");
	assert_err_has("'someone-else'");
	assert_err_has("'misnamed'");
}
END_TEST

START_TEST(test_entry_refuses)
{
	expect_refused(LMS_TEST_FIXTURE_DIR, "refuses");
	assert_err_has("refuses.so");
	assert_err_has("refused");
}
END_TEST

START_TEST(test_no_entry_symbol)
{
	expect_refused(LMS_TEST_FIXTURE_DIR, "noentry");
	assert_err_has("noentry.so");
	assert_err_has(LMS_DIALECT_ENTRY_SYMBOL);
}
END_TEST

START_TEST(test_unsafe_names)
{
	const char *bad[] = { "../x", "a/b", "", "Postgres", "pg.so", "x y", "..", "/etc/passwd" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_refused(LMS_TEST_PLUGIN_DIR, bad[i]);
		assert_err_has("not a valid plugin name");
	}
}
END_TEST

START_TEST(test_check_table)
{
	struct lms_plugin p;
	ck_assert_int_eq(lms_plugin_load(&p, LMS_TEST_PLUGIN_DIR, "postgres", err, sizeof(err)), 0);
	/* A copy of a table that passes, broken one member at a time. */
	struct lms_dialect d = *p.d;
	ck_assert_int_eq(lms_plugin_check(&d, "postgres", "x.so", err, sizeof(err)), 0);

	d.size = 16;
	ck_assert_int_eq(lms_plugin_check(&d, "postgres", "x.so", err, sizeof(err)), -1);
	assert_err_has("16 bytes");

	d = *p.d;
	d.name = NULL;
	ck_assert_int_eq(lms_plugin_check(&d, "postgres", "x.so", err, sizeof(err)), -1);
	assert_err_has("(null)");

	d = *p.d;
	d.family = NULL;
	ck_assert_int_eq(lms_plugin_check(&d, "postgres", "x.so", err, sizeof(err)), -1);
	assert_err_has("family");

	d = *p.d;
	d.be_cancel = NULL;
	ck_assert_int_eq(lms_plugin_check(&d, "postgres", "x.so", err, sizeof(err)), -1);
	assert_err_has("be_cancel");

	d = *p.d;
	d.check_backend = NULL; /* optional */
	ck_assert_int_eq(lms_plugin_check(&d, "postgres", "x.so", err, sizeof(err)), 0);

	d = *p.d;
	d.abi_major = 2;
	d.abi_minor = 7;
	ck_assert_int_eq(lms_plugin_check(&d, "postgres", "x.so", err, sizeof(err)), -1);
	assert_err_has("2.7");
	lms_plugin_unload(&p);
}
END_TEST

/* ABI 1.3 translation members: used only from a 1.3 plugin that sets
 * them; an older plugin (whatever its reserved slots hold) still loads. */
START_TEST(test_translation_members)
{
	struct lms_plugin my, pg;
	ck_assert_int_eq(lms_plugin_load(&my, LMS_TEST_PLUGIN_DIR, "mysql", err, sizeof(err)), 0);
	ck_assert_int_eq(lms_plugin_load(&pg, LMS_TEST_PLUGIN_DIR, "cockroach", err, sizeof(err)), 0);
	ck_assert(lms_plugin_describes_requests(my.d));
	ck_assert(lms_plugin_errs_in_answer(my.d));
	/* mysql.so encodes for a shadow of its own (back to MySQL after a
	 * cutover), but cannot serve a client of another family */
	ck_assert(lms_plugin_encodes_requests(my.d));
	ck_assert(!lms_plugin_serves_back(my.d));
	/* ABI 1.7: mysql.so relays a translated session again after a cut
	 * back; a 1.6 plugin's slot is not read */
	ck_assert(lms_plugin_moves_back(my.d));
	ck_assert(!lms_plugin_moves_back(pg.d));
	struct lms_dialect old = *my.d;
	old.abi_minor = 6;
	ck_assert(!lms_plugin_moves_back(&old));
	ck_assert(lms_plugin_encodes_requests(pg.d));
	ck_assert(!lms_plugin_describes_requests(pg.d));

	struct lms_dialect d = *my.d;
	d.abi_minor = 2; /* a 1.2 plugin: the slots are not read */
	ck_assert_int_eq(lms_plugin_check(&d, "mysql", "x.so", err, sizeof(err)), 0);
	ck_assert(!lms_plugin_describes_requests(&d));
	ck_assert(!lms_plugin_errs_in_answer(&d));
	d = *pg.d;
	d.abi_minor = 2;
	ck_assert(!lms_plugin_encodes_requests(&d));
	d.abi_minor = 3;
	d.be_encode_request = NULL;
	ck_assert(!lms_plugin_encodes_requests(&d));
	lms_plugin_unload(&my);
	lms_plugin_unload(&pg);
}
END_TEST

START_TEST(test_host_api)
{
	const struct lms_host_api *h = lms_plugin_host_api();
	ck_assert_uint_eq(h->abi_major, LMS_PLUGIN_ABI_MAJOR);
	ck_assert_uint_eq(h->size, sizeof(struct lms_host_api));
	ck_assert_ptr_nonnull(h->log);
	char *s = h->strdup("abc");
	ck_assert_str_eq(s, "abc");
	h->free(s);
	void *m = h->alloc(10);
	ck_assert_ptr_nonnull(m);
	h->free(m);
}
END_TEST

static Suite *loader_suite(void)
{
	Suite *s = suite_create("plugin_loader");
	TCase *tc = tcase_create("load");
	tcase_add_test(tc, test_load_postgres);
	tcase_add_test(tc, test_load_cockroach);
	tcase_add_test(tc, test_load_mysql);
	tcase_add_test(tc, test_load_twice);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_bad_abi);
	tcase_add_test(tc, test_missing_function);
	tcase_add_test(tc, test_name_mismatch);
	tcase_add_test(tc, test_entry_refuses);
	tcase_add_test(tc, test_no_entry_symbol);
	tcase_add_test(tc, test_unsafe_names);
	tcase_add_test(tc, test_check_table);
	tcase_add_test(tc, test_translation_members);
	tcase_add_test(tc, test_host_api);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(loader_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
