/*
 * shadow_req.c - a common request (ABI 1.3) written as MySQL commands, for
 * the shadow toward MariaDB of a session that a cutover made translated
 * (its source of truth speaks PostgreSQL's protocol).  The client's bytes
 * cannot be copied there: the statement ids it uses were chosen by
 * molt-lms (answer.c), and the database never gave them out.
 *
 *   QUERY              COM_QUERY with the text as written
 *   PREPARE, DESCRIBE  COM_STMT_PREPARE; the database's id is kept with
 *                      the text (stmt.c)
 *   EXECUTE            COM_STMT_EXECUTE of the statement prepared here with
 *                      the same text, each parameter as a string (the
 *                      database converts it, as PostgreSQL infers a text
 *                      parameter's type); none prepared: not encoded
 *   CLOSE              nothing (statements stay prepared for the next
 *                      execution of the same text, at most MY_SHADOW_STMTS)
 *   PING               COM_PING (the commands LMS answers itself too)
 *   RESET              COM_RESET_CONNECTION
 *   BEGIN_FIRST flag   START TRANSACTION first, its answer hidden: the
 *                      client's autocommit is off (answered by LMS, the
 *                      shadow got a PING), this connection's is on, and
 *                      the statement must open a transaction here too,
 *                      so that the client's ROLLBACK undoes it on both
 *
 * Each command is queued on the backend's own session state with what
 * reading its answer needs, as fe_frame queues a client's command.  A
 * session moved back to MariaDB (move_back.c) gets its state here as
 * plain queries (fe_switch_state) on the session's own queue, before its
 * next command.  The
 * request's ABI 1.5 flags (statement atomicity, implicit commits) describe
 * MySQL's own behaviour: nothing to add for a MySQL database.
 */
#include "autoconfig.h"

#include <string.h>

#include "mysql.h"

#define MY_SHADOW_STMTS 64u /* statements kept prepared per connection */
#define MY_T_STRING 0xFEu

/* A packet of payload pl[0..n) (sequence id 0) at buf[*at..cap). */
static int put_packet(uint8_t *buf, size_t cap, size_t *at, const uint8_t *head, size_t hn, const void *body,
		      size_t bn)
{
	size_t n = hn + bn;
	if (n >= MY_MAX_PAYLOAD || *at + MY_HDR + n > cap)
		return -1;
	my_put24(buf + *at, (uint32_t)n);
	buf[*at + 3] = 0;
	memcpy(buf + *at + MY_HDR, head, hn);
	if (bn)
		memcpy(buf + *at + MY_HDR + hn, body, bn);
	*at += MY_HDR + n;
	return 0;
}

/* The statement prepared here with text sql[0..len), or NULL. */
static struct my_stmt *stmt_by_text(struct my_sess *s, const char *sql, size_t len)
{
	for (uint32_t i = 0; i < MY_STMTS; i++) {
		struct my_stmt *st = &s->stmts[i];
		if (st->used && st->len == len && memcmp(st->sql, sql, len) == 0)
			return st;
	}
	return NULL;
}

/* Room for one more statement: close one (COM_STMT_CLOSE, no answer)
 * when MY_SHADOW_STMTS are prepared, or the one with the same text. */
static int make_room(struct my_sess *s, const char *sql, size_t len, uint8_t *buf, size_t cap, size_t *at)
{
	struct my_stmt *victim = stmt_by_text(s, sql, len);
	uint32_t used = 0;
	for (uint32_t i = 0; !victim && i < MY_STMTS; i++)
		if (s->stmts[i].used && ++used >= MY_SHADOW_STMTS)
			victim = &s->stmts[i];
	if (!victim)
		return 0;
	uint8_t close[5] = { MY_COM_STMT_CLOSE };
	for (int k = 0; k < 4; k++)
		close[1 + k] = (uint8_t)(victim->id >> (8 * k));
	if (put_packet(buf, cap, at, close, sizeof(close), NULL, 0) < 0)
		return -1;
	my_stmt_close(s, victim->id);
	return 0;
}

/* COM_STMT_EXECUTE of st with the request's parameters as strings. */
static long put_execute(struct my_sess *s, const struct my_stmt *st, const struct lms_request *req, uint8_t *buf,
			size_t cap)
{
	if (req->nparams != st->nparams)
		return -1;
	size_t bits = (req->nparams + 7) / 8;
	size_t n = 10 + (req->nparams ? bits + 1 + 2 * (size_t)req->nparams : 0);
	for (uint32_t k = 0; k < req->nparams; k++)
		n += req->params[k].data ? 9 + (size_t)req->params[k].len : 0;
	if (n >= MY_MAX_PAYLOAD || MY_HDR + n > cap)
		return -1;
	struct my_pk w = { buf, cap, MY_HDR, 0, 0 };
	my_pk_u8(&w, MY_COM_STMT_EXECUTE);
	my_pk_le(&w, st->id, 4);
	my_pk_u8(&w, 0); /* no cursor */
	my_pk_le(&w, 1, 4);
	if (req->nparams) {
		size_t nb = w.len;
		for (size_t i = 0; i < bits; i++)
			my_pk_u8(&w, 0);
		for (uint32_t k = 0; k < req->nparams; k++)
			if (!req->params[k].data)
				buf[nb + k / 8] |= (uint8_t)(1u << (k % 8));
		my_pk_u8(&w, 1); /* types follow */
		for (uint32_t k = 0; k < req->nparams; k++)
			my_pk_le(&w, MY_T_STRING, 2);
		for (uint32_t k = 0; k < req->nparams; k++)
			if (req->params[k].data)
				my_pk_lenstr(&w, req->params[k].data, req->params[k].len);
	}
	if (w.bad)
		return -1;
	my_put24(buf, (uint32_t)(w.len - MY_HDR));
	buf[3] = 0;
	if (my_queue_push(s, MY_COM_STMT_EXECUTE, 1) < 0)
		return -1;
	my_tag(st->sql, st->len, s->queue[(s->q_head + s->q_len - 1) % MY_QUEUE].tag);
	return (long)w.len;
}

/* COM_STMT_PREPARE, its text kept with the queued command. */
static long put_prepare(struct my_sess *s, const struct lms_request *req, uint8_t *buf, size_t cap)
{
	size_t at = 0;
	if (make_room(s, req->sql, req->sql_len, buf, cap, &at) < 0)
		return -1;
	uint8_t cmd = MY_COM_STMT_PREPARE;
	char *text = my_host->alloc(req->sql_len + 1);
	if (!text || put_packet(buf, cap, &at, &cmd, 1, req->sql, req->sql_len) < 0 ||
	    my_queue_push(s, MY_COM_STMT_PREPARE, 1) < 0) {
		if (text)
			my_host->free(text);
		return -1;
	}
	memcpy(text, req->sql, req->sql_len);
	text[req->sql_len] = 0;
	struct my_cmd *c = &s->queue[(s->q_head + s->q_len - 1) % MY_QUEUE];
	c->prep = text;
	c->prep_len = req->sql_len;
	return (long)at;
}

/* A session moved back: COM_STMT_PREPARE of its statement req->stmt_id
 * again, its answer giving the id on this connection (remap.c). */
static long put_reprepare(struct my_sess *s, const struct lms_request *req, uint8_t *buf, size_t cap)
{
	size_t at = 0;
	uint8_t cmd = MY_COM_STMT_PREPARE;
	if (put_packet(buf, cap, &at, &cmd, 1, req->sql, req->sql_len) < 0 || my_queue_push(s, cmd, 1) < 0)
		return -1;
	struct my_cmd *c = &s->queue[(s->q_head + s->q_len - 1) % MY_QUEUE];
	c->reprep = 1;
	c->stmt = req->stmt_id;
	return (long)at;
}

/* START TRANSACTION in front of a statement flagged LMS_REQ_BEGIN_FIRST,
 * with its answer hidden (backend.c), unless a transaction is known open
 * here (the statement joins it).  Returns 1 when it was queued, 0 when
 * not needed, -1 when it does not fit. */
static int put_begin(struct my_sess *s, const struct lms_request *req, uint8_t *buf, size_t cap, size_t *at)
{
	static const char begin[] = "START TRANSACTION";
	int known = s->q_len == 0 && s->resp == MY_R_IDLE;
	if (!(req->flags & LMS_REQ_BEGIN_FIRST) || (known && s->txn != LMS_TXN_IDLE))
		return 0;
	uint8_t cmd = MY_COM_QUERY;
	if (put_packet(buf, cap, at, &cmd, 1, begin, sizeof(begin) - 1) < 0 || my_queue_push(s, cmd, 1) < 0)
		return -1;
	s->queue[(s->q_head + s->q_len - 1) % MY_QUEUE].hide = 1;
	return 1;
}

/* The statement itself (QUERY or EXECUTE) at buf[at..cap). */
static long put_statement(struct my_sess *s, const struct lms_request *req, uint8_t *buf, size_t cap, size_t at)
{
	if (req->kind == LMS_REQ_EXECUTE) {
		const struct my_stmt *st = stmt_by_text(s, req->sql, req->sql_len);
		long n = st ? put_execute(s, st, req, buf + at, cap - at) : -1;
		return n < 0 ? -1 : (long)at + n;
	}
	uint8_t cmd = MY_COM_QUERY;
	if (put_packet(buf, cap, &at, &cmd, 1, req->sql, req->sql_len) < 0 || my_queue_push(s, cmd, 1) < 0)
		return -1;
	my_tag(req->sql, req->sql_len, s->queue[(s->q_head + s->q_len - 1) % MY_QUEUE].tag);
	return (long)at;
}

/* A statement, after START TRANSACTION when it needs one. */
static long put_statement_txn(struct my_sess *s, const struct lms_request *req, uint8_t *buf, size_t cap)
{
	size_t at = 0;
	int begun = put_begin(s, req, buf, cap, &at);
	if (begun < 0)
		return -1;
	long n = put_statement(s, req, buf, cap, at);
	if (n < 0 && begun)
		s->q_len--; /* nothing is sent: take the START TRANSACTION back */
	return n;
}

long my_be_encode_request(void *be, const struct lms_request *req, uint8_t *buf, size_t cap)
{
	struct my_be *b = be;
	struct my_sess *s = b->s;
	size_t at = 0;
	uint8_t cmd;
	if (!b->own && (b->relay || (req->kind != LMS_REQ_QUERY && req->kind != LMS_REQ_PREPARE) ||
			(req->flags & LMS_REQ_BEGIN_FIRST)))
		return -1; /* a shadow with its own state, or a session's state
			      on its new connection (move_back.c) */
	if (!b->own && req->kind == LMS_REQ_PREPARE)
		return put_reprepare(s, req, buf, cap);
	switch (req->kind) {
	case LMS_REQ_QUERY:
	case LMS_REQ_EXECUTE:
		return put_statement_txn(s, req, buf, cap);
	case LMS_REQ_PREPARE:
	case LMS_REQ_DESCRIBE:
		return put_prepare(s, req, buf, cap);
	case LMS_REQ_CLOSE:
		return 0;
	case LMS_REQ_PING:
	case LMS_REQ_RESET:
		cmd = req->kind == LMS_REQ_PING ? MY_COM_PING : MY_COM_RESET_CONNECTION;
		if (put_packet(buf, cap, &at, &cmd, 1, NULL, 0) < 0 || my_queue_push(s, cmd, 1) < 0)
			return -1;
		if (cmd == MY_COM_RESET_CONNECTION)
			my_stmt_clear(s); /* the database forgets them too */
		return (long)at;
	default:
		return -1;
	}
}
