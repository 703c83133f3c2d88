/*
 * control.c - the control thread (see control.h): coordination store
 * reads, heartbeats, acknowledgements and source watermarks, all with
 * blocking libpq calls on this one thread.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "control.h"
#include "coord.h"
#include "creds.h"
#include "log.h"
#include "runtime.h"
#include "stats.h"

#define HEARTBEAT_SEC 2.0   /* docs/api.md: heartbeat_at written every 2 s */
#define RETRY_SEC 1.0       /* while the state is unknown */
#define STORE_OPTS "connect_timeout=5&application_name=molt-lms-control&keepalives_idle=10&" \
		   "keepalives_interval=3&keepalives_count=3"
#define SOURCE_OPTS "connect_timeout=3&application_name=molt-lms-control"

/* A watermark request, answered on done_base. */
struct job {
	struct job *next;
	struct lms_control *c;
	char *token;
	lms_control_done_fn done;
	void *arg;
	struct event *ev;         /* on done_base: delivers the result */
	bool ok;
	int http_code;
	char msg[512];
};

struct lms_control {
	struct lms_runtime *rt;
	struct event_base *done_base;
	bool use_store;           /* coordination auto */
	char *store_conninfo;     /* INIT_TARGET + STORE_OPTS */
	char *source_conninfo;    /* INIT_SOURCE + SOURCE_OPTS */
	char instance_id[300];
	char admin_url[300];
	double started_at;        /* unix time */
	pthread_t thread;
	bool thread_started;
	PGconn *store;            /* control thread only */
	bool registered;          /* control thread only */
	bool standalone_logged;   /* control thread only */
	bool want_creds;          /* clients cannot be relayed to the target:
				     keep _molt_lms.credentials (creds.h) */
	long creds_logged;        /* control thread only: count last logged */

	pthread_mutex_t lock;     /* guards what follows */
	pthread_cond_t cond;
	bool stop;
	bool ack;                 /* write the acknowledgement now */
	bool first_done;
	struct job *jobs;         /* FIFO */
	char status[512];         /* "ok" or why the store cannot be read */
	int store_up;             /* atomic */
};

/* conninfo for libpq: the URL with our options appended. */
static char *conninfo(const char *url, const char *opts)
{
	size_t n = strlen(url) + strlen(opts) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s%c%s", url, strchr(url, '?') ? '&' : '?', opts);
	return s;
}

/* The first line of libpq's error, without the trailing newline. */
static void pq_error(const char *what, const char *msg, char *out, size_t cap)
{
	size_t len = strcspn(msg ? msg : "", "\n");
	snprintf(out, cap, "%s: %.*s", what, (int)len, msg ? msg : "");
}

/* Publish the store's status; log when it changes. */
static void set_status(struct lms_control *c, bool up, const char *status)
{
	pthread_mutex_lock(&c->lock);
	bool changed = strcmp(c->status, status) != 0;
	if (changed)
		snprintf(c->status, sizeof(c->status), "%s", status);
	pthread_mutex_unlock(&c->lock);
	__atomic_store_n(&c->store_up, up ? 1 : 0, __ATOMIC_RELEASE);
	if (changed)
		lms_log(up ? LMS_LOG_LEVEL_INFO : LMS_LOG_LEVEL_WARN, "coordination_store", "status=\"%s\"", status);
}

static double now_unix(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Connect (blocking, connect_timeout) and bound every statement.
 * Returns the connection or NULL with why in err. */
static PGconn *pq_open(const char *ci, const char *what, const char *timeout, char *err, size_t cap)
{
	PGconn *conn = PQconnectdb(ci);
	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		pq_error(what, conn ? PQerrorMessage(conn) : "out of memory", err, cap);
		PQfinish(conn);
		return NULL;
	}
	char sql[64];
	snprintf(sql, sizeof(sql), "SET statement_timeout = '%s'", timeout);
	PGresult *r = PQexec(conn, sql);
	PQclear(r);
	return conn;
}

/* Is this result's error "the schema or table does not exist"? */
static bool missing_schema(const PGresult *r)
{
	const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	return st && (strcmp(st, "42P01") == 0 || strcmp(st, "3F000") == 0);
}

/* Drop a store connection that broke, so the next round reconnects. */
static void store_check_alive(struct lms_control *c)
{
	if (c->store && PQstatus(c->store) != CONNECTION_OK) {
		PQfinish(c->store);
		c->store = NULL;
	}
}

/* Apply the state row r (epoch, source_of_truth, phase, cutover_id).
 * Returns 0, or -1 when the row makes no sense (then nothing changes). */
static int apply_row(struct lms_control *c, PGresult *r)
{
	if (PQntuples(r) != 1) {
		set_status(c, false, "_molt_lms.state has no row id = 1 (run molt-lms-cli initialize)");
		return -1;
	}
	char *end;
	errno = 0;
	unsigned long long epoch = strtoull(PQgetvalue(r, 0, 0), &end, 10);
	const char *truth_s = PQgetvalue(r, 0, 1), *phase_s = PQgetvalue(r, 0, 2);
	int truth = strcmp(truth_s, "source") == 0 ? LMS_ROLE_SOURCE : strcmp(truth_s, "target") == 0 ? LMS_ROLE_TARGET : -1;
	int phase = strcmp(phase_s, "serving") == 0 ? LMS_PHASE_SERVING
		    : strcmp(phase_s, "paused") == 0 ? LMS_PHASE_PAUSED : -1;
	unsigned long long cutover = PQgetisnull(r, 0, 3) ? 0 : strtoull(PQgetvalue(r, 0, 3), NULL, 10);
	if (errno || *end || truth < 0 || phase < 0) {
		char why[300];
		snprintf(why, sizeof(why), "_molt_lms.state holds an invalid row (epoch '%.40s', source_of_truth "
			 "'%.40s', phase '%.40s')", PQgetvalue(r, 0, 0), truth_s, phase_s);
		set_status(c, false, why);
		return -1;
	}
	char refused[300];
	if (lms_runtime_cutover_refused(c->rt, phase, truth, refused, sizeof(refused))) {
		set_status(c, false, refused);
		return -1;
	}
	lms_coord_apply(c->rt, epoch, phase, truth, cutover);
	return 0;
}

/* Upsert this instance's row with the state it has applied. */
static void heartbeat(struct lms_control *c)
{
	struct lms_coord_view v;
	lms_coord_get(c->rt, &v);
	if (v.phase == LMS_PHASE_UNKNOWN)
		return;
	char epoch[32], started[32];
	snprintf(epoch, sizeof(epoch), "%llu", (unsigned long long)v.epoch);
	snprintf(started, sizeof(started), "%.6f", c->started_at);
	const char *params[8] = {
		c->instance_id, c->admin_url, PACKAGE_VERSION, c->rt->cfg->shadow_mode, started, epoch,
		v.phase == LMS_PHASE_PAUSED ? "paused" : "serving", v.truth == LMS_ROLE_TARGET ? "target" : "source",
	};
	PGresult *r = PQexecParams(c->store,
		"INSERT INTO _molt_lms.instances (id, admin_url, version, shadow_mode, started_at, heartbeat_at, "
		"acked_epoch, acked_phase, acked_source_of_truth) "
		"VALUES ($1, $2, $3, $4, to_timestamp($5::float8), now(), $6::bigint, $7, $8) "
		"ON CONFLICT (id) DO UPDATE SET admin_url = excluded.admin_url, version = excluded.version, "
		"shadow_mode = excluded.shadow_mode, heartbeat_at = excluded.heartbeat_at, "
		"acked_epoch = excluded.acked_epoch, acked_phase = excluded.acked_phase, "
		"acked_source_of_truth = excluded.acked_source_of_truth",
		8, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		char why[512];
		pq_error("cannot write _molt_lms.instances", PQresultErrorMessage(r), why, sizeof(why));
		set_status(c, false, why);
		PQclear(r);
		store_check_alive(c);
		return;
	}
	PQclear(r);
	if (c->registered)
		return;
	c->registered = true;
	lms_log(LMS_LOG_LEVEL_INFO, "coordination_registered", "instance=\"%s\" admin_url=\"%s\" epoch=%s",
		c->instance_id, c->admin_url, epoch);
	/* The audit log; best effort (the orchestrator's events table gives
	 * id its default). */
	const char *ev[2] = { epoch, c->instance_id };
	r = PQexecParams(c->store, "INSERT INTO _molt_lms.events (at, kind, epoch, instance, detail) "
			 "VALUES (now(), 'register', $1::bigint, $2, NULL)", 2, NULL, ev, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		char why[512];
		pq_error("register event", PQresultErrorMessage(r), why, sizeof(why));
		lms_log(LMS_LOG_LEVEL_DEBUG, "coordination_event_failed", "error=\"%s\"", why);
	}
	PQclear(r);
}

/* Copy row i of r into cr.  Returns 0, or -1 when a value is too long or
 * out of memory (cr then holds what was copied, for the caller to free). */
static int cred_row(PGresult *r, int i, struct lms_cred *cr)
{
	char **dst[4] = { &cr->user, &cr->host, &cr->plugin, &cr->verifier };
	for (int k = 0; k < 4; k++) {
		if (PQgetlength(r, i, k) >= (int)LMS_CREDS_FIELD_MAX)
			return -1;
		*dst[k] = strdup(PQgetvalue(r, i, k));
		if (!*dst[k])
			return -1;
	}
	return 0;
}

/* Read _molt_lms.credentials into the in-memory copy.  A missing table
 * means no copy; any other failure keeps the copy there is. */
static void creds_round(struct lms_control *c)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT username, host, plugin, verifier FROM _molt_lms.credentials LIMIT %u",
		 LMS_CREDS_MAX);
	PGresult *r = PQexec(c->store, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		bool missing = missing_schema(r);
		char why[512];
		pq_error("cannot read _molt_lms.credentials", PQresultErrorMessage(r), why, sizeof(why));
		PQclear(r);
		if (missing)
			lms_creds_replace(NULL, 0);
		store_check_alive(c);
		if (c->creds_logged != -2)
			lms_log(LMS_LOG_LEVEL_WARN, "credentials_unavailable", "error=\"%s\"", why);
		c->creds_logged = -2;
		return;
	}
	int n = PQntuples(r);
	struct lms_cred *rows = calloc(n ? (size_t)n : 1, sizeof(*rows));
	size_t kept = 0;
	for (int i = 0; rows && i < n; i++) {
		if (cred_row(r, i, &rows[kept]) == 0) {
			kept++;
			continue;
		}
		free(rows[kept].user);
		free(rows[kept].host);
		free(rows[kept].plugin);
		free(rows[kept].verifier);
		memset(&rows[kept], 0, sizeof(rows[kept]));
	}
	PQclear(r);
	if (!rows)
		return;
	lms_creds_replace(rows, kept);
	if ((long)kept != c->creds_logged)
		lms_log(LMS_LOG_LEVEL_INFO, "credentials_loaded", "rows=%zu", kept);
	c->creds_logged = (long)kept;
}

/* One round with the store: connect if needed, read and apply the state,
 * then write the heartbeat. */
static void store_round(struct lms_control *c)
{
	char why[512];
	if (!c->store) {
		c->store = pq_open(c->store_conninfo, "cannot connect to the coordination store (INIT_TARGET)", "5s",
				   why, sizeof(why));
		if (!c->store) {
			set_status(c, false, why);
			return;
		}
	}
	PGresult *r = PQexec(c->store, "SELECT epoch, source_of_truth, phase, cutover_id FROM _molt_lms.state "
				       "WHERE id = 1");
	if (PQresultStatus(r) != PGRES_TUPLES_OK && missing_schema(r)) {
		PQclear(r);
		set_status(c, true, "not initialized: schema _molt_lms is missing in the target "
			   "(run molt-lms-cli initialize); serving standalone from the source");
		/* Standalone only at start: a store that loses its schema
		 * later never un-pauses a paused instance. */
		if (lms_coord_phase(c->rt) == LMS_PHASE_UNKNOWN)
			lms_coord_apply(c->rt, 0, LMS_PHASE_SERVING, LMS_ROLE_SOURCE, 0);
		c->registered = false;
		return;
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pq_error("cannot read _molt_lms.state", PQresultErrorMessage(r), why, sizeof(why));
		PQclear(r);
		set_status(c, false, why);
		store_check_alive(c);
		return;
	}
	int rc = apply_row(c, r);
	PQclear(r);
	if (rc < 0)
		return;
	set_status(c, true, "ok");
	if (c->want_creds)
		creds_round(c);
	if (c->store)
		heartbeat(c);
}

/* Write j's token as the source's watermark on conn. */
static void write_watermark(PGconn *conn, struct job *j)
{
	/* flushed at commit: WAL senders send only flushed WAL (orchestrator/store.c) */
	PQclear(PQexec(conn, "SET synchronous_commit = on"));
	const char *params[1] = { j->token };
	PGresult *r = PQexecParams(conn, "INSERT INTO _molt_lms.watermark (id, token, written_at) VALUES (1, $1, now()) "
				   "ON CONFLICT (id) DO UPDATE SET token = excluded.token, written_at = excluded.written_at",
				   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		j->ok = true;
		j->http_code = 200;
	} else if (missing_schema(r)) {
		j->http_code = 409;
		snprintf(j->msg, sizeof(j->msg), "_molt_lms.watermark does not exist on the source "
			 "(run molt-lms-cli initialize)");
	} else {
		j->http_code = 502;
		pq_error("cannot write _molt_lms.watermark on the source", PQresultErrorMessage(r), j->msg,
			 sizeof(j->msg));
	}
	PQclear(r);
}

/* Read the source's watermark token into j->msg ("" when no row). */
static void read_watermark(PGconn *conn, struct job *j)
{
	PGresult *r = PQexec(conn, "SELECT token FROM _molt_lms.watermark WHERE id = 1");
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		j->ok = true;
		j->http_code = 200;
		snprintf(j->msg, sizeof(j->msg), "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
	} else if (missing_schema(r)) {
		j->http_code = 409;
		snprintf(j->msg, sizeof(j->msg), "_molt_lms.watermark does not exist on the source: the reverse "
			 "replication must create and fill it");
	} else {
		j->http_code = 502;
		pq_error("cannot read _molt_lms.watermark on the source", PQresultErrorMessage(r), j->msg,
			 sizeof(j->msg));
	}
	PQclear(r);
}

/* Write or read one watermark on the source (a fresh short connection:
 * the source is only needed at cutover time). */
static void run_job(struct lms_control *c, struct job *j)
{
	char why[512];
	PGconn *conn = pq_open(c->source_conninfo, "cannot connect to the source (INIT_SOURCE)", "3s", why, sizeof(why));
	if (!conn) {
		j->http_code = 502;
		snprintf(j->msg, sizeof(j->msg), "%s", why);
		return;
	}
	if (j->token)
		write_watermark(conn, j);
	else
		read_watermark(conn, j);
	PQfinish(conn);
	/* reads come every few ms while an orchestrator polls: debug only */
	lms_log(!j->ok ? LMS_LOG_LEVEL_WARN : j->token ? LMS_LOG_LEVEL_INFO : LMS_LOG_LEVEL_DEBUG, "watermark",
		"op=%s ok=%d %s=\"%s\"",
		j->token ? "write" : "read", j->ok, j->ok && !j->token ? "token" : "error", j->msg);
}

/* done_base: hand a finished job's result to its caller. */
static void on_job_done(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	(void)fd;
	(void)what;
	j->done(j->arg, j->ok, j->http_code, j->msg);
	event_free(j->ev);
	free(j->token);
	free(j);
}

/* Take the oldest queued job (NULL when none).  Lock held. */
static struct job *job_pop(struct lms_control *c)
{
	struct job *j = c->jobs;
	if (j)
		c->jobs = j->next;
	return j;
}

static void deadline_after(struct timespec *ts, double sec)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	long long ns = (long long)ts->tv_nsec + (long long)(sec * 1e9);
	ts->tv_sec += (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
}

static bool passed(const struct timespec *ts)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > ts->tv_sec || (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

/* Remove this instance's registration, so that the orchestrator does not
 * wait for it at the next cutover.  Called when the workers have ended,
 * so nothing is served any more.  Best effort: a row left behind (store
 * unreachable, or a crash) is forgotten by the orchestrator once its
 * heartbeat is old enough (--forget-instance-after). */
static void deregister(struct lms_control *c)
{
	if (!c->registered || !c->store || PQstatus(c->store) != CONNECTION_OK)
		return;
	const char *params[1] = { c->instance_id };
	PGresult *r = PQexecParams(c->store, "DELETE FROM _molt_lms.instances WHERE id = $1", 1, NULL, params, NULL,
				   NULL, 0);
	if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		lms_log(LMS_LOG_LEVEL_INFO, "coordination_deregistered", "instance=\"%s\"", c->instance_id);
	} else {
		char why[512];
		pq_error("cannot remove this instance from _molt_lms.instances", PQresultErrorMessage(r), why,
			 sizeof(why));
		lms_log(LMS_LOG_LEVEL_WARN, "coordination_deregister_failed", "error=\"%s\"", why);
	}
	PQclear(r);
}

static void *control_main(void *arg)
{
	struct lms_control *c = arg;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next); /* a round right away */
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct job *j = job_pop(c);
		if (j) {
			pthread_mutex_unlock(&c->lock);
			run_job(c, j);
			event_active(j->ev, EV_READ, 0);
			pthread_mutex_lock(&c->lock);
			continue;
		}
		if (c->ack || passed(&next)) {
			c->ack = false;
			pthread_mutex_unlock(&c->lock);
			if (c->use_store)
				store_round(c);
			bool unknown = lms_coord_phase(c->rt) == LMS_PHASE_UNKNOWN;
			deadline_after(&next, unknown ? RETRY_SEC : HEARTBEAT_SEC);
			pthread_mutex_lock(&c->lock);
			if (!c->first_done) {
				c->first_done = true;
				pthread_cond_broadcast(&c->cond);
			}
			continue;
		}
		pthread_cond_timedwait(&c->cond, &c->lock, &next);
	}
	/* Stopping: answer what is still queued. */
	struct job *j;
	while ((j = job_pop(c))) {
		j->http_code = 503;
		snprintf(j->msg, sizeof(j->msg), "molt-lms is shutting down");
		event_active(j->ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&c->lock);
	deregister(c);
	PQfinish(c->store);
	c->store = NULL;
	return NULL;
}

/* Host part of "HOST:PORT" into host, port after the colon into port. */
static void split_hostport(const char *addr, char *host, size_t hcap, const char **port)
{
	const char *colon = strrchr(addr, ':');
	size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
	snprintf(host, hcap, "%.*s", (int)hl, addr);
	*port = colon ? colon + 1 : "";
}

/* host as it goes in a URL: an IPv6 address gets brackets (a pod IP from the
 * downward API is bare), anything else is copied. */
static void url_host(const char *host, char *out, size_t cap)
{
	bool ipv6 = strchr(host, ':') != NULL && host[0] != '[';
	snprintf(out, cap, ipv6 ? "[%s]" : "%s", host);
}

/* The instance id and admin URL, from the settings or their defaults. */
static void names_init(struct lms_control *c)
{
	const struct lms_config *cfg = c->rt->cfg;
	char hostname[256] = "localhost", host[256], urlhost[260];
	const char *port;
	if (gethostname(hostname, sizeof(hostname) - 1) != 0)
		snprintf(hostname, sizeof(hostname), "localhost");
	hostname[sizeof(hostname) - 1] = 0;
	if (cfg->instance_id) {
		snprintf(c->instance_id, sizeof(c->instance_id), "%s", cfg->instance_id);
	} else {
		split_hostport(cfg->listen, host, sizeof(host), &port);
		snprintf(c->instance_id, sizeof(c->instance_id), "%s:%s:%lld", hostname, port, (long long)c->started_at);
	}
	if (cfg->advertise_admin_url) {
		snprintf(c->admin_url, sizeof(c->admin_url), "%s", cfg->advertise_admin_url);
		return;
	}
	split_hostport(cfg->metrics_listen, host, sizeof(host), &port);
	bool any = !host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || strcmp(host, "[::]") == 0;
	url_host(cfg->advertise_admin_host ? cfg->advertise_admin_host : any ? hostname : host, urlhost,
		 sizeof(urlhost));
	snprintf(c->admin_url, sizeof(c->admin_url), "%s://%s:%s", cfg->ssl_cert ? "https" : "http", urlhost,
		 port);
}

struct lms_control *lms_control_start(struct lms_runtime *rt, struct event_base *done_base, char *err,
				      size_t errlen)
{
	struct lms_control *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->rt = rt;
	c->done_base = done_base;
	c->use_store = rt->cfg->coordination && strcmp(rt->cfg->coordination, "off") != 0;
	c->started_at = now_unix();
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(c->status, sizeof(c->status), "%s",
		 c->use_store ? "not read yet" : "off (--coordination off): serving from the source");
	names_init(c);
	c->creds_logged = -1;
	c->want_creds = strcmp(rt->front->family, rt->backends[LMS_ROLE_TARGET].plugin.d->family) != 0;
	c->store_conninfo = conninfo(rt->cfg->init_target, STORE_OPTS);
	c->source_conninfo = conninfo(rt->cfg->init_source, SOURCE_OPTS);
	if (!c->store_conninfo || !c->source_conninfo) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (pthread_create(&c->thread, NULL, control_main, c) != 0) {
		snprintf(err, errlen, "cannot start the control thread");
		goto fail;
	}
	c->thread_started = true;
	lms_log(LMS_LOG_LEVEL_INFO, "control_started", "instance=\"%s\" admin_url=\"%s\" coordination=%s",
		c->instance_id, c->admin_url, c->use_store ? "auto" : "off");
	return c;
fail:
	lms_control_stop(c);
	return NULL;
}

void lms_control_wait_first(struct lms_control *c, double timeout_s)
{
	struct timespec until;
	deadline_after(&until, timeout_s);
	pthread_mutex_lock(&c->lock);
	while (!c->first_done)
		if (pthread_cond_timedwait(&c->cond, &c->lock, &until) != 0)
			break;
	pthread_mutex_unlock(&c->lock);
}

void lms_control_ack(struct lms_control *c)
{
	pthread_mutex_lock(&c->lock);
	c->ack = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

int lms_control_watermark(struct lms_control *c, const char *token, lms_control_done_fn done, void *arg)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->c = c;
	j->done = done;
	j->arg = arg;
	j->token = token ? strdup(token) : NULL;
	j->ev = event_new(c->done_base, -1, 0, on_job_done, j);
	if ((token && !j->token) || !j->ev)
		goto fail;
	pthread_mutex_lock(&c->lock);
	if (c->stop) {
		pthread_mutex_unlock(&c->lock);
		goto fail;
	}
	struct job **tail = &c->jobs;
	while (*tail)
		tail = &(*tail)->next;
	*tail = j;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return 0;
fail:
	if (j->ev)
		event_free(j->ev);
	free(j->token);
	free(j);
	return -1;
}

bool lms_control_store_up(struct lms_control *c)
{
	return __atomic_load_n(&c->store_up, __ATOMIC_ACQUIRE) != 0;
}

void lms_control_store_status(struct lms_control *c, char *buf, size_t cap)
{
	pthread_mutex_lock(&c->lock);
	snprintf(buf, cap, "%s", c->status);
	pthread_mutex_unlock(&c->lock);
}

const char *lms_control_instance_id(const struct lms_control *c)
{
	return c->instance_id;
}

const char *lms_control_admin_url(const struct lms_control *c)
{
	return c->admin_url;
}

void lms_control_stop(struct lms_control *c)
{
	if (!c)
		return;
	if (c->thread_started) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	free(c->store_conninfo);
	free(c->source_conninfo);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}
