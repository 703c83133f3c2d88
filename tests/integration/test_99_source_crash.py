"""10b. The source database dies (pg_ctl stop -m immediate) under a running
query. Runs last: it restarts the clusters with tests/pg-cluster.sh start."""

import os
import subprocess
import threading
import time

import psycopg2
import pytest


def pg_ctl(env, *args):
    data = os.path.join(env.test_dir, "source", "data")
    cmd = [os.path.join(env.pgbin, "pg_ctl"), "-D", data] + list(args)
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", os.environ.get("LMS_TEST_OS_USER", "postgres"), "--"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd="/")


@pytest.fixture
def restart_source(clusters):
    yield
    r = subprocess.run([clusters.cluster_script, "start"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, "could not restart the clusters:\n%s%s" % (r.stdout, r.stderr)


def test_source_killed_mid_query(lms_env, proxy, restart_source):
    conn = proxy.connect()
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("select 1")
    result = {}

    def run():
        try:
            cur.execute("select pg_sleep(20)")
            result["rows"] = cur.fetchall()
        except Exception as e:  # noqa: BLE001
            result["error"] = e
        result["done"] = time.monotonic()

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    t_kill = time.monotonic()
    r = pg_ctl(lms_env, "stop", "-m", "immediate")
    assert r.returncode == 0, r.stdout + r.stderr
    t.join(timeout=10)
    assert not t.is_alive(), "client still blocked 10 s after the source died"
    assert isinstance(result.get("error"), psycopg2.OperationalError), result
    assert result["done"] - t_kill < 5

    # while the source is down: a clean, prompt error, not a hang
    t0 = time.monotonic()
    with pytest.raises(psycopg2.OperationalError) as ei:
        proxy.connect(connect_timeout=15)
    assert time.monotonic() - t0 < 10
    if proxy.is_proxy:
        assert proxy.running(), "proxy died with its source"
        msg = str(ei.value)
        assert "127.0.0.1:%d" % lms_env.source_port in msg or "source" in msg, msg
    conn.close()

    # after the restart, the proxy serves again without being restarted
    r = subprocess.run([lms_env.cluster_script, "start"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    conn = proxy.connect()
    c = conn.cursor()
    c.execute("select 'back'")
    assert c.fetchone()[0] == "back"
    conn.close()
