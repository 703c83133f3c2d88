/*
 * creds.h - the login verifiers the coordination store holds
 * (_molt_lms.credentials, copied there from the source by the
 * orchestrator), kept in memory for plugins that log clients in
 * themselves once the source of truth speaks another wire family
 * (host API credential_of, plugin ABI 1.4).
 *
 * The control thread replaces the whole copy after each reading; any
 * worker looks a login up.  One mutex: logins are rare next to requests.
 * The core never interprets the rows: user, host pattern, plugin name and
 * verifier are text it hands back as they are.
 */
#ifndef LMS_CREDS_H
#define LMS_CREDS_H

#include <stddef.h>

#define LMS_CREDS_MAX 100000u   /* rows kept at most */
#define LMS_CREDS_FIELD_MAX 512u /* bytes per value at most (longer rows are skipped) */

/* One row; the strings are owned by the copy. */
struct lms_cred {
	char *user;
	char *host;
	char *plugin;
	char *verifier;
};

/* Replace the copy by rows[0..n) (taking the array and its strings, which
 * were malloc'd).  rows NULL: the store holds no credentials (forget the
 * copy). */
void lms_creds_replace(struct lms_cred *rows, size_t n);

/* Rows held now, or -1 when there is no copy. */
long lms_creds_count(void);

/* The host API's credential_of (plugin.h explains the matching rule and
 * the return values). */
int lms_creds_lookup(const char *user, const char *client_ip, char *plugin, size_t pcap, char *verifier,
		     size_t vcap);

/* How well host pattern matches client address ip: -1 when it does not;
 * otherwise a rank, higher for a more specific pattern (an exact address
 * or localhost above patterns, longer literal prefixes above shorter ones,
 * '%' lowest). */
int lms_creds_host_rank(const char *pattern, const char *ip);

/* Free the copy (at exit). */
void lms_creds_free(void);

#endif
