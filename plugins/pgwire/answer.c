/*
 * answer.c - a server message described for a client of another wire
 * family (be_answer, ABI 1.4): a session served by this database after a
 * cutover, whose frontend writes the answer in its own protocol.
 *
 *   RowDescription        COLUMNS: names, portable type classes, widths,
 *                         lengths and scales from the type modifiers
 *   DataRow               ROW: the values as PostgreSQL prints them in
 *                         text (binary-format values converted to that
 *                         text), except bytea: the bytes themselves
 *   CommandComplete       COMPLETE: tag and count; EmptyQueryResponse:
 *                         COMPLETE with an empty tag
 *   ErrorResponse         ERROR: SQLSTATE and message
 *   ReadyForQuery         READY: transaction state
 *   ParameterDescription  PARAMS: how many
 *   NoData, ParseComplete NODATA, PARSED
 *   anything else         NONE
 *
 * What a RowDescription said is kept for the rows after it (each request
 * the frontend's translation sends describes its portal before running
 * it).  Every length is checked; a message whose fields do not add up
 * exactly is malformed.  Memory is owned by the backend (pg_ans_free).
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "pgwire.h"

/* PostgreSQL type oids. */
enum {
	OID_BOOL = 16, OID_BYTEA = 17, OID_CHAR = 18, OID_NAME = 19, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23,
	OID_TEXT = 25, OID_OID = 26, OID_JSON = 114, OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_BPCHAR = 1042,
	OID_VARCHAR = 1043, OID_DATE = 1082, OID_TIME = 1083, OID_TIMESTAMP = 1114, OID_TIMESTAMPTZ = 1184,
	OID_NUMERIC = 1700, OID_UUID = 2950, OID_JSONB = 3802
};

struct pg_ans_col {
	uint32_t oid;
	uint32_t format;
};

struct pg_ans {
	uint32_t n;              /* columns of the last RowDescription */
	uint32_t cap;            /* entries allocated below */
	struct pg_ans_col *col;
	struct lms_column *out;  /* COLUMNS: names point into the message */
	struct lms_param *vals;  /* ROW */
	uint8_t *scratch;        /* converted values (scratch_cap bytes) */
	size_t scratch_cap;      /* PG_ANS_SCRATCH, more for a row held whole
				    over LMS_DECODE_MAX (core/bigmsg.h) */
};

/* Converted values of one row: bytea decoding only shrinks, a binary
 * value's text is at most 3 times its 4-byte length and bytes. */
#define PG_ANS_SCRATCH (3u * LMS_DECODE_MAX)

/* Room to convert the values of a row of len bytes: a row over
 * LMS_DECODE_MAX (text results: bytea's hex only shrinks) gets its own
 * scratch, given back at the next smaller row or at the statement's end.
 * Returns 0 or -1. */
static int ans_scratch(struct pg_ans *a, size_t len)
{
	size_t cap = len > LMS_DECODE_MAX ? len + PG_ANS_SCRATCH : PG_ANS_SCRATCH;
	if (a->scratch && a->scratch_cap == cap)
		return 0;
	if (a->scratch)
		pg_host->free(a->scratch);
	a->scratch = pg_host->alloc(cap);
	a->scratch_cap = a->scratch ? cap : 0;
	return a->scratch ? 0 : -1;
}

/* Free the per-column arrays (any of them may be NULL). */
static void free_cols(struct pg_ans_col *col, struct lms_column *out, struct lms_param *vals)
{
	if (col)
		pg_host->free(col);
	if (out)
		pg_host->free(out);
	if (vals)
		pg_host->free(vals);
}

void pg_ans_free(struct pg_ans *a)
{
	if (!a)
		return;
	free_cols(a->col, a->out, a->vals);
	if (a->scratch)
		pg_host->free(a->scratch);
	pg_host->free(a);
}

/* Room for n columns (n <= PG_COLS_MAX).  Returns -1 when out of memory. */
static int ans_reserve(struct pg_ans *a, uint32_t n)
{
	if (n <= a->cap)
		return 0;
	struct pg_ans_col *col = pg_host->alloc(n * sizeof(*col));
	struct lms_column *out = pg_host->alloc(n * sizeof(*out));
	struct lms_param *vals = pg_host->alloc(n * sizeof(*vals));
	if (!col || !out || !vals) {
		free_cols(col, out, vals);
		return -1;
	}
	free_cols(a->col, a->out, a->vals);
	a->col = col;
	a->out = out;
	a->vals = vals;
	a->cap = n;
	return 0;
}

/* The class, width, length and scale of type oid with modifier typmod. */
static void ans_type(uint32_t oid, int32_t typmod, struct lms_column *c)
{
	c->size = 0;
	c->length = -1;
	c->scale = -1;
	switch (oid) {
	case OID_BOOL:
		c->type_class = LMS_TC_BOOL;
		return;
	case OID_BYTEA:
		c->type_class = LMS_TC_BYTES;
		return;
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
	case OID_OID:
		c->type_class = LMS_TC_INT;
		c->size = oid == OID_INT2 ? 2 : oid == OID_INT8 ? 8 : 4;
		return;
	case OID_FLOAT4:
	case OID_FLOAT8:
		c->type_class = LMS_TC_FLOAT;
		c->size = oid == OID_FLOAT4 ? 4 : 8;
		return;
	case OID_NUMERIC:
		c->type_class = LMS_TC_DECIMAL;
		if (typmod >= 4) {
			c->length = (int32_t)(((uint32_t)(typmod - 4) >> 16) & 0xffff);
			c->scale = (int32_t)((uint32_t)(typmod - 4) & 0xffff);
		}
		return;
	case OID_CHAR:
	case OID_NAME:
	case OID_TEXT:
	case OID_BPCHAR:
	case OID_VARCHAR:
		c->type_class = LMS_TC_TEXT;
		if ((oid == OID_BPCHAR || oid == OID_VARCHAR) && typmod >= 4)
			c->length = typmod - 4;
		return;
	case OID_DATE:
		c->type_class = LMS_TC_DATE;
		return;
	case OID_TIME:
	case OID_TIMESTAMP:
	case OID_TIMESTAMPTZ:
		c->type_class = oid == OID_TIME ? LMS_TC_TIME : oid == OID_TIMESTAMP ? LMS_TC_TIMESTAMP
										: LMS_TC_TIMESTAMPTZ;
		c->scale = typmod >= 0 && typmod <= 6 ? typmod : -1;
		return;
	case OID_JSON:
	case OID_JSONB:
		c->type_class = LMS_TC_JSON;
		return;
	case OID_UUID:
		c->type_class = LMS_TC_UUID;
		return;
	default:
		c->type_class = LMS_TC_OTHER;
		return;
	}
}

/* RowDescription: Int16 count, then per field a name and 18 bytes
 * (table oid, attnum, type oid, typlen, typmod, format). */
static int ans_columns(struct pg_ans *a, const uint8_t *msg, size_t len, struct lms_answer *ans)
{
	a->n = 0;
	if (len < 7)
		return -1;
	uint32_t n = pg_get16(msg + 5);
	if (n > PG_COLS_MAX || ans_reserve(a, n) < 0)
		return -1;
	size_t i = 7;
	for (uint32_t k = 0; k < n; k++) {
		const char *name = (const char *)msg + i;
		if (i >= len)
			return -1;
		size_t nl = strnlen(name, len - i);
		if (i + nl >= len || len - (i + nl + 1) < 18)
			return -1;
		i += nl + 1;
		a->col[k].oid = pg_get32(msg + i + 6);
		a->col[k].format = pg_get16(msg + i + 16);
		a->out[k].name = name;
		a->out[k].name_len = (uint32_t)nl;
		ans_type(a->col[k].oid, (int32_t)pg_get32(msg + i + 12), &a->out[k]);
		i += 18;
	}
	if (i != len)
		return -1;
	a->n = n;
	ans->kind = LMS_ANS_COLUMNS;
	ans->n = n;
	ans->cols = a->out;
	return 0;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* bytea's text ("\x4142", or the escape format) as its bytes, into dst
 * (room for l bytes).  Returns the length, -1 when it is not bytea text. */
static long unbytea(const uint8_t *v, size_t l, uint8_t *dst)
{
	size_t o = 0;
	if (l >= 2 && v[0] == '\\' && v[1] == 'x') {
		if ((l - 2) % 2)
			return -1;
		for (size_t i = 2; i < l; i += 2) {
			int h = hexval(v[i]), lo = hexval(v[i + 1]);
			if (h < 0 || lo < 0)
				return -1;
			dst[o++] = (uint8_t)(h << 4 | lo);
		}
		return (long)o;
	}
	for (size_t i = 0; i < l; i++) {
		if (v[i] != '\\') {
			dst[o++] = v[i];
		} else if (i + 1 < l && v[i + 1] == '\\') {
			dst[o++] = '\\';
			i++;
		} else if (i + 3 < l && v[i + 1] >= '0' && v[i + 1] <= '3' && v[i + 2] >= '0' && v[i + 2] <= '7' &&
			   v[i + 3] >= '0' && v[i + 3] <= '7') {
			dst[o++] = (uint8_t)((v[i + 1] - '0') * 64 + (v[i + 2] - '0') * 8 + (v[i + 3] - '0'));
			i += 3;
		} else {
			return -1;
		}
	}
	return (long)o;
}

static uint64_t be_n(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t k = 0; k < n; k++)
		v = v << 8 | p[k];
	return v;
}

/* Days since 2000-01-01 as a civil date. */
static void civil(int64_t days, long *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 10957 + 719468; /* days since 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = (long)(yoe + era * 400 + (*m <= 2));
}

/* Microseconds of a day, and its fraction, as "HH:MM:SS[.ffffff]". */
static int clock_text(char *dst, size_t cap, uint64_t us)
{
	unsigned long long s = us / 1000000;
	unsigned long f = (unsigned long)(us % 1000000);
	int k = snprintf(dst, cap, "%02llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
	if (k > 0 && f && (size_t)k < cap) {
		int j = snprintf(dst + k, cap - (size_t)k, ".%06lu", f);
		while (j > 1 && dst[k + j - 1] == '0')
			j--;
		dst[k + j] = 0;
		k += j;
	}
	return k;
}

/* A binary-format value of type oid as the text PostgreSQL prints, into
 * dst[0..cap).  Returns the length, -1 when it cannot (the caller keeps
 * the raw bytes). */
static long binary_text(uint32_t oid, const uint8_t *v, size_t l, char *dst, size_t cap)
{
	int k = -1;
	switch (oid) {
	case OID_BOOL:
		if (l == 1)
			k = snprintf(dst, cap, "%s", v[0] ? "t" : "f");
		break;
	case OID_INT2:
		if (l == 2)
			k = snprintf(dst, cap, "%d", (int)(int16_t)be_n(v, 2));
		break;
	case OID_INT4:
		if (l == 4)
			k = snprintf(dst, cap, "%ld", (long)(int32_t)be_n(v, 4));
		break;
	case OID_OID:
		if (l == 4)
			k = snprintf(dst, cap, "%lu", (unsigned long)be_n(v, 4));
		break;
	case OID_INT8:
		if (l == 8)
			k = snprintf(dst, cap, "%lld", (long long)(int64_t)be_n(v, 8));
		break;
	case OID_FLOAT4:
	case OID_FLOAT8:
		if (l == 4 || l == 8) {
			double d;
			if (l == 4) {
				uint32_t u = (uint32_t)be_n(v, 4);
				float f;
				memcpy(&f, &u, 4);
				d = f;
			} else {
				uint64_t u = be_n(v, 8);
				memcpy(&d, &u, 8);
			}
			char t[32];
			size_t n = pg_norm_float(d, l == 4, t);
			k = snprintf(dst, cap, "%.*s", (int)n, t);
		}
		break;
	case OID_UUID:
		if (l == 16) {
			k = 0;
			for (size_t i = 0; i < 16 && (size_t)k + 3 < cap; i++)
				k += snprintf(dst + k, cap - (size_t)k, "%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "",
					      v[i]);
		}
		break;
	case OID_DATE:
		if (l == 4) {
			long y;
			unsigned m, d;
			civil((int32_t)be_n(v, 4), &y, &m, &d);
			k = snprintf(dst, cap, "%04ld-%02u-%02u", y, m, d);
		}
		break;
	case OID_TIME:
		if (l == 8)
			k = clock_text(dst, cap, be_n(v, 8));
		break;
	case OID_TIMESTAMP:
	case OID_TIMESTAMPTZ:
		if (l == 8) {
			int64_t us = (int64_t)be_n(v, 8);
			int64_t day = us >= 0 ? us / 86400000000LL : -((-us + 86399999999LL) / 86400000000LL);
			long y;
			unsigned m, d;
			civil(day, &y, &m, &d);
			k = snprintf(dst, cap, "%04ld-%02u-%02u ", y, m, d);
			if (k > 0 && (size_t)k < cap)
				k += clock_text(dst + k, cap - (size_t)k, (uint64_t)(us - day * 86400000000LL));
			if (oid == OID_TIMESTAMPTZ && k > 0 && (size_t)k + 3 < cap)
				k += snprintf(dst + k, cap - (size_t)k, "+00");
		}
		break;
	default:
		if (oid == OID_BYTEA || oid == OID_TEXT || oid == OID_VARCHAR || oid == OID_BPCHAR ||
		    oid == OID_NAME || oid == OID_CHAR || oid == OID_JSON) {
			if (l > cap)
				return -1;
			memcpy(dst, v, l);
			return (long)l;
		}
		break;
	}
	return k < 0 || (size_t)k >= cap ? -1 : k;
}

/* DataRow: Int16 count, then per value an Int32 length (-1 NULL) and its
 * bytes, ending exactly at len. */
static int ans_row(struct pg_ans *a, const uint8_t *msg, size_t len, struct lms_answer *ans)
{
	if (len < 7)
		return -1;
	uint32_t n = pg_get16(msg + 5);
	if (n != a->n)
		return -1; /* rows without (or unlike) their RowDescription */
	size_t i = 7, used = 0;
	for (uint32_t k = 0; k < n; k++) {
		if (len - i < 4)
			return -1;
		uint32_t l = pg_get32(msg + i);
		i += 4;
		struct lms_param *v = &a->vals[k];
		if (l == 0xffffffffu) {
			v->data = NULL;
			v->len = 0;
			continue;
		}
		if (l > len - i)
			return -1;
		v->data = msg + i;
		v->len = l;
		uint32_t oid = a->col[k].oid;
		if (a->col[k].format != 0 || oid == OID_BYTEA) {
			if (used == 0 && ans_scratch(a, len) < 0)
				return -1;
			uint8_t *dst = a->scratch + used;
			size_t room = a->scratch_cap - used;
			long m = -1;
			if (a->col[k].format == 0) {
				m = l <= room ? unbytea(msg + i, l, dst) : -1;
				if (m < 0)
					return -1; /* not bytea's text */
			} else if (oid != OID_BYTEA) {
				m = binary_text(oid, msg + i, l, (char *)dst, room);
			}
			if (m >= 0) { /* else: the raw bytes (binary bytea is the bytes) */
				v->data = dst;
				v->len = (uint32_t)m;
				used += (size_t)m;
			}
		}
		i += l;
	}
	if (i != len)
		return -1;
	ans->kind = LMS_ANS_ROW;
	ans->n = n;
	ans->values = a->vals;
	return 0;
}

/* ParameterDescription: Int16 count, then that many type oids. */
static int ans_params(const uint8_t *msg, size_t len, struct lms_answer *ans)
{
	if (len < 7 || len != 7 + 4 * (size_t)pg_get16(msg + 5))
		return -1;
	ans->kind = LMS_ANS_PARAMS;
	ans->n = pg_get16(msg + 5);
	return 0;
}

/* CommandComplete, ErrorResponse and ReadyForQuery read as be_observe
 * reads them. */
static int ans_like_event(const uint8_t *msg, size_t len, struct lms_answer *ans)
{
	struct pg_cols none;
	struct lms_event ev;
	memset(&none, 0, sizeof(none));
	memset(&ev, 0, sizeof(ev));
	if (pg_observe(&none, 0, msg, len, &ev, NULL, NULL) < 0)
		return -1;
	ans->kind = msg[0] == 'C' ? LMS_ANS_COMPLETE : msg[0] == 'E' ? LMS_ANS_ERROR : LMS_ANS_READY;
	ans->flags = ev.flags & LMS_EV_ROWS_KNOWN ? LMS_ANS_ROWS_KNOWN : 0;
	ans->rows = ev.rows;
	ans->txn = ev.txn;
	memcpy(ans->tag, ev.tag, sizeof(ans->tag));
	memcpy(ans->sqlstate, ev.sqlstate, sizeof(ans->sqlstate));
	memcpy(ans->text, ev.text, sizeof(ans->text));
	return 0;
}

int pg_answer(struct pg_ans **ap, const uint8_t *msg, size_t len, struct lms_answer *ans)
{
	if (len < 5 || pg_get32(msg + 1) != len - 1)
		return -1;
	if (!*ap) {
		*ap = pg_host->alloc(sizeof(**ap));
		if (!*ap)
			return -1;
		memset(*ap, 0, sizeof(**ap));
	}
	switch (msg[0]) {
	case 'T':
		return ans_columns(*ap, msg, len, ans);
	case 'D':
		return ans_row(*ap, msg, len, ans);
	case 'C':
	case 'E':
	case 'Z':
		if ((*ap)->scratch_cap > PG_ANS_SCRATCH) { /* a large row's: not kept */
			pg_host->free((*ap)->scratch);
			(*ap)->scratch = NULL;
			(*ap)->scratch_cap = 0;
		}
		return ans_like_event(msg, len, ans);
	case 'I':
		if (len != 5)
			return -1;
		ans->kind = LMS_ANS_COMPLETE;
		return 0;
	case 't':
		return ans_params(msg, len, ans);
	case 'n':
	case '1':
		if (len != 5)
			return -1;
		ans->kind = msg[0] == 'n' ? LMS_ANS_NODATA : LMS_ANS_PARSED;
		return 0;
	default:
		ans->kind = LMS_ANS_NONE;
		return 0;
	}
}
