/*
 * tls.h - OpenSSL contexts for the proxy's listeners and its backends.
 */
#ifndef LMS_TLS_H
#define LMS_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "lms/plugin.h"

/* Server context from PEM files.  With ca (optional), client
 * certificates are verified against it: mandatory when require_client
 * (the SQL listener), only requested otherwise (the metrics port, where
 * probes present none and each admin route checks the peer itself).
 * Returns NULL with a message naming the file in err. */
SSL_CTX *lms_tls_server_ctx(const char *cert, const char *key, const char *ca, bool require_client,
			    char *err, size_t errlen);

/* Client context for a backend: verification per conf->tls_mode, root
 * certificate, client certificate and key.  Returns NULL for
 * LMS_TLS_DISABLE (and *err is empty), or on error with a message. */
SSL_CTX *lms_tls_client_ctx(const struct lms_backend_conf *conf, char *err, size_t errlen);

#endif
