/*
 * bigmsg.h - messages of a translated session too large for the fixed
 * buffers (over LMS_DECODE_MAX), held whole on the heap within one
 * process-wide budget (--translate-memory).
 *
 * A translated session (ABI 1.4: client and source of truth speak other
 * protocols) must decode each message whole to rewrite it.  The socket
 * buffers hold LMS_BUF_SIZE; a bigger request (an INSERT of a large value)
 * or row (reading it back) is assembled here, and its rewrite is staged in
 * budgeted memory until the destination's output takes it.  Every byte
 * held counts against the budget; a message that does not fit is refused
 * with a clear error, never cut.
 */
#ifndef LMS_BIGMSG_H
#define LMS_BIGMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lms/plugin.h"

/* Largest message assembled whole (lms/plugin.h, ABI 1.6): a MySQL
 * packet's 16 MiB, PostgreSQL's messages up to the same size. */
#define LMS_BIGMSG_MAX LMS_TRANSLATE_MAX

/* Default budget for all sessions of the process (bytes). */
#define LMS_BIGMSG_BUDGET_DEFAULT (256ull * 1024u * 1024u)

/* One message being assembled (data NULL when none). */
struct lms_bigmsg {
	uint8_t *data;
	size_t len;      /* bytes assembled */
	size_t need;     /* the message's whole length */
	uint32_t kind;   /* its frame's kind and flags */
	uint32_t flags;
};

/* Set the process-wide budget (at start, before any session). */
void lms_bigmsg_set_budget(uint64_t bytes);

/* Bytes held now by all sessions, for metrics. */
uint64_t lms_bigmsg_held(void);

/* Memory from the budget: NULL when over it or out of memory.  Give it
 * back with lms_bigmsg_free and the same n. */
void *lms_bigmsg_alloc(size_t n);
void lms_bigmsg_free(void *p, size_t n);

/* As lms_bigmsg_alloc, for memory that is only good to have (a shadow's
 * copy of a request or a row, to compare answers): taken only while all
 * held stays within half the budget, so that the shadows never take the
 * memory a translated session needs to serve its client. */
void *lms_bigmsg_alloc_spare(size_t n);

/* Start assembling a message of len bytes (its frame's kind and flags
 * noted).  Returns 0, or -1 when it is over LMS_BIGMSG_MAX or the budget. */
int lms_bigmsg_begin(struct lms_bigmsg *b, size_t len, uint32_t kind, uint32_t flags);

/* As lms_bigmsg_begin, within half the budget (lms_bigmsg_alloc_spare). */
int lms_bigmsg_begin_spare(struct lms_bigmsg *b, size_t len, uint32_t kind, uint32_t flags);

/* Take up to n bytes of it from p; returns how many were taken. */
size_t lms_bigmsg_fill(struct lms_bigmsg *b, const uint8_t *p, size_t n);

/* Is the message whole? */
static inline bool lms_bigmsg_whole(const struct lms_bigmsg *b)
{
	return b->data && b->len == b->need;
}

/* Drop it (whole or not) and give its memory back. */
void lms_bigmsg_end(struct lms_bigmsg *b);

#endif
