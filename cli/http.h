/* http.h - the CLI's HTTP(S) client for the orchestrator API (libcurl).
 *
 * One blocking request at a time.  The caller owns every buffer it passes;
 * a response's body is owned by the response (lms_cli_response_free).
 */
#ifndef LMS_CLI_HTTP_H
#define LMS_CLI_HTTP_H

#include <signal.h>
#include <stddef.h>

/* Where the orchestrator is and how to talk TLS to it.  Strings are
 * borrowed; NULL means "not given". */
struct lms_cli_endpoint {
	const char *url;         /* base URL, no trailing slash */
	const char *ca_cert;     /* PEM file to verify the server against */
	const char *client_cert; /* PEM client certificate (mutual TLS) */
	const char *client_key;  /* its private key */
};

/* How a request ended. */
enum lms_cli_http_status {
	LMS_CLI_HTTP_OK = 0,      /* an HTTP answer arrived (any status code) */
	LMS_CLI_HTTP_UNREACHABLE, /* connect, resolve or TLS failure */
	LMS_CLI_HTTP_TIMEOUT,     /* no complete answer within the time limit */
	LMS_CLI_HTTP_CANCELLED,   /* *cancel became non-zero while waiting */
	LMS_CLI_HTTP_FAILED,      /* anything else (out of memory, bad URL) */
};

struct lms_cli_response {
	long code;   /* HTTP status code */
	char *body;  /* NUL-terminated, owned; never NULL after LMS_CLI_HTTP_OK */
	size_t len;
};

/* Process-wide setup and teardown (curl_global_*).  Return 0 on success. */
int lms_cli_http_init(void);
void lms_cli_http_cleanup(void);

/* lms_cli_http_request: send METHOD to ep->url + PATH with the JSON BODY
 * (NULL: no body) and wait at most TIMEOUT_MS for the whole answer (0: no
 * limit).  If CANCEL is non-NULL the wait ends soon after *cancel becomes
 * non-zero (set from a signal handler).  On LMS_CLI_HTTP_OK *resp holds the
 * answer (free it with lms_cli_response_free); otherwise ERR holds one line
 * saying what went wrong, with a hint on what to do. */
enum lms_cli_http_status lms_cli_http_request(const struct lms_cli_endpoint *ep,
					      const char *method, const char *path,
					      const char *body, long timeout_ms,
					      const volatile sig_atomic_t *cancel,
					      struct lms_cli_response *resp,
					      char *err, size_t errlen);

void lms_cli_response_free(struct lms_cli_response *resp);

/* lms_cli_http_escape: S percent-encoded for one path segment (every byte
 * but A-Z a-z 0-9 - . _ ~).  Returns a malloc()ed string (the caller
 * frees it) or NULL when out of memory. */
char *lms_cli_http_escape(const char *s);

#endif
