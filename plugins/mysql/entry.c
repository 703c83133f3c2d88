/*
 * entry.c - the dialect table of mysql.so.
 */
#include "autoconfig.h"

#include <string.h>

#include "mysql.h"

const struct lms_host_api *my_host;

/* Fill d and keep host.  The plugin returns LMS_ACT_BACKEND_TLS, so it
 * needs a core of ABI 1.2 or later; with 1.3 (backend_key_of) a KILL may
 * name a session by the proxy's connection id (kill.c). */
const struct lms_dialect *my_entry(const struct lms_host_api *host, struct lms_dialect *d)
{
	if (!host || host->abi_major != LMS_PLUGIN_ABI_MAJOR || host->abi_minor < 2 ||
	    host->size < offsetof(struct lms_host_api, backend_key_of))
		return NULL;
	my_host = host;
	memset(d, 0, sizeof(*d));
	d->abi_major = LMS_PLUGIN_ABI_MAJOR;
	d->abi_minor = LMS_PLUGIN_ABI_MINOR;
	d->size = sizeof(*d);
	d->name = "mysql";
	d->family = "mysql";
	d->version = PACKAGE_VERSION;
	d->parse_url = my_parse_url;
	d->check_backend = NULL;
	d->fe_new = my_fe_new;
	d->fe_free = my_fe_free;
	d->fe_accept = my_fe_accept;
	d->fe_frame = my_fe_frame;
	d->fe_decode = my_fe_decode;
	d->fe_tls_done = my_fe_tls_done;
	d->fe_error = my_fe_error;
	d->be_new = my_be_new;
	d->be_free = my_be_free;
	d->be_start = my_be_start;
	d->be_frame = my_be_frame;
	d->be_decode = my_be_decode;
	d->be_cancel = my_be_cancel;
	d->be_observe = my_be_observe;
	d->be_encode_request = my_be_encode_request;
	d->fe_request = my_fe_request;
	d->fe_statement = my_fe_statement;
	d->fe_error_in_answer = my_fe_error_in_answer;
	d->fe_login_done = my_fe_login_done;
	if (host->abi_minor >= 4) { /* serving after a cutover needs a 1.4 core */
		d->fe_set_translated = my_fe_set_translated;
		d->fe_answer = my_fe_answer;
	}
	if (host->abi_minor >= 7) /* and relaying such a session again */
		d->fe_set_relayed = my_fe_set_relayed;
	if (host->abi_minor >= 9) /* its isolation level on a new connection */
		d->fe_switch_state = my_fe_switch_state;
	return d;
}
