/*
 * tls.c - SSL_CTX objects for the orchestrator; no I/O here.
 */
#include "autoconfig.h"

#include "tls.h"

#include <stdio.h>

#include <openssl/err.h>
#include <openssl/x509.h>

/* err = "<setting>: <what> <file>: <OpenSSL's reason>". */
static void fail_msg(char *err, size_t errlen, const char *setting, const char *what, const char *file)
{
	char reason[160] = "unknown error";
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	snprintf(err, errlen, "%s: %s %s: %s", setting, what, file, reason);
	ERR_clear_error();
}

/* A context with TLS >= 1.2, no renegotiation and the cert/key/CA loaded. */
static SSL_CTX *ctx_with_files(const SSL_METHOD *method, const char *cert, const char *key, const char *ca,
			       char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (!ctx) {
		fail_msg(err, errlen, "TLS", "cannot create a context", "");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	if (cert && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		fail_msg(err, errlen, "ORCH_TLS_CERT", "cannot use certificate", cert);
		goto fail;
	}
	if (key && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		fail_msg(err, errlen, "ORCH_TLS_KEY", "cannot use private key", key);
		goto fail;
	}
	if (cert && key && SSL_CTX_check_private_key(ctx) != 1) {
		fail_msg(err, errlen, "ORCH_TLS_KEY", "does not match ORCH_TLS_CERT:", key);
		goto fail;
	}
	if (ca && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		fail_msg(err, errlen, "ORCH_CA_TLS_CERT", "cannot load", ca);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *orch_tls_server_ctx(const char *cert, const char *key, const char *ca, char *err, size_t errlen)
{
	SSL_CTX *ctx = ctx_with_files(TLS_server_method(), cert, key, ca, err, errlen);
	if (!ctx || !ca)
		return ctx;
	/* Ask for a certificate; a wrong one fails the handshake, a missing
	 * one is refused per route (/metrics and /healthz need none). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
	if (names)
		SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

SSL_CTX *orch_tls_client_ctx(const char *cert, const char *key, const char *ca, char *err, size_t errlen)
{
	SSL_CTX *ctx = ctx_with_files(TLS_client_method(), cert, key, ca, err, errlen);
	if (ctx)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

bool orch_tls_peer_ok(SSL *ssl)
{
	X509 *peer = SSL_get1_peer_certificate(ssl);
	bool ok = peer && SSL_get_verify_result(ssl) == X509_V_OK;
	X509_free(peer);
	return ok;
}
