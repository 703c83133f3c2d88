/*
 * oplane.c - the operation lane (see oplane.h).  One thread takes jobs
 * from a short FIFO and runs them; a finished job goes back to the loop
 * through an eventfd, and the loop sends its reply (libevent's HTTP
 * objects belong to the loop's thread).
 */
#include "autoconfig.h"

#include "oplane.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

/* Jobs waiting behind the running one: an operator's begin, then an
 * abort (Ctrl-C), is the usual most. */
#define QUEUE_MAX 4

struct job {
	struct job *next;
	const char *name;
	const char *path;
	orch_op_fn fn;
	json_t *body;
	struct evhttp_request *req;
	double t0_ms;
	int code;
	json_t *resp;
};

struct orch_oplane {
	struct orch_ctx *ctx;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *queue, *queue_tail; /* waiting, FIFO */
	size_t queued;
	struct job *running;
	double running_since_ms;
	struct job *done;               /* finished, for the loop */
	bool stopping;
	int interrupt;                  /* ORCH_INTERRUPT_*, read by cutover.c
					   through ctx */
	int efd;
	struct event *done_ev;
};

static double mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void job_free(struct job *j)
{
	json_decref(j->body);
	json_decref(j->resp);
	free(j);
}

/* Send the reply of a finished job and log it (loop's thread). */
static void job_reply(struct job *j)
{
	orch_http_reply_json(j->req, j->code, j->resp);
	j->resp = NULL;
	lms_log(j->code >= 500 ? LMS_LOG_LEVEL_WARN : LMS_LOG_LEVEL_INFO, "api_request", "path=%s status=%d ms=%.1f",
		j->path, j->code, mono_ms() - j->t0_ms);
	job_free(j);
}

/* The loop's side: reply to every finished job, oldest first. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct orch_oplane *l = arg;
	uint64_t n;
	(void)what;
	if (read(fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing new; the list below is the truth */
	}
	pthread_mutex_lock(&l->lock);
	struct job *list = l->done;
	l->done = NULL;
	pthread_mutex_unlock(&l->lock);
	struct job *rev = NULL;
	while (list) { /* the list is newest first */
		struct job *next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		struct job *next = rev->next;
		job_reply(rev);
		rev = next;
	}
}

/* Take the next job, or NULL when stopping (lane's thread, lock held). */
static struct job *next_job(struct orch_oplane *l)
{
	while (!l->queue && !l->stopping)
		pthread_cond_wait(&l->wake, &l->lock);
	if (l->stopping)
		return NULL;
	struct job *j = l->queue;
	l->queue = j->next;
	if (!l->queue)
		l->queue_tail = NULL;
	l->queued--;
	j->next = NULL;
	return j;
}

static void *lane_main(void *arg)
{
	struct orch_oplane *l = arg;
	pthread_mutex_lock(&l->lock);
	struct job *j;
	while ((j = next_job(l)) != NULL) {
		l->running = j;
		l->running_since_ms = mono_ms();
		/* an abort queued behind this job interrupts it; one that
		 * came before it has done its work already */
		__atomic_store_n(&l->interrupt, 0, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&l->lock);
		j->code = j->fn(l->ctx, j->body, &j->resp);
		pthread_mutex_lock(&l->lock);
		l->running = NULL;
		j->next = l->done;
		l->done = j;
		uint64_t one = 1;
		if (write(l->efd, &one, sizeof(one)) < 0)
			lms_log(LMS_LOG_LEVEL_WARN, "oplane_notify_failed", "op=%s", j->name);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

struct orch_oplane *orch_oplane_start(struct event_base *base, struct orch_ctx *ctx, char *err, size_t errlen)
{
	struct orch_oplane *l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->ctx = ctx;
	ctx->interrupt = &l->interrupt;
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->wake, NULL);
	if (l->efd >= 0)
		l->done_ev = event_new(base, l->efd, EV_READ | EV_PERSIST, on_done, l);
	if (!l->done_ev || event_add(l->done_ev, NULL) < 0 || pthread_create(&l->thread, NULL, lane_main, l) != 0) {
		snprintf(err, errlen, "cannot start the operation thread");
		orch_oplane_stop(l);
		return NULL;
	}
	l->thread_started = true;
	return l;
}

void orch_oplane_stop(struct orch_oplane *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	__atomic_store_n(&l->interrupt, ORCH_INTERRUPT_STOPPING, __ATOMIC_RELEASE);
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->lock);
	if (l->thread_started)
		pthread_join(l->thread, NULL);
	on_done(l->efd, EV_READ, l); /* the op that was running, if any */
	while (l->queue) {
		struct job *j = l->queue;
		l->queue = j->next;
		j->code = 503;
		j->resp = json_pack("{s:s}", "error", "the orchestrator is shutting down: run the command again "
					      "once it is back");
		job_reply(j);
	}
	if (l->done_ev)
		event_free(l->done_ev);
	if (l->efd >= 0)
		close(l->efd);
	l->ctx->interrupt = NULL;
	pthread_cond_destroy(&l->wake);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

int orch_oplane_submit(struct orch_oplane *l, const char *name, const char *path, orch_op_fn fn, json_t *body,
		       struct evhttp_request *req, double t0_ms, char *err, size_t errlen)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j) {
		json_decref(body);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*j = (struct job){ .name = name, .path = path, .fn = fn, .body = body, .req = req, .t0_ms = t0_ms };
	pthread_mutex_lock(&l->lock);
	if (l->queued >= QUEUE_MAX) {
		snprintf(err, errlen, "%zu operations are already waiting behind %s: wait for them (status shows "
			 "the one running)", l->queued, l->running ? l->running->name : "none");
		pthread_mutex_unlock(&l->lock);
		job_free(j);
		return -1;
	}
	if (l->queue_tail)
		l->queue_tail->next = j;
	else
		l->queue = j;
	l->queue_tail = j;
	l->queued++;
	if (!strcmp(name, "abort") && l->running)
		__atomic_store_n(&l->interrupt, ORCH_INTERRUPT_ABORT, __ATOMIC_RELEASE);
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->lock);
	return 0;
}

json_t *orch_oplane_describe(struct orch_oplane *l)
{
	json_t *d = NULL;
	pthread_mutex_lock(&l->lock);
	if (l->running)
		d = json_pack("{s:s,s:f,s:I}", "name", l->running->name, "running_s",
			      (mono_ms() - l->running_since_ms) / 1e3, "queued", (json_int_t)l->queued);
	pthread_mutex_unlock(&l->lock);
	return d;
}
