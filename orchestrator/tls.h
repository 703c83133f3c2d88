/*
 * tls.h - the orchestrator's TLS contexts: its API listener (client
 * certificates checked against ORCH_CA_TLS_CERT) and its calls to the
 * proxies' admin APIs (it verifies them with the same CA and presents its
 * own certificate).
 */
#ifndef ORCH_TLS_H
#define ORCH_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* Server context from ORCH_TLS_CERT/ORCH_TLS_KEY.  With ca, a client
 * certificate is requested and must verify against it (a caller without
 * one completes the handshake; orch_tls_peer_ok tells the routes).
 * Returns NULL with a message naming the setting and file in err. */
SSL_CTX *orch_tls_server_ctx(const char *cert, const char *key, const char *ca, char *err, size_t errlen);

/* Client context that verifies servers against ca and presents cert/key.
 * Returns NULL with a message. */
SSL_CTX *orch_tls_client_ctx(const char *cert, const char *key, const char *ca, char *err, size_t errlen);

/* True when ssl's peer presented a certificate that verified. */
bool orch_tls_peer_ok(SSL *ssl);

#endif
