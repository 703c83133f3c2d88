"""50c. The MySQL protocol by hand through mysql.so (tests/integration/
mysqlraw.py): binary prepared statements, the rarer commands, sequence ids,
pipelining, and what the proxy answers itself."""

import struct

import pytest

from mysqlraw import (COM_BINLOG_DUMP, COM_FIELD_LIST, COM_INIT_DB, COM_PING, COM_QUERY,
                      COM_QUIT, COM_RESET_CONNECTION, COM_SET_OPTION, COM_STATISTICS, MY_ADMIN, MY_APP, MY_DB,
                      ST_IN_TRANS, MyError, MyRaw)


@pytest.fixture(params=[False, True], ids=["eof", "deprecate_eof"])
def raw(request, mysql_proxy):
    """A logged-in raw connection, with and without CLIENT_DEPRECATE_EOF."""
    c = MyRaw("127.0.0.1", mysql_proxy.port)
    c.login(*MY_APP, deprecate_eof=request.param)
    assert bool(c.caps & 0x1000000) == request.param
    yield c
    c.close()


def test_prepared_statements(raw, uniq):
    raw.query("create table %s (id int primary key, v varchar(100), b longblob)" % uniq)
    ins = raw.prepare("insert into %s (id, v) values (?, ?)" % uniq)
    assert ins["params"] == 2 and ins["cols"] == 0
    for i in range(5):
        kind, affected = raw.execute(ins, [str(i), "v%d" % i])
        assert (kind, affected) == ("ok", 1)
    sel = raw.prepare("select id, v from %s where id >= ? order by id" % uniq)
    assert sel["params"] == 1 and sel["cols"] == 2
    kind, cols, rows = raw.execute(sel, ["2"])
    assert [c["name"] for c in cols] == ["id", "v"]
    assert rows == [[2, b"v2"], [3, b"v3"], [4, b"v4"]]
    # no parameters, no columns
    nop = raw.prepare("do 1")
    assert nop["params"] == 0 and nop["cols"] == 0
    assert raw.execute(nop)[0] == "ok"
    # long data in pieces, then reset and close
    upd = raw.prepare("update %s set b = ? where id = ?" % uniq)
    raw.send_long_data(upd, 0, b"x" * 100000)
    raw.send_long_data(upd, 0, b"y" * 100000)
    assert raw.execute(upd, [None, "1"], long_data={0}) == ("ok", 1)
    kind, cols, rows = raw.query("select length(b), substr(b, 100000, 2) from %s where id = 1" % uniq)[0]
    assert rows == [[b"200000", b"xy"]]
    raw.reset(upd)
    raw.close_stmt(upd)  # no answer
    raw.close_stmt(ins)
    with pytest.raises(MyError) as ei:
        raw.execute(ins, ["9", "gone"])
    assert ei.value.code == 1243  # ER_UNKNOWN_STMT_HANDLER
    with pytest.raises(MyError) as ei:
        raw.prepare("select * from no_such_table_%s" % uniq)
    assert ei.value.code == 1146
    # a NULL and an error while executing
    kind, cols, rows = raw.execute(sel, [None])
    assert rows == []
    raw.query("drop table %s" % uniq)
    assert raw.scalar("select 'after statements'") == "after statements"


def test_cursor_and_fetch(raw):
    """COM_STMT_EXECUTE with a cursor ends after the definitions (status
    SERVER_STATUS_CURSOR_EXISTS); COM_STMT_FETCH brings the rows."""
    st = raw.prepare("select 1 union select 2 union select 3")
    cols = raw.open_cursor(st)
    assert len(cols) == 1 and raw.status & 0x40
    rows, status = raw.fetch(st, 2)
    assert rows == [[1], [2]]
    rows, status = raw.fetch(st, 2)
    assert rows == [[3]] and status & 0x80  # SERVER_STATUS_LAST_ROW_SENT
    raw.close_stmt(st)
    assert raw.scalar("select 'after cursor'") == "after cursor"


def test_prepared_statement_row_over_16_mib(raw, uniq):
    """A binary row of 20 MiB through COM_STMT_EXECUTE, and a 20 MiB
    COM_STMT_SEND_LONG_DATA."""
    raw.query("create table %s (id int, b longblob)" % uniq)
    ins = raw.prepare("insert into %s values (1, ?)" % uniq)
    big = bytes(range(256)) * (20 * 4096)
    raw.send_long_data(ins, 0, big)
    raw.execute(ins, [None], long_data={0})
    sel = raw.prepare("select b, id from %s" % uniq)
    kind, cols, rows = raw.execute(sel)
    assert len(rows) == 1 and rows[0][0] == big and rows[0][1] == 1
    raw.query("drop table %s" % uniq)


def test_simple_commands(raw, uniq):
    raw.command(COM_PING)
    raw.read_ok(1)
    raw.command(COM_INIT_DB, b"information_schema")
    raw.read_ok(1)
    assert raw.scalar("select database()") == "information_schema"
    raw.command(COM_INIT_DB, MY_DB.encode())
    raw.read_ok(1)
    raw.command(COM_STATISTICS)
    seq, stats = raw.read(1)
    assert b"Uptime" in stats
    raw.command(COM_SET_OPTION, struct.pack("<H", 1))  # multi-statements off
    raw.read_ok(1)
    with pytest.raises(MyError) as ei:
        raw.query("select 1; select 2")
    assert ei.value.code == 1064
    raw.command(COM_SET_OPTION, struct.pack("<H", 0))
    raw.read_ok(1)
    assert [r[2] for r in raw.query("select 1; select 2")] == [[[b"1"]], [[b"2"]]]
    raw.query("create table %s (a int, b text)" % uniq)
    raw.command(COM_FIELD_LIST, uniq.encode() + b"\0")
    cols = []
    seq = 1
    while True:
        s, pl = raw.read(seq)
        seq += 1
        if pl[0] == 0xFE and len(pl) < (0xFFFFFF if raw.caps & 0x1000000 else 9):
            break
        cols.append(pl)
    assert len(cols) == 2
    raw.query("drop table %s" % uniq)


def test_transaction_status_and_reset_connection(raw, uniq):
    raw.query("create table %s (id int) engine=InnoDB" % uniq)
    raw.query("begin")
    assert raw.status & ST_IN_TRANS
    raw.query("insert into %s values (1)" % uniq)
    raw.command(COM_RESET_CONNECTION)  # rolls back, forgets session state
    raw.read_ok(1)
    assert not raw.status & ST_IN_TRANS
    assert raw.scalar("select count(*) from %s" % uniq) in ("0", 0, b"0")
    raw.query("drop table %s" % uniq)


def test_change_user(raw):
    assert raw.scalar("select current_user()") == "app@localhost"
    raw.change_user(*MY_ADMIN)
    assert raw.scalar("select current_user()") == "lms_admin@localhost"
    with pytest.raises(MyError) as ei:
        raw.change_user("app", "wrong")
    assert ei.value.code == 1045


def test_unknown_and_refused_commands(raw):
    """The proxy answers with ERR (sequence id 1) and keeps serving."""
    for cmd in (0x00, 0x20, 0x7f, 0xfa, 0xfe):
        raw.command(cmd, b"junk")
        with pytest.raises(MyError) as ei:
            raw.read_ok(1)
        assert ei.value.code == 1047 and ei.value.seq == 1 and ei.value.sqlstate == "08S01"
    raw.command(COM_BINLOG_DUMP, struct.pack("<IHI", 4, 0, 1) + b"binlog.000001")
    with pytest.raises(MyError) as ei:
        raw.read_ok(1)
    assert "replication" in ei.value.message
    assert raw.scalar("select 'still here'") == "still here"


def test_pipelined_commands(raw):
    """Commands sent back to back before any answer: each answer matches."""
    data = b""
    for i in range(10):
        q = ("select %d" % i).encode()
        data += (len(q) + 1).to_bytes(3, "little") + b"\0" + bytes([COM_QUERY]) + q
    data += b"\x01\x00\x00\x00" + bytes([COM_PING])
    raw.send_raw(data)
    for i in range(10):
        kind, cols, rows = raw.read_result(1)
        assert rows == [[str(i).encode()]]
    raw.read_ok(1)


def test_deep_pipeline_waits_for_answers(raw):
    """More commands sent before reading than the proxy queues (64): the
    rest wait for answers instead of closing the session (Connector/J's
    executeBatch sends up to 100).  Every answer arrives, in order."""
    data = b""
    for i in range(1000):
        q = ("select %d" % i).encode()
        data += (len(q) + 1).to_bytes(3, "little") + b"\0" + bytes([COM_QUERY]) + q
    data += b"\x01\x00\x00\x00" + bytes([COM_PING])
    raw.send_raw(data)
    for i in range(1000):
        kind, cols, rows = raw.read_result(1)
        assert rows == [[str(i).encode()]]
    raw.read_ok(1)


def test_deep_pipeline_then_half_close(raw):
    """The deep pipeline above, then the client half-closes (shutdown
    SHUT_WR) before reading, with part of a packet left at the end: every
    command is answered in order, as by MariaDB itself (the proxy holds
    what its queue cannot take until answers come, and only then tells
    MariaDB that nothing more comes), then the connection closes."""
    import socket
    data = b""
    for i in range(300):
        q = ("select %d" % i).encode()
        data += (len(q) + 1).to_bytes(3, "little") + b"\0" + bytes([COM_QUERY]) + q
    raw.send_raw(data + b"\x20\x00\x00\x00\x03sel")
    raw.sock.shutdown(socket.SHUT_WR)
    for i in range(300):
        kind, cols, rows = raw.read_result(1)
        assert rows == [[str(i).encode()]]
    with pytest.raises(ConnectionError):
        raw.read_packet()


def test_bad_sequence_id_closes(mysql_proxy):
    c = MyRaw("127.0.0.1", mysql_proxy.port)
    try:
        c.login(*MY_APP)
        q = b"select 1"
        c.send_raw((len(q) + 1).to_bytes(3, "little") + b"\x05" + bytes([COM_QUERY]) + q)
        seq, pl = c.read_packet()
        assert pl[0] == 0xFF and b"molt-lms" in pl and seq == 1  # the proxy's ERR, then it closes
        with pytest.raises((ConnectionError, OSError)):
            c.read_packet()
    finally:
        c.close()


def test_greeting_shows_the_proxy_id(mysql_proxy):
    c = MyRaw("127.0.0.1", mysql_proxy.port)
    try:
        g = c.read_greeting()
        assert g["version"]  # the server's version string is relayed
        assert g["plugin"] == "mysql_native_password"
        c.login(*MY_APP)
        assert int(c.scalar("select connection_id()")) != g["conn_id"]
        c.command(COM_QUIT)
        with pytest.raises((ConnectionError, OSError)):
            c.read_packet()
    finally:
        c.close()


def test_client_speaking_first_is_refused(mysql_proxy):
    c = MyRaw("127.0.0.1", mysql_proxy.port)
    try:
        c.send_raw(b"\x05\x00\x00\x00\x03hello")
        # the greeting may already be on its way; then an ERR, then EOF
        seen = []
        try:
            while True:
                seen.append(c.read_packet()[1][:1])
        except (ConnectionError, OSError):
            pass
        assert seen[-1:] == [b"\xff"], seen
    finally:
        c.close()


