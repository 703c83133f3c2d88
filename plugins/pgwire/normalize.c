/*
 * normalize.c - one column value as canonical text, so that equal values
 * give equal bytes whatever the database, the type's width (int4 5 and
 * int8 5) or the wire format (text or binary).
 *
 * Text values pass through unchanged except numbers: integers lose a '+'
 * and leading zeros, numeric loses trailing fraction zeros ("1.50" ->
 * "1.5", "-0" -> "0"), floats are re-printed in their shortest round-trip
 * form, booleans become "1"/"0" (so that they compare equal to MySQL's
 * TINYINT(1) / BOOLEAN, ABI 1.3 translation).  Binary values become the
 * text PostgreSQL would send: integers, floats and numeric in that same
 * canonical form, bool "1"/"0", text types their bytes, anything else
 * "\x" and lowercase hex (bytea's text).  character(n) loses its
 * padding (as MySQL's CHAR does).  timestamptz becomes the instant in
 * UTC without an offset, an interval of days and time MySQL's TIME form
 * (norm_time.c); json and jsonb their canonical JSON (canon_json.c).
 * Beside a MySQL client (PG_NORM_MYSQL) a real compares at 6
 * significant digits (a MySQL FLOAT's text) and a text value that is a
 * JSON object or array as JSON (MariaDB's JSON is LONGTEXT).
 */
#include "autoconfig.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire.h"
#include "canon.h"

#define OID_BOOL 16u
#define OID_BYTEA 17u
#define OID_NAME 19u
#define OID_INT8 20u
#define OID_INT2 21u
#define OID_INT4 23u
#define OID_TEXT 25u
#define OID_OID 26u
#define OID_FLOAT4 700u
#define OID_FLOAT8 701u
#define OID_BPCHAR 1042u
#define OID_VARCHAR 1043u
#define OID_NUMERIC 1700u
#define OID_JSON 114u
#define OID_TIMESTAMPTZ 1184u
#define OID_INTERVAL 1186u
#define OID_JSONB 3802u

#define NORM_STACK 64 /* room for any integer or float text */

/* A buffer on the stack, or on the heap when a value needs more. */
struct norm_buf {
	char stack[NORM_STACK];
	char *heap;
};

/* n bytes from b, or NULL when out of memory.  One heap buffer per b. */
static char *norm_get(struct norm_buf *b, size_t n)
{
	if (n <= sizeof(b->stack))
		return b->stack;
	b->heap = pg_host->alloc(n);
	return b->heap;
}

static void norm_done(struct norm_buf *b)
{
	if (b->heap)
		pg_host->free(b->heap);
	b->heap = NULL;
}

/* Canonical decimal text (plugins/common/canon.c, shared with the other
 * dialects so that their values compare equal). */
static size_t norm_decimal(int neg, const char *ip, size_t il, const char *fp, size_t fl, char *dst)
{
	return canon_decimal(neg, ip, il, fp, fl, dst);
}

static size_t norm_digits(const uint8_t *p, size_t len, size_t i)
{
	while (i < len && p[i] >= '0' && p[i] <= '9')
		i++;
	return i;
}

/* Is p[0..len) an integer in canonical form already: "0", or digits
 * without a leading zero after an optional '-'?  Servers send integers
 * so, and canon_decimal would give back the same bytes. */
static int norm_is_canonical_int(const uint8_t *p, size_t len)
{
	size_t i = len > 0 && p[0] == '-' ? 1 : 0;
	if (i == len || (p[i] == '0' && len != 1))
		return 0;
	return norm_digits(p, len, i) == len;
}

/* A text integer or numeric: [+-]digits[.digits] made canonical; any
 * other spelling (NaN, Infinity, exponents) passes through. */
static void norm_text_decimal(const uint8_t *p, size_t len, lms_value_fn emit, void *ctx)
{
	if (norm_is_canonical_int(p, len)) {
		emit(ctx, p, len); /* nothing to change: no copy */
		return;
	}
	size_t i = len > 0 && (p[0] == '+' || p[0] == '-') ? 1 : 0;
	size_t ie = norm_digits(p, len, i), fs = ie, fe = ie;
	if (ie < len && p[ie] == '.')
		fe = norm_digits(p, len, fs = ie + 1);
	struct norm_buf b = { .heap = NULL };
	char *dst = fe == len && (ie > i || fe > fs) ? norm_get(&b, len + 3) : NULL;
	if (!dst) {
		emit(ctx, p, len);
		return;
	}
	size_t n = norm_decimal(p[0] == '-', (const char *)p + i, ie - i, (const char *)p + fs, fe - fs, dst);
	emit(ctx, (const uint8_t *)dst, n);
	norm_done(&b);
}

size_t pg_norm_float(double v, int single, char dst[32])
{
	return canon_float(v, single, dst);
}

/* A text float: parsed and printed again; unparsable text passes. */
static void norm_text_float(const uint8_t *p, size_t len, int single, lms_value_fn emit, void *ctx)
{
	char in[NORM_STACK], out[32];
	char *end;
	if (len == 0 || len >= sizeof(in)) {
		emit(ctx, p, len);
		return;
	}
	memcpy(in, p, len);
	in[len] = 0;
	double v = single ? strtof(in, &end) : strtod(in, &end);
	if (end != in + len) {
		emit(ctx, p, len);
		return;
	}
	emit(ctx, (const uint8_t *)out, pg_norm_float(v, single, out));
}

/* "\x" and lowercase hex: bytea's text form, and the fallback. */
static void norm_hex(const uint8_t *p, size_t len, lms_value_fn emit, void *ctx)
{
	struct norm_buf b = { .heap = NULL };
	char *dst = norm_get(&b, 2 * len + 2);
	if (!dst) {
		emit(ctx, p, len); /* out of memory: compare the raw bytes */
		return;
	}
	canon_hex(p, len, dst);
	emit(ctx, (const uint8_t *)dst, 2 * len + 2);
	norm_done(&b);
}

/* Binary numeric: ndigits, weight, sign, dscale (int16 each), then
 * ndigits base-10000 digits; decoded to canonical decimal text.  Returns
 * -1 when it is not a well-formed numeric. */
static int norm_bin_numeric(const uint8_t *p, size_t len, lms_value_fn emit, void *ctx)
{
	if (len < 8)
		return -1;
	size_t nd = pg_get16(p);
	int weight = (int16_t)pg_get16(p + 2);
	uint16_t sign = pg_get16(p + 4);
	if (len != 8 + 2 * nd || nd > 0x7fff)
		return -1;
	if (sign == 0xc000 || sign == 0xd000 || sign == 0xf000) {
		const char *s = sign == 0xc000 ? "NaN" : sign == 0xd000 ? "Infinity" : "-Infinity";
		emit(ctx, (const uint8_t *)s, strlen(s));
		return 0;
	}
	if (sign != 0 && sign != 0x4000)
		return -1;
	/* Integer groups 0..weight, then fraction groups: zeros up to the
	 * first stored digit, then the rest of the stored digits. */
	size_t ig = weight >= 0 ? (size_t)weight + 1 : 0;
	size_t lead = weight < -1 ? (size_t)(-1 - weight) : 0;
	size_t fg = lead + (nd > ig ? nd - ig : 0);
	struct norm_buf raw = { .heap = NULL }, out = { .heap = NULL };
	char *r = norm_get(&raw, 4 * (ig + fg) + 1);
	char *o = r ? norm_get(&out, 4 * (ig + fg) + 3) : NULL;
	int rc = o ? 0 : -1;
	for (size_t g = 0; o && g < ig + fg; g++) {
		size_t di = g < ig ? g : g - lead; /* stored digit index */
		int stored = g < ig ? di < nd : g >= ig + lead;
		unsigned d = stored ? pg_get16(p + 8 + 2 * di) : 0;
		if (d > 9999)
			rc = -1;
		snprintf(r + 4 * g, 5, "%04u", d % 10000);
	}
	if (rc == 0)
		emit(ctx, (const uint8_t *)o, norm_decimal(sign == 0x4000, r, 4 * ig, r + 4 * ig, 4 * fg, o));
	norm_done(&raw);
	norm_done(&out);
	return rc;
}

/* A binary integer, bool or float as text; -1 when the width is wrong. */
static int norm_bin_scalar(uint32_t oid, const uint8_t *p, size_t len, lms_value_fn emit, void *ctx)
{
	char t[32];
	int n;
	if (oid == OID_INT2 && len == 2)
		n = snprintf(t, sizeof(t), "%d", (int)(int16_t)pg_get16(p));
	else if (oid == OID_INT4 && len == 4)
		n = snprintf(t, sizeof(t), "%ld", (long)(int32_t)pg_get32(p));
	else if (oid == OID_OID && len == 4)
		n = snprintf(t, sizeof(t), "%lu", (unsigned long)pg_get32(p));
	else if (oid == OID_INT8 && len == 8)
		n = snprintf(t, sizeof(t), "%lld", (long long)(int64_t)((uint64_t)pg_get32(p) << 32 | pg_get32(p + 4)));
	else if (oid == OID_BOOL && len == 1)
		n = snprintf(t, sizeof(t), "%s", p[0] ? "1" : "0");
	else if (oid == OID_FLOAT4 && len == 4) {
		uint32_t u = pg_get32(p);
		float f;
		memcpy(&f, &u, 4);
		n = (int)pg_norm_float(f, 1, t);
	} else if (oid == OID_FLOAT8 && len == 8) {
		uint64_t u = (uint64_t)pg_get32(p) << 32 | pg_get32(p + 4);
		double d;
		memcpy(&d, &u, 8);
		n = (int)pg_norm_float(d, 0, t);
	} else
		return -1;
	emit(ctx, (const uint8_t *)t, (size_t)n);
	return 0;
}

static int norm_is_scalar(uint32_t oid)
{
	return oid == OID_INT2 || oid == OID_INT4 || oid == OID_INT8 || oid == OID_OID || oid == OID_BOOL ||
	       oid == OID_FLOAT4 || oid == OID_FLOAT8;
}

/* A real beside MySQL: at a FLOAT's 6 significant digits (all MySQL's
 * text protocol sends), from the float's exact value. */
static void norm_float4_mysql(float f, lms_value_fn emit, void *ctx)
{
	char out[32];
	emit(ctx, (const uint8_t *)out, canon_float_digits(f, 6, out));
}

/* A text real beside MySQL; -1 when it does not parse. */
static int norm_text_float4_mysql(const uint8_t *p, size_t len, lms_value_fn emit, void *ctx)
{
	char in[NORM_STACK], *end;
	if (len == 0 || len >= sizeof(in))
		return -1;
	memcpy(in, p, len);
	in[len] = 0;
	float f = strtof(in, &end);
	if (end != in + len)
		return -1;
	norm_float4_mysql(f, emit, ctx);
	return 0;
}

/* timestamptz in UTC, interval as a TIME (norm_time.c); -1 when the
 * text is of another spelling. */
static int norm_text_time(uint32_t oid, const uint8_t *p, size_t len, lms_value_fn emit, void *ctx)
{
	char out[NORM_STACK];
	long k = oid == OID_TIMESTAMPTZ ? pg_norm_timestamptz(p, len, out, sizeof(out))
					: pg_norm_interval(p, len, out, sizeof(out));
	if (k < 0)
		return -1;
	emit(ctx, (const uint8_t *)out, (size_t)k);
	return 0;
}

static int norm_is_text(uint32_t oid)
{
	return oid == OID_TEXT || oid == OID_VARCHAR || oid == OID_NAME || oid == OID_BPCHAR;
}

/* A value in text format. */
static void norm_text(uint32_t oid, unsigned norm, const uint8_t *data, size_t len, lms_value_fn emit, void *ctx)
{
	if (oid == OID_INT2 || oid == OID_INT4 || oid == OID_INT8 || oid == OID_OID || oid == OID_NUMERIC)
		norm_text_decimal(data, len, emit, ctx);
	else if (oid == OID_FLOAT4 && (norm & PG_NORM_MYSQL) && norm_text_float4_mysql(data, len, emit, ctx) == 0)
		return;
	else if (oid == OID_FLOAT4 || oid == OID_FLOAT8)
		norm_text_float(data, len, oid == OID_FLOAT4, emit, ctx);
	else if (oid == OID_BOOL && len == 1 && (data[0] == 't' || data[0] == 'f'))
		emit(ctx, (const uint8_t *)(data[0] == 't' ? "1" : "0"), 1);
	else if ((oid == OID_TIMESTAMPTZ || oid == OID_INTERVAL) && norm_text_time(oid, data, len, emit, ctx) == 0)
		return;
	else if ((oid == OID_JSON || oid == OID_JSONB || (norm_is_text(oid) && (norm & PG_NORM_MYSQL))) &&
		 canon_json_emit(pg_host, data, len, emit, ctx) == 0)
		return;
	else
		emit(ctx, data, len);
}

void pg_value_emit(uint32_t oid, uint32_t format, unsigned norm, const uint8_t *data, size_t len,
		   lms_value_fn emit, void *ctx)
{
	if (oid == OID_BPCHAR) /* character(n): its padding is not part of the value (MySQL's CHAR drops it) */
		len = canon_unpad((const char *)data, len);
	if (format == 0) {
		norm_text(oid, norm, data, len, emit, ctx);
		return;
	}
	if (oid == OID_FLOAT4 && (norm & PG_NORM_MYSQL) && len == 4) {
		uint32_t u = pg_get32(data);
		float f;
		memcpy(&f, &u, 4);
		norm_float4_mysql(f, emit, ctx);
	} else if (norm_is_text(oid))
		emit(ctx, data, len);
	else if (norm_is_scalar(oid) && norm_bin_scalar(oid, data, len, emit, ctx) == 0)
		return;
	else if (oid != OID_NUMERIC || norm_bin_numeric(data, len, emit, ctx) < 0)
		norm_hex(data, len, emit, ctx);
}
