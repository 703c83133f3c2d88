"""Fixtures for the molt-lms-orchestrator tests: a fresh database on both
test clusters per test (the coordination store lives in the target's),
the orchestrator as a process, fake proxies, and a stand-in for
replication of _molt_lms.watermark (the shared clusters run with
wal_level=replica, so real logical replication is not available)."""

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import psycopg2
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakeproxy import FakeProxy, free_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BUILDDIR = os.environ.get("LMS_BUILDDIR", os.path.join(HERE, "..", ".."))
BINARY = os.path.join(BUILDDIR, "molt-lms-orchestrator")
TEST_DIR = os.environ.get("LMS_TEST_DIR", "/tmp/lms-test")
CERTS = os.environ.get("LMS_TEST_CERTS") or os.path.join(TEST_DIR, "certs")
SOURCE_PORT = int(os.environ.get("LMS_TEST_SOURCE_PORT", "15432"))
TARGET_PORT = int(os.environ.get("LMS_TEST_TARGET_PORT", "15433"))
LOG_DIR = os.environ.get("LMS_IT_LOGDIR") or os.path.join(TEST_DIR, "orch-logs")
ADMIN = "postgresql://lms_admin:lms-admin-pw@127.0.0.1:%d/%s"


def cert(name):
    return os.path.join(CERTS, name)


def wait_for(pred, timeout=10.0, what="condition"):
    """Poll pred until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(0.02)


def connect(dsn):
    """psycopg2.connect, retried for a while: the shared clusters may be
    busy with other suites (too many clients) for a moment."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return psycopg2.connect(dsn, connect_timeout=5)
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def sql(dsn, query, args=None):
    conn = connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


class Databases:
    """orch_<random> on the source and on the target cluster."""

    def __init__(self):
        self.name = "orch_" + uuid.uuid4().hex[:10]
        self.source = ADMIN % (SOURCE_PORT, self.name)
        self.target = ADMIN % (TARGET_PORT, self.name)
        for port in (SOURCE_PORT, TARGET_PORT):
            sql(ADMIN % (port, "postgres"), "CREATE DATABASE " + self.name)

    def drop(self):
        for port in (SOURCE_PORT, TARGET_PORT):
            sql(ADMIN % (port, "postgres"), "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)

    def state(self):
        return sql(self.target, "SELECT epoch, source_of_truth, phase, cutover_id FROM _molt_lms.state")[0]


@pytest.fixture
def dbs():
    d = Databases()
    yield d
    d.drop()


def call(url, method="GET", body=None, context=None, timeout=60):
    """(status, JSON answer) of one HTTP request."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text.decode(errors="replace")


class Orchestrator:
    """molt-lms-orchestrator as a child process on free ports."""

    def __init__(self, args, env=None, tls=False):
        self.port = free_port()
        self.metrics_port = free_port()
        self.args = [BINARY, "--listen", "127.0.0.1:%d" % self.port,
                     "--metrics-listen", "127.0.0.1:%d" % self.metrics_port] + args
        self.env = dict(os.environ, **(env or {}))
        self.scheme = "https" if tls else "http"
        self.context = None
        if tls:
            self.context = ssl.create_default_context(cafile=cert("ca.crt"))
            self.context.load_cert_chain(cert("client.crt"), cert("client.key"))
        os.makedirs(LOG_DIR, exist_ok=True)
        self.log_path = os.path.join(LOG_DIR, "orch-%d.log" % self.port)
        self.proc = None

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("orchestrator exited with %s:\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                return call("%s://127.0.0.1:%d/healthz" % (self.scheme, self.port), context=self.context,
                            timeout=2)[0] == 200
            except (OSError, ssl.SSLError):
                return False
        wait_for(up, 15, "the orchestrator to listen")
        return self

    def api(self, method, path, body=None, context=None):
        return call(self.url + path, method, body, context or self.context)

    def stop(self, sig=signal.SIGTERM):
        """Stop it; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.log.close()
        return rc

    def log_tail(self, n=40):
        with open(self.log_path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


@pytest.fixture
def orchestrators():
    """Start orchestrators with start(args); each must exit 0 on SIGTERM
    and leave no sanitizer report in its log."""
    started = []

    def start(args, **kw):
        o = Orchestrator(args, **kw).start()
        started.append(o)
        return o
    yield start
    problems = []
    for o in started:
        rc = o.stop()
        if rc not in (None, 0):
            problems.append("orchestrator exited with %s:\n%s" % (rc, o.log_tail()))
        text = o.log_text()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if marker in text:
                problems.append("sanitizer report (%s) in %s" % (marker, o.log_path))
    assert not problems, "\n".join(problems)


@pytest.fixture
def fakes():
    """Make fake proxies with make(name, **knobs); closed afterwards."""
    made = []

    def make(name, **kw):
        f = FakeProxy(name, **kw)
        made.append(f)
        return f
    yield make
    for f in made:
        f.close()


class Replicator:
    """Copies the source's _molt_lms.watermark row to the target while on
    (the target's to the source with reverse=True)."""

    def __init__(self, dbs, reverse=False):
        self.dbs = dbs
        self.reverse = reverse
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        src = connect(self.dbs.target if self.reverse else self.dbs.source)
        dst = connect(self.dbs.source if self.reverse else self.dbs.target)
        src.autocommit = dst.autocommit = True
        try:
            while not self.stop_ev.wait(0.02):
                with src.cursor() as cur:
                    cur.execute("SELECT token, written_at FROM _molt_lms.watermark WHERE id = 1")
                    row = cur.fetchone()
                if row:
                    with dst.cursor() as cur:
                        cur.execute("INSERT INTO _molt_lms.watermark VALUES (1, %s, %s) ON CONFLICT (id) "
                                    "DO UPDATE SET token = excluded.token, written_at = excluded.written_at", row)
        finally:
            src.close()
            dst.close()

    def stop(self):
        self.stop_ev.set()
        self.thread.join(5)
