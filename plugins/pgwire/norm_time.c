/*
 * norm_time.c - canonical text of PostgreSQL's timestamptz and interval
 * values (text format, DateStyle ISO, IntervalStyle postgres), so that
 * they compare with MySQL's TIMESTAMP and TIME (normalize.c):
 *
 *   timestamptz  the same instant in UTC, without an offset:
 *                "2024-01-02 05:04:05.5+02" -> "2024-01-02 03:04:05.5"
 *                (MySQL's TIMESTAMP text is in its session's time zone,
 *                UTC when compared: docs/mysql.md)
 *   interval     days and time as MySQL's TIME writes them, hours
 *                unbounded: "-1 days +02:00:00" -> "-22:00:00",
 *                "1 day 02:00:00" -> "26:00:00", "0" -> "00:00:00";
 *                one with years or months stays as it is (no fixed
 *                length)
 *
 * Any other spelling (BC, infinity, another DateStyle) returns -1 and
 * the caller keeps the text.  Inputs are network data: every read is
 * bounded by the length, every number by a digit count.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pgwire.h"
#include "canon.h"

#define US_PER_SEC 1000000LL
#define SEC_PER_DAY 86400LL
#define TZ_TEXT_MAX 64 /* longer is not a timestamptz we know */

/* A cursor over p[0..n). */
struct cur {
	const uint8_t *p;
	size_t n, i;
};

/* Exactly `digits` digits (or, digits 0, one to nine of them): *v. */
static int cur_num(struct cur *c, int digits, long long *v)
{
	size_t s = c->i, max = digits ? (size_t)digits : 9;
	long long x = 0;
	while (c->i < c->n && c->i - s < max && c->p[c->i] >= '0' && c->p[c->i] <= '9')
		x = x * 10 + (c->p[c->i++] - '0');
	if (c->i == s || (digits && c->i - s != (size_t)digits))
		return -1;
	*v = x;
	return 0;
}

static int cur_eat(struct cur *c, char ch)
{
	if (c->i < c->n && c->p[c->i] == (uint8_t)ch) {
		c->i++;
		return 1;
	}
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static long long days_from_civil(long long y, long long m, long long d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	long long yoe = y - era * 400;
	long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(long long z, long long *y, long long *m, long long *d)
{
	z += 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	long long doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp + (mp < 10 ? 3 : -9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* The offset at the end of a timestamptz: [+-]HH[:MM[:SS]], in seconds
 * east of UTC; the cursor must end with it. */
static int tz_offset(struct cur *c, long long *off)
{
	long long h, mi = 0, s = 0;
	int neg = c->i < c->n && c->p[c->i] == '-';
	if (!cur_eat(c, '+') && !cur_eat(c, '-'))
		return -1;
	if (cur_num(c, 2, &h) < 0 || (cur_eat(c, ':') && cur_num(c, 2, &mi) < 0) ||
	    (cur_eat(c, ':') && cur_num(c, 2, &s) < 0) || c->i != c->n)
		return -1;
	*off = (neg ? -1 : 1) * (h * 3600 + mi * 60 + s);
	return 0;
}

long pg_norm_timestamptz(const uint8_t *p, size_t len, char *dst, size_t cap)
{
	struct cur c = { p, len, 0 };
	long long y, mo, d, h, mi, s, off;
	if (len > TZ_TEXT_MAX || cap < TZ_TEXT_MAX)
		return -1;
	if (cur_num(&c, 0, &y) < 0 || c.i < 4 || !cur_eat(&c, '-') || cur_num(&c, 2, &mo) < 0 ||
	    !cur_eat(&c, '-') || cur_num(&c, 2, &d) < 0 || !cur_eat(&c, ' ') || cur_num(&c, 2, &h) < 0 ||
	    !cur_eat(&c, ':') || cur_num(&c, 2, &mi) < 0 || !cur_eat(&c, ':') || cur_num(&c, 2, &s) < 0)
		return -1;
	size_t fs = c.i; /* the fraction, kept as it is */
	if (cur_eat(&c, '.'))
		while (c.i < c.n && c.p[c.i] >= '0' && c.p[c.i] <= '9')
			c.i++;
	size_t fe = c.i;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || s > 60 || tz_offset(&c, &off) < 0)
		return -1;
	long long t = days_from_civil(y, mo, d) * SEC_PER_DAY + h * 3600 + mi * 60 + s - off;
	long long days = (t >= 0 ? t : t - (SEC_PER_DAY - 1)) / SEC_PER_DAY, sod = t - days * SEC_PER_DAY;
	civil_from_days(days, &y, &mo, &d);
	if (y < 1 || y > 99999)
		return -1;
	char t0[TZ_TEXT_MAX + 32];
	int k = snprintf(t0, sizeof(t0), "%04lld-%02lld-%02lld %02lld:%02lld:%02lld%.*s", y, mo, d, sod / 3600,
			 sod / 60 % 60, sod % 60, (int)(fe - fs), (const char *)p + fs);
	if (k < 0 || (size_t)k >= sizeof(t0) || (size_t)k > cap)
		return -1;
	return (long)canon_datetime(t0, (size_t)k, dst);
}

/* [+-]H+:MM:SS[.ffffff] at the cursor: *us, signed. */
static int iv_time(struct cur *c, long long *us)
{
	long long h, mi, s, f = 0;
	int neg = c->i < c->n && c->p[c->i] == '-';
	if (!cur_eat(c, '-'))
		cur_eat(c, '+');
	if (cur_num(c, 0, &h) < 0 || !cur_eat(c, ':') || cur_num(c, 2, &mi) < 0 || !cur_eat(c, ':') ||
	    cur_num(c, 2, &s) < 0)
		return -1;
	if (cur_eat(c, '.')) {
		size_t fs = c->i;
		if (cur_num(c, 0, &f) < 0 || c->i - fs > 6)
			return -1;
		for (size_t k = c->i - fs; k < 6; k++)
			f *= 10;
	}
	if (h > 1000000000LL || mi > 59 || s > 59)
		return -1;
	*us = (neg ? -1 : 1) * (((h * 60 + mi) * 60 + s) * US_PER_SEC + f);
	return 0;
}

/* "N day" or "N days" at the cursor: *days, signed; 0 when the next
 * word is not a day count. */
static int iv_days(struct cur *c, long long *days)
{
	struct cur t = *c;
	long long v;
	int neg = t.i < t.n && t.p[t.i] == '-';
	if (!cur_eat(&t, '-'))
		cur_eat(&t, '+');
	if (cur_num(&t, 0, &v) < 0 || !cur_eat(&t, ' ') || t.n - t.i < 3 || memcmp(t.p + t.i, "day", 3) != 0)
		return 0;
	t.i += 3;
	cur_eat(&t, 's');
	if (t.i < t.n && t.p[t.i] != ' ')
		return 0;
	if (v > 10000000LL)
		return -1;
	*days = neg ? -v : v;
	*c = t;
	return 1;
}

long pg_norm_interval(const uint8_t *p, size_t len, char *dst, size_t cap)
{
	struct cur c = { p, len, 0 };
	long long days = 0, us = 0;
	if (len > TZ_TEXT_MAX || cap < TZ_TEXT_MAX)
		return -1;
	int k = iv_days(&c, &days);
	if (k < 0)
		return -1;
	if (k == 1 && c.i < c.n && !cur_eat(&c, ' '))
		return -1;
	if (c.i < c.n && iv_time(&c, &us) < 0)
		return -1;
	if (c.i != c.n || (k == 0 && c.i == 0))
		return -1;
	us += days * SEC_PER_DAY * US_PER_SEC;
	unsigned long long a = us < 0 ? 0ull - (unsigned long long)us : (unsigned long long)us;
	unsigned long long sec = a / US_PER_SEC;
	char t[TZ_TEXT_MAX];
	int n = snprintf(t, sizeof(t), "%s%02llu:%02llu:%02llu.%06llu", us < 0 ? "-" : "", sec / 3600, sec / 60 % 60,
			 sec % 60, a % US_PER_SEC);
	if (n < 0 || (size_t)n >= sizeof(t) || (size_t)n > cap)
		return -1;
	return (long)canon_datetime(t, (size_t)n, dst);
}
