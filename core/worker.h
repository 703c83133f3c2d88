/*
 * worker.h - one thread, one event_base, one SO_REUSEPORT listener, and
 * the sessions it serves: those accepted on it and those other workers
 * handed over between transactions (balance.h).
 */
#ifndef LMS_WORKER_H
#define LMS_WORKER_H

#include <pthread.h>
#include <stdbool.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "runtime.h"
#include "session.h"
#include "stats.h"

struct lms_session;
struct lms_shadow;

struct lms_worker {
	int id;
	pthread_t thread;
	struct event_base *base;
	struct evconnlistener *listener;
	/* Other threads never touch base (it has no locks): they set a bit
	 * in notes and write to notify_fd, which notify_ev reads. */
	int notify_fd;               /* eventfd */
	struct event *notify_ev;
	unsigned notes;              /* atomic: LMS_WORKER_* bits not yet handled */
	struct event *deadline_ev;   /* shutdown timeout */
	struct lms_runtime *rt;
	struct lms_session *sessions;  /* intrusive list, owned */
	int nsessions;
	struct lms_shadow *orphans;    /* shadows finishing after their session
					  closed (lms_shadow_close), owned */
	int norphans;
	bool draining;
	int done;                    /* atomic: the thread has finished */
	struct lms_stats stats;
	/* Session placement (balance.h).  Sessions handed over by other
	 * workers wait in inbox (linked through their list links) until this
	 * thread adopts them; a draining worker closes the inbox. */
	pthread_mutex_t inbox_lock;
	struct lms_session *inbox;   /* under inbox_lock */
	bool inbox_closed;           /* under inbox_lock */
	struct event *tick_ev;       /* every LMS_BALANCE_TICK_MS: measure, decide */
	uint64_t tick_cpu_ns, tick_wall_ns; /* this thread's CPU clock and the
					       wall clock at the last tick */
	int load_pm;                 /* atomic: CPU used in the last tick, 1/1000 of a CPU */
	int busy;                    /* atomic: sessions that ran a request in the last tick */
	int busy_now;                /* ... in this tick so far */
	unsigned tick;               /* ticks so far, from 1 (sessions note theirs) */
	struct lms_worker *move_to;  /* hand movable sessions to this worker */
	int move_quota;              /* ... this many more */
};

/* How often workers measure their load and decide where sessions go. */
#define LMS_BALANCE_TICK_MS 1000

/* What another thread can ask a worker to do (lms_worker_notify). */
#define LMS_WORKER_DRAIN 1u      /* SIGTERM: stop accepting, close once idle */
#define LMS_WORKER_COORD 2u      /* the coordination state changed */
#define LMS_WORKER_SNAPSHOT 4u   /* describe the sessions (lms_workers_snapshot) */
#define LMS_WORKER_ADOPT 8u      /* sessions wait in the inbox (lms_worker_hand_over) */

/* Ask worker w, from any thread, to do what the LMS_WORKER_* bits in
 * what say; it does so on its own thread, soon.  Requests made before it
 * handles them are merged. */
void lms_worker_notify(struct lms_worker *w, unsigned what);

/* Create the workers' bases and listeners (bound, not yet serving).
 * Returns 0 or -1 with a message. */
int lms_workers_init(struct lms_runtime *rt, char *err, size_t errlen);

/* Start the threads. */
int lms_workers_start(struct lms_runtime *rt);

/* Ask every worker to drain (thread-safe), then wait for them to end. */
void lms_workers_drain(struct lms_runtime *rt);
void lms_workers_join(struct lms_runtime *rt);
void lms_workers_free(struct lms_runtime *rt);

/* Describe every session of every worker (lms_session_info), for the
 * admin API.  Any thread but a worker's; one caller at a time is served
 * (calls are serialized).  Each worker is asked through lms_worker_notify and
 * answers from its own thread; waits up to timeout_s.  On return *out
 * (malloc'ed, caller frees; NULL when there are none) holds *n entries.
 * Returns how many workers did not answer in time (their sessions are
 * missing), or -1 when out of memory. */
int lms_workers_snapshot(struct lms_runtime *rt, double timeout_s, struct lms_session_info **out, size_t *n);

/* Draining, with no session and no orphan shadow left: stop the loop. */
void lms_worker_maybe_done(struct lms_worker *w);

/* Put s, already detached from from's loop and list, in to's inbox, and
 * wake to to adopt it (lms_session_adopt).  from's thread.  Returns
 * false, changing nothing, when to is draining and takes no more. */
bool lms_worker_hand_over(struct lms_worker *to, struct lms_session *s);

/* A session of w ran a request: counts it once per tick as busy. */
static inline void lms_worker_note_busy(struct lms_worker *w, unsigned *session_tick)
{
	if (*session_tick != w->tick) {
		*session_tick = w->tick;
		w->busy_now++;
	}
}

/* Sessions call these to join and leave their worker's list. */
void lms_worker_add_session(struct lms_worker *w, struct lms_session *s);
void lms_worker_remove_session(struct lms_worker *w, struct lms_session *s);

#endif
