"""57b. MySQL commands beyond queries once the PostgreSQL-wire target serves
the session (issue 7; plugins/mysql/cmds.c, docs/mysql.md "Limits after the
cutover"): COM_STMT_SEND_LONG_DATA, executions that open a cursor and
COM_STMT_FETCH, COM_CHANGE_USER, COM_STATISTICS, COM_FIELD_LIST.

Sessions connected to MariaDB before the switch (test_57_mysql_served's
served_proxy and cut_over), sessions that log in after it (test_58's
coordination store with the copied logins), with raw packets (mysqlraw.py)
and with MariaDB's own C connector (clients/my_cmds.c: the same commands as
libmariadb sends them for mysql_stmt_send_long_data, a read-only cursor with
prefetch, mysql_change_user and mysql_stat)."""

import os
import struct
import subprocess

import pytest

from mysqlraw import (CAP_DEPRECATE_EOF, COM_FIELD_LIST, COM_QUERY, COM_STATISTICS, MY_ADMIN, MY_APP, MY_DB,
                      MyError, native_scramble)
from test_57_mysql_served import cut_over, on_target, raw_login, served_proxy
from test_56_mysql_shadow import TwoSides
from lmsproxy import wait_until
from test_58_mysql_login import initialize, orch, store, target_truth, tproxy  # noqa: F401 (fixtures)
from test_58_mysql_login import raw_login as raw_login_tls

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def two(lms_env, mysql_server, uniq):
    t = TwoSides(lms_env, mysql_server, uniq)
    on_target(t, "create table %s_ld (id int primary key, body text)" % uniq)
    on_target(t, "insert into %s_ld values (1, 'first'), (2, 'second')" % uniq)
    yield t
    on_target(t, "drop table if exists %s_ld" % uniq)
    t.drop()


@pytest.fixture(params=[False, True], ids=["eof", "deprecate-eof"])
def served(request, proxy_factory, mysql_server, two):
    """A raw session opened on MariaDB, then served by PostgreSQL."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p, deprecate_eof=request.param)
    assert bool(r.caps & CAP_DEPRECATE_EOF) == request.param
    cut_over(p)
    yield p, r
    r.close()


def body_of(two, i):
    return on_target(two, "select body from %s_ld where id = %d" % (two.name, i))[0][0]


# ---- COM_STMT_SEND_LONG_DATA ------------------------------------------------

def test_long_data_after_cutover(served, two):
    """Chunks are joined into the parameter of the next execution, which
    then forgets them (MySQL's rule); COM_STMT_RESET forgets them too."""
    p, r = served
    upd = r.prepare("update %s_ld set body = ? where id = ?" % two.name)
    r.send_long_data(upd, 0, b"long ")
    r.send_long_data(upd, 0, b"")
    r.send_long_data(upd, 0, "data \u2603".encode())
    assert r.execute(upd, (None, "1"), long_data={0}) == ("ok", 1)
    assert body_of(two, 1) == "long data \u2603"
    # forgotten after the execution: the next one carries its value
    assert r.execute(upd, ("plain", "1")) == ("ok", 1)
    assert body_of(two, 1) == "plain"
    # both parameters as long data, the id as text
    r.send_long_data(upd, 1, b"2")
    r.send_long_data(upd, 0, b"x" * 8000)
    r.send_long_data(upd, 0, b"y" * 8000)
    assert r.execute(upd, (None, None), long_data={0, 1}) == ("ok", 1)
    assert body_of(two, 2) == "x" * 8000 + "y" * 8000
    # COM_STMT_RESET forgets it
    r.send_long_data(upd, 0, b"never used")
    r.reset(upd)
    assert r.execute(upd, ("after reset", "2")) == ("ok", 1)
    assert body_of(two, 2) == "after reset"
    # a query statement with long data
    sel = r.prepare("select length(?::text), ?::int + 1")
    r.send_long_data(sel, 0, b"abc" * 100)
    assert r.execute(sel, (None, "41"), long_data={0})[2] == [[300, 42]]
    assert r.query("select 'alive'")[0][2] == [[b"alive"]]


def test_long_data_big_chunks_and_too_much(served, two):
    """Chunks over 32 KiB are assembled whole (Connector/J sends 1 MiB ones)
    and so is the execution that carries them; long data over what the
    session keeps (1 MiB) is refused at the execution, and the session and
    the statement go on."""
    p, r = served
    upd = r.prepare("update %s_ld set body = ? where id = ?" % two.name)
    r.send_long_data(upd, 0, b"z" * 40000)  # one packet over the 32 KiB buffers
    assert r.execute(upd, (None, "1"), long_data={0}) == ("ok", 1)
    assert body_of(two, 1) == "z" * 40000
    r.send_long_data(upd, 0, b"a" * 20000)
    r.send_long_data(upd, 0, b"b" * 20000)
    assert r.execute(upd, (None, "1"), long_data={0}) == ("ok", 1)
    assert body_of(two, 1) == "a" * 20000 + "b" * 20000
    # more than the session keeps (1 MiB): refused, memory stays bounded
    for _ in range(40):
        r.send_long_data(upd, 0, b"c" * 30000)
    with pytest.raises(MyError) as e:
        r.execute(upd, (None, "1"), long_data={0})
    assert e.value.code == 1153 and "1024 KiB" in e.value.message, e.value
    # and the statement works again afterwards
    assert r.execute(upd, ("fine", "1")) == ("ok", 1)
    assert body_of(two, 1) == "fine"
    assert p.metric("lms_translate_memory_bytes") == 0


# ---- cursors ---------------------------------------------------------------

def test_cursor_and_fetch_after_cutover(served, two):
    """COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY ends after the definitions
    with SERVER_STATUS_CURSOR_EXISTS; COM_STMT_FETCH sends the rows n at a
    time, then SERVER_STATUS_LAST_ROW_SENT; then the cursor is closed."""
    p, r = served
    st = r.prepare("select id, name, amount from %s order by id" % two.name)
    cols = r.open_cursor(st)
    assert [c["name"] for c in cols] == ["id", "name", "amount"] and r.status & 0x40, r.status
    rows, status = r.fetch(st, 2)
    assert rows == [[1, b"one", b"1.5000"], [2, b"two", b"-2.0000"]] and status & 0x40 and not status & 0x80
    # another statement's cursor, and a plain query, in between
    other = r.prepare("select g from generate_series(1, 5) g")
    other_cols = r.open_cursor(other)
    assert r.query("select 'between'")[0][2] == [[b"between"]]
    r.cursor_cols = cols
    rows, status = r.fetch(st, 2)
    assert rows == [[3, b"thr'ee", b"0.0500"]] and status & 0x80, status
    with pytest.raises(MyError) as e:
        r.fetch(st, 1)
    assert e.value.code == 1421, e.value  # ER_STMT_HAS_NO_OPEN_CURSOR
    r.cursor_cols = other_cols
    rows, status = r.fetch(other, 100)
    assert [row[0] for row in rows] == [1, 2, 3, 4, 5] and status & 0x80
    # executed again without a cursor: rows as usual
    assert len(r.execute(st)[2]) == 3
    # a cursor on a statement without a result set: an OK
    upd = r.prepare("update %s set big = big where id = 1" % two.name)
    r.command(0x17, struct.pack("<IBI", upd["id"], 1, 1))
    assert r.read_result(1, binary=True) == ("ok", 1)
    # an error while opening one; the session goes on
    bad = r.prepare("select 1 / (id - 1) from %s" % two.name)
    with pytest.raises(MyError) as e:
        r.open_cursor(bad)
    assert e.value.code == 1365, e.value
    # COM_STMT_RESET closes a cursor; an unknown statement is an error
    r.open_cursor(st)
    r.reset(st)
    with pytest.raises(MyError) as e:
        r.fetch(st, 1)
    assert e.value.code == 1421
    with pytest.raises(MyError) as e:
        r.fetch({"id": 99999}, 1)
    assert e.value.code == 1243
    assert r.query("select 'alive'")[0][2] == [[b"alive"]]


def test_cursor_rows_bounded(served, two):
    """A cursor whose rows exceed what the session keeps (16 MiB): an ERR in
    place of the cursor, not memory without bound; a big fetch comes in
    several answers of bounded size."""
    p, r = served
    big = r.prepare("select repeat('x', 1000) from generate_series(1, 17500)")
    with pytest.raises(MyError) as e:
        r.open_cursor(big)
    assert e.value.code == 1114 and "16 MiB" in e.value.message, e.value
    ok = r.prepare("select g, repeat('y', 1000) from generate_series(1, 300) g")
    r.open_cursor(ok)
    got, status = [], 0
    while not status & 0x80:
        rows, status = r.fetch(ok, 1000)
        assert rows or status & 0x80
        got += rows
    assert [row[0] for row in got] == list(range(1, 301))
    assert r.query("select 'alive'")[0][2] == [[b"alive"]]


# ---- COM_STATISTICS, COM_FIELD_LIST ------------------------------------------

def test_statistics_and_field_list(served, two):
    p, r = served
    r.command(COM_STATISTICS)
    seq, text = r.read(1)
    assert text.startswith(b"Uptime: ") and b"molt-lms" in text, text
    r.command(COM_FIELD_LIST, two.name.encode() + b"\0")
    with pytest.raises(MyError) as e:
        r.read_ok(1)
    assert e.value.code == 1235 and "information_schema" in e.value.message
    # pipelined with a query: the answers keep their order
    r.send(bytes([COM_STATISTICS]), 0)
    r.send(bytes([COM_QUERY]) + b"select 'next'", 0)
    assert r.read(1)[1].startswith(b"Uptime: ")
    assert r.read_result(1)[2] == [[b"next"]]


# ---- COM_CHANGE_USER -------------------------------------------------------

def test_change_user_without_copied_logins(served, two):
    """Without the copy of the source's logins (no coordination store here)
    the new user cannot be verified: ERR 1045 saying why, and the
    connection ends."""
    p, r = served
    with pytest.raises(MyError) as e:
        r.change_user(*MY_ADMIN)
    assert e.value.code == 1045 and "no copy" in e.value.message, e.value
    with pytest.raises((ConnectionError, OSError)):
        r.query("select 1")


def test_change_user_on_a_session_relayed_before(clusters, mysql_server, store, orch, proxy_factory):  # noqa: F811
    """A session that logged in to MariaDB through molt-lms (its scramble was
    MariaDB's), then served by PostgreSQL: COM_CHANGE_USER answered with
    that scramble is verified against the copied logins."""
    initialize(clusters, orch)
    store.run("update _molt_lms.state set epoch = epoch + 1, source_of_truth = 'source', phase = 'serving'")
    try:
        p = proxy_factory(name="mycu", source_dialect="mysql", init_source=mysql_server.url(),
                          init_target=clusters.target_url(db=store.db), tls=True)
        assert wait_until(lambda: "credentials_loaded" in p.read_log(), clusters.t(10)), p.read_log()
        r = raw_login_tls(p, *MY_APP)
        try:
            assert "MariaDB" in r.scalar("select version()")
            store.run("update _molt_lms.state set epoch = epoch + 1, source_of_truth = 'target'")
            assert wait_until(lambda: "source_of_truth=target" in p.read_log(), clusters.t(10)), p.read_log()
            assert "PostgreSQL" in r.scalar("select version()")
            r.query("begin")
            r.query("set local statement_timeout = 12345")
            assert r.scalar("show statement_timeout") == "12345ms"
            r.change_user(*MY_ADMIN)
            assert not r.status & 0x1  # the transaction was rolled back, as MySQL does
            assert r.scalar("show statement_timeout") != "12345ms"
            assert r.query("select 'as admin'")[0][2] == [[b"as admin"]]
            with pytest.raises(MyError) as e:
                r.change_user(MY_ADMIN[0], "wrong")
            assert e.value.code == 1045 and "wrong password" in e.value.message, e.value
        finally:
            r.close()
    finally:
        store.run("update _molt_lms.state set epoch = epoch + 1, source_of_truth = 'source', phase = 'serving'")


def session_users(p):
    from test_30_control import api
    return sorted(c["user"] for c in api(p, "GET", "/api/v1/connections")[1]["connections"])


@pytest.mark.parametrize("mode", ["none", "sync"])
def test_change_user_names_the_session(proxy_factory, mysql_server, mode):
    """MariaDB serves (relayed): once it accepts a COM_CHANGE_USER, the logs
    and the admin API name the new user; one it refuses changes nothing."""
    p = served_proxy(proxy_factory, mysql_server, shadow_mode=mode)
    r = raw_login(p, db=MY_DB)
    try:
        assert session_users(p) == [MY_APP[0]]
        r.change_user(*MY_ADMIN)
        assert r.scalar("select current_user()").startswith(MY_ADMIN[0] + "@")
        assert session_users(p) == [MY_ADMIN[0]]
        assert wait_until(lambda: "session_user_changed" in p.read_log(), 5)
        line = [x for x in p.read_log().splitlines() if "session_user_changed" in x][0]
        assert "from=%s to=%s database=%s" % (MY_APP[0], MY_ADMIN[0], MY_DB) in line, line
        with pytest.raises(MyError) as e:
            r.change_user(MY_APP[0], "wrong")
        assert e.value.code == 1045
    finally:
        r.close()
    assert p.read_log().count("session_user_changed") == 1


@pytest.mark.parametrize("mode", ["none", "sync"])
def test_request_after_change_user_follows_the_cutover(proxy_factory, mysql_server, mode):
    """MariaDB serves: a COM_CHANGE_USER answered through an authentication
    exchange (MariaDB asks the client again), then a cutover: the session's
    next request goes to PostgreSQL, the new source of truth.  Before, the
    client's turn in the exchange opened a request that only the next one
    ended, so that next request was never checked (pause, source of truth):
    after a cutover it still went to MariaDB, where a write would be lost
    to the target."""
    p = served_proxy(proxy_factory, mysql_server, shadow_mode=mode)
    r = raw_login(p, db=MY_DB)
    try:
        r.change_user(*MY_ADMIN)
        cut_over(p)
        assert "PostgreSQL" in r.scalar("select version()")
    finally:
        r.close()


@pytest.mark.parametrize("mode", ["none", "sync"])
def test_request_after_a_16_mib_command_follows_the_cutover(proxy_factory, mysql_server, mode):
    """MariaDB serves: a query of more than 16 MiB (two packets), then a
    cutover: the next request goes to PostgreSQL.  Before, the packets after
    a command's first one each opened a request that only the next command
    ended, so that command was never checked and went to MariaDB."""
    import pymysql
    p = served_proxy(proxy_factory, mysql_server, shadow_mode=mode)
    c = pymysql.connect(host="127.0.0.1", port=p.port, user=MY_APP[0], password=MY_APP[1], database=MY_DB,
                        autocommit=True, max_allowed_packet=64 * 1024 * 1024, connect_timeout=10, read_timeout=60)
    try:
        cur = c.cursor()
        filler = "z" * (17 * 1024 * 1024)
        cur.execute("select length('%s') as n" % filler)
        assert cur.fetchone() == (len(filler),)
        cut_over(p)
        cur.execute("select version()")
        assert "PostgreSQL" in cur.fetchone()[0]
    finally:
        c.close()


def test_change_user_verified_by_lms(tproxy):  # noqa: F811
    """Logged in after the switch: COM_CHANGE_USER is verified against the
    copied verifiers as a login is; the session starts afresh (statements
    gone); a wrong password gets ERR 1045 and the connection ends."""
    r = raw_login_tls(tproxy, *MY_APP)
    try:
        st = r.prepare("select 1")
        r.query("select 'before'")
        r.change_user(*MY_ADMIN, db=MY_DB)
        assert r.status & 0x2  # autocommit
        assert "from=%s to=%s" % (MY_APP[0], MY_ADMIN[0]) in tproxy.read_log()  # the logs name the new user
        assert r.query("select 'as admin'")[0][2] == [[b"as admin"]]
        assert r.scalar("select database()") == MY_DB
        with pytest.raises(MyError) as e:
            r.execute(st)
        assert e.value.code != 0  # the statement is gone
        r.change_user(*MY_APP)
        assert r.query("select 'back'")[0][2] == [[b"back"]]
        with pytest.raises(MyError) as e:
            r.change_user(MY_APP[0], "wrong")
        assert e.value.code == 1045 and e.value.sqlstate == "28000" and "wrong password" in e.value.message
        with pytest.raises((ConnectionError, OSError)):
            r.query("select 1")
    finally:
        r.close()
    r = raw_login_tls(tproxy, *MY_APP)
    try:
        with pytest.raises(MyError) as e:
            r.change_user("nobody_here", "x")
        assert e.value.code == 1045 and "no such login" in e.value.message
    finally:
        r.close()


def test_change_user_other_plugin_and_pipelined(tproxy):  # noqa: F811
    """A client naming another authentication plugin gets a switch request
    to mysql_native_password with the session's scramble; a refusal behind
    an answer still owed comes in its turn, and the session then ends."""
    r = raw_login_tls(tproxy, *MY_APP)
    try:
        body = (MY_ADMIN[0].encode() + b"\0" + bytes([20]) + b"\x01" * 20 + MY_DB.encode() + b"\0" +
                struct.pack("<H", 45) + b"caching_sha2_password\0")
        r.command(0x11, body)
        seq, pl = r.read(1)
        head = b"\xfemysql_native_password\0"
        assert pl.startswith(head), pl
        assert pl[len(head):].rstrip(b"\0") == r.greeting["salt"][:20]
        r.send(native_scramble(MY_ADMIN[1], r.greeting["salt"][:20]), 2)
        r.read_ok(3)
        assert r.query("select 'switched'")[0][2] == [[b"switched"]]
        # pipelined: a slow query, then a wrong change of user
        r.send(bytes([COM_QUERY]) + b"select pg_sleep(0.3)", 0)
        bad = native_scramble("wrong", r.greeting["salt"][:20])
        r.send(bytes([0x11]) + MY_APP[0].encode() + b"\0" + bytes([20]) + bad + MY_DB.encode() + b"\0" +
               struct.pack("<H", 45) + b"mysql_native_password\0", 0)
        assert r.read_result(1)[0] == "rows"
        with pytest.raises(MyError) as e:
            r.read_ok(1)
        assert e.value.code == 1045
        with pytest.raises((MyError, ConnectionError, OSError)):
            r.query("select 1")
            r.query("select 1")
    finally:
        r.close()


# ---- MariaDB's C connector (clients/my_cmds.c) --------------------------------

@pytest.fixture(scope="module")
def my_cmds_bin(clusters):
    out = os.path.join(clusters.test_dir, "it-my-cmds")
    src = os.path.join(HERE, "clients", "my_cmds.c")
    flags = subprocess.run(["mariadb_config", "--cflags", "--libs"], capture_output=True, text=True)
    if flags.returncode != 0:
        pytest.fail("mariadb_config (libmariadb-dev) is needed: " + flags.stderr)
    r = subprocess.run(["cc", "-Wall", "-Werror", "-o", out, src] + flags.stdout.split(), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out


def c_client(binary, port, table, *steps, tls_ca=None):
    args = [binary, "127.0.0.1", str(port), MY_APP[0], MY_APP[1], MY_DB, tls_ca or "-", table] + list(steps)
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.splitlines(), r.stderr


def test_c_connector_across_cutover(my_cmds_bin, proxy_factory, mysql_server, two):
    """libmariadb connected on MariaDB: after the switch (the client waits
    for it on stdin), long data, a cursor with a prefetch of 2 rows and
    mysql_stat() keep working on PostgreSQL."""
    p = served_proxy(proxy_factory, mysql_server)
    args = [my_cmds_bin, "127.0.0.1", str(p.port), MY_APP[0], MY_APP[1], MY_DB, "-", two.name,
            "wait", "longdata", "cursor", "stat"]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "connected"
        cut_over(p)
        on_target(two, "update %s set name = 'pg' where id = 2" % two.name)
        out, err = proc.communicate("go\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (out, err)
    lines = out.splitlines()
    assert "longdata=ok affected=1" in lines, lines
    assert body_of(two, 1) == "chunk one|chunk two|" + "z" * 10000
    assert "cursor=1|one,2|pg,3|thr'ee" in lines, lines  # fetched 2 rows at a time
    assert any(x.startswith("stat=Uptime: ") for x in lines), lines


def test_c_connector_change_user(my_cmds_bin, clusters, tproxy):  # noqa: F811
    """mysql_change_user() after the switch: the right password, then a wrong
    one (the library reports 1045)."""
    rc, lines, err = c_client(my_cmds_bin, tproxy.port, "none", "changeuser:%s:%s" % MY_ADMIN,
                              "query", "changeuser:%s:wrong" % MY_APP[0], tls_ca=clusters.cert("ca.crt"))
    assert rc == 0, (lines, err)
    assert lines[:4] == ["connected", "changeuser=ok", "query=1", "changeuser=1045"], (lines, err)
