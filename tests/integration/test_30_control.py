"""30. The control plane of one proxy: the coordination store (schema
_molt_lms in the target, made here exactly as docs/api.md says, since the
orchestrator that normally creates it is not part of this test) and the admin
API on the metrics port (GET/POST /api/v1/state, GET /api/v1/connections,
POST /api/v1/watermark), pause/resume/switch at request boundaries,
--max-pause, a store that cannot be reached at start, and mutual TLS.

Every module run uses its own databases (ctl_<random>, on both clusters,
owned by app) so its _molt_lms never meets another test's."""

import json
import os
import subprocess
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid

import psycopg2
import pytest

from lmsproxy import (APP_PASSWORD, APP_USER, PgRaw, PgServerError, free_port, http_get,
                      parse_metrics, wait_until)

STORE_DDL = """
CREATE SCHEMA _molt_lms;
CREATE TABLE _molt_lms.state (
  id              INT PRIMARY KEY CHECK (id = 1),
  epoch           BIGINT NOT NULL,
  source_of_truth TEXT NOT NULL,
  phase           TEXT NOT NULL,
  cutover_id      BIGINT,
  updated_at      TIMESTAMPTZ NOT NULL);
CREATE TABLE _molt_lms.instances (
  id              TEXT PRIMARY KEY,
  admin_url       TEXT NOT NULL,
  version         TEXT NOT NULL,
  shadow_mode     TEXT NOT NULL,
  started_at      TIMESTAMPTZ NOT NULL,
  heartbeat_at    TIMESTAMPTZ NOT NULL,
  acked_epoch     BIGINT NOT NULL,
  acked_phase     TEXT NOT NULL,
  acked_source_of_truth TEXT NOT NULL);
CREATE TABLE _molt_lms.cutovers (
  id              BIGINT PRIMARY KEY,
  from_truth      TEXT NOT NULL,
  to_truth        TEXT NOT NULL,
  status          TEXT NOT NULL,
  begun_at        TIMESTAMPTZ NOT NULL,
  paused_ms       DOUBLE PRECISION,
  ended_at        TIMESTAMPTZ,
  error           TEXT);
CREATE SEQUENCE _molt_lms.events_id_seq;
CREATE TABLE _molt_lms.events (
  id              BIGINT PRIMARY KEY DEFAULT nextval('_molt_lms.events_id_seq'),
  at              TIMESTAMPTZ NOT NULL,
  cutover_id      BIGINT,
  kind            TEXT NOT NULL,
  epoch           BIGINT,
  instance        TEXT,
  duration_ms     DOUBLE PRECISION,
  detail          TEXT);
INSERT INTO _molt_lms.state VALUES (1, 1, 'source', 'serving', NULL, now());
"""

SOURCE_DDL = """
CREATE SCHEMA _molt_lms;
CREATE TABLE _molt_lms.watermark (id INT PRIMARY KEY, token TEXT NOT NULL,
                                  written_at TIMESTAMPTZ NOT NULL);
"""


class Dbs:
    """Two databases on both clusters: `plain` (no store) and `store`
    (_molt_lms made as the orchestrator's initialize would)."""

    def __init__(self, env):
        self.env = env
        tag = uuid.uuid4().hex[:8]
        self.plain, self.store = "ctl_%s_plain" % tag, "ctl_%s_store" % tag
        for side in ("source", "target"):
            c = env.direct_connect(side, db="postgres")
            for db in (self.plain, self.store):
                c.cursor().execute("create database %s owner %s" % (db, APP_USER))
            c.close()
        self.run("target", self.store, STORE_DDL)
        self.run("source", self.store, SOURCE_DDL)

    def run(self, side, db, sql, args=None):
        c = self.env.direct_connect(side, db=db)
        try:
            cur = c.cursor()
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
        finally:
            c.close()

    def state(self):
        return self.run("target", self.store,
                        "select epoch, phase, source_of_truth from _molt_lms.state")[0]

    def write_state(self, epoch, phase, truth):
        self.run("target", self.store, "update _molt_lms.state set epoch = %s, phase = %s, "
                 "source_of_truth = %s, updated_at = now()", (epoch, phase, truth))

    def drop(self):
        for side in ("source", "target"):
            c = self.env.direct_connect(side, db="postgres")
            for db in (self.plain, self.store):
                try:
                    c.cursor().execute("drop database if exists %s with (force)" % db)
                except psycopg2.Error:
                    pass
            c.close()


@pytest.fixture(scope="module")
def dbs(clusters):
    if clusters.direct:
        pytest.skip("needs molt-lms")
    d = Dbs(clusters)
    yield d
    d.drop()


@pytest.fixture
def serving(dbs):
    """The store says serving from the source (a newer epoch) before and after the test."""
    def reset():
        epoch, phase, truth = dbs.state()
        if phase != "serving" or truth != "source":
            dbs.write_state(epoch + 1, "serving", "source")
    reset()
    yield dbs
    reset()


def api(proxy, method, path, body=None, cert=None, timeout=10):
    """(status, parsed JSON) of an admin API call; cert: (crt, key) for mutual TLS."""
    url = proxy.metrics_url + path
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    ctx = None
    if url.startswith("https:"):
        ctx = ssl.create_default_context(cafile=proxy.env.cert("ca.crt"))
        ctx.check_hostname = False
        if cert:
            ctx.load_cert_chain(*cert)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        text = e.read().decode("utf-8", "replace")
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, {"raw": text}


def push(proxy, epoch, phase, truth="source", **kw):
    st, doc = api(proxy, "POST", "/api/v1/state",
                  {"epoch": epoch, "phase": phase, "source_of_truth": truth}, **kw)
    assert st == 200, doc
    return doc


def transition(dbs, proxy, phase, truth="source"):
    """What the orchestrator does: write the store, then push; returns the new epoch."""
    epoch = dbs.state()[0] + 1
    dbs.write_state(epoch, phase, truth)
    doc = push(proxy, epoch, phase, truth)
    assert doc["epoch"] == epoch and doc["phase"] == phase, doc
    return epoch


def store_proxy(proxy_factory, dbs, lms_env, **kw):
    extra = list(kw.pop("extra_args", []))
    return proxy_factory(init_source=lms_env.source_url(db=dbs.store),
                         init_target=lms_env.target_url(db=dbs.store), extra_args=extra, **kw)


def app_conn(proxy, db, autocommit=True, **kw):
    c = proxy.connect(dbname=db, **kw)
    c.autocommit = autocommit
    return c


class Bg:
    """Run fn in a thread; .done(), .result / .error after join()."""

    def __init__(self, fn):
        self.result = self.error = None
        self._t = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._t.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except Exception as e:  # reported by the test
            self.error = e

    def done(self):
        return not self._t.is_alive()

    def join(self, timeout):
        self._t.join(timeout)
        assert not self._t.is_alive(), "still blocked after %.0f s" % timeout
        return self


def query_one(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchone()[0]


# ---------------------------------------------------------------------------

def test_not_initialized_serves_standalone(proxy_factory, dbs, lms_env):
    p = proxy_factory(name="ctl-plain", init_source=lms_env.source_url(db=dbs.plain),
                      init_target=lms_env.target_url(db=dbs.plain))
    st, doc = api(p, "GET", "/api/v1/state")
    assert st == 200, doc
    assert doc["phase"] == "serving" and doc["source_of_truth"] == "source", doc
    assert "not initialized" in doc["store"], doc
    c = app_conn(p, dbs.plain)
    assert query_one(c, "select 40 + 2") == 42
    c.close()
    m = p.metrics()
    assert m[("lms_state_phase", '{phase="serving"}')] == 1


def test_registers_heartbeats_and_polls(proxy_factory, serving, lms_env):
    dbs = serving
    p = store_proxy(proxy_factory, dbs, lms_env, name="ctl-reg")
    st, doc = api(p, "GET", "/api/v1/state")
    assert st == 200 and doc["store"] == "ok", doc
    epoch = dbs.state()[0]
    assert doc["epoch"] == epoch, doc
    iid = doc["instance_id"]
    assert (":%d:" % p.port) in iid, iid

    def row():
        r = dbs.run("target", dbs.store, "select heartbeat_at, acked_epoch, acked_phase, "
                    "acked_source_of_truth, admin_url, shadow_mode from _molt_lms.instances "
                    "where id = %s", (iid,))
        return r[0] if r else None
    first = wait_until(row, lms_env.t(10))
    assert first, "no _molt_lms.instances row for %s" % iid
    assert first[1:4] == (epoch, "serving", "source"), first
    assert first[4] == p.metrics_url and first[5] == "none", first
    assert wait_until(lambda: row()[0] > first[0], lms_env.t(10)), "heartbeat did not advance"
    kinds = dbs.run("target", dbs.store, "select kind from _molt_lms.events where instance = %s", (iid,))
    assert ("register",) in kinds, kinds
    # a state written only to the store (a missed push) is picked up by polling
    dbs.write_state(epoch + 1, "serving", "source")
    assert wait_until(lambda: api(p, "GET", "/api/v1/state")[1]["epoch"] == epoch + 1, lms_env.t(10))
    assert wait_until(lambda: row()[1] == epoch + 1, lms_env.t(10))
    assert p.metric("lms_state_epoch") == epoch + 1
    assert p.metric("lms_coordination_store_up") == 1
    # stopping deletes the row: the next cutover does not wait for this instance
    assert p.stop() == 0
    assert row() is None
    with open(p.log_path) as f:
        assert "event=coordination_deregistered" in f.read()


def test_pause_drain_resume(proxy_factory, serving, lms_env):
    dbs = serving
    p = store_proxy(proxy_factory, dbs, lms_env, name="ctl-pause")
    dbs.run("source", dbs.store, "create table if not exists t_pause (id int primary key, v text)")
    dbs.run("source", dbs.store, "alter table t_pause owner to app")
    idle = app_conn(p, dbs.store)
    assert query_one(idle, "select 1") == 1
    txn = app_conn(p, dbs.store, autocommit=False)
    txn.cursor().execute("insert into t_pause values (1, 'in txn')")

    epoch = transition(dbs, p, "paused")
    st, doc = api(p, "GET", "/api/v1/state")
    assert doc["phase"] == "paused" and doc["in_transaction"] == 1, doc
    assert doc["drained"] is False, doc
    assert p.metric("lms_state_phase", 'phase="paused"') == 1

    # the idle session's next query waits
    waiting = Bg(lambda: query_one(idle, "select 6 * 7"))
    time.sleep(0.5)
    assert not waiting.done(), "a query ran while paused"
    # the open transaction goes on until it ends
    txn.cursor().execute("insert into t_pause values (2, 'still in txn')")
    txn.commit()
    assert wait_until(lambda: api(p, "GET", "/api/v1/state")[1]["drained"], lms_env.t(10)), \
        api(p, "GET", "/api/v1/state")
    # a new connection's login waits
    # (it waits as long as the pause: a slow machine must not time it out)
    login = Bg(lambda: query_one(app_conn(p, dbs.store, connect_timeout=int(lms_env.t(60))), "select 'logged in'"))
    time.sleep(0.5)
    assert not login.done(), "a login went through while paused"
    assert not waiting.done()
    conns = api(p, "GET", "/api/v1/connections")[1]["connections"]
    assert any(c["state"] == "queued" and c["queued"] for c in conns), conns
    assert wait_until(lambda: p.metric("lms_queued_sessions") >= 1, lms_env.t(5))
    assert p.metric("lms_pause_seconds") > 0

    # abort: serving again, same source of truth
    epoch2 = transition(dbs, p, "serving")
    assert epoch2 == epoch + 1
    assert waiting.join(lms_env.t(10)).error is None, waiting.error
    assert waiting.result == 42
    assert login.join(lms_env.t(10)).error is None, login.error
    assert login.result == "logged in"
    rows = dbs.run("source", dbs.store, "select count(*) from t_pause")
    assert rows[0][0] == 2

    # a stale epoch changes nothing
    doc = push(p, epoch, "paused")
    assert doc["phase"] == "serving" and doc["epoch"] == epoch2 and doc["applied"] is False, doc
    assert query_one(idle, "select 'still serving'") == "still serving"
    idle.close()
    txn.close()


def test_switch_to_target_and_back(proxy_factory, serving, lms_env):
    dbs = serving
    p = store_proxy(proxy_factory, dbs, lms_env, name="ctl-switch")
    for side in ("source", "target"):
        dbs.run(side, dbs.store, "create table if not exists t_switch (id int primary key, side text)")
        dbs.run(side, dbs.store, "alter table t_switch owner to app")
    c = app_conn(p, dbs.store)
    assert query_one(c, "select inet_server_port()") == lms_env.source_port
    try:
        transition(dbs, p, "paused")
        transition(dbs, p, "serving", "target")
        assert query_one(c, "select inet_server_port()") == lms_env.target_port
        c.cursor().execute("insert into t_switch values (1, 'after switch')")
        assert dbs.run("target", dbs.store, "select side from t_switch") == [("after switch",)]
        assert dbs.run("source", dbs.store, "select count(*) from t_switch")[0][0] == 0
        c2 = app_conn(p, dbs.store)
        assert query_one(c2, "select inet_server_port()") == lms_env.target_port
        c2.close()
        st, doc = api(p, "GET", "/api/v1/state")
        assert doc["source_of_truth"] == "target", doc
        assert p.metric("lms_source_of_truth", 'role="target"') == 1
        conns = api(p, "GET", "/api/v1/connections")[1]["connections"]
        assert conns and all(x["backend"] == "target" for x in conns), conns
    finally:
        transition(dbs, p, "paused", "target")
        transition(dbs, p, "serving", "source")
    assert query_one(c, "select inet_server_port()") == lms_env.source_port
    c.close()


@pytest.mark.parametrize("shadow", ["none", "async"])
def test_connections_list(proxy_factory, serving, lms_env, shadow):
    dbs = serving
    p = store_proxy(proxy_factory, dbs, lms_env, name="ctl-conns", shadow_mode=shadow)
    a = app_conn(p, dbs.store)
    query_one(a, "select 'marker_idle'")
    b = app_conn(p, dbs.store, autocommit=False)
    query_one(b, "select 'marker_txn'")
    time.sleep(0.05)
    st, doc = api(p, "GET", "/api/v1/connections")
    assert st == 200, doc
    assert doc["instance_id"] == api(p, "GET", "/api/v1/state")[1]["instance_id"]
    by_state = {c["state"]: c for c in doc["connections"]}
    assert set(by_state) == {"idle", "in_transaction"}, doc
    for c in doc["connections"]:
        assert c["user"] == APP_USER and c["database"] == dbs.store and c["backend"] == "source", c
        assert c["peer"].startswith("127.0.0.1:") and c["queued"] is False, c
        # fingerprinted as each statement runs when shadowing; otherwise
        # only when the list is asked for (from the text the plugin kept)
        assert c["last_statement"] == "select ?", c
    assert by_state["in_transaction"]["transaction_age_s"] > 0
    assert by_state["idle"]["transaction_age_s"] == 0
    st, doc = api(p, "POST", "/api/v1/connections", {})
    assert st == 405, doc
    a.close()
    b.close()


def test_bad_bodies(proxy_factory, serving, lms_env):
    p = store_proxy(proxy_factory, serving, lms_env, name="ctl-bad")
    epoch = serving.state()[0]
    bad = [b"not json", b"[1]", {"epoch": "9", "phase": "paused", "source_of_truth": "source"},
           {"epoch": 0, "phase": "paused", "source_of_truth": "source"},
           {"epoch": epoch + 5, "phase": "stopped", "source_of_truth": "source"},
           {"epoch": epoch + 5, "phase": "paused", "source_of_truth": "elsewhere"},
           {"epoch": epoch + 5, "phase": "paused"},
           {"epoch": epoch + 5, "phase": "paused", "source_of_truth": "source", "typo": 1},
           {"epoch": epoch + 5, "phase": "paused", "source_of_truth": "source", "cutover_id": "x"}]
    for body in bad:
        st, doc = api(p, "POST", "/api/v1/state", body)
        assert st == 400 and doc.get("error"), (body, st, doc)
    assert api(p, "GET", "/api/v1/state")[1]["phase"] == "serving"
    for body in (b"{}", {"token": ""}, {"token": 5}, {"token": "x" * 201}, {"token": "a", "b": 1}):
        st, doc = api(p, "POST", "/api/v1/watermark", body)
        assert st == 400 and doc.get("error"), (body, st, doc)
    assert api(p, "DELETE", "/api/v1/watermark")[0] == 405
    assert api(p, "DELETE", "/api/v1/state")[0] == 405


def test_watermark(proxy_factory, serving, lms_env):
    dbs = serving
    p = store_proxy(proxy_factory, dbs, lms_env, name="ctl-wm")
    for token in ("3-1764489612", "4-1764489700"):
        st, doc = api(p, "POST", "/api/v1/watermark", {"token": token})
        assert st == 200 and doc == {"written": True}, doc
        rows = dbs.run("source", dbs.store, "select id, token from _molt_lms.watermark")
        assert rows == [(1, token)], rows
        assert api(p, "GET", "/api/v1/watermark") == (200, {"token": token})
    assert not dbs.run("target", dbs.store, "select 1 from pg_tables where schemaname = '_molt_lms' "
                       "and tablename = 'watermark'")
    # even while paused
    transition(dbs, p, "paused")
    st, doc = api(p, "POST", "/api/v1/watermark", {"token": "paused-1"})
    assert st == 200, doc
    # a source without the table: a clear error
    q = proxy_factory(name="ctl-wm-plain", init_source=lms_env.source_url(db=dbs.plain),
                      init_target=lms_env.target_url(db=dbs.plain))
    st, doc = api(q, "POST", "/api/v1/watermark", {"token": "x"})
    assert st == 409 and "initialize" in doc["error"], doc
    st, doc = api(q, "GET", "/api/v1/watermark")
    assert st == 409 and "does not exist on the source" in doc["error"], doc


def paused_query_past_max_pause(proxy_factory, dbs, lms_env, name):
    """A raw client's query queued on a proxy with --max-pause 2; returns
    (the exception that ended it, seconds it waited, proxy)."""
    p = store_proxy(proxy_factory, dbs, lms_env, name=name, extra_args=["--max-pause", "2"])
    raw = PgRaw("127.0.0.1", p.port)
    raw.startup(APP_USER, dbs.store, APP_PASSWORD)
    raw.query("select 1")
    transition(dbs, p, "paused")
    t0 = time.monotonic()
    w = Bg(lambda: raw.query("select 2"))
    time.sleep(0.5)
    assert not w.done(), "a query ran while paused"
    w.join(lms_env.t(15))
    raw.close()
    assert w.error is not None, "the query ran while paused: %r" % (w.result,)
    return w.error, time.monotonic() - t0, p


def test_max_pause(proxy_factory, serving, lms_env):
    err, waited, p = paused_query_past_max_pause(proxy_factory, serving, lms_env, "ctl-maxpause")
    assert waited >= 1.5, waited
    assert wait_until(lambda: "longer than --max-pause" in p.read_log(), lms_env.t(5)), p.log_tail()


def test_max_pause_error_reaches_client(proxy_factory, serving, lms_env):
    err, _, _ = paused_query_past_max_pause(proxy_factory, serving, lms_env, "ctl-maxpause-msg")
    assert isinstance(err, PgServerError), repr(err)
    assert err.sqlstate == "57P01" and "max-pause" in err.message, err.fields


def test_store_unreachable_at_start(proxy_factory, lms_env):
    dead = "postgresql://lms_admin:x@127.0.0.1:%d/appdb?sslmode=disable" % free_port()
    p = proxy_factory(name="ctl-nostore", init_target=dead)
    with pytest.raises(PgServerError) as ei:
        with PgRaw("127.0.0.1", p.port) as raw:
            raw.startup(APP_USER, "appdb", APP_PASSWORD)
    assert ei.value.sqlstate == "57P03", ei.value.fields
    assert "coordination state" in ei.value.message, ei.value.fields
    st, doc = api(p, "GET", "/api/v1/state")
    assert doc["phase"] == "unknown" and "cannot connect" in doc["store"], doc
    assert p.metric("lms_coordination_store_up") == 0
    assert p.metric("lms_state_phase", 'phase="unknown"') == 1
    # --coordination off: serves from the source without a store
    q = proxy_factory(name="ctl-off", init_target=dead, extra_args=["--coordination", "off"])
    c = q.connect()
    assert query_one(c, "select 'no store needed'") == "no store needed"
    c.close()


def test_mutual_tls_admin_api(proxy_factory, serving, lms_env):
    dbs = serving
    p = store_proxy(proxy_factory, dbs, lms_env, name="ctl-mtls", tls=True, ssl_ca=True)
    cert = (lms_env.cert("client.crt"), lms_env.cert("client.key"))
    st, doc = api(p, "GET", "/api/v1/state")
    assert st == 403 and "client certificate" in doc["error"], doc
    st, doc = api(p, "POST", "/api/v1/state", {"epoch": 999, "phase": "paused", "source_of_truth": "source"})
    assert st == 403, doc
    st, doc = api(p, "GET", "/api/v1/state", cert=cert)
    assert st == 200 and doc["phase"] == "serving" and doc["epoch"] < 999, doc
    st, doc = api(p, "GET", "/api/v1/connections", cert=cert)
    assert st == 200, doc
    st, body = http_get(p.metrics_url + "/metrics", cafile=lms_env.cert("ca.crt"))
    assert st == 200 and "lms_state_epoch" in body
    assert http_get(p.metrics_url + "/readyz", cafile=lms_env.cert("ca.crt"))[0] == 200
    # TLS without LMS_SSL_CA: nobody can be authenticated, the admin API is closed
    q = store_proxy(proxy_factory, dbs, lms_env, name="ctl-noca", tls=True)
    st, doc = api(q, "GET", "/api/v1/state")
    assert st == 403 and "LMS_SSL_CA" in doc["error"], doc
    assert http_get(q.metrics_url + "/healthz", cafile=lms_env.cert("ca.crt"))[0] == 200
    parse_metrics(q.metrics_text())


def test_advertise_admin_host_ipv6(proxy_factory, serving, lms_env):
    """A bare IPv6 pod IP (what Kubernetes' downward API gives) is bracketed
    in the admin URL the instance registers, and that URL reaches its API."""
    dbs = serving
    p = store_proxy(proxy_factory, dbs, lms_env, name="ctl-v6",
                    extra_args=["--metrics-listen", "[::]:{metrics_port}", "--advertise-admin-host", "::1"])
    st, doc = api(p, "GET", "/api/v1/state")
    assert st == 200, doc
    iid = doc["instance_id"]
    url = "http://[::1]:%d" % p.metrics_port
    rows = wait_until(lambda: dbs.run("target", dbs.store, "select admin_url from _molt_lms.instances "
                                      "where id = %s", (iid,)), lms_env.t(10))
    assert rows == [(url,)], rows
    with urllib.request.urlopen(url + "/api/v1/state", timeout=10) as r:
        assert json.loads(r.read())["instance_id"] == iid
    # and the orchestrator reaches the instance at that URL
    from test_40_cutover import Orchestrator
    orch = Orchestrator(lms_env, lms_env.target_url(db=dbs.store), lms_env.source_url(db=dbs.store)).start()
    try:
        def healthy():
            st, body = http_get(orch.url + "/api/v1/status", timeout=5)
            doc = json.loads(body) if st == 200 else {}
            return [i for i in doc.get("instances", []) if i.get("id") == iid and i.get("healthy")]
        assert wait_until(healthy, lms_env.t(15)), orch.tail()
    finally:
        orch.stop()


def test_advertise_admin_host_refused(proxy_factory, serving, lms_env):
    for value, says in (("::1:9044x", "advertiseAdminHost: invalid value '::1:9044x'"),
                        ("host:9044", "advertiseAdminHost: invalid value 'host:9044'"),
                        ("a/b", "advertiseAdminHost: invalid value 'a/b'")):
        r = subprocess.run([os.path.join(lms_env.builddir, "molt-lms"), "--source-dialect", "postgres",
                            "--allow-tls-mode-disable", "--init-source", lms_env.source_url(),
                            "--init-target", lms_env.target_url(), "--advertise-admin-host", value,
                            "--check-config"], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and says in r.stderr, (value, r.returncode, r.stderr)
    r = subprocess.run([os.path.join(lms_env.builddir, "molt-lms"), "--source-dialect", "postgres",
                        "--allow-tls-mode-disable", "--init-source", lms_env.source_url(),
                        "--init-target", lms_env.target_url(), "--advertise-admin-host", "10.0.0.1",
                        "--advertise-admin-url", "http://10.0.0.1:9044", "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "not both" in r.stderr, r.stderr
