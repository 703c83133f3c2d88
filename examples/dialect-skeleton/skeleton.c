/*
 * skeleton.c - the smallest complete molt-lms dialect plugin.
 *
 * It implements every required function of struct lms_dialect (see
 * lms/plugin.h and docs/plugin-abi.md) in the most trivial way: it does not
 * understand any protocol.  On accept it asks the core to connect to the
 * database at once (like a server-first protocol), then every byte read
 * from either side is framed 1:1 as one opaque message and streamed to the
 * other side untouched.  It never reports READY, so the core sees one long
 * login; that is enough to show the shape of a plugin, not to be useful.
 *
 * Start a real dialect from here: replace skeleton_frame() with your
 * protocol's framing, decode the startup and the messages that end a
 * request, and report LMS_ACT_READY.  Rename the file, SKELETON_NAME and
 * the .so together: the core loads <plugin-dir>/<dialect>.so and checks
 * that the table's name equals <dialect>.
 *
 * Build:  make                 (skeleton.so, for this header's ABI)
 *         make ABI_OVERRIDE=99 (skeleton.so claiming ABI 99.0: the core
 *                               refuses it; for testing only)
 */
#include <stdio.h>
#include <string.h>

#include <lms/plugin.h>

#define SKELETON_NAME "skeleton"
#define SKELETON_VERSION "0.1.0"

/* The ABI major this table claims.  Only a test overrides it. */
#ifdef ABI_OVERRIDE
#define SKELETON_ABI_MAJOR ABI_OVERRIDE
#else
#define SKELETON_ABI_MAJOR LMS_PLUGIN_ABI_MAJOR
#endif

static const struct lms_host_api *host;

/* Per-connection state.  A real plugin keeps its protocol state here. */
struct skeleton_conn {
	int unused;
};

/* Copy [s, e) into a string allocated with the core's allocator. */
static char *dup_range(const char *s, const char *e)
{
	char *p = host->alloc((size_t)(e - s) + 1);
	if (p) {
		memcpy(p, s, (size_t)(e - s));
		p[e - s] = 0;
	}
	return p;
}

/* Accept any "scheme://[user[:password]@]host:port[/database][?...]".
 * Strings belong to the core once we return (it frees them with
 * host->free, also on error).  Never put the password in err. */
static int skeleton_parse_url(const char *url, struct lms_backend_conf *conf, char *err,
			      size_t errlen)
{
	memset(conf, 0, sizeof(*conf));
	const char *p = strstr(url, "://");
	if (!p) {
		snprintf(err, errlen, "not a URL: give scheme://host:port");
		return -1;
	}
	p += 3;
	const char *end = p + strcspn(p, "/?");
	const char *at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		conf->user = dup_range(p, colon ? colon : at);
		if (colon)
			conf->password = dup_range(colon + 1, at);
		p = at + 1;
	}
	const char *colon = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == ':')
			colon = q;
	if (!colon || colon == p || colon + 1 == end) {
		snprintf(err, errlen, "give scheme://HOST:PORT");
		return -1;
	}
	conf->host = dup_range(p, colon);
	conf->port = dup_range(colon + 1, end);
	if (*end == '/') {
		const char *db = end + 1;
		conf->database = dup_range(db, db + strcspn(db, "?"));
	}
	if (!conf->host || !conf->port) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	conf->tls_mode = LMS_TLS_DISABLE;
	return 0;
}

static void *skeleton_new(void)
{
	struct skeleton_conn *c = host->alloc(sizeof(*c));
	if (c)
		memset(c, 0, sizeof(*c));
	return c;
}

static void *skeleton_fe_new(const struct lms_fe_opts *opts)
{
	(void)opts;
	return skeleton_new();
}

static void *skeleton_be_new(const struct lms_be_opts *opts)
{
	(void)opts;
	return skeleton_new();
}

static void skeleton_free(void *st)
{
	host->free(st);
}

/* Connect to the database right away, before the client sends anything. */
static int skeleton_fe_accept(void *fe, struct lms_out *out, struct lms_result *res)
{
	(void)fe;
	(void)out;
	res->action = LMS_ACT_CONNECT;
	return 0;
}

/* Both directions: whatever bytes are there are one opaque message, streamed
 * to the peer untouched (no NEED_BODY, so decode() is never called). */
static int skeleton_frame(void *st, const uint8_t *p, size_t avail, struct lms_frame *f)
{
	(void)st;
	(void)p;
	f->len = avail;
	f->kind = LMS_MSG_OTHER;
	f->flags = 0;
	return LMS_FRAME_OK;
}

/* Never called (nothing is framed with NEED_BODY); refuse if it is. */
static int skeleton_decode(void *st, const uint8_t *msg, size_t len, struct lms_out *out,
			   struct lms_result *res)
{
	(void)st;
	(void)msg;
	(void)len;
	(void)out;
	(void)res;
	return -1;
}

static void skeleton_fe_tls_done(void *fe)
{
	(void)fe;
}

/* The protocol has no error message: send the text and a newline. */
static int skeleton_fe_error(void *fe, const struct lms_error *err, struct lms_out *out)
{
	(void)fe;
	size_t n = strlen(err->message);
	if (n > LMS_OUT_MAX - 1)
		n = LMS_OUT_MAX - 1;
	memcpy(out->data, err->message, n);
	out->data[n] = '\n';
	out->len = n + 1;
	return 0;
}

/* Nothing to send first: the client's bytes are relayed as they come. */
static int skeleton_be_start(void *be, int tls_active, const struct lms_startup *startup,
			     struct lms_out *out, struct lms_result *res)
{
	(void)be;
	(void)tls_active;
	(void)startup;
	(void)out;
	(void)res;
	return 0;
}

static int skeleton_be_cancel(const uint8_t *key, size_t key_len, struct lms_out *out)
{
	(void)key;
	(void)key_len;
	(void)out;
	return -1; /* no cancel in this protocol */
}

static const struct lms_dialect skeleton = {
	.abi_major = SKELETON_ABI_MAJOR,
	.abi_minor = LMS_PLUGIN_ABI_MINOR,
	.size = sizeof(struct lms_dialect),
	.name = SKELETON_NAME, /* must equal the file name: skeleton.so */
	.family = "skeleton",
	.version = SKELETON_VERSION,
	.parse_url = skeleton_parse_url,
	.check_backend = NULL, /* optional: used by --check-config only */
	.fe_new = skeleton_fe_new,
	.fe_free = skeleton_free,
	.fe_accept = skeleton_fe_accept,
	.fe_frame = skeleton_frame,
	.fe_decode = skeleton_decode,
	.fe_tls_done = skeleton_fe_tls_done,
	.fe_error = skeleton_fe_error,
	.be_new = skeleton_be_new,
	.be_free = skeleton_free,
	.be_start = skeleton_be_start,
	.be_frame = skeleton_frame,
	.be_decode = skeleton_decode,
	.be_cancel = skeleton_be_cancel,
	/* reserved[] stays zero */
};

/* The one exported symbol (everything else is hidden by -fvisibility=hidden). */
__attribute__((visibility("default")))
const struct lms_dialect *lms_dialect_entry(const struct lms_host_api *h);

const struct lms_dialect *lms_dialect_entry(const struct lms_host_api *h)
{
	if (!h || h->abi_major != LMS_PLUGIN_ABI_MAJOR || h->size < sizeof(*h))
		return NULL;
	host = h;
	return &skeleton;
}
