"""40. Consistent cutover, end to end: real logical replication from the
source to the target, three molt-lms instances, the orchestrator, the CLI,
and a pgbench write workload running through the instances the whole time.

begin -> commit (which waits for replication to catch up): no client
transaction fails, every committed write is on the target, new writes land
on the target only.  Then the same the other way (replication reversed):
the cutover is reversible.  And an abort after begin resumes on the source
with nothing lost."""

import json
import os
import re
import subprocess
import time
import uuid

import pytest

from lmsproxy import (ADMIN_PASSWORD, ADMIN_USER, Proxy, free_port, http_get, register_conn,
                      wait_until)

import psycopg2


def cli_path(env):
    return os.path.join(env.builddir, "molt-lms-cli")


def orch_path(env):
    return os.path.join(env.builddir, "molt-lms-orchestrator")


def db_url(env, port, db):
    return "postgresql://%s:%s@127.0.0.1:%d/%s?sslmode=disable" % (ADMIN_USER, ADMIN_PASSWORD, port, db)


def connect(port, db):
    conn = register_conn(psycopg2.connect(host="127.0.0.1", port=port, user=ADMIN_USER,
                                          password=ADMIN_PASSWORD, dbname=db, sslmode="disable",
                                          connect_timeout=10))
    conn.autocommit = True
    return conn


def scalar(conn, sql, args=None):
    cur = conn.cursor()
    cur.execute(sql, args)
    row = cur.fetchone()
    return row[0] if row else None


class Orchestrator:
    """One molt-lms-orchestrator process on free loopback ports."""

    def __init__(self, env, crdb_url, source_url):
        self.env = env
        self.port = free_port()
        self.metrics_port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.args = [orch_path(env), "--listen", "127.0.0.1:%d" % self.port,
                     "--metrics-listen", "127.0.0.1:%d" % self.metrics_port,
                     "--crdb-url", crdb_url, "--source-url", source_url,
                     "--source-dialect", "postgres", "--allow-tls-mode-disable",
                     "--drain-timeout", "20", "--replication-timeout", "30"]
        self.log_path = os.path.join(env.log_dir, "orchestrator-%d.log" % self.port)
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.env.wrapper + self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env.clean_env())
        assert wait_until(lambda: self._up(), self.env.t(20)), self.tail()
        return self

    def _up(self):
        assert self.proc.poll() is None, "orchestrator exited:\n" + self.tail()
        try:
            status, _ = http_get(self.url + "/api/v1/status", timeout=2)
            return status in (200, 409, 500, 503)
        except OSError:
            return False

    def tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            rc = self.proc.wait(timeout=15)
            assert rc == 0, "orchestrator exited %d:\n%s" % (rc, self.tail())


def cli(env, orch, *args, check=True, timeout=120):
    cmd = [cli_path(env), "--orchestrator-url", orch.url, "-o", "json"] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=env.t(timeout), env=env.clean_env())
    if check:
        assert r.returncode == 0, "%s exited %d:\nstdout:%s\nstderr:%s\norchestrator:\n%s" % (
            " ".join(args), r.returncode, r.stdout, r.stderr, orch.tail())
    return r


def history_count(conn):
    return scalar(conn, "select count(*) from pgbench_history")


class Workload:
    """pgbench (TPC-B-like, simple protocol) through each proxy; libpq
    settings in pgenv (default: no TLS)."""

    def __init__(self, env, proxies, db, seconds, clients=2, pgenv=None):
        self.procs = []
        for p in proxies:
            cmd = [os.path.join(env.pgbin, "pgbench"), "-n", "-c", str(clients), "-j", "1", "-T", str(seconds),
                   "-h", "127.0.0.1", "-p", str(p.port), "-U", ADMIN_USER, db]
            e = env.clean_env(PGPASSWORD=ADMIN_PASSWORD, **(pgenv or {"PGSSLMODE": "disable"}))
            self.procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                               env=e))

    def finish(self, timeout):
        """Wait for every pgbench; returns the total of transactions processed,
        after checking none failed."""
        total = 0
        for pr in self.procs:
            out, _ = pr.communicate(timeout=timeout)
            assert pr.returncode == 0, "pgbench failed (%d):\n%s" % (pr.returncode, out)
            m = re.search(r"number of failed transactions: (\d+)", out)
            assert m and int(m.group(1)) == 0, out
            assert "error" not in out.lower(), out
            m = re.search(r"number of transactions actually processed: (\d+)", out)
            assert m, out
            total += int(m.group(1))
        return total

    def kill(self):
        """Stop the pgbench runs still going (a test that failed midway)."""
        for pr in self.procs:
            if pr.poll() is None:
                pr.kill()
                pr.communicate()


@pytest.fixture
def cutover_env(clusters, lms_env):
    """A private database on both clusters, pgbench tables on the source,
    the same schema on the target, and logical replication source -> target
    (created after `initialize`, so the watermark table is replicated too)."""
    env = lms_env
    for port in (env.source_port, env.target_port):
        c = connect(port, "postgres")
        level = scalar(c, "show wal_level")
        c.close()
        assert level == "logical", ("the test clusters need wal_level=logical: restart them with "
                                    "tests/pg-cluster.sh stop && tests/pg-cluster.sh start")
    db = "cut_" + uuid.uuid4().hex[:10]
    for port in (env.source_port, env.target_port):
        c = connect(port, "postgres")
        c.cursor().execute("create database %s" % db)
        c.close()
    pgbench = os.path.join(env.pgbin, "pgbench")
    e = env.clean_env(PGPASSWORD=ADMIN_PASSWORD, PGSSLMODE="disable")
    for port, steps in ((env.source_port, "dtgvp"), (env.target_port, "dtp")):
        r = subprocess.run([pgbench, "-i", "-I", steps, "-s", "1", "-h", "127.0.0.1", "-p", str(port),
                            "-U", ADMIN_USER, db], capture_output=True, text=True, env=e, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    ctx = {"db": db, "subs": [], "pubs": []}
    yield ctx
    # replication first (a subscription holds a slot on the other side), then the databases
    for port, name in ctx["subs"]:
        c = connect(port, db)
        cur = c.cursor()
        cur.execute("alter subscription %s disable" % name)
        cur.execute("alter subscription %s set (slot_name = none)" % name)
        cur.execute("drop subscription %s" % name)
        c.close()
    for port in (env.source_port, env.target_port):
        c = connect(port, "postgres")
        cur = c.cursor()
        cur.execute("select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = %s",
                    (db,))
        drop_database(cur, db)
        c.close()


def drop_database(cur, db, tries=20):
    """Drop db, ending its sessions; a proxy still closing (or retiring) a
    connection may log in between the two, so try again a few times."""
    for i in range(tries):
        cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and "
                    "pid <> pg_backend_pid()", (db,))
        try:
            cur.execute("drop database if exists %s" % db)
            return
        except psycopg2.errors.ObjectInUse:
            if i == tries - 1:
                raise
            time.sleep(0.25)


PGBENCH_TABLES = "pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history"


def replicate(env, ctx, from_port, to_port, tables=PGBENCH_TABLES + ", _molt_lms.watermark", copy=True):
    """Publication of tables on from_port, subscription on to_port (copy:
    start with a copy of the data; not when it is already there)."""
    db = ctx["db"]
    tag = uuid.uuid4().hex[:6]
    pub, sub = "lms_pub_" + tag, "lms_sub_" + tag
    c = connect(from_port, db)
    c.cursor().execute("create publication %s for table %s" % (pub, tables))
    c.close()
    c = connect(to_port, db)
    c.cursor().execute("create subscription %s connection 'host=127.0.0.1 port=%d dbname=%s user=%s "
                       "password=%s sslmode=disable' publication %s with (copy_data = %s)"
                       % (sub, from_port, db, ADMIN_USER, ADMIN_PASSWORD, pub, "true" if copy else "false"))
    c.close()
    ctx["subs"].append((to_port, sub))
    return sub


def stop_replication(env, ctx, port, sub):
    c = connect(port, ctx["db"])
    cur = c.cursor()
    cur.execute("alter subscription %s disable" % sub)
    cur.execute("alter subscription %s set (slot_name = none)" % sub)
    cur.execute("drop subscription %s" % sub)
    c.close()
    ctx["subs"].remove((port, sub))


def start_proxies(proxy_factory, env, db, n=3, shadow_mode="none"):
    ps = []
    for i in range(n):
        ps.append(proxy_factory(name="cut%d" % i, init_source=db_url(env, env.source_port, db),
                                init_target=db_url(env, env.target_port, db), shadow_mode=shadow_mode))
    return ps


def instances_ready(env, orch, n, epoch=None):
    r = cli(env, orch, "status", check=False)
    if r.returncode != 0:
        return False
    st = json.loads(r.stdout)
    ok = [i for i in st.get("instances", []) if i.get("healthy")]
    if epoch is not None:
        ok = [i for i in ok if i.get("acked_epoch") == epoch]
    return len(ok) >= n


def setup_cutover(env, ctx, proxy_factory, n=3, shadow_mode="none"):
    """Orchestrator, initialize, replication source -> target caught up,
    n proxies registered.  Returns (orch, sub, src, tgt, proxies)."""
    db = ctx["db"]
    orch = Orchestrator(env, db_url(env, env.target_port, db), db_url(env, env.source_port, db)).start()
    init = json.loads(cli(env, orch, "initialize").stdout)
    assert "created" in init, init
    sub = replicate(env, ctx, env.source_port, env.target_port)
    src, tgt = connect(env.source_port, db), connect(env.target_port, db)
    assert wait_until(lambda: scalar(tgt, "select count(*) from pgbench_accounts") == 100000,
                      env.t(60)), "initial replication did not finish"
    proxies = start_proxies(proxy_factory, env, db, n, shadow_mode)
    assert wait_until(lambda: instances_ready(env, orch, n), env.t(30)), cli(env, orch, "status",
                                                                             check=False).stdout
    return orch, sub, src, tgt, proxies


def test_cutover_under_load(cutover_env, proxy_factory, lms_env):
    """begin -> commit (the orchestrator checks replication caught up with a
    watermark) while pgbench writes through three instances."""
    env, ctx, db = lms_env, cutover_env, cutover_env["db"]
    orch, sub, src, tgt, proxies = setup_cutover(env, ctx, proxy_factory)
    try:
        load = Workload(env, proxies, db, seconds=12)
        time.sleep(3)
        begin = cli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "20")
        cid = json.loads(begin.stdout).get("cutover_id")
        commit = json.loads(cli(env, orch, "cutover", "consistent", "commit").stdout)
        assert commit.get("source_of_truth") == "target", commit
        at_commit_src = history_count(src)
        total = load.finish(timeout=env.t(90))
        assert total > 0
        # every committed write is on the target; the source got none after commit
        assert wait_until(lambda: history_count(tgt) == total, env.t(10)), (history_count(tgt), total)
        assert history_count(src) == at_commit_src
        assert at_commit_src < total
        meta = json.loads(cli(env, orch, "cutover", "get_metadata", "-i", str(cid)).stdout)
        assert meta.get("status") == "committed", meta
        # sessions opened after the cutover land on the target
        for p in proxies:
            c = p.connect(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname=db)
            assert scalar(c, "select inet_server_port()") == env.target_port
            c.close()
        src.close()
        tgt.close()
    finally:
        orch.stop()


def test_cutover_and_back(cutover_env, proxy_factory, lms_env):
    """Cut over and back under load.  The operator reverses replication while
    paused (caught up, so nothing is in flight), which is what makes the
    cutover reversible: after both, the source holds every write."""
    env, ctx, db = lms_env, cutover_env, cutover_env["db"]
    orch, sub, src, tgt, proxies = setup_cutover(env, ctx, proxy_factory, n=2)
    try:
        load = Workload(env, proxies, db, seconds=8)
        time.sleep(2)
        cli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "20")
        assert wait_until(lambda: history_count(tgt) == history_count(src), env.t(30))
        stop_replication(env, ctx, env.target_port, sub)
        back_sub = replicate(env, ctx, env.target_port, env.source_port, tables=PGBENCH_TABLES, copy=False)
        fwd = json.loads(cli(env, orch, "cutover", "consistent", "commit", "--skip-replication-check").stdout)
        assert fwd.get("source_of_truth") == "target", fwd
        total = load.finish(timeout=env.t(90))

        load = Workload(env, proxies, db, seconds=6)
        time.sleep(2)
        cli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "20")
        assert wait_until(lambda: history_count(src) == history_count(tgt), env.t(30)), \
            "reverse replication did not catch up"
        back = json.loads(cli(env, orch, "cutover", "consistent", "commit", "--skip-replication-check").stdout)
        assert back.get("source_of_truth") == "source", back
        stop_replication(env, ctx, env.source_port, back_sub)
        at_back_tgt = history_count(tgt)
        total += load.finish(timeout=env.t(90))
        assert wait_until(lambda: history_count(src) == total, env.t(10)), (history_count(src), total)
        assert history_count(tgt) == at_back_tgt
        src.close()
        tgt.close()
    finally:
        orch.stop()


def test_abort_resumes_on_source(cutover_env, proxy_factory, lms_env):
    env, ctx, db = lms_env, cutover_env, cutover_env["db"]
    orch, sub, src, tgt, proxies = setup_cutover(env, ctx, proxy_factory, n=2)
    try:
        load = Workload(env, proxies, db, seconds=6)
        time.sleep(2)
        cli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "20")
        time.sleep(0.5)
        abort = json.loads(cli(env, orch, "cutover", "consistent", "abort").stdout)
        assert abort.get("source_of_truth", "source") == "source", abort
        total = load.finish(timeout=env.t(60))
        assert history_count(src) == total
        assert wait_until(lambda: history_count(tgt) == total, env.t(20))
        src.close()
        tgt.close()
    finally:
        orch.stop()


def test_open_transaction_blocks_begin(cutover_env, proxy_factory, lms_env):
    """A transaction left open makes begin time out, naming that connection
    and its statement; the CLI exits 4; abort resumes and the transaction's
    session carries on."""
    env, ctx, db = lms_env, cutover_env, cutover_env["db"]
    orch, sub, src, tgt, proxies = setup_cutover(env, ctx, proxy_factory, n=1)
    try:
        p = proxies[0]
        c = p.connect(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname=db)
        c.autocommit = False
        cur = c.cursor()
        cur.execute("update pgbench_branches set bbalance = bbalance + 1 where bid = 1")
        r = cli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "2", check=False)
        assert r.returncode == 4, (r.returncode, r.stdout, r.stderr)
        assert "in_transaction" in r.stdout, r.stdout
        assert "update pgbench_branches set bbalance = bbalance + ? where bid = ?" in r.stdout, r.stdout
        cli(env, orch, "cutover", "consistent", "abort")
        c.commit()
        cur.execute("select bbalance from pgbench_branches where bid = 1")
        assert cur.fetchone()[0] == 1
        c.close()
        src.close()
        tgt.close()
    finally:
        orch.stop()


def test_instance_restarted_while_paused_stays_paused(cutover_env, proxy_factory, lms_env):
    """An instance that starts while the state is paused starts paused: its
    clients wait until the cutover ends, then run on the new source of truth."""
    env, ctx, db = lms_env, cutover_env, cutover_env["db"]
    orch, sub, src, tgt, proxies = setup_cutover(env, ctx, proxy_factory, n=1)
    try:
        cli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "10")
        late = start_proxies(proxy_factory, env, db, n=1)[0]
        st, body = http_get(late.metrics_url + "/api/v1/state", timeout=5)
        assert st == 200 and json.loads(body)["phase"] == "paused", body
        result = {}

        def query():
            c = late.connect(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname=db)
            c.autocommit = True
            result["port"] = scalar(c, "select inet_server_port()")
            c.close()

        import threading
        t = threading.Thread(target=query)
        t.start()
        time.sleep(1.0)
        assert "port" not in result, "a login went through while paused"
        cli(env, orch, "cutover", "consistent", "commit")
        t.join(env.t(20))
        assert result.get("port") == env.target_port, result
        src.close()
        tgt.close()
    finally:
        orch.stop()


@pytest.mark.parametrize("shadow_mode", ["none", "sync"])
def test_session_state_moves(cutover_env, proxy_factory, lms_env, shadow_mode):
    """A session's prepared statement and settings follow it to the new
    source of truth (promoted standby, or the shadow in sync mode); in sync
    mode a new shadow toward the old source is compared again."""
    env, ctx, db = lms_env, cutover_env, cutover_env["db"]
    orch, sub, src, tgt, proxies = setup_cutover(env, ctx, proxy_factory, n=1, shadow_mode=shadow_mode)
    try:
        p = proxies[0]
        c = p.connect(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname=db)
        c.autocommit = True
        cur = c.cursor()
        cur.execute("prepare bal(int) as select abalance from pgbench_accounts where aid = $1")
        cur.execute("set application_name = 'moved_session'")
        cur.execute("execute bal(7)")
        before = cur.fetchone()[0]
        cli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "10")
        cli(env, orch, "cutover", "consistent", "commit")
        cur.execute("select inet_server_port(), current_setting('application_name')")
        assert cur.fetchone() == (env.target_port, "moved_session")
        cur.execute("execute bal(7)")
        assert cur.fetchone()[0] == before
        assert "promoted=1" in p.read_log(), p.log_tail()
        if shadow_mode == "sync":
            m0 = p.shadow_counts()["match"]
            cur.execute("execute bal(8)")
            cur.fetchone()
            assert wait_until(lambda: p.shadow_counts()["match"] > m0, env.t(10)), p.shadow_counts()
            # only the server port differs (a real difference); the moved
            # state compares equal on the new shadow toward the source
            diffs = [r for r in p.mismatch_records() if "inet_server_port" not in r["fingerprint"]]
            assert diffs == [], diffs
        c.close()
        src.close()
        tgt.close()
    finally:
        orch.stop()
