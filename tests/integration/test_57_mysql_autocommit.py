"""57. autocommit=0 across the cutover (docs/mysql.md, "autocommit").

With autocommit off, each MySQL statement that touches data opens a
transaction that lasts until COMMIT or ROLLBACK.  PyMySQL turns it off at
every connect by default, and JDBC's setAutoCommit(false) does the same.
PostgreSQL and CockroachDB commit each statement by itself, so a session
that keeps autocommit off (set on MariaDB before the cutover, or with SET
after it) has molt-lms begin a transaction in front of such a statement
(plugin ABI 1.8, LMS_REQ_BEGIN_FIRST): a ROLLBACK undoes the writes, and
nothing is visible to others before COMMIT.  Before, a session carried
across the cutover committed every statement on the target, so a write the
application rolled back stayed there; and SET autocommit=0 was refused,
which made PyMySQL's default connect fail after a cutover.  The shadow
(MariaDB the source of truth, sync) does the same, so a rollback undoes the
write on both databases."""

import pymysql
import pytest

from mysqlraw import MyError
from test_56_mysql_shadow import assert_no_mismatch, my_connect, shadow_proxy
from test_57_mysql_served import Jdbc, cut_over, on_target, raw_login, served_proxy, serve_classes, two  # noqa: F401


def rows(two, ids):
    return on_target(two, "select id from %s where id in (%s) order by id" % (two.name, ", ".join(map(str, ids))))


@pytest.mark.parametrize("when", ["before", "after"])
def test_autocommit_off_across_cutover(proxy_factory, mysql_server, two, when):
    """PyMySQL's default (autocommit off, set on MariaDB at connect) carried
    across the cutover, or SET after it: ROLLBACK undoes the writes on the
    target, a failed statement undoes only itself, nothing is visible to
    another session before COMMIT, and SET autocommit=1 commits what is
    open, as on MySQL."""
    p = served_proxy(proxy_factory, mysql_server)
    c = my_connect(p.port, autocommit=(when == "after"))
    t = two.name
    cur = c.cursor()
    cur.execute("select count(*) from %s" % t)
    c.commit()
    cut_over(p)
    if when == "after":
        c.autocommit(False)  # SET AUTOCOMMIT = 0, answered by molt-lms
    cur.execute("select @@autocommit")
    assert cur.fetchone() == (0,)
    assert c.get_autocommit() is False  # the OK's status flags
    cur.execute("insert into %s (id, name) values (70, 'rolled back')" % t)
    assert rows(two, [70]) == []  # not visible before COMMIT
    c.rollback()
    assert rows(two, [70]) == []
    cur.execute("select count(*) from %s where id = 70" % t)
    assert cur.fetchone() == (0,)
    c.commit()
    # a failed statement undoes only itself; the transaction goes on
    cur.execute("insert into %s (id, name) values (71, 'kept')" % t)
    with pytest.raises(pymysql.err.IntegrityError) as e:
        cur.execute("insert into %s (id, name) values (71, 'duplicate')" % t)
    assert e.value.args[0] == 1062
    cur.execute("insert into %s (id, name) values (72, 'kept too')" % t)
    assert rows(two, [71, 72]) == []
    c.commit()
    assert rows(two, [71, 72]) == [(71,), (72,)]
    # autocommit=1 commits the open transaction; then each statement commits
    cur.execute("insert into %s (id, name) values (73, 'committed by set')" % t)
    c.autocommit(True)
    assert rows(two, [73]) == [(73,)]
    assert c.get_autocommit() is True
    cur.execute("insert into %s (id, name) values (74, 'autocommitted')" % t)
    assert rows(two, [74]) == [(74,)]
    c.rollback()  # nothing open: nothing undone
    assert rows(two, [73, 74]) == [(73,), (74,)]
    c.close()
    log = p.read_log()
    assert "session_switch" in log


def test_autocommit_off_prepared_statements(proxy_factory, mysql_server, two):
    """The binary protocol too: an execution of a prepared INSERT opens the
    transaction; ROLLBACK undoes it."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    try:
        assert r.query("set autocommit=0") == [("ok", 0)]
        st = r.prepare("insert into %s (id, name) values (?, ?)" % two.name)
        cut_over(p)
        assert r.execute(st, ("75", "prepared")) == ("ok", 1)
        assert r.status & 0x1 and not r.status & 0x2  # IN_TRANS, not AUTOCOMMIT
        assert rows(two, [75]) == []
        r.query("rollback")
        assert rows(two, [75]) == []
        assert r.execute(st, ("76", "prepared")) == ("ok", 1)
        r.query("commit")
        assert rows(two, [75, 76]) == [(76,)]
    finally:
        r.close()


def test_sync_shadow_rolls_back_on_both(proxy_factory, mysql_server, two):
    """MariaDB serves, the target shadows (sync): with autocommit off a
    ROLLBACK undoes the write on both databases, a COMMIT keeps it on both,
    and the answers compare equal."""
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    c = my_connect(p.port, autocommit=False)
    t = two.name
    try:
        cur = c.cursor()
        cur.execute("select count(*) from %s" % t)
        c.commit()
        cur.execute("insert into %s (id, name) values (80, 'rolled back')" % t)
        c.rollback()
        cur.execute("insert into %s (id, name) values (81, 'committed')" % t)
        cur.execute("update %s set name = 'changed' where id = 1" % t)
        c.commit()
        cur.execute("select id, name from %s where id in (1, 80, 81) order by id" % t)
        assert cur.fetchall() == ((1, "changed"), (81, "committed"))
        c.commit()
    finally:
        c.close()
    assert on_target(two, "select id, name from %s where id in (1, 80, 81) order by id" % t) == \
        [(1, "changed"), (81, "committed")]
    assert_no_mismatch(p)


@pytest.mark.parametrize("mode", ["none", "sync"])
def test_cut_back_keeps_autocommit_off(proxy_factory, mysql_server, two, mode):
    """A session with autocommit off moves back to MariaDB at a cut back
    with autocommit off there too (SET autocommit=0 on its new connection
    before its next command): what it rolls back is never committed, what
    it commits is, and @@autocommit says 0.  In sync, the shadow to
    PostgreSQL rolls back and commits with it."""
    from test_60_mysql_shadow_back import on_mariadb, switch
    p = proxy_factory(name="myacback", source_dialect="mysql", init_source=mysql_server.url(),
                      shadow_mode=mode, extra_args=["--coordination", "off"])
    r = raw_login(p)
    t = two.name
    try:
        r.query("set autocommit=0")
        switch(p, 5, "target")
        assert r.query("select 1")[0][0] == "rows"
        r.query("commit")
        switch(p, 7, "source")
        assert r.scalar("select @@autocommit") == "0"
        r.query("insert into %s (id, name) values (90, 'rolled back')" % t)
        r.query("rollback")
        r.query("insert into %s (id, name) values (91, 'committed')" % t)
        assert list(on_mariadb(mysql_server, "select id from %s where id in (90, 91)" % t)) == []  # not yet
        r.query("commit")
        assert r.scalar("select @@autocommit") == "0"
    finally:
        r.close()
    assert list(on_mariadb(mysql_server, "select id from %s where id in (90, 91)" % t)) == [(91,)]
    if mode == "sync":
        assert on_target(two, "select id from %s where id in (90, 91)" % t) == [(91,)]
        assert_no_mismatch(p)


def test_cut_back_with_autocommit_on_after_off(proxy_factory, mysql_server, two):
    """Turned off on MariaDB, on again while PostgreSQL served: the session
    moves back with MariaDB's default (on), and each statement commits."""
    from test_60_mysql_shadow_back import on_mariadb, switch
    p = proxy_factory(name="myacback2", source_dialect="mysql", init_source=mysql_server.url(),
                      extra_args=["--coordination", "off"])
    r = raw_login(p)
    t = two.name
    try:
        r.query("set autocommit=0")
        switch(p, 5, "target")
        r.query("set autocommit=1")
        switch(p, 7, "source")
        assert r.scalar("select @@autocommit") == "1"
        r.query("insert into %s (id, name) values (92, 'by itself')" % t)
        assert list(on_mariadb(mysql_server, "select id from %s where id = 92" % t)) == [(92,)]
    finally:
        r.close()


def test_connector_j_transaction_across_cutover(serve_classes, proxy_factory, mysql_server, two):
    """JDBC's transactions: setAutoCommit(false) on MariaDB (Connector/J
    sends set autocommit=0), then, after the cutover, a prepared INSERT
    rolled back is gone from the target and one committed is there."""
    p = served_proxy(proxy_factory, mysql_server)
    j = Jdbc(serve_classes, p, "useServerPrepStmts=true")
    t = two.name
    try:
        assert j("A 0") == ["autocommit=false"]
        assert j("P ins insert into %s (id, name) values (?, ?)" % t) == ["prepared"]
        assert j("Q select count(*) from %s" % t) == ["row=3"]
        assert j("C") == ["committed"]
        cut_over(p)
        assert j("X ins 95|jdbc rolled back") == ["count=1"]
        assert rows(two, [95]) == []
        assert j("R") == ["rolled back"]
        assert j("X ins 96|jdbc committed") == ["count=1"]
        assert rows(two, [96]) == []
        assert j("C") == ["committed"]
        assert rows(two, [95, 96]) == [(96,)]
        assert j("A 1") == ["autocommit=true"]
        assert j("X ins 97|jdbc autocommitted") == ["count=1"]
        assert rows(two, [97]) == [(97,)]
    finally:
        j.close()
