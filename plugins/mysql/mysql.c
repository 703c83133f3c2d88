/*
 * mysql.c - mysql.so: MySQL and MariaDB as the source database.
 */
#include "autoconfig.h"

#include "mysql.h"

static struct lms_dialect dialect;

__attribute__((visibility("default"))) const struct lms_dialect *lms_dialect_entry(const struct lms_host_api *host);

const struct lms_dialect *lms_dialect_entry(const struct lms_host_api *host)
{
	return my_entry(host, &dialect);
}
