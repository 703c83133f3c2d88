"""41. Consistent cutover under faults, end to end: real logical replication,
real molt-lms instances, the real orchestrator and CLI, and a pgbench write
workload through the instances the whole time (see test_40 for the happy
paths).

- the orchestrator SIGKILLed between begin and commit, and while a commit
  waits for the watermark: the store keeps the pause, a restarted
  orchestrator shows it and commits;
- the orchestrator SIGKILLed after commit's transition is in the store but
  before every instance heard of it: the instances apply it from the store;
- an instance that does not answer at begin (SIGSTOPped, or registered with a
  closed admin port): begin fails naming it, the others resume, and the
  stopped one catches up with the store when it runs again;
- mutual TLS everywhere: the CLI to the orchestrator, the orchestrator to the
  proxies' admin APIs; without a client certificate nothing is allowed;
- the way back with a real replication check: the watermark written on the
  target must reach the source through the reverse subscription.

Every test asserts zero failed client transactions, every committed write on
the new source of truth, none on the old one after commit, and the events
table's record of each transition."""

import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from lmsproxy import ADMIN_PASSWORD, ADMIN_USER, Relay, wait_until
from test_40_cutover import (PGBENCH_TABLES, Orchestrator, connect, cutover_env, db_url,  # noqa: F401
                             history_count, replicate, scalar, stop_replication)
from test_40_cutover import Workload as Load

CLI_TIMEOUT = 90


class Orch(Orchestrator):
    """An orchestrator that can be SIGKILLed and restarted on the same ports
    (its log is appended to), optionally with mutual TLS configured through
    ORCH_CA_TLS_CERT, ORCH_TLS_CERT and ORCH_TLS_KEY."""

    def __init__(self, env, db, tls=None):
        super().__init__(env, db_url(env, env.target_port, db), db_url(env, env.source_port, db))
        self.extra_env = {}
        self.cli_args = []
        if tls:
            self.args.remove("--allow-tls-mode-disable")
            self.url = "https://127.0.0.1:%d" % self.port
            self.extra_env = {"ORCH_CA_TLS_CERT": tls["ca"], "ORCH_TLS_CERT": tls["cert"],
                              "ORCH_TLS_KEY": tls["key"]}
            self.cli_args = ["--tls-ca-cert", tls["ca"], "--tls-client-cert", tls["client_cert"],
                             "--tls-client-key", tls["client_key"]]

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.env.wrapper + self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env.clean_env(**self.extra_env))
        assert wait_until(self._listening, self.env.t(20)), self.tail()
        return self

    def _listening(self):
        assert self.proc.poll() is None, "orchestrator exited:\n" + self.tail()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def restart(self):
        assert self.proc.poll() is not None
        return self.start()


def ocli(env, orch, *args, check=True, extra=None, timeout=CLI_TIMEOUT):
    """molt-lms-cli against orch (with its TLS options) -o json."""
    cmd = [os.path.join(env.builddir, "molt-lms-cli"), "--orchestrator-url", orch.url, "-o", "json"]
    cmd += list(orch.cli_args if extra is None else extra) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=env.t(timeout), env=env.clean_env())
    if check:
        assert r.returncode == 0, "%s exited %d:\nstdout:%s\nstderr:%s\norchestrator:\n%s" % (
            " ".join(args), r.returncode, r.stdout, r.stderr, orch.tail())
    return r


def status(env, orch):
    return json.loads(ocli(env, orch, "status").stdout)


def instances_ready(env, orch, n, epoch=None, phase=None, truth=None):
    r = ocli(env, orch, "status", check=False)
    if r.returncode != 0:
        return False
    ok = [i for i in json.loads(r.stdout).get("instances", []) if i.get("healthy") and
          (epoch is None or i.get("acked_epoch") == epoch) and (phase is None or i.get("phase") == phase) and
          (truth is None or i.get("source_of_truth") == truth)]
    return len(ok) >= n


def store_state(tgt):
    cur = tgt.cursor()
    cur.execute("select epoch, phase, source_of_truth, cutover_id from _molt_lms.state")
    return cur.fetchone()


def events(tgt, cutover_id):
    """[(kind, epoch, instance)] of one cutover, in order."""
    cur = tgt.cursor()
    cur.execute("select kind, epoch, instance from _molt_lms.events where cutover_id = %s order by id",
                (cutover_id,))
    return cur.fetchall()


def cutover_status(tgt, cutover_id):
    return scalar(tgt, "select status from _molt_lms.cutovers where id = %s", (cutover_id,))


def assert_events(tgt, cutover_id, begin_epoch, end_kind, acked_ids):
    """The events table holds begin, an ack from each instance at begin's
    epoch, and the end (commit or abort) at the next epoch."""
    ev = events(tgt, cutover_id)
    kinds = [k for k, _, _ in ev]
    assert ("begin", begin_epoch) in [(k, e) for k, e, _ in ev], ev
    for iid in acked_ids:
        assert ("ack", begin_epoch, iid) in ev, (iid, ev)
    assert (end_kind, begin_epoch + 1) in [(k, e) for k, e, _ in ev], ev
    assert kinds.index("begin") < kinds.index(end_kind), ev


def tls_context(env, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=env.cert("ca.crt"))
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def admin_state(env, p, cert=None, key=None):
    """(status, document) of the proxy's GET /api/v1/state."""
    ctx = None
    if p.metrics_url.startswith("https:"):
        ctx = tls_context(env, cert, key)
    try:
        with urllib.request.urlopen(p.metrics_url + "/api/v1/state", timeout=5, context=ctx) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def start_proxies(proxy_factory, env, db, n, **kw):
    return [proxy_factory(name="flt%d" % i, init_source=db_url(env, env.source_port, db),
                          init_target=db_url(env, env.target_port, db), **kw) for i in range(n)]


def start_cutover(env, ctx, proxy_factory, n=3, tls=None, proxy_kw=None, orch_args=()):
    """Orchestrator (with orch_args), initialize, replication source ->
    target caught up, n proxies registered.  Returns (orch, sub, src, tgt,
    proxies)."""
    db = ctx["db"]
    orch = Orch(env, db, tls=tls)
    orch.args += list(orch_args)
    orch.start()
    ctx["orch"] = orch
    init = json.loads(ocli(env, orch, "initialize").stdout)
    assert "created" in init, init
    sub = replicate(env, ctx, env.source_port, env.target_port)
    src, tgt = connect(env.source_port, db), connect(env.target_port, db)
    assert wait_until(lambda: scalar(tgt, "select count(*) from pgbench_accounts") == 100000,
                      env.t(60)), "initial replication did not finish"
    proxies = start_proxies(proxy_factory, env, db, n, **(proxy_kw or {}))
    assert wait_until(lambda: instances_ready(env, orch, n), env.t(30)), ocli(env, orch, "status",
                                                                              check=False).stdout
    return orch, sub, src, tgt, proxies


@pytest.fixture
def faults(cutover_env):
    """cutover_env, and whatever a test stopped is resumed and stopped at the
    end: SIGSTOPped proxies get SIGCONT, the orchestrator SIGTERM."""
    cutover_env["stopped"] = []
    yield cutover_env
    for p in cutover_env["stopped"]:
        if p.running():
            p.signal(signal.SIGCONT)
    orch = cutover_env.get("orch")
    if orch is not None and orch.proc is not None and orch.proc.poll() is None:
        orch.stop()


def instance_id(env, p, **kw):
    st, doc = admin_state(env, p, **kw)
    assert st == 200, doc
    return doc["instance_id"]


def test_orchestrator_killed_while_paused(faults, proxy_factory, lms_env):
    """SIGKILL the orchestrator between begin and commit: the instances stay
    paused (the store says so), a restarted orchestrator reports the paused
    cutover.  SIGKILL it again while its commit waits for the watermark
    (replication held back): the store still says paused and the cutover
    begun.  After a second restart commit goes through; pgbench never saw an
    error and every write is on the target."""
    env, ctx, db = lms_env, faults, faults["db"]
    orch, sub, src, tgt, proxies = start_cutover(env, ctx, proxy_factory)
    load = Load(env, proxies, db, seconds=12)
    try:
        time.sleep(2)
        begin = json.loads(ocli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "20").stdout)
        cid, epoch = begin["cutover_id"], begin["epoch"]
        ids = [instance_id(env, p) for p in proxies]

        orch.kill()
        time.sleep(0.5)
        for p in proxies:
            st, doc = admin_state(env, p)
            assert st == 200 and doc["phase"] == "paused" and doc["epoch"] == epoch, doc
        assert store_state(tgt) == (epoch, "paused", "source", cid)
        orch.restart()
        s = status(env, orch)
        assert (s["phase"], s["epoch"], s["cutover_id"], s["source_of_truth"]) == ("paused", epoch, cid, "source"), s
        assert wait_until(lambda: instances_ready(env, orch, 3, epoch=epoch, phase="paused"), env.t(10)), s

        # killed while commit waits for the watermark: nothing changes
        tgt.cursor().execute("alter subscription %s disable" % sub)
        cmd = [os.path.join(env.builddir, "molt-lms-cli"), "--orchestrator-url", orch.url, "-o", "json",
               "cutover", "consistent", "commit", "--replication-timeout", "30"]
        pending = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=env.clean_env())
        assert wait_until(lambda: (scalar(src, "select token from _molt_lms.watermark where id = 1") or "")
                          .startswith("%d-%d-" % (cid, epoch)), env.t(10))
        orch.kill()
        out, err = pending.communicate(timeout=env.t(10))
        assert pending.returncode == 3, (pending.returncode, out, err)
        assert store_state(tgt) == (epoch, "paused", "source", cid)
        assert cutover_status(tgt, cid) == "begun"
        tgt.cursor().execute("alter subscription %s enable" % sub)
        orch.restart()
        assert status(env, orch)["phase"] == "paused"

        commit = json.loads(ocli(env, orch, "cutover", "consistent", "commit").stdout)
        assert commit["source_of_truth"] == "target" and commit["epoch"] == epoch + 1, commit
        assert commit["replication_lag_ms"] is not None, commit
        at_commit_src = history_count(src)
        total = load.finish(timeout=env.t(90))
        assert total > 0
        assert wait_until(lambda: history_count(tgt) == total, env.t(10)), (history_count(tgt), total)
        assert history_count(src) == at_commit_src < total
        assert cutover_status(tgt, cid) == "committed"
        assert_events(tgt, cid, epoch, "commit", ids)
        for p in proxies:
            c = p.connect(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname=db)
            assert scalar(c, "select inet_server_port()") == env.target_port
            c.close()
    finally:
        load.kill()


def test_orchestrator_killed_during_commit_push(faults, proxy_factory, lms_env):
    """SIGKILL the orchestrator after commit wrote the new state but while it
    still waits for an instance (SIGSTOPped while commit waited for the
    watermark) to answer the push: the store
    says committed, a restarted orchestrator reports it, and every instance,
    the stopped one once it runs again, applies it from the store."""
    env, ctx, db = lms_env, faults, faults["db"]
    orch, sub, src, tgt, proxies = start_cutover(env, ctx, proxy_factory)
    load = Load(env, proxies, db, seconds=10)
    try:
        time.sleep(2)
        begin = json.loads(ocli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "20").stdout)
        cid, epoch = begin["cutover_id"], begin["epoch"]
        ids = [instance_id(env, p) for p in proxies]
        slow = proxies[2]
        # stop one instance while commit waits for the watermark (held back
        # here), after any drain check commit makes
        tgt.cursor().execute("alter subscription %s disable" % sub)
        cmd = [os.path.join(env.builddir, "molt-lms-cli"), "--orchestrator-url", orch.url, "-o", "json",
               "cutover", "consistent", "commit"]
        pending = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=env.clean_env())
        assert wait_until(lambda: (scalar(src, "select token from _molt_lms.watermark where id = 1") or "")
                          .startswith("%d-%d-" % (cid, epoch)), env.t(10))
        ctx["stopped"].append(slow)
        slow.signal(signal.SIGSTOP)
        tgt.cursor().execute("alter subscription %s enable" % sub)
        assert wait_until(lambda: store_state(tgt)[1] == "serving", env.t(10), interval=0.02), store_state(tgt)
        time.sleep(0.3)
        orch.kill()
        out, err = pending.communicate(timeout=env.t(10))
        assert pending.returncode == 3, (pending.returncode, out, err)
        assert store_state(tgt) == (epoch + 1, "serving", "target", cid)
        assert cutover_status(tgt, cid) == "committed"
        at_commit_src = history_count(src)

        orch.restart()
        s = status(env, orch)
        assert (s["phase"], s["epoch"], s["source_of_truth"]) == ("serving", epoch + 1, "target"), s
        slow.signal(signal.SIGCONT)
        assert wait_until(lambda: instances_ready(env, orch, 3, epoch=epoch + 1, phase="serving", truth="target"),
                          env.t(15)), ocli(env, orch, "status").stdout
        st, doc = admin_state(env, slow)
        assert doc["epoch"] == epoch + 1 and doc["phase"] == "serving" and doc["source_of_truth"] == "target", doc

        total = load.finish(timeout=env.t(90))
        assert wait_until(lambda: history_count(tgt) == total, env.t(10)), (history_count(tgt), total)
        assert history_count(src) == at_commit_src < total
        assert_events(tgt, cid, epoch, "commit", ids)
        c = slow.connect(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname=db)
        assert scalar(c, "select inet_server_port()") == env.target_port
        c.close()
    finally:
        if slow.running():
            slow.signal(signal.SIGCONT)
        load.kill()


def test_unreachable_instance_at_begin(faults, proxy_factory, lms_env):
    """A SIGSTOPped instance: begin --begin-timeout fails naming it (502 from
    the orchestrator, exit 1), the CLI aborts, the other instances resume on
    the source at once; when the stopped one runs again it applies the
    store's state, not the stale pause it was sent.  Then an instance
    registered with a closed admin port: begin fails naming it and, as
    documented without --begin-timeout, the state stays paused until abort."""
    env, ctx, db = lms_env, faults, faults["db"]
    orch, sub, src, tgt, proxies = start_cutover(env, ctx, proxy_factory)
    good, stopped = proxies[:2], proxies[2]
    load = Load(env, good, db, seconds=12)
    try:
        time.sleep(2)
        ids = [instance_id(env, p) for p in proxies]
        epoch0 = store_state(tgt)[0]
        ctx["stopped"].append(stopped)
        stopped.signal(signal.SIGSTOP)
        r = ocli(env, orch, "cutover", "consistent", "begin", "--begin-timeout", "40", "--drain-timeout", "20",
                 check=False)
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        doc = json.loads(r.stdout)
        assert "instances unreachable: %s" % ids[2] in doc["error"], doc
        assert [u["id"] for u in doc["unreachable"]] == [ids[2]], doc
        assert ids[2] in r.stderr and "abort" in r.stderr, r.stderr
        cid = doc["cutover_id"]
        # the CLI aborted: serving on the source, one epoch after begin
        assert store_state(tgt) == (epoch0 + 2, "serving", "source", cid)
        assert cutover_status(tgt, cid) == "aborted"
        for p in good:
            st, d = admin_state(env, p)
            assert (d["epoch"], d["phase"], d["source_of_truth"]) == (epoch0 + 2, "serving", "source"), d

        stopped.signal(signal.SIGCONT)
        assert wait_until(lambda: admin_state(env, stopped)[1].get("epoch") == epoch0 + 2, env.t(10))
        time.sleep(0.5)
        st, d = admin_state(env, stopped)
        assert (d["epoch"], d["phase"], d["source_of_truth"]) == (epoch0 + 2, "serving", "source"), d
        assert wait_until(lambda: instances_ready(env, orch, 3, epoch=epoch0 + 2, phase="serving"), env.t(10))
        c = stopped.connect(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname=db)
        assert scalar(c, "select inet_server_port()") == env.source_port
        c.close()
        ev = events(tgt, cid)
        assert ("failed", epoch0 + 1, ids[2]) in ev, ev
        assert_events(tgt, cid, epoch0 + 1, "abort", ids[:2])

        # registered, heartbeat fresh, nobody listening on its admin port
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        ghost_url = "http://127.0.0.1:%d" % dead.getsockname()[1]
        dead.close()
        tgt.cursor().execute(
            "insert into _molt_lms.instances (id, admin_url, version, shadow_mode, started_at, heartbeat_at, "
            "acked_epoch, acked_phase, acked_source_of_truth) values ('ghost:1:1', %s, '0', 'none', now(), "
            "now() + interval '1 minute', %s, 'serving', 'source')", (ghost_url, epoch0 + 2))
        try:
            r = ocli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "20", check=False)
            assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
            doc = json.loads(r.stdout)
            assert "instances unreachable: ghost:1:1" in doc["error"], doc
            assert "cutover consistent abort" in r.stderr, r.stderr
            assert store_state(tgt)[:2] == (epoch0 + 3, "paused")
        finally:
            tgt.cursor().execute("delete from _molt_lms.instances where id = 'ghost:1:1'")
        ab = json.loads(ocli(env, orch, "cutover", "consistent", "abort").stdout)
        assert ab["source_of_truth"] == "source" and ab["epoch"] == epoch0 + 4, ab

        total = load.finish(timeout=env.t(90))
        assert total > 0
        assert history_count(src) == total
        assert wait_until(lambda: history_count(tgt) == total, env.t(20)), (history_count(tgt), total)
    finally:
        if stopped.running():
            stopped.signal(signal.SIGCONT)
        load.kill()


def make_orch_cert(env, d):
    """A certificate for the orchestrator signed by the test CA, for
    127.0.0.1, with serverAuth (its API) and clientAuth (calling proxies)."""
    key, csr, crt, ext = (os.path.join(d, n) for n in ("orch.key", "orch.csr", "orch.crt", "orch.ext"))
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj",
                    "/CN=orchestrator", "-out", csr], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", env.cert("ca.crt"), "-CAkey", env.cert("ca.key"),
                    "-set_serial", str(int(time.time())), "-days", "2", "-extfile", ext, "-out", crt],
                   check=True, capture_output=True)
    return crt, key


def test_mutual_tls(faults, proxy_factory, lms_env, tmp_path):
    """The CLI talks to the orchestrator, and the orchestrator to the proxies'
    admin APIs, over mutual TLS: status, begin and commit (with the real
    replication check) work with client certificates, under a TLS pgbench
    load.  Without a client certificate the orchestrator answers 401 and the
    CLI exits 1 saying which options to give; with one from another CA the
    handshake fails (exit 3); a proxy's admin API refuses callers without a
    certificate (403)."""
    env, ctx, db = lms_env, faults, faults["db"]
    crt, key = make_orch_cert(env, str(tmp_path))
    tls = {"ca": env.cert("ca.crt"), "cert": crt, "key": key, "client_cert": env.cert("client.crt"),
           "client_key": env.cert("client.key")}
    orch, sub, src, tgt, proxies = start_cutover(env, ctx, proxy_factory, n=2, tls=tls,
                                         proxy_kw={"tls": True, "ssl_ca": True})
    pgenv = {"PGSSLMODE": "require", "PGSSLCERT": env.cert("client.crt"), "PGSSLKEY": env.cert("client.key")}
    load = Load(env, proxies, db, seconds=8, pgenv=pgenv)
    try:
        s = status(env, orch)
        assert all(i["admin_url"].startswith("https://") and i["healthy"] for i in s["instances"]), s

        r = ocli(env, orch, "status", extra=["--tls-ca-cert", env.cert("ca.crt")], check=False)
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        assert "client certificate" in r.stdout and "--tls-client-cert" in r.stdout, r.stdout
        assert "401" in r.stderr and "client certificate" in r.stderr, r.stderr
        r = ocli(env, orch, "cutover", "consistent", "begin", extra=["--tls-ca-cert", env.cert("ca.crt")],
                 check=False)
        assert r.returncode == 1 and "client certificate" in r.stdout, (r.returncode, r.stdout, r.stderr)
        assert store_state(tgt)[1] == "serving"
        r = ocli(env, orch, "status", extra=["--tls-ca-cert", env.cert("ca.crt"), "--tls-client-cert",
                                             env.cert("other-client.crt"), "--tls-client-key",
                                             env.cert("other-client.key")], check=False)
        assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
        assert r.stderr.strip(), r.stderr
        st, body = admin_state(env, proxies[0])
        assert st == 403, (st, body)
        st, doc = admin_state(env, proxies[0], env.cert("client.crt"), env.cert("client.key"))
        assert st == 200 and doc["phase"] == "serving", doc

        time.sleep(2)
        ids = [instance_id(env, p, cert=env.cert("client.crt"), key=env.cert("client.key")) for p in proxies]
        begin = json.loads(ocli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "20").stdout)
        cid, epoch = begin["cutover_id"], begin["epoch"]
        commit = json.loads(ocli(env, orch, "cutover", "consistent", "commit").stdout)
        assert commit["source_of_truth"] == "target" and commit["replication_lag_ms"] is not None, commit
        at_commit_src = history_count(src)
        total = load.finish(timeout=env.t(60))
        assert wait_until(lambda: history_count(tgt) == total, env.t(10)), (history_count(tgt), total)
        assert history_count(src) == at_commit_src < total
        assert_events(tgt, cid, epoch, "commit", ids)
        meta = json.loads(ocli(env, orch, "cutover", "get_metadata", "-i", str(cid)).stdout)
        assert meta["status"] == "committed", meta
    finally:
        load.kill()


@pytest.mark.parametrize("read_source", ["source_url", "instances"])
def test_reverse_replication_check(faults, proxy_factory, lms_env, read_source):
    """Cut over, reverse replication (target -> source, the watermark table
    included), and cut back WITHOUT --skip-replication-check: the commit
    writes the token on the target and waits for it on the source, read
    with SOURCE_URL, or (an orchestrator restarted without it) through the
    instances' GET /api/v1/watermark.  Without the reverse subscription the
    check refuses the way back (exit 4)."""
    env, ctx, db = lms_env, faults, faults["db"]
    orch, sub, src, tgt, proxies = start_cutover(env, ctx, proxy_factory, n=2)
    load = Load(env, proxies, db, seconds=6)
    try:
        time.sleep(2)
        ocli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "20")
        fwd = json.loads(ocli(env, orch, "cutover", "consistent", "commit").stdout)
        assert fwd["source_of_truth"] == "target", fwd
        if read_source == "instances":
            orch.stop()
            i = orch.args.index("--source-url")
            del orch.args[i:i + 2]
            orch.start()
        at_fwd_src = history_count(src)
        # reverse replication while the target is the source of truth: the
        # forward subscription goes, the reverse starts where it stopped
        assert wait_until(lambda: history_count(tgt) >= at_fwd_src, env.t(10))
        stop_replication(env, ctx, env.target_port, sub)
        total = load.finish(timeout=env.t(60))
        assert history_count(src) == at_fwd_src

        load = Load(env, proxies, db, seconds=6)
        time.sleep(1)
        begin = json.loads(ocli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "20").stdout)
        cid, epoch = begin["cutover_id"], begin["epoch"]
        dry = json.loads(ocli(env, orch, "cutover", "consistent", "commit", "--dry-run").stdout)
        assert "written on the target shows on the source" in dry["would"], dry
        r = ocli(env, orch, "cutover", "consistent", "commit", "--replication-timeout", "1", check=False)
        assert r.returncode == 4 and "written on the target is not in the source's" in r.stdout, \
            (r.returncode, r.stdout, r.stderr)
        # resynchronise the source from the target (a copy, then the stream;
        # PostgreSQL 15 cannot run both directions on the same tables)
        c = connect(env.source_port, db)
        c.cursor().execute("truncate %s, _molt_lms.watermark" % PGBENCH_TABLES)
        c.close()
        back_sub = replicate(env, ctx, env.target_port, env.source_port, copy=True)
        # the watermark proves the stream caught up, not that each table's
        # initial copy (a separate worker per table) is done: wait for that
        assert wait_until(lambda: scalar(src, "select count(*) from pg_subscription_rel where srsubstate <> 'r'")
                          == 0, env.t(30)), "the reverse subscription's initial copy did not finish"
        back = json.loads(ocli(env, orch, "cutover", "consistent", "commit").stdout)
        assert back["source_of_truth"] == "source" and back["epoch"] == epoch + 1, back
        assert back["replication_lag_ms"] is not None, back
        at_back_tgt = history_count(tgt)
        assert history_count(src) >= at_back_tgt
        total += load.finish(timeout=env.t(60))
        stop_replication(env, ctx, env.source_port, back_sub)
        assert history_count(src) == total, (history_count(src), total)
        assert history_count(tgt) == at_back_tgt < total
        assert cutover_status(tgt, cid) == "committed"
        ev = [k for k, _, _ in events(tgt, cid)]
        assert ev.index("begin") < ev.index("failed") < ev.index("commit"), ev
    finally:
        load.kill()


def test_commit_refused_while_not_drained(faults, proxy_factory, lms_env):
    """A begin that timed out leaves the state paused with a transaction still
    open on the source: commit must refuse (naming the instance) rather than
    switch under that transaction, which would end it and lose its write.
    Once the transaction commits, the same commit goes through and the write
    is on the target."""
    env, ctx, db = lms_env, faults, faults["db"]
    orch, sub, src, tgt, proxies = start_cutover(env, ctx, proxy_factory, n=2)
    held, busy = proxies
    load = Load(env, [busy], db, seconds=10)
    try:
        time.sleep(1)
        c = held.connect(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname=db)
        c.autocommit = False
        cur = c.cursor()
        cur.execute("insert into pgbench_history (tid, bid, aid, delta, mtime) values (1, 1, 1, 424242, now())")
        r = ocli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "2", check=False)
        assert r.returncode == 4 and "in_transaction" in r.stdout, (r.returncode, r.stdout, r.stderr)
        cid, epoch = json.loads(r.stdout)["cutover_id"], json.loads(r.stdout)["epoch"]
        r = ocli(env, orch, "cutover", "consistent", "commit", check=False)
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        doc = json.loads(r.stdout)
        assert "not drained" in doc["error"] and instance_id(env, held) in doc["error"], doc
        assert store_state(tgt) == (epoch, "paused", "source", cid)
        c.commit()
        commit = json.loads(ocli(env, orch, "cutover", "consistent", "commit").stdout)
        assert commit["source_of_truth"] == "target" and commit["epoch"] == epoch + 1, commit
        at_commit_src = history_count(src)
        total = load.finish(timeout=env.t(60))
        assert wait_until(lambda: history_count(tgt) == total + 1, env.t(10)), (history_count(tgt), total)
        assert scalar(tgt, "select count(*) from pgbench_history where delta = 424242") == 1
        assert history_count(src) == at_commit_src
        cur.execute("select inet_server_port()")
        assert cur.fetchone()[0] == env.target_port
        c.close()
        ev = [k for k, _, _ in events(tgt, cid)]
        assert ev.index("begin") < ev.index("failed") < ev.index("commit"), ev
    finally:
        load.kill()


def test_orchestrator_killed_during_begin(faults, proxy_factory, lms_env):
    """SIGKILL the orchestrator while begin waits for a transaction to end:
    the store says paused, the instances are paused.  The restarted
    orchestrator does not know whether they drained, so it asks: commit is
    refused while the transaction is open, and goes through once it
    committed, with its write and pgbench's on the target."""
    env, ctx, db = lms_env, faults, faults["db"]
    orch, sub, src, tgt, proxies = start_cutover(env, ctx, proxy_factory, n=2)
    held, busy = proxies
    load = Load(env, [busy], db, seconds=10)
    try:
        time.sleep(1)
        c = held.connect(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname=db)
        c.autocommit = False
        cur = c.cursor()
        cur.execute("insert into pgbench_history (tid, bid, aid, delta, mtime) values (1, 1, 1, 434343, now())")
        epoch0 = store_state(tgt)[0]
        cmd = [os.path.join(env.builddir, "molt-lms-cli"), "--orchestrator-url", orch.url, "-o", "json",
               "cutover", "consistent", "begin", "--drain-timeout", "30"]
        pending = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=env.clean_env())
        assert wait_until(lambda: admin_state(env, busy)[1].get("phase") == "paused", env.t(10))
        time.sleep(0.3)
        orch.kill()
        out, err = pending.communicate(timeout=env.t(10))
        assert pending.returncode == 3, (pending.returncode, out, err)
        epoch, phase, truth, cid = store_state(tgt)
        assert (epoch, phase, truth) == (epoch0 + 1, "paused", "source")
        assert cutover_status(tgt, cid) == "begun"

        orch.restart()
        r = ocli(env, orch, "cutover", "consistent", "commit", check=False)
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        assert "not drained" in r.stdout and instance_id(env, held) in r.stdout, r.stdout
        assert store_state(tgt) == (epoch, "paused", "source", cid)
        c.commit()
        commit = json.loads(ocli(env, orch, "cutover", "consistent", "commit").stdout)
        assert commit["source_of_truth"] == "target" and commit["epoch"] == epoch + 1, commit
        at_commit_src = history_count(src)
        total = load.finish(timeout=env.t(60))
        assert wait_until(lambda: history_count(tgt) == total + 1, env.t(10)), (history_count(tgt), total)
        assert scalar(tgt, "select count(*) from pgbench_history where delta = 434343") == 1
        assert history_count(src) == at_commit_src
        c.close()
        assert_events(tgt, cid, epoch, "commit", [instance_id(env, p) for p in proxies])
    finally:
        load.kill()


def cut_off_from_store(env, orch, proxy_factory, db, name):
    """A proxy whose INIT_TARGET (its road to the store) goes through a
    relay; once both instances are registered the relay is cut and this
    waits until the orchestrator sees the proxy's heartbeat stale.
    Returns (relay, proxy, its instance id)."""
    relay = Relay(env.target_port).start()
    p = proxy_factory(name=name, init_source=db_url(env, env.source_port, db),
                      init_target=db_url(env, relay.port, db))
    assert wait_until(lambda: instances_ready(env, orch, 2), env.t(30)), ocli(env, orch, "status").stdout
    iid = instance_id(env, p)
    relay.cut()

    def stale():
        return any(i.get("id") == iid and not i.get("healthy") for i in status(env, orch).get("instances", []))
    assert wait_until(stale, env.t(30)), status(env, orch)
    return relay, p, iid


def test_commit_asks_an_instance_that_missed_begin(faults, proxy_factory, lms_env):
    """An instance cut off from the store for longer than
    --forget-instance-after (5 s here) is forgotten, so begin pauses the
    others without it, and meanwhile it opens a transaction on the source.
    When it reaches the store again it applies the pause, with that
    transaction still open.  Commit must then ask every live
    instance again instead of trusting begin's drain: it refuses, naming the
    instance, and goes through (with a watermark of its own) once the
    transaction committed, whose write is then on the target."""
    env, ctx, db = lms_env, faults, faults["db"]
    orch, sub, src, tgt, proxies = start_cutover(env, ctx, proxy_factory, n=1,
                                                 orch_args=["--forget-instance-after", "5"])
    relay, late, late_id = cut_off_from_store(env, orch, proxy_factory, db, "fltlate")
    try:
        begin = json.loads(ocli(env, orch, "cutover", "consistent", "begin").stdout)
        cid, epoch = begin["cutover_id"], begin["epoch"]
        assert [i.get("id") for i in begin["instances"]] == [instance_id(env, proxies[0])], begin
        c = late.connect(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname=db)
        c.autocommit = False
        cur = c.cursor()
        cur.execute("insert into pgbench_history (tid, bid, aid, delta, mtime) values (1, 1, 1, 515151, now())")
        relay.start()

        def late_paused():
            st, doc = admin_state(env, late)
            return st == 200 and doc.get("epoch") == epoch and doc.get("phase") == "paused"
        assert wait_until(late_paused, env.t(20)), admin_state(env, late)
        assert wait_until(lambda: instances_ready(env, orch, 2), env.t(20)), status(env, orch)
        r = ocli(env, orch, "cutover", "consistent", "commit", check=False)
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        doc = json.loads(r.stdout)
        assert "not drained" in doc["error"] and late_id in doc["error"], doc
        assert store_state(tgt) == (epoch, "paused", "source", cid)
        c.commit()
        commit = json.loads(ocli(env, orch, "cutover", "consistent", "commit").stdout)
        assert commit["source_of_truth"] == "target" and commit["epoch"] == epoch + 1, commit
        assert scalar(tgt, "select count(*) from pgbench_history where delta = 515151") == 1
        cur.execute("select inet_server_port()")
        assert cur.fetchone()[0] == env.target_port
        c.close()
    finally:
        relay.cut()


def test_begin_reaches_an_instance_cut_off_from_the_store(faults, proxy_factory, lms_env):
    """An instance that cannot reach the store stops heartbeating but goes
    on serving from the source: begin must not leave it out, or it would go
    on writing to the source after commit.  While its admin API does not
    answer either (SIGSTOPped), begin fails naming it and saying why; when
    its admin API answers, begin pauses it through that, and after commit
    its writes go to the target."""
    env, ctx, db = lms_env, faults, faults["db"]
    orch, sub, src, tgt, proxies = start_cutover(env, ctx, proxy_factory, n=1)
    relay, cut, cut_id = cut_off_from_store(env, orch, proxy_factory, db, "fltcut")
    try:
        ids = sorted([instance_id(env, proxies[0]), cut_id])
        epoch0 = store_state(tgt)[0]

        ctx["stopped"].append(cut)
        cut.signal(signal.SIGSTOP)
        r = ocli(env, orch, "cutover", "consistent", "begin", "--begin-timeout", "30", "--drain-timeout", "5",
                 check=False)
        cut.signal(signal.SIGCONT)
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        doc = json.loads(r.stdout)
        assert [u["id"] for u in doc["unreachable"]] == [cut_id], doc
        assert "last heartbeat" in doc["unreachable"][0]["error"], doc
        assert store_state(tgt)[:3] == (epoch0 + 2, "serving", "source")  # the CLI aborted

        begin = json.loads(ocli(env, orch, "cutover", "consistent", "begin").stdout)
        assert sorted(i["id"] for i in begin["instances"]) == ids, begin
        st, d = admin_state(env, cut)
        assert (d["epoch"], d["phase"]) == (begin["epoch"], "paused"), d
        relay.start()
        assert wait_until(lambda: instances_ready(env, orch, 2, epoch=begin["epoch"]), env.t(20)), \
            status(env, orch)
        commit = json.loads(ocli(env, orch, "cutover", "consistent", "commit").stdout)
        assert commit["source_of_truth"] == "target", commit
        c = cut.connect(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname=db)
        c.autocommit = True
        c.cursor().execute("insert into pgbench_history (tid, bid, aid, delta, mtime) values (1, 1, 1, 616161, now())")
        c.close()
        assert scalar(tgt, "select count(*) from pgbench_history where delta = 616161") == 1
        assert scalar(src, "select count(*) from pgbench_history where delta = 616161") == 0
    finally:
        relay.cut()
