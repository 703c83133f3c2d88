/*
 * canon_json.c - the canonical text of a JSON document (canon.h), so that
 * MariaDB's JSON (text kept as the client wrote it) and PostgreSQL's
 * jsonb (re-printed with its own key order and spacing) compare equal
 * when they hold the same document:
 *
 *   whitespace      none outside strings
 *   objects         members sorted by key bytes (then by their whole
 *                   text, so duplicates sort the same on both sides);
 *                   duplicates are kept
 *   strings         escapes decoded, then only what jsonb escapes: \" \\
 *                   \b \f \n \r \t, other control characters \u00xx;
 *                   everything else as UTF-8
 *   numbers         canonical decimals (canon_decimal): exponent applied,
 *                   no '+', no leading or trailing zeros, no "-0"
 *   true false null as they are
 *
 * The input is network data: every read is bounded by its length, nesting
 * by CANON_JSON_DEPTH, exponents by CANON_JSON_EXP, and the output by the
 * memory the caller gave (canon_json_mem).
 */
#include "autoconfig.h"

#include <stdint.h>
#include <string.h>

#include "canon.h"

#define CANON_JSON_DEPTH 64
#define CANON_JSON_EXP 1000 /* |exponent| of a number: beyond it, not canonicalised */
#define CANON_JSON_SLACK 1100 /* output room beyond the input's length: one exponent of 1000 applied */

/* One member of an object being written: out[off..off+len), its key
 * (with its quotes) the first key bytes.  Offsets fit in 32 bits: the
 * output is at most CANON_JSON_MAX + CANON_JSON_SLACK bytes. */
struct jmember {
	uint32_t off, key, len;
};

struct jc {
	const unsigned char *p; /* input p[0..n) */
	size_t n, i;
	char *o, *tmp; /* output and reordering room, cap bytes each */
	size_t cap, at;
	struct jmember *m; /* members of the objects open, mcap entries */
	size_t mcap, mtop;
	int depth;
};

_Static_assert(CANON_JSON_MAX + CANON_JSON_SLACK < UINT32_MAX, "member offsets are 32-bit");

static int j_value(struct jc *j);

size_t canon_json_mem(size_t len)
{
	if (len > CANON_JSON_MAX)
		return 0;
	return (len / 4 + 2) * sizeof(struct jmember) + 2 * (len + CANON_JSON_SLACK);
}

int canon_json_candidate(const char *p, size_t len)
{
	size_t i = 0;
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
		i++;
	return len <= CANON_JSON_MAX && i < len && (p[i] == '{' || p[i] == '[');
}

static int j_put(struct jc *j, const void *s, size_t k)
{
	if (k > j->cap - j->at)
		return -1;
	memcpy(j->o + j->at, s, k);
	j->at += k;
	return 0;
}

static int j_putc(struct jc *j, char c)
{
	return j_put(j, &c, 1);
}

static void j_ws(struct jc *j)
{
	while (j->i < j->n && (j->p[j->i] == ' ' || j->p[j->i] == '\t' || j->p[j->i] == '\n' || j->p[j->i] == '\r'))
		j->i++;
}

/* Is the next input byte c (after whitespace)?  Consumes it if so. */
static int j_eat(struct jc *j, unsigned char c)
{
	j_ws(j);
	if (j->i < j->n && j->p[j->i] == c) {
		j->i++;
		return 1;
	}
	return 0;
}

/* Four hex digits at p[i..): their value, or -1. */
static long j_hex4(const struct jc *j, size_t i)
{
	long v = 0;
	if (i > j->n || j->n - i < 4)
		return -1;
	for (size_t k = i; k < i + 4; k++) {
		unsigned char c = j->p[k];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Code point cp as jsonb writes it inside a string. */
static int j_put_cp(struct jc *j, unsigned long cp)
{
	static const char hex[] = "0123456789abcdef";
	char b[6];
	switch (cp) {
	case '"': return j_put(j, "\\\"", 2);
	case '\\': return j_put(j, "\\\\", 2);
	case '\b': return j_put(j, "\\b", 2);
	case '\f': return j_put(j, "\\f", 2);
	case '\n': return j_put(j, "\\n", 2);
	case '\r': return j_put(j, "\\r", 2);
	case '\t': return j_put(j, "\\t", 2);
	default: break;
	}
	if (cp < 0x20) {
		char u[6] = { '\\', 'u', '0', '0', hex[cp >> 4], hex[cp & 15] };
		return j_put(j, u, 6);
	}
	if (cp < 0x80)
		return j_putc(j, (char)cp);
	size_t k = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
	static const unsigned char lead[] = { 0, 0, 0xc0, 0xe0, 0xf0 };
	for (size_t q = k - 1; q > 0; q--, cp >>= 6)
		b[q] = (char)(0x80 | (cp & 0x3f));
	b[0] = (char)(lead[k] | cp);
	return j_put(j, b, k);
}

/* A \u escape at p[i] (the 'u'): its code point (a surrogate pair
 * joined), i past it; -1 when malformed or a lone surrogate. */
static long j_unicode(struct jc *j)
{
	long hi = j_hex4(j, j->i + 1);
	if (hi < 0)
		return -1;
	j->i += 5;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return -1;
	if (hi < 0xd800 || hi > 0xdbff)
		return hi;
	if (j->n - j->i < 6 || j->p[j->i] != '\\' || j->p[j->i + 1] != 'u')
		return -1;
	long lo = j_hex4(j, j->i + 2);
	if (lo < 0xdc00 || lo > 0xdfff)
		return -1;
	j->i += 6;
	return 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
}

/* A string at p[i] (its opening quote), in canonical form. */
static int j_string(struct jc *j)
{
	if (j->i >= j->n || j->p[j->i] != '"' || j_putc(j, '"') < 0)
		return -1;
	j->i++;
	while (j->i < j->n) {
		unsigned char c = j->p[j->i];
		if (c == '"') {
			j->i++;
			return j_putc(j, '"');
		}
		if (c < 0x20)
			return -1;
		if (c != '\\') {
			if (j_putc(j, (char)c) < 0)
				return -1;
			j->i++;
			continue;
		}
		if (j->n - j->i < 2)
			return -1;
		unsigned char e = j->p[j->i + 1];
		static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
		const char *f = e ? memchr(from, e, sizeof(from) - 1) : NULL;
		long cp;
		if (f) {
			cp = (unsigned char)to[f - from];
			j->i += 2;
		} else if (e == 'u') {
			j->i++;
			cp = j_unicode(j);
		} else {
			return -1;
		}
		if (cp < 0 || j_put_cp(j, (unsigned long)cp) < 0)
			return -1;
	}
	return -1; /* no closing quote */
}

/* The digits of a number, int part ip[0..il) then fraction fp[0..fl):
 * digit k of the two. */
struct jdigits {
	const unsigned char *ip, *fp;
	size_t il, fl;
};

static char j_digit(const struct jdigits *d, size_t k)
{
	return (char)(k < d->il ? d->ip[k] : d->fp[k - d->il]);
}

/* Digits d[a..b) with the point after `point` of them (point may be
 * outside [a, b]: zeros fill), b > a, as a canonical decimal. */
static int j_put_digits(struct jc *j, int neg, const struct jdigits *d, size_t a, size_t b, long point)
{
	if (neg && j_putc(j, '-') < 0)
		return -1;
	long lo = (long)a, hi = (long)b;
	if (point <= lo) { /* 0.000ddd */
		if (j_put(j, "0.", 2) < 0)
			return -1;
		for (long k = point; k < lo; k++)
			if (j_putc(j, '0') < 0)
				return -1;
	}
	for (long k = lo; k < hi; k++) {
		if (k == point && k > lo && j_putc(j, '.') < 0)
			return -1;
		if (j_putc(j, j_digit(d, (size_t)k)) < 0)
			return -1;
	}
	for (long k = hi; k < point; k++) /* ddd000 */
		if (j_putc(j, '0') < 0)
			return -1;
	return 0;
}

static size_t j_run(const struct jc *j, size_t i)
{
	while (i < j->n && j->p[i] >= '0' && j->p[i] <= '9')
		i++;
	return i;
}

/* A number at p[i]: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?, canonical. */
static int j_number(struct jc *j)
{
	int neg = j->p[j->i] == '-';
	size_t s = j->i + (size_t)neg, e = j_run(j, s);
	if (e == s || (j->p[s] == '0' && e > s + 1))
		return -1;
	struct jdigits d = { j->p + s, NULL, e - s, 0 };
	j->i = e;
	if (j->i < j->n && j->p[j->i] == '.') {
		size_t fe = j_run(j, j->i + 1);
		if (fe == j->i + 1)
			return -1;
		d.fp = j->p + j->i + 1;
		d.fl = fe - j->i - 1;
		j->i = fe;
	}
	long exp = 0;
	if (j->i < j->n && (j->p[j->i] == 'e' || j->p[j->i] == 'E')) {
		size_t k = j->i + 1;
		int eneg = k < j->n && j->p[k] == '-';
		if (k < j->n && (j->p[k] == '-' || j->p[k] == '+'))
			k++;
		size_t ee = j_run(j, k);
		if (ee == k)
			return -1;
		for (; k < ee; k++)
			if ((exp = exp * 10 + (j->p[k] - '0')) > CANON_JSON_EXP)
				return -1;
		exp = eneg ? -exp : exp;
		j->i = ee;
	}
	size_t a = 0, b = d.il + d.fl;
	while (a < b && j_digit(&d, a) == '0')
		a++;
	while (b > a && j_digit(&d, b - 1) == '0')
		b--;
	if (a == b)
		return j_putc(j, '0');
	return j_put_digits(j, neg, &d, a, b, (long)d.il + exp);
}

static int j_literal(struct jc *j, const char *w)
{
	size_t k = strlen(w);
	if (j->n - j->i < k || memcmp(j->p + j->i, w, k) != 0)
		return -1;
	j->i += k;
	return j_put(j, w, k);
}

/* Members a and b of j's output: by key bytes, then by their text. */
static int j_cmp(const struct jc *j, const struct jmember *a, const struct jmember *b)
{
	size_t n = a->key < b->key ? a->key : b->key;
	int c = memcmp(j->o + a->off, j->o + b->off, n);
	if (c || a->key != b->key)
		return c ? c : a->key < b->key ? -1 : 1;
	n = a->len < b->len ? a->len : b->len;
	c = memcmp(j->o + a->off, j->o + b->off, n);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static void j_sift(const struct jc *j, struct jmember *m, size_t root, size_t n)
{
	for (size_t c; (c = 2 * root + 1) < n; root = c) {
		if (c + 1 < n && j_cmp(j, &m[c], &m[c + 1]) < 0)
			c++;
		if (j_cmp(j, &m[root], &m[c]) >= 0)
			return;
		struct jmember t = m[root];
		m[root] = m[c];
		m[c] = t;
	}
}

/* Heap sort of m[0..n): no memory, n log n whatever the input. */
static void j_sort(const struct jc *j, struct jmember *m, size_t n)
{
	for (size_t k = n / 2; k-- > 0;)
		j_sift(j, m, k, n);
	for (size_t k = n; k-- > 1;) {
		struct jmember t = m[0];
		m[0] = m[k];
		m[k] = t;
		j_sift(j, m, 0, k);
	}
}

/* The members of the object written from out[start] on (one after the
 * other, no commas), sorted and joined by commas; -1 when that does not
 * fit in the output. */
static int j_reorder(struct jc *j, size_t start, size_t base)
{
	struct jmember *m = j->m + base;
	size_t n = j->mtop - base, t = 0, room = j->cap - start;
	j_sort(j, m, n);
	for (size_t k = 0; k < n; k++) {
		if (m[k].len + (k > 0) > room - t)
			return -1;
		if (k > 0)
			j->tmp[t++] = ',';
		memcpy(j->tmp + t, j->o + m[k].off, m[k].len);
		t += m[k].len;
	}
	memcpy(j->o + start, j->tmp, t);
	j->at = start + t;
	j->mtop = base;
	return 0;
}

static int j_object(struct jc *j)
{
	size_t base = j->mtop, start;
	j->i++;
	if (j_putc(j, '{') < 0)
		return -1;
	start = j->at;
	if (j_eat(j, '}'))
		return j_putc(j, '}');
	do {
		j_ws(j);
		struct jmember mb = { (uint32_t)j->at, 0, 0 };
		if (j_string(j) < 0)
			return -1;
		mb.key = (uint32_t)(j->at - mb.off);
		if (!j_eat(j, ':') || j_putc(j, ':') < 0 || j_value(j) < 0)
			return -1;
		mb.len = (uint32_t)(j->at - mb.off);
		if (j->mtop >= j->mcap)
			return -1;
		j->m[j->mtop++] = mb;
	} while (j_eat(j, ','));
	if (!j_eat(j, '}') || j_reorder(j, start, base) < 0)
		return -1;
	return j_putc(j, '}');
}

static int j_array(struct jc *j)
{
	j->i++;
	if (j_putc(j, '[') < 0)
		return -1;
	if (j_eat(j, ']'))
		return j_putc(j, ']');
	size_t k = 0;
	do {
		if ((k++ > 0 && j_putc(j, ',') < 0) || j_value(j) < 0)
			return -1;
	} while (j_eat(j, ','));
	return j_eat(j, ']') ? j_putc(j, ']') : -1;
}

static int j_value(struct jc *j)
{
	j_ws(j);
	if (j->i >= j->n || j->depth >= CANON_JSON_DEPTH)
		return -1;
	unsigned char c = j->p[j->i];
	int rc;
	j->depth++;
	if (c == '{')
		rc = j_object(j);
	else if (c == '[')
		rc = j_array(j);
	else if (c == '"')
		rc = j_string(j);
	else if (c == '-' || (c >= '0' && c <= '9'))
		rc = j_number(j);
	else
		rc = j_literal(j, c == 't' ? "true" : c == 'f' ? "false" : "null");
	j->depth--;
	return rc;
}

long canon_json(const char *p, size_t len, void *mem, const char **out)
{
	size_t mlen = canon_json_mem(len);
	if (mlen == 0)
		return -1;
	struct jc j = { .p = (const unsigned char *)p, .n = len, .cap = len + CANON_JSON_SLACK };
	j.m = mem;
	j.mcap = len / 4 + 2;
	j.o = (char *)mem + j.mcap * sizeof(struct jmember);
	j.tmp = j.o + j.cap;
	j_ws(&j);
	if (j.i >= len || (p[j.i] != '{' && p[j.i] != '['))
		return -1;
	if (j_value(&j) < 0)
		return -1;
	j_ws(&j);
	if (j.i != len)
		return -1;
	*out = j.o;
	return (long)j.at;
}

int canon_json_emit(const struct lms_host_api *host, const uint8_t *p, size_t len, lms_value_fn emit, void *ctx)
{
	if (!canon_json_candidate((const char *)p, len))
		return -1;
	void *mem = host->alloc(canon_json_mem(len));
	const char *out;
	long k = mem ? canon_json((const char *)p, len, mem, &out) : -1;
	if (k >= 0)
		emit(ctx, (const uint8_t *)out, (size_t)k);
	if (mem)
		host->free(mem);
	return k >= 0 ? 0 : -1;
}
