/*
 * isolation.c - a MySQL session's transaction characteristics (isolation
 * level, access mode) on a database of the PostgreSQL family, where
 * MySQL's statements for them mean something else.  PostgreSQL reads SET
 * SESSION TRANSACTION ... as SET TRANSACTION, which outside a transaction
 * only warns: the level asked for was never used.  So, in the common
 * request (struct lms_request.other_sql, ABI 1.9):
 *
 *   SET SESSION TRANSACTION <chars>,        SET SESSION CHARACTERISTICS AS
 *   SET [SESSION] transaction_isolation=x   TRANSACTION <chars>
 *   SET TRANSACTION <chars>,                kept for the next transaction:
 *   SET @@transaction_isolation = 'x'       a translated session answers it
 *                                           itself (local.c); the client's
 *                                           next BEGIN or START TRANSACTION
 *                                           alone gets <chars> appended;
 *                                           any other statement forgets it
 *
 * <chars>: ISOLATION LEVEL x, READ ONLY, READ WRITE, as both dialects
 * write them.  A session carried across the cutover to a new connection
 * has the session's SET there first (fe_switch_state); a shadow promoted
 * to serve it ran the SET already.  A session moved back to MariaDB at a
 * cut back gets SET SESSION TRANSACTION ... there, and SET autocommit=0
 * when its autocommit is off.  SELECT @@transaction_isolation (tx_isolation) and
 * @@transaction_read_only (tx_read_only) answer the session's (local.c).
 * A database of the client's own family gets the text as written.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mysql.h"

static const char *const pg_level[] = {
	[MY_ISO_READ_UNCOMMITTED] = "READ UNCOMMITTED",
	[MY_ISO_READ_COMMITTED] = "READ COMMITTED",
	[MY_ISO_REPEATABLE_READ] = "REPEATABLE READ",
	[MY_ISO_SERIALIZABLE] = "SERIALIZABLE",
};

static const char *const my_level[] = {
	[MY_ISO_READ_UNCOMMITTED] = "READ-UNCOMMITTED",
	[MY_ISO_READ_COMMITTED] = "READ-COMMITTED",
	[MY_ISO_REPEATABLE_READ] = "REPEATABLE-READ",
	[MY_ISO_SERIALIZABLE] = "SERIALIZABLE",
};

int my_iso_may_set(const char *sql, size_t len)
{
	return len >= 3 && strncasecmp(sql, "set", 3) == 0;
}

/* The characteristics t names, over *into. */
static void txc_merge(struct my_txc *into, const struct my_txc *t)
{
	if (t->level)
		into->level = t->level;
	if (t->access)
		into->access = t->access;
}

void my_iso_decoded(struct my_sess *s, const char *sql, size_t len)
{
	struct my_txc t;
	int scope = my_txn_chars(sql, len, &t);
	s->begin_txc.level = s->begin_txc.access = 0;
	if (scope != MY_TXC_NONE) {
		txc_merge(scope == MY_TXC_SESSION ? &s->iso : &s->next_txc, &t);
		return;
	}
	if (my_bare_begin(sql, len))
		s->begin_txc = s->next_txc; /* fe_request appends it */
	if (!my_iso_may_set(sql, len))
		s->next_txc.level = s->next_txc.access = 0; /* used, or a statement ran */
}

/* head, then the characteristics of t, into out[0..cap): its length, 0
 * when it does not fit. */
static size_t put_text(char *out, size_t cap, const char *head, const struct my_txc *t)
{
	int n = snprintf(out, cap, "%s%s%s%s%s", head, t->level ? " ISOLATION LEVEL " : "",
			 t->level ? pg_level[t->level] : "", t->level && t->access ? "," : "",
			 t->access == MY_ACCESS_READ_ONLY	 ? " READ ONLY"
			 : t->access == MY_ACCESS_READ_WRITE ? " READ WRITE"
							     : "");
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void put_other(struct my_sess *s, const char *head, const struct my_txc *t)
{
	s->other_len = put_text(s->other, sizeof(s->other), head, t);
}

void my_iso_request(struct my_sess *s, struct lms_request *req)
{
	struct my_txc t;
	s->other_len = 0;
	if (my_txn_chars(req->sql, req->sql_len, &t) == MY_TXC_SESSION) {
		put_other(s, "SET SESSION CHARACTERISTICS AS TRANSACTION", &t);
	} else {
		int begin = my_bare_begin(req->sql, req->sql_len);
		if (!begin || (!s->begin_txc.level && !s->begin_txc.access))
			return;
		put_other(s, begin == MY_BEGIN_BEGIN ? "BEGIN" : "START TRANSACTION", &s->begin_txc);
	}
	if (s->other_len) {
		req->other_sql = s->other;
		req->other_sql_len = s->other_len;
	}
}

void my_iso_forget(struct my_sess *s)
{
	memset(&s->iso, 0, sizeof(s->iso));
	memset(&s->next_txc, 0, sizeof(s->next_txc));
	memset(&s->begin_txc, 0, sizeof(s->begin_txc));
}

const char *my_iso_value(const struct my_sess *s, const char *name)
{
	if (s->iso.level && (strcmp(name, "transaction_isolation") == 0 || strcmp(name, "tx_isolation") == 0))
		return my_level[s->iso.level];
	if (s->iso.access && (strcmp(name, "transaction_read_only") == 0 || strcmp(name, "tx_read_only") == 0))
		return s->iso.access == MY_ACCESS_READ_ONLY ? "1" : "0";
	return NULL;
}

/* The session's isolation level and access mode, in both families' words. */
static int iso_state(struct my_sess *s, struct lms_request *req)
{
	put_other(s, "SET SESSION CHARACTERISTICS AS TRANSACTION", &s->iso);
	size_t n = put_text(s->state_sql, sizeof(s->state_sql), "SET SESSION TRANSACTION", &s->iso);
	if (!s->other_len || !n)
		return 0;
	memset(req, 0, sizeof(*req));
	req->kind = LMS_REQ_QUERY;
	req->sql = s->state_sql; /* the client's words, for its own family */
	req->sql_len = n;
	req->other_sql = s->other;
	req->other_sql_len = s->other_len;
	req->flags = LMS_REQ_STMT_ATOMIC;
	return 1;
}

int my_fe_switch_state(void *fe, uint32_t k, struct lms_request *req)
{
	static const char ac_off[] = "SET autocommit=0";
	struct my_sess *s = fe;
	uint32_t iso = s->iso.level || s->iso.access;
	if (k < iso)
		return iso_state(s, req);
	k -= iso;
	/* what follows is MariaDB's own state, for a session relayed there
	 * again (moved back); a translated one's autocommit is molt-lms's
	 * (request.c: a BEGIN before its first statement) and its statements
	 * are prepared where they run */
	if (s->translated)
		return 0;
	if (s->moved_ac_off && k == 0) {
		memset(req, 0, sizeof(*req));
		req->kind = LMS_REQ_QUERY;
		req->sql = ac_off;
		req->sql_len = sizeof(ac_off) - 1;
		req->flags = LMS_REQ_STMT_ATOMIC;
		return 1;
	}
	return my_remap_state(s, k - (s->moved_ac_off != 0), req);
}
