/* commands.c - the CLI's commands: each one orchestrator API call (or two,
 * for a begin that aborts itself), rendered as a table or as JSON.
 *
 * Exit codes: an answer 2xx is 0; 504, and 409 whose error names
 * replication, are timeouts (4); any other refusal is 1; no answer is 3.
 */
#include "commands.h"

#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

#define PROG "molt-lms-cli"
#define ABORT_HINT PROG " cutover consistent abort"
/* A plain request (status, initialize, abort) must answer within this. */
#define SIMPLE_TIMEOUT_MS 60000L
/* Extra time a commit gets beyond its --replication-timeout. */
#define COMMIT_MARGIN_MS 60000L

/* One answer: the HTTP response and its JSON document (NULL if not JSON). */
struct reply {
	struct lms_cli_response resp;
	json_t *doc;
};

static void reply_free(struct reply *r)
{
	lms_cli_response_free(&r->resp);
	json_decref(r->doc);
	r->doc = NULL;
}

/* say: one line on stderr: "molt-lms-cli: " KIND, then the message. */
static void say(const char *kind, const char *fmt, va_list ap)
{
	fprintf(stderr, PROG ": %s", kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errorf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("error: ", fmt, ap);
	va_end(ap);
}

static void notef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notef(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("", fmt, ap);
	va_end(ap);
}

static const char *str_field(const json_t *obj, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : dflt;
}

/* exit_for_refusal: the exit code for an HTTP error status CODE with the
 * error document DOC. */
static int exit_for_refusal(long code, const json_t *doc)
{
	const char *msg = str_field(doc, "error", "");

	if (code == 504)
		return LMS_CLI_EXIT_TIMEOUT;
	if (code == 409 && strstr(msg, "replication"))
		return LMS_CLI_EXIT_TIMEOUT;
	return LMS_CLI_EXIT_FAILED;
}

/* report_blocking: the instances and connections an error document names
 * (begin's "blocking" and "unreachable"), one line each, on stderr. */
static void report_blocking(const json_t *doc)
{
	json_t *inst, *conn;
	size_t i, j;

	json_array_foreach(json_object_get(doc, "blocking"), i, inst) {
		const char *id = str_field(inst, "instance", str_field(inst, "id", "?"));
		json_t *conns = json_object_get(inst, "connections");
		if (json_array_size(conns) == 0)
			fprintf(stderr, "  blocking: instance %s\n", id);
		json_array_foreach(conns, j, conn) {
			char *cid = lms_cli_field(conn, "id");
			char *age = lms_cli_field(conn, "transaction_age_s");
			char *stmt = lms_cli_field(conn, "last_statement");
			fprintf(stderr, "  blocking: instance %s, connection %s (%s for %s s): %s\n", id,
				cid ? cid : "?", str_field(conn, "state", "?"), age ? age : "?",
				stmt ? stmt : "-");
			free(cid);
			free(age);
			free(stmt);
		}
	}
	json_array_foreach(json_object_get(doc, "unreachable"), i, inst)
		fprintf(stderr, "  unreachable: instance %s: %s\n",
			str_field(inst, "instance", str_field(inst, "id", "?")),
			str_field(inst, "error", "no answer"));
}

/* report_refusal: say why the orchestrator refused WHAT. */
static void report_refusal(const char *what, const struct reply *r)
{
	const char *msg = str_field(r->doc, "error", NULL);

	if (msg) {
		errorf("%s: the orchestrator answered %ld: %s", what, r->resp.code, msg);
	} else {
		/* Not one of its error documents: show the start of the body. */
		char start[201];
		size_t n = r->resp.len < 200 ? r->resp.len : 200;
		for (size_t i = 0; i < n; i++)
			start[i] = (r->resp.body[i] < 0x20 && r->resp.body[i] >= 0) ? ' ' : r->resp.body[i];
		start[n] = '\0';
		errorf("%s: HTTP %ld from %s: \"%s\"; is that the orchestrator's API "
		       "(--orchestrator-url, CLI_ORCHESTRATOR_URL)?", what, r->resp.code, "the server",
		       start);
	}
	report_blocking(r->doc);
}

/* call: send METHOD PATH with BODY (borrowed, NULL: none) for WHAT (a
 * description for messages).  On an answer, r->resp and r->doc hold it
 * (release with reply_free, also on failure).  Returns the exit code:
 * 0 for a 2xx JSON object; otherwise the failure is reported on stderr
 * (and, with -o json, the orchestrator's error document is printed on
 * stdout).  *ST (if non-NULL) receives how the request ended. */
static int call(const struct lms_cli_opts *o, const char *what, const char *method,
		const char *path, const json_t *body, long timeout_ms,
		const volatile sig_atomic_t *cancel, struct reply *r,
		enum lms_cli_http_status *st)
{
	char err[1024];
	char *text = NULL;
	enum lms_cli_http_status s;

	memset(r, 0, sizeof(*r));
	if (body && !(text = json_dumps(body, JSON_COMPACT))) {
		errorf("out of memory");
		return LMS_CLI_EXIT_FAILED;
	}
	s = lms_cli_http_request(&o->ep, method, path, text, timeout_ms, cancel, &r->resp, err,
				 sizeof(err));
	free(text);
	if (st)
		*st = s;
	switch (s) {
	case LMS_CLI_HTTP_OK:
		break;
	case LMS_CLI_HTTP_UNREACHABLE:
		errorf("%s", err);
		return LMS_CLI_EXIT_UNREACHABLE;
	case LMS_CLI_HTTP_TIMEOUT:
		errorf("%s: %s", what, err);
		return LMS_CLI_EXIT_UNREACHABLE;
	case LMS_CLI_HTTP_CANCELLED:
		notef("%s: %s", what, err);
		return LMS_CLI_EXIT_INTERRUPTED;
	default:
		errorf("%s: %s", what, err);
		return LMS_CLI_EXIT_FAILED;
	}
	r->doc = json_loadb(r->resp.body, r->resp.len, 0, NULL);
	if (r->resp.code < 200 || r->resp.code > 299) {
		if (o->format == LMS_CLI_FORMAT_JSON && r->doc)
			lms_cli_print_raw_json(r->resp.body, r->resp.len, stdout);
		report_refusal(what, r);
		return exit_for_refusal(r->resp.code, r->doc);
	}
	if (!json_is_object(r->doc)) {
		errorf("%s: the answer from %s is not a JSON object; is --orchestrator-url "
		       "(CLI_ORCHESTRATOR_URL) the orchestrator's API?", what, o->ep.url);
		return LMS_CLI_EXIT_FAILED;
	}
	return LMS_CLI_EXIT_OK;
}

/* ---- rendering helpers */

/* add_fields: label/value rows: pairs[2*i] is the label, pairs[2*i+1] the
 * member of DOC whose text is shown. */
static void add_fields(struct lms_cli_table *t, const json_t *doc, const char *const *pairs,
		       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *v = lms_cli_field(doc, pairs[2 * i + 1]);
		const char *row[2] = {pairs[2 * i], v};
		lms_cli_table_add(t, row);
		free(v);
	}
}

/* print_fields: a block of N label/value lines (see add_fields). */
static void print_fields(const json_t *doc, const char *const *pairs, size_t n)
{
	struct lms_cli_table *t = lms_cli_table_new(2, NULL);

	if (!t)
		return;
	add_fields(t, doc, pairs, n);
	lms_cli_table_print(t, stdout);
	lms_cli_table_free(t);
}

/* add_rows: one row of T per element of the array ARR; column i shows the
 * element's member FIELDS[i], or PREFIX where FIELDS[i] is NULL (e.g. the
 * instance the elements belong to).  N is at most 16.  Returns the number
 * of rows added. */
static size_t add_rows(struct lms_cli_table *t, const json_t *arr, const char *prefix,
		       const char *const *fields, size_t n)
{
	json_t *item;
	size_t i, rows = 0;

	json_array_foreach(arr, i, item) {
		char *cells[16] = {0};
		for (size_t j = 0; j < n && j < 16; j++)
			cells[j] = fields[j] ? lms_cli_field(item, fields[j]) : strdup(prefix);
		if (lms_cli_table_add(t, (const char *const *)cells) == 0)
			rows++;
		for (size_t j = 0; j < n && j < 16; j++)
			free(cells[j]);
	}
	return rows;
}

/* shadow_mode_of: the shadow mode the instances report: one mode, "mixed
 * (a, b)" when they differ, "-" when there are none.  Caller frees. */
static char *shadow_mode_of(const json_t *instances)
{
	json_t *modes = json_array(), *inst, *m;
	char *out = NULL;
	size_t i, j;

	if (!modes)
		return NULL;
	json_array_foreach(instances, i, inst) {
		const char *mode = str_field(inst, "shadow_mode", NULL);
		int seen = 0;
		if (!mode)
			continue;
		json_array_foreach(modes, j, m)
			seen |= strcmp(json_string_value(m), mode) == 0;
		if (!seen)
			json_array_append_new(modes, json_string(mode));
	}
	if (json_array_size(modes) == 0) {
		out = strdup("-");
	} else if (json_array_size(modes) == 1) {
		out = strdup(json_string_value(json_array_get(modes, 0)));
	} else {
		size_t len = 16;
		json_array_foreach(modes, j, m)
			len += strlen(json_string_value(m)) + 2;
		if ((out = malloc(len))) {
			strcpy(out, "mixed (");
			json_array_foreach(modes, j, m) {
				if (j)
					strcat(out, ", ");
				strcat(out, json_string_value(m));
			}
			strcat(out, ")");
		}
	}
	json_decref(modes);
	return out;
}

/* finish: print a successful answer (JSON as received, or RENDER). */
static int finish(const struct lms_cli_opts *o, struct reply *r, void (*render)(const json_t *))
{
	if (o->format == LMS_CLI_FORMAT_JSON)
		lms_cli_print_raw_json(r->resp.body, r->resp.len, stdout);
	else
		render(r->doc);
	reply_free(r);
	return fflush(stdout) == 0 ? LMS_CLI_EXIT_OK : LMS_CLI_EXIT_FAILED;
}

/* run_simple: one request and its rendering, for the commands that are
 * nothing more.  BODY (may be NULL) is owned and released here. */
static int run_simple(const struct lms_cli_opts *o, const char *what, const char *method,
		      const char *path, json_t *body, long timeout_ms,
		      void (*render)(const json_t *))
{
	struct reply r;
	int rc = call(o, what, method, path, body, timeout_ms, NULL, &r, NULL);

	json_decref(body);
	if (rc != LMS_CLI_EXIT_OK) {
		reply_free(&r);
		return rc;
	}
	return finish(o, &r, render);
}

/* ---- initialize */

static void print_names(const char *label, const json_t *arr)
{
	json_t *v;
	size_t i;

	printf("%s:", label);
	if (json_array_size(arr) == 0)
		printf(" none");
	json_array_foreach(arr, i, v)
		printf("%s %s", i ? "," : "", json_is_string(v) ? json_string_value(v) : "?");
	printf("\n");
}

static void render_initialize(const json_t *doc)
{
	const json_t *st = json_object_get(doc, "state");
	char *epoch = lms_cli_field(st, "epoch");

	print_names("created", json_object_get(doc, "created"));
	print_names("already there", json_object_get(doc, "existing"));
	printf("state: epoch %s, source of truth %s, phase %s\n", epoch ? epoch : "-",
	       str_field(st, "source_of_truth", "-"), str_field(st, "phase", "-"));
	free(epoch);
}

int lms_cli_cmd_initialize(const struct lms_cli_opts *o)
{
	return run_simple(o, "initialize", "POST", "/api/v1/initialize", NULL, SIMPLE_TIMEOUT_MS,
			  render_initialize);
}

/* ---- status */

static void render_status(const json_t *doc)
{
	static const char *const head[] = {"source of truth", "source_of_truth", "epoch", "epoch",
					   "phase", "phase", "cutover", "cutover_id",
					   "source dialect", "source_dialect"};
	static const char *const cols[] = {"INSTANCE", "HEALTH", "HEARTBEAT AGE S", "ACKED EPOCH",
					   "PHASE", "SOURCE OF TRUTH", "SHADOW MODE", "VERSION",
					   "ADMIN URL"};
	json_t *instances = json_object_get(doc, "instances"), *inst;
	struct lms_cli_table *t;
	char *shadow = shadow_mode_of(instances);
	size_t i;

	t = lms_cli_table_new(2, NULL);
	if (t) {
		const char *row[2] = {"shadow mode", shadow};
		add_fields(t, doc, head, 1);
		lms_cli_table_add(t, row);
		add_fields(t, doc, head + 2, 4);
		lms_cli_table_print(t, stdout);
		lms_cli_table_free(t);
	}
	free(shadow);
	if (json_array_size(instances) == 0) {
		printf("\nno instances registered\n");
		return;
	}
	t = lms_cli_table_new(9, cols);
	if (!t)
		return;
	json_array_foreach(instances, i, inst) {
		char *age = lms_cli_field(inst, "heartbeat_age_s");
		char *acked = lms_cli_field(inst, "acked_epoch");
		const char *row[9] = {
			str_field(inst, "id", "-"),
			json_is_true(json_object_get(inst, "healthy")) ? "healthy" : "UNHEALTHY",
			age, acked, str_field(inst, "phase", "-"), str_field(inst, "source_of_truth", "-"),
			str_field(inst, "shadow_mode", "-"), str_field(inst, "version", "-"),
			str_field(inst, "admin_url", "-")};
		lms_cli_table_add(t, row);
		free(age);
		free(acked);
	}
	printf("\n");
	lms_cli_table_print(t, stdout);
	lms_cli_table_free(t);
}

int lms_cli_cmd_status(const struct lms_cli_opts *o)
{
	return run_simple(o, "status", "GET", "/api/v1/status", NULL, SIMPLE_TIMEOUT_MS,
			  render_status);
}

/* ---- connections list */

static void render_connections(const json_t *doc)
{
	static const char *const cols[] = {"INSTANCE", "ID", "PEER", "USER", "DATABASE", "STATE",
					   "TXN AGE S", "BACKEND", "QUEUED", "LAST STATEMENT"};
	static const char *const fields[] = {NULL, "id", "peer", "user", "database", "state",
					     "transaction_age_s", "backend", "queued",
					     "last_statement"};
	struct lms_cli_table *t = lms_cli_table_new(10, cols);
	json_t *inst;
	size_t i, rows = 0;

	if (!t)
		return;
	json_array_foreach(json_object_get(doc, "instances"), i, inst)
		rows += add_rows(t, json_object_get(inst, "connections"),
				 str_field(inst, "id", "-"), fields, 10);
	if (rows)
		lms_cli_table_print(t, stdout);
	else
		printf("no client connections\n");
	lms_cli_table_free(t);
	json_array_foreach(json_object_get(doc, "unreachable"), i, inst)
		notef("warning: instance %s did not answer, its connections are not listed: %s",
		      str_field(inst, "id", "?"), str_field(inst, "error", "no answer"));
}

int lms_cli_cmd_connections(const struct lms_cli_opts *o)
{
	return run_simple(o, "connections list", "GET", "/api/v1/connections", NULL,
			  SIMPLE_TIMEOUT_MS, render_connections);
}

/* ---- cutover consistent begin / commit / abort */

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	interrupted = sig;
}

/* catch_interrupts: Ctrl-C (and SIGTERM) set `interrupted` instead of
 * killing the process, and do not restart system calls.  ON=0 restores
 * the default action, so a second Ctrl-C during the abort ends the CLI. */
static void catch_interrupts(int on)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on ? on_interrupt : SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static json_t *dry_run_body(const struct lms_cli_opts *o)
{
	return json_pack("{s:b}", "dry_run", o->dry_run);
}

static void render_abort(const json_t *doc)
{
	char *id = lms_cli_field(doc, "cutover_id");
	char *epoch = lms_cli_field(doc, "epoch");

	if (json_object_get(doc, "dry_run") || !json_object_get(doc, "epoch"))
		lms_cli_print_generic(doc, stdout);
	else
		printf("cutover %s aborted: serving on %s again (epoch %s)\n", id ? id : "-",
		       str_field(doc, "source_of_truth", "the same source of truth"),
		       epoch ? epoch : "-");
	free(id);
	free(epoch);
}

/* self_abort: abort the cutover this begin started, because of WHY.
 * Returns FAILURE_RC when the abort worked (or there was nothing left to
 * abort), else the abort's own failure code. */
static int self_abort(const struct lms_cli_opts *o, const char *why, int failure_rc)
{
	struct lms_cli_opts quiet = *o;
	json_t *body = json_pack("{s:b}", "dry_run", 0);
	struct reply r;
	int rc;

	notef("%s: aborting the cutover", why);
	quiet.format = LMS_CLI_FORMAT_TABLE; /* stdout keeps begin's document only */
	rc = call(&quiet, "abort", "POST", "/api/v1/cutover/consistent/abort", body,
		  SIMPLE_TIMEOUT_MS, NULL, &r, NULL);
	json_decref(body);
	if (rc == LMS_CLI_EXIT_OK) {
		char *epoch = lms_cli_field(r.doc, "epoch");
		notef("cutover aborted: traffic resumed on %s (epoch %s)",
		      str_field(r.doc, "source_of_truth", "the source of truth"), epoch ? epoch : "-");
		free(epoch);
		rc = failure_rc;
	} else if (r.resp.code == 409) {
		notef("nothing to abort: the orchestrator says the proxies are not paused");
		rc = failure_rc;
	} else {
		errorf("the abort failed: the proxies may still be paused; run '%s' until it "
		       "succeeds, and check '%s status'", ABORT_HINT, PROG);
	}
	reply_free(&r);
	return rc;
}

static void render_begin(const json_t *doc)
{
	char *id = lms_cli_field(doc, "cutover_id");
	char *epoch = lms_cli_field(doc, "epoch");
	char *at = lms_cli_field(doc, "paused_at");

	if (json_is_true(json_object_get(doc, "dry_run")) || !json_object_get(doc, "cutover_id")) {
		lms_cli_print_generic(doc, stdout);
	} else {
		printf("cutover %s begun: epoch %s, %zu instance(s) drained, traffic paused since %s\n",
		       id ? id : "-", epoch ? epoch : "-",
		       json_array_size(json_object_get(doc, "instances")), at ? at : "-");
		lms_cli_print_list(doc, "instances", "instances", stdout);
		printf("\nnext: check that replication has caught up, then run '" PROG
		       " cutover consistent commit';\nto resume on the current source of truth "
		       "instead, run '" ABORT_HINT "'\n");
	}
	free(id);
	free(epoch);
	free(at);
}

/* A begin failure that leaves the proxies paused (per the API: 502, 504,
 * or another server error), so --begin-timeout aborts it. */
static int begin_left_paused(long code)
{
	return code >= 500;
}

int lms_cli_cmd_begin(const struct lms_cli_opts *o)
{
	double drain = o->drain_timeout_s;
	long limit_ms = o->begin_timeout_s > 0 ? (long)(o->begin_timeout_s * 1000) : 0;
	enum lms_cli_http_status st;
	json_t *body = dry_run_body(o);
	struct reply r;
	int rc;

	/* Leave the orchestrator time to answer with what blocked the drain
	 * before --begin-timeout expires. */
	if (drain < 0 && o->begin_timeout_s > 0)
		drain = o->begin_timeout_s * 0.8;
	if (!body || (drain >= 0 && json_object_set_new(body, "drain_timeout_s", json_real(drain)))) {
		json_decref(body);
		errorf("out of memory");
		return LMS_CLI_EXIT_FAILED;
	}
	if (!o->dry_run) {
		notef("beginning a consistent cutover: traffic pauses until commit or abort; "
		      "Ctrl-C aborts while this waits; later, abort with '" ABORT_HINT "'");
		interrupted = 0;
		catch_interrupts(1);
	}
	rc = call(o, "cutover consistent begin", "POST", "/api/v1/cutover/consistent/begin", body,
		  limit_ms, o->dry_run ? NULL : &interrupted, &r, &st);
	json_decref(body);
	if (o->dry_run)
		goto done;
	catch_interrupts(0);
	if (interrupted && !(st == LMS_CLI_HTTP_OK && r.resp.code >= 300 && r.resp.code < 500)) {
		/* Ctrl-C, even if begin had just succeeded: the operator wants out.
		 * (A begin the orchestrator refused changed nothing to abort.) */
		rc = self_abort(o, "interrupted", LMS_CLI_EXIT_INTERRUPTED);
	} else if (st == LMS_CLI_HTTP_TIMEOUT) {
		char why[96];
		snprintf(why, sizeof(why), "begin did not finish within --begin-timeout %g s",
			 o->begin_timeout_s);
		rc = self_abort(o, why, LMS_CLI_EXIT_TIMEOUT);
	} else if (rc != LMS_CLI_EXIT_OK && st == LMS_CLI_HTTP_OK &&
		   begin_left_paused(r.resp.code)) {
		if (o->begin_timeout_s > 0)
			rc = self_abort(o, "begin failed", rc);
		else
			notef("the proxies stay paused: run '" ABORT_HINT "' to resume on the "
			      "current source of truth, or retry begin");
	}
done:
	if (rc != LMS_CLI_EXIT_OK) {
		reply_free(&r);
		return rc;
	}
	return finish(o, &r, render_begin);
}

static void render_commit(const json_t *doc)
{
	char *id = lms_cli_field(doc, "cutover_id");
	char *epoch = lms_cli_field(doc, "epoch");
	char *paused = lms_cli_field(doc, "paused_ms");
	char *lag = lms_cli_field(doc, "replication_lag_ms");

	if (json_is_true(json_object_get(doc, "dry_run")) || !json_object_get(doc, "epoch"))
		lms_cli_print_generic(doc, stdout);
	else
		printf("cutover %s committed: the source of truth is now %s (epoch %s); traffic "
		       "was paused %s ms; replication lag %s ms\n", id ? id : "-",
		       str_field(doc, "source_of_truth", "-"), epoch ? epoch : "-",
		       paused ? paused : "-", lag ? lag : "-");
	free(id);
	free(epoch);
	free(paused);
	free(lag);
}

int lms_cli_cmd_commit(const struct lms_cli_opts *o)
{
	json_t *body = dry_run_body(o);
	long limit_ms = 0;
	int rc;

	if (!body ||
	    json_object_set_new(body, "skip_replication_check", json_boolean(o->skip_replication_check)) ||
	    (o->replication_timeout_s >= 0 &&
	     json_object_set_new(body, "replication_timeout_s", json_real(o->replication_timeout_s)))) {
		json_decref(body);
		errorf("out of memory");
		return LMS_CLI_EXIT_FAILED;
	}
	if (o->replication_timeout_s >= 0)
		limit_ms = (long)(o->replication_timeout_s * 1000) + COMMIT_MARGIN_MS;
	rc = run_simple(o, "cutover consistent commit", "POST", "/api/v1/cutover/consistent/commit",
			body, limit_ms, render_commit);
	if (rc == LMS_CLI_EXIT_TIMEOUT)
		notef("the proxies stay paused: wait for replication and retry commit, or pass "
		      "--skip-replication-check if that table is not replicated, or run '"
		      ABORT_HINT "'");
	return rc;
}

int lms_cli_cmd_abort(const struct lms_cli_opts *o)
{
	json_t *body = dry_run_body(o);

	if (!body) {
		errorf("out of memory");
		return LMS_CLI_EXIT_FAILED;
	}
	return run_simple(o, "cutover consistent abort", "POST", "/api/v1/cutover/consistent/abort",
			  body, SIMPLE_TIMEOUT_MS, render_abort);
}

/* ---- cutover get_metadata */

static void render_metadata(const json_t *doc)
{
	static const char *const head[] = {"cutover", "id", "status", "status", "from", "from",
					   "to", "to", "begun at", "begun_at", "ended at",
					   "ended_at", "paused ms", "paused_ms", "error", "error"};

	print_fields(doc, head, 8);
	lms_cli_print_list(doc, "instances", "instances", stdout);
	lms_cli_print_list(doc, "events", "events", stdout);
}

int lms_cli_cmd_get_metadata(const struct lms_cli_opts *o)
{
	char path[64];

	snprintf(path, sizeof(path), "/api/v1/cutovers/%lld", o->cutover_id);
	return run_simple(o, "cutover get_metadata", "GET", path, NULL, SIMPLE_TIMEOUT_MS,
			  render_metadata);
}

/* ---- instances forget */

static void render_forget(const json_t *doc)
{
	const json_t *f = json_object_get(doc, "forgotten");
	char *age = lms_cli_field(f, "heartbeat_age_s");
	char *cutover = lms_cli_field(doc, "cutover_id");

	printf("instance %s forgotten: last heartbeat %s s ago; its admin API: %s\n",
	       str_field(f, "id", "-"), age ? age : "-", str_field(f, "admin_api", "-"));
	if (json_object_get(doc, "cutover_id"))
		printf("\ncutover %s is in progress: run '" PROG " cutover consistent begin' again to "
		       "carry on without it,\nor '" ABORT_HINT "'\n", cutover ? cutover : "-");
	free(age);
	free(cutover);
}

int lms_cli_cmd_forget(const struct lms_cli_opts *o)
{
	char *id = lms_cli_http_escape(o->instance_id);
	char *path = NULL;
	int rc;

	if (!id || asprintf(&path, "/api/v1/instances/%s", id) < 0) {
		free(id);
		errorf("out of memory");
		return LMS_CLI_EXIT_FAILED;
	}
	free(id);
	rc = run_simple(o, "instances forget", "DELETE", path, NULL, SIMPLE_TIMEOUT_MS,
			render_forget);
	free(path);
	return rc;
}
