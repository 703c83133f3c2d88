"""3. pgbench -i -s 1, then 4 clients for 5 s in each query mode, through the proxy."""

import re

import pytest

from lmsproxy import ADMIN_PASSWORD, ADMIN_USER, run_tool


def bench(lms_env, proxy, args, timeout=120):
    return run_tool(lms_env, proxy, "pgbench", args, user=ADMIN_USER, password=ADMIN_PASSWORD,
                    dbname="bench", timeout=timeout)


@pytest.fixture(scope="module")
def initialized(lms_env, proxy):
    r = bench(lms_env, proxy, ["-i", "-s", "1", "-q"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "done in" in r.stderr, r.stderr
    conn = lms_env.admin_connect(db="bench")
    try:
        cur = conn.cursor()
        cur.execute("select count(*) from pgbench_accounts")
        assert cur.fetchone()[0] == 100000
        cur.execute("select count(*) from pgbench_branches")
        assert cur.fetchone()[0] == 1
    finally:
        conn.close()
    return True


@pytest.mark.parametrize("mode", ["simple", "prepared", "extended"])
def test_pgbench_tpcb(lms_env, proxy, initialized, mode):
    conn = lms_env.admin_connect(db="bench")
    cur = conn.cursor()
    cur.execute("select count(*) from pgbench_history")
    history_before = cur.fetchone()[0]
    r = bench(lms_env, proxy, ["-M", mode, "-c", "4", "-j", "2", "-T", "5", "-n"], timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    assert m, out
    processed = int(m.group(1))
    assert processed > 0, out
    m = re.search(r"number of failed transactions: (\d+)", out)
    assert m and int(m.group(1)) == 0, out
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    assert m and float(m.group(1)) > 0, out
    assert "query mode: %s" % mode in out, out
    # every committed TPC-B transaction inserts one pgbench_history row
    cur.execute("select count(*) from pgbench_history")
    assert cur.fetchone()[0] - history_before == processed
    conn.close()
