/*
 * proxies.h - calls to the proxies' admin APIs (docs/api.md, "Proxy admin
 * API"), several instances at once, each bounded by a timeout.
 *
 * The calls block the caller (they run on a private event base) for at
 * most the timeout given; the orchestrator's own loop waits meanwhile.
 */
#ifndef ORCH_PROXIES_H
#define ORCH_PROXIES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <openssl/ssl.h>

struct orch_call {
	const char *url;      /* in: admin base URL http(s)://host:port (borrowed) */
	int status;           /* out: HTTP status, 0 when there was no answer */
	json_t *body;         /* out: the answer parsed as JSON (owned by the call), or NULL */
	char error[256];      /* out: why there is no usable answer ("" when status is 2xx with JSON) */
	double ms;            /* out: how long the call took */
	bool tls_failed;      /* out: no answer because the TLS handshake failed: something listens there */
};

/* Run method ("GET"/"POST") path with body (JSON text or NULL) against
 * every call's url in parallel; returns when all answered or failed, at
 * most timeout_s later.  client_tls (may be NULL) is used for https URLs:
 * it verifies the proxy and presents the orchestrator's certificate. */
void orch_proxies_call(SSL_CTX *client_tls, struct orch_call *calls, size_t n, const char *method,
		       const char *path, const char *body, double timeout_s);

/* Free what orch_proxies_call stored in calls (not the array). */
void orch_proxies_clear(struct orch_call *calls, size_t n);

#endif
