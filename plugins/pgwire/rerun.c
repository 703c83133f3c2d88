/*
 * rerun.c - an execution of a translated prepared statement that the
 * database refuses because the statement's result columns changed
 * (0A000, "cached plan must not change result type": ALTER TABLE under a
 * SELECT *) is sent again with the statement parsed anew, and the client
 * sees only the second answer.  MySQL re-prepares such a statement
 * silently; before this the client got the error once.  The same for
 * 26000 (the statement is gone: an application's DEALLOCATE ALL).
 *
 * The error comes from Bind, before the statement ran, so running it
 * again changes nothing else.  It is done only when the answer can be
 * told apart with certainty:
 *
 *   armed    at encode time: an execution that only binds (its Parse was
 *            answered), with nothing else in flight, and no statement of
 *            ours in front that could be the one failing; its Bind ..
 *            Sync bytes are kept (with the Parse named.c kept, both fit
 *            in one struct lms_out, PG_RERUN_ROOM)
 *   hit      its answer is an ErrorResponse 0A000 from the request itself
 *            (atomic.c's statements answered), outside a transaction or
 *            with a savepoint of ours at the request's start: the error
 *            is hidden
 *   retry    at its ReadyForQuery (hidden too): what atomic.c plans now
 *            (ROLLBACK TO SAVEPOINT inside a transaction, nothing
 *            outside), Close + Parse of the statement, the same Bind ..
 *            Sync.  Its answer is the client's, whatever it is: a second
 *            0A000 reaches the client, never a loop.
 *   overtaken the client pipelined another request, encoded between the
 *            refusal and its ReadyForQuery: the retry would be answered
 *            after it, and the refusal is hidden already, so the backend
 *            gives up at that ReadyForQuery and the session ends with an
 *            error (never a success for a statement that failed).
 *
 * A request whose generated key is read (genkey.c) is not armed: its own
 * RETURNING is part of the text, and nothing would repair a lookup.
 */
#include "autoconfig.h"

#include <string.h>

#include "pgwire.h"

void pg_rerun_disarm(struct pg_rerun *r)
{
	if (!r)
		return;
	/* a pipelined request behind a refusal already hidden: its retry
	 * would be answered after that request, so none can be sent */
	r->state = r->state == PG_RERUN_HIT || r->state == PG_RERUN_OVERTAKEN ? PG_RERUN_OVERTAKEN : PG_RERUN_OFF;
	r->hiding = 0;
}

void pg_rerun_arm(struct pg_rerun *r, const struct pg_named *n, uint32_t slot, uint32_t id, uint32_t flags,
		  uint64_t z, const uint8_t *run, size_t len)
{
	size_t parse_len = 0;
	if (!r || !(flags & LMS_REQ_STMT_ATOMIC) || !pg_named_parse_msg(n, slot, id, &parse_len) ||
	    parse_len + len > PG_RERUN_ROOM)
		return;
	memcpy(r->run, run, len);
	r->run_len = len;
	r->slot = slot;
	r->id = id;
	r->flags = flags;
	r->z = z;
	r->state = PG_RERUN_ARMED;
}

/* Will atomic.c leave the transaction where a retry can go on from, once
 * request q failed with an error of its own?  Outside a transaction it
 * is over; inside, its savepoint is rolled back to (atom_ready's
 * REPAIR_TO_SAVEPOINT). */
static int repairable(const struct pg_atom *a, const struct pg_atom_req *q)
{
	if (!q || a->len != 1 || q->hide || q->failed_ours || q->key || !(q->flags & LMS_REQ_STMT_ATOMIC))
		return 0;
	if (a->txn == 'I')
		return !(q->flags & PG_ATOM_RESET);
	return q->planned && q->saved;
}

int pg_rerun_error(struct pg_rerun *r, const struct pg_named *n, const struct pg_atom *a, const uint8_t *msg,
		   size_t len)
{
	if (!r)
		return 0;
	r->hiding = 0;
	if (r->state != PG_RERUN_ARMED || msg[0] != 'E' || !n || !a)
		return 0;
	char st[6];
	size_t parse_len;
	pg_error_sqlstate(msg, len, st);
	r->state = PG_RERUN_OFF;
	if ((strcmp(st, "0A000") != 0 && strcmp(st, "26000") != 0) || pg_named_seen(n) != r->z || !repairable(a, pg_atom_current(a)) ||
	    !pg_named_parse_msg(n, r->slot, r->id, &parse_len))
		return 0;
	r->state = PG_RERUN_HIT;
	r->hiding = 1;
	return 1;
}

int pg_rerun_ready(struct pg_rerun *r, struct pg_named *n, struct pg_atom *a, struct lms_out *out)
{
	if (!r)
		return 0;
	int hit = r->state == PG_RERUN_HIT;
	int overtaken = r->state == PG_RERUN_OVERTAKEN;
	r->state = PG_RERUN_OFF;
	r->hiding = 0;
	if (overtaken) {
		r->hiding = 1; /* this ReadyForQuery must not end the request as a success */
		return -1;
	}
	if (!hit)
		return 0;
	size_t parse_len = 0;
	const uint8_t *parse = pg_named_parse_msg(n, r->slot, r->id, &parse_len);
	long w = parse ? pg_encode_rerun(n, a, r->slot, parse, parse_len, r->flags, r->run, r->run_len, out->data,
					 LMS_OUT_MAX)
		       : -1;
	if (w < 0)
		return -1; /* cannot happen (checked when armed): the session ends rather than lose the error */
	out->len = (size_t)w;
	r->hiding = 1;
	return 1;
}
