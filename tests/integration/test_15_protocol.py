"""15. Wire-protocol edge cases a real driver produces (beyond the numbered brief):
SSL/GSS negotiation on a plaintext listener, pipelining, big messages,
malformed startups, clients vanishing mid-query."""

import hashlib
import select
import socket
import struct
import threading
import time

import psycopg2
import pytest

from lmsproxy import APP_DB, APP_PASSWORD, APP_USER, PgRaw, wait_until


def test_ssl_and_gss_requests_declined_on_plaintext_listener(proxy):
    if not proxy.is_proxy:
        pytest.skip("the source database itself supports SSL and GSS encryption")
    with PgRaw(proxy.host, proxy.port) as c:
        assert c.request_gssenc() == b"N"
        assert c.request_ssl() == b"N"
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        assert c.query("select 'negotiated'")[0] == [[b"negotiated"]]
        c.terminate()


def test_sslmode_require_against_plaintext_proxy(proxy):
    if not proxy.is_proxy:
        pytest.skip("the source database itself speaks TLS")
    with pytest.raises(psycopg2.OperationalError) as ei:
        proxy.connect(sslmode="require")
    assert "server does not support SSL" in str(ei.value)
    c = proxy.connect(sslmode="disable")
    assert not c.info.ssl_in_use
    c.close()


def test_pipelined_simple_queries(proxy):
    with PgRaw(proxy.host, proxy.port) as c:
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        msgs = b"".join(b"Q" + struct.pack("!I", len(q) + 5) + q + b"\0"
                        for q in (b"select 1", b"select 1/0", b"select 3"))
        c.send(msgs)
        seen = []
        while seen.count(b"Z") < 3:
            t, payload = c.read_msg()
            if t in (b"D", b"E", b"Z"):
                seen.append(t if t != b"D" else payload[-1:])
        assert seen == [b"1", b"Z", b"E", b"Z", b"3", b"Z"], seen
        c.terminate()


def _cstr(s):
    return s.encode() + b"\0"


def test_pipelined_extended_protocol(proxy):
    """Parse/Bind/Describe/Execute x N then one Sync, in one write (what
    pgjdbc/asyncpg do); an error skips to Sync."""
    with PgRaw(proxy.host, proxy.port) as c:
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        out = bytearray()

        def msg(t, body):
            out.extend(t + struct.pack("!I", len(body) + 4) + body)

        msg(b"P", _cstr("s1") + _cstr("select $1::int * 2") + struct.pack("!H", 0))
        for v in (1, 2, 3):
            val = str(v).encode()
            msg(b"B", _cstr("") + _cstr("s1") + struct.pack("!H", 0) + struct.pack("!H", 1)
                + struct.pack("!i", len(val)) + val + struct.pack("!H", 0))
            msg(b"E", _cstr("") + struct.pack("!I", 0))
        msg(b"S", b"")
        # second batch: an error in the middle, the rest is skipped until Sync
        msg(b"P", _cstr("") + _cstr("select 1/0") + struct.pack("!H", 0))
        msg(b"B", _cstr("") + _cstr("") + struct.pack("!HHH", 0, 0, 0))
        msg(b"E", _cstr("") + struct.pack("!I", 0))
        msg(b"P", _cstr("") + _cstr("select 'skipped'") + struct.pack("!H", 0))
        msg(b"S", b"")
        c.send(bytes(out))
        types, rows, errors = [], [], []
        while types.count(b"Z") < 2:
            t, payload = c.read_msg()
            types.append(t)
            if t == b"D":
                rows.append(payload[6:])
            elif t == b"E":
                errors.append(payload)
        assert rows == [b"2", b"4", b"6"]
        assert len(errors) == 1 and b"C22012\0" in errors[0]
        assert types[:8] == [b"1", b"2", b"D", b"C", b"2", b"D", b"C", b"2"], types
        assert c.query("select 'after pipeline'")[0] == [[b"after pipeline"]]
        c.terminate()


def test_large_query_text(proxy):
    """A 16 MB Query message crosses many reads on both sides."""
    big = "z" * (16 * 1024 * 1024)
    with PgRaw(proxy.host, proxy.port, timeout=30) as c:
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        rows, _ = c.query("select length('%s'), md5('%s')" % (big, big))
        assert rows == [[str(len(big)).encode(), hashlib.md5(big.encode()).hexdigest().encode()]]
        c.terminate()


def test_malformed_startups_do_not_hurt(proxy):
    if not proxy.is_proxy:
        pytest.skip("the point is the proxy's robustness")
    cases = [
        struct.pack("!II", 8, 0x00020000),              # protocol 2.0
        struct.pack("!I", 0x7FFFFFF0) + b"\0" * 16,       # absurd length
        struct.pack("!I", 3),                           # length below the minimum
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",           # not PostgreSQL at all
        struct.pack("!II", 12, 196608) + b"user",        # truncated parameters
    ]
    for data in cases:
        with socket.create_connection((proxy.host, proxy.port), timeout=5) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(65536):
                    pass
            except (ConnectionResetError, socket.timeout):
                pass
    assert proxy.running()
    c = proxy.connect()
    c.cursor().execute("select 1")
    c.close()


def test_client_vanishes_mid_query(proxy, admin):
    """A client that disappears during a query must not leak its backend."""
    with PgRaw(proxy.host, proxy.port) as c:
        c.startup(APP_USER, APP_DB, APP_PASSWORD, application_name="it-vanish")
        c.send_msg(b"Q", b"select pg_sleep(2)\0")
        time.sleep(0.3)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    cur = admin.cursor()

    def gone():
        cur.execute("select count(*) from pg_stat_activity where application_name = 'it-vanish'")
        return cur.fetchone()[0] == 0

    assert wait_until(gone, timeout=8), "the backend of a vanished client is still there"
    c2 = proxy.connect()
    c2.cursor().execute("select 1")
    c2.close()


def test_pipelined_faster_than_the_server(proxy_factory):
    """A client that sends simple queries much faster than the database runs
    them, while a second thread reads every answer: all of them arrive, as
    they do directly.  Before, the database's ReadyForQuery waited for room
    in the proxy's output toward the database, which the client's queries
    kept full while the database, its answers unread, stopped reading: the
    session hung for good after a few thousand answers."""
    proxy = proxy_factory(name="pipeline", extra_args=["--workers", "1"])
    n = 200000
    q = b"SELECT repeat('x', 200)\0"
    batch = (b"Q" + struct.pack("!I", len(q) + 4) + q) * 1000
    with PgRaw(proxy.host, proxy.port) as c:
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        sock = c.sock
        sock.settimeout(None)
        errors = []

        def writer():
            try:
                for _ in range(n // 1000):
                    sock.sendall(batch)
            except OSError as e:
                errors.append(e)
        w = threading.Thread(target=writer, daemon=True)
        w.start()
        ready, buf, last = 0, b"", time.monotonic()
        while ready < n:
            r, _, _ = select.select([sock], [], [], 1.0)
            if not r:
                assert time.monotonic() - last < 20, "no answer for 20 s after %d of %d" % (ready, n)
                continue
            data = sock.recv(1 << 20)
            assert data, "connection closed after %d of %d answers" % (ready, n)
            last = time.monotonic()
            buf += data
            i = 0
            while len(buf) - i >= 5:
                (length,) = struct.unpack("!I", buf[i + 1:i + 5])
                if len(buf) - i < 1 + length:
                    break
                assert buf[i:i + 1] != b"E", buf[i:i + 1 + length]
                ready += buf[i:i + 1] == b"Z"
                i += 1 + length
            buf = buf[i:]
        w.join(timeout=10)
        assert not errors, errors


def _half_closed_session(host, port, sql, tail=b""):
    """Log in, send simple queries (and tail, e.g. part of a message),
    half-close (shutdown SHUT_WR) and read until the server closes.
    Returns the messages read and how long the close took."""
    with PgRaw(host, port, timeout=30) as c:
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        batch = b"".join(b"Q" + struct.pack("!I", len(q) + 5) + q.encode() + b"\0" for q in sql)
        c.send(batch + tail)
        t0 = time.monotonic()
        c.sock.shutdown(socket.SHUT_WR)
        msgs = []
        while True:
            try:
                msgs.append(c.read_msg())
            except ConnectionError:
                return msgs, time.monotonic() - t0


def _check_half_close(msgs, n_inserts):
    errors = [p for t, p in msgs if t == b"E"]
    assert not errors, errors
    assert sum(t == b"Z" for t, _ in msgs) == n_inserts + 2, msgs[-5:]
    rows = [p for t, p in msgs if t == b"D"]
    assert rows and rows[-1].endswith(str(n_inserts).encode()), rows[-1:]


def test_client_half_close_gets_every_answer(proxy, sides, uniq):
    """A client that sends its queries and then half-closes (shutdown
    SHUT_WR, as `nc -N` or a script piping into a socket does) gets every
    answer, as from PostgreSQL itself: each write is done and answered,
    the query still running finishes, part of a message left at the end
    is dropped, then the connection closes.  Before, molt-lms closed both
    connections at the client's EOF: the answers were lost, and writes
    not yet sent to the database were never made."""
    t = sides.table(uniq, "i int", side="source")
    n = 30
    sql = ["insert into %s values (%d)" % (t, i) for i in range(n)]
    sql += ["select pg_sleep(0.5)", "select count(*) from %s" % t]
    msgs, took = _half_closed_session(proxy.host, proxy.port, sql, tail=b"Q\0\0\0\x20select")
    _check_half_close(msgs, n)
    assert took < 10, took
    assert sides.rows("source", "select count(*) from %s" % t) == [(n,)]


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_client_half_close_with_shadow(proxy_factory, sides, uniq, mode):
    """The same with a shadow: the answers (held for the shadow's in sync)
    all reach the client, and the writes land on both databases."""
    p = proxy_factory(name="halfclose-" + mode, shadow_mode=mode)
    t = sides.table(uniq, "i int")
    n = 20
    sql = ["insert into %s values (%d)" % (t, i) for i in range(n)]
    sql += ["select pg_sleep(0.2)", "select count(*) from %s" % t]
    msgs, took = _half_closed_session(p.host, p.port, sql)
    _check_half_close(msgs, n)
    assert took < 10, took
    assert sides.rows("source", "select count(*) from %s" % t) == [(n,)]
    # async skips what comes while the target is still busy (counted; the
    # two selects may be among them)
    def on_target():
        got = sides.rows("target", "select count(*) from %s" % t)[0][0]
        return n <= got + p.shadow_counts()["async_dropped"] <= n + 2
    assert wait_until(on_target, p.env.t(5)), p.shadow_counts()
    if mode == "sync":
        assert p.shadow_counts()["async_dropped"] == 0
    assert p.shadow_counts()["mismatch"] == 0, p.mismatch_records()


def test_client_half_close_then_database_ends(proxy, admin):
    """The database ends the session (pg_terminate_backend) while a
    half-closed client still waits for an answer: the client gets the
    database's last words (FATAL 57P01) and the connection closes, as
    directly; the session does not linger."""
    with PgRaw(proxy.host, proxy.port, timeout=30) as c:
        c.startup(APP_USER, APP_DB, APP_PASSWORD, application_name="halfclose-terminated")
        q = b"select pg_sleep(60)"
        c.send(b"Q" + struct.pack("!I", len(q) + 5) + q + b"\0")
        c.sock.shutdown(socket.SHUT_WR)
        cur = admin.cursor()
        assert wait_until(lambda: cur.execute(
            "select count(*) from pg_stat_activity where application_name = 'halfclose-terminated' "
            "and query like 'select pg_sleep%'") or cur.fetchone()[0] == 1, 10)
        t0 = time.monotonic()
        cur.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                    "where application_name = 'halfclose-terminated'")
        msgs = []
        with pytest.raises(ConnectionError):
            while True:
                msgs.append(c.read_msg())
        assert time.monotonic() - t0 < 10
        errors = [p for t, p in msgs if t == b"E"]
        assert errors and b"57P01" in errors[0], msgs
