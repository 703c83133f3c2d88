/*
 * canon.c - canonical text of values, shared by the dialect plugins.
 * See canon.h for the forms.
 */
#include "autoconfig.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"

size_t canon_decimal(int neg, const char *ip, size_t il, const char *fp, size_t fl, char *dst)
{
	while (il > 0 && *ip == '0') {
		ip++;
		il--;
	}
	while (fl > 0 && fp[fl - 1] == '0')
		fl--;
	size_t n = 0;
	if (neg && (il > 0 || fl > 0))
		dst[n++] = '-';
	if (il == 0)
		dst[n++] = '0';
	memcpy(dst + n, ip, il);
	n += il;
	if (fl > 0) {
		dst[n++] = '.';
		memcpy(dst + n, fp, fl);
		n += fl;
	}
	return n;
}

static size_t digits_end(const char *p, size_t len, size_t i)
{
	while (i < len && p[i] >= '0' && p[i] <= '9')
		i++;
	return i;
}

long canon_text_decimal(const char *p, size_t len, char *dst)
{
	size_t i = len > 0 && (p[0] == '+' || p[0] == '-') ? 1 : 0;
	size_t ie = digits_end(p, len, i), fs = ie, fe = ie;
	if (ie < len && p[ie] == '.')
		fe = digits_end(p, len, fs = ie + 1);
	if (fe != len || (ie == i && fe == fs))
		return -1;
	return (long)canon_decimal(len > 0 && p[0] == '-', p + i, ie - i, p + fs, fe - fs, dst);
}

size_t canon_float(double v, int single, char dst[32])
{
	if (isnan(v))
		return (size_t)snprintf(dst, 32, "NaN");
	if (isinf(v))
		return (size_t)snprintf(dst, 32, v < 0 ? "-Infinity" : "Infinity");
	if (v == 0)
		v = 0; /* -0 is 0: equal in SQL, and MariaDB stores 0 */
	int n = 0;
	for (int prec = 1; prec <= 17; prec++) {
		n = snprintf(dst, 32, "%.*g", prec, v);
		if (single ? strtof(dst, NULL) == (float)v : strtod(dst, NULL) == v)
			break;
	}
	return (size_t)n;
}

size_t canon_float_digits(double v, int digits, char dst[32])
{
	char t[32];
	if (isnan(v) || isinf(v) || digits < 1 || digits > 17)
		return canon_float(v, 0, dst);
	snprintf(t, sizeof(t), "%.*g", digits, v);
	return canon_float(strtod(t, NULL), 0, dst);
}

size_t canon_datetime(const char *p, size_t len, char *dst)
{
	memcpy(dst, p, len);
	if (len > 10 && dst[10] == 'T')
		dst[10] = ' ';
	const char *dot = memchr(dst, '.', len);
	if (!dot)
		return len;
	size_t d = (size_t)(dot - dst), e = digits_end(dst, len, d + 1);
	size_t k = e;
	while (k > d + 1 && dst[k - 1] == '0')
		k--;
	if (k == d + 1)
		k = d; /* no fraction left: no '.' either */
	memmove(dst + k, dst + e, len - e); /* a zone or suffix stays */
	return k + (len - e);
}

size_t canon_hex(const unsigned char *p, size_t len, char *dst)
{
	static const char digits[] = "0123456789abcdef";
	dst[0] = '\\';
	dst[1] = 'x';
	for (size_t k = 0; k < len; k++) {
		dst[2 + 2 * k] = digits[p[k] >> 4];
		dst[3 + 2 * k] = digits[p[k] & 15];
	}
	return 2 * len + 2;
}

size_t canon_unpad(const char *p, size_t len)
{
	while (len > 0 && p[len - 1] == ' ')
		len--;
	return len;
}
