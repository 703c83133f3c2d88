/*
 * check_login.c - plugins/pgwire/login.c: the answers a backend gives to
 * a database's AuthenticationRequests with a URL's own credentials.
 * Expected values were computed independently (Python hashlib/hmac) from
 * the SCRAM-SHA-256 example of RFC 7677, adapted to PostgreSQL's empty
 * user name in the client-first message.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "login.h"
#include "pgwire.h"

static const char server_first[] =
	"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
static const char client_final[] =
	"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	"p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k=";
static const char server_final[] = "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=";

static void start(struct pg_scram *sc, struct lms_out *out)
{
	memset(sc, 0, sizeof(*sc));
	strcpy(sc->nonce, "rOprNGfwEbeRWgbNEkqO");
	out->len = 0;
	ck_assert_int_eq(pg_scram_begin(sc, out), 0);
}

START_TEST(test_scram_first_message)
{
	struct pg_scram sc;
	struct lms_out out;
	start(&sc, &out);
	/* 'p', length, "SCRAM-SHA-256\0", Int32 length, "n,,n=,r=<nonce>" */
	const char want[] = "n,,n=,r=rOprNGfwEbeRWgbNEkqO";
	ck_assert_uint_eq(out.data[0], 'p');
	ck_assert_uint_eq(pg_get32(out.data + 1), out.len - 1);
	ck_assert_str_eq((const char *)out.data + 5, "SCRAM-SHA-256");
	ck_assert_uint_eq(pg_get32(out.data + 19), strlen(want));
	ck_assert_int_eq(memcmp(out.data + 23, want, strlen(want)), 0);
	ck_assert_uint_eq(out.len, 23 + strlen(want));
}
END_TEST

START_TEST(test_scram_proof_and_server_signature)
{
	struct pg_scram sc;
	struct lms_out out;
	start(&sc, &out);
	out.len = 0;
	ck_assert_int_eq(pg_scram_continue(&sc, "pencil", server_first, &out), 0);
	ck_assert_uint_eq(out.len, 5 + strlen(client_final));
	ck_assert_int_eq(memcmp(out.data + 5, client_final, strlen(client_final)), 0);
	ck_assert_int_eq(pg_scram_finish(&sc, server_final), 0);
}
END_TEST

START_TEST(test_scram_refuses_a_server_that_does_not_know_the_password)
{
	struct pg_scram sc;
	struct lms_out out;
	start(&sc, &out);
	ck_assert_int_eq(pg_scram_continue(&sc, "pencil", server_first, &out), 0);
	ck_assert_int_eq(pg_scram_finish(&sc, "v=AAAAQt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg="), -1);
	start(&sc, &out);
	ck_assert_int_eq(pg_scram_continue(&sc, "pencil", server_first, &out), 0);
	ck_assert_int_eq(pg_scram_finish(&sc, "e=invalid-proof"), -1);
}
END_TEST

/* The second login with the same password, salt and count comes from the
 * SaltedPassword cache and must give the same proof; another password
 * with the same salt must not hit the cache. */
START_TEST(test_scram_salted_password_cache)
{
	struct pg_scram sc;
	struct lms_out out;
	for (int k = 0; k < 3; k++) {
		start(&sc, &out);
		out.len = 0;
		ck_assert_int_eq(pg_scram_continue(&sc, "pencil", server_first, &out), 0);
		ck_assert_int_eq(memcmp(out.data + 5, client_final, strlen(client_final)), 0);
		ck_assert_int_eq(pg_scram_finish(&sc, server_final), 0);
	}
	start(&sc, &out);
	out.len = 0;
	ck_assert_int_eq(pg_scram_continue(&sc, "pencil2", server_first, &out), 0);
	ck_assert_int_ne(memcmp(out.data + 5, client_final, strlen(client_final)), 0);
	ck_assert_int_eq(pg_scram_finish(&sc, server_final), -1);
	start(&sc, &out);
	out.len = 0;
	ck_assert_int_eq(pg_scram_continue(&sc, "pencil", server_first, &out), 0);
	ck_assert_int_eq(memcmp(out.data + 5, client_final, strlen(client_final)), 0);
}
END_TEST

START_TEST(test_scram_refuses_bad_server_first)
{
	struct pg_scram sc;
	struct lms_out out;
	const char *bad[] = {
		"r=someoneelsesnonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", /* nonce not ours */
		"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", /* no server part */
		"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==",    /* no iterations */
		"r=rOprNGfwEbeRWgbNEkqOxyz,s=!!!,i=4096",                  /* bad salt */
		"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		start(&sc, &out);
		ck_assert_msg(pg_scram_continue(&sc, "pencil", bad[i], &out) == -1, "accepted '%s'", bad[i]);
	}
	/* Out of order: final before continue. */
	start(&sc, &out);
	ck_assert_int_eq(pg_scram_finish(&sc, server_final), -1);
}
END_TEST

START_TEST(test_md5_and_cleartext)
{
	struct lms_out out = { .len = 0 };
	const uint8_t salt[4] = { 1, 2, 3, 4 };
	ck_assert_int_eq(pg_login_md5("app_md5", "md5-pw", salt, &out), 0);
	ck_assert_uint_eq(out.data[0], 'p');
	ck_assert_str_eq((const char *)out.data + 5, "md584a983d44cd4315d54d43db11d66dc40");
	ck_assert_uint_eq(pg_get32(out.data + 1), out.len - 1);
	out.len = 0;
	ck_assert_int_eq(pg_login_cleartext("secret", &out), 0);
	ck_assert_str_eq((const char *)out.data + 5, "secret");
	ck_assert_uint_eq(out.len, 5 + 7);
}
END_TEST

static Suite *login_suite(void)
{
	Suite *s = suite_create("login");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_scram_first_message);
	tcase_add_test(tc, test_scram_proof_and_server_signature);
	tcase_add_test(tc, test_scram_salted_password_cache);
	tcase_add_test(tc, test_scram_refuses_a_server_that_does_not_know_the_password);
	tcase_add_test(tc, test_scram_refuses_bad_server_first);
	tcase_add_test(tc, test_md5_and_cleartext);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(login_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
