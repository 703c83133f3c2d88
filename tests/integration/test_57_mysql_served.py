"""57. MySQL clients served by the PostgreSQL-protocol target after a cutover
(issue 7, "after cutover"; plugin ABI 1.4): with --source-dialect mysql the
clients connected to MariaDB through molt-lms keep working once the target is
the source of truth.  Their requests are translated (COM_QUERY -> Query,
COM_STMT_PREPARE -> Parse + Describe, COM_STMT_EXECUTE -> Parse + Bind +
Execute) and the answers written back as MySQL packets (text and binary rows,
OK with affected rows, ERR with a MySQL errno and PostgreSQL's SQLSTATE); the
start-up queries of connectors are answered by molt-lms itself.

The switch is pushed to the admin API (--coordination off), as in
test_50_mysql_refusals.py; logins after the switch are another slice of
issue 7 (LMS-side verification), so every client here connects before it."""

import datetime
import subprocess
from decimal import Decimal

import pymysql
import pytest

from mysqlraw import MY_APP, MY_DB, MyError, MyRaw
from test_30_control import api
from test_56_mysql_shadow import ALL, TwoSides, my_connect


def served_proxy(proxy_factory, mysql_server, **kw):
    return proxy_factory(name="myserved", source_dialect="mysql", init_source=mysql_server.url(),
                         extra_args=["--coordination", "off"], **kw)


def cut_over(p, cert=None):
    """Make the target the source of truth (the orchestrator's steps);
    cert: the admin client certificate of a proxy with --ssl-ca."""
    for body in ({"epoch": 5, "phase": "paused", "source_of_truth": "source"},
                 {"epoch": 6, "phase": "serving", "source_of_truth": "target"}):
        st, doc = api(p, "POST", "/api/v1/state", body, cert=cert)
        assert st == 200 and doc["applied"], doc


def raw_login(p, **kw):
    r = MyRaw("127.0.0.1", p.port, timeout=30)
    r.login(MY_APP[0], MY_APP[1], **kw)
    return r


def on_target(two, sql):
    cur = two.pg.cursor()
    cur.execute(sql)
    return cur.fetchall() if cur.description else cur.rowcount


@pytest.fixture
def two(lms_env, mysql_server, uniq):
    t = TwoSides(lms_env, mysql_server, uniq)
    yield t
    t.drop()


EXPECTED = [
    (1, 1, Decimal("1.5000"), datetime.datetime(2024, 1, 2, 3, 4, 5, 500000), datetime.date(2024, 1, 2), 0.1,
     "one", b"\x01\xab", 9007199254740993, None),
    (2, 0, Decimal("-2.0000"), datetime.datetime(2024, 2, 29, 23, 59, 59), datetime.date(2024, 2, 29), 1e20,
     "two", b"", -5, None),
    (3, 1, Decimal("0.0500"), datetime.datetime(1999, 12, 31, 0, 0, 0, 1000), datetime.date(1999, 12, 31), -2.5,
     "thr'ee", b"\x00", 0, None),
]


def test_pymysql_queries_after_cutover(proxy_factory, mysql_server, two):
    """A PyMySQL connection opened on MariaDB: after the switch its queries
    run on PostgreSQL and come back typed as MySQL would type them."""
    p = served_proxy(proxy_factory, mysql_server)
    c = my_connect(p.port)
    cur = c.cursor()
    cur.execute("select count(*) from %s" % two.name)
    assert cur.fetchone() == (3,)
    cut_over(p)
    cur.execute("select %s from %s order by id" % (ALL, two.name))
    assert cur.fetchall() == tuple(EXPECTED)
    types = [d[1] for d in cur.description]
    # int, tinyint (bool), newdecimal, datetime, date, double, var_string, blob, longlong, int
    assert types == [3, 1, 246, 12, 10, 5, 253, 252, 8, 3], cur.description
    assert cur.description[2][5] == 4  # decimals: numeric(12,4)
    # the rows really come from the target now
    on_target(two, "update %s set name = 'pg-only' where id = 3" % two.name)
    cur.execute("select name from %s where id = 3" % two.name)
    assert cur.fetchone() == ("pg-only",)
    # DML: affected rows
    assert cur.execute("update %s set big = big + 1 where id >= 2" % two.name) == 2
    assert cur.execute("insert into %s (id, name) values (10, 'ten'), (11, 'eleven')" % two.name) == 2
    assert cur.execute("delete from %s where id = 11" % two.name) == 1
    assert on_target(two, "select name from %s where id = 10" % two.name) == [("ten",)]
    # multi-row, NULLs and text
    cur.execute("select id, nul, name from %s where id in (1, 10) order by id" % two.name)
    assert cur.fetchall() == ((1, None, "one"), (10, None, "ten"))
    cur.execute("select 'caf\u00e9 \u2603', null, true, false, 1.50::numeric(5,2), 7::smallint")
    assert cur.fetchone() == ("caf\u00e9 \u2603", None, 1, 0, Decimal("1.50"), 7)
    c.close()


@pytest.mark.parametrize("sql,errno,sqlstate", [
    ("insert into {t} (id) values (1)", 1062, "23505"),
    ("select * from no_such_table_57", 1146, "42P01"),
    ("selec 1", 1064, "42601"),
    ("select no_such_column from {t}", 1054, "42703"),
    ("insert into {t} (id, name) values (null, 'x')", 1048, "23502"),
    ("select 1 / 0", 1365, "22012"),
    ("select pg_sleep(5) from {t}", 1317, "57014"),
])
def test_errors_after_cutover(proxy_factory, mysql_server, two, sql, errno, sqlstate):
    """PostgreSQL's errors reach the client as ERR packets: a MySQL errno
    from the SQLSTATE (docs/mysql.md), PostgreSQL's SQLSTATE and message
    kept; the connection stays usable."""
    p = served_proxy(proxy_factory, mysql_server)
    c = my_connect(p.port)
    r = raw_login(p)
    cut_over(p)
    cur = c.cursor()
    if sqlstate == "57014":
        cur.execute("set statement_timeout = 200")
        r.query("set statement_timeout = 200")
    with pytest.raises(pymysql.MySQLError) as e:
        cur.execute(sql.format(t=two.name))
    assert e.value.args[0] == errno, e.value.args
    with pytest.raises(MyError) as e2:
        r.query(sql.format(t=two.name))
    assert (e2.value.code, e2.value.sqlstate) == (errno, sqlstate), e2.value
    assert e2.value.message.strip(), e2.value
    cur.execute("select 'still here'")
    assert cur.fetchone() == ("still here",)
    assert r.query("select 2") == [("rows", [{"name": "?column?", "type": 3}], [[b"2"]])]
    c.close()
    r.close()


def test_prepared_statements_before_and_after(proxy_factory, mysql_server, two):
    """A statement prepared on MariaDB keeps its id and runs on PostgreSQL
    after the switch (its text was kept); one prepared after the switch
    gets an id above every id MariaDB gave; binary rows carry each type in
    its binary form."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    before = r.prepare("select id, name from %s where id = ?" % two.name)
    other = r.prepare("select ?")
    assert r.execute(before, ("1",))[2] == [[1, b"one"]]
    cut_over(p)
    assert r.execute(before, ("2",))[2] == [[2, b"two"]]
    after = r.prepare("select %s from %s where id >= ? order by id" % (ALL, two.name))
    assert after["id"] > max(before["id"], other["id"]), (before, other, after)
    assert (after["params"], after["cols"]) == (1, 10)
    kind, cols, rows = r.execute(after, ("2",))
    assert [c["type"] for c in cols] == [3, 1, 246, 12, 10, 5, 253, 252, 8, 3]
    assert rows == [
        [2, 0, b"-2.0000", datetime.datetime(2024, 2, 29, 23, 59, 59), datetime.date(2024, 2, 29), 1e20, b"two",
         b"", -5, None],
        [3, 1, b"0.0500", datetime.datetime(1999, 12, 31, 0, 0, 0, 1000), datetime.date(1999, 12, 31), -2.5,
         b"thr'ee", b"\x00", 0, None],
    ]
    # DML through a statement, NULL parameters, no result set
    upd = r.prepare("update %s set name = ? where id = ?" % two.name)
    assert (upd["params"], upd["cols"]) == (2, 0)
    assert r.execute(upd, ("renamed", "1")) == ("ok", 1)
    assert r.execute(upd, (None, "2")) == ("ok", 1)
    assert on_target(two, "select id, name from %s where id <= 2 order by id" % two.name) == [(1, "renamed"), (2, None)]
    # times and small ints
    t = r.prepare("select '12:34:56.5'::time, 5::smallint, 2.5::real, ?::int")
    assert r.execute(t, (None,))[2] == [[datetime.timedelta(hours=12, minutes=34, seconds=56, microseconds=500000),
                                         5, 2.5, None]]
    # errors of a prepare and of an execution, the session goes on
    with pytest.raises(MyError) as e:
        r.prepare("select nothing from no_such_table_57")
    assert (e.value.code, e.value.sqlstate) == (1146, "42P01")
    dup = r.prepare("insert into %s (id) values (?)" % two.name)
    with pytest.raises(MyError) as e:
        r.execute(dup, ("1",))
    assert (e.value.code, e.value.sqlstate) == (1062, "23505")
    r.close_stmt(before)
    r.reset(after)
    assert r.execute(after, ("3",))[2][0][0] == 3
    with pytest.raises(MyError):
        r.execute(before, ("1",))  # closed: unknown now
    assert r.query("select 'alive'")[0][2] == [[b"alive"]]
    r.close()


def test_startup_queries_answered(proxy_factory, mysql_server, two):
    """What connectors send on their own (docs/mysql.md) keeps working on
    connections opened before the switch: answered by molt-lms."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    c = my_connect(p.port)
    cut_over(p)
    cur = c.cursor()
    cur.execute("SET NAMES utf8mb4")
    cur.execute("SET character_set_results = NULL")
    cur.execute("SET autocommit=1")
    cur.execute("set autocommit=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES'), session_track_schema=1")
    cur.execute("SELECT @@version_comment LIMIT 1")
    assert "molt-lms" in cur.fetchone()[0]
    cur.execute("SELECT @@session.auto_increment_increment AS auto_increment_increment, @@max_allowed_packet")
    assert cur.fetchone() == (1, 16777216)
    assert [d[0] for d in cur.description] == ["auto_increment_increment", "@@max_allowed_packet"]
    cur.execute("SHOW VARIABLES LIKE 'max\\_allowed%'")
    assert cur.fetchall() == (("max_allowed_packet", "16777216"),)
    cur.execute("SHOW VARIABLES WHERE Variable_name in ('time_zone', 'system_time_zone')")
    assert sorted(cur.fetchall()) == [("system_time_zone", "UTC"), ("time_zone", "SYSTEM")]
    cur.execute("SHOW WARNINGS")
    assert cur.fetchall() == ()
    cur.execute("SELECT DATABASE()")
    assert cur.fetchone() == (MY_DB,)
    cur.execute("USE %s" % MY_DB)
    c.select_db(MY_DB)  # COM_INIT_DB
    with pytest.raises(pymysql.MySQLError) as e:
        c.select_db("otherdb")
    assert e.value.args[0] == 1049
    cur.execute("SET autocommit=0")  # (test_57_mysql_autocommit.py)
    cur.execute("SELECT @@autocommit")
    assert cur.fetchone() == (0,)
    cur.execute("SET autocommit=1")
    with pytest.raises(pymysql.MySQLError) as e:
        cur.execute("SELECT @@no_such_variable")
    assert e.value.args[0] == 1193
    c.ping(reconnect=False)
    # SET of a variable molt-lms does not know goes to the database as written
    cur.execute("SET statement_timeout = 1000")
    cur.execute("show statement_timeout")
    assert cur.fetchone() == ("1s",)
    # the raw client: COM_PING, COM_RESET_CONNECTION, the status flags
    r.command(0x0e)
    assert r.read_ok(1)[0] == 1
    r.command(0x1f)
    r.read_ok(1)
    r.close()
    c.close()


def test_transactions_after_cutover(proxy_factory, mysql_server, two):
    """BEGIN ... COMMIT / ROLLBACK on the target, with MySQL's in-transaction
    status flag; a multi-statement gives one result each."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    c = my_connect(p.port)
    cut_over(p)
    r.query("start transaction")
    assert r.status & 0x1
    r.query("update %s set name = 'in tx' where id = 1" % two.name)
    assert r.status & 0x1
    assert on_target(two, "select name from %s where id = 1" % two.name) == [("one",)]
    r.query("rollback")
    assert not r.status & 0x1
    cur = c.cursor()
    cur.execute("begin")
    cur.execute("update %s set name = 'committed' where id = 1" % two.name)
    c.commit()
    assert on_target(two, "select name from %s where id = 1" % two.name) == [("committed",)]
    out = r.query("select 1 as a; update %s set big = 1 where id <= 2; select 'x' as b" % two.name)
    assert out == [("rows", [{"name": "a", "type": 3}], [[b"1"]]), ("ok", 2),
                   ("rows", [{"name": "b", "type": 253}], [[b"x"]])]
    r.close()
    c.close()


@pytest.mark.parametrize("deprecate_eof", [False, True], ids=["eof", "deprecate-eof"])
def test_result_ends(proxy_factory, mysql_server, two, deprecate_eof):
    """With and without CLIENT_DEPRECATE_EOF (an OK 0xFE ends result sets)."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p, deprecate_eof=deprecate_eof)
    cut_over(p)
    kind, cols, rows = r.query("select id, name from %s order by id" % two.name)[0]
    assert [row[0] for row in rows] == [b"1", b"2", b"3"]
    st = r.prepare("select id from %s where id < ?" % two.name)
    assert r.execute(st, ("3",))[2] == [[1], [2]]
    assert r.query("select 1 where false")[0][2] == []
    r.close()


def test_oversized_row_is_refused_clearly(proxy_factory, mysql_server, two):
    """A row over the 32 KiB buffers is assembled and translated whole; one
    too big to translate (over 16 MiB) never reaches the client cut or
    wrong: it gets an error naming the limit; other sessions go on."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    c = my_connect(p.port)
    cut_over(p)
    cur = c.cursor()
    cur.execute("select repeat('x', 30000)")
    assert len(cur.fetchone()[0]) == 30000
    kind, cols, rows = r.query("select repeat('y', 40000)")[0]
    assert rows == [[b"y" * 40000]]
    with pytest.raises(MyError) as e:
        r.query("select repeat('y', 17000000)")
    assert "too large to translate" in e.value.message and "16777220" in e.value.message, e.value
    cur.execute("select 'other session'")
    assert cur.fetchone() == ("other session",)
    r.close()
    c.close()


def test_mariadb_cli_connected_before(proxy_factory, mysql_server, two):
    """The mariadb command-line client, started before the switch, reading
    its statements from a pipe: answers from both sides of the cutover."""
    p = served_proxy(proxy_factory, mysql_server)
    cli = subprocess.Popen(["mariadb", "-h", "127.0.0.1", "-P", str(p.port), "-u", MY_APP[0],
                            "-p" + MY_APP[1], "--skip-ssl", "--batch", "--unbuffered", "--skip-column-names",
                            "--force", MY_DB], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        cli.stdin.write("select concat('before:', count(*)) from %s;\n" % two.name)
        cli.stdin.flush()
        assert cli.stdout.readline().strip() == "before:3"
        on_target(two, "insert into %s (id, name) values (42, 'only on the target')" % two.name)
        cut_over(p)
        cli.stdin.write("select name from %s where id = 42;\n" % two.name)
        cli.stdin.write("select id, amount, flag, d from %s where id = 1;\n" % two.name)
        cli.stdin.write("insert into %s (id) values (1);\n" % two.name)
        cli.stdin.write("select @@version_comment;\n")
        cli.stdin.close()
        out = cli.stdout.read()
        assert cli.wait(30) in (0, 1), out  # --force: the duplicate fails, the rest runs
    finally:
        if cli.poll() is None:
            cli.kill()
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0] == "only on the target", out
    assert lines[1] == "1\t1.5000\t1\t2024-01-02", out
    assert "ERROR 1062 (23505)" in out, out
    assert "molt-lms" in lines[-1], out


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_cutover_while_shadowing(proxy_factory, mysql_server, two, mode):
    """Shadowing MariaDB onto PostgreSQL, then the cutover: the shadow
    connection (translated since ABI 1.3) is promoted to the session's
    source of truth or the session logs in anew there, and serves it."""
    p = proxy_factory(name="myserved-" + mode, source_dialect="mysql", init_source=mysql_server.url(),
                      extra_args=["--coordination", "off"], shadow_mode=mode)
    c = my_connect(p.port)
    r = raw_login(p)
    st = r.prepare("select name from %s where id = ?" % two.name)
    cur = c.cursor()
    cur.execute("select count(*) from %s" % two.name)
    assert cur.fetchone() == (3,)
    cut_over(p)
    on_target(two, "update %s set name = 'pg' where id = 2" % two.name)
    cur.execute("select %s from %s where id <> 2 order by id" % (ALL, two.name))
    assert cur.fetchall() == (EXPECTED[0], EXPECTED[2])
    assert r.execute(st, ("2",))[2] == [[b"pg"]]
    assert cur.execute("update %s set big = big + 1 where id >= 2" % two.name) == 2
    with pytest.raises(pymysql.MySQLError) as e:
        cur.execute("insert into %s (id) values (1)" % two.name)
    assert e.value.args[0] == 1062
    assert "session_switch" in p.read_log()
    c.close()
    r.close()


# ---------------------------------------------------------------------------
# MariaDB Connector/J (clients/MyServe.java), connected before the switch

JDBC_JAR = "/usr/share/java/mariadb-java-client.jar"


@pytest.fixture(scope="module")
def serve_classes(clusters):
    import os
    out = os.path.join(clusters.test_dir, "it-java-serve")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients", "MyServe.java")
    r = subprocess.run(["javac", "-cp", JDBC_JAR, "-d", out, src], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    return out


class Jdbc:
    """A MyServe process: one command, its answer lines."""

    def __init__(self, classes, proxy, options):
        url = "jdbc:mariadb://127.0.0.1:%d/%s?%s" % (proxy.port, MY_DB, options)
        self.p = subprocess.Popen(["java", "-cp", JDBC_JAR + ":" + classes, "MyServe", url, MY_APP[0], MY_APP[1]],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        assert self._answer() == ["connected"]

    def _answer(self):
        lines = []
        while True:
            line = self.p.stdout.readline()
            assert line, "MyServe ended: %r" % lines
            line = line.rstrip("\n")
            if line.endswith("END"):
                if line != "END":
                    lines.append(line[:-4].strip())
                return lines
            lines.append(line)

    def __call__(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self._answer()

    def close(self):
        self.p.stdin.close()
        assert self.p.wait(30) == 0


@pytest.mark.parametrize("server_prep", [True, False], ids=["server-prep", "client-prep"])
def test_connector_j_across_cutover(serve_classes, proxy_factory, mysql_server, two, server_prep):
    """Connector/J with server-side (COM_STMT_PREPARE) or client-side
    prepared statements: statements prepared before the switch keep
    working, new ones prepare on PostgreSQL, typed getters read the
    translated values, errors carry MySQL's errno."""
    p = served_proxy(proxy_factory, mysql_server)
    j = Jdbc(serve_classes, p, "useServerPrepStmts=%s&allowMultiQueries=true" % str(server_prep).lower())
    try:
        assert j("P by_id select id, name, amount from %s where id = ?" % two.name) == ["prepared"]
        assert j("X by_id 1") == ["row=1|one|1.50"]
        cut_over(p)
        assert j("X by_id 3") == ["row=3|thr'ee|0.0500"]
        assert j("Q select id, flag, name from %s order by id" % two.name) == [
            "row=1|1|one", "row=2|0|two", "row=3|1|thr'ee"]
        assert j("T select id, amount, ts, d, flag, data, f from %s where id = 1" % two.name) == [
            "typed=1|1.5000|2024-01-02 03:04:05.5|2024-01-02|true|01AB|0.1"]
        assert j("P upd update %s set name = ? where id = ?" % two.name) == ["prepared"]
        assert j("X upd jdbc|2") == ["count=1"]
        assert on_target(two, "select name from %s where id = 2" % two.name) == [("jdbc",)]
        assert j("X upd \\N|3") == ["count=1"]
        assert j("P ins insert into %s (id) values (?)" % two.name) == ["prepared"]
        out = j("X ins 1")
        assert out[0].startswith("error=1062 23505"), out
        assert j("Q select 'after error'") == ["row=after error"]
        assert j("V") == ["valid=true"]
        assert j("Q SELECT @@max_allowed_packet") == ["row=16777216"]
        assert j("Q SET NAMES utf8mb4") == ["count=0"]
    finally:
        j.close()


# ---------------------------------------------------------------------------
# Perl DBD::MariaDB (clients/my_serve.pl), connected before the switch

class Dbd(Jdbc):
    """A my_serve.pl process, driven as MyServe."""

    def __init__(self, proxy, server_prepare):
        import os
        dsn = "DBI:MariaDB:database=%s;host=127.0.0.1;port=%d;mariadb_server_prepare=%d" % (
            MY_DB, proxy.port, server_prepare)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients", "my_serve.pl")
        self.p = subprocess.Popen(["perl", script, dsn, MY_APP[0], MY_APP[1]], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self._answer() == ["connected"]


@pytest.mark.parametrize("server_prepare", [1, 0], ids=["server-prepare", "client-prepare"])
def test_dbd_mariadb_across_cutover(proxy_factory, mysql_server, two, server_prepare):
    p = served_proxy(proxy_factory, mysql_server)
    d = Dbd(p, server_prepare)
    try:
        assert d("P by_id select id, name, amount from %s where id = ?" % two.name) == ["prepared"]
        assert d("X by_id 1") == ["row=1|one|1.50"]
        cut_over(p)
        assert d("X by_id 3") == ["row=3|thr'ee|0.0500"]
        assert d("Q select id, flag, d, ts from %s where id = 2" % two.name) == [
            "row=2|0|2024-02-29|2024-02-29 23:59:59.000"]  # DATETIME(3), as MariaDB prints it
        assert d("P upd update %s set name = ? where id = ?" % two.name) == ["prepared"]
        assert d("X upd perl|2") == ["count=1"]
        assert on_target(two, "select name from %s where id = 2" % two.name) == [("perl",)]
        out = d("Q insert into %s (id) values (1)" % two.name)
        assert out[0].startswith("error=1062 23505"), out
        assert d("Q select 'after error'") == ["row=after error"]
    finally:
        d.close()


# ---------------------------------------------------------------------------
# Go's database/sql with go-sql-driver/mysql (clients/my_serve.go), a
# MySQL 8 era driver, connected before the switch

@pytest.fixture(scope="module")
def go_serve(clusters):
    import os
    out = os.path.join(clusters.test_dir, "it-go-serve")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients", "my_serve.go")
    env = dict(os.environ, GOPATH="/usr/share/gocode", GO111MODULE="off", GOCACHE=os.path.join(out, "cache"),
               GOFLAGS="")
    binary = os.path.join(out, "my_serve")
    r = subprocess.run(["go", "build", "-o", binary, src], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    return binary


class GoServe(Jdbc):
    """A my_serve.go process, driven as MyServe; TLS verified against the
    test CA, with the test client certificate (the proxy has --ssl-ca)."""

    def __init__(self, binary, proxy, options, password=MY_APP[1], ca="ca.crt"):
        import os
        dsn = "%s:%s@tcp(127.0.0.1:%d)/%s?tls=lms&%s" % (MY_APP[0], password, proxy.port, MY_DB, options)
        env = dict(os.environ, LMS_CA=proxy.env.cert(ca), LMS_CERT=proxy.env.cert("client.crt"),
                   LMS_KEY=proxy.env.cert("client.key"))
        self.p = subprocess.Popen([binary, dsn], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        self.first = self._answer()


@pytest.fixture
def keyed(lms_env, mysql_server, uniq):
    """A table whose key the database generates, on both sides."""
    name = uniq + "_k"
    my = my_connect(mysql_server.port)
    pg = lms_env.target_admin_connect()
    my.cursor().execute("create table %s (id int auto_increment primary key, v varchar(20))" % name)
    pg.cursor().execute("create table %s (id serial primary key, v varchar(20))" % name)
    pg.cursor().execute("select setval('%s_id_seq', 100)" % name)
    yield name
    for c in (my, pg):
        c.cursor().execute("drop table if exists %s" % name)
        c.close()


@pytest.mark.parametrize("options", ["", "interpolateParams=true"], ids=["server-prep", "interpolated"])
def test_go_driver_across_cutover(go_serve, proxy_factory, mysql_server, two, keyed, options):
    """go-sql-driver/mysql over TLS: prepared statements (server-side, or
    arguments interpolated into the text) made before the switch keep
    working after it, new ones prepare on PostgreSQL, LastInsertId is the
    key each database generated, errors carry MySQL's errno; a wrong
    password gets MariaDB's 1045.  (Its login after a switch:
    test_58_mysql_login.py.)"""
    p = served_proxy(proxy_factory, mysql_server, tls=True, ssl_ca=True)
    wrong = GoServe(go_serve, p, options, password="wrong")  # MariaDB's own refusal, relayed
    assert wrong.first[0].startswith("error=1045 Access denied for user 'app'@"), wrong.first
    assert wrong.p.wait(30) == 1
    g = GoServe(go_serve, p, options)
    try:
        assert g.first == ["connected"]
        assert g("P by_id select id, name, amount from %s where id = ?" % two.name) == ["prepared"]
        assert g("X by_id 1") == ["row=1|one|1.50"]
        assert g("E insert into %s (v) values ('before')" % keyed) == ["count=1 id=1"]
        cut_over(p, cert=(p.env.cert("client.crt"), p.env.cert("client.key")))
        assert g("X by_id 3") == ["row=3|thr'ee|0.0500"]
        assert g("Q select id, flag, name from %s order by id" % two.name) == [
            "row=1|1|one", "row=2|0|two", "row=3|1|thr'ee"]
        assert g("P upd update %s set name = ? where id = ?" % two.name) == ["prepared"]
        assert g("Y upd go|2") == ["count=1 id=0"]
        assert on_target(two, "select name from %s where id = 2" % two.name) == [("go",)]
        assert g("Y upd \\N|3") == ["count=1 id=0"]
        assert g("P add insert into %s (v) values (?)" % keyed) == ["prepared"]
        assert g("Y add after") == ["count=1 id=101"]
        assert g("E insert into %s (v) values ('again')" % keyed) == ["count=1 id=102"]
        assert on_target(two, "select id, v from %s order by id" % keyed) == [(101, "after"), (102, "again")]
        assert g("P dup insert into %s (id) values (?)" % two.name) == ["prepared"]
        out = g("Y dup 1")
        assert out[0].startswith("error=1062 "), out
        assert g("Q select 'after error'") == ["row=after error"]
        assert g("C by_id") == ["closed"]
        assert g("P by_id select name from %s where id = ?" % two.name) == ["prepared"]
        assert g("X by_id 2") == ["row=go"]
        assert g("V") == ["valid=true"]
    finally:
        g.close()


def test_command_after_a_close_goes_to_the_new_source_of_truth(proxy_factory, mysql_server, two):
    """COM_STMT_CLOSE gets no answer, so it cannot end a request by an
    answer: the command after it must still be a request of its own, held
    by a cutover's pause and sent to the new source of truth.  (It once
    joined the close's request and went to the old one: a write after a
    cutover landed on MariaDB.)"""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    try:
        st = r.prepare("select name from %s where id = ?" % two.name)
        assert r.execute(st, ("1",))[2] == [[b"one"]]
        r.close_stmt(st)
        cut_over(p)
        assert r.query("insert into %s (id, name) values (70, 'after close')" % two.name) == [("ok", 1)]
        assert on_target(two, "select name from %s where id = 70" % two.name) == [("after close",)]
        cur = two.my.cursor()
        cur.execute("select count(*) from %s where id = 70" % two.name)
        assert cur.fetchone() == (0,)
        assert r.scalar("select version()").startswith("PostgreSQL")
    finally:
        r.close()
