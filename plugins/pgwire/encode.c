/*
 * encode.c - a common request (ABI 1.3, struct lms_request) written as
 * PostgreSQL frontend messages, for a shadow whose clients speak another
 * wire family (be_encode_request).  The SQL text is sent as written; only
 * its parameter placeholders (req->holes) become $1, $2, ...
 *
 *   QUERY    Query
 *   PREPARE  Parse (unnamed) + Sync: the statement must prepare
 *   DESCRIBE Parse (unnamed) + Describe statement + Sync (ABI 1.4)
 *   EXECUTE  Parse (unnamed) + Bind (text parameters, text results) +
 *            Describe portal + Execute + Sync
 *   PING     Sync (an empty round trip)
 *   RESET    Sync (statements are unnamed: nothing to forget)
 *   CLOSE    nothing
 *
 * With transaction flags (ABI 1.5) a request may be preceded by
 * statements of ours, in the same round trip (atomic.c): Parse + Bind +
 * Execute each, or "stmt; " in front of a Query's text.
 *
 * Statements are never named on this side: a client's statement id is
 * not known when it prepares (the database chooses it), so every
 * execution parses the statement's text again.  Each message written is
 * noted (pg_be_note_request) so its answers are read with the right
 * column types.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "pgwire.h"

/* A bounded writer: any overflow sets bad and writes nothing more. */
struct enc {
	uint8_t *p;
	size_t cap;
	size_t len;
	int bad;
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

/* The statement's text with each hole written as $n, NUL-terminated.
 * Holes must be ascending and inside the text; the text has no NUL. */
static void enc_sql(struct enc *e, const struct lms_request *req)
{
	size_t from = 0;
	if (memchr(req->sql, 0, req->sql_len)) {
		e->bad = 1;
		return;
	}
	for (uint32_t k = 0; k < req->nholes; k++) {
		size_t h = req->holes[k];
		if (h < from || h >= req->sql_len) {
			e->bad = 1;
			return;
		}
		char num[16];
		int n = snprintf(num, sizeof(num), "$%u", k + 1);
		enc_bytes(e, req->sql + from, h - from);
		enc_bytes(e, num, (size_t)n);
		from = h + 1;
	}
	enc_bytes(e, req->sql + from, req->sql_len - from);
	enc_u8(e, 0);
}

static void enc_parse(struct enc *e, const struct lms_request *req)
{
	size_t at = enc_begin(e, 'P');
	enc_u8(e, 0); /* unnamed statement */
	enc_sql(e, req);
	enc_u16(e, 0); /* parameter types: inferred by the database */
	enc_end(e, at);
}

static void enc_bind(struct enc *e, const struct lms_request *req)
{
	size_t at = enc_begin(e, 'B');
	enc_u8(e, 0); /* unnamed portal */
	enc_u8(e, 0); /* unnamed statement */
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
		size_t at = enc_begin(e, 'P');
		enc_u8(e, 0);
		enc_bytes(e, stmts[k], strlen(stmts[k]) + 1);
		enc_u16(e, 0);
		enc_end(e, at);
		enc_simple(e, 'B', "\0\0\0\0\0\0\0", 8); /* portal, statement, no formats, params, results */
		enc_simple(e, 'E', "\0\0\0\0", 5);
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

/* Note every message of e->p[from..len) for the answers' columns. */
static void enc_note(void *be, const struct enc *e)
{
	size_t i = 0;
	while (i + 5 <= e->len) {
		size_t n = 1 + (size_t)((uint32_t)e->p[i + 1] << 24 | (uint32_t)e->p[i + 2] << 16 |
					(uint32_t)e->p[i + 3] << 8 | e->p[i + 4]);
		pg_be_note_request(be, e->p + i, n);
		i += n;
	}
}

long pg_be_encode_request(void *be, const struct lms_request *req, uint8_t *buf, size_t cap)
{
	struct enc e = { buf, cap, 0, 0 };
	if (req->kind == LMS_REQ_CLOSE || req->kind == LMS_REQ_NONE)
		return 0;
	/* the client's transaction semantics (atomic.c): what goes first */
	struct pg_atom *atom = pg_be_atom(be, req->flags != 0);
	struct pg_atom_req entry;
	const char *pre[PG_ATOM_STMTS];
	int npre = 0;
	if (req->flags && !atom)
		return -1;
	uint32_t flags = req->flags | (req->kind == LMS_REQ_RESET && req->flags ? PG_ATOM_RESET : 0);
	if (atom && (npre = pg_atom_plan(atom, flags, req->kind == LMS_REQ_QUERY, pre, &entry)) < 0)
		return -1;
	if (req->kind != LMS_REQ_QUERY)
		enc_prefix(&e, pre, npre);
	switch (req->kind) {
	case LMS_REQ_QUERY: {
		size_t at = enc_begin(&e, 'Q');
		struct lms_request plain = *req;
		plain.nholes = 0; /* a query's '?' are the application's own */
		enc_prefix_text(&e, pre, npre);
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
		enc_parse(&e, req);
		enc_bind(&e, req);
		enc_simple(&e, 'D', "P", 2); /* portal "", NUL included */
		enc_simple(&e, 'E', "\0\0\0\0", 5); /* portal "", no row limit */
		enc_simple(&e, 'S', NULL, 0);
		break;
	case LMS_REQ_PING:
	case LMS_REQ_RESET:
		enc_simple(&e, 'S', NULL, 0);
		break;
	default:
		return -1;
	}
	if (e.bad)
		return -1;
	enc_note(be, &e);
	if (atom)
		pg_atom_push(atom, &entry);
	return (long)e.len;
}
