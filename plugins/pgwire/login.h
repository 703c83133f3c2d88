/*
 * login.h - answers to AuthenticationRequests with a URL's credentials.
 * Internal to the pgwire plugins.
 */
#ifndef LMS_PGWIRE_LOGIN_H
#define LMS_PGWIRE_LOGIN_H

#include <stdint.h>

#include "pgwire.h"

/* One SCRAM-SHA-256 exchange (client side). */
struct pg_scram {
	int step;                    /* 0 idle, 1 first sent, 2 final sent, 3 verified */
	char nonce[32];              /* ours, base64; preset it only in tests */
	char client_first_bare[64];
	uint8_t server_sig[32];      /* what the server must prove */
};

/* Each writes one PasswordMessage/SASL message into out; 0 or -1. */
int pg_login_cleartext(const char *password, struct lms_out *out);
int pg_login_md5(const char *user, const char *password, const uint8_t salt[4], struct lms_out *out);
int pg_scram_begin(struct pg_scram *sc, struct lms_out *out);
/* server_first: the AuthenticationSASLContinue data, NUL-terminated. */
int pg_scram_continue(struct pg_scram *sc, const char *password, const char *server_first,
		      struct lms_out *out);
/* server_final: the AuthenticationSASLFinal data; 0 when the server
 * proved it knows the password, -1 otherwise. */
int pg_scram_finish(struct pg_scram *sc, const char *server_final);

#endif
