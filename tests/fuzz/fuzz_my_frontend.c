/*
 * fuzz_my_frontend.c - client bytes through mysql.so's fe_frame and
 * fe_decode the way the core feeds them, after a well-formed greeting.
 * The database is played by the harness: an auth switch then OK for the
 * login, and for every command the client completes a short answer of the
 * right shape (OK, PREPARE OK, a statistics string, an EOF, or a LOCAL
 * INFILE request then OK).
 *
 * Byte 0: bit 0 the proxy has a certificate, bit 1 it requires TLS, bits
 * 2-4 the URL's ssl-mode (value % 5), bit 5 the login goes through an
 * auth switch, bit 6 queries get a LOCAL INFILE request, bit 7 the core
 * observes (shadowing: commands decoded, fe_request, a PREPARE with two
 * parameters).  Bits 2-4 all set: own login instead (ABI 1.4: the plugin
 * greets the client and verifies it against a fake credential_of: user
 * "app" with password "x", "ed" with ed25519; a verified client gets
 * fe_login_done's OK, then commands as usual).  Byte 1: split
 * seed; its bit 7 also: the session was moved back holding statements
 * (remap.c: ids patched, PREPARE OKs rewritten).  Rest: what the client
 * sends.
 */
#include "autoconfig.h"

#include "my_inject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t opts;
static int switched;
static int remap;

static void setup(struct sess *x, uint8_t o, struct evlog *l)
{
	uint8_t b[128];
	opts = o;
	switched = 0;
	fuzz_observe = (o >> 7) & 1;
	fuzz_own_login = ((o >> 2) & 7) == 7;
	sess_new(x, o & 1, (o >> 1) & 1, ((o >> 2) & 7) % 5);
	S(x)->remap = remap;
	if (fuzz_own_login) {
		struct lms_out *out = malloc(sizeof(*out));
		struct lms_result res;
		FUZZ_CHECK(out != NULL);
		memset(&res, 0, sizeof(res));
		out->len = 0;
		FUZZ_CHECK(x->d->fe_accept(x->fe, out, &res) == 0 && res.action == LMS_ACT_NONE);
		check_packets(out);
		free(out);
		return;
	}
	size_t n = server_greeting(b, FUZZ_SRV_CAPS);
	FUZZ_CHECK(inject(x, 1, b, n, l) == 0);
}

static int act(struct sess *x, const struct lms_result *res, struct evlog *l)
{
	(void)l;
	if (res->action == LMS_ACT_START_TLS)
		x->d->fe_tls_done(x->fe);
	if (res->action == LMS_ACT_BACKEND_TLS) {
		struct lms_out *out = malloc(sizeof(*out));
		struct lms_result r2;
		FUZZ_CHECK(out != NULL);
		memset(&r2, 0, sizeof(r2));
		out->len = 0;
		FUZZ_CHECK(x->d->be_start(x->be, 1, NULL, out, &r2) == 0);
		free(out);
	}
	if (res->action == LMS_ACT_CONNECT && fuzz_own_login) {
		/* the core's login to the database succeeded: the client's OK */
		struct lms_out *out = malloc(sizeof(*out));
		FUZZ_CHECK(out != NULL);
		out->len = 0;
		FUZZ_CHECK(x->d->fe_login_done(x->fe, out) == 0);
		check_packets(out);
		FUZZ_CHECK(x->d->fe_login_done(x->fe, out) == -1);
		free(out);
		return 0;
	}
	return res->action == LMS_ACT_CLOSE || res->action == LMS_ACT_CONNECT ? -1 : 0;
}

/* The database's part, whenever it owes an answer. */
static void idle(struct sess *x, struct evlog *l)
{
	struct my_sess *s = S(x);
	uint8_t b[64];
	if (s->state == MY_S_AUTH && s->owes == MY_OWES_NOTHING && !fuzz_own_login) {
		if ((opts >> 5) & 1 && !switched) {
			switched = 1;
			inject(x, 1, b, mk(b, s->sseq, "\xfe" "mysql_native_password\0salt", 27), l);
		} else {
			inject(x, 1, b, mk(b, s->sseq, "\x00\x00\x00\x02\x00\x00\x00", 7), l);
		}
		return;
	}
	if (s->state != MY_S_READY || s->owes != MY_OWES_NOTHING)
		return;
	if (s->resp == MY_R_INFILE) {
		inject(x, 1, b, mk(b, s->sseq, "\x00\x01\x00\x02\x00\x00\x00", 7), l);
		return;
	}
	if (s->resp != MY_R_IDLE || s->q_len == 0)
		return;
	const struct my_cmd *c = &s->queue[s->q_head];
	switch (c->cmd) {
	case MY_COM_QUERY:
		if ((opts >> 6) & 1)
			inject(x, 1, b, mk(b, c->first_seq, "\xfb" "file", 5), l);
		else
			inject(x, 1, b, mk(b, c->first_seq, "\x00\x01\x00\x03\x00\x00\x00", 7), l);
		break;
	case MY_COM_STMT_PREPARE:
		if (!fuzz_observe) {
			inject(x, 1, b, mk(b, c->first_seq, "\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 12), l);
			break;
		}
		/* statement 1 with two parameters: their definitions, then EOF */
		uint8_t seq = c->first_seq;
		static const char def[] = "\x03" "def\0\0\0\x01?\0\x0c\x3f\0\0\0\0\0\xfd\0\0\0\0\0";
		if (inject(x, 1, b, mk(b, seq++, "\x00\x01\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00", 12), l) < 0 ||
		    inject(x, 1, b, mk(b, seq++, def, sizeof(def) - 1), l) < 0 ||
		    inject(x, 1, b, mk(b, seq++, def, sizeof(def) - 1), l) < 0)
			break;
		if (!(s->caps & MY_CAP_DEPRECATE_EOF))
			inject(x, 1, b, mk(b, seq, "\xfe\x00\x00\x02\x00", 5), l);
		break;
	case MY_COM_STATISTICS:
		inject(x, 1, b, mk(b, c->first_seq, "Uptime: 1", 9), l);
		break;
	case MY_COM_FIELD_LIST:
		inject(x, 1, b, mk(b, c->first_seq, "\xfe\x00\x00\x02\x00", 5), l);
		break;
	case MY_COM_CHANGE_USER:
		inject(x, 1, b, mk(b, c->first_seq, "\xfe" "mysql_native_password\0salt", 27), l);
		break;
	default:
		inject(x, 1, b, mk(b, c->first_seq, "\xff\x10\x04#HY000no", 11), l);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct evlog whole = { 0xcbf29ce484222325ull, 0 }, split = { 0xcbf29ce484222325ull, 0 };
	remap = data[1] >> 7;
	run_once(data, size, 1, setup, 0, act, idle, &whole);
	run_once(data, size, 0, setup, 0, act, idle, &split);
	FUZZ_CHECK(whole.hash == split.hash && whole.count == split.count);
	return 0;
}
