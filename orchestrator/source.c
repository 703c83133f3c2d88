/*
 * source.c - choose a source's function table (source.h); the
 * PostgreSQL-wire kind, which is the store code over SOURCE_URL.
 */
#include "autoconfig.h"

#include "source.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

static int pg_init_watermark(void *impl, json_t *created, json_t *existing, char *err, size_t errlen)
{
	return orch_store_init_watermark(impl, created, existing, err, errlen);
}

static int pg_write_watermark(void *impl, const char *token, char *err, size_t errlen)
{
	return orch_store_write_watermark(impl, token, err, errlen);
}

static int pg_read_watermark(void *impl, char *buf, size_t cap, char *err, size_t errlen)
{
	return orch_store_read_watermark(impl, buf, cap, err, errlen);
}

static void pg_free(void *impl)
{
	orch_store_free(impl);
}

/* A PostgreSQL or CockroachDB source: its clients' logins are relayed to
 * whichever database serves them, so there is nothing to copy. */
static const struct orch_source_ops pg_ops = {
	.init_watermark = pg_init_watermark,
	.write_watermark = pg_write_watermark,
	.read_watermark = pg_read_watermark,
	.read_logins = NULL,
	.free = pg_free,
};

/* The URL's scheme says how to speak to the source, whatever sourceDialect
 * says (a pgwire URL beside a MySQL sourceDialect only carries the
 * watermark, as tests of the serving side use it). */
static bool mysql_url(const char *url)
{
	return !strncmp(url, "mysql://", 8) || !strncmp(url, "mariadb://", 10);
}

struct orch_source *orch_source_new(const char *dialect, const char *url)
{
	(void)dialect;
	struct orch_source *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (mysql_url(url)) {
		s->ops = &orch_source_mysql_ops;
		s->impl = orch_source_mysql_new(url);
	} else {
		s->ops = &pg_ops;
		s->impl = orch_store_new(url, "SOURCE_URL");
	}
	if (!s->impl) {
		free(s);
		return NULL;
	}
	return s;
}

void orch_source_free(struct orch_source *s)
{
	if (!s)
		return;
	s->ops->free(s->impl);
	free(s);
}

json_t *orch_source_copy_logins(struct orch_source *src, struct orch_store *store, char *err, size_t errlen)
{
	if (!src || !src->ops->read_logins)
		return json_null();
	struct orch_login *l;
	size_t n;
	if (src->ops->read_logins(src->impl, &l, &n, err, errlen) != ORCH_STORE_OK)
		return NULL;
	if (orch_store_replace_logins(store, l, n, err, errlen) != ORCH_STORE_OK) {
		orch_logins_free(l, n);
		return NULL;
	}
	/* who cannot log in through LMS after a cutover (docs/mysql-auth.md) */
	json_t *refused = json_array();
	for (size_t i = 0; i < n; i++) {
		if (strcmp(l[i].plugin, "mysql_native_password") && strcmp(l[i].plugin, ""))
			json_array_append_new(refused, json_sprintf("%s@%s (%s)", l[i].user, l[i].host, l[i].plugin));
	}
	orch_logins_free(l, n);
	return json_pack("{s:I,s:s,s:o}", "copied", (json_int_t)n, "table", "_molt_lms.credentials",
			 "not_verifiable", refused);
}

void orch_logins_free(struct orch_login *l, size_t n)
{
	if (!l)
		return;
	for (size_t i = 0; i < n; i++) {
		free(l[i].user);
		free(l[i].host);
		free(l[i].plugin);
		if (l[i].verifier)
			memset(l[i].verifier, 0, strlen(l[i].verifier));
		free(l[i].verifier);
	}
	free(l);
}
