/*
 * buf.c - fixed-capacity buffers with a small per-thread free list.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define CACHE_MAX 64

struct cached {
	struct cached *next;
};

static _Thread_local struct cached *cache_head;
static _Thread_local int cache_count;
static uint64_t allocated_bytes;

/* Take a chunk from this thread's cache, or from malloc. */
static uint8_t *chunk_get(void)
{
	if (cache_head) {
		struct cached *c = cache_head;
		cache_head = c->next;
		cache_count--;
		return (uint8_t *)c;
	}
	uint8_t *p = malloc(LMS_BUF_SIZE);
	if (p)
		__atomic_add_fetch(&allocated_bytes, LMS_BUF_SIZE, __ATOMIC_RELAXED);
	return p;
}

/* Return a chunk to the cache, or to the system when the cache is full. */
static void chunk_put(uint8_t *p)
{
	if (cache_count < CACHE_MAX) {
		struct cached *c = (struct cached *)(void *)p;
		c->next = cache_head;
		cache_head = c;
		cache_count++;
		return;
	}
	free(p);
	__atomic_sub_fetch(&allocated_bytes, LMS_BUF_SIZE, __ATOMIC_RELAXED);
}

size_t lms_buf_room(struct lms_buf *b)
{
	if (!b->data) {
		b->data = chunk_get();
		b->start = b->end = 0;
		if (!b->data)
			return 0;
	}
	if (b->start > 0 && b->end == LMS_BUF_SIZE) {
		size_t n = b->end - b->start;
		memmove(b->data, b->data + b->start, n);
		b->start = 0;
		b->end = n;
	}
	return LMS_BUF_SIZE - b->end;
}

size_t lms_buf_append(struct lms_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0; /* never allocate for nothing: idle connections hold no buffer */
	size_t room = lms_buf_room(b);
	if (n > room && b->start > 0) {
		size_t len = b->end - b->start;
		memmove(b->data, b->data + b->start, len);
		b->start = 0;
		b->end = len;
		room = LMS_BUF_SIZE - len;
	}
	if (n > room)
		n = room;
	if (n == 0)
		return 0;
	memcpy(b->data + b->end, p, n);
	b->end += n;
	return n;
}

void lms_buf_consume(struct lms_buf *b, size_t n)
{
	b->start += n;
	if (b->start >= b->end)
		lms_buf_release(b);
}

void lms_buf_release(struct lms_buf *b)
{
	if (b->data)
		chunk_put(b->data);
	b->data = NULL;
	b->start = b->end = 0;
}

uint64_t lms_buf_allocated_bytes(void)
{
	return __atomic_load_n(&allocated_bytes, __ATOMIC_RELAXED);
}

void lms_buf_cache_clear(void)
{
	while (cache_head) {
		struct cached *c = cache_head;
		cache_head = c->next;
		free(c);
		__atomic_sub_fetch(&allocated_bytes, LMS_BUF_SIZE, __ATOMIC_RELAXED);
	}
	cache_count = 0;
}
