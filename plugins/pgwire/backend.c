/*
 * backend.c - the database's side of PostgreSQL protocol v3: TLS
 * negotiation, the relayed login (cancel keys rewritten, channel binding
 * withheld), then ready-for-query tracking.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "login.h"
#include "pgwire.h"

enum be_phase { BE_INIT = 0, BE_SSL_WAIT, BE_TYPED };

struct pg_be {
	int phase;
	uint32_t tls_mode;
	void *fe;          /* the session's frontend state, when it is ours */
	uint8_t proxy_key[8];
	uint8_t *startup;     /* kept only until it is sent (host->alloc) */
	size_t startup_len;
	int relay;            /* the client answers the login (else we do) */
	const struct lms_backend_conf *conf; /* our own credentials, borrowed */
	struct pg_scram scram;
	int observe;          /* the core compares this backend's results */
	struct pg_cols cols;  /* the last RowDescription, for be_observe */
	struct pg_track *track; /* prepared statements' columns (be_note_request) */
	int logged_in;        /* the login's ReadyForQuery came: answers follow */
	struct pg_ans *ans;   /* serving another family's client (be_answer) */
	struct pg_atom *atom; /* the client's transaction semantics (atomic.c) */
	struct pg_key *key;   /* INSERTs' generated keys (genkey.c) */
	struct pg_named *named; /* translated prepared statements (named.c) */
	struct pg_rerun *rerun; /* an execution to send again after 0A000 (rerun.c) */
	int named_failed;     /* out of memory once: everything unnamed */
	unsigned norm;        /* how values compare (PG_NORM_MYSQL: a MySQL client) */
};

void *pg_be_new(const struct lms_be_opts *opts)
{
	struct pg_be *be = pg_host->alloc(sizeof(*be));
	if (!be)
		return NULL;
	memset(be, 0, sizeof(*be));
	be->tls_mode = opts->conf->tls_mode;
	be->fe = opts->fe_state;
	be->relay = opts->relay_auth;
	be->conf = opts->conf;
	be->observe = opts->observe;
	memcpy(be->proxy_key, opts->proxy_key, 8);
	return be;
}

/* The startup message is sent: give its memory back. */
static void drop_startup(struct pg_be *be)
{
	if (be->startup)
		pg_host->free(be->startup);
	be->startup = NULL;
	be->startup_len = 0;
}

void pg_be_free(void *arg)
{
	struct pg_be *be = arg;
	if (!be)
		return;
	drop_startup(be);
	pg_cols_free(&be->cols);
	pg_track_free(be->track);
	pg_ans_free(be->ans);
	if (be->atom)
		pg_host->free(be->atom);
	if (be->key)
		pg_host->free(be->key);
	pg_named_free(be->named);
	if (be->rerun)
		pg_host->free(be->rerun);
	pg_host->free(be);
}

struct pg_named *pg_be_named(void *arg)
{
	struct pg_be *be = arg;
	if (!be->named && !be->named_failed) {
		be->named = pg_named_new();
		be->named_failed = be->named == NULL;
	}
	return be->named;
}

/* Append a "key\0value\0" pair; -1 when it does not fit. */
static int put_param(uint8_t *buf, size_t *len, const char *k, const char *v)
{
	size_t kl = strlen(k) + 1, vl = strlen(v) + 1;
	if (*len + kl + vl + 1 > PG_MAX_STARTUP)
		return -1;
	memcpy(buf + *len, k, kl);
	memcpy(buf + *len + kl, v, vl);
	*len += kl + vl;
	return 0;
}

/* Our own login for a pgwire client: its startup parameters (encoding,
 * DateStyle, TimeZone, ...: the shadow must format values as the source
 * does), with the URL's user, the client's database (or the URL's when
 * it gave none) and no replication. */
static int own_params(struct pg_be *be, const struct lms_startup *st, size_t *len)
{
	const char *k, *v, *db = NULL;
	size_t i = 8;
	while (pg_startup_next(st->raw, st->raw_len, &i, &k, &v) == 1)
		if (strcmp(k, "database") == 0 && *v)
			db = v;
	if (!db)
		db = be->conf->database ? be->conf->database : st->database;
	if (put_param(be->startup, len, "user", be->conf->user ? be->conf->user : "") < 0 ||
	    put_param(be->startup, len, "database", db ? db : "") < 0)
		return -1;
	i = 8;
	while (pg_startup_next(st->raw, st->raw_len, &i, &k, &v) == 1) {
		if (strcmp(k, "user") == 0 || strcmp(k, "database") == 0 || strcmp(k, "replication") == 0)
			continue;
		if (put_param(be->startup, len, k, v) < 0)
			return -1;
	}
	return 0;
}

/* A client of another wire family: its user (relayed) or the URL's, its
 * database (or the URL's). */
static int family_params(struct pg_be *be, const struct lms_startup *st, size_t *len)
{
	const char *user = be->relay ? st->user : be->conf->user;
	const char *db = st->database && *st->database ? st->database : be->conf->database;
	if (put_param(be->startup, len, "user", user ? user : "") < 0 ||
	    put_param(be->startup, len, "database", db ? db : "") < 0 ||
	    put_param(be->startup, len, "application_name", "molt-lms") < 0)
		return -1;
	return 0;
}

/* The startup message: the client's own bytes when it spoke pgwire and
 * answers the login itself, otherwise one built for our own login. */
static int build_startup(struct pg_be *be, const struct lms_startup *st)
{
	be->startup = pg_host->alloc(PG_MAX_STARTUP);
	if (!be->startup)
		return -1;
	int pgwire = st->family && strcmp(st->family, "pgwire") == 0 && st->raw && st->raw_len <= PG_MAX_STARTUP;
	be->norm = st->family && strcmp(st->family, "mysql") == 0 ? PG_NORM_MYSQL : 0;
	if (be->relay && pgwire) {
		memcpy(be->startup, st->raw, st->raw_len);
		be->startup_len = st->raw_len;
		return 0;
	}
	size_t len = 8;
	pg_put32(be->startup + 4, PG_PROTOCOL_3);
	if ((pgwire ? own_params(be, st, &len) : family_params(be, st, &len)) < 0)
		return -1;
	be->startup[len++] = 0;
	pg_put32(be->startup, (uint32_t)len);
	be->startup_len = len;
	return 0;
}

int pg_be_start(void *arg, int tls_active, const struct lms_startup *startup, struct lms_out *out,
		struct lms_result *res)
{
	struct pg_be *be = arg;
	if (be->phase == BE_INIT) {
		if (build_startup(be, startup) < 0) {
			res->action = LMS_ACT_FAIL;
			res->error.message = "startup parameters too long";
			return 0;
		}
		if (!tls_active && be->tls_mode != LMS_TLS_DISABLE) {
			pg_put32(out->data, 8);
			pg_put32(out->data + 4, PG_SSL_REQUEST);
			out->len = 8;
			be->phase = BE_SSL_WAIT;
			return 0;
		}
	}
	if (!be->startup) {
		res->action = LMS_ACT_FAIL;
		res->error.message = "startup message requested twice";
		return 0;
	}
	memcpy(out->data, be->startup, be->startup_len);
	out->len = be->startup_len;
	be->phase = BE_TYPED;
	drop_startup(be);
	return 0;
}

/* Is a server message of this type described for comparison (decoded
 * whole when observing)?  A switch: memchr per message showed up in the
 * profile of shadowed requests. */
static int be_observed(uint8_t type)
{
	switch (type) {
	case 'T':
	case 'D':
	case 'C':
	case 'E':
	case 'S':
	case 'n':
	case 'I':
	case 's':
		return 1;
	default:
		return 0;
	}
}

int pg_be_frame(void *arg, const uint8_t *p, size_t avail, struct lms_frame *f)
{
	struct pg_be *be = arg;
	if (be->phase == BE_SSL_WAIT) {
		if (avail < 1)
			return LMS_FRAME_NEED_MORE;
		f->len = 1;
		f->kind = LMS_MSG_STARTUP;
		f->flags = LMS_FRAME_NEED_BODY;
		return LMS_FRAME_OK;
	}
	if (be->phase != BE_TYPED)
		return LMS_FRAME_INVALID;
	int st = pg_frame_typed(p, avail, f);
	if (st != LMS_FRAME_OK)
		return st;
	switch (p[0]) {
	case 'R':
		f->kind = LMS_MSG_AUTH_REQUEST;
		f->flags = LMS_FRAME_NEED_BODY;
		if (f->len > LMS_DECODE_MAX)
			return LMS_FRAME_INVALID;
		break;
	case 'K':
	case 'Z':
		f->kind = p[0] == 'Z' ? LMS_MSG_READY : LMS_MSG_OTHER;
		f->flags = LMS_FRAME_NEED_BODY;
		if (f->len > 64)
			return LMS_FRAME_INVALID;
		break;
	case 'D':
		f->kind = LMS_MSG_ROW;
		break;
	case 'C':
		f->kind = LMS_MSG_COMPLETE;
		break;
	case 'E':
		f->kind = LMS_MSG_ERROR;
		break;
	case 'N':
		f->kind = LMS_MSG_NOTICE;
		break;
	case 'A':
	case 'S':
		f->kind = LMS_MSG_ASYNC;
		break;
	default:
		break;
	}
	if (be->observe && f->len <= LMS_DECODE_MAX && be_observed(p[0]))
		f->flags |= LMS_FRAME_NEED_BODY;
	if (be->atom && f->len <= LMS_DECODE_MAX && (p[0] == '1' || p[0] == '2' || p[0] == 'C' || p[0] == 'E'))
		f->flags |= LMS_FRAME_NEED_BODY; /* atomic.c counts them (an error beyond: not a statement of ours) */
	if (be->named && p[0] == 'E' && f->len <= LMS_DECODE_MAX)
		f->flags |= LMS_FRAME_NEED_BODY; /* settles named Parses (named.c) */
	return LMS_FRAME_OK;
}

static int be_fail(struct lms_result *res, const char *msg)
{
	res->verdict = LMS_DROP;
	res->action = LMS_ACT_FAIL;
	res->error.severity = "FATAL";
	res->error.sqlstate = "08004";
	res->error.message = msg;
	return 0;
}

/* The server's one-byte answer to SSLRequest. */
static int be_ssl_answer(struct pg_be *be, uint8_t c, struct lms_out *out, struct lms_result *res)
{
	if (c == 'S') {
		res->verdict = LMS_DROP;
		res->action = LMS_ACT_START_TLS;
		return 0;
	}
	if (c != 'N')
		return be_fail(res, "the database answered the TLS request with an unexpected byte");
	if (be->tls_mode != LMS_TLS_PREFER)
		return be_fail(res, "the database does not accept TLS, but the URL's sslmode requires it");
	if (!be->startup)
		return -1;
	memcpy(out->data, be->startup, be->startup_len);
	out->len = be->startup_len;
	be->phase = BE_TYPED;
	drop_startup(be);
	res->verdict = LMS_REPLY;
	return 0;
}

/* AuthenticationSASL: drop SCRAM-SHA-256-PLUS, whose channel binding is
 * tied to the database's own TLS certificate and cannot pass a proxy. */
static int be_sasl(struct pg_be *be, const uint8_t *msg, size_t len, struct lms_out *out,
		   struct lms_result *res)
{
	size_t i = 9, o = 9;
	int kept = 0;
	while (i < len && msg[i] != 0) {
		size_t n = strnlen((const char *)msg + i, len - i);
		if (i + n >= len)
			return -1;
		if (strcmp((const char *)msg + i, "SCRAM-SHA-256-PLUS") == 0) {
			if (be->fe)
				pg_fe_note_plus_withheld(be->fe);
		} else {
			if (o + n + 2 > LMS_OUT_MAX)
				return -1;
			memcpy(out->data + o, msg + i, n + 1);
			o += n + 1;
			kept++;
		}
		i += n + 1;
	}
	if (i >= len)
		return -1;
	if (!kept)
		return be_fail(res, i == 9 ? "the database offered no SASL mechanism"
					   : "the database offers only SCRAM with channel binding, which a proxy cannot relay");
	memcpy(out->data, msg, 9);
	out->data[o++] = 0;
	pg_put32(out->data + 1, (uint32_t)(o - 1));
	out->len = o;
	res->verdict = LMS_REWRITE;
	return 0;
}

/* Answer an AuthenticationRequest ourselves, with the URL's credentials. */
static int be_own_login(struct pg_be *be, uint32_t code, const uint8_t *msg, size_t len,
			struct lms_out *out, struct lms_result *res)
{
	const char *pw = be->conf->password ? be->conf->password : "";
	char data[512];
	res->verdict = LMS_REPLY;
	switch (code) {
	case 0:
		res->verdict = LMS_DROP;
		res->action = LMS_ACT_AUTH_OK;
		return be->scram.step == 1 || be->scram.step == 2 ? -1 : 0; /* SCRAM left unfinished */
	case 3:
		return pg_login_cleartext(pw, out);
	case 5:
		return len == 13 ? pg_login_md5(be->conf->user ? be->conf->user : "", pw, msg + 9, out) : -1;
	case 10:
		if (!memmem(msg + 9, len - 9, "SCRAM-SHA-256\0", 14))
			return be_fail(res, "the database offers no SASL mechanism molt-lms knows (SCRAM-SHA-256)");
		return pg_scram_begin(&be->scram, out);
	case 11:
	case 12:
		if (len - 9 >= sizeof(data))
			return -1;
		memcpy(data, msg + 9, len - 9);
		data[len - 9] = 0;
		if (code == 11)
			return pg_scram_continue(&be->scram, pw, data, out);
		res->verdict = LMS_DROP;
		if (pg_scram_finish(&be->scram, data) < 0)
			return be_fail(res, "the database's SCRAM signature is wrong: it does not know this password");
		return 0;
	default:
		return be_fail(res, "the database asked for an authentication method molt-lms cannot answer "
			       "(use scram-sha-256, md5 or password)");
	}
}

static int be_auth(struct pg_be *be, const uint8_t *msg, size_t len, struct lms_out *out,
		   struct lms_result *res)
{
	if (len < 9)
		return -1;
	uint32_t code = pg_get32(msg + 5);
	if (!be->relay)
		return be_own_login(be, code, msg, len, out, res);
	res->verdict = LMS_FORWARD;
	switch (code) {
	case 0:
		res->action = LMS_ACT_AUTH_OK;
		return 0;
	case 3:  /* cleartext */
	case 5:  /* md5 */
	case 11: /* SASL continue */
	case 12: /* SASL final */
		return 0;
	case 10:
		return be_sasl(be, msg, len, out, res);
	default:
		return be_fail(res, "the database asked for an authentication method (Kerberos, GSSAPI or SSPI) "
			       "that molt-lms cannot relay: use scram-sha-256, md5 or password in pg_hba.conf");
	}
}

/* A transaction rolled back by a class 40 error (atomic.c): send its
 * ROLLBACK now, in place of this ReadyForQuery. */
static int be_rollback_now(struct lms_out *out, struct lms_result *res)
{
	pg_atom_rollback_query(out);
	res->verdict = LMS_REPLY;
	return 0;
}

int pg_be_decode(void *arg, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res)
{
	struct pg_be *be = arg;
	if (be->phase == BE_SSL_WAIT)
		return len == 1 ? be_ssl_answer(be, msg[0], out, res) : -1;
	if (len < 5)
		return -1;
	/* A shadow may be sent requests while it logs in: the login's
	 * ReadyForQuery answers none of them. */
	if (be->logged_in) {
		pg_track_answer(be->track, msg, len);
		if (be->named)
			pg_named_answer(be->named, msg, len);
		pg_rerun_error(be->rerun, be->named, be->atom, msg, len);
	}
	int rollback = be->logged_in && be->atom ? pg_atom_decode(be->atom, msg, len) : 0;
	if (rollback < 0)
		return -1;
	if (be->key && be->logged_in)
		pg_key_decode(be->key, be->atom, msg, len);
	if (rollback) {
		if (be->named)
			pg_named_sent(be->named); /* the ROLLBACK owes a ReadyForQuery too */
		return be_rollback_now(out, res);
	}
	if (be->logged_in && msg[0] == 'Z' && be->rerun) {
		int again = pg_rerun_ready(be->rerun, be->named, be->atom, out);
		if (again < 0)
			return be_fail(res, "a prepared statement had to be parsed again (its table changed) while the "
				       "client's next request was already sent: the session ends so that no answer is "
				       "wrong; reconnect");
		if (again) {
			res->verdict = LMS_REPLY; /* the retry, in place of this hidden ReadyForQuery */
			return 0;
		}
	}
	switch (msg[0]) {
	case 'R':
		return be_auth(be, msg, len, out, res);
	case 'K':
		if (len != 13)
			return -1;
		memcpy(res->key, msg + 5, 8);
		res->key_len = 8;
		res->action = LMS_ACT_BACKEND_KEY;
		res->verdict = LMS_REWRITE;
		memcpy(out->data, msg, 5);
		memcpy(out->data + 5, be->proxy_key, 8);
		out->len = 13;
		return 0;
	case 'Z':
		if (len != 6)
			return -1;
		res->verdict = LMS_FORWARD;
		res->action = LMS_ACT_READY;
		be->logged_in = 1;
		res->txn = msg[5] == 'T' ? LMS_TXN_OPEN : msg[5] == 'E' ? LMS_TXN_FAILED : LMS_TXN_IDLE;
		if (be->atom)
			res->txn = pg_atom_txn(be->atom);
		return msg[5] == 'I' || msg[5] == 'T' || msg[5] == 'E' ? 0 : -1;
	default:
		res->verdict = LMS_FORWARD;
		return 0;
	}
}

/* Is the message just decoded for us alone, not for the client? */
static int hidden(const struct pg_be *be)
{
	return (be->atom && be->atom->hiding) || (be->key && be->key->hiding) || (be->rerun && be->rerun->hiding);
}

int pg_be_observe(void *arg, const uint8_t *msg, size_t len, struct lms_event *ev, lms_value_fn emit,
		  void *ctx)
{
	struct pg_be *be = arg;
	if (be->phase != BE_TYPED) {
		ev->kind = LMS_EV_NONE;
		return 0;
	}
	if (hidden(be)) {
		ev->kind = LMS_EV_NONE; /* answers a statement of ours (atomic.c, genkey.c, rerun.c) */
		return 0;
	}
	struct pg_cols *rows = msg[0] == 'D' ? pg_track_row_cols(be->track) : NULL;
	return pg_observe(rows ? rows : &be->cols, be->norm, msg, len, ev, emit, ctx);
}

int pg_be_answer(void *arg, const uint8_t *msg, size_t len, struct lms_answer *ans)
{
	struct pg_be *be = arg;
	if (be->phase != BE_TYPED) {
		ans->kind = LMS_ANS_NONE;
		return 0;
	}
	if (hidden(be)) {
		ans->kind = LMS_ANS_NONE; /* answers a statement of ours (atomic.c, genkey.c, rerun.c) */
		return 0;
	}
	if (be->atom && be->atom->commit_lost) {
		ans->kind = LMS_ANS_ERROR;
		memcpy(ans->sqlstate, "40000", 6);
		snprintf(ans->text, sizeof(ans->text), "%s",
			 "molt-lms: COMMIT was not done: the database had already aborted this transaction after an "
			 "earlier error, and rolled it back; nothing of it was written");
		return 0;
	}
	if (pg_answer(&be->ans, msg, len, ans) < 0)
		return -1;
	if (be->key)
		pg_key_answer(be->key, ans);
	return 0;
}

struct pg_key *pg_be_key(void *arg, int create)
{
	struct pg_be *be = arg;
	if (!be->key && create) {
		be->key = pg_host->alloc(sizeof(*be->key));
		if (be->key)
			pg_key_reset(be->key);
	}
	return be->key;
}

struct pg_rerun *pg_be_rerun(void *arg, int create)
{
	struct pg_be *be = arg;
	if (!be->rerun && create) {
		be->rerun = pg_host->alloc(sizeof(*be->rerun));
		if (be->rerun)
			memset(be->rerun, 0, sizeof(*be->rerun));
	}
	return be->rerun;
}

struct pg_atom *pg_be_atom(void *arg, int create)
{
	struct pg_be *be = arg;
	if (!be->atom && create) {
		be->atom = pg_host->alloc(sizeof(*be->atom));
		if (be->atom)
			pg_atom_reset(be->atom);
	}
	return be->atom;
}

void pg_be_note_request(void *arg, const uint8_t *msg, size_t len)
{
	struct pg_be *be = arg;
	if (be->observe && be->phase == BE_TYPED)
		pg_track_request(&be->track, msg, len);
}

int pg_be_cancel(const uint8_t *key, size_t key_len, struct lms_out *out)
{
	if (key_len != 8)
		return -1;
	pg_put32(out->data, 16);
	pg_put32(out->data + 4, PG_CANCEL_REQUEST);
	memcpy(out->data + 8, key, 8);
	out->len = 16;
	return 0;
}
