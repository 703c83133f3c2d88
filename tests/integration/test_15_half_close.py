"""15. A client's end of input, as on a direct connection: a half-close
(plain TCP; TLS with close_notify, with close_notify alone, or with a FIN
alone) or a Terminate after pipelined requests gets every answer, also when
the answer already waits in the proxy or the client reads it late.  Each
was found by review and passes directly against PostgreSQL
(LMS_IT_DIRECT=1); the basic half-close cases are in test_15_protocol.py."""

import socket
import subprocess
import struct
import time

import pytest

from lmsproxy import APP_DB, APP_PASSWORD, APP_USER, PgRaw


def _answer_after_half_close(host, port, nrows, width=1000, probe=False, eof_first=False, wait=1.0):
    """Send one query whose answer is nrows rows of width bytes, read
    nothing for a while (the answer fills the socket buffers and the
    proxy's client output), half-close, then read everything.  Returns
    (ReadyForQuery seen, rows read, bytes read)."""
    with PgRaw(host, port, timeout=30, rcvbuf=None) as c:
        t0 = time.monotonic()
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        q = ("select repeat('x', %d) from generate_series(1, %d)" % (width, nrows)).encode()
        c.send(b"Q" + struct.pack("!I", len(q) + 5) + q + b"\0")
        if eof_first:  # half-close at once: the session waits for the database's EOF
            c.sock.shutdown(socket.SHUT_WR)
        time.sleep(wait)  # the whole answer reaches the proxy: nothing in flight any more
        if probe:  # what the kernel buffers hold: the proxy's Send-Q, our Recv-Q
            lp = c.sock.getsockname()[1]
            out = subprocess.run(["ss", "-tnH", "( sport = :%d or dport = :%d )" % (lp, lp)],
                                 capture_output=True, text=True).stdout
            return sum(int(line.split()[1]) + int(line.split()[2]) for line in out.splitlines())
        if not eof_first:
            c.sock.shutdown(socket.SHUT_WR)
        time.sleep(0.3)
        c.sock.settimeout(4)
        data = bytearray(c.buf)
        err = None
        try:
            while True:
                chunk = c.sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        except OSError as e:
            err = repr(e)
        # RowDescription, nrows DataRows, CommandComplete, ReadyForQuery
        ready = data.endswith(b"Z\0\0\0\x05I")
        rows = data.count(b"D\0\0\x03\xf2\0\x01\0\0\x03\xe8")
        return ready, rows, len(data), err, round(time.monotonic() - t0, 1)


def test_half_close_after_answer_reached_proxy(proxy):
    """A client that half-closes once its last answer has reached the
    proxy, but before it read it (nothing in flight, the answer's tail in
    the proxy's client output) reads the whole answer.  Before, the
    session ended at the EOF, dropping what its client output held."""
    # the kernel's buffers hold `held` bytes (ss): an answer a few KiB
    # longer (rows of 1011 bytes) ends in the proxy's 32 KiB client output
    held = _answer_after_half_close(proxy.host, proxy.port, 20000, probe=True)
    lost = []
    for extra in (8000, 16000, 24000):
        nrows = (held + extra) // 1011
        ready, rows, nbytes, err, took = _answer_after_half_close(proxy.host, proxy.port, nrows)
        if not ready or rows != nrows:
            lost.append((held, nrows, rows, ready, nbytes, err, took))
    assert not lost, lost



def test_tls_client_fin_without_close_notify(lms_env, proxy_factory, sides, uniq):
    """A TLS client that half-closes TCP without close_notify (Python's
    socket shutdown, many scripts) and reads on gets every answer, as the
    plain client of test_15_protocol does and as PostgreSQL takes it.
    Before, OpenSSL 3's "unexpected EOF" ended the session as an error: the
    answers were lost, and requests not yet passed on never ran.  (With
    close_notify: test_tls_client_close_notify.)"""
    import ssl
    p = proxy_factory(name="tls-half", tls=True)
    t = sides.table(uniq, "i int", side="source")
    n = 10
    sql = ["insert into %s values (%d)" % (t, i) for i in range(n)]
    sql += ["select pg_sleep(0.3)", "select count(*) from %s" % t]
    ctx = ssl.create_default_context(cafile=lms_env.cert("ca.crt"))
    msgs = []
    with PgRaw("127.0.0.1", p.port, timeout=30) as c:
        assert c.request_ssl() == b"S"
        c.wrap_tls(ctx, "localhost")
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        c.send(b"".join(b"Q" + struct.pack("!I", len(q) + 5) + q.encode() + b"\0" for q in sql))
        socket.socket.shutdown(c.sock, socket.SHUT_WR)  # FIN, no close_notify
        try:
            while True:
                msgs.append(c.read_msg())
        except (ConnectionError, OSError) as e:
            end = repr(e)
    from test_15_protocol import _check_half_close
    assert sum(t == b"Z" for t, _ in msgs) == n + 2, (end, msgs[-3:])
    _check_half_close(msgs, n)
    assert sides.rows("source", "select count(*) from %s" % t) == [(n,)]


def test_pipelined_queries_then_terminate(proxy):
    """Queries, then Terminate, in one write (a script piping into a
    socket): PostgreSQL answers every query before it reads the Terminate,
    and so does the proxy.  Before, it closed once the Terminate was
    forwarded, dropping the answers still to come."""
    with PgRaw(proxy.host, proxy.port, timeout=10) as c:
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        qs = [b"select pg_sleep(0.2)", b"select 42"]
        c.send(b"".join(b"Q" + struct.pack("!I", len(q) + 5) + q + b"\0" for q in qs) + b"X\0\0\0\x04")
        msgs = []
        try:
            while True:
                msgs.append(c.read_msg())
        except (ConnectionError, OSError):
            pass
    assert sum(t == b"Z" for t, _ in msgs) == 2, msgs


def test_backend_tls_half_close_after_large_request(lms_env, proxy_factory, sides, uniq):
    """Half-close toward a TLS source right after a request larger than
    the socket buffers (close_notify written while the kernel's buffer
    may still be full): every answer still comes back."""
    from test_09_tls import tls_source_url
    from test_15_protocol import _half_closed_session
    p = proxy_factory(name="btls-big", init_source=tls_source_url(lms_env, "ca.crt"))
    t = sides.table(uniq, "i int, v text", side="source")
    sql = ["insert into %s values (1, repeat('x', 10))" % t,
           "insert into %s values (2, '%s')" % (t, "y" * (8 << 20)),
           "select count(*) from %s" % t]
    for _ in range(3):
        msgs, took = _half_closed_session(p.host, p.port, sql)
        errors = [m for k, m in msgs if k == b"E"]
        assert not errors and sum(k == b"Z" for k, _ in msgs) == 3, (errors, msgs[-3:])


def test_half_close_slow_reader_gets_the_tail(proxy):
    """The client half-closes at once and reads 6.5 s later, after the
    database answered and closed: the answer's tail still waits in the
    proxy's client output, as PostgreSQL's own bytes would wait in the
    kernel.  Before, the session was freed CLOSE_GRACE_SEC (5 s) after the
    database closed, and the tail was gone."""
    held = _answer_after_half_close(proxy.host, proxy.port, 20000, probe=True)
    nrows = (held + 16000) // 1011
    ready, rows, nbytes, err, took = _answer_after_half_close(proxy.host, proxy.port, nrows, eof_first=True,
                                                              wait=6.5)
    assert ready and rows == nrows, (held, nrows, rows, ready, nbytes, err, took)


def _tls_pump(sock, obj, inb, outb, fn):
    """Run fn on SSLObject obj until it stops wanting to read."""
    import ssl
    while True:
        try:
            r = fn()
            if outb.pending:
                sock.sendall(outb.read())
            return r
        except ssl.SSLWantReadError:
            if outb.pending:
                sock.sendall(outb.read())
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            inb.write(data)


@pytest.mark.parametrize("fin", [False, True], ids=["alone", "then_fin"])
def test_tls_client_close_notify(lms_env, proxy_factory, fin):
    """A TLS client that ends its side with close_notify, sent in the same
    write as its last request, alone (Go's tls.Conn.CloseWrite, which
    leaves TCP open) or followed by a TCP half-close: answered, then the
    connection closes, as PostgreSQL does.  Before, the EOF read with the
    request was kept for a next read that no event triggered: alone, the
    session never ended.  (The client's TLS runs over memory buffers, so
    that no answer can reach it before its close_notify is sent.)"""
    import ssl
    p = proxy_factory(name="tls-notify", tls=True)
    ctx = ssl.create_default_context(cafile=lms_env.cert("ca.crt"))
    with PgRaw("127.0.0.1", p.port, timeout=30) as c:
        assert c.request_ssl() == b"S"
        inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inb, outb, server_hostname="localhost")
        raw_sock = c.sock
        _tls_pump(raw_sock, obj, inb, outb, obj.do_handshake)

        class Wrapped:  # PgRaw over the SSLObject, for startup
            def __init__(self):
                self.buf = b""

            def sendall(self, data):
                obj.write(data)
                raw_sock.sendall(outb.read())

            def recv(self, n):
                try:
                    return _tls_pump(raw_sock, obj, inb, outb, lambda: obj.read(n))
                except ssl.SSLZeroReturnError:
                    return b""
        c.sock = Wrapped()
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        q = b"select pg_sleep(0.2)"
        obj.write(b"Q" + struct.pack("!I", len(q) + 5) + q + b"\0")
        try:
            obj.unwrap()  # close_notify
        except ssl.SSLWantReadError:
            pass
        raw_sock.sendall(outb.read())  # the request and the alert in one write
        if fin:
            raw_sock.shutdown(socket.SHUT_WR)
        raw_sock.settimeout(5)
        msgs = []
        end = None
        try:
            while True:
                msgs.append(c.read_msg())
        except (ConnectionError, OSError, ssl.SSLError) as e:
            end = repr(e)
        c.sock = raw_sock
    assert sum(k == b"Z" for k, _ in msgs) == 1 and "timed out" not in str(end), (msgs, end)
