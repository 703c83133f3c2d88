/*
 * tls.c - build SSL_CTX objects; no I/O here (see conn.c).
 */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "tls.h"

/* Describe the newest OpenSSL error after what. */
static void tls_err(char *err, size_t errlen, const char *what, const char *file)
{
	char buf[160] = "unknown error";
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s %s: %s", what, file ? file : "", buf);
	ERR_clear_error();
}

/* Common hardening: TLS 1.2 or newer, no renegotiation, no compression. */
static SSL_CTX *tls_ctx_new(const SSL_METHOD *m, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(m);
	if (!ctx) {
		tls_err(err, errlen, "cannot create TLS context", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

SSL_CTX *lms_tls_server_ctx(const char *cert, const char *key, const char *ca, bool require_client,
			    char *err, size_t errlen)
{
	SSL_CTX *ctx = tls_ctx_new(TLS_server_method(), err, errlen);
	if (!ctx)
		return NULL;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* A client's TCP half-close without close_notify is its end of input,
	 * as for PostgreSQL and MariaDB: the requests before it are answered
	 * (a message it cut short is dropped), not an error that loses them. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_err(err, errlen, "LMS_SSL_CERT: cannot use certificate", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		tls_err(err, errlen, "LMS_SSL_KEY: cannot use private key", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_err(err, errlen, "LMS_SSL_KEY does not match LMS_SSL_CERT", key);
		goto fail;
	}
	if (ca) {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			tls_err(err, errlen, "LMS_SSL_CA: cannot load", ca);
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (require_client ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *lms_tls_client_ctx(const struct lms_backend_conf *conf, char *err, size_t errlen)
{
	err[0] = 0;
	if (conf->tls_mode == LMS_TLS_DISABLE)
		return NULL;
	SSL_CTX *ctx = tls_ctx_new(TLS_client_method(), err, errlen);
	if (!ctx)
		return NULL;
	bool verify = conf->tls_mode == LMS_TLS_VERIFY_CA || conf->tls_mode == LMS_TLS_VERIFY_FULL;
	if (verify) {
		int ok = conf->tls_root_cert
			 ? SSL_CTX_load_verify_locations(ctx, conf->tls_root_cert, NULL)
			 : SSL_CTX_set_default_verify_paths(ctx);
		if (ok != 1) {
			tls_err(err, errlen, "sslrootcert: cannot load", conf->tls_root_cert);
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (conf->tls_cert) {
		if (SSL_CTX_use_certificate_chain_file(ctx, conf->tls_cert) != 1) {
			tls_err(err, errlen, "sslcert: cannot use", conf->tls_cert);
			goto fail;
		}
		const char *key = conf->tls_key ? conf->tls_key : conf->tls_cert;
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
			tls_err(err, errlen, "sslkey: cannot use", key);
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
