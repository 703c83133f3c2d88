/*
 * observe.c - what a MySQL answer means for shadow comparison
 * (be_observe), in the same canonical form as every other dialect
 * (plugins/common/canon.h), so that a MySQL source compares with a
 * PostgreSQL-protocol target (ABI 1.3 translation):
 *
 *   column count           COLUMNS
 *   column definition      nothing (its type is kept for the rows)
 *   text or binary row     ROW, each value canonical by its column type
 *                          (my_value_emit; the rules per type are in
 *                          docs/mysql.md, "Shadowing onto CockroachDB")
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
	T_VARCHAR = 15, T_BIT = 16, T_JSON = 245, T_NEWDECIMAL = 246, T_TINY_BLOB = 249, T_MEDIUM_BLOB = 250,
	T_LONG_BLOB = 251, T_BLOB = 252, T_VAR_STRING = 253, T_STRING = 254, T_GEOMETRY = 255
};

#define FLOAT_DIGITS 6 /* FLT_DIG: what MySQL's text protocol keeps of a FLOAT */
#define BIT_MAX 64     /* BIT(n): n <= 64 */

static int is_number(uint8_t t)
{
	return t == T_DECIMAL || t == T_NEWDECIMAL || t == T_TINY || t == T_SHORT || t == T_LONG ||
	       t == T_LONGLONG || t == T_INT24 || t == T_YEAR;
}

static int is_datetime(uint8_t t)
{
	return t == T_DATE || t == T_NEWDATE || t == T_DATETIME || t == T_TIMESTAMP || t == T_TIME;
}

static int is_string_type(uint8_t t)
{
	return t == T_TINY_BLOB || t == T_MEDIUM_BLOB || t == T_LONG_BLOB || t == T_BLOB || t == T_VAR_STRING ||
	       t == T_STRING || t == T_VARCHAR || t == T_JSON;
}

static int is_bytes(const struct my_col *c)
{
	uint8_t t = c->type;
	if (t == T_GEOMETRY || (t == T_BIT && (c->length == 0 || c->length > BIT_MAX)))
		return 1;
	return c->charset == MY_CHARSET_BINARY && is_string_type(t) && t != T_JSON;
}

/* A FLOAT or DOUBLE's text p[0..n): canonical; -1 when it does not
 * parse.  A FLOAT compares at FLT_DIG significant digits: MySQL's text
 * protocol sends no more (1.2345678 as "1.23457"), its binary protocol
 * and PostgreSQL's real send them all (pgwire/normalize.c does the
 * same for real beside a MySQL client). */
static int emit_float(const struct my_col *c, const char *p, size_t n, lms_value_fn emit, void *ctx)
{
	char in[64], out[32], *end;
	if (n == 0 || n >= sizeof(in))
		return -1;
	memcpy(in, p, n);
	in[n] = 0;
	double d = c->type == T_FLOAT ? strtof(in, &end) : strtod(in, &end);
	if (end != in + n)
		return -1;
	size_t k = c->type == T_FLOAT ? canon_float_digits(d, FLOAT_DIGITS, out) : canon_float(d, 0, out);
	emit(ctx, (const uint8_t *)out, k);
	return 0;
}

/* BIT(n) (n = the column length, 1..64): its bytes, big-endian, as n
 * '0'/'1' characters, most significant first: PostgreSQL's bit(n) text,
 * and for BIT(1) the "1"/"0" of a boolean. */
static void emit_bits(const struct my_col *c, const uint8_t *v, size_t n, lms_value_fn emit, void *ctx)
{
	char out[BIT_MAX];
	uint32_t w = c->length;
	for (uint32_t b = 0; b < w; b++) { /* b: bit number, 0 the least significant */
		size_t byte = b / 8;
		int on = byte < n && (v[n - 1 - byte] >> (b % 8) & 1);
		out[w - 1 - b] = on ? '1' : '0';
	}
	emit(ctx, (const uint8_t *)out, w);
}

/* MySQL's latin1 collations (character_set_results latin1): its bytes
 * are cp1252's. */
static int is_latin1(uint16_t charset)
{
	switch (charset) {
	case 5: case 8: case 15: case 31: case 47: case 48: case 49: case 94: case 1032: case 1071:
		return 1;
	default:
		return 0;
	}
}

/* cp1252 (MySQL's latin1) 0x80..0x9F; the rest is ISO 8859-1. */
static const uint16_t cp1252_80[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
	0x2039, 0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
	0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

/* latin1 v[0..n) as UTF-8 into dst (room for 3 * n).  Returns its length. */
static size_t latin1_to_utf8(const uint8_t *v, size_t n, uint8_t *dst)
{
	size_t o = 0;
	for (size_t k = 0; k < n; k++) {
		unsigned cp = v[k] >= 0x80 && v[k] < 0xa0 ? cp1252_80[v[k] - 0x80] : v[k];
		if (cp < 0x80) {
			dst[o++] = (uint8_t)cp;
		} else if (cp < 0x800) {
			dst[o++] = (uint8_t)(0xc0 | cp >> 6);
			dst[o++] = (uint8_t)(0x80 | (cp & 0x3f));
		} else {
			dst[o++] = (uint8_t)(0xe0 | cp >> 12);
			dst[o++] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
			dst[o++] = (uint8_t)(0x80 | (cp & 0x3f));
		}
	}
	return o;
}

/* A text value: CHAR(n) without its padding, a JSON document in
 * canonical form, latin1 (the client's character_set_results) as UTF-8,
 * which PostgreSQL sends; anything else as it is. */
static void emit_text(const struct my_col *c, const uint8_t *v, size_t n, lms_value_fn emit, void *ctx)
{
	uint8_t *u = NULL;
	if (is_latin1(c->charset) && n < 1u << 29) {
		size_t k = 0;
		while (k < n && v[k] < 0x80)
			k++;
		u = k < n ? my_host->alloc(3 * n) : NULL; /* no memory: compared as it is */
		if (u) {
			n = latin1_to_utf8(v, n, u);
			v = u;
		}
	}
	if (c->type == T_STRING)
		n = canon_unpad((const char *)v, n); /* CHAR(n): padding is not the value */
	if (canon_json_emit(my_host, v, n, emit, ctx) < 0)
		emit(ctx, v, n);
	if (u)
		my_host->free(u);
}

/* Bytes as "\x" and hex; -1 when there is no memory for it. */
static int emit_hex(const uint8_t *v, size_t n, lms_value_fn emit, void *ctx)
{
	char *h = n < 1u << 30 ? my_host->alloc(2 * n + 2) : NULL;
	if (!h)
		return -1;
	emit(ctx, (const uint8_t *)h, canon_hex(v, n, h));
	my_host->free(h);
	return 0;
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
	} else if (c->type == T_FLOAT || c->type == T_DOUBLE) {
		if (emit_float(c, p, n, emit, ctx) == 0)
			return;
	} else if (is_datetime(c->type) && n <= sizeof(buf)) {
		emit(ctx, (const uint8_t *)buf, canon_datetime(p, n, buf));
		return;
	} else if (is_bytes(c)) {
		if (emit_hex(v, n, emit, ctx) == 0)
			return;
	} else if (c->type == T_BIT) {
		emit_bits(c, v, n, emit, ctx);
		return;
	} else if (is_string_type(c->type)) {
		emit_text(c, v, n, emit, ctx);
		return;
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
		c->length = my_le32(pl + i + 2);
		c->type = pl[i + 6];
		c->flags = (uint16_t)my_le16(pl + i + 7);
	}
	b->coli++;
	return 0;
}

static const struct my_col untyped = { T_VAR_STRING, 0, 33, 0 };

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
