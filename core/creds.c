/*
 * creds.c - the in-memory copy of _molt_lms.credentials (creds.h).
 */
#include "autoconfig.h"

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "creds.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct lms_cred *rows;  /* lock */
static size_t nrows;           /* lock */
static bool loaded;            /* lock: a copy exists (maybe empty) */

static void rows_free(struct lms_cred *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++) {
		free(r[i].user);
		free(r[i].host);
		free(r[i].plugin);
		if (r[i].verifier)
			memset(r[i].verifier, 0, strlen(r[i].verifier));
		free(r[i].verifier);
	}
	free(r);
}

void lms_creds_replace(struct lms_cred *r, size_t n)
{
	pthread_mutex_lock(&lock);
	struct lms_cred *old = rows;
	size_t oldn = nrows;
	rows = r;
	nrows = r ? n : 0;
	loaded = r != NULL;
	pthread_mutex_unlock(&lock);
	rows_free(old, oldn);
}

long lms_creds_count(void)
{
	pthread_mutex_lock(&lock);
	long n = loaded ? (long)nrows : -1;
	pthread_mutex_unlock(&lock);
	return n;
}

void lms_creds_free(void)
{
	lms_creds_replace(NULL, 0);
}

static bool loopback(const char *ip)
{
	return !strcmp(ip, "127.0.0.1") || !strncmp(ip, "127.", 4) || !strcmp(ip, "::1") ||
	       !strncmp(ip, "::ffff:127.", 11);
}

/* SQL LIKE without escapes: % any run, _ one character (case-blind, as
 * MySQL compares host names). */
static bool like(const char *p, const char *s)
{
	for (; *p; p++, s++) {
		if (*p == '%') {
			while (p[1] == '%')
				p++;
			if (!p[1])
				return true;
			for (; *s; s++)
				if (like(p + 1, s))
					return true;
			return false;
		}
		if (!*s)
			return false;
		if (*p != '_' && tolower((unsigned char)*p) != tolower((unsigned char)*s))
			return false;
	}
	return *s == 0;
}

int lms_creds_host_rank(const char *pattern, const char *ip)
{
	if (!pattern || !ip)
		return -1;
	/* an IPv4 client on a dual-stack socket: match its IPv4 form */
	const char *v4 = !strncmp(ip, "::ffff:", 7) && strchr(ip + 7, '.') ? ip + 7 : ip;
	size_t wild = strcspn(pattern, "%_");
	if (!pattern[wild]) {
		/* no wildcard: this address, or localhost for loopback */
		if (!strcasecmp(pattern, ip) || !strcasecmp(pattern, v4) ||
		    (!strcasecmp(pattern, "localhost") && loopback(ip)))
			return 2000;
		return -1;
	}
	if (!like(pattern, ip) && !like(pattern, v4))
		return -1;
	/* more literal characters before the first wildcard: more specific */
	return wild >= 1000 ? 1999 : (int)wild + 1;
}

int lms_creds_lookup(const char *user, const char *client_ip, char *plugin, size_t pcap, char *verifier,
		     size_t vcap)
{
	if (!user || !plugin || !verifier || pcap == 0 || vcap == 0)
		return -1;
	pthread_mutex_lock(&lock);
	if (!loaded) {
		pthread_mutex_unlock(&lock);
		return -2;
	}
	const struct lms_cred *best = NULL;
	int best_rank = -1;
	for (size_t i = 0; i < nrows; i++) {
		if (strcmp(rows[i].user, user) != 0)
			continue;
		int rank = lms_creds_host_rank(rows[i].host, client_ip ? client_ip : "");
		if (rank > best_rank) {
			best = &rows[i];
			best_rank = rank;
		}
	}
	int rc = -1;
	if (best) {
		size_t pl = strlen(best->plugin), vl = strlen(best->verifier);
		rc = pl < pcap && vl < vcap ? 0 : -3;
		if (rc == 0) {
			memcpy(plugin, best->plugin, pl + 1);
			memcpy(verifier, best->verifier, vl + 1);
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}
