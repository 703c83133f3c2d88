/*
 * pg_msg.h - building PostgreSQL backend messages in Check unit tests:
 * msg_begin(type), the body, then msg_end() fills the length.  Every write
 * is checked against the buffer.
 *
 * Header-only, one copy per test program; include it after check.h and the
 * pgwire plugin's own header (pg_put32).
 */
#ifndef LMS_TESTS_PG_MSG_H
#define LMS_TESTS_PG_MSG_H

#include <stdint.h>
#include <string.h>

/* A message being built: type, length filled by msg_end. */
struct msg {
	uint8_t b[40000];
	size_t n;
};

static inline void msg_begin(struct msg *m, char type)
{
	m->b[0] = (uint8_t)type;
	m->n = 5;
}

static inline void msg_bytes(struct msg *m, const void *p, size_t n)
{
	ck_assert_uint_le(m->n + n, sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static inline void msg_str(struct msg *m, const char *s)
{
	msg_bytes(m, s, strlen(s) + 1);
}

static inline void msg_u16(struct msg *m, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	msg_bytes(m, b, 2);
}

static inline void msg_u32(struct msg *m, uint32_t v)
{
	uint8_t b[4];
	pg_put32(b, v);
	msg_bytes(m, b, 4);
}

static inline void msg_end(struct msg *m)
{
	pg_put32(m->b + 1, (uint32_t)(m->n - 1));
}

#endif
