/*
 * encode.c - a common request (ABI 1.3, struct lms_request) written as
 * PostgreSQL frontend messages, for a client of another wire family: a
 * shadow (ABI 1.3) or the source of truth of a translated session (ABI
 * 1.4) (be_encode_request).  The SQL text is sent as written; only its
 * parameter placeholders (req->holes) become $1, $2, ...
 *
 *   QUERY    Query
 *   PREPARE  Parse (unnamed) + Sync: the statement must prepare
 *   DESCRIBE Parse (unnamed) + Describe statement + Sync (ABI 1.4)
 *   EXECUTE  the client's statement id names a statement on this
 *            connection, "lms_s<id>" (named.c): the first execution
 *            sends Parse (named) + Bind + Describe portal + Execute +
 *            Sync, the later ones Bind + Describe portal + Execute +
 *            Sync (text parameters, text results).  Close of the least
 *            recently used one first when PG_NAMED_MAX are kept, Close of
 *            its own name first when it may exist (its text changed, or
 *            its last Parse failed or is not answered yet).  Without
 *            memory for the table: Parse (unnamed) each time, as before.
 *   PING     Sync (an empty round trip)
 *   RESET    Close of every named statement + Sync
 *   CLOSE    Close of its named statement (no Sync: the CloseComplete
 *            comes before the next request's answers), or nothing
 *
 * With transaction flags (ABI 1.5) a request that owes a ReadyForQuery
 * may be preceded by statements of ours, in the same round trip
 * (atomic.c): Parse + Bind + Execute each (unnamed), or "stmt; " in front
 * of a Query's text.
 *
 * A statement is named when it is first executed, not when the client
 * prepares it: the client's id is chosen from the answer (MySQL's
 * COM_STMT_PREPARE OK), after the request was encoded.
 *
 * The messages written are not noted for the answers' column types
 * (pg_be_note_request, portal.c): every Execute here is described in the
 * same request (Describe portal, text results), so its rows follow their
 * own RowDescription, as a simple Query's do.  Noting them cost 2,000 of
 * the 12,500 instructions of a translated execution on a connection that
 * observes (a shadow, or a standby promoted at a cutover).
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pgwire.h"

/* A bounded writer: any overflow sets bad and writes nothing more.
 * splice (genkey.c's " RETURNING ...") goes into the client's text at
 * byte splice_at when set. */
struct enc {
	uint8_t *p;
	size_t cap;
	size_t len;
	int bad;
	const char *splice;
	size_t splice_at;
};

static void enc_bytes(struct enc *e, const void *b, size_t n)
{
	if (n == 0)
		return;
	if (e->bad || n > e->cap - e->len) {
		e->bad = 1;
		return;
	}
	memcpy(e->p + e->len, b, n);
	e->len += n;
}

static void enc_u8(struct enc *e, uint8_t v)
{
	enc_bytes(e, &v, 1);
}

static void enc_u16(struct enc *e, uint32_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	enc_bytes(e, b, 2);
}

static void enc_u32(struct enc *e, uint32_t v)
{
	uint8_t b[4];
	pg_put32(b, v);
	enc_bytes(e, b, 4);
}

/* Start a message of type t: its length is patched by enc_end. */
static size_t enc_begin(struct enc *e, uint8_t t)
{
	size_t at = e->len;
	enc_u8(e, t);
	enc_u32(e, 0);
	return at;
}

static void enc_end(struct enc *e, size_t at)
{
	if (!e->bad)
		pg_put32(e->p + at + 1, (uint32_t)(e->len - at - 1));
}

/* The statement's text from byte *from up to byte to, with each hole
 * (from *k on) written as $n. */
static void enc_sql_part(struct enc *e, const struct lms_request *req, size_t *from, uint32_t *k, size_t to)
{
	for (; *k < req->nholes && req->holes[*k] < to; (*k)++) {
		size_t h = req->holes[*k];
		if (h < *from) {
			e->bad = 1;
			return;
		}
		char num[16];
		int n = snprintf(num, sizeof(num), "$%u", *k + 1);
		enc_bytes(e, req->sql + *from, h - *from);
		enc_bytes(e, num, (size_t)n);
		*from = h + 1;
	}
	if (to < *from) {
		e->bad = 1;
		return;
	}
	enc_bytes(e, req->sql + *from, to - *from);
	*from = to;
}

/* The statement's text with each hole written as $n (and the splice),
 * NUL-terminated.  Holes must be ascending and inside the text; the text
 * has no NUL. */
static void enc_sql(struct enc *e, const struct lms_request *req)
{
	size_t from = 0;
	uint32_t k = 0;
	if (memchr(req->sql, 0, req->sql_len) || (req->nholes && req->holes[req->nholes - 1] >= req->sql_len)) {
		e->bad = 1;
		return;
	}
	if (e->splice && e->splice_at <= req->sql_len) {
		enc_sql_part(e, req, &from, &k, e->splice_at);
		enc_bytes(e, e->splice, strlen(e->splice));
	}
	enc_sql_part(e, req, &from, &k, req->sql_len);
	enc_u8(e, 0);
}

/* Parse of statement name ("" unnamed). */
static void enc_parse_as(struct enc *e, const struct lms_request *req, const char *name)
{
	size_t at = enc_begin(e, 'P');
	enc_bytes(e, name, strlen(name) + 1);
	enc_sql(e, req);
	enc_u16(e, 0); /* parameter types: inferred by the database */
	enc_end(e, at);
}

static void enc_parse(struct enc *e, const struct lms_request *req)
{
	enc_parse_as(e, req, "");
}

/* Bind of statement name ("" unnamed) to the unnamed portal. */
static void enc_bind_to(struct enc *e, const struct lms_request *req, const char *name)
{
	size_t at = enc_begin(e, 'B');
	enc_u8(e, 0); /* unnamed portal */
	enc_bytes(e, name, strlen(name) + 1);
	enc_u16(e, 0); /* parameters in text */
	if (req->nparams > 0xFFFF)
		e->bad = 1;
	enc_u16(e, req->nparams);
	for (uint32_t k = 0; k < req->nparams && !e->bad; k++) {
		const struct lms_param *pa = &req->params[k];
		if (!pa->data) {
			enc_u32(e, 0xFFFFFFFFu);
			continue;
		}
		enc_u32(e, pa->len);
		enc_bytes(e, pa->data, pa->len);
	}
	enc_u16(e, 0); /* results in text */
	enc_end(e, at);
}

static void enc_simple(struct enc *e, uint8_t t, const char *body, size_t n)
{
	size_t at = enc_begin(e, t);
	enc_bytes(e, body, n);
	enc_end(e, at);
}

/* Statements of ours in front of an extended-protocol request
 * (atomic.c): Parse, Bind and Execute, unnamed, for each. */
static void enc_prefix(struct enc *e, const char *const *stmts, int n)
{
	for (int k = 0; k < n; k++) {
		struct lms_request ours = { .sql = stmts[k], .sql_len = strlen(stmts[k]) }; /* no holes, no params */
		enc_parse(e, &ours);
		enc_bind_to(e, &ours, "");
		enc_simple(e, 'E', "\0\0\0\0", 5); /* portal "", no row limit */
	}
}

/* The same in front of a Query's text: "stmt; stmt; ". */
static void enc_prefix_text(struct enc *e, const char *const *stmts, int n)
{
	for (int k = 0; k < n; k++) {
		enc_bytes(e, stmts[k], strlen(stmts[k]));
		enc_bytes(e, "; ", 2);
	}
}

/* Close of statement name. */
static void enc_close(struct enc *e, const char *name)
{
	size_t at = enc_begin(e, 'C');
	enc_u8(e, 'S');
	enc_bytes(e, name, strlen(name) + 1);
	enc_end(e, at);
}

/* Bind (to statement name) + Describe portal + Execute + Sync. */
static void enc_run(struct enc *e, const struct lms_request *req, const char *name)
{
	enc_bind_to(e, req, name);
	enc_simple(e, 'D', "P", 2); /* portal "", NUL included */
	enc_simple(e, 'E', "\0\0\0\0", 5); /* portal "", no row limit */
	enc_simple(e, 'S', NULL, 0);
}

/* A statement's variant for named.c: a hash of what is spliced in
 * (FNV-1a), never 0. */
static uint32_t variant_of(const char *splice)
{
	uint32_t h = 2166136261u;
	for (; *splice; splice++)
		h = (h ^ (uint8_t)*splice) * 16777619u;
	return h ? h : 1;
}

/* EXECUTE through the statement named after the client's id (see the
 * top).  Returns 0, or -1 when the table has no memory (the caller
 * encodes it unnamed); e->bad when it does not fit (nothing changed).
 * *bound_at: where its Bind starts when it only binds (its Parse was
 * answered: rerun.c may send it again), else SIZE_MAX; *slot its slot. */
static int enc_execute_named(struct pg_named *nm, struct enc *e, const struct lms_request *req, size_t *bound_at,
			     uint32_t *slot)
{
	struct pg_named_use u;
	*bound_at = SIZE_MAX;
	if (!nm || pg_named_plan(nm, req, e->splice ? variant_of(e->splice) : 0, &u) < 0)
		return -1;
	if (u.evict)
		enc_close(e, u.evict_name);
	if (u.close_self)
		enc_close(e, u.name);
	size_t parse_at = e->len;
	if (u.parse)
		enc_parse_as(e, req, u.name);
	size_t run_at = e->len;
	enc_run(e, req, u.name);
	if (e->bad) {
		pg_named_abandon(&u);
		return 0;
	}
	u.parse_msg = e->p + parse_at;
	u.parse_msg_len = run_at - parse_at;
	pg_named_commit(nm, req, &u);
	*slot = u.slot;
	if (!u.parse)
		*bound_at = run_at;
	return 0;
}

/* CLOSE: Close of its named statement when one is kept, else nothing. */
static void enc_close_named(struct pg_named *nm, struct enc *e, const struct lms_request *req)
{
	char name[PG_NAMED_NAME];
	int slot = nm ? pg_named_lookup(nm, req->stmt_id, name) : -1;
	if (slot < 0)
		return;
	enc_close(e, name);
	if (!e->bad)
		pg_named_drop(nm, slot);
}

/* RESET: Close of every named statement, then Sync. */
static void enc_reset_named(struct pg_named *nm, struct enc *e)
{
	char name[PG_NAMED_NAME];
	for (uint32_t k = 0; nm && k < PG_NAMED_MAX; k++)
		if (pg_named_at(nm, k, name) == 0)
			enc_close(e, name);
	enc_simple(e, 'S', NULL, 0);
	for (uint32_t k = 0; nm && !e->bad && k < PG_NAMED_MAX; k++)
		pg_named_drop(nm, (int)k);
}

long pg_be_encode_request(void *be, const struct lms_request *req, uint8_t *buf, size_t cap)
{
	struct enc e = { buf, cap, 0, 0, NULL, 0 };
	if (req->kind == LMS_REQ_NONE)
		return 0;
	struct lms_request alt;
	if (req->kind == LMS_REQ_QUERY && pg_host->abi_minor >= 9 && req->other_sql) {
		alt = *req; /* the client's family wrote it for us (ABI 1.9) */
		alt.sql = req->other_sql;
		alt.sql_len = req->other_sql_len;
		req = &alt;
	}
	struct pg_named *nm = pg_be_named(be);
	struct pg_rerun *rr = pg_be_rerun(be, 0);
	pg_rerun_disarm(rr); /* (it holds for one execution alone in flight) */
	if (req->kind == LMS_REQ_CLOSE) { /* owes no ReadyForQuery: nothing of atomic.c */
		enc_close_named(nm, &e, req);
		return e.bad ? -1 : (long)e.len;
	}
	/* the client's transaction semantics (atomic.c): what goes first */
	struct pg_atom *atom = pg_be_atom(be, req->flags != 0);
	struct pg_atom_req entry = { 0 };
	const char *pre[PG_ATOM_STMTS + 1]; /* and genkey.c's lookup */
	int npre = 0;
	size_t bound_at = SIZE_MAX;
	uint32_t slot = 0;
	if (req->flags && !atom)
		return -1;
	uint32_t flags = req->flags | (req->kind == LMS_REQ_RESET && req->flags ? PG_ATOM_RESET : 0);
	if (atom && (npre = pg_atom_plan(atom, flags, req->kind == LMS_REQ_QUERY, pre, &entry)) < 0)
		return -1;
	/* then the generated key's lookup, if any (genkey.c) */
	struct pg_key_plan key;
	struct pg_key *kt = atom && (req->flags & LMS_REQ_INSERT_ID) ? pg_be_key(be, 1) : NULL;
	if (req->kind == LMS_REQ_QUERY && !kt)
		pg_key_session(pg_be_key(be, 0), req);
	if (pg_key_plan(kt, req, &key) != PG_KEY_OFF) {
		entry.key = key.mode;
		entry.key_slot = key.slot;
		if (key.mode == PG_KEY_LOOKUP)
			pre[npre++] = key.lookup;
	}
	if (req->kind != LMS_REQ_QUERY)
		enc_prefix(&e, pre, npre);
	if (entry.key) {
		e.splice = key.ret;
		e.splice_at = key.at;
	}
	switch (req->kind) {
	case LMS_REQ_QUERY: {
		size_t at = enc_begin(&e, 'Q');
		struct lms_request plain = *req;
		plain.nholes = 0; /* a query's '?' are the application's own */
		enc_prefix_text(&e, pre, npre); /* (raw text: the splice is only enc_sql's) */
		enc_sql(&e, &plain);
		enc_end(&e, at);
		break;
	}
	case LMS_REQ_PREPARE:
		enc_parse(&e, req);
		enc_simple(&e, 'S', NULL, 0);
		break;
	case LMS_REQ_DESCRIBE:
		enc_parse(&e, req);
		enc_simple(&e, 'D', "S", 2); /* statement "", NUL included */
		enc_simple(&e, 'S', NULL, 0);
		break;
	case LMS_REQ_EXECUTE:
		if (enc_execute_named(nm, &e, req, &bound_at, &slot) == 0)
			break;
		enc_parse(&e, req);
		enc_run(&e, req, "");
		break;
	case LMS_REQ_PING:
		enc_simple(&e, 'S', NULL, 0);
		break;
	case LMS_REQ_RESET:
		enc_reset_named(nm, &e);
		break;
	default:
		return -1;
	}
	if (e.bad) {
		if (entry.key)
			pg_key_abandon(kt, &key);
		return -1;
	}
	if (bound_at != SIZE_MAX && !entry.key && pg_named_idle(nm))
		pg_rerun_arm(pg_be_rerun(be, 1), nm, slot, req->stmt_id, req->flags, pg_named_seen(nm), e.p + bound_at,
			     e.len - bound_at);
	if (nm)
		pg_named_sent(nm); /* every kind here owes a ReadyForQuery */
	if (atom)
		pg_atom_push(atom, &entry);
	return (long)e.len;
}

long pg_encode_rerun(struct pg_named *n, struct pg_atom *a, uint32_t slot, const uint8_t *parse, size_t parse_len,
		     uint32_t flags, const uint8_t *run, size_t run_len, uint8_t *buf, size_t cap)
{
	struct enc e = { buf, cap, 0, 0, NULL, 0 };
	const char *pre[PG_ATOM_STMTS];
	struct pg_atom_req entry;
	char name[PG_NAMED_NAME];
	int npre = pg_atom_plan(a, flags, 0, pre, &entry);
	if (npre < 0 || pg_named_at(n, slot, name) < 0)
		return -1;
	enc_prefix(&e, pre, npre);
	enc_close(&e, name);
	enc_bytes(&e, parse, parse_len);
	enc_bytes(&e, run, run_len);
	if (e.bad)
		return -1;
	pg_named_reparsed(n, slot);
	pg_named_sent(n);
	pg_atom_push(a, &entry);
	return (long)e.len;
}
