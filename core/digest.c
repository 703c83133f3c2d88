/*
 * digest.c - fold a request's observed events into a bounded outcome, and
 * compare two outcomes.  Hashing is XXH3 (libxxhash), chained through the
 * seed: each step hashes a small header or a value with the hash so far
 * as its seed.
 */
#include "autoconfig.h"

#include "digest.h"

#include <stdio.h>
#include <string.h>

#include <xxhash.h>

/* Seeds that start each chain; any fixed values will do, they only keep an
 * empty row, an empty request and an empty tag list apart from 0. */
#define ROW_SEED 0x6c6d732d726f7731ull   /* "lms-row1" */
#define ORDERED_SEED 0x6c6d732d6f726431ull /* "lms-ord1" */
#define TAGS_SEED 0x6c6d732d74616731ull  /* "lms-tag1" */

/* Value header: a NULL marker byte and the length, little-endian, so that
 * value boundaries are part of what is hashed. */
#define VALUE_NULL 0
#define VALUE_PRESENT 1

static uint64_t chain_u64(uint64_t h, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return XXH3_64bits_withSeed(b, sizeof(b), h);
}

void lms_outcome_reset(struct lms_outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->ordered = ORDERED_SEED;
	o->tags = TAGS_SEED;
}

void lms_row_hash_begin(uint64_t *h)
{
	*h = ROW_SEED;
}

/* A value of up to this many bytes is hashed with its header in one
 * XXH3 call (most values: numbers, dates, short text); a longer one is
 * chained after its header.  The header holds the length, so values of
 * different lengths never compare equal whichever way each went. */
#define VALUE_SHORT 55

void lms_row_hash_value(uint64_t *h, const uint8_t *data, size_t len)
{
	uint8_t b[9 + VALUE_SHORT];
	b[0] = data ? VALUE_PRESENT : VALUE_NULL;
	uint64_t n = data ? (uint64_t)len : 0;
	for (int i = 0; i < 8; i++)
		b[1 + i] = (uint8_t)(n >> (8 * i));
	if (n > 0 && n <= VALUE_SHORT) {
		memcpy(b + 9, data, len);
		*h = XXH3_64bits_withSeed(b, 9 + len, *h);
		return;
	}
	*h = XXH3_64bits_withSeed(b, 9, *h);
	if (n > 0)
		*h = XXH3_64bits_withSeed(data, len, *h);
}

/* Copy a NUL-terminated field of at most cap bytes (the event's arrays are
 * NUL-terminated by contract; cut anyway so a bad plugin cannot overrun). */
static void copy_text(char *dst, size_t dstlen, const char *src, size_t srccap)
{
	size_t n = strnlen(src, srccap);
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

/* The first error of the request is the one that is compared. */
static void outcome_error(struct lms_outcome *o, const struct lms_event *ev)
{
	if (o->sqlstate[0] || o->error[0])
		return;
	copy_text(o->sqlstate, sizeof(o->sqlstate), ev->sqlstate, sizeof(ev->sqlstate));
	copy_text(o->error, sizeof(o->error), ev->text, sizeof(ev->text));
	if (!o->error[0]) /* an error is known by its message: never leave it empty */
		snprintf(o->error, sizeof(o->error), "error without a message");
	o->transient = (ev->flags & LMS_EV_TRANSIENT) != 0;
}

static void outcome_complete(struct lms_outcome *o, const struct lms_event *ev)
{
	size_t n = strnlen(ev->tag, sizeof(ev->tag));
	uint64_t rows = (ev->flags & LMS_EV_ROWS_KNOWN) ? ev->rows : 0;
	o->statements++;
	o->affected += rows;
	o->counts = chain_u64(o->counts, rows);
	/* this statement's rows, as a multiset, end here */
	o->unordered = chain_u64(o->unordered, o->set);
	o->set = 0;
	/* the tag's length, then the tag: one XXH3 call */
	uint8_t b[8 + sizeof(ev->tag)];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)((uint64_t)n >> (8 * i));
	memcpy(b + 8, ev->tag, n);
	o->tags = XXH3_64bits_withSeed(b, 8 + n, o->tags);
	if (!o->tag[0])
		copy_text(o->tag, sizeof(o->tag), ev->tag, sizeof(ev->tag));
}

void lms_outcome_event(struct lms_outcome *o, const struct lms_event *ev, uint64_t row_hash)
{
	switch (ev->kind) {
	case LMS_EV_COLUMNS:
		o->ncols = ev->ncols;
		break;
	case LMS_EV_ROW:
		o->rows++;
		o->ordered = chain_u64(o->ordered, row_hash);
		o->set += row_hash; /* wraps: a sum over the multiset */
		break;
	case LMS_EV_COMPLETE:
		outcome_complete(o, ev);
		break;
	case LMS_EV_ERROR:
		outcome_error(o, ev);
		break;
	case LMS_EV_READY:
		o->done = true;
		o->txn = ev->txn;
		break;
	default: /* NONE, PARAM: nothing to compare */
		break;
	}
}

static void oversized_error(struct lms_outcome *o, uint64_t len)
{
	if (o->sqlstate[0] || o->error[0])
		return;
	snprintf(o->sqlstate, sizeof(o->sqlstate), "XX000");
	snprintf(o->error, sizeof(o->error), "the database answered with an error message of %llu bytes, too large "
		 "for molt-lms to read (limit %u bytes)", (unsigned long long)len, LMS_DECODE_MAX);
	o->transient = false;
}

void lms_outcome_oversized(struct lms_outcome *o, int kind, uint64_t len)
{
	if (kind == LMS_MSG_ERROR) {
		oversized_error(o, len);
		return;
	}
	if (kind != LMS_MSG_ROW)
		return;
	o->oversized_at = chain_u64(o->oversized_at, o->rows);
	o->rows++;
	o->oversized++;
}

void lms_outcome_streamed_row(struct lms_outcome *o, const struct lms_dialect *d, void *be, const uint8_t *msg,
			      size_t len)
{
	struct lms_event ev;
	uint64_t h;
	bool row = lms_observe(d, be, msg, len, &ev, &h) == 0 && ev.kind == LMS_EV_ROW;
	if (!o)
		return;
	if (row)
		lms_outcome_event(o, &ev, h);
	else
		lms_outcome_oversized(o, LMS_MSG_ROW, len);
}

void lms_outcome_lost(struct lms_outcome *o, const char *why)
{
	o->lost = true;
	o->done = true;
	copy_text(o->error, sizeof(o->error), why ? why : "lost", LMS_OUTCOME_ERR_MAX);
}

static bool has_error(const struct lms_outcome *o)
{
	return o->sqlstate[0] || o->error[0];
}

/* Both sides failed: only the SQLSTATE class (two characters) counts. */
static enum lms_diff compare_errors(const struct lms_outcome *t, const struct lms_outcome *o)
{
	return strncmp(t->sqlstate, o->sqlstate, 2) ? LMS_DIFF_SQLSTATE : LMS_DIFF_NONE;
}

/* The rows described by value, in order or as multisets. */
static bool same_described(const struct lms_outcome *t, const struct lms_outcome *o, bool ordered)
{
	return ordered ? t->ordered == o->ordered : t->unordered == o->unordered && t->set == o->set;
}

/* Compare the values (counts already equal); see lms_outcome_compare. */
static enum lms_diff compare_values(const struct lms_outcome *t, const struct lms_outcome *o, unsigned how)
{
	if (t->oversized != o->oversized || t->oversized_at != o->oversized_at)
		return LMS_DIFF_UNCHECKED; /* the described rows are not the same */
	if (!same_described(t, o, how & LMS_CMP_ORDERED))
		return LMS_DIFF_VALUES;
	return t->oversized ? LMS_DIFF_UNCHECKED : LMS_DIFF_NONE;
}

enum lms_diff lms_outcome_compare(const struct lms_outcome *t, const struct lms_outcome *o, unsigned how)
{
	if (t->lost || o->lost)
		return LMS_DIFF_LOST;
	if (t->transient || o->transient)
		return LMS_DIFF_TRANSIENT;
	bool te = has_error(t), oe = has_error(o);
	if (te != oe)
		return LMS_DIFF_ERROR;
	if (te)
		return compare_errors(t, o);
	if (t->tags != o->tags)
		return LMS_DIFF_TAG;
	/* Rows before affected counts: a SELECT's tag carries its row count,
	 * and "rows" says better what differs. */
	if (t->ncols != o->ncols)
		return LMS_DIFF_COLUMNS;
	if (t->rows != o->rows)
		return LMS_DIFF_ROWS;
	if (t->counts != o->counts)
		return LMS_DIFF_AFFECTED;
	return compare_values(t, o, how);
}

static const char *const diff_names[LMS_DIFFS] = {
	"none", "transient", "lost", "error", "sqlstate",
	"tag", "affected", "columns", "rows", "values", "unchecked"
};

const char *lms_diff_name(enum lms_diff d)
{
	return (unsigned)d < LMS_DIFFS ? diff_names[d] : "unknown";
}

static void emit_value(void *ctx, const uint8_t *data, size_t len)
{
	lms_row_hash_value(ctx, data, len);
}

int lms_observe(const struct lms_dialect *d, void *be, const uint8_t *msg, size_t len, struct lms_event *ev,
		uint64_t *row_hash)
{
	memset(ev, 0, sizeof(*ev));
	lms_row_hash_begin(row_hash);
	return d->be_observe(be, msg, len, ev, emit_value, row_hash);
}
