/*
 * postgres.c - postgres.so: PostgreSQL as source or target.
 */
#include "autoconfig.h"

#include "../pgwire/pgwire.h"

static struct lms_dialect dialect;

__attribute__((visibility("default"))) const struct lms_dialect *lms_dialect_entry(const struct lms_host_api *host);

const struct lms_dialect *lms_dialect_entry(const struct lms_host_api *host)
{
	return pg_entry(host, &dialect, "postgres", &pg_flavor_postgres);
}
