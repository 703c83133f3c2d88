"""42. Every PostgreSQL request kind ends at a request boundary: after it, a
cutover moves the session, and its next request goes to the new source of
truth (the same property as test_62_mysql_boundaries.py, which found two
MySQL cases that broke it).  psycopg2 through molt-lms, shadowMode none and
sync; the witness is the port of the server that answers."""

import io

import psycopg2
import pytest

from test_57_mysql_served import cut_over


def simple(c, cur):
    cur.execute("select 1")


def failed(c, cur):
    with pytest.raises(psycopg2.Error):
        cur.execute("select * from no_such_table_here")


def copy_in(c, cur):
    cur.execute("create temp table t_copy (a int, b text)")
    cur.copy_expert("copy t_copy from stdin", io.StringIO("".join("%d\tx%d\n" % (i, i) for i in range(500))))


def copy_out(c, cur):
    out = io.StringIO()
    cur.copy_expert("copy (select generate_series(1, 500)) to stdout", out)
    assert out.getvalue().count("\n") == 500


def prepared(c, cur):
    cur.execute("prepare q (int) as select $1 + 1")
    cur.execute("execute q (41)")
    assert cur.fetchone() == (42,)


def transaction(c, cur):
    cur.execute("begin")
    cur.execute("select 1")
    cur.execute("commit")


def server_cursor(c, cur):
    c.autocommit = False
    named = c.cursor(name="boundary")
    named.execute("select generate_series(1, 100)")
    named.fetchmany(10)
    named.close()
    c.commit()
    c.autocommit = True


def listen(c, cur):
    cur.execute("listen boundary_channel")
    cur.execute("notify boundary_channel, 'x'")


KINDS = [simple, failed, copy_in, copy_out, prepared, transaction, server_cursor, listen]


@pytest.mark.parametrize("mode", ["none", "sync"])
@pytest.mark.parametrize("kind", KINDS, ids=[f.__name__ for f in KINDS])
def test_next_request_after(clusters, proxy_factory, mode, kind):
    p = proxy_factory(name="pgbound", init_source=clusters.source_url(), init_target=clusters.target_url(),
                      shadow_mode=mode, extra_args=["--coordination", "off"])
    c = p.connect()
    c.autocommit = True
    try:
        cur = c.cursor()
        cur.execute("select current_setting('port')::int")
        assert cur.fetchone()[0] == clusters.source_port
        kind(c, cur)
        cut_over(p)
        cur = c.cursor()
        cur.execute("select current_setting('port')::int")
        assert cur.fetchone()[0] == clusters.target_port
    finally:
        c.close()
