/*
 * cockroach.c - cockroach.so: CockroachDB, which speaks PostgreSQL's wire
 * protocol.  CockroachDB-specific behaviour (retryable errors, version
 * reporting) is added here as shadowing needs it.
 */
#include "autoconfig.h"

#include "../pgwire/pgwire.h"

static struct lms_dialect dialect;

__attribute__((visibility("default"))) const struct lms_dialect *lms_dialect_entry(const struct lms_host_api *host);

const struct lms_dialect *lms_dialect_entry(const struct lms_host_api *host)
{
	return pg_entry(host, &dialect, "cockroach", &pg_flavor_cockroach);
}
