"""18. The default number of worker threads follows the CPUs the process
may use (affinity here; a cgroup quota in a container), not the machine's
CPU count: a proxy pinned to one CPU starts one worker and still serves."""

import re
import shutil


def test_default_workers_follow_affinity(clusters, proxy_factory):
    taskset = shutil.which("taskset")
    assert taskset, "util-linux taskset is required"
    p = proxy_factory(name="pinned", wrapper=[taskset, "-c", "0"])
    conn = p.connect()
    try:
        cur = conn.cursor()
        cur.execute("select 1")
        assert cur.fetchone()[0] == 1
    finally:
        conn.close()
    log = open(p.log_path).read()
    m = re.search(r"event=listening .*workers=(\d+)", log)
    assert m, log[-2000:]
    assert m.group(1) == "1", m.group(0)
