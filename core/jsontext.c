/*
 * jsontext.c - JSON strings from untrusted texts (see jsontext.h).
 */
#include "autoconfig.h"

#include "jsontext.h"

#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when it is not
 * valid (bad lead byte, bad continuation, overlong, surrogate, > U+10FFFF),
 * the rules jansson enforces on strings. */
static size_t utf8_seq_len(const unsigned char *p)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

json_t *lms_json_text(const char *s)
{
	if (!s)
		return json_null();
	json_t *j = json_string(s);
	if (j)
		return j;
	size_t len = strlen(s);
	char *clean = malloc(len + 1);
	if (!clean)
		return NULL;
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_seq_len((const unsigned char *)s + i);
		if (n == 0) {
			clean[i++] = '?';
			continue;
		}
		memcpy(clean + i, s + i, n);
		i += n;
	}
	clean[len] = 0;
	j = json_string(clean);
	free(clean);
	return j;
}
