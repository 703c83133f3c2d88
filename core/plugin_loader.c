/*
 * plugin_loader.c - dlopen a dialect plugin and refuse it clearly when it
 * is missing, built for another ABI, or incomplete.
 */
#include "autoconfig.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cancel.h"
#include "creds.h"
#include "log.h"
#include "plugin_loader.h"

static char *host_strdup(const char *s)
{
	return strdup(s);
}

static const struct lms_host_api host_api = {
	.abi_major = LMS_PLUGIN_ABI_MAJOR,
	.abi_minor = LMS_PLUGIN_ABI_MINOR,
	.size = sizeof(struct lms_host_api),
	.log = lms_log_plugin,
	.alloc = malloc,
	.free = free,
	.strdup = host_strdup,
	.backend_key_of = lms_cancel_lookup_prefix,
	.credential_of = lms_creds_lookup,
};

const struct lms_host_api *lms_plugin_host_api(void)
{
	return &host_api;
}

/* Names of the members every dialect must provide, with their offsets. */
struct required_fn {
	const char *name;
	size_t offset;
};

#define REQ(f) { #f, offsetof(struct lms_dialect, f) }
static const struct required_fn required[] = {
	REQ(parse_url), REQ(fe_new), REQ(fe_free), REQ(fe_accept), REQ(fe_frame),
	REQ(fe_decode), REQ(fe_tls_done), REQ(fe_error), REQ(be_new), REQ(be_free),
	REQ(be_start), REQ(be_frame), REQ(be_decode), REQ(be_cancel),
};

int lms_plugin_check(const struct lms_dialect *d, const char *name, const char *path,
		     char *err, size_t errlen)
{
	if (d->abi_major != LMS_PLUGIN_ABI_MAJOR) {
		snprintf(err, errlen, "plugin %s was built for plugin ABI %u.%u, this molt-lms needs "
			 "ABI %d.x: rebuild the plugin against this version's lms/plugin.h",
			 path, d->abi_major, d->abi_minor, LMS_PLUGIN_ABI_MAJOR);
		return -1;
	}
	size_t min = offsetof(struct lms_dialect, reserved);
	if (d->size < min) {
		snprintf(err, errlen, "plugin %s reports a dialect table of %u bytes, at least %zu are "
			 "needed: it is incomplete or corrupt", path, d->size, min);
		return -1;
	}
	if (!d->name || strcmp(d->name, name) != 0) {
		snprintf(err, errlen, "plugin %s calls itself '%s', expected '%s'", path,
			 d->name ? d->name : "(null)", name);
		return -1;
	}
	if (!d->family || !d->version) {
		snprintf(err, errlen, "plugin %s does not state its wire family or version", path);
		return -1;
	}
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		void *fn;
		memcpy(&fn, (const char *)d + required[i].offset, sizeof(fn));
		if (!fn) {
			snprintf(err, errlen, "plugin %s lacks the required function %s", path,
				 required[i].name);
			return -1;
		}
	}
	return 0;
}

/* A dialect name becomes a file name: refuse anything but [a-z0-9_-]. */
static int name_is_safe(const char *name)
{
	if (!*name)
		return 0;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return 0;
	return 1;
}

int lms_plugin_load(struct lms_plugin *p, const char *dir, const char *name, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	if (!name_is_safe(name)) {
		snprintf(err, errlen, "dialect '%s' is not a valid plugin name (allowed: letters, digits, _ and -)", name);
		return -1;
	}
	snprintf(p->path, sizeof(p->path), "%s/%s.so", dir, name);
	if (access(p->path, R_OK) != 0) {
		snprintf(err, errlen, "no plugin for dialect '%s': cannot read %s (%s); check --plugin-dir "
			 "and sourceDialect (postgres|cockroach|mysql)", name, p->path, strerror(errno));
		return -1;
	}
	p->handle = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
	if (!p->handle) {
		snprintf(err, errlen, "cannot load plugin %s: %s", p->path, dlerror());
		return -1;
	}
	lms_dialect_entry_fn entry;
	void *sym = dlsym(p->handle, LMS_DIALECT_ENTRY_SYMBOL);
	if (!sym) {
		snprintf(err, errlen, "%s is not an LMS plugin: it does not export %s", p->path,
			 LMS_DIALECT_ENTRY_SYMBOL);
		goto fail;
	}
	memcpy(&entry, &sym, sizeof(entry));
	p->d = entry(&host_api);
	if (!p->d) {
		snprintf(err, errlen, "plugin %s refused to load with this molt-lms (host ABI %d.%d)",
			 p->path, LMS_PLUGIN_ABI_MAJOR, LMS_PLUGIN_ABI_MINOR);
		goto fail;
	}
	if (lms_plugin_check(p->d, name, p->path, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	dlclose(p->handle);
	p->handle = NULL;
	p->d = NULL;
	return -1;
}

bool lms_plugin_has_note_request(const struct lms_dialect *d)
{
	return LMS_DIALECT_HAS(d, be_note_request);
}

bool lms_plugin_describes_requests(const struct lms_dialect *d)
{
	return d->abi_minor >= 3 && LMS_DIALECT_HAS(d, fe_request);
}

bool lms_plugin_encodes_requests(const struct lms_dialect *d)
{
	return d->abi_minor >= 3 && LMS_DIALECT_HAS(d, be_encode_request);
}

bool lms_plugin_errs_in_answer(const struct lms_dialect *d)
{
	return d->abi_minor >= 3 && LMS_DIALECT_HAS(d, fe_error_in_answer);
}

bool lms_plugin_serves_front(const struct lms_dialect *d)
{
	return d->abi_minor >= 4 && lms_plugin_describes_requests(d) && LMS_DIALECT_HAS(d, fe_set_translated) &&
	       LMS_DIALECT_HAS(d, fe_answer);
}

bool lms_plugin_moves_back(const struct lms_dialect *d)
{
	return d->abi_minor >= 7 && LMS_DIALECT_HAS(d, fe_set_relayed);
}

bool lms_plugin_carries_state(const struct lms_dialect *d)
{
	return d->abi_minor >= 9 && LMS_DIALECT_HAS(d, fe_switch_state);
}

bool lms_plugin_serves_back(const struct lms_dialect *d)
{
	return d->abi_minor >= 4 && lms_plugin_encodes_requests(d) && LMS_DIALECT_HAS(d, be_answer);
}

void lms_plugin_unload(struct lms_plugin *p)
{
	if (p->handle)
		dlclose(p->handle);
	p->handle = NULL;
	p->d = NULL;
}
