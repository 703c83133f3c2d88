/*
 * fpstats.c - shadowing aggregates per statement fingerprint.
 *
 * An open-addressing table of 2 * LMS_FPSTATS_MAX slots (load <= 1/2),
 * keyed by the fingerprint text and its XXH3 hash, behind one mutex.
 * Entries are never removed before lms_fpstats_free, so readers take a
 * snapshot of the counters under the lock and format it outside.
 */
#include "autoconfig.h"

#include "fpstats.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <xxhash.h>

#include "jsontext.h"

#define SLOTS (2u * LMS_FPSTATS_MAX) /* a power of two */
#define OTHER_NAME "(other)"
#define UNNAMED "(unnamed)"

static const char *const result_names[LMS_FP_RESULTS] = {
	"match", "mismatch", "transient", "lost", "dropped", "setting", "local", "unchecked"
};

const char *lms_fpstats_result_name(enum lms_fp_result r)
{
	return (unsigned)r < LMS_FP_RESULTS ? result_names[r] : "unknown";
}

struct fp_side {
	uint64_t n;       /* requests that gave a latency */
	uint64_t sum_us;
	uint64_t max_us;
};

struct fp_entry {
	char *fp;         /* owned, at most LMS_FPSTATS_TEXT_MAX bytes */
	uint64_t hash;
	uint64_t requests;
	uint64_t results[LMS_FP_RESULTS];
	struct fp_side truth, other;
};

static struct {
	pthread_mutex_t lock;
	struct fp_entry **slots; /* SLOTS entries; NULL before init */
	struct fp_entry *other;  /* "(other)": new fingerprints past the bound */
	size_t tracked;          /* entries in slots */
} fps = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0 };

static uint64_t fp_hash(const char *s, size_t len)
{
	return XXH3_64bits(s, len);
}

/* A new entry for the first len bytes of s; NULL when out of memory. */
static struct fp_entry *entry_new(const char *s, size_t len, uint64_t hash)
{
	struct fp_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->fp = strndup(s, len);
	if (!e->fp) {
		free(e);
		return NULL;
	}
	e->hash = hash;
	return e;
}

void lms_fpstats_init(void)
{
	pthread_mutex_lock(&fps.lock);
	if (!fps.slots) {
		fps.slots = calloc(SLOTS, sizeof(*fps.slots));
		fps.other = entry_new(OTHER_NAME, strlen(OTHER_NAME), fp_hash(OTHER_NAME, strlen(OTHER_NAME)));
		fps.tracked = 0;
	}
	pthread_mutex_unlock(&fps.lock);
}

void lms_fpstats_free(void)
{
	pthread_mutex_lock(&fps.lock);
	for (size_t i = 0; fps.slots && i < SLOTS; i++)
		if (fps.slots[i]) {
			free(fps.slots[i]->fp);
			free(fps.slots[i]);
		}
	free(fps.slots);
	fps.slots = NULL;
	if (fps.other)
		free(fps.other->fp);
	free(fps.other);
	fps.other = NULL;
	fps.tracked = 0;
	pthread_mutex_unlock(&fps.lock);
}

/* The entry counting fingerprint s: found, added, or "(other)" once the
 * table is full (or memory is).  Lock held, table initialised. */
static struct fp_entry *entry_find(const char *s)
{
	size_t len = strnlen(s, LMS_FPSTATS_TEXT_MAX);
	uint64_t h = fp_hash(s, len);
	size_t i = (size_t)h & (SLOTS - 1);
	for (struct fp_entry *e; (e = fps.slots[i]) != NULL; i = (i + 1) & (SLOTS - 1))
		if (e->hash == h && strncmp(e->fp, s, len) == 0 && e->fp[len] == 0)
			return e;
	if (fps.tracked >= LMS_FPSTATS_MAX)
		return fps.other;
	struct fp_entry *e = entry_new(s, len, h);
	if (!e)
		return fps.other;
	fps.slots[i] = e;
	fps.tracked++;
	return e;
}

static void side_add(struct fp_side *s, uint64_t us)
{
	s->n++;
	s->sum_us += us;
	if (us > s->max_us)
		s->max_us = us;
}

void lms_fpstats_record(const char *fp, enum lms_fp_result r, uint64_t truth_us, uint64_t other_us)
{
	if ((unsigned)r >= LMS_FP_RESULTS)
		return;
	pthread_mutex_lock(&fps.lock);
	if (!fps.slots || !fps.other)
		goto out;
	struct fp_entry *e = entry_find(fp && *fp ? fp : UNNAMED);
	e->requests++;
	e->results[r]++;
	side_add(&e->truth, truth_us);
	if (other_us)
		side_add(&e->other, other_us);
out:
	pthread_mutex_unlock(&fps.lock);
}

/* Most mismatches first, then most requests, then by text (stable). */
static int entry_cmp(const void *a, const void *b)
{
	const struct fp_entry *x = a, *y = b;
	if (x->results[LMS_FP_MISMATCH] != y->results[LMS_FP_MISMATCH])
		return x->results[LMS_FP_MISMATCH] > y->results[LMS_FP_MISMATCH] ? -1 : 1;
	if (x->requests != y->requests)
		return x->requests > y->requests ? -1 : 1;
	return strcmp(x->fp, y->fp);
}

/* A sorted copy of the counters (fp pointers stay owned by the table) of
 * every tracked fingerprint and of "(other)" once it counted anything.
 * Returns a malloc'ed array (caller frees; NULL when empty or out of
 * memory) and its length in *n, and the tracked count in *tracked. */
static struct fp_entry *snapshot(size_t *n, size_t *tracked)
{
	struct fp_entry *v = NULL;
	*n = 0;
	pthread_mutex_lock(&fps.lock);
	*tracked = fps.tracked;
	if (!fps.slots || !fps.other)
		goto out;
	v = malloc((fps.tracked + 1) * sizeof(*v));
	if (!v)
		goto out;
	for (size_t i = 0; i < SLOTS; i++)
		if (fps.slots[i])
			v[(*n)++] = *fps.slots[i];
	if (fps.other->requests)
		v[(*n)++] = *fps.other;
out:
	pthread_mutex_unlock(&fps.lock);
	if (v && *n)
		qsort(v, *n, sizeof(*v), entry_cmp);
	return v;
}

/* {"avg": ms, "max": ms}, three decimals. */
static json_t *latency_json(const struct fp_side *s)
{
	double avg = s->n ? round((double)s->sum_us / (double)s->n) / 1000.0 : 0.0;
	return json_pack("{s:f,s:f}", "avg", avg, "max", (double)s->max_us / 1000.0);
}

static json_t *entry_json(const struct fp_entry *e)
{
	char id[17];
	snprintf(id, sizeof(id), "%016" PRIx64, e->hash);
	json_t *j = json_pack("{s:o,s:s,s:I}", "fingerprint", lms_json_text(e->fp), "id", id,
			      "requests", (json_int_t)e->requests);
	if (!j)
		return NULL;
	for (int r = 0; r < LMS_FP_RESULTS; r++)
		json_object_set_new(j, result_names[r], json_integer((json_int_t)e->results[r]));
	json_object_set_new(j, "truth_latency_ms", latency_json(&e->truth));
	json_object_set_new(j, "other_latency_ms", latency_json(&e->other));
	return j;
}

char *lms_fpstats_json(void)
{
	size_t n, tracked;
	char *text = NULL;
	struct fp_entry *v = snapshot(&n, &tracked);
	json_t *list = json_array();
	json_t *root = json_pack("{s:o,s:I,s:i}", "fingerprints", list, "tracked", (json_int_t)tracked,
				 "limit", LMS_FPSTATS_MAX);
	if (!root)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(list, entry_json(&v[i])) < 0)
			goto out;
	/* 15 significant digits print whole microseconds as exactly three
	 * decimals of milliseconds */
	text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
out:
	json_decref(root);
	free(v);
	return text;
}

void lms_fpstats_metrics(lms_fpstats_line_fn fn, void *ctx)
{
	size_t n, tracked;
	struct fp_entry *v = snapshot(&n, &tracked);
	char line[256];
	fn(ctx, "# HELP lms_shadow_fingerprint_requests_total Shadowed requests per statement fingerprint "
	   "(id as in GET /api/v1/mismatches), by result.");
	fn(ctx, "# TYPE lms_shadow_fingerprint_requests_total counter");
	for (size_t i = 0; i < n; i++)
		for (int r = 0; r < LMS_FP_RESULTS; r++) {
			snprintf(line, sizeof(line),
				 "lms_shadow_fingerprint_requests_total{fingerprint_id=\"%016" PRIx64
				 "\",result=\"%s\"} %" PRIu64, v[i].hash, result_names[r], v[i].results[r]);
			fn(ctx, line);
		}
	free(v);
}
