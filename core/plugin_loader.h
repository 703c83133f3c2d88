/*
 * plugin_loader.h - load <plugin-dir>/<dialect>.so and check it.
 */
#ifndef LMS_PLUGIN_LOADER_H
#define LMS_PLUGIN_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "lms/plugin.h"

struct lms_plugin {
	const struct lms_dialect *d;
	void *handle;   /* from dlopen; owned here */
	char path[4096];
};

/* Load dialect name from dir.  Returns 0, or -1 with a message in err that
 * names the path tried and, for a version refusal, both versions. */
int lms_plugin_load(struct lms_plugin *p, const char *dir, const char *name,
		    char *err, size_t errlen);

/* Check a dialect table returned by an entry point (also used by tests). */
int lms_plugin_check(const struct lms_dialect *d, const char *name,
		     const char *path, char *err, size_t errlen);

void lms_plugin_unload(struct lms_plugin *p);

/* Does dialect d provide member m, an optional function of ABI 1.1 or
 * later: minor version, the table size it reported, and non-NULL? */
#define LMS_DIALECT_HAS(d, m)                                                              \
	((d)->abi_minor >= 1 && (d)->size >= offsetof(struct lms_dialect, m) + sizeof((d)->m) && \
	 (d)->m != NULL)

/* Does d want to be told the client's messages (be_note_request)? */
bool lms_plugin_has_note_request(const struct lms_dialect *d);

/* Can d take part in a translation between wire families (ABI 1.3,
 * fe_request and be_encode_request in the "1.3 translation" block)?
 * frontend: describes requests; backend: encodes them.  A plugin of an
 * earlier minor never can, whatever its reserved slots hold. */
bool lms_plugin_describes_requests(const struct lms_dialect *d);
bool lms_plugin_encodes_requests(const struct lms_dialect *d);
/* Can d's frontend write an error in place of an answer's last message
 * (ABI 1.3 fe_error_in_answer)? */
bool lms_plugin_errs_in_answer(const struct lms_dialect *d);

/* Can a session be served across wire families (ABI 1.4): d's frontend
 * describes requests and writes answers (fe_request, fe_set_translated,
 * fe_answer); d's backend encodes requests and describes answers
 * (be_encode_request, be_answer)? */
bool lms_plugin_serves_front(const struct lms_dialect *d);
bool lms_plugin_serves_back(const struct lms_dialect *d);

/* Can d's frontend relay again a session translated since an earlier
 * cutover (ABI 1.7 fe_set_relayed)? */
bool lms_plugin_moves_back(const struct lms_dialect *d);

/* Does d describe session state for a translated session's new
 * connection (ABI 1.9, fe_switch_state)? */
bool lms_plugin_carries_state(const struct lms_dialect *d);

/* The host services handed to every plugin. */
const struct lms_host_api *lms_plugin_host_api(void);

#endif
