/*
 * backend.c - the database's side of a MySQL session: its greeting, the
 * authentication exchange, then the answers to the client's commands.
 *
 * MySQL has no ReadyForQuery: the plugin follows the shape of each answer
 * (OK, ERR, result set, LOCAL INFILE, prepared-statement metadata) to know
 * which packet ends it.  Rows and definitions are streamed and counted in
 * be_frame (state committed only for streamed packets); the packet that
 * ends an answer is decoded and reports LMS_ACT_READY.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "mysql.h"


void *my_be_new(const struct lms_be_opts *opts)
{
	struct my_be *b = my_host->alloc(sizeof(*b));
	if (!b)
		return NULL;
	memset(b, 0, sizeof(*b));
	b->s = opts->fe_state;
	if (!b->s) {
		b->s = my_sess_new();
		b->own = 1;
		if (!b->s) {
			my_host->free(b);
			return NULL;
		}
	}
	b->relay = opts->relay_auth;
	b->observe = opts->observe != 0;
	b->tls_mode = opts->conf ? opts->conf->tls_mode : LMS_TLS_DISABLE;
	b->conf = opts->conf;
	return b;
}

void my_be_free(void *be)
{
	struct my_be *b = be;
	if (!b)
		return;
	if (b->own)
		my_sess_free(b->s);
	if (b->cols)
		my_host->free(b->cols);
	my_host->free(b);
}

/* Connected: the database speaks first, nothing to send.  After the TLS
 * handshake the frontend asked for: the client's HandshakeResponse; after
 * the one our own login asked for (auth_own.c): ours. */
int my_be_start(void *be, int tls_active, const struct lms_startup *st, struct lms_out *out,
		struct lms_result *res)
{
	struct my_be *b = be;
	struct my_sess *s = b->s;
	if (!b->relay) {
		if (tls_active)
			return my_own_start_tls(b, out, res);
		if (!b->own) { /* a session moved back (move_back.c): this connection logs in anew */
			s->state = MY_S_GREETING;
			s->resp = MY_R_IDLE;
			s->owes = MY_OWES_NOTHING;
			s->be_cont = 0;
			s->be_tls = 0;
		}
		/* the session's database (a session moved back: the one it
		 * uses now), else the client's at login, else the URL's */
		const char *db = !b->own && s->db[0]		  ? s->db
				 : st && st->database && st->database[0] ? st->database
				 : b->conf && b->conf->database		  ? b->conf->database
									  : "";
		snprintf(b->db, sizeof(b->db), "%s", db);
		return 0;
	}
	if (b->own) {
		res->action = LMS_ACT_FAIL;
		res->error.message = "mysql.so cannot relay a login without its client";
		return 0;
	}
	if (!tls_active)
		return 0;
	if (!s->hs || s->hs_len > LMS_OUT_MAX) {
		res->action = LMS_ACT_FAIL;
		res->error.message = "TLS established, but no login to send";
		return 0;
	}
	memcpy(out->data, s->hs, s->hs_len);
	out->len = s->hs_len;
	my_host->free(s->hs);
	s->hs = NULL;
	s->hs_len = 0;
	return 0;
}

/* ---- the greeting and the login ---- */

/* Initial Handshake v10: keep the database's capabilities and decide TLS;
 * the client gets it with the proxy's connection id and capabilities. */
static int decode_greeting(struct my_be *b, const uint8_t *msg, size_t len, struct lms_out *out,
			   struct lms_result *res)
{
	struct my_sess *s = b->s;
	const uint8_t *pl = msg + MY_HDR;
	size_t n = len - MY_HDR;
	if (n >= 1 && pl[0] == 0xFF) { /* refused: too many connections, host blocked */
		res->action = LMS_ACT_CLOSE;
		s->state = MY_S_CLOSED;
		return 0;
	}
	if (n < 1 || pl[0] != 10) {
		res->action = LMS_ACT_FAIL;
		res->error.message = "the database does not speak MySQL protocol 10";
		return 0;
	}
	const uint8_t *nul = memchr(pl + 1, 0, n - 1);
	if (!nul)
		return -1;
	size_t id = (size_t)(nul - pl) + 1;  /* connection id */
	size_t cl = id + 4 + 8 + 1;          /* capabilities, low half */
	size_t ch = cl + 2 + 1 + 2;          /* high half */
	size_t ext = ch + 2 + 1 + 6;         /* MariaDB's extended capabilities */
	if (n < ch + 2)
		return -1;
	uint32_t caps = my_le16(pl + cl) | my_le16(pl + ch) << 16;
	if (!(caps & MY_CAP_PROTOCOL_41)) {
		res->action = LMS_ACT_FAIL;
		res->error.message = "the database does not speak protocol 4.1";
		return 0;
	}
	int srv_tls = (caps & MY_CAP_SSL) != 0;
	if (b->tls_mode >= LMS_TLS_REQUIRE && !srv_tls) {
		res->action = LMS_ACT_FAIL;
		res->error.message = "the database does not offer TLS, and ssl-mode in the URL requires it";
		return 0;
	}
	s->be_tls = b->tls_mode != LMS_TLS_DISABLE && srv_tls;
	s->server_caps = caps;
	size_t part2 = ch + 2 + 1 + 10; /* the scramble's second part */
	if (n >= part2 + MY_SCRAMBLE_LEN - 8) {
		/* the session's scramble, for a COM_CHANGE_USER verified by
		 * LMS after a cutover (cmds.c), as a MySQL server verifies it */
		memcpy(s->scramble, pl + id + 4, 8);
		memcpy(s->scramble + 8, pl + part2, MY_SCRAMBLE_LEN - 8);
		s->scramble_known = 1;
	}
	uint32_t adv = caps & ~MY_CAP_FILTERED;
	adv = s->tls_available ? adv | MY_CAP_SSL : adv & ~MY_CAP_SSL;
	s->adv_caps = adv;
	memcpy(out->data, msg, len);
	uint8_t *o = out->data + MY_HDR;
	memcpy(o + id, s->conn_id, 4);
	o[cl] = (uint8_t)adv;
	o[cl + 1] = (uint8_t)(adv >> 8);
	o[ch] = (uint8_t)(adv >> 16);
	o[ch + 1] = (uint8_t)(adv >> 24);
	if (!(caps & MY_CAP_MYSQL) && n >= ext + 4)
		memset(o + ext, 0, 4);
	out->len = len;
	res->verdict = LMS_REWRITE;
	/* the server's thread id: what a KILL naming this session's proxy id
	 * becomes (kill.c) */
	memcpy(res->key, pl + id, 4);
	res->key_len = 4;
	res->action = LMS_ACT_BACKEND_KEY;
	s->state = MY_S_HANDSHAKE;
	s->cseq = 1;
	s->to_client = 1;
	return 0;
}

int my_login_ok(struct my_sess *s, const uint8_t *pl, size_t n, struct lms_result *res)
{
	uint32_t status;
	if (my_status(pl, n, 1, &status) < 0)
		return -1;
	s->txn = (status & MY_ST_IN_TRANS) ? LMS_TXN_OPEN : LMS_TXN_IDLE;
	s->autocommit = (status & MY_ST_AUTOCOMMIT) != 0;
	s->state = MY_S_READY;
	s->to_client = 1;
	res->action = LMS_ACT_READY;
	res->txn = s->txn;
	return 0;
}

/* A database packet of the login's authentication exchange, toward the
 * client with its sequence id shifted back. */
static int decode_login(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out,
			struct lms_result *res)
{
	const uint8_t *pl = msg + MY_HDR;
	size_t n = len - MY_HDR;
	uint8_t seq = msg[3];
	uint8_t cli = (uint8_t)(seq - s->shift);
	if (n < 1)
		return -1;
	if (s->shift != 0) {
		memcpy(out->data, msg, len);
		out->data[3] = cli;
		out->len = len;
		res->verdict = LMS_REWRITE;
	}
	s->sseq = (uint8_t)(seq + 1);
	s->to_client = (uint8_t)(cli + 1);
	switch (pl[0]) {
	case 0x00:
		return my_login_ok(s, pl, n, res);
	case 0xFF:
		if (n >= 9 && pl[3] == '#')
			memcpy(res->sqlstate, pl + 4, 5);
		s->state = MY_S_CLOSED;
		res->action = LMS_ACT_CLOSE;
		return 0;
	case 0xFE: /* AuthSwitchRequest */
	case 0x01: /* AuthMoreData */
		if (!(pl[0] == 0x01 && n >= 2 && pl[1] == 0x03)) { /* not "fast auth OK" */
			s->owes = MY_OWES_AUTH;
			s->cseq = (uint8_t)(cli + 1);
		}
		return 0;
	default:
		return -1;
	}
}

/* ---- answers to commands ---- */

/* What a response packet is: enum my_kind (mysql.h). */

/* Where the answer stands for the next packet: the current response, or
 * the first answer to the oldest command waiting (not taken yet). */
struct my_view {
	int resp;
	uint8_t cmd;
	uint8_t seq;
	int starts;
};

static int first_state(uint8_t cmd)
{
	switch (cmd) {
	case MY_COM_QUERY:
	case MY_COM_STMT_EXECUTE:
	case MY_COM_PROCESS_INFO:
		return MY_R_FIRST;
	case MY_COM_STMT_PREPARE:
		return MY_R_PREP;
	case MY_COM_STMT_FETCH:
		return MY_R_ROWS;
	case MY_COM_STATISTICS:
		return MY_R_STATS;
	case MY_COM_FIELD_LIST:
		return MY_R_FIELDS;
	case MY_COM_CHANGE_USER:
		return MY_R_AUTH;
	default:
		return MY_R_OKERR;
	}
}

static int current(const struct my_sess *s, struct my_view *v)
{
	if (s->resp != MY_R_IDLE) {
		v->resp = s->resp;
		v->cmd = s->cmd;
		v->seq = s->sseq;
		v->starts = 0;
		return 0;
	}
	if (s->q_len == 0)
		return -1;
	const struct my_cmd *c = &s->queue[s->q_head];
	v->resp = first_state(c->cmd);
	v->cmd = c->cmd;
	v->seq = c->first_seq;
	v->starts = 1;
	return 0;
}

/* Classify the packet at p (avail bytes, payload length len) for view v.
 * Pure: no state changes.  Returns an lms_frame_status. */
static int classify(const struct my_sess *s, const struct my_view *v, const uint8_t *p, size_t avail,
		    uint32_t len, int *kind)
{
	int deprecate = (s->caps & MY_CAP_DEPRECATE_EOF) != 0;
	uint32_t end_max = deprecate ? MY_MAX_PAYLOAD : 9; /* a terminator is shorter */
	if (len == 0) {
		if (v->resp != MY_R_STATS)
			return LMS_FRAME_INVALID;
		*kind = K_STATS;
		return LMS_FRAME_OK;
	}
	if (avail < MY_HDR + 1)
		return LMS_FRAME_NEED_MORE;
	uint8_t b = p[MY_HDR];
	int eof = b == 0xFE && len < 9;
	switch (v->resp) {
	case MY_R_FIRST:
		if (b == 0x00 || b == 0xFF || eof)
			*kind = K_END;
		else if (b == 0xFB && v->cmd == MY_COM_QUERY)
			*kind = K_INFILE;
		else
			*kind = K_COLCOUNT;
		return LMS_FRAME_OK;
	case MY_R_COLS:
	case MY_R_FIELDS:
		if (v->resp == MY_R_FIELDS && (b == 0xFF || (b == 0xFE && len < end_max)))
			*kind = K_END;
		else
			*kind = K_META;
		return LMS_FRAME_OK;
	case MY_R_COLS_EOF:
		if (b == 0xFF) {
			*kind = K_END;
			return LMS_FRAME_OK;
		}
		if (!eof)
			return LMS_FRAME_INVALID;
		if (avail < MY_HDR + len)
			return LMS_FRAME_NEED_MORE; /* a few bytes: read the status */
		/* a cursor was opened (COM_STMT_EXECUTE): rows come with FETCH */
		*kind = len >= 5 && (my_le16(p + MY_HDR + 3) & MY_ST_CURSOR_EXISTS) ? K_END : K_META;
		return LMS_FRAME_OK;
	case MY_R_ROWS:
		*kind = b == 0xFF || (b == 0xFE && len < end_max) ? K_END : K_ROW;
		return LMS_FRAME_OK;
	case MY_R_INFILE:
	case MY_R_OKERR:
		if (b != 0x00 && b != 0xFF && !eof)
			return LMS_FRAME_INVALID;
		*kind = K_END;
		return LMS_FRAME_OK;
	case MY_R_STATS:
		*kind = b == 0xFF ? K_END : K_STATS;
		return LMS_FRAME_OK;
	case MY_R_PREP:
		if (b == 0xFF)
			*kind = K_END;
		else if (b == 0x00 && len >= 12)
			*kind = K_PREP_OK;
		else
			return LMS_FRAME_INVALID;
		return LMS_FRAME_OK;
	case MY_R_PREP_PARAMS:
		*kind = s->left == 1 && deprecate && s->prep_cols == 0 ? K_LAST_META : K_META;
		return LMS_FRAME_OK;
	case MY_R_PREP_PARAMS_EOF:
		if (!eof)
			return LMS_FRAME_INVALID;
		*kind = s->prep_cols ? K_META : K_END;
		return LMS_FRAME_OK;
	case MY_R_PREP_COLS:
		*kind = s->left == 1 && deprecate ? K_LAST_META : K_META;
		return LMS_FRAME_OK;
	case MY_R_PREP_COLS_EOF:
		if (!eof)
			return LMS_FRAME_INVALID;
		*kind = K_END;
		return LMS_FRAME_OK;
	case MY_R_AUTH:
		if (b == 0x00 || b == 0xFF)
			*kind = K_END;
		else if (b == 0xFE || b == 0x01)
			*kind = K_AUTH;
		else
			return LMS_FRAME_INVALID;
		return LMS_FRAME_OK;
	default:
		return LMS_FRAME_INVALID;
	}
}

/* The answer is complete: tell the core (with a decode's result). */
static void answer_done(struct my_sess *s, struct lms_result *res)
{
	s->end_seq = (uint8_t)(s->to_client - 1); /* the packet that ended it */
	s->end_cmd = s->cmd;
	s->resp = MY_R_IDLE;
	s->owes = MY_OWES_NOTHING;
	s->to_client = 1;
	if (res && !s->hide) {
		res->action = LMS_ACT_READY;
		res->txn = s->txn;
	}
}

/* After a definition: what comes next. */
static void after_meta(struct my_sess *s)
{
	int deprecate = (s->caps & MY_CAP_DEPRECATE_EOF) != 0;
	switch (s->resp) {
	case MY_R_COLS:
		if (--s->left == 0)
			s->resp = deprecate ? MY_R_ROWS : MY_R_COLS_EOF;
		break;
	case MY_R_COLS_EOF:
		s->resp = MY_R_ROWS;
		break;
	case MY_R_PREP_PARAMS:
		if (--s->left > 0)
			break;
		if (!deprecate) {
			s->resp = MY_R_PREP_PARAMS_EOF;
			break;
		}
		s->resp = MY_R_PREP_COLS; /* prep_cols > 0, or it was K_LAST_META */
		s->left = s->prep_cols;
		break;
	case MY_R_PREP_PARAMS_EOF:
		s->resp = MY_R_PREP_COLS;
		s->left = s->prep_cols;
		break;
	case MY_R_PREP_COLS:
		if (--s->left == 0)
			s->resp = MY_R_PREP_COLS_EOF;
		break;
	default: /* MY_R_FIELDS: until its EOF */
		break;
	}
}

/* OK, EOF or ERR at the end of an answer (or of one result of several). */
static int end_packet(struct my_sess *s, const uint8_t *pl, size_t n, struct lms_result *res)
{
	if (pl[0] == 0xFF) {
		if (n >= 9 && pl[3] == '#' && res)
			memcpy(res->sqlstate, pl + 4, 5);
		answer_done(s, res);
		return 0;
	}
	uint32_t status = 0;
	int ok_format = pl[0] == 0x00 || (pl[0] == 0xFE && (s->resp == MY_R_ROWS || s->resp == MY_R_FIELDS) &&
					 (s->caps & MY_CAP_DEPRECATE_EOF));
	if (n > 1 && my_status(pl, n, ok_format, &status) < 0)
		return -1;
	s->txn = (status & MY_ST_IN_TRANS) ? LMS_TXN_OPEN : LMS_TXN_IDLE;
	if (n > 1 && (ok_format || n >= 5))
		s->autocommit = (status & MY_ST_AUTOCOMMIT) != 0; /* carried if the session is translated later */
	if ((status & MY_ST_MORE_RESULTS) && s->resp != MY_R_AUTH && s->resp != MY_R_PREP_COLS_EOF &&
	    s->resp != MY_R_PREP_PARAMS_EOF) {
		s->resp = MY_R_FIRST; /* another result follows (multi-statements, CALL) */
		return 0;
	}
	answer_done(s, res);
	return 0;
}

/* Apply a classified packet: msg[0..len) is whole when res is set (a
 * decode), else only its header and first byte are known (streamed). */
static int advance(struct my_sess *s, const struct my_view *v, int kind, const uint8_t *msg, size_t len,
		   struct lms_result *res)
{
	const uint8_t *pl = msg + MY_HDR;
	size_t n = len - MY_HDR;
	uint8_t seq = msg[3];
	if (v->starts) {
		struct my_cmd c;
		my_queue_pop(s, &c);
		s->cmd = c.cmd;
		s->hide = c.hide;
		s->reprep = c.reprep;
		s->reprep_id = c.stmt;
		memcpy(s->tag, c.tag, sizeof(s->tag));
		if (s->prep_sql)
			my_host->free(s->prep_sql);
		s->prep_sql = c.prep; /* the text its PREPARE OK names (stmt.c) */
		s->prep_len = c.prep_len;
		s->resp = v->resp;
	}
	s->sseq = (uint8_t)(seq + 1);
	s->to_client = (uint8_t)(seq + 1);
	switch (kind) {
	case K_ROW:
		return 0;
	case K_META:
		after_meta(s);
		return 0;
	case K_COLCOUNT: {
		uint64_t cols;
		if (my_lenenc(pl, n, &cols) <= 0 || cols == 0)
			return -1;
		s->left = cols;
		s->resp = MY_R_COLS;
		return 0;
	}
	case K_END:
		return end_packet(s, pl, n, res);
	case K_PREP_OK: {
		uint32_t cols = my_le16(pl + 5), params = my_le16(pl + 7);
		s->prep_cols = cols;
		if (res && s->reprep)
			my_remap_reprepared(s, s->reprep_id, my_le32(pl + 1));
		else if (res && !s->remap)
			my_stmt_prepared(s, my_le32(pl + 1), params, cols); /* (remap: be_decode) */
		if (params) {
			s->resp = MY_R_PREP_PARAMS;
			s->left = params;
		} else if (cols) {
			s->resp = MY_R_PREP_COLS;
			s->left = cols;
		} else {
			answer_done(s, res);
		}
		return 0;
	}
	case K_INFILE:
		s->resp = MY_R_INFILE;
		s->owes = MY_OWES_INFILE;
		s->cseq = (uint8_t)(seq + 1);
		return 0;
	case K_AUTH:
		if (!(pl[0] == 0x01 && n >= 2 && pl[1] == 0x03)) {
			s->owes = MY_OWES_AUTH;
			s->cseq = (uint8_t)(seq + 1);
		}
		return 0;
	case K_STATS:
	case K_LAST_META:
		answer_done(s, res);
		return 0;
	default:
		return -1;
	}
}

static uint32_t kind_of(int kind, const uint8_t *p, size_t avail)
{
	switch (kind) {
	case K_ROW:
		return LMS_MSG_ROW;
	case K_END:
		return avail > MY_HDR && p[MY_HDR] == 0xFF ? LMS_MSG_ERROR : LMS_MSG_COMPLETE;
	case K_AUTH:
		return LMS_MSG_AUTH_REQUEST;
	case K_STATS:
	case K_LAST_META:
		return LMS_MSG_COMPLETE;
	default:
		return LMS_MSG_OTHER;
	}
}

static int streamed(int kind)
{
	return kind == K_ROW || kind == K_META || kind == K_COLCOUNT;
}

/* Can a packet of this kind end an answer?  (ABI 1.3: the sync modes
 * hold it until the shadow answered, as a READY.) */
static int may_end(int kind)
{
	return kind == K_END || kind == K_PREP_OK || kind == K_STATS || kind == K_LAST_META;
}

/* A packet of an answer to a command. */
static int frame_response(struct my_be *b, const uint8_t *p, size_t avail, struct lms_frame *f)
{
	struct my_sess *s = b->s;
	uint32_t len = my_le24(p);
	uint8_t seq = p[3];
	if (s->be_cont) { /* the rest of a packet of 16 MiB or more */
		if (seq != s->sseq)
			return LMS_FRAME_INVALID;
		f->kind = s->be_cont_kind;
		s->sseq = (uint8_t)(seq + 1);
		s->to_client = (uint8_t)(seq + 1);
		if (len < MY_MAX_PAYLOAD)
			s->be_cont = 0;
		return LMS_FRAME_OK;
	}
	struct my_view v;
	if (current(s, &v) < 0) {
		/* nothing asked: only an ERR before the database hangs up */
		if (avail < MY_HDR + 1)
			return len == 0 ? LMS_FRAME_INVALID : LMS_FRAME_NEED_MORE;
		if (p[MY_HDR] != 0xFF || f->len > LMS_DECODE_MAX)
			return LMS_FRAME_INVALID;
		f->kind = LMS_MSG_ERROR;
		f->flags = LMS_FRAME_NEED_BODY;
		return LMS_FRAME_OK;
	}
	if (seq != v.seq)
		return LMS_FRAME_INVALID;
	int kind;
	int st = classify(s, &v, p, avail, len, &kind);
	if (st != LMS_FRAME_OK)
		return st;
	f->kind = kind_of(kind, p, avail);
	if (!streamed(kind)) {
		if (f->len > LMS_DECODE_MAX)
			return LMS_FRAME_INVALID;
		int hide = v.starts ? s->queue[s->q_head].hide : s->hide;
		f->flags = LMS_FRAME_NEED_BODY | (may_end(kind) && !hide ? LMS_FRAME_ENDS_ANSWER : 0);
		return LMS_FRAME_OK;
	}
	if (b->observe && f->len <= LMS_DECODE_MAX && len < MY_MAX_PAYLOAD) {
		/* observing: rows and definitions are described (decoded) */
		f->flags = LMS_FRAME_NEED_BODY;
		return LMS_FRAME_OK;
	}
	if (kind == K_COLCOUNT) {
		size_t need = MY_HDR + (len < 9 ? len : 9);
		if (avail < need)
			return LMS_FRAME_NEED_MORE;
	}
	int hide = v.starts ? s->queue[s->q_head].hide : s->hide;
	if (advance(s, &v, kind, p, avail < f->len ? avail : (size_t)f->len, NULL) < 0)
		return LMS_FRAME_INVALID;
	if (b->observe) {
		/* counted here, since the core may describe a streamed row
		 * whole once it passed (my_be_observe) only when its memory
		 * budget could copy it; a row of 16 MiB or more continues in
		 * the next packets and is never described */
		int row = kind == K_ROW && !hide;
		if (row)
			b->rows++;
		b->last_kind = row && len < MY_MAX_PAYLOAD ? K_BIG_ROW : K_NONE;
		b->last_resp = v.resp;
		b->last_cmd = v.cmd;
	}
	if (len == MY_MAX_PAYLOAD) {
		/* the next packets are the rest of this one: a row's rest is
		 * no row of its own (the core counts rows by their frames) */
		s->be_cont = 1;
		s->be_cont_kind = f->kind == LMS_MSG_ROW ? LMS_MSG_OTHER : f->kind;
	}
	return LMS_FRAME_OK;
}

/* The common case on its own: a row in the middle of a result set, in
 * order.  Returns 1 when the packet at p is one (framed and committed as
 * frame_response would: K_ROW), 0 to take the general path. */
static int fast_row(struct my_sess *s, const uint8_t *p, size_t avail, uint32_t len, struct lms_frame *f)
{
	if (s->state != MY_S_READY || s->resp != MY_R_ROWS || s->be_cont || avail <= MY_HDR || len == 0 ||
	    p[3] != s->sseq)
		return 0;
	uint8_t b = p[MY_HDR];
	uint32_t end_max = (s->caps & MY_CAP_DEPRECATE_EOF) ? MY_MAX_PAYLOAD : 9;
	if (b == 0xFF || (b == 0xFE && len < end_max) || len == MY_MAX_PAYLOAD)
		return 0; /* an answer's end, or a row of 16 MiB or more */
	f->kind = LMS_MSG_ROW;
	s->sseq = (uint8_t)(p[3] + 1);
	s->to_client = s->sseq;
	return 1;
}

int my_be_frame(void *be, const uint8_t *p, size_t avail, struct lms_frame *f)
{
	struct my_be *b = be;
	struct my_sess *s = b->s;
	if (avail < MY_HDR)
		return LMS_FRAME_NEED_MORE;
	uint32_t len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
	f->len = MY_HDR + (uint64_t)len;
	f->kind = LMS_MSG_OTHER;
	f->flags = 0;
	if (!b->observe && fast_row(s, p, avail, len, f)) /* observed rows are decoded */
		return LMS_FRAME_OK;
	switch (s->state) {
	case MY_S_GREETING:
	case MY_S_AUTH:
		if (s->state == MY_S_GREETING ? p[3] != 0 : (p[3] != s->sseq || s->owes != MY_OWES_NOTHING))
			return LMS_FRAME_INVALID;
		if (f->len > LMS_DECODE_MAX || f->len == MY_HDR)
			return LMS_FRAME_INVALID;
		if (avail < MY_HDR + 1)
			return LMS_FRAME_NEED_MORE;
		f->kind = p[4] == 0xFF ? LMS_MSG_ERROR : p[4] == 0x00 ? LMS_MSG_COMPLETE : LMS_MSG_AUTH_REQUEST;
		f->flags = LMS_FRAME_NEED_BODY;
		return LMS_FRAME_OK;
	case MY_S_READY:
		return frame_response(b, p, avail, f);
	default:
		return LMS_FRAME_INVALID; /* the database speaks out of turn */
	}
}

/* The database accepted a relayed COM_CHANGE_USER: the session is the
 * new user's, in the database it asked for. */
static void changed_user(struct my_sess *s, struct lms_result *res)
{
	if (!s->cu_user[0])
		return;
	snprintf(s->login_user, sizeof(s->login_user), "%s", s->cu_user);
	snprintf(s->db, sizeof(s->db), "%s", s->cu_db);
	s->cu_user[0] = 0;
	my_iso_forget(s); /* the database reset the session's variables */
	my_name_session(s, res);
}

int my_be_decode(void *be, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res)
{
	struct my_be *b = be;
	struct my_sess *s = b->s;
	if (len < MY_HDR + 1 && !(len == MY_HDR && s->state == MY_S_READY))
		return -1;
	if (MY_HDR + (size_t)my_le24(msg) != len || (s->state != MY_S_READY && len > LMS_OUT_MAX))
		return -1; /* login packets are copied to be rewritten */
	switch (s->state) {
	case MY_S_GREETING:
		return b->relay ? decode_greeting(b, msg, len, out, res) : my_own_greeting(b, msg, len, out, res);
	case MY_S_AUTH:
		return b->relay ? decode_login(s, msg, len, out, res) : my_own_auth(b, msg, len, out, res);
	case MY_S_READY: {
		struct my_view v;
		int kind;
		if (current(s, &v) < 0)
			return len > MY_HDR && msg[MY_HDR] == 0xFF ? 0 : -1; /* unsolicited ERR: relayed */
		if (msg[3] != v.seq || classify(s, &v, msg, len, my_le24(msg), &kind) != LMS_FRAME_OK ||
		    (streamed(kind) && !b->observe))
			return -1;
		int rc = advance(s, &v, kind, msg, len, res);
		if (rc == 0 && !b->own && v.cmd == MY_COM_CHANGE_USER && kind == K_END && msg[MY_HDR] == 0x00)
			changed_user(s, res);
		if (rc == 0 && kind == K_PREP_OK && s->remap && !s->reprep)
			rc = my_remap_prepare_ok(s, msg, len, my_le16(msg + MY_HDR + 7), my_le16(msg + MY_HDR + 5), out,
						 res); /* the client's id for it */
		b->last_kind = s->hide ? K_NONE : kind; /* a hidden answer is not described */
		b->last_resp = v.resp;
		b->last_cmd = v.cmd;
		return rc;
	}
	default:
		return -1;
	}
}

/* MySQL has no cancel packet: a client cancels with KILL QUERY on a second
 * connection of its own, which kill.c points at the server's thread. */
int my_be_cancel(const uint8_t *key, size_t key_len, struct lms_out *out)
{
	(void)key;
	(void)key_len;
	(void)out;
	return -1;
}
