/*
 * request.c - a MySQL client command as a common request (ABI 1.3,
 * fe_request), for a shadow that speaks another wire family:
 *
 *   COM_QUERY                QUERY with the text as written; one that
 *                            molt-lms answers itself once translated
 *                            (local.c) PING, not compared (ABI 1.10)
 *   COM_STMT_PREPARE         PREPARE with the '?' placeholders (lexer.c)
 *   COM_STMT_EXECUTE         EXECUTE: the statement's text, its
 *                            placeholders, the binary parameters as text
 *   COM_STMT_CLOSE           CLOSE
 *   COM_STMT_SEND_LONG_DATA  NONE (kept for the execution, cmds.c)
 *   COM_PING, COM_STMT_RESET PING
 *   COM_RESET_CONNECTION     RESET
 *   anything else            UNSUPPORTED (the request is not compared)
 *
 * fe_decode has already remembered the statement and its parameter types
 * (frontend.c); this only reads.  Everything returned points into the
 * message or into buffers of the session, valid until the next call.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "canon.h"
#include "mysql.h"

/* MySQL column and parameter types. */
enum {
	MY_T_DECIMAL = 0, MY_T_TINY = 1, MY_T_SHORT = 2, MY_T_LONG = 3, MY_T_FLOAT = 4, MY_T_DOUBLE = 5,
	MY_T_NULL = 6, MY_T_TIMESTAMP = 7, MY_T_LONGLONG = 8, MY_T_INT24 = 9, MY_T_DATE = 10, MY_T_TIME = 11,
	MY_T_DATETIME = 12, MY_T_YEAR = 13
};

static uint64_t le_n(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t k = 0; k < n; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

/* An integer of w bytes, signed unless unsigned. */
static int bin_int(const uint8_t *p, size_t w, int is_unsigned, char *dst, size_t cap, size_t *n)
{
	uint64_t u = le_n(p, w);
	int k;
	if (is_unsigned) {
		k = snprintf(dst, cap, "%llu", (unsigned long long)u);
	} else {
		int64_t v = w == 8 ? (int64_t)u : (int64_t)(u ^ (1ull << (8 * w - 1))) - (int64_t)(1ull << (8 * w - 1));
		k = snprintf(dst, cap, "%lld", (long long)v);
	}
	if (k < 0 || (size_t)k >= cap)
		return -1;
	*n = (size_t)k;
	return 0;
}

/* DATE, DATETIME, TIMESTAMP: a length (0, 4, 7, 11), then year, month,
 * day, hour, minute, second, microseconds. */
static int bin_datetime(uint8_t type, const uint8_t *p, size_t l, char *dst, size_t cap, size_t *n)
{
	unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
	unsigned long us = 0;
	if (l != 0 && l != 4 && l != 7 && l != 11)
		return -1;
	if (l >= 4) {
		y = (unsigned)le_n(p, 2);
		mo = p[2];
		d = p[3];
	}
	if (l >= 7) {
		h = p[4];
		mi = p[5];
		s = p[6];
	}
	if (l == 11)
		us = (unsigned long)le_n(p + 7, 4);
	char t[64];
	int k = type == MY_T_DATE ? snprintf(t, sizeof(t), "%04u-%02u-%02u", y, mo, d)
				  : snprintf(t, sizeof(t), "%04u-%02u-%02u %02u:%02u:%02u.%06lu", y, mo, d, h, mi, s, us);
	if (k < 0 || (size_t)k > cap)
		return -1;
	*n = canon_datetime(t, (size_t)k, dst);
	return 0;
}

/* TIME: a length (0, 8, 12), then sign, days, hours, minutes, seconds,
 * microseconds; as [-]HH:MM:SS[.f]. */
static int bin_time(const uint8_t *p, size_t l, char *dst, size_t cap, size_t *n)
{
	if (l != 0 && l != 8 && l != 12)
		return -1;
	unsigned long long hours = l ? le_n(p + 1, 4) * 24ull + p[5] : 0;
	char t[80];
	int k = snprintf(t, sizeof(t), "%s%02llu:%02u:%02u.%06lu", l && p[0] ? "-" : "", hours, l ? p[6] : 0,
			 l ? p[7] : 0, l == 12 ? (unsigned long)le_n(p + 8, 4) : 0ul);
	if (k < 0 || (size_t)k > cap)
		return -1;
	*n = canon_datetime(t, (size_t)k, dst);
	return 0;
}

/* The width of a fixed-size binary value of type `type`, or 0 when the
 * type is not fixed-size. */
static size_t bin_fixed_width(uint8_t type)
{
	switch (type) {
	case MY_T_TINY:
		return 1;
	case MY_T_SHORT:
	case MY_T_YEAR:
		return 2;
	case MY_T_LONG:
	case MY_T_INT24:
	case MY_T_FLOAT:
		return 4;
	case MY_T_LONGLONG:
	case MY_T_DOUBLE:
		return 8;
	default:
		return 0;
	}
}

static int bin_is_datetime(uint8_t type)
{
	return type == MY_T_DATE || type == MY_T_DATETIME || type == MY_T_TIMESTAMP || type == MY_T_TIME;
}

int my_binary_span(uint8_t type, const uint8_t *p, size_t avail, size_t *used, size_t *str)
{
	*str = 0;
	if (type == MY_T_NULL) {
		*used = 0;
		return 0;
	}
	size_t w = bin_fixed_width(type);
	if (w > 0) {
		if (avail < w)
			return -1;
		*used = w;
		return 0;
	}
	if (bin_is_datetime(type)) {
		if (avail < 1 || avail - 1 < p[0])
			return -1;
		*used = 1 + (size_t)p[0];
		return 0;
	}
	/* everything else: a length-encoded string (DECIMAL as text) */
	uint64_t l;
	int k = my_lenenc(p, avail, &l);
	if (k <= 0 || l > avail - (size_t)k)
		return -1;
	*str = (size_t)k;
	*used = (size_t)k + (size_t)l;
	return 0;
}

/* A FLOAT (w 4) or DOUBLE (w 8) as canonical text. */
static int bin_float(const uint8_t *p, size_t w, char *dst, size_t cap, size_t *n)
{
	char t[32];
	double v;
	if (w == 4) {
		float f;
		uint32_t u = (uint32_t)le_n(p, 4);
		memcpy(&f, &u, 4);
		v = f;
	} else {
		uint64_t u = le_n(p, 8);
		memcpy(&v, &u, 8);
	}
	size_t k = canon_float(v, w == 4, t);
	if (k > cap)
		return -1;
	memcpy(dst, t, k);
	*n = k;
	return 0;
}

int my_binary_value(uint8_t type, uint32_t flags, const uint8_t *p, size_t avail, size_t *used, char *dst,
		    size_t cap, size_t *n)
{
	size_t str;
	if (my_binary_span(type, p, avail, used, &str) < 0)
		return -1;
	if (type == MY_T_NULL) {
		*n = 0;
		return 0;
	}
	if (str > 0) {
		size_t l = *used - str;
		if (l > cap)
			return -1;
		memcpy(dst, p + str, l);
		*n = l;
		return 0;
	}
	if (bin_is_datetime(type))
		return type == MY_T_TIME ? bin_time(p + 1, p[0], dst, cap, n)
					 : bin_datetime(type, p + 1, p[0], dst, cap, n);
	if (type == MY_T_FLOAT || type == MY_T_DOUBLE)
		return bin_float(p, *used, dst, cap, n);
	return bin_int(p, *used, (flags & MY_FLAG_UNSIGNED) != 0, dst, cap, n);
}

/* The session's buffers for an answer (allocated once). */
static int req_buffers(struct my_sess *s, size_t text)
{
	if (!s->holes)
		s->holes = my_host->alloc(LMS_REQ_HOLES_MAX * sizeof(*s->holes));
	if (!s->params)
		s->params = my_host->alloc(LMS_REQ_HOLES_MAX * sizeof(*s->params));
	if (text > s->text_cap) {
		if (s->text)
			my_host->free(s->text);
		s->text = my_host->alloc(text);
		s->text_cap = s->text ? text : 0;
	}
	return s->holes && s->params && s->text_cap >= text ? 0 : -1;
}

/* The long data the execution of st just decoded took (cmds.c), its
 * total size in *bytes; NULL when none. */
static const struct my_long *exec_long_data(const struct my_sess *s, const struct my_stmt *st, size_t *bytes)
{
	*bytes = 0;
	if (!s->exec_ld || s->exec_ld_stmt != st->id || s->exec_ld_n != st->nparams)
		return NULL;
	for (uint32_t k = 0; k < s->exec_ld_n; k++)
		*bytes += s->exec_ld[k].len;
	return s->exec_ld;
}

/* A statement's flags as this session needs them: the generated key
 * (LMS_REQ_INSERT_ID) is asked for only where the client reads it from
 * the other database's answer, in a translated session; a shadow's OK
 * is compared, not sent.  With autocommit off and no transaction open,
 * a statement that opens one on MySQL begins one first (ABI 1.8), on the
 * database that serves the session and on a shadow alike: a ROLLBACK
 * must undo the same writes on both. */
int my_begins_txn(const struct my_sess *s, const char *sql, size_t len)
{
	return !s->autocommit && s->txn == LMS_TXN_IDLE && my_opens_txn(sql, len);
}

static uint32_t served_flags(const struct my_sess *s, uint32_t flags, const char *sql, size_t len)
{
	if (my_host->abi_minor >= 8 && my_begins_txn(s, sql, len))
		flags |= LMS_REQ_BEGIN_FIRST;
	return s->translated ? flags : flags & ~LMS_REQ_INSERT_ID;
}

/* COM_STMT_EXECUTE: statement id, flags, iteration count, then (with
 * parameters) the NULL bitmap, new-params-bound flag, types, values. */
static int req_execute(struct my_sess *s, const uint8_t *pl, size_t n, struct lms_request *req)
{
	req->kind = LMS_REQ_UNSUPPORTED;
	struct my_stmt *st = n >= 10 ? my_stmt_find(s, my_le32(pl + 1)) : NULL;
	const uint8_t *types = st ? st->types : NULL, *bound;
	if (st && my_stmt_bound_types(st, pl, n, &bound) > 0)
		types = bound; /* this execution's own (it may have been streamed, not decoded) */
	if (!st || st->nparams > LMS_REQ_HOLES_MAX || (st->nparams && !types))
		return 0;
	if (s->translated && (pl[5] & ~0x1u) != 0)
		return 0; /* a cursor other than read-only: not served across families */
	if (!s->translated && (pl[5] & 0x7u) != 0 && st->ncols > 0)
		return 0; /* a cursor: MariaDB sends the rows later, one COM_STMT_FETCH
			     at a time, which has no translation (not compared) */
	size_t ld_bytes = 0;
	const struct my_long *ld = exec_long_data(s, st, &ld_bytes);
	/* text is at most 64 bytes per fixed-width value, or the bytes */
	if (req_buffers(s, n + 64 * (size_t)st->nparams + 64 + ld_bytes) < 0)
		return 0;
	if (my_stmt_scan(st) < 0)
		return 0;
	size_t off = 10, bitmap = off, used = 0, tl = 0;
	if (st->nparams) {
		off += (st->nparams + 7) / 8;
		if (n < off + 1)
			return -1;
		off += 1 + (pl[off] == 1 ? 2 * (size_t)st->nparams : 0);
		if (off > n)
			return -1;
	}
	for (uint32_t k = 0; k < st->nparams; k++) {
		if (ld && ld[k].sent) {
			/* sent with COM_STMT_SEND_LONG_DATA: no value here */
			if (ld[k].len)
				memcpy(s->text + tl, ld[k].data, ld[k].len);
			s->params[k].data = (const uint8_t *)s->text + tl;
			s->params[k].len = (uint32_t)ld[k].len;
			tl += ld[k].len;
			continue;
		}
		if (pl[bitmap + k / 8] & (1u << (k % 8))) {
			s->params[k].data = NULL;
			s->params[k].len = 0;
			continue;
		}
		size_t vn;
		if (my_binary_value(types[2 * k], types[2 * k + 1] & 0x80 ? MY_FLAG_UNSIGNED : 0, pl + off,
				    n - off, &used, s->text + tl, s->text_cap - tl, &vn) < 0)
			return -1;
		s->params[k].data = (const uint8_t *)s->text + tl;
		s->params[k].len = (uint32_t)vn;
		off += used;
		tl += vn;
	}
	req->kind = LMS_REQ_EXECUTE;
	req->stmt_id = st->id;
	req->sql = st->sql;
	req->sql_len = st->len;
	req->holes = st->holes;
	req->nholes = st->nparams;
	req->params = s->params;
	req->nparams = st->nparams;
	req->flags = served_flags(s, st->txn_flags, st->sql, st->len);
	return 0;
}

/* A relayed session's COM_QUERY that molt-lms would answer itself on a
 * database of the PostgreSQL family (local.c: a connector's start-up
 * query), for its shadow there: what a cutover would send, a PING (not
 * compared: fe_decode flags it LMS_STMT_LOCAL), or COMMIT for a SET
 * autocommit=1 that commits the transaction open on MariaDB.  Returns
 * 0 when the query is not one. */
static int shadow_local(const struct my_sess *s, const uint8_t *pl, size_t n, struct lms_request *req)
{
	uint8_t local = my_local_class(pl, n);
	if (!local)
		return 0;
	req->kind = LMS_REQ_PING;
	if (local == MY_L_AC_ON && !s->autocommit && s->txn != LMS_TXN_IDLE) {
		req->kind = LMS_REQ_QUERY;
		req->sql = "COMMIT";
		req->sql_len = 6;
		req->flags = LMS_REQ_STMT_ATOMIC | LMS_REQ_COMMIT;
	}
	return 1;
}

int my_fe_request(void *fe, const uint8_t *msg, size_t len, struct lms_request *req)
{
	struct my_sess *s = fe;
	memset(req, 0, sizeof(*req));
	if (s->translated && s->local_req) {
		req->kind = s->local_req; /* answered by LMS (cmds.c), in order */
		if (req->kind == LMS_REQ_RESET)
			req->flags = LMS_REQ_STMT_ATOMIC; /* a new user: an open transaction rolls back */
		return 0;
	}
	if (len < MY_HDR + 1 || MY_HDR + (size_t)my_le24(msg) != len)
		return -1;
	const uint8_t *pl = msg + MY_HDR;
	size_t n = len - MY_HDR;
	if (n == MY_MAX_PAYLOAD) {
		req->kind = LMS_REQ_UNSUPPORTED; /* the first packet of a command of 16 MiB or more */
		return 0;
	}
	const struct my_cmd *last = s->q_len > 0 ? &s->queue[(s->q_head + s->q_len - 1) % MY_QUEUE] : NULL;
	if (s->translated && last && last->local && (pl[0] == MY_COM_QUERY || pl[0] == MY_COM_INIT_DB)) {
		req->kind = LMS_REQ_PING; /* answered by LMS (local.c), in order */
		if (last->ac_commit && s->txn != LMS_TXN_IDLE) {
			/* SET autocommit=1 commits the open transaction (MySQL) */
			req->kind = LMS_REQ_QUERY;
			req->sql = "COMMIT";
			req->sql_len = 6;
			req->flags = LMS_REQ_STMT_ATOMIC | LMS_REQ_COMMIT;
		}
		return 0;
	}
	if (!s->translated && pl[0] == MY_COM_QUERY && my_host->abi_minor >= 10 && shadow_local(s, pl, n, req))
		return 0;
	switch (pl[0]) {
	case MY_COM_QUERY:
		req->kind = LMS_REQ_QUERY;
		req->sql = (const char *)pl + 1;
		req->sql_len = n - 1;
		req->flags = served_flags(s, my_txn_flags(req->sql, req->sql_len, s->txn != LMS_TXN_IDLE), req->sql,
					  req->sql_len);
		if (my_host->abi_minor >= 9)
			my_iso_request(s, req); /* PostgreSQL's words for SET TRANSACTION ... */
		return 0;
	case MY_COM_STMT_PREPARE: {
		if (req_buffers(s, 0) < 0)
			break;
		long holes = my_placeholders((const char *)pl + 1, n - 1, s->holes, LMS_REQ_HOLES_MAX);
		if (holes < 0)
			break;
		req->kind = s->translated ? LMS_REQ_DESCRIBE : LMS_REQ_PREPARE;
		req->flags = LMS_REQ_STMT_ATOMIC | LMS_REQ_READ; /* a failed Parse aborts a PostgreSQL
								  transaction too; a Parse changes nothing */
		req->sql = (const char *)pl + 1;
		req->sql_len = n - 1;
		req->holes = s->holes;
		req->nholes = (uint32_t)holes;
		return 0;
	}
	case MY_COM_STMT_EXECUTE:
		return req_execute(s, pl, n, req);
	case MY_COM_STMT_SEND_LONG_DATA:
		req->kind = LMS_REQ_NONE; /* kept for the execution (cmds.c) */
		return 0;
	case MY_COM_STMT_CLOSE:
		if (n < 5)
			return -1;
		req->kind = LMS_REQ_CLOSE;
		req->stmt_id = my_le32(pl + 1);
		return 0;
	case MY_COM_PING:
	case MY_COM_STMT_RESET:
		req->kind = LMS_REQ_PING;
		return 0;
	case MY_COM_RESET_CONNECTION:
		req->kind = LMS_REQ_RESET; /* rolls an open transaction back */
		req->flags = LMS_REQ_STMT_ATOMIC;
		return 0;
	default:
		break;
	}
	req->kind = LMS_REQ_UNSUPPORTED;
	return 0;
}
