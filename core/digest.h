/*
 * digest.h - one request's outcome on one database, summarised in bounded
 * memory for comparison: counts, command tags, an ordered and an
 * unordered digest of the rows' canonical values, the first error.
 *
 * The session feeds every observed event of a request (struct lms_event
 * from the backend plugin's be_observe) into that side's outcome, then
 * compares the two outcomes once both requests ended.  Pure functions,
 * no I/O, no allocation.
 */
#ifndef LMS_DIGEST_H
#define LMS_DIGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "lms/plugin.h"

#define LMS_OUTCOME_ERR_MAX 160

struct lms_outcome {
	uint64_t rows;        /* rows received (every result of the request) */
	uint64_t affected;    /* sum of COMPLETE counts that were known (shown) */
	uint64_t counts;      /* hash chain over each COMPLETE's count (0 when
				 not known): what is compared, statement by
				 statement, not the sum */
	uint64_t ordered;     /* hash chain over row hashes, in arrival order */
	uint64_t unordered;   /* hash chain over each result set's multiset
				 (the sum of its row hashes), in statement order */
	uint64_t set;         /* sum of the row hashes of the result set not
				 yet completed */
	uint64_t tags;        /* hash chain over the command tags */
	uint64_t oversized_at; /* hash chain over the positions (in rows) of the
				  oversized rows */
	uint32_t ncols;       /* columns of the last result set */
	uint32_t statements;  /* COMPLETE events */
	uint32_t oversized;   /* rows not described (too big to copy): values
				 not compared (oversized_at says where) */
	uint32_t txn;         /* enum lms_txn_state from READY */
	char tag[LMS_TAG_MAX];                 /* first command tag */
	char sqlstate[6];                      /* first error, "" if none */
	char error[LMS_OUTCOME_ERR_MAX];       /* first error's message */
	bool transient;       /* the first error was transient (40001, ...) */
	bool lost;            /* no answer: timeout or connection lost; error
				 says which */
	bool done;            /* READY seen (or lost) */
};

/* The result of comparing the source of truth's outcome with the
 * other database's. */
enum lms_diff {
	LMS_DIFF_NONE = 0,    /* same answer */
	LMS_DIFF_TRANSIENT,   /* one side hit a transient error: not compared */
	LMS_DIFF_LOST,        /* the other side did not answer (timeout, down) */
	LMS_DIFF_ERROR,       /* exactly one side failed */
	LMS_DIFF_SQLSTATE,    /* both failed, with different SQLSTATE classes */
	LMS_DIFF_TAG,         /* different commands completed */
	LMS_DIFF_AFFECTED,    /* different affected-row counts */
	LMS_DIFF_COLUMNS,     /* different column counts */
	LMS_DIFF_ROWS,        /* different row counts */
	LMS_DIFF_VALUES,      /* same counts, different values (or order) */
	LMS_DIFF_UNCHECKED,   /* no difference found, but some rows could not
				 be compared by value (too large to copy) */
	LMS_DIFFS
};

/* Empty o for a new request. */
void lms_outcome_reset(struct lms_outcome *o);

/* Row hashing: start a row, feed each canonical value (NULL data for SQL
 * NULL) in column order, then pass the hash to lms_outcome_event. */
void lms_row_hash_begin(uint64_t *h);
void lms_row_hash_value(uint64_t *h, const uint8_t *data, size_t len);

/* Describe one whole server message with backend plugin d (state be):
 * ev is zeroed and filled, *row_hash is the hash of a row's canonical
 * values (LMS_EV_ROW).  Returns be_observe's status. */
int lms_observe(const struct lms_dialect *d, void *be, const uint8_t *msg, size_t len, struct lms_event *ev,
		uint64_t *row_hash);

/* Fold one event into o; row_hash is used with LMS_EV_ROW only.  Events
 * after an error still count (a multi-statement request goes on).  READY
 * sets done and txn. */
void lms_outcome_event(struct lms_outcome *o, const struct lms_event *ev, uint64_t row_hash);

/* A message of len bytes that was too big to decode, of kind LMS_MSG_*: a
 * row is counted and its position noted, its values not compared; an
 * error makes the request fail with SQLSTATE XX000 and a message saying so (unless an earlier
 * error of the request is known); other kinds change nothing. */
void lms_outcome_oversized(struct lms_outcome *o, int kind, uint64_t len);

/* A whole row of len bytes that streamed past undecoded (a copy of it):
 * plugin d describes it, and o (may be NULL: the plugin still sees it)
 * gets its values, or it counts as oversized (lms_outcome_oversized) when
 * d does not describe it as a row. */
void lms_outcome_streamed_row(struct lms_outcome *o, const struct lms_dialect *d, void *be, const uint8_t *msg,
			      size_t len);

/* The other side gave no answer: why ("timeout after 5 s", ...). */
void lms_outcome_lost(struct lms_outcome *o, const char *why);

/* How lms_outcome_compare compares (flags). */
#define LMS_CMP_ORDERED 1u  /* rows in order (the statement has ORDER BY),
			       else as multisets */

/* Compare the source of truth's outcome t with the other's o (how:
 * LMS_CMP_* flags).  The first difference wins, in this order: a lost
 * side (LOST; normally the other, a lost source of truth has nothing to
 * compare either), a transient error on either side, an error on one side
 * only, different SQLSTATE classes (first two characters) when both failed
 * (same class: NONE, nothing else is compared), then tags, columns, rows,
 * affected rows (statement by statement) and the values: all rows in
 * order when ordered, else each statement's rows as a multiset.
 *
 * Rows not described by value (lms_outcome_oversized: too large to copy)
 * are not compared: a row's size says nothing (CHAR padding, a numeric's
 * scale, another wire protocol).  When each side left out the rows at the
 * same positions, the described rows are compared (VALUES when they
 * differ), else they are not the same rows; either way the answer is at
 * best UNCHECKED, never NONE. */
enum lms_diff lms_outcome_compare(const struct lms_outcome *t, const struct lms_outcome *o, unsigned how);

/* "none", "transient", "lost", "error", "sqlstate", "tag", "affected",
 * "columns", "rows", "values", "unchecked". */
const char *lms_diff_name(enum lms_diff d);

#endif
