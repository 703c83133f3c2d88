"""The consistent cutover through molt-lms-orchestrator: fake proxies
(docs/api.md's admin API) and the real target database as the store."""

import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import BUILDDIR, Orchestrator, Replicator, sql, wait_for
from fakeproxy import unreachable_url


def args(dbs, *extra, source=False):
    a = ["--crdb-url", dbs.target, "--allow-tls-mode-disable", "--log-level", "debug"]
    if source:
        a += ["--source-url", dbs.source]
    return a + list(extra)


def initialize(orchestrators, dbs):
    """Create _molt_lms on both sides through an orchestrator with SOURCE_URL."""
    o = orchestrators(args(dbs, source=True))
    code, doc = o.api("POST", "/api/v1/initialize")
    assert code == 200, doc
    return doc


def events(dbs, kind=None):
    rows = sql(dbs.target, "SELECT kind, epoch, instance, duration_ms, cutover_id FROM _molt_lms.events ORDER BY id")
    return [r for r in rows if kind is None or r[0] == kind]


def in_txn_conn(cid=17, age=12.5):
    return {"id": cid, "peer": "10.0.0.5:51234", "user": "app", "database": "appdb", "state": "in_transaction",
            "transaction_age_s": age, "last_statement": "update t set v = $1 where id = $2",
            "backend": "source", "queued": False}


def test_initialize_is_idempotent(orchestrators, dbs):
    first = initialize(orchestrators, dbs)
    assert "_molt_lms.state" in first["created"] and "_molt_lms.events" in first["created"]
    assert "_molt_lms.state row" in first["created"]
    assert "source:_molt_lms.watermark" in first["created"]
    assert first["state"] == {"epoch": 1, "source_of_truth": "source", "phase": "serving"}
    o = orchestrators(args(dbs))
    code, again = o.api("POST", "/api/v1/initialize")
    assert code == 200, again
    assert again["created"] == []
    assert "_molt_lms.state row" in again["existing"]
    assert "SOURCE_URL is not configured" in again["source_watermark"]
    assert dbs.state() == (1, "source", "serving", None)
    assert [e[0] for e in events(dbs)] == ["initialize"]
    assert sql(dbs.source, "SELECT count(*) FROM _molt_lms.watermark")[0][0] == 0


def test_not_initialized_is_explained(orchestrators, dbs):
    o = orchestrators(args(dbs))
    code, doc = o.api("POST", "/api/v1/cutover/consistent/begin", {})
    assert code == 409 and "initialize" in doc["error"], doc
    code, doc = o.api("GET", "/api/v1/nowhere")
    assert code == 404
    code, doc = o.api("GET", "/api/v1/cutover/consistent/begin")
    assert code == 405


def test_begin_commit_and_back(orchestrators, dbs, fakes):
    initialize(orchestrators, dbs)
    a = fakes("lms-a:9043:1", source_dsn=dbs.source)
    b = fakes("lms-b:9043:1", source_dsn=dbs.source)
    o = orchestrators(args(dbs, "--lms-addresses", "%s,%s" % (a.url, b.url)))
    repl = Replicator(dbs)
    try:
        code, doc = o.api("POST", "/api/v1/cutover/consistent/begin", {"drain_timeout_s": 10})
        assert code == 200, doc
        assert doc["epoch"] == 2 and doc["cutover_id"] == 1
        assert sorted(i["id"] for i in doc["instances"]) == ["lms-a:9043:1", "lms-b:9043:1"]
        assert dbs.state() == (2, "source", "paused", 1)
        for f in (a, b):
            assert f.posted("/api/v1/state")[-1] == {"epoch": 2, "phase": "paused", "source_of_truth": "source",
                                                     "cutover_id": 1}
        kinds = [e[0] for e in events(dbs)]
        assert kinds.count("ack") == 2 and kinds.count("drained") == 3 and "begin" in kinds
        # drained: begin wrote the watermark at once (replication catch-up starts there)
        token = doc["watermark"]["token"]
        assert token.startswith("1-2-") and doc["watermark"]["written_at"].endswith("Z"), doc
        assert a.posted("/api/v1/watermark") == [{"token": token}] and not b.posted("/api/v1/watermark")

        code, doc = o.api("POST", "/api/v1/cutover/consistent/commit", {"replication_timeout_s": 10})
        assert code == 200, doc
        assert doc["epoch"] == 3 and doc["source_of_truth"] == "target"
        assert doc["paused_ms"] > 0 and doc["replication_lag_ms"] >= 0
        check = doc["replication_check"]
        assert check["watermark_written_by"] == "begin" and check["commit_wait_ms"] >= 0, doc
        assert check["commit_wait_ms"] <= doc["replication_lag_ms"] + 1, doc
        assert dbs.state() == (3, "target", "serving", 1)
        # commit waited for begin's token: no second write
        assert len(a.posted("/api/v1/watermark")) == 1 and not b.posted("/api/v1/watermark")
        for f in (a, b):
            assert f.state["source_of_truth"] == "target" and f.state["phase"] == "serving"
        status, paused_ms = sql(dbs.target, "SELECT status, paused_ms FROM _molt_lms.cutovers WHERE id = 1")[0]
        assert status == "committed" and paused_ms > 0
        commit_ev = events(dbs, "commit")
        assert len(commit_ev) == 1 and commit_ev[0][3] > 0  # with its duration

        code, rec = o.api("GET", "/api/v1/cutovers/1")
        assert code == 200 and rec["status"] == "committed" and rec["from"] == "source" and rec["to"] == "target"
        assert {i["id"] for i in rec["instances"]} == {"lms-a:9043:1", "lms-b:9043:1"}
        assert [e["kind"] for e in rec["events"]][0] == "begin"
        assert o.api("GET", "/api/v1/cutovers/9")[0] == 404

        # and back again: a second cutover from target to source, whose
        # check writes the token on the target and reads it on the source
        repl.stop()
        assert o.api("POST", "/api/v1/cutover/consistent/begin", {})[0] == 200
        # without SOURCE_URL the source's copy is read through an instance
        code, doc = o.api("POST", "/api/v1/cutover/consistent/commit", {"replication_timeout_s": 1})
        assert code == 409 and "written on the target is not in the source's" in doc["error"], doc
        back = orchestrators(args(dbs, "--lms-addresses", "%s,%s" % (a.url, b.url), source=True))
        code, doc = back.api("POST", "/api/v1/cutover/consistent/commit", {"replication_timeout_s": 1})
        assert code == 409 and "written on the target is not in the source's" in doc["error"], doc
        repl = Replicator(dbs, reverse=True)
        code, doc = back.api("POST", "/api/v1/cutover/consistent/commit", {"replication_timeout_s": 10})
        assert code == 200, doc
        assert doc["replication_lag_ms"] >= 0
        assert dbs.state() == (5, "source", "serving", 2)
        token = sql(dbs.target, "SELECT token FROM _molt_lms.watermark")[0][0]
        assert token.startswith("2-4-") and sql(dbs.source, "SELECT token FROM _molt_lms.watermark")[0][0] == token
        assert len(a.posted("/api/v1/watermark")) == 1  # the way back wrote it on the target directly
    finally:
        repl.stop()

    code, status = o.api("GET", "/api/v1/status")
    assert code == 200 and status["epoch"] == 5 and len(status["instances"]) == 2
    assert all(i["healthy"] for i in status["instances"])
    code, metrics = o.api("GET", "/api/v1/status")
    import urllib.request
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % o.metrics_port, timeout=10).read().decode()
    assert "lms_orchestrator_state_epoch 5" in text
    assert 'lms_orchestrator_cutovers{status="committed"} 2' in text
    assert 'lms_orchestrator_instances{health="healthy"} 2' in text


def test_begin_times_out_naming_the_blocking_connection(orchestrators, dbs, fakes):
    initialize(orchestrators, dbs)
    ok = fakes("lms-ok")
    stuck = fakes("lms-stuck", drains=False, connections=[in_txn_conn(17, 31.0)])
    o = orchestrators(args(dbs, "--lms-addresses", "%s,%s" % (ok.url, stuck.url)))
    t0 = time.monotonic()
    code, doc = o.api("POST", "/api/v1/cutover/consistent/begin", {"drain_timeout_s": 1})
    assert code == 504, doc
    assert time.monotonic() - t0 < 10
    assert "lms-stuck" in doc["error"] and "connection 17" in doc["error"] and "lms-ok" not in doc["error"]
    assert "update t set v" in doc["error"]
    [blocking] = doc["blocking"]
    assert blocking["instance"] == "lms-stuck"
    assert blocking["connections"][0]["id"] == 17
    assert blocking["connections"][0]["transaction_age_s"] == 31.0
    assert dbs.state() == (2, "source", "paused", 1)  # stays paused: the operator aborts
    err = sql(dbs.target, "SELECT error FROM _molt_lms.cutovers WHERE id = 1")[0][0]
    assert "drain timeout" in err
    # commit does not switch under the open transaction
    code, doc = o.api("POST", "/api/v1/cutover/consistent/commit", {"skip_replication_check": True})
    assert code == 409 and "not drained" in doc["error"] and "lms-stuck" in doc["error"], doc
    assert [i["id"] for i in doc["not_drained"]] == ["lms-stuck"]
    assert dbs.state() == (2, "source", "paused", 1)

    code, doc = o.api("POST", "/api/v1/cutover/consistent/abort", {})
    assert code == 200, doc
    assert dbs.state() == (3, "source", "serving", 1)
    assert stuck.state["phase"] == "serving" and stuck.state["epoch"] == 3
    assert sql(dbs.target, "SELECT status FROM _molt_lms.cutovers WHERE id = 1")[0][0] == "aborted"
    assert events(dbs, "abort")[0][3] > 0
    code, doc = o.api("POST", "/api/v1/cutover/consistent/abort", {})
    assert code == 409 and "no cutover in progress" in doc["error"]


def test_unreachable_instance_is_named(orchestrators, dbs, fakes):
    initialize(orchestrators, dbs)
    ok = fakes("lms-ok")
    gone = unreachable_url()
    nohost = "http://no-such-host.invalid:9044"
    o = orchestrators(args(dbs, "--lms-addresses", "%s,%s,%s" % (ok.url, gone, nohost)))
    code, doc = o.api("POST", "/api/v1/cutover/consistent/begin", {"drain_timeout_s": 5})
    assert code == 502, doc
    assert gone in doc["error"] and nohost in doc["error"]
    assert [u["admin_url"] for u in doc["unreachable"]] == [gone, nohost]
    assert ok.posted("/api/v1/state")
    assert dbs.state()[2] == "paused"
    failed = events(dbs, "failed")
    assert any(e[2] == gone for e in failed)
    assert o.api("POST", "/api/v1/cutover/consistent/abort", {})[0] == 200


def test_commit_refused_until_replication_catches_up(orchestrators, dbs, fakes):
    initialize(orchestrators, dbs)
    a = fakes("lms-a", source_dsn=dbs.source)
    o = orchestrators(args(dbs, "--lms-addresses", a.url))
    assert o.api("POST", "/api/v1/cutover/consistent/begin", {})[0] == 200
    code, doc = o.api("POST", "/api/v1/cutover/consistent/commit", {"replication_timeout_s": 1})
    assert code == 409, doc
    assert "replication has not caught up" in doc["error"]
    assert dbs.state() == (2, "source", "paused", 1)
    assert a.state["phase"] == "paused"
    # the token did reach the source
    token = sql(dbs.source, "SELECT token FROM _molt_lms.watermark")[0][0]
    assert token in doc["error"]
    code, doc = o.api("POST", "/api/v1/cutover/consistent/commit", {"dry_run": True})
    assert code == 200 and doc["dry_run"] and dbs.state()[0] == 2
    code, doc = o.api("POST", "/api/v1/cutover/consistent/commit", {"skip_replication_check": True})
    assert code == 200, doc
    assert doc["replication_lag_ms"] is None
    assert dbs.state() == (3, "target", "serving", 1)


def test_orchestrator_restarted_between_begin_and_commit(orchestrators, dbs, fakes):
    initialize(orchestrators, dbs)
    a = fakes("lms-a")
    first = Orchestrator(args(dbs, "--lms-addresses", a.url)).start()
    try:
        assert first.api("POST", "/api/v1/cutover/consistent/begin", {})[0] == 200
    finally:
        first.stop(signal.SIGKILL)
    second = orchestrators(args(dbs, "--lms-addresses", a.url, source=True))
    code, status = second.api("GET", "/api/v1/status")
    assert status["phase"] == "paused" and status["cutover_id"] == 1
    begun = len(a.posted("/api/v1/watermark"))  # begin's, through the instance (no SOURCE_URL)
    repl = Replicator(dbs)
    try:
        code, doc = second.api("POST", "/api/v1/cutover/consistent/commit", {"replication_timeout_s": 10})
    finally:
        repl.stop()
    assert code == 200, doc
    assert doc["cutover_id"] == 1 and doc["source_of_truth"] == "target"
    # the restarted orchestrator does not know begin's token: it writes its own, with SOURCE_URL directly
    assert doc["replication_check"]["watermark_written_by"] == "commit", doc
    assert len(a.posted("/api/v1/watermark")) == begun
    assert a.state == {"epoch": 3, "phase": "serving", "source_of_truth": "target", "cutover_id": 1}


def test_stale_epoch_loses(orchestrators, dbs, fakes):
    """A state change between commit's read and its write: the conditional
    update fails and commit says so (409), changing nothing."""
    initialize(orchestrators, dbs)
    a = fakes("lms-a")
    o = orchestrators(args(dbs, "--lms-addresses", a.url))
    assert o.api("POST", "/api/v1/cutover/consistent/begin", {})[0] == 200
    # Another orchestrator aborts and begins again while this commit waits
    # for replication: the watermark handler is the moment in between.
    a.source_dsn = dbs.source
    real = sql

    def meddle():
        real(dbs.target, "UPDATE _molt_lms.state SET epoch = epoch + 2")
        real(dbs.target, "INSERT INTO _molt_lms.watermark VALUES (1, 'x', now()) ON CONFLICT (id) DO NOTHING")
    # (in the handler, before the answer: a thread woken by the request
    # lost the race to the replicator on a slow machine)
    a.on_watermark = meddle
    repl = Replicator(dbs)
    try:
        code, doc = o.api("POST", "/api/v1/cutover/consistent/commit", {"replication_timeout_s": 10})
    finally:
        repl.stop()
    assert a.posted("/api/v1/watermark"), "commit never asked for the watermark"
    assert code == 409, doc
    assert "changed meanwhile" in doc["error"]
    assert dbs.state() == (4, "source", "paused", 1)
    assert a.state["phase"] == "paused" and a.state["epoch"] == 2
    assert sql(dbs.target, "SELECT status FROM _molt_lms.cutovers WHERE id = 1")[0][0] == "begun"


def test_registered_instances_and_dry_run(orchestrators, dbs, fakes):
    initialize(orchestrators, dbs)
    live = fakes("lms-live:9043:1", connections=[in_txn_conn(5, 2.0)])
    stale = unreachable_url()
    # lms-old's heartbeat stopped longer ago than --forget-instance-after
    # (600 s): status shows it, a cutover no longer waits for it
    for iid, url, age in (("lms-live:9043:1", live.url, 0), ("lms-old:9043:1", stale, 700)):
        sql(dbs.target, "INSERT INTO _molt_lms.instances VALUES (%s, %s, '0.0-fake', 'none', now(), "
            "now() - make_interval(secs => %s), 1, 'serving', 'source')", (iid, url, age))
    o = orchestrators(args(dbs))
    code, status = o.api("GET", "/api/v1/status")
    assert code == 200, status
    health = {i["id"]: i["healthy"] for i in status["instances"]}
    assert health == {"lms-live:9043:1": True, "lms-old:9043:1": False}

    code, doc = o.api("POST", "/api/v1/cutover/consistent/begin", {"dry_run": True})
    assert code == 200, doc
    assert doc["dry_run"] and doc["in_transaction"] == 1
    assert doc["open_transactions"][0]["connections"][0]["id"] == 5
    assert dbs.state()[0] == 1 and not live.posted("/api/v1/state")

    code, conns = o.api("GET", "/api/v1/connections")
    assert code == 200 and conns["instances"][0]["connections"][0]["id"] == 5

    live.connections = []
    code, doc = o.api("POST", "/api/v1/cutover/consistent/begin", {})
    assert code == 200, doc  # the forgotten registration is not waited for
    assert [i["id"] for i in doc["instances"]] == ["lms-live:9043:1"]


def test_status_answers_and_abort_interrupts_a_waiting_begin(orchestrators, dbs, fakes):
    """begin, initialize, commit and abort run on the operation lane: while a
    begin waits for a drain, status and connections answer at once (status
    names the operation running), and an abort interrupts the begin (which
    answers 409) and resumes traffic, without waiting for the drain timeout."""
    initialize(orchestrators, dbs)
    ok = fakes("lms-ok")
    stuck = fakes("lms-stuck", drains=False, connections=[in_txn_conn(21, 5.0)])
    o = orchestrators(args(dbs, "--lms-addresses", "%s,%s" % (ok.url, stuck.url)))
    result = {}

    def run_begin():
        result["begin"] = o.api("POST", "/api/v1/cutover/consistent/begin", {"drain_timeout_s": 60})
        result["begin_done"] = time.monotonic()

    t = threading.Thread(target=run_begin, daemon=True)
    t0 = time.monotonic()
    t.start()
    assert wait_for(lambda: dbs.state()[2] == "paused", 10)
    for _ in range(3):
        s0 = time.monotonic()
        code, doc = o.api("GET", "/api/v1/status")
        assert code == 200, doc
        assert time.monotonic() - s0 < 2, "status waited for the begin"
        assert doc["operation"]["name"] == "begin", doc
        assert doc["phase"] == "paused"
        code, doc = o.api("GET", "/api/v1/connections")
        assert code == 200, doc
        assert any(c["id"] == 21 for i in doc["instances"] for c in i.get("connections", [])), doc
        time.sleep(0.2)
    assert "begin" not in result
    code, doc = o.api("POST", "/api/v1/cutover/consistent/abort", {})
    assert code == 200, doc
    t.join(10)
    assert time.monotonic() - t0 < 30, "the abort waited for the drain timeout"
    code, doc = result["begin"]
    assert code == 409 and "interrupted by an abort" in doc["error"] and "lms-stuck" in doc["error"], doc
    assert dbs.state()[1:3] == ("source", "serving")
    assert stuck.state["phase"] == "serving"
    assert sql(dbs.target, "SELECT status FROM _molt_lms.cutovers WHERE id = 1")[0][0] == "aborted"
    code, doc = o.api("GET", "/api/v1/status")
    assert code == 200 and doc["operation"] is None, doc


def test_sigterm_interrupts_a_waiting_begin(orchestrators, dbs, fakes):
    """SIGTERM while begin waits for a drain: the orchestrator stops at once
    (exit 0), begin's caller is told the state stays paused, and an
    orchestrator started again aborts it."""
    initialize(orchestrators, dbs)
    stuck = fakes("lms-stuck", drains=False, connections=[in_txn_conn(22, 3.0)])
    addr = ["--lms-addresses", stuck.url]
    o = orchestrators(args(dbs, *addr))
    result = {}
    t = threading.Thread(target=lambda: result.update(begin=o.api("POST", "/api/v1/cutover/consistent/begin",
                                                                 {"drain_timeout_s": 60})), daemon=True)
    t.start()
    assert wait_for(lambda: dbs.state()[2] == "paused", 10)
    time.sleep(0.3)
    t0 = time.monotonic()
    assert o.stop() == 0
    assert time.monotonic() - t0 < 10
    t.join(10)
    code, doc = result["begin"]
    assert code == 409 and "stopping" in doc["error"] and "stays paused" in doc["error"], doc
    assert dbs.state()[2] == "paused"
    o2 = orchestrators(args(dbs, *addr))
    code, doc = o2.api("POST", "/api/v1/cutover/consistent/abort", {})
    assert code == 200, doc
    assert dbs.state()[1:3] == ("source", "serving")


def test_abort_interrupts_a_commit_waiting_for_replication(orchestrators, dbs, fakes):
    """A commit waiting for a watermark that never arrives (no replication)
    is interrupted by an abort: nothing was switched, and the abort resumes
    on the source long before the replication timeout."""
    initialize(orchestrators, dbs)
    a = fakes("lms-a", source_dsn=dbs.source)
    o = orchestrators(args(dbs, "--lms-addresses", a.url))
    assert o.api("POST", "/api/v1/cutover/consistent/begin", {})[0] == 200
    result = {}
    t = threading.Thread(target=lambda: result.update(commit=o.api("POST", "/api/v1/cutover/consistent/commit",
                                                                  {"replication_timeout_s": 60})), daemon=True)
    t0 = time.monotonic()
    t.start()
    assert wait_for(lambda: (o.api("GET", "/api/v1/status")[1].get("operation") or {}).get("name") == "commit", 10)
    code, doc = o.api("POST", "/api/v1/cutover/consistent/abort", {})
    assert code == 200, doc
    t.join(10)
    assert time.monotonic() - t0 < 30
    code, doc = result["commit"]
    assert code == 409 and "interrupted by an abort" in doc["error"] and "nothing was switched" in doc["error"], doc
    assert dbs.state()[1:3] == ("source", "serving")
    assert a.state["phase"] == "serving" and a.state["source_of_truth"] == "source"


def test_cli_ctrl_c_during_a_waiting_begin_aborts_at_once(orchestrators, dbs, fakes):
    """molt-lms-cli's Ctrl-C during a begin that waits for a drain aborts
    the cutover at once, against the real orchestrator (the abort no longer
    queues behind the begin it stops)."""
    initialize(orchestrators, dbs)
    stuck = fakes("lms-stuck", drains=False, connections=[in_txn_conn(23, 2.0)])
    o = orchestrators(args(dbs, "--lms-addresses", stuck.url))
    cli = os.path.join(BUILDDIR, "molt-lms-cli")
    proc = subprocess.Popen([cli, "--orchestrator-url", o.url, "cutover", "consistent", "begin",
                             "--drain-timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: dbs.state()[2] == "paused", 10)
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - t0 < 10, "the abort waited for the drain timeout"
    assert proc.returncode == 130, (out, err)
    assert "cutover aborted" in err, err
    assert dbs.state()[1:3] == ("source", "serving")
    assert stuck.state["phase"] == "serving"
