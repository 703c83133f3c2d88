/*
 * named.c - the named statements one backend connection holds for the
 * translated prepared statements of its client (be_encode_request,
 * LMS_REQ_EXECUTE): "lms_s<id>" after the client's statement id, parsed
 * on the first execution and only bound at the later ones, so that the
 * database does not parse and plan the text again each time.
 *
 * Each statement kept has the client's id, its text (an id used again for
 * another text is parsed anew), the tick of its last execution (when all
 * PG_NAMED_MAX are taken, the least recently used one is closed) and a
 * state:
 *
 *   READY    its Parse succeeded: an execution sends Bind only
 *   PENDING  its Parse went with request number parse_z, not answered yet:
 *            an execution meanwhile sends Close + Parse again (had the
 *            first failed, a Bind alone would fail with the wrong error)
 *   STALE    the database may or may not have it (its Parse or its request
 *            failed, or the database said a statement of ours is missing
 *            or exists already), or must not run it again (0A000, "cached
 *            plan must not change result type": a table's columns changed
 *            under a SELECT *): the next execution sends Close + Parse
 *
 * Whose answer is whose: every request this backend encodes owes one
 * ReadyForQuery, and they come in order: `sent` counts the requests
 * encoded, `seen` the ReadyForQuery answered after the login.  In the
 * extended protocol an error makes the database skip the rest of the
 * request, so a Parse sent with request z succeeded exactly when no
 * ErrorResponse came while seen == z.  The table is created at the first
 * encoded request (pg_be_named), when nothing of ours is in flight.
 *
 * The rule that keeps the database and this table agreeing: a statement
 * leaves the table only with the bytes that close it, and the table
 * changes only once the request that carries them was encoded whole
 * (pg_named_commit, pg_named_drop).
 */
#include "autoconfig.h"

#include <string.h>

#include "pgwire.h"

enum { NAMED_FREE = 0, NAMED_PENDING, NAMED_READY, NAMED_STALE };

struct named_stmt {
	uint32_t state;
	uint32_t id;      /* the client's statement id */
	uint64_t parse_z; /* PENDING: the request whose answer decides */
	uint64_t run_z;   /* the request of its last execution */
	uint64_t used;    /* tick of its last execution */
	char *sql;        /* the client's text (pg_host->alloc) */
	size_t sql_len;
	uint32_t variant; /* what was added to it (genkey.c), 0: nothing */
	uint8_t *parse;   /* its last Parse message, to send again (rerun.c) */
	size_t parse_len;
};

struct pg_named {
	struct named_stmt s[PG_NAMED_MAX];
	uint64_t sent;    /* requests owing a ReadyForQuery, encoded */
	uint64_t seen;    /* their ReadyForQuery, received */
	uint64_t tick;
	uint32_t pending; /* entries PENDING */
};

struct pg_named *pg_named_new(void)
{
	struct pg_named *n = pg_host->alloc(sizeof(*n));
	if (n)
		memset(n, 0, sizeof(*n));
	return n;
}

/* Forget entry e (its memory too); the table's count of PENDING follows. */
static void entry_clear(struct pg_named *n, struct named_stmt *e)
{
	if (e->state == NAMED_PENDING)
		n->pending--;
	if (e->sql)
		pg_host->free(e->sql);
	if (e->parse)
		pg_host->free(e->parse);
	memset(e, 0, sizeof(*e));
}

void pg_named_free(struct pg_named *n)
{
	if (!n)
		return;
	for (uint32_t k = 0; k < PG_NAMED_MAX; k++)
		entry_clear(n, &n->s[k]);
	pg_host->free(n);
}

void pg_named_name(uint32_t id, char name[PG_NAMED_NAME])
{
	char digits[10];
	size_t nd = 0;
	do {
		digits[nd++] = (char)('0' + id % 10);
		id /= 10;
	} while (id);
	memcpy(name, "lms_s", 5);
	for (size_t k = 0; k < nd; k++)
		name[5 + k] = digits[nd - 1 - k];
	name[5 + nd] = 0;
}

/* The slot of statement id, or -1.  Ids are small and mostly consecutive:
 * id % PG_NAMED_MAX is where it usually is. */
static int find(const struct pg_named *n, uint32_t id)
{
	for (uint32_t k = 0; k < PG_NAMED_MAX; k++) {
		const struct named_stmt *e = &n->s[(id + k) % PG_NAMED_MAX];
		if (e->state != NAMED_FREE && e->id == id)
			return (int)((id + k) % PG_NAMED_MAX);
	}
	return -1;
}

/* A slot for a new statement id: a free one (from id's usual place), else
 * the least recently used. */
static uint32_t pick(const struct pg_named *n, uint32_t id)
{
	uint32_t lru = id % PG_NAMED_MAX;
	for (uint32_t k = 0; k < PG_NAMED_MAX; k++) {
		uint32_t at = (id + k) % PG_NAMED_MAX;
		if (n->s[at].state == NAMED_FREE)
			return at;
		if (n->s[at].used < n->s[lru].used)
			lru = at;
	}
	return lru;
}

int pg_named_plan(struct pg_named *n, const struct lms_request *req, uint32_t variant, struct pg_named_use *u)
{
	memset(u, 0, sizeof(*u));
	u->variant = variant;
	int k = find(n, req->stmt_id);
	const struct named_stmt *e = k >= 0 ? &n->s[k] : NULL;
	int same = e && e->sql_len == req->sql_len && e->variant == variant &&
		   (req->sql_len == 0 || memcmp(e->sql, req->sql, req->sql_len) == 0);
	u->slot = k >= 0 ? (uint32_t)k : pick(n, req->stmt_id);
	pg_named_name(req->stmt_id, u->name);
	if (same && e->state == NAMED_READY)
		return 0;
	u->parse = 1;
	u->close_self = e != NULL; /* it may exist: the database refuses a second Parse of a name */
	if (!e && n->s[u->slot].state != NAMED_FREE) {
		u->evict = 1;
		pg_named_name(n->s[u->slot].id, u->evict_name);
	}
	if (!same) {
		u->sql = pg_host->alloc(req->sql_len ? req->sql_len : 1);
		if (!u->sql)
			return -1;
		if (req->sql_len)
			memcpy(u->sql, req->sql, req->sql_len);
	}
	return 0;
}

void pg_named_abandon(struct pg_named_use *u)
{
	if (u->sql)
		pg_host->free(u->sql);
	u->sql = NULL;
}

/* Keep a copy of the Parse message u wrote (rerun.c sends it again);
 * without memory the statement is simply never run again. */
static void keep_parse(struct named_stmt *e, const struct pg_named_use *u)
{
	if (e->parse)
		pg_host->free(e->parse);
	e->parse = NULL;
	e->parse_len = 0;
	if (!u->parse_msg || u->parse_msg_len == 0 || u->parse_msg_len > PG_RERUN_ROOM)
		return;
	e->parse = pg_host->alloc(u->parse_msg_len);
	if (!e->parse)
		return;
	memcpy(e->parse, u->parse_msg, u->parse_msg_len);
	e->parse_len = u->parse_msg_len;
}

void pg_named_commit(struct pg_named *n, const struct lms_request *req, struct pg_named_use *u)
{
	struct named_stmt *e = &n->s[u->slot];
	if (u->evict)
		entry_clear(n, e);
	e->id = req->stmt_id;
	e->used = ++n->tick;
	e->run_z = n->sent;
	e->variant = u->variant;
	if (u->sql) {
		if (e->sql)
			pg_host->free(e->sql);
		e->sql = u->sql;
		e->sql_len = req->sql_len;
		u->sql = NULL;
	}
	if (!u->parse)
		return;
	keep_parse(e, u);
	if (e->state != NAMED_PENDING)
		n->pending++;
	e->state = NAMED_PENDING;
	e->parse_z = n->sent;
}

void pg_named_sent(struct pg_named *n)
{
	n->sent++;
}

int pg_named_idle(const struct pg_named *n)
{
	return n->sent == n->seen;
}

uint64_t pg_named_seen(const struct pg_named *n)
{
	return n->seen;
}

const uint8_t *pg_named_parse_msg(const struct pg_named *n, uint32_t slot, uint32_t id, size_t *len)
{
	if (slot >= PG_NAMED_MAX || n->s[slot].state == NAMED_FREE || n->s[slot].id != id || !n->s[slot].parse)
		return NULL;
	*len = n->s[slot].parse_len;
	return n->s[slot].parse;
}

void pg_named_reparsed(struct pg_named *n, uint32_t slot)
{
	struct named_stmt *e = &n->s[slot];
	if (e->state != NAMED_PENDING)
		n->pending++;
	e->state = NAMED_PENDING;
	e->parse_z = n->sent;
	e->run_z = n->sent;
	e->used = ++n->tick;
}

int pg_named_lookup(const struct pg_named *n, uint32_t id, char name[PG_NAMED_NAME])
{
	int k = find(n, id);
	if (k >= 0)
		pg_named_name(id, name);
	return k;
}

void pg_named_drop(struct pg_named *n, int slot)
{
	if (slot >= 0 && slot < PG_NAMED_MAX)
		entry_clear(n, &n->s[slot]);
}

int pg_named_at(const struct pg_named *n, uint32_t slot, char name[PG_NAMED_NAME])
{
	if (slot >= PG_NAMED_MAX || n->s[slot].state == NAMED_FREE)
		return -1;
	pg_named_name(n->s[slot].id, name);
	return 0;
}

/* The database says one of our statements is missing (26000) or exists
 * already (42P05): what this table believes is wrong somewhere (a request
 * of ours that never went, an application's DEALLOCATE ALL): every
 * statement is parsed again at its next execution. */
static void heal(struct pg_named *n)
{
	for (uint32_t k = 0; k < PG_NAMED_MAX; k++) {
		struct named_stmt *e = &n->s[k];
		if (e->state == NAMED_PENDING)
			n->pending--;
		if (e->state != NAMED_FREE)
			e->state = NAMED_STALE;
	}
}

/* Request z failed with 0A000 (PostgreSQL: "cached plan must not change
 * result type"): the statement it ran is parsed again next time. */
static void replan(struct pg_named *n, uint64_t z)
{
	for (uint32_t k = 0; k < PG_NAMED_MAX; k++) {
		struct named_stmt *e = &n->s[k];
		if (e->state == NAMED_READY && e->run_z == z)
			e->state = NAMED_STALE;
	}
}

/* Request z is answered (failed: an ErrorResponse came): the entries
 * PENDING on it are READY or STALE; any PENDING on an earlier one missed
 * its answer and is STALE. */
static void settle(struct pg_named *n, uint64_t z, int failed)
{
	for (uint32_t k = 0; k < PG_NAMED_MAX && n->pending > 0; k++) {
		struct named_stmt *e = &n->s[k];
		if (e->state != NAMED_PENDING || e->parse_z > z)
			continue;
		e->state = e->parse_z == z && !failed ? NAMED_READY : NAMED_STALE;
		n->pending--;
	}
}

void pg_named_answer(struct pg_named *n, const uint8_t *msg, size_t len)
{
	if (msg[0] == 'Z') {
		if (n->pending > 0)
			settle(n, n->seen, 0);
		n->seen++;
		return;
	}
	if (msg[0] != 'E')
		return;
	char st[6];
	pg_error_sqlstate(msg, len, st);
	if (strcmp(st, "26000") == 0 || strcmp(st, "42P05") == 0)
		heal(n);
	else if (n->pending > 0)
		settle(n, n->seen, 1);
	if (strcmp(st, "0A000") == 0)
		replan(n, n->seen);
}
