/*
 * dial.c - connect to the first reachable address of a database.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dial.h"

int lms_dial(struct lms_conn *c, bool *has_conn, struct event_base *base, const struct lms_backend *b,
	     int *idx, lms_conn_cb cb, void *owner, const char *last_err, char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	snprintf(why, whylen, "%s", last_err);
	for (; lms_backend_addr(b, *idx, &ss, &len) == 0; (*idx)++) {
		if (*has_conn) {
			lms_conn_close(c);
			*has_conn = false;
		}
		int fd = socket(ss.ss_family, SOCK_STREAM, 0);
		if (fd < 0) {
			snprintf(why, whylen, "socket: %s", strerror(errno));
			continue;
		}
		if (lms_conn_init(c, base, fd, cb, owner) < 0) {
			close(fd);
			snprintf(why, whylen, "cannot set up the socket");
			continue;
		}
		*has_conn = true;
		int st = lms_conn_connect(c, (const struct sockaddr *)&ss, len);
		if (st == LMS_IO_OK || st == LMS_IO_AGAIN)
			return st;
		snprintf(why, whylen, "%s", c->err);
	}
	return LMS_IO_ERR;
}
