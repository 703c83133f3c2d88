"""22. strict-sync: when the source succeeds and the target fails the
application gets the target's error; when the source fails it gets the
source's error (also when both fail); a target that does not answer in time
gives an error saying so. In plain sync the source's result always wins."""

import time

import psycopg2
import psycopg2.errors
import pytest

from lmsproxy import TargetLock, wait_until


def app_conn(p):
    conn = p.connect()
    conn.autocommit = True
    return conn


@pytest.fixture
def strict_proxy(proxy_factory):
    return proxy_factory(name="strict", shadow_mode="strict-sync")


def ids(sides, side, t):
    return [r[0] for r in sides.rows(side, "select id from %s order by id" % t)]


def test_strict_target_only_constraints(strict_proxy, sides, uniq):
    t = sides.table(uniq, "id int primary key, n int, u int")
    sides.run("alter table %s add constraint tgt_only_chk check (n < 100)" % t, side="target")
    sides.run("create unique index tgt_only_uniq on %s (u)" % t, side="target")
    conn = app_conn(strict_proxy)
    cur = conn.cursor()
    cur.execute("insert into %s values (1, 5, 1)" % t)
    assert cur.rowcount == 1

    with pytest.raises(psycopg2.errors.CheckViolation) as ei:
        cur.execute("insert into %s values (2, 500, 2)" % t)
    assert ei.value.pgcode == "23514"
    assert "tgt_only_chk" in ei.value.pgerror, ei.value.pgerror

    with pytest.raises(psycopg2.errors.UniqueViolation) as ei:
        cur.execute("insert into %s values (3, 6, 1)" % t)
    assert ei.value.pgcode == "23505"
    assert "tgt_only_uniq" in ei.value.pgerror, ei.value.pgerror

    # the session goes on; statements both accept succeed normally
    cur.execute("insert into %s values (4, 7, 4)" % t)
    assert cur.rowcount == 1
    cur.execute("select n from %s where id = 4" % t)
    assert cur.fetchone()[0] == 7
    assert ids(sides, "target", t) == [1, 4]
    assert {1, 4} <= set(ids(sides, "source", t))

    # inside a transaction: the target's error, then a rollback on both sides
    conn.autocommit = False
    cur.execute("insert into %s values (10, 1, 10)" % t)
    with pytest.raises(psycopg2.errors.CheckViolation):
        cur.execute("insert into %s values (11, 500, 11)" % t)
    conn.rollback()
    conn.autocommit = True
    cur.execute("select count(*) from %s where id >= 10" % t)
    assert cur.fetchone()[0] == 0
    for side in ("source", "target"):
        assert not {10, 11} & set(ids(sides, side, t)), side
    conn.close()
    assert strict_proxy.wait_metric("lms_shadow_mismatches_total", at_least=3) >= 3


def test_strict_source_error_wins(strict_proxy, sides, uniq):
    t = sides.table(uniq, "id int primary key, n int, u int")
    sides.run("alter table %s add constraint src_only_chk check (n < 100)" % t, side="source")
    sides.run("create unique index tgt_only_uniq on %s (u)" % t, side="target")
    sides.run("insert into %s values (100, 0, 7)" % t, side="target")
    conn = app_conn(strict_proxy)
    cur = conn.cursor()
    # only the source fails
    with pytest.raises(psycopg2.errors.CheckViolation) as ei:
        cur.execute("insert into %s values (2, 500, 8)" % t)
    assert "src_only_chk" in ei.value.pgerror, ei.value.pgerror
    # both fail, differently (source 23514, target 23505): the source's error
    with pytest.raises(psycopg2.errors.CheckViolation) as ei:
        cur.execute("insert into %s values (1, 500, 7)" % t)
    assert ei.value.pgcode == "23514"
    assert "src_only_chk" in ei.value.pgerror, ei.value.pgerror
    # only the target fails: the target's error
    with pytest.raises(psycopg2.errors.UniqueViolation) as ei:
        cur.execute("insert into %s values (3, 5, 7)" % t)
    assert "tgt_only_uniq" in ei.value.pgerror, ei.value.pgerror
    # neither fails
    cur.execute("insert into %s values (4, 5, 9)" % t)
    assert cur.rowcount == 1
    conn.close()
    assert 4 in ids(sides, "source", t) and 4 in ids(sides, "target", t)
    assert 2 not in ids(sides, "source", t) and 1 not in ids(sides, "source", t)


def test_sync_returns_source_result_despite_target_error(proxy_factory, sides, uniq):
    p = proxy_factory(name="sync-err", shadow_mode="sync")
    t = sides.table(uniq, "id int primary key, n int")
    sides.run("alter table %s add constraint tgt_only_chk check (n < 100)" % t, side="target")
    conn = app_conn(p)
    cur = conn.cursor()
    cur.execute("insert into %s values (1, 500)" % t)  # fails on the target only
    assert cur.rowcount == 1
    conn.close()
    assert p.wait_metric("lms_shadow_mismatches_total", at_least=1) == 1
    assert p.metric("lms_shadow_differences_total", 'kind="error"') == 1
    fp = "insert into %s values (?, ?)" % t
    recs = wait_until(lambda: [r for r in p.mismatch_records() if r["fingerprint"] == fp],
                      p.env.t(5))
    assert recs and recs[0]["diff"] == "error", p.mismatch_records()
    r = recs[0]
    assert r["source"]["error"] is None, r
    assert r["target"]["error"]["sqlstate"] == "23514", r
    assert "tgt_only_chk" in r["target"]["error"]["message"], r
    assert ids(sides, "source", t) == [1] and ids(sides, "target", t) == []


def test_strict_shadow_timeout(proxy_factory, sides, uniq, lms_env):
    timeout = 1
    p = proxy_factory(name="strict-slow", shadow_mode="strict-sync", shadow_timeout=timeout)
    t = sides.table(uniq, "id int primary key, n int")
    sides.run("insert into %s values (1, 0)" % t)
    conn = app_conn(p)
    cur = conn.cursor()
    cur.execute("select n from %s where id = 1" % t)
    assert cur.fetchone()[0] == 0

    lock = TargetLock(lms_env, t, max_seconds=lms_env.t(30))
    try:
        t0 = time.monotonic()
        with pytest.raises(psycopg2.Error) as ei:
            cur.execute("select n from %s where id = 1" % t)
            cur.fetchall()
        elapsed = time.monotonic() - t0
        msg = str(ei.value).lower()
        assert "target" in msg and ("time" in msg or "answer" in msg), str(ei.value)
        assert timeout * 0.8 <= elapsed < lms_env.t(timeout + 4), elapsed
        assert p.wait_metric("lms_shadow_requests_total", 'result="lost"', at_least=1) >= 1
    finally:
        lock.release()

    # the target answers again: requests succeed and are compared again
    # (on this connection if the proxy kept it, else on a new one)
    m = p.shadow_counts()["match"]
    state = {"conn": conn}

    def shadowed_again():
        try:
            if state["conn"].closed:
                state["conn"] = app_conn(p)
            c = state["conn"].cursor()
            c.execute("select n from %s where id = 1" % t)
            c.fetchall()
        except psycopg2.Error:
            return False
        return p.shadow_counts()["match"] > m
    assert wait_until(shadowed_again, lms_env.t(15), interval=0.2), p.shadow_counts()
    state["conn"].close()


def test_strict_target_error_larger_than_decode_limit(strict_proxy, sides, uniq):
    """The target's error quotes a 40 KB value, so its ErrorResponse is too
    big to decode (over 32 KiB): the application must still get an error
    (XX000, saying the target's message was too large), not the source's
    success; the same statement with a short value gets the target's own
    error."""
    t = uniq
    sides.table(t, "id int primary key, v text", side="source")
    sides.table(t, "id int primary key, v int", side="target")
    conn = app_conn(strict_proxy)
    cur = conn.cursor()
    with pytest.raises(psycopg2.errors.InvalidTextRepresentation):
        cur.execute("insert into %s values (1, '%s')" % (t, "x" * 100))
    with pytest.raises(psycopg2.Error) as ei:
        cur.execute("insert into %s values (2, '%s')" % (t, "x" * 40000))
    assert ei.value.pgcode == "XX000", (ei.value.pgcode, ei.value.pgerror)
    assert "too large" in ei.value.pgerror, ei.value.pgerror
    # the session goes on
    cur.execute("select 1")
    assert cur.fetchone()[0] == 1
    conn.close()
