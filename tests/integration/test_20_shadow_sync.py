"""20. --shadow-mode sync: every write through the proxy lands on both the
source and the target (simple and extended protocol, transactions, COPY,
PREPARE/EXECUTE), and identical data gives no mismatch (also over pgbench)."""

import decimal
import hashlib
import io
import re
import threading

import pytest

from lmsproxy import (ADMIN_PASSWORD, ADMIN_USER, APP_DB, APP_PASSWORD, APP_USER, Direct, PgRaw,
                      run_tool)


@pytest.fixture
def sync_proxy(proxy_factory):
    return proxy_factory(name="sync", shadow_mode="sync")


def assert_no_mismatch(p):
    c = p.shadow_counts()
    assert c["mismatches"] == 0, (c, p.mismatch_records())
    assert c["mismatch"] == 0, c
    assert p.mismatch_records() == []
    api = p.api_mismatches()
    assert sum(e["mismatch"] for e in api["fingerprints"]) == 0, api
    return c


def test_sync_writes_reach_both(sync_proxy, sides, uniq):
    t = uniq
    sides.tables.append(t)  # created through the proxy below; dropped on both afterwards
    conn = sync_proxy.connect()
    conn.autocommit = True
    cur = conn.cursor()

    # DDL and simple-protocol DML with literals
    cur.execute("create table %s (id int primary key, v text, n numeric)" % t)
    cur.execute("insert into %s values (1, 'one', 1.5)" % t)
    assert cur.rowcount == 1
    # psycopg2 parameters (sent as literals in a simple Query)
    cur.execute("insert into %s values (%%s, %%s, %%s)" % t, (2, "two", decimal.Decimal("2.25")))
    cur.executemany("insert into %s values (%%s, %%s, %%s)" % t,
                    [(i, "n%d" % i, i) for i in (3, 4, 5)])

    # a transaction with several statements, and one that is rolled back
    conn.autocommit = False
    cur.execute("insert into %s values (10, 'ten', 10)" % t)
    cur.execute("update %s set v = v || '!' where id <= 2" % t)
    assert cur.rowcount == 2
    cur.execute("delete from %s where id = 5" % t)
    cur.execute("select count(*) from %s" % t)
    assert cur.fetchone()[0] == 5
    conn.commit()
    cur.execute("insert into %s values (11, 'rolled back', 0)" % t)
    cur.execute("update %s set v = 'rolled back' where id = 1" % t)
    conn.rollback()
    conn.autocommit = True

    # COPY FROM STDIN
    data = "".join("%d\tc%d\t%d.5\n" % (i, i, i) for i in range(100, 1100))
    cur.copy_expert("copy %s (id, v, n) from stdin" % t, io.StringIO(data))
    assert cur.rowcount == 1000

    # SQL-level prepared statement
    cur.execute("prepare ins_%s (int, text) as insert into %s values ($1, $2, 0)" % (t, t))
    cur.execute("execute ins_%s (2000, 'p1')" % t)
    cur.execute("execute ins_%s (2001, 'p2')" % t)
    cur.execute("deallocate ins_%s" % t)
    conn.close()

    # extended protocol: parameters (one NULL), pipelined before one Sync; and none
    raw = PgRaw("127.0.0.1", sync_proxy.port)
    try:
        raw.startup(APP_USER, APP_DB, APP_PASSWORD)
        rows, tags = raw.extended([
            ("insert into %s values ($1, $2, $3)" % t, [3000, "x1", "3.5"]),
            ("update %s set v = $1 where id = $2" % t, ["x1u", 3000]),
            ("insert into %s values ($1, $2, $3)" % t, [3001, None, None]),
            ("select v from %s where id = $1" % t, [3000]),
        ])
        assert tags == ["INSERT 0 1", "UPDATE 1", "INSERT 0 1", "SELECT 1"]
        assert rows == [[b"x1u"]]
        rows, tags = raw.extended([("insert into %s values (3002, 'noparam', 0)" % t, [])])
        assert tags == ["INSERT 0 1"]
        raw.terminate()
    finally:
        raw.close()

    # each server, read directly, holds exactly the same rows
    expected_ids = [1, 2, 3, 4, 10] + list(range(100, 1100)) + [2000, 2001, 3000, 3001, 3002]
    q = "select id, v, n from %s order by id" % t
    src, tgt = sides.rows("source", q), sides.rows("target", q)
    assert [r[0] for r in src] == expected_ids
    assert src == tgt
    assert src[0] == (1, "one!", decimal.Decimal("1.5"))
    assert src[1] == (2, "two!", decimal.Decimal("2.25"))
    assert (3001, None, None) in tgt and (3000, "x1u", decimal.Decimal("3.5")) in tgt
    assert (2001, "p2", 0) in tgt

    # a read through the proxy compares equal; nothing differed so far
    conn = sync_proxy.connect()
    conn.autocommit = True
    cur = conn.cursor()
    before = sync_proxy.shadow_counts()["match"]
    cur.execute("select count(*), sum(id) from %s" % t)
    assert cur.fetchone() == (len(expected_ids), sum(expected_ids))
    conn.close()
    assert sync_proxy.wait_metric("lms_shadow_requests_total", 'result="match"',
                                  at_least=before + 1) >= before + 1
    assert_no_mismatch(sync_proxy)
    e = sync_proxy.fingerprint_stats("select count(*), sum(id) from %s" % t)
    assert e is not None, sync_proxy.api_mismatches()
    assert e["requests"] >= 1 and e["match"] >= 1 and e["mismatch"] == 0, e
    assert sync_proxy.metric("lms_shadow_connections_opened_total") >= 3


def _endpoint(env, side):
    d = Direct(env)
    d.port = env.port_of(side)
    return d


@pytest.fixture
def bench_db(lms_env, uniq):
    """A fresh database on both servers, initialized with pgbench -i directly."""
    admins = {s: lms_env.direct_connect(s, db="postgres") for s in ("source", "target")}
    for a in admins.values():
        a.cursor().execute("create database %s owner %s" % (uniq, ADMIN_USER))
    try:
        for side in ("source", "target"):
            r = run_tool(lms_env, _endpoint(lms_env, side), "pgbench", ["-i", "-s", "1", "-q"],
                         user=ADMIN_USER, password=ADMIN_PASSWORD, dbname=uniq, timeout=120)
            assert r.returncode == 0, (side, r.stdout + r.stderr)
        yield uniq
    finally:
        for a in admins.values():
            a.cursor().execute("drop database if exists %s with (force)" % uniq)
            a.close()


def test_sync_pgbench_no_mismatch(lms_env, proxy_factory, bench_db):
    p = proxy_factory(name="sync-bench", shadow_mode="sync")

    def bench(args):
        r = run_tool(lms_env, p, "pgbench", args, user=ADMIN_USER, password=ADMIN_PASSWORD,
                     dbname=bench_db, timeout=120)
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        m = re.search(r"number of transactions actually processed: (\d+)", out)
        assert m and int(m.group(1)) > 0, out
        return int(m.group(1))

    # TPC-B-like with prepared statements; one client, so that both servers run
    # the same statements in the same order and every SELECT must agree
    n_tpcb = bench(["-n", "-M", "prepared", "-c", "1", "-T", "3"])
    # read-only, extended protocol, concurrent
    bench(["-n", "-S", "-M", "extended", "-c", "2", "-j", "2", "-T", "2"])

    def state(side):
        c = lms_env.direct_connect(side, db=bench_db)
        try:
            cur = c.cursor()
            cur.execute("select (select sum(abalance) from pgbench_accounts),"
                        " (select sum(bbalance) from pgbench_branches),"
                        " (select sum(tbalance) from pgbench_tellers),"
                        " (select count(*) from pgbench_history),"
                        " (select sum(delta) from pgbench_history)")
            return cur.fetchone()
        finally:
            c.close()
    src, tgt = state("source"), state("target")
    assert src == tgt
    assert src[3] == n_tpcb

    c = p.shadow_counts()
    assert c["match"] > n_tpcb, c
    assert c["lost"] == 0 and c["dropped"] == 0, c
    assert_no_mismatch(p)


@pytest.mark.parametrize("mode", ["sync", "strict-sync"])
def test_sync_statement_larger_than_buffers(proxy_factory, sides, uniq, mode):
    """A single client message larger than the shadow's buffers (held and
    output, 32 KiB each) runs on both at once and is released to the shadow
    as its socket takes it: the application gets its answer, and the rows are
    the same on both.  Before, a message over about 64 KiB hung the session
    for good, since nothing woke it once the shadow's output was written."""
    p = proxy_factory(name="syncbig", shadow_mode=mode)
    t = sides.table(uniq, "id int primary key, v text")
    conn = p.connect()
    conn.autocommit = True
    cur = conn.cursor()
    sizes = (70000, 200000, 1000000, 5000000)
    for i, n in enumerate(sizes):
        cur.execute("insert into %s values (%d, '%s')" % (t, i, chr(ord("a") + i) * n))
        assert cur.rowcount == 1
    cur.execute("select id, length(v) from %s order by id" % t)
    assert cur.fetchall() == list(enumerate(sizes))
    conn.close()
    for side in ("source", "target"):
        assert sides.rows(side, "select id, length(v), md5(v) from %s order by id" % t) == \
            [(i, n, hashlib.md5((chr(ord("a") + i) * n).encode()).hexdigest()) for i, n in enumerate(sizes)]
    assert_no_mismatch(p)


def test_sync_cancelled_before_the_shadow_ran_it(proxy_factory, sides):
    """In a transaction block, sync holds a request for the target until the
    source answered it.  Cancelled on the source (57014), it is never run on
    the target: counted dropped, not compared, and not as an async drop
    (lms_shadow_async_dropped_total counts only what async mode skipped
    because the target was behind; it used to count these too)."""
    import psycopg2.errors
    p = proxy_factory(name="sync-cancel", shadow_mode="sync")
    conn = p.connect()
    cur = conn.cursor()
    cur.execute("select 1")
    conn.commit()
    assert p.wait_metric("lms_shadow_requests_total", 'result="match"', at_least=1) >= 1
    before = p.shadow_counts()
    cur.execute("select 2")  # opens the transaction block
    timer = threading.Timer(1.0, conn.cancel)
    timer.start()
    try:
        with pytest.raises(psycopg2.errors.QueryCanceled):
            cur.execute("select pg_sleep(30)")
    finally:
        timer.cancel()
    conn.rollback()
    cur.execute("select 3")
    assert cur.fetchone() == (3,)
    conn.commit()
    assert p.wait_metric("lms_shadow_requests_total", 'result="dropped"', at_least=before["dropped"] + 1) \
        == before["dropped"] + 1
    after = p.shadow_counts()
    assert after["async_dropped"] == before["async_dropped"] == 0, (before, after)
    assert after["mismatch"] == 0, (after, p.mismatch_records())
    conn.close()
