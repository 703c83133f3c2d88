/*
 * dual_client.c - baseline for the shadowing benchmark (bench/run.sh --shadow).
 *
 * An application that shadows by itself: N client threads, each with one
 * connection to the source and one to the target, run pgbench's built-in
 * transactions ("select": pgbench -S, "tpcb": pgbench's default TPC-B-like
 * script) for a fixed time.  Every statement is sent to both servers before
 * waiting for either (PQsendQuery on both, then both results), which is what
 * molt-lms does in --shadow-mode sync; the two outcomes are compared (status,
 * command tag, rows) and differences counted.  Statements go out as simple
 * Query messages with the values in the text, like pgbench's default -M simple.
 * Without --target it runs against the source only (to compare the client
 * itself with pgbench).
 *
 * Build: cc -O2 -o dual_client dual_client.c $(pkg-config --cflags --libs libpq) -lpthread
 *
 * Output: readable lines, then one line for scripts:
 *   RESULT tps=F txns=N failed=N mismatches=N target_errors=N lat_avg_us=N lat_p50_us=N lat_p99_us=N duration_s=F
 * Exit status 0 when the run completed (failed transactions are counted, not
 * fatal), 1 on a usage or connection error or a lost connection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

enum script { SCRIPT_SELECT, SCRIPT_TPCB };

struct client {
	int id;
	PGconn *src;
	PGconn *tgt; /* NULL: source only */
	uint64_t rng;
	/* per-transaction latencies, microseconds */
	uint32_t *lat;
	size_t nlat, caplat;
	uint64_t failed;
	uint64_t mismatches;
	uint64_t tgt_errors;
	int64_t end_ns;
	int fatal;
	char errmsg[256];
};

static enum script g_script = SCRIPT_TPCB;
static int64_t g_scale;
static double g_duration = 10;
static pthread_barrier_t g_barrier;
static atomic_int g_stop;
static long g_tgt_lock_timeout_ms = 1000;
static int g_sequential; /* target only after the source answered */
static int g_verbose_mismatch = 3; /* print the first few differences */
static atomic_int g_mismatch_printed;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("dual_client: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* splitmix64 for seeding, xorshift64* for the stream */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* uniform in [lo, hi], like pgbench's random(lo, hi) */
static int64_t rnd(struct client *c, int64_t lo, int64_t hi)
{
	uint64_t span = (uint64_t)(hi - lo) + 1;
	return lo + (int64_t)(rng_next(&c->rng) % span);
}

/* One side's outcome of a statement: the last result libpq returned. */
struct outcome {
	PGresult *res;
	ExecStatusType st;
};

static int ok_status(ExecStatusType st)
{
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static void collect(PGconn *conn, struct outcome *o)
{
	PGresult *r;
	o->res = NULL;
	o->st = PGRES_FATAL_ERROR;
	while ((r = PQgetResult(conn)) != NULL) {
		if (o->res)
			PQclear(o->res);
		o->res = r;
		o->st = PQresultStatus(r);
	}
}

static const char *sqlstate(const PGresult *r)
{
	const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}

/* NULL if the two outcomes agree in what the proxy compares: status,
 * command tag, rows and values (in order), or the SQLSTATE class of an error;
 * else what differs */
static const char *differ(const struct outcome *a, const struct outcome *b)
{
	int i, j, n, f;
	if (ok_status(a->st) != ok_status(b->st))
		return "error";
	if (!ok_status(a->st))
		return strncmp(sqlstate(a->res), sqlstate(b->res), 2) != 0 ? "sqlstate" : NULL;
	if (a->st != b->st || strcmp(PQcmdStatus(a->res), PQcmdStatus(b->res)) != 0)
		return "tag";
	n = PQntuples(a->res);
	f = PQnfields(a->res);
	if (n != PQntuples(b->res) || f != PQnfields(b->res))
		return "rows";
	for (i = 0; i < n; i++)
		for (j = 0; j < f; j++) {
			if (PQgetisnull(a->res, i, j) != PQgetisnull(b->res, i, j) ||
			    strcmp(PQgetvalue(a->res, i, j), PQgetvalue(b->res, i, j)) != 0)
				return "values";
		}
	return NULL;
}

static int conn_lost(struct client *c, PGconn *conn, const char *side)
{
	if (PQstatus(conn) != CONNECTION_BAD)
		return 0;
	c->fatal = 1;
	snprintf(c->errmsg, sizeof c->errmsg, "client %d: %s connection lost: %s", c->id, side,
		 PQerrorMessage(conn));
	return 1;
}

/*
 * Run one statement on both servers: send to both, then wait for both.
 * Waiting for the source first and then the target costs no more than
 * polling both, since both servers are already working on it.  With
 * --sequential the target gets the statement only once the source answered
 * it (so the two servers take row locks in the same order: no deadlock
 * across them, at the price of both latencies in a row).
 * Returns 0 if the source succeeded, -1 otherwise: like --shadow-mode sync, the
 * application goes on with the source's result whatever the target answered
 * (a target error is counted, and is a mismatch).
 */
static int stmt(struct client *c, const char *sql)
{
	struct outcome s = { NULL, PGRES_FATAL_ERROR }, t = { NULL, PGRES_COMMAND_OK };
	const char *diff;
	int rc = 0;

	if (!PQsendQuery(c->src, sql)) {
		conn_lost(c, c->src, "source");
		if (!c->fatal) {
			c->fatal = 1;
			snprintf(c->errmsg, sizeof c->errmsg, "client %d: source: %s", c->id,
				 PQerrorMessage(c->src));
		}
		return -1;
	}
	if (g_sequential)
		collect(c->src, &s);
	if (c->tgt && !PQsendQuery(c->tgt, sql)) {
		if (!g_sequential)
			collect(c->src, &s);
		PQclear(s.res);
		conn_lost(c, c->tgt, "target");
		if (!c->fatal) {
			c->fatal = 1;
			snprintf(c->errmsg, sizeof c->errmsg, "client %d: target: %s", c->id,
				 PQerrorMessage(c->tgt));
		}
		return -1;
	}
	if (!g_sequential)
		collect(c->src, &s);
	if (c->tgt) {
		collect(c->tgt, &t);
		if ((diff = differ(&s, &t)) != NULL) {
			c->mismatches++;
			if (atomic_fetch_add(&g_mismatch_printed, 1) < g_verbose_mismatch)
				fprintf(stderr, "dual_client: mismatch (%s) on '%s': source %s %s, target %s %s\n", diff, sql,
					PQresStatus(s.st), ok_status(s.st) ? PQcmdStatus(s.res) : sqlstate(s.res),
					PQresStatus(t.st), ok_status(t.st) ? PQcmdStatus(t.res) : sqlstate(t.res));
		}
	}
	/* as in sync shadowing, the source's outcome is the application's */
	if (!ok_status(s.st))
		rc = -1;
	if (!ok_status(t.st))
		c->tgt_errors++;
	PQclear(s.res);
	if (t.res)
		PQclear(t.res);
	if (conn_lost(c, c->src, "source") || (c->tgt && conn_lost(c, c->tgt, "target")))
		return -1;
	return rc;
}

static int txn_select(struct client *c)
{
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT abalance FROM pgbench_accounts WHERE aid = %" PRId64 ";",
		 rnd(c, 1, 100000 * g_scale));
	return stmt(c, sql);
}

/* pgbench's built-in "tpcb-like" script */
static int txn_tpcb(struct client *c)
{
	char sql[256];
	int64_t aid = rnd(c, 1, 100000 * g_scale);
	int64_t bid = rnd(c, 1, g_scale);
	int64_t tid = rnd(c, 1, 10 * g_scale);
	int64_t delta = rnd(c, -5000, 5000);

	if (stmt(c, "BEGIN;") < 0)
		return -1;
	snprintf(sql, sizeof sql,
		 "UPDATE pgbench_accounts SET abalance = abalance + %" PRId64 " WHERE aid = %" PRId64 ";",
		 delta, aid);
	if (stmt(c, sql) < 0)
		return -1;
	snprintf(sql, sizeof sql, "SELECT abalance FROM pgbench_accounts WHERE aid = %" PRId64 ";", aid);
	if (stmt(c, sql) < 0)
		return -1;
	snprintf(sql, sizeof sql,
		 "UPDATE pgbench_tellers SET tbalance = tbalance + %" PRId64 " WHERE tid = %" PRId64 ";",
		 delta, tid);
	if (stmt(c, sql) < 0)
		return -1;
	snprintf(sql, sizeof sql,
		 "UPDATE pgbench_branches SET bbalance = bbalance + %" PRId64 " WHERE bid = %" PRId64 ";",
		 delta, bid);
	if (stmt(c, sql) < 0)
		return -1;
	snprintf(sql, sizeof sql,
		 "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%" PRId64 ", %" PRId64
		 ", %" PRId64 ", %" PRId64 ", CURRENT_TIMESTAMP);",
		 tid, bid, aid, delta);
	if (stmt(c, sql) < 0)
		return -1;
	return stmt(c, "END;");
}

static void record(struct client *c, int64_t ns)
{
	if (c->nlat == c->caplat) {
		size_t cap = c->caplat ? c->caplat * 2 : 65536;
		uint32_t *p = realloc(c->lat, cap * sizeof *p);
		if (!p) {
			c->fatal = 1;
			snprintf(c->errmsg, sizeof c->errmsg, "client %d: out of memory", c->id);
			return;
		}
		c->lat = p;
		c->caplat = cap;
	}
	c->lat[c->nlat++] = ns / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(ns / 1000);
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	int64_t start, deadline, t0, t1;
	int rc;

	pthread_barrier_wait(&g_barrier);
	start = now_ns();
	deadline = start + (int64_t)(g_duration * 1e9);
	for (t0 = start; t0 < deadline && !atomic_load(&g_stop); t0 = t1) {
		rc = g_script == SCRIPT_SELECT ? txn_select(c) : txn_tpcb(c);
		t1 = now_ns();
		if (c->fatal)
			break;
		if (rc < 0) {
			/* leave both sides outside any transaction and go on */
			c->failed++;
			if (g_script == SCRIPT_TPCB)
				stmt(c, "ROLLBACK;");
			if (c->fatal)
				break;
			continue;
		}
		record(c, t1 - t0);
		if (c->fatal)
			break;
	}
	c->end_ns = now_ns();
	if (c->fatal)
		atomic_store(&g_stop, 1);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* nearest rank, as bench/run.sh computes it for pgbench's logs */
static uint32_t pct(const uint32_t *v, size_t n, int p)
{
	size_t i = (n * (size_t)p + 99) / 100;
	return n ? v[i ? i - 1 : 0] : 0;
}

static PGconn *connect_to(const char *conninfo, const char *side, int id)
{
	PGconn *conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
		die("client %d: cannot connect to the %s: %s", id, side, PQerrorMessage(conn));
	return conn;
}

/*
 * Both servers grant row locks in their own order, so two clients can each
 * hold a row on one side and wait for it on the other: a deadlock across the
 * two databases that neither detects.  A lock timeout on the target breaks it
 * (the target's statement fails, its transaction is lost there, the source
 * goes on), as a shadow timeout does in the proxy.
 */
static void set_target_lock_timeout(PGconn *conn, int id)
{
	char sql[64];
	PGresult *r;
	snprintf(sql, sizeof sql, "SET lock_timeout = %ld", g_tgt_lock_timeout_ms);
	r = PQexec(conn, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		die("client %d: %s on the target: %s", id, sql, PQerrorMessage(conn));
	PQclear(r);
}

static int64_t detect_scale(PGconn *conn)
{
	PGresult *r = PQexec(conn, "SELECT count(*) FROM pgbench_branches");
	int64_t n;
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		die("cannot read the scale from pgbench_branches: %s", PQerrorMessage(conn));
	n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (n <= 0)
		die("pgbench_branches is empty (run pgbench -i)");
	return n;
}

static void usage(FILE *f)
{
	fputs("Usage: dual_client --source CONNINFO [--target CONNINFO] [options]\n"
	      "\n"
	      "Runs pgbench's built-in transactions, sending every statement to both\n"
	      "databases at once and waiting for both (what --shadow-mode sync does).\n"
	      "\n"
	      "  --source CONNINFO   libpq connection string or URL of the source\n"
	      "  --target CONNINFO   the same for the target (omit: source only)\n"
	      "  -b, --script NAME   select (pgbench -S) or tpcb (pgbench default; default)\n"
	      "  -c, --clients N     client threads, each with its own connections (default 1)\n"
	      "  -T, --time SECONDS  duration (default 10)\n"
	      "  -s, --scale N       scale of the pgbench tables (default: read from the source)\n"
	      "  --target-lock-timeout MS\n"
	      "                      lock_timeout of the target sessions, 0 = none (default 1000);\n"
	      "                      breaks deadlocks across the two databases\n"
	      "  --sequential        send each statement to the target only after the source\n"
	      "                      answered it (no deadlocks across the databases)\n"
	      "  --seed N            random seed (default: from the clock)\n"
	      "  -h, --help          this help\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "source", required_argument, NULL, 'S' }, { "target", required_argument, NULL, 'G' },
		{ "script", required_argument, NULL, 'b' }, { "clients", required_argument, NULL, 'c' },
		{ "time", required_argument, NULL, 'T' },   { "scale", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'R' },   { "help", no_argument, NULL, 'h' },
		{ "target-lock-timeout", required_argument, NULL, 'L' },
		{ "sequential", no_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	const char *src = NULL, *tgt = NULL;
	long nclients = 1;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)now_ns() << 16);
	struct client *cl;
	pthread_t *th;
	uint32_t *all;
	size_t total = 0, k;
	uint64_t failed = 0, mism = 0, tgterr = 0, sum = 0;
	int64_t start, end = 0;
	double secs;
	int opt, i, fatal = 0;
	char *endp;

	while ((opt = getopt_long(argc, argv, "b:c:T:s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'S': src = optarg; break;
		case 'G': tgt = optarg; break;
		case 'b':
			if (strcmp(optarg, "select") == 0 || strcmp(optarg, "select-only") == 0)
				g_script = SCRIPT_SELECT;
			else if (strcmp(optarg, "tpcb") == 0 || strcmp(optarg, "tpcb-like") == 0)
				g_script = SCRIPT_TPCB;
			else
				die("unknown script '%s' (select, tpcb)", optarg);
			break;
		case 'c':
			nclients = strtol(optarg, &endp, 10);
			if (*endp || nclients < 1 || nclients > 10000)
				die("bad --clients '%s'", optarg);
			break;
		case 'T':
			g_duration = strtod(optarg, &endp);
			if (*endp || !(g_duration > 0))
				die("bad --time '%s'", optarg);
			break;
		case 's':
			g_scale = strtoll(optarg, &endp, 10);
			if (*endp || g_scale < 1)
				die("bad --scale '%s'", optarg);
			break;
		case 'L':
			g_tgt_lock_timeout_ms = strtol(optarg, &endp, 10);
			if (*endp || g_tgt_lock_timeout_ms < 0 || g_tgt_lock_timeout_ms > 86400000)
				die("bad --target-lock-timeout '%s'", optarg);
			break;
		case 'Q': g_sequential = 1; break;
		case 'R':
			seed = strtoull(optarg, &endp, 10);
			if (*endp)
				die("bad --seed '%s'", optarg);
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc || !src) {
		usage(stderr);
		return 1;
	}

	cl = calloc((size_t)nclients, sizeof *cl);
	th = calloc((size_t)nclients, sizeof *th);
	if (!cl || !th)
		die("out of memory");
	/* connect everything first: connection time is not measured (as in pgbench) */
	for (i = 0; i < nclients; i++) {
		cl[i].id = i;
		cl[i].src = connect_to(src, "source", i);
		cl[i].tgt = tgt ? connect_to(tgt, "target", i) : NULL;
		if (cl[i].tgt)
			set_target_lock_timeout(cl[i].tgt, i);
		cl[i].rng = splitmix64(&seed);
		if (!cl[i].rng)
			cl[i].rng = 1;
	}
	if (!g_scale)
		g_scale = detect_scale(cl[0].src);

	if (pthread_barrier_init(&g_barrier, NULL, (unsigned)nclients + 1) != 0)
		die("pthread_barrier_init failed");
	for (i = 0; i < nclients; i++)
		if ((errno = pthread_create(&th[i], NULL, client_main, &cl[i])) != 0)
			die("pthread_create: %s", strerror(errno));
	pthread_barrier_wait(&g_barrier);
	start = now_ns();
	for (i = 0; i < nclients; i++) {
		pthread_join(th[i], NULL);
		if (cl[i].end_ns > end)
			end = cl[i].end_ns;
		if (cl[i].fatal) {
			fprintf(stderr, "dual_client: %s\n", cl[i].errmsg);
			fatal = 1;
		}
		total += cl[i].nlat;
		failed += cl[i].failed;
		mism += cl[i].mismatches;
		tgterr += cl[i].tgt_errors;
	}
	secs = (double)(end - start) / 1e9;

	all = malloc((total ? total : 1) * sizeof *all);
	if (!all)
		die("out of memory");
	for (i = 0, k = 0; i < nclients; i++) {
		if (cl[i].nlat)
			memcpy(all + k, cl[i].lat, cl[i].nlat * sizeof *all);
		k += cl[i].nlat;
		free(cl[i].lat);
		PQfinish(cl[i].src);
		if (cl[i].tgt)
			PQfinish(cl[i].tgt);
	}
	qsort(all, total, sizeof *all, cmp_u32);
	for (k = 0; k < total; k++)
		sum += all[k];

	printf("script: %s\n", g_script == SCRIPT_SELECT ? "select-only" : "tpcb-like");
	printf("databases: %s\n", !tgt ? "source only"
				   : g_sequential ? "source, then target (each statement to both in turn)"
						  : "source and target (each statement to both at once)");
	printf("scale: %" PRId64 "\nclients: %ld\nduration: %.3f s\n", g_scale, nclients, secs);
	printf("transactions: %zu\nfailed transactions: %" PRIu64 "\nresult mismatches: %" PRIu64
	       "\ntarget errors: %" PRIu64 "\n", total, failed, mism, tgterr);
	printf("tps = %.3f\n", secs > 0 ? (double)total / secs : 0.0);
	printf("latency average = %.3f ms, p50 = %.3f ms, p99 = %.3f ms\n",
	       total ? (double)sum / (double)total / 1000 : 0.0, pct(all, total, 50) / 1000.0,
	       pct(all, total, 99) / 1000.0);
	printf("RESULT tps=%.3f txns=%zu failed=%" PRIu64 " mismatches=%" PRIu64 " target_errors=%" PRIu64
	       " lat_avg_us=%.0f lat_p50_us=%" PRIu32 " lat_p99_us=%" PRIu32 " duration_s=%.3f\n",
	       secs > 0 ? (double)total / secs : 0.0, total, failed, mism, tgterr,
	       total ? (double)sum / (double)total : 0.0, pct(all, total, 50), pct(all, total, 99), secs);
	free(all);
	free(cl);
	free(th);
	pthread_barrier_destroy(&g_barrier);
	return fatal ? 1 : 0;
}
