/*
 * check_config.c - core/config.c: defaults, precedence of flags over the
 * environment over config.json, error messages for bad values, and the
 * cross-setting rules of lms_config_validate().
 *
 * Each test runs in its own process (Check's fork mode), so changing the
 * environment here does not leak into other tests.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static const char *const env_names[] = {
	"LMS_CONFIG", "LMS_SOURCE_DIALECT", "LMS_TARGET_DIALECT", "LMS_SHADOW_MODE",
	"LMS_LISTEN", "LMS_METRICS_LISTEN", "LMS_PLUGIN_DIR", "INIT_SOURCE", "INIT_TARGET",
	"LMS_SSL_CERT", "LMS_SSL_KEY", "LMS_SSL_CA", "LMS_ALLOW_TLS_MODE_DISABLE",
	"LMS_WORKERS", "LMS_MAX_CONNECTIONS", "LMS_CONNECT_TIMEOUT", "LMS_IDLE_TIMEOUT",
	"LMS_SHUTDOWN_TIMEOUT", "LMS_LOG_LEVEL", "LMS_LOGIN_TIMEOUT", "LMS_SHADOW_TIMEOUT",
	"LMS_MISMATCH_LOG", "LMS_MISMATCH_LOG_MAX_BYTES", "LMS_MISMATCH_LOG_FILES",
};

static char tmpdir[256];
static char cfg_path[512];
static char err[1024];
static struct lms_config cfg;

static void setup(void)
{
	for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
		unsetenv(env_names[i]);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/lms-check-config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(cfg_path, sizeof(cfg_path), "%s/config.json", tmpdir);
	memset(&cfg, 0, sizeof(cfg));
	err[0] = 0;
}

static void teardown(void)
{
	lms_config_free(&cfg);
	char path[600];
	const char *files[] = { "config.json", "cert.pem", "key.pem" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	rmdir(tmpdir);
}

/* Write text into tmpdir/name; returns the path (static storage per name). */
static const char *write_file(const char *name, const char *text)
{
	static char paths[3][600];
	static int next;
	char *path = paths[next++ % 3];
	snprintf(path, 600, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* lms_config_load with the NULL-terminated flags after the program name. */
static int load(const char *first, ...)
{
	static char store[16][512];
	char *argv[17];
	int argc = 0;
	argv[argc++] = strcpy(store[0], "molt-lms");
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a && argc < 16; a = va_arg(ap, const char *)) {
		snprintf(store[argc], sizeof(store[argc]), "%s", a);
		argv[argc] = store[argc];
		argc++;
	}
	va_end(ap);
	argv[argc] = NULL;
	lms_config_free(&cfg);
	err[0] = 0;
	return lms_config_load(&cfg, argc, argv, err, sizeof(err));
}

#define assert_err_has(s) ck_assert_msg(strstr(err, (s)) != NULL, "error '%s' lacks '%s'", err, (s))

START_TEST(test_defaults)
{
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_ptr_null(cfg.source_dialect);
	ck_assert_str_eq(cfg.target_dialect, "cockroach");
	ck_assert_str_eq(cfg.shadow_mode, "none");
	ck_assert_str_eq(cfg.listen, "0.0.0.0:9043");
	ck_assert_str_eq(cfg.metrics_listen, ":9044");
	ck_assert_ptr_nonnull(cfg.plugin_dir);
	ck_assert_ptr_null(cfg.init_source);
	ck_assert_ptr_null(cfg.init_target);
	ck_assert_ptr_null(cfg.ssl_cert);
	ck_assert(!cfg.allow_tls_disable);
	ck_assert_int_ge(cfg.workers, 1);
	ck_assert_int_eq(cfg.max_connections, 20000);
	ck_assert(cfg.connect_timeout == 10);
	ck_assert(cfg.login_timeout == 60);
	ck_assert(cfg.idle_timeout == 0);
	ck_assert(cfg.shutdown_timeout == 30);
	ck_assert(cfg.shadow_timeout == 5);
	ck_assert_str_eq(cfg.mismatch_log, "mismatches.jsonl");
	ck_assert_int_eq(cfg.mismatch_log_max_bytes, 104857600);
	ck_assert_int_eq(cfg.mismatch_log_files, 5);
	ck_assert_int_eq(cfg.log_level, LMS_LOG_LEVEL_INFO);
	ck_assert(!cfg.check_config && !cfg.show_help && !cfg.show_version);
}
END_TEST

START_TEST(test_help_and_version)
{
	ck_assert_int_eq(load("--help", NULL), 0);
	ck_assert(cfg.show_help);
	ck_assert_int_eq(load("-V", NULL), 0);
	ck_assert(cfg.show_version);
}
END_TEST

START_TEST(test_file_values)
{
	write_file("config.json",
		   "{\"INIT_SOURCE\": \"postgresql://a@h1/db\", \"INIT_TARGET\": \"postgresql://b@h2/db\",\n"
		   " \"sourceDialect\": \"postgres\", \"shadowMode\": \"none\", \"workers\": 3,\n"
		   " \"connectTimeout\": 2.5, \"allowTLSModeDisable\": true, \"logLevel\": \"debug\"}\n");
	ck_assert_int_eq(load("--config", cfg_path, NULL), 0);
	ck_assert_str_eq(cfg.init_source, "postgresql://a@h1/db");
	ck_assert_str_eq(cfg.init_target, "postgresql://b@h2/db");
	ck_assert_str_eq(cfg.source_dialect, "postgres");
	ck_assert_int_eq(cfg.workers, 3);
	ck_assert(cfg.connect_timeout == 2.5);
	ck_assert(cfg.allow_tls_disable);
	ck_assert_int_eq(cfg.log_level, LMS_LOG_LEVEL_DEBUG);
}
END_TEST

START_TEST(test_precedence)
{
	write_file("config.json", "{\"listen\": \"127.0.0.1:1001\", \"workers\": 2}");
	setenv("LMS_CONFIG", cfg_path, 1);
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_str_eq(cfg.listen, "127.0.0.1:1001");
	ck_assert_int_eq(cfg.workers, 2);

	setenv("LMS_LISTEN", "127.0.0.1:1002", 1);
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_str_eq(cfg.listen, "127.0.0.1:1002"); /* env beats file */
	ck_assert_int_eq(cfg.workers, 2);

	ck_assert_int_eq(load("--listen", "127.0.0.1:1003", "--workers=5", NULL), 0);
	ck_assert_str_eq(cfg.listen, "127.0.0.1:1003"); /* flag beats env */
	ck_assert_int_eq(cfg.workers, 5);                /* flag beats file */
}
END_TEST

START_TEST(test_config_flag_beats_env)
{
	write_file("config.json", "{\"listen\": \"127.0.0.1:2001\"}");
	setenv("LMS_CONFIG", "/nonexistent/lms-config.json", 1);
	ck_assert_int_eq(load("--config", cfg_path, NULL), 0);
	ck_assert_str_eq(cfg.listen, "127.0.0.1:2001");
	ck_assert_str_eq(cfg.config_file, cfg_path);
}
END_TEST

START_TEST(test_missing_file)
{
	ck_assert_int_eq(load("--config", "/nonexistent/lms-config.json", NULL), -1);
	assert_err_has("/nonexistent/lms-config.json");
}
END_TEST

START_TEST(test_bad_json)
{
	write_file("config.json", "{\n\"listen\": \"x\",\n oops }");
	ck_assert_int_eq(load("--config", cfg_path, NULL), -1);
	assert_err_has(cfg_path);
	assert_err_has("line 3");
}
END_TEST

START_TEST(test_json_not_object)
{
	write_file("config.json", "[1, 2]");
	ck_assert_int_eq(load("--config", cfg_path, NULL), -1);
	assert_err_has("object");
}
END_TEST

START_TEST(test_unknown_key)
{
	write_file("config.json", "{\"listen\": \"127.0.0.1:1\", \"lisen\": \"127.0.0.1:2\"}");
	ck_assert_int_eq(load("--config", cfg_path, NULL), -1);
	assert_err_has("lisen");
	assert_err_has("unknown setting");
}
END_TEST

START_TEST(test_json_wrong_type)
{
	write_file("config.json", "{\"listen\": [\"a\"]}");
	ck_assert_int_eq(load("--config", cfg_path, NULL), -1);
	assert_err_has("listen");
	assert_err_has("string, number or boolean");
}
END_TEST

START_TEST(test_bad_shadow_mode)
{
	write_file("config.json", "{\"shadowMode\": \"sideways\"}");
	ck_assert_int_eq(load("--config", cfg_path, NULL), -1);
	assert_err_has("shadowMode");
	assert_err_has("'sideways'");
	assert_err_has("none|async|sync|strict-sync");

	ck_assert_int_eq(load("--shadow-mode", "mirror", NULL), -1);
	assert_err_has("--shadow-mode");
	assert_err_has("'mirror'");
	assert_err_has("none|async|sync|strict-sync");
}
END_TEST

START_TEST(test_shadow_settings_sources)
{
	write_file("config.json", "{\"shadowMode\": \"sync\", \"shadowTimeout\": 0.25, "
		   "\"mismatchLog\": \"/var/log/lms/m.jsonl\", \"mismatchLogMaxBytes\": 4096, "
		   "\"mismatchLogFiles\": 0}");
	ck_assert_int_eq(load("--config", cfg_path, NULL), 0);
	ck_assert_str_eq(cfg.shadow_mode, "sync");
	ck_assert(cfg.shadow_timeout == 0.25);
	ck_assert_str_eq(cfg.mismatch_log, "/var/log/lms/m.jsonl");
	ck_assert_int_eq(cfg.mismatch_log_max_bytes, 4096);
	ck_assert_int_eq(cfg.mismatch_log_files, 0);

	setenv("LMS_SHADOW_TIMEOUT", "2", 1);
	setenv("LMS_MISMATCH_LOG", "env.jsonl", 1);
	setenv("LMS_MISMATCH_LOG_MAX_BYTES", "10000000000", 1); /* past 32 bits */
	setenv("LMS_MISMATCH_LOG_FILES", "100", 1);
	ck_assert_int_eq(load("--config", cfg_path, NULL), 0);
	ck_assert(cfg.shadow_timeout == 2);
	ck_assert_str_eq(cfg.mismatch_log, "env.jsonl");
	ck_assert_int_eq(cfg.mismatch_log_max_bytes, 10000000000LL);
	ck_assert_int_eq(cfg.mismatch_log_files, 100);

	ck_assert_int_eq(load("--config", cfg_path, "--shadow-timeout", "7.5", "--mismatch-log", "flag.jsonl",
			      "--mismatch-log-max-bytes", "5000", "--mismatch-log-files", "3", NULL), 0);
	ck_assert(cfg.shadow_timeout == 7.5);
	ck_assert_str_eq(cfg.mismatch_log, "flag.jsonl");
	ck_assert_int_eq(cfg.mismatch_log_max_bytes, 5000);
	ck_assert_int_eq(cfg.mismatch_log_files, 3);
}
END_TEST

START_TEST(test_mismatch_log_disabled)
{
	ck_assert_int_eq(load("--mismatch-log", "", NULL), 0);
	ck_assert_str_eq(cfg.mismatch_log, "");

	write_file("config.json", "{\"mismatchLog\": \"\"}");
	ck_assert_int_eq(load("--config", cfg_path, NULL), 0);
	ck_assert_str_eq(cfg.mismatch_log, "");

	/* unlike other settings, an empty variable is a value here */
	setenv("LMS_MISMATCH_LOG", "", 1);
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_str_eq(cfg.mismatch_log, "");
	setenv("LMS_LISTEN", "", 1); /* still ignored elsewhere */
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_str_eq(cfg.listen, "0.0.0.0:9043");
}
END_TEST

/* "flag value" is refused with a message naming the flag, the value and
 * what is allowed. */
static void assert_flag_refused(const char *flag, const char *value, const char *allowed)
{
	char quoted[128];
	ck_assert_int_eq(load(flag, value, NULL), -1);
	snprintf(quoted, sizeof(quoted), "'%s'", value);
	assert_err_has(flag);
	assert_err_has(quoted);
	assert_err_has(allowed);
}

START_TEST(test_bad_shadow_settings)
{
	assert_flag_refused("--shadow-timeout", "0", "> 0");

	setenv("LMS_SHADOW_TIMEOUT", "-3", 1);
	ck_assert_int_eq(load(NULL), -1);
	assert_err_has("LMS_SHADOW_TIMEOUT");
	assert_err_has("'-3'");
	unsetenv("LMS_SHADOW_TIMEOUT");

	assert_flag_refused("--mismatch-log-max-bytes", "4095", ">= 4096");
	assert_flag_refused("--mismatch-log-max-bytes", "1e9", ">= 4096");

	write_file("config.json", "{\"mismatchLogMaxBytes\": 99999999999999999999}");
	ck_assert_int_eq(load("--config", cfg_path, NULL), -1);

	assert_flag_refused("--mismatch-log-files", "101", "from 0 to 100");

	write_file("config.json", "{\"mismatchLogFiles\": -1}");
	ck_assert_int_eq(load("--config", cfg_path, NULL), -1);
	assert_err_has("mismatchLogFiles");
	assert_err_has("'-1'");
}
END_TEST

START_TEST(test_bad_dialect)
{
	/* The core does not know dialect names: any name is a setting, and the
	 * plugin loader refuses one without a plugin (check_plugin_loader). */
	setenv("LMS_SOURCE_DIALECT", "oracle", 1);
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_str_eq(cfg.source_dialect, "oracle");
}
END_TEST

START_TEST(test_bad_numbers)
{
	ck_assert_int_eq(load("--workers", "many", NULL), -1);
	assert_err_has("--workers");
	assert_err_has("'many'");
	assert_err_has("whole number");

	ck_assert_int_eq(load("--workers", "0", NULL), -1);
	assert_err_has("'0'");

	ck_assert_int_eq(load("--workers", "12abc", NULL), -1);
	assert_err_has("'12abc'");

	setenv("LMS_MAX_CONNECTIONS", "99999999999999999999", 1);
	ck_assert_int_eq(load(NULL), -1);
	assert_err_has("LMS_MAX_CONNECTIONS");
	unsetenv("LMS_MAX_CONNECTIONS");

	ck_assert_int_eq(load("--connect-timeout", "-1", NULL), -1);
	assert_err_has("--connect-timeout");
	assert_err_has("'-1'");

	ck_assert_int_eq(load("--idle-timeout", "nan", NULL), -1);
	assert_err_has("'nan'");

	write_file("config.json", "{\"workers\": 1.5}");
	ck_assert_int_eq(load("--config", cfg_path, NULL), -1);
	assert_err_has("workers");
	assert_err_has("'1.5'");
}
END_TEST

START_TEST(test_bad_bool_and_level)
{
	setenv("LMS_ALLOW_TLS_MODE_DISABLE", "maybe", 1);
	ck_assert_int_eq(load(NULL), -1);
	assert_err_has("LMS_ALLOW_TLS_MODE_DISABLE");
	assert_err_has("true|false");
	unsetenv("LMS_ALLOW_TLS_MODE_DISABLE");

	ck_assert_int_eq(load("--log-level", "loud", NULL), -1);
	assert_err_has("'loud'");
	assert_err_has("error|warn|info|debug");
}
END_TEST

START_TEST(test_bad_flags)
{
	ck_assert_int_eq(load("--bogus", NULL), -1);
	assert_err_has("--bogus");
	ck_assert_int_eq(load("--listen", NULL), -1); /* missing its value */
	assert_err_has("--listen");
	ck_assert_int_eq(load("--workers", "2", "stray", NULL), -1);
	assert_err_has("stray");
}
END_TEST

/* Flags for a configuration that passes validate() but for what a test
 * changes. */
#define BASE_FLAGS "--source-dialect", "postgres", "--init-source", "postgresql://a@h1/db", \
	"--init-target", "postgresql://b@h2/db"

START_TEST(test_validate_ok)
{
	ck_assert_int_eq(load(BASE_FLAGS, "--allow-tls-mode-disable", NULL), 0);
	ck_assert_int_eq(lms_config_validate(&cfg, err, sizeof(err)), 0);

	const char *cert = write_file("cert.pem", "not really a cert\n");
	const char *key = write_file("key.pem", "not really a key\n");
	ck_assert_int_eq(load(BASE_FLAGS, "--ssl-cert", cert, "--ssl-key", key, NULL), 0);
	ck_assert_int_eq(lms_config_validate(&cfg, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_validate_missing_tls)
{
	ck_assert_int_eq(load(BASE_FLAGS, NULL), 0);
	ck_assert_int_eq(lms_config_validate(&cfg, err, sizeof(err)), -1);
	assert_err_has("LMS_SSL_CERT");
	assert_err_has("--allow-tls-mode-disable");
}
END_TEST

START_TEST(test_validate_cert_without_key)
{
	const char *cert = write_file("cert.pem", "x\n");
	ck_assert_int_eq(load(BASE_FLAGS, "--ssl-cert", cert, NULL), 0);
	ck_assert_int_eq(lms_config_validate(&cfg, err, sizeof(err)), -1);
	assert_err_has("LMS_SSL_KEY");
	assert_err_has("got only LMS_SSL_CERT");

	const char *key = write_file("key.pem", "x\n");
	ck_assert_int_eq(load(BASE_FLAGS, "--ssl-key", key, NULL), 0);
	ck_assert_int_eq(lms_config_validate(&cfg, err, sizeof(err)), -1);
	assert_err_has("got only LMS_SSL_KEY");
}
END_TEST

START_TEST(test_validate_unreadable_cert)
{
	const char *key = write_file("key.pem", "x\n");
	ck_assert_int_eq(load(BASE_FLAGS, "--ssl-cert", "/nonexistent/cert.pem", "--ssl-key", key, NULL), 0);
	ck_assert_int_eq(lms_config_validate(&cfg, err, sizeof(err)), -1);
	assert_err_has("LMS_SSL_CERT");
	assert_err_has("/nonexistent/cert.pem");
}
END_TEST

START_TEST(test_validate_ca_without_cert)
{
	ck_assert_int_eq(load(BASE_FLAGS, "--allow-tls-mode-disable", "--ssl-ca", "/x/ca.pem", NULL), 0);
	ck_assert_int_eq(lms_config_validate(&cfg, err, sizeof(err)), -1);
	assert_err_has("LMS_SSL_CA");
}
END_TEST

START_TEST(test_validate_missing_urls)
{
	ck_assert_int_eq(load("--source-dialect", "postgres", "--allow-tls-mode-disable", NULL), 0);
	ck_assert_int_eq(lms_config_validate(&cfg, err, sizeof(err)), -1);
	assert_err_has("INIT_SOURCE");

	ck_assert_int_eq(load("--source-dialect", "postgres", "--allow-tls-mode-disable",
			      "--init-source", "postgresql://a@h/db", NULL), 0);
	ck_assert_int_eq(lms_config_validate(&cfg, err, sizeof(err)), -1);
	assert_err_has("INIT_TARGET");
}
END_TEST

START_TEST(test_validate_missing_dialect)
{
	ck_assert_int_eq(load("--allow-tls-mode-disable", NULL), 0);
	ck_assert_int_eq(lms_config_validate(&cfg, err, sizeof(err)), -1);
	assert_err_has("sourceDialect");
}
END_TEST

START_TEST(test_validate_shadow_modes)
{
	const char *modes[] = { "none", "async", "sync", "strict-sync" };
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		ck_assert_int_eq(load(BASE_FLAGS, "--allow-tls-mode-disable", "--shadow-mode", modes[i], NULL), 0);
		ck_assert_msg(lms_config_validate(&cfg, err, sizeof(err)) == 0, "%s: %s", modes[i], err);
	}
	/* a value that did not come through the loader */
	free(cfg.shadow_mode);
	cfg.shadow_mode = strdup("Sync");
	ck_assert_int_eq(lms_config_validate(&cfg, err, sizeof(err)), -1);
	assert_err_has("shadowMode");
	assert_err_has("'Sync'");
	assert_err_has("none|async|sync|strict-sync");
}
END_TEST

/* Known bug: config.c turns JSON reals into text with "%g" (six
 * significant digits), so a value in config.json silently changes. */
START_TEST(test_validate_admin_host)
{
	static const char *const good[] = { "10.1.2.3", "fd00::1", "[fd00::1]", "::1", "lms-0.lms.ns.svc", NULL };
	static const char *const bad[] = { "::1:9044x", "host:9044", "[10.0.0.1]", "a/b", "[::1", "h o", NULL };
	for (int i = 0; good[i]; i++) {
		ck_assert_int_eq(load(BASE_FLAGS, "--allow-tls-mode-disable", "--advertise-admin-host", good[i], NULL), 0);
		ck_assert_msg(lms_config_validate(&cfg, err, sizeof(err)) == 0, "%s: %s", good[i], err);
	}
	for (int i = 0; bad[i]; i++) {
		ck_assert_int_eq(load(BASE_FLAGS, "--allow-tls-mode-disable", "--advertise-admin-host", bad[i], NULL), 0);
		ck_assert_msg(lms_config_validate(&cfg, err, sizeof(err)) == -1, "%s accepted", bad[i]);
		assert_err_has("advertiseAdminHost: invalid value");
	}
	ck_assert_int_eq(load(BASE_FLAGS, "--allow-tls-mode-disable", "--advertise-admin-host", "10.0.0.1",
			      "--advertise-admin-url", "http://10.0.0.1:9044", NULL), 0);
	ck_assert_int_eq(lms_config_validate(&cfg, err, sizeof(err)), -1);
	assert_err_has("not both");
}
END_TEST

START_TEST(test_regression_json_real_precision)
{
	write_file("config.json", "{\"connectTimeout\": 0.1234567, \"shutdownTimeout\": 1234567.5}");
	ck_assert_int_eq(load("--config", cfg_path, NULL), 0);
	ck_assert_msg(cfg.connect_timeout == 0.1234567, "connectTimeout became %.10g", cfg.connect_timeout);
	ck_assert_msg(cfg.shutdown_timeout == 1234567.5, "shutdownTimeout became %.10g", cfg.shutdown_timeout);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_help_and_version);
	tcase_add_test(tc, test_file_values);
	tcase_add_test(tc, test_precedence);
	tcase_add_test(tc, test_config_flag_beats_env);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_bad_json);
	tcase_add_test(tc, test_json_not_object);
	tcase_add_test(tc, test_unknown_key);
	tcase_add_test(tc, test_json_wrong_type);
	tcase_add_test(tc, test_bad_shadow_mode);
	tcase_add_test(tc, test_shadow_settings_sources);
	tcase_add_test(tc, test_mismatch_log_disabled);
	tcase_add_test(tc, test_bad_shadow_settings);
	tcase_add_test(tc, test_bad_dialect);
	tcase_add_test(tc, test_bad_numbers);
	tcase_add_test(tc, test_bad_bool_and_level);
	tcase_add_test(tc, test_bad_flags);
	suite_add_tcase(s, tc);

	TCase *tv = tcase_create("validate");
	tcase_add_checked_fixture(tv, setup, teardown);
	tcase_add_test(tv, test_validate_ok);
	tcase_add_test(tv, test_validate_missing_tls);
	tcase_add_test(tv, test_validate_cert_without_key);
	tcase_add_test(tv, test_validate_unreadable_cert);
	tcase_add_test(tv, test_validate_ca_without_cert);
	tcase_add_test(tv, test_validate_missing_urls);
	tcase_add_test(tv, test_validate_missing_dialect);
	tcase_add_test(tv, test_validate_shadow_modes);
	tcase_add_test(tv, test_validate_admin_host);
	suite_add_tcase(s, tv);

	TCase *bugs = tcase_create("regressions");
	tcase_add_checked_fixture(bugs, setup, teardown);
	tcase_add_test(bugs, test_regression_json_real_precision);
	suite_add_tcase(s, bugs);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	/* The tests change the environment and getopt's state: always give
	 * each its own process, even under CK_FORK=no. */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
