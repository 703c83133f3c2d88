/*
 * remap.c - statement ids of a session moved back to MariaDB at a cut
 * back (move_back.c) while it holds prepared statements.
 *
 * The client keeps the ids it was given: by MariaDB before the first
 * cutover, or by molt-lms while PostgreSQL served.  The new MariaDB
 * connection numbers statements itself (a fresh connection here starts
 * near 200), so an id the client sends could name another statement
 * there, or none.  So, from the move on (s->remap):
 *
 *   at the move          each open statement is prepared again on the new
 *                        connection (fe_switch_state, answers hidden); its
 *                        PREPARE OK gives st->db_id
 *   EXECUTE, CLOSE,      the id in the command is replaced by the
 *   RESET, LONG_DATA,    statement's db_id as the bytes go out (the
 *   FETCH                frame's patch, ABI 1.10); 0 when it has none
 *                        there (MariaDB answers "unknown prepared
 *                        statement"); 0xFFFFFFFF (MariaDB's "the statement
 *                        prepared last") goes as it is
 *   the client's         its PREPARE OK gets the next id of molt-lms's
 *   PREPAREs             (above every id the client got), the database's
 *                        is kept as db_id
 *
 * A statement prepared again has no parameter types on the new
 * connection: its first execution that does not send them (as a client
 * does that sent them once) gets the types the client last sent, written
 * in (REWRITE), when the command is small enough to be rewritten whole;
 * otherwise MariaDB refuses it (ERR 1210), never runs it with wrong
 * values.  The client's own statement ids are the keys of s->stmts
 * throughout, so the shadow's translation and a later cutover see the
 * session as before.
 */
#include "autoconfig.h"

#include <string.h>

#include "mysql.h"

#define MY_STMT_LAST 0xFFFFFFFFu /* MariaDB: the statement prepared last */

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

void my_remap_start(struct my_sess *s)
{
	s->remap = 0;
	for (uint32_t i = 0; i < MY_STMTS; i++) {
		struct my_stmt *st = &s->stmts[i];
		st->db_id = 0;
		st->db_typed = 0;
		s->remap |= st->used;
	}
}

int my_remap_state(struct my_sess *s, uint32_t j, struct lms_request *req)
{
	if (!s->remap)
		return 0;
	for (uint32_t i = 0; i < MY_STMTS; i++) {
		const struct my_stmt *st = &s->stmts[i];
		if (!st->used || j-- > 0)
			continue;
		memset(req, 0, sizeof(*req));
		req->kind = LMS_REQ_PREPARE;
		req->sql = st->sql;
		req->sql_len = st->len;
		req->stmt_id = st->id;
		req->flags = LMS_REQ_STMT_ATOMIC | LMS_REQ_READ;
		return 1;
	}
	return 0;
}

void my_remap_reprepared(struct my_sess *s, uint32_t id, uint32_t db_id)
{
	struct my_stmt *st = my_stmt_find(s, id);
	if (!st)
		return;
	st->db_id = db_id;
	st->db_typed = 0;
}

/* Does this command name a statement in its first four bytes after the
 * command byte? */
static int names_statement(uint8_t cmd)
{
	return cmd == MY_COM_STMT_EXECUTE || cmd == MY_COM_STMT_CLOSE || cmd == MY_COM_STMT_RESET ||
	       cmd == MY_COM_STMT_SEND_LONG_DATA || cmd == MY_COM_STMT_FETCH;
}

/* Where an execution of st says whether parameter types follow. */
static size_t types_flag_at(const struct my_stmt *st)
{
	return MY_HDR + 10 + ((size_t)st->nparams + 7) / 8;
}

int my_remap_frame(struct my_sess *s, uint8_t cmd, const uint8_t *p, size_t avail, struct lms_frame *f)
{
	s->retype = 0;
	if (!names_statement(cmd) || f->len < MY_HDR + 5)
		return 0; /* (too short: the database refuses it) */
	if (avail < MY_HDR + 5)
		return -1;
	uint32_t id = my_le32(p + MY_HDR + 1);
	if (id == MY_STMT_LAST)
		return 0;
	struct my_stmt *st = my_stmt_find(s, id);
	f->patch_at = MY_HDR + 1;
	f->patch_len = 4;
	put_le32(f->patch, st ? st->db_id : 0);
	if (cmd != MY_COM_STMT_EXECUTE || !st || !st->db_id || st->nparams == 0 || st->db_typed)
		return 0;
	size_t flag = types_flag_at(st);
	if (f->len <= flag)
		return 0;
	if (avail <= flag)
		return -1;
	if (p[flag] == 1) {
		st->db_typed = 1; /* sent with this execution */
		return 0;
	}
	if (p[flag] != 0 || !st->types || f->len > LMS_DECODE_MAX ||
	    f->len + 2 * (uint64_t)st->nparams > LMS_OUT_MAX)
		return 0; /* MariaDB refuses it: no types known there */
	s->retype = 1;
	return 1;
}

int my_remap_retype(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res)
{
	s->retype = 0;
	struct my_stmt *st = len >= MY_HDR + 5 ? my_stmt_find(s, my_le32(msg + MY_HDR + 1)) : NULL;
	if (!st || !st->types || !st->db_id)
		return 0; /* (closed meanwhile: forwarded with the frame's patch) */
	size_t flag = types_flag_at(st);
	size_t types = 2 * (size_t)st->nparams;
	if (flag >= len || msg[flag] != 0 || len + types > LMS_OUT_MAX)
		return 0;
	memcpy(out->data, msg, flag);
	out->data[flag] = 1;
	memcpy(out->data + flag + 1, st->types, types);
	memcpy(out->data + flag + 1 + types, msg + flag + 1, len - flag - 1);
	out->len = len + types;
	my_put24(out->data, (uint32_t)(out->len - MY_HDR));
	put_le32(out->data + MY_HDR + 1, st->db_id);
	res->verdict = LMS_REWRITE;
	st->db_typed = 1;
	return 0;
}

int my_remap_prepare_ok(struct my_sess *s, const uint8_t *msg, size_t len, uint32_t nparams, uint32_t ncols,
			struct lms_out *out, struct lms_result *res)
{
	if (len < MY_HDR + 5 || len > LMS_OUT_MAX)
		return -1;
	uint32_t db_id = my_le32(msg + MY_HDR + 1);
	uint32_t id = ++s->max_stmt_id;
	if (id == 0 || id == MY_STMT_LAST)
		id = s->max_stmt_id = 1; /* (after four billion statements) */
	my_stmt_prepared(s, id, nparams, ncols);
	struct my_stmt *st = my_stmt_find(s, id);
	if (st) {
		st->db_id = db_id;
		st->db_typed = 0;
	} /* else not remembered (no room, or its text too long to keep):
	     its commands name no statement on the database */
	memcpy(out->data, msg, len);
	put_le32(out->data + MY_HDR + 1, id);
	out->len = len;
	res->verdict = LMS_REWRITE;
	return 0;
}
