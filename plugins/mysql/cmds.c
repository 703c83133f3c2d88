/*
 * cmds.c - the MySQL commands other than queries that a session served by
 * a database of another wire family (ABI 1.4, translated) still gets
 * right, as a MySQL server answers them:
 *
 *   COM_STMT_SEND_LONG_DATA  its chunks are kept per statement and
 *                            parameter (at most MY_LONG_DATA_MAX per
 *                            session; no answer); the next execution
 *                            uses them as those parameters' values, then
 *                            forgets them; COM_STMT_RESET forgets them too
 *   COM_STMT_EXECUTE with    column count and definitions, then EOF (OK
 *   a read-only cursor       0xFE with CLIENT_DEPRECATE_EOF) with
 *                            SERVER_STATUS_CURSOR_EXISTS; the rows are kept
 *                            here (at most MY_CURSOR_MAX per session)
 *   COM_STMT_FETCH           the next rows, then EOF with CURSOR_EXISTS, or
 *                            LAST_ROW_SENT once the rows ran out
 *   COM_CHANGE_USER          an auth switch request (mysql_native_password,
 *                            a fresh scramble); the answer is verified as an
 *                            own login is (login.c, credential_of): OK and
 *                            a fresh session (statements forgotten), or ERR
 *                            1045 and the connection ends
 *   COM_STATISTICS           a status string
 *   COM_FIELD_LIST           ERR 1235 (deprecated; information_schema)
 *
 * Answers written here still follow an empty round trip to the database
 * (s->local_req, request.c), so that they keep their place among the
 * others (local.c does the same for queries).  Long data is also kept
 * while a shadow of another family needs it to describe the execution.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mysql.h"

#define NATIVE "mysql_native_password"

/* ---- long data ---- */

/* Forget st's long data (not the flag saying some came). */
static void long_free(struct my_sess *s, struct my_stmt *st)
{
	if (!st->ld)
		return;
	for (uint32_t k = 0; k < st->nparams; k++) {
		if (st->ld[k].data)
			my_host->free(st->ld[k].data);
		s->ld_bytes -= st->ld[k].len;
	}
	my_host->free(st->ld);
	st->ld = NULL;
}

/* Append p[0..n) to l; -1 when out of memory. */
static int long_append(struct my_long *l, const uint8_t *p, size_t n)
{
	if (n > l->cap - l->len) {
		size_t cap = l->cap ? l->cap : 256;
		while (cap - l->len < n)
			cap *= 2;
		uint8_t *d = my_host->alloc(cap);
		if (!d)
			return -1;
		if (l->len)
			memcpy(d, l->data, l->len);
		if (l->data)
			my_host->free(l->data);
		l->data = d;
		l->cap = cap;
	}
	if (n)
		memcpy(l->data + l->len, p, n);
	l->len += n;
	return 0;
}

/* Payload: command, statement id (4), parameter (2), the chunk. */
void my_long_data_add(struct my_sess *s, const uint8_t *pl, size_t n)
{
	if (n < 7)
		return;
	struct my_stmt *st = my_stmt_find(s, my_le32(pl + 1));
	if (!st)
		return; /* unknown: its execution fails anyway */
	st->long_data = 1;
	uint32_t k = my_le16(pl + 5);
	size_t chunk = n - 7;
	if (st->ld_over || (!s->translated && !s->observe))
		return; /* relayed and not shadowed: MySQL keeps it (a cutover
			   never falls between long data and its execution) */
	if (k >= st->nparams || chunk > MY_LONG_DATA_MAX - s->ld_bytes) {
		long_free(s, st);
		st->ld_over = 1;
		return;
	}
	if (!st->ld) {
		st->ld = my_host->alloc(st->nparams * sizeof(*st->ld));
		if (!st->ld) {
			st->ld_over = 1;
			return;
		}
		memset(st->ld, 0, st->nparams * sizeof(*st->ld));
	}
	if (long_append(&st->ld[k], pl + 7, chunk) < 0) {
		long_free(s, st);
		st->ld_over = 1;
		return;
	}
	st->ld[k].sent = 1;
	s->ld_bytes += chunk;
}

void my_long_data_lost(struct my_sess *s, const uint8_t *p, size_t avail)
{
	if (avail < MY_HDR + 5)
		return;
	struct my_stmt *st = my_stmt_find(s, my_le32(p + MY_HDR + 1));
	if (!st)
		return;
	st->long_data = 1;
	long_free(s, st);
	st->ld_over = 1;
}

void my_exec_ld_free(struct my_sess *s)
{
	if (!s->exec_ld)
		return;
	for (uint32_t k = 0; k < s->exec_ld_n; k++)
		if (s->exec_ld[k].data)
			my_host->free(s->exec_ld[k].data);
	my_host->free(s->exec_ld);
	s->exec_ld = NULL;
	s->exec_ld_n = 0;
}

/* MySQL forgets long data once a statement executes: the execution just
 * decoded takes it.  Returns 1 when it was lost or too big (the execution
 * cannot be described), else 0. */
int my_long_data_take(struct my_sess *s, struct my_stmt *st)
{
	int over = st->ld_over;
	my_exec_ld_free(s);
	if (st->ld) {
		for (uint32_t k = 0; k < st->nparams; k++)
			s->ld_bytes -= st->ld[k].len;
		s->exec_ld = st->ld;
		s->exec_ld_n = st->nparams;
		s->exec_ld_stmt = st->id;
		st->ld = NULL;
	}
	st->ld_over = 0;
	st->long_data = 0;
	return over;
}

/* ---- cursors ---- */

static void cursor_free(struct my_sess *s, struct my_cursor *c)
{
	if (c->buf)
		my_host->free(c->buf);
	s->cur_bytes -= c->len;
	memset(c, 0, sizeof(*c));
}

void my_stmt_extras_free(struct my_sess *s, struct my_stmt *st)
{
	long_free(s, st);
	st->ld_over = 0;
	cursor_free(s, &st->cur);
}

/* Append p[0..n) to c within the session's budget; -1 when over it. */
static int cursor_append(struct my_sess *s, struct my_cursor *c, const uint8_t *p, size_t n)
{
	if (n > MY_CURSOR_MAX - s->cur_bytes)
		return -1;
	if (n > c->cap - c->len) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap - c->len < n)
			cap *= 2;
		uint8_t *d = my_host->alloc(cap);
		if (!d)
			return -1;
		if (c->len)
			memcpy(d, c->buf, c->len);
		if (c->buf)
			my_host->free(c->buf);
		c->buf = d;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	s->cur_bytes += n;
	return 0;
}

void my_cursor_drop(struct my_sess *s)
{
	struct my_ans *x = &s->ans;
	if (x->cur) {
		cursor_free(s, x->cur);
		my_host->free(x->cur);
	}
	x->cur = NULL;
	x->cur_over = 0;
	s->to_client = x->cmd.first_seq; /* what follows replaces the answer */
}

int my_cursor_defs(struct my_sess *s, struct my_pk *w, size_t at)
{
	struct my_ans *x = &s->ans;
	if (w->bad || x->cur)
		return -1; /* one result set per execution */
	x->cur = my_host->alloc(sizeof(*x->cur));
	if (!x->cur)
		return -1;
	memset(x->cur, 0, sizeof(*x->cur));
	if (cursor_append(s, x->cur, w->buf + at, w->len - at) < 0) {
		x->cur_over = 1;
		cursor_free(s, x->cur);
	}
	x->cur->off = x->cur->len; /* rows start after the definitions */
	x->cur_seq = s->to_client;
	w->len = at;
	return 0;
}

int my_cursor_row(struct my_sess *s, struct my_pk *w, size_t at)
{
	struct my_ans *x = &s->ans;
	if (w->bad || !x->cur)
		return -1;
	if (!x->cur_over && cursor_append(s, x->cur, w->buf + at, w->len - at) < 0) {
		x->cur_over = 1;
		cursor_free(s, x->cur); /* nothing of it will be sent: give the memory back now */
	}
	w->len = at;
	return 0;
}

void my_cursor_ready(struct my_sess *s, struct my_pk *w, uint16_t status)
{
	struct my_ans *x = &s->ans;
	if (x->cur_over) {
		my_cursor_drop(s);
		char msg[200];
		snprintf(msg, sizeof(msg), "molt-lms: the rows of this cursor exceed the %u MiB molt-lms keeps per "
			 "session since the cutover; select fewer rows or execute without a cursor",
			 MY_CURSOR_MAX >> 20);
		my_pk_err(w, s, 1114, "HY000", msg);
		return;
	}
	struct my_cursor *c = x->cur;
	my_pk_bytes(w, c->buf, c->off); /* count and definitions, their sequence ids set */
	s->to_client = x->cur_seq;
	my_pk_ok(w, s, 1, 0, 0, (uint16_t)(status | MY_ST_CURSOR_EXISTS));
	struct my_stmt *st = my_stmt_find(s, x->cmd.stmt);
	if (st && !w->bad) {
		cursor_free(s, &st->cur); /* (closed when the execution was decoded) */
		st->cur = *c;             /* its bytes stay counted in s->cur_bytes */
		st->cur.open = 1;
	} else {
		cursor_free(s, c);
	}
	my_host->free(c);
	x->cur = NULL;
}

/* COM_STMT_FETCH: up to c->nrows rows, as many as fit in w. */
static void answer_fetch(struct my_sess *s, const struct my_cmd *c, struct my_pk *w, uint16_t status)
{
	char msg[160];
	struct my_stmt *st = my_stmt_find(s, c->stmt);
	if (!st) {
		snprintf(msg, sizeof(msg), "Unknown prepared statement handler (%u) given to mysqld_stmt_fetch", c->stmt);
		my_pk_err(w, s, 1243, "HY000", msg);
		return;
	}
	struct my_cursor *cur = &st->cur;
	if (!cur->open) {
		snprintf(msg, sizeof(msg), "The statement (%u) has no open cursor.", c->stmt);
		my_pk_err(w, s, 1421, "HY000", msg);
		return;
	}
	uint32_t sent = 0;
	while (sent < c->nrows && cur->off + MY_HDR <= cur->len) {
		size_t n = MY_HDR + (size_t)my_le24(cur->buf + cur->off);
		if (n > cur->len - cur->off || n + 64 > w->cap - w->len)
			break; /* no room: the client fetches the rest next time */
		size_t at = w->len;
		my_pk_bytes(w, cur->buf + cur->off, n);
		w->buf[at + 3] = s->to_client++;
		cur->off += n;
		sent++;
	}
	int last = sent < c->nrows && cur->off >= cur->len;
	my_pk_ok(w, s, 1, 0, 0, (uint16_t)(status | (last ? MY_ST_LAST_ROW_SENT : MY_ST_CURSOR_EXISTS)));
	if (last)
		cursor_free(s, cur); /* MySQL closes a cursor read to its end */
}

/* ---- COM_CHANGE_USER ---- */

/* Payload: command, user (NUL), the auth answer (one length byte with
 * CLIENT_SECURE_CONNECTION, else NUL-terminated), database (NUL), then
 * charset (2) and the client's plugin (NUL).  The user, database and, for
 * mysql_native_password, the answer (into resp, its length in *rlen;
 * *rlen > MY_SCRAMBLE_LEN when it cannot be checked here).  Returns 0, or
 * -1 when malformed. */
static int change_user_parse(struct my_sess *s, const uint8_t *pl, size_t n, uint8_t *resp, size_t *rlen)
{
	s->cu_user[0] = 0;
	s->cu_db[0] = 0;
	*rlen = MY_SCRAMBLE_LEN + 1;
	size_t off = 1;
	const uint8_t *nul = off < n ? memchr(pl + off, 0, n - off) : NULL;
	if (!nul || (size_t)(nul - (pl + off)) >= sizeof(s->cu_user))
		return -1;
	memcpy(s->cu_user, pl + off, (size_t)(nul - (pl + off)) + 1);
	off = (size_t)(nul - pl) + 1;
	size_t alen;
	const uint8_t *auth;
	if (s->caps & MY_CAP_SECURE_CONNECTION) {
		if (off >= n || pl[off] > n - off - 1)
			return -1;
		alen = pl[off];
		auth = pl + off + 1;
		off += 1 + alen;
	} else {
		nul = off < n ? memchr(pl + off, 0, n - off) : NULL;
		if (!nul)
			return -1;
		alen = (size_t)(nul - (pl + off));
		auth = pl + off;
		off = (size_t)(nul - pl) + 1;
	}
	if (off < n) {
		nul = memchr(pl + off, 0, n - off);
		if (!nul || (size_t)(nul - (pl + off)) >= sizeof(s->cu_db))
			return -1;
		memcpy(s->cu_db, pl + off, (size_t)(nul - (pl + off)) + 1);
		off = (size_t)(nul - pl) + 1;
	}
	int native = 1;
	if (off + 2 < n && (s->caps & MY_CAP_PLUGIN_AUTH)) {
		off += 2; /* charset */
		nul = memchr(pl + off, 0, n - off);
		native = !nul || ((size_t)(nul - (pl + off)) == sizeof(NATIVE) - 1 &&
				  memcmp(pl + off, NATIVE, sizeof(NATIVE) - 1) == 0);
	}
	if (native && (alen == 0 || alen == MY_SCRAMBLE_LEN)) {
		memcpy(resp, auth, alen);
		*rlen = alen;
	}
	return 0;
}

int my_change_user_names(struct my_sess *s, const uint8_t *pl, size_t n)
{
	uint8_t resp[MY_SCRAMBLE_LEN];
	size_t rlen;
	return change_user_parse(s, pl, n, resp, &rlen);
}

void my_name_session(struct my_sess *s, struct lms_result *res)
{
	if (my_host->abi_minor < 9 || !s->login_user[0])
		return;
	res->startup.family = "mysql";
	res->startup.user = s->login_user;
	res->startup.database = s->db;
}

/* The session starts afresh as the new user: statements, long data and
 * cursors are gone.  The OK follows a round trip (RESET). */
static void change_user_accept(struct my_sess *s, struct my_cmd *c)
{
	my_stmt_clear(s);
	s->autocommit = 1;
	snprintf(s->login_user, sizeof(s->login_user), "%s", s->cu_user);
	snprintf(s->db, sizeof(s->db), "%s", s->cu_db);
	if (c)
		c->local = MY_L_USER_OK;
	s->local_req = LMS_REQ_RESET;
}

/* A COM_CHANGE_USER, translated: verified at once against the session's
 * scramble when the client answered it for mysql_native_password (as a
 * MySQL server does), else answered with a switch request. */
static void change_user_decoded(struct my_sess *s, struct my_cmd *c, const uint8_t *pl, size_t n)
{
	uint8_t resp[MY_SCRAMBLE_LEN];
	size_t rlen;
	s->cu_verdict = 0;
	s->local_req = LMS_REQ_PING;
	if (change_user_parse(s, pl, n, resp, &rlen) < 0) {
		s->cu_verdict = -1;
		snprintf(s->cu_why, sizeof(s->cu_why), "malformed COM_CHANGE_USER");
	} else if (s->scramble_known && rlen <= MY_SCRAMBLE_LEN) {
		int ok = my_login_check(s->cu_user, s->client_ip, s->scramble, resp, rlen, s->cu_why,
					sizeof(s->cu_why)) == 0;
		s->cu_verdict = ok ? 1 : -1;
	}
	if (c)
		c->local = s->cu_verdict < 0 ? MY_L_USER_DENIED : MY_L_CHANGE_USER;
	if (s->cu_verdict > 0)
		change_user_accept(s, c);
}

/* ERR 1045 for the user asked, with why, sequence id seq. */
static void deny_text(struct my_sess *s, char *text, size_t cap)
{
	snprintf(text, cap, "Access denied for user '%.127s'@'%.47s' (molt-lms: %.400s)", s->cu_user,
		 s->client_ip[0] ? s->client_ip : "unknown", s->cu_why);
}

int my_change_user_refuse_now(struct my_sess *s, struct lms_out *out, struct lms_result *res)
{
	if (s->q_len != 1 || s->ans.started)
		return 0; /* answers are owed first: ERR in turn (MY_L_USER_DENIED) */
	char text[640];
	deny_text(s, text, sizeof(text));
	my_err_packet(out, 1, 1045, "28000", text, 1);
	s->q_len = 0;
	s->local_req = 0;
	res->verdict = LMS_REPLY;
	res->action = LMS_ACT_CLOSE; /* the session ends, as after a failed login */
	s->state = MY_S_CLOSED;
	return 0;
}

/* The switch request: mysql_native_password and the session's scramble
 * (MySQL servers resend theirs; libmariadb answers a change of user with
 * the first one whatever the request says).  The client's answer is the
 * next packet (frontend.c frames it, my_change_user_answer). */
static void answer_change_user(struct my_sess *s, struct my_pk *w)
{
	if (!s->scramble_known) {
		if (my_login_scramble(s->scramble) < 0) {
			my_pk_err(w, s, 1037, "HY001", "molt-lms: no random bytes for a scramble");
			return;
		}
		s->scramble_known = 1;
	}
	memcpy(s->cu_scramble, s->scramble, MY_SCRAMBLE_LEN);
	my_pk_begin(w);
	my_pk_u8(w, 0xFE);
	my_pk_bytes(w, NATIVE, sizeof(NATIVE));
	my_pk_bytes(w, s->cu_scramble, MY_SCRAMBLE_LEN);
	my_pk_u8(w, 0);
	my_pk_end(w, s);
	s->cu_pending = 1;
	s->owes = MY_OWES_AUTH;
	s->cseq = s->to_client;
}

int my_change_user_answer(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out,
			  struct lms_result *res)
{
	uint8_t seq = msg[3];
	char text[640];
	s->cu_pending = 0;
	s->owes = MY_OWES_NOTHING;
	s->local_req = 0;
	if (my_login_check(s->cu_user, s->client_ip, s->cu_scramble, msg + MY_HDR, len - MY_HDR, s->cu_why,
			   sizeof(s->cu_why)) < 0) {
		deny_text(s, text, sizeof(text));
		my_err_packet(out, (uint8_t)(seq + 1), 1045, "28000", text, 1);
		res->verdict = LMS_REPLY;
		res->action = LMS_ACT_CLOSE; /* the session ends, as after a failed login */
		s->state = MY_S_CLOSED;
		return 0;
	}
	if (my_queue_push(s, MY_COM_CHANGE_USER, (uint8_t)(seq + 1)) < 0)
		return -1;
	change_user_accept(s, &s->queue[(s->q_head + s->q_len - 1) % MY_QUEUE]);
	s->cseq = 0;
	res->verdict = LMS_FORWARD;
	my_name_session(s, res);
	return 0;
}

/* ---- the rest ---- */

/* When mysql.so was loaded, for COM_STATISTICS's uptime. */
static time_t loaded;

static void answer_statistics(struct my_sess *s, struct my_pk *w)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	now.tv_sec = 1; /* fuzzers replay inputs: the same answer every time */
#endif
	if (!loaded)
		loaded = now.tv_sec; /* a benign race: any worker's first answer */
	char text[256];
	int k = snprintf(text, sizeof(text), "Uptime: %lld  Threads: 1  Questions: 0  Slow queries: 0  Opens: 0  "
			 "Open tables: 0  Queries per second avg: 0.000  (molt-lms: served by a PostgreSQL-protocol "
			 "database since the cutover)", (long long)(now.tv_sec - loaded));
	my_pk_begin(w);
	my_pk_bytes(w, text, k > 0 && (size_t)k < sizeof(text) ? (size_t)k : 0);
	my_pk_end(w, s);
}

void my_cmd_answer(struct my_sess *s, const struct my_cmd *c, struct my_pk *w, uint16_t status)
{
	char msg[200];
	switch (c->local) {
	case MY_L_STATISTICS:
		answer_statistics(s, w);
		return;
	case MY_L_FIELD_LIST:
		my_pk_err(w, s, 1235, "42000", "molt-lms: COM_FIELD_LIST (deprecated) is not served since the cutover; "
			  "query information_schema.columns instead");
		return;
	case MY_L_FETCH:
		answer_fetch(s, c, w, status);
		return;
	case MY_L_SET_OPTION:
		my_pk_ok(w, s, 1, 0, 0, status); /* MySQL answers it with an EOF */
		return;
	case MY_L_BAD_OPTION:
		my_pk_err(w, s, 1047, "08S01", "Unknown command");
		return;
	case MY_L_CHANGE_USER:
		answer_change_user(s, w);
		return;
	case MY_L_USER_OK:
		my_pk_ok(w, s, 0, 0, 0, status);
		return;
	case MY_L_USER_DENIED: {
		char text[640];
		deny_text(s, text, sizeof(text));
		my_pk_err(w, s, 1045, "28000", text);
		s->state = MY_S_CLOSED; /* whatever the client sends next ends the session */
		s->to_client = 1;       /* (with an ERR answering it) */
		return;
	}
	case MY_L_LONG_ERR:
		snprintf(msg, sizeof(msg), "Got a packet bigger than 'max_allowed_packet' bytes (molt-lms: the long data "
			 "of this execution is over what it translates since the cutover: %u KiB in all)",
			 MY_LONG_DATA_MAX >> 10);
		my_pk_err(w, s, 1153, "08S01", msg);
		return;
	default:
		my_pk_err(w, s, 1105, "HY000", "molt-lms: no local answer for this command");
		return;
	}
}

/* The command just queued (answered commands only). */
static struct my_cmd *last_cmd(struct my_sess *s)
{
	return s->q_len ? &s->queue[(s->q_head + s->q_len - 1) % MY_QUEUE] : NULL;
}

void my_cmd_decoded(struct my_sess *s, struct my_stmt *st, const uint8_t *pl, size_t n, int long_over)
{
	struct my_cmd *c = last_cmd(s);
	uint8_t local = MY_L_NONE;
	switch (pl[0]) {
	case MY_COM_STATISTICS:
		local = MY_L_STATISTICS;
		break;
	case MY_COM_FIELD_LIST:
		local = MY_L_FIELD_LIST;
		break;
	case MY_COM_SET_OPTION:
		/* MYSQL_OPTION_MULTI_STATEMENTS_ON (0) or _OFF (1): PostgreSQL
		 * runs several statements in one query either way */
		local = n == 3 && my_le16(pl + 1) <= 1 ? MY_L_SET_OPTION : MY_L_BAD_OPTION;
		break;
	case MY_COM_STMT_FETCH:
		local = MY_L_FETCH;
		if (c) {
			c->stmt = n >= 5 ? my_le32(pl + 1) : 0;
			c->nrows = n >= 9 ? my_le32(pl + 5) : 0;
		}
		break;
	case MY_COM_CHANGE_USER:
		if (c && c->cmd == pl[0])
			change_user_decoded(s, c, pl, n);
		return;
	case MY_COM_STMT_EXECUTE:
		if (!st)
			return;
		cursor_free(s, &st->cur); /* a new execution closes its cursor */
		if (long_over)
			local = MY_L_LONG_ERR;
		else if (c && n >= 6 && (pl[5] & 0x1u)) {
			c->cursor = 1;
			c->stmt = st->id;
		}
		break;
	default:
		return;
	}
	if (local && c && c->cmd == pl[0]) {
		c->local = local;
		s->local_req = LMS_REQ_PING;
	}
}
