/*
 * frontend.c - the application's side of a MySQL session: the client's
 * answers to the greeting (SSLRequest, HandshakeResponse), its part of the
 * authentication exchange, then commands.
 *
 * Commands are streamed (the fast path): fe_frame commits what the backend
 * must know (the command and the sequence id of its answer) when it
 * returns OK without NEED_BODY.  Only login packets and refused commands
 * are decoded.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "mysql.h"

void *my_fe_new(const struct lms_fe_opts *opts)
{
	struct my_sess *s = my_sess_new();
	if (!s)
		return NULL;
	s->tls_available = opts->tls_available;
	s->tls_required = opts->tls_required;
	/* the connection id: the key's first 4 bytes read big-endian, whose
	 * top bit the core clears, so that clients reading it as a signed
	 * 32-bit integer (Connector/J) see it positive; kill.c maps it back */
	for (int i = 0; i < 4; i++)
		s->conn_id[i] = opts->proxy_key[3 - i];
	s->observe = opts->observe == LMS_OBSERVE_FULL;
	if (LMS_HOST_HAS(my_host, credential_of)) { /* a 1.4 core: client_ip is there */
		s->own_login = opts->own_login != 0;
		memcpy(s->client_ip, opts->client_ip, sizeof(s->client_ip)); /* also for COM_CHANGE_USER */
		s->client_ip[sizeof(s->client_ip) - 1] = 0;
	}
	s->keep = my_host->abi_minor >= 4 && opts->keep_statements; /* a 1.4 member */
	return s;
}

void my_fe_free(void *fe)
{
	my_sess_free(fe);
}

/* The server speaks first: connect the database at once, or (own login)
 * greet the client ourselves. */
int my_fe_accept(void *fe, struct lms_out *out, struct lms_result *res)
{
	struct my_sess *s = fe;
	if (s->own_login)
		return my_login_greet(s, out);
	res->action = LMS_ACT_CONNECT;
	return 0;
}

void my_fe_tls_done(void *fe)
{
	struct my_sess *s = fe;
	s->cli_tls = 1;
}

/* What a command is for the core: its kind and flags, and whether the
 * database answers it.  Returns -1 for commands the proxy refuses
 * (replication, obsolete or unknown ones). */
static int command_class(uint8_t cmd, uint32_t *kind, uint32_t *flags, int *answered)
{
	*kind = LMS_MSG_OTHER;
	*flags = LMS_FRAME_ENDS_REQUEST;
	*answered = 1;
	switch (cmd) {
	case MY_COM_QUIT:
		*kind = LMS_MSG_TERMINATE;
		*flags = 0;
		*answered = 0;
		return 0;
	case MY_COM_QUERY:
		*kind = LMS_MSG_QUERY;
		return 0;
	case MY_COM_STMT_CLOSE:
		/* no answer: a request of its own would never end; with a 1.7
		 * core it opens none, so that the command after it is one */
		*kind = LMS_MSG_EXTENDED;
		*flags = my_host->abi_minor >= 7 ? LMS_FRAME_NO_ANSWER : 0;
		*answered = 0;
		return 0;
	case MY_COM_STMT_SEND_LONG_DATA:
		/* part of the request of the execution that follows it */
		*kind = LMS_MSG_EXTENDED;
		*flags = 0;
		*answered = 0;
		return 0;
	case MY_COM_STMT_PREPARE:
	case MY_COM_STMT_EXECUTE:
	case MY_COM_STMT_RESET:
	case MY_COM_STMT_FETCH:
		*kind = LMS_MSG_EXTENDED;
		return 0;
	case MY_COM_CHANGE_USER:
		*kind = LMS_MSG_AUTH;
		return 0;
	case MY_COM_INIT_DB:
	case MY_COM_FIELD_LIST:
	case MY_COM_REFRESH:
	case MY_COM_STATISTICS:
	case MY_COM_PROCESS_INFO:
	case MY_COM_PROCESS_KILL:
	case MY_COM_DEBUG:
	case MY_COM_PING:
	case MY_COM_SET_OPTION:
	case MY_COM_RESET_CONNECTION:
		return 0;
	default:
		return -1;
	}
}

/* Observing: is this command decoded (fingerprinted, remembered, and
 * described for translation)? */
static int observed(uint8_t cmd)
{
	switch (cmd) {
	case MY_COM_QUERY:
	case MY_COM_STMT_PREPARE:
	case MY_COM_STMT_EXECUTE:
	case MY_COM_STMT_CLOSE:
	case MY_COM_STMT_RESET:
	case MY_COM_STMT_SEND_LONG_DATA:
	case MY_COM_PING:
	case MY_COM_INIT_DB:
	case MY_COM_RESET_CONNECTION:
		return 1;
	default:
		return 0;
	}
}

/* Is this command decoded in this session: all that are observed, or
 * (keep_statements, ABI 1.4) those that create, bind or forget a
 * prepared statement, which a later translation needs. */
static int decoded(const struct my_sess *s, uint8_t cmd)
{
	if (cmd == MY_COM_CHANGE_USER)
		return 1; /* the session is named after the user it asks for */
	if (s->observe)
		return observed(cmd);
	if (!s->keep)
		return 0;
	return cmd == MY_COM_STMT_PREPARE || cmd == MY_COM_STMT_EXECUTE || cmd == MY_COM_STMT_CLOSE ||
	       cmd == MY_COM_STMT_RESET || cmd == MY_COM_STMT_SEND_LONG_DATA || cmd == MY_COM_RESET_CONNECTION;
}

/* keep_statements only: is this COM_QUERY a SET?  Decoded, so that the
 * transaction characteristics it may set are known at a cutover
 * (isolation.c).  -1: its first bytes are not here yet. */
static int keeps_setting(const struct my_sess *s, uint8_t cmd, const uint8_t *p, size_t avail,
			 const struct lms_frame *f)
{
	if (s->observe || !s->keep || cmd != MY_COM_QUERY || f->len < MY_HDR + 4 || f->len > LMS_DECODE_MAX)
		return 0;
	if (avail < MY_HDR + 4)
		return -1;
	return my_iso_may_set((const char *)p + MY_HDR + 1, 3);
}

/* keep_statements only: a COM_STMT_EXECUTE whole in p[0..avail) that
 * binds no new parameter types for a statement whose types are known
 * teaches nothing: streamed (the fast path) rather than decoded. */
static int execute_known(struct my_sess *s, const uint8_t *p, size_t avail, const struct lms_frame *f)
{
	if (s->observe || p[MY_HDR] != MY_COM_STMT_EXECUTE || avail < f->len || f->len < MY_HDR + 10)
		return 0;
	const struct my_stmt *st = my_stmt_find(s, my_le32(p + MY_HDR + 1));
	if (!st || st->long_data)
		return 0;
	if (st->nparams == 0)
		return 1;
	const uint8_t *types;
	return st->types && my_stmt_bound_types(st, p + MY_HDR, (size_t)f->len - MY_HDR, &types) == 0;
}

/* A command packet starts (sequence 0): the answer's sequence ids, and
 * the queue when the database answers it. */
static void command_commit(struct my_sess *s, uint8_t cmd, uint32_t len, int answered)
{
	s->cseq = 1;
	s->to_client = 1;
	if (len == MY_MAX_PAYLOAD) {
		s->fe_cont = 1;
		s->fe_cont_cmd = cmd;
		s->fe_cont_resp = answered;
	} else if (answered) {
		my_queue_push(s, cmd, 1);
	}
}

/* The largest command the core hands over whole: a translated session's
 * are assembled up to LMS_TRANSLATE_MAX by a 1.6 core. */
static uint64_t whole_max(const struct my_sess *s)
{
	return s->translated && my_host->abi_minor >= 6 ? LMS_TRANSLATE_MAX : LMS_DECODE_MAX;
}

static void observe_streamed(struct my_sess *s, const uint8_t *p, size_t avail);

/* A client packet in the command phase.  Streamed packets commit here. */
static int frame_command(struct my_sess *s, const uint8_t *p, size_t avail, struct lms_frame *f)
{
	uint32_t len = my_le24(p);
	uint8_t seq = p[3];
	if (s->owes == MY_OWES_INFILE) {
		/* LOCAL INFILE: file packets until an empty one */
		if (seq != s->cseq)
			return LMS_FRAME_INVALID;
		f->kind = LMS_MSG_COPY;
		s->cseq = (uint8_t)(seq + 1);
		s->to_client = (uint8_t)(seq + 1);
		if (len == 0) {
			s->owes = MY_OWES_NOTHING;
			s->sseq = (uint8_t)(seq + 1);
		}
		return LMS_FRAME_OK;
	}
	if (s->owes == MY_OWES_AUTH && s->cu_pending) {
		/* translated COM_CHANGE_USER: the answer to our switch request,
		 * verified whole (cmds.c), answered after a round trip */
		if (seq != s->cseq || f->len > LMS_DECODE_MAX)
			return LMS_FRAME_INVALID;
		if (s->q_len >= MY_QUEUE)
			return LMS_FRAME_NEED_MORE;
		f->kind = LMS_MSG_AUTH;
		f->flags = LMS_FRAME_NEED_BODY | LMS_FRAME_ENDS_REQUEST;
		return LMS_FRAME_OK;
	}
	if (s->owes == MY_OWES_AUTH) {
		/* COM_CHANGE_USER's exchange: legs share sequence ids */
		if (seq != s->cseq)
			return LMS_FRAME_INVALID;
		f->kind = LMS_MSG_AUTH;
		s->owes = MY_OWES_NOTHING;
		s->sseq = (uint8_t)(seq + 1);
		s->to_client = (uint8_t)(seq + 1);
		return LMS_FRAME_OK;
	}
	if (s->fe_cont) {
		/* the rest of a command of 16 MiB or more */
		if (seq != s->cseq)
			return LMS_FRAME_INVALID;
		f->kind = LMS_MSG_OTHER;
		s->cseq = (uint8_t)(seq + 1);
		s->to_client = (uint8_t)(seq + 1);
		if (len < MY_MAX_PAYLOAD) {
			s->fe_cont = 0;
			if (s->fe_cont_ends)
				f->flags = LMS_FRAME_ENDS_REQUEST; /* the command's last packet */
			s->fe_cont_ends = 0;
			if (s->fe_cont_resp)
				my_queue_push(s, s->fe_cont_cmd, (uint8_t)(seq + 1)); /* room checked at its start */
		}
		return LMS_FRAME_OK;
	}
	if (seq != 0 || len == 0)
		return LMS_FRAME_INVALID;
	if (avail < MY_HDR + 1)
		return LMS_FRAME_NEED_MORE;
	uint8_t cmd = p[4];
	uint32_t kind, flags;
	int answered;
	if (command_class(cmd, &kind, &flags, &answered) < 0) {
		/* answered by the proxy itself (fe_decode) */
		if (f->len > LMS_DECODE_MAX)
			return LMS_FRAME_INVALID;
		f->flags = LMS_FRAME_NEED_BODY;
		return LMS_FRAME_OK;
	}
	if (answered && s->q_len >= MY_QUEUE)
		return LMS_FRAME_NEED_MORE; /* framed again once answers are relayed */
	f->kind = kind;
	f->flags = flags;
	if (len == MY_MAX_PAYLOAD && !s->translated) {
		/* a command of 16 MiB or more: its request ends with its last
		 * packet, so that the packets between are part of it */
		s->fe_cont_ends = (flags & LMS_FRAME_ENDS_REQUEST) != 0;
		f->flags &= ~LMS_FRAME_ENDS_REQUEST;
	}
	if (s->remap && !s->translated && my_host->abi_minor >= 10) {
		int r = my_remap_frame(s, cmd, p, avail, f); /* its statement's id there (remap.c) */
		if (r < 0)
			return LMS_FRAME_NEED_MORE;
		if (r > 0) {
			f->flags |= LMS_FRAME_NEED_BODY; /* its types written in (my_remap_retype) */
			return LMS_FRAME_OK;
		}
	}
	if (cmd == MY_COM_STMT_SEND_LONG_DATA && (s->translated || decoded(s, cmd)) &&
	    (len == MY_MAX_PAYLOAD || f->len > whole_max(s))) {
		/* too big to keep: streamed (translated: dropped by the core),
		 * and its statement's next execution is refused (cmds.c) */
		if (avail < MY_HDR + 5)
			return LMS_FRAME_NEED_MORE;
		my_long_data_lost(s, p, avail);
		command_commit(s, cmd, len, answered);
		return LMS_FRAME_OK;
	}
	if (s->translated && cmd != MY_COM_QUIT) {
		f->flags |= LMS_FRAME_NEED_BODY; /* described and answered whole (answer.c) */
		return LMS_FRAME_OK;
	}
	int kill = my_kill_candidate(cmd, p, avail, len);
	if (kill != 0) {
		if (kill < 0)
			return LMS_FRAME_NEED_MORE;
		f->flags |= LMS_FRAME_NEED_BODY; /* my_fe_kill commits it */
		return LMS_FRAME_OK;
	}
	int setting = keeps_setting(s, cmd, p, avail, f);
	if (setting < 0)
		return LMS_FRAME_NEED_MORE;
	if ((decoded(s, cmd) || setting) && len < MY_MAX_PAYLOAD && f->len <= LMS_DECODE_MAX &&
	    !execute_known(s, p, avail, f)) {
		f->flags |= LMS_FRAME_NEED_BODY; /* committed by fe_decode */
		return LMS_FRAME_OK;
	}
	command_commit(s, cmd, len, answered);
	if (s->observe && len < MY_MAX_PAYLOAD)
		observe_streamed(s, p, avail < f->len ? avail : (size_t)f->len);
	return LMS_FRAME_OK;
}

int my_fe_frame(void *fe, const uint8_t *p, size_t avail, struct lms_frame *f)
{
	struct my_sess *s = fe;
	if (avail < MY_HDR)
		return LMS_FRAME_NEED_MORE;
	f->len = MY_HDR + (uint64_t)my_le24(p);
	f->kind = LMS_MSG_OTHER;
	f->flags = 0;
	switch (s->state) {
	case MY_S_HANDSHAKE:
	case MY_S_AUTH:
		/* login packets are decoded: sequence ids may shift */
		if (p[3] != s->cseq || f->len > LMS_DECODE_MAX)
			return LMS_FRAME_INVALID;
		if (s->state == MY_S_AUTH && s->owes != MY_OWES_AUTH)
			return LMS_FRAME_INVALID; /* not the client's turn */
		f->kind = s->state == MY_S_HANDSHAKE ? LMS_MSG_STARTUP : LMS_MSG_AUTH;
		f->flags = LMS_FRAME_NEED_BODY;
		return LMS_FRAME_OK;
	case MY_S_READY:
		return frame_command(s, p, avail, f);
	default:
		return LMS_FRAME_INVALID; /* before the greeting, or after a failed login */
	}
}

/* Answer the client's packet of sequence id seq with an ERR, and close. */
static void refuse_login(struct my_sess *s, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg,
			 struct lms_out *out, struct lms_result *res)
{
	my_err_packet(out, (uint8_t)(seq + 1), code, sqlstate, msg, 1);
	res->verdict = LMS_REPLY;
	res->action = LMS_ACT_CLOSE;
	s->state = MY_S_CLOSED;
}

/* Name the login for the core's logs and admin API (ABI 1.2): the user
 * and database of a HandshakeResponse41, payload pl[0..n), pointing into
 * it.  Nothing when they do not parse (the database judges the packet). */
static void name_login(const uint8_t *pl, size_t n, uint32_t caps, struct lms_result *res)
{
	size_t off = 32;
	const uint8_t *nul = memchr(pl + off, 0, n - off);
	if (!nul)
		return;
	const char *user = (const char *)pl + off;
	off = (size_t)(nul - pl) + 1;
	uint64_t alen;
	if (caps & MY_CAP_PLUGIN_AUTH_LENENC) {
		int k = my_lenenc(pl + off, n - off, &alen);
		if (k <= 0)
			return;
		off += (size_t)k;
	} else if (caps & MY_CAP_SECURE_CONNECTION) {
		if (off >= n)
			return;
		alen = pl[off++];
	} else {
		nul = memchr(pl + off, 0, n - off);
		if (!nul)
			return;
		alen = (uint64_t)(nul - (pl + off)) + 1;
	}
	if (alen > n - off)
		return;
	off += (size_t)alen;
	const char *db = NULL;
	if ((caps & MY_CAP_CONNECT_WITH_DB) && off < n && memchr(pl + off, 0, n - off))
		db = (const char *)pl + off;
	res->startup.family = "mysql";
	res->startup.user = user;
	res->startup.database = db;
}

/* The HandshakeResponse, masked to what the proxy offered, goes to the
 * database: after the proxy's own SSLRequest and TLS when the database's
 * leg is TLS (the response is then held for be_start). */
static int relay_handshake(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out,
			   struct lms_result *res)
{
	uint8_t seq = msg[3];
	memcpy(out->data, msg, len);
	uint8_t *pl = out->data + MY_HDR;
	uint32_t caps = my_le32(pl) & ~MY_CAP_FILTERED;
	if (!(s->server_caps & MY_CAP_MYSQL))
		memset(pl + 28, 0, 4); /* MariaDB extensions: none offered */
	s->caps = caps & s->adv_caps;
	caps = s->be_tls ? caps | MY_CAP_SSL : caps & ~MY_CAP_SSL;
	for (int i = 0; i < 4; i++)
		pl[i] = (uint8_t)(caps >> (8 * i));
	res->verdict = LMS_REWRITE;
	if (s->be_tls) {
		s->hs = my_host->alloc(len);
		if (!s->hs)
			return -1;
		memcpy(s->hs, out->data, len);
		s->hs[3] = 2;
		s->hs_len = len;
		my_put24(out->data, 32); /* the SSLRequest: the same first 32 bytes */
		out->data[3] = 1;
		out->len = MY_HDR + 32;
		res->action = LMS_ACT_BACKEND_TLS;
		s->shift = 2 - seq;
	} else {
		out->data[3] = 1;
		out->len = len;
		s->shift = 1 - seq;
	}
	s->state = MY_S_AUTH;
	s->owes = MY_OWES_NOTHING;
	s->sseq = (uint8_t)(seq + s->shift + 1);
	s->to_client = (uint8_t)(seq + 1);
	return 0;
}

/* SSLRequest or HandshakeResponse41. */
static int decode_handshake(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out,
			    struct lms_result *res)
{
	const uint8_t *pl = msg + MY_HDR;
	size_t n = len - MY_HDR;
	uint8_t seq = msg[3];
	if (n < 4)
		return -1;
	uint32_t caps = my_le32(pl);
	if (!(caps & MY_CAP_PROTOCOL_41)) {
		refuse_login(s, seq, 1043, "08S01", "molt-lms: the client must speak protocol 4.1", out, res);
		return 0;
	}
	if (n < 32)
		return -1;
	if (n == 32 && (caps & MY_CAP_SSL)) {
		if (s->cli_tls || !s->tls_available)
			return -1; /* TLS twice, or TLS the proxy did not offer */
		res->verdict = LMS_DROP;
		res->action = LMS_ACT_START_TLS;
		s->cseq = (uint8_t)(seq + 1);
		s->to_client = (uint8_t)(seq + 1);
		return 0;
	}
	if ((caps & MY_CAP_SSL) && !s->cli_tls)
		return -1; /* claims TLS without it */
	if (s->tls_required && !s->cli_tls) {
		refuse_login(s, seq, 3159, "08004",
			     "molt-lms requires TLS: connect with TLS (e.g. --ssl, ssl-mode=REQUIRED)", out, res);
		return 0;
	}
	if (len > LMS_OUT_MAX) {
		refuse_login(s, seq, 1043, "08S01", "molt-lms: the handshake response is too large", out, res);
		return 0;
	}
	if (s->own_login)
		return my_login_response(s, msg, len, out, res);
	name_login(pl, n, caps, res);
	if (res->startup.database) /* for USE and DATABASE() after a cutover */
		snprintf(s->db, sizeof(s->db), "%s", res->startup.database);
	return relay_handshake(s, msg, len, out, res);
}

/* The client's answer in the login's authentication exchange. */
static int decode_auth(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out,
		       struct lms_result *res)
{
	uint8_t seq = msg[3];
	uint8_t srv = (uint8_t)(seq + s->shift);
	if (s->shift != 0) {
		if (len > LMS_OUT_MAX)
			return -1;
		memcpy(out->data, msg, len);
		out->data[3] = srv;
		out->len = len;
		res->verdict = LMS_REWRITE;
	}
	s->owes = MY_OWES_NOTHING;
	s->sseq = (uint8_t)(srv + 1);
	s->to_client = (uint8_t)(seq + 1);
	return 0;
}

/* The SQL text of a COM_STMT_PREPARE, copied into its queue entry for
 * its PREPARE OK (a client may send several before reading the answers). */
static void keep_prepare(struct my_sess *s, const uint8_t *sql, size_t n)
{
	if (s->q_len == 0)
		return;
	struct my_cmd *c = &s->queue[(s->q_head + s->q_len - 1) % MY_QUEUE];
	c->prep = my_host->alloc(n + 1);
	if (!c->prep)
		return;
	memcpy(c->prep, sql, n);
	c->prep[n] = 0;
	c->prep_len = n;
}

/* The tag of the command just queued (its answer's COMPLETE). */
static void tag_last(struct my_sess *s, const char *sql, size_t n)
{
	if (s->q_len == 0)
		return;
	struct my_cmd *c = &s->queue[(s->q_head + s->q_len - 1) % MY_QUEUE];
	my_tag(sql, n, c->tag);
}

/* COM_STMT_EXECUTE: keep the parameter types when it binds new ones
 * (later executions may not repeat them).  Returns my_stmt_bound_types's
 * answer: 1 kept, 0 none bound, -1 not all at hand (nothing kept). */
static int keep_types(struct my_stmt *st, const uint8_t *pl, size_t n)
{
	const uint8_t *types;
	int rc = my_stmt_bound_types(st, pl, n, &types);
	if (rc <= 0)
		return rc;
	if (!st->types)
		st->types = my_host->alloc(2 * (size_t)st->nparams);
	if (st->types)
		memcpy(st->types, types, 2 * (size_t)st->nparams);
	return 1;
}

/* Observing, a command too big to decode (streamed), just committed, of
 * which p[0..avail) is at hand (header included): what observe_command
 * would note, from its first bytes.  Its answer's tag comes from the
 * query's first keyword, or its statement's; an execution's parameter
 * types are kept, or forgotten when they are not at hand (never stale:
 * the shadow decodes later executions with them). */
static void observe_streamed(struct my_sess *s, const uint8_t *p, size_t avail)
{
	const uint8_t *pl = p + MY_HDR;
	size_t n = avail - MY_HDR;
	uint32_t flags;
	s->fp_streamed = 0;
	if (pl[0] == MY_COM_QUERY) {
		tag_last(s, (const char *)pl + 1, n - 1);
		my_fingerprint((const char *)pl + 1, n - 1, s->fp, sizeof(s->fp), &flags);
		s->fp_streamed = 1;
		return;
	}
	struct my_stmt *st = pl[0] == MY_COM_STMT_EXECUTE && n >= 10 ? my_stmt_find(s, my_le32(pl + 1)) : NULL;
	if (!st)
		return;
	tag_last(s, st->sql, st->len);
	my_fingerprint(st->sql, st->len, s->fp, sizeof(s->fp), &flags);
	s->fp_streamed = 1;
	if (keep_types(st, pl, n) >= 0)
		return;
	if (st->types)
		my_host->free(st->types);
	st->types = NULL;
}


/* A whole command the database gets, decoded because the core observes,
 * because statements are kept (keep_statements) or because the session
 * is translated.  Commit it as fe_frame would have, remember what a
 * translation needs, name its statement (observing), mark what LMS
 * answers itself (translated, local.c). */
static int observe_command(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_result *res)
{
	const uint8_t *pl = msg + MY_HDR;
	size_t n = len - MY_HDR;
	uint8_t cmd = pl[0];
	uint32_t kind, flags;
	int answered;
	if (command_class(cmd, &kind, &flags, &answered) < 0)
		return -1;
	command_commit(s, cmd, (uint32_t)n, answered);
	res->verdict = LMS_FORWARD;
	s->local_req = 0;
	my_exec_ld_free(s); /* the previous execution's long data */
	int names_stmt = cmd == MY_COM_STMT_EXECUTE || cmd == MY_COM_STMT_CLOSE || cmd == MY_COM_STMT_RESET ||
			 cmd == MY_COM_STMT_SEND_LONG_DATA || cmd == MY_COM_STMT_FETCH;
	struct my_stmt *st = names_stmt && n >= 5 ? my_stmt_find(s, my_le32(pl + 1)) : NULL; /* (a miss scans
											     every slot) */
	const char *sql = NULL;
	size_t sl = 0;
	int long_over = 0;
	switch (cmd) {
	case MY_COM_QUERY:
		sql = (const char *)pl + 1;
		sl = n - 1;
		if (s->observe)
			tag_last(s, sql, sl);
		my_iso_decoded(s, sql, sl); /* SET TRANSACTION ... (isolation.c) */
		break;
	case MY_COM_STMT_PREPARE:
		keep_prepare(s, pl + 1, n - 1);
		sql = (const char *)pl + 1;
		sl = n - 1;
		break;
	case MY_COM_STMT_EXECUTE:
		if (!st)
			break;
		keep_types(st, pl, n);
		long_over = my_long_data_take(s, st);
		sql = st->sql;
		sl = st->len;
		if (s->observe)
			tag_last(s, sql, sl);
		break;
	case MY_COM_STMT_SEND_LONG_DATA:
		my_long_data_add(s, pl, n);
		break;
	case MY_COM_STMT_RESET:
		if (st) {
			st->long_data = 0;
			my_stmt_extras_free(s, st); /* long data forgotten, cursor closed */
		}
		break;
	case MY_COM_STMT_CLOSE:
		if (n >= 5)
			my_stmt_close(s, my_le32(pl + 1));
		break;
	case MY_COM_RESET_CONNECTION:
		my_stmt_clear(s);
		if (s->translated)
			s->autocommit = 1; /* (relayed: the database's OK says) */
		else
			my_iso_forget(s); /* MariaDB resets it (PostgreSQL keeps its own) */
		break;
	case MY_COM_CHANGE_USER:
		if (!s->translated)
			my_change_user_names(s, pl, n); /* named at the database's OK (backend.c) */
		break;
	default:
		break;
	}
	if (s->translated)
		my_cmd_decoded(s, st, pl, n, long_over); /* commands beyond queries (cmds.c) */
	if (s->translated && cmd == MY_COM_CHANGE_USER && s->cu_verdict > 0)
		my_name_session(s, res); /* verified at once */
	if (s->translated && (cmd == MY_COM_QUERY || cmd == MY_COM_INIT_DB) && s->q_len > 0) {
		/* answered by LMS (local.c): its text waits with it */
		struct my_cmd *c = &s->queue[(s->q_head + s->q_len - 1) % MY_QUEUE];
		c->local = my_local_class(pl, n);
		if (c->local)
			keep_prepare(s, pl + 1, n - 1);
		if (c->local == MY_L_AC_ON)
			c->ac_commit = !s->autocommit;
		if (c->local == MY_L_AC_ON || c->local == MY_L_AC_OFF)
			s->autocommit = c->local == MY_L_AC_ON; /* for the requests after it (request.c) */
	}
	s->fp_streamed = 0;
	if (sql && s->observe) {
		my_fingerprint(sql, sl, s->fp, sizeof(s->fp), &res->stmt_flags);
		if ((cmd == MY_COM_QUERY || cmd == MY_COM_STMT_EXECUTE) && my_begins_txn(s, sql, sl))
			res->stmt_flags |= LMS_STMT_BEGIN; /* autocommit off: it opens a transaction block */
		if (cmd == MY_COM_QUERY && !s->translated && my_host->abi_minor >= 10 && my_local_class(pl, n))
			res->stmt_flags |= LMS_STMT_LOCAL; /* the shadow runs what a cutover would (request.c) */
		res->fingerprint = s->fp;
	}
	return 0;
}

/* A command the proxy does not relay: ERR, the session goes on. */
static int refuse_command(struct my_sess *s, const uint8_t *msg, struct lms_out *out, struct lms_result *res)
{
	char text[160];
	uint8_t cmd = msg[4];
	if (cmd == 0x12 || cmd == 0x13 || cmd == 0x15 || cmd == 0x1e)
		snprintf(text, sizeof(text), "molt-lms does not relay replication commands (0x%02x)", cmd);
	else
		snprintf(text, sizeof(text), "molt-lms: unknown or unsupported command 0x%02x", cmd);
	my_err_packet(out, 1, 1047, "08S01", text, 1);
	res->verdict = LMS_REPLY;
	s->to_client = 1;
	return 0;
}

int my_fe_decode(void *fe, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res)
{
	struct my_sess *s = fe;
	if (len < MY_HDR || MY_HDR + (size_t)my_le24(msg) != len)
		return -1;
	switch (s->state) {
	case MY_S_HANDSHAKE:
		return decode_handshake(s, msg, len, out, res);
	case MY_S_AUTH:
		if (s->own_login)
			return my_login_switch_answer(s, msg, len, out, res);
		return decode_auth(s, msg, len, out, res);
	case MY_S_READY:
		s->local_req = 0; /* set again below for what LMS answers itself */
		if (s->translated && s->cu_pending && s->owes == MY_OWES_AUTH)
			return my_change_user_answer(s, msg, len, out, res);
		if (len < MY_HDR + 1)
			return -1;
		/* decoded for one of three reasons, asked in fe_frame's order */
		if (s->translated) {
			uint32_t kind, flags;
			int answered;
			if (command_class(msg[MY_HDR], &kind, &flags, &answered) < 0)
				return refuse_command(s, msg, out, res);
			int rc = observe_command(s, msg, len, res);
			if (rc == 0 && msg[MY_HDR] == MY_COM_CHANGE_USER && s->cu_verdict < 0)
				return my_change_user_refuse_now(s, out, res);
			return rc;
		}
		if (my_kill_candidate(msg[MY_HDR], msg, len, (uint32_t)(len - MY_HDR)) == 1)
			return my_fe_kill(s, msg, len, out, res);
		if (s->retype) {
			int rc = observe_command(s, msg, len, res);
			return rc < 0 ? rc : my_remap_retype(s, msg, len, out, res);
		}
		if (decoded(s, msg[MY_HDR]) || (s->keep && msg[MY_HDR] == MY_COM_QUERY))
			return observe_command(s, msg, len, res); /* (a SET: keeps_setting) */
		return refuse_command(s, msg, out, res);
	default:
		return -1;
	}
}

/* MySQL error codes for the core's SQLSTATEs. */
static const struct {
	const char *pg;
	uint16_t code;
	const char *state;
} err_map[] = {
	{ "53300", 1040, "08004" }, /* ER_CON_COUNT_ERROR */
	{ "57P01", 1053, "08S01" }, /* ER_SERVER_SHUTDOWN */
	{ "57P05", 1927, "70100" }, /* ER_CONNECTION_KILLED (idle timeout) */
	{ "53200", 1037, "HY001" }, /* ER_OUTOFMEMORY */
	{ "08P01", 1047, "08S01" }, /* ER_UNKNOWN_COM_ERROR */
	{ "28000", 1045, "28000" }, /* ER_ACCESS_DENIED_ERROR (own login refused) */
};

int my_fe_error(void *fe, const struct lms_error *err, struct lms_out *out)
{
	struct my_sess *s = fe;
	uint16_t code = 1105; /* ER_UNKNOWN_ERROR */
	const char *state = err->sqlstate;
	for (size_t i = 0; i < sizeof(err_map) / sizeof(err_map[0]); i++)
		if (err->sqlstate && strcmp(err->sqlstate, err_map[i].pg) == 0) {
			code = err_map[i].code;
			state = err_map[i].state;
		}
	if (state && state[0] == '0' && state[1] == '8' && code == 1105)
		state = "08S01"; /* MySQL's "communication link failure" */
	/* Before the greeting the client's capabilities are unknown: no
	 * SQLSTATE marker, as a server refusing a connection does. */
	uint8_t seq = s ? s->to_client : 0;
	if (s && s->translated && s->state == MY_S_READY && s->q_len == 0 && !s->ans.started && !s->fe_cont)
		seq = 1; /* between commands: it answers the one the client sends next */
	int with_state = s && s->state != MY_S_GREETING;
	my_err_packet(out, seq, code, state, err->message ? err->message : "molt-lms error", with_state);
	return 0;
}

/* strict-sync (ABI 1.3): an ERR in place of the OK or EOF that ended the
 * answer just relayed, with its sequence id (an ERR may end a result set
 * after its rows).  Not for a PREPARE's answer, whose last packet is a
 * definition the client must read: -1, the core then reports only. */
int my_fe_error_in_answer(void *fe, const struct lms_error *err, struct lms_out *out)
{
	struct my_sess *s = fe;
	if (s->end_cmd != MY_COM_QUERY && s->end_cmd != MY_COM_STMT_EXECUTE && s->end_cmd != MY_COM_STMT_FETCH)
		return -1;
	uint8_t keep = s->to_client;
	s->to_client = s->end_seq;
	int rc = my_fe_error(fe, err, out);
	s->to_client = keep;
	return rc;
}

/* The statement of the command just streamed past undecoded
 * (observe_streamed): its fingerprint, from the bytes that were at hand. */
int my_fe_statement(void *fe, char *out, size_t cap)
{
	struct my_sess *s = fe;
	if (!s || !s->fp_streamed || cap == 0)
		return -1;
	snprintf(out, cap, "%s", s->fp);
	return 0;
}
