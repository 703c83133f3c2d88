/* http.c - the CLI's HTTP(S) client for the orchestrator API (libcurl).
 *
 * The only file that talks to libcurl.  It turns curl's outcome into the
 * four cases the CLI's exit codes care about (an answer, unreachable,
 * timed out, cancelled) and words each failure with what to do about it.
 */
#include "autoconfig.h"

#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An orchestrator answer is a small JSON document; refuse anything huge. */
#define LMS_CLI_MAX_BODY (64u * 1024u * 1024u)
#define LMS_CLI_CONNECT_TIMEOUT_MS 10000L

struct body_buf {
	char *data;
	size_t len, cap;
	int too_big;
};

int lms_cli_http_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void lms_cli_http_cleanup(void)
{
	curl_global_cleanup();
}

void lms_cli_response_free(struct lms_cli_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

char *lms_cli_http_escape(const char *s)
{
	CURL *h = curl_easy_init(); /* curl_easy_escape wants one before 7.82 */
	char *esc = h ? curl_easy_escape(h, s, 0) : NULL;
	char *out = esc ? strdup(esc) : NULL;

	curl_free(esc);
	if (h)
		curl_easy_cleanup(h);
	return out;
}

/* curl write callback: append to a growing NUL-terminated buffer. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body_buf *b = userdata;
	size_t n = size * nmemb;

	if (b->len + n + 1 > LMS_CLI_MAX_BODY) {
		b->too_big = 1;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->data, cap);
		if (!p)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* curl progress callback: a non-zero return makes curl give up with
 * CURLE_ABORTED_BY_CALLBACK.  curl calls it at least once a second while
 * waiting, so a signal handler's flag is seen promptly. */
static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	const volatile sig_atomic_t *cancel = clientp;
	return cancel && *cancel ? 1 : 0;
}

static int is_tls_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return 1;
	default:
		return 0;
	}
}

/* peer_closed: whether the server accepted the TCP connection and then
 * dropped it (what a TLS server does with a client it refuses; depending
 * on timing curl notices during the handshake, the request, or even while
 * still looking at the new socket). */
static int peer_closed(CURL *h, CURLcode rc)
{
	double connect_s = 0;
	long os_errno = 0;

	curl_easy_getinfo(h, CURLINFO_CONNECT_TIME, &connect_s);
	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
	return connect_s > 0 || os_errno == ENOTCONN || os_errno == ECONNRESET ||
	       os_errno == EPIPE || rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_RECV_ERROR ||
	       rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING;
}

/* describe_failure: one line in ERR saying why the request failed and
 * what to check.  WHY is curl's own message; CONNECTED says whether the
 * server accepted the connection and then dropped it (peer_closed). */
static void describe_failure(const struct lms_cli_endpoint *ep, CURLcode rc,
			     const char *why, int connected, char *err, size_t errlen)
{
	int https = strncmp(ep->url, "https://", 8) == 0;
	int client_cert_refused = strstr(why, "alert certificate required") ||
				  strstr(why, "alert bad certificate") ||
				  strstr(why, "alert unknown ca") ||
				  strstr(why, "alert handshake failure");

	if (rc == CURLE_PEER_FAILED_VERIFICATION ||
	    (rc == CURLE_SSL_CONNECT_ERROR && strstr(why, "certificate verify failed")))
		snprintf(err, errlen,
			 "cannot verify the orchestrator's certificate at %s: %s; "
			 "check --tls-ca-cert or CLI_TLS_CA_CERT (the CA that signed the "
			 "orchestrator's certificate)", ep->url, why);
	else if (rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE)
		snprintf(err, errlen,
			 "cannot use the TLS files for %s: %s; check --tls-ca-cert, "
			 "--tls-client-cert and --tls-client-key (PEM files, the key "
			 "matching the certificate)", ep->url, why);
	else if (https && strstr(why, "wrong version number"))
		snprintf(err, errlen,
			 "the server at %s does not speak TLS: %s; use an http:// "
			 "--orchestrator-url if the orchestrator runs without TLS", ep->url, why);
	else if (https && (client_cert_refused || connected))
		/* A server that wants a client certificate may just close the
		 * connection, so curl's message varies; say what is likely. */
		snprintf(err, errlen,
			 "the orchestrator at %s refused the TLS session: %s; %s: check "
			 "--tls-client-cert and --tls-client-key (CLI_TLS_CLIENT_CERT, "
			 "CLI_TLS_CLIENT_KEY)", ep->url, why,
			 ep->client_cert ? "it requires a client certificate signed by its CA"
					 : "it may require a client certificate (mutual TLS)");
	else if (is_tls_error(rc))
		snprintf(err, errlen,
			 "TLS with the orchestrator at %s failed: %s; check that it serves "
			 "TLS (https://) and the --tls-* options", ep->url, why);
	else
		snprintf(err, errlen,
			 "cannot reach the orchestrator at %s: %s; check --orchestrator-url "
			 "or CLI_ORCHESTRATOR_URL", ep->url, why);
}

static enum lms_cli_http_status classify(CURL *h, CURLcode rc)
{
	double connected = 0;

	switch (rc) {
	case CURLE_OK:
		return LMS_CLI_HTTP_OK;
	case CURLE_ABORTED_BY_CALLBACK:
		return LMS_CLI_HTTP_CANCELLED;
	case CURLE_OPERATION_TIMEDOUT:
		/* Timed out before the connection was up: unreachable. */
		curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME, &connected);
		return connected > 0 ? LMS_CLI_HTTP_TIMEOUT : LMS_CLI_HTTP_UNREACHABLE;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_PARTIAL_FILE:
		return LMS_CLI_HTTP_UNREACHABLE;
	default:
		return is_tls_error(rc) ? LMS_CLI_HTTP_UNREACHABLE : LMS_CLI_HTTP_FAILED;
	}
}

/* add_header: append LINE to *LIST; -1 (list unchanged) when out of memory. */
static int add_header(struct curl_slist **list, const char *line)
{
	struct curl_slist *l = curl_slist_append(*list, line);
	if (!l)
		return -1;
	*list = l;
	return 0;
}

/* set_tls: the TLS options, when given.  Returns curl's first error. */
static CURLcode set_tls(CURL *h, const struct lms_cli_endpoint *ep)
{
	CURLcode rc = CURLE_OK;

	if (ep->ca_cert)
		rc = curl_easy_setopt(h, CURLOPT_CAINFO, ep->ca_cert);
	if (rc == CURLE_OK && ep->client_cert)
		rc = curl_easy_setopt(h, CURLOPT_SSLCERT, ep->client_cert);
	if (rc == CURLE_OK && ep->client_key)
		rc = curl_easy_setopt(h, CURLOPT_SSLKEY, ep->client_key);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	return rc;
}

enum lms_cli_http_status lms_cli_http_request(const struct lms_cli_endpoint *ep,
					      const char *method, const char *path,
					      const char *body, long timeout_ms,
					      const volatile sig_atomic_t *cancel,
					      struct lms_cli_response *resp,
					      char *err, size_t errlen)
{
	enum lms_cli_http_status st = LMS_CLI_HTTP_FAILED;
	char curl_err[CURL_ERROR_SIZE] = "";
	struct body_buf b = {0};
	struct curl_slist *hdrs = NULL;
	char *url = NULL;
	CURLcode rc;
	CURL *h;

	resp->code = 0;
	resp->body = NULL;
	resp->len = 0;
	h = curl_easy_init();
	if (!h || asprintf(&url, "%s%s", ep->url, path) < 0) {
		url = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (add_header(&hdrs, "Accept: application/json") < 0 ||
	    (body && add_header(&hdrs, "Content-Type: application/json") < 0) ||
	    add_header(&hdrs, "Expect:") < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	long connect_ms = LMS_CLI_CONNECT_TIMEOUT_MS;
	if (timeout_ms > 0 && timeout_ms < connect_ms)
		connect_ms = timeout_ms;

	rc = curl_easy_setopt(h, CURLOPT_URL, url);
	if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_USERAGENT, "molt-lms-cli/" PACKAGE_VERSION);
	if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)cancel);
	if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
	if (rc == CURLE_OK && body) rc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	if (rc == CURLE_OK) rc = set_tls(h, ep);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "cannot set up the request to %s: %s", url,
			 curl_easy_strerror(rc));
		goto out;
	}

	rc = curl_easy_perform(h);
	st = classify(h, rc);
	if (st == LMS_CLI_HTTP_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->code);
		if (!b.data && !(b.data = calloc(1, 1))) {
			snprintf(err, errlen, "out of memory");
			st = LMS_CLI_HTTP_FAILED;
			goto out;
		}
		resp->body = b.data;
		resp->len = b.len;
		b.data = NULL;
	} else if (st == LMS_CLI_HTTP_TIMEOUT) {
		snprintf(err, errlen, "the orchestrator at %s did not answer %s %s within %.1f s",
			 ep->url, method, path, timeout_ms / 1000.0);
	} else if (st == LMS_CLI_HTTP_CANCELLED) {
		snprintf(err, errlen, "interrupted while waiting for %s %s", method, path);
	} else if (b.too_big) {
		snprintf(err, errlen, "the answer from %s is larger than %u bytes; is "
			 "--orchestrator-url the orchestrator's API?", url, LMS_CLI_MAX_BODY);
		st = LMS_CLI_HTTP_FAILED;
	} else {
		describe_failure(ep, rc, curl_err[0] ? curl_err : curl_easy_strerror(rc),
				 peer_closed(h, rc), err, errlen);
	}
out:
	free(b.data);
	free(url);
	curl_slist_free_all(hdrs);
	if (h)
		curl_easy_cleanup(h);
	return st;
}
