/*
 * portal.c - what the rows of a prepared statement look like.
 *
 * In the extended protocol an Execute's DataRows carry no RowDescription
 * of their own: their types come from the statement (the answer to a
 * Describe('S'), often sent long before, with every format "text" since
 * formats are not known then) or from the portal (Describe('P')), their
 * formats from the Bind that made the portal.  The core tells us every
 * client message it sends to this backend (be_note_request): we remember
 * statements and portals, and queue what the server will answer in order
 * (Describe, Execute, Sync, Query).  Each Execute's entry holds the
 * columns its rows use; the server's answers pop the queue.
 *
 * An ErrorResponse in the extended protocol makes the server skip the
 * client's messages up to the next Sync: the entries queued before that
 * Sync are dropped, and when the client has not sent it yet, its
 * messages until then are ignored.  Everything is bounded; when the
 * queue would overflow, tracking pauses (rows use the last
 * RowDescription, as for a simple Query) until the server has answered
 * every Sync and Query noted until then.  Every length is checked.
 */
#include "autoconfig.h"

#include <string.h>

#include "pgwire.h"

#define COLS_UNKNOWN UINT32_MAX /* pg_cols.n that no row matches: untyped */

/* The first member of statements and portals: found by name or id. */
struct trk_obj {
	uint64_t id;      /* unique per Parse or Bind, grows with age */
	const char *name; /* follows the object, same allocation */
};

struct trk_stmt {
	struct trk_obj o;
	int typed;        /* a Describe('S') was answered */
	struct pg_cols cols; /* its result types (formats unused) */
};

/* Result format codes of a Bind: n == 0 all text, n == 1 code[0] for
 * every column, else code[k] for column k (at most PG_COLS_MAX kept). */
struct trk_fmts {
	uint32_t n;
	uint16_t *code;
};

struct trk_portal {
	struct trk_obj o;
	uint64_t stmt_id;
	struct trk_fmts fmts;
	int described;       /* cols is a Describe('P') answer */
	struct pg_cols cols;
};

enum trk_kind { PEND_DESC_S, PEND_DESC_P, PEND_EXEC, PEND_SYNC, PEND_QUERY };

/* One answer the server owes, in request order. */
struct trk_pend {
	uint32_t kind;        /* enum trk_kind */
	int resolved;         /* EXEC: cols is final */
	uint64_t id;          /* DESC_S: statement; DESC_P, EXEC: portal */
	uint64_t stmt_id;     /* EXEC, until resolved */
	struct trk_fmts fmts; /* EXEC, until resolved */
	struct pg_cols cols;  /* EXEC: what its rows are */
};

struct pg_track {
	struct trk_obj *stmt[PG_TRACK_STMTS + 1];     /* the last slot: unnamed */
	struct trk_obj *portal[PG_TRACK_PORTALS + 1]; /* the last slot: unnamed */
	uint64_t next_id;
	struct trk_pend *q;   /* ring of cap entries, n from head */
	uint32_t cap, head, n;
	int skip;             /* the server skips messages until Sync */
	int paused;           /* overflowed: not tracking */
	uint64_t paused_z;    /* ReadyForQuery awaited before tracking resumes */
	struct pg_cols scratch; /* a RowDescription being read */
};

/* ---- statements and portals ---- */

static void fmts_free(struct trk_fmts *f)
{
	if (f->code)
		pg_host->free(f->code);
	f->code = NULL;
	f->n = 0;
}

/* Copy src into dst (empty).  Returns -1 when out of memory. */
static int fmts_copy(struct trk_fmts *dst, const struct trk_fmts *src)
{
	dst->n = 0;
	dst->code = NULL;
	if (src->n == 0)
		return 0;
	dst->code = pg_host->alloc(src->n * sizeof(*dst->code));
	if (!dst->code)
		return -1;
	memcpy(dst->code, src->code, src->n * sizeof(*dst->code));
	dst->n = src->n;
	return 0;
}

static uint32_t fmts_at(const struct trk_fmts *f, uint32_t k)
{
	if (f->n == 0)
		return 0;
	if (f->n == 1)
		return f->code[0];
	return k < f->n ? f->code[k] : 0;
}

/* Make dst a copy of src (oids and formats).  Out of memory: untyped. */
static void cols_copy(struct pg_cols *dst, const struct pg_cols *src)
{
	uint32_t keep = src->known ? pg_cols_reserve(dst, src->known) : 0;
	if (keep > src->known)
		keep = src->known;
	if (keep)
		memcpy(dst->col, src->col, keep * sizeof(*dst->col));
	dst->n = src->n;
	dst->known = keep;
}

static void obj_free(struct trk_obj *o, int is_stmt)
{
	if (!o)
		return;
	if (is_stmt) {
		pg_cols_free(&((struct trk_stmt *)o)->cols);
	} else {
		struct trk_portal *p = (struct trk_portal *)o;
		fmts_free(&p->fmts);
		pg_cols_free(&p->cols);
	}
	pg_host->free(o);
}

/* The slot of name in tab (max named slots, then the unnamed), or -1. */
static int obj_find(struct trk_obj **tab, uint32_t max, const char *name)
{
	if (!*name)
		return tab[max] ? (int)max : -1;
	for (uint32_t k = 0; k < max; k++)
		if (tab[k] && strcmp(tab[k]->name, name) == 0)
			return (int)k;
	return -1;
}

static struct trk_obj *obj_by_id(struct trk_obj **tab, uint32_t max, uint64_t id)
{
	for (uint32_t k = 0; id && k <= max; k++)
		if (tab[k] && tab[k]->id == id)
			return tab[k];
	return NULL;
}

/* Forget the object called name, if any. */
static void obj_drop(struct trk_obj **tab, uint32_t max, const char *name, int is_stmt)
{
	int k = obj_find(tab, max, name);
	if (k >= 0) {
		obj_free(tab[k], is_stmt);
		tab[k] = NULL;
	}
}

/* A new, zeroed object of size bytes called name, in a free slot or the
 * oldest one's; the one called name before is forgotten.  NULL when the
 * name is too long or out of memory. */
static struct trk_obj *obj_new(struct pg_track *t, struct trk_obj **tab, uint32_t max, const char *name,
			       size_t size, int is_stmt)
{
	size_t nl = strlen(name);
	obj_drop(tab, max, name, is_stmt);
	if (nl > PG_STMT_NAME_MAX)
		return NULL;
	uint32_t slot = max;
	if (*name) {
		for (uint32_t k = 0; k < max; k++) {
			if (!tab[k]) {
				slot = k;
				break;
			}
			if (slot == max || tab[k]->id < tab[slot]->id)
				slot = k;
		}
		obj_free(tab[slot], is_stmt);
		tab[slot] = NULL;
	}
	struct trk_obj *o = pg_host->alloc(size + nl + 1);
	if (!o)
		return NULL;
	memset(o, 0, size);
	char *copy = (char *)o + size;
	memcpy(copy, name, nl + 1);
	o->name = copy;
	o->id = ++t->next_id;
	tab[slot] = o;
	return o;
}

static struct trk_stmt *stmt_by_id(struct pg_track *t, uint64_t id)
{
	return (struct trk_stmt *)obj_by_id(t->stmt, PG_TRACK_STMTS, id);
}

static struct trk_portal *portal_by_name(struct pg_track *t, const char *name)
{
	int k = obj_find(t->portal, PG_TRACK_PORTALS, name);
	return k < 0 ? NULL : (struct trk_portal *)t->portal[k];
}

/* ---- the queue of answers ---- */

static struct trk_pend *pend_at(struct pg_track *t, uint32_t i)
{
	return &t->q[(t->head + i) % t->cap];
}

static void pend_pop(struct pg_track *t)
{
	struct trk_pend *e = pend_at(t, 0);
	fmts_free(&e->fmts);
	pg_cols_free(&e->cols);
	t->head = (t->head + 1) % t->cap;
	t->n--;
}

/* Stop tracking until every ReadyForQuery owed now has come. */
static void track_pause(struct pg_track *t)
{
	uint64_t z = 0;
	while (t->n > 0) {
		uint32_t k = pend_at(t, 0)->kind;
		z += k == PEND_SYNC || k == PEND_QUERY;
		pend_pop(t);
	}
	t->paused = 1;
	t->paused_z = z;
	t->skip = 0;
}

/* Room for one more entry: grow the ring (up to PG_TRACK_PENDING). */
static int pend_room(struct pg_track *t)
{
	if (t->n < t->cap)
		return 0;
	uint32_t cap = t->cap ? t->cap * 2 : 16;
	if (cap > PG_TRACK_PENDING)
		return -1;
	struct trk_pend *q = pg_host->alloc(cap * sizeof(*q));
	if (!q)
		return -1;
	for (uint32_t i = 0; i < t->n; i++)
		q[i] = *pend_at(t, i);
	if (t->q)
		pg_host->free(t->q);
	t->q = q;
	t->cap = cap;
	t->head = 0;
	return 0;
}

/* Queue an answer of kind; NULL when tracking is (now) paused. */
static struct trk_pend *pend_push(struct pg_track *t, uint32_t kind)
{
	int owes_ready = kind == PEND_SYNC || kind == PEND_QUERY;
	if (!t->paused && pend_room(t) < 0)
		track_pause(t);
	if (t->paused) {
		t->paused_z += (uint64_t)owes_ready;
		return NULL;
	}
	struct trk_pend *e = &t->q[(t->head + t->n) % t->cap];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	t->n++;
	return e;
}

/* An Execute's columns: the statement's types, the portal's formats
 * (e->fmts).  Unknown types leave its rows untyped. */
static void exec_resolve(struct pg_track *t, struct trk_pend *e)
{
	const struct trk_stmt *st = stmt_by_id(t, e->stmt_id);
	e->resolved = 1;
	e->cols.n = COLS_UNKNOWN;
	e->cols.known = 0;
	if (st && st->typed) {
		cols_copy(&e->cols, &st->cols);
		for (uint32_t k = 0; k < e->cols.known; k++)
			e->cols.col[k].format = fmts_at(&e->fmts, k);
	}
	fmts_free(&e->fmts);
}

/* ---- client messages ---- */

/* Bind: portal, statement, parameter formats and values, result formats. */
static void note_bind(struct pg_track *t, const uint8_t *msg, size_t len)
{
	size_t i = 5;
	const char *portal = pg_msg_str(msg, len, &i);
	const char *stmt = portal ? pg_msg_str(msg, len, &i) : NULL;
	if (!stmt || len - i < 2)
		return;
	i += 2 + 2 * (size_t)pg_get16(msg + i); /* parameter format codes */
	if (i > len || len - i < 2)
		return;
	uint32_t np = pg_get16(msg + i);
	i += 2;
	for (uint32_t k = 0; k < np; k++) {
		if (len - i < 4)
			return;
		uint32_t l = pg_get32(msg + i);
		i += 4;
		if (l != 0xffffffffu && l > len - i)
			return;
		if (l != 0xffffffffu)
			i += l;
	}
	if (len - i < 2)
		return;
	uint32_t nf = pg_get16(msg + i);
	i += 2;
	if (len - i != 2 * (size_t)nf)
		return;
	int k = obj_find(t->stmt, PG_TRACK_STMTS, stmt);
	struct trk_portal *p = (struct trk_portal *)obj_new(t, t->portal, PG_TRACK_PORTALS, portal,
							    sizeof(*p), 0);
	if (!p)
		return;
	p->stmt_id = k >= 0 ? t->stmt[k]->id : 0;
	uint32_t keep = nf > PG_COLS_MAX ? PG_COLS_MAX : nf;
	if (keep && !(p->fmts.code = pg_host->alloc(keep * sizeof(*p->fmts.code)))) {
		obj_drop(t->portal, PG_TRACK_PORTALS, portal, 0); /* unknown formats: untyped */
		return;
	}
	for (uint32_t f = 0; f < keep; f++)
		p->fmts.code[f] = pg_get16(msg + i + 2 * f);
	p->fmts.n = keep;
}

/* Execute: its rows use the portal's described columns, or its
 * statement's types with its formats (resolved now when known). */
static void note_execute(struct pg_track *t, const char *portal)
{
	struct trk_portal *p = portal_by_name(t, portal);
	struct trk_pend *e = pend_push(t, PEND_EXEC);
	if (!e)
		return;
	e->id = p ? p->o.id : 0;
	if (p && p->described) {
		cols_copy(&e->cols, &p->cols);
		e->resolved = 1;
		return;
	}
	e->stmt_id = p ? p->stmt_id : 0;
	if (p && fmts_copy(&e->fmts, &p->fmts) < 0)
		e->stmt_id = 0;
	const struct trk_stmt *st = stmt_by_id(t, e->stmt_id);
	if (!p || (st && st->typed))
		exec_resolve(t, e);
}

/* Describe, Execute or Close: a type byte or a name. */
static void note_named(struct pg_track *t, const uint8_t *msg, size_t len)
{
	size_t i = msg[0] == 'E' ? 5 : 6;
	if (len < 6)
		return;
	const char *name = pg_msg_str(msg, len, &i);
	if (!name || (msg[0] != 'E' && msg[5] != 'S' && msg[5] != 'P'))
		return;
	int is_stmt = msg[5] == 'S';
	struct trk_obj **tab = is_stmt ? t->stmt : t->portal;
	uint32_t max = is_stmt ? PG_TRACK_STMTS : PG_TRACK_PORTALS;
	if (msg[0] == 'E') {
		note_execute(t, name);
	} else if (msg[0] == 'C') {
		obj_drop(tab, max, name, is_stmt);
	} else {
		struct trk_pend *e = pend_push(t, is_stmt ? PEND_DESC_S : PEND_DESC_P);
		int k = obj_find(tab, max, name);
		if (e)
			e->id = k >= 0 ? tab[k]->id : 0;
	}
}

void pg_track_request(struct pg_track **tp, const uint8_t *msg, size_t len)
{
	if (len < 5 || pg_get32(msg + 1) != len - 1 || !memchr("PBDECSQF", msg[0], 8))
		return;
	if (!*tp) {
		*tp = pg_host->alloc(sizeof(**tp));
		if (!*tp)
			return;
		memset(*tp, 0, sizeof(**tp));
	}
	struct pg_track *t = *tp;
	if (t->skip && msg[0] != 'S')
		return; /* the server skips it too */
	size_t i = 5;
	switch (msg[0]) {
	case 'P': {
		const char *name = pg_msg_str(msg, len, &i);
		if (name)
			obj_new(t, t->stmt, PG_TRACK_STMTS, name, sizeof(struct trk_stmt), 1);
		break;
	}
	case 'B':
		note_bind(t, msg, len);
		break;
	case 'S':
		t->skip = 0;
		pend_push(t, PEND_SYNC);
		break;
	case 'Q':
	case 'F':
		pend_push(t, PEND_QUERY);
		break;
	default:
		note_named(t, msg, len);
		break;
	}
}

/* ---- server messages ---- */

/* A Describe's answer: RowDescription (cols) or NoData (cols NULL). */
static void answer_describe(struct pg_track *t, const struct trk_pend *d, const struct pg_cols *cols)
{
	static const struct pg_cols none = { 0, 0, 0, NULL };
	if (!cols)
		cols = &none;
	if (d->kind == PEND_DESC_S) {
		struct trk_stmt *st = stmt_by_id(t, d->id);
		if (st) {
			cols_copy(&st->cols, cols);
			st->typed = 1;
		}
		return;
	}
	struct trk_portal *p = (struct trk_portal *)obj_by_id(t->portal, PG_TRACK_PORTALS, d->id);
	if (p) {
		cols_copy(&p->cols, cols);
		p->described = 1;
	}
	for (uint32_t i = 0; d->id && i < t->n; i++) {
		struct trk_pend *e = pend_at(t, i);
		if (e->kind == PEND_EXEC && e->id == d->id) {
			fmts_free(&e->fmts);
			cols_copy(&e->cols, cols);
			e->resolved = 1;
		}
	}
}

/* Drop Describes whose answer never came (too big to see). */
static void skip_describes(struct pg_track *t)
{
	while (t->n > 0 && pend_at(t, 0)->kind <= PEND_DESC_P)
		pend_pop(t);
}

/* ErrorResponse: a simple Query's ends with its ReadyForQuery; in the
 * extended protocol the server skips to the next Sync. */
static void answer_error(struct pg_track *t)
{
	if (t->n > 0 && pend_at(t, 0)->kind == PEND_QUERY)
		return;
	while (t->n > 0 && pend_at(t, 0)->kind != PEND_SYNC)
		pend_pop(t);
	if (t->n == 0)
		t->skip = 1;
}

/* ReadyForQuery: the Sync or Query it answers is done. */
static void answer_ready(struct pg_track *t)
{
	t->skip = 0;
	if (t->paused) {
		if (t->paused_z > 0)
			t->paused_z--;
		t->paused = t->paused_z > 0;
		return;
	}
	uint32_t k = 0;
	while (k < t->n && pend_at(t, k)->kind != PEND_SYNC && pend_at(t, k)->kind != PEND_QUERY)
		k++;
	if (k == t->n)
		return;
	while (k-- > 0)
		pend_pop(t);
	pend_pop(t);
}

void pg_track_answer(struct pg_track *t, const uint8_t *msg, size_t len)
{
	if (!t || len < 5)
		return;
	if (msg[0] == 'Z') {
		answer_ready(t);
		return;
	}
	if (t->paused || t->n == 0) {
		if (!t->paused && msg[0] == 'E')
			t->skip = 1; /* an error of a message we do not queue (Parse, Bind) */
		return;
	}
	struct trk_pend *front = pend_at(t, 0);
	switch (msg[0]) {
	case 'T':
	case 'n':
		if (front->kind > PEND_DESC_P)
			return; /* a simple Query's result set */
		if (msg[0] == 'n')
			answer_describe(t, front, NULL);
		else if (pg_cols_parse(&t->scratch, msg, len) == 0)
			answer_describe(t, front, &t->scratch);
		pend_pop(t);
		return;
	case 'C':
	case 'I':
	case 's':
		skip_describes(t);
		if (t->n > 0 && pend_at(t, 0)->kind == PEND_EXEC)
			pend_pop(t);
		return;
	case 'E':
		answer_error(t);
		return;
	default:
		return;
	}
}

struct pg_cols *pg_track_row_cols(struct pg_track *t)
{
	if (!t || t->paused)
		return NULL;
	uint32_t k = 0;
	while (k < t->n && pend_at(t, k)->kind <= PEND_DESC_P)
		k++;
	if (k == t->n || pend_at(t, k)->kind != PEND_EXEC)
		return NULL;
	struct trk_pend *e = pend_at(t, k);
	if (!e->resolved)
		exec_resolve(t, e);
	return &e->cols;
}

void pg_track_free(struct pg_track *t)
{
	if (!t)
		return;
	while (t->n > 0)
		pend_pop(t);
	if (t->q)
		pg_host->free(t->q);
	for (uint32_t k = 0; k <= PG_TRACK_STMTS; k++)
		obj_free(t->stmt[k], 1);
	for (uint32_t k = 0; k <= PG_TRACK_PORTALS; k++)
		obj_free(t->portal[k], 0);
	pg_cols_free(&t->scratch);
	pg_host->free(t);
}
