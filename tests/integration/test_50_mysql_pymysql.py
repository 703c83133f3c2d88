"""50. A MySQL application (PyMySQL and the mariadb CLI) served by MariaDB
through molt-lms --source-dialect mysql, shadowMode none: queries,
multi-statements and several result sets, transactions, LOAD DATA LOCAL
INFILE, packets of 16 MiB and more, errors."""

import os
import subprocess

import pymysql
import pytest

from lmsproxy import wait_until
from mysqlraw import MY_APP, MY_DB


def connect(proxy, user=MY_APP, **kw):
    args = dict(host="127.0.0.1", port=proxy.port, user=user[0], password=user[1], database=MY_DB,
                connect_timeout=10, read_timeout=60, write_timeout=60)
    args.update(kw)
    return pymysql.connect(**args)


def test_select_insert_and_types(mysql_proxy, uniq):
    c = connect(mysql_proxy)
    try:
        cur = c.cursor()
        cur.execute("select 1, 'abc', null, 2.5, cast('2024-01-02' as date)")
        assert cur.fetchall() == ((1, "abc", None, __import__("decimal").Decimal("2.5"),
                                   __import__("datetime").date(2024, 1, 2)),)
        cur.execute("create table %s (id int primary key auto_increment, v varchar(20))" % uniq)
        cur.execute("insert into %s (v) values ('a'), ('b'), (%%s)" % uniq, ("c'quoted",))
        assert cur.rowcount == 3
        c.commit()
        cur.execute("select v from %s order by id" % uniq)
        assert [r[0] for r in cur.fetchall()] == ["a", "b", "c'quoted"]
        cur.execute("select count(*) from information_schema.tables where table_name = %s", (uniq,))
        assert cur.fetchone()[0] == 1
        cur.execute("drop table %s" % uniq)
    finally:
        c.close()


def test_connection_id_is_the_proxys(mysql_proxy):
    """The greeting's connection id is replaced by the proxy's own."""
    c = connect(mysql_proxy)
    try:
        cur = c.cursor()
        cur.execute("select connection_id()")
        server_id = cur.fetchone()[0]
        assert c.thread_id() != server_id
    finally:
        c.close()


def test_multi_statements_and_result_sets(mysql_proxy, uniq):
    c = connect(mysql_proxy, client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    try:
        cur = c.cursor()
        cur.execute("create table %s (id int); insert into %s values (1), (2); select id from %s order by id; "
                    "select 'x', 'y'" % (uniq, uniq, uniq))
        sets = []
        while True:
            sets.append(cur.fetchall() if cur.description else cur.rowcount)
            if not cur.nextset():
                break
        assert sets == [0, 2, ((1,), (2,)), (("x", "y"),)]
        # a procedure: several result sets, then its own OK
        cur.execute("create procedure p_%s() begin select 1; select 2, 3; end" % uniq)
        cur.execute("call p_%s()" % uniq)
        assert cur.fetchall() == ((1,),)
        assert cur.nextset()
        assert cur.fetchall() == ((2, 3),)
        while cur.nextset():
            pass
        cur.execute("select 'after'")
        assert cur.fetchall() == (("after",),)
        # an error in the middle ends the request with the server's ERR
        with pytest.raises(pymysql.err.ProgrammingError) as ei:
            cur.execute("select 1; select * from no_such_table_%s; select 3" % uniq)
            while cur.nextset():
                pass
        assert ei.value.args[0] == 1146
        cur.execute("select 'still serving'")
        assert cur.fetchall() == (("still serving",),)
        cur.execute("drop procedure p_%s; drop table %s" % (uniq, uniq))
        while cur.nextset():
            pass
    finally:
        c.close()


def test_transaction_state_reported(mysql_proxy, uniq):
    """SERVER_STATUS_IN_TRANS reaches the core: the admin API shows the
    session in a transaction, then idle after COMMIT."""
    c = connect(mysql_proxy)
    try:
        cur = c.cursor()
        cur.execute("create table %s (id int) engine=InnoDB" % uniq)
        c.begin()
        cur.execute("insert into %s values (1)" % uniq)

        def states():
            import json
            from lmsproxy import http_get
            status, body = http_get(mysql_proxy.metrics_url + "/api/v1/connections")
            assert status == 200, body
            return [x["state"] for x in json.loads(body)["connections"]]

        assert wait_until(lambda: "in_transaction" in states(), mysql_proxy.env.t(5)), states()
        c.commit()
        assert wait_until(lambda: "in_transaction" not in states(), mysql_proxy.env.t(5)), states()
        cur.execute("drop table %s" % uniq)
    finally:
        c.close()


def test_init_db_ping_and_errors(mysql_proxy):
    c = connect(mysql_proxy)
    try:
        c.ping(reconnect=False)
        c.select_db("information_schema")
        cur = c.cursor()
        cur.execute("select database()")
        assert cur.fetchone()[0] == "information_schema"
        with pytest.raises(pymysql.err.OperationalError) as ei:
            c.select_db("no_such_db_at_all")
        assert ei.value.args[0] in (1044, 1049)
        with pytest.raises(pymysql.err.ProgrammingError) as ei:
            cur.execute("selec 1")
        assert ei.value.args[0] == 1064
        cur.execute("select 'ok after errors'")
        assert cur.fetchone() == ("ok after errors",)
    finally:
        c.close()


def test_wrong_password_gets_the_servers_error(mysql_proxy):
    with pytest.raises(pymysql.err.OperationalError) as ei:
        connect(mysql_proxy, user=("app", "wrong-password"))
    assert ei.value.args[0] == 1045
    assert "Access denied" in ei.value.args[1]
    c = connect(mysql_proxy)  # the proxy keeps serving
    c.close()


def test_load_data_local_infile(mysql_proxy, uniq, tmp_path):
    path = tmp_path / "rows.csv"
    n = 20000
    path.write_text("".join("%d,value-%d\n" % (i, i) for i in range(n)))
    c = connect(mysql_proxy, local_infile=True)
    try:
        cur = c.cursor()
        cur.execute("create table %s (id int, v varchar(40))" % uniq)
        cur.execute("load data local infile %%s into table %s fields terminated by ','" % uniq, (str(path),))
        assert cur.rowcount == n
        c.commit()
        cur.execute("select count(*), max(id) from %s" % uniq)
        assert cur.fetchone() == (n, n - 1)
        # a file the client refuses to send: the empty packet ends it
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("load data local infile '/nonexistent/%s' into table %s" % (uniq, uniq))
        cur.execute("select 'after infile'")
        assert cur.fetchone() == ("after infile",)
        cur.execute("drop table %s" % uniq)
    finally:
        c.close()


def test_query_and_row_over_16_mib(mysql_proxy, uniq):
    """Packets of 0xFFFFFF bytes are split and joined: a 20 MiB query and a
    20 MiB row, each way."""
    big = "x" * (20 * 1024 * 1024)
    c = connect(mysql_proxy, max_allowed_packet=64 * 1024 * 1024)
    try:
        cur = c.cursor()
        cur.execute("create table %s (id int, b longtext)" % uniq)
        cur.execute("insert into %s values (1, '%s')" % (uniq, big))  # one 20 MiB COM_QUERY
        c.commit()
        cur.execute("select b, length(b) from %s where id = 1" % uniq)
        v, n = cur.fetchone()
        assert n == len(big) and v == big
        # exactly 0xFFFFFF - 1 payload bytes in the query: an empty last packet
        filler = "y" * (0xFFFFFF - 1 - len("select '' as v"))
        cur.execute("select '%s' as v" % filler)
        assert len(cur.fetchone()[0]) == len(filler)
        cur.execute("select 'small again'")
        assert cur.fetchone() == ("small again",)
        cur.execute("drop table %s" % uniq)
    finally:
        c.close()


def test_mariadb_cli_through_proxy(mysql_proxy, uniq):
    cmd = ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(mysql_proxy.port), "-u", MY_APP[0],
           "-p" + MY_APP[1], "--skip-ssl", MY_DB, "-N", "-e",
           "create table %s (i int); insert into %s values (7); select i * 6 from %s; drop table %s"
           % (uniq, uniq, uniq, uniq)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "42"


def test_requests_counted(mysql_proxy):
    ok0 = mysql_proxy.metric("lms_requests_total", 'outcome="ok"')
    err0 = mysql_proxy.metric("lms_requests_total", 'outcome="error"')
    c = connect(mysql_proxy)
    try:
        cur = c.cursor()
        for i in range(5):
            cur.execute("select %d" % i)
            cur.fetchall()
        with pytest.raises(pymysql.err.ProgrammingError):
            cur.execute("selec 1")
    finally:
        c.close()
    assert mysql_proxy.wait_metric("lms_requests_total", 'outcome="ok"', at_least=ok0 + 5) >= ok0 + 5
    assert mysql_proxy.wait_metric("lms_requests_total", 'outcome="error"', at_least=err0 + 1) == err0 + 1


def test_session_named_in_admin_api_and_log(mysql_proxy):
    """The user and database from the HandshakeResponse name the session."""
    import json
    from lmsproxy import http_get
    mark = mysql_proxy.log_mark()
    c = connect(mysql_proxy)
    try:
        status, body = http_get(mysql_proxy.metrics_url + "/api/v1/connections")
        assert status == 200, body
        conns = json.loads(body)["connections"]
        assert any(x["user"] == "app" and x["database"] == MY_DB for x in conns), conns
    finally:
        c.close()
    assert wait_until(lambda: "user=app database=%s" % MY_DB in mysql_proxy.log_since(mark),
                      mysql_proxy.env.t(5)), mysql_proxy.log_since(mark)


def test_quit_closes_cleanly(mysql_proxy):
    """COM_QUIT is forwarded and the session ends in phase ready, without a
    backend error."""
    mark = mysql_proxy.log_mark()
    c = connect(mysql_proxy)
    c.close()  # COM_QUIT
    assert wait_until(lambda: "phase=ready" in mysql_proxy.log_since(mark), mysql_proxy.env.t(5))
    log = mysql_proxy.log_since(mark)
    assert "backend_error" not in log and "client_error" not in log, log


def test_proxy_errors_are_err_packets(proxy_factory, mysql_server):
    """What the proxy says itself reaches a MySQL driver as a proper ERR
    packet with the sequence id it expects: an idle timeout (read as the
    answer to the next query), too many connections (before the greeting)."""
    import time
    p = proxy_factory(name="mysql-errs", source_dialect="mysql", init_source=mysql_server.url(),
                      extra_args=["--idle-timeout", "1", "--max-connections", "1"])
    c = connect(p)
    try:
        with pytest.raises(pymysql.err.OperationalError) as ei:
            connect(p)  # the second connection: refused before any greeting
        assert ei.value.args[0] == 1040 and "too many connections" in ei.value.args[1], ei.value
        time.sleep(p.env.t(2.5))
        with pytest.raises(pymysql.err.OperationalError) as ei:
            cur = c.cursor()
            cur.execute("select 1")
        assert ei.value.args[0] == 1927 and "idle" in ei.value.args[1], ei.value
    finally:
        try:
            c.close()
        except pymysql.err.Error:
            pass
