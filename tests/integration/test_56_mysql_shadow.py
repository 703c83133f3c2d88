"""56. Shadowing a MySQL (MariaDB) source onto a PostgreSQL-protocol target
(issue 7, first slice): molt-lms translates the MySQL client's requests
(COM_QUERY -> Query; prepared statements -> Parse/Bind/Execute with $n
placeholders and the binary parameters as text) and compares both answers
in the canonical form of plugins/common/canon.h (BOOLEAN 1 vs true, DECIMAL
scale, DATETIME vs timestamp, bytes as hex).  The target is the PostgreSQL
target cluster with the same schema and rows, created by each test."""

import shutil
import struct
import subprocess
import time

import pymysql
import pytest

from lmsproxy import TargetLock, wait_until
from mysqlraw import MY_APP, MY_DB, MyRaw

MY_COLS = ("id int primary key, flag boolean, amount decimal(10,2), ts datetime(3), d date, f double, "
           "name varchar(50), data varbinary(20), big bigint, nul int")
PG_COLS = ("id int primary key, flag boolean, amount numeric(12,4), ts timestamp(3), d date, "
           "f double precision, name varchar(50), data bytea, big bigint, nul int")
ROWS = [
    (1, 1, "1.50", "2024-01-02 03:04:05.500", "2024-01-02", 0.1, "one", b"\x01\xab", 9007199254740993, None),
    (2, 0, "-2.00", "2024-02-29 23:59:59.000", "2024-02-29", 1e20, "two", b"", -5, None),
    (3, 1, "0.05", "1999-12-31 00:00:00.001", "1999-12-31", -2.5, "thr'ee", b"\x00", 0, None),
]
ALL = "id, flag, amount, ts, d, f, name, data, big, nul"


def my_connect(port, user=MY_APP, **kw):
    args = dict(host="127.0.0.1", port=port, user=user[0], password=user[1], database=MY_DB,
                connect_timeout=10, read_timeout=60, write_timeout=60, autocommit=True)
    args.update(kw)
    return pymysql.connect(**args)


class TwoSides:
    """The same table on the MariaDB source and the PostgreSQL target."""

    def __init__(self, env, mysql_server, name):
        self.name = name
        self.my = my_connect(mysql_server.port)
        self.pg = env.target_admin_connect()
        self.my.cursor().execute("create table %s (%s)" % (name, MY_COLS))
        self.pg.cursor().execute("create table %s (%s)" % (name, PG_COLS))
        for r in ROWS:
            self.my.cursor().execute("insert into %s values (%%s, %%s, %%s, %%s, %%s, %%s, %%s, %%s, %%s, %%s)"
                                     % name, r)
            self.pg.cursor().execute("insert into %s values (%%s, %%s::int::boolean, %%s, %%s, %%s, %%s, %%s, "
                                     "%%s, %%s, %%s)" % name, r)

    def drop(self):
        for conn in (self.my, self.pg):
            try:
                conn.cursor().execute("drop table if exists %s" % self.name)
            finally:
                conn.close()


@pytest.fixture
def two(lms_env, mysql_server, uniq):
    t = TwoSides(lms_env, mysql_server, uniq)
    yield t
    t.drop()


def shadow_proxy(proxy_factory, mysql_server, mode, **kw):
    return proxy_factory(name="myshadow-" + mode, source_dialect="mysql", init_source=mysql_server.url(),
                         shadow_mode=mode, **kw)


def assert_no_mismatch(p):
    c = p.shadow_counts()
    assert c["mismatches"] == 0 and c["mismatch"] == 0, (c, p.mismatch_records())
    assert p.mismatch_records() == []
    assert sum(e["mismatch"] for e in p.api_mismatches()["fingerprints"]) == 0
    return c


def test_sync_identical_data_no_mismatch(proxy_factory, mysql_server, two):
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    t = two.name
    c = my_connect(p.port)
    try:
        cur = c.cursor()
        cur.execute("select %s from %s order by id" % (ALL, t))
        assert len(cur.fetchall()) == 3
        cur.execute("select count(*), sum(amount), max(ts), min(d) from %s" % t)
        cur.execute("select name, data from %s where flag = true and id >= 1 order by id" % t)
        assert [r[0] for r in cur.fetchall()] == ["one", "thr'ee"]
        cur.execute("insert into %s (id, flag, amount, ts, d, f, name, data, big) values "
                    "(4, false, 4.4, '2024-05-06 07:08:09', '2024-05-06', 1.25, 'four', '', 4)" % t)
        assert cur.rowcount == 1
        cur.execute("update %s set name = concat('', 'x') where id >= 3" % t)  # CONCAT exists on both
        assert cur.rowcount == 2
        cur.execute("update %s set name = 'x' where id = 3" % t)  # matched 1, changed 0 on MySQL
        cur.execute("delete from %s where id = 4" % t)
        cur.execute("begin")
        cur.execute("select id from %s where id = 1 for update" % t)
        cur.execute("commit")
        cur.execute("select %s from %s" % (ALL, t))
    finally:
        c.close()
    # prepared statements (binary protocol), parameters as MySQL strings
    raw = MyRaw("127.0.0.1", p.port)
    try:
        raw.login(*MY_APP)
        st = raw.prepare("select id, name, amount /* ? */ from %s where id = ? or name = '?'" % t)
        assert st["params"] == 1
        for i in (1, 2, 3):
            kind, _, rows = raw.execute(st, [str(i)])
            assert kind == "rows" and len(rows) == 1
        ins = raw.prepare("insert into %s (id, name, amount, flag) values (?, ?, ?, ?)" % t)
        assert raw.execute(ins, ["10", "ten", "10.10", "1"]) == ("ok", 1)
        upd = raw.prepare("update %s set nul = ? where id = ?" % t)
        assert raw.execute(upd, ["7", "10"]) == ("ok", 1)
        assert raw.execute(upd, [None, "10"]) == ("ok", 1)
        raw.close_stmt(ins)
        raw.close_stmt(upd)
        kind, _, rows = raw.execute(st, ["10"])
        assert len(rows) == 1
        raw.command(0x0e)  # COM_PING
        raw.read_ok(1)
    finally:
        raw.close()
    assert wait_until(lambda: p.shadow_counts()["match"] >= 20, p.env.t(10)), p.shadow_counts()
    c = assert_no_mismatch(p)
    assert c["lost"] == 0, c
    # the writes reached the target too
    cur = two.pg.cursor()
    cur.execute("select name, amount, flag from %s where id = 10" % t)
    assert cur.fetchone() == ("ten", __import__("decimal").Decimal("10.1000"), True)
    cur.execute("select count(*) from %s" % t)
    assert cur.fetchone()[0] == 4


def test_sync_pipelined_prepares(proxy_factory, mysql_server, two):
    """Two COM_STMT_PREPAREs sent before either answer: each statement id
    gets its own text (the PREPARE OKs come in order), so executing either
    compares equal."""
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    t = two.name
    raw = MyRaw("127.0.0.1", p.port)
    try:
        raw.login(*MY_APP)
        texts = ["select name from %s where id = ?" % t, "select id, amount, ts from %s where id > ?" % t]
        for sql in texts:
            raw.command(0x16, sql.encode())  # COM_STMT_PREPARE, not waiting
        stmts = []
        for _ in texts:
            seq, pl = raw.read(1)
            assert pl[0] == 0x00, pl
            sid, ncols, nparams = struct.unpack("<IHH", pl[1:9])
            _, nxt = raw.read_coldefs(nparams, seq + 1)
            raw.read_coldefs(ncols, nxt)
            stmts.append({"id": sid, "params": nparams, "cols": ncols})
        assert [s["cols"] for s in stmts] == [1, 3]
        assert raw.execute(stmts[0], ["2"])[2] == [[b"two"]]
        assert len(raw.execute(stmts[1], ["1"])[2]) == 2
    finally:
        raw.close()
    assert wait_until(lambda: p.shadow_counts()["match"] >= 4, p.env.t(10)), p.shadow_counts()
    assert_no_mismatch(p)


def test_sync_changed_row_reported(proxy_factory, mysql_server, two):
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    t = two.name
    two.pg.cursor().execute("update %s set name = 'changed' where id = 2" % t)
    c = my_connect(p.port)
    try:
        cur = c.cursor()
        cur.execute("select name from %s where id = 2" % t)
        assert cur.fetchone() == ("two",)  # the source of truth's answer
        cur.execute("select name from %s where id = 1" % t)  # same fingerprint, equal rows
    finally:
        c.close()
    fp = "select name from %s where id = ?" % t
    recs = wait_until(lambda: [r for r in p.mismatch_records() if r.get("fingerprint") == fp], p.env.t(10))
    assert recs and len(recs) == 1, p.mismatch_records()
    r = recs[0]
    assert r["diff"] == "values", r
    assert r["user"] == "app" and r["database"] == MY_DB, r
    assert r["source"]["rows"] == 1 and r["target"]["rows"] == 1, r
    e = p.fingerprint_stats(fp)
    assert e is not None and e["mismatch"] == 1 and e["match"] == 1, p.api_mismatches()


def test_sync_statement_failing_only_on_target(proxy_factory, mysql_server, two):
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    t = two.name
    c = my_connect(p.port)
    try:
        cur = c.cursor()
        cur.execute("select `name` from `%s` where id = 1" % t)  # backticks: MySQL only
        assert cur.fetchone() == ("one",)
    finally:
        c.close()
    fp = "select `name` from `%s` where id = ?" % t
    recs = wait_until(lambda: [r for r in p.mismatch_records() if r.get("fingerprint") == fp], p.env.t(10))
    assert recs, p.mismatch_records()
    r = recs[0]
    assert r["diff"] == "error", r
    assert r["source"]["error"] is None, r
    assert r["target"]["error"]["sqlstate"] == "42601", r  # PostgreSQL's syntax error

    # a prepared statement that prepares only on MySQL: reported at PREPARE
    raw = MyRaw("127.0.0.1", p.port)
    try:
        raw.login(*MY_APP)
        st = raw.prepare("select name from %s where id = ? limit 0, 1" % t)
        assert st["params"] == 1
    finally:
        raw.close()
    fp = "select name from %s where id = ? limit ?, ?" % t
    recs = wait_until(lambda: [r for r in p.mismatch_records() if r.get("fingerprint") == fp], p.env.t(10))
    assert recs and recs[0]["diff"] == "error", p.mismatch_records()
    assert recs[0]["target"]["error"]["sqlstate"][:2] == "42", recs[0]


def test_sync_untranslated_command_not_compared(proxy_factory, mysql_server, two):
    """COM_INIT_DB has no translation: the request is counted as dropped,
    never as a mismatch, and the session goes on being compared."""
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    c = my_connect(p.port)
    try:
        cur = c.cursor()
        cur.execute("select name from %s where id = 1" % two.name)
        before = p.shadow_counts()
        c.select_db(MY_DB)  # COM_INIT_DB
        cur.execute("select name from %s where id = 2" % two.name)
        assert cur.fetchone() == ("two",)
    finally:
        c.close()
    assert wait_until(lambda: p.shadow_counts()["match"] >= before["match"] + 1, p.env.t(10))
    after = assert_no_mismatch(p)
    assert after["dropped"] == before["dropped"] + 1, (before, after)


def test_strict_sync_target_error_reaches_client(proxy_factory, mysql_server, two):
    p = shadow_proxy(proxy_factory, mysql_server, "strict-sync")
    t = two.name
    c = my_connect(p.port)
    try:
        cur = c.cursor()
        cur.execute("select name from %s where id = 1" % t)
        assert cur.fetchone() == ("one",)
        with pytest.raises(pymysql.err.MySQLError) as ei:
            cur.execute("select `name` from %s where id = 1" % t)
        code, msg = ei.value.args[0], ei.value.args[1]
        assert code == 1105, ei.value.args
        assert "syntax error" in msg, msg
        # the session goes on
        cur.execute("select name from %s where id = 2" % t)
        assert cur.fetchone() == ("two",)
    finally:
        c.close()


def test_async_slow_target_drops(proxy_factory, mysql_server, lms_env, two):
    p = shadow_proxy(proxy_factory, mysql_server, "async", shadow_timeout=60)
    t = two.name
    c = my_connect(p.port)
    try:
        cur = c.cursor()
        cur.execute("select name from %s where id = 1" % t)
        assert p.wait_metric("lms_shadow_requests_total", 'result="match"', at_least=1) >= 1
        lock = TargetLock(lms_env, t, max_seconds=lms_env.t(30))
        try:
            lat = []
            for _ in range(8):
                t0 = time.monotonic()
                cur.execute("update %s set big = big + 1 where id = 1" % t)
                lat.append(time.monotonic() - t0)
                assert cur.rowcount == 1
            assert wait_until(lambda: lock.waiters() >= 1, lms_env.t(5)), "no shadow waiter"
            assert max(lat) < 2.0, lat  # the client never waits for the target
        finally:
            lock.release()
    finally:
        c.close()
    assert wait_until(lambda: p.shadow_counts()["async_dropped"] >= 1, lms_env.t(10)), p.shadow_counts()


SB_DDL = ("create table sbtest1 (id int primary key, k int not null default 0, "
          "c char(120) not null default '', pad char(60) not null default '')")


@pytest.fixture
def sbtest(mysql_server, lms_env):
    """sysbench's table sbtest1 with the same 200 rows on both sides:
    (MariaDB connection, target connection)."""
    my = my_connect(mysql_server.port)
    pg = lms_env.target_admin_connect()
    pg.autocommit = True
    try:
        for conn in (my, pg):
            conn.cursor().execute("drop table if exists sbtest1")
            conn.cursor().execute(SB_DDL)
        for i in range(1, 201):
            row = (i, i * 7 % 100, "c-%05d" % i, "pad-%d" % i)
            for conn in (my, pg):
                conn.cursor().execute("insert into sbtest1 values (%s, %s, %s, %s)", row)
        yield my, pg
    finally:
        for conn in (my, pg):
            conn.cursor().execute("drop table if exists sbtest1")
            conn.close()


def sysbench_through(p, env, test, threads):
    """sysbench `test` (prepared statements) through proxy p for 5 s: zero
    mismatches, nothing lost."""
    r = subprocess.run(["sysbench", test, "--db-driver=mysql", "--mysql-host=127.0.0.1",
                        "--mysql-port=%d" % p.port, "--mysql-user=%s" % MY_APP[0],
                        "--mysql-password=%s" % MY_APP[1], "--mysql-db=%s" % MY_DB,
                        "--mysql-ssl=off", "--tables=1", "--table-size=200", "--threads=%d" % threads,
                        "--time=5", "--range_size=10", "--db-ps-mode=auto", "run"],
                       capture_output=True, text=True, timeout=env.t(60))
    assert r.returncode == 0, r.stdout + r.stderr
    assert wait_until(lambda: p.shadow_counts()["match"] >= 100, env.t(10)), p.shadow_counts()
    c = assert_no_mismatch(p)
    assert c["lost"] == 0, c


@pytest.mark.skipif(shutil.which("sysbench") is None, reason="sysbench is not installed "
                    "(tests/setup-debian.sh installs it)")
def test_sync_sysbench_read_only(proxy_factory, mysql_server, lms_env, sbtest):
    """sysbench oltp_read_only through the proxy (2 threads): zero
    mismatches."""
    sysbench_through(shadow_proxy(proxy_factory, mysql_server, "sync"), lms_env, "oltp_read_only", 2)


@pytest.mark.skipif(shutil.which("sysbench") is None, reason="sysbench is not installed "
                    "(tests/setup-debian.sh installs it)")
def test_sync_sysbench_read_write(proxy_factory, mysql_server, lms_env, sbtest):
    """sysbench oltp_read_write (prepared statements, transactions with
    UPDATE, DELETE and INSERT) through the proxy in sync mode: zero
    mismatches, and afterwards the table is the same on both sides (every
    write ran on the target too, in the source's order).  One thread: with
    two, MariaDB's REPEATABLE READ and PostgreSQL's READ COMMITTED really
    answer differently when one transaction reads or updates a row another
    deletes and inserts again (docs/mysql.md, "Isolation"), and shadowing
    rightly reports that."""
    sysbench_through(shadow_proxy(proxy_factory, mysql_server, "sync"), lms_env, "oltp_read_write", 1)
    q = "select id, k, rtrim(c), rtrim(pad) from sbtest1 order by id"
    mine, theirs = [], []
    for conn, out in zip(sbtest, (mine, theirs)):
        cur = conn.cursor()
        cur.execute(q)
        out.extend(tuple(x) for x in cur.fetchall())
    assert len(mine) > 150 and mine == theirs, [x for x in zip(mine, theirs) if x[0] != x[1]][:5]


def test_sync_cursor_execution_not_compared(proxy_factory, mysql_server, two):
    """An execution that opens a cursor gets its rows later, a COM_STMT_FETCH
    at a time, which has no translation: it is not compared (counted
    dropped), rather than reported as a row-count difference against the
    target's whole answer.  The fetches get MariaDB's rows, and the
    session goes on being compared."""
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    r = MyRaw("127.0.0.1", p.port, timeout=30)
    try:
        r.login(*MY_APP)
        st = r.prepare("select id, name from %s order by id" % two.name)
        assert r.execute(st)[2] == [[1, b"one"], [2, b"two"], [3, b"thr'ee"]]  # compared
        r.open_cursor(st)
        rows, _ = r.fetch(st, 2)
        assert rows == [[1, b"one"], [2, b"two"]]
        rows, _ = r.fetch(st, 5)
        assert rows == [[3, b"thr'ee"]]
        r.reset(st)
        assert r.execute(st)[2] == [[1, b"one"], [2, b"two"], [3, b"thr'ee"]]  # compared again
    finally:
        r.close()
    assert wait_until(lambda: p.shadow_counts()["match"] >= 3, p.env.t(10)), p.shadow_counts()
    c = assert_no_mismatch(p)
    assert c["dropped"] >= 1, c


STARTUP_QUERIES = [
    "select @@version_comment limit 1",  # the mariadb CLI
    "SELECT @@max_allowed_packet, @@system_time_zone, @@time_zone, @@auto_increment_increment",  # Connector/J
    "SHOW VARIABLES LIKE 'max_allowed_packet'",
    "SET NAMES utf8mb4",
    "SET character_set_results = NULL",
    "select database()",
    "SHOW WARNINGS",
]


@pytest.mark.parametrize("mode", ["sync", "strict-sync"])
def test_sync_startup_queries_not_compared(proxy_factory, mysql_server, two, mode):
    """The queries connectors send by themselves (SELECT @@version_comment,
    SHOW VARIABLES, SET NAMES, ...) are answered by molt-lms after a cutover
    (docs/mysql.md), so PostgreSQL never runs them: their shadow is a PING
    and they are counted "local" (plugin ABI 1.10 LMS_STMT_LOCAL), not
    reported as mismatches as every connection's start-up was before.  The
    session's other queries are compared as ever, and a difference is
    still found.  In strict-sync the client got PostgreSQL's refusal of
    them instead of MariaDB's answer."""
    p = shadow_proxy(proxy_factory, mysql_server, mode)
    r = MyRaw("127.0.0.1", p.port, timeout=30)
    t = two.name
    try:
        r.login(*MY_APP, db=MY_DB)
        for q in STARTUP_QUERIES:
            r.query(q)
        assert r.scalar("select @@autocommit") == "1"  # MariaDB's own answer
        assert r.query("select id, name from %s order by id" % t)[0][2] == [[b"1", b"one"], [b"2", b"two"],
                                                                           [b"3", b"thr'ee"]]
    finally:
        r.close()
    assert wait_until(lambda: p.shadow_counts()["local"] >= len(STARTUP_QUERIES) + 1, p.env.t(10)), \
        p.shadow_counts()
    c = assert_no_mismatch(p)
    assert c["match"] >= 1 and c["setting"] == 0, c
    e = p.fingerprint_stats("select @@version_comment limit ?")
    assert e and e["local"] == 1 and e["mismatch"] == 0, e
    # a real difference is still one
    two.pg.cursor().execute("update %s set name = 'changed' where id = 2" % t)
    r = MyRaw("127.0.0.1", p.port, timeout=30)
    try:
        r.login(*MY_APP, db=MY_DB)
        r.query("select @@version_comment limit 1")
        r.query("select id, name from %s order by id" % t)
    finally:
        r.close()
    assert wait_until(lambda: p.shadow_counts()["mismatch"] == 1, p.env.t(10)), p.shadow_counts()


def test_sync_set_autocommit_on_commits_on_the_shadow(proxy_factory, mysql_server, two):
    """SET autocommit=1 with a transaction open commits it on MariaDB; the
    shadow on PostgreSQL commits it too (before, PostgreSQL refused the SET,
    which aborted its transaction: the write was lost there and every
    statement after it differed)."""
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    c = my_connect(p.port, autocommit=False)
    t = two.name
    try:
        cur = c.cursor()
        cur.execute("insert into %s (id, name) values (96, 'committed by autocommit')" % t)
        cur.execute("SET autocommit=1")
        cur.execute("select id, name from %s where id = 96" % t)
        assert cur.fetchall() == ((96, "committed by autocommit"),)
    finally:
        c.close()
    assert two.my.cursor().execute("select id from %s where id = 96" % t) == 1
    cur = two.pg.cursor()
    cur.execute("select id from %s where id = 96" % t)
    assert cur.fetchall() == [(96,)]
    assert_no_mismatch(p)
