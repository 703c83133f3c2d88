/*
 * my_stmt.h - helpers of the mysql.so unit tests: a client command packet,
 * and a statement as its PREPARE OK leaves it in the session.  Needs
 * check.h, mysql.h and a host whose alloc is malloc (stub_host.h).
 */
#ifndef LMS_TEST_MY_STMT_H
#define LMS_TEST_MY_STMT_H

#include <stdlib.h>
#include <string.h>

/* A command packet (sequence id 0) of payload pl[0..n) at m; its length. */
static inline size_t cmd_packet(uint8_t *m, const void *pl, size_t n)
{
	my_put24(m, (uint32_t)n);
	m[3] = 0;
	memcpy(m + 4, pl, n);
	return n + 4;
}

/* Statement id with sql and n parameters, as its PREPARE OK makes it. */
static inline struct my_stmt *stmt_with(struct my_sess *s, uint32_t id, const char *sql, uint32_t n)
{
	s->prep_sql = strdup(sql);
	s->prep_len = strlen(sql);
	my_stmt_prepared(s, id, n, 1);
	struct my_stmt *st = my_stmt_find(s, id);
	ck_assert_ptr_nonnull(st);
	return st;
}

#endif
