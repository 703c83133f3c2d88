"""60. After a MySQL -> PostgreSQL cutover, the shadow runs back toward
MariaDB (docs/mysql.md, "Shadowing back to MariaDB"): mysql.so's backend logs
in to MariaDB itself with INIT_SOURCE's user and password (no client to relay
a login from), so sessions opened after the cutover, served by PostgreSQL,
have every request shadowed on MariaDB in shadowMode sync: their writes land
on MariaDB too and identical answers compare equal.  A wrong password in the
URL loses only the shadow (a clear log line, counted); the client keeps being
served by PostgreSQL.

The target is made the source of truth in the coordination store, as in
test_58_mysql_login.py, whose fixtures (store, orchestrator, copied logins)
this module reuses."""

import struct

import pymysql
import pytest

from lmsproxy import wait_until
from mysqlraw import COM_STMT_EXECUTE, MY_ADMIN, MY_APP, MY_DB, MY_ED, MyError, MyRaw, lenenc_bytes
from test_50_mysql_cancel import sleeping
from test_56_mysql_shadow import TwoSides
from test_58_mysql_login import initialize, orch, raw_login, store, target_truth  # noqa: F401 - fixtures

assert orch and store and target_truth


@pytest.fixture
def two(lms_env, mysql_server, uniq):
    t = TwoSides(lms_env, mysql_server, uniq)
    yield t
    t.drop()


def back_proxy(clusters, mysql_server, store, proxy_factory, name, url=None, tls=True, mode="sync"):
    p = proxy_factory(name=name, source_dialect="mysql", init_source=url or mysql_server.url(),
                      init_target=clusters.target_url(db=store.db), tls=tls, shadow_mode=mode)
    assert wait_until(lambda: "source_of_truth=target" in p.read_log(), clusters.t(10)), p.read_log()
    assert wait_until(lambda: "credentials_loaded" in p.read_log(), clusters.t(10)), p.read_log()
    return p


def app_connect(clusters, p):
    return pymysql.connect(host="127.0.0.1", port=p.port, user=MY_APP[0], password=MY_APP[1], database=MY_DB,
                           ssl={"ca": clusters.cert("ca.crt"), "check_hostname": False}, autocommit=True,
                           connect_timeout=10, read_timeout=60)


def on_mariadb(mysql_server, sql):
    c = pymysql.connect(host="127.0.0.1", port=mysql_server.port, user=MY_ADMIN[0], password=MY_ADMIN[1],
                        database=MY_DB, autocommit=True, connect_timeout=10)
    try:
        cur = c.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        c.close()


@pytest.mark.parametrize("ssl_mode,mode", [("DISABLED", "sync"), ("REQUIRED", "sync"), ("REQUIRED", "strict-sync")])
def test_new_sessions_shadowed_to_mariadb(clusters, mysql_server, store, target_truth, proxy_factory,  # noqa: F811
                                          two, ssl_mode, mode):
    """PyMySQL (text protocol) and a raw client (prepared statements,
    transactions, errors, the queries molt-lms answers itself), both
    logged in after the cutover: every request runs on MariaDB too and
    compares equal."""
    p = back_proxy(clusters, mysql_server, store, proxy_factory, "myback",
                   url=mysql_server.url(query="ssl-mode=" + ssl_mode), mode=mode)
    c = app_connect(clusters, p)
    try:
        assert c.server_version.endswith("-molt-lms")  # LMS's own greeting: PostgreSQL serves
        cur = c.cursor()
        cur.execute("SET NAMES utf8mb4")  # answered by molt-lms: a PING on both
        cur.execute("SELECT @@version_comment LIMIT 1")
        for i in range(10, 20):
            assert cur.execute("insert into %s (id, name, big) values (%d, 'n%d', %d)" % (two.name, i, i, i * 7)) == 1
        assert cur.execute("update %s set name = 'changed' where id >= 15" % two.name) == 5
        assert cur.execute("delete from %s where id = 19" % two.name) == 1
        cur.execute("select id, name, big from %s where id >= 10 order by id" % two.name)
        rows = cur.fetchall()
        assert len(rows) == 9 and rows[-1] == (18, "changed", 126), rows
        cur.execute("select count(*), sum(big) from %s" % two.name)
        assert cur.fetchone()[0] == 12
        cur.execute("start transaction")
        cur.execute("insert into %s (id, name) values (20, 'in txn')" % two.name)
        cur.execute("commit")
        with pytest.raises(pymysql.err.IntegrityError):
            cur.execute("insert into %s (id, name) values (10, 'dup')" % two.name)  # fails on both
        cur.execute("select count(*) from %s" % two.name)  # the transaction's row is there
        assert cur.fetchone() == (13,)
    finally:
        c.close()
    r = MyRaw("127.0.0.1", p.port, timeout=30)
    r.login(MY_APP[0], MY_APP[1], db=MY_DB, tls=True)
    try:
        sel = "select id, name from %s where id = ?" % two.name
        st = r.prepare(sel)
        for i in (10, 12, 14):
            assert r.execute(st, (str(i),))[2] == [[i, b"n%d" % i]]
        upd = r.prepare("update %s set big = ? where id = ?" % two.name)
        assert r.execute(upd, ("-1", "11")) == ("ok", 1)
        assert r.execute(upd, (None, "12")) == ("ok", 1)
        again = r.prepare(sel)  # the same text once more, then the first closed
        r.close_stmt(st)
        assert r.execute(again, ("16",))[2] == [[16, b"changed"]]
        assert r.query("insert into %s (id, name) values (30, 'raw')" % two.name) == [("ok", 1)]
    finally:
        r.close()
    # the writes made through PostgreSQL ran on MariaDB too (the shadow)
    assert on_mariadb(mysql_server, "select id, name from %s where id >= 10 order by id" % two.name) == \
        tuple([(i, "n%d" % i) for i in range(10, 15)] + [(i, "changed") for i in range(15, 19)] +
              [(20, "in txn"), (30, "raw")])
    assert on_mariadb(mysql_server, "select big from %s where id in (11, 12) order by id" % two.name) == \
        ((-1,), (None,))
    assert wait_until(lambda: p.shadow_counts()["match"] >= 30, clusters.t(10)), p.shadow_counts()
    counts = p.shadow_counts()
    assert counts["mismatch"] == 0 and counts["mismatches"] == 0, (counts, p.mismatch_records())
    assert counts["lost"] == 0 and counts["dropped"] == 0, counts
    assert p.metric("lms_shadow_connections_abandoned_total") == 0
    assert "shadow_lost" not in p.read_log()


def test_strict_sync_reports_what_only_mariadb_refuses(clusters, mysql_server, store, target_truth,  # noqa: F811
                                                       proxy_factory, two):
    """strict-sync after the cutover: PostgreSQL runs `select 1::int`,
    MariaDB refuses its syntax: the client gets MariaDB's error, then goes on."""
    p = back_proxy(clusters, mysql_server, store, proxy_factory, "mystrict", mode="strict-sync")
    c = app_connect(clusters, p)
    try:
        cur = c.cursor()
        with pytest.raises(pymysql.MySQLError) as e:
            cur.execute("select 1::int")
        assert "MariaDB" in e.value.args[1] and "'::int'" in e.value.args[1], e.value.args
        cur.execute("select 2")
        assert cur.fetchall() == ((2,),)
    finally:
        c.close()
    assert wait_until(lambda: p.shadow_counts()["mismatch"] == 1, clusters.t(10)), p.shadow_counts()


def test_wrong_url_password_loses_only_the_shadow(clusters, mysql_server, store, target_truth,  # noqa: F811
                                                  proxy_factory, two):
    url = mysql_server.url(user=(MY_ADMIN[0], "not-the-password"))
    p = back_proxy(clusters, mysql_server, store, proxy_factory, "mybackpw", url=url)
    c = app_connect(clusters, p)
    try:
        cur = c.cursor()
        assert cur.execute("insert into %s (id, name) values (40, 'pg only')" % two.name) == 1
        cur.execute("select name from %s where id = 40" % two.name)
        assert cur.fetchone() == ("pg only",)
    finally:
        c.close()
    assert wait_until(lambda: "shadow_lost" in p.read_log(), clusters.t(10)), p.read_log()
    lines = [ln for ln in p.read_log().splitlines() if "shadow_lost" in ln]
    assert "refused molt-lms's login with the URL's user" in lines[0] and "Access denied" in lines[0], lines
    # the password never reaches the log (its first line is the test's own command line)
    assert not [ln for ln in p.read_log().splitlines() if "not-the-password" in ln and not ln.startswith("#")]
    assert p.metric("lms_shadow_connections_abandoned_total") >= 1
    counts = p.shadow_counts()
    assert counts["lost"] + counts["dropped"] >= 1 and counts["mismatch"] == 0, counts
    assert on_mariadb(mysql_server, "select count(*) from %s where id = 40" % two.name) == ((0,),)


def test_ed25519_url_user_refused_clearly(clusters, mysql_server, store, target_truth,  # noqa: F811
                                          proxy_factory, two):
    """A URL user that authenticates with ed25519: the shadow says why it
    cannot log in; the client is served."""
    p = back_proxy(clusters, mysql_server, store, proxy_factory, "mybacked", url=mysql_server.url(user=MY_ED))
    c = app_connect(clusters, p)
    try:
        cur = c.cursor()
        cur.execute("select count(*) from %s" % two.name)
        assert cur.fetchone() == (3,)
    finally:
        c.close()
    assert wait_until(lambda: "shadow_lost" in p.read_log(), clusters.t(10)), p.read_log()
    line = [ln for ln in p.read_log().splitlines() if "shadow_lost" in ln][0]
    assert "client_ed25519" in line and "mysql_native_password" in line, line


# ---- the way back: a second cutover, PostgreSQL -> MariaDB ----

def switch(p, epoch, truth):
    """Pause, then serve from `truth` (the orchestrator's steps, pushed to
    the admin API as in test_57_mysql_served.py)."""
    from test_30_control import api
    for body in ({"epoch": epoch, "phase": "paused", "source_of_truth": "target" if truth == "source" else "source"},
                 {"epoch": epoch + 1, "phase": "serving", "source_of_truth": truth}):
        st, doc = api(p, "POST", "/api/v1/state", body)
        assert st == 200 and doc["applied"], doc


def execute_untyped(r, stmt, params):
    """COM_STMT_EXECUTE without parameter types (new-params-bound 0), as a
    connector sends a statement's executions after its first."""
    body = struct.pack("<IBI", stmt["id"], 0, 1) + bytes((stmt["params"] + 7) // 8) + b"\x00"
    for p in params:
        body += lenenc_bytes(len(p)) + p.encode()
    r.command(COM_STMT_EXECUTE, body)
    return r.read_result(1, binary=True)


@pytest.mark.parametrize("mode", ["none", "sync"])
def test_cut_back_carries_prepared_statements(clusters, mysql_server, proxy_factory, two, mode):
    """A session served by PostgreSQL since the cutover that holds prepared
    statements (one MariaDB numbered before the cutover, one molt-lms
    numbered after) moves back to MariaDB at the cut back: each is prepared
    again on the new connection, and the ids the client holds are rewritten
    in its commands (plugin ABI 1.10 frame patch), so each runs its own
    statement, never another: before, the session ended.  An execution
    without parameter types gets the ones the client sent last; a new
    statement gets an id above all the client holds; close and reset go to
    the right statement; in sync the shadow on PostgreSQL runs the same
    statements and agrees.  A second cutover translates the session again
    with the same ids."""
    p = proxy_factory(name="mycutback", source_dialect="mysql", init_source=mysql_server.url(),
                      shadow_mode=mode, extra_args=["--coordination", "off"])
    r = MyRaw("127.0.0.1", p.port, timeout=30)
    r.login(MY_APP[0], MY_APP[1], db=MY_DB)
    t = two.name
    try:
        st = r.prepare("select name from %s where id = ?" % t)
        assert r.execute(st, ("1",))[2] == [[b"one"]]
        switch(p, 5, "target")
        # served by PostgreSQL now
        assert r.query("insert into %s (id, name) values (50, 'after')" % t) == [("ok", 1)]
        after = r.prepare("select id, name from %s where id = ? order by id" % t)
        ins = r.prepare("insert into %s (id, name) values (?, ?)" % t)
        assert r.execute(after, ("50",))[2] == [[50, b"after"]]
        assert r.execute(st, ("50",))[2] == [[b"after"]]  # prepared on MariaDB, run on PostgreSQL
        big = r.prepare("select length(?)")
        ids = {st["id"], after["id"], ins["id"], big["id"]}
        switch(p, 7, "source")
        # MariaDB serves again: every id the client holds names its own statement
        assert "MariaDB" in r.scalar("select version()")
        assert r.execute(ins, ("51", "back"))[0] == "ok"
        assert r.execute(st, ("51",))[2] == [[b"back"]]
        assert execute_untyped(r, after, ("51",))[2] == [[51, b"back"]]  # the types it sent last, resent
        assert execute_untyped(r, after, ("3",))[2] == [[3, b"thr'ee"]]
        assert on_mariadb(mysql_server, "select name from %s where id = 51" % t) == (("back",),)
        assert r.execute(big, ("x" * 40000,))[2] == [[40000]]  # streamed (over 32 KiB): patched on the way
        r.send_long_data(big, 0, b"y" * 50000)
        assert r.execute(big, ("",), long_data=(0,))[2] == [[50000]]
        new = r.prepare("select count(*) from %s where id <= ?" % t)
        assert new["id"] > max(ids), (new, ids)  # molt-lms's numbering goes on
        assert r.execute(new, ("3",))[2] == [[3]]
        r.reset(st)
        assert r.execute(st, ("1",))[2] == [[b"one"]]
        r.close_stmt(after)
        with pytest.raises(MyError) as e:
            r.execute(after, ("1",))
        assert e.value.code == 1243, e.value.message  # unknown statement: closed on MariaDB
        assert r.execute(new, ("2",))[2] == [[2]]
        switch(p, 9, "target")
        # translated again: the same ids, now PostgreSQL's
        assert r.scalar("select version()").startswith("PostgreSQL")
        assert r.execute(st, ("1",))[2] == [[b"one"]]
        assert r.execute(new, ("3",))[2] == [[3]]
    finally:
        r.close()
    log = p.read_log()
    assert log.count("event=session_moved_back ") == 1, log
    assert "session_moved_back_refused" not in log
    if mode == "sync":  # (select version() differs, as it should)
        counts = p.shadow_counts()
        assert counts["match"] >= 8, counts
        assert {m["fingerprint"] for m in p.mismatch_records()} == {"select version()"}, p.mismatch_records()


def test_cut_back_carries_many_statements(clusters, mysql_server, proxy_factory, two):
    """More statements than one batch of state requests (16; plugin ABI
    1.9 fe_switch_state, written a batch at a time) move back: every one
    runs its own text on MariaDB, with an isolation level and autocommit
    off carried too."""
    p = proxy_factory(name="mymany", source_dialect="mysql", init_source=mysql_server.url(),
                      extra_args=["--coordination", "off"])
    r = MyRaw("127.0.0.1", p.port, timeout=30)
    r.login(MY_APP[0], MY_APP[1], db=MY_DB)
    try:
        switch(p, 5, "target")
        r.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        r.query("set autocommit=0")
        stmts = [r.prepare("select ? + %d" % k) for k in range(40)]
        r.query("commit")
        switch(p, 7, "source")
        for k, st in enumerate(stmts):
            assert r.execute(st, ("1000",))[2] == [[1000.0 + k]], k
        assert r.scalar("select @@tx_isolation") == "READ-COMMITTED"
        assert r.scalar("select @@autocommit") == "0"
        r.query("commit")
    finally:
        r.close()
    log = p.read_log()
    assert "state_not_carried" not in log and "replay_failed" not in log, log


@pytest.mark.parametrize("mode,ssl_mode", [("none", "DISABLED"), ("sync", "REQUIRED")])
def test_cut_back_carries_translated_sessions(clusters, mysql_server, proxy_factory, two, mode, ssl_mode):
    """A session served by PostgreSQL since the cutover, with no prepared
    statement open (it closed the ones it had, the last one right after
    the cut back: that close still goes to PostgreSQL), is relayed to MariaDB again
    after the cut back, over a connection molt-lms logs in with
    INIT_SOURCE's user: queries and writes go to MariaDB, new prepared
    statements get MariaDB's ids, the database is the session's, and
    nothing fails.  A second cutover makes it translated again."""
    p = proxy_factory(name="mycarry", source_dialect="mysql",
                      init_source=mysql_server.url(query="ssl-mode=%s" % ssl_mode),
                      shadow_mode=mode, extra_args=["--coordination", "off"])
    r = MyRaw("127.0.0.1", p.port, timeout=30)
    r.login(MY_APP[0], MY_APP[1], db=MY_DB)
    try:
        st = r.prepare("select name from %s where id = ?" % two.name)
        assert r.execute(st, ("1",))[2] == [[b"one"]]
        switch(p, 5, "target")
        assert r.scalar("select version()").startswith("PostgreSQL")
        assert r.execute(st, ("2",))[2] == [[b"two"]]
        r.close_stmt(st)
        after = r.prepare("select id from %s where name = ?" % two.name)
        assert r.execute(after, ("one",))[2] == [[1]]
        switch(p, 7, "source")
        r.close_stmt(after)  # after the cut back: closed where it was made, then the session moves
        assert "MariaDB" in r.scalar("select version()")
        if ssl_mode == "REQUIRED":  # the new connection's own login did TLS
            assert r.scalar("select variable_value from information_schema.session_status "
                            "where variable_name = 'Ssl_cipher'")
        assert r.query("insert into %s (id, name) values (61, 'back')" % two.name) == [("ok", 1)]
        assert on_mariadb(mysql_server, "select name from %s where id = 61" % two.name) == (("back",),)
        assert r.scalar("select database()") == MY_DB
        again = r.prepare("select name from %s where id = ?" % two.name)
        assert r.execute(again, ("61",))[2] == [[b"back"]]
        assert r.execute(again, ("3",))[2] == [[b"thr'ee"]]
        r.query("start transaction")
        assert r.query("update %s set name = 'rolled' where id = 61" % two.name) == [("ok", 1)]
        r.query("rollback")
        assert on_mariadb(mysql_server, "select name from %s where id = 61" % two.name) == (("back",),)
        r.close_stmt(again)
        switch(p, 9, "target")
        assert r.scalar("select version()").startswith("PostgreSQL")
    finally:
        r.close()
    log = p.read_log()
    assert log.count("event=session_moved_back ") == 1, log
    assert "session_moved_back_refused" not in log


def test_cut_back_carries_sessions_logged_in_by_lms(clusters, mysql_server, store, target_truth,  # noqa: F811
                                                    proxy_factory, two):
    """Sessions that logged in while PostgreSQL served (verified by
    molt-lms, shadowed back to MariaDB): when the store says MariaDB serves
    again, one without a prepared statement open goes on there (PyMySQL:
    its queries and writes reach MariaDB); one holding a statement molt-lms
    numbered goes on too, the statement prepared again there; a new login
    is relayed to MariaDB."""
    p = back_proxy(clusters, mysql_server, store, proxy_factory, "mybackcut")
    c = app_connect(clusters, p)
    r = raw_login(p, MY_APP[0], MY_APP[1])
    try:
        cur = c.cursor()
        cur.execute("select count(*) from %s" % two.name)
        assert cur.fetchone() == (3,)
        st = r.prepare("select name from %s where id = ?" % two.name)
        assert r.execute(st, ("1",))[2] == [[b"one"]]
        store.run("update _molt_lms.state set epoch = epoch + 1, source_of_truth = 'source', phase = 'serving'")
        try:
            assert wait_until(lambda: "source_of_truth=source" in p.read_log(), clusters.t(10)), p.read_log()
            cur.execute("select version()")
            assert "MariaDB" in cur.fetchone()[0]
            cur.execute("insert into %s (id, name) values (62, 'carried')" % two.name)
            assert on_mariadb(mysql_server, "select name from %s where id = 62" % two.name) == (("carried",),)
            cur.execute("select count(*) from %s" % two.name)
            assert cur.fetchone() == (4,)
            # KILL QUERY naming the id the client knows reaches its new
            # server thread (INIT_SOURCE's user owns it: that user kills)
            t, result = sleeping(c, 20)
            k = pymysql.connect(host="127.0.0.1", port=p.port, user=MY_ADMIN[0], password=MY_ADMIN[1],
                                database=MY_DB, ssl={"ca": clusters.cert("ca.crt"), "check_hostname": False},
                                autocommit=True, connect_timeout=10)
            try:
                k.cursor().execute("kill query %d" % c.thread_id())
            finally:
                k.close()
            t.join(10)
            err = result.get("error")
            assert isinstance(err, pymysql.err.OperationalError) and err.args[0] == 1317, result
            cur.execute("select 'goes on'")
            assert cur.fetchone() == ("goes on",)
            assert r.execute(st, ("1",))[2] == [[b"one"]]  # prepared again on MariaDB (remap.c)
            n = pymysql.connect(host="127.0.0.1", port=p.port, user=MY_APP[0], password=MY_APP[1], database=MY_DB,
                                ssl={"ca": clusters.cert("ca.crt"), "check_hostname": False}, autocommit=True,
                                connect_timeout=10)
            try:
                assert "MariaDB" in n.server_version and "molt-lms" not in n.server_version
            finally:
                n.close()
        finally:
            store.run("update _molt_lms.state set epoch = epoch + 1, source_of_truth = 'target', phase = 'serving'")
    finally:
        c.close()
        r.close()
    log = p.read_log()
    assert log.count("event=session_moved_back ") == 2 and "session_moved_back_refused" not in log, log


def count_on_both(two, mysql_server, where):
    """Rows matching `where` on MariaDB and on PostgreSQL, read by
    connections of their own (committed rows only)."""
    my = on_mariadb(mysql_server, "select count(*) from %s where %s" % (two.name, where))[0][0]
    cur = two.pg.cursor()
    cur.execute("select count(*) from %s where %s" % (two.name, where))
    return my, cur.fetchone()[0]


def test_autocommit_off_shadowed_to_mariadb(clusters, mysql_server, store, target_truth,  # noqa: F811
                                            proxy_factory, two):
    """PyMySQL's default connect (autocommit off), logged in after the
    cutover, in sync: a statement opens a transaction on MariaDB as on
    PostgreSQL, so a rollback undoes the write on both, nothing is seen by
    others before the commit, and SET autocommit=1 commits on both.
    Before, the shadow's own connection to MariaDB committed each
    statement: the rolled-back row stayed there."""
    p = back_proxy(clusters, mysql_server, store, proxy_factory, "myackback")
    c = pymysql.connect(host="127.0.0.1", port=p.port, user=MY_APP[0], password=MY_APP[1], database=MY_DB,
                        ssl={"ca": clusters.cert("ca.crt"), "check_hostname": False},
                        connect_timeout=10, read_timeout=60)  # autocommit off: PyMySQL's default
    try:
        cur = c.cursor()
        assert cur.execute("insert into %s (id, name) values (40, 'rolled back')" % two.name) == 1
        assert count_on_both(two, mysql_server, "id = 40") == (0, 0)  # not committed anywhere
        c.rollback()
        cur.execute("insert into %s (id, name) values (41, 'committed')" % two.name)
        cur.execute("update %s set name = 'both' where id = 41" % two.name)
        assert count_on_both(two, mysql_server, "id = 41") == (0, 0)
        c.commit()
        assert count_on_both(two, mysql_server, "id = 41") == (1, 1)
        cur.execute("insert into %s (id, name) values (42, 'by set')" % two.name)
        cur.execute("SET autocommit = 1")  # commits the open transaction, as MySQL does
        assert count_on_both(two, mysql_server, "id = 42") == (1, 1)
        cur.execute("insert into %s (id, name) values (43, 'autocommit')" % two.name)
        assert count_on_both(two, mysql_server, "id = 43") == (1, 1)  # each statement commits again
    finally:
        c.close()
    r = MyRaw("127.0.0.1", p.port, timeout=30)
    r.login(MY_APP[0], MY_APP[1], db=MY_DB, tls=True)
    try:  # the binary protocol: an execution opens the transaction
        r.query("SET autocommit=0")
        ins = r.prepare("insert into %s (id, name) values (?, ?)" % two.name)
        assert r.execute(ins, ("44", "prepared")) == ("ok", 1)
        assert count_on_both(two, mysql_server, "id = 44") == (0, 0)
        r.query("rollback")
        assert r.execute(ins, ("45", "prepared")) == ("ok", 1)
        r.query("commit")
    finally:
        r.close()
    assert count_on_both(two, mysql_server, "id in (40, 44)") == (0, 0)
    assert count_on_both(two, mysql_server, "id in (41, 42, 43, 45)") == (4, 4)
    assert on_mariadb(mysql_server, "select name from %s where id = 41" % two.name) == (("both",),)
    counts = p.shadow_counts()
    assert counts["mismatch"] == 0 and counts["lost"] == 0 and counts["dropped"] == 0, \
        (counts, p.mismatch_records())


def test_autocommit_off_carried_then_shadowed_back(clusters, mysql_server, proxy_factory, two):
    """A session that turned autocommit off on MariaDB, carried across the
    cutover: served by PostgreSQL and shadowed back to MariaDB on a new
    connection of molt-lms's own, its rollback still undoes the write on
    both."""
    p = proxy_factory(name="myaccarry", source_dialect="mysql", init_source=mysql_server.url(),
                      shadow_mode="sync", extra_args=["--coordination", "off"])
    r = MyRaw("127.0.0.1", p.port, timeout=30)
    r.login(MY_APP[0], MY_APP[1], db=MY_DB)
    try:
        r.query("SET autocommit=0")
        r.query("select 1")
        r.query("commit")
        switch(p, 5, "target")
        assert r.query("insert into %s (id, name) values (60, 'gone')" % two.name) == [("ok", 1)]
        assert count_on_both(two, mysql_server, "id = 60") == (0, 0)
        r.query("rollback")
        assert r.query("insert into %s (id, name) values (61, 'kept')" % two.name) == [("ok", 1)]
        r.query("commit")
    finally:
        r.close()
    assert count_on_both(two, mysql_server, "id = 60") == (0, 0)
    assert count_on_both(two, mysql_server, "id = 61") == (1, 1)
    counts = p.shadow_counts()
    assert counts["mismatch"] == 0, (counts, p.mismatch_records())
