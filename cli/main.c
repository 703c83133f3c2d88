/* main.c - molt-lms-cli: the command line (words, options, help) and the
 * dispatch to one command of commands.c.
 *
 * Options may come before, between or after the command words.  An option
 * that the chosen command does not take is a usage error (exit 2).
 */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"

#define PROG "molt-lms-cli"
/* molt-lms keeps at most this many bytes of an instance id. */
#define LMS_CLI_INSTANCE_ID_MAX 299

/* Options that only some commands take. */
enum {
	OPT_BEGIN_TIMEOUT = 1 << 0,
	OPT_DRAIN_TIMEOUT = 1 << 1,
	OPT_REPL_TIMEOUT = 1 << 2,
	OPT_SKIP_REPL = 1 << 3,
	OPT_DRY_RUN = 1 << 4,
	OPT_ID = 1 << 5,
};

struct command {
	const char *words[3];
	int (*run)(const struct lms_cli_opts *o);
	unsigned takes; /* OPT_* */
	const char *operand; /* the one word after the command words it needs
				(e.g. "ID"), or NULL */
	const char *summary;
	const char *help; /* the command's own options and notes */
};

static const struct command commands[] = {
	{{"initialize"}, lms_cli_cmd_initialize, 0, NULL,
	 "create the coordination schema (_molt_lms) if missing; idempotent",
	 "Creates what is missing of schema _molt_lms in the target database (and the\n"
	 "watermark table in the source) and shows what it created and the state.\n"},
	{{"status"}, lms_cli_cmd_status, 0, NULL,
	 "source of truth, shadow mode, epoch, phase and every instance's health",
	 "Shows the cutover state (source of truth, shadow mode as the instances\n"
	 "report it, epoch, phase) and one line per proxy instance with its health.\n"},
	{{"connections", "list"}, lms_cli_cmd_connections, 0, NULL,
	 "every client connection of every instance, with its latest statement",
	 "Lists each client connection on each instance: peer, user, database,\n"
	 "state, transaction age, backend, whether it is queued, latest statement.\n"
	 "Instances that did not answer are named on stderr.\n"},
	{{"cutover", "consistent", "begin"}, lms_cli_cmd_begin,
	 OPT_BEGIN_TIMEOUT | OPT_DRAIN_TIMEOUT | OPT_DRY_RUN, NULL,
	 "pause traffic on every instance and wait until all have drained",
	 "Pauses traffic on every instance (requests are queued) and waits until\n"
	 "each has drained its open transactions.  On failure it names the instances\n"
	 "and connections that blocked.  Ctrl-C while it waits aborts the cutover\n"
	 "(exit 130); afterwards, abort with 'molt-lms-cli cutover consistent abort'.\n"
	 "\n"
	 "  --drain-timeout SECONDS    how long the orchestrator waits for the instances\n"
	 "                             to drain (default: the orchestrator's, or 80% of\n"
	 "                             --begin-timeout)\n"
	 "  --begin-timeout SECONDS    give up after this long and abort the cutover;\n"
	 "                             also abort when begin fails with the proxies\n"
	 "                             paused (without it, they stay paused on failure)\n"
	 "  --dry-run                  report instances, open transactions and queued\n"
	 "                             requests; change nothing\n"},
	{{"cutover", "consistent", "commit"}, lms_cli_cmd_commit,
	 OPT_REPL_TIMEOUT | OPT_SKIP_REPL | OPT_DRY_RUN, NULL,
	 "check replication caught up, then switch the source of truth",
	 "Confirms that replication from the source to the target has caught up (a\n"
	 "watermark written on the source must appear on the target), then switches\n"
	 "every instance to the other database and releases the queued requests.\n"
	 "\n"
	 "  --replication-timeout SECONDS  how long to wait for the watermark\n"
	 "                             (default: the orchestrator's)\n"
	 "  --skip-replication-check   commit without checking replication (for setups\n"
	 "                             that do not replicate _molt_lms.watermark)\n"
	 "  --dry-run                  report what would happen; change nothing\n"},
	{{"cutover", "consistent", "abort"}, lms_cli_cmd_abort, OPT_DRY_RUN, NULL,
	 "resume on the current source of truth (between begin and commit)",
	 "Resumes traffic on the current source of truth after a begin.\n"
	 "\n"
	 "  --dry-run                  report what would happen; change nothing\n"},
	{{"cutover", "get_metadata"}, lms_cli_cmd_get_metadata, OPT_ID, NULL,
	 "one cutover's record: status, times, pause, per-instance status, events",
	 "Shows one cutover: its status, when it began and ended, how long traffic\n"
	 "was paused, any error, each instance's status and the events.\n"
	 "\n"
	 "  -i, --id ID                the cutover's id (required; see 'status')\n"},
	{{"instances", "forget"}, lms_cli_cmd_forget, 0, "ID",
	 "forget an instance that is gone for good, so cutovers stop waiting for it",
	 "Deletes the registration of instance ID (as 'status' shows it) from the\n"
	 "coordination store.  Begin, commit and abort wait for an instance whose\n"
	 "heartbeat stopped less than the orchestrator's --forget-instance-after ago\n"
	 "(default 10 minutes); forget one that crashed to stop waiting now.\n"
	 "Refused (exit 1) while the instance is live (heartbeat under 10 s), or\n"
	 "while its admin API still answers: stop it first.  Allowed during a cutover:\n"
	 "run begin again afterwards.  An id that starts with '-' goes after '--'.\n"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char global_help[] =
	"Options for every command:\n"
	"  --orchestrator-url URL     the orchestrator's API (env CLI_ORCHESTRATOR_URL,\n"
	"                             default " LMS_CLI_DEFAULT_URL "); https:// uses TLS\n"
	"  --tls-ca-cert FILE         CA to verify the orchestrator with (env\n"
	"                             CLI_TLS_CA_CERT; default: the system's CAs)\n"
	"  --tls-client-cert FILE     client certificate for mutual TLS (env\n"
	"                             CLI_TLS_CLIENT_CERT)\n"
	"  --tls-client-key FILE      its private key (env CLI_TLS_CLIENT_KEY)\n"
	"  -o, --output table|json    tables (default) or the orchestrator's JSON as is\n"
	"  -h, --help                 show help (for a command: COMMAND --help)\n"
	"      --version              show the version\n"
	"\n"
	"Exit status:\n"
	"  0    success\n"
	"  1    the orchestrator refused, or the operation failed\n"
	"  2    usage error (command line, settings, unreadable TLS files)\n"
	"  3    cannot reach the orchestrator (connection or TLS failure, no answer)\n"
	"  4    timeout: the instances did not drain (HTTP 504, or --begin-timeout\n"
	"       expired), or replication did not catch up (HTTP 409) in time\n"
	"  130  begin interrupted by Ctrl-C (the cutover was aborted)\n";

static void print_words(const struct command *c, FILE *out)
{
	for (size_t i = 0; i < 3 && c->words[i]; i++)
		fprintf(out, "%s%s", i ? " " : "", c->words[i]);
}

/* matches: whether the command starts with the N words W. */
static int matches(const struct command *c, char *const *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (i >= 3 || !c->words[i] || strcmp(c->words[i], w[i]) != 0)
			return 0;
	return 1;
}

static size_t word_count(const struct command *c)
{
	size_t n = 0;
	while (n < 3 && c->words[n])
		n++;
	return n;
}

/* find: the command named exactly by the N words W, or NULL. */
static const struct command *find(char *const *w, size_t n)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (word_count(&commands[i]) == n && matches(&commands[i], w, n))
			return &commands[i];
	return NULL;
}

/* list_commands: the commands starting with the N words W, one a line. */
static void list_commands(char *const *w, size_t n, FILE *out)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (!matches(&commands[i], w, n))
			continue;
		fprintf(out, "  " PROG " ");
		print_words(&commands[i], out);
		if (commands[i].operand)
			fprintf(out, " %s", commands[i].operand);
		fprintf(out, "\n");
		fprintf(out, "      %s\n", commands[i].summary);
	}
}

/* resolve: the command named by the N words W, where a command that
 * takes an operand may be followed by it (*operand, else NULL); NULL
 * when none.  *extra counts the words after such a command beyond its
 * one operand. */
static const struct command *resolve(char *const *w, size_t n, const char **operand, size_t *extra)
{
	const struct command *c = find(w, n);

	*operand = NULL;
	*extra = 0;
	if (c)
		return c;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		size_t k = word_count(&commands[i]);
		if (!commands[i].operand || n <= k || !matches(&commands[i], w, k))
			continue;
		*operand = w[k];
		*extra = n - k - 1;
		return &commands[i];
	}
	return NULL;
}

static void usage(char *const *w, size_t n, FILE *out)
{
	const char *operand;
	size_t extra;
	const struct command *c = resolve(w, n, &operand, &extra);

	if (c) {
		fprintf(out, "Usage: " PROG " ");
		print_words(c, out);
		fprintf(out, "%s%s%s [OPTIONS]\n\n%s\n", c->takes & OPT_ID ? " -i ID" : "",
			c->operand ? " " : "", c->operand ? c->operand : "", c->summary);
		fprintf(out, "\n%s\n", c->help);
	} else {
		fprintf(out, "Usage: " PROG " COMMAND [OPTIONS]\n\n"
			"Drives a consistent cutover of molt-lms proxies through the orchestrator.\n\n"
			"Commands:\n");
		list_commands(w, n, out);
		fprintf(out, "\n");
	}
	fputs(global_help, out);
	fprintf(out, "\nSee molt-lms-cli(1).\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	return LMS_CLI_EXIT_USAGE;
}

/* parse_seconds: a positive number of seconds for option NAME. */
static int parse_seconds(const char *name, const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);

	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 7 * 86400.0) {
		fprintf(stderr, PROG ": %s needs a number of seconds greater than 0 (got \"%s\")\n",
			name, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_id(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);

	if (errno || end == s || *end || v <= 0) {
		fprintf(stderr, PROG ": -i/--id needs a cutover id, a positive whole number "
			"(got \"%s\"); '" PROG " status' shows the latest\n", s);
		return -1;
	}
	*out = v;
	return 0;
}

static const char *const opt_names[] = {
	"--begin-timeout", "--drain-timeout", "--replication-timeout",
	"--skip-replication-check", "--dry-run", "-i/--id",
};

/* check_takes: every option in GIVEN is one the command C takes. */
static int check_takes(const struct command *c, unsigned given)
{
	for (size_t i = 0; i < sizeof(opt_names) / sizeof(opt_names[0]); i++) {
		if (!(given & (1u << i)) || (c->takes & (1u << i)))
			continue;
		fprintf(stderr, PROG ": '");
		print_words(c, stderr);
		fprintf(stderr, "' does not take %s; see '" PROG " ", opt_names[i]);
		print_words(c, stderr);
		fprintf(stderr, " --help'\n");
		return -1;
	}
	return 0;
}

/* check_operand: command C got exactly one non-empty OPERAND (EXTRA more
 * words after it), short enough to be an instance id. */
static int check_operand(const struct command *c, const char *operand, size_t extra)
{
	const char *what = !operand ? "needs" : extra ? "takes one" : !operand[0] ? "needs a non-empty"
			   : strlen(operand) > LMS_CLI_INSTANCE_ID_MAX ? "needs a shorter" : NULL;

	if (!what)
		return 0;
	fprintf(stderr, PROG ": '");
	print_words(c, stderr);
	fprintf(stderr, "' %s %s (an instance id as '" PROG " status' shows it; at most %d bytes)\n",
		what, c->operand, LMS_CLI_INSTANCE_ID_MAX);
	return -1;
}

int main(int argc, char **argv)
{
	enum { O_URL = 256, O_CA, O_CERT, O_KEY, O_BEGIN, O_DRAIN, O_REPL, O_SKIP, O_DRY, O_VERSION };
	static const struct option longopts[] = {
		{"orchestrator-url", required_argument, NULL, O_URL},
		{"tls-ca-cert", required_argument, NULL, O_CA},
		{"tls-client-cert", required_argument, NULL, O_CERT},
		{"tls-client-key", required_argument, NULL, O_KEY},
		{"output", required_argument, NULL, 'o'},
		{"begin-timeout", required_argument, NULL, O_BEGIN},
		{"drain-timeout", required_argument, NULL, O_DRAIN},
		{"replication-timeout", required_argument, NULL, O_REPL},
		{"skip-replication-check", no_argument, NULL, O_SKIP},
		{"dry-run", no_argument, NULL, O_DRY},
		{"id", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0},
	};
	struct lms_cli_opts o = {.format = LMS_CLI_FORMAT_TABLE, .begin_timeout_s = -1,
				 .drain_timeout_s = -1, .replication_timeout_s = -1};
	struct lms_cli_flags flags = {0};
	const struct command *c;
	char err[1024], *url = NULL;
	unsigned given = 0;
	int help = 0, opt, rc;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":o:i:h", longopts, NULL)) != -1) {
		switch (opt) {
		case O_URL: flags.url = optarg; break;
		case O_CA: flags.ca_cert = optarg; break;
		case O_CERT: flags.client_cert = optarg; break;
		case O_KEY: flags.client_key = optarg; break;
		case 'o':
			if (strcmp(optarg, "table") == 0)
				o.format = LMS_CLI_FORMAT_TABLE;
			else if (strcmp(optarg, "json") == 0)
				o.format = LMS_CLI_FORMAT_JSON;
			else
				return usage_error("-o/--output is table or json (got \"%s\")", optarg);
			break;
		case O_BEGIN:
			given |= OPT_BEGIN_TIMEOUT;
			if (parse_seconds("--begin-timeout", optarg, &o.begin_timeout_s) < 0)
				return LMS_CLI_EXIT_USAGE;
			break;
		case O_DRAIN:
			given |= OPT_DRAIN_TIMEOUT;
			if (parse_seconds("--drain-timeout", optarg, &o.drain_timeout_s) < 0)
				return LMS_CLI_EXIT_USAGE;
			break;
		case O_REPL:
			given |= OPT_REPL_TIMEOUT;
			if (parse_seconds("--replication-timeout", optarg, &o.replication_timeout_s) < 0)
				return LMS_CLI_EXIT_USAGE;
			break;
		case O_SKIP: given |= OPT_SKIP_REPL; o.skip_replication_check = 1; break;
		case O_DRY: given |= OPT_DRY_RUN; o.dry_run = 1; break;
		case 'i':
			given |= OPT_ID;
			if (parse_id(optarg, &o.cutover_id) < 0)
				return LMS_CLI_EXIT_USAGE;
			break;
		case 'h': help = 1; break;
		case O_VERSION:
			printf(PROG " %s\n", PACKAGE_VERSION);
			return LMS_CLI_EXIT_OK;
		case ':':
			return usage_error("%s needs a value; see '" PROG " --help'", argv[optind - 1]);
		default:
			return usage_error("unknown option %s; see '" PROG " --help'", argv[optind - 1]);
		}
	}

	char **words = argv + optind;
	size_t nwords = (size_t)(argc - optind);
	if (help) {
		usage(words, nwords, stdout);
		return LMS_CLI_EXIT_OK;
	}
	const char *operand;
	size_t extra;
	c = resolve(words, nwords, &operand, &extra);
	if (!c) {
		size_t known = 0;
		for (size_t i = 0; i < NCOMMANDS; i++)
			known += matches(&commands[i], words, nwords);
		if (nwords == 0)
			fprintf(stderr, PROG ": a command is needed; one of:\n");
		else if (known)
			fprintf(stderr, PROG ": incomplete command; one of:\n");
		else
			fprintf(stderr, PROG ": unknown command '%s'; one of:\n", words[0]);
		list_commands(words, known ? nwords : 0, stderr);
		fprintf(stderr, "See '" PROG " --help'.\n");
		return LMS_CLI_EXIT_USAGE;
	}
	if (check_takes(c, given) < 0)
		return LMS_CLI_EXIT_USAGE;
	if (c->operand && check_operand(c, operand, extra) < 0)
		return LMS_CLI_EXIT_USAGE;
	o.instance_id = operand;
	if ((c->takes & OPT_ID) && !(given & OPT_ID)) {
		fprintf(stderr, PROG ": cutover get_metadata needs -i ID (the cutover's id; '"
			PROG " status' shows the latest)\n");
		return LMS_CLI_EXIT_USAGE;
	}
	if (lms_cli_config_resolve(&flags, &o.ep, &url, err, sizeof(err)) < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return LMS_CLI_EXIT_USAGE;
	}
	if (lms_cli_http_init() < 0) {
		fprintf(stderr, PROG ": cannot initialize libcurl\n");
		free(url);
		return LMS_CLI_EXIT_FAILED;
	}
	rc = c->run(&o);
	lms_cli_http_cleanup();
	free(url);
	return rc;
}
