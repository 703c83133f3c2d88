/*
 * session.c - the per-connection state machine: login, relay, close.
 *
 * Phases: STARTUP (client's first messages, maybe TLS) -> CONNECTING
 * (backend TCP) -> AUTH (backend TLS negotiation and the relayed login)
 * -> READY (serving) .  Any phase may end in CLOSING (flush what is
 * queued for the client, then free).
 *
 * Ownership: the worker owns the session through its list; the session
 * owns both connections, both plugin states and its timer.  A session is
 * never freed inside a helper: helpers set s->dead and the event callback
 * that started the work frees it as its last step.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bigmsg.h"
#include "cancel.h"
#include "clock.h"
#include "conn.h"
#include "coord.h"
#include "dial.h"
#include "digest.h"
#include "log.h"
#include "plugin_loader.h"
#include "shadow.h"
#include "session.h"
#include "worker.h"

enum phase {
	PH_STARTUP = 0,
	PH_CLIENT_TLS,
	PH_CONNECTING,
	PH_BACKEND_TLS,
	PH_AUTH,
	PH_READY
};

static const char *const phase_names[] = {
	"startup", "client_tls", "connecting", "backend_tls", "auth", "ready"
};

enum dir { C2S = 0, S2C = 1 };

#define RING 32
#define REPLAY_MAX (1024u * 1024u)
#define CLOSE_GRACE_SEC 5
/* How long the idle connection to the old source of truth stays open
 * after a promotion: the server process behind it ending costs a few ms
 * of CPU there, which would compete with the release of every queued
 * request if 64 of them ended at once. */
#define RETIRE_DELAY_SEC 2
/* Translated sessions (ABI 1.4): room for what fe_answer writes for one
 * message of at most LMS_DECODE_MAX bytes (a MySQL column definition
 * repeats the name: up to twice the size). */
#define XBUF_SIZE (2u * LMS_BUF_SIZE + LMS_OUT_MAX)

struct lms_session {
	struct lms_session *prev, *next;
	struct lms_worker *w;
	struct lms_runtime *rt;
	const struct lms_dialect *front;    /* speaks to the client */
	const struct lms_dialect *bd;       /* speaks to the backend */
	const struct lms_backend *backend;
	int role;
	void *fe;
	void *be;
	struct lms_conn client;
	struct lms_conn server;
	bool has_server;
	int addr_idx;          /* which of the backend's addresses we dial */
	int phase;
	bool closing;          /* flush, then free */
	bool dead;             /* free at the end of this callback */
	bool draining;         /* close once idle */
	bool tls_after_flush;  /* start client TLS once the reply is sent */
	int phase_after_tls;   /* where the client TLS handshake returns to */
	bool quitting;         /* the client said goodbye; close once forwarded */
	/* the client half-closed (EOF) with requests in flight: they are
	 * passed on and answered as on a direct connection (half_close_step) */
	bool client_eof;
	bool server_shut;      /* ... all of them went: the database was told */
	bool server_eof;       /* ... it answered them and closed */
	bool partial[2];       /* direction d's input ends in part of a message
				  (nothing more moves until bytes come) */
	bool key_registered;
	bool last_s2c_error;   /* the last backend message was an error */
	int txn;
	uint8_t proxy_key[8];
	uint8_t *startup_raw;
	size_t startup_len;
	char *user;
	char *database;
	uint64_t fwd[2];       /* bytes left of a message being streamed */
	/* the client message being passed on: the plugin's patch (ABI 1.10,
	 * struct lms_frame.patch_*) and how many of its bytes went */
	uint32_t patch_at, patch_len;
	uint8_t patch[LMS_PATCH_MAX];
	uint64_t patch_off;
	uint32_t pending;      /* requests waiting for READY */
	bool req_failed;
	uint64_t ring[RING];   /* start times of pending requests */
	uint32_t ring_head;
	uint32_t ring_len;
	struct event timer;     /* idle, login, pause and connect timeouts */
	/* shadowing (shadowMode other than none) */
	struct lms_shadow *sh;
	struct lms_shadow *standby; /* paused (shadowMode none): a logged-in
				       connection to the other database */
	size_t standby_state;  /* replay_len when the standby was opened */
	struct lms_conn retired; /* the old source of truth after a promotion */
	bool has_retired;
	struct event retire_ev; /* closes it (RETIRE_DELAY_SEC) */
	struct event wake;     /* the shadow asks us to look again */
	bool c2s_open;         /* the client is in the middle of a request */
	bool c2s_shadow;       /* ... and it goes to the shadow too */
	/* cutover (coord.h) */
	bool queued;           /* paused: the next request waits */
	bool login_queued;     /* paused: the backend login waits */
	bool switching;        /* logging in to a new source of truth */
	bool state_by_front;   /* ... which the frontend plugin tells the
				  session's state (carry_state): translated,
				  or moved back (move_back) */
	bool own_login;        /* the plugin verified the client itself (ABI
				  1.4): the backend logs in with the URL's
				  credentials and its login stays ours */
	/* session state to replay on a new source of truth: the client
	 * messages the plugin flagged LMS_STMT_REPLAY, in order (malloc) */
	uint8_t *replay;
	size_t replay_len, replay_cap;
	uint32_t replay_reqs;  /* READYs the replay gets back */
	bool replay_sync;      /* an extended message was kept: keep its Sync */
	bool replay_overflow;  /* over REPLAY_MAX: the session cannot move */
	size_t replay_sent;    /* during a switch: bytes sent so far */
	uint32_t replay_wait;  /* during a switch: READYs still owed */
	uint32_t state_k;      /* ... the next fe_switch_state request (carry_state) */
	uint64_t queued_since_us;
	uint64_t released_us;  /* a queued request left the queue (debug log) */
	bool released_promoted; /* ... on a promoted standby */
	uint64_t txn_since_us; /* when the open transaction began */
	uint64_t id;           /* for GET /api/v1/connections */
	char last_stmt[256];   /* fingerprint of the latest statement */
	bool c2s_end_after;    /* the streamed message ends the request */
	uint32_t truth_unknown; /* requests in flight before the shadow existed */
	bool answer_held;      /* the last S2C pump stopped at a READY the shadow
				  must match first (sync modes): the answer's
				  head waits in client.out to leave with it */
	uint64_t last_active_us;
	unsigned busy_tick;    /* the worker's tick of its last request */
	uint64_t started_us;
	char peer[64];
	/* serving across wire families (ABI 1.4): the source of truth speaks
	 * another protocol than the client; its answers are described
	 * (be_answer) and written for the client (fe_answer) into xbuf,
	 * moved to the client's output as room allows; requests are
	 * described (fe_request) and written for the database into rbuf */
	bool translated;
	uint8_t *xbuf;         /* XBUF_SIZE (malloc), or xcap from the budget */
	size_t xcap;           /* ... while a large answer waits (bigmsg.h) */
	size_t xoff, xlen;     /* xbuf[xoff..xlen) waits for the client's output */
	uint8_t *rbuf;         /* LMS_BUF_SIZE (malloc) */
	/* messages over LMS_DECODE_MAX (bigmsg.h): one being assembled per
	 * direction, and a large request's rewrite (budget) waiting for the
	 * server's output: xout[xout_off..xout_len) */
	struct lms_bigmsg big[2];
	uint8_t *xout;
	size_t xout_off, xout_len, xout_cap;
	/* a row of the source of truth over LMS_DECODE_MAX, copied (budget)
	 * as it streams to the client and observed whole at its end, so that
	 * the shadow compares its values like any row's */
	struct lms_bigmsg row;
};

static uint64_t next_session_id; /* atomic: ids for the admin API */

/* Give xbuf back (to the budget when it grew for a large answer). */
static void xbuf_free(struct lms_session *s)
{
	if (s->xcap > XBUF_SIZE)
		lms_bigmsg_free(s->xbuf, s->xcap);
	else
		free(s->xbuf);
	s->xbuf = NULL;
	s->xcap = 0;
}

static void on_client(struct lms_conn *c, short what, void *arg);
static void on_server(struct lms_conn *c, short what, void *arg);
static void session_update(struct lms_session *s);
static void session_free(struct lms_session *s);

static bool session_move(struct lms_session *s);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_wake(evutil_socket_t fd, short what, void *arg);
static void on_retire(evutil_socket_t fd, short what, void *arg);

/* The last step of every event callback: hand the session to another
 * worker when its worker sends sessions away and it may go, else re-arm
 * the events, or free the session when the callback ended it.  Nothing
 * may touch s after this. */
static void callback_end(struct lms_session *s)
{
	if (!s->dead && s->w->move_to && session_move(s))
		return;
	if (!s->dead)
		session_update(s);
	if (s->dead)
		session_free(s);
}
static void backend_tls_step(struct lms_session *s);
static void backend_tls_from_front(struct lms_session *s);
static void backend_dial(struct lms_session *s, const char *last_err);
static void backend_open(struct lms_session *s, int relay);
static void relay(struct lms_session *s, int d);
static void after_pump(struct lms_session *s);

/* ---- list links ---- */

struct lms_session *lms_session_next(struct lms_session *s)
{
	return s->next;
}

void lms_session_link(struct lms_session *s, struct lms_session **head)
{
	s->prev = NULL;
	s->next = *head;
	if (*head)
		(*head)->prev = s;
	*head = s;
}

void lms_session_unlink(struct lms_session *s, struct lms_session **head)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		*head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

/* ---- lifetime ---- */

static void session_free(struct lms_session *s)
{
	lms_log(LMS_LOG_LEVEL_INFO, "conn_close", "worker=%d peer=%s user=%s database=%s phase=%s duration_ms=%llu",
		s->w->id, s->peer, s->user ? s->user : "-", s->database ? s->database : "-",
		phase_names[s->phase], (unsigned long long)((lms_mono_us() - s->started_us) / 1000));
	if (s->key_registered)
		lms_cancel_unregister(s->proxy_key);
	lms_conn_close(&s->client);
	if (s->has_server)
		lms_conn_close(&s->server);
	if (s->has_retired)
		lms_conn_close(&s->retired);
	event_del(&s->retire_ev);
	if (s->fe)
		s->front->fe_free(s->fe);
	if (s->be)
		s->bd->be_free(s->be);
	event_del(&s->timer);
	lms_shadow_close(s->sh); /* finishes what it runs, then frees itself */
	lms_shadow_free(s->standby);
	event_del(&s->wake);
	free(s->replay);
	xbuf_free(s);
	lms_bigmsg_free(s->xout, s->xout_cap);
	lms_bigmsg_end(&s->big[C2S]);
	lms_bigmsg_end(&s->big[S2C]);
	lms_bigmsg_end(&s->row);
	free(s->rbuf);
	free(s->startup_raw);
	free(s->user);
	free(s->database);
	lms_stat_add(&s->w->stats.conns_active, (uint64_t)-1);
	__atomic_sub_fetch(&s->rt->active_conns, 1, __ATOMIC_RELAXED);
	lms_worker_remove_session(s->w, s);
	free(s);
}

/* Arm the session timer for sec seconds from now. */
static void timer_arm(struct lms_session *s, double sec)
{
	struct timeval tv = { (time_t)sec, (suseconds_t)((sec - (double)(time_t)sec) * 1e6) };
	evtimer_add(&s->timer, &tv);
}

/* Arm the timer for a configured timeout, where 0 means none. */
static void timer_arm_cfg(struct lms_session *s, double sec)
{
	if (sec > 0)
		timer_arm(s, sec);
	else
		evtimer_del(&s->timer);
}

/* How long a request may wait while paused (--max-pause, 60 s if unset). */
static double max_pause(const struct lms_session *s)
{
	double t = s->rt->cfg->max_pause;
	return t > 0 ? t : 60.0;
}

/* Stop reading; free once the client's output has been sent. */
static void session_close(struct lms_session *s)
{
	if (s->closing)
		return;
	s->closing = true;
	s->client.want_read = false;
	if (s->has_server)
		s->server.want_read = false;
	if (lms_buf_len(&s->client.out) == 0) {
		s->dead = true;
		return;
	}
	timer_arm(s, CLOSE_GRACE_SEC);
}

/* Queue an error for the client (when the stream is at a message
 * boundary) and close. */
static void session_error(struct lms_session *s, const char *severity, const char *sqlstate,
			  const char *hint, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lms_log(LMS_LOG_LEVEL_INFO, "client_error", "worker=%d peer=%s sqlstate=%s msg=\"%s\"",
		s->w->id, s->peer, sqlstate, msg);
	if (s->fwd[S2C] == 0 && !s->closing && s->client.fd >= 0) {
		struct lms_error e = { severity, sqlstate, msg, hint };
		struct lms_out out;
		out.len = 0;
		if (s->front->fe_error(s->fe, &e, &out) == 0 && lms_buf_space(&s->client.out) >= out.len)
			lms_buf_append(&s->client.out, out.data, out.len);
		lms_conn_flush(&s->client);
	}
	session_close(s);
}

/* ---- requests and accounting ---- */

static void request_begin(struct lms_session *s)
{
	s->pending++;
	if (s->ring_len < RING) {
		s->ring[(s->ring_head + s->ring_len) % RING] = lms_mono_us();
		s->ring_len++;
	}
}

/* Has a cutover made another database the source of truth? */
static bool truth_moved(struct lms_session *s)
{
	return lms_runtime_truth_role(s->rt) != s->role;
}

/* Debug: the first request after a pause was answered; where its wait
 * went (queued, then from the state's apply to its release, then the
 * answer on the source of truth). */
static void log_released(struct lms_session *s, uint64_t t)
{
	if (lms_log_get_level() >= LMS_LOG_LEVEL_DEBUG) {
		struct lms_coord_view v;
		lms_coord_get(s->rt, &v);
		lms_log(LMS_LOG_LEVEL_DEBUG, "queued_answered", "worker=%d peer=%s queued_ms=%.3f "
			"release_after_apply_ms=%.3f answer_ms=%.3f promoted=%d", s->w->id, s->peer,
			(double)(s->released_us - s->queued_since_us) / 1e3,
			v.applied_us && s->released_us > v.applied_us ? (double)(s->released_us - v.applied_us) / 1e3 : -1.0,
			(double)(t - s->released_us) / 1e3, s->released_promoted);
	}
	s->released_us = 0;
}

static void request_end(struct lms_session *s, uint32_t txn)
{
	uint64_t t = lms_mono_us();
	if (txn == LMS_TXN_IDLE)
		s->txn_since_us = 0;
	else if (s->txn == LMS_TXN_IDLE)
		s->txn_since_us = s->ring_len > 0 ? s->ring[s->ring_head] : t;
	s->txn = (int)txn;
	s->last_active_us = t;
	if (s->pending == 0)
		return; /* the READY that ends the login, or unsolicited */
	lms_worker_note_busy(s->w, &s->busy_tick);
	s->pending--;
	if (s->released_us)
		log_released(s, t);
	if (s->pending == 0 && truth_moved(s))
		lms_conn_kick(&s->client); /* a request waits for the switch */
	struct lms_stats *st = &s->w->stats;
	lms_stat_add(&st->requests[s->role][s->req_failed ? 1 : 0], 1);
	s->req_failed = false;
	if (s->ring_len > 0) {
		lms_stats_latency(st, s->role, t - s->ring[s->ring_head]);
		s->ring_head = (s->ring_head + 1) % RING;
		s->ring_len--;
	}
}

static bool session_idle(const struct lms_session *s)
{
	return s->phase == PH_READY && s->pending == 0 && s->txn == LMS_TXN_IDLE &&
	       s->fwd[C2S] == 0 && s->fwd[S2C] == 0;
}

/* ---- moving to another worker (balance.h) ---- */

/* Could another worker's loop pick s up now?  Between transactions on
 * the current source of truth, with nothing buffered, streamed, queued
 * or half done on either socket or on its shadow's, and nothing else
 * attached (standby, retired connection, large messages): only the
 * sockets, the timers and plain fields move.  Serving, not paused or
 * draining. */
static bool session_movable(const struct lms_session *s)
{
	return session_idle(s) && s->has_server && !s->closing && !s->draining && !s->quitting && !s->client_eof &&
	       !s->queued && !s->login_queued && !s->switching && !s->has_retired && !s->standby &&
	       (!s->sh || lms_shadow_quiet(s->sh)) &&
	       !s->c2s_open && !s->answer_held && !s->tls_after_flush && s->replay_wait == 0 &&
	       s->xoff == s->xlen && s->xout_off == s->xout_len && !s->big[C2S].data && !s->big[S2C].data &&
	       lms_runtime_truth_role(s->rt) == s->role &&
	       lms_coord_phase(s->rt) == LMS_PHASE_SERVING &&
	       lms_conn_quiet(&s->client) && lms_conn_quiet(&s->server);
}

/* Put the session's own events (timer, wake, retire) on base.  They live
 * in the session, so this allocates nothing; none of them may be pending
 * (a new session, or one session_leave_loop took off its loop). */
static void session_events_assign(struct lms_session *s, struct event_base *base)
{
	evtimer_assign(&s->timer, base, on_timer, s);
	event_assign(&s->wake, base, -1, 0, on_wake, s);
	evtimer_assign(&s->retire_ev, base, on_retire, s);
}

/* Take a movable session off its worker's loop: its sockets, its own
 * events and its shadow's.  Only the idle timer can be pending here
 * (nothing in flight, nothing retired); session_update arms it again. */
static void session_leave_loop(struct lms_session *s)
{
	lms_conn_detach(&s->client);
	lms_conn_detach(&s->server);
	event_del(&s->timer);
	event_del(&s->wake);
	event_del(&s->retire_ev);
	if (s->sh)
		lms_shadow_leave_loop(s->sh);
}

/* Put a session session_leave_loop took off its loop on w's loop.  Its
 * events are re-assigned, not made: nothing here can fail. */
static void session_join_loop(struct lms_session *s, struct lms_worker *w)
{
	lms_conn_attach(&s->client, w->base);
	lms_conn_attach(&s->server, w->base);
	session_events_assign(s, w->base);
	if (s->sh)
		lms_shadow_join_loop(s->sh, w);
}

/* The worker hands sessions to another (w->move_to, w->move_quota): if s
 * may go, detach it from this loop and hand it over.  Returns true when
 * s is gone (the caller must not touch it), false when it stays. */
static bool session_move(struct lms_session *s)
{
	struct lms_worker *from = s->w, *to = from->move_to;
	if (from->move_quota <= 0) {
		from->move_to = NULL; /* sent as many as this tick asked */
		return false;
	}
	if (!session_movable(s))
		return false;
	session_leave_loop(s);
	lms_worker_remove_session(from, s);
	if (!lms_worker_hand_over(to, s)) {
		/* it is draining: stay here (session_update re-arms the idle timer) */
		lms_worker_add_session(from, s);
		from->move_to = NULL;
		session_join_loop(s, from);
		return false;
	}
	lms_stat_add(&from->stats.conns_active, (uint64_t)-1);
	from->move_quota--;
	return true;
}

void lms_session_adopt(struct lms_worker *w, struct lms_session *s)
{
	lms_log(LMS_LOG_LEVEL_DEBUG, "session_moved", "worker=%d from=%d peer=%s", w->id, s->w->id, s->peer);
	s->w = w;
	lms_worker_add_session(w, s);
	lms_stat_add(&w->stats.conns_active, 1);
	lms_stat_add(&w->stats.sessions_adopted, 1);
	session_join_loop(s, w);
	if (w->draining)
		lms_session_drain(s);
	else
		lms_session_coord_changed(s); /* what changed on its way; re-arms its events */
}

/* ---- backend connection ---- */

static void backend_fail_state(struct lms_session *s, int kind, const char *sqlstate, const char *what)
{
	lms_stat_add(&s->w->stats.errors[kind], 1);
	lms_log(LMS_LOG_LEVEL_WARN, "backend_error", "worker=%d peer=%s backend=%s role=%s error=\"%s\"",
		s->w->id, s->peer, s->backend->label, s->backend->role_name, what);
	session_error(s, "FATAL", sqlstate, "check that the database is running and reachable from molt-lms",
		      "molt-lms: %s database %s: %s", s->backend->role_name, s->backend->label, what);
}

/* The backend failed: tell the client (SQLSTATE 08006) and close. */
static void backend_fail(struct lms_session *s, int kind, const char *what)
{
	backend_fail_state(s, kind, "08006", what);
}

static void backend_send_start(struct lms_session *s, int tls_active)
{
	struct lms_out out;
	struct lms_result res;
	out.len = 0;
	memset(&res, 0, sizeof(res));
	struct lms_startup st = {
		.family = s->front->family, .user = s->user, .database = s->database,
		.raw = s->startup_raw, .raw_len = s->startup_len,
	};
	if (s->bd->be_start(s->be, tls_active, &st, &out, &res) < 0 || res.action == LMS_ACT_FAIL) {
		backend_fail(s, LMS_ERR_BACKEND_PROTOCOL,
			     res.error.message ? res.error.message : "cannot build the startup message");
		return;
	}
	lms_buf_append(&s->server.out, out.data, out.len);
	s->phase = PH_AUTH;
	timer_arm_cfg(s, s->rt->cfg->login_timeout);
	int st2 = lms_conn_flush(&s->server);
	if (st2 == LMS_IO_ERR || st2 == LMS_IO_EOF)
		backend_fail(s, LMS_ERR_BACKEND_CONNECT, s->server.err[0] ? s->server.err : "connection closed");
}

static void backend_connected(struct lms_session *s)
{
	lms_log(LMS_LOG_LEVEL_DEBUG, "backend_connected", "worker=%d peer=%s backend=%s",
		s->w->id, s->peer, s->backend->label);
	backend_send_start(s, 0);
}

static bool own_login_late(struct lms_session *s);

/* Open the source of truth's connection for this session. */
static void session_connect(struct lms_session *s)
{
	if (own_login_late(s))
		return;
	backend_open(s, s->own_login ? 0 : 1);
}

/* The session's backend plugin changed: is it now served across wire
 * families (ABI 1.4)?  Then tell the frontend. */
static void translated_update(struct lms_session *s)
{
	bool was = s->translated;
	s->translated = strcmp(s->bd->family, s->front->family) != 0 && lms_plugin_serves_front(s->front) &&
			lms_plugin_serves_back(s->bd);
	if (s->translated && !was)
		s->front->fe_set_translated(s->fe);
}

/* Open a connection to the current source of truth.  relay: the client
 * answers the login (a new session); otherwise the connection logs in
 * with the database URL's credentials (a session moved by a cutover). */
static void backend_open(struct lms_session *s, int relay)
{
	s->backend = lms_runtime_truth(s->rt, &s->role);
	s->bd = s->backend->plugin.d;
	translated_update(s);
	struct lms_be_opts bo = { .conf = &s->backend->conf, .relay_auth = relay,
				  .observe = s->rt->shadow_mode != LMS_SHADOW_NONE };
	if (s->bd == s->front)
		bo.fe_state = s->fe;
	memcpy(bo.proxy_key, s->proxy_key, 8);
	s->be = s->bd->be_new(&bo);
	if (!s->be) {
		session_error(s, "FATAL", "53200", NULL, "molt-lms: out of memory");
		return;
	}
	s->phase = PH_CONNECTING;
	timer_arm_cfg(s, s->rt->cfg->connect_timeout);
	s->addr_idx = 0;
	backend_dial(s, "no address");
}

/* The client's login is known: connect now, or wait while paused for a
 * cutover (the login goes to whichever database is the source of truth
 * when the pause ends), or refuse while the coordination state is
 * unknown. */
static void session_connect_when_serving(struct lms_session *s)
{
	struct lms_coord_view v;
	lms_coord_get(s->rt, &v);
	if (v.phase == LMS_PHASE_UNKNOWN) {
		session_error(s, "FATAL", "57P03", "molt-lms retries every second; check that the target database "
			      "holding the coordination state is reachable",
			      "molt-lms cannot read the coordination state (schema _molt_lms) yet");
		return;
	}
	if (v.phase == LMS_PHASE_PAUSED) {
		s->login_queued = true;
		s->queued_since_us = lms_mono_us();
		timer_arm(s, max_pause(s));
		return;
	}
	s->login_queued = false;
	session_connect(s);
}

/* Dial the backend's addresses from s->addr_idx on, until one connects or
 * is in progress; the last failure (last_err when no address is left to
 * try) is reported to the client. */
static void backend_dial(struct lms_session *s, const char *last_err)
{
	char why[160];
	int st = lms_dial(&s->server, &s->has_server, s->w->base, s->backend, &s->addr_idx, on_server, s,
			  last_err, why, sizeof(why));
	if (st == LMS_IO_OK)
		backend_connected(s);
	else if (st == LMS_IO_ERR)
		backend_fail(s, LMS_ERR_BACKEND_CONNECT, why);
	/* AGAIN: on_server finishes, or comes back here for the next address */
}

/* ---- applying a decoded message ---- */

/* Is the backend's login ours, never shown to the client?  A switch to a
 * new source of truth, or the login made for a client the plugin verified
 * itself (own_login). */
static bool login_hidden(const struct lms_session *s)
{
	return s->switching || (s->own_login && s->phase != PH_READY);
}

/* Remember what the client's startup said; the backend plugin needs it. */
static int keep_startup(struct lms_session *s, const struct lms_result *res)
{
	const struct lms_startup *st = &res->startup;
	s->startup_raw = malloc(st->raw_len ? st->raw_len : 1);
	s->user = strdup(st->user ? st->user : "");
	s->database = strdup(st->database ? st->database : "");
	if (!s->startup_raw || !s->user || !s->database)
		return -1;
	memcpy(s->startup_raw, st->raw, st->raw_len);
	s->startup_len = st->raw_len;
	return 0;
}

/* A server-first protocol names the user and database once the client
 * answers the greeting (ABI 1.2): kept for logs and the admin API only. */
static void keep_identity(struct lms_session *s, const struct lms_startup *st)
{
	s->user = strdup(st->user);
	s->database = strdup(st->database ? st->database : "");
	if (!s->user || !s->database) {
		free(s->user);
		free(s->database);
		s->user = s->database = NULL;
	}
}

/* The client's identity changed after its login (ABI 1.9: MySQL's
 * COM_CHANGE_USER, accepted): logs and the admin API name the new user,
 * and a shadow that logs in again uses the new database. */
static void session_rename(struct lms_session *s, const struct lms_startup *st)
{
	const char *db = st->database ? st->database : "";
	if (s->user && s->database && strcmp(s->user, st->user) == 0 && strcmp(s->database, db) == 0)
		return;
	char *user = strdup(st->user), *database = strdup(db);
	if (!user || !database) {
		free(user);
		free(database);
		return; /* the old names stay */
	}
	lms_log(LMS_LOG_LEVEL_INFO, "session_user_changed", "worker=%d peer=%s from=%s to=%s database=%s", s->w->id,
		s->peer, s->user ? s->user : "-", user, database);
	lms_shadow_set_names(s->sh, user, database);
	lms_shadow_set_names(s->standby, user, database);
	free(s->user);
	free(s->database);
	s->user = user;
	s->database = database;
}

static void do_cancel(struct lms_session *s, const struct lms_result *res)
{
	const struct lms_backend *b;
	uint8_t key[LMS_KEY_MAX];
	size_t key_len;
	lms_stat_add(&s->w->stats.cancels, 1);
	if (res->key_len != 8 || lms_cancel_lookup(res->key, &b, key, &key_len) < 0) {
		lms_log(LMS_LOG_LEVEL_INFO, "cancel_unknown", "worker=%d peer=%s", s->w->id, s->peer);
		return;
	}
	lms_log(LMS_LOG_LEVEL_INFO, "cancel", "worker=%d peer=%s backend=%s", s->w->id, s->peer, b->label);
	lms_cancel_send(s->w->base, b, key, key_len);
}

/* ---- shadowing ---- */

static void on_wake(evutil_socket_t fd, short what, void *arg);

/* Open a connection to the database that is not this session's source of
 * truth, logged in with that database's URL credentials and given the
 * session's state: a shadow (mode: the shadowMode) or a standby.  NULL
 * when out of memory. */
static struct lms_shadow *open_other(struct lms_session *s, int mode)
{
	struct lms_shadow_ctx ctx = {
		.w = s->w, .mode = mode, .truth_role = s->role, .family = s->front->family,
		.user = s->user, .database = s->database, .startup_raw = s->startup_raw,
		.startup_len = s->startup_len, .peer = s->peer, .wake = &s->wake,
		.replay = s->replay, .replay_len = s->replay_len, .replay_reqs = s->replay_reqs,
	};
	return lms_shadow_new(&ctx);
}

/* Login finished: open the shadow connection (shadowMode not none). */
static void shadow_start(struct lms_session *s)
{
	if (s->rt->shadow_mode == LMS_SHADOW_NONE || s->sh)
		return;
	s->sh = open_other(s, s->rt->shadow_mode);
	s->truth_unknown = s->pending;
	if (!s->sh)
		lms_log(LMS_LOG_LEVEL_WARN, "shadow_unavailable", "worker=%d peer=%s error=\"out of memory\"",
			s->w->id, s->peer);
}

/* Must the next request wait?  (Paused for a cutover, and the session is
 * outside a transaction with nothing in flight.) */
static bool must_queue(struct lms_session *s)
{
	return lms_coord_phase(s->rt) != LMS_PHASE_SERVING && s->pending == 0 && s->txn == LMS_TXN_IDLE;
}

/* Hold this session's next request until the pause ends. */
static void queue_enter(struct lms_session *s)
{
	if (s->queued)
		return;
	s->queued = true;
	s->queued_since_us = lms_mono_us();
	lms_stat_add(&s->w->stats.coord_queued_sessions, 1);
	timer_arm(s, max_pause(s));
}

static void queue_leave(struct lms_session *s)
{
	if (!s->queued)
		return;
	s->queued = false;
	s->released_us = lms_mono_us();
	s->released_promoted = false;
	lms_stat_add(&s->w->stats.coord_queued_sessions, (uint64_t)-1);
	evtimer_del(&s->timer);
}

/* Keep a client message that sets session state (flag REPLAY), and the
 * Sync that completes a kept extended-protocol request, for replay. */
static void replay_note(struct lms_session *s, const uint8_t *p, size_t len, uint32_t kind, uint32_t stmt_flags)
{
	bool sync = kind == LMS_MSG_SYNC && s->replay_sync;
	if ((!(stmt_flags & LMS_STMT_REPLAY) && !sync) || s->replay_overflow || s->switching)
		return;
	if (s->replay_len + len > REPLAY_MAX) {
		s->replay_overflow = true;
		lms_log(LMS_LOG_LEVEL_WARN, "replay_overflow", "worker=%d peer=%s bytes=%zu (a cutover will end "
			"this session: its prepared statements and settings exceed %u bytes)", s->w->id, s->peer,
			s->replay_len, REPLAY_MAX);
		return;
	}
	if (s->replay_len + len > s->replay_cap) {
		size_t cap = s->replay_cap ? s->replay_cap * 2 : 1024;
		while (cap < s->replay_len + len)
			cap *= 2;
		uint8_t *np = realloc(s->replay, cap);
		if (!np) {
			s->replay_overflow = true;
			return;
		}
		s->replay = np;
		s->replay_cap = cap;
	}
	memcpy(s->replay + s->replay_len, p, len);
	s->replay_len += len;
	if (kind == LMS_MSG_QUERY || kind == LMS_MSG_SYNC)
		s->replay_reqs++;
	s->replay_sync = kind == LMS_MSG_EXTENDED || (s->replay_sync && kind != LMS_MSG_SYNC && kind != LMS_MSG_QUERY);
}

/* During a switch: send as much of the replay as the output takes. */
static void replay_feed(struct lms_session *s)
{
	if (!s->switching || s->phase != PH_READY || s->replay_sent >= s->replay_len)
		return;
	size_t n = lms_buf_append(&s->server.out, s->replay + s->replay_sent, s->replay_len - s->replay_sent);
	s->replay_sent += n;
}

/* Move this session, idle outside any transaction, to the database that
 * is now the source of truth.  The new connection logs in with that
 * database's URL credentials (LMS never knows the client's password);
 * its login messages are ours and never reach the client, who only sees
 * its next request wait.  The shadow is reopened toward the other side
 * once the switch is done. */
static void switch_truth(struct lms_session *s)
{
	int from = s->role;
	if (s->key_registered) {
		lms_cancel_unregister(s->proxy_key);
		s->key_registered = false;
	}
	if (s->has_server) {
		lms_conn_close(&s->server);
		s->has_server = false;
	}
	s->bd->be_free(s->be);
	s->be = NULL;
	lms_shadow_free(s->sh);
	s->sh = NULL;
	s->truth_unknown = 0;
	s->switching = true;
	backend_open(s, 0);
	lms_log(LMS_LOG_LEVEL_INFO, "session_switch", "worker=%d peer=%s user=%s from=%s to=%s", s->w->id, s->peer,
		s->user ? s->user : "-", from == LMS_ROLE_SOURCE ? "source" : "target", s->backend->role_name);
}

/* The switch is complete: the client's waiting request may go. */
static void switch_finish(struct lms_session *s)
{
	s->switching = false;
	s->state_by_front = false;
	lms_conn_kick(&s->client);
}

static bool req_answered(uint32_t kind);

#define STATE_REQS_MAX 1024u /* fe_switch_state requests asked for, at most */
#define STATE_BATCH 16u      /* ... written at a time; the next batch once
				their answers are in */

/* A translated session's new source of truth, or a session's moved back
 * to its client's family: the state its client set that the new
 * connection lacks (ABI 1.9, fe_switch_state; mysql.so: settings, and the
 * statements of a session moved back), written in the database's
 * protocol ahead of the client's waiting request, from request
 * s->state_k on, at most STATE_BATCH at a time.  Returns how many answers
 * (READYs) they owe; 0 when there are no more. */
static uint32_t carry_state(struct lms_session *s)
{
	if (!lms_plugin_carries_state(s->front) || !lms_plugin_encodes_requests(s->bd))
		return 0;
	uint32_t owed = 0, sent = 0;
	while (sent < STATE_BATCH && s->state_k < STATE_REQS_MAX) {
		struct lms_request req;
		uint8_t buf[LMS_OUT_MAX];
		memset(&req, 0, sizeof(req));
		if (s->front->fe_switch_state(s->fe, s->state_k, &req) != 1) {
			s->state_k = STATE_REQS_MAX; /* no more */
			break;
		}
		size_t room = lms_buf_space(&s->server.out);
		long n = s->bd->be_encode_request(s->be, &req, buf, room < sizeof(buf) ? room : sizeof(buf));
		if (n < 0 && room < sizeof(buf) && owed > 0)
			break; /* (maybe no room yet: again in the next batch) */
		s->state_k++;
		if (n < 0) {
			lms_log(LMS_LOG_LEVEL_WARN, "state_not_carried", "worker=%d peer=%s (a setting or prepared "
				"statement of the session cannot be written for the new source of truth: it runs at "
				"that database's default, or the statement is unknown there)", s->w->id, s->peer);
			continue;
		}
		lms_buf_append(&s->server.out, buf, (size_t)n);
		owed += req_answered(req.kind);
		sent++;
	}
	return owed;
}

/* The new source of truth accepted our login: replay the session's
 * state there (its answers are ours), or finish.  A translated session's
 * kept replay is in the client's protocol, and one moved back has none
 * of what it set while translated: its plugin describes the state
 * instead (carry_state). */
static void switch_logged_in(struct lms_session *s)
{
	bool by_front = s->translated || s->state_by_front;
	s->state_k = by_front ? 0 : STATE_REQS_MAX;
	uint32_t owed = by_front ? carry_state(s) : s->replay_reqs;
	if (owed == 0) {
		switch_finish(s);
		return;
	}
	s->replay_sent = by_front ? s->replay_len : 0;
	s->replay_wait = owed;
	s->req_failed = false;
}

/* A READY answered part of the replay. */
static void switch_replayed(struct lms_session *s)
{
	if (s->req_failed)
		lms_log(LMS_LOG_LEVEL_WARN, "replay_failed", "worker=%d peer=%s (a statement of the session's state "
			"failed on the new source of truth)", s->w->id, s->peer);
	s->req_failed = false;
	if (--s->replay_wait > 0)
		return;
	uint32_t more = s->state_k < STATE_REQS_MAX ? carry_state(s) : 0; /* the next batch */
	if (more > 0)
		s->replay_wait = more;
	else
		switch_finish(s);
}

static void retire_close(struct lms_session *s)
{
	if (s->has_retired) {
		lms_conn_close(&s->retired);
		s->has_retired = false;
	}
}

/* The retired connection's time is up, or it stirred (the server ended it). */
static void on_retire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	retire_close(arg);
}

static void on_retired_io(struct lms_conn *c, short what, void *arg)
{
	(void)c;
	(void)what;
	retire_close(arg);
}

/* Close the idle server connection RETIRE_DELAY_SEC from now rather than
 * at once. */
static void retire_server(struct lms_session *s)
{
	retire_close(s);
	s->has_retired = true;
	lms_conn_move(&s->retired, &s->server, on_retired_io, s);
	struct timeval tv = { RETIRE_DELAY_SEC, 0 };
	evtimer_add(&s->retire_ev, &tv);
}

/* May the other connection toward truth lack state the client set that
 * only a translated session's frontend describes (ABI 1.9)?  A standby
 * ran none of the client's requests, and a shadow that connected again
 * missed those before; a new login is told it (carry_state). */
static bool may_lack_state(struct lms_session *s, int truth)
{
	struct lms_request req;
	memset(&req, 0, sizeof(req));
	return strcmp(s->rt->backends[truth].plugin.d->family, s->front->family) != 0 &&
	       lms_plugin_carries_state(s->front) && s->front->fe_switch_state(s->fe, 0, &req) == 1;
}

/* Make the standby (or, in shadow modes, the shadow) this session's
 * connection to the new source of truth, when it is logged in there with
 * the session's whole state and idle: the switch then costs nothing.
 * Returns false when it cannot (then the session logs in anew). */
static bool promote_other(struct lms_session *s, int truth)
{
	struct lms_shadow **slot = s->standby ? &s->standby : &s->sh;
	struct lms_shadow *cand = *slot;
	if (!cand || lms_shadow_role(cand) != truth || !lms_shadow_promotable(cand))
		return false;
	if (cand == s->standby && s->standby_state != s->replay_len)
		return false; /* the session's state changed since it was opened */
	if (may_lack_state(s, truth))
		return false; /* a new login carries it (carry_state) */
	uint8_t key[LMS_KEY_MAX];
	size_t key_len = 0;
	void *be = NULL;
	int from = s->role;
	if (s->has_server) {
		retire_server(s); /* idle: nothing in flight is lost */
		s->has_server = false;
	}
	if (lms_shadow_detach(cand, &s->server, on_server, s, &be, key, &key_len) < 0) {
		lms_shadow_free(cand);
		*slot = NULL;
		return false; /* the caller logs in anew */
	}
	s->bd->be_free(s->be);
	s->be = be;
	s->has_server = true;
	s->backend = &s->rt->backends[truth];
	s->bd = s->backend->plugin.d;
	s->role = truth;
	translated_update(s);
	lms_shadow_free(cand);
	*slot = NULL;
	lms_shadow_free(s->sh); /* a shadow toward the old side starts afresh */
	s->sh = NULL;
	s->truth_unknown = 0;
	if (s->key_registered)
		lms_cancel_unregister(s->proxy_key);
	s->key_registered = key_len > 0 && lms_cancel_register(s->proxy_key, s->backend, key, key_len) == 0;
	lms_log(LMS_LOG_LEVEL_INFO, "session_switch", "worker=%d peer=%s user=%s from=%s to=%s promoted=1",
		s->w->id, s->peer, s->user ? s->user : "-", from == LMS_ROLE_SOURCE ? "source" : "target",
		s->backend->role_name);
	shadow_start(s);
	return true;
}

/* Is this translated session's source of truth of its client's family
 * again (a cut back: move_back)?  Its commands are framed whole without
 * changing the plugin's state, so the move may wait until the next one is
 * framed: a close (LMS_FRAME_NO_ANSWER) of one of its statements goes to
 * the statement's database first, and the session moves without it. */
static bool moving_back(const struct lms_session *s)
{
	int truth = lms_runtime_truth_role(s->rt);
	return s->translated && truth != s->role &&
	       strcmp(s->rt->backends[truth].plugin.d->family, s->front->family) == 0;
}

/* A session translated since an earlier cutover, whose source of truth
 * is a database of its client's own family again: relayed from now on
 * over a new connection that logs in with the URL's credentials, when the
 * frontend can (ABI 1.7: nothing the client holds was made up by the
 * plugin), else ended with the reason.  Never by promoting the shadow:
 * its connection has its own statements and capabilities.  Returns false
 * (the request waits for the switch, or the session ends). */
static bool move_back(struct lms_session *s)
{
	char why[256] = "";
	if (!lms_plugin_moves_back(s->front))
		snprintf(why, sizeof(why), "the %s plugin cannot relay it again", s->front->name);
	else if (s->front->fe_set_relayed(s->fe, why, sizeof(why)) == 0) {
		lms_log(LMS_LOG_LEVEL_INFO, "session_moved_back", "worker=%d peer=%s user=%s", s->w->id, s->peer,
			s->user ? s->user : "-");
		switch_truth(s);
		s->state_by_front = true; /* (read once logged in) */
		return false;
	}
	lms_log(LMS_LOG_LEVEL_INFO, "session_moved_back_refused", "worker=%d peer=%s user=%s why=\"%s\"", s->w->id,
		s->peer, s->user ? s->user : "-", why);
	session_error(s, "FATAL", "08006", "reconnect: a new session logs in to the new source of truth",
		      "molt-lms: the source of truth changed back to a database of the client's protocol (cutover); "
		      "this session was served across protocols since an earlier cutover and cannot move back "
		      "(%s): reconnect",
		      why[0] ? why : "the plugin gave no reason");
	return false;
}

/* Is the session on the database that is the source of truth now?  When
 * not, move it (only between requests, outside a transaction) and make
 * the request wait.  A transaction still open on the old source of truth
 * cannot follow: the session ends (its transaction rolls back there). */
static bool on_current_truth(struct lms_session *s)
{
	int truth = lms_runtime_truth_role(s->rt);
	if (truth == s->role)
		return true;
	if (s->pending > 0)
		return false; /* answers still coming: switch once they are in */
	if (s->replay_overflow) {
		session_error(s, "FATAL", "08006", "reconnect: a new session starts on the new source of truth",
			      "molt-lms: the source of truth changed (cutover) and this session's prepared statements "
			      "and settings are too large to move");
		return false;
	}
	if (s->txn != LMS_TXN_IDLE) {
		session_error(s, "FATAL", "08006", "reconnect and run the transaction again",
			      "molt-lms: the source of truth changed (cutover) while this transaction was open; "
			      "it was rolled back");
		return false;
	}
	if (moving_back(s))
		return move_back(s);
	if (promote_other(s, truth)) {
		s->released_promoted = true;
		return true;
	}
	switch_truth(s);
	return false;
}

/* A client message of kind `kind` (frame flags `flags`) is next.  At a
 * request boundary this opens the request (and tells the shadow), unless
 * the message gets no answer (LMS_FRAME_NO_ANSWER: it goes to the source
 * of truth between requests, so that the next message is a request of its
 * own).  Returns false when it must wait: paused for a cutover, or the
 * shadow keeps too many requests in flight. */
/* Is a client message of this kind and flags part of the request that
 * was sent last, rather than one of its own: bulk data (COPY FROM STDIN,
 * MySQL's LOCAL INFILE), or the client's turn in an authentication
 * exchange its request began (MySQL's COM_CHANGE_USER)?  Such a message
 * ends its part at once: the request after it is checked (pause, source
 * of truth) as any is. */
static bool continues_request(uint32_t kind, uint32_t flags)
{
	return kind == LMS_MSG_COPY || (kind == LMS_MSG_AUTH && !(flags & LMS_FRAME_ENDS_REQUEST));
}

static bool client_request_start(struct lms_session *s, uint32_t kind, uint32_t flags)
{
	if (s->c2s_open || s->phase != PH_READY || kind == LMS_MSG_TERMINATE)
		return true;
	if (continues_request(kind, flags)) {
		/* (bulk data, or the client's turn in an exchange) */
		s->c2s_open = true;
		s->c2s_shadow = s->sh && lms_shadow_request_continue(s->sh);
		return true;
	}
	if (must_queue(s)) {
		queue_enter(s);
		return false;
	}
	queue_leave(s);
	if ((flags & LMS_FRAME_NO_ANSWER) && moving_back(s))
		return true; /* a close goes to its statement's database before the move */
	if (!on_current_truth(s))
		return false;
	if (flags & LMS_FRAME_NO_ANSWER)
		return true; /* (the shadow never hears it: nothing to compare) */
	if (s->sh) {
		bool idle = s->pending == 0 && s->txn == LMS_TXN_IDLE;
		int st = lms_shadow_request_start(s->sh, idle);
		if (st == LMS_SHADOW_WAIT)
			return false;
		s->c2s_shadow = st == LMS_SHADOW_SEND;
	}
	s->c2s_open = true;
	return true;
}

/* At a request boundary, before the next client message is framed: wait
 * while paused, and move to the current source of truth first.  Framing
 * may commit a message in the plugin (a streamed MySQL command), so it
 * must see the session as the message will be sent: translated or not
 * (ABI 1.4), and framed once.  Returns false when the message waits. */
static bool client_boundary(struct lms_session *s)
{
	if (s->c2s_open || s->phase != PH_READY || s->pending > 0)
		return true;
	if (must_queue(s)) {
		queue_enter(s);
		return false;
	}
	if (!truth_moved(s) || moving_back(s))
		return true;
	queue_leave(s);
	return on_current_truth(s);
}

/* How many of the next n bytes of the request may go now: sync modes wait
 * for room at the shadow, async never waits for it. */
static size_t shadow_cap(struct lms_session *s, size_t n)
{
	if (!s->c2s_shadow || s->rt->shadow_mode == LMS_SHADOW_ASYNC)
		return n;
	size_t room = lms_shadow_room(s->sh);
	if (!lms_shadow_sending(s->sh)) {
		s->c2s_shadow = false; /* the shadow gave up on this request */
		return n;
	}
	return room < n ? room : n;
}

/* Copy request bytes to the shadow (when this request goes there). */
static void shadow_copy(struct lms_session *s, const uint8_t *p, size_t n)
{
	if (s->c2s_shadow && !lms_shadow_send(s->sh, p, n))
		s->c2s_shadow = false;
}

/* A whole decoded client message goes to the source of truth (and the
 * shadow when this request goes there): copy it to the shadow and tell
 * each observing backend plugin, which reads their answers with it.  A
 * shadow of another wire family gets it described from the client's own
 * bytes, orig[0..on) (fe_request keeps the client's view: a rewrite, e.g.
 * of a statement id, is for the source of truth). */
static void request_copy_of(struct lms_session *s, const uint8_t *p, size_t n, const uint8_t *orig, size_t on)
{
	if (s->rt->shadow_mode != LMS_SHADOW_NONE && s->be && !s->translated && lms_plugin_has_note_request(s->bd))
		s->bd->be_note_request(s->be, p, n);
	if (s->c2s_shadow && lms_shadow_translates(s->sh)) {
		/* another wire family: described and encoded, never copied */
		lms_shadow_translate(s->sh, s->front, s->fe, orig, on);
		return;
	}
	shadow_copy(s, p, n);
	if (s->c2s_shadow)
		lms_shadow_note_request(s->sh, p, n);
}

static void request_copy(struct lms_session *s, const uint8_t *p, size_t n)
{
	request_copy_of(s, p, n, p, n);
}

/* The request's last message was passed on. */
static void client_request_end(struct lms_session *s)
{
	if (!s->c2s_open)
		return;
	if (s->sh)
		lms_shadow_request_end(s->sh);
	s->c2s_open = false;
	s->c2s_shadow = false;
}

/* Tell the shadow what the source of truth answered (one whole message). */
static int shadow_observe_truth(struct lms_session *s, const uint8_t *p, size_t len)
{
	if (!s->sh || s->phase != PH_READY || (s->pending == 0 && !s->c2s_open) || s->truth_unknown > 0)
		return 0;
	struct lms_event ev;
	uint64_t h;
	if (lms_observe(s->bd, s->be, p, len, &ev, &h) < 0)
		return -1;
	if (ev.kind != LMS_EV_NONE && ev.kind != LMS_EV_PARAM)
		lms_shadow_truth_event(s->sh, &ev, h);
	return 0;
}

/* The source of truth's READY ends a request: in strict-sync the client
 * may have to get the shadow's error first.  ends_answer: the message is
 * itself the answer's last (LMS_FRAME_ENDS_ANSWER, e.g. MySQL's OK or EOF):
 * when the frontend can (ABI 1.3 fe_error_in_answer), the error takes its
 * place.  Returns true when the message must then not be forwarded. */
/* The bookkeeping of shadow_truth_ready: true when the client must get
 * error e (its message in msg[0..cap)) for the request READY ends. */
static bool shadow_truth_error(struct lms_session *s, struct lms_error *e, char *msg, size_t cap)
{
	if (!s->sh || s->pending == 0)
		return false;
	if (s->truth_unknown > 0) {
		s->truth_unknown--;
		return false;
	}
	return lms_shadow_truth_done(s->sh, e, msg, cap);
}

static bool shadow_truth_ready(struct lms_session *s, bool ends_answer)
{
	struct lms_error e;
	char msg[LMS_OUTCOME_ERR_MAX + 128];
	struct lms_out out;
	if (!shadow_truth_error(s, &e, msg, sizeof(msg)))
		return false;
	out.len = 0;
	bool replace = ends_answer && lms_plugin_errs_in_answer(s->front);
	int rc = replace ? s->front->fe_error_in_answer(s->fe, &e, &out) : s->front->fe_error(s->fe, &e, &out);
	if (rc == 0 && lms_buf_space(&s->client.out) >= out.len) {
		lms_buf_append(&s->client.out, out.data, out.len);
		return replace;
	}
	return false;
}

/* Act on a client message's decode result.  Returns -1 to stop pumping. */
static int apply_front(struct lms_session *s, const struct lms_result *res)
{
	switch (res->action) {
	case LMS_ACT_NONE:
		return 0;
	case LMS_ACT_START_TLS:
		/* A client that waits for the proxy's answer (REPLY) sends
		 * nothing before it; without an answer to wait for (MySQL) the
		 * bytes that follow are its TLS handshake (ABI 1.2). */
		if (lms_buf_len(&s->client.in) > 0 && res->verdict != LMS_REPLY) {
			s->tls_after_flush = true;
			s->phase_after_tls = s->phase;
			s->phase = PH_CLIENT_TLS;
			lms_conn_kick(&s->client); /* no read event will come for them */
			return -1;
		}
		if (lms_buf_len(&s->client.in) > 0) {
			lms_stat_add(&s->w->stats.errors[LMS_ERR_CLIENT_PROTOCOL], 1);
			session_error(s, "FATAL", "08P01", NULL,
				      "molt-lms: received unencrypted data after the TLS request");
			return -1;
		}
		s->tls_after_flush = true;
		s->phase_after_tls = s->phase;
		s->phase = PH_CLIENT_TLS;
		return -1;
	case LMS_ACT_CONNECT:
		lms_log(LMS_LOG_LEVEL_INFO, "conn_startup", "worker=%d peer=%s user=%s database=%s tls=%d",
			s->w->id, s->peer, s->user, s->database, s->client.ssl != NULL);
		session_connect_when_serving(s);
		return -1;
	case LMS_ACT_CANCEL:
		do_cancel(s, res);
		session_close(s);
		return -1;
	case LMS_ACT_BACKEND_TLS:
		backend_tls_from_front(s);
		return -1;
	case LMS_ACT_CLOSE:
		lms_log(LMS_LOG_LEVEL_INFO, "client_refused", "worker=%d peer=%s user=%s phase=%s reason=\"%s\"",
			s->w->id, s->peer, s->user ? s->user : "-", phase_names[s->phase],
			res->verdict == LMS_REPLY ? "the dialect plugin answered with an error" : "closed by the plugin");
		session_close(s);
		return -1;
	default:
		lms_stat_add(&s->w->stats.errors[LMS_ERR_CLIENT_PROTOCOL], 1);
		session_error(s, "FATAL", "08P01", NULL, "molt-lms: unexpected message");
		return -1;
	}
}

/* Start the TLS handshake with the database (the URL asks for TLS and the
 * database said yes); nothing may follow the database's answer. */
static void backend_tls_begin(struct lms_session *s)
{
	if (!s->backend->tls || lms_buf_len(&s->server.in) > 0) {
		backend_fail(s, LMS_ERR_BACKEND_PROTOCOL, "unexpected TLS negotiation");
		return;
	}
	/* a server-first protocol's TLS request (MySQL's SSLRequest, the
	 * plugin's REPLY to the greeting) goes in clear before the handshake */
	if (lms_buf_len(&s->server.out) > 0 &&
	    (lms_conn_flush(&s->server) != LMS_IO_OK || lms_buf_len(&s->server.out) > 0)) {
		backend_fail(s, LMS_ERR_BACKEND_TLS, s->server.err[0] ? s->server.err : "cannot send the TLS request");
		return;
	}
	if (lms_conn_tls_begin(&s->server, s->backend->tls, false, s->backend->conf.host,
			       s->backend->conf.tls_mode == LMS_TLS_VERIFY_FULL) != LMS_IO_OK) {
		backend_fail(s, LMS_ERR_BACKEND_TLS, s->server.err);
		return;
	}
	s->phase = PH_BACKEND_TLS;
	backend_tls_step(s);
}

/* The frontend of a server-first protocol asks for TLS toward the database
 * during the login (ABI 1.2): its TLS request, just queued, goes out in
 * clear first.  It is a few bytes on a fresh connection: a write that does
 * not take them at once fails the login. */
static void backend_tls_from_front(struct lms_session *s)
{
	if (!s->has_server || s->phase != PH_AUTH) {
		backend_fail(s, LMS_ERR_BACKEND_PROTOCOL, "unexpected TLS negotiation");
		return;
	}
	if (lms_conn_flush(&s->server) != LMS_IO_OK || lms_buf_len(&s->server.out) > 0) {
		backend_fail(s, LMS_ERR_BACKEND_TLS, s->server.err[0] ? s->server.err : "cannot send the TLS request");
		return;
	}
	backend_tls_begin(s);
}

/* The database accepted the login molt-lms made for a client the plugin
 * verified itself: the client gets its login answer now.  Returns 0, or
 * -1 when the session ends. */
static int own_login_done(struct lms_session *s)
{
	struct lms_out out;
	out.len = 0;
	if (s->front->fe_login_done(s->fe, &out) < 0 || lms_buf_space(&s->client.out) < out.len) {
		session_error(s, "FATAL", "08P01", NULL, "molt-lms: cannot answer the client's login");
		return -1;
	}
	lms_buf_append(&s->client.out, out.data, out.len);
	lms_log(LMS_LOG_LEVEL_INFO, "own_login_ok", "worker=%d peer=%s user=%s database=%s backend=%s", s->w->id,
		s->peer, s->user ? s->user : "-", s->database ? s->database : "-", s->backend->role_name);
	return 0;
}

/* Act on a backend message's decode result.  Returns -1 to stop pumping. */
static int apply_back(struct lms_session *s, const struct lms_result *res)
{
	switch (res->action) {
	case LMS_ACT_NONE:
		return 0;
	case LMS_ACT_START_TLS:
		backend_tls_begin(s);
		return -1;
	case LMS_ACT_AUTH_OK:
		lms_log(LMS_LOG_LEVEL_DEBUG, "auth_ok", "worker=%d peer=%s user=%s", s->w->id, s->peer,
			s->user ? s->user : "-");
		return 0;
	case LMS_ACT_BACKEND_KEY:
		if (lms_cancel_register(s->proxy_key, s->backend, res->key, res->key_len) == 0)
			s->key_registered = true;
		return 0;
	case LMS_ACT_READY:
		if (s->phase == PH_READY && s->switching && s->replay_wait > 0) {
			switch_replayed(s);
			return 0;
		}
		if (s->phase != PH_READY) {
			bool logged_in = s->switching;
			s->phase = PH_READY;
			if (logged_in)
				switch_logged_in(s);
			else if (s->own_login && own_login_done(s) < 0)
				return -1;
			s->last_active_us = lms_mono_us();
			evtimer_del(&s->timer);
			lms_log(LMS_LOG_LEVEL_DEBUG, "session_ready", "worker=%d peer=%s user=%s database=%s",
				s->w->id, s->peer, s->user ? s->user : "-", s->database ? s->database : "-");
			shadow_start(s);
		}
		request_end(s, res->txn);
		return 0;
	case LMS_ACT_FAIL:
		backend_fail_state(s, LMS_ERR_BACKEND_PROTOCOL, res->error.sqlstate ? res->error.sqlstate : "08006",
				   res->error.message ? res->error.message : "refused");
		return -1;
	case LMS_ACT_CLOSE:
		session_close(s);
		return -1;
	default:
		backend_fail(s, LMS_ERR_BACKEND_PROTOCOL, "unexpected action from the plugin");
		return -1;
	}
}

/* ---- serving across wire families (ABI 1.4) ---- */

/* Is this message of the source of truth answered for the client by the
 * plugins (logged in, not switching) rather than forwarded? */
static bool answers_translated(const struct lms_session *s)
{
	return s->translated && s->phase == PH_READY && !s->switching;
}

/* Move what waits in xbuf to the client's output.  Returns true when
 * nothing waits any more. */
static bool xbuf_spill(struct lms_session *s)
{
	if (s->xlen > s->xoff)
		s->xoff += lms_buf_append(&s->client.out, s->xbuf + s->xoff, s->xlen - s->xoff);
	if (s->xoff < s->xlen)
		return false;
	s->xoff = s->xlen = 0;
	if (s->xcap > XBUF_SIZE)
		xbuf_free(s); /* the large answer is out: its memory goes back */
	return true;
}

/* A message of a translated session that cannot be assembled or answered
 * whole (what: "request", "row", ...): the client is told which limit,
 * and the session ends.  Never wrong or cut data. */
static void big_refused(struct lms_session *s, const char *what, uint64_t len)
{
	if (len > LMS_BIGMSG_MAX)
		session_error(s, "FATAL", "54000", "the limit is the size of a message molt-lms decodes whole",
			      "molt-lms: a %s of %llu bytes is too large to translate between wire protocols "
			      "(limit %u bytes)", what, (unsigned long long)len, LMS_BIGMSG_MAX);
	else
		session_error(s, "FATAL", "53200", "raise --translate-memory, or try again",
			      "molt-lms: no memory is left for large translated messages (a %s of %llu bytes): "
			      "raise --translate-memory, or try again", what, (unsigned long long)len);
}

/* Make xbuf hold the answer to a message of len bytes over LMS_DECODE_MAX
 * (xbuf is empty then).  Returns false when the budget cannot. */
static bool xbuf_grow(struct lms_session *s, size_t len)
{
	size_t cap = len + len / 4 + XBUF_SIZE / 4; /* values keep their size or shrink; headers add */
	if (s->xcap >= cap)
		return true;
	uint8_t *p = lms_bigmsg_alloc(cap);
	if (!p)
		return false;
	xbuf_free(s);
	s->xbuf = p;
	s->xcap = cap;
	return true;
}

/* Move a large request's rewrite to the server's output as room allows.
 * Returns true when nothing of it waits any more. */
static bool xout_spill(struct lms_session *s)
{
	if (!s->xout)
		return true;
	s->xout_off += lms_buf_append(&s->server.out, s->xout + s->xout_off, s->xout_len - s->xout_off);
	if (s->xout_off < s->xout_len)
		return false;
	lms_bigmsg_free(s->xout, s->xout_cap);
	s->xout = NULL;
	s->xout_off = s->xout_len = s->xout_cap = 0;
	return true;
}

/* Have the frontend write what the client gets for a, after what waits.
 * Returns 0, or -1 when it cannot (the session ends). */
static int answer_write(struct lms_session *s, const struct lms_answer *a)
{
	if (!s->xbuf) {
		s->xbuf = malloc(XBUF_SIZE);
		s->xcap = s->xbuf ? XBUF_SIZE : 0;
	}
	long n = s->xbuf ? s->front->fe_answer(s->fe, a, s->xbuf + s->xlen, s->xcap - s->xlen) : -1;
	if (n < 0) {
		lms_stat_add(&s->w->stats.errors[LMS_ERR_BACKEND_PROTOCOL], 1);
		session_error(s, "FATAL", "XX000", NULL,
			      "molt-lms: the database's answer cannot be translated for this client");
		return -1;
	}
	s->xlen += (size_t)n;
	xbuf_spill(s);
	return 0;
}

/* Answer the request just decoded with an error (then READY), in place
 * of the database (ABI 1.4: it cannot be translated). */
static void answer_refusal(struct lms_session *s, const char *why)
{
	struct lms_answer a;
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_ERROR;
	memcpy(a.sqlstate, "0A000", 6);
	snprintf(a.text, sizeof(a.text), "%s", why);
	if (answer_write(s, &a) < 0)
		return;
	memset(&a, 0, sizeof(a));
	a.kind = LMS_ANS_READY;
	a.txn = (uint32_t)s->txn;
	answer_write(s, &a);
	s->req_failed = true;
}

/* Does a request of this kind get an answer that ends with READY? */
static bool req_answered(uint32_t kind)
{
	return kind == LMS_REQ_QUERY || kind == LMS_REQ_PREPARE || kind == LMS_REQ_EXECUTE || kind == LMS_REQ_PING ||
	       kind == LMS_REQ_RESET || kind == LMS_REQ_DESCRIBE;
}

/* Encode req (from a client message of len bytes) for the server: into
 * rbuf when it fits the server's output, else into xout from the budget
 * (*large set): a message over LMS_DECODE_MAX, or values the plugin kept
 * (long data).  A failed encoding changes nothing in the plugin, so a
 * bigger buffer may be tried.  Returns the length, -1 when it cannot be
 * encoded, -2 when the budget has no room. */
static long encode_request(struct lms_session *s, const struct lms_request *req, size_t len, bool *large)
{
	if (len <= LMS_DECODE_MAX) {
		if (!s->rbuf)
			s->rbuf = malloc(LMS_BUF_SIZE);
		long n = s->rbuf ? s->bd->be_encode_request(s->be, req, s->rbuf, lms_buf_space(&s->server.out)) : -1;
		if (n >= 0 || !s->rbuf)
			return n;
	}
	/* its text as written, values in text, ours in front; then as much
	 * again for values that grow in text, and long data (1 MiB) */
	size_t caps[2] = { len + len / 4 + 4096, 3 * len + (1u << 20) + 65536 };
	for (int k = 0; k < 2; k++) {
		uint8_t *buf = lms_bigmsg_alloc(caps[k]);
		if (!buf)
			return -2;
		long n = s->bd->be_encode_request(s->be, req, buf, caps[k]);
		if (n >= 0) {
			s->xout = buf;
			s->xout_cap = caps[k];
			*large = true;
			return n;
		}
		lms_bigmsg_free(buf, caps[k]);
	}
	return -1;
}

/* A whole client message of a translated session: described (fe_request)
 * and written in the database's protocol (be_encode_request) instead of
 * copied.  One that cannot be is answered with an error when the client
 * waits for an answer (it ends a request), and dropped otherwise.
 * Returns whether the database will answer it with READY. */
static bool request_translate(struct lms_session *s, const uint8_t *p, size_t len, uint32_t flags)
{
	struct lms_request req;
	memset(&req, 0, sizeof(req));
	const char *why = "molt-lms: this command cannot be translated for the database that serves this session "
			  "since the cutover (it speaks another protocol)";
	long n = -1;
	bool large = false;
	if (s->front->fe_request(s->fe, p, len, &req) == 0 && req.kind != LMS_REQ_UNSUPPORTED) {
		n = encode_request(s, &req, len, &large);
		if (n == -2)
			why = "molt-lms: no memory is left for large translated messages (--translate-memory): try "
			      "again, or raise the limit";
		else if (n < 0)
			why = "molt-lms: this request is too large to translate for the database that serves this "
			      "session since the cutover";
	}
	if (n >= 0) {
		if (large) {
			s->xout_len = (size_t)n;
			s->xout_off = 0;
			xout_spill(s);
		} else {
			lms_buf_append(&s->server.out, s->rbuf, (size_t)n);
		}
		request_copy(s, p, len); /* the shadow speaks the client's protocol */
		if (req_answered(req.kind))
			return true;
		why = NULL;
	}
	if (flags & LMS_FRAME_ENDS_REQUEST) {
		if (why) {
			answer_refusal(s, why);
		} else {
			struct lms_answer a;
			memset(&a, 0, sizeof(a));
			a.kind = LMS_ANS_READY;
			a.txn = (uint32_t)s->txn;
			answer_write(s, &a);
		}
	}
	return false;
}

/* One whole message of the source of truth of a translated session:
 * decoded (be_decode: READY and the transaction state), described
 * (be_answer) and written for the client (fe_answer) instead of
 * forwarded.  In strict-sync an error of the shadow takes the place of
 * the answer's end.  Returns 1 when consumed, 0 when the client's output
 * has no room yet, -1 to stop. */
static int pump_answer(struct lms_session *s, const uint8_t *p, size_t len, uint32_t kind, bool held)
{
	struct lms_out out;
	struct lms_result res;
	struct lms_answer a;
	if (!xbuf_spill(s) || lms_buf_space(&s->server.out) < LMS_OUT_MAX)
		return 0;
	if (len > LMS_DECODE_MAX && !xbuf_grow(s, len)) {
		big_refused(s, "row", len);
		return -1;
	}
	out.len = 0;
	memset(&res, 0, sizeof(res));
	memset(&a, 0, sizeof(a));
	s->last_s2c_error = kind == LMS_MSG_ERROR;
	if (s->bd->be_decode(s->be, p, len, &out, &res) < 0 || shadow_observe_truth(s, p, len) < 0 ||
	    s->bd->be_answer(s->be, p, len, &a) < 0) {
		lms_stat_add(&s->w->stats.errors[LMS_ERR_BACKEND_PROTOCOL], 1);
		backend_fail(s, LMS_ERR_BACKEND_PROTOCOL, "invalid message from the database");
		return -1;
	}
	if (a.kind == LMS_ANS_ERROR)
		s->req_failed = true; /* (an error the plugin hides, repaired, is no failure) */
	struct lms_error e;
	char msg[LMS_OUTCOME_ERR_MAX + 128];
	if (res.action == LMS_ACT_READY && shadow_truth_error(s, &e, msg, sizeof(msg))) {
		struct lms_answer err;
		memset(&err, 0, sizeof(err));
		err.kind = LMS_ANS_ERROR;
		err.flags = LMS_ANS_REPLACES;
		snprintf(err.sqlstate, sizeof(err.sqlstate), "%s", e.sqlstate ? e.sqlstate : "XX000");
		snprintf(err.text, sizeof(err.text), "%s", e.message ? e.message : "error");
		if (answer_write(s, &err) < 0)
			return -1;
	}
	if (answer_write(s, &a) < 0)
		return -1;
	if (res.verdict == LMS_REPLY) /* the plugin's own message to the database (ABI 1.5) */
		lms_buf_append(&s->server.out, out.data, out.len);
	if (!held)
		lms_buf_consume(&s->server.in, len);
	return apply_back(s, &res) < 0 ? -1 : 1;
}

/* ---- the pump ---- */

/* ---- a frame's patch (ABI 1.10) ---- */

/* Keep the patch fe_frame asked for on the client message f about to be
 * passed on.  Returns false when it lies outside the message (a plugin
 * bug: the message must not go out unpatched). */
static bool patch_take(struct lms_session *s, const struct lms_frame *f)
{
	s->patch_len = 0;
	s->patch_off = 0;
	if (f->patch_len == 0)
		return true;
	if (f->patch_len > LMS_PATCH_MAX || (uint64_t)f->patch_at + f->patch_len > f->len)
		return false;
	s->patch_at = f->patch_at;
	s->patch_len = f->patch_len;
	memcpy(s->patch, f->patch, f->patch_len);
	return true;
}

/* The next n bytes of the client message with a patch were just appended
 * to out: put the patch in where they overlap it. */
static void patch_put(struct lms_session *s, struct lms_buf *out, size_t n)
{
	if (s->patch_len == 0 || n == 0)
		return;
	uint8_t *at = out->data + out->end - n; /* (lms_buf is flat) */
	uint64_t lo = s->patch_at > s->patch_off ? s->patch_at : s->patch_off;
	uint64_t hi = s->patch_at + s->patch_len;
	if (hi > s->patch_off + n)
		hi = s->patch_off + n;
	if (lo < hi)
		memcpy(at + (lo - s->patch_off), s->patch + (lo - s->patch_at), (size_t)(hi - lo));
	s->patch_off += n;
	if (s->patch_off >= hi && hi == (uint64_t)s->patch_at + s->patch_len)
		s->patch_len = 0; /* all of it is in */
}

/* May the verdict on a message in direction d be a REPLY to its sender?
 * The proxy may answer any client message; a database's plugin answers the
 * database only while logging in or switching, and in a translated session
 * (pgwire's atomic.c and rerun.c).  A database message must not wait for
 * room toward the database otherwise: with a client that pipelines, that
 * room comes only when the database reads, and the database stops reading
 * while its answers wait to be read (neither side would ever move). */
static bool may_reply(const struct lms_session *s, int d)
{
	return d == C2S || s->phase != PH_READY || s->translated || login_hidden(s);
}

/* Decode one whole message and carry out the verdict.  Returns 1 when it
 * was consumed, 0 when the destination has no room yet, -1 to stop. */
static int pump_decoded(struct lms_session *s, int d, const uint8_t *p, size_t len, uint32_t flags, uint32_t msg_kind,
			bool held)
{
	struct lms_conn *src = d == C2S ? &s->client : &s->server;
	struct lms_conn *dst = d == C2S ? &s->server : &s->client;
	struct lms_out out;
	struct lms_result res;
	/* Room for the largest thing the verdict may add, checked up front so
	 * that a decode is never repeated (decoders may keep state).  A held
	 * message (bigmsg.h) is translated: its rewrite waits in xout. */
	size_t need = len > LMS_OUT_MAX && !held ? len : LMS_OUT_MAX;
	if ((may_reply(s, d) && lms_buf_space(&src->out) < LMS_OUT_MAX) ||
	    (dst->fd >= 0 && lms_buf_space(&dst->out) < need))
		return 0;
	bool xlate = d == C2S && s->translated && s->phase == PH_READY;
	if (xlate && (!xout_spill(s) || lms_buf_len(&dst->out) > 0 || !xbuf_spill(s)))
		return 0; /* a translation may take the whole buffer; answers keep their order */
	bool awaits = true; /* the request gets a READY */
	if (d == C2S && !held && shadow_cap(s, len) < len)
		return 0; /* (a held one is more than the shadow can take: it gives up on it) */
	out.len = 0;
	memset(&res, 0, sizeof(res));
	int rc = d == C2S ? s->front->fe_decode(s->fe, p, len, &out, &res)
			  : s->bd->be_decode(s->be, p, len, &out, &res);
	if (rc < 0) {
		int kind = d == C2S ? LMS_ERR_CLIENT_PROTOCOL : LMS_ERR_BACKEND_PROTOCOL;
		lms_stat_add(&s->w->stats.errors[kind], 1);
		if (d == C2S)
			session_error(s, "FATAL", "08P01", NULL, "molt-lms: invalid message from the client");
		else
			backend_fail(s, kind, "invalid message from the database");
		return -1;
	}
	if (d == S2C && shadow_observe_truth(s, p, len) < 0) {
		lms_stat_add(&s->w->stats.errors[LMS_ERR_BACKEND_PROTOCOL], 1);
		backend_fail(s, LMS_ERR_BACKEND_PROTOCOL, "invalid message from the database");
		return -1;
	}
	if (d == S2C && res.action == LMS_ACT_READY && shadow_truth_ready(s, (flags & LMS_FRAME_ENDS_ANSWER) != 0))
		res.verdict = LMS_DROP; /* the error took its place */
	if (d == C2S && s->c2s_open && res.fingerprint) {
		/* a plain bounded copy: snprintf cost ~3% of a shadowed request */
		size_t n = strnlen(res.fingerprint, sizeof(s->last_stmt) - 1);
		memcpy(s->last_stmt, res.fingerprint, n);
		s->last_stmt[n] = 0;
		if (s->sh)
			lms_shadow_request_name(s->sh, res.fingerprint, res.stmt_flags);
	}
	switch (res.verdict) {
	case LMS_FORWARD:
		if (dst->fd < 0)
			goto no_peer;
		if (d == S2C && login_hidden(s))
			break; /* the new source of truth's login is ours, not the client's */
		if (xlate) {
			awaits = request_translate(s, p, len, flags);
			break;
		}
		lms_buf_append(&dst->out, p, len);
		if (d == C2S) {
			patch_put(s, &dst->out, len); /* (room was checked: all of it went) */
			request_copy(s, p, len);
			if (s->phase == PH_READY)
				replay_note(s, p, len, msg_kind, res.stmt_flags);
		}
		break;
	case LMS_REWRITE:
		if (dst->fd < 0)
			goto no_peer;
		if (d == S2C && login_hidden(s))
			break;
		if (xlate) {
			awaits = request_translate(s, out.data, out.len, flags);
			break;
		}
		lms_buf_append(&dst->out, out.data, out.len);
		if (d == C2S)
			request_copy_of(s, out.data, out.len, p, len);
		break;
	case LMS_REPLY:
		if (lms_buf_space(&src->out) < out.len) { /* a reply may_reply did not expect */
			lms_stat_add(&s->w->stats.errors[LMS_ERR_BACKEND_PROTOCOL], 1);
			backend_fail(s, LMS_ERR_BACKEND_PROTOCOL, "no room for the plugin's reply to the database");
			return -1;
		}
		lms_buf_append(&src->out, out.data, out.len);
		break;
	default:
		break;
	}
	if (d == C2S)
		s->patch_len = 0; /* passed on, or another verdict */
	/* Pointers in res may point into the input: copy before consuming. */
	if (res.action == LMS_ACT_CONNECT && keep_startup(s, &res) < 0) {
		lms_buf_consume(&src->in, len);
		session_error(s, "FATAL", "53200", NULL, "molt-lms: out of memory");
		return -1;
	}
	if (d == C2S && res.action != LMS_ACT_CONNECT && res.startup.user && !s->user)
		keep_identity(s, &res.startup);
	else if (res.startup.user && s->user && s->phase == PH_READY && !s->switching)
		session_rename(s, &res.startup);
	if (!held)
		lms_buf_consume(&src->in, len);
	if (d == C2S && (flags & LMS_FRAME_ENDS_REQUEST)) {
		if (awaits)
			request_begin(s);
		client_request_end(s);
	} else if (d == C2S && continues_request(msg_kind, flags)) {
		client_request_end(s);
	}
	if (xlate && (s->dead || s->closing))
		return -1; /* a translation failed */
	return (d == C2S ? apply_front(s, &res) : apply_back(s, &res)) < 0 ? -1 : 1;
no_peer:
	if (!held)
		lms_buf_consume(&src->in, len);
	session_error(s, "FATAL", "08P01", NULL, "molt-lms: message before the database connection is ready");
	return -1;
}

/* Account for a message streamed without decoding. */
static void note_frame(struct lms_session *s, int d, const struct lms_frame *f)
{
	if (d == C2S) {
		if (f->flags & LMS_FRAME_ENDS_REQUEST)
			request_begin(s);
		/* the shadow's part of a request ends with this message */
		s->c2s_end_after = s->c2s_open && ((f->flags & LMS_FRAME_ENDS_REQUEST) || continues_request(f->kind, f->flags));
		if (s->c2s_open && (f->kind == LMS_MSG_QUERY || f->kind == LMS_MSG_EXTENDED) &&
		    s->rt->shadow_mode != LMS_SHADOW_NONE) {
			/* observing: only a message too big to decode is streamed;
			 * the plugin names it from its first bytes if it can */
			if (!LMS_DIALECT_HAS(s->front, fe_statement) ||
			    s->front->fe_statement(s->fe, s->last_stmt, sizeof(s->last_stmt)) < 0)
				snprintf(s->last_stmt, sizeof(s->last_stmt), "(oversized statement, %llu bytes)",
					 (unsigned long long)f->len);
			if (s->sh)
				lms_shadow_request_name(s->sh, s->last_stmt, LMS_STMT_OVERSIZED);
		}
		if (s->c2s_shadow && (f->kind == LMS_MSG_QUERY || f->kind == LMS_MSG_EXTENDED) &&
		    lms_shadow_translates(s->sh))
			lms_shadow_whole_begin(s->sh, s->front, s->fe, f->len);
		if (f->kind == LMS_MSG_TERMINATE)
			s->quitting = true; /* forward it, then close in after_pump */
		s->last_s2c_error = false;
		return;
	}
	s->last_s2c_error = f->kind == LMS_MSG_ERROR;
	if (f->kind == LMS_MSG_ERROR)
		s->req_failed = true;
	if (!s->sh || s->phase != PH_READY || s->truth_unknown > 0)
		return;
	if (f->kind == LMS_MSG_ROW && f->len > LMS_DECODE_MAX && s->fwd[S2C] == 0 && !s->row.data &&
	    lms_bigmsg_begin_spare(&s->row, (size_t)f->len, f->kind, f->flags) == 0)
		return; /* copied as it streams: row_copy (streamed after a run's
			   rest, stream_after_run: values not compared) */
	if (f->kind == LMS_MSG_ROW || f->kind == LMS_MSG_ERROR)
		lms_shadow_truth_oversized(s->sh, f->kind, f->len);
}

/* Copy n bytes of a streamed row (s->row, see note_frame) and, once it is
 * whole, tell the shadow its values.  A row the plugin cannot describe
 * (or a copy the budget refused, in note_frame) is counted, its values
 * not compared. */
static void row_copy(struct lms_session *s, const uint8_t *p, size_t n)
{
	lms_bigmsg_fill(&s->row, p, n);
	if (!lms_bigmsg_whole(&s->row))
		return;
	if (s->sh)
		lms_shadow_truth_row(s->sh, s->bd, s->be, s->row.data, s->row.need);
	lms_bigmsg_end(&s->row);
}

/* Can messages flow in direction d in the current phase? */
static bool pump_allowed(const struct lms_session *s, int d)
{
	if (s->closing || s->dead)
		return false;
	if (d == C2S)
		return !s->switching && (s->phase == PH_STARTUP || s->phase == PH_AUTH || s->phase == PH_READY);
	return s->phase == PH_AUTH || s->phase == PH_READY;
}

/* Move the first n bytes of the server's input (whole messages, already
 * framed and accounted for by note_frame) to the client with one copy.
 * Returns false when the client's output took only part: the rest is
 * left to stream as s->fwd[S2C]. */
static bool move_run(struct lms_session *s, size_t n, uint64_t *moved)
{
	size_t put = n;
	if (!login_hidden(s)) /* the new source of truth's login is ours */
		put = lms_buf_append(&s->client.out, lms_buf_head(&s->server.in), n);
	lms_buf_consume(&s->server.in, put);
	*moved += put;
	s->fwd[S2C] = n - put;
	return put == n;
}

/* May this server message, framed and wholly in the buffer, join the run
 * of messages moved together (move_run)?  Only what pump would stream
 * untouched anyway. */
static bool joins_run(const struct lms_session *s, int st, const struct lms_frame *f, size_t avail)
{
	return st == LMS_FRAME_OK && f->len > 0 && f->len <= avail && !(f->flags & LMS_FRAME_NEED_BODY) &&
	       s->has_server && !(s->sh && f->kind == LMS_MSG_READY) && !answers_translated(s);
}

/* A server message framed OK without NEED_BODY is committed in the plugin
 * (frame() must not see it again): when the run before it could not be
 * moved whole, it streams after the run's rest.  See pump. */
static void stream_after_run(struct lms_session *s, int st, const struct lms_frame *f)
{
	if (!joins_run(s, st, f, (size_t)f->len))
		return; /* not committed (NEED_MORE, NEED_BODY, ...): framed again later */
	note_frame(s, S2C, f);
	s->fwd[S2C] += f->len;
}

/* A message over LMS_DECODE_MAX of a translated session, just framed:
 * assemble it whole (bigmsg.h).  Returns 1 when started, 0 when the
 * request must wait (paused), -1 when it is refused (over
 * LMS_BIGMSG_MAX or the budget). */
static int big_start(struct lms_session *s, int d, const struct lms_frame *f)
{
	if (d == C2S && !client_request_start(s, f->kind, f->flags))
		return 0;
	return lms_bigmsg_begin(&s->big[d], (size_t)f->len, f->kind, f->flags) < 0 ? -1 : 1;
}

/* Feed the message being assembled in direction d from its input, and
 * translate it once whole.  Returns 1 on progress, 0 when it waits (for
 * bytes or room), -1 to stop. */
static int big_step(struct lms_session *s, int d)
{
	struct lms_conn *src = d == C2S ? &s->client : &s->server;
	struct lms_bigmsg *b = &s->big[d];
	if (!lms_bigmsg_whole(b)) {
		size_t n = lms_bigmsg_fill(b, lms_buf_head(&src->in), lms_buf_len(&src->in));
		lms_buf_consume(&src->in, n);
		lms_stat_add(d == C2S ? &s->w->stats.bytes_in : &s->w->stats.bytes_out, n);
		if (!lms_bigmsg_whole(b))
			return n > 0 ? 1 : 0;
	}
	int rc = d == C2S ? pump_decoded(s, d, b->data, b->need, b->flags, b->kind, true)
			  : pump_answer(s, b->data, b->need, b->kind, true);
	if (rc != 0)
		lms_bigmsg_end(b); /* translated, or the session ends */
	return rc;
}

/* Move messages from one side's input to the other side's output until
 * input runs out, output fills, or the phase changes.  From the server,
 * consecutive messages that are streamed untouched (rows, completions...)
 * are framed first and moved with one copy (run). */
static void pump(struct lms_session *s, int d)
{
	struct lms_conn *src = d == C2S ? &s->client : &s->server;
	struct lms_conn *dst = d == C2S ? &s->server : &s->client;
	uint64_t moved = 0;
	size_t run = 0; /* S2C: bytes at the head of src->in framed, noted, not yet moved */
	if (d == S2C) {
		s->answer_held = false;
		if (!xbuf_spill(s))
			return; /* a translated answer still waits for room */
	}
	s->partial[d] = false;
	if (d == C2S && !xout_spill(s))
		return; /* a large request's rewrite still waits for room */
	if (s->big[d].data && lms_bigmsg_whole(&s->big[d]) && pump_allowed(s, d) && big_step(s, d) <= 0)
		return;
	while (pump_allowed(s, d) && lms_buf_len(&src->in) > run) {
		const uint8_t *p = lms_buf_head(&src->in) + run;
		size_t avail = lms_buf_len(&src->in) - run;
		if (s->big[d].data) {
			int rc = big_step(s, d);
			if (rc <= 0)
				break;
			continue;
		}
		if (s->fwd[d] > 0) {
			size_t n = avail < s->fwd[d] ? avail : (size_t)s->fwd[d];
			if (d == C2S)
				n = shadow_cap(s, n);
			if (!(d == S2C && login_hidden(s)) && !(d == C2S && s->translated))
				n = lms_buf_append(&dst->out, p, n); /* (a translated client's bytes never go as they are) */
			if (n == 0)
				break;
			if (d == C2S)
				patch_put(s, &dst->out, n);
			if (d == C2S)
				shadow_copy(s, p, n);
			else if (s->row.data)
				row_copy(s, p, n);
			lms_buf_consume(&src->in, n);
			s->fwd[d] -= n;
			moved += n;
			if (d == C2S && s->fwd[d] == 0 && s->c2s_end_after) {
				s->c2s_end_after = false;
				client_request_end(s);
			}
			continue;
		}
		if (d == C2S && !client_boundary(s))
			break;
		struct lms_frame f = { .len = 0 };
		int st = d == C2S ? s->front->fe_frame(s->fe, p, avail, &f)
				  : s->bd->be_frame(s->be, p, avail, &f);
		if (d == S2C && joins_run(s, st, &f, avail)) {
			note_frame(s, d, &f);
			run += (size_t)f.len;
			continue;
		}
		if (run > 0) {
			/* this message is handled on its own: move the run first */
			bool all = move_run(s, run, &moved);
			run = 0;
			if (!all) {
				stream_after_run(s, st, &f);
				break;
			}
			p = lms_buf_head(&src->in);
		}
		if (st == LMS_FRAME_NEED_MORE) {
			/* a whole message the plugin cannot take yet (MySQL: too
			 * many commands unanswered) is not part of one */
			s->partial[d] = f.len == 0 || f.len > avail;
			break;
		}
		bool xlate = s->translated && s->phase == PH_READY && st == LMS_FRAME_OK && f.len > LMS_DECODE_MAX &&
			     (d == S2C ? answers_translated(s) : (f.flags & LMS_FRAME_NEED_BODY) != 0);
		if (xlate) {
			int rc = big_start(s, d, &f);
			if (rc > 0)
				continue; /* assembled whole from here on */
			if (rc == 0)
				break;
			/* never wrong or cut data: the client is told, the session ends */
			lms_stat_add(&s->w->stats.errors[d == C2S ? LMS_ERR_CLIENT_PROTOCOL : LMS_ERR_BACKEND_PROTOCOL], 1);
			big_refused(s, d == C2S ? "request" : "row or message of the database", f.len);
			break;
		}
		if (st != LMS_FRAME_OK || f.len == 0 ||
		    ((f.flags & LMS_FRAME_NEED_BODY) && f.len > LMS_DECODE_MAX)) {
			int kind = d == C2S ? LMS_ERR_CLIENT_PROTOCOL : LMS_ERR_BACKEND_PROTOCOL;
			lms_stat_add(&s->w->stats.errors[kind], 1);
			if (d == C2S)
				session_error(s, "FATAL", "08P01", NULL, "molt-lms: invalid message from the client");
			else
				backend_fail(s, kind, "invalid message from the database");
			break;
		}
		if (d == C2S && !client_request_start(s, f.kind, f.flags))
			break;
		if (d == C2S && !patch_take(s, &f)) {
			lms_stat_add(&s->w->stats.errors[LMS_ERR_CLIENT_PROTOCOL], 1);
			session_error(s, "FATAL", "08P01", NULL, "molt-lms: the %s plugin asked to patch bytes outside "
				      "the message", s->front->name);
			break;
		}
		if (d == S2C && s->sh && (f.kind == LMS_MSG_READY || (f.flags & LMS_FRAME_ENDS_ANSWER)) &&
		    s->pending > 0 && s->truth_unknown == 0 && !lms_shadow_truth_may_finish(s->sh)) {
			s->answer_held = true;
			break; /* sync: the shadow has not answered this request yet */
		}
		if (d == S2C && answers_translated(s)) {
			if (avail < f.len) {
				s->partial[d] = true;
				break;
			}
			int rc = pump_answer(s, p, (size_t)f.len, f.kind, false);
			if (rc <= 0)
				break;
			moved += f.len;
			continue;
		}
		if (f.flags & LMS_FRAME_NEED_BODY) {
			if (avail < f.len) {
				s->partial[d] = true;
				break;
			}
			if (d == S2C) {
				s->last_s2c_error = f.kind == LMS_MSG_ERROR;
				if (f.kind == LMS_MSG_ERROR)
					s->req_failed = true;
			}
			int rc = pump_decoded(s, d, p, (size_t)f.len, f.flags, f.kind, false);
			if (rc <= 0)
				break;
			moved += f.len;
			continue;
		}
		if (!s->has_server) {
			lms_stat_add(&s->w->stats.errors[LMS_ERR_CLIENT_PROTOCOL], 1);
			session_error(s, "FATAL", "08P01", NULL, "molt-lms: unexpected message before login");
			break;
		}
		note_frame(s, d, &f);
		s->fwd[d] = f.len;
	}
	if (run > 0)
		move_run(s, run, &moved);
	if (moved)
		lms_stat_add(d == C2S ? &s->w->stats.bytes_in : &s->w->stats.bytes_out, moved);
}

/* ---- flushing and reading ---- */

/* Send the server's pending output; handle loss of the backend. */
static void flush_server(struct lms_session *s)
{
	if (!s->has_server || s->phase == PH_CONNECTING || s->phase == PH_BACKEND_TLS)
		return;
	replay_feed(s);
	int st = lms_conn_flush(&s->server);
	if (st == LMS_IO_OK && s->switching && s->replay_sent < s->replay_len) {
		replay_feed(s);
		st = lms_conn_flush(&s->server);
	}
	if (st == LMS_IO_ERR || st == LMS_IO_EOF)
		backend_fail(s, LMS_ERR_BACKEND_LOST, s->server.err[0] ? s->server.err : "connection lost");
}

/* Send the client's pending output. */
static void flush_client(struct lms_session *s)
{
	if (s->phase == PH_CLIENT_TLS && !s->tls_after_flush)
		return;
	int st = lms_conn_flush(&s->client);
	if (st == LMS_IO_ERR || st == LMS_IO_EOF) {
		s->dead = true;
		return;
	}
	if (st == LMS_IO_OK && s->closing)
		s->dead = true;
}

/* Client TLS handshake step. */
static void client_tls_step(struct lms_session *s)
{
	if (s->tls_after_flush) {
		if (lms_buf_len(&s->client.out) > 0)
			return;
		s->tls_after_flush = false;
		if (lms_conn_tls_begin(&s->client, s->rt->server_tls, true, NULL, false) != LMS_IO_OK ||
		    lms_conn_tls_take_input(&s->client) != LMS_IO_OK) {
			s->dead = true;
			return;
		}
	}
	int st = lms_conn_tls_handshake(&s->client);
	if (st == LMS_IO_AGAIN)
		return;
	if (st != LMS_IO_OK) {
		lms_stat_add(&s->w->stats.errors[LMS_ERR_CLIENT_TLS], 1);
		lms_log(LMS_LOG_LEVEL_INFO, "client_tls_failed", "worker=%d peer=%s error=\"%s\"",
			s->w->id, s->peer, s->client.err);
		s->dead = true;
		return;
	}
	s->front->fe_tls_done(s->fe);
	s->phase = s->phase_after_tls;
}

/* Backend TLS handshake step. */
static void backend_tls_step(struct lms_session *s)
{
	int st = lms_conn_tls_handshake(&s->server);
	if (st == LMS_IO_AGAIN)
		return;
	if (st != LMS_IO_OK) {
		backend_fail(s, LMS_ERR_BACKEND_TLS, s->server.err);
		return;
	}
	backend_send_start(s, 1);
}

/* Are answers still to go to the client: in its output, or a translated
 * answer waiting for room there? */
static bool client_owed(const struct lms_session *s)
{
	return lms_buf_len(&s->client.out) > 0 || s->xoff < s->xlen || lms_bigmsg_whole(&s->big[S2C]);
}

/* The client sent its last byte (EOF, which may also be a close: a socket
 * cannot tell).  Over a direct connection the database still answers
 * every request sent before it, so the session does too when requests
 * are in flight or buffered: half_close_step passes them on, then tells
 * the database, which answers and closes.  Returns false when the session
 * simply ends (nothing in flight, or not logged in yet). */
static bool client_half_closed(struct lms_session *s)
{
	if (s->client_eof)
		return true;
	bool busy = s->pending > 0 || s->c2s_open || s->fwd[C2S] > 0 || s->fwd[S2C] > 0 ||
		    lms_buf_len(&s->client.in) > 0 || lms_buf_len(&s->server.out) > 0 || s->queued ||
		    client_owed(s);
	/* logged in: ready, or moving to a new source of truth (its
	 * requests wait for the switch, then go) */
	bool in_session = (s->phase == PH_READY && s->has_server) || s->switching;
	if (!busy || !in_session || s->closing)
		return false;
	s->client_eof = true;
	return true;
}

/* After the client's EOF (client_half_closed): once all it sent went to
 * the database (its input used up, or only part of a message left that
 * nothing will complete), half-close toward the database; once the
 * database closed and its last bytes went on to the client, end. */
static void half_close_step(struct lms_session *s)
{
	if (s->server_eof) {
		/* what it sent went on, but for part of a message it never
		 * finished (it died mid-answer), and the client took it all:
		 * as on a direct connection, answers wait for a slow reader
		 * (no CLOSE_GRACE_SEC) while its connection lives */
		bool rest = lms_buf_len(&s->server.in) > 0 && !s->partial[S2C];
		if (!rest && !client_owed(s))
			session_close(s);
		return;
	}
	if (s->server_shut || s->switching || s->queued || s->phase != PH_READY || !s->has_server)
		return;
	if (lms_buf_len(&s->server.out) > 0 || s->xout)
		return;
	/* Only part of a message left: nothing completes it (a COPY's data
	 * cut mid-header ends there, as on a direct connection). */
	if (lms_buf_len(&s->client.in) > 0 && !s->partial[C2S])
		return;
	/* A translated session's plugin may still write to the database
	 * while a request is answered (an execution run again, a ROLLBACK
	 * TO SAVEPOINT): it is told once every answer came.  Its requests
	 * all end in READY (no COPY across protocols), so this waits no
	 * longer than the database takes to answer. */
	if (s->translated && s->pending > 0)
		return;
	s->server_shut = true;
	lms_conn_shutdown_write(&s->server);
}

/* Read from one side; returns false if the session ends. */
static bool read_side(struct lms_session *s, int d)
{
	struct lms_conn *c = d == C2S ? &s->client : &s->server;
	size_t n;
	int st = lms_conn_read(c, &n);
	if (st == LMS_IO_OK || st == LMS_IO_AGAIN)
		return true;
	if (d == C2S) {
		if (st == LMS_IO_EOF && client_half_closed(s))
			return true;
		if (st == LMS_IO_ERR)
			lms_log(LMS_LOG_LEVEL_INFO, "client_read_error", "worker=%d peer=%s error=\"%s\"",
				s->w->id, s->peer, c->err);
		s->dead = true;
		return false;
	}
	if (s->server_shut) {
		s->server_eof = true; /* it answered what the client sent: half_close_step */
		return true;
	}
	/* The backend went away. */
	if (s->phase < PH_READY && s->last_s2c_error && s->own_login) {
		/* the error was about our login, not shown to the client */
		backend_fail_state(s, LMS_ERR_BACKEND_PROTOCOL, "28000", "the database refused molt-lms's own login "
				   "for this client (the URL's user and the client's database; see the database's log)");
		return false;
	}
	if (s->quitting || (s->phase < PH_READY && s->last_s2c_error)) {
		session_close(s); /* its own error was already forwarded */
		return false;
	}
	backend_fail(s, LMS_ERR_BACKEND_LOST, st == LMS_IO_EOF ? "the database closed the connection" : c->err);
	return false;
}

/* Input is processed and forwarded; maybe the session can now close. */
static void after_pump(struct lms_session *s)
{
	if (s->client_eof && !s->closing)
		half_close_step(s);
	/* the client's goodbye went on after its requests: close once they
	 * are answered (or the database closes first, read_side) */
	if (s->quitting && !s->closing && s->fwd[C2S] == 0 && lms_buf_len(&s->server.out) == 0 && s->pending == 0) {
		session_close(s);
		return;
	}
	if (s->draining && !s->closing && s->phase == PH_READY && s->fwd[C2S] == 0 &&
	    lms_buf_len(&s->server.out) == 0 && (session_idle(s) || s->client.fd < 0)) {
		/* Terminate was forwarded (or shutdown and idle). */
		if (s->rt->shutting_down && lms_buf_len(&s->client.in) == 0)
			session_error(s, "FATAL", "57P01", "reconnect: another molt-lms instance will serve you",
				      "molt-lms is shutting down");
		else
			session_close(s);
	}
}

/* Pump direction d and flush, again and again while flushing freed the
 * room the pump was waiting for: when the destination drains completely
 * no write event is armed, so stopping early would strand input that is
 * already buffered (and no read event would fire for it). */
static void relay(struct lms_session *s, int d)
{
	struct lms_conn *src = d == C2S ? &s->client : &s->server;
	struct lms_conn *dst = d == C2S ? &s->server : &s->client;
	for (int i = 0; i < 64; i++) {
		size_t before = lms_buf_len(&src->in);
		pump(s, d);
		bool had_out = lms_buf_len(&dst->out) > 0;
		if (s->sh && d == C2S)
			lms_shadow_flush(s->sh);
		/* An empty output needs no flush, unless a replay waits to be
		 * fed (switching) or the session ends once it is sent. */
		if (lms_buf_len(&s->server.out) > 0 || s->switching)
			flush_server(s);
		/* An answer held for the shadow goes out whole with its READY
		 * (on_wake pumps again): one write to the client, not two. */
		if (!s->dead && ((lms_buf_len(&s->client.out) > 0 && !s->answer_held) || s->closing))
			flush_client(s);
		if (s->dead || s->closing || !pump_allowed(s, d))
			return;
		size_t left = lms_buf_len(&src->in);
		bool waits = (d == S2C && s->xlen > s->xoff) || (d == C2S && s->xout) || /* a translation's rest */
			     lms_bigmsg_whole(&s->big[d]);
		if ((left == 0 && !waits) || lms_buf_len(&dst->out) > 0)
			return; /* all moved, or a write event will resume us */
		if (left == before && !had_out && !waits)
			return; /* waiting for the rest of a message */
	}
	lms_conn_kick(src); /* fairness: continue on the next loop turn */
}

/* ---- event callbacks ---- */

static void on_client(struct lms_conn *c, short what, void *arg)
{
	struct lms_session *s = arg;
	if (s->phase == PH_CLIENT_TLS) {
		flush_client(s);
		if (!s->dead)
			client_tls_step(s);
		if (s->dead || s->phase == PH_CLIENT_TLS)
			goto out;
		what = EV_READ; /* bytes may already wait inside TLS */
	}
	if ((what & EV_WRITE) || (c->write_wants_read && (what & EV_READ))) {
		flush_client(s);
		if (!s->dead && s->has_server)
			relay(s, S2C);
		if (!s->dead)
			relay(s, C2S);
		if (!s->dead)
			after_pump(s); /* the answer may have ended here: a draining session closes */
	}
	if (!s->dead && ((what & EV_READ) || (c->read_wants_write && (what & EV_WRITE)))) {
		if (read_side(s, C2S)) {
			relay(s, C2S);
			after_pump(s);
		}
	}
out:
	callback_end(s);
}

static void on_server(struct lms_conn *c, short what, void *arg)
{
	struct lms_session *s = arg;
	if (s->phase == PH_CONNECTING) {
		if (lms_conn_connect_done(c) == LMS_IO_OK) {
			backend_connected(s);
		} else {
			lms_log(LMS_LOG_LEVEL_DEBUG, "backend_address_failed", "worker=%d backend=%s index=%d error=\"%s\"",
				s->w->id, s->backend->label, s->addr_idx, c->err);
			s->addr_idx++;
			backend_dial(s, c->err); /* the next address, or the failure */
		}
		goto out;
	}
	if (s->phase == PH_BACKEND_TLS) {
		backend_tls_step(s);
		if (s->dead || s->phase == PH_BACKEND_TLS)
			goto out;
	}
	if ((what & EV_WRITE) || (c->write_wants_read && (what & EV_READ))) {
		flush_server(s);
		if (!s->dead)
			relay(s, C2S);
		if (!s->dead)
			relay(s, S2C);
		if (!s->dead)
			after_pump(s);
	}
	if (!s->dead && ((what & EV_READ) || (c->read_wants_write && (what & EV_WRITE)))) {
		if (read_side(s, S2C)) {
			relay(s, S2C);
			/* A client message the plugin could not take yet (NEED_MORE
			 * on a whole message: too many unanswered commands) may
			 * go now that answers have been relayed. */
			if (!s->dead && lms_buf_len(&s->client.in) > 0)
				relay(s, C2S);
			after_pump(s);
		}
	}
out:
	callback_end(s);
}

/* The shadow answered, gave up, or has room again: move what waited. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct lms_session *s = arg;
	(void)fd;
	(void)what;
	if (s->has_server)
		relay(s, S2C);
	if (!s->dead && !s->closing)
		relay(s, C2S);
	if (!s->dead)
		after_pump(s);
	callback_end(s);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct lms_session *s = arg;
	(void)fd;
	(void)what;
	if (s->closing) {
		s->dead = true;
	} else if (s->queued || s->login_queued) {
		double waited = (double)(lms_mono_us() - s->queued_since_us) / 1e6;
		if (waited >= max_pause(s))
			session_error(s, "FATAL", "57P01", "reconnect and retry once the cutover is over",
				      "molt-lms: paused for a cutover longer than --max-pause (%g s)", max_pause(s));
		else
			timer_arm(s, max_pause(s) - waited);
	} else if (s->phase != PH_READY) {
		if (s->phase == PH_CONNECTING) {
			backend_fail(s, LMS_ERR_TIMEOUT, "timed out connecting (see --connect-timeout)");
		} else {
			lms_stat_add(&s->w->stats.errors[LMS_ERR_TIMEOUT], 1);
			session_error(s, "FATAL", "08006", NULL, "molt-lms: login not finished in time (see --login-timeout)");
		}
	} else {
		double idle = s->rt->cfg->idle_timeout;
		double quiet = (double)(lms_mono_us() - s->last_active_us) / 1e6;
		if (idle > 0 && session_idle(s) && quiet >= idle) {
			lms_stat_add(&s->w->stats.errors[LMS_ERR_TIMEOUT], 1);
			session_error(s, "FATAL", "57P05", NULL,
				      "molt-lms: closing the connection after %.0f s idle (see --idle-timeout)", idle);
		} else if (idle > 0) {
			timer_arm(s, quiet < idle ? idle - quiet : idle);
		}
	}
	callback_end(s);
}

/* Decide which sides may read, and arm their events. */
static void session_update(struct lms_session *s)
{
	bool c_room = lms_buf_len(&s->client.in) < LMS_BUF_SIZE;
	bool s_room = lms_buf_len(&s->server.in) < LMS_BUF_SIZE;
	bool serving = !s->closing && (s->phase == PH_STARTUP || s->phase == PH_AUTH || s->phase == PH_READY ||
				       s->phase == PH_CLIENT_TLS);
	/* Back-pressure: stop reading a side whose peer's output is full. */
	bool srv_out_ok = !s->has_server || lms_buf_space(&s->server.out) > 0;
	bool cli_out_ok = lms_buf_space(&s->client.out) > 0;
	s->client.want_read = serving && c_room && srv_out_ok && !s->client_eof;
	if (s->has_server)
		s->server.want_read = !s->closing && (s->phase == PH_AUTH || s->phase == PH_READY) &&
				      s_room && cli_out_ok && !s->server_eof;
	lms_conn_update_events(&s->client);
	if (s->has_server)
		lms_conn_update_events(&s->server);
	if (s->phase == PH_READY && s->rt->cfg->idle_timeout > 0 && !evtimer_pending(&s->timer, NULL))
		timer_arm(s, s->rt->cfg->idle_timeout);
	if (s->client.want_read && s->client.tls_pending)
		lms_conn_kick(&s->client);
	if (s->has_server && s->server.want_read && s->server.tls_pending)
		lms_conn_kick(&s->server);
}

/* Does this new client log in through its own plugin (ABI 1.4)?  When
 * the source of truth speaks another wire family, the client's login
 * cannot be relayed to it.  Decided at accept (or when a login queued by
 * a pause resumes, own_login_late). */
static void own_login_opts(struct lms_session *s, struct lms_fe_opts *fo)
{
	/* s->peer is "address:port"; always given: a session whose login was
	 * relayed may verify a later change of user itself (mysql.so) */
	const char *colon = strrchr(s->peer, ':');
	size_t n = colon ? (size_t)(colon - s->peer) : 0;
	if (n >= sizeof(fo->client_ip))
		n = 0;
	memcpy(fo->client_ip, s->peer, n);
	fo->client_ip[n] = 0;
	const struct lms_backend *truth = lms_runtime_truth(s->rt, NULL);
	if (strcmp(truth->plugin.d->family, s->front->family) == 0 || !LMS_DIALECT_HAS(s->front, fe_login_done))
		return;
	s->own_login = true;
	fo->own_login = 1;
}

/* Does a backend speak another wire family than the clients? */
static int other_family(const struct lms_runtime *rt)
{
	for (int i = 0; i < 2; i++)
		if (rt->backends[i].plugin.d && strcmp(rt->backends[i].plugin.d->family, rt->front->family) != 0)
			return 1;
	return 0;
}

/* The options of this session's frontend. */
static void fe_opts_init(struct lms_session *s, struct lms_fe_opts *fo)
{
	const struct lms_runtime *rt = s->rt;
	memset(fo, 0, sizeof(*fo));
	fo->tls_available = rt->server_tls != NULL;
	fo->tls_required = rt->server_tls != NULL;
	/* Fingerprinting costs about 2,400 instructions a query (callgrind),
	 * half the fast path's: only when shadowing.  Without it only what
	 * changes the session's state is classified (for a cutover's replay),
	 * and the admin API cannot name a session's statement. */
	fo->observe = rt->shadow_mode != LMS_SHADOW_NONE ? LMS_OBSERVE_FULL : LMS_OBSERVE_STATE;
	fo->keep_statements = other_family(rt); /* a cutover may make this session translated (ABI 1.4) */
	memcpy(fo->proxy_key, s->proxy_key, 8);
	own_login_opts(s, fo);
}

/* A server-first login queued by a pause, before anything was said to the
 * client, resumes on a source of truth of another wire family: the
 * client's login cannot be relayed there, so a new frontend greets it with
 * the plugin's own login (ABI 1.4).  Returns true when it took over (or the
 * session ended). */
static bool own_login_late(struct lms_session *s)
{
	if (s->own_login || s->startup_raw || s->phase != PH_STARTUP || lms_buf_len(&s->client.out) > 0)
		return false;
	struct lms_fe_opts fo;
	fe_opts_init(s, &fo);
	if (!s->own_login)
		return false;
	void *fe = s->front->fe_new(&fo);
	if (!fe) {
		session_error(s, "FATAL", "53200", NULL, "molt-lms: out of memory");
		return true;
	}
	s->front->fe_free(s->fe);
	s->fe = fe;
	struct lms_out out;
	struct lms_result res;
	out.len = 0;
	memset(&res, 0, sizeof(res));
	if (s->front->fe_accept(s->fe, &out, &res) < 0 || res.action != LMS_ACT_NONE) {
		session_error(s, "FATAL", "08P01", NULL, "molt-lms: cannot greet the client");
		return true;
	}
	lms_buf_append(&s->client.out, out.data, out.len);
	timer_arm_cfg(s, s->rt->cfg->login_timeout);
	flush_client(s);
	return true;
}

/* ---- entry points ---- */

void lms_session_accept(struct lms_worker *w, int fd)
{
	struct lms_runtime *rt = w->rt;
	struct lms_session *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return;
	}
	s->w = w;
	s->rt = rt;
	s->front = rt->front;
	session_events_assign(s, w->base);
	s->client.fd = -1;
	s->server.fd = -1;
	s->started_us = lms_mono_us();
	s->id = __atomic_add_fetch(&next_session_id, 1, __ATOMIC_RELAXED);
	lms_worker_add_session(w, s);
	lms_stat_add(&w->stats.conns_total, 1);
	lms_stat_add(&w->stats.conns_active, 1);
	int total = __atomic_add_fetch(&rt->active_conns, 1, __ATOMIC_RELAXED);
	if (lms_conn_init(&s->client, w->base, fd, on_client, s) < 0) {
		close(fd);
		s->client.fd = -1;
		session_free(s);
		return;
	}
	lms_conn_peer_name(&s->client, s->peer, sizeof(s->peer));
	lms_cancel_new_key(s->proxy_key);
	struct lms_fe_opts fo;
	fe_opts_init(s, &fo);
	s->fe = s->front->fe_new(&fo);
	if (!s->fe) {
		session_free(s);
		return;
	}
	lms_log(LMS_LOG_LEVEL_DEBUG, "conn_open", "worker=%d peer=%s", w->id, s->peer);
	if (total > rt->cfg->max_connections || w->draining) {
		lms_stat_add(&w->stats.errors[LMS_ERR_REJECTED], 1);
		session_error(s, "FATAL", w->draining ? "57P01" : "53300", NULL,
			      w->draining ? "molt-lms is shutting down"
					  : "molt-lms: too many connections (see --max-connections)");
		if (s->dead) {
			session_free(s);
			return;
		}
		session_update(s);
		return;
	}
	timer_arm_cfg(s, rt->cfg->login_timeout);
	struct lms_out out;
	struct lms_result res;
	out.len = 0;
	memset(&res, 0, sizeof(res));
	if (s->front->fe_accept(s->fe, &out, &res) < 0) {
		session_free(s);
		return;
	}
	lms_buf_append(&s->client.out, out.data, out.len);
	/* a server-first protocol: the login waits for a pause, or is refused
	 * while the coordination state is unknown, as a client-first one is */
	if (res.action == LMS_ACT_CONNECT)
		session_connect_when_serving(s);
	flush_client(s);
	callback_end(s);
}

void lms_session_drain(struct lms_session *s)
{
	s->draining = true;
	if (s->closing)
		return;
	if (s->phase != PH_READY) {
		session_error(s, "FATAL", "57P01", NULL, "molt-lms is shutting down");
	} else if (session_idle(s)) {
		session_error(s, "FATAL", "57P01", "reconnect: another molt-lms instance will serve you",
			      "molt-lms is shutting down");
	}
	callback_end(s);
}

void lms_session_kill(struct lms_session *s)
{
	if (!s->closing)
		session_error(s, "FATAL", "57P01", NULL,
			      "molt-lms is shutting down: the shutdown timeout ended this connection");
	session_free(s);
}

/* Paused: open a standby connection to the other database now, so that a
 * commit finds it logged in with the session's state (shadow modes have
 * the shadow for that).  Serving on the same source of truth (abort):
 * close it. */
static void standby_update(struct lms_session *s, const struct lms_coord_view *v)
{
	if (v->phase == LMS_PHASE_SERVING && v->truth == s->role) {
		lms_shadow_free(s->standby);
		s->standby = NULL;
		return;
	}
	if (v->phase != LMS_PHASE_PAUSED || s->standby || s->sh || s->phase != PH_READY || s->switching ||
	    v->truth != s->role || s->replay_overflow || s->replay_len > LMS_BUF_SIZE / 2)
		return;
	s->standby = open_other(s, LMS_SHADOW_STANDBY);
	s->standby_state = s->replay_len;
}

void lms_session_coord_changed(struct lms_session *s)
{
	struct lms_coord_view v;
	if (s->closing)
		return;
	lms_coord_get(s->rt, &v);
	standby_update(s, &v);
	if (v.phase == LMS_PHASE_SERVING && s->login_queued) {
		evtimer_del(&s->timer);
		session_connect_when_serving(s);
	} else if (v.phase == LMS_PHASE_SERVING && s->phase == PH_READY && !s->switching) {
		relay(s, C2S); /* a queued request goes (moving to a new source of truth first) */
		if (!s->dead)
			after_pump(s);
	}
	callback_end(s);
}

void lms_session_info(const struct lms_session *s, struct lms_session_info *out)
{
	memset(out, 0, sizeof(*out));
	out->id = s->id;
	snprintf(out->peer, sizeof(out->peer), "%s", s->peer);
	snprintf(out->user, sizeof(out->user), "%s", s->user ? s->user : "");
	snprintf(out->database, sizeof(out->database), "%s", s->database ? s->database : "");
	snprintf(out->last_statement, sizeof(out->last_statement), "%s", s->last_stmt);
	if (!s->last_stmt[0] && s->fe && LMS_DIALECT_HAS(s->front, fe_statement) &&
	    s->front->fe_statement(s->fe, out->last_statement, sizeof(out->last_statement)) < 0)
		out->last_statement[0] = 0; /* computed now: none was kept */
	out->queued = s->queued || s->login_queued;
	if (out->queued)
		out->state = "queued";
	else if (s->phase != PH_READY || s->switching)
		out->state = "login";
	else if (s->pending > 0 || s->c2s_open)
		out->state = "active";
	else if (s->txn != LMS_TXN_IDLE)
		out->state = "in_transaction";
	else
		out->state = "idle";
	if (s->txn != LMS_TXN_IDLE && s->txn_since_us)
		out->transaction_age_s = (double)(lms_mono_us() - s->txn_since_us) / 1e6;
	out->backend = s->backend ? s->backend->role_name : "-";
}
