/* config.c - where the CLI finds the orchestrator: flags, CLI_* environment
 * variables, defaults, checked before any request is sent. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One setting: its flag, its variable, and the value chosen. */
struct setting {
	const char *flag;
	const char *env;
	const char *value;
	const char *from; /* the flag or the variable, for messages */
};

static void pick(struct setting *s, const char *flag_value)
{
	const char *env = getenv(s->env);

	s->value = NULL;
	s->from = s->flag;
	if (flag_value) {
		s->value = flag_value;
	} else if (env && *env) {
		s->value = env;
		s->from = s->env;
	}
}

/* readable: 0 if PATH can be opened for reading, else -1 with ERR set. */
static int readable(const struct setting *s, char *err, size_t errlen)
{
	if (!s->value || access(s->value, R_OK) == 0)
		return 0;
	snprintf(err, errlen, "cannot read %s %s: %s", s->from, s->value, strerror(errno));
	return -1;
}

int lms_cli_config_resolve(const struct lms_cli_flags *flags,
			   struct lms_cli_endpoint *ep, char **url_buf,
			   char *err, size_t errlen)
{
	struct setting url = {"--orchestrator-url", "CLI_ORCHESTRATOR_URL", NULL, NULL};
	struct setting ca = {"--tls-ca-cert", "CLI_TLS_CA_CERT", NULL, NULL};
	struct setting cert = {"--tls-client-cert", "CLI_TLS_CLIENT_CERT", NULL, NULL};
	struct setting key = {"--tls-client-key", "CLI_TLS_CLIENT_KEY", NULL, NULL};
	size_t n;
	int https;

	*url_buf = NULL;
	pick(&url, flags->url);
	pick(&ca, flags->ca_cert);
	pick(&cert, flags->client_cert);
	pick(&key, flags->client_key);
	if (!url.value)
		url.value = LMS_CLI_DEFAULT_URL;

	https = strncmp(url.value, "https://", 8) == 0;
	if (!https && strncmp(url.value, "http://", 7) != 0) {
		snprintf(err, errlen, "%s must start with http:// or https:// (got \"%s\"), "
			 "e.g. https://orchestrator:4200", url.from, url.value);
		return -1;
	}
	if (strlen(url.value) <= (https ? 8u : 7u)) {
		snprintf(err, errlen, "%s has no host (got \"%s\"), e.g. https://orchestrator:4200",
			 url.from, url.value);
		return -1;
	}
	const struct setting *tls[] = {&ca, &cert, &key};
	for (size_t i = 0; i < 3; i++) {
		if (!https && tls[i]->value) {
			snprintf(err, errlen, "%s is set but the orchestrator URL %s is not https://; "
				 "use an https:// URL (%s) or drop %s", tls[i]->from, url.value,
				 url.from, tls[i]->from);
			return -1;
		}
	}
	if (!cert.value != !key.value) {
		const struct setting *given = cert.value ? &cert : &key;
		const struct setting *missing = cert.value ? &key : &cert;
		snprintf(err, errlen, "%s needs %s too (or %s): a client certificate and its "
			 "key go together", given->from, missing->flag, missing->env);
		return -1;
	}
	if (readable(&ca, err, errlen) < 0 || readable(&cert, err, errlen) < 0 ||
	    readable(&key, err, errlen) < 0)
		return -1;

	*url_buf = strdup(url.value);
	if (!*url_buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = strlen(*url_buf);
	while (n > 0 && (*url_buf)[n - 1] == '/')
		(*url_buf)[--n] = '\0';
	ep->url = *url_buf;
	ep->ca_cert = ca.value;
	ep->client_cert = cert.value;
	ep->client_key = key.value;
	return 0;
}
