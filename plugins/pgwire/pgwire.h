/*
 * pgwire.h - PostgreSQL wire protocol v3, shared by postgres.so and
 * cockroach.so.  Internal to the plugins; the core never includes it.
 */
#ifndef LMS_PGWIRE_H
#define LMS_PGWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "lms/plugin.h"

/* Protocol constants. */
#define PG_PROTOCOL_3 196608u
#define PG_SSL_REQUEST 80877103u
#define PG_GSSENC_REQUEST 80877104u
#define PG_CANCEL_REQUEST 80877102u
#define PG_MAX_STARTUP 8192u  /* fits struct lms_out */

struct pg_flavor;

/* Host services given at entry. */
extern const struct lms_host_api *pg_host;

/* Big-endian helpers; callers have checked the length. */
static inline uint32_t pg_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t pg_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void pg_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Frame a typed message ("T" + int32 length).  Shared by both sides;
 * inline because it runs for every message. */
static inline int pg_frame_typed(const uint8_t *p, size_t avail, struct lms_frame *f)
{
	if (avail < 5)
		return LMS_FRAME_NEED_MORE;
	uint32_t len = pg_get32(p + 1);
	if (len < 4 || len > 0x7fffffffu)
		return LMS_FRAME_INVALID;
	f->len = (uint64_t)len + 1;
	f->kind = LMS_MSG_OTHER;
	f->flags = 0;
	return LMS_FRAME_OK;
}

/* The pair at *i of a startup message's "key\0value\0...\0" list.
 * Returns 1 with *k and *v set and *i past the pair, 0 at the NUL that
 * closes the list (*i stays on it), -1 when the pair runs past len. */
int pg_startup_next(const uint8_t *p, size_t len, size_t *i, const char **k, const char **v);

/* The C string at msg[*i], its NUL inside len: advances *i past it.
 * NULL when it runs off the end. */
const char *pg_msg_str(const uint8_t *msg, size_t len, size_t *i);
/* The SQLSTATE of a whole ErrorResponse or NoticeResponse into st (its
 * five characters and a NUL); "" when it has none or a field is not
 * terminated. */
void pg_error_sqlstate(const uint8_t *msg, size_t len, char st[6]);

/* Write an ErrorResponse into out.  Returns 0, -1 when it does not fit. */
int pg_error_response(const struct lms_error *err, struct lms_out *out);

/* Fill every function of the table for dialect name. */
void pg_dialect_fill(struct lms_dialect *d, const char *name);

/* The body of a pgwire plugin's entry point: check the host, remember
 * it and the flavor, fill d as dialect name.  Returns d, or NULL for an
 * unusable host. */
const struct lms_dialect *pg_entry(const struct lms_host_api *host, struct lms_dialect *d,
				   const char *name, const struct pg_flavor *flavor);

/* Frontend (frontend.c). */
void *pg_fe_new(const struct lms_fe_opts *opts);
void pg_fe_free(void *fe);
int pg_fe_accept(void *fe, struct lms_out *out, struct lms_result *res);
int pg_fe_frame(void *fe, const uint8_t *p, size_t avail, struct lms_frame *f);
int pg_fe_decode(void *fe, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res);
void pg_fe_tls_done(void *fe);
/* The backend withheld SCRAM-SHA-256-PLUS from the client's list: the
 * frontend then checks the client's SASLInitialResponse. */
void pg_fe_note_plus_withheld(void *fe);
int pg_fe_error(void *fe, const struct lms_error *err, struct lms_out *out);
int pg_fe_statement(void *fe, char *out, size_t cap);

/* Fingerprints (fingerprint.c). */
#define PG_FP_MAX 1024u        /* bytes of a fingerprint, the NUL included */
#define PG_STMT_MAX 256        /* named statements remembered per client */
#define PG_STMT_NAME_MAX 256u  /* longer statement names are not remembered */

/* Write the fingerprint of sql[0..len) (up to a NUL) into dst[0..cap) (cap >= 1):
 * literals replaced by '?', comments dropped, whitespace collapsed,
 * lowercased outside double-quoted identifiers, "IN (?, ?)" folded to
 * "IN (?)", cut cleanly to cap-1 bytes and NUL-terminated.  Returns the
 * LMS_STMT_* flags of the statement(s). */
uint32_t pg_fingerprint(const char *sql, size_t len, char *dst, size_t cap);
/* The lexer under it: the token at s[i] (i < n), by PostgreSQL's rules
 * (strings, dollar quotes, nested comments); its kind in *kind, and
 * where it ends (> i, <= n).  Whitespace and comments are PG_TOK_SPACE. */
enum { PG_TOK_SPACE = 0, PG_TOK_WORD, PG_TOK_IDENT, PG_TOK_LITERAL, PG_TOK_PARAM, PG_TOK_PUNCT };
size_t pg_lex(const char *s, size_t n, size_t i, int *kind);
/* Is p[0..n) the word w (lower case, wl bytes), in any ASCII case? */
int pg_word_is(const char *p, size_t n, const char *w, size_t wl);

/* One client connection's statement fingerprints, owned by its pg_fe. */
struct pg_stmts;
struct pg_stmts *pg_stmts_new(void);   /* NULL when out of memory */
void pg_stmts_free(struct pg_stmts *s);
/* Name the statement a whole client message runs (Q), prepares (P) or
 * binds (B) in res->fingerprint/stmt_flags, and remember or forget (C)
 * prepared ones.  Malformed or unknown: res untouched.  The fingerprint
 * stays valid until the next call. */
void pg_stmts_decode(struct pg_stmts *s, const uint8_t *msg, size_t len, struct lms_result *res);
/* A Q, P or B message too big to decode (over LMS_DECODE_MAX): name it
 * from its first n bytes (those at hand, at most PG_OVERSIZED_PREFIX of
 * its text are read) as "<fingerprint of the start> ... (oversized)", or
 * "(oversized statement)" when they hold no text; a P is remembered under
 * its name like a whole one, so that its Binds are named too.  The name
 * is what pg_stmts_current returns next. */
#define PG_OVERSIZED_PREFIX 1024u
void pg_stmts_oversized(struct pg_stmts *s, const uint8_t *p, size_t n);
/* The fingerprint of the latest Q or P (or oversized Q, P or B), "" if none. */
const char *pg_stmts_current(const struct pg_stmts *s);
/* LMS_STMT_REPLAY / LMS_STMT_BEGIN (and SETTING) of a Q, P or C message,
 * without fingerprinting (most queries are classified by their first
 * word alone). */
uint32_t pg_state_flags(const uint8_t *msg, size_t len);

/* Dialect differences the shared code needs, chosen at entry. */
struct pg_flavor {
	const char *const *transient; /* retryable SQLSTATEs, NULL-terminated */
};
extern const struct pg_flavor pg_flavor_postgres;  /* 40001, 40P01 */
extern const struct pg_flavor pg_flavor_cockroach; /* 40001, 40003 */
/* This plugin's flavor (each .so has its own copy); NULL means postgres. */
extern const struct pg_flavor *pg_flavor;

/* Observing results (observe.c).  What the last RowDescription said,
 * for the rows that follow it; owned by a pg_be. */
#define PG_COLS_MAX 1664u /* PostgreSQL's limit; further columns are untyped */
struct pg_col {
	uint32_t oid;
	uint32_t format; /* 0 text, 1 binary */
};
struct pg_cols {
	uint32_t n;     /* columns of the last RowDescription */
	uint32_t known; /* entries of col that are valid (<= n) */
	uint32_t cap;   /* entries allocated */
	struct pg_col *col;
};
void pg_cols_free(struct pg_cols *c);
/* Room for n column entries (at most PG_COLS_MAX): how many there are
 * room for (fewer when out of memory; those columns stay untyped). */
uint32_t pg_cols_reserve(struct pg_cols *c, uint32_t n);
/* Read a whole RowDescription into c.  Returns 0, -1 when malformed (c
 * then describes no columns). */
int pg_cols_parse(struct pg_cols *c, const uint8_t *msg, size_t len);
/* Describe one whole server message as an lms_event (the be_observe
 * contract), remembering column types in c, values compared as norm
 * says (PG_NORM_*).  Returns 0, -1 when the message is malformed. */
int pg_observe(struct pg_cols *c, unsigned norm, const uint8_t *msg, size_t len, struct lms_event *ev,
	       lms_value_fn emit, void *ctx);
/* Is sqlstate retryable for this plugin's flavor? */
int pg_sqlstate_transient(const char *sqlstate);

/* Prepared statements and portals (portal.c): what the rows of an
 * Execute look like, learnt from the client's messages (be_note_request)
 * and the server's answers to them, which arrive in request order.  One
 * per observed backend connection, owned by its pg_be; NULL until the
 * first client message (and when out of memory: rows then use the last
 * RowDescription). */
#define PG_TRACK_STMTS 256     /* named statements remembered (oldest evicted) */
#define PG_TRACK_PORTALS 64    /* named portals remembered (oldest evicted) */
#define PG_TRACK_PENDING 4096  /* answers awaited; beyond, tracking pauses */
struct pg_track;
void pg_track_free(struct pg_track *t);
/* Note one whole client message sent to this backend; *t is created on
 * first use.  Never fails: bytes it cannot use are ignored. */
void pg_track_request(struct pg_track **t, const uint8_t *msg, size_t len);
/* Note one whole server message (after be_decode checked its frame). */
void pg_track_answer(struct pg_track *t, const uint8_t *msg, size_t len);
/* The columns the next DataRow has: the current Execute's, or NULL when
 * no Execute is answered now (simple Query: the last RowDescription). */
struct pg_cols *pg_track_row_cols(struct pg_track *t);

/* How values are compared (pg_value_emit's norm): PG_NORM_MYSQL when
 * the other side is MySQL (the client's family): a real at a FLOAT's 6
 * significant digits, text that is a JSON object or array as JSON. */
#define PG_NORM_MYSQL 1u

/* Canonical text (normalize.c).  Emit one non-NULL value of type oid in
 * wire format (0 text, else binary) as canonical text, once. */
void pg_value_emit(uint32_t oid, uint32_t format, unsigned norm, const uint8_t *data, size_t len,
		   lms_value_fn emit, void *ctx);
/* norm_time.c: a timestamptz's text p[0..len) as the instant in UTC
 * without an offset, an interval's without years or months as MySQL's
 * TIME ([-]HH:MM:SS[.f], hours unbounded), into dst[0..cap) (cap >= 64).
 * Returns the length, -1 for any other spelling (kept by the caller). */
long pg_norm_timestamptz(const uint8_t *p, size_t len, char *dst, size_t cap);
long pg_norm_interval(const uint8_t *p, size_t len, char *dst, size_t cap);
/* The shortest text that reads back as v (as a float when single), or
 * NaN, Infinity, -Infinity.  Returns its length (< 32). */
size_t pg_norm_float(double v, int single, char dst[32]);

/* The longest prefix of s[0..n) of at most max bytes that does not end
 * inside a UTF-8 sequence. */
size_t pg_utf8_cut(const char *s, size_t n, size_t max);

/* Backend (backend.c). */
void *pg_be_new(const struct lms_be_opts *opts);
void pg_be_free(void *be);
int pg_be_start(void *be, int tls_active, const struct lms_startup *startup,
		struct lms_out *out, struct lms_result *res);
int pg_be_frame(void *be, const uint8_t *p, size_t avail, struct lms_frame *f);
int pg_be_decode(void *be, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res);
/* be_observe: pg_observe on this backend's column memory. */
int pg_be_observe(void *be, const uint8_t *msg, size_t len, struct lms_event *ev, lms_value_fn emit,
		  void *ctx);
int pg_be_cancel(const uint8_t *key, size_t key_len, struct lms_out *out);
/* be_note_request: pg_track_request on this backend's statements. */
void pg_be_note_request(void *be, const uint8_t *msg, size_t len);
/* answer.c: a server message for a client of another wire family (ABI
 * 1.4).  What the last RowDescription said is kept in *a (created on
 * first use, freed with pg_ans_free).  Returns 0, -1 when malformed. */
struct pg_ans;
int pg_answer(struct pg_ans **a, const uint8_t *msg, size_t len, struct lms_answer *ans);
void pg_ans_free(struct pg_ans *a);
/* be_answer: pg_answer on this backend's memory (nothing before login). */
int pg_be_answer(void *be, const uint8_t *msg, size_t len, struct lms_answer *ans);
/* The backend's transaction-semantics state: NULL until a request with
 * flags is encoded (created then when create; NULL when out of memory). */
struct pg_atom *pg_be_atom(void *be, int create);
/* encode.c: a common request as frontend messages (ABI 1.3) */
long pg_be_encode_request(void *be, const struct lms_request *req, uint8_t *buf, size_t cap);

/* A client's transaction semantics on PostgreSQL (atomic.c, ABI 1.5):
 * the savepoints and rollbacks sent in front of translated requests. */
#define PG_ATOM_QUEUE 64 /* requests in flight tracked (more: refused) */
#define PG_ATOM_STMTS 2  /* statements in front of one request, at most */
#define PG_ATOM_RESET 0x80000000u /* pg_atom_plan flag: a RESET request */
struct pg_atom_req {
	uint32_t flags;      /* the request's LMS_REQ_* */
	uint8_t hide;        /* answers of ours still to come (hidden) */
	uint8_t planned;     /* sent when the transaction's state was known */
	uint8_t saved;       /* a savepoint of ours marks the request's start */
	uint8_t clean;       /* ... exactly: the state is the savepoint's */
	uint8_t failed_ours; /* a statement of ours failed */
	uint8_t class40;     /* the request failed with a transaction rollback */
	uint8_t key;         /* PG_KEY_*: its generated key (genkey.c) */
	uint8_t key_slot;
};
struct pg_atom {
	struct pg_atom_req q[PG_ATOM_QUEUE];
	uint32_t head, len;
	uint8_t txn;         /* 'I', 'T', 'E' at the last ReadyForQuery */
	uint8_t repair;      /* what the next request needs first */
	uint8_t saved;       /* a savepoint of ours exists in the transaction */
	uint8_t dirty;       /* something but reads ran since it was set */
	uint8_t hiding;      /* the message just decoded answers one of ours */
	uint8_t commit_lost; /* it is a COMMIT request's "ROLLBACK" */
};
void pg_atom_reset(struct pg_atom *a);
/* A request with these flags is to be sent: the statements to write in
 * front of it, as Query text (simple) or as Parse/Bind/Execute, into
 * stmts[PG_ATOM_STMTS], and its queue entry into r.  Returns how many
 * statements, or -1 when too many requests are in flight. */
int pg_atom_plan(const struct pg_atom *a, uint32_t flags, int simple, const char **stmts, struct pg_atom_req *r);
/* It was written whole: its answers are awaited. */
void pg_atom_push(struct pg_atom *a, const struct pg_atom_req *r);
/* Note one whole server message (after its frame was checked); sets
 * hiding and commit_lost for it.  Returns 1 when it is a ReadyForQuery
 * to answer with a ROLLBACK Query at once (hidden: the request ends
 * with the ROLLBACK's), 0, or -1 when malformed. */
int pg_atom_decode(struct pg_atom *a, const uint8_t *msg, size_t len);
/* The entry of the request whose answers arrive now, or NULL. */
const struct pg_atom_req *pg_atom_current(const struct pg_atom *a);
/* The transaction state the client sees after the last ReadyForQuery. */
uint32_t pg_atom_txn(const struct pg_atom *a);
/* The Query message that rolls the transaction back (when
 * pg_atom_decode returned 1), into out. */
void pg_atom_rollback_query(struct lms_out *out);

/* The key an INSERT generated (genkey.c, ABI 1.6): one per backend
 * connection serving a client that reads it, owned by its pg_be. */
#define PG_KEY_TABLES 32 /* table references whose key column is known */
#define PG_KEY_REF 96    /* a table reference as written, NUL included */
#define PG_KEY_COL 64    /* a column name (NAMEDATALEN), NUL included */
enum { PG_KEY_OFF = 0, PG_KEY_STMT, PG_KEY_LOOKUP }; /* pg_atom_req.key */
struct pg_key_table {
	char ref[PG_KEY_REF];
	char col[PG_KEY_COL];
	uint8_t state;
};
struct pg_key {
	struct pg_key_table t[PG_KEY_TABLES];
	uint32_t next;     /* the slot to reuse next */
	/* the request whose answers arrive now */
	uint8_t phase, slot, found, have_id;
	uint8_t hiding;    /* the message just decoded is hidden */
	uint8_t complete;  /* it is the INSERT's CommandComplete, with a key */
	int32_t col;       /* the key's column in the INSERT's rows, -1 */
	uint64_t rows;
	uint64_t id;
};
/* What encode.c writes for one request. */
struct pg_key_plan {
	uint8_t mode;      /* PG_KEY_* */
	uint8_t slot;
	size_t at;         /* where ret goes in the client's text */
	char ret[PG_KEY_COL * 2 + 16];
	char lookup[1024];
};
void pg_key_reset(struct pg_key *k);
/* Turn the catalog lookup back on for the process (tests and fuzzers:
 * each input starts as a fresh process would). */
void pg_key_lookup_on(void);
/* Plan request req on k (NULL: none): p->mode, PG_KEY_OFF when it is sent
 * as written.  Returns p->mode. */
int pg_key_plan(struct pg_key *k, const struct lms_request *req, struct pg_key_plan *p);
/* A query that may change what table names mean (SET search_path, ...):
 * forget the columns learnt.  k may be NULL. */
void pg_key_session(struct pg_key *k, const struct lms_request *req);
/* The request planned was not sent. */
void pg_key_abandon(struct pg_key *k, const struct pg_key_plan *p);
/* One whole server message, after pg_atom_decode on a: sets hiding and
 * complete. */
void pg_key_decode(struct pg_key *k, const struct pg_atom *a, const uint8_t *msg, size_t len);
/* The answer to the message just decoded: the key on its COMPLETE. */
void pg_key_answer(const struct pg_key *k, struct lms_answer *ans);
/* The backend's key state: NULL until created (create; NULL when out of
 * memory). */
struct pg_key *pg_be_key(void *be, int create);

/* Named statements for translated prepared statements (named.c): one
 * table per backend connection, owned by its pg_be (created at the first
 * encoded request, freed with it). */
#define PG_NAMED_MAX 64   /* statements kept per connection (LRU closed) */
#define PG_NAMED_NAME 16  /* "lms_s" + up to 10 digits + NUL */
struct pg_named;
struct pg_named *pg_named_new(void); /* NULL when out of memory */
void pg_named_free(struct pg_named *n);
/* The table of backend be, created now if needed: NULL when out of memory
 * (then and from then on: the requests are encoded unnamed). */
struct pg_named *pg_be_named(void *be);
/* The statement name of client statement id ("lms_s<id>"). */
void pg_named_name(uint32_t id, char name[PG_NAMED_NAME]);
/* What an execution must send: Close(evict_name) when evict, then
 * Close(name) when close_self, Parse(name) when parse, then Bind(name). */
struct pg_named_use {
	uint32_t slot;
	int parse;
	int close_self;
	int evict;
	char name[PG_NAMED_NAME];
	char evict_name[PG_NAMED_NAME];
	char *sql;        /* a copy of the text to keep: owned until commit/abandon */
	uint32_t variant;
	const uint8_t *parse_msg; /* the Parse written (parse): copied at commit */
	size_t parse_msg_len;
};
/* Plan req's execution (req->stmt_id, req->sql; variant: what is added
 * to the text, 0 nothing: a statement parsed otherwise is parsed again).
 * Returns 0, -1 when out of memory (encode it unnamed).  Changes nothing:
 * pg_named_commit once the request is encoded whole, else
 * pg_named_abandon. */
int pg_named_plan(struct pg_named *n, const struct lms_request *req, uint32_t variant, struct pg_named_use *u);
void pg_named_commit(struct pg_named *n, const struct lms_request *req, struct pg_named_use *u);
void pg_named_abandon(struct pg_named_use *u);
/* A request owing a ReadyForQuery was encoded (after any commit). */
void pg_named_sent(struct pg_named *n);
/* Nothing encoded is still unanswered (every ReadyForQuery came). */
int pg_named_idle(const struct pg_named *n);
/* The ReadyForQuery seen so far: the number of the request answered now. */
uint64_t pg_named_seen(const struct pg_named *n);
/* The Parse message kept for slot when it still holds statement id
 * (length in *len), or NULL. */
const uint8_t *pg_named_parse_msg(const struct pg_named *n, uint32_t slot, uint32_t id, size_t *len);
/* Slot's Parse goes again with the request encoded next (rerun.c). */
void pg_named_reparsed(struct pg_named *n, uint32_t slot);
/* The slot of statement id with its name, or -1 when it is not kept. */
int pg_named_lookup(const struct pg_named *n, uint32_t id, char name[PG_NAMED_NAME]);
/* The name in slot (0 .. PG_NAMED_MAX-1): 0, or -1 when the slot is free. */
int pg_named_at(const struct pg_named *n, uint32_t slot, char name[PG_NAMED_NAME]);
/* Forget slot: its Close was encoded. */
void pg_named_drop(struct pg_named *n, int slot);
/* One whole server message after the login (ErrorResponse and
 * ReadyForQuery matter): settles the Parses in flight. */
void pg_named_answer(struct pg_named *n, const uint8_t *msg, size_t len);

/* An execution refused with 0A000 ("cached plan must not change result
 * type": a table's columns changed under a SELECT *) is sent again with
 * its statement parsed anew, hidden from the client (rerun.c), as MySQL
 * re-prepares silently.  The Parse kept and the execution's own bytes
 * must fit in PG_RERUN_ROOM together: the retry is written into one
 * struct lms_out, after what atomic.c puts first and a Close. */
#define PG_RERUN_ROOM (LMS_OUT_MAX - 256u)
/* OVERTAKEN: hit, but another request was encoded before the refusal's
 * ReadyForQuery: a retry would come after it, and the refusal is already
 * hidden, so the session must end (never a success for a failure). */
enum { PG_RERUN_OFF = 0, PG_RERUN_ARMED, PG_RERUN_HIT, PG_RERUN_OVERTAKEN };
struct pg_rerun {
	uint8_t state;    /* PG_RERUN_*: the one execution in flight */
	uint8_t hiding;   /* the message just decoded is hidden */
	uint32_t slot;    /* its named statement (named.c) */
	uint32_t id;      /* ... which must still hold this client id */
	uint32_t flags;   /* its LMS_REQ_* flags: the retry's plan (atomic.c) */
	uint64_t z;       /* its number among the requests sent (named.c) */
	size_t run_len;
	uint8_t run[PG_RERUN_ROOM]; /* its Bind .. Sync, as sent */
};
/* The backend's rerun state: NULL until created (create; NULL when out
 * of memory). */
struct pg_rerun *pg_be_rerun(void *be, int create);
/* Any request is about to be encoded: what was armed no longer holds. */
void pg_rerun_disarm(struct pg_rerun *r);
/* Request number z (pg_named_seen's count) was just encoded: an
 * execution of slot's statement id, bound only (its Parse was answered),
 * with nothing else in flight and no statement of ours in front that
 * could fail; run[0..len) is its Bind .. Sync.  Keeps what a retry
 * needs, when it fits with the statement's kept Parse. */
void pg_rerun_arm(struct pg_rerun *r, const struct pg_named *n, uint32_t slot, uint32_t id, uint32_t flags,
		  uint64_t z, const uint8_t *run, size_t len);
/* One whole server message after the login, before pg_atom_decode:
 * returns 1 when it is the armed execution's 0A000 ErrorResponse and the
 * retry will be sent at its ReadyForQuery (the error is hidden), else 0. */
int pg_rerun_error(struct pg_rerun *r, const struct pg_named *n, const struct pg_atom *a, const uint8_t *msg,
		   size_t len);
/* A ReadyForQuery, after pg_atom_decode and pg_named_answer: when a retry
 * is due, writes it into out (it is then sent in place of this hidden
 * ReadyForQuery) and returns 1; -1 when it cannot be sent (OVERTAKEN:
 * the backend gives up); else 0. */
int pg_rerun_ready(struct pg_rerun *r, struct pg_named *n, struct pg_atom *a, struct lms_out *out);
/* The retry's bytes (encode.c): what atomic.c plans first for flags,
 * Close + the kept Parse of slot, then run[0..run_len).  Pushes its
 * atomic.c entry and counts it sent.  Returns the length, or -1. */
long pg_encode_rerun(struct pg_named *n, struct pg_atom *a, uint32_t slot, const uint8_t *parse, size_t parse_len,
		     uint32_t flags, const uint8_t *run, size_t run_len, uint8_t *buf, size_t cap);

/* Connection URLs (url.c). */
int pg_parse_url(const char *url, struct lms_backend_conf *conf, char *err, size_t errlen);
int pg_check_backend(const struct lms_backend_conf *conf, char *err, size_t errlen);

#endif
