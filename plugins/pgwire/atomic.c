/*
 * atomic.c - a client's transaction semantics kept on PostgreSQL (struct
 * lms_request flags, ABI 1.5), for translated requests only.
 *
 * A MySQL client expects a failed statement inside a transaction to undo
 * only itself (InnoDB); PostgreSQL aborts the whole transaction and
 * refuses everything until ROLLBACK.  So, while a transaction is open:
 *
 *   before a statement        SAVEPOINT molt_lms (RELEASE the last one
 *                             first: one level, whatever the length),
 *                             unless only reads (LMS_REQ_READ) ran since
 *                             the last one: it still marks the state
 *   after it failed           ROLLBACK TO SAVEPOINT molt_lms before the
 *                             next request: the transaction goes on
 *   after a class 40 error    ROLLBACK at once (its locks go, as
 *                             InnoDB's after a deadlock): the request
 *                             ends with the ROLLBACK's ReadyForQuery, the
 *                             transaction is over; when another request
 *                             is already in flight, in front of the next
 *   COMMIT_FIRST              COMMIT before the request
 *   BEGIN_FIRST, no           BEGIN, then SAVEPOINT molt_lms: the client's
 *   transaction open          autocommit is off (ABI 1.8), so the
 *                             statement opens a transaction that lasts
 *                             until its COMMIT or ROLLBACK
 *   a RESET request           ROLLBACK before it (MySQL's
 *                             COM_RESET_CONNECTION ends a transaction)
 *
 * These statements are sent in front of the request, in the same round
 * trip (same Sync, or the same Query string), and every answer to them
 * (ParseComplete, BindComplete, CommandComplete) is hidden from be_answer
 * and be_observe.  If one fails the error is not hidden: it is the
 * request's answer, and nothing of ours is tried again in that
 * transaction (BROKEN: the client must end it; its COMMIT then gets an
 * error, never a success).
 *
 * The state of the transaction is known only when no request is in
 * flight, so statements are added only then: a pipelined request goes as
 * it is.  Answers arrive in request order; each request sent (one
 * ReadyForQuery each) has one entry in a bounded queue.
 */
#include "autoconfig.h"

#include <string.h>

#include "pgwire.h"

static const char SP_SET[] = "SAVEPOINT molt_lms";
static const char SP_RELEASE[] = "RELEASE SAVEPOINT molt_lms";
static const char SP_BACK[] = "ROLLBACK TO SAVEPOINT molt_lms";
static const char TX_ROLLBACK[] = "ROLLBACK";
static const char TX_COMMIT[] = "COMMIT";
static const char TX_BEGIN[] = "BEGIN";

enum { REPAIR_NONE = 0, REPAIR_TO_SAVEPOINT, REPAIR_ROLLBACK, REPAIR_BROKEN };

void pg_atom_reset(struct pg_atom *a)
{
	memset(a, 0, sizeof(*a));
	a->txn = 'I';
}

/* The statements to send in front of request r (its flags set), in
 * order (at most PG_ATOM_STMTS); r->saved tells whether a savepoint of
 * ours will mark the request's start, r->clean whether the session's
 * state is then exactly the savepoint's. */
static int plan(const struct pg_atom *a, struct pg_atom_req *r, const char **stmts)
{
	int n = 0;
	if (a->txn == 'I' && (r->flags & LMS_REQ_BEGIN_FIRST)) {
		stmts[n++] = TX_BEGIN;
		stmts[n++] = SP_SET; /* a failed first statement undoes only itself */
		r->saved = 1;
		r->clean = 1;
		return n;
	}
	if (a->txn == 'I')
		return 0;
	if (a->repair == REPAIR_ROLLBACK || (r->flags & PG_ATOM_RESET)) {
		stmts[n++] = TX_ROLLBACK;
		return n;
	}
	if (a->repair == REPAIR_BROKEN || (a->txn == 'E' && a->repair != REPAIR_TO_SAVEPOINT))
		return 0;
	if (a->repair == REPAIR_TO_SAVEPOINT)
		stmts[n++] = SP_BACK; /* the savepoint stays, at the failed statement's start */
	if (r->flags & LMS_REQ_COMMIT_FIRST) {
		stmts[n++] = TX_COMMIT;
		return n;
	}
	r->saved = 1;
	r->clean = 1;
	if (n || (a->saved && !a->dirty))
		return n; /* nothing but reads since the savepoint: it still marks this state */
	if (a->saved)
		stmts[n++] = SP_RELEASE;
	stmts[n++] = SP_SET;
	return n;
}

int pg_atom_plan(const struct pg_atom *a, uint32_t flags, int simple, const char **stmts, struct pg_atom_req *r)
{
	int n = 0;
	if (a->len == PG_ATOM_QUEUE)
		return -1;
	memset(r, 0, sizeof(*r));
	r->flags = flags;
	if ((flags & LMS_REQ_STMT_ATOMIC) && a->len == 0) {
		n = plan(a, r, stmts);
		r->planned = 1;
		r->hide = (uint8_t)(n * (simple ? 1 : 3)); /* Query: CommandComplete; else also Parse/BindComplete */
	}
	return n;
}

void pg_atom_push(struct pg_atom *a, const struct pg_atom_req *r)
{
	a->q[(a->head + a->len) % PG_ATOM_QUEUE] = *r;
	a->len++;
}

/* The request whose answers arrive now, or NULL (none sent by us). */
static struct pg_atom_req *current(struct pg_atom *a)
{
	return a->len ? &a->q[a->head] : NULL;
}

const struct pg_atom_req *pg_atom_current(const struct pg_atom *a)
{
	return a->len ? &a->q[a->head] : NULL;
}

/* ReadyForQuery: the request is over; what the next one needs.  Returns
 * 1 when the transaction must be rolled back now (a class 40 error, and
 * nothing else in flight): this ReadyForQuery is then ours, and the
 * request ends with the ROLLBACK's. */
static int atom_ready(struct pg_atom *a, uint8_t state)
{
	struct pg_atom_req *r = current(a);
	if (r && state == 'E' && (r->flags & LMS_REQ_STMT_ATOMIC) && r->class40 && !r->failed_ours && a->len == 1) {
		r->class40 = 0;
		r->hide = 1; /* the ROLLBACK's CommandComplete */
		a->txn = state;
		return 1;
	}
	if (r) {
		a->head = (a->head + 1) % PG_ATOM_QUEUE;
		a->len--;
	}
	a->txn = state;
	if (state == 'I') {
		a->repair = REPAIR_NONE;
		a->saved = 0;
		a->dirty = 0;
		return 0;
	}
	if (!r || !(r->flags & LMS_REQ_STMT_ATOMIC)) {
		if (state == 'E' && a->repair == REPAIR_NONE)
			a->repair = REPAIR_BROKEN;
		return 0;
	}
	if (state == 'T') {
		if (r->planned)
			a->saved = r->saved;
		if (r->planned && r->clean)
			a->dirty = 0;
		if (!(r->flags & LMS_REQ_READ))
			a->dirty = 1; /* the savepoint no longer marks this state */
		a->repair = REPAIR_NONE;
		return 0;
	}
	if (r->planned && r->saved)
		a->saved = 1;
	if (r->failed_ours)
		a->repair = REPAIR_BROKEN; /* a statement of ours failed: do not guess */
	else if (r->class40)
		a->repair = REPAIR_ROLLBACK;
	else if (r->planned && r->saved)
		a->repair = REPAIR_TO_SAVEPOINT;
	else if (!r->planned && (a->repair == REPAIR_TO_SAVEPOINT || a->repair == REPAIR_ROLLBACK))
		return 0; /* pipelined behind the failure: the repair planned stands */
	else
		a->repair = REPAIR_BROKEN;
	return 0;
}

int pg_atom_decode(struct pg_atom *a, const uint8_t *msg, size_t len)
{
	struct pg_atom_req *r = current(a);
	a->hiding = 0;
	a->commit_lost = 0;
	if (!r && msg[0] != 'Z')
		return 0;
	switch (msg[0]) {
	case '1':
	case '2':
	case 'C':
		if (r->hide) {
			r->hide--;
			a->hiding = 1;
		} else if (msg[0] == 'C' && (r->flags & LMS_REQ_COMMIT) && len == 14 &&
			   memcmp(msg + 5, "ROLLBACK", 9) == 0) {
			a->commit_lost = 1;
		}
		return 0;
	case 'E': {
		char st[6];
		pg_error_sqlstate(msg, len, st);
		if (r->hide)
			r->failed_ours = 1;
		r->hide = 0;
		r->class40 = st[0] == '4' && st[1] == '0';
		return 0;
	}
	case 'Z':
		if (len != 6)
			return -1;
		if (atom_ready(a, msg[5]) == 0)
			return 0;
		a->hiding = 1;
		return 1;
	default:
		return 0;
	}
}

uint32_t pg_atom_txn(const struct pg_atom *a)
{
	if (a->txn == 'I')
		return LMS_TXN_IDLE;
	if (a->txn == 'T')
		return LMS_TXN_OPEN;
	if (a->repair == REPAIR_ROLLBACK)
		return LMS_TXN_IDLE; /* over for the client: rolled back before its next request */
	return a->repair == REPAIR_TO_SAVEPOINT ? LMS_TXN_OPEN : LMS_TXN_FAILED;
}

void pg_atom_rollback_query(struct lms_out *out)
{
	out->data[0] = 'Q';
	pg_put32(out->data + 1, (uint32_t)(4 + sizeof(TX_ROLLBACK)));
	memcpy(out->data + 5, TX_ROLLBACK, sizeof(TX_ROLLBACK));
	out->len = 5 + sizeof(TX_ROLLBACK);
}
