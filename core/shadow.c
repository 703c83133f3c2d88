/*
 * shadow.c - the shadow connection of one session, and the comparison of
 * each request's two answers.  See shadow.h for the contract.
 *
 * Phases: DOWN (no connection) -> CONNECTING -> TLS -> AUTH (our own
 * login) -> READY.  Any failure closes the connection and answers every
 * request still in flight on it as lost.
 *
 * Request bytes wait in `held` until they may go: while the shadow logs
 * in, and, in the sync modes, until the source of truth has answered the
 * request.  Running a request on the shadow only after the source of
 * truth ran it keeps the shadows' lock order the source of truth's: two
 * sessions whose transactions touch the same rows cannot each hold a lock
 * on a different database that the other waits for (with the answer held
 * until both databases replied, that would be a deadlock across the two
 * databases, broken only by --shadow-timeout).  A request that begins and
 * ends outside a transaction block cannot hold a lock past its own end, so
 * it is released as soon as it is complete and runs on both at once.  A
 * request too big to hold whole (more than 32 KiB, e.g. a COPY) is
 * released as it arrives.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bigmsg.h"
#include "clock.h"
#include "conn.h"
#include "dial.h"
#include "digest.h"
#include "fpstats.h"
#include "log.h"
#include "mismatch_log.h"
#include "plugin_loader.h"
#include "shadow.h"
#include "worker.h"

enum sh_phase { SH_DOWN = 0, SH_CONNECTING, SH_TLS, SH_AUTH, SH_READY };

#define SH_RECS 16
#define SH_RETRY_US 1000000u  /* wait this long before dialing a lost shadow again */

/* One client request, from its first message until both answers were
 * compared (or the source of truth answered one the shadow never got). */
struct sh_rec {
	uint64_t seq;
	bool shadowed;       /* sent to the shadow */
	bool sent;           /* its last message was queued */
	bool truth_seen;     /* the source of truth's READY for it arrived */
	bool gated;          /* its bytes wait for truth_seen (sync modes) */
	uint32_t held;       /* its bytes still in sh->held */
	bool begun;          /* some of its bytes went to the connection */
	bool truth_done;
	bool other_done;
	uint32_t flags;      /* LMS_STMT_* of the statement it is named by */
	uint32_t all_flags;  /* LMS_STMT_* of every statement it names */
	bool idle_start;     /* it began outside any transaction */
	bool busy_skip;      /* async: not sent, the shadow was behind */
	uint32_t owed;       /* translation: answers (READYs) its encoded
				messages owe */
	char *fp;            /* fingerprint, NULL until named: fp_buf */
	char *fp_buf;        /* malloc, kept by the slot from request to
				request (grown when a longer one comes), freed
				with the shadow: no allocation per request */
	size_t fp_cap;
	uint64_t start_us;
	uint64_t sent_us;    /* its last byte went to the connection */
	uint64_t truth_us;   /* latencies */
	uint64_t other_us;
	struct lms_outcome truth;
	struct lms_outcome other;
};

struct lms_shadow {
	struct lms_shadow_ctx ctx;
	struct lms_runtime *rt;
	const struct lms_backend *backend;  /* the database we shadow to */
	int role;                           /* its enum lms_role */
	void *be;
	struct lms_conn conn;
	bool has_conn;
	int phase;
	int addr_idx;
	uint64_t dial_us;       /* when the current connection was started */
	uint64_t retry_us;      /* no new connection before this */
	uint32_t failures;      /* connections lost in a row (backoff) */
	struct lms_buf held;    /* request bytes not yet released to conn.out */
	uint64_t fwd;           /* bytes left of a message streamed past */
	struct lms_bigmsg row;  /* ... a row over LMS_DECODE_MAX, copied as it
				   streams past (budget), observed whole */
	struct event timer;     /* the shadow timeout of the oldest request */
	uint64_t stall_us;      /* since then bytes wait in conn.out that the
				   database does not take (0: none wait) */
	uint64_t timer_at;      /* when the armed timer fires, 0 when not armed */
	struct sh_rec recs[SH_RECS];
	uint32_t head;          /* oldest record */
	uint32_t n;             /* records in use */
	uint64_t next_seq;      /* number of the next request the client starts */
	uint64_t truth_seq;     /* the request the source of truth answers now */
	bool cur_open;          /* the client is sending request next_seq - 1 */
	bool cur_shadowed;
	bool starved;           /* the session waits for room in `held` */
	bool awaited;           /* the session waits for an answer: a READY
				   held (sync modes) or too many in flight */
	char why[160];          /* why the shadow is down */
	char login_error[200];  /* the database's error during our login */
	uint8_t *replay;        /* copy of ctx.replay (malloc), sent after the login */
	uint32_t replay_wait;   /* READYs the replay still owes */
	uint8_t key[LMS_KEY_MAX]; /* the database's cancel key */
	size_t key_len;
	/* after its session closed (lms_shadow_close) */
	bool orphan;            /* on its worker's list, finishing what ran */
	bool quiet;             /* lost requests are counted, not logged each */
	struct lms_shadow *onext, *oprev;
	char *names;            /* owned copies of ctx.peer, user, database */
	bool translate;         /* the database speaks another wire family:
				   requests are described and encoded (ABI
				   1.3), never forwarded as bytes */
	uint8_t *xbuf;          /* translation: one encoded message (malloc) */
	/* translation of a message over LMS_DECODE_MAX (bigmsg.h budget) */
	struct lms_bigmsg whole;  /* a streamed client message assembled */
	const struct lms_dialect *whole_front; /* ... and the session's
				   frontend that describes it */
	void *whole_fe;
	uint8_t *big;           /* its encoding, queued after the held bytes
				   of its record (big_seq) */
	size_t big_len, big_off, big_cap;
	uint64_t big_seq;
};

static void on_conn(struct lms_conn *c, short what, void *arg);
static void sh_break(struct lms_shadow *sh, const char *why);
static void sh_dial(struct lms_shadow *sh, const char *last_err);
static void sh_read(struct lms_shadow *sh);
static void sh_update_events(struct lms_shadow *sh);
static void orphan_check(struct lms_shadow *sh);
static void whole_fill(struct lms_shadow *sh, const uint8_t *p, size_t n);

int lms_shadow_mode_parse(const char *name)
{
	static const char *const names[] = { "none", "async", "sync", "strict-sync" };
	for (int i = 0; i < 4; i++)
		if (name && strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

/* The configured shadow timeout in microseconds (5 s if unset). */
static uint64_t timeout_us(const struct lms_shadow *sh)
{
	double t = sh->rt->cfg->shadow_timeout;
	return (uint64_t)((t > 0 ? t : 5.0) * 1e6);
}

static struct lms_stats *stats(struct lms_shadow *sh)
{
	return &sh->ctx.w->stats;
}

/* Ask the session to look again (an orphan has no session). */
static void sh_wake(struct lms_shadow *sh)
{
	if (sh->ctx.wake)
		event_active(sh->ctx.wake, EV_READ, 0);
}

/* ---- records ---- */

static struct sh_rec *rec_at(struct lms_shadow *sh, uint32_t i)
{
	return &sh->recs[(sh->head + i) % SH_RECS];
}

/* The record of request seq, or NULL (never recorded, or finished). */
static struct sh_rec *rec_find(struct lms_shadow *sh, uint64_t seq)
{
	for (uint32_t i = 0; i < sh->n; i++)
		if (rec_at(sh, i)->seq == seq)
			return rec_at(sh, i);
	return NULL;
}

/* The oldest request sent to the shadow that it has not answered. */
static struct sh_rec *rec_other_current(struct lms_shadow *sh)
{
	for (uint32_t i = 0; i < sh->n; i++) {
		struct sh_rec *r = rec_at(sh, i);
		if (r->shadowed && !r->other_done)
			return r;
	}
	return NULL;
}

/* The record whose outcome the shadow's next answer belongs to: none
 * while it answers the replayed session state (those answers are ours). */
static struct sh_rec *current_outcome_rec(struct lms_shadow *sh)
{
	return sh->replay_wait > 0 ? NULL : rec_other_current(sh);
}

/* Classify a finished record; count, log and aggregate it. */
static void rec_judge(struct lms_shadow *sh, struct sh_rec *r)
{
	const char *fp = r->fp ? r->fp : "(unnamed)";
	/* LMS_STMT_ORDERED is the naming statement's: a request of several
	 * (a multi-statement query, a pipeline) compares each statement's
	 * rows as a multiset, since one ORDER BY orders only its own */
	bool ordered = (r->flags & LMS_STMT_ORDERED) && r->truth.statements <= 1 && r->other.statements <= 1;
	unsigned how = ordered ? LMS_CMP_ORDERED : 0;
	enum lms_fp_result res;
	enum lms_diff diff = LMS_DIFF_LOST;
	if (!r->shadowed && !r->other.lost) {
		res = LMS_FP_DROPPED;
	} else if ((r->flags & LMS_STMT_LOCAL) && sh->translate) {
		res = LMS_FP_LOCAL; /* the other family's database ran something else */
	} else {
		diff = lms_outcome_compare(&r->truth, &r->other, how);
		if (diff == LMS_DIFF_NONE)
			res = LMS_FP_MATCH;
		else if (diff == LMS_DIFF_TRANSIENT)
			res = LMS_FP_TRANSIENT;
		else if (diff == LMS_DIFF_LOST)
			res = LMS_FP_LOST;
		else if (diff == LMS_DIFF_UNCHECKED)
			res = LMS_FP_UNCHECKED;
		else if ((r->flags & LMS_STMT_SETTING) && diff == LMS_DIFF_ERROR && r->other.sqlstate[0])
			res = LMS_FP_SETTING;
		else
			res = LMS_FP_MISMATCH;
		if (diff != LMS_DIFF_NONE)
			lms_stat_add(&stats(sh)->shadow_diff[diff], 1);
	}
	lms_stat_add(&stats(sh)->shadow[res], 1);
	if (res == LMS_FP_DROPPED && r->busy_skip)
		lms_stat_add(&stats(sh)->shadow_async_dropped, 1);
	lms_fpstats_record(fp, res, r->truth_us, r->shadowed ? r->other_us : 0);
	char quoted[201];
	if (res == LMS_FP_SETTING)
		lms_log(LMS_LOG_LEVEL_INFO, "shadow_setting_refused",
			"worker=%d peer=%s backend=%s sqlstate=%s statement=\"%s\"", sh->ctx.w->id,
			sh->ctx.peer, sh->backend->role_name, r->other.sqlstate,
			lms_log_quote(fp, 200, quoted, sizeof(quoted)));
	/* Requests never sent because the shadow was down are counted, not
	 * logged one by one: the connection failure was logged once.  So are
	 * those abandoned with their session (sh->quiet), and those whose
	 * source of truth answer the client left before (nothing to compare). */
	if (res != LMS_FP_MISMATCH && !(res == LMS_FP_LOST && r->shadowed && !sh->quiet && !r->truth.lost))
		return;
	lms_log(LMS_LOG_LEVEL_INFO, res == LMS_FP_LOST ? "shadow_no_answer" : "shadow_mismatch",
		"worker=%d peer=%s diff=%s statement=\"%s\"", sh->ctx.w->id, sh->ctx.peer, lms_diff_name(diff),
		lms_log_quote(fp, 200, quoted, sizeof(quoted)));
	char conn[96];
	snprintf(conn, sizeof(conn), "%d:%s", sh->ctx.w->id, sh->ctx.peer);
	struct lms_mismatch m = {
		.conn = conn, .user = sh->ctx.user, .database = sh->ctx.database, .fingerprint = fp,
		.diff = diff, .ordered = ordered,
		.truth_role = sh->ctx.truth_role == LMS_ROLE_SOURCE ? "source" : "target",
		.other_role = sh->backend->role_name,
		.truth = &r->truth, .other = &r->other, .truth_us = r->truth_us, .other_us = r->other_us,
	};
	lms_mismatch_log_write(&m);
}

/* Judge and drop finished records from the head, in order. */
static void rec_reap(struct lms_shadow *sh)
{
	while (sh->n > 0) {
		struct sh_rec *r = rec_at(sh, 0);
		if (!r->truth_done || (r->shadowed && !r->other_done))
			return;
		rec_judge(sh, r);
		r->fp = NULL;
		sh->head = (sh->head + 1) % SH_RECS;
		sh->n--;
	}
}

/* ---- the timer: one deadline, the earliest that applies ----
 *
 * Armed lazily: a timer already due no later than the new deadline is
 * left alone (and one no longer needed left to fire), since on_timer
 * checks what is really late and arms again for what is not.  Re-arming
 * at every request's start and end cost more than the rest of the
 * request's bookkeeping (callgrind). */

static void timer_stop(struct lms_shadow *sh)
{
	evtimer_del(&sh->timer);
	sh->timer_at = 0;
}

static void timer_update(struct lms_shadow *sh)
{
	uint64_t limit = timeout_us(sh);
	uint64_t deadline = 0;
	if (sh->phase != SH_DOWN && sh->phase != SH_READY)
		deadline = sh->dial_us + limit;
	struct sh_rec *r = rec_other_current(sh);
	if (r && r->sent_us && (deadline == 0 || r->sent_us + limit < deadline))
		deadline = r->sent_us + limit;
	if (sh->stall_us && (deadline == 0 || sh->stall_us + limit < deadline))
		deadline = sh->stall_us + limit;
	if (deadline == 0 || (sh->timer_at != 0 && sh->timer_at <= deadline))
		return;
	uint64_t now = lms_mono_us();
	uint64_t wait = deadline > now ? deadline - now : 0;
	struct timeval tv = { (time_t)(wait / 1000000u), (suseconds_t)(wait % 1000000u) };
	evtimer_add(&sh->timer, &tv);
	sh->timer_at = deadline;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct lms_shadow *sh = arg;
	(void)fd;
	(void)what;
	sh->timer_at = 0; /* fired */
	uint64_t limit = timeout_us(sh);
	uint64_t now = lms_mono_us();
	struct sh_rec *r = rec_other_current(sh);
	bool stalled = sh->stall_us && now >= sh->stall_us + limit;
	bool late = (sh->phase != SH_DOWN && sh->phase != SH_READY && now >= sh->dial_us + limit) ||
		    (r && r->sent_us && now >= r->sent_us + limit) || stalled;
	if (late) {
		char why[160];
		snprintf(why, sizeof(why), "%s within --shadow-timeout (%g s)",
			 stalled ? "the database took no more bytes" : "no answer",
			 (double)limit / 1e6);
		lms_stat_add(&stats(sh)->errors[LMS_ERR_TIMEOUT], 1);
		sh_break(sh, why);
		sh_wake(sh);
	} else {
		timer_update(sh);
	}
	orphan_check(sh); /* last: may free sh */
}

/* ---- connection lifetime ---- */

/* Give a large translation's encoding back (none: nothing). */
static void big_free(struct lms_shadow *sh)
{
	if (sh->big)
		lms_bigmsg_free(sh->big, sh->big_cap);
	sh->big = NULL;
	sh->big_len = sh->big_off = sh->big_cap = 0;
}

/* Forget a large translation: assembled, encoded or both. */
static void big_drop(struct lms_shadow *sh)
{
	lms_bigmsg_end(&sh->whole);
	big_free(sh);
}

/* Close the connection; every request in flight on it is lost. */
static void sh_break(struct lms_shadow *sh, const char *why)
{
	if (sh->phase == SH_DOWN)
		return;
	why = lms_log_quote(why, sizeof(sh->why) - 1, sh->why, sizeof(sh->why));
	lms_log(LMS_LOG_LEVEL_WARN, "shadow_lost", "worker=%d peer=%s backend=%s role=%s error=\"%s\"",
		sh->ctx.w->id, sh->ctx.peer, sh->backend->label, sh->backend->role_name, why);
	lms_stat_add(&stats(sh)->shadow_broken, 1);
	if (sh->has_conn) {
		lms_conn_close(&sh->conn);
		sh->has_conn = false;
	}
	if (sh->be) {
		sh->backend->plugin.d->be_free(sh->be);
		sh->be = NULL;
	}
	lms_buf_release(&sh->held);
	big_drop(sh);
	lms_bigmsg_end(&sh->row);
	sh->phase = SH_DOWN;
	sh->fwd = 0;
	sh->stall_us = 0;
	sh->cur_shadowed = false;
	uint32_t shift = sh->failures < 5 ? sh->failures : 5;
	sh->retry_us = lms_mono_us() + ((uint64_t)SH_RETRY_US << shift); /* 1 s doubling to 32 s */
	sh->failures++;
	for (uint32_t i = 0; i < sh->n; i++) {
		struct sh_rec *r = rec_at(sh, i);
		if (r->shadowed && !r->other_done) {
			lms_outcome_lost(&r->other, why);
			r->other_done = true;
			r->other_us = lms_mono_us() - r->start_us;
		}
	}
	rec_reap(sh);
	timer_stop(sh);
}

/* Open a new connection (the shadow is DOWN). */
static void sh_open(struct lms_shadow *sh)
{
	const struct lms_dialect *d = sh->backend->plugin.d;
	struct lms_be_opts bo = { .conf = &sh->backend->conf, .relay_auth = 0, .observe = 1 };
	sh->be = d->be_new(&bo);
	if (!sh->be) {
		snprintf(sh->why, sizeof(sh->why), "out of memory");
		return;
	}
	lms_stat_add(&stats(sh)->shadow_connects, 1);
	sh->phase = SH_CONNECTING;
	sh->login_error[0] = 0;
	sh->dial_us = lms_mono_us();
	sh->addr_idx = 0;
	sh_dial(sh, "no address");
	if (sh->phase != SH_DOWN)
		timer_update(sh);
}

/* Send the first login bytes (after TCP connect, or after TLS). */
static void sh_start(struct lms_shadow *sh, int tls_active)
{
	struct lms_out out;
	struct lms_result res;
	out.len = 0;
	memset(&res, 0, sizeof(res));
	struct lms_startup st = {
		.family = sh->ctx.family, .user = sh->ctx.user, .database = sh->ctx.database,
		.raw = sh->ctx.startup_raw, .raw_len = sh->ctx.startup_len,
	};
	if (sh->backend->plugin.d->be_start(sh->be, tls_active, &st, &out, &res) < 0 ||
	    res.action == LMS_ACT_FAIL) {
		sh_break(sh, res.error.message ? res.error.message : "cannot build the startup message");
		return;
	}
	lms_buf_append(&sh->conn.out, out.data, out.len);
	sh->phase = SH_AUTH;
	int fl = lms_conn_flush(&sh->conn);
	if (fl == LMS_IO_ERR || fl == LMS_IO_EOF)
		sh_break(sh, sh->conn.err[0] ? sh->conn.err : "connection closed");
}

static void sh_dial(struct lms_shadow *sh, const char *last_err)
{
	char why[160];
	int st = lms_dial(&sh->conn, &sh->has_conn, sh->ctx.w->base, sh->backend, &sh->addr_idx, on_conn, sh,
			  last_err, why, sizeof(why));
	if (st == LMS_IO_OK)
		sh_start(sh, 0);
	else if (st == LMS_IO_ERR)
		sh_break(sh, why);
}

static void sh_tls_step(struct lms_shadow *sh)
{
	int st = lms_conn_tls_handshake(&sh->conn);
	if (st == LMS_IO_AGAIN)
		return;
	if (st != LMS_IO_OK) {
		lms_stat_add(&stats(sh)->errors[LMS_ERR_BACKEND_TLS], 1);
		sh_break(sh, sh->conn.err);
		return;
	}
	sh_start(sh, 1);
}

/* Move what the connection's output takes of record r's large
 * translation (after r's held bytes, before any later record's).
 * Returns true when all of it went. */
static bool big_release(struct lms_shadow *sh, struct sh_rec *r)
{
	sh->big_off += lms_buf_append(&sh->conn.out, sh->big + sh->big_off, sh->big_len - sh->big_off);
	r->begun = true;
	if (sh->big_off < sh->big_len)
		return false;
	big_free(sh);
	return true;
}

/* Move the bytes of requests that may go from `held` to the connection,
 * oldest first, as far as the connection's buffer takes them. */
static void sh_release(struct lms_shadow *sh)
{
	if (sh->phase != SH_READY)
		return;
	for (uint32_t i = 0; i < sh->n; i++) {
		struct sh_rec *r = rec_at(sh, i);
		bool big = sh->big && sh->big_seq == r->seq;
		if (r->held == 0 && !big)
			continue;
		if (r->gated && !r->truth_seen)
			return;
		size_t room = lms_buf_space(&sh->conn.out);
		size_t n = r->held < room ? r->held : room;
		n = lms_buf_append(&sh->conn.out, lms_buf_head(&sh->held), n);
		lms_buf_consume(&sh->held, n);
		r->held -= (uint32_t)n;
		r->begun |= n > 0;
		if (n > 0 && sh->starved) {
			sh->starved = false;
			sh_wake(sh);
		}
		if (r->held > 0)
			return;
		if (big && !big_release(sh, r))
			return;
		if (r->sent && !r->sent_us)
			r->sent_us = lms_mono_us();
	}
}


/* Login finished: requests queued meanwhile go out now. */
static void sh_ready(struct lms_shadow *sh)
{
	sh->phase = SH_READY;
	sh->failures = 0;
	if (sh->replay) {
		/* the session's state first, then any request queued meanwhile */
		if (lms_buf_append(&sh->conn.out, sh->replay, sh->ctx.replay_len) < sh->ctx.replay_len) {
			sh_break(sh, "the session's state does not fit to be replayed");
			return;
		}
		sh->replay_wait = sh->ctx.replay_reqs;
		free(sh->replay);
		sh->replay = NULL;
	}
	lms_log(LMS_LOG_LEVEL_DEBUG, "shadow_ready", "worker=%d peer=%s backend=%s", sh->ctx.w->id, sh->ctx.peer,
		sh->backend->label);
	sh_release(sh);
	timer_update(sh);
}

/* ---- the shadow's answers ---- */

/* Describe a whole message and fold it into outcome o (may be NULL). */
static int observe_into(const struct lms_dialect *d, void *be, const uint8_t *p, size_t len,
			struct lms_outcome *o, const struct lms_backend *b)
{
	struct lms_event ev;
	uint64_t h;
	if (lms_observe(d, be, p, len, &ev, &h) < 0)
		return -1;
	if (ev.kind == LMS_EV_PARAM && b && strcmp(ev.tag, "server_version") == 0)
		lms_backend_set_version(b, ev.text);
	if (o && ev.kind != LMS_EV_NONE && ev.kind != LMS_EV_PARAM)
		lms_outcome_event(o, &ev, h);
	return 0;
}

/* The shadow answered its current request completely. */
static void sh_answered(struct lms_shadow *sh, struct sh_rec *r)
{
	r->other_done = true;
	r->other_us = lms_mono_us() - (r->sent_us ? r->sent_us : r->start_us);
	lms_stat_add(&stats(sh)->requests[sh->role][r->other.sqlstate[0] ? 1 : 0], 1);
	lms_stats_latency(stats(sh), sh->role, r->other_us);
	rec_reap(sh);
	timer_update(sh);
	/* Wake the session only when it waits for this: a wake it does not
	 * need costs a turn of the event loop and a pump of both directions
	 * (async always, sync whenever the shadow answers first). */
	if (sh->awaited) {
		sh->awaited = false;
		sh_wake(sh);
	}
}

/* Act on a decoded message's verdict and action.  Returns -1 when the
 * shadow broke. */
static int sh_apply(struct lms_shadow *sh, const struct lms_out *out, const struct lms_result *res)
{
	/* REPLY goes back to the database (our own login's answers); FORWARD
	 * and REWRITE would go to a client, and the shadow has none. */
	if (res->verdict == LMS_REPLY && out->len > 0 &&
	    lms_buf_append(&sh->conn.out, out->data, out->len) < out->len) {
		sh_break(sh, "login answer does not fit");
		return -1;
	}
	switch (res->action) {
	case LMS_ACT_START_TLS:
		/* a server-first protocol's TLS request (MySQL's SSLRequest,
		 * the REPLY above) goes in clear before the handshake */
		if (lms_buf_len(&sh->conn.out) > 0 &&
		    (lms_conn_flush(&sh->conn) != LMS_IO_OK || lms_buf_len(&sh->conn.out) > 0)) {
			sh_break(sh, sh->conn.err[0] ? sh->conn.err : "cannot send the TLS request");
			return -1;
		}
		if (!sh->backend->tls || lms_buf_len(&sh->conn.in) > 0 ||
		    lms_conn_tls_begin(&sh->conn, sh->backend->tls, false, sh->backend->conf.host,
				       sh->backend->conf.tls_mode == LMS_TLS_VERIFY_FULL) != LMS_IO_OK) {
			sh_break(sh, sh->conn.err[0] ? sh->conn.err : "unexpected TLS negotiation");
			return -1;
		}
		sh->phase = SH_TLS;
		sh_tls_step(sh);
		return -1; /* stop reading plain bytes */
	case LMS_ACT_FAIL:
		sh_break(sh, res->error.message ? res->error.message : "login refused");
		return -1;
	case LMS_ACT_CLOSE:
		sh_break(sh, "closed by the plugin");
		return -1;
	case LMS_ACT_BACKEND_KEY:
		if (res->key_len <= LMS_KEY_MAX) {
			memcpy(sh->key, res->key, res->key_len);
			sh->key_len = res->key_len;
		}
		return 0;
	case LMS_ACT_READY:
		if (sh->phase == SH_AUTH) {
			sh_ready(sh);
			return 0;
		}
		if (sh->replay_wait > 0) {
			sh->replay_wait--; /* an answer to the replayed state: ours */
			return 0;
		}
		struct sh_rec *r = rec_other_current(sh);
		if (!r) {
			sh_break(sh, "an answer to a request it was not sent");
			return -1;
		}
		if (r->owed > 1) {
			r->owed--; /* translated: more of its messages owe answers */
			return 0;
		}
		sh_answered(sh, r);
		return 0;
	default:
		return 0;
	}
}

/* Decode and observe one whole message from the shadow; the verdict and
 * action are left in out and res.  Returns -1 when it is malformed. */
static int sh_decode(struct lms_shadow *sh, const uint8_t *p, size_t len, const struct lms_frame *f,
		     struct lms_out *out, struct lms_result *res)
{
	const struct lms_dialect *d = sh->backend->plugin.d;
	out->len = 0;
	memset(res, 0, sizeof(*res));
	if (d->be_decode(sh->be, p, len, out, res) < 0)
		return -1;
	if (f->kind == LMS_MSG_STARTUP || f->kind == LMS_MSG_AUTH_REQUEST)
		return 0;
	if (sh->phase != SH_READY) {
		/* During the login only an error matters: it says why. */
		struct lms_outcome login;
		lms_outcome_reset(&login);
		if (observe_into(d, sh->be, p, len, &login, sh->backend) < 0)
			return -1;
		if (login.sqlstate[0])
			snprintf(sh->login_error, sizeof(sh->login_error), "login refused: %s (SQLSTATE %s)",
				 login.error, login.sqlstate);
		return 0;
	}
	/* answers to the replayed state are ours, not a request's */
	struct sh_rec *r = current_outcome_rec(sh);
	return observe_into(d, sh->be, p, len, r ? &r->other : NULL, sh->backend);
}

/* Copy n bytes of a streamed row (sh->row, see sh_digest) and, once it
 * is whole, fold its values into the current request's outcome like any
 * row's.  One the plugin cannot describe is counted, values unchecked. */
static void row_copy(struct lms_shadow *sh, const uint8_t *p, size_t n)
{
	lms_bigmsg_fill(&sh->row, p, n);
	if (!lms_bigmsg_whole(&sh->row))
		return;
	struct sh_rec *r = current_outcome_rec(sh);
	lms_outcome_streamed_row(r ? &r->other : NULL, sh->backend->plugin.d, sh->be, sh->row.data, sh->row.need);
	lms_bigmsg_end(&sh->row);
}

/* Take every message in the input buffer. */
static void sh_digest(struct lms_shadow *sh)
{
	const struct lms_dialect *d = sh->backend->plugin.d;
	struct lms_out out;
	struct lms_result res;
	while (sh->phase == SH_AUTH || sh->phase == SH_READY) {
		size_t avail = lms_buf_len(&sh->conn.in);
		if (avail == 0)
			return;
		const uint8_t *p = lms_buf_head(&sh->conn.in);
		if (sh->fwd > 0) {
			size_t n = avail < sh->fwd ? avail : (size_t)sh->fwd;
			if (sh->row.data)
				row_copy(sh, p, n);
			lms_buf_consume(&sh->conn.in, n);
			sh->fwd -= n;
			continue;
		}
		struct lms_frame f = { .len = 0 };
		int st = d->be_frame(sh->be, p, avail, &f);
		if (st == LMS_FRAME_NEED_MORE)
			return;
		if (st != LMS_FRAME_OK || f.len == 0 || ((f.flags & LMS_FRAME_NEED_BODY) && f.len > LMS_DECODE_MAX)) {
			sh_break(sh, "invalid message from the database");
			return;
		}
		if (!(f.flags & LMS_FRAME_NEED_BODY)) {
			struct sh_rec *r = sh->phase == SH_READY ? current_outcome_rec(sh) : NULL;
			bool copy = r && f.kind == LMS_MSG_ROW && f.len > LMS_DECODE_MAX &&
				    lms_bigmsg_begin_spare(&sh->row, (size_t)f.len, f.kind, f.flags) == 0;
			if (r && !copy)
				lms_outcome_oversized(&r->other, f.kind, f.len);
			sh->fwd = f.len;
			continue;
		}
		if (avail < f.len)
			return;
		if (sh_decode(sh, p, (size_t)f.len, &f, &out, &res) < 0) {
			sh_break(sh, "invalid message from the database");
			return;
		}
		lms_buf_consume(&sh->conn.in, (size_t)f.len);
		if (sh_apply(sh, &out, &res) < 0)
			return;
	}
}

/* Read and digest until the socket has nothing more (bounded per call). */
static void sh_read(struct lms_shadow *sh)
{
	for (int i = 0; i < 16 && (sh->phase == SH_AUTH || sh->phase == SH_READY); i++) {
		size_t n;
		int st = lms_conn_read(&sh->conn, &n);
		if (st == LMS_IO_EOF || st == LMS_IO_ERR) {
			sh_digest(sh); /* a last error message may explain the close */
			if (sh->phase != SH_DOWN)
				sh_break(sh, sh->login_error[0]     ? sh->login_error
					     : st == LMS_IO_EOF ? "the database closed the connection"
								: sh->conn.err);
			return;
		}
		/* A plain read that left room in the buffer took all the socket
		 * had: reading again would only return EAGAIN (one system call
		 * per answer).  More bytes arriving later wake the event again. */
		bool drained = st == LMS_IO_OK && !sh->conn.ssl && sh->conn.in.end < LMS_BUF_SIZE;
		sh_digest(sh);
		if ((st == LMS_IO_AGAIN || drained) && !sh->conn.tls_pending)
			return;
	}
	if (sh->phase == SH_AUTH || sh->phase == SH_READY)
		lms_conn_kick(&sh->conn);
}

static void sh_update_events(struct lms_shadow *sh)
{
	if (!sh->has_conn || sh->phase == SH_DOWN)
		return;
	sh->conn.want_read = (sh->phase == SH_AUTH || sh->phase == SH_READY) &&
			     lms_buf_len(&sh->conn.in) < LMS_BUF_SIZE;
	lms_conn_update_events(&sh->conn);
}

/* Note whether the database takes what we send: bytes it leaves waiting
 * for --shadow-timeout break the connection (on_timer), as an answer that
 * does not come does.  Without this a request still being sent had no
 * deadline at all, and a sync session waiting for room toward a shadow
 * that stopped reading (a frozen server, a dead network path) waited for
 * good.  wrote: some bytes went since the last note. */
static void stall_note(struct lms_shadow *sh, bool wrote)
{
	if (lms_buf_len(&sh->conn.out) == 0) {
		sh->stall_us = 0;
		return;
	}
	if (sh->stall_us != 0 && !wrote)
		return;
	sh->stall_us = lms_mono_us();
	timer_update(sh);
}

void lms_shadow_flush(struct lms_shadow *sh)
{
	if (!sh->has_conn || (sh->phase != SH_AUTH && sh->phase != SH_READY))
		return;
	bool wrote = false;
	for (;;) {
		size_t before = lms_buf_len(&sh->conn.out);
		int st = lms_conn_flush(&sh->conn);
		if (st == LMS_IO_ERR || st == LMS_IO_EOF) {
			sh_break(sh, sh->conn.err[0] ? sh->conn.err : "connection lost");
			return;
		}
		wrote |= lms_buf_len(&sh->conn.out) < before;
		/* Held bytes (a request larger than the buffers, running on
		 * both at once) and a large translation go on as the socket
		 * takes them: nothing left to write would wake the connection
		 * for the rest, and the client's session waits for room in
		 * held. */
		if ((!sh->big && lms_buf_len(&sh->held) == 0) || lms_buf_len(&sh->conn.out) > 0)
			break;
		size_t off = sh->big_off, held = lms_buf_len(&sh->held);
		sh_release(sh);
		bool moved = sh->big_off != off || lms_buf_len(&sh->held) != held;
		if (!moved || lms_buf_len(&sh->conn.out) == 0)
			break; /* gated: waits for the source of truth's answer */
	}
	stall_note(sh, wrote);
	sh_update_events(sh);
}

static void on_conn(struct lms_conn *c, short what, void *arg)
{
	struct lms_shadow *sh = arg;
	bool was_up = sh->phase != SH_DOWN;
	if (sh->phase == SH_CONNECTING) {
		if (lms_conn_connect_done(c) == LMS_IO_OK) {
			sh_start(sh, 0);
		} else {
			sh->addr_idx++;
			sh_dial(sh, c->err);
		}
	} else if (sh->phase == SH_TLS) {
		sh_tls_step(sh);
	} else {
		if ((what & EV_WRITE) || (c->write_wants_read && (what & EV_READ))) {
			lms_shadow_flush(sh);
			sh_release(sh);
			lms_shadow_flush(sh);
		}
		if (sh->phase != SH_DOWN && ((what & EV_READ) || (c->read_wants_write && (what & EV_WRITE))))
			sh_read(sh);
		if (sh->phase == SH_READY || sh->phase == SH_AUTH)
			lms_shadow_flush(sh);
	}
	sh_update_events(sh);
	if (was_up && sh->phase == SH_DOWN)
		sh_wake(sh);
	orphan_check(sh); /* last: may free sh */
}

/* ---- after the session: finishing what ran ---- */

#define SH_ORPHANS_MAX 256 /* per worker; beyond, what is in flight is lost */

/* Give up on every request still in flight: a source of truth answer not
 * complete is lost (nothing to compare), so is the shadow's.  They are
 * counted, not logged one by one; one line says how many. */
static void sh_abandon(struct lms_shadow *sh, const char *why)
{
	uint32_t lost = 0;
	uint64_t now = lms_mono_us();
	for (uint32_t i = 0; i < sh->n; i++) {
		struct sh_rec *r = rec_at(sh, i);
		if (!r->truth_done) {
			if (!r->truth_seen)
				lms_outcome_lost(&r->truth, "the client left before the source of truth answered");
			r->truth_done = true;
			r->truth_us = now - r->start_us;
		}
		if (r->shadowed && !r->other_done) {
			lms_outcome_lost(&r->other, why);
			r->other_done = true;
			r->other_us = now - r->start_us;
			lost++;
		}
	}
	sh->quiet = true;
	rec_reap(sh);
	if (lost > 0)
		lms_log(LMS_LOG_LEVEL_INFO, "shadow_abandoned", "worker=%d peer=%s backend=%s lost=%u error=\"%s\"",
			sh->ctx.w->id, sh->ctx.peer, sh->backend->role_name, lost, why);
}

static void orphan_unlink(struct lms_shadow *sh)
{
	struct lms_worker *w = sh->ctx.w;
	if (sh->oprev)
		sh->oprev->onext = sh->onext;
	else
		w->orphans = sh->onext;
	if (sh->onext)
		sh->onext->oprev = sh->oprev;
	sh->onext = sh->oprev = NULL;
	sh->orphan = false;
	w->norphans--;
	lms_stat_add(&w->stats.shadow_orphans, (uint64_t)-1);
}

/* An orphan with nothing left in flight (answered, judged, or its
 * connection lost) is freed; its worker may then be done draining.  Call
 * last in a callback: sh may be gone on return. */
static void orphan_check(struct lms_shadow *sh)
{
	if (!sh->orphan || (sh->n > 0 && sh->phase != SH_DOWN))
		return;
	struct lms_worker *w = sh->ctx.w;
	lms_shadow_free(sh);
	lms_worker_maybe_done(w);
}

/* The client left while sending request cur: the bytes of it still held
 * are dropped (it never runs on the shadow), unless some already went out,
 * which leaves the connection mid-message: then it breaks.  Requests the
 * sync modes held until the source of truth answered, which it now never
 * will for us, are dropped the same way.  Returns -1 when it broke. */
static int sh_cut_unsent(struct lms_shadow *sh)
{
	struct sh_rec *cur = sh->cur_open ? rec_find(sh, sh->next_seq - 1) : NULL;
	sh->cur_open = false;
	sh->cur_shadowed = false;
	if (cur && cur->shadowed && !cur->sent && cur->begun) {
		sh_break(sh, "the client left in the middle of a request");
		return -1;
	}
	bool cutting = false;
	for (uint32_t i = 0; i < sh->n; i++) {
		struct sh_rec *r = rec_at(sh, i);
		if (r->held == 0)
			continue;
		cutting |= !r->begun && (!r->sent || (r->gated && !r->truth_seen));
		if (!cutting)
			continue;
		/* held is in request order: from here on it is all the tail */
		sh->held.end -= r->held;
		r->held = 0;
		r->shadowed = false; /* never ran there: dropped */
	}
	if (lms_buf_len(&sh->held) == 0)
		lms_buf_release(&sh->held);
	return 0;
}

/* Take sh onto its worker's list of orphans, with its own copies of the
 * names its log lines use and of the startup its login may still need.
 * Returns false when there is no room. */
static bool orphan_adopt(struct lms_shadow *sh)
{
	struct lms_worker *w = sh->ctx.w;
	if (w->norphans >= SH_ORPHANS_MAX)
		return false;
	const char *peer = sh->ctx.peer ? sh->ctx.peer : "-";
	const char *user = sh->ctx.user ? sh->ctx.user : "-";
	const char *db = sh->ctx.database ? sh->ctx.database : "-";
	size_t lp = strlen(peer) + 1, lu = strlen(user) + 1, ld = strlen(db) + 1;
	size_t ls = sh->phase == SH_READY || !sh->ctx.startup_raw ? 0 : sh->ctx.startup_len;
	sh->names = malloc(lp + lu + ld + ls);
	if (!sh->names)
		return false;
	memcpy(sh->names, peer, lp);
	memcpy(sh->names + lp, user, lu);
	memcpy(sh->names + lp + lu, db, ld);
	if (ls)
		memcpy(sh->names + lp + lu + ld, sh->ctx.startup_raw, ls);
	sh->ctx.peer = sh->names;
	sh->ctx.user = sh->names + lp;
	sh->ctx.database = sh->names + lp + lu;
	sh->ctx.startup_raw = ls ? (const uint8_t *)sh->names + lp + lu + ld : NULL;
	sh->ctx.startup_len = ls;
	sh->orphan = true;
	sh->oprev = NULL;
	sh->onext = w->orphans;
	if (w->orphans)
		w->orphans->oprev = sh;
	w->orphans = sh;
	w->norphans++;
	lms_stat_add(&w->stats.shadow_orphans, 1);
	return true;
}

void lms_shadow_close(struct lms_shadow *sh)
{
	if (!sh)
		return;
	sh->ctx.wake = NULL; /* the session is going away */
	if (sh->phase == SH_DOWN || sh->ctx.mode == LMS_SHADOW_STANDBY || sh_cut_unsent(sh) < 0) {
		lms_shadow_free(sh);
		return;
	}
	/* The source of truth answered what it answered: settle the rest. */
	uint64_t now = lms_mono_us();
	for (uint32_t i = 0; i < sh->n; i++) {
		struct sh_rec *r = rec_at(sh, i);
		if (!r->truth_done && !r->truth_seen)
			lms_outcome_lost(&r->truth, "the client left before the source of truth answered");
		if (!r->truth_done)
			r->truth_us = now - r->start_us;
		r->truth_done = true;
	}
	rec_reap(sh);
	if (sh->n == 0 || !orphan_adopt(sh)) {
		lms_shadow_free(sh);
		return;
	}
	lms_log(LMS_LOG_LEVEL_DEBUG, "shadow_orphan", "worker=%d peer=%s requests=%u", sh->ctx.w->id, sh->ctx.peer,
		sh->n);
	sh_release(sh);
	lms_shadow_flush(sh);
	timer_update(sh);
	orphan_check(sh);
}

void lms_shadow_orphans_close(struct lms_worker *w)
{
	while (w->orphans) {
		struct lms_shadow *sh = w->orphans;
		sh_abandon(sh, "molt-lms shut down before it answered");
		lms_shadow_free(sh);
	}
}

/* ---- public ---- */

struct lms_shadow *lms_shadow_new(const struct lms_shadow_ctx *ctx)
{
	struct lms_shadow *sh = calloc(1, sizeof(*sh));
	if (!sh)
		return NULL;
	sh->ctx = *ctx;
	sh->rt = ctx->w->rt;
	sh->role = ctx->truth_role == LMS_ROLE_SOURCE ? LMS_ROLE_TARGET : LMS_ROLE_SOURCE;
	sh->backend = &sh->rt->backends[sh->role];
	sh->conn.fd = -1;
	evtimer_assign(&sh->timer, ctx->w->base, on_timer, sh);
	/* Requests are described and encoded (ABI 1.3) when the shadow speaks
	 * another wire family than the client, and also when the source of
	 * truth does and the shadow's plugin encodes requests (a session
	 * translated since a cutover, ABI 1.4): the client's statement ids are
	 * then the proxy's, which the shadow's database never gave out. */
	const struct lms_dialect *sd = sh->backend->plugin.d;
	const struct lms_dialect *td = sh->rt->backends[ctx->truth_role].plugin.d;
	sh->translate = strcmp(sd->family, ctx->family) != 0 ||
			(strcmp(td->family, ctx->family) != 0 && lms_plugin_encodes_requests(sd));
	if (ctx->replay_len > 0 && !sh->translate && ctx->replay_len <= LMS_BUF_SIZE) {
		sh->replay = malloc(ctx->replay_len);
		if (sh->replay)
			memcpy(sh->replay, ctx->replay, ctx->replay_len);
	}
	sh->ctx.replay = NULL; /* borrowed: the copy above is what is used */
	if (!sh->ctx.replay_len || !sh->replay)
		sh->ctx.replay_len = 0;
	sh_open(sh);
	sh_update_events(sh);
	return sh;
}

bool lms_shadow_quiet(const struct lms_shadow *sh)
{
	bool settled = sh->phase == SH_READY || (sh->phase == SH_DOWN && !sh->has_conn);
	return settled && !sh->orphan && sh->n == 0 && lms_buf_len(&sh->held) == 0 && sh->fwd == 0 &&
	       !sh->cur_open && !sh->starved && !sh->awaited && sh->replay_wait == 0 &&
	       !sh->whole.data && !sh->big && (!sh->has_conn || lms_conn_quiet(&sh->conn));
}

void lms_shadow_leave_loop(struct lms_shadow *sh)
{
	if (sh->has_conn)
		lms_conn_detach(&sh->conn);
	event_del(&sh->timer); /* not armed: no request in flight */
	sh->timer_at = 0;
}

void lms_shadow_join_loop(struct lms_shadow *sh, struct lms_worker *w)
{
	sh->ctx.w = w;
	evtimer_assign(&sh->timer, w->base, on_timer, sh);
	if (sh->has_conn)
		lms_conn_attach(&sh->conn, w->base);
	sh_update_events(sh);
}

void lms_shadow_set_names(struct lms_shadow *sh, const char *user, const char *database)
{
	if (!sh || sh->orphan)
		return; /* an orphan has copies of its own */
	sh->ctx.user = user;
	sh->ctx.database = database;
}

void lms_shadow_free(struct lms_shadow *sh)
{
	if (!sh)
		return;
	sh_abandon(sh, "closed with its session");
	if (sh->orphan)
		orphan_unlink(sh);
	if (sh->has_conn)
		lms_conn_close(&sh->conn);
	if (sh->be)
		sh->backend->plugin.d->be_free(sh->be);
	lms_buf_release(&sh->held);
	big_drop(sh);
	lms_bigmsg_end(&sh->row);
	for (uint32_t i = 0; i < SH_RECS; i++)
		free(sh->recs[i].fp_buf);
	event_del(&sh->timer);
	free(sh->replay);
	free(sh->names);
	free(sh->xbuf);
	free(sh);
}

/* Add a record for the request the client starts now. */
static struct sh_rec *rec_push(struct lms_shadow *sh, bool shadowed)
{
	struct sh_rec *r = &sh->recs[(sh->head + sh->n) % SH_RECS];
	sh->n++;
	char *fp_buf = r->fp_buf;
	size_t fp_cap = r->fp_cap;
	memset(r, 0, sizeof(*r));
	r->fp_buf = fp_buf;
	r->fp_cap = fp_cap;
	r->seq = sh->next_seq;
	r->shadowed = shadowed;
	r->gated = sh->ctx.mode != LMS_SHADOW_ASYNC;
	r->start_us = lms_mono_us();
	lms_outcome_reset(&r->truth);
	lms_outcome_reset(&r->other);
	return r;
}

int lms_shadow_request_start(struct lms_shadow *sh, bool idle)
{
	if (sh->n == SH_RECS && sh->ctx.mode != LMS_SHADOW_ASYNC) {
		sh->awaited = true;
		return LMS_SHADOW_WAIT;
	}
	if (sh->phase == SH_DOWN && idle && lms_mono_us() >= sh->retry_us)
		sh_open(sh);
	sh->cur_open = true;
	sh->cur_shadowed = false;
	if (sh->n == SH_RECS) {
		/* async, and more requests in flight than we keep: not compared */
		lms_stat_add(&stats(sh)->shadow[LMS_FP_DROPPED], 1);
		lms_stat_add(&stats(sh)->shadow_async_dropped, 1);
		sh->next_seq++;
		return LMS_SHADOW_SKIP;
	}
	bool busy = sh->ctx.mode == LMS_SHADOW_ASYNC && rec_other_current(sh) != NULL;
	if (busy && sh->phase == SH_READY) {
		/* Its answer may be waiting in the socket, its event not yet run. */
		sh_read(sh);
		sh_update_events(sh);
		busy = rec_other_current(sh) != NULL;
	}
	struct sh_rec *r = rec_push(sh, sh->phase != SH_DOWN && !busy);
	r->idle_start = idle;
	r->busy_skip = busy && sh->phase != SH_DOWN;
	sh->next_seq++;
	if (sh->phase == SH_DOWN)
		lms_outcome_lost(&r->other, sh->why[0] ? sh->why : "not connected");
	sh->cur_shadowed = r->shadowed;
	return r->shadowed ? LMS_SHADOW_SEND : LMS_SHADOW_SKIP;
}

bool lms_shadow_request_continue(struct lms_shadow *sh)
{
	struct sh_rec *r = sh->next_seq > 0 ? rec_find(sh, sh->next_seq - 1) : NULL;
	sh->cur_open = true;
	sh->cur_shadowed = r && r->shadowed && !r->other_done && sh->phase != SH_DOWN;
	if (!sh->cur_shadowed)
		return false;
	r->gated = false;
	r->sent = false;
	r->sent_us = 0;
	sh_release(sh);
	return true;
}

void lms_shadow_request_name(struct lms_shadow *sh, const char *fingerprint, uint32_t stmt_flags)
{
	struct sh_rec *r = sh->cur_open ? rec_find(sh, sh->next_seq - 1) : NULL;
	if (!r || !fingerprint)
		return;
	r->all_flags |= stmt_flags;
	if (r->fp)
		return;
	r->flags = stmt_flags;
	size_t n = strlen(fingerprint) + 1;
	if (n > r->fp_cap) {
		char *p = realloc(r->fp_buf, n);
		if (!p)
			return; /* out of memory: judged as "(unnamed)" */
		r->fp_buf = p;
		r->fp_cap = n;
	}
	memcpy(r->fp_buf, fingerprint, n);
	r->fp = r->fp_buf;
}

size_t lms_shadow_room(struct lms_shadow *sh)
{
	if (sh->phase == SH_DOWN || !sh->cur_shadowed)
		return 0;
	if (sh->whole.data)
		return sh->whole.need - sh->whole.len; /* assembled whole first */
	size_t room = lms_buf_space(&sh->held);
	struct sh_rec *r = rec_find(sh, sh->next_seq - 1);
	if (room == 0 && r && r->gated) {
		/* Too big to hold until the source of truth answers: let it run
		 * on both at once. */
		r->gated = false;
		sh_release(sh);
		room = lms_buf_space(&sh->held);
	}
	if (room == 0)
		sh->starved = true;
	return room;
}

/* Does request r end every transaction it begins?  It began outside a
 * transaction, names its statements, and none of them opens a block: its
 * locks are released by its own end on both databases, so running it on
 * both at once cannot make them wait on each other across requests (see
 * the top of this file).  A request too big to name stays gated. */
static bool self_contained(const struct sh_rec *r)
{
	return r->idle_start && r->fp && !(r->all_flags & (LMS_STMT_BEGIN | LMS_STMT_OVERSIZED));
}

bool lms_shadow_sending(const struct lms_shadow *sh)
{
	return sh->cur_shadowed;
}

bool lms_shadow_send(struct lms_shadow *sh, const uint8_t *p, size_t n)
{
	struct sh_rec *r = sh->cur_shadowed ? rec_find(sh, sh->next_seq - 1) : NULL;
	if (!r)
		return false;
	if (sh->translate) {
		/* a message too big to decode: assembled when it may be
		 * (lms_shadow_whole_begin), else not translated */
		if (sh->whole.data)
			whole_fill(sh, p, n);
		return true;
	}
	if (lms_buf_space(&sh->held) < n) {
		sh_break(sh, "it fell more than 32 KiB behind within one request");
		return false;
	}
	lms_buf_append(&sh->held, p, n);
	r->held += (uint32_t)n;
	sh_release(sh);
	return true;
}

bool lms_shadow_translates(const struct lms_shadow *sh)
{
	return sh->translate;
}

/* Does a request of this kind get an answer that ends with READY? */
static bool req_answered(uint32_t kind)
{
	return kind == LMS_REQ_QUERY || kind == LMS_REQ_PREPARE || kind == LMS_REQ_EXECUTE ||
	       kind == LMS_REQ_PING || kind == LMS_REQ_RESET || kind == LMS_REQ_DESCRIBE;
}

/* Encode req, described from a client message of n bytes that does not
 * fit the held buffer, into budgeted memory queued after record r's held
 * bytes (big_release).  Values keep their size or double (bytes written
 * as hex); headers add.  Returns false when it cannot: one large
 * translation at a time, within the budget. */
static bool encode_big(struct lms_shadow *sh, struct sh_rec *r, const struct lms_request *req, size_t n)
{
	if (sh->big || n > LMS_BIGMSG_MAX)
		return false;
	size_t cap = 2 * n + LMS_BUF_SIZE;
	uint8_t *buf = lms_bigmsg_alloc_spare(cap);
	if (!buf)
		return false;
	long len = sh->backend->plugin.d->be_encode_request(sh->be, req, buf, cap);
	if (len < 0 || (size_t)len > cap) {
		lms_bigmsg_free(buf, cap);
		return false;
	}
	sh->big = buf;
	sh->big_cap = cap;
	sh->big_len = (size_t)len;
	sh->big_off = 0;
	sh->big_seq = r->seq;
	return true;
}

void lms_shadow_translate(struct lms_shadow *sh, const struct lms_dialect *front, void *fe, const uint8_t *p,
			  size_t n)
{
	struct sh_rec *r = sh->cur_shadowed ? rec_find(sh, sh->next_seq - 1) : NULL;
	if (!r || !sh->be)
		return;
	if (sh->big && sh->big_seq == r->seq) {
		/* (a request is one message where translation is done: never seen) */
		sh_break(sh, "a request went on after a large message");
		return;
	}
	struct lms_request req;
	memset(&req, 0, sizeof(req));
	if (front->fe_request(fe, p, n, &req) < 0 || req.kind == LMS_REQ_UNSUPPORTED || req.kind == LMS_REQ_NONE)
		return; /* nothing sent for it; a request owing no answer is not compared */
	if (!sh->xbuf)
		sh->xbuf = malloc(LMS_BUF_SIZE);
	size_t room = lms_buf_space(&sh->held);
	long len = sh->xbuf && n < room ? sh->backend->plugin.d->be_encode_request(sh->be, &req, sh->xbuf, room) : -1;
	if (len >= 0 && (size_t)len <= room) {
		lms_buf_append(&sh->held, sh->xbuf, (size_t)len);
		r->held += (uint32_t)len;
	} else if (!encode_big(sh, r, &req, n)) {
		return;
	}
	if (req_answered(req.kind))
		r->owed++;
	sh_release(sh);
}

void lms_shadow_whole_begin(struct lms_shadow *sh, const struct lms_dialect *front, void *fe, uint64_t len)
{
	if (!sh->translate || !sh->cur_shadowed || sh->whole.data || sh->big || len > LMS_BIGMSG_MAX)
		return;
	if (lms_bigmsg_begin_spare(&sh->whole, (size_t)len, 0, 0) < 0)
		return; /* over the budget's spare half: not compared */
	sh->whole_front = front;
	sh->whole_fe = fe;
}

/* A translating shadow's part of a streamed message: assembled, then
 * translated once whole. */
static void whole_fill(struct lms_shadow *sh, const uint8_t *p, size_t n)
{
	if (lms_bigmsg_fill(&sh->whole, p, n) < n) {
		lms_bigmsg_end(&sh->whole); /* more than the message: never */
		return;
	}
	if (!lms_bigmsg_whole(&sh->whole))
		return;
	lms_shadow_translate(sh, sh->whole_front, sh->whole_fe, sh->whole.data, sh->whole.need);
	lms_bigmsg_end(&sh->whole);
}

void lms_shadow_note_request(struct lms_shadow *sh, const uint8_t *p, size_t len)
{
	const struct lms_dialect *d = sh->backend->plugin.d;
	if (!sh->translate && sh->cur_shadowed && sh->be && lms_plugin_has_note_request(d))
		d->be_note_request(sh->be, p, len);
}

void lms_shadow_request_end(struct lms_shadow *sh)
{
	struct sh_rec *r = sh->cur_open ? rec_find(sh, sh->next_seq - 1) : NULL;
	sh->cur_open = false;
	sh->cur_shadowed = false;
	if (!r)
		return;
	r->sent = true;
	if (sh->translate && r->shadowed && r->owed == 0) {
		/* nothing it sent asks for an answer (no translation, or only
		 * statements closed): not compared, counted as dropped; bytes
		 * it did encode go now, nothing will release them later */
		r->shadowed = false;
		r->gated = false;
		sh_release(sh);
	}
	if (r->gated && self_contained(r)) {
		/* It cannot hold locks past its end: run it on both at once. */
		r->gated = false;
		sh_release(sh);
	}
	if (r->shadowed && r->held == 0 && !r->sent_us)
		r->sent_us = lms_mono_us();
	if (r->shadowed)
		timer_update(sh);
}

void lms_shadow_truth_event(struct lms_shadow *sh, const struct lms_event *ev, uint64_t row_hash)
{
	struct sh_rec *r = rec_find(sh, sh->truth_seq);
	if (r)
		lms_outcome_event(&r->truth, ev, row_hash);
}

void lms_shadow_truth_oversized(struct lms_shadow *sh, int kind, uint64_t len)
{
	struct sh_rec *r = rec_find(sh, sh->truth_seq);
	if (r)
		lms_outcome_oversized(&r->truth, kind, len);
}

void lms_shadow_truth_row(struct lms_shadow *sh, const struct lms_dialect *d, void *be, const uint8_t *msg,
			  size_t len)
{
	struct sh_rec *r = rec_find(sh, sh->truth_seq);
	lms_outcome_streamed_row(r ? &r->truth : NULL, d, be, msg, len);
}

bool lms_shadow_truth_may_finish(struct lms_shadow *sh)
{
	if (sh->ctx.mode == LMS_SHADOW_ASYNC)
		return true;
	struct sh_rec *r = rec_find(sh, sh->truth_seq);
	if (r && r->shadowed && !r->truth_seen && r->gated && r->sent && r->held == lms_buf_len(&sh->held) &&
	    strcmp(r->truth.sqlstate, "57014") == 0) {
		/* Cancelled on the source of truth before the shadow got it:
		 * do not start it there (it could run for as long as it was
		 * going to, holding the client's answer). */
		lms_buf_release(&sh->held);
		r->held = 0;
		r->shadowed = false;
		return true;
	}
	if (r && r->shadowed && !r->truth_seen) {
		r->truth_seen = true;
		sh_release(sh);
		lms_shadow_flush(sh);
		timer_update(sh);
	}
	if (!r || !r->shadowed || r->other_done)
		return true;
	sh->awaited = true;
	return false;
}

bool lms_shadow_truth_done(struct lms_shadow *sh, struct lms_error *err, char *buf, size_t cap)
{
	struct sh_rec *r = rec_find(sh, sh->truth_seq);
	sh->truth_seq++;
	if (!r)
		return false;
	r->truth_done = true;
	r->truth_us = lms_mono_us() - r->start_us;
	bool inject = sh->ctx.mode == LMS_SHADOW_STRICT && !r->truth.sqlstate[0] &&
		      (r->other.sqlstate[0] || r->other.lost);
	if (inject) {
		const char *who = sh->backend->role_name;
		if (r->other.lost) {
			snprintf(buf, cap, "molt-lms strict-sync: the %s database did not answer: %s", who,
				 r->other.error);
			*err = (struct lms_error){ "ERROR", "08006", buf,
						   "the source of truth ran the statement; the other database must "
						   "answer too in strict-sync (see --shadow-timeout)" };
		} else {
			snprintf(buf, cap, "%s", r->other.error);
			*err = (struct lms_error){ "ERROR", r->other.sqlstate, buf,
						   "molt-lms strict-sync: the source of truth ran the statement, "
						   "the other database refused it with this error" };
		}
	}
	rec_reap(sh);
	return inject;
}

bool lms_shadow_promotable(const struct lms_shadow *sh)
{
	return sh->phase == SH_READY && sh->has_conn && sh->be && sh->n == 0 && !sh->cur_open &&
	       sh->replay_wait == 0 && !sh->replay && sh->fwd == 0 && lms_buf_len(&sh->held) == 0 &&
	       lms_buf_len(&sh->conn.out) == 0 && lms_buf_len(&sh->conn.in) == 0 && !sh->conn.tls_pending;
}

int lms_shadow_role(const struct lms_shadow *sh)
{
	return sh->role;
}

int lms_shadow_detach(struct lms_shadow *sh, struct lms_conn *dst, lms_conn_cb cb, void *owner, void **be,
		      uint8_t key[LMS_KEY_MAX], size_t *key_len)
{
	if (!lms_shadow_promotable(sh))
		return -1;
	timer_stop(sh);
	lms_conn_move(dst, &sh->conn, cb, owner);
	sh->has_conn = false;
	*be = sh->be;
	sh->be = NULL;
	memcpy(key, sh->key, sh->key_len);
	*key_len = sh->key_len;
	sh->phase = SH_DOWN;
	return 0;
}

