/*
 * worker.c - worker threads: accept on a SO_REUSEPORT listener, run the
 * sessions, take over sessions from other workers and decide where
 * theirs go (balance.h), drain on shutdown.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "balance.h"
#include "buf.h"
#include "clock.h"
#include "coord.h"
#include "log.h"
#include "session.h"
#include "shadow.h"
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

static void adopt_inbox(struct lms_worker *w, bool close);

/* Drain: stop accepting, close idle sessions, let busy ones finish. */
static void on_drain(struct lms_worker *w)
{
	if (w->draining)
		return;
	w->draining = true;
	w->move_to = NULL;
	if (w->tick_ev)
		event_del(w->tick_ev);
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
	adopt_inbox(w, true); /* they drain as they arrive */
	double t = w->rt->cfg->shutdown_timeout;
	struct timeval tv = { (time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6) };
	evtimer_add(w->deadline_ev, &tv);
	lms_worker_maybe_done(w);
}

/* Take the sessions other workers handed over.  With close set (drain),
 * also refuse any more from now on. */
static void adopt_inbox(struct lms_worker *w, bool close)
{
	pthread_mutex_lock(&w->inbox_lock);
	struct lms_session *s = w->inbox;
	w->inbox = NULL;
	if (close)
		w->inbox_closed = true;
	pthread_mutex_unlock(&w->inbox_lock);
	while (s) {
		struct lms_session *next = lms_session_next(s);
		lms_session_adopt(w, s);
		s = next;
	}
}

bool lms_worker_hand_over(struct lms_worker *to, struct lms_session *s)
{
	pthread_mutex_lock(&to->inbox_lock);
	bool open = !to->inbox_closed;
	if (open)
		lms_session_link(s, &to->inbox);
	pthread_mutex_unlock(&to->inbox_lock);
	if (open)
		lms_worker_notify(to, LMS_WORKER_ADOPT);
	return open;
}

/* This thread's CPU clock in nanoseconds. */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Every tick: publish the CPU this worker used and how many of its
 * sessions ran requests; worker 0 decides how many workers are in use;
 * then each decides where its movable sessions go (balance.h). */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct lms_worker *w = arg;
	struct lms_runtime *rt = w->rt;
	(void)fd;
	(void)what;
	uint64_t cpu = thread_cpu_ns(), wall = lms_mono_us() * 1000u;
	uint64_t dwall = wall > w->tick_wall_ns ? wall - w->tick_wall_ns : 1;
	uint64_t dcpu = cpu > w->tick_cpu_ns ? cpu - w->tick_cpu_ns : 0;
	w->tick_cpu_ns = cpu;
	w->tick_wall_ns = wall;
	__atomic_store_n(&w->load_pm, (int)(dcpu * 1000u / dwall), __ATOMIC_RELAXED);
	__atomic_store_n(&w->busy, w->busy_now, __ATOMIC_RELAXED);
	w->busy_now = 0;
	w->tick++;
	int n = rt->nworkers;
	int busy[n];
	double total = 0;
	for (int i = 0; i < n; i++) {
		total += __atomic_load_n(&rt->workers[i].load_pm, __ATOMIC_RELAXED) / 1000.0;
		busy[i] = __atomic_load_n(&rt->workers[i].busy, __ATOMIC_RELAXED);
	}
	int active = __atomic_load_n(&rt->balance_active, __ATOMIC_RELAXED);
	if (w->id == 0) {
		int next = lms_balance_active(total, active, n);
		if (next != active) {
			lms_log(LMS_LOG_LEVEL_INFO, "workers_in_use", "workers=%d was=%d cpu=%.2f", next, active, total);
			__atomic_store_n(&rt->balance_active, next, __ATOMIC_RELAXED);
			active = next;
		}
	}
	int to = lms_balance_target(w->id, active, busy, n, &w->move_quota);
	w->move_to = to >= 0 ? &rt->workers[to] : NULL; /* no tick once draining */
}

/* The coordination state changed: every session re-checks it. */
static void on_coord(struct lms_worker *w)
{
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
static void on_snapshot(struct lms_worker *w)
{
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
		lms_worker_notify(&rt->workers[i], LMS_WORKER_SNAPSHOT);
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

void lms_worker_notify(struct lms_worker *w, unsigned what)
{
	__atomic_fetch_or(&w->notes, what, __ATOMIC_ACQ_REL);
	uint64_t one = 1;
	/* Fails only when the counter is about to overflow: already readable. */
	ssize_t r = write(w->notify_fd, &one, sizeof(one));
	(void)r;
}

/* Another thread asked for something (lms_worker_notify): do it here. */
static void on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct lms_worker *w = arg;
	(void)what;
	uint64_t count;
	ssize_t r = read(fd, &count, sizeof(count));
	(void)r;
	unsigned notes = __atomic_exchange_n(&w->notes, 0u, __ATOMIC_ACQ_REL);
	if (notes & LMS_WORKER_COORD)
		on_coord(w);
	if (notes & LMS_WORKER_SNAPSHOT)
		on_snapshot(w);
	if (notes & LMS_WORKER_ADOPT)
		adopt_inbox(w, false);
	if (notes & LMS_WORKER_DRAIN)
		on_drain(w);
}

/* A worker's event loop: no locks, since only its own thread touches it
 * (other threads go through lms_worker_notify).  When no timer runs on
 * the data path (no --idle-timeout, no shadow), the loop also skips
 * reading the clock after every wait for a cached time: nobody uses it,
 * and the few timers (login, pause, close) read the clock themselves.
 * With timers pending the cache saves a reading instead, so it stays.
 * NULL on failure. */
static struct event_base *worker_base_new(const struct lms_runtime *rt)
{
	struct event_config *cfg = event_config_new();
	if (!cfg)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	if (rt->cfg->idle_timeout <= 0 && rt->shadow_mode == LMS_SHADOW_NONE)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_NO_CACHE_TIME);
	struct event_base *base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
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
	lms_shadow_orphans_close(w);
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
	lms_worker_maybe_done(w);
}

void lms_worker_maybe_done(struct lms_worker *w)
{
	if (w->draining && w->nsessions == 0 && !w->orphans)
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
		rt->workers[i].notify_fd = -1;
		pthread_mutex_init(&rt->workers[i].inbox_lock, NULL);
	}
	rt->balance_active = 1;
	bool balance = rt->nworkers > 1 && strcmp(rt->cfg->session_placement, "balance") == 0;
	for (int i = 0; i < rt->nworkers; i++) {
		struct lms_worker *w = &rt->workers[i];
		w->id = i;
		w->rt = rt;
		w->base = worker_base_new(rt);
		if (!w->base) {
			snprintf(err, errlen, "cannot create an event loop");
			return -1;
		}
		w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->notify_fd < 0) {
			snprintf(err, errlen, "cannot create an eventfd: %s", strerror(errno));
			return -1;
		}
		w->notify_ev = event_new(w->base, w->notify_fd, EV_READ | EV_PERSIST, on_notify, w);
		w->deadline_ev = evtimer_new(w->base, on_deadline, w);
		if (!w->notify_ev || !w->deadline_ev || event_add(w->notify_ev, NULL) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		w->tick = 1;
		if (balance) {
			struct timeval tv = { LMS_BALANCE_TICK_MS / 1000, (LMS_BALANCE_TICK_MS % 1000) * 1000 };
			w->tick_ev = event_new(w->base, -1, EV_PERSIST, on_tick, w);
			if (!w->tick_ev || event_add(w->tick_ev, &tv) < 0) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
		}
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
	w->tick_cpu_ns = thread_cpu_ns();
	w->tick_wall_ns = lms_mono_us() * 1000u;
	event_base_dispatch(w->base);
	lms_shadow_orphans_close(w); /* none unless the loop ended early */
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
		lms_worker_notify(&rt->workers[i], LMS_WORKER_DRAIN);
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
		if (w->notify_ev)
			event_free(w->notify_ev);
		if (w->notify_fd >= 0)
			close(w->notify_fd);
		if (w->deadline_ev)
			event_free(w->deadline_ev);
		if (w->tick_ev)
			event_free(w->tick_ev);
		pthread_mutex_destroy(&w->inbox_lock);
		if (w->base)
			event_base_free(w->base);
	}
	free(rt->workers);
	rt->workers = NULL;
}
