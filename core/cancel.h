/*
 * cancel.h - map the cancel keys the proxy hands to clients onto the
 * backends' own keys, and send cancel requests.
 *
 * The table is shared by all workers behind one mutex: it changes once per
 * login and logout, and is read only when a client asks to cancel.
 */
#ifndef LMS_CANCEL_H
#define LMS_CANCEL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "runtime.h"

/* Remember that proxy_key stands for key on backend b.  Returns 0 or -1. */
int lms_cancel_register(const uint8_t proxy_key[8], const struct lms_backend *b,
			const uint8_t *key, size_t key_len);
void lms_cancel_unregister(const uint8_t proxy_key[8]);

/* Find proxy_key; copies the backend key out.  Returns 0, -1 if unknown. */
int lms_cancel_lookup(const uint8_t proxy_key[8], const struct lms_backend **b,
		      uint8_t key[LMS_KEY_MAX], size_t *key_len);

/* The backend key of the one registered proxy key that begins with
 * prefix[0..len) (4 <= len <= 8).  Returns 0, or -1 when none or several
 * do (plugins reach it as lms_host_api.backend_key_of, ABI 1.3). */
int lms_cancel_lookup_prefix(const uint8_t *prefix, size_t len, uint8_t key[LMS_KEY_MAX], size_t *key_len);

/* Open a connection to b on base, send the cancel packet for key, wait for
 * the server to close it (at most a few seconds), and clean up. */
void lms_cancel_send(struct event_base *base, const struct lms_backend *b,
		     const uint8_t *key, size_t key_len);

/* Random bytes for a proxy key whose first 4 bytes no registered key has. */
void lms_cancel_new_key(uint8_t proxy_key[8]);

#endif
