"""57. MySQL prepared statements served by the PostgreSQL-protocol target
after a cutover are parsed once per connection (issue 7 benchmark):
COM_STMT_EXECUTE binds the named statement lms_s<id> (plugins/pgwire/named.c)
instead of sending Parse + Bind each time.  Seen from the translated session
itself through PostgreSQL's pg_prepared_statements view (each Bind counts one
plan), run as a COM_QUERY on the same connection."""

import datetime
import threading
import time

import pytest

from mysqlraw import COM_STMT_EXECUTE, MyError
from test_56_mysql_shadow import ALL, TwoSides, my_connect
from test_57_mysql_served import cut_over, on_target, raw_login, served_proxy

PG_NAMED_MAX = 64  # plugins/pgwire/pgwire.h


@pytest.fixture
def two(lms_env, mysql_server, uniq):
    t = TwoSides(lms_env, mysql_server, uniq)
    yield t
    t.drop()


def named(r):
    """{name: (plans, prepare_time, statement)} of this connection's lms_ statements."""
    out = r.query("select name, (generic_plans + custom_plans)::int, prepare_time::text, statement "
                  "from pg_prepared_statements where name like 'lms%' order by name")
    kind, cols, rows = out[0]
    assert kind == "rows", out
    return {row[0].decode(): (int(row[1]), row[2].decode(), row[3].decode()) for row in rows}


def test_executions_parse_once(proxy_factory, mysql_server, two):
    """Twenty executions of one statement: one named statement on the
    target, planned at each Bind, never prepared again."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    cut_over(p)
    st = r.prepare("select id, name from %s where id = ?" % two.name)
    assert named(r) == {}  # COM_STMT_PREPARE describes an unnamed statement
    names = {1: b"one", 2: b"two", 3: b"thr'ee"}
    for i in range(20):
        k = i % 3 + 1
        assert r.execute(st, (str(k),))[2] == [[k, names[k]]]
    name = "lms_s%d" % st["id"]
    first = named(r)
    assert list(first) == [name], first
    plans, prepared_at, text = first[name]
    assert plans == 20
    assert text == "select id, name from %s where id = $1" % two.name
    for i in range(5):
        r.execute(st, ("1",))
    assert named(r)[name] == (25, prepared_at, text)  # the same statement, bound five more times
    r.close()


def test_close_and_many_statements(proxy_factory, mysql_server, two):
    """COM_STMT_CLOSE closes the named statement; new statements work
    after it; beyond PG_NAMED_MAX per connection the least recently used
    is closed, and executing it again parses it again."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    cut_over(p)
    a = r.prepare("select name from %s where id = ?" % two.name)
    assert r.execute(a, ("1",))[2] == [[b"one"]]
    assert "lms_s%d" % a["id"] in named(r)
    r.close_stmt(a)  # no answer: the Close goes without a Sync
    assert named(r) == {}
    with pytest.raises(MyError):
        r.execute(a, ("1",))  # unknown to the client's session now
    b = r.prepare("select id from %s where name = ?" % two.name)
    assert r.execute(b, ("two",))[2] == [[2]]
    assert list(named(r)) == ["lms_s%d" % b["id"]]
    stmts = [r.prepare("select ?::int + %d" % k) for k in range(PG_NAMED_MAX + 6)]
    for k, s in enumerate(stmts):
        assert r.execute(s, ("1000",))[2] == [[1000 + k]]
    held = named(r)
    assert len(held) == PG_NAMED_MAX, held
    assert "lms_s%d" % b["id"] not in held  # the least recently used went first
    assert "lms_s%d" % stmts[-1]["id"] in held
    assert r.execute(b, ("three",))[2] == []  # parsed again
    assert r.execute(stmts[0], ("1",))[2] == [[1]]
    assert r.query("select 'alive'")[0][2] == [[b"alive"]]
    r.close()


def test_types_and_nulls_when_bound_again(proxy_factory, mysql_server, two):
    """The rows of a statement bound again (no Parse) are typed exactly as
    those of its first execution: binary values of every class, NULLs,
    NULL parameters."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    cut_over(p)
    st = r.prepare("select %s from %s where id >= ? or ?::text is null order by id" % (ALL, two.name))
    first = r.execute(st, ("2", "x"))
    again = r.execute(st, ("2", "x"))
    assert first == again
    kind, cols, rows = again
    assert [c["type"] for c in cols] == [3, 1, 246, 12, 10, 5, 253, 252, 8, 3]
    assert rows == [
        [2, 0, b"-2.0000", datetime.datetime(2024, 2, 29, 23, 59, 59), datetime.date(2024, 2, 29), 1e20, b"two",
         b"", -5, None],
        [3, 1, b"0.0500", datetime.datetime(1999, 12, 31, 0, 0, 0, 1000), datetime.date(1999, 12, 31), -2.5,
         b"thr'ee", b"\x00", 0, None],
    ]
    assert len(r.execute(st, ("9", None))[2]) == 3  # a NULL parameter
    assert len(r.execute(st, ("9", "x"))[2]) == 0
    assert named(r)["lms_s%d" % st["id"]][0] == 4
    upd = r.prepare("update %s set nul = ? where id = ?" % two.name)
    assert r.execute(upd, ("7", "1")) == ("ok", 1)
    assert r.execute(upd, (None, "1")) == ("ok", 1)
    assert on_target(two, "select nul from %s where id = 1" % two.name) == [(None,)]
    r.close()


def test_failed_parse_reaches_client(proxy_factory, mysql_server, two):
    """A named Parse that fails gives the client the database's error, the
    session goes on, and the next execution parses again: the table is
    gone (42P01); after a failure inside a transaction it is repaired; a statement whose
    result columns changed is parsed anew and run again, unseen (0A000)."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    cut_over(p)
    st = r.prepare("select name from %s where id = ?" % two.name)
    on_target(two, "alter table %s rename to %s_away" % (two.name, two.name))
    with pytest.raises(MyError) as e:
        r.execute(st, ("1",))
    assert (e.value.code, e.value.sqlstate) == (1146, "42P01"), e.value
    assert named(r) == {}  # nothing was made
    assert r.query("select 'goes on'")[0][2] == [[b"goes on"]]
    on_target(two, "alter table %s_away rename to %s" % (two.name, two.name))
    assert r.execute(st, ("1",))[2] == [[b"one"]]
    assert r.execute(st, ("2",))[2] == [[b"two"]]
    # a failed execution inside a transaction undoes only itself (atomic.c):
    # the next statement's first Parse runs in the repaired transaction
    dup = r.prepare("insert into %s (id) values (?)" % two.name)
    other = r.prepare("select id from %s where name = ?" % two.name)
    r.query("start transaction")
    with pytest.raises(MyError) as e:
        r.execute(dup, ("1",))
    assert (e.value.code, e.value.sqlstate) == (1062, "23505")
    assert r.execute(other, ("one",))[2] == [[1]]
    r.query("rollback")
    assert r.execute(other, ("one",))[2] == [[1]]
    assert r.execute(other, ("two",))[2] == [[2]]
    # PostgreSQL refuses to run a cached plan whose result columns changed
    # (0A000); molt-lms parses it again and runs it once more, unseen, as
    # MySQL re-prepares (plugins/pgwire/rerun.c)
    star = r.prepare("select * from %s where id = ?" % two.name)
    assert len(r.execute(star, ("1",))[1]) == 10
    on_target(two, "alter table %s add column extra int default 5" % two.name)
    kind, cols, rows = r.execute(star, ("1",))
    assert len(cols) == 11 and rows[0][-1] == 5
    assert len(r.execute(star, ("2",))[1]) == 11
    held = named(r)
    for s in (st, other, star):
        assert "lms_s%d" % s["id"] in held
    assert held["lms_s%d" % star["id"]][0] == 2  # parsed anew: two plans since
    r.close()


def test_columns_changed_inside_a_transaction(proxy_factory, mysql_server, two, uniq):
    """Inside a transaction the retry after 0A000 first rolls back to the
    savepoint in front of the failed execution: what the transaction did
    before stays, the client sees one answer, the transaction goes on and
    commits.  A write after the change is retried too; a statement whose
    text no longer works gets the database's error, once."""
    side = uniq + "_side"
    on_target(two, "create table %s (id int primary key)" % side)
    try:
        p = served_proxy(proxy_factory, mysql_server)
        r = raw_login(p)
        cut_over(p)
        star = r.prepare("select * from %s where id = ?" % two.name)
        name_of = r.prepare("select name from %s where id = ?" % two.name)
        add = r.prepare("insert into %s (id) values (?)" % side)
        assert len(r.execute(star, ("1",))[1]) == 10
        assert r.execute(name_of, ("1",))[2] == [[b"one"]]
        r.query("start transaction")
        assert r.execute(add, ("1",)) == ("ok", 1)
        on_target(two, "alter table %s add column extra int default 7" % two.name)
        kind, cols, rows = r.execute(star, ("2",))
        assert len(cols) == 11 and rows[0][0] == 2 and rows[0][-1] == 7
        assert r.execute(add, ("2",)) == ("ok", 1)
        r.query("commit")
        assert on_target(two, "select id from %s order by id" % side) == [(1,), (2,)]
        # the same outside a transaction, after a type change: the retry's answer
        on_target(two, "alter table %s alter column name type varchar(300)" % two.name)
        assert r.execute(name_of, ("2",))[2] == [[b"two"]]
        # a column the statement names is gone: the retry fails, the client gets it once
        on_target(two, "alter table %s drop column extra" % two.name)
        on_target(two, "alter table %s rename column name to title" % two.name)
        with pytest.raises(MyError) as e:
            r.execute(name_of, ("2",))
        assert e.value.sqlstate == "42703", e.value
        assert r.query("select 'goes on'")[0][2] == [[b"goes on"]]
        assert len(r.execute(star, ("3",))[1]) == 10
        r.close()
        log = p.read_log()
        assert "level=error" not in log, log
    finally:
        on_target(two, "drop table if exists %s" % side)


def test_named_on_the_shadow_survive_cutover(proxy_factory, mysql_server, two):
    """Shadowing MariaDB in sync mode: the shadow's connection names the
    statements it executes; the cutover promotes it (or logs in anew) and
    executions go on with the same ids, the answers equal on both sides
    before."""
    p = proxy_factory(name="mynamed-sync", source_dialect="mysql", init_source=mysql_server.url(),
                      extra_args=["--coordination", "off"], shadow_mode="sync")
    r = raw_login(p)
    c = my_connect(p.port)
    st = r.prepare("select id, name from %s where id = ?" % two.name)
    for k in (1, 2, 3, 1, 2):
        assert r.execute(st, (str(k),))[2][0][0] == k
    counts = p.shadow_counts()
    assert counts["mismatches"] == 0, counts
    cut_over(p)
    for k in (3, 2, 1):
        assert r.execute(st, (str(k),))[2][0][0] == k
    held = named(r)
    name = "lms_s%d" % st["id"]
    promoted = "promoted=1" in p.read_log()
    assert held[name][0] == (8 if promoted else 3), (held, promoted)
    c.close()
    r.close()


def test_application_deallocate_all(proxy_factory, mysql_server, two):
    """An application's DEALLOCATE ALL drops molt-lms's named statements
    under it: the next execution is refused (26000) and run again with its
    statement parsed anew, unseen; then every statement is parsed again
    (docs/mysql.md, limits after the cutover)."""
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    cut_over(p)
    a = r.prepare("select name from %s where id = ?" % two.name)
    b = r.prepare("select id from %s where name = ?" % two.name)
    assert r.execute(a, ("1",))[2] == [[b"one"]]
    assert r.execute(b, ("two",))[2] == [[2]]
    r.query("deallocate all")
    assert named(r) == {}
    assert r.execute(a, ("1",))[2] == [[b"one"]]
    assert r.execute(b, ("two",))[2] == [[2]]
    assert r.execute(a, ("3",))[2] == [[b"thr'ee"]]
    assert sorted(named(r)) == sorted(["lms_s%d" % a["id"], "lms_s%d" % b["id"]])
    r.close()
    # the refusal repaired is no failed request in the metrics
    p.wait_metric("lms_requests_total", 'backend="target",outcome="ok"', at_least=9)
    assert p.metric("lms_requests_total", 'outcome="error"') == 0


def test_columns_changing_under_load(proxy_factory, mysql_server, two):
    """Three clients execute a prepared SELECT * in a loop while the
    target's table gains and loses a column twenty times: no client ever
    sees an error, and every answer has the row it asked for, with the
    columns of the table as it was then (10 or 11)."""
    p = served_proxy(proxy_factory, mysql_server)
    clients = [raw_login(p) for _ in range(3)]
    cut_over(p)
    stop = threading.Event()
    seen = {10: 0, 11: 0}
    errors = []

    def run(r):
        st = r.prepare("select * from %s where id = ?" % two.name)
        k = 0
        while not stop.is_set():
            k = k % 3 + 1
            try:
                kind, cols, rows = r.execute(st, (str(k),))
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                errors.append(repr(e))
                return
            if len(rows) != 1 or rows[0][0] != k or len(cols) not in seen or len(rows[0]) != len(cols):
                errors.append("wrong answer for %d: %r %r" % (k, cols, rows))
                return
            seen[len(cols)] += 1

    threads = [threading.Thread(target=run, args=(r,)) for r in clients]
    for t in threads:
        t.start()
    try:
        for i in range(20):
            time.sleep(0.1)
            if i % 2 == 0:
                on_target(two, "alter table %s add column extra int default 5" % two.name)
            else:
                on_target(two, "alter table %s drop column extra" % two.name)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:3]
    assert seen[10] > 0 and seen[11] > 0, seen
    for r in clients:
        r.close()


def test_rerun_after_client_half_close(proxy_factory, mysql_server, two):
    """A client that sends an execution and then half-closes (shutdown
    SHUT_WR) still gets its answer when the execution must be run again
    (0A000: the result columns changed): the database is told that nothing
    more comes only once every request is answered, since the plugin
    writes the retry itself.  Before, the half-close went to the database
    at once and the retry failed: the client got 08006."""
    import socket
    import struct
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    cut_over(p)
    star = r.prepare("select * from %s where id = ?" % two.name)
    assert len(r.execute(star, ("1",))[1]) == 10
    on_target(two, "alter table %s add column extra int default 9" % two.name)
    body = struct.pack("<IBI", star["id"], 0, 1) + b"\x00\x01\xfd\x00" + b"\x011"
    r.command(COM_STMT_EXECUTE, body)
    r.sock.shutdown(socket.SHUT_WR)
    kind, cols, rows = r.read_result(1, binary=True)
    assert len(cols) == 11 and rows[0][0] == 1 and rows[0][-1] == 9, (kind, cols, rows)
    with pytest.raises((ConnectionError, OSError)):
        r.read_packet()
    r.close()


def test_translated_pipeline_then_half_close(proxy_factory, mysql_server, two):
    """Served by PostgreSQL: 300 pipelined queries, part of a packet, then a
    half-close before reading: every query is answered in order, then the
    connection closes (as test_50's for a MariaDB source of truth)."""
    import socket
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    cut_over(p)
    data = b""
    for i in range(300):
        q = ("select %d" % i).encode()
        data += (len(q) + 1).to_bytes(3, "little") + b"\0\x03" + q
    r.send_raw(data + b"\x20\x00\x00\x00\x03sel")
    r.sock.shutdown(socket.SHUT_WR)
    for i in range(300):
        kind, cols, rows = r.read_result(1)
        assert rows == [[str(i).encode()]], (i, kind, rows)
    with pytest.raises((ConnectionError, OSError)):
        r.read_packet()
    r.close()
