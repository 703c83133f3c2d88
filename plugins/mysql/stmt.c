/*
 * stmt.c - prepared statements remembered while the core observes a
 * MySQL session: the text of each (from COM_STMT_PREPARE, keyed by the id
 * its PREPARE OK chose), so that an execution can be described as a
 * common request (ABI 1.3) and fingerprinted.  At most MY_STMTS; a
 * statement beyond that is not remembered (its executions are then not
 * translated).
 */
#include "autoconfig.h"

#include <string.h>

#include "mysql.h"

/* Statements live from slot id % MY_STMTS on (servers count ids up from
 * 1, so a statement is usually found at its first slot). */
struct my_stmt *my_stmt_find(struct my_sess *s, uint32_t id)
{
	for (uint32_t i = 0; i < MY_STMTS; i++) {
		struct my_stmt *st = &s->stmts[(id + i) % MY_STMTS];
		if (st->used && st->id == id)
			return st;
	}
	return NULL;
}

static void stmt_free(struct my_sess *s, struct my_stmt *st)
{
	my_stmt_extras_free(s, st);
	if (st->sql)
		my_host->free(st->sql);
	if (st->types)
		my_host->free(st->types);
	if (st->holes)
		my_host->free(st->holes);
	memset(st, 0, sizeof(*st));
}

int my_stmt_scan(struct my_stmt *st)
{
	if (st->scanned)
		return st->scanned > 0 ? 0 : -1;
	st->scanned = -1;
	if (st->nparams > LMS_REQ_HOLES_MAX)
		return -1;
	uint32_t *holes = my_host->alloc(((size_t)st->nparams + 1) * sizeof(*holes));
	if (!holes)
		return -1;
	long n = my_placeholders(st->sql, st->len, holes, st->nparams);
	if (n != (long)st->nparams) { /* also when there are more: the scan stopped at nparams */
		my_host->free(holes);
		return -1;
	}
	st->holes = holes;
	st->txn_flags = my_txn_flags(st->sql, st->len, 1); /* once per statement: the whole scan */
	st->scanned = 1;
	return 0;
}

void my_stmt_prepared(struct my_sess *s, uint32_t id, uint32_t nparams, uint32_t ncols)
{
	char *sql = s->prep_sql;
	size_t len = s->prep_len;
	if (id > s->max_stmt_id)
		s->max_stmt_id = id; /* ids LMS chooses later stay above it */
	s->prep_sql = NULL;
	s->prep_len = 0;
	if (!sql)
		return;
	struct my_stmt *st = my_stmt_find(s, id);
	for (uint32_t i = 0; !st && i < MY_STMTS; i++)
		if (!s->stmts[(id + i) % MY_STMTS].used)
			st = &s->stmts[(id + i) % MY_STMTS];
	if (!st) {
		my_host->free(sql);
		return;
	}
	stmt_free(s, st);
	st->used = 1;
	st->id = id;
	st->sql = sql;
	st->len = len;
	st->nparams = nparams;
	st->ncols = ncols;
}

int my_stmt_bound_types(const struct my_stmt *st, const uint8_t *pl, size_t n, const uint8_t **types)
{
	size_t flag = 10 + (st->nparams + 7) / 8;
	*types = NULL;
	if (st->nparams == 0 || (n > flag && pl[flag] == 0))
		return 0;
	if (n <= flag || pl[flag] != 1 || n - flag - 1 < 2 * (size_t)st->nparams)
		return -1;
	*types = pl + flag + 1;
	return 1;
}

void my_stmt_close(struct my_sess *s, uint32_t id)
{
	struct my_stmt *st = my_stmt_find(s, id);
	if (st)
		stmt_free(s, st);
}

void my_stmt_clear(struct my_sess *s)
{
	for (uint32_t i = 0; i < MY_STMTS; i++)
		if (s->stmts[i].used)
			stmt_free(s, &s->stmts[i]);
	if (s->prep_sql)
		my_host->free(s->prep_sql);
	s->prep_sql = NULL;
	s->prep_len = 0;
}
