/*
 * packet.c - bytes of the MySQL protocol: little-endian integers,
 * length-encoded integers, status flags and ERR packets.
 */
#include "autoconfig.h"

#include <string.h>

#include "mysql.h"

uint32_t my_le16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

uint32_t my_le24(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

uint32_t my_le32(const uint8_t *p)
{
	return my_le24(p) | (uint32_t)p[3] << 24;
}

void my_put24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
}

int my_lenenc(const uint8_t *p, size_t avail, uint64_t *v)
{
	if (avail < 1)
		return 0;
	if (p[0] < 0xFB) {
		*v = p[0];
		return 1;
	}
	size_t n = p[0] == 0xFC ? 2 : p[0] == 0xFD ? 3 : p[0] == 0xFE ? 8 : 0;
	if (n == 0)
		return -1; /* 0xFB (NULL) or 0xFF */
	if (avail < 1 + n)
		return 0;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x |= (uint64_t)p[1 + i] << (8 * i);
	*v = x;
	return (int)(1 + n);
}

int my_status(const uint8_t *pl, size_t n, int ok_format, uint32_t *status)
{
	if (n < 1)
		return -1;
	if (!ok_format) {
		/* EOF: 0xFE, warnings (2), status (2); 4.0 servers send 1 byte */
		if (pl[0] != 0xFE || n >= 9)
			return -1;
		*status = n >= 5 ? my_le16(pl + 3) : 0;
		return 0;
	}
	if (pl[0] != 0x00 && pl[0] != 0xFE)
		return -1;
	uint64_t v;
	size_t off = 1;
	for (int i = 0; i < 2; i++) { /* affected rows, last insert id */
		int k = my_lenenc(pl + off, n - off, &v);
		if (k <= 0)
			return -1;
		off += (size_t)k;
	}
	if (n - off < 2)
		return -1;
	*status = my_le16(pl + off);
	return 0;
}

void my_err_packet(struct lms_out *out, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg,
		   int with_state)
{
	uint8_t *d = out->data;
	size_t off = MY_HDR;
	d[off++] = 0xFF;
	d[off++] = (uint8_t)code;
	d[off++] = (uint8_t)(code >> 8);
	if (with_state) {
		d[off++] = '#';
		for (int i = 0; i < 5; i++)
			d[off++] = (uint8_t)(sqlstate && strlen(sqlstate) == 5 ? sqlstate[i] : "HY000"[i]);
	}
	size_t n = strlen(msg);
	if (n > 512)
		n = 512; /* MySQL's own limit for error messages */
	memcpy(d + off, msg, n);
	off += n;
	my_put24(d, (uint32_t)(off - MY_HDR));
	d[3] = seq;
	out->len = off;
}
