/*
 * conn.c - non-blocking socket and TLS I/O for one connection.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "conn.h"

static void conn_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lms_conn *c = arg;
	(void)fd;
	c->cb(c, what, c->owner);
}

int lms_conn_init(struct lms_conn *c, struct event_base *base, int fd,
		  lms_conn_cb cb, void *owner)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->cb = cb;
	c->owner = owner;
	c->want_read = true;
	if (evutil_make_socket_nonblocking(fd) < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	lms_conn_attach(c, base);
	return 0;
}

void lms_conn_move(struct lms_conn *dst, struct lms_conn *src, lms_conn_cb cb, void *owner)
{
	struct event_base *base = event_get_base(&src->ev_read);
	lms_conn_detach(src);
	*dst = *src;
	memset(src, 0, sizeof(*src));
	src->fd = -1;
	dst->cb = cb;
	dst->owner = owner;
	lms_conn_attach(dst, base);
	lms_conn_update_events(dst);
}

bool lms_conn_quiet(const struct lms_conn *c)
{
	return lms_buf_len(&c->in) == 0 && lms_buf_len(&c->out) == 0 && !c->tls_pending && !c->write_blocked &&
	       !c->read_wants_write && !c->write_wants_read && !c->connecting && !c->handshaking &&
	       !c->tls_prefix && c->deferred == 0;
}

void lms_conn_detach(struct lms_conn *c)
{
	if (c->events_set) {
		event_del(&c->ev_read);
		event_del(&c->ev_write);
	}
	c->events_set = false;
	c->read_on = c->write_on = false;
}

/* event_assign fails only for a signal event that also asks for I/O,
 * which these never are: its result needs no check. */
void lms_conn_attach(struct lms_conn *c, struct event_base *base)
{
	if (c->fd < 0)
		return;
	event_assign(&c->ev_read, base, c->fd, EV_READ | EV_PERSIST, conn_event_cb, c);
	event_assign(&c->ev_write, base, c->fd, EV_WRITE | EV_PERSIST, conn_event_cb, c);
	c->events_set = true;
}

/* Record the reason of the last failure. */
static int conn_fail(struct lms_conn *c, const char *what, int err)
{
	snprintf(c->err, sizeof(c->err), "%s: %s", what, strerror(err));
	return LMS_IO_ERR;
}

/* Record the first OpenSSL error in the queue. */
static int conn_tls_fail(struct lms_conn *c, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[120];
	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
	} else {
		snprintf(buf, sizeof(buf), "%s", errno ? strerror(errno) : "connection closed");
	}
	if (c->ssl && SSL_get_verify_result(c->ssl) != X509_V_OK) {
		snprintf(buf, sizeof(buf), "certificate verify failed: %s",
			 X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
	}
	snprintf(c->err, sizeof(c->err), "%s: %s", what, buf);
	ERR_clear_error();
	return LMS_IO_ERR;
}

int lms_conn_connect(struct lms_conn *c, const struct sockaddr *addr, socklen_t len)
{
	if (connect(c->fd, addr, len) == 0)
		return LMS_IO_OK;
	if (errno != EINPROGRESS)
		return conn_fail(c, "connect", errno);
	c->connecting = true;
	lms_conn_update_events(c);
	return LMS_IO_AGAIN;
}

int lms_conn_connect_done(struct lms_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);
	c->connecting = false;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	lms_conn_update_events(c);
	if (err)
		return conn_fail(c, "connect", err);
	return LMS_IO_OK;
}

int lms_conn_tls_begin(struct lms_conn *c, SSL_CTX *ctx, bool server,
		       const char *host, bool verify_host)
{
	c->ssl = SSL_new(ctx);
	if (!c->ssl)
		return conn_tls_fail(c, "tls");
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (server) {
		SSL_set_accept_state(c->ssl);
	} else {
		SSL_set_connect_state(c->ssl);
		if (host && host[0] != '/') {
			unsigned char ip[16];
			bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
			if (!is_ip)
				SSL_set_tlsext_host_name(c->ssl, host);
			if (verify_host) {
				X509_VERIFY_PARAM *p = SSL_get0_param(c->ssl);
				int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(p, host)
					       : X509_VERIFY_PARAM_set1_host(p, host, 0);
				if (!ok)
					return conn_tls_fail(c, "tls host check");
			}
		}
	}
	c->handshaking = true;
	return LMS_IO_OK;
}

/* Map an SSL_get_error() result onto the want flags. */
static int conn_tls_want(struct lms_conn *c, int ret, bool reading, const char *what)
{
	int e = SSL_get_error(c->ssl, ret);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		if (!reading)
			c->write_wants_read = true;
		return LMS_IO_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		if (reading)
			c->read_wants_write = true;
		else
			c->write_blocked = true;
		return LMS_IO_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return LMS_IO_EOF;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET || errno == EPIPE))
			return LMS_IO_EOF;
		return conn_tls_fail(c, what);
	default:
		return conn_tls_fail(c, what);
	}
}

int lms_conn_tls_take_input(struct lms_conn *c)
{
	size_t n = lms_buf_len(&c->in);
	if (!c->ssl || n == 0)
		return LMS_IO_OK;
	BIO *mem = BIO_new(BIO_s_mem());
	if (!mem || BIO_write(mem, lms_buf_head(&c->in), (int)n) != (int)n) {
		BIO_free(mem);
		return conn_tls_fail(c, "tls");
	}
	BIO_set_mem_eof_return(mem, -1); /* empty: "retry", not EOF */
	SSL_set0_rbio(c->ssl, mem);
	c->tls_prefix = true;
	lms_buf_consume(&c->in, n);
	return LMS_IO_OK;
}

/* The bytes taken by lms_conn_tls_take_input are read: the socket again.
 * Returns false when some are left (then they are not a handshake). */
static bool conn_tls_prefix_done(struct lms_conn *c)
{
	if (!c->tls_prefix)
		return true;
	if (BIO_ctrl_pending(SSL_get_rbio(c->ssl)) > 0)
		return false;
	BIO *sock = SSL_get_wbio(c->ssl);
	BIO_up_ref(sock);
	SSL_set0_rbio(c->ssl, sock);
	c->tls_prefix = false;
	return true;
}

int lms_conn_tls_handshake(struct lms_conn *c)
{
	c->read_wants_write = false;
	c->write_wants_read = false;
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (c->tls_prefix && (r == 1 || SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ)) {
		if (!conn_tls_prefix_done(c)) {
			if (r != 1)
				return LMS_IO_AGAIN; /* cannot happen: memory reads do not wait */
			c->handshaking = false;
			snprintf(c->err, sizeof(c->err), "tls handshake: unexpected data before the handshake ended");
			return LMS_IO_ERR;
		}
		if (r != 1) {
			ERR_clear_error();
			r = SSL_do_handshake(c->ssl); /* on from the socket */
		}
	}
	if (r == 1) {
		c->handshaking = false;
		lms_conn_update_events(c);
		return LMS_IO_OK;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->read_wants_write = e == SSL_ERROR_WANT_WRITE;
		lms_conn_update_events(c);
		return LMS_IO_AGAIN;
	}
	c->handshaking = false;
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		snprintf(c->err, sizeof(c->err), "tls handshake: %s",
			 errno ? strerror(errno) : "peer closed the connection");
		return LMS_IO_ERR;
	}
	return conn_tls_fail(c, "tls handshake");
}

/* One read from a plain socket. */
static int conn_read_plain(struct lms_conn *c, size_t room, size_t *n)
{
	ssize_t r = recv(c->fd, lms_buf_tail(&c->in), room, 0);
	if (r > 0) {
		c->in.end += (size_t)r;
		*n = (size_t)r;
		return LMS_IO_OK;
	}
	if (r == 0)
		return LMS_IO_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return LMS_IO_AGAIN;
	if (errno == ECONNRESET)
		return LMS_IO_EOF;
	return conn_fail(c, "recv", errno);
}

/* Read from TLS until it would block or the buffer is full. */
static int conn_read_tls(struct lms_conn *c, size_t room, size_t *n)
{
	c->read_wants_write = false;
	while (room > 0) {
		ERR_clear_error();
		int r = SSL_read(c->ssl, lms_buf_tail(&c->in), room > INT32_MAX ? INT32_MAX : (int)room);
		if (r <= 0) {
			int st = conn_tls_want(c, r, true, "tls read");
			if (*n == 0)
				return st;
			/* Hand over the bytes first (often the peer's last error
			 * message); report the end on the next read, which
			 * tls_pending asks for: no socket event comes for it
			 * (the close_notify was read with the bytes) */
			if (st == LMS_IO_EOF || st == LMS_IO_ERR) {
				c->deferred = st;
				c->tls_pending = true;
			}
			return LMS_IO_OK;
		}
		c->in.end += (size_t)r;
		*n += (size_t)r;
		room -= (size_t)r;
	}
	c->tls_pending = SSL_pending(c->ssl) > 0;
	return LMS_IO_OK;
}

int lms_conn_read(struct lms_conn *c, size_t *n)
{
	*n = 0;
	if (c->deferred) {
		c->tls_pending = false;
		return c->deferred;
	}
	size_t room = lms_buf_room(&c->in);
	if (room == 0) {
		if (!c->in.data)
			return conn_fail(c, "buffer", ENOMEM);
		return LMS_IO_OK; /* tls_pending stays: those bytes still wait inside TLS */
	}
	c->tls_pending = false;
	int st = c->ssl ? conn_read_tls(c, room, n) : conn_read_plain(c, room, n);
	if (lms_buf_len(&c->in) == 0)
		lms_buf_release(&c->in);
	return st;
}

int lms_conn_flush(struct lms_conn *c)
{
	c->write_wants_read = false;
	while (lms_buf_len(&c->out) > 0) {
		size_t len = lms_buf_len(&c->out);
		ssize_t w;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_write(c->ssl, lms_buf_head(&c->out), len > INT32_MAX ? INT32_MAX : (int)len);
			if (r <= 0) {
				int st = conn_tls_want(c, r, false, "tls write");
				if (st == LMS_IO_AGAIN)
					c->write_blocked = true;
				return st;
			}
			w = r;
		} else {
			w = send(c->fd, lms_buf_head(&c->out), len, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
					c->write_blocked = true;
					return LMS_IO_AGAIN;
				}
				if (errno == EPIPE || errno == ECONNRESET)
					return LMS_IO_EOF;
				return conn_fail(c, "send", errno);
			}
		}
		lms_buf_consume(&c->out, (size_t)w);
	}
	c->write_blocked = false;
	return LMS_IO_OK;
}

void lms_conn_update_events(struct lms_conn *c)
{
	if (!c->events_set || c->fd < 0)
		return;
	bool want_r = c->write_wants_read ||
		      (!c->connecting && (c->handshaking ? !c->read_wants_write : c->want_read));
	bool want_w = c->connecting || c->read_wants_write ||
		      (c->write_blocked && lms_buf_len(&c->out) > 0);
	if (want_r != c->read_on) {
		if (want_r)
			event_add(&c->ev_read, NULL);
		else
			event_del(&c->ev_read);
		c->read_on = want_r;
	}
	if (want_w != c->write_on) {
		if (want_w)
			event_add(&c->ev_write, NULL);
		else
			event_del(&c->ev_write);
		c->write_on = want_w;
	}
}

void lms_conn_kick(struct lms_conn *c)
{
	if (!c->events_set || c->fd < 0)
		return;
	/* libevent's event_add does nothing to an event that is active but
	 * not added: kicked while reading was off, the read event would then
	 * never be added again (a request that came during a switch, bigger
	 * than the buffer, stalled).  Add it first; the next update takes it
	 * off again if reading is still not wanted. */
	if (!c->read_on) {
		event_add(&c->ev_read, NULL);
		c->read_on = true;
	}
	event_active(&c->ev_read, EV_READ, 0);
}

void lms_conn_shutdown_write(struct lms_conn *c)
{
	if (c->fd < 0)
		return;
	if (c->ssl) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl); /* not sent now (socket full): the FIN says it */
		ERR_clear_error();
	}
	shutdown(c->fd, SHUT_WR);
}

void lms_conn_close(struct lms_conn *c)
{
	lms_conn_detach(c);
	if (c->ssl) {
		SSL_set_quiet_shutdown(c->ssl, 1);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	lms_buf_release(&c->in);
	lms_buf_release(&c->out);
}

void lms_conn_peer_name(const struct lms_conn *c, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (c->fd < 0 || getpeername(c->fd, (struct sockaddr *)&ss, &len) < 0) {
		snprintf(buf, cap, "unknown");
		return;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		port = ntohs(s->sin6_port);
	}
	snprintf(buf, cap, "%s:%d", host, port);
}
