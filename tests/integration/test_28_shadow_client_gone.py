"""28. The client leaves while the shadow still runs its request (async mode,
a slow target: a lock held on it).  The shadow connection outlives the
session: it reads the answer and compares it with the source's (or, when the
source had not answered yet, counts the request lost), bounded by
--shadow-timeout; a SIGTERM drain waits for it (bounded by
--shutdown-timeout) and still exits 0."""

import signal
import struct
import time

from lmsproxy import APP_DB, APP_PASSWORD, APP_USER, PgRaw, TargetLock, wait_until


def differing_table(sides, uniq):
    t = sides.table(uniq, "id int primary key, v text")
    sides.run("insert into %s values (1, 'a')" % t, side="source")
    sides.run("insert into %s values (1, 'b')" % t, side="target")
    return t


def ask_and_leave(p, t):
    """One autocommit select through the proxy; returns the source's answer
    after the connection is closed."""
    conn = p.connect()
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("select v from %s where id = 1" % t)
    v = cur.fetchone()[0]
    conn.close()
    return v


def mismatch_of(p, fp, diff):
    return [r for r in p.mismatch_records() if r["fingerprint"] == fp and r["diff"] == diff]


def test_compared_after_client_left(proxy_factory, sides, uniq, lms_env):
    p = proxy_factory(name="gone-compare", shadow_mode="async", shadow_timeout=60)
    t = differing_table(sides, uniq)
    fp = "select v from %s where id = ?" % t
    lock = TargetLock(lms_env, t, max_seconds=lms_env.t(30))
    try:
        t0 = time.monotonic()
        assert ask_and_leave(p, t) == "a"
        assert time.monotonic() - t0 < lms_env.t(2)  # the source's latency
        assert wait_until(lambda: lock.waiters() >= 1, lms_env.t(5)), "no shadow waiter"
        time.sleep(0.3)
        c = p.shadow_counts()
        assert c["mismatches"] == 0 and c["lost"] == 0, c  # still running on the target
        assert p.metric("lms_connections_active") in (0, None)
        assert p.metric("lms_shadow_orphans") == 1
    finally:
        lock.release()
    # the shadow answers after the session is gone: compared, logged
    assert p.wait_metric("lms_shadow_mismatches_total", at_least=1) == 1
    assert wait_until(lambda: mismatch_of(p, fp, "values"), lms_env.t(5)), p.mismatch_records()
    c = p.shadow_counts()
    assert c["lost"] == 0 and c["mismatch"] == 1, c
    st = p.fingerprint_stats(fp)
    assert st is not None and st["mismatch"] == 1, st
    assert wait_until(lambda: p.metric("lms_shadow_orphans") == 0, lms_env.t(5))


def test_request_sent_then_client_left_is_counted(proxy_factory, sides, uniq, lms_env):
    """A raw client sends a query and closes at once, before any answer: the
    source's answer is never read, so there is nothing to compare, but the
    shadow request ran and is counted (lost), not silently dropped."""
    p = proxy_factory(name="gone-raw", shadow_mode="async", shadow_timeout=60)
    t = differing_table(sides, uniq)
    assert ask_and_leave(p, t) == "a"  # a first request: the shadow is logged in
    assert p.wait_metric("lms_shadow_mismatches_total", at_least=1) == 1
    before = p.shadow_counts()
    lock = TargetLock(lms_env, t, max_seconds=lms_env.t(30))
    try:
        raw = PgRaw("127.0.0.1", p.port)
        raw.startup(APP_USER, APP_DB, password=APP_PASSWORD)
        assert wait_until(lambda: p.shadow_counts()["match"] + p.shadow_counts()["mismatch"]
                          >= before["match"] + before["mismatch"], 1)
        sql = ("select v from %s where id = 1" % t).encode() + b"\0"
        raw.send(b"Q" + struct.pack("!I", 4 + len(sql)) + sql)
        raw.close()
        assert wait_until(lambda: lock.waiters() >= 1, lms_env.t(5)), "no shadow waiter"
    finally:
        lock.release()

    def settled():
        c = p.shadow_counts()
        return sum(c[k] - before[k] for k in ("match", "mismatch", "lost", "dropped")) >= 1
    assert wait_until(settled, lms_env.t(10)), (before, p.shadow_counts())
    after = p.shadow_counts()
    # whichever way the race went (the source's answer read or not), the
    # request is recorded once: compared, or lost
    got = {k: after[k] - before[k] for k in ("match", "mismatch", "lost", "dropped")}
    assert sum(got.values()) == 1, got
    assert got["dropped"] == 0 and got["match"] == 0, got


def test_bounded_by_shadow_timeout(proxy_factory, sides, uniq, lms_env):
    p = proxy_factory(name="gone-timeout", shadow_mode="async", shadow_timeout=1)
    t = differing_table(sides, uniq)
    fp = "select v from %s where id = ?" % t
    lock = TargetLock(lms_env, t, max_seconds=lms_env.t(30))
    try:
        t0 = time.monotonic()
        assert ask_and_leave(p, t) == "a"
        assert p.wait_metric("lms_shadow_requests_total", 'result="lost"', at_least=1, timeout=10) == 1
        assert time.monotonic() - t0 < lms_env.t(5)
        assert wait_until(lambda: mismatch_of(p, fp, "lost"), lms_env.t(5)), p.mismatch_records()
        assert p.shadow_counts()["mismatches"] == 0
    finally:
        lock.release()


def test_sigterm_waits_for_shadow(proxy_factory, sides, uniq, lms_env):
    p = proxy_factory(name="gone-drain", shadow_mode="async", shadow_timeout=60, shutdown_timeout=15)
    t = differing_table(sides, uniq)
    fp = "select v from %s where id = ?" % t
    lock = TargetLock(lms_env, t, max_seconds=lms_env.t(30))
    try:
        assert ask_and_leave(p, t) == "a"
        assert wait_until(lambda: lock.waiters() >= 1, lms_env.t(5)), "no shadow waiter"
        t_term = time.monotonic()
        p.signal(signal.SIGTERM)
        time.sleep(0.5)
        assert p.running(), "exited before the shadow answered:\n%s" % p.log_tail()
    finally:
        lock.release()
    rc = p.wait(timeout=lms_env.t(5))
    assert rc == 0, "exit status %r" % rc
    assert time.monotonic() - t_term < lms_env.t(6)
    assert mismatch_of(p, fp, "values"), p.mismatch_records()


def test_sigterm_shutdown_timeout_ends_shadow(proxy_factory, sides, uniq, lms_env):
    p = proxy_factory(name="gone-deadline", shadow_mode="async", shadow_timeout=60, shutdown_timeout=1)
    t = differing_table(sides, uniq)
    lock = TargetLock(lms_env, t, max_seconds=lms_env.t(30))
    try:
        assert ask_and_leave(p, t) == "a"
        assert wait_until(lambda: lock.waiters() >= 1, lms_env.t(5)), "no shadow waiter"
        mark = p.log_mark()
        t_term = time.monotonic()
        p.signal(signal.SIGTERM)
        rc = p.wait(timeout=lms_env.t(6))
        assert rc == 0, "exit status %r" % rc
        assert time.monotonic() - t_term < lms_env.t(4)
        log = p.log_since(mark)
        assert "shadow_abandoned" in log and "lost=1" in log, log
    finally:
        lock.release()


def test_sync_client_gives_up_waiting(proxy_factory, sides, uniq, lms_env):
    """sync: the source answered, the answer is held for the (locked)
    target, and the client gives up and disconnects: the source's answer
    is still compared with the target's once it comes."""
    p = proxy_factory(name="gone-sync", shadow_mode="sync", shadow_timeout=60)
    t = differing_table(sides, uniq)
    fp = "select v from %s where id = ?" % t
    assert ask_and_leave(p, t) == "a"  # logged in; one mismatch already
    assert p.wait_metric("lms_shadow_mismatches_total", at_least=1) == 1
    lock = TargetLock(lms_env, t, max_seconds=lms_env.t(30))
    try:
        raw = PgRaw("127.0.0.1", p.port)
        raw.startup(APP_USER, APP_DB, password=APP_PASSWORD)
        sql = ("select v from %s where id = 1" % t).encode() + b"\0"
        raw.send(b"Q" + struct.pack("!I", 4 + len(sql)) + sql)
        assert wait_until(lambda: lock.waiters() >= 1, lms_env.t(5)), "no shadow waiter"
        time.sleep(0.3)  # the source has answered by now; the proxy holds it
        raw.close()
        time.sleep(0.3)
        assert p.shadow_counts()["mismatches"] == 1
    finally:
        lock.release()
    assert p.wait_metric("lms_shadow_mismatches_total", at_least=2) == 2
    assert wait_until(lambda: len(mismatch_of(p, fp, "values")) == 2, lms_env.t(5)), p.mismatch_records()
    assert p.shadow_counts()["lost"] == 0
