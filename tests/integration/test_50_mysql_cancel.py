"""50g. Cancel through mysql.so: a KILL naming a session by the connection
id of the proxy's greeting (what clients know) is pointed at that session's
server thread (plugins/mysql/kill.c, ABI 1.3 backend_key_of).  The issuing
connection stays open and MariaDB judges privileges as it would directly.
Tested by hand (PyMySQL: KILL QUERY, KILL, COM_PROCESS_KILL), with the
mariadb CLI's Ctrl-C and Connector/J's Statement.cancel()."""

import signal
import subprocess
import threading
import time

import pymysql
import pytest

from mysqlraw import MY_APP, MY_DB, MY_TLS

from test_50_mysql_clients import jdbc_classes, run_jdbc, tls_proxy  # noqa: F401 - fixtures


def connect(proxy, user=MY_APP, tls=False, **kw):
    args = dict(host="127.0.0.1", port=proxy.port, user=user[0], password=user[1], database=MY_DB,
                connect_timeout=10, read_timeout=30, autocommit=True)
    if tls:
        args.update(ssl_ca=proxy.env.cert("ca.crt"), ssl_verify_cert=True)
    args.update(kw)
    return pymysql.connect(**args)


def scalar(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchone()[0]


def sleeping(conn, seconds=20):
    """select sleep(seconds) on conn in a thread: (thread, result)."""
    result = {}

    def run():
        t0 = time.monotonic()
        try:
            cur = conn.cursor()
            cur.execute("select sleep(%d)" % seconds)
            result["rows"] = cur.fetchall()
        except Exception as e:  # noqa: BLE001 - inspected by the caller
            result["error"] = e
        result["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.7)  # the query is running on the server
    return t, result


def test_kill_query_by_proxy_id(mysql_proxy):
    """KILL QUERY <the id PyMySQL got in the greeting> from a second
    connection: MariaDB's 1317 reaches the first within 5 s, and both
    sessions go on, the first on the same server thread."""
    a = connect(mysql_proxy)
    b = connect(mysql_proxy)
    try:
        server_id = scalar(a, "select connection_id()")
        proxy_id = a.thread_id()
        assert proxy_id != server_id and 0 < proxy_id < 2 ** 31  # positive as a signed int32 too
        t, result = sleeping(a)
        cur = b.cursor()
        cur.execute("kill query %d" % proxy_id)
        t.join(10)
        assert not t.is_alive()
        err = result.get("error")
        assert isinstance(err, pymysql.err.OperationalError) and err.args[0] == 1317, result
        assert result["elapsed"] < 5
        assert scalar(a, "select connection_id()") == server_id
        assert scalar(b, "select 'issuer still here'") == "issuer still here"
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("how", ["KILL %d", "KILL CONNECTION %d", "COM_PROCESS_KILL"])
def test_kill_connection_by_proxy_id(mysql_proxy, how):
    """KILL [CONNECTION] <proxy id> as SQL, and the old COM_PROCESS_KILL
    command (PyMySQL's kill()): the named session ends, the issuer goes on."""
    a = connect(mysql_proxy)
    b = connect(mysql_proxy)
    try:
        t, result = sleeping(a)
        if how == "COM_PROCESS_KILL":
            b.kill(a.thread_id())
        else:
            b.cursor().execute(how % a.thread_id())
        t.join(10)
        assert not t.is_alive()
        assert isinstance(result.get("error"), pymysql.err.OperationalError), result
        assert result["elapsed"] < 5
        with pytest.raises((pymysql.err.OperationalError, pymysql.err.InterfaceError)):
            scalar(a, "select 1")
        assert scalar(b, "select 'issuer still here'") == "issuer still here"
    finally:
        for c in (a, b):
            try:
                c.close()
            except Exception:  # noqa: BLE001 - killed
                pass


def test_server_ids_and_unknown_ids_forwarded(mysql_proxy):
    """An id the proxy did not hand out goes to MariaDB unchanged: the
    server's own thread id (SELECT CONNECTION_ID()) still works, and an
    unknown id gets MariaDB's 1094 naming that id."""
    a = connect(mysql_proxy)
    b = connect(mysql_proxy)
    try:
        server_id = scalar(a, "select connection_id()")
        t, result = sleeping(a)
        b.cursor().execute("KILL QUERY %d" % server_id)
        t.join(10)
        assert result["error"].args[0] == 1317, result
        with pytest.raises(pymysql.err.OperationalError) as ei:
            b.cursor().execute("kill query 12345678")
        assert ei.value.args[0] == 1094 and "12345678" in ei.value.args[1]
    finally:
        a.close()
        b.close()


def test_kill_of_another_users_session_judged_by_mariadb(tls_proxy):  # noqa: F811 - fixture
    """app_tls may not kill app's query: the id is rewritten, and MariaDB
    refuses (1095, naming its own thread id) as it would directly."""
    a = connect(tls_proxy, tls=True)
    b = connect(tls_proxy, user=MY_TLS, tls=True)
    try:
        server_id = scalar(a, "select connection_id()")
        with pytest.raises(pymysql.err.OperationalError) as ei:
            b.cursor().execute("KILL QUERY %d" % a.thread_id())
        assert ei.value.args[0] == 1095, ei.value
        assert str(server_id) in ei.value.args[1]  # MariaDB saw its own id
        assert scalar(a, "select 'untouched'") == "untouched"
    finally:
        a.close()
        b.close()


def test_mariadb_cli_ctrl_c(tls_proxy):  # noqa: F811 - fixture
    """Ctrl-C in the mariadb client: it kills the running query through a
    second connection (KILL QUERY <greeting's id>) and goes on."""
    p = subprocess.Popen(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(tls_proxy.port), "-u", MY_APP[0],
                          "-p" + MY_APP[1], "--ssl", "--ssl-ca=" + tls_proxy.env.cert("ca.crt"),
                          "--ssl-verify-server-cert", MY_DB, "-e", "select sleep(20)"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert time.monotonic() - t0 < 5
    assert "Ctrl-C -- query killed" in out, out
    assert "ERROR 1317" in err, err


def test_connector_j_statement_cancel(jdbc_classes, tls_proxy):  # noqa: F811 - fixtures
    """Statement.cancel() from another thread after 1 s: Connector/J sends
    KILL QUERY with the greeting's id on a connection of its own."""
    r, kv = run_jdbc(jdbc_classes, tls_proxy, "--cancel")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "cancel_failed" not in kv, kv
    assert kv.get("cancelled") == "1317 70100", kv
    assert int(kv["elapsed_ms"]) < 5000, kv
    assert kv.get("after_cancel") == "still here", kv

