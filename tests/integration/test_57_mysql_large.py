"""57. Large requests and rows after the cutover (issue 7; core/bigmsg.c).

A session served across wire protocols decodes each message whole to
rewrite it.  Messages over the 32 KiB socket buffers (an INSERT of a large
value, the row that reads it back) are assembled on the heap, up to 16 MiB
each, within one budget for the whole process (--translate-memory, metric
lms_translate_memory_bytes); the memory goes back as soon as the message is
rewritten.  Beyond either limit the client gets a clear error, never cut
data."""

import hashlib

import pymysql
import pytest

from mysqlraw import MyError
from test_56_mysql_shadow import my_connect
from test_57_mysql_served import cut_over, raw_login


def served(proxy_factory, mysql_server, *extra):
    return proxy_factory(name="mylarge", source_dialect="mysql", init_source=mysql_server.url(),
                         extra_args=["--coordination", "off"] + list(extra))


@pytest.fixture
def blobs(lms_env, uniq):
    pg = lms_env.target_admin_connect()
    pg.autocommit = True
    pg.cursor().execute("create table %s (id int primary key, t text, b bytea)" % uniq)
    yield uniq, pg
    pg.cursor().execute("drop table if exists %s" % uniq)
    pg.close()


def text_of(n, seed):
    unit = hashlib.sha256(seed.encode()).hexdigest()
    return (unit * (n // len(unit) + 1))[:n]


def test_large_values_both_ways(proxy_factory, mysql_server, blobs):
    """A 1 MB text and a 3 MB binary value written through molt-lms after
    the cutover (text protocol) and read back whole, a 200 KB parameter of
    a prepared statement (binary protocol); the memory is given back."""
    t, pg = blobs
    p = served(proxy_factory, mysql_server)
    c = my_connect(p.port)
    r = raw_login(p)  # logins after the cutover need the source's verifiers: both before
    cut_over(p)
    cur = c.cursor()
    big_text = text_of(1000000, "a")
    big_bin = bytes(range(256)) * (3 * 1024 * 1024 // 256)
    # SQL is sent as written: bytes go as PostgreSQL reads them
    cur.execute("insert into " + t + " (id, t, b) values (1, %s, decode(%s, 'hex'))", (big_text, big_bin.hex()))
    assert cur.rowcount == 1
    pc = pg.cursor()
    pc.execute("select length(t), md5(t), length(b), md5(b) from %s where id = 1" % t)
    assert pc.fetchone() == (len(big_text), hashlib.md5(big_text.encode()).hexdigest(), len(big_bin),
                             hashlib.md5(big_bin).hexdigest())
    cur.execute("select id, t, b from %s where id = 1" % t)
    row = cur.fetchone()
    assert row[0] == 1 and row[1] == big_text and bytes(row[2]) == big_bin
    # small statements keep working between and after
    cur.execute("select 1")
    assert cur.fetchone() == (1,)
    st = r.prepare("insert into %s (id, t) values (?, ?)" % t)
    param = text_of(200000, "p")
    assert r.execute(st, ("2", param)) == ("ok", 1)
    sel = r.prepare("select t from %s where id = ?" % t)
    kind, cols, rows = r.execute(sel, ("2",))
    assert rows == [[param.encode()]]
    # long data in chunks over 32 KiB (Connector/J sends 1 MiB ones)
    ld = r.prepare("insert into %s (id, t) values (?, ?)" % t)
    chunks = [text_of(100000, "c1"), text_of(250000, "c2")]
    for ch in chunks:
        r.send_long_data(ld, 1, ch.encode())
    assert r.execute(ld, ("3", None), long_data=(1,)) == ("ok", 1)
    pc.execute("select md5(t) from %s where id = 3" % t)
    assert pc.fetchone() == (hashlib.md5("".join(chunks).encode()).hexdigest(),)
    assert p.metric("lms_translate_memory_bytes") == 0
    r.close()
    c.close()


def test_limits_give_clear_errors(proxy_factory, mysql_server, blobs):
    """Over the budget: the client is told to raise --translate-memory, and
    other sessions go on; a row over 16 MiB: the limit is named."""
    t, pg = blobs
    p = served(proxy_factory, mysql_server, "--translate-memory", "100000")
    c = my_connect(p.port)
    other = my_connect(p.port)
    cut_over(p)
    with pytest.raises(pymysql.MySQLError) as e:
        c.cursor().execute("insert into " + t + " (id, t) values (3, %s)", (text_of(200000, "x"),))
    assert "--translate-memory" in str(e.value), e.value
    cur = other.cursor()
    cur.execute("insert into " + t + " (id, t) values (4, %s)", (text_of(40000, "y"),))  # fits the budget
    cur.execute("select length(t) from %s where id = 4" % t)
    assert cur.fetchone() == (40000,)
    pc = pg.cursor()
    pc.execute("select count(*) from %s where id = 3" % t)
    assert pc.fetchone() == (0,)  # nothing was sent cut
    pc.execute("insert into %s (id, t) values (5, repeat('z', 17000000))" % t)
    p2 = served(proxy_factory, mysql_server)
    c2 = my_connect(p2.port)
    cut_over(p2)
    with pytest.raises(pymysql.MySQLError) as e:
        c2.cursor().execute("select t from %s where id = 5" % t)
    assert "too large to translate" in str(e.value), e.value
    assert p2.metric("lms_translate_memory_bytes") == 0
    other.close()
