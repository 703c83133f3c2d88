#!/usr/bin/python3
"""bench/mysql_callgrind.py - instructions molt-lms executes per translated
MySQL request after a cutover to a PostgreSQL target, counted by valgrind's
callgrind (repeatable whatever else loads the machine).

Starts molt-lms (--source-dialect mysql, --coordination off, --workers 1, no
TLS) under callgrind, counting only the worker threads; logs in one raw
MySQL client (tests/integration/mysqlraw.py), pushes the cutover to the admin
API, then for COM_STMT_EXECUTE (a one-row point select by primary key, the
shape of sysbench's oltp_point_select) and COM_QUERY: warms up, and runs
SHORT and N requests between callgrind_control -z and -d.  A third kind,
a 100-row range select (sysbench's oltp_read_only ranges), shows the cost
of a result row.  The difference
of the two totals divided by N - SHORT is the cost of one request.

Needs MariaDB (tests/mysql-cluster.sh) and the PostgreSQL target
(tests/pg-cluster.sh) running; reads LMS_TEST_MYSQL_PORT and
LMS_TEST_TARGET_PORT.  Usage:
  bench/mysql_callgrind.py [--lms-bin build/molt-lms] [--plugin-dir build/plugins/.libs]
                           [--port 19300] [-n 2000] [--short 500]
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from mysqlraw import MY_APP, MyRaw  # noqa: E402

TABLE = "lms_cg_point"


def total_ir(path):
    """The 'summary:' (or 'totals:') line of a callgrind output file."""
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    return 0


def pg_setup(port):
    import psycopg2
    c = psycopg2.connect(host="127.0.0.1", port=port, user="lms_admin", password="lms-admin-pw", dbname="appdb",
                         sslmode="disable")
    c.autocommit = True
    cur = c.cursor()
    cur.execute("drop table if exists %s" % TABLE)
    cur.execute("create table %s (id int primary key, k int not null, c char(120), pad char(60))" % TABLE)
    cur.execute("insert into %s select g, g * 7, 'c' || g, 'p' || g from generate_series(1, 1000) g" % TABLE)
    cur.execute("grant all on %s to app" % TABLE)
    c.close()


def cpu_ns(pid):
    """Nanoseconds pid (every thread) has run, from schedstat."""
    tot = 0
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
            tot += int(f.read().split()[0])
    return tot


def native(name, fn, n, lms_pid, pg_port):
    """CPU per request of molt-lms and of the PostgreSQL backend serving it."""
    import psycopg2
    c = psycopg2.connect(host="127.0.0.1", port=pg_port, user="lms_admin", password="lms-admin-pw", dbname="appdb",
                         sslmode="disable")
    cur = c.cursor()
    cur.execute("select pid from pg_stat_activity where application_name = 'molt-lms' and pid <> pg_backend_pid()")
    pids = [row[0] for row in cur.fetchall()]
    c.close()
    pg0, l0, t0 = sum(cpu_ns(p) for p in pids), cpu_ns(lms_pid), time.monotonic()
    for i in range(n):
        fn(i)
    pg1, l1, t1 = sum(cpu_ns(p) for p in pids), cpu_ns(lms_pid), time.monotonic()
    print("%-17s %d requests: wall %.1f us, molt-lms CPU %.1f us, PostgreSQL backend CPU %.1f us per request" % (
        name, n, (t1 - t0) * 1e6 / n, (l1 - l0) / 1e3 / n, (pg1 - pg0) / 1e3 / n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lms-bin", default=os.path.join(HERE, "..", "build", "molt-lms"))
    ap.add_argument("--plugin-dir", default=os.path.join(HERE, "..", "build", "plugins", ".libs"))
    ap.add_argument("--port", type=int, default=19300)
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--short", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--standby-wait", type=float, default=3.0,
                    help="seconds between pause and commit (0: the session logs in anew on the target)")
    ap.add_argument("--native", action="store_true",
                    help="no valgrind: CPU time (schedstat) of molt-lms and of the PostgreSQL backend per request")
    a = ap.parse_args()
    if not os.environ.get("LMS_TEST_MYSQL_PORT") or not os.environ.get("LMS_TEST_TARGET_PORT"):
        sys.exit("mysql_callgrind.py: set LMS_TEST_MYSQL_PORT and LMS_TEST_TARGET_PORT (the servers to use)")
    my_port = int(os.environ["LMS_TEST_MYSQL_PORT"])
    pg_port = int(os.environ["LMS_TEST_TARGET_PORT"])
    pg_setup(pg_port)
    out = tempfile.mkdtemp(prefix="lms-mycg.")
    vg = [] if a.native else ["valgrind", "--tool=callgrind", "--callgrind-out-file=%s/callgrind.out.%%p" % out,
                              "--toggle-collect=worker_main"]
    args = vg + [a.lms_bin, "--listen", "127.0.0.1:%d" % a.port,
            "--metrics-listen", "127.0.0.1:%d" % (a.port + 1), "--plugin-dir", a.plugin_dir,
            "--source-dialect", "mysql", "--shadow-mode", "none", "--workers", "1",
            "--init-source", "mysql://lms_admin:lms-admin-pw@127.0.0.1:%d/appdb?ssl-mode=DISABLED" % my_port,
            "--init-target", "postgresql://lms_admin:lms-admin-pw@127.0.0.1:%d/appdb?sslmode=disable" % pg_port,
            "--coordination", "off", "--allow-tls-mode-disable", "--log-level", "warn"]
    log = open(os.path.join(out, "molt-lms.log"), "w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        r = None
        for _ in range(300):
            try:
                r = MyRaw("127.0.0.1", a.port, timeout=60)
                break
            except OSError:
                time.sleep(0.2)
        r.login(MY_APP[0], MY_APP[1])
        for body in ({"epoch": 5, "phase": "paused", "source_of_truth": "source"},
                     {"epoch": 6, "phase": "serving", "source_of_truth": "target"}):
            if body["phase"] == "serving":
                time.sleep(a.standby_wait)  # the standby logs in and is promoted (as with the orchestrator)
            req = urllib.request.Request("http://127.0.0.1:%d/api/v1/state" % (a.port + 1),
                                         data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as resp:
                assert json.loads(resp.read().decode())["applied"]
        st = r.prepare("SELECT c FROM %s WHERE id=?" % TABLE)
        rng = r.prepare("SELECT c FROM %s WHERE id BETWEEN ? AND ?" % TABLE)
        kinds = {
            "COM_STMT_EXECUTE": lambda i: r.execute(st, (str(i % 1000 + 1),)),
            "EXECUTE 100 rows": lambda i: r.execute(rng, (str(i % 900 + 1), str(i % 900 + 100))),
            "COM_QUERY": lambda i: r.query("SELECT c FROM %s WHERE id=%d" % (TABLE, i % 1000 + 1)),
        }
        for name, fn in kinds.items():
            for i in range(a.warmup):
                fn(i)
            if a.native:
                native(name, fn, a.n, proc.pid, pg_port)
                continue
            totals = []
            for n in (a.short, a.n):
                subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
                for i in range(n):
                    fn(i)
                before = set(glob.glob(out + "/callgrind.out.*"))
                subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
                for _ in range(100):
                    new = set(glob.glob(out + "/callgrind.out.*")) - before
                    if new:
                        break
                    time.sleep(0.1)
                time.sleep(0.5)
                totals.append(sum(total_ir(p) for p in new))
            print("%-17s marginal %.0f Ir/request (%d vs %d requests; totals %d, %d)" % (
                name, (totals[1] - totals[0]) / (a.n - a.short), a.n, a.short, totals[0], totals[1]))
        r.close()
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()
    print("files in", out)


if __name__ == "__main__":
    main()
