"""21. A slow target (a lock held on it): in async mode the application keeps
the source's latency and shadow requests are dropped and counted while the
previous one is still running; in sync mode the shadow timeout bounds the wait
and the request counts as lost. A difference is still found in async mode."""

import time

from lmsproxy import TargetLock, wait_until


def app_conn(p):
    conn = p.connect()
    conn.autocommit = True
    return conn


def test_async_slow_target_drops(proxy_factory, sides, uniq, lms_env):
    p = proxy_factory(name="async", shadow_mode="async", shadow_timeout=60)
    t = sides.table(uniq, "id int primary key, n int")
    sides.run("insert into %s values (1, 0)" % t)
    conn = app_conn(p)
    cur = conn.cursor()
    cur.execute("select n from %s where id = 1" % t)
    assert cur.fetchone()[0] == 0
    assert p.wait_metric("lms_shadow_requests_total", 'result="match"', at_least=1) >= 1
    before = p.shadow_counts()

    n = 10
    lock = TargetLock(lms_env, t, max_seconds=lms_env.t(30))
    try:
        lat = []
        for _ in range(n):
            t0 = time.monotonic()
            cur.execute("update %s set n = n + 1 where id = 1" % t)
            lat.append(time.monotonic() - t0)
            assert cur.rowcount == 1
            time.sleep(0.05)
        # the first shadow update is still blocked on the target
        assert wait_until(lambda: lock.waiters() >= 1, lms_env.t(5)), "no shadow waiter"
        held = lock.held()
        assert held >= 0.5
        assert max(lat) < min(lms_env.t(1.0), held), lat
    finally:
        lock.release()

    # the drops are counted (at the latest once the blocked shadow request ended)
    assert p.wait_metric("lms_shadow_async_dropped_total",
                         at_least=before["async_dropped"] + n // 2) >= before["async_dropped"] + n // 2
    mid = p.shadow_counts()
    dropped = mid["async_dropped"] - before["async_dropped"]
    assert mid["dropped"] - before["dropped"] == dropped, (before, mid)
    assert mid["mismatches"] == before["mismatches"], mid

    # the blocked shadow update finishes; later requests are shadowed again
    assert p.wait_metric("lms_shadow_requests_total", 'result="match"',
                         at_least=before["match"] + 1) >= before["match"] + 1
    for i in range(3):
        m = p.shadow_counts()["match"]
        cur.execute("update %s set n = n + 1 where id = 1" % t)
        assert p.wait_metric("lms_shadow_requests_total", 'result="match"',
                             at_least=m + 1) >= m + 1
    conn.close()
    after = p.shadow_counts()
    total_dropped = after["async_dropped"] - before["async_dropped"]
    src = sides.value("source", "select n from %s where id = 1" % t)
    tgt = sides.value("target", "select n from %s where id = 1" % t)
    assert src == n + 3
    assert tgt == src - total_dropped, (src, tgt, total_dropped)  # dropped = never sent
    assert after["mismatches"] == 0, after


def test_async_detects_difference(proxy_factory, sides, uniq):
    p = proxy_factory(name="async-diff", shadow_mode="async")
    t = sides.table(uniq, "id int primary key, v text")
    sides.run("insert into %s values (1, 'a')" % t, side="source")
    sides.run("insert into %s values (1, 'b')" % t, side="target")
    conn = app_conn(p)
    cur = conn.cursor()
    cur.execute("select v from %s where id = 1" % t)
    assert cur.fetchone()[0] == "a"
    # (the session stays open: the shadow answer arrives after the source's)
    assert p.wait_metric("lms_shadow_mismatches_total", at_least=1) == 1
    conn.close()
    fp = "select v from %s where id = ?" % t
    assert wait_until(lambda: any(r["fingerprint"] == fp and r["diff"] == "values"
                                  for r in p.mismatch_records()), p.env.t(5)), \
        p.mismatch_records()


def test_sync_shadow_timeout_is_lost(proxy_factory, sides, uniq, lms_env):
    timeout = 1
    p = proxy_factory(name="sync-slow", shadow_mode="sync", shadow_timeout=timeout)
    t = sides.table(uniq, "id int primary key, n int")
    sides.run("insert into %s values (1, 0)" % t)
    conn = app_conn(p)
    cur = conn.cursor()
    cur.execute("select n from %s where id = 1" % t)
    assert p.wait_metric("lms_shadow_requests_total", 'result="match"', at_least=1) >= 1
    lock = TargetLock(lms_env, t, max_seconds=lms_env.t(30))
    try:
        t0 = time.monotonic()
        cur.execute("select n from %s where id = 1" % t)  # blocked on the target only
        elapsed = time.monotonic() - t0
        assert cur.fetchone()[0] == 0  # the source's answer, after the shadow timeout
        assert timeout * 0.8 <= elapsed < lms_env.t(timeout + 4), elapsed
        assert p.wait_metric("lms_shadow_requests_total", 'result="lost"', at_least=1) >= 1
    finally:
        lock.release()
    c = p.shadow_counts()
    assert c["mismatches"] == 0, c
    # once the target answers again, requests (outside a transaction) are compared again
    m = c["match"]

    def shadowed_again():
        cur.execute("select n from %s where id = 1" % t)
        cur.fetchall()
        return p.shadow_counts()["match"] > m
    assert wait_until(shadowed_again, lms_env.t(15), interval=0.2), p.shadow_counts()
