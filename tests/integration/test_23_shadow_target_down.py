"""23. The target stops (pg_ctl stop -m immediate) under a shadowing proxy:
none/async/sync keep serving the application, strict-sync fails requests with
an error naming the target; once it is back, requests outside a transaction
are shadowed again. Uses a private scratch cluster as the target, never the
shared one.  A target that stops taking a request's bytes (a frozen path,
through a relay) counts against --shadow-timeout like one that does not
answer."""

import time

import psycopg2
import pytest

from lmsproxy import BothSides, Relay, wait_until

MODES = ["none", "async", "sync", "strict-sync"]


def app_conn(p):
    conn = p.connect()
    conn.autocommit = True
    return conn


@pytest.fixture
def scratch_sides(lms_env, scratch_cluster):
    if not scratch_cluster.running():
        scratch_cluster.start()
    b = BothSides(lms_env, target_port=scratch_cluster.port)
    yield b
    if not scratch_cluster.running():
        scratch_cluster.start()
        b.conns["target"] = lms_env.direct_connect("target", port=scratch_cluster.port)
    b.close()


@pytest.mark.parametrize("mode", MODES)
def test_target_down(mode, lms_env, proxy_factory, scratch_cluster, scratch_sides, uniq):
    sc, sides = scratch_cluster, scratch_sides
    t = sides.table(uniq, "id int primary key, v text")
    sides.run("insert into %s values (1, 'one'), (2, 'two')" % t)
    p = proxy_factory(name="down-" + mode, shadow_mode=mode, shadow_timeout=2,
                      init_target=sc.url())
    shadowing = mode != "none"
    q = "select v from %s where id = 1" % t
    conn = app_conn(p)
    cur = conn.cursor()
    cur.execute(q)
    assert cur.fetchall() == [("one",)]
    if shadowing:
        assert p.wait_metric("lms_shadow_requests_total", 'result="match"', at_least=1) >= 1

    sides.conns["target"].close()
    sc.stop("immediate")
    assert not sc.running()
    down_since = time.monotonic()

    if mode != "strict-sync":
        # the application is served by the source as if nothing happened
        for i in range(3):
            t0 = time.monotonic()
            cur.execute(q)
            assert cur.fetchall() == [("one",)]
            cur.execute("insert into %s values (%d, 'while down')" % (t, 10 + i))
            assert cur.rowcount == 1
            assert time.monotonic() - t0 < lms_env.t(5)
        c2 = app_conn(p)
        c2c = c2.cursor()
        c2c.execute("select count(*) from %s" % t)
        assert c2c.fetchone()[0] == 5
        c2.close()
        if mode == "sync":
            assert p.wait_metric("lms_shadow_requests_total", 'result="lost"', at_least=1) >= 1
    else:
        t0 = time.monotonic()
        with pytest.raises(psycopg2.Error) as ei:
            cur.execute(q)
            cur.fetchall()
        assert "target" in str(ei.value).lower(), str(ei.value)
        assert time.monotonic() - t0 < lms_env.t(5)
        # a new session: refused at login or at its first request, naming the target
        t0 = time.monotonic()
        with pytest.raises(psycopg2.Error) as ei:
            c2 = app_conn(p)
            try:
                c2.cursor().execute(q)
            finally:
                c2.close()
        assert "target" in str(ei.value).lower(), str(ei.value)
        assert time.monotonic() - t0 < lms_env.t(5)
    assert p.running()
    assert time.monotonic() - down_since < lms_env.t(20)

    sc.start()
    sides.conns["target"] = lms_env.direct_connect("target", port=sc.port)

    if not shadowing:
        cur.execute(q)
        assert cur.fetchall() == [("one",)]
        c = p.shadow_counts()
        assert sum(c.values()) == 0, c
        assert p.metric("lms_shadow_connections_opened_total") == 0
        assert sides.rows("target", "select count(*) from %s" % t) == [(2,)]
        conn.close()
        return

    # recovery: new requests, outside a transaction, are compared again; the
    # application's connection survives in every mode but strict-sync
    m = p.shadow_counts()["match"]
    state = {"conn": conn, "reconnected": False}

    def shadowed_again():
        try:
            if state["conn"].closed:
                state["conn"] = app_conn(p)
                state["reconnected"] = True
            c = state["conn"].cursor()
            c.execute(q)
            assert c.fetchall() == [("one",)]
        except psycopg2.Error:
            if mode != "strict-sync":
                raise
            return False
        return p.shadow_counts()["match"] > m
    assert wait_until(shadowed_again, lms_env.t(15), interval=0.2), p.shadow_counts()
    if mode != "strict-sync":
        assert not state["reconnected"]
    # writes reach the target again
    conn = state["conn"]
    cur = conn.cursor()
    cur.execute("insert into %s values (20, 'back')" % t)
    if mode == "async":
        assert wait_until(lambda: sides.rows("target", "select v from %s where id = 20" % t),
                          lms_env.t(5))
    assert sides.rows("target", "select v from %s where id = 20" % t) == [("back",)]
    conn.close()


@pytest.mark.parametrize("mode", ["sync", "strict-sync"])
def test_target_stops_taking_a_request(mode, lms_env, proxy_factory, sides, uniq):
    """The path to the target freezes while a sync session sends it a 16 MB
    statement, more than the shadow's buffers and the sockets hold: after
    --shadow-timeout the shadow is given up (why logged), and the
    application gets the source's answer (sync) or an error naming the
    target (strict-sync), as when the target does not answer.  Before, a
    request still being sent had no deadline: the session waited for good
    for room toward the target."""
    timeout = 1
    path = Relay(lms_env.target_port).start()
    try:
        url = lms_env.target_url().replace(":%d/" % lms_env.target_port, ":%d/" % path.port)
        p = proxy_factory(name="frozen-" + mode, shadow_mode=mode, shadow_timeout=timeout,
                          init_target=url)
        t = sides.table(uniq, "id int primary key, v text")
        conn = app_conn(p)
        cur = conn.cursor()
        cur.execute("select count(*) from %s" % t)
        assert cur.fetchone() == (0,)
        assert p.wait_metric("lms_shadow_requests_total", 'result="match"', at_least=1) >= 1
        mark = p.log_mark()
        path.freeze()
        t0 = time.monotonic()
        big = "x" * 16000000
        if mode == "sync":
            cur.execute("insert into %s values (1, '%s')" % (t, big))
            assert cur.rowcount == 1
        else:
            with pytest.raises(psycopg2.Error) as ei:
                cur.execute("insert into %s values (1, '%s')" % (t, big))
            assert "target" in str(ei.value).lower(), str(ei.value)
        elapsed = time.monotonic() - t0
        assert timeout * 0.8 <= elapsed < lms_env.t(timeout + 5), elapsed
        assert "the database took no more bytes within --shadow-timeout" in p.log_since(mark)
        assert p.running()
        path.thaw()
        if mode == "sync":
            assert sides.rows("source", "select length(v) from %s" % t) == [(len(big),)]
        conn.close()
    finally:
        path.cut()
