/*
 * fingerprint.c - statement fingerprints for shadow comparison, and the
 * per-connection memory of prepared statements' fingerprints.
 *
 * A fingerprint is the SQL text with every literal replaced by '?',
 * comments dropped, whitespace runs collapsed to one space, the ends
 * trimmed and everything but double-quoted identifiers lowercased.  The
 * lexer follows PostgreSQL's rules for strings ('', E'', B'', X'', N'',
 * U&''), dollar quotes, nested block comments and numbers, and never
 * reads past the length it is given: unterminated input runs to the end.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "pgwire.h"

/* ---- the fingerprinter ---------------------------------------------------- */

enum fp_kind { FP_WORD, FP_LITERAL, FP_PUNCT, FP_OTHER };

/* The text being written and what the statement scan knows so far. */
struct fp_state {
	char *dst;
	size_t cap;      /* bytes of dst, the NUL included */
	size_t len;
	int full;        /* something was cut: write nothing more */
	int space;       /* whitespace was seen since the last token */
	int depth;       /* parenthesis depth in the current statement */
	int first;       /* the next token starts a statement */
	int after_order; /* the last token was ORDER at depth 0 */
	int in_pending;  /* the last token was IN */
	size_t in_mark;  /* output length after "IN (", 0 when not in a list */
	uint32_t flags;  /* LMS_STMT_* */
	int statements;  /* statements seen (non-empty) */
	int words;       /* words seen in the first statement */
	int session_cmd; /* its first word only changes session state */
	int scoped;      /* its second word is LOCAL or TRANSACTION */
};

/* The session words: first words of statements that only change the
 * session's state, and are safe to run again on a new connection: SET,
 * RESET, PREPARE, DEALLOCATE, DISCARD, LISTEN, UNLISTEN: fp_keyword names
 * them, for the fingerprint and for is_state_word (pg_state_flags). */

/* Character classes, one table lookup each (the lexer asks for every
 * byte of every statement): S space, D digit, W may start a word
 * (letters, '_', any byte of a UTF-8 sequence), C may continue one (W,
 * digits and '$'), U an ASCII capital, whose value is the bit that makes
 * it lower case. */
#define CL_S 1
#define CL_D 2
#define CL_W 4
#define CL_C 8
#define CL_U 0x20
#define CL_WC (CL_W | CL_C)
#define CL_DC (CL_D | CL_C)
#define CL_UC (CL_W | CL_C | CL_U)
static const unsigned char fp_class[256] = {
	/* 0x00 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, CL_S, CL_S, CL_S, CL_S, CL_S, 0, 0,
	/* 0x10 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* ' '  */ CL_S, 0, 0, 0, CL_C, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* '0'  */ CL_DC, CL_DC, CL_DC, CL_DC, CL_DC, CL_DC, CL_DC, CL_DC, CL_DC, CL_DC, 0, 0, 0, 0, 0, 0,
	/* '@'  */ 0, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC,
	CL_UC, CL_UC,
	/* 'P'  */ CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, CL_UC, 0, 0, 0, 0, CL_WC,
	/* '`'  */ 0, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC,
	CL_WC, CL_WC,
	/* 'p'  */ CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, 0, 0, 0, 0, 0,
	/* 0x80-0xff: UTF-8 sequences are word characters */
	CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC,
	CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC,
	CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC,
	CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC,
	CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC,
	CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC,
	CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC,
	CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC, CL_WC,
};

/* c in lower case (ASCII letters only). */
static char fp_lower(char c)
{
	return (char)(c | (fp_class[(unsigned char)c] & CL_U));
}

static int fp_is_space(char c)
{
	return fp_class[(unsigned char)c] & CL_S;
}

static int fp_is_digit(char c)
{
	return fp_class[(unsigned char)c] & CL_D;
}

static int fp_is_word_start(char c)
{
	return fp_class[(unsigned char)c] & CL_W;
}

static int fp_is_word_char(char c)
{
	return fp_class[(unsigned char)c] & CL_C;
}

/* Append p[0..n), after the pending space, lowercased when lower; cut at
 * cap-1 bytes without splitting a UTF-8 sequence (and without a space
 * when nothing of the token fits). */
static inline void fp_put(struct fp_state *st, const char *p, size_t n, int lower)
{
	if (st->full)
		return;
	size_t room = st->cap - 1 - st->len;
	size_t sp = st->space && st->len > 0;
	st->space = 0;
	size_t take = n + sp <= room ? n : pg_utf8_cut(p, n, room > sp ? room - sp : 0);
	if (take < n)
		st->full = 1;
	if (take == 0)
		return;
	char *d = st->dst + st->len; /* locals: dst may alias st, which kept len in memory */
	if (sp)
		*d++ = ' ';
	/* tokens are short (a word, "?", one punctuation byte): a loop, no
	 * memcpy call */
	if (lower) {
		for (size_t k = 0; k < take; k++)
			d[k] = fp_lower(p[k]);
	} else {
		for (size_t k = 0; k < take; k++)
			d[k] = p[k];
	}
	st->len += sp + take;
}

/* Past a quoted run that opens at s[i] with q: a doubled q stays inside;
 * with backslash, "\x" does too.  Unterminated: n. */
static size_t fp_skip_quoted(const char *s, size_t n, size_t i, char q, int backslash)
{
	for (i++; i < n; i++) {
		if (backslash && s[i] == '\\') {
			i++;
		} else if (s[i] == q) {
			if (i + 1 < n && s[i + 1] == q)
				i++;
			else
				return i + 1;
		}
	}
	return n;
}

/* Past a block comment opening at s[i] ("/" "*"), nested as PostgreSQL
 * nests them.  Unterminated: n. */
static size_t fp_skip_comment(const char *s, size_t n, size_t i)
{
	int level = 0;
	while (i + 1 < n) {
		if (s[i] == '/' && s[i + 1] == '*') {
			level++;
			i += 2;
		} else if (s[i] == '*' && s[i + 1] == '/') {
			i += 2;
			if (--level == 0)
				return i;
		} else {
			i++;
		}
	}
	return n;
}

/* Length of the dollar-quote tag ("$$" or "$tag$") at s[i], 0 if none. */
static size_t fp_dollar_tag(const char *s, size_t n, size_t i)
{
	size_t k = i + 1;
	if (k < n && fp_is_digit(s[k]))
		return 0;
	while (k < n && fp_is_word_char(s[k]) && s[k] != '$')
		k++;
	return k < n && s[k] == '$' ? k + 1 - i : 0;
}

/* Past a dollar-quoted string whose tag (tl bytes) opens at s[i]. */
static size_t fp_skip_dollar(const char *s, size_t n, size_t i, size_t tl)
{
	const char *end = memmem(s + i + tl, n - i - tl, s + i, tl);
	return end ? (size_t)(end - s) + tl : n;
}

/* Past a numeric literal at s[i]: digits, a fraction, an exponent, and
 * the letters and underscores of 0x1F or 1_000 forms. */
static size_t fp_skip_number(const char *s, size_t n, size_t i)
{
	while (i < n && (fp_is_digit(s[i]) || s[i] == '.' || s[i] == '_'))
		i++;
	if (i + 1 < n && (s[i] == 'e' || s[i] == 'E') &&
	    (fp_is_digit(s[i + 1]) || ((s[i + 1] == '+' || s[i + 1] == '-') && i + 2 < n && fp_is_digit(s[i + 2]))))
		i += 2;
	while (i < n && (fp_is_word_char(s[i]) && s[i] != '$'))
		i++;
	return i;
}

/* Is p[0..n) the word w (lower case, wl bytes), in any ASCII case? */
int pg_word_is(const char *p, size_t n, const char *w, size_t wl)
{
	if (n != wl)
		return 0;
	for (size_t k = 0; k < n; k++) {
		char c = p[k];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != w[k])
			return 0;
	}
	return 1;
}

/* The words the statement scan acts on. */
enum fp_kw { KW_NONE = 0, KW_SET, KW_RESET, KW_BEGIN, KW_START, KW_BY, KW_ORDER, KW_IN, KW_LOCAL,
	     KW_TRANSACTION, KW_SESSION /* the other session words */ };

/* Which of those p[0..n) is.  The first letter picks the candidates, so
 * most words (identifiers, SELECT, FROM...) cost one switch. */
static enum fp_kw fp_keyword(const char *p, size_t n)
{
	switch (p[0] | 0x20) { /* ASCII lower case; no other byte becomes a-z */
	case 'b':
		return pg_word_is(p, n, "by", 2) ? KW_BY : pg_word_is(p, n, "begin", 5) ? KW_BEGIN : KW_NONE;
	case 'd':
		return pg_word_is(p, n, "deallocate", 10) || pg_word_is(p, n, "discard", 7) ? KW_SESSION : KW_NONE;
	case 'i':
		return pg_word_is(p, n, "in", 2) ? KW_IN : KW_NONE;
	case 'l':
		return pg_word_is(p, n, "local", 5) ? KW_LOCAL : pg_word_is(p, n, "listen", 6) ? KW_SESSION : KW_NONE;
	case 'o':
		return pg_word_is(p, n, "order", 5) ? KW_ORDER : KW_NONE;
	case 'p':
		return pg_word_is(p, n, "prepare", 7) ? KW_SESSION : KW_NONE;
	case 'r':
		return pg_word_is(p, n, "reset", 5) ? KW_RESET : KW_NONE;
	case 's':
		return pg_word_is(p, n, "set", 3) ? KW_SET : pg_word_is(p, n, "start", 5) ? KW_START : KW_NONE;
	case 't':
		return pg_word_is(p, n, "transaction", 11) ? KW_TRANSACTION : KW_NONE;
	case 'u':
		return pg_word_is(p, n, "unlisten", 8) ? KW_SESSION : KW_NONE;
	default:
		return KW_NONE;
	}
}

/* Statement flags and IN-list state for a word token.  The session
 * words are KW_SET, KW_RESET and KW_SESSION. */
static void fp_note_word(struct fp_state *st, const char *p, size_t n)
{
	enum fp_kw kw = fp_keyword(p, n);
	if (st->statements == 1 && st->words < 2) {
		st->words++;
		if (st->words == 1 && (kw == KW_SET || kw == KW_RESET || kw == KW_SESSION))
			st->session_cmd = 1;
		if (st->words == 2 && (kw == KW_LOCAL || kw == KW_TRANSACTION))
			st->scoped = 1;
	}
	if (st->first && (kw == KW_SET || kw == KW_RESET))
		st->flags |= LMS_STMT_SETTING;
	if (st->first && (kw == KW_BEGIN || kw == KW_START))
		st->flags |= LMS_STMT_BEGIN;
	if (st->after_order && st->depth == 0 && kw == KW_BY)
		st->flags |= LMS_STMT_ORDERED;
	st->after_order = st->depth == 0 && kw == KW_ORDER;
	st->in_pending = kw == KW_IN;
}

/* Write one token and update the statement state.  Inside "IN (" only
 * '?' and ',' keep the list collapsible; its ')' rewrites it to "(?)". */
static inline void fp_token(struct fp_state *st, enum fp_kind kind, const char *p, size_t n)
{
	int in_pending = st->in_pending;
	st->in_pending = 0;
	if (kind != FP_LITERAL && !(kind == FP_PUNCT && (*p == ',' || *p == ')')))
		st->in_mark = 0;
	if (st->first && !(kind == FP_PUNCT && *p == ';'))
		st->statements++;
	if (kind == FP_WORD)
		fp_note_word(st, p, n);
	else
		st->after_order = 0;
	st->first = 0;
	if (kind == FP_PUNCT && *p == ')' && st->in_mark && !st->full) {
		st->len = st->in_mark;
		st->space = 0;
		fp_put(st, "?)", 2, 0);
		st->in_mark = 0;
	} else {
		fp_put(st, p, n, kind == FP_WORD);
	}
	if (kind != FP_PUNCT)
		return;
	if (*p == '(') {
		st->depth++;
		st->in_mark = in_pending && !st->full ? st->len : 0;
	} else if (*p == ')' && st->depth > 0) {
		st->depth--;
	} else if (*p == ';') {
		st->depth = 0;
		st->first = 1;
	}
}

/* fp_token's state steps for a word, the most frequent token (without
 * writing it): the same steps without the branches on the kind. */
static void fp_word_state(struct fp_state *st, const char *p, size_t n)
{
	st->in_pending = 0;
	st->in_mark = 0;
	if (st->first)
		st->statements++;
	fp_note_word(st, p, n);
	st->first = 0;
}

/* A plain word at s[i]: when the rest of the text fits in dst whole
 * (the usual case), it is scanned and copied lower-cased in one pass;
 * else scanned, then written by fp_put, which cuts.  Returns its end. */
static size_t fp_plain_word(struct fp_state *st, const char *s, size_t n, size_t i)
{
	const char *w = s + i;
	size_t left = n - i, k = 1;
	size_t sp = st->space && st->len > 0;
	if (st->full || st->len + sp + left >= st->cap) {
		while (k < left && fp_is_word_char(w[k]))
			k++;
		fp_word_state(st, w, k);
		fp_put(st, w, k, 1);
		return i + k;
	}
	char *d = st->dst + st->len + sp;
	d[0] = fp_lower(w[0]);
	for (; k < left && fp_is_word_char(w[k]); k++)
		d[k] = fp_lower(w[k]);
	fp_word_state(st, w, k);
	if (sp)
		st->dst[st->len] = ' ';
	st->space = 0;
	st->len += sp + k;
	return i + k;
}

/* The token of a word-like start at s[i]: a prefixed string (E'', B'',
 * X'', N'', U&''), a U&"" identifier or a word.  Returns its end. */
static size_t lex_word(const char *s, size_t n, size_t i, int *kind)
{
	char c = s[i];
	char lc = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	if (i + 1 < n && s[i + 1] == '\'' && (lc == 'e' || lc == 'b' || lc == 'x' || lc == 'n')) {
		*kind = PG_TOK_LITERAL;
		return fp_skip_quoted(s, n, i + 1, '\'', lc == 'e');
	}
	if (lc == 'u' && i + 2 < n && s[i + 1] == '&' && (s[i + 2] == '\'' || s[i + 2] == '"')) {
		*kind = s[i + 2] == '\'' ? PG_TOK_LITERAL : PG_TOK_IDENT;
		return fp_skip_quoted(s, n, i + 2, s[i + 2], 0);
	}
	*kind = PG_TOK_WORD;
	while (i < n && fp_is_word_char(s[i]))
		i++;
	return i;
}

/* pg_lex, inlined into the fingerprinter's loop. */
static inline size_t lex_token(const char *s, size_t n, size_t i, int *kind)
{
	char c = s[i];
	*kind = PG_TOK_PUNCT;
	if (fp_is_space(c)) {
		*kind = PG_TOK_SPACE;
		return i + 1;
	}
	if (c == '-' && i + 1 < n && s[i + 1] == '-') {
		const char *nl = memchr(s + i, '\n', n - i);
		*kind = PG_TOK_SPACE;
		return nl ? (size_t)(nl - s) + 1 : n;
	}
	if (c == '/' && i + 1 < n && s[i + 1] == '*') {
		*kind = PG_TOK_SPACE;
		return fp_skip_comment(s, n, i);
	}
	if (c == '\'') {
		*kind = PG_TOK_LITERAL;
		return fp_skip_quoted(s, n, i, '\'', 0);
	}
	if (c == '"') {
		*kind = PG_TOK_IDENT;
		return fp_skip_quoted(s, n, i, '"', 0);
	}
	if (fp_is_word_start(c))
		return lex_word(s, n, i, kind);
	if (fp_is_digit(c) || (c == '.' && i + 1 < n && fp_is_digit(s[i + 1]))) {
		*kind = PG_TOK_LITERAL;
		return fp_skip_number(s, n, i);
	}
	if (c == '$') {
		size_t end = i + 1, tl = fp_dollar_tag(s, n, i);
		if (tl) {
			*kind = PG_TOK_LITERAL;
			return fp_skip_dollar(s, n, i, tl);
		}
		while (end < n && fp_is_digit(s[end]))
			end++;
		*kind = end > i + 1 ? PG_TOK_PARAM : PG_TOK_PUNCT;
		return end;
	}
	return i + 1;
}

size_t pg_lex(const char *s, size_t n, size_t i, int *kind)
{
	return lex_token(s, n, i, kind);
}

/* One token (or whitespace/comment) at s[i], written; returns where the
 * next starts (always > i).  A plain word is written as it is scanned. */
static size_t fp_step(struct fp_state *st, const char *s, size_t n, size_t i)
{
	int kind;
	char c = s[i];
	if (fp_is_space(c)) {
		st->space = 1;
		return i + 1;
	}
	if (fp_is_word_start(c) && !(i + 1 < n && (s[i + 1] == '\'' || s[i + 1] == '&')))
		return fp_plain_word(st, s, n, i);
	size_t end = lex_token(s, n, i, &kind);
	switch (kind) {
	case PG_TOK_SPACE:
		st->space = 1;
		return end;
	case PG_TOK_WORD:
		return fp_plain_word(st, s, n, i);
	case PG_TOK_LITERAL:
		fp_token(st, FP_LITERAL, "?", 1);
		return end;
	case PG_TOK_IDENT:
	case PG_TOK_PARAM:
		fp_token(st, FP_OTHER, s + i, end - i);
		return end;
	default:
		fp_token(st, FP_PUNCT, s + i, end - i);
		return end;
	}
}

uint32_t pg_fingerprint(const char *sql, size_t len, char *dst, size_t cap)
{
	struct fp_state st;
	memset(&st, 0, sizeof(st));
	st.dst = dst;
	st.cap = cap;
	st.first = 1;
	len = strnlen(sql, len); /* the text ends at a NUL */
	for (size_t i = 0; i < len;)
		i = fp_step(&st, sql, len, i);
	dst[st.len] = 0;
	if (st.statements == 1 && st.session_cmd && !st.scoped)
		st.flags |= LMS_STMT_REPLAY;
	return st.flags;
}

/* ---- prepared statements ------------------------------------------------- */

/* One remembered statement, allocated in one piece (host->alloc). */
struct pg_stmt {
	uint64_t seq;   /* when it was prepared: the oldest is evicted */
	uint32_t flags;
	char *fp;       /* points into name's storage, after the name */
	char name[];
};

struct pg_stmts {
	char cur[PG_FP_MAX];      /* the fingerprint of the last Q or P */
	char unnamed[PG_FP_MAX];  /* the unnamed statement's */
	uint32_t unnamed_flags;
	int has_unnamed;
	uint64_t seq;
	struct pg_stmt *named[PG_STMT_MAX];
};

struct pg_stmts *pg_stmts_new(void)
{
	struct pg_stmts *s = pg_host->alloc(sizeof(*s));
	if (s)
		memset(s, 0, sizeof(*s));
	return s;
}

void pg_stmts_free(struct pg_stmts *s)
{
	if (!s)
		return;
	for (size_t k = 0; k < PG_STMT_MAX; k++)
		pg_host->free(s->named[k]);
	pg_host->free(s);
}

/* The slot holding name, or -1. */
static int stmts_find(const struct pg_stmts *s, const char *name)
{
	for (int k = 0; k < PG_STMT_MAX; k++)
		if (s->named[k] && strcmp(s->named[k]->name, name) == 0)
			return k;
	return -1;
}

/* A slot for a new statement: a free one, else the oldest's (freed). */
static int stmts_slot(struct pg_stmts *s)
{
	int old = 0;
	for (int k = 0; k < PG_STMT_MAX; k++) {
		if (!s->named[k])
			return k;
		if (s->named[k]->seq < s->named[old]->seq)
			old = k;
	}
	pg_host->free(s->named[old]);
	s->named[old] = NULL;
	return old;
}

/* Remember fp under name (replacing it); names too long are not kept. */
static void stmts_put(struct pg_stmts *s, const char *name, const char *fp, uint32_t flags)
{
	size_t nl = strlen(name), fl = strlen(fp);
	if (nl > PG_STMT_NAME_MAX)
		return;
	int k = stmts_find(s, name);
	if (k >= 0) {
		pg_host->free(s->named[k]);
		s->named[k] = NULL;
	} else {
		k = stmts_slot(s);
	}
	struct pg_stmt *e = pg_host->alloc(sizeof(*e) + nl + 1 + fl + 1);
	if (!e)
		return;
	e->seq = ++s->seq;
	e->flags = flags;
	memcpy(e->name, name, nl + 1);
	e->fp = e->name + nl + 1;
	memcpy(e->fp, fp, fl + 1);
	s->named[k] = e;
}

/* Parse: fingerprint its query and remember it under the statement's
 * name (the unnamed one replaced by each unnamed Parse). */
static void stmts_parse(struct pg_stmts *s, const uint8_t *msg, size_t len, struct lms_result *res)
{
	size_t i = 5;
	const char *name = pg_msg_str(msg, len, &i);
	if (!name)
		return;
	const char *q = (const char *)msg + i;
	/* A Parse only prepares: replaying it (named) is safe whatever its
	 * text; the text's own REPLAY (a SET) applies when it is executed. */
	res->stmt_flags = pg_fingerprint(q, len - i, s->cur, sizeof(s->cur)) & ~LMS_STMT_REPLAY;
	res->fingerprint = s->cur;
	if (*name) {
		stmts_put(s, name, s->cur, res->stmt_flags);
		res->stmt_flags |= LMS_STMT_REPLAY;
		return;
	}
	memcpy(s->unnamed, s->cur, sizeof(s->unnamed));
	s->unnamed_flags = res->stmt_flags;
	s->has_unnamed = 1;
}

/* Bind: the fingerprint of the statement it binds, if known. */
static void stmts_bind(struct pg_stmts *s, const uint8_t *msg, size_t len, struct lms_result *res)
{
	size_t i = 5;
	const char *portal = pg_msg_str(msg, len, &i);
	const char *name = portal ? pg_msg_str(msg, len, &i) : NULL;
	if (!name)
		return;
	if (!*name) {
		if (s->has_unnamed) {
			res->fingerprint = s->unnamed;
			res->stmt_flags = s->unnamed_flags;
		}
		return;
	}
	int k = stmts_find(s, name);
	if (k >= 0) {
		res->fingerprint = s->named[k]->fp;
		res->stmt_flags = s->named[k]->flags;
	}
}

/* Close of a statement ('S'): forget it.  Closing a named one is replayed
 * with the Parse that created it. */
static void stmts_close(struct pg_stmts *s, const uint8_t *msg, size_t len, struct lms_result *res)
{
	size_t i = 6;
	const char *name = len > 5 && msg[5] == 'S' ? pg_msg_str(msg, len, &i) : NULL;
	if (!name)
		return;
	if (!*name) {
		s->has_unnamed = 0;
		return;
	}
	res->stmt_flags |= LMS_STMT_REPLAY;
	int k = stmts_find(s, name);
	if (k >= 0) {
		pg_host->free(s->named[k]);
		s->named[k] = NULL;
	}
}

/* Fingerprint the start of an oversized statement's text (q[0..n), cut
 * anywhere) into s->cur, marked as such. */
static uint32_t stmts_prefix(struct pg_stmts *s, const char *q, size_t n)
{
	static const char mark[] = " ... (oversized)";
	n = n < PG_OVERSIZED_PREFIX ? n : PG_OVERSIZED_PREFIX;
	uint32_t flags = pg_fingerprint(q, n, s->cur, sizeof(s->cur) - (sizeof(mark) - 1));
	if (!s->cur[0]) {
		snprintf(s->cur, sizeof(s->cur), "(oversized statement)");
		return flags;
	}
	strcat(s->cur, mark); /* room kept above */
	return flags;
}

void pg_stmts_oversized(struct pg_stmts *s, const uint8_t *p, size_t n)
{
	struct lms_result res;
	memset(&res, 0, sizeof(res));
	size_t i = 5;
	const char *name = NULL;
	snprintf(s->cur, sizeof(s->cur), "(oversized statement)");
	if (n < 5)
		return;
	switch (p[0]) {
	case 'Q':
		stmts_prefix(s, (const char *)p + 5, n - 5);
		return;
	case 'P':
		name = pg_msg_str(p, n, &i);
		if (!name)
			return;
		uint32_t flags = stmts_prefix(s, (const char *)p + i, n - i) & ~LMS_STMT_REPLAY;
		if (*name) {
			stmts_put(s, name, s->cur, flags | LMS_STMT_OVERSIZED);
			return;
		}
		memcpy(s->unnamed, s->cur, sizeof(s->unnamed));
		s->unnamed_flags = flags | LMS_STMT_OVERSIZED;
		s->has_unnamed = 1;
		return;
	case 'B':
		/* huge parameters: the statement it binds, when its name is at hand */
		stmts_bind(s, p, n, &res);
		if (res.fingerprint)
			snprintf(s->cur, sizeof(s->cur), "%s", res.fingerprint);
		return;
	default:
		return;
	}
}

const char *pg_stmts_current(const struct pg_stmts *s)
{
	return s->cur;
}

void pg_stmts_decode(struct pg_stmts *s, const uint8_t *msg, size_t len, struct lms_result *res)
{
	if (len < 5)
		return;
	switch (msg[0]) {
	case 'Q':
		res->stmt_flags = pg_fingerprint((const char *)msg + 5, len - 5, s->cur, sizeof(s->cur));
		res->fingerprint = s->cur;
		break;
	case 'P':
		stmts_parse(s, msg, len, res);
		break;
	case 'B':
		stmts_bind(s, msg, len, res);
		break;
	case 'C':
		stmts_close(s, msg, len, res);
		break;
	default:
		break;
	}
}

/* Where the first word of sql[0..n) starts, after spaces and comments
 * (n when there is none). */
static size_t first_word_start(const char *sql, size_t n)
{
	size_t i = 0;
	for (;;) {
		while (i < n && fp_is_space(sql[i]))
			i++;
		if (i + 1 < n && sql[i] == '-' && sql[i + 1] == '-') {
			while (i < n && sql[i] != '\n')
				i++;
		} else if (i + 1 < n && sql[i] == '/' && sql[i + 1] == '*') {
			i = fp_skip_comment(sql, n, i);
		} else {
			return i;
		}
	}
}

/* Does p[0..n) start with a word that may change the session's state?
 * Those are the session words, BEGIN and START: fp_keyword's list, so
 * that the fingerprint and this check cannot disagree. */
static int is_state_word(const char *p, size_t n)
{
	size_t k = 0;
	while (k < n && fp_is_word_char(p[k]))
		k++;
	if (k == 0)
		return 0;
	switch (fp_keyword(p, k)) {
	case KW_BEGIN:
	case KW_START:
	case KW_SET:
	case KW_RESET:
	case KW_SESSION:
		return 1;
	default:
		return 0;
	}
}

uint32_t pg_state_flags(const uint8_t *msg, size_t len)
{
	size_t i = 5;
	if (len < 6)
		return 0;
	if (msg[0] == 'P') {
		const char *name = pg_msg_str(msg, len, &i);
		return name && *name ? LMS_STMT_REPLAY : 0;
	}
	if (msg[0] == 'C') {
		i = 6;
		const char *name = msg[5] == 'S' ? pg_msg_str(msg, len, &i) : NULL;
		return name && *name ? LMS_STMT_REPLAY : 0;
	}
	if (msg[0] != 'Q')
		return 0;
	const char *sql = (const char *)msg + 5;
	size_t max = len - 5;
	/* A statement that starts with a word (the usual case) is matched
	 * without measuring it first: the word ends at the NUL anyway. */
	size_t n = fp_is_word_start(sql[0]) ? max : strnlen(sql, max);
	size_t start = first_word_start(sql, n);
	if (!is_state_word(sql + start, n - start))
		return 0;
	n = strnlen(sql, max);
	char scratch[64];
	return pg_fingerprint(sql, n, scratch, sizeof(scratch)); /* for the exact flags */
}
