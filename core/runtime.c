/*
 * runtime.c - turn settings into loaded plugins, resolved backends and
 * TLS contexts, before any worker starts.
 */
#include "autoconfig.h"

#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "log.h"
#include "runtime.h"
#include "shadow.h"
#include "stats.h"
#include "tls.h"

/* Resolve b's host and publish its addresses.  Returns 0 or a
 * getaddrinfo error code. */
static int backend_resolve(struct lms_backend *b)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(b->conf.host, b->conf.port, &hints, &res);
	if (rc != 0)
		return rc;
	struct sockaddr_storage addrs[LMS_MAX_ADDRS];
	socklen_t lens[LMS_MAX_ADDRS];
	int n = 0;
	for (struct addrinfo *ai = res; ai && n < LMS_MAX_ADDRS; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(addrs[0]))
			continue;
		memset(&addrs[n], 0, sizeof(addrs[n]));
		memcpy(&addrs[n], ai->ai_addr, ai->ai_addrlen);
		lens[n++] = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	if (n == 0)
		return EAI_NONAME;
	pthread_mutex_lock(&b->addr_lock);
	bool changed = n != b->naddrs || memcmp(addrs, b->addrs, sizeof(addrs[0]) * (size_t)n) != 0;
	bool first = b->naddrs == 0;
	if (changed) {
		memcpy(b->addrs, addrs, sizeof(addrs[0]) * (size_t)n);
		memcpy(b->addrlens, lens, sizeof(lens[0]) * (size_t)n);
		b->naddrs = n;
	}
	pthread_mutex_unlock(&b->addr_lock);
	if (changed && !first)
		lms_log(LMS_LOG_LEVEL_INFO, "dns_changed", "backend=%s role=%s addresses=%d", b->label,
			b->role_name, n);
	return 0;
}

int lms_backend_addr(const struct lms_backend *b, int i, struct sockaddr_storage *out, socklen_t *len)
{
	struct lms_backend *mb = (struct lms_backend *)b; /* the lock is not part of b's value */
	int rc = -1;
	pthread_mutex_lock(&mb->addr_lock);
	if (i >= 0 && i < b->naddrs) {
		memcpy(out, &b->addrs[i], sizeof(*out));
		*len = b->addrlens[i];
		rc = 0;
	}
	pthread_mutex_unlock(&mb->addr_lock);
	return rc;
}

void lms_backend_set_version(const struct lms_backend *b, const char *version)
{
	struct lms_backend *mb = (struct lms_backend *)b; /* the lock is not part of b's value */
	pthread_mutex_lock(&mb->addr_lock);
	bool changed = strncmp(mb->server_version, version, sizeof(mb->server_version) - 1) != 0;
	if (changed)
		snprintf(mb->server_version, sizeof(mb->server_version), "%s", version);
	pthread_mutex_unlock(&mb->addr_lock);
	if (changed)
		lms_log(LMS_LOG_LEVEL_INFO, "backend_version", "backend=%s role=%s version=\"%s\"", b->label, b->role_name,
			version);
}

void lms_backend_version(const struct lms_backend *b, char *out, size_t cap)
{
	struct lms_backend *mb = (struct lms_backend *)b;
	pthread_mutex_lock(&mb->addr_lock);
	snprintf(out, cap, "%s", mb->server_version);
	pthread_mutex_unlock(&mb->addr_lock);
}

void lms_runtime_refresh_dns(struct lms_runtime *rt)
{
	for (int i = 0; i < 2; i++) {
		struct lms_backend *b = &rt->backends[i];
		int rc = backend_resolve(b);
		if (rc != 0)
			lms_log(LMS_LOG_LEVEL_WARN, "dns_failed", "backend=%s error=\"%s\" (keeping the last addresses)",
				b->label, gai_strerror(rc));
	}
}

/* Parse a URL with the backend's plugin, resolve it, build its TLS. */
static int backend_init(struct lms_backend *b, const char *role, const char *key,
			const char *url, char *err, size_t errlen)
{
	char perr[512] = "";
	b->role_name = role;
	if (b->plugin.d->parse_url(url, &b->conf, perr, sizeof(perr)) < 0) {
		snprintf(err, errlen, "%s: %s", key, perr);
		return -1;
	}
	if (!b->conf.host || !b->conf.port || b->conf.host[0] == '/') {
		snprintf(err, errlen, "%s: give a TCP host and port (unix sockets are not supported)", key);
		return -1;
	}
	snprintf(b->label, sizeof(b->label), "%s:%s", b->conf.host, b->conf.port);
	int rc = backend_resolve(b);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot resolve host %s: %s", key, b->label, gai_strerror(rc));
		return -1;
	}
	b->tls = lms_tls_client_ctx(&b->conf, perr, sizeof(perr));
	if (!b->tls && perr[0]) {
		snprintf(err, errlen, "%s: %s", key, perr);
		return -1;
	}
	return 0;
}

static int load_plugin(struct lms_plugin *p, const struct lms_config *cfg, const char *name,
		       char *err, size_t errlen)
{
	if (lms_plugin_load(p, cfg->plugin_dir, name, err, errlen) < 0)
		return -1;
	lms_log(LMS_LOG_LEVEL_INFO, "plugin_loaded", "dialect=%s family=%s version=%s path=%s",
		p->d->name, p->d->family, p->d->version, p->path);
	return 0;
}

/* Does plugin p describe results for comparison (ABI 1.1 be_observe)? */
static bool plugin_observes(const struct lms_plugin *p)
{
	const struct lms_dialect *d = p->d;
	return LMS_DIALECT_HAS(d, be_observe);
}

/* Parse shadowMode and check both plugins can shadow. */
static int shadow_init(struct lms_runtime *rt, const struct lms_config *cfg, char *err, size_t errlen)
{
	rt->shadow_mode = lms_shadow_mode_parse(cfg->shadow_mode);
	if (rt->shadow_mode < 0) {
		snprintf(err, errlen, "shadowMode '%s' is not valid (allowed: none, async, sync, strict-sync)",
			 cfg->shadow_mode);
		return -1;
	}
	if (rt->shadow_mode == LMS_SHADOW_NONE)
		return 0;
	for (int i = 0; i < 2; i++) {
		const struct lms_plugin *p = &rt->backends[i].plugin;
		/* families first: across them the requests must be translated
		 * (ABI 1.3: the clients' plugin describes, this one encodes) */
		if (strcmp(p->d->family, rt->front->family) != 0 &&
		    (!lms_plugin_describes_requests(rt->front) || !lms_plugin_encodes_requests(p->d))) {
			snprintf(err, errlen, "shadowMode %s: the %s dialect speaks %s and the clients speak %s; "
				 "shadowing across wire protocols needs both plugins to translate requests "
				 "(plugin ABI 1.3 fe_request, be_encode_request) (use shadowMode none)",
				 cfg->shadow_mode, p->d->name, p->d->family, rt->front->family);
			return -1;
		}
	}
	for (int i = 0; i < 2; i++) {
		const struct lms_plugin *p = &rt->backends[i].plugin;
		if (!plugin_observes(p)) {
			snprintf(err, errlen, "shadowMode %s needs plugin %s to compare results (plugin ABI 1.1 "
				 "be_observe); it was built for ABI %u.%u: rebuild it, or use shadowMode none",
				 cfg->shadow_mode, p->path, p->d->abi_major, p->d->abi_minor);
			return -1;
		}
	}
	return 0;
}

int lms_runtime_init(struct lms_runtime *rt, const struct lms_config *cfg, char *err, size_t errlen)
{
	memset(rt, 0, sizeof(*rt));
	rt->cfg = cfg;
	for (int i = 0; i < 2; i++)
		pthread_mutex_init(&rt->backends[i].addr_lock, NULL);
	rt->source_of_truth = LMS_ROLE_SOURCE;
	lms_coord_init(rt);
	struct lms_backend *src = &rt->backends[LMS_ROLE_SOURCE];
	struct lms_backend *tgt = &rt->backends[LMS_ROLE_TARGET];
	if (load_plugin(&src->plugin, cfg, cfg->source_dialect, err, errlen) < 0)
		return -1;
	if (load_plugin(&tgt->plugin, cfg, cfg->target_dialect, err, errlen) < 0)
		return -1;
	rt->front = src->plugin.d;
	if (shadow_init(rt, cfg, err, errlen) < 0)
		return -1;
	if (backend_init(src, "source", "INIT_SOURCE", cfg->init_source, err, errlen) < 0)
		return -1;
	if (backend_init(tgt, "target", "INIT_TARGET", cfg->init_target, err, errlen) < 0)
		return -1;
	if (cfg->ssl_cert) {
		rt->server_tls = lms_tls_server_ctx(cfg->ssl_cert, cfg->ssl_key, cfg->ssl_ca, true, err, errlen);
		if (!rt->server_tls)
			return -1;
	}
	return 0;
}

/* The strings were allocated by the plugin through the host API. */
static void conf_free(struct lms_backend_conf *c)
{
	void (*hfree)(void *) = lms_plugin_host_api()->free;
	if (c->password)
		memset(c->password, 0, strlen(c->password));
	char *strs[] = { c->host, c->port, c->user, c->password, c->database,
			 c->tls_root_cert, c->tls_cert, c->tls_key };
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (strs[i])
			hfree(strs[i]);
	memset(c, 0, sizeof(*c));
}

void lms_runtime_free(struct lms_runtime *rt)
{
	for (int i = 0; i < 2; i++) {
		conf_free(&rt->backends[i].conf);
		if (rt->backends[i].tls)
			SSL_CTX_free(rt->backends[i].tls);
		lms_plugin_unload(&rt->backends[i].plugin);
	}
	if (rt->server_tls)
		SSL_CTX_free(rt->server_tls);
	rt->server_tls = NULL;
	lms_coord_free(rt);
}

bool lms_runtime_cutover_refused(const struct lms_runtime *rt, int phase, int truth, char *why, size_t cap)
{
	const struct lms_dialect *t = rt->backends[LMS_ROLE_TARGET].plugin.d;
	if ((phase == LMS_PHASE_SERVING && truth == LMS_ROLE_SOURCE) || !t || !rt->front ||
	    strcmp(t->family, rt->front->family) == 0)
		return false;
	/* ABI 1.4: the sessions are translated (fe_answer, be_answer) and new
	 * clients log in through the clients' plugin (fe_login_done) */
	if (lms_plugin_serves_front(rt->front) && lms_plugin_serves_back(t) && LMS_DIALECT_HAS(rt->front, fe_login_done))
		return false;
	snprintf(why, cap, "a cutover is not supported with these dialects: the clients speak %s and the target "
		 "(%s) speaks %s, and one of the plugins cannot translate answers between them or log clients in itself (plugin "
		 "ABI 1.4 fe_answer, be_answer, fe_login_done); this instance keeps serving from the source", rt->front->family, t->name,
		 t->family);
	return true;
}

const struct lms_backend *lms_runtime_truth(struct lms_runtime *rt, int *role)
{
	int r = lms_runtime_truth_role(rt);
	if (role)
		*role = r;
	return &rt->backends[r];
}
