/*
 * fuzz_pg_observe.c - database bytes through pg_be_frame, pg_be_decode,
 * pg_be_observe (ABI 1.1) and pg_be_answer (ABI 1.4: the same messages
 * described for a client of another wire family) on a backend that the
 * core observes, past
 * its startup: any sequence of typed messages (RowDescription, DataRow,
 * CommandComplete, ErrorResponse, ...).
 *
 * Byte 0: bit 0 the cockroach flavor (else postgres); bit 1: client
 * messages follow; bit 2: the client speaks MySQL (values compared as
 * beside a MySQL client: PG_NORM_MYSQL).  Byte 1: split seed.  With bit 1, a big-endian u16 L
 * and L bytes of client records, each: u8 W (database messages to let
 * through first), the type byte, a u16 body length n and n body bytes;
 * they are noted (pg_be_note_request) between the database's messages;
 * a type byte with bit 7 set is instead a translated request (ABI 1.3):
 * bits 0-2 its kind, bits 3-5 its transaction flags (ABI 1.5; with
 * STMT_ATOMIC also INSERT_ID, ABI 1.6, as mysql.so sends them), the body
 * its SQL, written by pg_be_encode_request (statements of ours in front,
 * answers hidden, a ROLLBACK sent back after a class 40 error, an
 * execution sent again after 0A000 or 26000, an INSERT's key looked up
 * and its rows hidden).
 * Rest: what the database sends.
 */
#include "autoconfig.h"

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct obs_ctx {
	void *be;
	struct evlog *log;
	uint32_t emitted; /* values emitted for the current message */
	const uint8_t *cl; /* client records not noted yet */
	size_t cl_len;
	uint32_t wait;     /* database messages before the next record */
	size_t msg_len;    /* the message described now */
};

/* A translated request: what is written is whole, framed messages. */
static void obs_encode(struct obs_ctx *c, uint8_t type, const uint8_t *sql, size_t n)
{
	static uint8_t buf[1 << 17];
	struct lms_request req;
	memset(&req, 0, sizeof(req));
	req.kind = type & 7;
	req.flags = (type >> 3) & 7;
	if (req.flags & LMS_REQ_STMT_ATOMIC)
		req.flags |= LMS_REQ_INSERT_ID;
	req.sql = (const char *)sql;
	req.sql_len = n;
	long w = pg_be_encode_request(c->be, &req, buf, (type & 0x40) ? 64 : sizeof(buf));
	ev_u64(c->log, (uint64_t)w);
	FUZZ_CHECK(w >= -1 && (size_t)(w < 0 ? 0 : w) <= sizeof(buf));
	for (size_t i = 0; w > 0 && i < (size_t)w;) {
		FUZZ_CHECK((size_t)w - i >= 5);
		size_t len = 1 + pg_get32(buf + i + 1);
		FUZZ_CHECK(len >= 5 && len <= (size_t)w - i);
		i += len;
	}
}

/* Note the client records that are due, each as a whole message. */
static void obs_note_due(struct obs_ctx *c)
{
	static uint8_t msg[5 + 65535];
	while (c->cl_len >= 4 && c->wait == 0) {
		size_t n = (size_t)c->cl[2] << 8 | c->cl[3];
		if (n > c->cl_len - 4)
			n = c->cl_len - 4;
		uint8_t type = c->cl[1];
		if (type & 0x80) {
			obs_encode(c, type, c->cl + 4, n);
		} else {
			msg[0] = type;
			pg_put32(msg + 1, (uint32_t)(n + 4));
			memcpy(msg + 5, c->cl + 4, n);
			pg_be_note_request(c->be, msg, n + 5);
		}
		c->cl += 4 + n;
		c->cl_len -= 4 + n;
		c->wait = c->cl_len > 0 ? c->cl[0] : 0;
	}
	if (c->wait > 0)
		c->wait--;
}

static int obs_frame(void *arg, const uint8_t *p, size_t avail, struct lms_frame *f)
{
	struct obs_ctx *c = arg;
	return pg_be_frame(c->be, p, avail, f);
}

/* Every value: NULL with length 0, or at most the hex form's size, or a
 * binary numeric's decimal text (weight and leading zeros up to 0x7fff
 * groups of 4 digits each side, a sign and a point). */
#define OBS_NUMERIC_TEXT_MAX (8u * 0x8000u + 3u)
static void obs_emit(void *arg, const uint8_t *data, size_t len)
{
	struct obs_ctx *c = arg;
	FUZZ_CHECK(data != NULL || len == 0);
	FUZZ_CHECK(len <= 2 * c->msg_len + 2 || len <= OBS_NUMERIC_TEXT_MAX || data == NULL);
	c->emitted++;
	ev_u64(c->log, data ? len : UINT64_MAX);
	if (data)
		ev_add(c->log, data, len);
}

/* A C string filling at most cap bytes of its array. */
static int str_fits(const char *s, size_t cap)
{
	return memchr(s, 0, cap) != NULL;
}

static void check_event(const struct obs_ctx *c, const uint8_t *msg, const struct lms_event *ev)
{
	FUZZ_CHECK(ev->kind <= LMS_EV_PARAM);
	FUZZ_CHECK((ev->flags & ~(LMS_EV_TRANSIENT | LMS_EV_ROWS_KNOWN)) == 0);
	FUZZ_CHECK(str_fits(ev->tag, sizeof(ev->tag)) && str_fits(ev->text, sizeof(ev->text)));
	FUZZ_CHECK(str_fits(ev->sqlstate, sizeof(ev->sqlstate)));
	FUZZ_CHECK(ev->kind == LMS_EV_ROW ? c->emitted == ev->ncols : c->emitted == 0);
	if (ev->kind == LMS_EV_READY)
		FUZZ_CHECK(msg[0] == 'Z' && ev->txn <= LMS_TXN_FAILED);
	if (ev->flags & LMS_EV_TRANSIENT)
		FUZZ_CHECK(ev->kind == LMS_EV_ERROR);
}

/* be_answer's description of msg: in range, values bounded. */
static void check_answer(const struct lms_answer *a, size_t len, struct evlog *log)
{
	FUZZ_CHECK(a->kind <= LMS_ANS_PARSED);
	FUZZ_CHECK((a->flags & ~(LMS_ANS_ROWS_KNOWN | LMS_ANS_INSERT_ID)) == 0);
	FUZZ_CHECK(!(a->flags & LMS_ANS_INSERT_ID) || a->kind == LMS_ANS_COMPLETE);
	FUZZ_CHECK(str_fits(a->tag, sizeof(a->tag)) && str_fits(a->text, sizeof(a->text)));
	FUZZ_CHECK(str_fits(a->sqlstate, sizeof(a->sqlstate)));
	ev_u64(log, a->kind);
	ev_u64(log, a->n);
	if (a->kind == LMS_ANS_COLUMNS) {
		FUZZ_CHECK(a->n <= PG_COLS_MAX && (a->n == 0 || a->cols != NULL));
		for (uint32_t k = 0; k < a->n; k++) {
			FUZZ_CHECK(a->cols[k].type_class <= LMS_TC_UUID && a->cols[k].name_len < len);
			ev_add(log, a->cols[k].name, a->cols[k].name_len);
		}
	}
	if (a->kind == LMS_ANS_ROW) {
		FUZZ_CHECK(a->n <= PG_COLS_MAX && (a->n == 0 || a->values != NULL));
		for (uint32_t k = 0; k < a->n; k++) {
			FUZZ_CHECK(a->values[k].data != NULL || a->values[k].len == 0);
			FUZZ_CHECK(a->values[k].len <= 3 * LMS_DECODE_MAX);
			ev_u64(log, a->values[k].data ? a->values[k].len : UINT64_MAX);
			if (a->values[k].data)
				ev_add(log, a->values[k].data, a->values[k].len);
		}
	}
}

/* What a ReadyForQuery is answered with: the ROLLBACK Query after a
 * class 40 error, or an execution sent again (rerun.c): whole frontend
 * messages, Close and Parse of its statement first (after atomic.c's),
 * Sync last. */
static void check_reply(const struct pg_atom *a, const uint8_t *msg, const struct lms_out *out)
{
	FUZZ_CHECK(a && msg[0] == 'Z' && out->len >= 5 && out->len <= LMS_OUT_MAX);
	if (out->data[0] == 'Q') {
		FUZZ_CHECK(out->len == 14 && memcmp(out->data + 5, "ROLLBACK", 9) == 0);
		return;
	}
	size_t i = 0, last = 0;
	int closes = 0;
	while (i < out->len) {
		FUZZ_CHECK(out->len - i >= 5);
		size_t len = 1 + pg_get32(out->data + i + 1);
		FUZZ_CHECK(len >= 5 && len <= out->len - i);
		closes += out->data[i] == 'C';
		last = i;
		i += len;
	}
	FUZZ_CHECK(closes == 1 && out->data[last] == 'S');
}

/* be_observe on a whole message into *ev, checked and logged.  Returns
 * its result (0, or -1 for a malformed message). */
static int obs_describe(struct obs_ctx *c, const uint8_t *msg, size_t len, struct lms_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	c->emitted = 0;
	c->msg_len = len;
	int orc = pg_be_observe(c->be, msg, len, ev, obs_emit, c);
	FUZZ_CHECK(orc == 0 || orc == -1);
	ev_u64(c->log, (uint64_t)(int64_t)orc);
	if (orc < 0)
		return -1;
	check_event(c, msg, ev);
	ev_add(c->log, ev, sizeof(*ev));
	return 0;
}

/* be_decode, then be_observe and be_answer on the same message, as the
 * core will (be_answer only in a translated session). */
static int obs_decode(void *arg, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res)
{
	struct obs_ctx *c = arg;
	obs_note_due(c);
	int rc = pg_be_decode(c->be, msg, len, out, res);
	if (rc < 0)
		return rc;
	struct lms_event ev;
	if (obs_describe(c, msg, len, &ev) < 0)
		return -1;
	struct lms_answer ans;
	memset(&ans, 0, sizeof(ans));
	int arc = pg_be_answer(c->be, msg, len, &ans);
	FUZZ_CHECK(arc == 0 || arc == -1);
	ev_u64(c->log, (uint64_t)(int64_t)arc);
	if (arc == 0)
		check_answer(&ans, len, c->log);
	struct pg_atom *a = pg_be_atom(c->be, 0);
	struct pg_rerun *rr = pg_be_rerun(c->be, 0);
	if ((a && a->hiding) || (rr && rr->hiding)) /* an answer to a statement of ours: nobody sees it */
		FUZZ_CHECK(ev.kind == LMS_EV_NONE && arc == 0 && ans.kind == LMS_ANS_NONE &&
			   (res->action == LMS_ACT_NONE || (rr && rr->hiding && res->action == LMS_ACT_FAIL)));
	if (res->verdict == LMS_REPLY) /* the ROLLBACK after a class 40 error, or an execution again */
		check_reply(a, msg, out);
	return 0;
}

/* A DataRow over LMS_DECODE_MAX streamed past, described whole (the
 * core's copy of it, core/session.c row_copy): a row or nothing. */
static void obs_streamed(void *arg, const uint8_t *msg, size_t len)
{
	struct obs_ctx *c = arg;
	struct lms_event ev;
	if (obs_describe(c, msg, len, &ev) == 0)
		FUZZ_CHECK(ev.kind == LMS_EV_ROW || ev.kind == LMS_EV_NONE);
}

/* The core's reaction: forwarded messages go on, failures close. */
static int obs_act(void *arg, const uint8_t *msg, size_t len, const struct lms_out *out,
		   const struct lms_result *res, size_t pending)
{
	(void)arg;
	(void)msg;
	(void)len;
	(void)out;
	(void)pending;
	if (res->action == LMS_ACT_READY)
		FUZZ_CHECK(msg[0] == 'Z');
	return res->action == LMS_ACT_FAIL || res->action == LMS_ACT_CLOSE ? -1 : 0;
}

static struct evlog run_once(const char *family, uint8_t seed, int whole, const uint8_t *cl, size_t cl_len,
			     const uint8_t *data, size_t size)
{
	struct lms_backend_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.tls_mode = LMS_TLS_DISABLE;
	struct lms_be_opts bo;
	memset(&bo, 0, sizeof(bo));
	bo.conf = &conf;
	bo.relay_auth = 1;
	bo.observe = 1;
	memcpy(bo.proxy_key, "PROXYKEY", 8);
	struct evlog log = { 0xcbf29ce484222325ull, 0, 0 };
	struct obs_ctx c = { pg_be_new(&bo), &log, 0, cl, cl_len, cl_len > 0 ? cl[0] : 0, 0 };
	FUZZ_CHECK(c.be != NULL);
	static const uint8_t startup[] = { 0, 0, 0, 17, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'a', 0, 0, 0 };
	struct lms_startup st = { family, "a", "a", startup, sizeof(startup) };
	struct lms_out *out = malloc(sizeof(*out));
	struct lms_result res;
	FUZZ_CHECK(out != NULL);
	out->len = 0;
	memset(&res, 0, sizeof(res));
	FUZZ_CHECK(pg_be_start(c.be, 0, &st, out, &res) == 0 && res.action == LMS_ACT_NONE);
	free(out);
	struct side sd = { &c, obs_frame, obs_decode, obs_act, &c, &log, obs_streamed };
	struct splitter sp;
	pg_key_lookup_on(); /* process-wide (genkey.c): each run starts alike */
	split_init(&sp, seed, whole);
	run_stream(&sd, data, size, &sp);
	pg_be_free(c.be);
	return log;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	pg_host = &stub_host;
	pg_flavor = data[0] & 1 ? &pg_flavor_cockroach : &pg_flavor_postgres;
	const uint8_t *cl = NULL;
	size_t cl_len = 0, skip = 2;
	if (data[0] & 2) {
		if (size < 4)
			return 0;
		cl_len = (size_t)data[2] << 8 | data[3];
		if (cl_len > size - 4)
			cl_len = size - 4;
		cl = data + 4;
		skip = 4 + cl_len;
	}
	/* The events, row values included, must not depend on the split. */
	const char *family = data[0] & 4 ? "mysql" : "pgwire";
	struct evlog a = run_once(family, data[1], 1, cl, cl_len, data + skip, size - skip);
	struct evlog b = run_once(family, data[1], 0, cl, cl_len, data + skip, size - skip);
	FUZZ_CHECK(a.hash == b.hash && a.count == b.count);
	return 0;
}
