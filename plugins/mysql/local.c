/*
 * local.c - what LMS answers itself for a MySQL client served by a
 * database of another wire family (ABI 1.4): the statements connectors
 * send on their own, which only MySQL understands.  docs/mysql.md lists
 * them:
 *
 *   SET NAMES ..., SET CHARACTER SET ..., SET [SESSION] character_set_*,
 *   collation_connection, sql_mode, session_track_*, net_*_timeout,
 *   wait_timeout, interactive_timeout (any mix of those in one SET)
 *                                                  OK (nothing changes)
 *   SET TRANSACTION ..., SET @@transaction_isolation = '...'
 *                                                  OK: kept for the next
 *                                                  BEGIN (isolation.c)
 *   SET autocommit=0|1 (with any of those)         OK; off: each statement
 *                                                  that opens a transaction
 *                                                  on MySQL begins one
 *                                                  (request.c); on: an open
 *                                                  transaction is committed
 *   SELECT @@[session.]var [AS name], ... [LIMIT 1] one row (the table)
 *   SHOW [SESSION] VARIABLES [LIKE '...'|WHERE ...] (Variable_name, Value)
 *   SHOW WARNINGS                                  no rows
 *   SELECT DATABASE()                              the login's database
 *   USE db, COM_INIT_DB                            OK for the login's
 *                                                  database, else ERR 1049
 *
 * The request still makes a round trip to the database (an empty one,
 * LMS_REQ_PING): its answer comes in order with the others and tells the
 * transaction state.  Nothing here parses more than a statement's first
 * LMS_DECODE_MAX bytes, and every read is bounded.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mysql.h"

/* The variables LMS answers for, as a MariaDB server would by default. */
static const struct {
	const char *name;
	const char *value;
} vars[] = {
	{ "auto_increment_increment", "1" },
	{ "auto_increment_offset", "1" },
	{ "autocommit", "1" },
	{ "character_set_client", "utf8mb4" },
	{ "character_set_connection", "utf8mb4" },
	{ "character_set_database", "utf8mb4" },
	{ "character_set_results", "utf8mb4" },
	{ "character_set_server", "utf8mb4" },
	{ "collation_connection", "utf8mb4_general_ci" },
	{ "collation_database", "utf8mb4_general_ci" },
	{ "collation_server", "utf8mb4_general_ci" },
	{ "init_connect", "" },
	{ "interactive_timeout", "28800" },
	{ "license", "GPL" },
	{ "lower_case_table_names", "0" },
	{ "max_allowed_packet", "16777216" },
	{ "net_buffer_length", "16384" },
	{ "net_write_timeout", "60" },
	{ "query_cache_size", "0" },
	{ "query_cache_type", "OFF" },
	{ "sql_mode", "STRICT_TRANS_TABLES" },
	{ "system_time_zone", "UTC" },
	{ "time_zone", "SYSTEM" },
	{ "transaction_isolation", "READ-COMMITTED" },
	{ "transaction_read_only", "0" },
	{ "tx_isolation", "READ-COMMITTED" },
	{ "tx_read_only", "0" },
	{ "version", "10.11.0-molt-lms" },
	{ "version_comment", "molt-lms: served by a PostgreSQL-protocol database after cutover" },
	{ "wait_timeout", "28800" },
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

/* SET variables that LMS accepts and ignores (every value). */
static const char *const ignored[] = {
	"character_set_client", "character_set_connection", "character_set_results", "collation_connection",
	"sql_mode", "session_track_schema", "session_track_system_variables", "session_track_state_change",
	"session_track_transaction_info", "net_write_timeout", "net_read_timeout", "wait_timeout",
	"interactive_timeout", NULL,
};

/* A bounded cursor over a statement's text. */
struct cur {
	const char *p;
	size_t n, i;
};

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
}

static void skip_ws(struct cur *c)
{
	while (c->i < c->n && is_space(c->p[c->i]))
		c->i++;
}

/* Is the next word w (case-insensitive, whole word)?  Consumes it. */
static int word(struct cur *c, const char *w)
{
	skip_ws(c);
	size_t l = strlen(w);
	if (c->n - c->i < l || strncasecmp(c->p + c->i, w, l) != 0)
		return 0;
	if (c->i + l < c->n && is_ident(c->p[c->i + l]) && is_ident(w[l - 1]))
		return 0;
	c->i += l;
	return 1;
}

static int punct(struct cur *c, char ch)
{
	skip_ws(c);
	if (c->i < c->n && c->p[c->i] == ch) {
		c->i++;
		return 1;
	}
	return 0;
}

/* An identifier (maybe `quoted`) into out[0..cap).  Returns its length, 0
 * when there is none. */
static size_t ident(struct cur *c, char *out, size_t cap)
{
	skip_ws(c);
	size_t k = 0;
	int q = c->i < c->n && c->p[c->i] == '`';
	if (q)
		c->i++;
	while (c->i < c->n && (q ? c->p[c->i] != '`' : is_ident(c->p[c->i]))) {
		if (k + 1 < cap)
			out[k++] = c->p[c->i];
		c->i++;
	}
	if (q && c->i < c->n)
		c->i++;
	out[k] = 0;
	return k;
}

/* A '...' or "..." string into out (backslash escapes kept as written:
 * LIKE reads them).  Returns its length, -1 when there is none. */
static long quoted(struct cur *c, char *out, size_t cap)
{
	skip_ws(c);
	if (c->i >= c->n || (c->p[c->i] != '\'' && c->p[c->i] != '"'))
		return -1;
	char q = c->p[c->i++];
	size_t k = 0;
	while (c->i < c->n && c->p[c->i] != q) {
		if (c->p[c->i] == '\\' && c->i + 1 < c->n && k + 1 < cap)
			out[k++] = c->p[c->i++];
		if (k + 1 < cap)
			out[k++] = c->p[c->i];
		c->i++;
	}
	if (c->i >= c->n)
		return -1;
	c->i++;
	out[k] = 0;
	return (long)k;
}

/* At the end, but for spaces and a ';'? */
static int at_end(struct cur *c)
{
	punct(c, ';');
	skip_ws(c);
	return c->i == c->n;
}

/* Skip a value up to the next ',' outside quotes and parentheses. */
static void skip_value(struct cur *c, size_t *from, size_t *to)
{
	skip_ws(c);
	*from = c->i;
	int depth = 0;
	while (c->i < c->n) {
		char ch = c->p[c->i];
		if (ch == '\'' || ch == '"') {
			c->i++;
			while (c->i < c->n && c->p[c->i] != ch)
				c->i += c->p[c->i] == '\\' ? 2 : 1;
		} else if (ch == '(') {
			depth++;
		} else if (ch == ')') {
			depth--;
		} else if ((ch == ',' && depth == 0) || ch == ';') {
			break;
		}
		c->i++;
	}
	if (c->i > c->n)
		c->i = c->n;
	*to = c->i;
	while (*to > *from && is_space(c->p[*to - 1]))
		(*to)--;
}

/* A variable's optional scope prefix: @@, @@session., SESSION, LOCAL.
 * -1 for GLOBAL (the database must judge it), else 0. */
static int scope(struct cur *c)
{
	skip_ws(c);
	if (c->n - c->i >= 2 && c->p[c->i] == '@' && c->p[c->i + 1] == '@') {
		c->i += 2;
		if (word(c, "global."))
			return -1;
		if (!word(c, "session."))
			word(c, "local.");
		return 0;
	}
	if (word(c, "global"))
		return -1;
	if (!word(c, "session"))
		word(c, "local");
	return 0;
}

/* SET ...: MY_L_OK when every assignment is one LMS ignores, MY_L_AC_OFF
 * or MY_L_AC_ON when autocommit is among them (the last one wins), else
 * MY_L_NONE. */
static uint8_t class_set(struct cur *c)
{
	uint8_t cls = MY_L_OK;
	do {
		if (word(c, "names") || (word(c, "character") && word(c, "set")) || word(c, "charset")) {
			size_t a, b;
			skip_value(c, &a, &b);
			continue;
		}
		if (scope(c) < 0)
			return MY_L_NONE;
		char name[64];
		if (ident(c, name, sizeof(name)) == 0 || !(punct(c, '=') || (punct(c, ':') && punct(c, '='))))
			return MY_L_NONE;
		size_t a, b;
		skip_value(c, &a, &b);
		if (strcasecmp(name, "autocommit") == 0) {
			const char *v = c->p + a;
			size_t l = b - a;
			if ((l == 1 && v[0] == '1') || (l == 2 && strncasecmp(v, "on", 2) == 0) ||
			    (l == 4 && strncasecmp(v, "true", 4) == 0)) {
				cls = MY_L_AC_ON;
				continue;
			}
			if ((l == 1 && v[0] == '0') || (l == 3 && strncasecmp(v, "off", 3) == 0) ||
			    (l == 5 && strncasecmp(v, "false", 5) == 0)) {
				cls = MY_L_AC_OFF;
				continue;
			}
			return MY_L_NONE;
		}
		int ok = 0;
		for (const char *const *g = ignored; *g; g++)
			if (strcasecmp(name, *g) == 0)
				ok = 1;
		if (!ok)
			return MY_L_NONE;
	} while (punct(c, ','));
	return at_end(c) ? cls : MY_L_NONE;
}

/* Variable k's value in this session (autocommit is the session's own). */
static const char *var_value(const struct my_sess *s, size_t k)
{
	if (strcmp(vars[k].name, "autocommit") == 0)
		return s->autocommit ? "1" : "0";
	const char *v = my_iso_value(s, vars[k].name);
	return v ? v : vars[k].value;
}

static int var_find(const char *name)
{
	for (size_t k = 0; k < NVARS; k++)
		if (strcasecmp(name, vars[k].name) == 0)
			return (int)k;
	return -1;
}

/* One item of SELECT @@a [AS x], @@b ...: its variable's index (-1
 * unknown) and the column name as written (or its alias). */
static int select_item(struct cur *c, int *var, size_t *from, size_t *to, char *alias, size_t cap)
{
	skip_ws(c);
	*from = c->i;
	if (c->n - c->i < 2 || c->p[c->i] != '@' || c->p[c->i + 1] != '@' || scope(c) < 0)
		return -1;
	char name[64];
	if (ident(c, name, sizeof(name)) == 0)
		return -1;
	*to = c->i;
	*var = var_find(name);
	alias[0] = 0;
	size_t save = c->i;
	if (word(c, "as")) {
		if (ident(c, alias, cap) == 0 && quoted(c, alias, cap) < 0)
			return -1;
	} else if (!word(c, "limit") && !word(c, "from")) {
		c->i = save;
		char t[64];
		struct cur d = *c;
		if (ident(&d, t, sizeof(t)) > 0)
			*c = d, snprintf(alias, cap, "%s", t);
	} else {
		c->i = save;
	}
	return 0;
}

/* SELECT @@var, ... [LIMIT n]: VARS, ERROR for an unknown variable, NONE
 * for anything else. */
static uint8_t class_select_vars(struct cur *c)
{
	uint8_t cls = MY_L_VARS;
	do {
		int var;
		size_t a, b;
		char alias[64];
		if (select_item(c, &var, &a, &b, alias, sizeof(alias)) < 0)
			return MY_L_NONE;
		if (var < 0)
			cls = MY_L_ERROR;
	} while (punct(c, ','));
	if (word(c, "limit")) {
		size_t a, b;
		skip_value(c, &a, &b);
	}
	return at_end(c) ? cls : MY_L_NONE;
}

uint8_t my_local_class(const uint8_t *pl, size_t n)
{
	if (n < 1)
		return MY_L_NONE;
	if (pl[0] == MY_COM_INIT_DB)
		return MY_L_INIT_DB;
	if (pl[0] != MY_COM_QUERY)
		return MY_L_NONE;
	struct cur c = { (const char *)pl + 1, n - 1, 0 };
	if (word(&c, "set")) {
		struct my_txc t;
		if (my_txn_chars(c.p, c.n, &t) == MY_TXC_NEXT)
			return MY_L_OK; /* kept for the next BEGIN (isolation.c) */
		return class_set(&c);
	}
	if (word(&c, "use")) {
		char db[80];
		return ident(&c, db, sizeof(db)) > 0 && at_end(&c) ? MY_L_INIT_DB : MY_L_NONE;
	}
	if (word(&c, "show")) {
		if (word(&c, "warnings"))
			return MY_L_WARNINGS;
		if (!word(&c, "session"))
			word(&c, "local");
		return word(&c, "variables") ? MY_L_SHOW : MY_L_NONE;
	}
	if (word(&c, "select")) {
		struct cur d = c;
		if (word(&d, "database") && punct(&d, '(') && punct(&d, ')') && at_end(&d))
			return MY_L_DATABASE;
		return class_select_vars(&c);
	}
	return MY_L_NONE;
}

/* ---- answers ---- */

static int all_digits(const char *v)
{
	if (!*v)
		return 0;
	for (; *v; v++)
		if (*v < '0' || *v > '9')
			return 0;
	return 1;
}

/* A result set of one row of ncol values, named names[k]. */
static void one_row(struct my_sess *s, struct my_pk *w, uint32_t ncol, const char *const *names,
		    const size_t *nl, const char *const *vals, uint16_t status)
{
	my_pk_begin(w);
	my_pk_lenenc(w, ncol);
	my_pk_end(w, s);
	for (uint32_t k = 0; k < ncol; k++) {
		int num = vals[k] && all_digits(vals[k]);
		my_pk_coldef(w, s, names[k], nl[k], num ? 8 : 253, num ? 63 : 45, num ? 20 : 1024,
			     num ? 0x8000 : 0, 0);
	}
	my_pk_defs_end(w, s, status);
	my_pk_begin(w);
	for (uint32_t k = 0; k < ncol; k++) {
		if (vals[k])
			my_pk_lenstr(w, vals[k], strlen(vals[k]));
		else
			my_pk_u8(w, 0xFB);
	}
	my_pk_end(w, s);
	my_pk_ok(w, s, 1, 0, 0, status);
}

#define VARS_MAX 64u

static void answer_vars(struct my_sess *s, const struct my_cmd *cmd, struct my_pk *w, uint16_t status)
{
	struct cur c = { cmd->prep, cmd->prep_len, 0 };
	const char *names[VARS_MAX], *vals[VARS_MAX];
	size_t nl[VARS_MAX];
	char alias[VARS_MAX][64];
	uint32_t k = 0;
	word(&c, "select");
	do {
		int var;
		size_t a, b;
		if (k == VARS_MAX || select_item(&c, &var, &a, &b, alias[k], sizeof(alias[k])) < 0 || var < 0)
			break;
		names[k] = alias[k][0] ? alias[k] : c.p + a;
		nl[k] = alias[k][0] ? strlen(alias[k]) : b - a;
		vals[k] = var_value(s, (size_t)var);
		k++;
	} while (punct(&c, ','));
	one_row(s, w, k, names, nl, vals, status);
}

/* Does pattern character p[*i] (with its escape) match t's c?  Moves *i
 * past it. */
static int like_one(const char *p, size_t *i, char c)
{
	char want = p[*i];
	if (want == '\\' && p[*i + 1]) {
		want = p[++*i];
	} else if (want == '_') {
		++*i;
		return 1;
	}
	++*i;
	return (want | 0x20) == (c | 0x20);
}

/* LIKE: % any run, _ one character, \ escapes; case-insensitive.  Greedy
 * with one backtrack point: O(pattern * text), whatever the pattern. */
static int like(const char *p, const char *t)
{
	size_t pi = 0, ti = 0, star = (size_t)-1, mark = 0;
	while (t[ti]) {
		if (p[pi] == '%') {
			star = ++pi;
			mark = ti;
			continue;
		}
		size_t next = pi;
		if (p[pi] && like_one(p, &next, t[ti])) {
			pi = next;
			ti++;
			continue;
		}
		if (star == (size_t)-1)
			return 0;
		pi = star;
		ti = ++mark;
	}
	while (p[pi] == '%')
		pi++;
	return p[pi] == 0;
}

#define WHERE_NAMES 32u

/* SHOW VARIABLES [LIKE 'pattern' | WHERE ... 'name' ...]: the variables
 * matching, or those named in quotes after WHERE. */
static void answer_show(struct my_sess *s, const struct my_cmd *cmd, struct my_pk *w, uint16_t status)
{
	struct cur c = { cmd->prep, cmd->prep_len, 0 };
	char pat[128] = "%";
	char names[WHERE_NAMES][64];
	uint32_t nn = 0;
	int where = 0;
	word(&c, "show");
	if (!word(&c, "session"))
		word(&c, "local");
	word(&c, "variables");
	if (word(&c, "like")) {
		quoted(&c, pat, sizeof(pat));
	} else if (word(&c, "where")) {
		where = 1; /* the names quoted in it, e.g. Variable_name IN ('a', 'b') */
		while (c.i < c.n && nn < WHERE_NAMES) {
			if (c.p[c.i] == '\'' || c.p[c.i] == '"') {
				if (quoted(&c, names[nn], sizeof(names[nn])) < 0)
					break;
				nn++;
			} else {
				c.i++;
			}
		}
	}
	my_pk_begin(w);
	my_pk_lenenc(w, 2);
	my_pk_end(w, s);
	my_pk_coldef(w, s, "Variable_name", 13, 253, 45, 256, 1, 0);
	my_pk_coldef(w, s, "Value", 5, 253, 45, 4096, 0, 0);
	my_pk_defs_end(w, s, status);
	for (size_t k = 0; k < NVARS; k++) {
		int hit = !where && like(pat, vars[k].name);
		for (uint32_t j = 0; where && j < nn; j++)
			hit |= strcasecmp(names[j], vars[k].name) == 0;
		if (!hit)
			continue;
		my_pk_begin(w);
		my_pk_lenstr(w, vars[k].name, strlen(vars[k].name));
		const char *v = var_value(s, k);
		my_pk_lenstr(w, v, strlen(v));
		my_pk_end(w, s);
	}
	my_pk_ok(w, s, 1, 0, 0, status);
}

static void answer_init_db(struct my_sess *s, const struct my_cmd *cmd, struct my_pk *w, uint16_t status)
{
	char db[80] = "";
	struct cur c = { cmd->prep, cmd->prep_len, 0 };
	if (cmd->cmd == MY_COM_INIT_DB) {
		size_t l = cmd->prep_len < sizeof(db) - 1 ? cmd->prep_len : sizeof(db) - 1;
		memcpy(db, cmd->prep, l);
		db[l] = 0;
	} else {
		word(&c, "use");
		ident(&c, db, sizeof(db));
	}
	if (strcmp(db, s->db) == 0) {
		my_pk_ok(w, s, 0, 0, 0, status);
		return;
	}
	char msg[256];
	snprintf(msg, sizeof(msg), "molt-lms: after the cutover this session can only use database '%.64s', not '%.64s'",
		 s->db, db);
	my_pk_err(w, s, 1049, "42000", msg);
}

void my_local_answer(struct my_sess *s, const struct my_cmd *cmd, struct my_pk *w, uint16_t status)
{
	if (cmd->local >= MY_L_STATISTICS) {
		my_cmd_answer(s, cmd, w, status); /* commands beyond queries */
		return;
	}
	if (!cmd->prep) {
		my_pk_err(w, s, 1037, "HY001", "molt-lms: out of memory");
		return;
	}
	switch (cmd->local) {
	case MY_L_OK:
	case MY_L_AC_OFF:
	case MY_L_AC_ON:
		my_pk_ok(w, s, 0, 0, 0, status);
		return;
	case MY_L_VARS:
		answer_vars(s, cmd, w, status);
		return;
	case MY_L_SHOW:
		answer_show(s, cmd, w, status);
		return;
	case MY_L_WARNINGS: {
		my_pk_begin(w);
		my_pk_lenenc(w, 3);
		my_pk_end(w, s);
		my_pk_coldef(w, s, "Level", 5, 253, 45, 28, 1, 0);
		my_pk_coldef(w, s, "Code", 4, 3, 63, 4, 0x8000 | 0x20 | 1, 0);
		my_pk_coldef(w, s, "Message", 7, 253, 45, 2048, 1, 0);
		my_pk_defs_end(w, s, status);
		my_pk_ok(w, s, 1, 0, 0, status);
		return;
	}
	case MY_L_DATABASE: {
		const char *name = "DATABASE()";
		size_t nl = 10;
		const char *val = s->db[0] ? s->db : NULL;
		one_row(s, w, 1, &name, &nl, &val, status);
		return;
	}
	case MY_L_INIT_DB:
		answer_init_db(s, cmd, w, status);
		return;
	default: {
		my_pk_err(w, s, 1193, "HY000", "molt-lms: unknown system variable (after the cutover LMS answers "
			  "only the variables listed in docs/mysql.md)");
		return;
	}
	}
}
