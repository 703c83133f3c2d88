"""molt-lms-cli against a fake orchestrator: every command in both output
formats, the exit code of each failure class, begin's self-abort (on
--begin-timeout and on Ctrl-C), mutual TLS and the CLI_* variables."""

import json
import re
import signal
import socket
import time

import pytest

from conftest import assert_no_sanitizer_report, cert, clean_env, run, start, tls_args

API = "/api/v1"
BEGIN = API + "/cutover/consistent/begin"
COMMIT = API + "/cutover/consistent/commit"
ABORT = API + "/cutover/consistent/abort"

INSTANCE = {"id": "web-1:9043:1764489600", "admin_url": "https://10.0.0.7:9044",
            "version": "0.2.0", "shadow_mode": "sync", "healthy": True,
            "heartbeat_age_s": 0.8, "acked_epoch": 7, "phase": "serving",
            "source_of_truth": "source"}
STATUS = {"epoch": 7, "phase": "serving", "source_of_truth": "source", "cutover_id": 2,
          "source_dialect": "postgres",
          "instances": [INSTANCE, dict(INSTANCE, id="web-2:9043:1764489601", healthy=False,
                                       heartbeat_age_s=42.5, acked_epoch=6)]}
CONNECTION = {"id": 17, "peer": "10.0.0.5:51234", "user": "app", "database": "appdb",
              "state": "in_transaction", "transaction_age_s": 12.5,
              "last_statement": "update t set v = $1 where id = $2", "backend": "source",
              "queued": False}
CONNECTIONS = {"instances": [{"id": "web-1", "connections": [CONNECTION]},
                             {"id": "web-2", "connections": [dict(CONNECTION, id=4, state="idle",
                                                                  last_statement="select 1")]}],
               "unreachable": [{"id": "web-3", "error": "connection refused"}]}
BEGUN = {"cutover_id": 3, "epoch": 8, "paused_at": "2026-11-30T10:00:00Z",
         "instances": [{"id": "web-1", "acked_epoch": 8, "drained": True}]}
DRAIN_TIMEOUT = {"error": "2 instances did not drain within 30 s; abort, or end the transactions "
                          "and retry begin",
                 "blocking": [{"instance": "web-1", "connections": [
                     {"id": 17, "state": "in_transaction", "transaction_age_s": 31.0,
                      "last_statement": "update accounts set balance = 0"}]}],
                 "unreachable": [{"instance": "web-9", "error": "connection refused"}]}
COMMITTED = {"cutover_id": 3, "epoch": 9, "source_of_truth": "target", "paused_ms": 812.4,
             "replication_lag_ms": 35.0}
ABORTED = {"cutover_id": 3, "epoch": 9, "source_of_truth": "source", "phase": "serving"}
METADATA = {"id": 3, "status": "committed", "from": "source", "to": "target",
            "begun_at": "2026-11-30T10:00:00Z", "ended_at": "2026-11-30T10:00:01Z",
            "paused_ms": 812.4, "error": None,
            "instances": [{"id": "web-1", "acked_epoch": 9, "status": "acknowledged"}],
            "events": [{"kind": "begin", "epoch": 8}, {"kind": "commit", "epoch": 9}]}
INITIALIZED = {"created": ["_molt_lms.state", "_molt_lms.instances"],
               "existing": ["_molt_lms.events"],
               "state": {"epoch": 1, "source_of_truth": "source", "phase": "serving"}}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- help, version, usage errors

def test_version():
    r = run(["--version"])
    assert r.rc == 0 and re.fullmatch(r"molt-lms-cli \d+\.\d+\.\d+\n", r.out), r


def test_help_lists_commands_and_exit_codes():
    r = run(["--help"])
    assert r.rc == 0, r
    for words in ("initialize", "status", "connections list", "cutover consistent begin",
                  "cutover consistent commit", "cutover consistent abort",
                  "cutover get_metadata", "instances forget ID"):
        assert "molt-lms-cli " + words in r.out
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130"):
        assert "\n  " + code in r.out, code
    assert "CLI_ORCHESTRATOR_URL" in r.out and "http://127.0.0.1:4200" in r.out


@pytest.mark.parametrize("words,mentions", [
    (["initialize"], "_molt_lms"),
    (["status"], "health"),
    (["connections", "list"], "statement"),
    (["cutover", "consistent", "begin"], "--begin-timeout"),
    (["cutover", "consistent", "commit"], "--skip-replication-check"),
    (["cutover", "consistent", "abort"], "--dry-run"),
    (["cutover", "get_metadata"], "--id"),
    (["instances", "forget"], "--forget-instance-after"),
])
def test_command_help(words, mentions):
    r = run(words + ["--help"])
    assert r.rc == 0, r
    assert r.out.startswith("Usage: molt-lms-cli " + " ".join(words)), r
    assert mentions in r.out and "Exit status" in r.out


@pytest.mark.parametrize("args,says", [
    ([], "a command is needed"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["cutover"], "incomplete command"),
    (["status", "--dry-run"], "does not take --dry-run"),
    (["cutover", "consistent", "abort", "--skip-replication-check"], "does not take"),
    (["status", "-o", "xml"], "table or json"),
    (["status", "--bogus"], "unknown option --bogus"),
    (["status", "--orchestrator-url"], "needs a value"),
    (["cutover", "consistent", "begin", "--begin-timeout", "soon"], "number of seconds"),
    (["cutover", "consistent", "begin", "--begin-timeout", "-1"], "number of seconds"),
    (["cutover", "get_metadata"], "needs -i ID"),
    (["cutover", "get_metadata", "-i", "x"], "positive whole number"),
    (["instances", "forget"], "'instances forget' needs ID"),
    (["instances", "forget", "a", "b"], "takes one ID"),
    (["instances", "forget", ""], "needs a non-empty ID"),
    (["instances", "forget", "x" * 300], "needs a shorter ID"),
    (["instances", "forget", "a", "--dry-run"], "does not take --dry-run"),
    (["status", "--orchestrator-url", "ftp://x"], "must start with http:// or https://"),
    (["status", "--tls-ca-cert", "/etc/hostname"], "not https://"),
    (["status", "--orchestrator-url", "https://x", "--tls-client-cert", "/etc/hostname"],
     "needs --tls-client-key"),
    (["status", "--orchestrator-url", "https://x", "--tls-ca-cert", "/nonexistent/ca.crt"],
     "cannot read --tls-ca-cert /nonexistent/ca.crt"),
])
def test_usage_errors_exit_2(args, says):
    r = run(args)
    assert r.rc == 2, r
    assert says in r.err, r
    assert r.out == ""


def test_usage_error_names_the_environment_variable():
    r = run(["status"], env=clean_env(CLI_ORCHESTRATOR_URL="localhost:4200"))
    assert r.rc == 2 and "CLI_ORCHESTRATOR_URL must start with http://" in r.err, r


# ---- each command, as a table and as JSON

def test_initialize(orch):
    orch.on("POST", API + "/initialize", doc=INITIALIZED)
    r = run(["initialize"], orch.url)
    assert r.rc == 0, r
    assert "created: _molt_lms.state, _molt_lms.instances" in r.out
    assert "already there: _molt_lms.events" in r.out
    assert "epoch 1, source of truth source, phase serving" in r.out
    r = run(["initialize", "-o", "json"], orch.url)
    assert r.rc == 0 and json.loads(r.out) == INITIALIZED, r


def test_status_table(orch):
    orch.on("GET", API + "/status", doc=STATUS)
    r = run(["status"], orch.url)
    assert r.rc == 0, r
    assert re.search(r"^source of truth +source$", r.out, re.M), r
    assert re.search(r"^shadow mode +sync$", r.out, re.M), r
    assert re.search(r"^epoch +7$", r.out, re.M), r
    assert re.search(r"^phase +serving$", r.out, re.M), r
    assert re.search(r"^INSTANCE +HEALTH ", r.out, re.M), r
    assert re.search(r"^web-1:9043:1764489600 +healthy +0\.8 +7 +serving +source +sync", r.out, re.M), r
    assert re.search(r"^web-2:9043:1764489601 +UNHEALTHY +42\.5 +6 ", r.out, re.M), r


def test_status_json_is_the_orchestrators_document(orch):
    orch.on("GET", API + "/status", doc=STATUS)
    r = run(["-o", "json", "status"], orch.url)
    assert r.rc == 0 and json.loads(r.out) == STATUS, r


def test_status_mixed_shadow_modes_and_no_instances(orch):
    doc = dict(STATUS, instances=[INSTANCE, dict(INSTANCE, id="b", shadow_mode="async")])
    orch.on("GET", API + "/status", doc=doc)
    r = run(["status"], orch.url)
    assert re.search(r"^shadow mode +mixed \(sync, async\)$", r.out, re.M), r
    orch.on("GET", API + "/status", doc=dict(STATUS, instances=[]))
    r = run(["status"], orch.url)
    assert r.rc == 0 and "no instances registered" in r.out, r


def test_connections_list(orch):
    orch.on("GET", API + "/connections", doc=CONNECTIONS)
    r = run(["connections", "list"], orch.url)
    assert r.rc == 0, r
    assert re.search(r"^INSTANCE +ID +PEER +USER +DATABASE +STATE +TXN AGE S +BACKEND +QUEUED "
                     r"+LAST STATEMENT$", r.out, re.M), r
    assert re.search(r"^web-1 +17 +10\.0\.0\.5:51234 +app +appdb +in_transaction +12\.5 +source "
                     r"+false +update t set v = \$1 where id = \$2$", r.out, re.M), r
    assert re.search(r"^web-2 +4 .* idle .* select 1$", r.out, re.M), r
    assert "instance web-3 did not answer" in r.err and "connection refused" in r.err
    r = run(["connections", "list", "-o", "json"], orch.url)
    assert r.rc == 0 and json.loads(r.out) == CONNECTIONS, r


def test_connections_list_cleans_and_cuts_statements(orch):
    long = "select\n" + "x" * 200
    doc = {"instances": [{"id": "web-1", "connections": [dict(CONNECTION, last_statement=long)]}]}
    orch.on("GET", API + "/connections", doc=doc)
    r = run(["connections", "list"], orch.url)
    assert r.rc == 0, r
    row = [line for line in r.out.splitlines() if line.startswith("web-1")][0]
    assert row.endswith("select " + "x" * 73 + "..."), row
    orch.on("GET", API + "/connections", doc={"instances": []})
    r = run(["connections", "list"], orch.url)
    assert r.rc == 0 and "no client connections" in r.out, r


def test_get_metadata(orch):
    orch.on("GET", API + "/cutovers/3", doc=METADATA)
    r = run(["cutover", "get_metadata", "-i", "3"], orch.url)
    assert r.rc == 0, r
    assert re.search(r"^status +committed$", r.out, re.M), r
    assert re.search(r"^paused ms +812\.4$", r.out, re.M), r
    assert re.search(r"^error +-$", r.out, re.M), r
    assert re.search(r"^web-1 +9 +acknowledged$", r.out, re.M), r
    assert re.search(r"^commit +9$", r.out, re.M), r
    r = run(["cutover", "get_metadata", "--id", "3", "-o", "json"], orch.url)
    assert r.rc == 0 and json.loads(r.out) == METADATA, r
    r = run(["cutover", "get_metadata", "-i", "99"], orch.url)
    assert r.rc == 1 and "answered 404" in r.err, r


FORGOTTEN = {"forgotten": {"id": "web-9:9043:1764489600", "admin_url": "https://10.0.0.9:9044",
                            "heartbeat_age_s": 75.2, "admin_api": "no answer: timed out"},
             "cutover_id": 3}


def test_instances_forget(orch):
    # the id travels percent-encoded, as one path segment
    path = API + "/instances/ns%2Fweb-9%3A9043%3A1764489600"
    orch.on("DELETE", path, doc=FORGOTTEN)
    r = run(["instances", "forget", "ns/web-9:9043:1764489600"], orch.url)
    assert r.rc == 0, r
    assert orch.received("DELETE", path), orch.requests
    assert r.out.startswith("instance web-9:9043:1764489600 forgotten: last heartbeat 75.2 s ago; "
                            "its admin API: no answer: timed out\n"), r
    assert "cutover 3 is in progress" in r.out and "cutover consistent begin' again" in r.out, r
    r = run(["instances", "forget", "ns/web-9:9043:1764489600", "-o", "json"], orch.url)
    assert r.rc == 0 and json.loads(r.out) == FORGOTTEN, r
    # an id that starts with '-' goes after '--'
    orch.on("DELETE", API + "/instances/-web-1", status=409,
            doc={"error": "instance '-web-1' is live (last heartbeat 0.8 s ago): ... stop it first"})
    r = run(["--orchestrator-url", orch.url, "instances", "forget", "--", "-web-1"])
    assert r.rc == 1 and "answered 409: instance '-web-1' is live" in r.err and r.out == "", r


def test_begin(orch):
    orch.on("POST", BEGIN, doc=BEGUN)
    r = run(["cutover", "consistent", "begin"], orch.url)
    assert r.rc == 0, r
    assert "cutover 3 begun: epoch 8, 1 instance(s) drained" in r.out
    assert "molt-lms-cli cutover consistent abort" in r.err
    assert "molt-lms-cli cutover consistent commit" in r.out
    assert orch.received("POST", BEGIN)[0].body == {"dry_run": False}
    assert not orch.received("POST", ABORT)


def test_begin_json_and_drain_timeout(orch):
    orch.on("POST", BEGIN, doc=BEGUN)
    r = run(["cutover", "consistent", "begin", "--drain-timeout", "12", "-o", "json"], orch.url)
    assert r.rc == 0 and json.loads(r.out) == BEGUN, r
    assert orch.received("POST", BEGIN)[0].body == {"dry_run": False, "drain_timeout_s": 12.0}


def test_begin_dry_run(orch):
    orch.on("POST", BEGIN, doc={"dry_run": True, "open_transactions": 1, "queued_requests": 0,
                                "instances": [{"id": "web-1", "in_transaction": 1}]})
    r = run(["cutover", "consistent", "begin", "--dry-run"], orch.url)
    assert r.rc == 0, r
    assert orch.received("POST", BEGIN)[0].body == {"dry_run": True}
    assert re.search(r"^open_transactions +1$", r.out, re.M), r
    assert re.search(r"^web-1 +1$", r.out, re.M), r


def test_begin_drain_timeout_exit_4_names_blockers(orch):
    orch.on("POST", BEGIN, 504, DRAIN_TIMEOUT)
    r = run(["cutover", "consistent", "begin"], orch.url)
    assert r.rc == 4, r
    assert "did not drain within 30 s" in r.err
    assert "instance web-1, connection 17 (in_transaction for 31.0 s): update accounts set balance = 0" in r.err
    assert "unreachable: instance web-9: connection refused" in r.err
    assert "stay paused" in r.err and "cutover consistent abort" in r.err
    assert not orch.received("POST", ABORT)  # without --begin-timeout the operator decides


def test_begin_failure_with_begin_timeout_aborts(orch):
    orch.on("POST", BEGIN, 504, DRAIN_TIMEOUT)
    orch.on("POST", ABORT, doc=ABORTED)
    r = run(["cutover", "consistent", "begin", "--begin-timeout", "10"], orch.url)
    assert r.rc == 4, r
    assert orch.received("POST", BEGIN)[0].body == {"dry_run": False, "drain_timeout_s": 8.0}
    assert orch.received("POST", ABORT)[0].body == {"dry_run": False}
    assert "connection 17" in r.err and "cutover aborted" in r.err


def test_begin_json_error_document_on_stdout(orch):
    orch.on("POST", BEGIN, 504, DRAIN_TIMEOUT)
    r = run(["cutover", "consistent", "begin", "-o", "json"], orch.url)
    assert r.rc == 4 and json.loads(r.out) == DRAIN_TIMEOUT, r


def test_begin_instance_unreachable_exit_1(orch):
    orch.on("POST", BEGIN, 502, {"error": "instance web-9 did not answer", "blocking": [],
                                 "unreachable": [{"instance": "web-9", "error": "timeout"}]})
    r = run(["cutover", "consistent", "begin"], orch.url)
    assert r.rc == 1, r
    assert "unreachable: instance web-9: timeout" in r.err


def test_begin_refused_is_not_aborted(orch):
    # A begin the orchestrator refused changed nothing: never abort someone else's cutover.
    orch.on("POST", BEGIN, 409, {"error": "a cutover is already in progress (phase paused)"})
    orch.on("POST", ABORT, doc=ABORTED)
    r = run(["cutover", "consistent", "begin", "--begin-timeout", "10"], orch.url)
    assert r.rc == 1 and "already in progress" in r.err, r
    assert not orch.received("POST", ABORT)


def test_begin_timeout_aborts(orch):
    orch.on("POST", BEGIN, handler=orch.hold(doc=BEGUN))
    orch.on("POST", ABORT, doc=ABORTED)
    t0 = time.monotonic()
    r = run(["cutover", "consistent", "begin", "--begin-timeout", "1"], orch.url)
    took = time.monotonic() - t0
    assert r.rc == 4, r
    assert orch.received("POST", BEGIN)[0].body == {"dry_run": False, "drain_timeout_s": 0.8}
    assert orch.received("POST", ABORT), r
    assert "did not finish within --begin-timeout 1 s" in r.err
    assert "cutover aborted: traffic resumed on source" in r.err
    assert took < 10, took
    assert r.out == ""


def test_begin_timeout_abort_fails_says_so(orch):
    orch.on("POST", BEGIN, handler=orch.hold(doc=BEGUN))
    orch.on("POST", ABORT, 500, {"error": "cannot write the state: store unreachable"})
    r = run(["cutover", "consistent", "begin", "--begin-timeout", "1"], orch.url)
    assert r.rc == 1, r
    assert "store unreachable" in r.err and "may still be paused" in r.err


def test_ctrl_c_during_begin_aborts(orch):
    orch.on("POST", BEGIN, handler=orch.hold(doc=BEGUN))
    orch.on("POST", ABORT, doc=ABORTED)
    proc = start(["cutover", "consistent", "begin"], orch.url)
    try:
        orch.wait_for("POST", BEGIN)  # begin is open on the fake's side
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_no_sanitizer_report(err)
    assert proc.returncode == 130, (out, err)
    assert orch.received("POST", ABORT), err
    assert "interrupted" in err and "cutover aborted" in err


def test_commit(orch):
    orch.on("POST", COMMIT, doc=COMMITTED)
    r = run(["cutover", "consistent", "commit", "--replication-timeout", "5"], orch.url)
    assert r.rc == 0, r
    assert ("cutover 3 committed: the source of truth is now target (epoch 9); traffic was "
            "paused 812.4 ms; replication lag 35.0 ms") in r.out
    assert orch.received("POST", COMMIT)[0].body == {
        "dry_run": False, "skip_replication_check": False, "replication_timeout_s": 5.0}
    r = run(["cutover", "consistent", "commit", "--skip-replication-check", "--dry-run",
             "-o", "json"], orch.url)
    assert r.rc == 0 and json.loads(r.out) == COMMITTED, r
    assert orch.received("POST", COMMIT)[1].body == {"dry_run": True, "skip_replication_check": True}


def test_commit_replication_timeout_exit_4(orch):
    orch.on("POST", COMMIT, 409, {"error": "replication has not caught up within 5 s: the "
                                           "watermark is not on the target"})
    r = run(["cutover", "consistent", "commit"], orch.url)
    assert r.rc == 4, r
    assert "replication has not caught up" in r.err and "--skip-replication-check" in r.err


def test_commit_when_not_paused_exit_1(orch):
    orch.on("POST", COMMIT, 409, {"error": "no cutover in progress: phase is serving; run begin"})
    r = run(["cutover", "consistent", "commit"], orch.url)
    assert r.rc == 1 and "no cutover in progress" in r.err, r


def test_abort(orch):
    orch.on("POST", ABORT, doc=ABORTED)
    r = run(["cutover", "consistent", "abort"], orch.url)
    assert r.rc == 0, r
    assert "cutover 3 aborted: serving on source again (epoch 9)" in r.out
    r = run(["cutover", "consistent", "abort", "--dry-run", "-o", "json"], orch.url)
    assert r.rc == 0 and json.loads(r.out) == ABORTED, r
    assert [q.body for q in orch.received("POST", ABORT)] == [{"dry_run": False}, {"dry_run": True}]
    orch.on("POST", ABORT, 409, {"error": "nothing to abort: phase is serving"})
    r = run(["cutover", "consistent", "abort"], orch.url)
    assert r.rc == 1 and "nothing to abort" in r.err, r


# ---- failures reaching the orchestrator

def test_unreachable_exit_3():
    url = f"http://127.0.0.1:{free_port()}"
    r = run(["status"], url)
    assert r.rc == 3, r
    assert f"cannot reach the orchestrator at {url}" in r.err
    assert "check --orchestrator-url or CLI_ORCHESTRATOR_URL" in r.err


def test_not_json_exit_1(orch):
    orch.on("GET", API + "/status", 200, b"<html>hello</html>")
    r = run(["status"], orch.url)
    assert r.rc == 1 and "not a JSON object" in r.err, r
    orch.on("GET", API + "/status", 500, b"<html>oops</html>")
    r = run(["status"], orch.url)
    assert r.rc == 1 and "HTTP 500" in r.err and "oops" in r.err, r


def test_trailing_slash_in_url(orch):
    orch.on("GET", API + "/status", doc=STATUS)
    r = run(["status"], orch.url + "/")
    assert r.rc == 0, r


# ---- TLS and the environment

def test_mutual_tls(orch_tls):
    orch_tls.on("GET", API + "/status", doc=STATUS)
    r = run(["status"] + tls_args(), orch_tls.url)
    assert r.rc == 0, r
    assert "web-1:9043:1764489600" in r.out


def test_mutual_tls_from_environment(orch_tls):
    orch_tls.on("GET", API + "/status", doc=STATUS)
    env = clean_env(CLI_ORCHESTRATOR_URL=orch_tls.url, CLI_TLS_CA_CERT=cert("ca.crt"),
                    CLI_TLS_CLIENT_CERT=cert("client.crt"), CLI_TLS_CLIENT_KEY=cert("client.key"))
    r = run(["status", "-o", "json"], env=env)
    assert r.rc == 0 and json.loads(r.out) == STATUS, r


def test_flag_overrides_environment(orch):
    orch.on("GET", API + "/status", doc=STATUS)
    env = clean_env(CLI_ORCHESTRATOR_URL=f"http://127.0.0.1:{free_port()}")
    assert run(["status"], env=env).rc == 3
    r = run(["status"], orch.url, env=env)
    assert r.rc == 0, r


def test_tls_without_client_certificate_exit_3(orch_tls):
    orch_tls.on("GET", API + "/status", doc=STATUS)
    r = run(["status"] + tls_args(client=None), orch_tls.url)
    assert r.rc == 3, r
    assert "refused the TLS session" in r.err and "client certificate" in r.err, r
    assert "--tls-client-cert" in r.err
    assert not orch_tls.received("GET", API + "/status")


def test_tls_client_certificate_of_another_ca_exit_3(orch_tls):
    orch_tls.on("GET", API + "/status", doc=STATUS)
    r = run(["status"] + tls_args(client="other-client"), orch_tls.url)
    assert r.rc == 3 and "--tls-client-cert" in r.err, r
    assert not orch_tls.received("GET", API + "/status")


def test_tls_server_not_signed_by_ca_exit_3(orch_tls):
    r = run(["status"] + tls_args(ca="other-ca.crt"), orch_tls.url)
    assert r.rc == 3, r
    assert "cannot verify the orchestrator's certificate" in r.err and "--tls-ca-cert" in r.err


def test_https_url_against_plain_http_exit_3(orch):
    r = run(["status", "--tls-ca-cert", cert("ca.crt")], orch.url.replace("http:", "https:"))
    assert r.rc == 3 and "does not speak TLS" in r.err and "http://" in r.err, r
