/*
 * cancel.c - cancel-key table and one-shot cancel connections.
 */
#include "autoconfig.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cancel.h"
#include "conn.h"
#include "log.h"

#define NBUCKETS 4096

struct entry {
	struct entry *next;
	uint8_t proxy_key[8];
	const struct lms_backend *backend;
	uint8_t key[LMS_KEY_MAX];
	size_t key_len;
};

static struct entry *buckets[NBUCKETS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

/* By the key's first 4 bytes only: a MySQL client names a session by
 * them (lms_cancel_lookup_prefix), and new keys keep them unique. */
static size_t bucket_of(const uint8_t k[4])
{
	uint32_t v;
	memcpy(&v, k, 4);
	return (size_t)((v ^ (v >> 13)) % NBUCKETS);
}

/* Caller holds table_lock. */
static struct entry **find_slot(const uint8_t k[8])
{
	struct entry **pp = &buckets[bucket_of(k)];
	while (*pp && memcmp((*pp)->proxy_key, k, 8) != 0)
		pp = &(*pp)->next;
	return pp;
}

int lms_cancel_register(const uint8_t proxy_key[8], const struct lms_backend *b,
			const uint8_t *key, size_t key_len)
{
	if (key_len > LMS_KEY_MAX)
		return -1;
	pthread_mutex_lock(&table_lock);
	struct entry **pp = find_slot(proxy_key);
	struct entry *e = *pp;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			pthread_mutex_unlock(&table_lock);
			return -1;
		}
		memcpy(e->proxy_key, proxy_key, 8);
		*pp = e;
	}
	e->backend = b;
	memcpy(e->key, key, key_len);
	e->key_len = key_len;
	pthread_mutex_unlock(&table_lock);
	return 0;
}

void lms_cancel_unregister(const uint8_t proxy_key[8])
{
	pthread_mutex_lock(&table_lock);
	struct entry **pp = find_slot(proxy_key);
	struct entry *e = *pp;
	if (e)
		*pp = e->next;
	pthread_mutex_unlock(&table_lock);
	free(e);
}

int lms_cancel_lookup(const uint8_t proxy_key[8], const struct lms_backend **b,
		      uint8_t key[LMS_KEY_MAX], size_t *key_len)
{
	int rc = -1;
	pthread_mutex_lock(&table_lock);
	struct entry *e = *find_slot(proxy_key);
	if (e) {
		*b = e->backend;
		memcpy(key, e->key, e->key_len);
		*key_len = e->key_len;
		rc = 0;
	}
	pthread_mutex_unlock(&table_lock);
	return rc;
}

int lms_cancel_lookup_prefix(const uint8_t *prefix, size_t len, uint8_t key[LMS_KEY_MAX], size_t *key_len)
{
	if (len < 4 || len > 8)
		return -1;
	int found = 0;
	pthread_mutex_lock(&table_lock);
	for (struct entry *e = buckets[bucket_of(prefix)]; e; e = e->next) {
		if (memcmp(e->proxy_key, prefix, len) != 0)
			continue;
		if (++found > 1)
			break; /* two sessions share it: name neither */
		memcpy(key, e->key, e->key_len);
		*key_len = e->key_len;
	}
	pthread_mutex_unlock(&table_lock);
	return found == 1 ? 0 : -1;
}

/* Caller holds table_lock.  Does a registered key begin with k[0..4)? */
static int prefix_used(const uint8_t k[4])
{
	for (struct entry *e = buckets[bucket_of(k)]; e; e = e->next)
		if (memcmp(e->proxy_key, k, 4) == 0)
			return 1;
	return 0;
}

void lms_cancel_new_key(uint8_t proxy_key[8])
{
	for (;;) {
		if (RAND_bytes(proxy_key, 8) != 1)
			abort(); /* no randomness: nothing safe to do */
		proxy_key[0] &= 0x7f; /* a positive process id for clients that print it */
		pthread_mutex_lock(&table_lock);
		int used = prefix_used(proxy_key);
		pthread_mutex_unlock(&table_lock);
		if (!used)
			return;
	}
}

/* ---- one cancel connection ---- */

struct cancel_req {
	struct lms_conn conn;
	struct event *timer;
	const struct lms_backend *backend;
};

static void cancel_free(struct cancel_req *r)
{
	lms_conn_close(&r->conn);
	if (r->timer)
		event_free(r->timer);
	free(r);
}

static void cancel_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct cancel_req *r = arg;
	lms_log(LMS_LOG_LEVEL_WARN, "cancel_timeout", "backend=%s", r->backend->label);
	cancel_free(r);
}

/* Connected, then sent, then waits for the server's close. */
static void cancel_cb(struct lms_conn *c, short what, void *owner)
{
	struct cancel_req *r = owner;
	if (c->connecting) {
		if (lms_conn_connect_done(c) != LMS_IO_OK) {
			lms_log(LMS_LOG_LEVEL_WARN, "cancel_failed", "backend=%s error=\"%s\"",
				r->backend->label, c->err);
			cancel_free(r);
			return;
		}
	}
	int st = lms_conn_flush(c);
	if (st == LMS_IO_ERR || st == LMS_IO_EOF) {
		cancel_free(r);
		return;
	}
	if (st == LMS_IO_OK && (what & EV_READ)) {
		size_t n;
		st = lms_conn_read(c, &n);
		lms_buf_release(&c->in);
		if (st != LMS_IO_OK && st != LMS_IO_AGAIN) {
			cancel_free(r);
			return;
		}
	}
	lms_conn_update_events(c);
}

void lms_cancel_send(struct event_base *base, const struct lms_backend *b,
		     const uint8_t *key, size_t key_len)
{
	struct lms_out out;
	out.len = 0;
	if (b->plugin.d->be_cancel(key, key_len, &out) < 0)
		return;
	struct cancel_req *r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->backend = b;
	struct sockaddr_storage ss;
	socklen_t len;
	if (lms_backend_addr(b, 0, &ss, &len) < 0) {
		free(r);
		return;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0 || lms_conn_init(&r->conn, base, fd, cancel_cb, r) < 0) {
		if (fd >= 0)
			close(fd);
		free(r);
		return;
	}
	lms_buf_append(&r->conn.out, out.data, out.len);
	r->conn.write_blocked = true;
	r->timer = evtimer_new(base, cancel_timeout, r);
	struct timeval tv = { 5, 0 };
	if (r->timer)
		evtimer_add(r->timer, &tv);
	int st = lms_conn_connect(&r->conn, (const struct sockaddr *)&ss, len);
	if (st == LMS_IO_ERR) {
		lms_log(LMS_LOG_LEVEL_WARN, "cancel_failed", "backend=%s error=\"%s\"", b->label, r->conn.err);
		cancel_free(r);
		return;
	}
	lms_conn_update_events(&r->conn);
}
