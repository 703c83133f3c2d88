"""62. Every MySQL command ends at a request boundary: after it, a cutover
moves the session, and its next request goes to the new source of truth.

The core checks the pause and the source of truth only where a request
starts.  A message that continues a request (LOCAL INFILE data, the
client's turn in COM_CHANGE_USER's exchange, the packets of a command of
16 MiB or more) must not open a request of its own that stays open, or the
next command skips those checks and, after a cutover, still runs on
MariaDB, where a write never reaches the target.  Two such cases were found
this way (test_57_mysql_commands.py); this module runs every command kind,
relayed to MariaDB in shadowMode none and sync, then cuts over and asks
`select version()`."""

import struct
import tempfile

import pymysql
import pytest

from mysqlraw import (COM_FIELD_LIST, COM_INIT_DB, COM_PING, COM_RESET_CONNECTION, COM_SET_OPTION, COM_STATISTICS,
                      MY_ADMIN, MY_APP, MY_DB, MyError)
from test_57_mysql_served import cut_over, raw_login, served_proxy, two  # noqa: F401 - fixture


def read_until_eof(r, seq):
    while True:
        s, pl = r.read(seq)
        seq += 1
        if pl[0] == 0xFF:
            raise MyError(pl, s)
        if pl[0] == 0xFE and len(pl) < (0xFFFFFF if r.caps & 0x1000000 else 9):
            return


def ping(r, two):
    r.command(COM_PING)
    r.read_ok(1)


def init_db(r, two):
    r.command(COM_INIT_DB, MY_DB.encode())
    r.read_ok(1)


def statistics(r, two):
    r.command(COM_STATISTICS)
    assert b"Uptime" in r.read(1)[1]


def set_option(r, two):
    r.command(COM_SET_OPTION, struct.pack("<H", 0))  # multi-statements on (PHP's multi_query)
    r.read_ok(1)
    assert [x[2] for x in r.query("select 1; select 2")] == [[[b"1"]], [[b"2"]]]


def field_list(r, two):
    r.command(COM_FIELD_LIST, two.name.encode() + b"\0")
    read_until_eof(r, 1)


def reset_connection(r, two):
    r.command(COM_RESET_CONNECTION)
    r.read_ok(1)


def change_user(r, two):
    r.change_user(*MY_ADMIN)


def query(r, two):
    r.query("select 1")


def multi_statements(r, two):
    r.query("select 1; select 2")


def failed_query(r, two):
    with pytest.raises(Exception):
        r.query("select * from no_such_table_here")


def prepared(r, two):
    st = r.prepare("select name from %s where id = ?" % two.name)
    r.execute(st, ("1",))
    r.reset(st)
    r.close_stmt(st)


def long_data(r, two):
    st = r.prepare("select length(?)")
    r.send_long_data(st, 0, b"x" * 1000)
    r.execute(st, (None,), long_data=(0,))
    r.close_stmt(st)


def cursor(r, two):
    st = r.prepare("select id from %s order by id" % two.name)
    r.open_cursor(st)
    r.fetch(st, 100)
    r.close_stmt(st)


def transaction(r, two):
    r.query("begin")
    r.query("insert into %s (id, name) values (77, 'txn')" % two.name)
    r.query("commit")


RAW = [ping, init_db, statistics, set_option, field_list, reset_connection, change_user, query,
       multi_statements, failed_query, prepared, long_data, cursor, transaction]


@pytest.mark.parametrize("mode", ["none", "sync"])
@pytest.mark.parametrize("command", RAW, ids=[f.__name__ for f in RAW])
def test_next_request_after(proxy_factory, mysql_server, two, mode, command):
    p = served_proxy(proxy_factory, mysql_server, shadow_mode=mode)
    r = raw_login(p, db=MY_DB)
    try:
        assert "MariaDB" in r.scalar("select version()")
        command(r, two)
        cut_over(p)
        assert "PostgreSQL" in r.scalar("select version()")
    finally:
        r.close()


def big_query(c, two):
    cur = c.cursor()
    cur.execute("select length('%s')" % ("z" * (17 * 1024 * 1024)))
    cur.fetchall()


def local_infile(c, two):
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("".join("%d,n%d\n" % (i, i) for i in range(200, 260)))
        name = f.name
    c.cursor().execute("load data local infile '%s' into table %s fields terminated by ',' (id, name)"
                       % (name, two.name))


PYMYSQL = [big_query, local_infile]


@pytest.mark.parametrize("mode", ["none", "sync"])
@pytest.mark.parametrize("command", PYMYSQL, ids=[f.__name__ for f in PYMYSQL])
def test_next_request_after_pymysql(proxy_factory, mysql_server, two, mode, command):
    p = served_proxy(proxy_factory, mysql_server, shadow_mode=mode)
    c = pymysql.connect(host="127.0.0.1", port=p.port, user=MY_APP[0], password=MY_APP[1], database=MY_DB,
                        autocommit=True, max_allowed_packet=64 * 1024 * 1024, local_infile=True,
                        connect_timeout=10, read_timeout=60)
    try:
        command(c, two)
        cut_over(p)
        cur = c.cursor()
        cur.execute("select version()")
        assert "PostgreSQL" in cur.fetchone()[0]
    finally:
        c.close()


BACK = [f for f in RAW if f is not change_user]  # (verifying a new user needs the copied logins)


@pytest.mark.parametrize("mode", ["none", "sync"])
@pytest.mark.parametrize("command", BACK, ids=[f.__name__ for f in BACK])
def test_next_request_after_cut_back(proxy_factory, mysql_server, two, mode, command):
    """Served by PostgreSQL since a cutover, the command translated; then a
    cut back: the next request goes to MariaDB again."""
    from test_60_mysql_shadow_back import switch
    p = served_proxy(proxy_factory, mysql_server, shadow_mode=mode)
    r = raw_login(p, db=MY_DB)
    try:
        switch(p, 5, "target")
        assert "PostgreSQL" in r.scalar("select version()")
        if command is field_list:
            with pytest.raises(MyError) as e:
                command(r, two)  # not served across protocols: ERR, the session goes on
            assert e.value.code == 1235
        else:
            command(r, two)
        switch(p, 7, "source")
        assert "MariaDB" in r.scalar("select version()")
    finally:
        r.close()


SHADOWED = [f for f in RAW if f is not change_user]  # (the shadow logs in as INIT_SOURCE's user)


@pytest.mark.parametrize("command", SHADOWED, ids=[f.__name__ for f in SHADOWED])
def test_shadow_in_step_after(proxy_factory, mysql_server, two, command):
    """MariaDB serves, PostgreSQL shadows in sync: after any command kind the
    shadow is still in step, so the next write lands on both databases and
    nothing is reported as a mismatch or lost."""
    from test_56_mysql_shadow import assert_no_mismatch, shadow_proxy
    from test_57_mysql_served import on_target
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    r = raw_login(p, db=MY_DB)
    try:
        command(r, two)
        assert r.query("insert into %s (id, name) values (91, 'after')" % two.name) == [("ok", 1)]
        assert r.scalar("select name from %s where id = 91" % two.name) == "after"
    finally:
        r.close()
    assert on_target(two, "select name from %s where id = 91" % two.name) == [("after",)]
    c = assert_no_mismatch(p)
    assert c["lost"] == 0, c


@pytest.mark.parametrize("command", BACK, ids=[f.__name__ for f in BACK])
def test_shadow_back_in_step_after(proxy_factory, mysql_server, two, command):
    """Served by PostgreSQL since a cutover, shadowed back to MariaDB in
    sync: after any command kind the next write lands on both databases."""
    from test_56_mysql_shadow import assert_no_mismatch
    from test_57_mysql_served import on_target
    from test_60_mysql_shadow_back import on_mariadb, switch
    p = served_proxy(proxy_factory, mysql_server, shadow_mode="sync")
    r = raw_login(p, db=MY_DB)
    try:
        switch(p, 5, "target")  # (the versions differ: no version() here, it would be a mismatch)
        if command is field_list:
            with pytest.raises(MyError):
                command(r, two)
        else:
            command(r, two)
        assert r.query("insert into %s (id, name) values (92, 'after')" % two.name) == [("ok", 1)]
    finally:
        r.close()
    assert on_target(two, "select name from %s where id = 92" % two.name) == [("after",)]
    assert on_mariadb(mysql_server, "select name from %s where id = 92" % two.name) == (("after",),)
    c = assert_no_mismatch(p)
    assert c["lost"] == 0, c
