/*
 * context.h - what the API handlers share: the settings, the stores and
 * the TLS context for calls to the proxies.  Nothing here is state of
 * the cutover: that lives in the store only.
 */
#ifndef ORCH_CONTEXT_H
#define ORCH_CONTEXT_H

#include <openssl/ssl.h>

struct orch_config;
struct orch_store;
struct orch_source;

struct orch_ctx {
	const struct orch_config *cfg;
	struct orch_store *store;    /* CRDB_URL: the coordination store */
	struct orch_source *source;  /* SOURCE_URL (source.h), or NULL */
	struct orch_store *lms;      /* LMS_URL (the probe), or NULL */
	SSL_CTX *client_tls;         /* for https admin URLs, or NULL */
	int *interrupt;              /* the operation lane's ORCH_INTERRUPT_*
					(oplane.h), read atomically: why the
					running op should stop waiting; or
					NULL */
};

#endif
