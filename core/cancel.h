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

/* Open a connection to b on base, send the cancel packet for key, wait for
 * the server to close it (at most a few seconds), and clean up. */
void lms_cancel_send(struct event_base *base, const struct lms_backend *b,
		     const uint8_t *key, size_t key_len);

/* Random bytes for a proxy key that is not in use. */
void lms_cancel_new_key(uint8_t proxy_key[8]);

#endif
