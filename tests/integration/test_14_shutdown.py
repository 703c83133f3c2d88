"""14. SIGTERM: stop accepting, let in-flight queries finish, exit 0."""

import signal
import threading
import time

import psycopg2

from lmsproxy import wait_until


def run_in_thread(conn, sql):
    result = {}

    def run():
        try:
            cur = conn.cursor()
            cur.execute(sql)
            result["rows"] = cur.fetchall()
        except Exception as e:  # noqa: BLE001 - inspected by the test
            result["error"] = e
        result["done"] = time.monotonic()

    t = threading.Thread(target=run)
    t.start()
    return t, result


def test_sigterm_drains_inflight_query(proxy_factory):
    p = proxy_factory(name="drain", shutdown_timeout=10)
    conn = p.connect()
    conn.autocommit = True
    idle = p.connect()  # an idle session must not hold up the shutdown
    t, result = run_in_thread(conn, "select pg_sleep(3), 'survived'")
    time.sleep(0.5)
    t_term = time.monotonic()
    p.signal(signal.SIGTERM)
    # new connections are refused while draining
    time.sleep(0.3)
    assert p.running(), "proxy exited with a query still running (log:\n%s)" % p.log_tail()
    t0 = time.monotonic()
    try:
        c = p.connect(connect_timeout=3)
        c.close()
        raise AssertionError("a new connection was accepted after SIGTERM")
    except psycopg2.OperationalError:
        pass
    assert time.monotonic() - t0 < 3.5
    # the in-flight query completes normally
    t.join(timeout=10)
    assert not t.is_alive()
    assert "error" not in result, "in-flight query failed: %r" % result.get("error")
    assert result["rows"] == [("", "survived")]
    assert result["done"] - t_term >= 2.0
    # then the proxy exits 0, promptly (well before --shutdown-timeout 10)
    rc = p.wait(timeout=5)
    assert rc == 0, "exit status %r after drain" % rc
    assert time.monotonic() - t_term < 8
    conn.close()
    idle.close()


def test_sigterm_shutdown_timeout(proxy_factory):
    """A query longer than --shutdown-timeout is cut off; the proxy still exits 0."""
    p = proxy_factory(name="drain-timeout", shutdown_timeout=1)
    conn = p.connect()
    conn.autocommit = True
    t, result = run_in_thread(conn, "select pg_sleep(20)")
    time.sleep(0.5)
    t_term = time.monotonic()
    p.signal(signal.SIGTERM)
    rc = p.wait(timeout=6)
    assert rc == 0, "exit status %r (None = still running 6 s after SIGTERM)" % rc
    assert time.monotonic() - t_term < 4
    t.join(timeout=5)
    assert not t.is_alive(), "client still blocked after the proxy exited"
    assert isinstance(result.get("error"), psycopg2.OperationalError), result
    conn.close()


def test_sigterm_idle_only(proxy_factory, admin):
    """With only idle sessions the proxy exits at once and their backends go away."""
    p = proxy_factory(name="drain-idle", shutdown_timeout=10)
    conns = [p.connect(application_name="it-drain-idle") for _ in range(3)]
    t_term = time.monotonic()
    p.signal(signal.SIGTERM)
    rc = p.wait(timeout=5)
    assert rc == 0
    assert time.monotonic() - t_term < 3
    cur = admin.cursor()

    def gone():
        cur.execute("select count(*) from pg_stat_activity where application_name = 'it-drain-idle'")
        return cur.fetchone()[0] == 0

    assert wait_until(gone, timeout=5), "backends of the idle sessions survive the proxy"
    for c in conns:
        c.close()
