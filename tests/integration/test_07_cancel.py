"""7. Query cancellation through the proxy (CancelRequest on a new connection)."""

import random
import threading
import time

import psycopg2
import psycopg2.errors
import pytest

from lmsproxy import APP_DB, APP_PASSWORD, APP_USER, PgRaw, send_cancel


def test_cancel_pg_sleep(proxy):
    conn = proxy.connect()
    try:
        cur = conn.cursor()
        cur.execute("select 1")
        conn.commit()
        timer = threading.Timer(1.0, conn.cancel)
        t0 = time.monotonic()
        timer.start()
        try:
            with pytest.raises(psycopg2.errors.QueryCanceled) as ei:
                cur.execute("select pg_sleep(30)")
        finally:
            timer.cancel()
        elapsed = time.monotonic() - t0
        assert ei.value.pgcode == "57014"
        assert "canceling statement due to user request" in str(ei.value)
        assert 0.9 <= elapsed < 5.0, "cancel took %.2f s" % elapsed
        # the connection survives a cancel
        conn.rollback()
        cur.execute("select 'alive'")
        assert cur.fetchone()[0] == "alive"
    finally:
        conn.close()


def test_cancel_with_wrong_key_is_ignored(proxy):
    """A CancelRequest with a wrong secret must not cancel anybody's query."""
    with PgRaw(proxy.host, proxy.port) as c:
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        assert c.backend_key is not None, "no BackendKeyData from the proxy"
        pid, key = c.backend_key
        c.send_msg(b"Q", b"select pg_sleep(1.5), 'finished'\0")
        time.sleep(0.3)
        wrong = (key + random.randint(1, 2 ** 31)) % 2 ** 32
        send_cancel(proxy.host, proxy.port, pid, wrong)
        send_cancel(proxy.host, proxy.port, (pid + 1) % 2 ** 32, key)
        c.sock.settimeout(10)
        rows = []
        while True:
            mtype, payload = c.read_msg()
            assert mtype != b"E", "query was cancelled by a bogus CancelRequest: %r" % payload
            if mtype == b"D":
                rows.append(payload)
            if mtype == b"Z":
                break
        assert len(rows) == 1 and rows[0].endswith(b"finished")
        # and the right key does cancel
        c.send_msg(b"Q", b"select pg_sleep(30)\0")
        time.sleep(0.3)
        t0 = time.monotonic()
        send_cancel(proxy.host, proxy.port, pid, key)
        err = None
        while True:
            mtype, payload = c.read_msg()
            if mtype == b"E":
                err = payload
            if mtype == b"Z":
                break
        assert err is not None and b"C57014\0" in err, err
        assert time.monotonic() - t0 < 5
        c.terminate()
