"""10. The source backend of a proxied session is terminated mid-query."""

import threading
import time

import psycopg2
import psycopg2.errors

from lmsproxy import wait_until


def one(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchone()


def test_terminate_backend_mid_query(proxy, admin):
    conn = proxy.connect()
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("select pg_backend_pid()")
    backend_pid = cur.fetchone()[0]
    result = {}

    def run():
        t0 = time.monotonic()
        try:
            cur.execute("select pg_sleep(10)")
            result["ok"] = cur.fetchall()
        except Exception as e:  # noqa: BLE001 - inspected below
            result["error"] = e
        result["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=run)
    t.start()
    acur = admin.cursor()
    # wait until the backend is really in pg_sleep
    assert wait_until(lambda: one(acur, "select wait_event from pg_stat_activity where pid = %s",
                                  (backend_pid,)) == ("PgSleep",), timeout=5)
    assert one(acur, "select pg_terminate_backend(%s)", (backend_pid,)) == (True,)
    t.join(timeout=8)
    assert not t.is_alive(), "client still blocked 8 s after its backend was terminated"
    assert "ok" not in result, "query 'succeeded' although its backend was killed"
    err = result["error"]
    assert isinstance(err, psycopg2.OperationalError), repr(err)
    # AdminShutdown (57P01) when the proxy relays the backend's FATAL; a plain
    # OperationalError ("server closed the connection") is acceptable too
    if isinstance(err, psycopg2.errors.AdminShutdown):
        assert "terminating connection due to administrator command" in str(err)
    assert result["elapsed"] < 5
    # the dead session is closed for the client (no hang on the next query)
    try:
        cur.execute("select 1")
        raise AssertionError("the session still answered after its backend died")
    except (psycopg2.OperationalError, psycopg2.InterfaceError):
        pass
    conn.close()
    # new connections through the proxy still work
    conn2 = proxy.connect()
    cur2 = conn2.cursor()
    cur2.execute("select pg_backend_pid() <> %s", (backend_pid,))
    assert cur2.fetchone()[0] is True
    conn2.close()


def test_terminate_idle_backend(proxy, admin):
    """An idle session whose backend dies: the next query fails fast, not hangs."""
    conn = proxy.connect()
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("select pg_backend_pid()")
    backend_pid = cur.fetchone()[0]
    acur = admin.cursor()
    assert one(acur, "select pg_terminate_backend(%s)", (backend_pid,)) == (True,)
    assert wait_until(lambda: one(acur, "select count(*) from pg_stat_activity where pid = %s",
                                  (backend_pid,)) == (0,), timeout=5)
    t0 = time.monotonic()
    try:
        cur.execute("select 1")
        raise AssertionError("query on a terminated session succeeded")
    except (psycopg2.OperationalError, psycopg2.InterfaceError):
        pass
    assert time.monotonic() - t0 < 5
    conn.close()
    conn2 = proxy.connect()
    conn2.cursor().execute("select 1")
    conn2.close()
