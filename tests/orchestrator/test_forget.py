"""DELETE /api/v1/instances/{id} and `molt-lms-cli instances forget ID`:
forgetting a registration whose proxy is gone for good, so that a
cutover stops waiting for it, and the refusals that keep a running proxy
from being forgotten (the real target database as the store, fake
proxies for the admin APIs)."""

import json
import os
import subprocess
import urllib.parse

from conftest import BUILDDIR, sql
from fakeproxy import unreachable_url
from test_cutover import args, events, initialize

CLI = os.path.join(BUILDDIR, "molt-lms-cli")


def register(dbs, iid, url, age):
    """A registration as molt-lms writes it, last heartbeat age s ago."""
    sql(dbs.target, "INSERT INTO _molt_lms.instances VALUES (%s, %s, '0.0-fake', 'none', now(), "
        "now() - make_interval(secs => %s), 1, 'serving', 'source')", (iid, url, age))


def registered(dbs):
    return [r[0] for r in sql(dbs.target, "SELECT id FROM _molt_lms.instances ORDER BY id")]


def forget(o, iid):
    return o.api("DELETE", "/api/v1/instances/" + urllib.parse.quote(iid, safe=""))


def cli(o, *words):
    return subprocess.run([CLI, "--orchestrator-url", o.url] + list(words), capture_output=True, text=True,
                          timeout=60)


def test_forget_a_dead_instance_unblocks_begin(orchestrators, dbs, fakes):
    """A crashed proxy (stale heartbeat, admin API refusing connections)
    makes begin fail naming it; once forgotten, its row is gone, status no
    longer lists it, and begin run again carries on the same cutover
    without it."""
    initialize(orchestrators, dbs)
    live = fakes("lms-live:9043:1")
    dead_url = unreachable_url()
    register(dbs, "lms-live:9043:1", live.url, 0)
    register(dbs, "lms-dead:9043:1", dead_url, 60)
    o = orchestrators(args(dbs))

    code, doc = o.api("POST", "/api/v1/cutover/consistent/begin", {"drain_timeout_s": 5})
    assert code == 502, doc
    assert "lms-dead:9043:1" in doc["error"], doc
    [entry] = doc["unreachable"]
    assert entry["id"] == "lms-dead:9043:1" and "molt-lms-cli instances forget ID" in entry["error"], doc
    assert dbs.state() == (2, "source", "paused", 1)

    code, doc = forget(o, "lms-dead:9043:1")
    assert code == 200, doc
    f = doc["forgotten"]
    assert f["id"] == "lms-dead:9043:1" and f["admin_url"] == dead_url, doc
    assert 59 <= f["heartbeat_age_s"] < 120, doc
    assert f["admin_api"].startswith("no answer"), doc
    assert doc["cutover_id"] == 1, doc  # forgotten during cutover 1: its record says so
    assert registered(dbs) == ["lms-live:9043:1"]
    assert [(e[0], e[2], e[4]) for e in events(dbs, "forget")] == [("forget", "lms-dead:9043:1", 1)]
    assert 'event=instance_forgotten instance="lms-dead:9043:1" heartbeat_age_s=6' in o.log_text()

    code, status = o.api("GET", "/api/v1/status")
    assert code == 200, status
    assert [i["id"] for i in status["instances"]] == ["lms-live:9043:1"], status

    sql(dbs.target, "UPDATE _molt_lms.instances SET heartbeat_at = now()")
    code, doc = o.api("POST", "/api/v1/cutover/consistent/begin", {"drain_timeout_s": 5})
    assert code == 200, doc
    assert doc["cutover_id"] == 1 and [i["id"] for i in doc["instances"]] == ["lms-live:9043:1"], doc
    assert dbs.state() == (2, "source", "paused", 1)
    code, rec = o.api("GET", "/api/v1/cutovers/1")
    assert code == 200, rec
    assert {i["id"]: i["status"] for i in rec["instances"]}["lms-dead:9043:1"] == "forgotten", rec

    # forgotten once: a second forget finds nothing
    code, doc = forget(o, "lms-dead:9043:1")
    assert code == 404 and "lms-dead:9043:1" in doc["error"], doc


def test_forget_a_live_instance_is_refused(orchestrators, dbs, fakes):
    initialize(orchestrators, dbs)
    register(dbs, "lms-live:9043:1", unreachable_url(), 1)
    o = orchestrators(args(dbs))
    code, doc = forget(o, "lms-live:9043:1")
    assert code == 409, doc
    assert "'lms-live:9043:1' is live" in doc["error"] and "stop it first" in doc["error"], doc
    assert registered(dbs) == ["lms-live:9043:1"]
    assert events(dbs, "forget") == []
    # no force: a query is refused, whatever it says
    code, doc = o.api("DELETE", "/api/v1/instances/lms-live%3A9043%3A1?force=true")
    assert code == 400 and "no force" in doc["error"], doc
    assert registered(dbs) == ["lms-live:9043:1"]


def test_forget_a_stale_instance_whose_admin_api_answers_is_refused(orchestrators, dbs, fakes):
    """Cut off from the store (stale heartbeat) but still running: its
    admin API answers, so it may be serving; forgetting it would let a
    commit switch the others while it writes to the old source of truth."""
    initialize(orchestrators, dbs)
    cut_off = fakes("lms-cut:9043:1")
    register(dbs, "lms-cut:9043:1", cut_off.url, 60)
    o = orchestrators(args(dbs))
    code, doc = forget(o, "lms-cut:9043:1")
    assert code == 409, doc
    assert "answers on its admin API at %s" % cut_off.url in doc["error"], doc
    assert "it is running" in doc["error"], doc
    assert registered(dbs) == ["lms-cut:9043:1"]
    assert events(dbs, "forget") == []


def test_forget_when_the_address_now_belongs_to_another_instance(orchestrators, dbs, fakes):
    """A proxy that crashed and restarted at the same address registers
    under a new id: the old id's admin URL answers, but as the new
    instance, so the old one is not running there and can be forgotten."""
    initialize(orchestrators, dbs)
    new = fakes("lms-a:9043:2")
    register(dbs, "lms-a:9043:1", new.url, 300)
    register(dbs, "lms-a:9043:2", new.url, 0)
    o = orchestrators(args(dbs))
    code, doc = forget(o, "lms-a:9043:1")
    assert code == 200, doc
    assert "now answers as instance 'lms-a:9043:2'" in doc["forgotten"]["admin_api"], doc
    assert "cutover_id" not in doc  # no cutover in progress
    assert registered(dbs) == ["lms-a:9043:2"]
    assert [e[4] for e in events(dbs, "forget")] == [None]


def test_forget_unknown_and_invalid_ids(orchestrators, dbs, fakes):
    initialize(orchestrators, dbs)
    odd = "ns/pod a:9043:1"  # '/' and ' ' travel percent-encoded
    register(dbs, odd, unreachable_url(), 30)
    o = orchestrators(args(dbs))
    code, doc = forget(o, "lms-nowhere:9043:1")
    assert code == 404 and "no instance 'lms-nowhere:9043:1'" in doc["error"], doc
    for raw, says in (("lms%zz", "percent-encoding"), ("a/b", "one instance"), ("a%00b", "control"),
                      ("x" * 300, "longer than 299"), ("%ff%fe", "UTF-8"), ("", "no instance id")):
        code, doc = o.api("DELETE", "/api/v1/instances/" + raw)
        assert code == 400 and says in doc["error"], (raw, code, doc)
    code, doc = o.api("GET", "/api/v1/instances/lms-a")
    assert code == 405 and "use DELETE" in doc["error"], doc
    assert registered(dbs) == [odd]
    code, doc = forget(o, odd)
    assert code == 200 and doc["forgotten"]["id"] == odd, doc
    assert registered(dbs) == []

    # with --lms-addresses the registrations do not decide who is waited for
    register(dbs, "lms-b:9043:1", unreachable_url(), 30)
    static = orchestrators(args(dbs, "--lms-addresses", unreachable_url()))
    code, doc = forget(static, "lms-b:9043:1")
    assert code == 409 and "--lms-addresses" in doc["error"], doc
    assert registered(dbs) == ["lms-b:9043:1"]


def test_cli_instances_forget(orchestrators, dbs, fakes):
    """molt-lms-cli instances forget ID against the real orchestrator: the
    success (exit 0), a live instance (409, exit 1, row kept), an unknown
    id (404, exit 1), and -o json."""
    initialize(orchestrators, dbs)
    register(dbs, "lms-dead:9043:1", unreachable_url(), 45)
    register(dbs, "lms-gone:9043:1", unreachable_url(), 45)
    register(dbs, "lms-live:9043:1", unreachable_url(), 0)
    o = orchestrators(args(dbs))

    r = cli(o, "instances", "forget", "lms-dead:9043:1")
    assert r.returncode == 0, r
    assert r.stdout.startswith("instance lms-dead:9043:1 forgotten: last heartbeat 4"), r
    assert "its admin API: no answer" in r.stdout, r
    assert "cutover" not in r.stdout, r

    r = cli(o, "instances", "forget", "lms-live:9043:1")
    assert r.returncode == 1, r
    assert r.stdout == "", r
    assert "instances forget: the orchestrator answered 409: instance 'lms-live:9043:1' is live" in r.stderr, r

    r = cli(o, "instances", "forget", "lms-nowhere")
    assert r.returncode == 1 and "answered 404" in r.stderr, r

    r = cli(o, "-o", "json", "instances", "forget", "lms-gone:9043:1")
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["forgotten"]["id"] == "lms-gone:9043:1", r
    assert registered(dbs) == ["lms-live:9043:1"]
