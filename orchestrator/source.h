/*
 * source.h - the orchestrator's direct connection to the source database
 * (SOURCE_URL): the cutover watermark, and the login verifiers a source
 * whose clients LMS must log in itself after a cutover (MySQL) has.
 *
 * One function table per kind of source (source.c: a PostgreSQL-wire
 * source through orch_store; source_mysql.c: MySQL and MariaDB through
 * libmariadb), chosen once by sourceDialect, so that the cutover code
 * never asks which kind it talks to.  Calls block, bounded by connect
 * and statement timeouts; errors never show the URL's password.
 */
#ifndef ORCH_SOURCE_H
#define ORCH_SOURCE_H

#include <stddef.h>

#include <jansson.h>

/* One login of the source: user@host, its authentication plugin and
 * verifier as the source stores them (strings malloc'd, owned by the
 * array; orch_logins_free frees them). */
struct orch_login {
	char *user;
	char *host;
	char *plugin;
	char *verifier;
};

struct orch_source_ops {
	/* Create _molt_lms.watermark on the source when missing, naming it
	 * in created or existing ("source:_molt_lms.watermark"). */
	int (*init_watermark)(void *impl, json_t *created, json_t *existing, char *err, size_t errlen);
	/* Upsert (1, token, now) into _molt_lms.watermark. */
	int (*write_watermark)(void *impl, const char *token, char *err, size_t errlen);
	/* The token of row 1 into buf ("" when none). */
	int (*read_watermark)(void *impl, char *buf, size_t cap, char *err, size_t errlen);
	/* Optional (NULL: the source's clients never need LMS to log them
	 * in): every login of the source into a new array *out of *n. */
	int (*read_logins)(void *impl, struct orch_login **out, size_t *n, char *err, size_t errlen);
	void (*free)(void *impl);
};

struct orch_source {
	const struct orch_source_ops *ops;
	void *impl;
};

/* A source for url (borrowed, must outlive it): MySQL for a mysql:// or
 * mariadb:// URL, PostgreSQL wire otherwise (dialect, the sourceDialect,
 * is not what decides).  Connects lazily.  NULL when out of memory. */
struct orch_source *orch_source_new(const char *dialect, const char *url);
void orch_source_free(struct orch_source *s);

/* The MySQL kind (source_mysql.c): impl for its ops. */
extern const struct orch_source_ops orch_source_mysql_ops;
void *orch_source_mysql_new(const char *url);

/* Copy the source's logins into the store's _molt_lms.credentials
 * (replacing the previous copy in one transaction): a new object
 * {copied, table, not_verifiable: ["user@host (plugin)", ...]}; a JSON
 * null when this kind of source has none to copy (or src is NULL); NULL
 * with a message when they cannot be read or written. */
struct orch_store;
json_t *orch_source_copy_logins(struct orch_source *src, struct orch_store *store, char *err, size_t errlen);

void orch_logins_free(struct orch_login *l, size_t n);

#endif
