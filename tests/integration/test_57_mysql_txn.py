"""57. MySQL transaction semantics kept on PostgreSQL (issue 7; plugin ABI 1.5
request flags, plugins/pgwire/atomic.c).

InnoDB undoes only a statement that fails inside a transaction and keeps the
transaction open; PostgreSQL aborts the whole transaction.  A MySQL
application that goes on after an error (a duplicate key it expects, say)
and commits must find its other writes committed after the cutover too, as
on MariaDB: molt-lms puts a savepoint in front of each statement inside a
transaction and rolls back to it after a failure.  After a deadlock or a
serialization failure (SQLSTATE class 40) the whole transaction is over, as
InnoDB's.  BEGIN and DDL commit an open transaction first (MySQL's implicit
commit), COM_RESET_CONNECTION rolls it back, and a COMMIT that PostgreSQL
answers with a rollback is an error for the client, never an OK.

The same holds for the shadow: MariaDB as the source, PostgreSQL as the
target in sync, an expected duplicate key inside a transaction leaves both
sides equal."""

import struct
import threading
import time

import pymysql
import pytest

from mysqlraw import COM_QUERY, COM_RESET_CONNECTION, ST_IN_TRANS, MyError
from test_56_mysql_shadow import TwoSides, assert_no_mismatch, my_connect, shadow_proxy
from test_57_mysql_served import cut_over, on_target, raw_login, served_proxy


@pytest.fixture
def two(lms_env, mysql_server, uniq):
    t = TwoSides(lms_env, mysql_server, uniq)
    yield t
    t.drop()


def served_cursor(proxy_factory, mysql_server):
    """A PyMySQL connection opened on MariaDB, then the cutover: its cursor
    is served by PostgreSQL."""
    p = served_proxy(proxy_factory, mysql_server)
    c = my_connect(p.port)
    cut_over(p)
    return c, c.cursor()


def ids_on_target(two, lo, hi):
    rows = on_target(two, "select id from %s where id between %d and %d order by id" % (two.name, lo, hi))
    return [r[0] for r in rows]


def expect_errno(cur, sql, errno):
    with pytest.raises(pymysql.MySQLError) as e:
        cur.execute(sql)
    assert e.value.args[0] == errno, e.value.args


def test_failed_statements_keep_the_transaction(proxy_factory, mysql_server, two):
    """A duplicate key, a division by zero and an unknown column inside a
    transaction: each fails alone, the transaction goes on, and COMMIT
    writes every statement that succeeded (text protocol)."""
    c, cur = served_cursor(proxy_factory, mysql_server)
    t = two.name
    cur.execute("begin")
    cur.execute("insert into %s (id, name) values (20, 'a')" % t)
    expect_errno(cur, "insert into %s (id, name) values (1, 'dup')" % t, 1062)
    cur.execute("insert into %s (id, name) values (21, 'b')" % t)
    expect_errno(cur, "select 1 / 0", 1365)
    expect_errno(cur, "select no_such_column from %s" % t, 1054)
    cur.execute("update %s set name = 'b2' where id = 21" % t)
    cur.execute("select name from %s where id in (20, 21) order by id" % t)
    assert cur.fetchall() == (("a",), ("b2",))
    assert ids_on_target(two, 20, 29) == []  # not committed yet
    cur.execute("commit")
    assert ids_on_target(two, 20, 29) == [20, 21]
    assert on_target(two, "select name from %s where id = 21" % t) == [("b2",)]
    # many statements in one transaction: the savepoint stays one level deep
    cur.execute("begin")
    for i in range(200):
        cur.execute("update %s set big = %d where id = 20" % (t, i))
    expect_errno(cur, "insert into %s (id) values (20)" % t, 1062)
    cur.execute("commit")
    assert on_target(two, "select big from %s where id = 20" % t) == [(199,)]
    c.close()


def test_failed_prepared_statements_keep_the_transaction(proxy_factory, mysql_server, two):
    """The same through the binary protocol: a failing execution and a
    statement that does not prepare (a failed Parse aborts a PostgreSQL
    transaction too); the client sees SERVER_STATUS_IN_TRANS throughout."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    cut_over(p)
    t = two.name
    ins = r.prepare("insert into %s (id, name) values (?, ?)" % t)
    r.query("begin")
    r.execute(ins, ("30", "x"))
    with pytest.raises(MyError) as e:
        r.execute(ins, ("1", "dup"))
    assert e.value.code == 1062
    with pytest.raises(MyError) as e:
        r.prepare("selec nothing")
    assert e.value.code == 1064
    r.execute(ins, ("31", "y"))
    assert r.status & ST_IN_TRANS
    r.query("commit")
    assert not r.status & ST_IN_TRANS
    assert ids_on_target(two, 30, 39) == [30, 31]
    r.close()


def test_rollback_after_an_error_undoes_everything(proxy_factory, mysql_server, two):
    c, cur = served_cursor(proxy_factory, mysql_server)
    t = two.name
    cur.execute("begin")
    cur.execute("insert into %s (id) values (40)" % t)
    expect_errno(cur, "insert into %s (id) values (1)" % t, 1062)
    cur.execute("insert into %s (id) values (41)" % t)
    cur.execute("rollback")
    assert ids_on_target(two, 40, 49) == []
    cur.execute("insert into %s (id) values (42)" % t)  # autocommit again
    assert ids_on_target(two, 40, 49) == [42]
    c.close()


def test_deadlock_ends_the_transaction(proxy_factory, mysql_server, two):
    """Two sessions lock rows in opposite order: PostgreSQL picks a victim
    (1213).  As InnoDB does, the victim's whole transaction is rolled back
    and over: its earlier write is gone, and its next statement runs in
    autocommit; the other session commits."""
    p = served_proxy(proxy_factory, mysql_server)
    a, b = my_connect(p.port), my_connect(p.port)
    cut_over(p)
    t = two.name
    ca, cb = a.cursor(), b.cursor()
    ca.execute("begin")
    cb.execute("begin")
    ca.execute("update %s set name = 'a' where id = 1" % t)
    cb.execute("update %s set name = 'b' where id = 2" % t)
    errors = {}

    def second(cur, key, row):
        try:
            cur.execute("update %s set name = '%s2' where id = %d" % (t, key, row))
        except pymysql.MySQLError as e:
            errors[key] = e.args[0]

    th = threading.Thread(target=second, args=(ca, "a", 2))
    th.start()
    time.sleep(0.3)
    second(cb, "b", 1)
    th.join(30)
    assert not th.is_alive()
    assert len(errors) == 1 and list(errors.values()) == [1213], errors
    victim, winner = (ca, cb) if "a" in errors else (cb, ca)
    vrow = 1 if victim is ca else 2
    winner.execute("commit")
    # the victim's first update is gone, the winner's both are there
    names = dict(on_target(two, "select id, name from %s where id in (1, 2)" % t))
    assert names[vrow] != ("a" if victim is ca else "b"), names
    # the victim is out of its transaction: this write is visible at once
    victim.execute("insert into %s (id) values (50)" % t)
    assert ids_on_target(two, 50, 50) == [50]
    victim.execute("begin")
    victim.execute("insert into %s (id) values (51)" % t)
    victim.execute("commit")
    assert ids_on_target(two, 50, 59) == [50, 51]
    a.close()
    b.close()


def test_begin_and_ddl_commit_first(proxy_factory, mysql_server, two, uniq):
    """MySQL commits an open transaction before BEGIN and before DDL: what
    was written before them survives a later ROLLBACK (PostgreSQL alone
    would have kept one transaction and rolled everything back)."""
    c, cur = served_cursor(proxy_factory, mysql_server)
    t = two.name
    cur.execute("begin")
    cur.execute("insert into %s (id) values (60)" % t)
    cur.execute("start transaction")
    cur.execute("insert into %s (id) values (61)" % t)
    cur.execute("rollback")
    assert ids_on_target(two, 60, 69) == [60]
    cur.execute("begin")
    cur.execute("insert into %s (id) values (62)" % t)
    cur.execute("create table %s_ddl (id int)" % uniq)
    cur.execute("insert into %s (id) values (63)" % t)  # autocommit after DDL, as MySQL
    cur.execute("rollback")
    assert ids_on_target(two, 60, 69) == [60, 62, 63]
    # a temporary table does not commit
    cur.execute("begin")
    cur.execute("insert into %s (id) values (64)" % t)
    cur.execute("create temporary table %s_tmp (id int)" % uniq)
    cur.execute("rollback")
    assert ids_on_target(two, 60, 69) == [60, 62, 63]
    cur.execute("drop table %s_ddl" % uniq)
    c.close()


def test_reset_connection_rolls_back(proxy_factory, mysql_server, two):
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    cut_over(p)
    t = two.name
    r.query("begin")
    r.query("insert into %s (id) values (70)" % t)
    assert r.status & ST_IN_TRANS
    r.command(COM_RESET_CONNECTION)
    r.read_ok()
    assert not r.status & ST_IN_TRANS
    r.query("insert into %s (id) values (71)" % t)
    assert ids_on_target(two, 70, 79) == [71]
    r.close()


def test_commit_of_a_broken_transaction_is_an_error(proxy_factory, mysql_server, two):
    """BEGIN and a failing INSERT sent together (pipelined): the INSERT went
    before the transaction's state was known, without a savepoint, so
    PostgreSQL's transaction is lost.  The client is told: the next
    statement fails (1180) and so does COMMIT, never an OK for a commit
    that did not happen; the session then works in autocommit."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    cut_over(p)
    t = two.name
    r.query("insert into %s (id) values (80)" % t)
    both = b""
    for i, sql in enumerate(("begin", "insert into %s (id) values (81)" % t, "insert into %s (id) values (1)" % t)):
        pl = bytes([COM_QUERY]) + sql.encode()
        both += struct.pack("<I", len(pl))[:3] + b"\x00" + pl
    r.send_raw(both)
    r.read_ok()  # BEGIN
    r.read_ok()  # the first insert: pipelined too, but it succeeds
    with pytest.raises(MyError) as e:
        r.read_ok()
    assert e.value.code == 1062
    with pytest.raises(MyError) as e:
        r.query("insert into %s (id) values (82)" % t)
    assert e.value.code == 1180, e.value
    with pytest.raises(MyError) as e:
        r.query("commit")
    assert e.value.code == 1180 and e.value.sqlstate == "40000", e.value
    assert "COMMIT was not done" in e.value.message
    assert ids_on_target(two, 80, 89) == [80]
    r.query("insert into %s (id) values (83)" % t)
    assert not r.status & ST_IN_TRANS
    assert ids_on_target(two, 80, 89) == [80, 83]
    r.close()


def test_shadow_keeps_transactions_in_step(proxy_factory, mysql_server, two):
    """MariaDB the source, PostgreSQL the sync shadow: a transaction whose
    expected duplicate key fails on both goes on on both, commits the same
    rows on both, and nothing is a mismatch."""
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    t = two.name
    c = my_connect(p.port)
    cur = c.cursor()
    cur.execute("begin")
    cur.execute("insert into %s (id, name) values (90, 'x')" % t)
    expect_errno(cur, "insert into %s (id, name) values (1, 'dup')" % t, 1062)
    cur.execute("insert into %s (id, name) values (91, 'y')" % t)
    cur.execute("select id, name from %s where id >= 90 order by id" % t)
    assert cur.fetchall() == ((90, "x"), (91, "y"))
    cur.execute("commit")
    c.close()
    cm = two.my.cursor()
    cm.execute("select id from %s where id >= 90 order by id" % t)
    assert [x[0] for x in cm.fetchall()] == [90, 91]
    deadline = time.time() + 10
    while ids_on_target(two, 90, 99) != [90, 91] and time.time() < deadline:
        time.sleep(0.05)
    assert ids_on_target(two, 90, 99) == [90, 91]
    assert_no_mismatch(p)


def test_locks_survive_a_failed_read(proxy_factory, mysql_server, two):
    """Reads share the savepoint of the statement before them (no new one
    per SELECT), but SELECT ... FOR UPDATE is not a read: a failure after
    it rolls back to a savepoint taken after the lock, so the row stays
    locked, as on InnoDB."""
    c, cur = served_cursor(proxy_factory, mysql_server)
    t = two.name
    cur.execute("begin")
    cur.execute("select name from %s where id = 1" % t)
    cur.execute("select id from %s where id = 2 for update" % t)
    cur.execute("select name from %s where id = 3" % t)
    expect_errno(cur, "select 1 / 0", 1365)
    cur.execute("select name from %s where id = 1" % t)
    assert cur.fetchone() == ("one",)
    other = two.pg.cursor()
    other.execute("set lock_timeout = 300")
    with pytest.raises(Exception) as e:
        other.execute("update %s set name = 'other' where id = 2" % t)
    assert "lock timeout" in str(e.value), e.value
    two.pg.rollback()
    cur.execute("commit")
    other.execute("update %s set name = 'other' where id = 2" % t)
    two.pg.commit()
    c.close()

