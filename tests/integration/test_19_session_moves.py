"""19. Sessions move between workers between transactions
(--session-placement balance, the default).  At a light load every
session ends up on one worker: the ones the kernel gave the other worker
move there at a transaction boundary, with their backend connection, TLS
state and session state intact, and nothing moves inside a transaction.
--session-placement pinned keeps each session where it was accepted."""

import json
import time

from lmsproxy import http_get

N = 16  # connections: all on worker 0 by chance has probability 2**-15


def _workload(p, seconds, conns):
    """Run requests on every connection for a while; check each answer."""
    deadline = time.monotonic() + p.env.t(seconds)
    i = 0
    while time.monotonic() < deadline:
        for k, (conn, pid) in enumerate(conns):
            cur = conn.cursor()
            cur.execute("select pg_backend_pid(), %s::int, (select n from moves_tmp where n >= 0)", (i * 100 + k,))
            assert cur.fetchone() == (pid, i * 100 + k, k)
            conn.commit()
        i += 1
        time.sleep(0.02)
    return i


def _open(p, n, **kw):
    conns = []
    for k in range(n):
        conn = p.connect(**kw)
        cur = conn.cursor()
        # session state that only this backend has
        cur.execute("create temp table moves_tmp(n int)")
        cur.execute("insert into moves_tmp values (%s)", (k,))
        cur.execute("select pg_backend_pid()")
        conns.append((conn, cur.fetchone()[0]))
        conn.commit()
    return conns


def _connections(p):
    status, body = http_get(p.metrics_url + "/api/v1/connections", cafile=p.env.cert("ca.crt"))
    assert status == 200, body
    return json.loads(body)["connections"]


def _moves_and_packing(p, **kw):
    conns = _open(p, N, **kw)
    try:
        _workload(p, 2.5, conns)
        moved = p.wait_metric("lms_session_moves_total", at_least=1, timeout=5)
        assert moved >= 1, "no session moved; log %s" % p.log_path
        # light load: one worker in use, and every session answers on it
        assert p.metric("lms_workers_in_use") == 1
        _workload(p, 1.5, conns)
        assert p.metric("lms_connections_active") == N
        if not p.tls:  # with TLS the admin API wants a client certificate
            assert len(_connections(p)) == N
    finally:
        for conn, _ in conns:
            conn.close()
    return moved


def test_sessions_pack_onto_one_worker(clusters, proxy_factory):
    p = proxy_factory(name="moves", extra_args=["--workers", "2", "--log-level", "debug"])
    _moves_and_packing(p)
    log = open(p.log_path).read()
    assert "event=session_moved worker=0 from=1" in log


def test_tls_sessions_move(clusters, proxy_factory):
    p = proxy_factory(name="moves-tls", tls=True, extra_args=["--workers", "2"])
    _moves_and_packing(p)


def test_no_move_inside_a_transaction(clusters, proxy_factory):
    """A transaction open across several ticks keeps its worker; it moves
    after COMMIT.  Its own writes stay visible to it throughout."""
    p = proxy_factory(name="moves-txn", extra_args=["--workers", "2", "--log-level", "debug"])
    conns = _open(p, N)
    try:
        for conn, _ in conns:
            cur = conn.cursor()
            cur.execute("insert into moves_tmp values (-1)")  # opens a transaction
        before = p.metric("lms_session_moves_total")
        deadline = time.monotonic() + p.env.t(2.5)
        while time.monotonic() < deadline:
            for conn, pid in conns:
                cur = conn.cursor()
                cur.execute("select pg_backend_pid(), count(*) from moves_tmp")
                assert cur.fetchone() == (pid, 2)
            time.sleep(0.05)
        assert p.metric("lms_session_moves_total") == before
        for conn, _ in conns:
            conn.commit()
        _workload(p, 2.5, conns)
        assert p.wait_metric("lms_session_moves_total", at_least=before + 1, timeout=5) > before
    finally:
        for conn, _ in conns:
            conn.close()


def test_pinned_sessions_stay(clusters, proxy_factory):
    p = proxy_factory(name="pinned-sessions",
                      extra_args=["--workers", "2", "--session-placement", "pinned"])
    conns = _open(p, N)
    try:
        _workload(p, 2.5, conns)
        assert p.metric("lms_session_moves_total") == 0
    finally:
        for conn, _ in conns:
            conn.close()


def _shadow_workload(p, seconds, conns, stateful):
    deadline = time.monotonic() + p.env.t(seconds)
    i = 0
    while time.monotonic() < deadline:
        for k, conn in enumerate(conns):
            cur = conn.cursor()
            if stateful:
                cur.execute("select %s::int, (select n from moves_tmp)", (i * 100 + k,))
            else:
                cur.execute("select %s::int, %s::int", (i * 100 + k, k))
            assert cur.fetchone() == (i * 100 + k, k)
            conn.commit()
        i += 1
        time.sleep(0.02)


def _shadow_moves(p):
    """Sessions move with their shadow connection; the comparisons go on
    after the move and find no difference.  (Session state is used only
    where every request reaches the shadow: async may drop the CREATE.)"""
    stateful = p.shadow_mode != "async"
    conns = []
    try:
        for k in range(N):
            conn = p.connect()
            if stateful:
                cur = conn.cursor()
                cur.execute("create temp table moves_tmp(n int)")
                cur.execute("insert into moves_tmp values (%s)", (k,))
                conn.commit()
            conns.append(conn)
        _shadow_workload(p, 2.5, conns, stateful)
        moved = p.wait_metric("lms_session_moves_total", at_least=1, timeout=5)
        assert moved >= 1, "no session moved; log %s" % p.log_path
        before = p.shadow_counts()
        _shadow_workload(p, 1.5, conns, stateful)
        after = p.shadow_counts()
        assert after["match"] > before["match"] + N, (before, after)
        # async drops a request while the previous one still runs there
        # (its rule, moves or not); none may differ or be lost
        for k in ("mismatch", "lost") + (("dropped",) if p.shadow_mode != "async" else ()):
            assert after[k] == 0, (k, sorted(after.items()))
        assert p.metric("lms_workers_in_use") == 1
    finally:
        for conn in conns:
            conn.close()


def test_sync_shadow_sessions_move(clusters, proxy_factory):
    p = proxy_factory(name="moves-sync", shadow_mode="sync", extra_args=["--workers", "2"])
    _shadow_moves(p)


def test_async_shadow_sessions_move(clusters, proxy_factory):
    p = proxy_factory(name="moves-async", shadow_mode="async", tls=True, extra_args=["--workers", "2"])
    _shadow_moves(p)
