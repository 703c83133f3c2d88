"""50f. mysql.so under load and faults: a 100 MB result streamed in bounded
memory (the proxy's RSS sampled, a client that stops reading pushes back on
MariaDB), KILL QUERY and KILL CONNECTION from an admin session on the
proxied session's server thread, and MariaDB killed with SIGKILL mid-query
(then restarted: later tests need it)."""

import os
import signal
import socket
import subprocess
import threading
import time

import pymysql
import pytest

from lmsproxy import RssSampler, wait_until
from mysqlraw import COM_QUERY, MY_ADMIN, MY_APP, MY_DB, MyRaw, lenenc

ROWS = 100000
WIDTH = 1000
TOTAL = ROWS * WIDTH  # 100,000,000 bytes of column data
QUERY = "select repeat('x', %d) from seq_1_to_%d" % (WIDTH, ROWS)
RSS_LIMIT_KB = 40 * 1024  # a proxy holding the result would need 100 MB more


def connect(proxy, **kw):
    args = dict(host="127.0.0.1", port=proxy.port, user=MY_APP[0], password=MY_APP[1], database=MY_DB,
                connect_timeout=10, read_timeout=60, autocommit=True)
    args.update(kw)
    return pymysql.connect(**args)


def admin(mysql_server):
    return pymysql.connect(host="127.0.0.1", port=mysql_server.port, user=MY_ADMIN[0], password=MY_ADMIN[1],
                           connect_timeout=10, autocommit=True)


def scalar(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchone()[0]


def check_rss(s, what):
    assert s.samples > 10, "RSS was hardly sampled (%d samples)" % s.samples
    assert s.peak_kb < RSS_LIMIT_KB, "proxy RSS peaked at %.1f MB during %s (limit %d MB)" % (
        s.peak_kb / 1024, what, RSS_LIMIT_KB // 1024)


# ---------------------------------------------------------------------------
# 100 MB results

def test_100mb_result_unbuffered(mysql_proxy):
    """PyMySQL's unbuffered cursor reads 100,000 rows of 1000 bytes as they
    come; the proxy's RSS stays far below the result's size."""
    c = connect(mysql_proxy)
    try:
        with RssSampler(mysql_proxy.pid) as s:
            cur = c.cursor(pymysql.cursors.SSCursor)
            cur.execute(QUERY)
            nrows = nbytes = 0
            for (v,) in cur:
                nrows += 1
                nbytes += len(v)
            cur.close()
        assert (nrows, nbytes) == (ROWS, TOTAL)
        check_rss(s, "an unbuffered 100 MB result")
        assert scalar(c, "select 'after'") == "after"
    finally:
        c.close()


def test_100mb_result_mariadb_cli(mysql_proxy):
    """The mariadb client with --quick (mysql_use_result) prints the rows
    into a pipe as they arrive."""
    cmd = ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(mysql_proxy.port), "-u", MY_APP[0],
           "-p" + MY_APP[1], "--skip-ssl", "--quick", "-N", "-B", MY_DB, "-e", QUERY]
    with RssSampler(mysql_proxy.pid) as s:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        killer = threading.Timer(60, p.kill)
        killer.start()
        nbytes = nlines = bad = 0
        while True:
            chunk = p.stdout.read(1 << 20)
            if not chunk:
                break
            nbytes += len(chunk)
            nlines += chunk.count(b"\n")
            bad += len(chunk) - chunk.count(b"x") - chunk.count(b"\n")
        err = p.stderr.read()
        rc = p.wait(timeout=60)
        killer.cancel()
    assert rc == 0, err
    assert (nlines, nbytes, bad) == (ROWS, TOTAL + ROWS, 0)
    check_rss(s, "mariadb --quick")


def test_100mb_result_slow_reader(mysql_proxy):
    """The client sends the query and does not read for 2 s: the proxy stops
    reading MariaDB instead of buffering (RSS flat while paused), then the
    whole result arrives intact and the session goes on."""
    raw = MyRaw("127.0.0.1", mysql_proxy.port, timeout=30)
    try:
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        raw.login(*MY_APP)
        with RssSampler(mysql_proxy.pid) as s:
            raw.send(bytes([COM_QUERY]) + QUERY.encode(), 0)
            time.sleep(2.0)
            paused_peak = s.peak_kb
            seq, pl = raw.read(1)
            ncols, _ = lenenc(pl, 0)
            assert ncols == 1
            raw.read(2)  # the column definition
            _, eof = raw.read(3)
            assert eof[0] == 0xFE
            nrows = nbytes = 0
            while True:
                _, pl = raw.read()
                if pl[0] == 0xFE and len(pl) < 9:
                    break
                assert pl[0] != 0xFF, pl
                n, off = lenenc(pl, 0)
                assert n == WIDTH and len(pl) == off + n
                nrows += 1
                nbytes += n
        assert (nrows, nbytes) == (ROWS, TOTAL)
        assert paused_peak < RSS_LIMIT_KB, "proxy RSS %.1f MB while the client paused" % (paused_peak / 1024)
        check_rss(s, "a slow reader")
        assert raw.scalar("select 'still here'") == "still here"
    finally:
        raw.close()


# ---------------------------------------------------------------------------
# the session's server thread killed from an admin session

def sleeping_query(conn, seconds=20):
    """Run select sleep(seconds) in a thread; returns (thread, result dict)."""
    result = {}
    cur = conn.cursor()

    def run():
        t0 = time.monotonic()
        try:
            cur.execute("select sleep(%d)" % seconds)
            result["rows"] = cur.fetchall()
        except Exception as e:  # noqa: BLE001 - inspected by the caller
            result["error"] = e
        result["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=run)
    t.start()
    return t, result


def wait_sleeping(adm, server_id):
    def state():
        cur = adm.cursor()
        cur.execute("select command, info from information_schema.processlist where id = %s", (server_id,))
        return cur.fetchone()
    assert wait_until(lambda: (state() or ("", ""))[1] is not None and "sleep" in (state()[1] or ""), timeout=5), \
        state()


def test_kill_query_from_admin(mysql_proxy, mysql_server):
    """KILL QUERY on the server's thread id: the client gets MariaDB's 1317,
    and its session through the proxy goes on."""
    c = connect(mysql_proxy)
    adm = admin(mysql_server)
    try:
        server_id = scalar(c, "select connection_id()")
        t, result = sleeping_query(c)
        wait_sleeping(adm, server_id)
        adm.cursor().execute("kill query %d" % server_id)
        t.join(10)
        assert not t.is_alive()
        err = result.get("error")
        assert isinstance(err, pymysql.err.OperationalError) and err.args[0] == 1317, result
        assert result["elapsed"] < 5
        assert scalar(c, "select 'same session'") == "same session"
        assert scalar(c, "select connection_id()") == server_id
    finally:
        c.close()
        adm.close()


def test_kill_connection_from_admin(mysql_proxy, mysql_server):
    """KILL CONNECTION on the server's thread: the client gets an error at
    once (the proxy's ERR naming the source), its next query fails instead
    of hanging, and another session through the same proxy is untouched."""
    c = connect(mysql_proxy)
    other = connect(mysql_proxy)
    adm = admin(mysql_server)
    try:
        assert scalar(other, "select 'before'") == "before"
        server_id = scalar(c, "select connection_id()")
        t, result = sleeping_query(c)
        wait_sleeping(adm, server_id)
        adm.cursor().execute("kill connection %d" % server_id)
        t.join(10)
        assert not t.is_alive(), "client still blocked 10 s after its server thread was killed"
        err = result.get("error")
        assert isinstance(err, pymysql.err.OperationalError), result
        assert result["elapsed"] < 5
        assert err.args[0] in (1105, 2013), err  # the proxy's ERR, or the connection closing
        if err.args[0] == 1105:
            assert "source database 127.0.0.1:%d" % mysql_server.port in err.args[1], err
        with pytest.raises((pymysql.err.OperationalError, pymysql.err.InterfaceError)):
            scalar(c, "select 1")
        assert scalar(other, "select 'after'") == "after"
        fresh = connect(mysql_proxy)
        assert scalar(fresh, "select connection_id()") != server_id
        fresh.close()
        assert mysql_proxy.running()
    finally:
        for x in (c, other, adm):
            try:
                x.close()
            except Exception:  # noqa: BLE001 - already closed by the kill
                pass


# ---------------------------------------------------------------------------
# MariaDB killed (SIGKILL) under a running query

@pytest.fixture
def restart_mariadb(mysql_server):
    yield mysql_server
    mysql_server.start()  # idempotent; the rest of the suite needs the server


def mariadb_pid(mysql_server):
    with open(os.path.join(mysql_server.test_dir, "mariadb", "mysqld.pid")) as f:
        return int(f.read().strip())


def test_mariadb_sigkill_mid_query(proxy_factory, restart_mariadb):
    """SIGKILL to mariadbd under select sleep(20): the running client gets
    an error within 5 s, an idle one on its next query; while MariaDB is
    down a new client gets a prompt error naming the source; the proxy keeps
    running and serves again once MariaDB is back, without a restart."""
    my = restart_mariadb
    p = proxy_factory(name="mysql-crash", source_dialect="mysql", init_source=my.url())
    busy = connect(p)
    idle = connect(p)
    try:
        assert scalar(idle, "select 1") == 1
        t, result = sleeping_query(busy)
        time.sleep(0.5)
        pid = mariadb_pid(my)
        t_kill = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        t.join(10)
        assert not t.is_alive(), "client still blocked 10 s after MariaDB died"
        assert isinstance(result.get("error"), pymysql.err.OperationalError), result
        assert time.monotonic() - t_kill < 5 + 0.5
        with pytest.raises((pymysql.err.OperationalError, pymysql.err.InterfaceError)):
            scalar(idle, "select 1")
        assert wait_until(lambda: not os.path.exists("/proc/%d" % pid), timeout=10)

        t0 = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as ei:
            connect(p)
        assert time.monotonic() - t0 < 10
        assert "127.0.0.1:%d" % my.port in str(ei.value), ei.value
        assert p.running(), "proxy died with its source"

        my.start()
        back = connect(p)
        assert scalar(back, "select 'back'") == "back"
        back.close()
    finally:
        for x in (busy, idle):
            try:
                x.close()
            except Exception:  # noqa: BLE001 - closed by the crash
                pass


def test_store_unreachable_at_start_refuses_login(proxy_factory, mysql_server):
    """A MySQL client of a proxy that cannot read the coordination state gets
    an ERR at once (it used to get the greeting and then wait for ever on its
    first query), as a PostgreSQL client gets 57P03; --coordination off
    serves from the source without a store."""
    from lmsproxy import free_port
    dead = "postgresql://lms_admin:x@127.0.0.1:%d/appdb?sslmode=disable" % free_port()
    p = proxy_factory(name="mysql-nostore", source_dialect="mysql", init_source=mysql_server.url(),
                      init_target=dead)
    t0 = time.monotonic()
    r = subprocess.run(["mariadb", "--skip-ssl", "-h", "127.0.0.1", "-P", str(p.port), "-u", MY_APP[0],
                        "-p" + MY_APP[1], MY_DB, "-e", "select 1"], capture_output=True, text=True, timeout=30)
    assert time.monotonic() - t0 < 5, "the refusal took %.1f s" % (time.monotonic() - t0)
    assert r.returncode != 0 and "coordination state" in r.stderr, (r.returncode, r.stdout, r.stderr)
    with pytest.raises(pymysql.err.OperationalError):
        connect(p, read_timeout=10)
    q = proxy_factory(name="mysql-nostore-off", source_dialect="mysql", init_source=mysql_server.url(),
                      init_target=dead, extra_args=["--coordination", "off"])
    c = connect(q)
    assert scalar(c, "select 'no store needed'") == "no store needed"
    c.close()
