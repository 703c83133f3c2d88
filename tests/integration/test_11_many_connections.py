"""11. 1,000 concurrent client connections through one proxy."""

import resource
from concurrent.futures import ThreadPoolExecutor

from lmsproxy import metric_sum, raise_nofile, wait_until

N = 1000


def active(proxy):
    return metric_sum(proxy.metrics(), "lms_connections_active")


def test_1000_concurrent_connections(proxy, admin):
    soft, _ = raise_nofile(4096)
    assert soft == resource.RLIM_INFINITY or soft >= 4096, "cannot raise RLIMIT_NOFILE"
    if proxy.is_proxy:
        assert wait_until(lambda: active(proxy) == 0, timeout=10), \
            "connections left over from earlier tests: %s" % active(proxy)
        total_before = metric_sum(proxy.metrics(), "lms_connections_total")
    conns = []

    def open_one(i):
        return proxy.connect(application_name="it-many-%d" % i)

    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            for c in pool.map(open_one, range(N)):
                conns.append(c)
        assert len(conns) == N
        # all N are open at the same time
        acur = admin.cursor()
        acur.execute("select count(*) from pg_stat_activity where application_name like 'it-many-%'")
        assert acur.fetchone()[0] == N
        if proxy.is_proxy:
            assert active(proxy) >= N
        pids = set()

        def query(c):
            cur = c.cursor()
            cur.execute("select 1, pg_backend_pid(), current_setting('application_name')")
            return cur.fetchone()

        with ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(query, conns))
        for i, (one, pid, app) in enumerate(results):
            assert one == 1 and app == "it-many-%d" % i
            pids.add(pid)
        assert len(pids) == N, "sessions share backends"
    finally:
        for c in conns:
            c.close()
    if proxy.is_proxy:
        # 1,000 backends exiting at once hold both CPUs of a small machine
        # for seconds (measured up to 15 s): the proxy sees the last
        # clients' goodbyes late, not never
        assert wait_until(lambda: active(proxy) == 0, timeout=30), \
            "lms_connections_active = %s after closing all clients" % active(proxy)
        assert metric_sum(proxy.metrics(), "lms_connections_total") - total_before >= N
    acur = admin.cursor()

    def backends_gone():
        acur.execute("select count(*) from pg_stat_activity where application_name like 'it-many-%'")
        return acur.fetchone()[0] == 0

    assert wait_until(backends_gone, timeout=10), "backends left behind on the source"
    # the proxy still serves
    c = proxy.connect()
    c.cursor().execute("select 1")
    c.close()
