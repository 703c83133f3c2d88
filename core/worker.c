/*
 * worker.c - worker threads: accept on a SO_REUSEPORT listener, run the
 * sessions, drain on shutdown.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/thread.h>

#include "buf.h"
#include "clock.h"
#include "coord.h"
#include "log.h"
#include "session.h"
#include "worker.h"

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr,
		      int len, void *arg)
{
	struct lms_worker *w = arg;
	(void)l;
	(void)addr;
	(void)len;
	lms_session_accept(w, fd);
}

static void reenable_listener(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct lms_worker *w = arg;
	int e = EVUTIL_SOCKET_ERROR();
	lms_log(LMS_LOG_LEVEL_WARN, "accept_error", "worker=%d error=\"%s\"", w->id,
		evutil_socket_error_to_string(e));
	/* EMFILE and friends: pause accepting briefly instead of spinning. */
	evconnlistener_disable(l);
	struct timeval tv = { 0, 100000 };
	event_base_once(w->base, -1, EV_TIMEOUT, reenable_listener, l, &tv);
}

/* Drain: stop accepting, close idle sessions, let busy ones finish. */
static void on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct lms_worker *w = arg;
	(void)fd;
	(void)what;
	if (w->draining)
		return;
	w->draining = true;
	if (w->listener) {
		evconnlistener_free(w->listener);
		w->listener = NULL;
	}
	lms_log(LMS_LOG_LEVEL_INFO, "worker_drain", "worker=%d sessions=%d", w->id, w->nsessions);
	struct lms_session *s = w->sessions;
	while (s) {
		struct lms_session *next = lms_session_next(s);
		lms_session_drain(s);
		s = next;
	}
	double t = w->rt->cfg->shutdown_timeout;
	struct timeval tv = { (time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6) };
	evtimer_add(w->deadline_ev, &tv);
	if (w->nsessions == 0)
		event_base_loopexit(w->base, NULL);
}

/* The coordination state changed: every session re-checks it. */
static void on_coord(evutil_socket_t fd, short what, void *arg)
{
	struct lms_worker *w = arg;
	(void)fd;
	(void)what;
	uint64_t t0 = lms_mono_us();
	int n = w->nsessions;
	struct lms_session *s = w->sessions;
	while (s) {
		struct lms_session *next = lms_session_next(s);
		lms_session_coord_changed(s);
		s = next;
	}
	if (lms_log_get_level() >= LMS_LOG_LEVEL_DEBUG) {
		struct lms_coord_view v;
		lms_coord_get(w->rt, &v);
		lms_log(LMS_LOG_LEVEL_DEBUG, "coord_seen", "worker=%d epoch=%llu sessions=%d after_apply_ms=%.3f "
			"took_ms=%.3f", w->id, (unsigned long long)v.epoch, n,
			v.applied_us && t0 > v.applied_us ? (double)(t0 - v.applied_us) / 1e3 : 0.0,
			(double)(lms_mono_us() - t0) / 1e3);
	}
}

/* The snapshot being gathered (lms_workers_snapshot): one at a time, by
 * generation, so a worker that answers after the caller gave up writes
 * nothing. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_mutex_t serial;       /* one caller at a time */
	uint64_t gen;                 /* odd while a snapshot is being gathered */
	int waiting;                  /* workers that have not answered gen */
	struct lms_session_info *items;
	size_t n, cap;
	bool oom;
} snap = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, 0, 0, NULL, 0, 0, false };

/* Describe this worker's sessions into the snapshot being gathered. */
static void on_snapshot(evutil_socket_t fd, short what, void *arg)
{
	struct lms_worker *w = arg;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&snap.lock);
	uint64_t gen = snap.gen;
	pthread_mutex_unlock(&snap.lock);
	if (!(gen & 1))
		return;
	size_t n = 0;
	struct lms_session_info *mine = w->nsessions > 0 ? calloc((size_t)w->nsessions, sizeof(*mine)) : NULL;
	bool oom = w->nsessions > 0 && !mine;
	for (struct lms_session *s = w->sessions; s && mine && n < (size_t)w->nsessions; s = lms_session_next(s))
		lms_session_info(s, &mine[n++]);
	pthread_mutex_lock(&snap.lock);
	if (snap.gen == gen) {
		if (snap.n + n > snap.cap) {
			size_t cap = snap.cap ? snap.cap : 64;
			while (cap < snap.n + n)
				cap *= 2;
			struct lms_session_info *p = realloc(snap.items, cap * sizeof(*p));
			if (p) {
				snap.items = p;
				snap.cap = cap;
			}
		}
		if (snap.n + n <= snap.cap) {
			if (n)
				memcpy(snap.items + snap.n, mine, n * sizeof(*mine));
			snap.n += n;
		} else {
			oom = true;
		}
		snap.oom |= oom;
		snap.waiting--;
		pthread_cond_signal(&snap.cond);
	}
	pthread_mutex_unlock(&snap.lock);
	free(mine);
}

int lms_workers_snapshot(struct lms_runtime *rt, double timeout_s, struct lms_session_info **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&snap.serial);
	pthread_mutex_lock(&snap.lock);
	snap.gen += 1; /* odd: gathering */
	snap.waiting = rt->nworkers;
	snap.n = 0;
	snap.oom = false;
	pthread_mutex_unlock(&snap.lock);
	for (int i = 0; i < rt->nworkers; i++)
		event_active(rt->workers[i].snap_ev, EV_READ, 0);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	long long ns = (long long)until.tv_nsec + (long long)(timeout_s * 1e9);
	until.tv_sec += (time_t)(ns / 1000000000);
	until.tv_nsec = (long)(ns % 1000000000);
	pthread_mutex_lock(&snap.lock);
	while (snap.waiting > 0)
		if (pthread_cond_timedwait(&snap.cond, &snap.lock, &until) != 0)
			break;
	int missing = snap.waiting;
	snap.gen += 1; /* even: late answers are dropped */
	int rc = snap.oom ? -1 : missing;
	if (rc >= 0) {
		*out = snap.items;
		*n = snap.n;
		snap.items = NULL;
		snap.cap = 0;
	}
	snap.n = 0;
	pthread_mutex_unlock(&snap.lock);
	pthread_mutex_unlock(&snap.serial);
	return rc;
}

/* Shutdown timeout: close whatever is left. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct lms_worker *w = arg;
	(void)fd;
	(void)what;
	lms_log(LMS_LOG_LEVEL_WARN, "shutdown_timeout", "worker=%d closing=%d", w->id, w->nsessions);
	while (w->sessions)
		lms_session_kill(w->sessions);
	event_base_loopexit(w->base, NULL);
}

void lms_worker_add_session(struct lms_worker *w, struct lms_session *s)
{
	lms_session_link(s, &w->sessions);
	w->nsessions++;
}

void lms_worker_remove_session(struct lms_worker *w, struct lms_session *s)
{
	lms_session_unlink(s, &w->sessions);
	w->nsessions--;
	if (w->draining && w->nsessions == 0)
		event_base_loopexit(w->base, NULL);
}

int lms_workers_init(struct lms_runtime *rt, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	const char *listen = rt->cfg->listen;
	char buf[300];
	if (listen[0] == ':') {
		snprintf(buf, sizeof(buf), "0.0.0.0%s", listen);
		listen = buf;
	}
	if (evutil_parse_sockaddr_port(listen, (struct sockaddr *)&ss, &sslen) < 0) {
		snprintf(err, errlen, "listen: invalid value '%s' (allowed: HOST:PORT, e.g. 0.0.0.0:9043)",
			 rt->cfg->listen);
		return -1;
	}
	rt->nworkers = rt->cfg->workers;
	rt->workers = calloc((size_t)rt->nworkers, sizeof(struct lms_worker));
	if (!rt->workers) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < rt->nworkers; i++) {
		struct lms_worker *w = &rt->workers[i];
		w->id = i;
		w->rt = rt;
		w->base = event_base_new();
		if (!w->base) {
			snprintf(err, errlen, "cannot create an event loop");
			return -1;
		}
		w->drain_ev = event_new(w->base, -1, 0, on_drain, w);
		w->coord_ev = event_new(w->base, -1, 0, on_coord, w);
		w->snap_ev = event_new(w->base, -1, 0, on_snapshot, w);
		w->deadline_ev = evtimer_new(w->base, on_deadline, w);
		unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
				 LEV_OPT_CLOSE_ON_EXEC;
		w->listener = evconnlistener_new_bind(w->base, on_accept, w, flags, 4096,
						      (struct sockaddr *)&ss, sslen);
		if (!w->listener) {
			snprintf(err, errlen, "listen: cannot listen on %s: %s", rt->cfg->listen, strerror(errno));
			return -1;
		}
		evconnlistener_set_error_cb(w->listener, on_accept_error);
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct lms_worker *w = arg;
	event_base_dispatch(w->base);
	lms_buf_cache_clear();
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

int lms_workers_start(struct lms_runtime *rt)
{
	for (int i = 0; i < rt->nworkers; i++)
		if (pthread_create(&rt->workers[i].thread, NULL, worker_main, &rt->workers[i]) != 0)
			return -1;
	return 0;
}

void lms_workers_drain(struct lms_runtime *rt)
{
	for (int i = 0; i < rt->nworkers; i++)
		event_active(rt->workers[i].drain_ev, EV_READ, 0);
}

void lms_workers_join(struct lms_runtime *rt)
{
	for (int i = 0; i < rt->nworkers; i++)
		pthread_join(rt->workers[i].thread, NULL);
}

void lms_workers_free(struct lms_runtime *rt)
{
	for (int i = 0; i < rt->nworkers; i++) {
		struct lms_worker *w = &rt->workers[i];
		if (w->listener)
			evconnlistener_free(w->listener);
		if (w->drain_ev)
			event_free(w->drain_ev);
		if (w->coord_ev)
			event_free(w->coord_ev);
		if (w->snap_ev)
			event_free(w->snap_ev);
		if (w->deadline_ev)
			event_free(w->deadline_ev);
		if (w->base)
			event_base_free(w->base);
	}
	free(rt->workers);
	rt->workers = NULL;
}
