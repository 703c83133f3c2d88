"""56. Requests over 32 KiB shadowed across protocols (core/shadow.c,
lms_shadow_whole_begin).

A MariaDB session relays a command larger than the 32 KiB socket buffers
to MariaDB as it streams in.  A shadow that speaks the other protocol
needs the whole command to translate it: molt-lms assembles a copy within
the --translate-memory budget, translates it once whole, and sends the
translation to the PostgreSQL-protocol target after what the shadow
already holds.  So a large INSERT lands on the target too, and a large
query is compared like any other.  Over the budget the request is not
compared (counted `dropped`), and the application is served as before."""

import hashlib

import pytest

from lmsproxy import wait_until
from mysqlraw import MY_APP, MyRaw
from test_56_mysql_shadow import assert_no_mismatch, my_connect, shadow_proxy


def text_of(n, seed):
    unit = hashlib.sha256(seed.encode()).hexdigest()  # hex digits: the same literal on both sides
    return (unit * (n // len(unit) + 1))[:n]


@pytest.fixture
def docs(lms_env, mysql_server, uniq):
    my = my_connect(mysql_server.port)
    pg = lms_env.target_admin_connect()
    pg.autocommit = True
    my.cursor().execute("create table %s (id int primary key, t longtext)" % uniq)
    pg.cursor().execute("create table %s (id int primary key, t text)" % uniq)
    yield uniq, pg
    my.cursor().execute("drop table if exists %s" % uniq)
    pg.cursor().execute("drop table if exists %s" % uniq)
    my.close()
    pg.close()


def on_target(pg, t, i):
    cur = pg.cursor()
    cur.execute("select length(t), md5(t) from %s where id = %d" % (t, i))
    return cur.fetchone()


def digest(text):
    return (len(text), hashlib.md5(text.encode()).hexdigest())


def test_sync_large_requests_compared(proxy_factory, mysql_server, docs):
    """In sync mode, a 300 KB INSERT (COM_QUERY), a 100 KB parameter of a
    prepared statement (COM_STMT_EXECUTE) and a query whose text is 200 KB
    run on the target too and compare equal: nothing is dropped.  A row
    then changed on the target alone is reported by the next large query."""
    t, pg = docs
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    c = my_connect(p.port)
    big, param, where = text_of(300000, "a"), text_of(100000, "b"), text_of(200000, "c")
    try:
        cur = c.cursor()
        cur.execute("select count(*) from %s" % t)  # the shadow is up
        before = p.shadow_counts()
        cur.execute("insert into %s (id, t) values (1, '%s')" % (t, big))
        assert cur.rowcount == 1
        assert on_target(pg, t, 1) == digest(big)
        cur.execute("select id, length(t) from %s where t <> '%s' or id = 1 order by id" % (t, where))
        assert cur.fetchall() == ((1, 300000),)
        r = MyRaw("127.0.0.1", p.port, timeout=30)
        try:
            r.login(*MY_APP)
            st = r.prepare("insert into %s (id, t) values (?, ?)" % t)
            assert r.execute(st, ("2", param)) == ("ok", 1)
            sel = r.prepare("select id from %s where t = ?" % t)
            assert r.execute(sel, (param,))[2] == [[2]]
        finally:
            r.close()
        assert on_target(pg, t, 2) == digest(param)
        assert wait_until(lambda: p.shadow_counts()["match"] >= before["match"] + 6, p.env.t(10)), \
            (before, p.shadow_counts())
        after = assert_no_mismatch(p)
        assert after["dropped"] == before["dropped"] and after["lost"] == before["lost"], (before, after)
        # a difference in a large query's answer is found
        pg.cursor().execute("update %s set t = 'changed' where id = 2" % t)
        cur.execute("select id, length(t) from %s where t <> '%s' order by id" % (t, where))
        assert cur.fetchall() == ((1, 300000), (2, 100000))
    finally:
        c.close()
    assert wait_until(lambda: p.shadow_counts()["mismatch"] == 1, p.env.t(10)), p.shadow_counts()
    recs = p.mismatch_records()
    assert len(recs) == 1 and recs[0]["fingerprint"].startswith("select id, length(t) from"), recs
    assert p.metric("lms_translate_memory_bytes") == 0


def test_async_large_insert_lands_on_target(proxy_factory, mysql_server, docs):
    """async: a 1 MB UPDATE reaches the target whole and compares equal,
    between the smaller requests before and after it (each given the time
    to finish there: async drops a request while the previous one runs)."""
    t, pg = docs
    p = shadow_proxy(proxy_factory, mysql_server, "async")
    c = my_connect(p.port)
    big = text_of(1000000, "d")
    statements = ["insert into %s (id, t) values (1, 'small')" % t,
                  "update %s set t = '%s' where id = 1" % (t, big),
                  "insert into %s (id, t) values (2, 'after')" % t]
    try:
        cur = c.cursor()
        for i, sql in enumerate(statements):
            cur.execute(sql)
            assert cur.rowcount == 1
            assert wait_until(lambda: p.shadow_counts()["match"] >= i + 1, p.env.t(10)), p.shadow_counts()
    finally:
        c.close()
    assert on_target(pg, t, 1) == digest(big)
    assert on_target(pg, t, 2) == digest("after")
    c = assert_no_mismatch(p)
    assert c["async_dropped"] == 0 and c["dropped"] == 0, c


def test_over_budget_not_compared(proxy_factory, mysql_server, docs):
    """With --translate-memory below the request's size, the large request
    is served by MariaDB and counted `dropped` (not compared); the shadow
    goes on comparing the next ones."""
    t, pg = docs
    p = shadow_proxy(proxy_factory, mysql_server, "sync", extra_args=["--translate-memory", "100000"])
    c = my_connect(p.port)
    big = text_of(200000, "e")
    try:
        cur = c.cursor()
        cur.execute("select count(*) from %s" % t)
        before = p.shadow_counts()
        cur.execute("insert into %s (id, t) values (1, '%s')" % (t, big))
        assert cur.rowcount == 1
        cur.execute("select id from %s" % t)
        assert cur.fetchall() == ((1,),)
    finally:
        c.close()
    # the select differs (the row is only on MariaDB): compared, and found
    assert wait_until(lambda: p.shadow_counts()["dropped"] == before["dropped"] + 1, p.env.t(10)), \
        (before, p.shadow_counts())
    assert wait_until(lambda: p.shadow_counts()["mismatch"] == before["mismatch"] + 1, p.env.t(10))
    assert on_target(pg, t, 1) is None


def test_sync_large_request_shadowed_back_to_mariadb(proxy_factory, mysql_server, docs):
    """After a cutover the session is served by PostgreSQL and shadowed
    back to MariaDB: a 300 KB INSERT, assembled whole to be translated for
    PostgreSQL, is encoded for MariaDB too, lands on both and compares
    equal (before, a request over 32 KiB made the shadow give up)."""
    from test_60_mysql_shadow_back import on_mariadb, switch
    t, pg = docs
    p = proxy_factory(name="mybigback", source_dialect="mysql", init_source=mysql_server.url(),
                      shadow_mode="sync", extra_args=["--coordination", "off"])
    c = my_connect(p.port)
    big = text_of(300000, "f")
    try:
        cur = c.cursor()
        cur.execute("select 1")
        switch(p, 5, "target")
        cur.execute("select version()")
        assert cur.fetchone()[0].startswith("PostgreSQL")
        before = p.shadow_counts()
        cur.execute("insert into %s (id, t) values (1, '%s')" % (t, big))
        assert cur.rowcount == 1
        cur.execute("select length(t) from %s where id = 1" % t)
        assert cur.fetchone() == (300000,)
    finally:
        c.close()
    assert on_target(pg, t, 1) == digest(big)
    assert on_mariadb(mysql_server, "select length(t), md5(t) from %s where id = 1" % t) == (digest(big),)
    assert wait_until(lambda: p.shadow_counts()["match"] >= before["match"] + 2, p.env.t(10)), \
        (before, p.shadow_counts())
    after = p.shadow_counts()  # (select version() differs, by design)
    for k in ("mismatch", "lost", "dropped"):
        assert after[k] == before[k], (before, after, p.mismatch_records())
    assert "shadow_lost" not in p.read_log()


def test_streamed_execution_rebinding_types(proxy_factory, mysql_server, docs):
    """An execution too big to decode that binds new parameter types
    (a 100 KB string, the id now a LONGLONG) is translated with them, and
    the next execution, which binds none, is translated with them too:
    the target gets the same rows as MariaDB."""
    import struct
    from mysqlraw import COM_STMT_EXECUTE, lenenc_bytes
    t, pg = docs
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    r = MyRaw("127.0.0.1", p.port, timeout=30)
    big = text_of(100000, "g")
    try:
        r.login(*MY_APP)
        st = r.prepare("insert into %s (id, t) values (?, ?)" % t)
        before = p.shadow_counts()
        assert r.execute(st, ("1", "a")) == ("ok", 1)  # both VAR_STRING
        head = struct.pack("<IBI", st["id"], 0, 1) + b"\x00"  # no NULLs
        r.command(COM_STMT_EXECUTE, head + b"\x01\x08\x00\xfd\x00" + struct.pack("<q", 2) +
                  lenenc_bytes(len(big)) + big.encode())  # LONGLONG, VAR_STRING
        assert r.read_result(1, binary=True) == ("ok", 1)
        r.command(COM_STMT_EXECUTE, head + b"\x00" + struct.pack("<q", 3) + lenenc_bytes(1) + b"c")
        assert r.read_result(1, binary=True) == ("ok", 1)
    finally:
        r.close()
    for i, text in ((1, "a"), (2, big), (3, "c")):
        assert on_target(pg, t, i) == digest(text), i
    assert wait_until(lambda: p.shadow_counts()["match"] >= before["match"] + 3, p.env.t(10)), \
        (before, p.shadow_counts())
    after = assert_no_mismatch(p)
    assert after["dropped"] == before["dropped"], (before, after)


def test_sync_large_rows_compared_by_value(proxy_factory, mysql_server, docs):
    """Rows over 32 KiB read back, in the text protocol (COM_QUERY) and the
    binary one (COM_STMT_EXECUTE), are described whole on each side once
    they streamed past and compared by value across the two protocols: the
    same values match, a character changed on the target alone is a
    mismatch.  Before, such rows were compared by their encoded length,
    which differs between MariaDB's and PostgreSQL's rows: every large
    read was a mismatch, and a same-length change went unseen."""
    t, pg = docs
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    c = my_connect(p.port)
    texts = {1: text_of(100000, "d"), 2: text_of(300000, "e")}
    try:
        cur = c.cursor()
        for i, v in texts.items():
            cur.execute("insert into %s (id, t) values (%d, '%s')" % (t, i, v))
        assert on_target(pg, t, 2) == digest(texts[2])
        before = p.shadow_counts()
        cur.execute("select t, id from %s where id = 1" % t)
        assert cur.fetchall() == ((texts[1], 1),)
        cur.execute("select id, t from %s order by id" % t)
        assert cur.fetchall() == tuple(texts.items())
        r = MyRaw("127.0.0.1", p.port, timeout=30)
        try:
            r.login(*MY_APP)
            sel = r.prepare("select t from %s where id = ?" % t)
            assert r.execute(sel, ("2",))[2] == [[texts[2].encode()]]
        finally:
            r.close()
        assert wait_until(lambda: p.shadow_counts()["match"] >= before["match"] + 3, p.env.t(10)), \
            (before, p.shadow_counts())
        assert_no_mismatch(p)
        changed = texts[2][:150000] + ("0" if texts[2][150000] != "0" else "1") + texts[2][150001:]
        pg.cursor().execute("update %s set t = '%s' where id = 2" % (t, changed))
        cur.execute("select id, t from %s where id >= 2" % t)
        assert cur.fetchall() == ((2, texts[2]),)
    finally:
        c.close()
    assert wait_until(lambda: p.shadow_counts()["mismatch"] == 1, p.env.t(10)), p.shadow_counts()
    recs = p.mismatch_records()
    assert len(recs) == 1 and recs[0]["diff"] == "values", recs
    assert p.metric("lms_translate_memory_bytes") == 0


def test_sync_large_rows_over_budget_unchecked(proxy_factory, mysql_server, docs):
    """A large row the --translate-memory budget cannot copy is not
    described by value; across the two protocols its encoded length says
    nothing either, so the request counts as "unchecked", not as a
    mismatch.  Before, MariaDB's and PostgreSQL's encodings of the same row
    differ in length, and every such read was a "values" mismatch.  And
    mysql.so counted such a row only when the core described it, so the
    row counts differed too ("affected"), also for a row of 16 MiB or
    more, which is never described, whatever the budget."""
    t, pg = docs
    text = text_of(100000, "f")
    my = my_connect(mysql_server.port)
    try:
        my.cursor().execute("insert into %s (id, t) values (1, '%s')" % (t, text))
        my.cursor().execute("insert into %s (id, t) values (2, repeat('z', 17000000))" % t)
    finally:
        my.close()
    pg.cursor().execute("insert into %s (id, t) values (1, '%s')" % (t, text))
    pg.cursor().execute("insert into %s (id, t) values (2, repeat('z', 17000000))" % t)
    p = shadow_proxy(proxy_factory, mysql_server, "sync", extra_args=["--translate-memory", "0"])
    c = my_connect(p.port)
    try:
        cur = c.cursor()
        cur.execute("select id, t from %s where id = 1" % t)
        assert cur.fetchall() == ((1, text),)
        cur.execute("select t, id from %s order by id" % t)
        assert [(len(v), i) for v, i in cur.fetchall()] == [(100000, 1), (17000000, 2)]
    finally:
        c.close()
    assert wait_until(lambda: p.shadow_counts()["unchecked"] == 2, p.env.t(10)), p.shadow_counts()
    assert_no_mismatch(p)
    assert p.metric("lms_shadow_differences_total", 'kind="unchecked"') == 2
