/*
 * observe.c - what a server message means for shadow comparison
 * (be_observe): result columns, rows as canonical values, command tags
 * and counts, errors and whether they are transient, ready-for-query and
 * parameter status.  Every length is checked before it is read; a
 * message whose fields do not add up exactly is malformed.
 */
#include "autoconfig.h"

#include <string.h>

#include "pgwire.h"

static const char *const postgres_transient[] = {
	"40001", /* serialization_failure */
	"40P01", /* deadlock_detected */
	NULL,
};

static const char *const cockroach_transient[] = {
	"40001", /* serialization failure: "restart transaction" */
	"40003", /* statement_completion_unknown */
	NULL,
};

const struct pg_flavor pg_flavor_postgres = { postgres_transient };
const struct pg_flavor pg_flavor_cockroach = { cockroach_transient };

int pg_sqlstate_transient(const char *sqlstate)
{
	const struct pg_flavor *fl = pg_flavor ? pg_flavor : &pg_flavor_postgres;
	for (const char *const *t = fl->transient; *t; t++)
		if (strcmp(*t, sqlstate) == 0)
			return 1;
	return 0;
}

void pg_cols_free(struct pg_cols *c)
{
	if (c->col)
		pg_host->free(c->col);
	memset(c, 0, sizeof(*c));
}

uint32_t pg_cols_reserve(struct pg_cols *c, uint32_t n)
{
	if (n > PG_COLS_MAX)
		n = PG_COLS_MAX;
	if (n <= c->cap)
		return n;
	struct pg_col *col = pg_host->alloc(n * sizeof(*col));
	if (!col)
		return c->cap;
	if (c->col)
		pg_host->free(c->col);
	c->col = col;
	c->cap = n;
	return n;
}

/* Copy s[0..n) into dst[0..cap), cut cleanly, NUL-terminated. */
static void obs_copy(char *dst, size_t cap, const char *s, size_t n)
{
	n = pg_utf8_cut(s, n, cap - 1);
	memcpy(dst, s, n);
	dst[n] = 0;
}

/* The C string at msg[*i] must end inside len: its length, *i past it;
 * -1 when it runs off the end. */
static long obs_str(const uint8_t *msg, size_t len, size_t *i)
{
	if (*i >= len)
		return -1;
	size_t n = strnlen((const char *)msg + *i, len - *i);
	if (*i + n >= len)
		return -1;
	*i += n + 1;
	return (long)n;
}

/* RowDescription: Int16 count, then per field a name and 18 bytes
 * (table oid, attnum, type oid, typlen, typmod, format). */
int pg_cols_parse(struct pg_cols *c, const uint8_t *msg, size_t len)
{
	if (len < 7)
		return -1;
	uint32_t n = pg_get16(msg + 5);
	uint32_t keep = pg_cols_reserve(c, n);
	size_t i = 7;
	c->n = c->known = 0;
	for (uint32_t k = 0; k < n; k++) {
		if (obs_str(msg, len, &i) < 0 || len - i < 18)
			return -1;
		if (k < keep) {
			c->col[k].oid = pg_get32(msg + i + 6);
			c->col[k].format = pg_get16(msg + i + 16);
		}
		i += 18;
	}
	if (i != len)
		return -1;
	c->n = n;
	c->known = keep < n ? keep : n;
	return 0;
}

static int obs_columns(struct pg_cols *c, const uint8_t *msg, size_t len, struct lms_event *ev)
{
	if (pg_cols_parse(c, msg, len) < 0)
		return -1;
	ev->kind = LMS_EV_COLUMNS;
	ev->ncols = c->n;
	return 0;
}

/* Does a DataRow's body add up: Int16 count, then per value an Int32
 * length (-1 for NULL) and that many bytes, ending exactly at len? */
static int obs_row_valid(const uint8_t *msg, size_t len)
{
	uint32_t n = pg_get16(msg + 5);
	size_t i = 7;
	for (uint32_t k = 0; k < n; k++) {
		if (len - i < 4)
			return 0;
		uint32_t l = pg_get32(msg + i);
		i += 4;
		if (l == 0xffffffffu)
			continue;
		if (l > len - i)
			return 0;
		i += l;
	}
	return i == len;
}

/* DataRow: emit each value as canonical text, typed by the last
 * RowDescription when it had this many columns. */
static int obs_row(const struct pg_cols *c, unsigned norm, const uint8_t *msg, size_t len, struct lms_event *ev,
		   lms_value_fn emit, void *ctx)
{
	if (len < 7 || !obs_row_valid(msg, len))
		return -1;
	uint32_t n = pg_get16(msg + 5);
	int typed = c->n == n;
	size_t i = 7;
	ev->kind = LMS_EV_ROW;
	ev->ncols = n;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t l = pg_get32(msg + i);
		i += 4;
		if (l == 0xffffffffu) {
			emit(ctx, NULL, 0);
			continue;
		}
		if (typed && k < c->known)
			pg_value_emit(c->col[k].oid, c->col[k].format, norm, msg + i, l, emit, ctx);
		else
			emit(ctx, msg + i, l);
		i += l;
	}
	return 0;
}

/* The number that ends t[0..*end) as its own word: parsed into *v and
 * *end moved before it.  Returns 0 when there is none or it overflows. */
static int obs_count(const char *t, size_t *end, uint64_t *v)
{
	size_t e = *end, b = e;
	while (b > 0 && t[b - 1] >= '0' && t[b - 1] <= '9')
		b--;
	if (b == e || (b > 0 && t[b - 1] != ' '))
		return 0;
	uint64_t x = 0;
	for (size_t k = b; k < e; k++) {
		unsigned d = (unsigned)(t[k] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return 0;
		x = x * 10 + d;
	}
	*v = x;
	*end = b > 0 ? b - 1 : 0;
	return 1;
}

/* CommandComplete: the tag without its counts; the last count (rows
 * for "INSERT 0 5") is the statement's. */
static int obs_complete(const uint8_t *msg, size_t len, struct lms_event *ev)
{
	const char *t = (const char *)msg + 5;
	if (len < 6)
		return -1;
	size_t end = len - 6;
	if (msg[len - 1] != 0 || strnlen(t, len - 5) != end)
		return -1;
	uint64_t v;
	if (obs_count(t, &end, &v)) {
		ev->rows = v;
		ev->flags |= LMS_EV_ROWS_KNOWN;
		while (obs_count(t, &end, &v))
			;
	}
	ev->kind = LMS_EV_COMPLETE;
	obs_copy(ev->tag, sizeof(ev->tag), t, end);
	return 0;
}

/* ErrorResponse: fields (code byte, C string) up to a final NUL; the
 * SQLSTATE from 'C', the message from 'M'. */
static int obs_error(const uint8_t *msg, size_t len, struct lms_event *ev)
{
	size_t i = 5;
	while (i < len && msg[i] != 0) {
		uint8_t code = msg[i++];
		const char *s = (const char *)msg + i;
		long n = obs_str(msg, len, &i);
		if (n < 0)
			return -1;
		if (code == 'C')
			obs_copy(ev->sqlstate, sizeof(ev->sqlstate), s, (size_t)n);
		else if (code == 'M')
			obs_copy(ev->text, sizeof(ev->text), s, (size_t)n);
	}
	if (i != len - 1)
		return -1;
	ev->kind = LMS_EV_ERROR;
	if (pg_sqlstate_transient(ev->sqlstate))
		ev->flags |= LMS_EV_TRANSIENT;
	return 0;
}

/* ParameterStatus: name and value, nothing after. */
static int obs_param(const uint8_t *msg, size_t len, struct lms_event *ev)
{
	size_t i = 5;
	const char *name = (const char *)msg + i;
	long nl = obs_str(msg, len, &i);
	const char *value = (const char *)msg + i;
	long vl = nl < 0 ? -1 : obs_str(msg, len, &i);
	if (vl < 0 || i != len)
		return -1;
	ev->kind = LMS_EV_PARAM;
	obs_copy(ev->tag, sizeof(ev->tag), name, (size_t)nl);
	obs_copy(ev->text, sizeof(ev->text), value, (size_t)vl);
	return 0;
}

int pg_observe(struct pg_cols *c, unsigned norm, const uint8_t *msg, size_t len, struct lms_event *ev,
	       lms_value_fn emit, void *ctx)
{
	if (len < 5 || pg_get32(msg + 1) != len - 1)
		return -1;
	switch (msg[0]) {
	case 'T':
		return obs_columns(c, msg, len, ev);
	case 'D':
		return obs_row(c, norm, msg, len, ev, emit, ctx);
	case 'C':
		return obs_complete(msg, len, ev);
	case 'E':
		return obs_error(msg, len, ev);
	case 'S':
		return obs_param(msg, len, ev);
	case 'Z':
		if (len != 6 || (msg[5] != 'I' && msg[5] != 'T' && msg[5] != 'E'))
			return -1;
		ev->kind = LMS_EV_READY;
		ev->txn = msg[5] == 'T' ? LMS_TXN_OPEN : msg[5] == 'E' ? LMS_TXN_FAILED : LMS_TXN_IDLE;
		return 0;
	default:
		ev->kind = LMS_EV_NONE;
		return 0;
	}
}
