/*
 * conn.h - one non-blocking socket, plain or TLS, with its two buffers.
 *
 * The only code that calls recv/send/SSL_read/SSL_write.  A connection
 * never decides what to do with bytes: its owner (a session) gets one
 * callback per readiness event and drives reads, writes and handshakes.
 * Read and write events are added and removed lazily so a quiet
 * connection costs no system calls.
 */
#ifndef LMS_CONN_H
#define LMS_CONN_H

#include <stdbool.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/ssl.h>

#include "buf.h"

enum lms_io {
	LMS_IO_OK = 0,    /* progress made (or nothing left to do) */
	LMS_IO_AGAIN = 1, /* would block; events are armed to continue */
	LMS_IO_EOF = 2,   /* peer closed */
	LMS_IO_ERR = 3    /* error: see lms_conn_error() */
};

struct lms_conn;

/* Called for readiness; what is EV_READ and/or EV_WRITE or EV_TIMEOUT. */
typedef void (*lms_conn_cb)(struct lms_conn *c, short what, void *owner);

struct lms_conn {
	int fd;
	SSL *ssl;
	struct event ev_read;
	struct event ev_write;
	struct lms_buf in;     /* bytes received, not yet processed */
	struct lms_buf out;    /* bytes to send */
	lms_conn_cb cb;
	void *owner;
	bool read_on;          /* ev_read is added */
	bool write_on;         /* ev_write is added */
	bool want_read;        /* owner wants input (not back-pressured) */
	bool write_blocked;    /* last send hit EAGAIN */
	bool read_wants_write; /* TLS read needs the socket writable */
	bool write_wants_read; /* TLS write needs the socket readable */
	bool tls_pending;      /* TLS holds decrypted bytes we did not take */
	bool connecting;       /* non-blocking connect in progress */
	bool handshaking;      /* TLS handshake in progress */
	bool tls_prefix;       /* the handshake reads bytes taken from in first */
	bool events_set;       /* events were assigned */
	int deferred;          /* EOF or ERR seen after data: report next read */
	char err[160];         /* last error, for logs and client messages */
};

/* Set up c around fd (non-blocking) on base; callbacks go to cb(owner). */
int lms_conn_init(struct lms_conn *c, struct event_base *base, int fd,
		  lms_conn_cb cb, void *owner);

/* Start a non-blocking connect to addr.  Returns OK (connected), AGAIN
 * (wait for EV_WRITE, then call lms_conn_connect_done) or ERR. */
int lms_conn_connect(struct lms_conn *c, const struct sockaddr *addr,
		     socklen_t len);
int lms_conn_connect_done(struct lms_conn *c);

/* Begin TLS on an established socket (server or client side).  host,
 * when set, is used for SNI and, if verify_host, name checks. */
int lms_conn_tls_begin(struct lms_conn *c, SSL_CTX *ctx, bool server,
		       const char *host, bool verify_host);
/* Drive the handshake: OK (done), AGAIN or ERR. */
int lms_conn_tls_handshake(struct lms_conn *c);
/* After lms_conn_tls_begin: what c->in holds is the peer's first TLS
 * bytes (a MySQL client starts its handshake right after its SSLRequest,
 * with no answer to wait for).  The handshake reads them first, then the
 * socket; c->in is emptied.  Returns OK or ERR. */
int lms_conn_tls_take_input(struct lms_conn *c);

/* Read what is available into c->in (up to its room).  Sets *n to the
 * bytes read.  OK when bytes were read or the buffer is full. */
int lms_conn_read(struct lms_conn *c, size_t *n);

/* Send c->out.  OK when it is empty, AGAIN when it is not. */
int lms_conn_flush(struct lms_conn *c);

/* Re-compute which events must be armed from the flags.  Call after
 * changing want_read or after any read/flush. */
void lms_conn_update_events(struct lms_conn *c);

/* Make the read callback run soon even if the socket is quiet (bytes
 * pending inside TLS, or input left after back-pressure lifted). */
void lms_conn_kick(struct lms_conn *c);

/* Move an open connection (socket, TLS, buffers) from src to dst, owned
 * from now on by cb(owner); src is left closed-empty (fd -1).  dst must
 * not hold an open connection. */
void lms_conn_move(struct lms_conn *dst, struct lms_conn *src, lms_conn_cb cb, void *owner);

/* Nothing buffered, pending inside TLS, or half done (connect, handshake,
 * a read or write waiting on the other readiness): the connection could
 * be picked up by another thread's loop. */
bool lms_conn_quiet(const struct lms_conn *c);

/* Moving a connection to another event loop: lms_conn_detach, on the
 * thread of the loop it is on, removes its events from it (no events
 * fire any more; lms_conn_update_events does nothing); lms_conn_attach,
 * on the new loop's thread, assigns them to base, disarmed, for
 * lms_conn_update_events to arm.  The events live in the connection:
 * attach allocates nothing and cannot fail. */
void lms_conn_detach(struct lms_conn *c);
void lms_conn_attach(struct lms_conn *c, struct event_base *base);

/* Tell the peer nothing more comes (call with the output empty): TLS's
 * close_notify when there is TLS, then the TCP half-close.  The
 * connection can still be read. */
void lms_conn_shutdown_write(struct lms_conn *c);

/* Close the socket, free TLS state and buffers.  Safe to call twice. */
void lms_conn_close(struct lms_conn *c);

/* The peer's address as "ip:port" into buf. */
void lms_conn_peer_name(const struct lms_conn *c, char *buf, size_t cap);

#endif
