/*
 * fuzz_my_served.c - client bytes through mysql.so in a translated session
 * (ABI 1.4: served by a database of another wire family after a cutover):
 * fe_frame, fe_decode and fe_request as the core calls them, and for every
 * command owed an answer the database's part played through fe_answer: a
 * prepare gets its parameters and columns, a query or an execution a
 * result set (two columns, some rows) or an error, everything else READY.
 * This reaches what LMS answers itself: the connectors' start-up queries
 * (local.c), long data, cursors and fetches, COM_CHANGE_USER and its auth
 * exchange, COM_STATISTICS, COM_FIELD_LIST (cmds.c).
 *
 * Byte 0: bit 0 CLIENT_DEPRECATE_EOF, bit 1 the session's scramble is
 * known (a change of user is verified at once), bit 2 results end in an
 * error, bits 3-5 rows per result set, bit 6 the fake logins know the
 * user.  Byte 1: split seed.  Rest: what the client sends.
 */
#include "autoconfig.h"

#include "my_inject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t opts;
static int dead; /* fe_answer failed: the core ends the session */
static uint8_t *abuf;

#define ABUF_CAP (2u * 32768u + LMS_OUT_MAX) /* what the core gives fe_answer */

/* The core's copy of the logins: the harness's ("app", password "x")
 * with bit 6, else none at all. */
static int no_logins(const char *user, const char *ip, char *plugin, size_t pcap, char *verifier, size_t vcap)
{
	if (opts & 0x40)
		return fuzz_credential_of(user, ip, plugin, pcap, verifier, vcap);
	return -2;
}

static void setup(struct sess *x, uint8_t o, struct evlog *l)
{
	(void)l;
	opts = o;
	dead = 0;
	fuzz_observe = 1; /* the harness asks fe_request after each decode, as the core does */
	fuzz_own_login = 0;
	fuzz_translated = 1;
	sess_new(x, 0, 0, 0);
	fuzz_host.credential_of = no_logins;
	struct my_sess *s = S(x);
	s->state = MY_S_READY;
	s->caps = MY_CAP_PROTOCOL_41 | MY_CAP_SECURE_CONNECTION | MY_CAP_PLUGIN_AUTH | MY_CAP_MULTI_RESULTS |
		  ((o & 1) ? MY_CAP_DEPRECATE_EOF : 0);
	snprintf(s->db, sizeof(s->db), "appdb");
	snprintf(s->login_user, sizeof(s->login_user), "app");
	if (o & 2) {
		memcpy(s->scramble, "abcdefghijklmnopqrst", MY_SCRAMBLE_LEN);
		s->scramble_known = 1;
	}
	x->d->fe_set_translated(x->fe);
}

/* buf[0..n) is whole packets. */
static void check_answer(const uint8_t *buf, long n)
{
	FUZZ_CHECK(n >= 0 && (size_t)n <= ABUF_CAP);
	size_t off = 0;
	while (off < (size_t)n) {
		FUZZ_CHECK((size_t)n - off >= MY_HDR);
		off += MY_HDR + my_le24(buf + off);
	}
	FUZZ_CHECK(off == (size_t)n);
}

/* One event of the database through fe_answer. */
static void answer(struct sess *x, const struct lms_answer *a, struct evlog *l)
{
	if (dead)
		return;
	long n = x->d->fe_answer(x->fe, a, abuf, ABUF_CAP);
	ev_u64(l, (uint64_t)n);
	if (n < 0) {
		dead = 1;
		return;
	}
	check_answer(abuf, n);
	ev_add(l, abuf, (size_t)n);
}

static void ev(struct sess *x, uint32_t kind, uint32_t n, struct evlog *l)
{
	static const struct lms_column cols[2] = {
		{ "id", 2, LMS_TC_INT, 4, -1, -1 },
		{ "v", 1, LMS_TC_TEXT, 0, 20, -1 },
	};
	static const struct lms_param vals[2] = { { (const uint8_t *)"42", 2 }, { (const uint8_t *)"x", 1 } };
	struct lms_answer a;
	memset(&a, 0, sizeof(a));
	a.kind = kind;
	a.n = n;
	if (kind == LMS_ANS_COLUMNS)
		a.cols = cols;
	if (kind == LMS_ANS_ROW)
		a.values = vals;
	if (kind == LMS_ANS_ERROR) {
		memcpy(a.sqlstate, "22012", 6);
		snprintf(a.text, sizeof(a.text), "division by zero");
	}
	answer(x, &a, l);
}

/* The database's part: every command owed an answer gets one. */
static void idle(struct sess *x, struct evlog *l)
{
	struct my_sess *s = S(x);
	while (!dead && s->q_len > 0) {
		const struct my_cmd *c = &s->queue[s->q_head];
		if (!c->local && c->cmd == MY_COM_STMT_PREPARE) {
			ev(x, LMS_ANS_PARAMS, 1, l);
			ev(x, LMS_ANS_COLUMNS, 2, l);
		} else if (!c->local && (c->cmd == MY_COM_QUERY || c->cmd == MY_COM_STMT_EXECUTE)) {
			ev(x, LMS_ANS_COLUMNS, 2, l);
			for (uint32_t k = 0; k < ((opts >> 3) & 7u); k++)
				ev(x, LMS_ANS_ROW, 2, l);
			ev(x, (opts & 4) ? LMS_ANS_ERROR : LMS_ANS_COMPLETE, 0, l);
		}
		ev(x, LMS_ANS_READY, 0, l);
	}
}

static int act(struct sess *x, const struct lms_result *res, struct evlog *l)
{
	(void)x;
	(void)l;
	return dead || res->action == LMS_ACT_CLOSE ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	if (!abuf)
		abuf = malloc(ABUF_CAP);
	FUZZ_CHECK(abuf != NULL);
	opts = data[0];
	struct evlog whole = { 0xcbf29ce484222325ull, 0 }, split = { 0xcbf29ce484222325ull, 0 };
	run_once(data, size, 1, setup, 0, act, idle, &whole);
#ifdef FUZZ_TRACE
	fprintf(stderr, "---- split\n");
#endif
	run_once(data, size, 0, setup, 0, act, idle, &split);
	FUZZ_CHECK(whole.hash == split.hash && whole.count == split.count);
	return 0;
}
