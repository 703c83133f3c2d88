/* commands.h - the CLI's commands: each one orchestrator API call (or two,
 * for a begin that aborts itself), rendered as a table or as JSON. */
#ifndef LMS_CLI_COMMANDS_H
#define LMS_CLI_COMMANDS_H

#include "http.h"

/* Exit codes scripts can rely on (documented in --help and the man page). */
enum lms_cli_exit {
	LMS_CLI_EXIT_OK = 0,
	LMS_CLI_EXIT_FAILED = 1,      /* the orchestrator refused, or the operation failed */
	LMS_CLI_EXIT_USAGE = 2,       /* bad command line or settings */
	LMS_CLI_EXIT_UNREACHABLE = 3, /* connection or TLS failure, no answer */
	LMS_CLI_EXIT_TIMEOUT = 4,     /* drain or replication timeout, --begin-timeout */
	LMS_CLI_EXIT_INTERRUPTED = 130, /* Ctrl-C during begin (the cutover was aborted) */
};

enum lms_cli_format { LMS_CLI_FORMAT_TABLE, LMS_CLI_FORMAT_JSON };

/* What the command line asked for.  A timeout < 0 was not given. */
struct lms_cli_opts {
	struct lms_cli_endpoint ep;
	enum lms_cli_format format;
	double begin_timeout_s;
	double drain_timeout_s;
	double replication_timeout_s;
	int skip_replication_check;
	int dry_run;
	long long cutover_id;
	const char *instance_id; /* instances forget's operand (borrowed from argv) */
};

/* Each returns an enum lms_cli_exit value; results go to stdout, errors
 * and hints to stderr. */
int lms_cli_cmd_initialize(const struct lms_cli_opts *o);
int lms_cli_cmd_status(const struct lms_cli_opts *o);
int lms_cli_cmd_connections(const struct lms_cli_opts *o);
int lms_cli_cmd_begin(const struct lms_cli_opts *o);
int lms_cli_cmd_commit(const struct lms_cli_opts *o);
int lms_cli_cmd_abort(const struct lms_cli_opts *o);
int lms_cli_cmd_get_metadata(const struct lms_cli_opts *o);
int lms_cli_cmd_forget(const struct lms_cli_opts *o);

#endif
