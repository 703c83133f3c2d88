/*
 * lexer.c - MySQL's lexical rules, as far as translation and shadow
 * comparison need them: where the parameter placeholders ('?') of a
 * prepared statement are (to be written as $1, $2, ... for PostgreSQL,
 * ABI 1.3), a statement's fingerprint (literals as '?', comments
 * dropped, whitespace collapsed, words lowercased) and its command tag.
 *
 * Not a placeholder: a '?' inside '...' or "..." strings (backslash
 * escapes and doubled quotes), `backtick` identifiers (doubled
 * backticks), -- comments (the dashes followed by a space or control
 * character), # comments and /\* *\/ comments (executable comments
 * included: a limitation).  The scanner never reads past the length it
 * is given: unterminated strings and comments run to the end.
 */
#include "autoconfig.h"

#include <string.h>

#include "mysql.h"

enum my_tok { TK_END = 0, TK_WORD, TK_LITERAL, TK_HOLE, TK_IDENT, TK_PUNCT };

struct my_lex {
	const char *s;
	size_t len;
	size_t i;
	int space; /* whitespace or a comment came before the token */
};

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '$' ||
	       c >= 0x80;
}

/* Skip whitespace and comments; returns 1 when any was skipped. */
static int lex_skip(struct my_lex *lx)
{
	int skipped = 0;
	const char *s = lx->s;
	while (lx->i < lx->len) {
		unsigned char c = (unsigned char)s[lx->i];
		if (is_space(c)) {
			lx->i++;
		} else if (c == '#' || (c == '-' && lx->i + 1 < lx->len && s[lx->i + 1] == '-' &&
					(lx->i + 2 == lx->len || (unsigned char)s[lx->i + 2] <= ' '))) {
			const char *nl = memchr(s + lx->i, '\n', lx->len - lx->i);
			lx->i = nl ? (size_t)(nl - s) + 1 : lx->len;
		} else if (c == '/' && lx->i + 1 < lx->len && s[lx->i + 1] == '*') {
			size_t k = lx->i + 2;
			while (k + 1 < lx->len && !(s[k] == '*' && s[k + 1] == '/'))
				k++;
			lx->i = k + 1 < lx->len ? k + 2 : lx->len;
		} else {
			break;
		}
		skipped = 1;
	}
	return skipped;
}

/* A quoted run starting at lx->i with quote q: backslash escapes (not in
 * backtick identifiers) and doubled quotes. */
static void lex_quoted(struct my_lex *lx, char q)
{
	size_t k = lx->i + 1;
	while (k < lx->len) {
		char c = lx->s[k];
		if (c == '\\' && q != '`') {
			k += 2;
			continue;
		}
		if (c == q) {
			if (k + 1 < lx->len && lx->s[k + 1] == q) {
				k += 2;
				continue;
			}
			k++;
			break;
		}
		k++;
	}
	lx->i = k < lx->len ? k : lx->len;
}

static void lex_number(struct my_lex *lx)
{
	const char *s = lx->s;
	size_t k = lx->i;
	if (k + 1 < lx->len && s[k] == '0' && (s[k + 1] == 'x' || s[k + 1] == 'X' || s[k + 1] == 'b')) {
		k += 2;
		while (k < lx->len && is_word((unsigned char)s[k]))
			k++;
		lx->i = k;
		return;
	}
	while (k < lx->len && (is_digit((unsigned char)s[k]) || s[k] == '.'))
		k++;
	if (k < lx->len && (s[k] == 'e' || s[k] == 'E')) {
		size_t e = k + 1;
		if (e < lx->len && (s[e] == '+' || s[e] == '-'))
			e++;
		if (e < lx->len && is_digit((unsigned char)s[e])) {
			k = e;
			while (k < lx->len && is_digit((unsigned char)s[k]))
				k++;
		}
	}
	lx->i = k;
}

/* The next token: its kind, and its bytes s[*b..*e). */
static int lex_next(struct my_lex *lx, size_t *b, size_t *e)
{
	lx->space = lex_skip(lx);
	*b = lx->i;
	if (lx->i >= lx->len) {
		*e = lx->i;
		return TK_END;
	}
	const char *s = lx->s;
	unsigned char c = (unsigned char)s[lx->i];
	int kind;
	if (c == '\'' || c == '"') {
		lex_quoted(lx, (char)c);
		kind = TK_LITERAL;
	} else if (c == '`') {
		lex_quoted(lx, '`');
		kind = TK_IDENT;
	} else if (is_digit(c) || (c == '.' && lx->i + 1 < lx->len && is_digit((unsigned char)s[lx->i + 1]))) {
		lex_number(lx);
		kind = TK_LITERAL;
	} else if (is_word(c) || c == '@') {
		lx->i++;
		while (lx->i < lx->len && (is_word((unsigned char)s[lx->i]) || s[lx->i] == '@'))
			lx->i++;
		kind = TK_WORD;
	} else {
		lx->i++;
		kind = c == '?' ? TK_HOLE : TK_PUNCT;
	}
	*e = lx->i;
	return kind;
}

long my_placeholders(const char *sql, size_t len, uint32_t *holes, uint32_t max)
{
	struct my_lex lx = { sql, len, 0, 0 };
	size_t b, e;
	uint32_t n = 0;
	int kind;
	while ((kind = lex_next(&lx, &b, &e)) != TK_END) {
		if (kind != TK_HOLE)
			continue;
		if (n == max)
			return -1;
		holes[n++] = (uint32_t)b;
	}
	return n;
}

/* Does word s[b..e) equal w (lowercase), ignoring case? */
static int word_is(const char *s, size_t b, size_t e, const char *w)
{
	size_t n = strlen(w);
	if (e - b != n)
		return 0;
	for (size_t k = 0; k < n; k++) {
		char c = s[b + k];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != w[k])
			return 0;
	}
	return 1;
}

/* Fingerprint writer: cut cleanly at cap - 1. */
struct fpw {
	char *out;
	size_t cap;
	size_t len;
};

static void fpw_put(struct fpw *w, const char *p, size_t n, int lower)
{
	for (size_t k = 0; k < n && w->len + 1 < w->cap; k++) {
		char c = p[k];
		if (c == 0)
			continue; /* the fingerprint is a C string */
		if (lower && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		w->out[w->len++] = c;
	}
	w->out[w->len] = 0;
}

size_t my_fingerprint(const char *sql, size_t len, char *out, size_t cap, uint32_t *flags)
{
	struct my_lex lx = { sql, len, 0, 0 };
	struct fpw w = { out, cap, 0 };
	size_t b, e, pb = 0, pe = 0;
	int kind, depth = 0, words = 0, prev_order = 0;
	*flags = 0;
	if (cap == 0)
		return 0;
	out[0] = 0;
	while ((kind = lex_next(&lx, &b, &e)) != TK_END) {
		if (lx.space && w.len > 0)
			fpw_put(&w, " ", 1, 0);
		if (kind == TK_LITERAL || kind == TK_HOLE) {
			fpw_put(&w, "?", 1, 0);
		} else {
			fpw_put(&w, sql + b, e - b, kind == TK_WORD);
		}
		if (kind == TK_PUNCT && sql[b] == '(')
			depth++;
		else if (kind == TK_PUNCT && sql[b] == ')' && depth > 0)
			depth--;
		if (kind != TK_WORD) {
			prev_order = 0;
			continue;
		}
		if (words++ == 0) {
			if (word_is(sql, b, e, "begin"))
				*flags |= LMS_STMT_BEGIN;
			else if (word_is(sql, b, e, "set"))
				*flags |= LMS_STMT_SETTING;
		} else if (words == 2 && word_is(sql, pb, pe, "start") && word_is(sql, b, e, "transaction")) {
			*flags |= LMS_STMT_BEGIN;
		}
		if (prev_order && depth == 0 && word_is(sql, b, e, "by"))
			*flags |= LMS_STMT_ORDERED;
		prev_order = word_is(sql, b, e, "order");
		pb = b;
		pe = e;
	}
	return w.len;
}

/* Words after CREATE that PostgreSQL's tag leaves out. */
static int tag_skipped(const char *s, size_t b, size_t e)
{
	return word_is(s, b, e, "temporary") || word_is(s, b, e, "temp") || word_is(s, b, e, "unique") ||
	       word_is(s, b, e, "or") || word_is(s, b, e, "replace");
}

void my_tag(const char *sql, size_t len, char tag[LMS_TAG_MAX])
{
	struct my_lex lx = { sql, len, 0, 0 };
	size_t b, e, n = 0;
	tag[0] = 0;
	if (lex_next(&lx, &b, &e) != TK_WORD)
		return;
	int two = word_is(sql, b, e, "create") || word_is(sql, b, e, "drop") || word_is(sql, b, e, "alter") ||
		  word_is(sql, b, e, "start");
	if (word_is(sql, b, e, "with")) { /* a common table expression: its query */
		memcpy(tag, "SELECT", 7);
		return;
	}
	if (word_is(sql, b, e, "truncate")) {
		memcpy(tag, "TRUNCATE TABLE", 15);
		return;
	}
	for (int words = 0; words < (two ? 2 : 1);) {
		if (words > 0 && tag_skipped(sql, b, e)) {
			if (lex_next(&lx, &b, &e) != TK_WORD)
				break;
			continue;
		}
		if (words > 0 && n + 1 < LMS_TAG_MAX)
			tag[n++] = ' ';
		for (size_t k = b; k < e && n + 1 < LMS_TAG_MAX; k++) {
			char c = sql[k];
			tag[n++] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
		}
		tag[n] = 0;
		if (++words < (two ? 2 : 1) && lex_next(&lx, &b, &e) != TK_WORD)
			break;
	}
}

/* First words of the statements that commit an open transaction before
 * they run (MySQL's implicit commit), as far as a session's data is
 * concerned: starting a transaction, and DDL other than on temporary
 * tables. */
static int commits_first(const char *s, size_t b, size_t e, struct my_lex *lx)
{
	if (word_is(s, b, e, "begin") || word_is(s, b, e, "start"))
		return 1;
	if (!word_is(s, b, e, "create") && !word_is(s, b, e, "drop") && !word_is(s, b, e, "alter") &&
	    !word_is(s, b, e, "rename") && !word_is(s, b, e, "truncate") && !word_is(s, b, e, "grant") &&
	    !word_is(s, b, e, "revoke"))
		return 0;
	size_t b2, e2;
	return lex_next(lx, &b2, &e2) != TK_WORD || !word_is(s, b2, e2, "temporary");
}

/* Does the rest of a SELECT lock rows or write (FOR UPDATE, FOR SHARE,
 * LOCK IN SHARE MODE, INTO)?  Conservative: any such pair of words,
 * wherever it is outside strings and comments. */
static int select_writes(struct my_lex *lx)
{
	const char *s = lx->s;
	size_t b, e;
	int kind, after_for = 0, after_lock = 0;
	while ((kind = lex_next(lx, &b, &e)) != TK_END) {
		int is_word = kind == TK_WORD;
		if (is_word && word_is(s, b, e, "into"))
			return 1;
		if (after_for && is_word &&
		    (word_is(s, b, e, "update") || word_is(s, b, e, "share") || word_is(s, b, e, "no") ||
		     word_is(s, b, e, "key")))
			return 1;
		if (after_lock && is_word && word_is(s, b, e, "in"))
			return 1;
		after_for = is_word && word_is(s, b, e, "for");
		after_lock = is_word && word_is(s, b, e, "lock");
	}
	return 0;
}

uint32_t my_txn_flags(const char *sql, size_t len, int in_txn)
{
	struct my_lex lx = { sql, len, 0, 0 };
	size_t b, e;
	uint32_t flags = LMS_REQ_STMT_ATOMIC;
	if (lex_next(&lx, &b, &e) != TK_WORD)
		return flags;
	if (word_is(sql, b, e, "commit"))
		return flags | LMS_REQ_COMMIT;
	if (word_is(sql, b, e, "insert"))
		return flags | LMS_REQ_INSERT_ID; /* no implicit commit, writes */
	if (word_is(sql, b, e, "select") && !in_txn)
		return flags; /* READ matters inside a transaction only: not worth a scan */
	if (word_is(sql, b, e, "select"))
		return select_writes(&lx) ? flags : flags | LMS_REQ_READ;
	return commits_first(sql, b, e, &lx) ? flags | LMS_REQ_COMMIT_FIRST : flags;
}

int my_opens_txn(const char *sql, size_t len)
{
	static const char *const no_txn[] = { "commit", "rollback", "begin", "start", "set", "savepoint", "release",
					      "xa", "lock", "unlock", "use", "show", "flush", "kill", "help", NULL };
	struct my_lex lx = { sql, len, 0, 0 };
	size_t b, e;
	if (lex_next(&lx, &b, &e) != TK_WORD)
		return 1; /* "(select ...)", or nothing known: as a statement would */
	for (const char *const *w = no_txn; *w; w++)
		if (word_is(sql, b, e, *w))
			return 0;
	return !commits_first(sql, b, e, &lx);
}

/* ---- transaction characteristics (isolation.c) ---- */

static const char *const iso_words[][2] = {
	[MY_ISO_READ_UNCOMMITTED] = { "read", "uncommitted" },
	[MY_ISO_READ_COMMITTED] = { "read", "committed" },
	[MY_ISO_REPEATABLE_READ] = { "repeatable", "read" },
	[MY_ISO_SERIALIZABLE] = { "serializable", NULL },
};

static const char *const iso_values[] = {
	[MY_ISO_READ_UNCOMMITTED] = "read-uncommitted",
	[MY_ISO_READ_COMMITTED] = "read-committed",
	[MY_ISO_REPEATABLE_READ] = "repeatable-read",
	[MY_ISO_SERIALIZABLE] = "serializable",
};

/* The next token is word w?  Consumes it when it is. */
static int lex_word(struct my_lex *lx, const char *w)
{
	struct my_lex save = *lx;
	size_t b, e;
	if (lex_next(lx, &b, &e) == TK_WORD && word_is(lx->s, b, e, w))
		return 1;
	*lx = save;
	return 0;
}

static int lex_punct(struct my_lex *lx, char c)
{
	struct my_lex save = *lx;
	size_t b, e;
	if (lex_next(lx, &b, &e) == TK_PUNCT && lx->s[b] == c)
		return 1;
	*lx = save;
	return 0;
}

/* Nothing left but a ';'? */
static int lex_done(struct my_lex *lx)
{
	size_t b, e;
	lex_punct(lx, ';');
	return lex_next(lx, &b, &e) == TK_END;
}

/* ISOLATION LEVEL's level: enum my_iso, 0 when none. */
static uint8_t lex_level(struct my_lex *lx)
{
	for (uint8_t k = MY_ISO_READ_UNCOMMITTED; k <= MY_ISO_SERIALIZABLE; k++) {
		struct my_lex save = *lx;
		if (lex_word(lx, iso_words[k][0]) && (!iso_words[k][1] || lex_word(lx, iso_words[k][1])))
			return k;
		*lx = save;
	}
	return 0;
}

/* ISOLATION LEVEL x | READ ONLY | READ WRITE, separated by commas. */
static int lex_characteristics(struct my_lex *lx, struct my_txc *t)
{
	do {
		if (lex_word(lx, "isolation")) {
			if (!lex_word(lx, "level") || !(t->level = lex_level(lx)))
				return -1;
		} else if (lex_word(lx, "read")) {
			if (lex_word(lx, "only"))
				t->access = MY_ACCESS_READ_ONLY;
			else if (lex_word(lx, "write"))
				t->access = MY_ACCESS_READ_WRITE;
			else
				return -1;
		} else {
			return -1;
		}
	} while (lex_punct(lx, ','));
	return lex_done(lx) ? 0 : -1;
}

/* = '<level>' of transaction_isolation (':=' too). */
static int lex_level_value(struct my_lex *lx, struct my_txc *t)
{
	size_t b, e;
	if (!lex_punct(lx, '=') && !(lex_punct(lx, ':') && lex_punct(lx, '=')))
		return -1;
	if (lex_next(lx, &b, &e) != TK_LITERAL || e - b < 2 || (lx->s[b] != '\'' && lx->s[b] != '"'))
		return -1;
	for (uint8_t k = MY_ISO_READ_UNCOMMITTED; k <= MY_ISO_SERIALIZABLE; k++)
		if (word_is(lx->s, b + 1, e - 1, iso_values[k])) {
			t->level = k;
			return lex_done(lx) ? 0 : -1;
		}
	return -1;
}

int my_txn_chars(const char *sql, size_t len, struct my_txc *t)
{
	struct my_lex lx = { sql, len, 0, 0 };
	memset(t, 0, sizeof(*t));
	if (!lex_word(&lx, "set") || lex_word(&lx, "global") || lex_word(&lx, "@@global"))
		return MY_TXC_NONE; /* GLOBAL: the server's default, MariaDB's to judge */
	int session = lex_word(&lx, "session") || lex_word(&lx, "local");
	if (!session && (lex_word(&lx, "@@session") || lex_word(&lx, "@@local"))) {
		if (!lex_punct(&lx, '.'))
			return MY_TXC_NONE;
		session = 1;
	}
	if (lex_word(&lx, "transaction"))
		return lex_characteristics(&lx, t) < 0 ? MY_TXC_NONE : session ? MY_TXC_SESSION : MY_TXC_NEXT;
	int scope;
	if (lex_word(&lx, "transaction_isolation") || lex_word(&lx, "tx_isolation"))
		scope = MY_TXC_SESSION; /* SET [SESSION] var = ...: the session's */
	else if (!session && (lex_word(&lx, "@@transaction_isolation") || lex_word(&lx, "@@tx_isolation")))
		scope = MY_TXC_NEXT; /* SET @@var = ...: the next transaction's */
	else
		return MY_TXC_NONE;
	return lex_level_value(&lx, t) < 0 ? MY_TXC_NONE : scope;
}

int my_bare_begin(const char *sql, size_t len)
{
	struct my_lex lx = { sql, len, 0, 0 };
	if (lex_word(&lx, "begin")) {
		lex_word(&lx, "work");
		return lex_done(&lx) ? MY_BEGIN_BEGIN : 0;
	}
	if (lex_word(&lx, "start") && lex_word(&lx, "transaction"))
		return lex_done(&lx) ? MY_BEGIN_START : 0;
	return 0;
}
