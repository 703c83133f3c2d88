/*
 * frontend.c - the application's side of PostgreSQL protocol v3:
 * SSLRequest/GSSENCRequest, StartupMessage, CancelRequest, then typed
 * messages streamed to the database untouched.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "pgwire.h"

enum fe_phase { FE_STARTUP = 0, FE_TYPED = 1 };

struct pg_fe {
	int phase;
	int tls_available;
	int tls_required;
	int is_tls;
	uint8_t *startup30; /* the startup rewritten to protocol 3.0, if needed */
	int check_sasl;     /* look at the next SASLInitialResponse */
	struct pg_stmts *stmts; /* fingerprints, only when the core observes fully */
	int observe_state;      /* LMS_OBSERVE_STATE: session-state flags only */
	char last[256];         /* ... and the start of the latest statement's text */
	size_t last_len;
};

void pg_fe_note_plus_withheld(void *arg)
{
	struct pg_fe *fe = arg;
	fe->check_sasl = fe->is_tls;
}

void *pg_fe_new(const struct lms_fe_opts *opts)
{
	struct pg_fe *fe = pg_host->alloc(sizeof(*fe));
	if (!fe)
		return NULL;
	memset(fe, 0, sizeof(*fe));
	fe->tls_available = opts->tls_available;
	fe->tls_required = opts->tls_required;
	fe->observe_state = opts->observe == LMS_OBSERVE_STATE;
	if (opts->observe == LMS_OBSERVE_FULL && !(fe->stmts = pg_stmts_new())) {
		pg_host->free(fe);
		return NULL;
	}
	return fe;
}

void pg_fe_free(void *arg)
{
	struct pg_fe *fe = arg;
	if (!fe)
		return;
	if (fe->startup30)
		pg_host->free(fe->startup30);
	pg_stmts_free(fe->stmts);
	pg_host->free(fe);
}

int pg_fe_accept(void *fe, struct lms_out *out, struct lms_result *res)
{
	(void)fe;
	(void)out;
	res->action = LMS_ACT_NONE; /* the client speaks first */
	return 0;
}

void pg_fe_tls_done(void *arg)
{
	struct pg_fe *fe = arg;
	fe->is_tls = 1;
}

int pg_fe_error(void *fe, const struct lms_error *err, struct lms_out *out)
{
	(void)fe;
	return pg_error_response(err, out);
}

/* Classify a typed client message for the core. */
static void fe_classify(uint8_t type, struct lms_frame *f)
{
	switch (type) {
	case 'Q':
	case 'F':
		f->kind = LMS_MSG_QUERY;
		f->flags = LMS_FRAME_ENDS_REQUEST;
		break;
	case 'S':
		f->kind = LMS_MSG_SYNC;
		f->flags = LMS_FRAME_ENDS_REQUEST;
		break;
	case 'P':
	case 'B':
	case 'D':
	case 'E':
	case 'C':
	case 'H':
		f->kind = LMS_MSG_EXTENDED;
		break;
	case 'd':
	case 'c':
	case 'f':
		f->kind = LMS_MSG_COPY;
		break;
	case 'X':
		f->kind = LMS_MSG_TERMINATE;
		break;
	case 'p':
		f->kind = LMS_MSG_AUTH;
		break;
	default:
		f->kind = LMS_MSG_OTHER;
		break;
	}
}

static void keep_statement(struct pg_fe *fe, const uint8_t *msg, size_t len);

/* A message too big to decode streams past undecoded: name its statement
 * from the n bytes of it at hand (the core asks with fe_statement). */
static void keep_oversized(struct pg_fe *fe, const uint8_t *p, size_t n)
{
	if (p[0] == 'd')
		return; /* COPY data: its request was named by its Query */
	if (fe->stmts) {
		pg_stmts_oversized(fe->stmts, p, n);
		return;
	}
	if (p[0] == 'Q' || p[0] == 'P') {
		fe->last_len = 0;
		keep_statement(fe, p, n);
	}
}

int pg_fe_frame(void *arg, const uint8_t *p, size_t avail, struct lms_frame *f)
{
	struct pg_fe *fe = arg;
	if (fe->phase == FE_TYPED) {
		int st = pg_frame_typed(p, avail, f);
		if (st == LMS_FRAME_OK)
			fe_classify(p[0], f);
		if (st == LMS_FRAME_OK && fe->check_sasl && p[0] == 'p' && f->len <= LMS_DECODE_MAX)
			f->flags |= LMS_FRAME_NEED_BODY;
		/* observing: whatever the backends must note (be_note_request) */
		if (st == LMS_FRAME_OK && fe->stmts && f->len <= LMS_DECODE_MAX && memchr("QPBCDESF", p[0], 8))
			f->flags |= LMS_FRAME_NEED_BODY;
		/* state only: what may change the session's state (a plain
		 * byte test: this runs for every message) */
		if (st == LMS_FRAME_OK && fe->observe_state && f->len <= LMS_DECODE_MAX &&
		    (p[0] == 'Q' || p[0] == 'P' || p[0] == 'C'))
			f->flags |= LMS_FRAME_NEED_BODY;
		if (st == LMS_FRAME_OK && f->len > LMS_DECODE_MAX && (fe->stmts || fe->observe_state))
			keep_oversized(fe, p, avail < f->len ? avail : (size_t)f->len);
		return st;
	}
	if (avail < 4)
		return LMS_FRAME_NEED_MORE;
	uint32_t len = pg_get32(p);
	if (len < 8 || len > PG_MAX_STARTUP)
		return LMS_FRAME_INVALID;
	f->len = len;
	f->kind = LMS_MSG_STARTUP;
	f->flags = LMS_FRAME_NEED_BODY;
	return LMS_FRAME_OK;
}

/* Reply with a FATAL error and close. */
static int fe_refuse(struct lms_out *out, struct lms_result *res, const char *sqlstate,
		     const char *msg, const char *hint)
{
	struct lms_error e = { "FATAL", sqlstate, msg, hint };
	out->len = 0;
	if (pg_error_response(&e, out) < 0)
		return -1;
	res->verdict = LMS_REPLY;
	res->action = LMS_ACT_CLOSE;
	return 0;
}

/* The value of key in a startup message, or NULL. */
static const char *startup_param(const uint8_t *p, size_t len, const char *key)
{
	size_t i = 8;
	const char *k, *v;
	while (pg_startup_next(p, len, &i, &k, &v) == 1)
		if (strcmp(k, key) == 0)
			return v;
	return NULL;
}

/* Every key and value must be NUL-terminated; a NUL where a key would
 * start ends the list and must be the last byte.  Values may be empty. */
static int startup_well_formed(const uint8_t *p, size_t len)
{
	if (len < 9 || p[len - 1] != 0)
		return 0;
	size_t i = 8;
	const char *k, *v;
	int rc;
	while ((rc = pg_startup_next(p, len, &i, &k, &v)) == 1)
		;
	return rc == 0 && i == len - 1;
}

/* Does the startup ask for anything beyond protocol 3.0?  (A newer minor
 * version, or "_pq_." protocol options.) */
static int startup_wants_newer(const uint8_t *p, size_t len)
{
	if ((pg_get32(p + 4) & 0xffff) != 0)
		return 1;
	size_t i = 8;
	const char *k, *v;
	while (pg_startup_next(p, len, &i, &k, &v) == 1)
		if (strncmp(k, "_pq_.", 5) == 0)
			return 1;
	return 0;
}

/* Answer a request for a newer protocol the way a 3.0 server does, with
 * NegotiateProtocolVersion naming the options it ignores, and keep a 3.0
 * copy of the startup (without those options) for the database: the
 * proxy itself only understands 3.0. */
static int fe_negotiate(struct pg_fe *fe, const uint8_t *p, size_t len, struct lms_out *out,
			const uint8_t **raw, size_t *raw_len)
{
	fe->startup30 = pg_host->alloc(len);
	if (!fe->startup30)
		return -1;
	uint8_t *c = fe->startup30;
	size_t o = 8, vo = 13, nopts = 0;
	pg_put32(c + 4, PG_PROTOCOL_3);
	out->data[0] = 'v';
	size_t i = 8;
	const char *k, *v;
	while (pg_startup_next(p, len, &i, &k, &v) == 1) {
		size_t kl = strlen(k) + 1;
		size_t vl = strlen(v) + 1;
		if (strncmp(k, "_pq_.", 5) == 0) {
			if (vo + kl > LMS_OUT_MAX)
				return -1;
			memcpy(out->data + vo, k, kl);
			vo += kl;
			nopts++;
		} else {
			memcpy(c + o, k, kl + vl);
			o += kl + vl;
		}
	}
	c[o++] = 0;
	pg_put32(c, (uint32_t)o);
	pg_put32(out->data + 1, (uint32_t)(vo - 1));
	pg_put32(out->data + 5, 0); /* newest minor version supported */
	pg_put32(out->data + 9, (uint32_t)nopts);
	out->len = vo;
	*raw = c;
	*raw_len = o;
	return 0;
}

static int fe_startup(struct pg_fe *fe, const uint8_t *msg, size_t len, struct lms_out *out,
		      struct lms_result *res)
{
	if (fe->tls_required && !fe->is_tls)
		return fe_refuse(out, res, "28000",
				 "molt-lms requires TLS: connect with sslmode=require (or verify-ca/verify-full)",
				 "the operator can allow plain connections with --allow-tls-mode-disable");
	if (!startup_well_formed(msg, len))
		return fe_refuse(out, res, "08P01", "invalid startup packet layout", NULL);
	const char *user = startup_param(msg, len, "user");
	if (!user || !*user)
		return fe_refuse(out, res, "28000", "no PostgreSQL user name specified in startup packet", NULL);
	const char *db = startup_param(msg, len, "database");
	res->verdict = LMS_DROP;
	res->action = LMS_ACT_CONNECT;
	res->startup.family = "pgwire";
	res->startup.user = user;
	res->startup.database = db && *db ? db : user;
	res->startup.raw = msg;
	res->startup.raw_len = len;
	if (startup_wants_newer(msg, len)) {
		if (fe->startup30 || fe_negotiate(fe, msg, len, out, &res->startup.raw, &res->startup.raw_len) < 0)
			return -1;
		res->verdict = LMS_REPLY;
	}
	fe->phase = FE_TYPED;
	return 0;
}

/* SASLInitialResponse from a TLS client after SCRAM-SHA-256-PLUS was
 * withheld: a gs2 flag 'y' ("I support channel binding, you did not offer
 * it") is refused by a database that itself runs TLS, with a confusing
 * message.  Say what happened and what to do instead. */
static int fe_sasl_initial(struct pg_fe *fe, const uint8_t *msg, size_t len, struct lms_out *out,
			   struct lms_result *res)
{
	fe->check_sasl = 0;
	res->verdict = LMS_FORWARD;
	size_t m = strnlen((const char *)msg + 5, len - 5);
	size_t d = 5 + m + 1 + 4; /* mechanism, NUL, Int32 data length */
	if (d < len && msg[d] == 'y')
		return fe_refuse(out, res, "28000",
				 "molt-lms cannot relay SCRAM channel binding: both the client and the database "
				 "connections use TLS",
				 "connect with channel_binding=disable (the login itself is still SCRAM-SHA-256 "
				 "over TLS to molt-lms), or use md5 or password authentication for this user");
	return 0;
}

/* LMS_OBSERVE_STATE: keep the start of a Query's or Parse's text, to be
 * fingerprinted only if someone asks (pg_fe_statement). */
static void keep_statement(struct pg_fe *fe, const uint8_t *msg, size_t len)
{
	size_t i = 5;
	if (msg[0] == 'P' && !pg_msg_str(msg, len, &i))
		return;
	if ((msg[0] != 'Q' && msg[0] != 'P') || i >= len)
		return;
	size_t n = strnlen((const char *)msg + i, len - i);
	fe->last_len = n < sizeof(fe->last) ? n : sizeof(fe->last);
	memcpy(fe->last, msg + i, fe->last_len);
}

int pg_fe_statement(void *arg, char *out, size_t cap)
{
	struct pg_fe *fe = arg;
	if (cap == 0)
		return -1;
	if (fe->stmts) {
		const char *cur = pg_stmts_current(fe->stmts);
		if (!cur[0])
			return -1;
		snprintf(out, cap, "%s", cur);
		return 0;
	}
	if (!fe->last_len)
		return -1;
	pg_fingerprint(fe->last, fe->last_len, out, cap);
	return 0;
}

int pg_fe_decode(void *arg, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res)
{
	struct pg_fe *fe = arg;
	if (fe->phase == FE_TYPED && len >= 5 && msg[0] == 'p')
		return fe_sasl_initial(fe, msg, len, out, res);
	if (fe->phase == FE_TYPED && fe->stmts) {
		res->verdict = LMS_FORWARD;
		pg_stmts_decode(fe->stmts, msg, len, res);
		return 0;
	}
	if (fe->phase == FE_TYPED && fe->observe_state) {
		res->verdict = LMS_FORWARD;
		res->stmt_flags = pg_state_flags(msg, len);
		keep_statement(fe, msg, len);
		return 0;
	}
	if (fe->phase != FE_STARTUP || len < 8)
		return -1;
	uint32_t code = pg_get32(msg + 4);
	if (code == PG_SSL_REQUEST && len == 8) {
		if (fe->is_tls)
			return fe_refuse(out, res, "08P01", "SSLRequest received over TLS", NULL);
		out->data[0] = fe->tls_available ? 'S' : 'N';
		out->len = 1;
		res->verdict = LMS_REPLY;
		res->action = fe->tls_available ? LMS_ACT_START_TLS : LMS_ACT_NONE;
		return 0;
	}
	if (code == PG_GSSENC_REQUEST && len == 8) {
		out->data[0] = 'N';
		out->len = 1;
		res->verdict = LMS_REPLY;
		return 0;
	}
	if (code == PG_CANCEL_REQUEST && len == 16) {
		memcpy(res->key, msg + 8, 8);
		res->key_len = 8;
		res->verdict = LMS_DROP;
		res->action = LMS_ACT_CANCEL;
		return 0;
	}
	if (code >> 16 == 3)
		return fe_startup(fe, msg, len, out, res);
	return fe_refuse(out, res, "0A000", "unsupported frontend protocol: molt-lms speaks protocol 3.0", NULL);
}
