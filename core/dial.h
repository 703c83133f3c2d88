/*
 * dial.h - open a non-blocking connection to a database, trying each of
 * its resolved addresses in turn.  Shared by a session's source-of-truth
 * connection and its shadow connection.
 */
#ifndef LMS_DIAL_H
#define LMS_DIAL_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"
#include "runtime.h"

/* Dial b's addresses from *idx on until one connects (LMS_IO_OK) or is in
 * progress (LMS_IO_AGAIN: wait for the connection's write event, then call
 * lms_conn_connect_done, and on failure come back with *idx + 1).  The
 * connection in *c is closed first when *has_conn, and set up afresh for
 * every attempt with cb(owner).  Returns LMS_IO_ERR when no address is
 * left, with why holding the last failure (last_err when none was tried). */
int lms_dial(struct lms_conn *c, bool *has_conn, struct event_base *base, const struct lms_backend *b,
	     int *idx, lms_conn_cb cb, void *owner, const char *last_err, char *why, size_t whylen);

#endif
