/*
 * bigmsg.c - large messages of translated sessions, within one budget
 * (see bigmsg.h).
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "bigmsg.h"

static uint64_t budget = LMS_BIGMSG_BUDGET_DEFAULT;
static uint64_t held; /* atomic: bytes taken from the budget */

void lms_bigmsg_set_budget(uint64_t bytes)
{
	budget = bytes;
}

uint64_t lms_bigmsg_held(void)
{
	return __atomic_load_n(&held, __ATOMIC_RELAXED);
}

/* Take n bytes of the budget, so that at most limit bytes are held; false
 * when they are not left. */
static bool take(size_t n, uint64_t limit)
{
	uint64_t cur = __atomic_load_n(&held, __ATOMIC_RELAXED);
	do {
		if (n > limit || cur > limit - n)
			return false;
	} while (!__atomic_compare_exchange_n(&held, &cur, cur + n, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

/* n bytes, held below limit; NULL when over it or out of memory. */
static void *alloc_within(size_t n, uint64_t limit)
{
	if (!take(n, limit))
		return NULL;
	void *p = malloc(n);
	if (!p)
		__atomic_sub_fetch(&held, n, __ATOMIC_RELAXED);
	return p;
}

void *lms_bigmsg_alloc(size_t n)
{
	return alloc_within(n, budget);
}

void *lms_bigmsg_alloc_spare(size_t n)
{
	return alloc_within(n, budget / 2);
}

void lms_bigmsg_free(void *p, size_t n)
{
	if (!p)
		return;
	free(p);
	__atomic_sub_fetch(&held, n, __ATOMIC_RELAXED);
}

/* Start b (see lms_bigmsg_begin) with memory held below limit. */
static int begin_within(struct lms_bigmsg *b, size_t len, uint32_t kind, uint32_t flags, uint64_t limit)
{
	memset(b, 0, sizeof(*b));
	if (len == 0 || len > LMS_BIGMSG_MAX)
		return -1;
	b->data = alloc_within(len, limit);
	if (!b->data)
		return -1;
	b->need = len;
	b->kind = kind;
	b->flags = flags;
	return 0;
}

int lms_bigmsg_begin(struct lms_bigmsg *b, size_t len, uint32_t kind, uint32_t flags)
{
	return begin_within(b, len, kind, flags, budget);
}

int lms_bigmsg_begin_spare(struct lms_bigmsg *b, size_t len, uint32_t kind, uint32_t flags)
{
	return begin_within(b, len, kind, flags, budget / 2);
}

size_t lms_bigmsg_fill(struct lms_bigmsg *b, const uint8_t *p, size_t n)
{
	size_t take_n = b->need - b->len < n ? b->need - b->len : n;
	memcpy(b->data + b->len, p, take_n);
	b->len += take_n;
	return take_n;
}

void lms_bigmsg_end(struct lms_bigmsg *b)
{
	lms_bigmsg_free(b->data, b->need);
	memset(b, 0, sizeof(*b));
}
