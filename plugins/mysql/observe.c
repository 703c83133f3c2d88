/*
 * observe.c - what a MySQL answer means for shadow comparison
 * (be_observe), in the same canonical form as every other dialect
 * (plugins/common/canon.h), so that a MySQL source compares with a
 * PostgreSQL-protocol target (ABI 1.3 translation):
 *
 *   column count           COLUMNS
 *   column definition      nothing (its type is kept for the rows)
 *   text or binary row     ROW, each value canonical by its column type
 *   OK after a query       COMPLETE: the statement's tag (its first word,
 *                          as PostgreSQL names it: lexer.c), rows known =
 *                          affected rows ("Rows matched" of an UPDATE)
 *   EOF/OK after rows      COMPLETE: the tag, rows known = rows sent
 *   ERR                    ERROR: SQLSTATE and message
 *   PREPARE OK             COLUMNS (result columns) on a shadow with its own
 *                          state (after a cutover), else nothing
 *   anything else          nothing (PING's OK, ...)
 *
 * be_decode has classified the packet and moved the state; be_observe is
 * called right after it on the same packet and reads what it recorded.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "mysql.h"

enum {
	T_DECIMAL = 0, T_TINY = 1, T_SHORT = 2, T_LONG = 3, T_FLOAT = 4, T_DOUBLE = 5, T_TIMESTAMP = 7,
	T_LONGLONG = 8, T_INT24 = 9, T_DATE = 10, T_TIME = 11, T_DATETIME = 12, T_YEAR = 13, T_NEWDATE = 14,
	T_VARCHAR = 15, T_BIT = 16, T_NEWDECIMAL = 246, T_TINY_BLOB = 249, T_MEDIUM_BLOB = 250,
	T_LONG_BLOB = 251, T_BLOB = 252, T_VAR_STRING = 253, T_STRING = 254, T_GEOMETRY = 255
};

static int is_number(uint8_t t)
{
	return t == T_DECIMAL || t == T_NEWDECIMAL || t == T_TINY || t == T_SHORT || t == T_LONG ||
	       t == T_LONGLONG || t == T_INT24 || t == T_YEAR;
}

static int is_bytes(const struct my_col *c)
{
	uint8_t t = c->type;
	if (t == T_BIT || t == T_GEOMETRY)
		return 1;
	return c->charset == MY_CHARSET_BINARY &&
	       (t == T_TINY_BLOB || t == T_MEDIUM_BLOB || t == T_LONG_BLOB || t == T_BLOB || t == T_VAR_STRING ||
		t == T_STRING || t == T_VARCHAR);
}

void my_value_emit(const struct my_col *c, const uint8_t *v, size_t n, lms_value_fn emit, void *ctx)
{
	char buf[96];
	const char *p = (const char *)v;
	if (is_number(c->type) && n + 3 <= sizeof(buf)) {
		long k = canon_text_decimal(p, n, buf);
		if (k >= 0) {
			emit(ctx, (const uint8_t *)buf, (size_t)k);
			return;
		}
	} else if ((c->type == T_FLOAT || c->type == T_DOUBLE) && n > 0 && n < 64) {
		char in[64], *end;
		memcpy(in, p, n);
		in[n] = 0;
		double d = c->type == T_FLOAT ? strtof(in, &end) : strtod(in, &end);
		if (end == in + n) {
			emit(ctx, (const uint8_t *)buf, canon_float(d, c->type == T_FLOAT, buf));
			return;
		}
	} else if ((c->type == T_DATE || c->type == T_NEWDATE || c->type == T_DATETIME || c->type == T_TIMESTAMP ||
		    c->type == T_TIME) &&
		   n <= sizeof(buf)) {
		emit(ctx, (const uint8_t *)buf, canon_datetime(p, n, buf));
		return;
	} else if (c->type == T_STRING && c->charset != MY_CHARSET_BINARY) {
		emit(ctx, v, canon_unpad(p, n)); /* CHAR(n): padding is not the value */
		return;
	} else if (is_bytes(c)) {
		char *h = n < 1u << 30 ? my_host->alloc(2 * n + 2) : NULL;
		if (h) {
			emit(ctx, (const uint8_t *)h, canon_hex(v, n, h));
			my_host->free(h);
			return;
		}
	}
	emit(ctx, v, n);
}

/* Skip a length-encoded string at pl[*i..n). */
static int skip_lenenc_str(const uint8_t *pl, size_t n, size_t *i)
{
	uint64_t l;
	int k = *i < n ? my_lenenc(pl + *i, n - *i, &l) : -1;
	if (k <= 0 || l > n - *i - (size_t)k)
		return -1;
	*i += (size_t)k + (size_t)l;
	return 0;
}

/* ColumnDefinition41: six strings, 0x0c, charset, length, type, flags,
 * decimals. */
static int obs_coldef(struct my_be *b, const uint8_t *pl, size_t n)
{
	size_t i = 0;
	for (int k = 0; k < 6; k++)
		if (skip_lenenc_str(pl, n, &i) < 0)
			return -1;
	uint64_t fixed;
	int k = i < n ? my_lenenc(pl + i, n - i, &fixed) : -1;
	if (k <= 0 || n - i - (size_t)k < 10)
		return -1;
	i += (size_t)k;
	if (b->coli < b->ncols && b->cols) {
		struct my_col *c = &b->cols[b->coli];
		c->charset = (uint16_t)my_le16(pl + i);
		c->type = pl[i + 6];
		c->flags = (uint16_t)my_le16(pl + i + 7);
	}
	b->coli++;
	return 0;
}

static const struct my_col untyped = { T_VAR_STRING, 0, 33 };

static const struct my_col *col_at(const struct my_be *b, uint32_t k)
{
	return b->cols && k < b->ncols && k < b->coli ? &b->cols[k] : &untyped;
}

/* A text row: one length-encoded string (0xFB: NULL) per column. */
static int obs_text_row(struct my_be *b, const uint8_t *pl, size_t n, struct lms_event *ev, lms_value_fn emit,
			void *ctx)
{
	size_t i = 0;
	uint32_t k = 0;
	for (; i < n; k++) {
		if (pl[i] == 0xFB) {
			emit(ctx, NULL, 0);
			i++;
			continue;
		}
		uint64_t l;
		int h = my_lenenc(pl + i, n - i, &l);
		if (h <= 0 || l > n - i - (size_t)h)
			return -1;
		my_value_emit(col_at(b, k), pl + i + h, (size_t)l, emit, ctx);
		i += (size_t)h + (size_t)l;
	}
	ev->kind = LMS_EV_ROW;
	ev->ncols = k;
	return 0;
}

/* A binary row: 0x00, a NULL bitmap (offset 2), then the values. */
static int obs_binary_row(struct my_be *b, const uint8_t *pl, size_t n, struct lms_event *ev, lms_value_fn emit,
			  void *ctx)
{
	uint32_t nc = b->ncols;
	if (b->coli > MY_COLS_MAX || !b->cols) {
		/* more columns than are kept (or no memory for them): the row's
		 * bytes as one value, still compared */
		ev->kind = LMS_EV_ROW;
		ev->ncols = b->coli;
		emit(ctx, pl, n);
		return 0;
	}
	size_t i = 1 + (nc + 9) / 8;
	if (n < i || pl[0] != 0x00 || nc > b->coli)
		return -1;
	char buf[128];
	for (uint32_t k = 0; k < nc; k++) {
		if (pl[1 + (k + 2) / 8] & (1u << ((k + 2) % 8))) {
			emit(ctx, NULL, 0);
			continue;
		}
		const struct my_col *c = col_at(b, k);
		size_t used, str, vn;
		if (my_binary_span(c->type, pl + i, n - i, &used, &str) < 0)
			return -1;
		if (str > 0) {
			/* a string: its bytes as they are, whatever their size */
			my_value_emit(c, pl + i + str, used - str, emit, ctx);
		} else {
			if (my_binary_value(c->type, c->flags, pl + i, n - i, &used, buf, sizeof(buf), &vn) < 0)
				return -1;
			my_value_emit(c, (const uint8_t *)buf, vn, emit, ctx);
		}
		i += used;
	}
	if (i != n)
		return -1;
	ev->kind = LMS_EV_ROW;
	ev->ncols = nc;
	return 0;
}

/* "Rows matched: N" in an UPDATE's OK info (without CLIENT_FOUND_ROWS the
 * affected count is the rows changed; PostgreSQL counts those matched). */
static int rows_matched(const uint8_t *p, size_t n, uint64_t *v)
{
	static const char key[] = "Rows matched: ";
	size_t kl = sizeof(key) - 1;
	for (size_t i = 0; i + kl < n; i++) {
		if (memcmp(p + i, key, kl) != 0)
			continue;
		uint64_t x = 0;
		size_t j = i + kl;
		if (j >= n || p[j] < '0' || p[j] > '9')
			return 0;
		for (; j < n && p[j] >= '0' && p[j] <= '9' && x < UINT64_MAX / 10 - 10; j++)
			x = x * 10 + (uint64_t)(p[j] - '0');
		*v = x;
		return 1;
	}
	return 0;
}

/* ERR: 0xFF, code, '#' + SQLSTATE, message. */
static int obs_error(const uint8_t *pl, size_t n, struct lms_event *ev)
{
	if (n < 3)
		return -1;
	size_t i = 3;
	memcpy(ev->sqlstate, "HY000", 6);
	if (n >= 9 && pl[3] == '#') {
		memcpy(ev->sqlstate, pl + 4, 5);
		ev->sqlstate[5] = 0;
		i = 9;
	}
	size_t m = n - i < sizeof(ev->text) - 1 ? n - i : sizeof(ev->text) - 1;
	memcpy(ev->text, pl + i, m);
	ev->text[m] = 0;
	ev->kind = LMS_EV_ERROR;
	if (strcmp(ev->sqlstate, "40001") == 0) /* deadlock, lock wait: retryable */
		ev->flags |= LMS_EV_TRANSIENT;
	return 0;
}

/* The OK, EOF or ERR at the end of an answer (or of one result). */
static int obs_end(struct my_be *b, const uint8_t *pl, size_t n, struct lms_event *ev)
{
	struct my_sess *s = b->s;
	if (pl[0] == 0xFF)
		return obs_error(pl, n, ev);
	if (b->last_cmd != MY_COM_QUERY && b->last_cmd != MY_COM_STMT_EXECUTE && b->last_cmd != MY_COM_STMT_FETCH)
		return 0; /* PING, RESET, PREPARE...: nothing PostgreSQL reports either */
	ev->kind = LMS_EV_COMPLETE;
	memcpy(ev->tag, s->tag, sizeof(ev->tag));
	ev->tag[sizeof(ev->tag) - 1] = 0;
	ev->flags |= LMS_EV_ROWS_KNOWN;
	if (b->last_resp == MY_R_ROWS || b->last_resp == MY_R_COLS_EOF) {
		ev->rows = b->rows;
		return 0;
	}
	uint64_t affected = 0;
	int k = pl[0] == 0x00 && n > 1 ? my_lenenc(pl + 1, n - 1, &affected) : 0;
	if (k < 0)
		return -1;
	uint64_t matched;
	if (rows_matched(pl, n, &matched))
		affected = matched;
	ev->rows = affected;
	return 0;
}

int my_be_observe(void *be, const uint8_t *msg, size_t len, struct lms_event *ev, lms_value_fn emit, void *ctx)
{
	struct my_be *b = be;
	ev->kind = LMS_EV_NONE;
	if (len < MY_HDR || b->s->state != MY_S_READY)
		return 0;
	const uint8_t *pl = msg + MY_HDR;
	size_t n = len - MY_HDR;
	int kind = b->last_kind;
	b->last_kind = K_NONE; /* each packet is described once */
	switch (kind) {
	case K_COLCOUNT: {
		uint64_t nc;
		if (my_lenenc(pl, n, &nc) <= 0)
			return -1;
		if (!b->cols)
			b->cols = my_host->alloc(MY_COLS_MAX * sizeof(*b->cols));
		b->ncols = nc > MY_COLS_MAX ? MY_COLS_MAX : (uint32_t)nc;
		b->coli = 0;
		b->rows = 0;
		ev->kind = LMS_EV_COLUMNS;
		ev->ncols = (uint32_t)nc;
		return 0;
	}
	case K_META:
		if (b->last_resp == MY_R_COLS)
			return obs_coldef(b, pl, n);
		return 0;
	case K_ROW:
		b->rows++;
		/* fall through */
	case K_BIG_ROW: /* counted by my_be_frame */
		if (b->last_cmd == MY_COM_STMT_EXECUTE || b->last_cmd == MY_COM_STMT_FETCH)
			return obs_binary_row(b, pl, n, ev, emit, ctx);
		return obs_text_row(b, pl, n, ev, emit, ctx);
	case K_END:
		return n == 0 ? -1 : obs_end(b, pl, n, ev);
	case K_PREP_OK:
		/* A shadow with its own state (auth_own.c) runs beside a
		 * PostgreSQL source of truth that describes the statement
		 * (Parse + Describe): its result columns, as PostgreSQL's */
		if (b->own && n >= 9 && my_le16(pl + 5) > 0) {
			ev->kind = LMS_EV_COLUMNS;
			ev->ncols = my_le16(pl + 5);
		}
		return 0;
	default:
		return 0;
	}
}
