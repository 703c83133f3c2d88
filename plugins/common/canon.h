/*
 * canon.h - the canonical text of values, shared by every dialect plugin
 * so that equal values give equal bytes whichever database sent them
 * (be_observe; docs/plugin-abi.md 4.7 and 9.11).  Pure functions writing
 * into the caller's buffer: no allocation, no state.
 *
 *   integers, decimals  no '+', no leading zeros, no trailing fraction
 *                       zeros, no '.' without a fraction, no "-0"
 *   floats              the shortest text that reads back as the same
 *                       float (single) or double; -0 is 0
 *   booleans            "1" / "0" (MySQL has no boolean type: BOOLEAN is
 *                       TINYINT(1))
 *   date-times          "YYYY-MM-DD HH:MM:SS[.f]": a space, never 'T';
 *                       fraction zeros trimmed
 *   bytes               "\x" and lowercase hex (PostgreSQL's bytea text)
 *   CHAR(n)             without its trailing spaces
 *   JSON documents      canonical (canon_json.c)
 */
#ifndef LMS_CANON_H
#define LMS_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "lms/plugin.h"

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

/* Documents larger than this are not canonicalised (compared as text). */
#define CANON_JSON_MAX (1u << 20)

/* The memory canon_json needs for a document of len bytes; 0 when len is
 * over CANON_JSON_MAX. */
size_t canon_json_mem(size_t len);

/* Might p[0..len) be a JSON object or array canon_json takes: its first
 * byte after whitespace '{' or '[', and not too large?  (A cheap test
 * before the memory is found.) */
int canon_json_candidate(const char *p, size_t len);

/* If p[0..len) is a JSON object or array (whitespace around it allowed):
 * its canonical text (canon_json.c: members sorted by key, no
 * whitespace, strings and numbers in one spelling) in mem, of
 * canon_json_mem(len) bytes, the caller's; *out points at it and its
 * length is returned.  -1 when it is not one (a scalar, malformed,
 * nested deeper than 64, an exponent beyond 1000, too large). */
long canon_json(const char *p, size_t len, void *mem, const char **out);

/* If p[0..len) is a JSON object or array: emit its canonical text (memory
 * from host, given back) and return 0.  -1, nothing emitted, when it is
 * not one or there is no memory for it. */
int canon_json_emit(const struct lms_host_api *host, const uint8_t *p, size_t len, lms_value_fn emit, void *ctx);

/* v rounded to `digits` significant digits, then in canon_float's form as
 * a double: how a MySQL FLOAT's text (6 digits) and a float compare. */
size_t canon_float_digits(double v, int digits, char dst[32]);

#endif
