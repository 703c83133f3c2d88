/*
 * answer.c - a MySQL client served by a database of another wire family
 * (ABI 1.4, fe_answer): the answers it describes (struct lms_answer)
 * written as the packets the pending command expects.
 *
 *   COM_QUERY           column count, definitions, EOF (unless
 *                       CLIENT_DEPRECATE_EOF), text rows, then EOF/OK;
 *                       a command tag: OK with the affected rows; an
 *                       error: ERR with the MySQL errno of its SQLSTATE,
 *                       written at READY (the client's next command must
 *                       find the database ready: atomic.c's repairs)
 *   COM_STMT_PREPARE    PREPARE OK with an id chosen here (above every
 *                       id the client got from the source, so ids stay
 *                       stable across a cutover), parameter and column
 *                       definitions
 *   COM_STMT_EXECUTE    as COM_QUERY with binary rows; with a cursor:
 *                       definitions only, the rows kept (cmds.c)
 *   anything else       OK (PING, STMT_RESET, RESET_CONNECTION) or ERR
 *   local commands      written by local.c at READY
 *
 * A statement's end packet is held until the next event tells whether
 * another result follows (SERVER_MORE_RESULTS_EXISTS) or the request
 * ended (READY: the transaction state).  Sequence ids continue from the
 * command's (s->to_client), so that fe_error can follow any packet.
 * Every value is checked; a value a binary row cannot carry fails the
 * answer (-1: the core ends the session) rather than send a wrong one.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql.h"

/* MySQL column types and flags used here. */
enum {
	T_TINY = 1, T_SHORT = 2, T_LONG = 3, T_FLOAT = 4, T_DOUBLE = 5, T_LONGLONG = 8, T_DATE = 10, T_TIME = 11,
	T_DATETIME = 12, T_NEWDECIMAL = 246, T_BLOB = 252, T_VAR_STRING = 253
};
#define F_BLOB 0x10u
#define F_BINARY 0x80u
#define F_NUM 0x8000u
#define CS_UTF8MB4 45u /* utf8mb4_general_ci */
#define ST_AUTOCOMMIT 0x2u
#define NOT_FIXED_DEC 31u

/* ---- packets ---- */

/* Server status flags for transaction state txn and the session's
 * autocommit. */
static uint16_t status_of(const struct my_sess *s, uint32_t txn)
{
	return (uint16_t)((s->autocommit ? ST_AUTOCOMMIT : 0) | (txn != LMS_TXN_IDLE ? MY_ST_IN_TRANS : 0));
}


void my_pk_bytes(struct my_pk *w, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (w->bad || n > w->cap - w->len) {
		w->bad = 1;
		return;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void my_pk_u8(struct my_pk *w, uint8_t v)
{
	my_pk_bytes(w, &v, 1);
}

void my_pk_le(struct my_pk *w, uint64_t v, size_t n)
{
	uint8_t b[8];
	for (size_t k = 0; k < n && k < 8; k++)
		b[k] = (uint8_t)(v >> (8 * k));
	my_pk_bytes(w, b, n);
}

void my_pk_lenenc(struct my_pk *w, uint64_t v)
{
	if (v < 251) {
		my_pk_u8(w, (uint8_t)v);
	} else if (v < 0x10000) {
		my_pk_u8(w, 0xFC);
		my_pk_le(w, v, 2);
	} else if (v < 0x1000000) {
		my_pk_u8(w, 0xFD);
		my_pk_le(w, v, 3);
	} else {
		my_pk_u8(w, 0xFE);
		my_pk_le(w, v, 8);
	}
}

void my_pk_lenstr(struct my_pk *w, const void *p, size_t n)
{
	my_pk_lenenc(w, n);
	my_pk_bytes(w, p, n);
}

void my_pk_begin(struct my_pk *w)
{
	w->at = w->len;
	my_pk_bytes(w, "\0\0\0\0", MY_HDR);
}

void my_pk_end(struct my_pk *w, struct my_sess *s)
{
	if (w->bad)
		return;
	size_t n = w->len - w->at - MY_HDR;
	if (n >= MY_MAX_PAYLOAD) {
		w->bad = 1; /* never: answers are built from messages under 32 KiB */
		return;
	}
	my_put24(w->buf + w->at, (uint32_t)n);
	w->buf[w->at + 3] = s->to_client++;
}

void my_pk_coldef(struct my_pk *w, struct my_sess *s, const char *name, size_t nl, uint8_t type,
		  uint16_t charset, uint32_t length, uint16_t flags, uint8_t decimals)
{
	my_pk_begin(w);
	my_pk_lenstr(w, "def", 3);
	my_pk_lenstr(w, s->db, strlen(s->db)); /* schema */
	my_pk_lenstr(w, "", 0);                /* table */
	my_pk_lenstr(w, "", 0);                /* org_table */
	my_pk_lenstr(w, name, nl);
	my_pk_lenstr(w, name, nl);             /* org_name */
	my_pk_u8(w, 0x0c);
	my_pk_le(w, charset, 2);
	my_pk_le(w, length, 4);
	my_pk_u8(w, type);
	my_pk_le(w, flags, 2);
	my_pk_u8(w, decimals);
	my_pk_le(w, 0, 2);
	my_pk_end(w, s);
}

void my_pk_defs_end(struct my_pk *w, struct my_sess *s, uint16_t status)
{
	if (s->caps & MY_CAP_DEPRECATE_EOF)
		return;
	my_pk_begin(w);
	my_pk_u8(w, 0xFE);
	my_pk_le(w, 0, 2);
	my_pk_le(w, status, 2);
	my_pk_end(w, s);
}

void my_pk_ok(struct my_pk *w, struct my_sess *s, int result_end, uint64_t affected, uint64_t insert_id,
	      uint16_t status)
{
	my_pk_begin(w);
	if (result_end && !(s->caps & MY_CAP_DEPRECATE_EOF)) {
		my_pk_u8(w, 0xFE); /* EOF */
		my_pk_le(w, 0, 2);
		my_pk_le(w, status, 2);
	} else {
		my_pk_u8(w, result_end ? 0xFE : 0x00);
		my_pk_lenenc(w, affected);
		my_pk_lenenc(w, insert_id);
		my_pk_le(w, status, 2);
		my_pk_le(w, 0, 2);
	}
	my_pk_end(w, s);
}

void my_pk_err(struct my_pk *w, struct my_sess *s, uint16_t code, const char *sqlstate, const char *msg)
{
	my_pk_begin(w);
	my_pk_u8(w, 0xFF);
	my_pk_le(w, code, 2);
	my_pk_u8(w, '#');
	my_pk_bytes(w, sqlstate && strlen(sqlstate) == 5 ? sqlstate : "HY000", 5);
	size_t n = strlen(msg);
	my_pk_bytes(w, msg, n > 512 ? 512 : n);
	my_pk_end(w, s);
}

/* ---- errors ---- */

static const struct {
	const char *sqlstate;
	uint16_t code;
} errno_map[] = {
	{ "23505", 1062 }, /* unique_violation: ER_DUP_ENTRY */
	{ "42P01", 1146 }, /* undefined_table: ER_NO_SUCH_TABLE */
	{ "42601", 1064 }, /* syntax_error: ER_PARSE_ERROR */
	{ "40001", 1213 }, /* serialization_failure: ER_LOCK_DEADLOCK */
	{ "40P01", 1213 }, /* deadlock_detected: ER_LOCK_DEADLOCK */
	{ "23502", 1048 }, /* not_null_violation: ER_BAD_NULL_ERROR */
	{ "42703", 1054 }, /* undefined_column: ER_BAD_FIELD_ERROR */
	{ "23503", 1452 }, /* foreign_key_violation: ER_NO_REFERENCED_ROW_2 */
	{ "22012", 1365 }, /* division_by_zero: ER_DIVISION_BY_ZERO */
	{ "57014", 1317 }, /* query_canceled: ER_QUERY_INTERRUPTED */
	{ "42883", 1305 }, /* undefined_function: ER_SP_DOES_NOT_EXIST */
	{ "42P07", 1050 }, /* duplicate_table: ER_TABLE_EXISTS_ERROR */
	{ "3D000", 1049 }, /* invalid_catalog_name: ER_BAD_DB_ERROR */
	{ "28P01", 1045 }, /* invalid_password: ER_ACCESS_DENIED_ERROR */
	{ "42501", 1142 }, /* insufficient_privilege: ER_TABLEACCESS_DENIED_ERROR */
	{ "22001", 1406 }, /* string_data_right_truncation: ER_DATA_TOO_LONG */
	{ "22003", 1264 }, /* numeric_value_out_of_range: ER_WARN_DATA_OUT_OF_RANGE */
	{ "25P02", 1180 }, /* in_failed_sql_transaction: ER_ERROR_DURING_COMMIT */
	{ "40000", 1180 }, /* transaction_rollback (a COMMIT rolled back): ER_ERROR_DURING_COMMIT */
};

uint16_t my_errno_of(const char *sqlstate)
{
	for (size_t i = 0; i < sizeof(errno_map) / sizeof(errno_map[0]); i++)
		if (strcmp(sqlstate, errno_map[i].sqlstate) == 0)
			return errno_map[i].code;
	return 1105; /* ER_UNKNOWN_ERROR */
}

/* ---- columns and values ---- */

/* The MySQL definition of a column of the other database. */
static void col_type(const struct lms_column *c, uint8_t *type, uint16_t *cs, uint32_t *len, uint16_t *flags,
		     uint8_t *dec)
{
	*cs = 63;
	*flags = F_BINARY;
	*dec = 0;
	int32_t sc = c->scale >= 0 && c->scale <= 6 ? c->scale : 6;
	switch (c->type_class) {
	case LMS_TC_BOOL:
		*type = T_TINY, *len = 1, *flags = F_NUM;
		return;
	case LMS_TC_INT:
		*type = c->size == 2 ? T_SHORT : c->size == 8 ? T_LONGLONG : T_LONG;
		*len = c->size == 2 ? 6 : c->size == 8 ? 20 : 11;
		*flags = F_NUM;
		return;
	case LMS_TC_FLOAT:
		*type = c->size == 4 ? T_FLOAT : T_DOUBLE;
		*len = c->size == 4 ? 12 : 22;
		*flags = F_NUM;
		*dec = NOT_FIXED_DEC;
		return;
	case LMS_TC_DECIMAL:
		*type = T_NEWDECIMAL;
		*len = c->length > 0 ? (uint32_t)c->length + 2 : 67;
		*flags = F_NUM;
		*dec = c->scale >= 0 && c->scale <= 38 ? (uint8_t)c->scale : NOT_FIXED_DEC;
		return;
	case LMS_TC_BYTES:
		*type = T_BLOB, *len = 0xFFFFFFFFu, *flags = F_BINARY | F_BLOB;
		return;
	case LMS_TC_DATE:
		*type = T_DATE, *len = 10;
		return;
	case LMS_TC_TIME:
		*type = T_TIME, *len = 10 + (sc ? (uint32_t)sc + 1 : 0), *dec = (uint8_t)sc;
		return;
	case LMS_TC_TIMESTAMP:
	case LMS_TC_TIMESTAMPTZ:
		*type = T_DATETIME, *len = 19 + (sc ? (uint32_t)sc + 1 : 0), *dec = (uint8_t)sc;
		return;
	case LMS_TC_JSON:
		*type = T_BLOB, *cs = CS_UTF8MB4, *len = 0xFFFFFFFFu, *flags = F_BLOB;
		return;
	case LMS_TC_UUID:
		*type = T_VAR_STRING, *cs = CS_UTF8MB4, *len = 36 * 4, *flags = 0;
		return;
	default: /* TEXT, OTHER */
		*type = T_VAR_STRING, *cs = CS_UTF8MB4, *flags = 0;
		*len = c->length > 0 && c->length < 0x3FFFFFFF ? (uint32_t)c->length * 4 : 0xFFFFFFu;
		return;
	}
}

/* The value's text as MySQL prints it: booleans 1/0, TIMESTAMPTZ without
 * its zone offset (MySQL shows session time).  *n is its length. */
static const uint8_t *text_value(uint8_t cls, const struct lms_param *v, uint32_t *n)
{
	*n = v->len;
	if (cls == LMS_TC_BOOL && v->len == 1) {
		*n = 1;
		return (const uint8_t *)(v->data[0] == 't' ? "1" : v->data[0] == 'f' ? "0" : (const char *)v->data);
	}
	if (cls == LMS_TC_TIMESTAMPTZ) {
		for (uint32_t k = v->len; k > 19; k--)
			if (v->data[k - 1] == '+' || v->data[k - 1] == '-') {
				*n = k - 1;
				break;
			}
	}
	return v->data;
}

/* Up to cap-1 bytes of v as a C string in t. */
static const char *cstr(const uint8_t *p, uint32_t n, char *t, size_t cap)
{
	size_t k = n < cap - 1 ? n : cap - 1;
	memcpy(t, p, k);
	t[k] = 0;
	return t;
}

/* "YYYY-MM-DD[ HH:MM:SS[.ffffff]]" or "HH:MM:SS[.ffffff]" (time) into
 * parts; the count of fields read, -1 when malformed. */
static int parse_when(const char *t, int is_time, unsigned v[7])
{
	memset(v, 0, 7 * sizeof(v[0]));
	char frac[8] = "";
	int k;
	if (is_time)
		k = sscanf(t, "%u:%u:%u.%7[0-9]", &v[3], &v[4], &v[5], frac);
	else
		k = sscanf(t, "%u-%u-%u %u:%u:%u.%7[0-9]", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], frac);
	if ((is_time && k < 3) || (!is_time && k != 3 && k < 6))
		return -1;
	unsigned us = 0;
	size_t fl = strlen(frac);
	for (size_t i = 0; i < 6; i++)
		us = us * 10 + (i < fl ? (unsigned)(frac[i] - '0') : 0);
	v[6] = us;
	return k;
}

/* One binary-protocol value of MySQL type `type`. */
static int binary_value(struct my_pk *w, uint8_t type, uint8_t cls, const struct lms_param *v)
{
	uint32_t n;
	const uint8_t *p = text_value(cls, v, &n);
	char t[64];
	char *end;
	unsigned d[7];
	switch (type) {
	case T_TINY:
	case T_SHORT:
	case T_LONG:
	case T_LONGLONG: {
		errno = 0;
		long long x = strtoll(cstr(p, n, t, sizeof(t)), &end, 10);
		if (errno || end == t || *end)
			return -1;
		my_pk_le(w, (uint64_t)x, type == T_TINY ? 1 : type == T_SHORT ? 2 : type == T_LONG ? 4 : 8);
		return 0;
	}
	case T_FLOAT:
	case T_DOUBLE: {
		double x = strtod(cstr(p, n, t, sizeof(t)), &end);
		if (end == t || *end)
			return -1;
		if (type == T_FLOAT) {
			float f = (float)x;
			uint32_t u;
			memcpy(&u, &f, 4);
			my_pk_le(w, u, 4);
		} else {
			uint64_t u;
			memcpy(&u, &x, 8);
			my_pk_le(w, u, 8);
		}
		return 0;
	}
	case T_DATE:
	case T_DATETIME: {
		int k = parse_when(cstr(p, n, t, sizeof(t)), 0, d);
		if (k < 0 || d[0] > 9999)
			return -1;
		uint8_t l = type == T_DATE ? 4 : d[6] ? 11 : 7;
		my_pk_u8(w, l);
		my_pk_le(w, d[0], 2);
		my_pk_u8(w, (uint8_t)d[1]);
		my_pk_u8(w, (uint8_t)d[2]);
		if (l >= 7) {
			my_pk_u8(w, (uint8_t)d[3]);
			my_pk_u8(w, (uint8_t)d[4]);
			my_pk_u8(w, (uint8_t)d[5]);
		}
		if (l == 11)
			my_pk_le(w, d[6], 4);
		return 0;
	}
	case T_TIME: {
		if (parse_when(cstr(p, n, t, sizeof(t)), 1, d) < 0)
			return -1;
		uint8_t l = d[6] ? 12 : 8;
		my_pk_u8(w, l);
		my_pk_u8(w, 0); /* not negative */
		my_pk_le(w, d[3] / 24, 4);
		my_pk_u8(w, (uint8_t)(d[3] % 24));
		my_pk_u8(w, (uint8_t)d[4]);
		my_pk_u8(w, (uint8_t)d[5]);
		if (l == 12)
			my_pk_le(w, d[6], 4);
		return 0;
	}
	default:
		my_pk_lenstr(w, p, n);
		return 0;
	}
}

/* ---- the answer's state ---- */

void my_ans_free(struct my_sess *s)
{
	struct my_ans *x = &s->ans;
	if (x->cmd.prep)
		my_host->free(x->cmd.prep);
	x->cmd.prep = NULL;
	if (x->types)
		my_host->free(x->types);
	if (x->classes)
		my_host->free(x->classes);
	if (x->pads)
		my_host->free(x->pads);
	x->types = x->classes = x->pads = NULL;
	my_cursor_drop(s);
}

void my_fe_set_translated(void *fe)
{
	struct my_sess *s = fe;
	s->translated = 1;
}

/* Write the held end packet: more results follow (more), or with the
 * final status. */
static void flush_held(struct my_pk *w, struct my_sess *s, int more, uint32_t txn)
{
	struct my_ans *x = &s->ans;
	if (!x->held)
		return;
	uint16_t st = status_of(s, txn);
	if (more)
		st |= MY_ST_MORE_RESULTS;
	my_pk_ok(w, s, x->held_set, x->held_rows, x->held_id, st);
	x->held = 0;
}

/* The definitions of a's columns, remembered for the rows, then their EOF
 * unless !with_end (a cursor's status ends them). */
static int write_defs(struct my_pk *w, struct my_sess *s, const struct lms_answer *a, int with_end)
{
	struct my_ans *x = &s->ans;
	if (a->n == 0 || a->n > MY_COLS_MAX || !a->cols)
		return -1;
	if (!x->types)
		x->types = my_host->alloc(MY_COLS_MAX);
	if (!x->classes)
		x->classes = my_host->alloc(MY_COLS_MAX);
	if (!x->pads)
		x->pads = my_host->alloc(MY_COLS_MAX);
	if (!x->types || !x->classes || !x->pads)
		return -1;
	for (uint32_t k = 0; k < a->n; k++) {
		const struct lms_column *c = &a->cols[k];
		uint8_t type, dec;
		uint16_t cs, flags;
		uint32_t len;
		col_type(c, &type, &cs, &len, &flags, &dec);
		x->types[k] = type;
		x->classes[k] = (uint8_t)c->type_class;
		x->pads[k] = (type == T_TIME || type == T_DATETIME) && c->scale >= 0 && c->scale <= 6 ? (uint8_t)c->scale
												   : 0xFF;
		my_pk_coldef(w, s, c->name ? c->name : "", c->name ? c->name_len : 0, type, cs, len, flags, dec);
	}
	x->ncols = a->n;
	if (with_end)
		my_pk_defs_end(w, s, status_of(s, s->txn));
	return 0;
}

/* A result set starts: the column count, definitions, their EOF (unless
 * !with_end). */
static int begin_set(struct my_pk *w, struct my_sess *s, const struct lms_answer *a, int with_end)
{
	my_pk_begin(w);
	my_pk_lenenc(w, a->n);
	my_pk_end(w, s);
	if (write_defs(w, s, a, with_end) < 0)
		return -1;
	s->ans.in_set = 1;
	return 0;
}

/* A time or date-time p[0..n) with exactly pad fractional digits, as
 * MySQL prints a TIME(pad) or DATETIME(pad) (PostgreSQL drops trailing
 * zeros).  Values without a clock (infinity) are written as they are. */
static void time_padded(struct my_pk *w, const uint8_t *p, uint32_t n, uint8_t pad)
{
	const uint8_t *colon = n >= 3 ? memchr(p, ':', n) : NULL;
	if (!colon) {
		my_pk_lenstr(w, p, n);
		return;
	}
	const uint8_t *dot = memchr(colon, '.', n - (size_t)(colon - p));
	uint32_t whole = dot ? (uint32_t)(dot - p) : n;
	uint32_t frac = dot ? n - whole - 1 : 0;
	if (frac > pad)
		frac = pad; /* never: the database rounds to the declared scale */
	my_pk_lenenc(w, whole + (pad ? 1u + pad : 0u));
	my_pk_bytes(w, p, whole);
	if (!pad)
		return;
	my_pk_u8(w, '.');
	if (frac)
		my_pk_bytes(w, dot + 1, frac);
	for (uint32_t k = frac; k < pad; k++)
		my_pk_u8(w, '0');
}

static int text_row(struct my_pk *w, struct my_sess *s, const struct lms_answer *a)
{
	struct my_ans *x = &s->ans;
	my_pk_begin(w);
	for (uint32_t k = 0; k < a->n; k++) {
		const struct lms_param *v = &a->values[k];
		if (!v->data) {
			my_pk_u8(w, 0xFB);
			continue;
		}
		uint32_t n;
		const uint8_t *p = text_value(x->classes[k], v, &n);
		if (x->pads[k] != 0xFF)
			time_padded(w, p, n, x->pads[k]);
		else
			my_pk_lenstr(w, p, n);
	}
	my_pk_end(w, s);
	return 0;
}

static int binary_row(struct my_pk *w, struct my_sess *s, const struct lms_answer *a)
{
	struct my_ans *x = &s->ans;
	uint8_t bitmap[(MY_COLS_MAX + 9) / 8];
	size_t bl = (a->n + 9) / 8;
	memset(bitmap, 0, bl);
	for (uint32_t k = 0; k < a->n; k++)
		if (!a->values[k].data)
			bitmap[(k + 2) / 8] |= (uint8_t)(1u << ((k + 2) % 8));
	my_pk_begin(w);
	my_pk_u8(w, 0x00);
	my_pk_bytes(w, bitmap, bl);
	for (uint32_t k = 0; k < a->n; k++)
		if (a->values[k].data && binary_value(w, x->types[k], x->classes[k], &a->values[k]) < 0)
			return -1;
	my_pk_end(w, s);
	return 0;
}

/* An error ends the answer: kept, and written at READY (held_error). */
static void write_error(struct my_pk *w, struct my_sess *s, const struct lms_answer *a)
{
	struct my_ans *x = &s->ans;
	(void)w;
	memcpy(x->err_state, a->sqlstate, 5);
	x->err_state[5] = 0;
	x->err_code = my_errno_of(x->err_state);
	snprintf(x->err_text, sizeof(x->err_text), "%s", a->text[0] ? a->text : "error");
	x->err_held = 1;
	x->done = 1;
}

/* READY after an error: the ERR packet, now that the database is ready
 * for the client's next command. */
static void held_error(struct my_pk *w, struct my_sess *s)
{
	struct my_ans *x = &s->ans;
	my_pk_err(w, s, x->err_code, x->err_state, x->err_text);
	x->err_held = 0;
}

/* COM_STMT_EXECUTE opening a cursor (cmds.c): the definitions and rows
 * are kept, READY sends the definitions and the cursor's status; a
 * statement without a result set is answered as without a cursor. */
static int answer_cursor(struct my_pk *w, struct my_sess *s, const struct lms_answer *a)
{
	struct my_ans *x = &s->ans;
	size_t at = w->len;
	switch (a->kind) {
	case LMS_ANS_COLUMNS:
		if (begin_set(w, s, a, 0) < 0)
			return -1;
		return my_cursor_defs(s, w, at);
	case LMS_ANS_ROW:
		if (!x->in_set || a->n != x->ncols || !a->values || binary_row(w, s, a) < 0)
			return -1;
		return my_cursor_row(s, w, at);
	case LMS_ANS_COMPLETE:
		x->in_set = 0;
		return 0;
	case LMS_ANS_ERROR:
		my_cursor_drop(s); /* the ERR takes the answer's place */
		write_error(w, s, a);
		return 0;
	case LMS_ANS_READY:
		if (!x->done)
			my_cursor_ready(s, w, status_of(s, a->txn));
		return 0;
	default:
		return 0;
	}
}

/* COM_QUERY and COM_STMT_EXECUTE. */
static int answer_result(struct my_pk *w, struct my_sess *s, const struct lms_answer *a, int binary)
{
	struct my_ans *x = &s->ans;
	if (x->cmd.cursor && (x->cur || (a->kind == LMS_ANS_COLUMNS && !x->held && !x->done)))
		return answer_cursor(w, s, a);
	switch (a->kind) {
	case LMS_ANS_COLUMNS:
		flush_held(w, s, 1, s->txn);
		return begin_set(w, s, a, 1);
	case LMS_ANS_ROW:
		if (!x->in_set || a->n != x->ncols || !a->values)
			return -1;
		return binary ? binary_row(w, s, a) : text_row(w, s, a);
	case LMS_ANS_COMPLETE:
		flush_held(w, s, 1, s->txn);
		x->held = 1;
		x->held_set = x->in_set;
		x->held_rows = !x->in_set && (a->flags & LMS_ANS_ROWS_KNOWN) ? a->rows : 0;
		x->held_id = a->flags & LMS_ANS_INSERT_ID ? a->insert_id : 0;
		x->in_set = 0;
		return 0;
	case LMS_ANS_ERROR:
		if (a->flags & LMS_ANS_REPLACES)
			x->held = 0;
		else
			flush_held(w, s, 1, s->txn);
		write_error(w, s, a);
		return 0;
	case LMS_ANS_READY:
		if (x->held)
			flush_held(w, s, 0, a->txn);
		else if (!x->done)
			my_pk_ok(w, s, 0, 0, 0, status_of(s, a->txn));
		return 0;
	default:
		return 0;
	}
}

/* COM_STMT_PREPARE: the OK, then parameter and column definitions, once
 * the columns (or NODATA) are known. */
static int answer_prepare(struct my_pk *w, struct my_sess *s, const struct lms_answer *a)
{
	struct my_ans *x = &s->ans;
	switch (a->kind) {
	case LMS_ANS_PARAMS:
		x->nparams = a->n;
		return 0;
	case LMS_ANS_COLUMNS:
	case LMS_ANS_NODATA: {
		uint32_t ncols = a->kind == LMS_ANS_COLUMNS ? a->n : 0;
		if (x->done || ncols > 0xFFFF || x->nparams > 0xFFFF)
			return -1;
		uint32_t id = s->max_stmt_id + 1;
		if (id == 0)
			return -1;
		my_pk_begin(w);
		my_pk_u8(w, 0x00);
		my_pk_le(w, id, 4);
		my_pk_le(w, ncols, 2);
		my_pk_le(w, x->nparams, 2);
		my_pk_u8(w, 0);
		my_pk_le(w, 0, 2);
		my_pk_end(w, s);
		for (uint32_t k = 0; k < x->nparams; k++)
			my_pk_coldef(w, s, "?", 1, T_VAR_STRING, 63, 0, F_BINARY, 0);
		if (x->nparams)
			my_pk_defs_end(w, s, status_of(s, s->txn));
		if (ncols && write_defs(w, s, a, 1) < 0)
			return -1;
		/* remember the statement under its new id (stmt.c) */
		if (s->prep_sql)
			my_host->free(s->prep_sql);
		s->prep_sql = x->cmd.prep;
		s->prep_len = x->cmd.prep_len;
		x->cmd.prep = NULL;
		my_stmt_prepared(s, id, x->nparams, ncols);
		if (s->max_stmt_id < id)
			s->max_stmt_id = id;
		x->done = 1;
		x->in_set = 0;
		return 0;
	}
	case LMS_ANS_ERROR:
		if (!x->done)
			write_error(w, s, a);
		return 0;
	case LMS_ANS_READY:
		if (!x->done)
			my_pk_err(w, s, 1105, "HY000", "molt-lms: the database did not describe the statement");
		return 0;
	default:
		return 0;
	}
}

/* PING, STMT_RESET, RESET_CONNECTION and the like: OK or ERR. */
static int answer_ok(struct my_pk *w, struct my_sess *s, const struct lms_answer *a)
{
	if (a->kind == LMS_ANS_ERROR && !s->ans.done)
		write_error(w, s, a);
	else if (a->kind == LMS_ANS_READY && !s->ans.done)
		my_pk_ok(w, s, 0, 0, 0, status_of(s, a->txn));
	return 0;
}

/* The next answer starts: its command leaves the queue. */
static int answer_start(struct my_sess *s)
{
	struct my_ans *x = &s->ans;
	uint8_t *types = x->types, *classes = x->classes, *pads = x->pads;
	memset(x, 0, sizeof(*x));
	x->types = types;
	x->classes = classes;
	x->pads = pads;
	if (my_queue_pop(s, &x->cmd) < 0)
		return -1;
	x->started = 1;
	s->to_client = x->cmd.first_seq;
	return 0;
}

/* READY: the request is over. */
static void answer_finish(struct my_sess *s, uint32_t txn)
{
	struct my_ans *x = &s->ans;
	if (x->cmd.prep)
		my_host->free(x->cmd.prep);
	x->cmd.prep = NULL;
	x->started = 0;
	s->txn = txn;
	s->end_seq = s->to_client;
	s->end_cmd = x->cmd.cmd;
}

long my_fe_answer(void *fe, const struct lms_answer *a, uint8_t *buf, size_t cap)
{
	struct my_sess *s = fe;
	struct my_pk w = { buf, cap, 0, 0, 0 };
	if (a->kind == LMS_ANS_NONE)
		return 0;
	if (!s->ans.started && answer_start(s) < 0)
		return 0; /* nothing asked: nothing to say */
	struct my_ans *x = &s->ans;
	int rc = 0;
	if (a->kind == LMS_ANS_READY && x->err_held) {
		held_error(&w, s);
	} else if (x->cmd.local) {
		if (a->kind == LMS_ANS_READY)
			my_local_answer(s, &x->cmd, &w, status_of(s, a->txn));
	} else if (x->cmd.cmd == MY_COM_QUERY || x->cmd.cmd == MY_COM_STMT_EXECUTE) {
		rc = answer_result(&w, s, a, x->cmd.cmd == MY_COM_STMT_EXECUTE);
	} else if (x->cmd.cmd == MY_COM_STMT_PREPARE) {
		rc = answer_prepare(&w, s, a);
	} else {
		rc = answer_ok(&w, s, a);
	}
	if (a->kind == LMS_ANS_READY)
		answer_finish(s, a->txn);
	if (rc < 0 || w.bad)
		return -1;
	return (long)w.len;
}
