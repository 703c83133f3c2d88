/*
 * canon.h - the canonical text of values, shared by every dialect plugin
 * so that equal values give equal bytes whichever database sent them
 * (be_observe; docs/plugin-abi.md 4.7 and 9.11).  Pure functions writing
 * into the caller's buffer: no allocation, no state.
 *
 *   integers, decimals  no '+', no leading zeros, no trailing fraction
 *                       zeros, no '.' without a fraction, no "-0"
 *   floats              the shortest text that reads back as the same
 *                       float (single) or double
 *   booleans            "1" / "0" (MySQL has no boolean type: BOOLEAN is
 *                       TINYINT(1))
 *   date-times          "YYYY-MM-DD HH:MM:SS[.f]": a space, never 'T';
 *                       fraction zeros trimmed
 *   bytes               "\x" and lowercase hex (PostgreSQL's bytea text)
 *   CHAR(n)             without its trailing spaces
 */
#ifndef LMS_CANON_H
#define LMS_CANON_H

#include <stddef.h>

/* A sign, integer digits ip[0..il) and fraction digits fp[0..fl) as
 * canonical decimal text into dst (room for il + fl + 3).  Returns its
 * length. */
size_t canon_decimal(int neg, const char *ip, size_t il, const char *fp, size_t fl, char *dst);

/* Text p[0..len) if it is [+-]digits[.digits] (at least one digit): its
 * canonical form into dst (room for len + 3), returning the length;
 * -1 for any other spelling (NaN, exponents), left to the caller. */
long canon_text_decimal(const char *p, size_t len, char *dst);

/* v in its shortest round-trip form (single: as a float). */
size_t canon_float(double v, int single, char dst[32]);

/* A date-time's text p[0..len) with its fraction's trailing zeros (and a
 * bare '.') removed and a 'T' separator made a space, into dst (room for
 * len).  Returns the length. */
size_t canon_datetime(const char *p, size_t len, char *dst);

/* The length of p[0..len) without its trailing spaces (CHAR(n) padding,
 * which is not part of the value). */
size_t canon_unpad(const char *p, size_t len);

/* bytes as "\x" and lowercase hex into dst (room for 2 * len + 2).
 * Returns the length. */
size_t canon_hex(const unsigned char *p, size_t len, char *dst);

#endif
