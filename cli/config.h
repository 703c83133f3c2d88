/* config.h - where the CLI finds the orchestrator: flags, CLI_* environment
 * variables, defaults. */
#ifndef LMS_CLI_CONFIG_H
#define LMS_CLI_CONFIG_H

#include <stddef.h>

#include "http.h"

#define LMS_CLI_DEFAULT_URL "http://127.0.0.1:4200"

/* The values given on the command line (NULL: not given). */
struct lms_cli_flags {
	const char *url;
	const char *ca_cert;
	const char *client_cert;
	const char *client_key;
};

/* lms_cli_config_resolve: fill EP from FLAGS, then the environment
 * (CLI_ORCHESTRATOR_URL, CLI_TLS_CA_CERT, CLI_TLS_CLIENT_CERT,
 * CLI_TLS_CLIENT_KEY; an empty variable counts as unset), then the
 * defaults.  *URL_BUF receives the normalized URL (owned by the caller,
 * free() it; EP->url points into it); the other strings are borrowed from
 * FLAGS or the environment.  Returns 0, or -1 with a message in ERR saying
 * which setting is wrong and how to fix it. */
int lms_cli_config_resolve(const struct lms_cli_flags *flags,
			   struct lms_cli_endpoint *ep, char **url_buf,
			   char *err, size_t errlen);

#endif
