/*
 * fuzz_my_backend.c - database bytes through mysql.so's be_frame and
 * be_decode the way the core feeds them, from the greeting on.  The client
 * is played by the harness: its login once the greeting is through, an
 * answer whenever the database asks for one (auth switch, LOCAL INFILE),
 * and the next command whenever the previous answer ended.
 *
 * Byte 0: bits 0-2 the URL's ssl-mode (value % 5), bit 3 the proxy has a
 * certificate, bit 4 the client asks for CLIENT_DEPRECATE_EOF, bit 5 the
 * client uses TLS (with bit 3), bit 6 the core observes (shadowing: rows
 * and definitions decoded and described with be_observe).  Byte 1: split
 * seed; its bit 7 also: the session was moved back holding statements
 * (remap.c: PREPARE OKs get the client's ids).  Rest: what the database
 * sends.
 */
#include "autoconfig.h"

#include "my_inject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t opts;
static unsigned ncmd;
static int remap;

static void setup(struct sess *x, uint8_t o, struct evlog *l)
{
	opts = o;
	ncmd = 0;
	fuzz_observe = (o >> 6) & 1;
	sess_new(x, (o >> 3) & 1, (o >> 3) & 1, (o & 7) % 5);
	S(x)->remap = remap;
	struct lms_out out;
	struct lms_result res;
	memset(&res, 0, sizeof(res));
	out.len = 0;
	FUZZ_CHECK(x->d->be_start(x->be, 0, NULL, &out, &res) == 0 && out.len == 0);
	ev_u64(l, res.action);
}

static int act(struct sess *x, const struct lms_result *res, struct evlog *l)
{
	(void)x;
	(void)l;
	return res->action == LMS_ACT_CLOSE || res->action == LMS_ACT_FAIL ? -1 : 0;
}

static const uint8_t commands[][12] = {
	{ MY_COM_QUERY, 's', 'e', 'l', 'e', 'c', 't', ' ', '1' },
	{ MY_COM_STMT_PREPARE, 's', 'e', 'l', 'e', 'c', 't', ' ', '?' },
	{ MY_COM_STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0, 0, 0 },
	{ MY_COM_FIELD_LIST, 't', 0 },
	{ MY_COM_STATISTICS },
	{ MY_COM_CHANGE_USER, 'u', 0, 0, 'd', 'b', 0 },
	{ MY_COM_PING },
	{ MY_COM_STMT_FETCH, 1, 0, 0, 0, 1, 0, 0, 0 },
	{ MY_COM_SET_OPTION, 0, 0 },
	{ MY_COM_RESET_CONNECTION },
	{ MY_COM_PROCESS_INFO },
};
static const size_t command_len[] = { 9, 9, 10, 3, 1, 7, 1, 9, 3, 1, 1 };

/* The client's part, whenever it is the client's turn. */
static void idle(struct sess *x, struct evlog *l)
{
	struct my_sess *s = S(x);
	uint8_t b[64];
	if (s->state == MY_S_HANDSHAKE) {
		uint32_t caps = MY_CAP_PROTOCOL_41 | MY_CAP_SECURE_CONNECTION | MY_CAP_PLUGIN_AUTH |
				MY_CAP_MULTI_RESULTS | MY_CAP_MULTI_STATEMENTS | MY_CAP_LOCAL_FILES |
				((opts >> 4) & 1 ? MY_CAP_DEPRECATE_EOF : 0);
		client_login(x, caps, ((opts >> 3) & 1) && ((opts >> 5) & 1), l);
		return;
	}
	if (s->owes == MY_OWES_AUTH) {
		inject(x, 0, b, mk(b, s->cseq, "answer", 6), l);
		return;
	}
	if (s->owes == MY_OWES_INFILE) {
		inject(x, 0, b, mk(b, s->cseq, "1,2\n", 4), l);
		inject(x, 0, b, mk(b, s->cseq, "", 0), l);
		return;
	}
	if (s->state == MY_S_READY && s->resp == MY_R_IDLE && s->q_len == 0) {
		size_t i = ncmd++ % (sizeof(command_len) / sizeof(command_len[0]));
		inject(x, 0, b, mk(b, 0, commands[i], command_len[i]), l);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct evlog whole = { 0xcbf29ce484222325ull, 0 }, split = { 0xcbf29ce484222325ull, 0 };
	remap = data[1] >> 7;
	run_once(data, size, 1, setup, 1, act, idle, &whole);
	run_once(data, size, 0, setup, 1, act, idle, &split);
	FUZZ_CHECK(whole.hash == split.hash && whole.count == split.count);
	return 0;
}
