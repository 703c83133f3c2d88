/*
 * genkey.c - the key an INSERT generated, for a client whose protocol
 * reports it (MySQL's last insert id; LMS_REQ_INSERT_ID, ABI 1.6).
 *
 * PostgreSQL's CommandComplete carries no key.  For a request flagged
 * INSERT_ID that is one statement "INSERT INTO <table> ..." without a
 * RETURNING of its own, the statement is sent with " RETURNING <col>"
 * added at its end, where <col> is the table's generated-key column: an
 * identity column, or one whose default is nextval() (or CockroachDB's
 * unique_rowid()).  The rows it returns are hidden from be_answer and
 * be_observe; the first one's value becomes the COMPLETE's insert_id.
 *
 * Which column that is comes from the catalog, once per table reference
 * per connection (PG_KEY_TABLES remembered, round robin): the first
 * INSERT into a table sends a lookup in front of it, in the same round
 * trip, and " RETURNING *" (the column is not known when the statement
 * is written); its answers are hidden too.  The lookup reads the table
 * as the INSERT does ('<reference>'::regclass): a missing table fails it
 * with the INSERT's own error (42P01).  A database whose catalog cannot
 * answer it (an undefined function, column or type: 42883, 42703, 42704)
 * turns the lookup off for the whole process, once, with a warning: that
 * INSERT got the lookup's error.  A table without such a
 * column is sent as written, and the client gets 0, as from MySQL for a
 * table without AUTO_INCREMENT.
 *
 * A table reference means another table once the search path changes: a
 * SET or RESET of search_path (or schema), or DISCARD ALL, forgets what
 * was learnt (pg_key_session).
 *
 * Each request's plan rides in its atomic.c queue entry (key, key_slot),
 * so answers are matched to requests exactly as the savepoints' are; the
 * statements of atomic.c come first, then the lookup, then the client's.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "pgwire.h"

enum { SLOT_EMPTY = 0, SLOT_PENDING, SLOT_COL, SLOT_NONE };

enum { PH_IDLE = 0, PH_OFF, PH_LOOKUP, PH_STMT, PH_DONE };

static int lookup_off; /* atomic: the database cannot answer the lookup */

static const char LOOKUP_HEAD[] =
	"SELECT a.attname FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef d "
	"ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
	"WHERE a.attrelid = '";
static const char LOOKUP_TAIL[] =
	"'::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped AND (a.attidentity IN ('a', 'd') "
	"OR pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%' "
	"OR pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE 'unique_rowid()%') "
	"ORDER BY a.attnum LIMIT 1";

void pg_key_reset(struct pg_key *k)
{
	memset(k, 0, sizeof(*k));
}

void pg_key_lookup_on(void)
{
	__atomic_store_n(&lookup_off, 0, __ATOMIC_RELAXED);
}

/* Is s[b..e) the word w (lower case), in any ASCII case? */
static int is_word(const char *s, size_t b, size_t e, const char *w)
{
	return pg_word_is(s + b, e - b, w, strlen(w));
}

/* The next token that is not whitespace or a comment, from *i: its kind
 * (PG_TOK_SPACE at the end), its start in *b; *i moves past it. */
static int next_token(const char *s, size_t n, size_t *i, size_t *b)
{
	int kind = PG_TOK_SPACE;
	while (*i < n) {
		*b = *i;
		*i = pg_lex(s, n, *i, &kind);
		if (kind != PG_TOK_SPACE)
			return kind;
	}
	return PG_TOK_SPACE;
}

/* "INSERT INTO <ref> ...", one statement, no RETURNING of its own: the
 * table reference in [*rb, *re) and where the statement's text ends (a
 * trailing ';' and comments stay after it) in *at.  Returns 0 or -1. */
static int scan_insert(const char *s, size_t n, size_t *rb, size_t *re, size_t *at)
{
	size_t i = 0, b = 0;
	if (next_token(s, n, &i, &b) != PG_TOK_WORD || !is_word(s, b, i, "insert"))
		return -1;
	if (next_token(s, n, &i, &b) != PG_TOK_WORD || !is_word(s, b, i, "into"))
		return -1;
	int kind = next_token(s, n, &i, &b);
	if (kind != PG_TOK_WORD && kind != PG_TOK_IDENT)
		return -1;
	*rb = b;
	*re = i;
	size_t mark = i;
	int parts = 1;
	while ((kind = next_token(s, n, &mark, &b)) == PG_TOK_PUNCT && s[b] == '.') {
		kind = next_token(s, n, &mark, &b);
		if ((kind != PG_TOK_WORD && kind != PG_TOK_IDENT) || ++parts > 3)
			return -1; /* regclass refuses more than database.schema.table */
		*re = mark;
	}
	int depth = 0, ended = 0;
	i = *re;
	*at = *re;
	while ((kind = next_token(s, n, &i, &b)) != PG_TOK_SPACE) {
		if (ended)
			return -1; /* a second statement */
		if (kind == PG_TOK_PUNCT && s[b] == ';' && depth == 0) {
			ended = 1;
			continue;
		}
		if (kind == PG_TOK_PUNCT && s[b] == '(')
			depth++;
		if (kind == PG_TOK_PUNCT && s[b] == ')')
			depth--;
		if (kind == PG_TOK_WORD && depth == 0 && is_word(s, b, i, "returning"))
			return -1;
		*at = i;
	}
	return 0;
}

/* The slot remembering table reference ref, or a free one (state EMPTY,
 * ref written), or -1: every slot is waiting for a lookup. */
static int find_slot(struct pg_key *k, const char *ref, size_t len)
{
	for (int j = 0; j < PG_KEY_TABLES; j++)
		if (k->t[j].state != SLOT_EMPTY && strlen(k->t[j].ref) == len && memcmp(k->t[j].ref, ref, len) == 0)
			return j;
	for (int tries = 0; tries < PG_KEY_TABLES; tries++) {
		int j = (int)(k->next++ % PG_KEY_TABLES);
		if (k->t[j].state == SLOT_PENDING)
			continue;
		memcpy(k->t[j].ref, ref, len);
		k->t[j].ref[len] = 0;
		k->t[j].state = SLOT_EMPTY;
		return j;
	}
	return -1;
}

/* Write " RETURNING " and the column, double-quoted, into dst. */
static int returning(char *dst, size_t cap, const char *col)
{
	size_t o = (size_t)snprintf(dst, cap, " RETURNING \"");
	for (const char *c = col; *c; c++) {
		if (o + 4 >= cap)
			return -1;
		if (*c == '"')
			dst[o++] = '"';
		dst[o++] = *c;
	}
	dst[o++] = '"';
	dst[o] = 0;
	return 0;
}

int pg_key_plan(struct pg_key *k, const struct lms_request *req, struct pg_key_plan *p)
{
	size_t rb, re;
	memset(p, 0, sizeof(*p));
	if (!k || !(req->flags & LMS_REQ_INSERT_ID) || pg_host->abi_minor < 6 ||
	    __atomic_load_n(&lookup_off, __ATOMIC_RELAXED) ||
	    (req->kind != LMS_REQ_QUERY && req->kind != LMS_REQ_EXECUTE))
		return 0;
	if (scan_insert(req->sql, req->sql_len, &rb, &re, &p->at) < 0 || re - rb >= PG_KEY_REF)
		return 0;
	if (memchr(req->sql + rb, '\'', re - rb) || memchr(req->sql + rb, '\\', re - rb))
		return 0; /* not written into the lookup's string literal */
	int slot = find_slot(k, req->sql + rb, re - rb);
	if (slot < 0)
		return 0;
	struct pg_key_table *t = &k->t[slot];
	p->slot = (uint8_t)slot;
	if (t->state == SLOT_NONE)
		return 0; /* sent as written: no key */
	if (t->state == SLOT_COL) {
		if (returning(p->ret, sizeof(p->ret), t->col) < 0)
			return 0;
		p->mode = PG_KEY_STMT;
		return p->mode;
	}
	snprintf(p->lookup, sizeof(p->lookup), "%s%s%s", LOOKUP_HEAD, t->ref, LOOKUP_TAIL);
	snprintf(p->ret, sizeof(p->ret), " RETURNING *");
	t->state = SLOT_PENDING;
	p->mode = PG_KEY_LOOKUP;
	return p->mode;
}

/* Does s[0..n) contain w (lower case), in any ASCII case? */
static int contains_word(const char *s, size_t n, const char *w)
{
	size_t wl = strlen(w);
	for (size_t i = 0; i + wl <= n; i++)
		if (pg_word_is(s + i, wl, w, wl))
			return 1;
	return 0;
}

void pg_key_session(struct pg_key *k, const struct lms_request *req)
{
	size_t i = 0, b = 0;
	if (!k || req->kind != LMS_REQ_QUERY || next_token(req->sql, req->sql_len, &i, &b) != PG_TOK_WORD)
		return;
	if (!is_word(req->sql, b, i, "set") && !is_word(req->sql, b, i, "reset") && !is_word(req->sql, b, i, "discard"))
		return;
	if (!contains_word(req->sql, req->sql_len, "search_path") && !contains_word(req->sql, req->sql_len, "schema") &&
	    !contains_word(req->sql, req->sql_len, "all"))
		return;
	for (int j = 0; j < PG_KEY_TABLES; j++)
		if (k->t[j].state != SLOT_PENDING)
			k->t[j].state = SLOT_EMPTY; /* names may now mean other tables */
}

void pg_key_abandon(struct pg_key *k, const struct pg_key_plan *p)
{
	if (k && p->mode == PG_KEY_LOOKUP)
		k->t[p->slot].state = SLOT_EMPTY;
}

/* Field number col of DataRow msg, or NULL (SQL NULL, absent, or
 * malformed); its length in *vl. */
static const uint8_t *row_field(const uint8_t *msg, size_t len, int32_t col, size_t *vl)
{
	if (len < 7 || col < 0 || col >= (int32_t)pg_get16(msg + 5))
		return NULL;
	size_t o = 7;
	for (int32_t c = 0;; c++) {
		if (o + 4 > len)
			return NULL;
		uint32_t fl = pg_get32(msg + o);
		o += 4;
		if (fl == 0xFFFFFFFFu)
			fl = 0;
		else if (fl > len - o)
			return NULL;
		if (c == col) {
			*vl = fl;
			return pg_get32(msg + o - 4) == 0xFFFFFFFFu ? NULL : msg + o;
		}
		o += fl;
	}
}

/* The position of column name in RowDescription msg, or -1. */
static int32_t find_column(const uint8_t *msg, size_t len, const char *name)
{
	if (len < 7)
		return -1;
	uint32_t nf = pg_get16(msg + 5);
	size_t o = 7;
	for (uint32_t c = 0; c < nf; c++) {
		const char *col = pg_msg_str(msg, len, &o);
		if (!col || len - o < 18)
			return -1;
		if (strcmp(col, name) == 0)
			return (int32_t)c;
		o += 18; /* table, attnum, type, size, modifier, format */
	}
	return -1;
}

/* A key in decimal, as the database printed it: 1 with *id, or 0. */
static int decimal_key(const uint8_t *v, size_t vl, uint64_t *id)
{
	uint64_t x = 0;
	if (vl == 0 || vl > 20)
		return 0;
	for (size_t i = 0; i < vl; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		uint64_t d = (uint64_t)(v[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return 0;
		x = x * 10 + d;
	}
	*id = x;
	return 1;
}

/* The lookup's answers: all hidden; its row names the column. */
static void lookup_answer(struct pg_key *k, const uint8_t *msg, size_t len)
{
	struct pg_key_table *t = &k->t[k->slot];
	size_t vl;
	const uint8_t *v;
	char st[6];
	switch (msg[0]) {
	case 'E':
		t->state = SLOT_EMPTY; /* the request failed here: asked again next time */
		k->phase = PH_DONE;
		pg_error_sqlstate(msg, len, st);
		if ((strcmp(st, "42883") == 0 || strcmp(st, "42703") == 0 || strcmp(st, "42704") == 0) &&
		    !__atomic_exchange_n(&lookup_off, 1, __ATOMIC_RELAXED))
			pg_host->log(LMS_LOG_WARN, "the database cannot tell an INSERT's generated key "
				     "(SQLSTATE %s on molt-lms's catalog lookup): MySQL clients get 0 as the last "
				     "insert id from now on", st);
		return;
	case 'D':
		k->hiding = 1;
		v = row_field(msg, len, 0, &vl);
		if (v && vl > 0 && vl < PG_KEY_COL && !memchr(v, 0, vl)) {
			memcpy(t->col, v, vl);
			t->col[vl] = 0;
			k->found = 1;
		}
		return;
	case 'C':
		k->hiding = 1;
		t->state = k->found ? SLOT_COL : SLOT_NONE;
		k->phase = PH_STMT;
		return;
	default:
		k->hiding = 1; /* ParseComplete, BindComplete, RowDescription */
		return;
	}
}

/* The INSERT's answers: its rows hidden, the first one's key kept. */
static void stmt_answer(struct pg_key *k, const uint8_t *msg, size_t len)
{
	const struct pg_key_table *t = &k->t[k->slot];
	size_t vl;
	const uint8_t *v;
	switch (msg[0]) {
	case 'T':
		k->hiding = 1;
		k->col = t->state == SLOT_COL ? find_column(msg, len, t->col) : -1;
		return;
	case 'D':
		k->hiding = 1;
		v = k->rows++ == 0 ? row_field(msg, len, k->col, &vl) : NULL;
		if (v)
			k->have_id = (uint8_t)decimal_key(v, vl, &k->id);
		return;
	case 'C':
		k->complete = k->have_id;
		k->phase = PH_DONE;
		return;
	case 'E':
		k->phase = PH_DONE;
		return;
	default:
		return;
	}
}

void pg_key_decode(struct pg_key *k, const struct pg_atom *a, const uint8_t *msg, size_t len)
{
	k->hiding = 0;
	k->complete = 0;
	if (a->hiding)
		return; /* atomic.c's own statements come first */
	if (msg[0] == 'Z') {
		k->phase = PH_IDLE;
		return;
	}
	if (k->phase == PH_IDLE) {
		const struct pg_atom_req *r = pg_atom_current(a);
		k->phase = !r || !r->key ? PH_OFF : r->key == PG_KEY_LOOKUP ? PH_LOOKUP : PH_STMT;
		k->slot = r ? r->key_slot : 0;
		k->col = -1;
		k->rows = 0;
		k->have_id = 0;
		k->found = 0;
	}
	if (k->phase == PH_LOOKUP)
		lookup_answer(k, msg, len);
	else if (k->phase == PH_STMT)
		stmt_answer(k, msg, len);
}

void pg_key_answer(const struct pg_key *k, struct lms_answer *ans)
{
	if (k->complete && ans->kind == LMS_ANS_COMPLETE) {
		ans->flags |= LMS_ANS_INSERT_ID;
		ans->insert_id = k->id;
	}
}
