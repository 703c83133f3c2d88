/*
 * common.c - framing and error encoding used by both directions, and the
 * dialect table.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "pgwire.h"

const struct lms_host_api *pg_host;
const struct pg_flavor *pg_flavor;

size_t pg_utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

int pg_startup_next(const uint8_t *p, size_t len, size_t *i, const char **k, const char **v)
{
	if (*i >= len)
		return -1;
	if (p[*i] == 0)
		return 0;
	size_t kl = strnlen((const char *)p + *i, len - *i);
	size_t vi = *i + kl + 1;
	if (vi >= len)
		return -1;
	size_t vl = strnlen((const char *)p + vi, len - vi);
	if (vi + vl >= len)
		return -1;
	*k = (const char *)p + *i;
	*v = (const char *)p + vi;
	*i = vi + vl + 1;
	return 1;
}

const char *pg_msg_str(const uint8_t *msg, size_t len, size_t *i)
{
	if (*i >= len)
		return NULL;
	const char *p = (const char *)msg + *i;
	size_t n = strnlen(p, len - *i);
	if (*i + n >= len)
		return NULL;
	*i += n + 1;
	return p;
}

void pg_error_sqlstate(const uint8_t *msg, size_t len, char st[6])
{
	size_t i = 5;
	st[0] = 0;
	while (i < len && msg[i] != 0) {
		uint8_t code = msg[i++];
		size_t at = i;
		const char *v = pg_msg_str(msg, len, &i);
		if (!v)
			return; /* unterminated: malformed, no SQLSTATE */
		if (code == 'C' && i - at == 6)
			memcpy(st, v, 6);
	}
}

/* Append one error field (code byte + C string); -1 when out is full. */
static int put_field(struct lms_out *out, char code, const char *s)
{
	size_t n = strlen(s);
	if (out->len + 2 + n > LMS_OUT_MAX)
		return -1;
	out->data[out->len++] = (uint8_t)code;
	memcpy(out->data + out->len, s, n + 1);
	out->len += n + 1;
	return 0;
}

int pg_error_response(const struct lms_error *err, struct lms_out *out)
{
	size_t start = out->len;
	if (start + 6 > LMS_OUT_MAX)
		return -1;
	out->data[out->len++] = 'E';
	out->len += 4;
	const char *sev = err->severity ? err->severity : "ERROR";
	if (put_field(out, 'S', sev) < 0 || put_field(out, 'V', sev) < 0 ||
	    put_field(out, 'C', err->sqlstate ? err->sqlstate : "XX000") < 0 ||
	    put_field(out, 'M', err->message ? err->message : "error") < 0 ||
	    (err->hint && put_field(out, 'H', err->hint) < 0) || out->len + 1 > LMS_OUT_MAX) {
		out->len = start;
		return -1;
	}
	out->data[out->len++] = 0;
	pg_put32(out->data + start + 1, (uint32_t)(out->len - start - 1));
	return 0;
}

void pg_dialect_fill(struct lms_dialect *d, const char *name)
{
	memset(d, 0, sizeof(*d));
	d->abi_major = LMS_PLUGIN_ABI_MAJOR;
	d->abi_minor = LMS_PLUGIN_ABI_MINOR;
	d->size = sizeof(*d);
	d->name = name;
	d->family = "pgwire";
	d->version = PACKAGE_VERSION;
	d->parse_url = pg_parse_url;
	d->check_backend = pg_check_backend;
	d->fe_new = pg_fe_new;
	d->fe_free = pg_fe_free;
	d->fe_accept = pg_fe_accept;
	d->fe_frame = pg_fe_frame;
	d->fe_decode = pg_fe_decode;
	d->fe_tls_done = pg_fe_tls_done;
	d->fe_error = pg_fe_error;
	d->be_new = pg_be_new;
	d->be_free = pg_be_free;
	d->be_start = pg_be_start;
	d->be_frame = pg_be_frame;
	d->be_decode = pg_be_decode;
	d->be_cancel = pg_be_cancel;
	d->be_observe = pg_be_observe;
	d->be_note_request = pg_be_note_request;
	d->fe_statement = pg_fe_statement;
	d->be_encode_request = pg_be_encode_request;
	d->be_answer = pg_be_answer;
}

const struct lms_dialect *pg_entry(const struct lms_host_api *host, struct lms_dialect *d,
				   const char *name, const struct pg_flavor *flavor)
{
	if (!host || host->abi_major != LMS_PLUGIN_ABI_MAJOR || host->size < sizeof(struct lms_host_api))
		return NULL;
	pg_host = host;
	pg_flavor = flavor;
	pg_dialect_fill(d, name);
	return d;
}
