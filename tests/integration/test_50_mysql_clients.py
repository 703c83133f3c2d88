"""50e. Real MySQL clients, unchanged, through molt-lms --source-dialect mysql
with TLS on both legs (the client verifies the proxy's certificate against
the test CA, the proxy verifies MariaDB's): the mariadb CLI, PyMySQL, MariaDB
Connector/J (server-side and client-side prepared statements), Perl
DBD::MariaDB (mariadb_server_prepare=1 and 0) and sysbench.  Each also with a
wrong password (MariaDB's own 1045 reaches it) and an untrusted CA (it
refuses the proxy).  The Java and Perl programs are in clients/."""

import os
import re
import shutil
import subprocess

import pymysql
import pytest

from mysqlraw import MY_ADMIN, MY_APP, MY_DB

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS = os.path.join(HERE, "clients")
JDBC_JAR = "/usr/share/java/mariadb-java-client.jar"


@pytest.fixture
def tls_proxy(proxy_factory, mysql_server):
    """TLS toward the client (required) and toward MariaDB (VERIFY_IDENTITY)."""
    q = "ssl-mode=VERIFY_IDENTITY&ssl-ca=%s" % mysql_server.cert("ca.crt")
    return proxy_factory(name="mysql-clients", source_dialect="mysql", tls=True,
                         init_source=mysql_server.url(query=q))


def need(tool):
    """The path of a client program; a missing one fails (tests/setup-debian.sh installs it)."""
    path = shutil.which(tool) or (tool if os.path.exists(tool) else None)
    if not path:
        pytest.fail("%s is not installed (run tests/setup-debian.sh)" % tool)
    return path


def admin(mysql_server):
    """A direct connection to MariaDB (not through the proxy)."""
    return pymysql.connect(host="127.0.0.1", port=mysql_server.port, user=MY_ADMIN[0], password=MY_ADMIN[1],
                           database=MY_DB, connect_timeout=10, autocommit=True)


def stmt_counters(mysql_server):
    """MariaDB's global Com_stmt_prepare and Com_stmt_execute."""
    c = admin(mysql_server)
    try:
        cur = c.cursor()
        cur.execute("show global status where variable_name in ('Com_stmt_prepare', 'Com_stmt_execute')")
        return {k.lower(): int(v) for k, v in cur.fetchall()}
    finally:
        c.close()


def key_values(text):
    """The name=value lines a client program printed."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k] = v
    return out


# ---------------------------------------------------------------------------
# the mariadb command-line client

def mariadb_cli(proxy, *args, password=MY_APP[1], ca="ca.crt"):
    cmd = [need("mariadb"), "--no-defaults", "-h", "127.0.0.1", "-P", str(proxy.port), "-u", MY_APP[0],
           "-p" + password, "--ssl", "--ssl-ca=" + proxy.env.cert(ca), "--ssl-verify-server-cert", MY_DB]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60)


def test_mariadb_cli(tls_proxy, uniq):
    """The client's leg is TLS (status shows the cipher); a multi-statement
    (one COM_QUERY, DELIMITER changed) and server-side prepared statements
    (PREPARE/EXECUTE in SQL) work."""
    r = mariadb_cli(tls_proxy, "-e", "status")
    assert r.returncode == 0, r.stderr
    assert re.search(r"SSL:\s+Cipher in use is \S+", r.stdout), r.stdout
    assert "TCP port:\t\t%d" % tls_proxy.port in r.stdout
    script = ("create table {t} (id int primary key, v varchar(20));\n"
              "delimiter //\n"
              "insert into {t} values (1, 'one'), (2, 'two'); select count(*) from {t}; select 'multi' //\n"
              "delimiter ;\n"
              "prepare s from 'select v from {t} where id = ?';\n"
              "set @i = 2;\n"
              "execute s using @i;\n"
              "deallocate prepare s;\n"
              "show session status like 'Ssl_version';\n"
              "drop table {t};\n").format(t=uniq)
    r = subprocess.run([need("mariadb"), "--no-defaults", "-h", "127.0.0.1", "-P", str(tls_proxy.port),
                        "-u", MY_APP[0], "-p" + MY_APP[1], "--ssl", "--ssl-ca=" + tls_proxy.env.cert("ca.crt"),
                        "--ssl-verify-server-cert", "-N", "-B", MY_DB],
                       input=script, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == ["2", "multi", "two"], lines
    assert lines[3].startswith("Ssl_version\tTLS"), lines  # the database's leg


def test_mariadb_cli_wrong_password_and_untrusted_ca(tls_proxy):
    r = mariadb_cli(tls_proxy, "-e", "select 1", password="wrong")
    assert r.returncode == 1
    assert "ERROR 1045 (28000): Access denied for user 'app'@'localhost'" in r.stderr, r.stderr
    r = mariadb_cli(tls_proxy, "-e", "select 1", ca="other-ca.crt")
    assert r.returncode == 1
    assert "ERROR 2026" in r.stderr, r.stderr  # TLS/SSL error: the proxy's certificate is not trusted


# ---------------------------------------------------------------------------
# PyMySQL

def pymysql_connect(proxy, password=MY_APP[1], ca="ca.crt", **kw):
    return pymysql.connect(host="127.0.0.1", port=proxy.port, user=MY_APP[0], password=password, database=MY_DB,
                           ssl_ca=proxy.env.cert(ca), ssl_verify_cert=True, ssl_verify_identity=True,
                           connect_timeout=10, read_timeout=60, **kw)


def test_pymysql(tls_proxy, uniq):
    """TLS verified, executemany, multi-statements, a stored procedure with
    two result sets, an unbuffered (SSCursor) result."""
    c = pymysql_connect(tls_proxy, client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS, autocommit=True)
    try:
        assert c._sock.getpeercert()["subjectAltName"]  # verified against the test CA
        cur = c.cursor()
        cur.execute("create table %s (id int primary key, v varchar(20)) default charset=utf8mb4" % uniq)
        cur.executemany("insert into %s values (%%s, %%s)" % uniq, [(i, "v\u00e9%d" % i) for i in range(300)])
        assert cur.rowcount == 300
        cur.execute("select count(*) from %s; update %s set v = 'u' where id < 10; select v from %s where id = 3"
                    % (uniq, uniq, uniq))
        assert cur.fetchall() == ((300,),)
        assert cur.nextset() and cur.rowcount == 10
        assert cur.nextset() and cur.fetchall() == (("u",),)
        assert not cur.nextset()
        cur.execute("create procedure %s_p(n int) begin select n; select v from %s where id = n; end" % (uniq, uniq))
        cur.callproc("%s_p" % uniq, (42,))
        assert cur.fetchall() == ((42,),)
        assert cur.nextset() and cur.fetchall() == (("v\u00e942",),)
        cur.nextset()  # the procedure's own OK
        cur.execute("drop procedure %s_p" % uniq)
        ss = c.cursor(pymysql.cursors.SSCursor)
        ss.execute("select id from %s order by id" % uniq)
        assert sum(1 for _ in ss) == 300
        ss.close()
        cur.execute("drop table %s" % uniq)
    finally:
        c.close()


def test_pymysql_wrong_password_and_untrusted_ca(tls_proxy):
    with pytest.raises(pymysql.err.OperationalError) as ei:
        pymysql_connect(tls_proxy, password="wrong")
    assert ei.value.args[0] == 1045 and "Access denied for user 'app'@'localhost'" in ei.value.args[1]
    with pytest.raises(pymysql.err.OperationalError) as ei:
        pymysql_connect(tls_proxy, ca="other-ca.crt")
    assert "CERTIFICATE_VERIFY_FAILED" in str(ei.value)


# ---------------------------------------------------------------------------
# MariaDB Connector/J (clients/MyJdbc.java)

@pytest.fixture(scope="module")
def jdbc_classes(clusters):
    """MyJdbc compiled with javac against Debian's Connector/J."""
    need("javac")
    if not os.path.exists(JDBC_JAR):
        pytest.fail("%s is missing (apt-get install libmariadb-java)" % JDBC_JAR)
    out = os.path.join(clusters.test_dir, "it-java")
    os.makedirs(out, exist_ok=True)
    r = subprocess.run(["javac", "-cp", JDBC_JAR, "-d", out, os.path.join(CLIENTS, "MyJdbc.java")],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    return out


def run_jdbc(classes, proxy, table, options="", password=MY_APP[1], ca="ca.crt"):
    url = "jdbc:mariadb://localhost:%d/%s?useSsl=true&serverSslCert=%s&allowMultiQueries=true%s" % (
        proxy.port, MY_DB, proxy.env.cert(ca), options)
    r = subprocess.run(["java", "-cp", JDBC_JAR + ":" + classes, "MyJdbc", url, MY_APP[0], password, table],
                       capture_output=True, text=True, timeout=120)
    return r, key_values(r.stdout)


CLIENT_SCRIPT_RESULTS = {
    "user": "app@localhost",
    "database": MY_DB,
    "insert1": "1",
    "name": "zo\u00eb \u2603",
    "amount": "12345.67",
    "data": "000102FF",
    "tx": None,  # per client below
    "dup": "1062 23000",
    "after_error": "still here",
    "done": "ok",
}


def expect_script(kv, **more):
    want = dict(CLIENT_SCRIPT_RESULTS, **more)
    for k, v in want.items():
        assert kv.get(k) == v, "%s: got %r, want %r (all: %r)" % (k, kv.get(k), v, kv)


@pytest.mark.parametrize("server_prep", [True, False], ids=["server-prep", "client-prep"])
def test_connector_j(jdbc_classes, tls_proxy, mysql_server, uniq, server_prep):
    """A typed round trip, a 500-row executeBatch (pipelined: more than the
    proxy's 64 queued commands), a 3 MiB setBinaryStream, commit and
    rollback, a multi-statement with result sets and update counts, a
    duplicate key that leaves the session usable.  useServerPrepStmts=true
    really prepares on MariaDB; false never does."""
    before = stmt_counters(mysql_server)
    r, kv = run_jdbc(jdbc_classes, tls_proxy, uniq, "&useServerPrepStmts=%s" % str(server_prep).lower())
    assert r.returncode == 0, r.stdout + r.stderr
    after = stmt_counters(mysql_server)
    expect_script(kv, at="2026-11-30 12:34:56.789012", flag_null="true", batch="500/500",
                  batch_rows="500 1247.50", blob_equal="true", blob_len=str(3 * 1024 * 1024), tx="4",
                  multi="[a](500)[500](0)")
    prepared = after["com_stmt_prepare"] - before["com_stmt_prepare"]
    executed = after["com_stmt_execute"] - before["com_stmt_execute"]
    if server_prep:
        assert prepared >= 5 and executed >= 500, (prepared, executed)
    else:
        assert prepared == 0 and executed == 0, (prepared, executed)


def test_connector_j_wrong_password_and_untrusted_ca(jdbc_classes, tls_proxy, uniq):
    r, kv = run_jdbc(jdbc_classes, tls_proxy, uniq, password="wrong")
    assert r.returncode == 2
    assert kv["error"].startswith("1045 28000 ") and "Access denied for user 'app'@'localhost'" in kv["error"]
    r, kv = run_jdbc(jdbc_classes, tls_proxy, uniq, ca="other-ca.crt")
    assert r.returncode == 2
    assert "PKIX path building failed" in kv["error"], kv


# ---------------------------------------------------------------------------
# Perl DBD::MariaDB (clients/my_dbd.pl)

def run_dbd(proxy, table, server_prepare, password=MY_APP[1], ca="ca.crt"):
    dsn = ("DBI:MariaDB:database=%s;host=127.0.0.1;port=%d;mariadb_ssl=1;mariadb_ssl_ca_file=%s;"
           "mariadb_ssl_verify_server_cert=1;mariadb_server_prepare=%d" % (
               MY_DB, proxy.port, proxy.env.cert(ca), server_prepare))
    r = subprocess.run([need("perl"), os.path.join(CLIENTS, "my_dbd.pl"), dsn, MY_APP[0], password, table],
                       capture_output=True, text=True, timeout=120)
    return r, key_values(r.stdout)


@pytest.mark.parametrize("server_prepare", [1, 0], ids=["server-prepare", "client-prepare"])
def test_dbd_mariadb(tls_proxy, mysql_server, uniq, server_prepare):
    """Placeholders with NULLs and binary data, 200 executions of one
    statement and execute_array, a 2 MiB value, transactions, multi-statements
    (mariadb_multi_statements), a duplicate key then more work."""
    r0 = subprocess.run(["perl", "-MDBD::MariaDB", "-e", "1"], capture_output=True, text=True)
    assert r0.returncode == 0, "DBD::MariaDB missing (apt-get install libdbd-mariadb-perl): " + r0.stderr
    before = stmt_counters(mysql_server)
    r, kv = run_dbd(tls_proxy, uniq, server_prepare)
    assert r.returncode == 0, r.stdout + r.stderr
    after = stmt_counters(mysql_server)
    expect_script(kv, server_prepare=str(server_prepare), nulls="null,null,null", executed="200",
                  execute_array="50 50", rows="250 249.00 19950", big_len=str(2 * 1024 * 1024), big_equal="1",
                  tx="5", multi="[a](50)[50](0)")
    executed = after["com_stmt_execute"] - before["com_stmt_execute"]
    if server_prepare:
        assert executed >= 250, executed
    else:
        assert executed == 0, executed


def test_dbd_mariadb_wrong_password_and_untrusted_ca(tls_proxy, uniq):
    r, kv = run_dbd(tls_proxy, uniq, 1, password="wrong")
    assert r.returncode == 2
    assert kv["error"] == "1045 28000 Access denied for user 'app'@'localhost' (using password: YES)", kv
    r, kv = run_dbd(tls_proxy, uniq, 1, ca="other-ca.crt")
    assert r.returncode == 2
    assert kv["error"].startswith("2026 "), kv


# ---------------------------------------------------------------------------
# sysbench (server-side prepared statements by default)

@pytest.fixture
def sysbench_dir(clusters, tmp_path):
    """sysbench --mysql-ssl=on reads cacert.pem (and a client certificate,
    which the proxy does not ask for) from its working directory."""
    need("sysbench")
    for src, dst in (("ca.crt", "cacert.pem"), ("client.crt", "client-cert.pem"), ("client.key", "client-key.pem")):
        shutil.copy(clusters.cert(src), str(tmp_path / dst))
    return tmp_path


def sysbench(cwd, proxy, test, command, *extra, password=MY_APP[1]):
    cmd = ["sysbench", "--db-driver=mysql", "--mysql-host=127.0.0.1", "--mysql-port=%d" % proxy.port,
           "--mysql-user=" + MY_APP[0], "--mysql-password=" + password, "--mysql-db=" + MY_DB,
           "--mysql-ssl=on", "--tables=2", "--table-size=2000", test, command] + list(extra)
    return subprocess.run(cmd, cwd=str(cwd), capture_output=True, text=True, timeout=120)


def sysbench_stats(out):
    """transactions, queries, ignored errors and reconnects of a run."""
    got = {}
    for name in ("transactions", "queries", "ignored errors", "reconnects"):
        m = re.search(r"^\s+%s:\s+(\d+)" % name, out, re.M)
        assert m, "no '%s' in sysbench output:\n%s" % (name, out)
        got[name] = int(m.group(1))
    return got


def test_sysbench(tls_proxy, mysql_server, sysbench_dir):
    """prepare, oltp_point_select (4 threads, no error tolerated),
    oltp_read_write (4 threads; the only errors sysbench may skip are
    InnoDB lock conflicts, which MariaDB raises as it would directly), then
    cleanup, all through the TLS proxy; the statements are server-side
    prepared."""
    sysbench(sysbench_dir, tls_proxy, "oltp_read_write", "cleanup")  # tables left by an interrupted run
    pre = sysbench(sysbench_dir, tls_proxy, "oltp_read_write", "prepare")
    assert pre.returncode == 0, pre.stdout + pre.stderr
    try:
        before = stmt_counters(mysql_server)
        r = sysbench(sysbench_dir, tls_proxy, "oltp_point_select", "run", "--threads=4", "--time=5",
                     "--mysql-ignore-errors=none")
        assert r.returncode == 0, r.stdout + r.stderr
        st = sysbench_stats(r.stdout)
        assert st["ignored errors"] == 0 and st["reconnects"] == 0, st
        assert st["queries"] >= 500, st
        assert stmt_counters(mysql_server)["com_stmt_execute"] - before["com_stmt_execute"] >= st["queries"]
        r = sysbench(sysbench_dir, tls_proxy, "oltp_read_write", "run", "--threads=4", "--time=5",
                     "--verbosity=5")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr
        st = sysbench_stats(r.stdout)
        assert st["reconnects"] == 0 and st["transactions"] >= 50, st
        ignored = re.findall(r"Ignoring error (\d+)", r.stdout + r.stderr)
        assert set(ignored) <= {"1213", "1205"}, ignored  # deadlock, lock wait timeout
        assert st["ignored errors"] <= st["transactions"] // 20, st
    finally:
        sysbench(sysbench_dir, tls_proxy, "oltp_read_write", "cleanup")


def test_sysbench_wrong_password_and_plain(tls_proxy, sysbench_dir):
    r = sysbench(sysbench_dir, tls_proxy, "oltp_point_select", "run", "--time=1", password="wrong")
    assert r.returncode != 0
    assert "error 1045: Access denied for user 'app'@'localhost'" in r.stdout + r.stderr
    r = subprocess.run(["sysbench", "--db-driver=mysql", "--mysql-host=127.0.0.1", "--mysql-port=%d" % tls_proxy.port,
                        "--mysql-user=app", "--mysql-password=app-pw", "--mysql-db=appdb", "--mysql-ssl=off",
                        "oltp_point_select", "run", "--time=1"],
                       cwd=str(sysbench_dir), capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "error 3159: molt-lms requires TLS" in r.stdout + r.stderr
