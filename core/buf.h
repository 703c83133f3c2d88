/*
 * buf.h - bounded byte buffers for socket I/O.
 *
 * Every buffer has the same fixed capacity (LMS_BUF_SIZE).  Its memory is
 * taken from a per-thread cache when bytes arrive and given back as soon as
 * it is empty, so an idle connection holds no buffer memory at all.
 */
#ifndef LMS_BUF_H
#define LMS_BUF_H

#include <stddef.h>
#include <stdint.h>

#define LMS_BUF_SIZE (32u * 1024u)

struct lms_buf {
	uint8_t *data;  /* NULL while empty and released */
	size_t start;   /* first unread byte */
	size_t end;     /* one past the last byte */
};

/* Bytes waiting in the buffer. */
static inline size_t lms_buf_len(const struct lms_buf *b)
{
	return b->end - b->start;
}

/* Bytes that can still be appended, without allocating: a released
 * buffer can take a whole LMS_BUF_SIZE. */
static inline size_t lms_buf_space(const struct lms_buf *b)
{
	return b->data ? LMS_BUF_SIZE - lms_buf_len(b) : LMS_BUF_SIZE;
}

/* Free room at the tail (compacting first when that helps).  Allocates
 * the memory when needed; returns 0 when out of memory. */
size_t lms_buf_room(struct lms_buf *b);

/* Pointer to the tail for writing; call lms_buf_room() first. */
static inline uint8_t *lms_buf_tail(struct lms_buf *b)
{
	return b->data + b->end;
}

static inline const uint8_t *lms_buf_head(const struct lms_buf *b)
{
	return b->data + b->start;
}

/* Append up to n bytes, compacting when that makes them fit; returns
 * how many fit (all n whenever LMS_BUF_SIZE - lms_buf_len() >= n). */
size_t lms_buf_append(struct lms_buf *b, const void *p, size_t n);

/* Drop n bytes from the head; releases the memory when it empties. */
void lms_buf_consume(struct lms_buf *b, size_t n);

/* Give the memory back, discarding any content. */
void lms_buf_release(struct lms_buf *b);

/* Bytes currently allocated by buffers (all threads), for metrics. */
uint64_t lms_buf_allocated_bytes(void);

/* Free this thread's cache (at thread exit). */
void lms_buf_cache_clear(void);

#endif
