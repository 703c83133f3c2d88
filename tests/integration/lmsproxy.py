"""Helpers for the LMS integration suite.

* TestEnv: where the test clusters, certificates, PostgreSQL binaries and the
  molt-lms build live (all overridable from the environment, see README.md).
* Proxy: one molt-lms subprocess on free loopback ports, with its stderr in a
  log file; Direct: the same interface pointed straight at the source
  database (LMS_IT_DIRECT=1), used to validate the test logic itself.
* PgRaw: a tiny PostgreSQL wire-protocol client (startup, cleartext/md5/SCRAM
  authentication, simple query, cancel) for checks libpq cannot express:
  SQLSTATEs of login failures, slow readers, raw SSLRequest handling.
"""

import base64
import ctypes
import hashlib
import hmac
import json
import os
import random
import re
import shlex
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
import weakref

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

# LMS_TEST_PORT_RANGE=19000-19299: a narrower range, when several runs share the machine
PORT_RANGE = tuple(int(x) for x in os.environ.get("LMS_TEST_PORT_RANGE", "19000-19999").split("-", 1))

ADMIN_USER, ADMIN_PASSWORD = "lms_admin", "lms-admin-pw"
APP_USER, APP_PASSWORD = "app", "app-pw"
APP_DB = "appdb"


def env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class TestEnv:
    """Static facts about the test installation."""

    __test__ = False  # not a pytest test class

    def __init__(self):
        self.repo_root = REPO_ROOT
        self.test_dir = os.environ.get("LMS_TEST_DIR") or "/tmp/lms-test"
        self.certs = os.environ.get("LMS_TEST_CERTS") or os.path.join(self.test_dir, "certs")
        self.source_port = int(os.environ.get("LMS_TEST_SOURCE_PORT") or 15432)
        self.target_port = int(os.environ.get("LMS_TEST_TARGET_PORT") or 15433)
        self.pgbin = (os.environ.get("PGBIN") or "/usr/lib/postgresql/15/bin").rstrip("/")
        self.builddir = os.path.abspath(os.environ.get("LMS_BUILDDIR") or REPO_ROOT)
        self.binary = os.path.join(self.builddir, "molt-lms")
        self.plugin_dir = os.path.join(self.builddir, "plugins", ".libs")
        self.direct = env_flag("LMS_IT_DIRECT")
        self.wrapper = shlex.split(os.environ.get("LMS_IT_WRAPPER", ""))
        default_scale = 10.0 if any("valgrind" in w for w in self.wrapper) else 1.0
        self.timeout_scale = float(os.environ.get("LMS_IT_TIMEOUT_SCALE") or default_scale)
        self.log_level = os.environ.get("LMS_IT_LOG_LEVEL") or "info"
        self.log_dir = os.environ.get("LMS_IT_LOGDIR") or os.path.join(self.test_dir, "it-logs")
        self.cluster_script = os.path.join(REPO_ROOT, "tests", "pg-cluster.sh")

    def cert(self, name):
        return os.path.join(self.certs, name)

    def source_url(self, db=APP_DB, host="127.0.0.1", query="sslmode=disable"):
        return "postgresql://%s:%s@%s:%d/%s?%s" % (
            ADMIN_USER, ADMIN_PASSWORD, host, self.source_port, db, query)

    def target_url(self, db=APP_DB, host="127.0.0.1", query="sslmode=disable"):
        return "postgresql://%s:%s@%s:%d/%s?%s" % (
            ADMIN_USER, ADMIN_PASSWORD, host, self.target_port, db, query)

    def t(self, seconds):
        """A timeout scaled for slow wrappers (valgrind)."""
        return seconds * self.timeout_scale

    def clean_env(self, **extra):
        """os.environ without libpq PG* settings or molt-lms settings."""
        e = {k: v for k, v in os.environ.items()
             if not (k.startswith("PG") or k.startswith("LMS_") or k.startswith("INIT_"))}
        e["PGBIN"] = self.pgbin
        e["PGCONNECT_TIMEOUT"] = "10"
        e.update({k: str(v) for k, v in extra.items()})
        return e

    def admin_connect(self, db=APP_DB, **kw):
        """Direct superuser connection to the source (not through the proxy)."""
        conn = register_conn(psycopg2.connect(
            host="127.0.0.1", port=self.source_port, user=ADMIN_USER, password=ADMIN_PASSWORD,
            dbname=db, sslmode="disable", connect_timeout=10, **kw))
        conn.autocommit = True
        return conn

    def port_of(self, side):
        return {"source": self.source_port, "target": self.target_port}[side]

    def direct_connect(self, side, user=ADMIN_USER, password=ADMIN_PASSWORD, db=APP_DB,
                       port=None, **kw):
        """Direct autocommit connection to "source" or "target" (not through the proxy);
        port overrides the side's port (a ScratchCluster)."""
        conn = register_conn(psycopg2.connect(
            host="127.0.0.1", port=port or self.port_of(side), user=user, password=password,
            dbname=db, sslmode="disable", connect_timeout=10, **kw))
        conn.autocommit = True
        return conn

    def target_admin_connect(self, db=APP_DB, **kw):
        """Direct superuser connection to the target (not through the proxy)."""
        return self.direct_connect("target", db=db, **kw)


# ---------------------------------------------------------------------------
# ports

_used_ports = set()


def port_is_free(port, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    """A port in PORT_RANGE nobody listens on and this run has not handed out."""
    candidates = list(range(PORT_RANGE[0], PORT_RANGE[1] + 1))
    random.shuffle(candidates)
    for p in candidates:
        if p in _used_ports:
            continue
        if port_is_free(p):
            _used_ports.add(p)
            return p
    for p in candidates:  # a narrow range (LMS_TEST_PORT_RANGE) ran out: reuse a free one
        if port_is_free(p):
            return p
    raise RuntimeError("no free port in %d-%d" % PORT_RANGE)


# ---------------------------------------------------------------------------
# process helpers

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: SIGKILL the child if the test runner dies (no orphaned proxies)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # pragma: no cover - best effort
        pass


def rss_kb(pid):
    """VmRSS of a process in kB (None when it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler:
    """Samples a process's VmRSS in a thread; .peak_kb is the maximum seen."""

    def __init__(self, pid, interval=0.02):
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            v = rss_kb(self.pid)
            if v is not None:
                self.peak_kb = max(self.peak_kb, v)
                self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        return False


def http_get(url, cafile=None, timeout=5.0):
    """(status, body) of a GET; HTTP errors are returned, not raised."""
    ctx = None
    if url.startswith("https:"):
        ctx = ssl.create_default_context(cafile=cafile)
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=ctx) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


_METRIC_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfINFNa]+)(\s+-?\d+)?$')


def parse_metrics(text):
    """Prometheus text format -> {(name, labels_str): float}. Raises on malformed lines."""
    out = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _METRIC_LINE.match(line)
        if not m:
            raise ValueError("malformed metrics line: %r" % raw)
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def metric_sum(metrics, name, label_filter=None):
    """Sum of all series of a metric name (optionally only those whose labels contain label_filter)."""
    total, seen = 0.0, False
    for (n, labels), v in metrics.items():
        if n == name and (label_filter is None or label_filter in labels):
            total += v
            seen = True
    return total if seen else None


# ---------------------------------------------------------------------------
# client-side watchdog: libpq has no read timeout, so a proxy that stops
# relaying would hang a test forever. Every psycopg2 connection made through
# Endpoint.connect is registered; Watchdog shuts their sockets down when it
# fires, which makes the blocked libpq call fail with an OperationalError.

_client_conns = weakref.WeakSet()


def register_conn(conn):
    _client_conns.add(conn)
    return conn


def shutdown_conn(conn):
    try:
        if conn.closed:
            return
        s = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            s.shutdown(socket.SHUT_RDWR)
        finally:
            s.close()
    except (OSError, psycopg2.Error):
        pass


class Watchdog:
    """After `seconds`, shut down the given connections (default: every
    registered client connection). .fired tells whether it went off."""

    def __init__(self, seconds, conns=None, what="test"):
        self.seconds = seconds
        self.conns = conns
        self.what = what
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self):
        self.fired = True
        for c in list(self.conns if self.conns is not None else _client_conns):
            shutdown_conn(c)

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        return False

    def message(self):
        return ("client watchdog: %s still blocked after %.0f s; its connections were shut down "
                "(the proxy stopped relaying?)" % (self.what, self.seconds))


# ---------------------------------------------------------------------------
# endpoints the tests talk to

class Endpoint:
    """Common interface of Proxy and Direct."""

    env = None
    host = "127.0.0.1"
    port = None
    pid = None
    metrics_url = None
    tls = False
    is_proxy = False

    def dsn_kwargs(self, user=APP_USER, password=APP_PASSWORD, dbname=APP_DB, **kw):
        d = dict(host=self.host, port=self.port, user=user, password=password, dbname=dbname,
                 connect_timeout=10)
        if self.tls:
            d.update(sslmode="verify-full", sslrootcert=self.env.cert("ca.crt"), host="localhost")
        d.update(kw)
        return d

    def connect(self, **kw):
        return register_conn(psycopg2.connect(**self.dsn_kwargs(**kw)))

    def libpq_env(self, user=APP_USER, password=APP_PASSWORD, dbname=APP_DB, **kw):
        """Environment for psql/pgbench aimed at this endpoint."""
        d = self.dsn_kwargs(user=user, password=password, dbname=dbname, **kw)
        names = dict(host="PGHOST", port="PGPORT", user="PGUSER", password="PGPASSWORD",
                     dbname="PGDATABASE", sslmode="PGSSLMODE", sslrootcert="PGSSLROOTCERT",
                     sslcert="PGSSLCERT", sslkey="PGSSLKEY", connect_timeout="PGCONNECT_TIMEOUT",
                     channel_binding="PGCHANNELBINDING")
        return self.env.clean_env(**{names[k]: v for k, v in d.items()})

    def metrics_text(self):
        status, body = http_get(self.metrics_url + "/metrics", cafile=self.env.cert("ca.crt"))
        if status != 200:
            raise AssertionError("GET /metrics returned %d: %s" % (status, body[:500]))
        return body

    def metrics(self):
        return parse_metrics(self.metrics_text())

    def metric(self, name, label_filter=None):
        """Sum of a metric's series (0 when absent)."""
        return metric_sum(self.metrics(), name, label_filter) or 0

    def wait_metric(self, name, label_filter=None, at_least=1, timeout=10.0):
        """Poll until the metric's sum reaches at_least (timeout is scaled);
        returns its last value (the caller asserts)."""
        last = [0]

        def ok():
            last[0] = self.metric(name, label_filter)
            return last[0] >= at_least
        wait_until(ok, self.env.t(timeout), interval=0.05)
        return last[0]

    def shadow_counts(self):
        """lms_shadow_requests_total by result, plus "mismatches" and "dropped"
        (lms_shadow_mismatches_total, lms_shadow_async_dropped_total)."""
        m = self.metrics()
        out = {r: metric_sum(m, "lms_shadow_requests_total", 'result="%s"' % r) or 0
               for r in ("match", "mismatch", "transient", "lost", "dropped", "setting", "local", "unchecked")}
        out["mismatches"] = metric_sum(m, "lms_shadow_mismatches_total") or 0
        out["async_dropped"] = metric_sum(m, "lms_shadow_async_dropped_total") or 0
        return out

    def api_mismatches(self):
        """GET /api/v1/mismatches (shadowing aggregates per fingerprint) as a dict."""
        status, body = http_get(self.metrics_url + "/api/v1/mismatches",
                                cafile=self.env.cert("ca.crt"))
        if status != 200:
            raise AssertionError("GET /api/v1/mismatches returned %d: %s" % (status, body[:500]))
        return json.loads(body)

    def fingerprint_stats(self, fingerprint):
        """The /api/v1/mismatches entry of one fingerprint (None if not tracked)."""
        for e in self.api_mismatches().get("fingerprints", []):
            if e.get("fingerprint") == fingerprint:
                return e
        return None

    def rss_kb(self):
        return rss_kb(self.pid) if self.pid else None

    def log_mark(self):
        return 0

    def log_since(self, mark):
        return ""


class Direct(Endpoint):
    """LMS_IT_DIRECT=1: the 'proxy' is the source database itself."""

    def __init__(self, env):
        self.env = env
        self.port = env.source_port
        self.name = "direct"

    def __repr__(self):
        return "<Direct 127.0.0.1:%d>" % self.port


class ProxyStartError(RuntimeError):
    pass


class Proxy(Endpoint):
    """One molt-lms process. Use start(), then stop() (which checks the exit status)."""

    is_proxy = True
    _seq = 0

    def __init__(self, env, name="proxy", tls=False, ssl_ca=False, init_source=None,
                 init_target=None, extra_args=(), shutdown_timeout=5, allow_plain=None,
                 extra_env=None, wrapper=(), shadow_mode="none", shadow_timeout=None,
                 mismatch_log=None, source_dialect="postgres"):
        self.env = env
        Proxy._seq += 1
        self.name = "%s-%d" % (name, Proxy._seq)
        self.tls = tls
        self.port = free_port()
        self.metrics_port = free_port()
        scheme = "https" if tls else "http"
        self.metrics_url = "%s://127.0.0.1:%d" % (scheme, self.metrics_port)
        args = [
            env.binary,
            "--listen", "127.0.0.1:%d" % self.port,
            "--metrics-listen", "127.0.0.1:%d" % self.metrics_port,
            "--plugin-dir", env.plugin_dir,
            "--source-dialect", source_dialect,
            "--shadow-mode", shadow_mode,
            "--init-source", init_source or env.source_url(),
            "--init-target", init_target or env.target_url(),
            "--shutdown-timeout", str(shutdown_timeout),
            "--log-level", env.log_level,
        ]
        if tls:
            args += ["--ssl-cert", env.cert("proxy.crt"), "--ssl-key", env.cert("proxy.key")]
            if ssl_ca:
                args += ["--ssl-ca", env.cert("ca.crt")]
        self.shadow_mode = shadow_mode
        # Shadowing proxies write their mismatch log next to their own log
        # (never the shared default mismatches.jsonl in the working directory).
        self.mismatch_log = mismatch_log
        if self.mismatch_log is None and shadow_mode != "none":
            self.mismatch_log = os.path.join(env.log_dir, "%s.%d.mismatches.jsonl"
                                             % (self.name, os.getpid()))
        if self.mismatch_log:
            for stale in [self.mismatch_log] + ["%s.%d" % (self.mismatch_log, i)
                                              for i in range(1, 10)]:
                if os.path.exists(stale):
                    os.unlink(stale)
        if self.mismatch_log is not None:
            args += ["--mismatch-log", self.mismatch_log]
        if shadow_timeout is not None:
            args += ["--shadow-timeout", str(shadow_timeout)]
        if allow_plain is None:
            allow_plain = not tls
        if allow_plain:
            args.append("--allow-tls-mode-disable")
        # "{metrics_port}" in an extra argument: this proxy's metrics port
        args += [a.replace("{metrics_port}", str(self.metrics_port)) for a in extra_args]
        self.args = env.wrapper + list(wrapper) + args
        self.extra_env = extra_env or {}
        os.makedirs(env.log_dir, exist_ok=True)
        self.log_path = os.path.join(env.log_dir, "%s.%d.log" % (self.name, os.getpid()))
        self.proc = None
        self.exit_code = None

    def __repr__(self):
        return "<Proxy %s 127.0.0.1:%d pid=%s>" % (self.name, self.port, self.pid)

    def start(self, ready_timeout=30.0):
        if not os.access(self.env.binary, os.X_OK):
            raise ProxyStartError("%s not found or not executable (set LMS_BUILDDIR, or "
                                  "LMS_IT_DIRECT=1 to test against the database)" % self.env.binary)
        self._log = open(self.log_path, "wb")
        self._log.write(("# %s\n" % " ".join(shlex.quote(a) for a in self.args)).encode())
        self._log.flush()
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     env=self.env.clean_env(**self.extra_env),
                                     cwd=self.env.log_dir, preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        deadline = time.monotonic() + self.env.t(ready_timeout)
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.exit_code = rc
                raise ProxyStartError("molt-lms exited with %d before becoming ready; log %s:\n%s"
                                      % (rc, self.log_path, self.log_tail()))
            try:
                status, _ = http_get(self.metrics_url + "/readyz", cafile=self.env.cert("ca.crt"),
                                     timeout=2)
                if status == 200:
                    return self
                last = "HTTP %d" % status
            except (OSError, urllib.error.URLError) as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill()
        raise ProxyStartError("molt-lms not ready after %.0fs (last /readyz: %s); log %s:\n%s"
                              % (ready_timeout, last, self.log_path, self.log_tail()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.exit_code

    def stop(self, timeout=10.0):
        """SIGTERM; returns the exit code, or None if it had to be killed after timeout."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait(self.env.t(timeout))
        if rc is None:
            self.kill()
        self._log.close()
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None:
            self.exit_code = self.proc.returncode

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.read_log().splitlines()[-n:])

    def log_mark(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, mark):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(mark)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def mismatch_files(self):
        """The mismatch log and its rotated files (path, path.1, ...) that exist."""
        if not self.mismatch_log:
            return []
        out = [self.mismatch_log] if os.path.exists(self.mismatch_log) else []
        i = 1
        while os.path.exists("%s.%d" % (self.mismatch_log, i)):
            out.append("%s.%d" % (self.mismatch_log, i))
            i += 1
        return out

    def mismatch_records(self):
        """Every line of the mismatch log (rotated files first), parsed as JSON."""
        recs = []
        for path in reversed(self.mismatch_files()):
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    try:
                        recs.append(json.loads(line))
                    except ValueError as e:
                        raise AssertionError("%s:%d is not JSON (%s): %r" % (path, n, e, line))
        return recs

    SANITIZER_PATTERNS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer",
                          "UndefinedBehaviorSanitizer", "runtime error:")

    def sanitizer_reports(self):
        log = self.read_log()
        return [p for p in self.SANITIZER_PATTERNS if p in log]


# ---------------------------------------------------------------------------
# psql / pgbench

def run_tool(env, endpoint, tool, args, timeout=120, user=APP_USER, password=APP_PASSWORD,
             dbname=APP_DB, input_text=None, **libpq):
    cmd = [os.path.join(env.pgbin, tool)] + list(args)
    return subprocess.run(cmd, env=endpoint.libpq_env(user=user, password=password, dbname=dbname,
                                                      **libpq),
                          input=input_text, capture_output=True, text=True,
                          timeout=env.t(timeout), cwd=env.log_dir)


# ---------------------------------------------------------------------------
# a small wire-protocol client

class PgServerError(Exception):
    """An ErrorResponse; .fields maps field codes ('C', 'M', 'S', ...) to text."""

    def __init__(self, fields):
        self.fields = fields
        super().__init__("%s %s: %s" % (fields.get("S"), fields.get("C"), fields.get("M")))

    @property
    def sqlstate(self):
        return self.fields.get("C")

    @property
    def message(self):
        return self.fields.get("M", "")


def _parse_fields(payload):
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


class Relay:
    """A TCP relay on 127.0.0.1:port to 127.0.0.1:upstream.  It can be cut
    (listener and every relayed connection closed) and restored on the same
    port (start again): a road to a database that drops.  It can also be
    frozen (nothing read or forwarded on any connection, the sockets left
    open: a server or network path that stops without closing) and
    thawed."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.port = free_port()
        self.socks = []
        self.lock = threading.Lock()
        self.listener = None
        self.flowing = threading.Event()
        self.flowing.set()

    def start(self):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self.listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()
        return self

    def _accept(self, ls):
        while True:
            try:
                a, _ = ls.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
                b.settimeout(None)
            except OSError:
                a.close()
                continue
            with self.lock:
                self.socks += [a, b]
            for src, dst in ((a, b), (b, a)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while self.flowing.wait():
                data = src.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def freeze(self):
        self.flowing.clear()

    def thaw(self):
        self.flowing.set()

    def cut(self):
        self.flowing.set()
        try:  # wakes the accept() blocked on it; close() alone would not end it
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class PgRaw:
    """Minimal PostgreSQL v3 frontend over a plain or TLS socket."""

    SSL_REQUEST = 80877103
    GSSENC_REQUEST = 80877104
    CANCEL_REQUEST = 80877102

    def __init__(self, host, port, timeout=10.0, rcvbuf=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.buf = bytearray()
        self.params = {}
        self.backend_key = None
        self.bytes_read = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- low level
    def send(self, data):
        self.sock.sendall(data)

    def send_msg(self, mtype, payload):
        self.send(mtype + struct.pack("!I", len(payload) + 4) + payload)

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.bytes_read += len(chunk)
            self.buf += chunk

    def read_byte(self):
        self._fill(1)
        b = bytes(self.buf[:1])
        del self.buf[:1]
        return b

    def read_msg(self):
        self._fill(5)
        mtype = bytes(self.buf[:1])
        (length,) = struct.unpack("!I", self.buf[1:5])
        self._fill(1 + length)
        payload = bytes(self.buf[5:1 + length])
        del self.buf[:1 + length]
        return mtype, payload

    # -- session setup
    def request_ssl(self):
        """Send SSLRequest; return the one-byte answer (b'S' or b'N')."""
        self.send(struct.pack("!II", 8, self.SSL_REQUEST))
        return self.read_byte()

    def request_gssenc(self):
        self.send(struct.pack("!II", 8, self.GSSENC_REQUEST))
        return self.read_byte()

    def wrap_tls(self, context, server_hostname):
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        return self.sock

    def startup(self, user, database, password=None, **params):
        body = struct.pack("!I", 196608)
        kv = dict(user=user, database=database, **params)
        for k, v in kv.items():
            body += k.encode() + b"\0" + str(v).encode() + b"\0"
        body += b"\0"
        self.send(struct.pack("!I", len(body) + 4) + body)
        scram = None
        while True:
            mtype, payload = self.read_msg()
            if mtype == b"E":
                raise PgServerError(_parse_fields(payload))
            if mtype == b"R":
                (code,) = struct.unpack("!I", payload[:4])
                if code == 0:
                    continue
                if code == 3:
                    self.send_msg(b"p", password.encode() + b"\0")
                elif code == 5:
                    salt = payload[4:8]
                    inner = hashlib.md5((password + user).encode()).hexdigest()
                    outer = hashlib.md5(inner.encode() + salt).hexdigest()
                    self.send_msg(b"p", b"md5" + outer.encode() + b"\0")
                elif code == 10:
                    mechs = [m for m in payload[4:].split(b"\0") if m]
                    if b"SCRAM-SHA-256" not in mechs:
                        raise RuntimeError("no SCRAM-SHA-256 in %r" % mechs)
                    scram = _Scram(password)
                    first = scram.client_first()
                    self.send_msg(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first)
                elif code == 11:
                    self.send_msg(b"p", scram.client_final(payload[4:]))
                elif code == 12:
                    scram.verify_server_final(payload[4:])
                else:
                    raise RuntimeError("unsupported authentication request %d" % code)
            elif mtype == b"S":
                k, v, _ = payload.split(b"\0", 2)
                self.params[k.decode()] = v.decode()
            elif mtype == b"K":
                self.backend_key = struct.unpack("!II", payload[:8])
            elif mtype == b"Z":
                return self
            elif mtype == b"N":
                continue
            else:
                raise RuntimeError("unexpected message %r during startup" % mtype)

    # -- queries
    def query(self, sql, on_row=None):
        """Simple query. Returns (rows, command_tags); rows are lists of bytes|None.
        With on_row, each DataRow payload is passed to it instead of being kept.
        Raises PgServerError for the first ErrorResponse (after reading ReadyForQuery)."""
        self.send_msg(b"Q", sql.encode() + b"\0")
        rows, tags, error = [], [], None
        while True:
            try:
                mtype, payload = self.read_msg()
            except ConnectionError:
                if error is not None and error.fields.get("S") == "FATAL":
                    raise error  # a FATAL error ends the session: no ReadyForQuery follows
                raise
            if mtype == b"D":
                if on_row is not None:
                    on_row(payload)
                else:
                    rows.append(_parse_datarow(payload))
            elif mtype == b"C":
                tags.append(payload.rstrip(b"\0").decode())
            elif mtype == b"E":
                error = error or PgServerError(_parse_fields(payload))
            elif mtype == b"Z":
                if error:
                    raise error
                return rows, tags
            # T (RowDescription), N, S, A, I: ignored

    def extended(self, statements):
        """Extended query protocol, pipelined: for each (sql, params) send Parse
        (unnamed), Bind (text parameters, None = NULL), Describe portal and
        Execute, then one Sync. Returns (rows, command_tags) over all statements;
        raises PgServerError for the first ErrorResponse (after ReadyForQuery)."""
        out = b""
        for sql, params in statements:
            out += self._msg(b"P", b"\0" + sql.encode() + b"\0" + struct.pack("!H", 0))
            out += self._bind("", "", params, ()) + self._msg(b"D", b"P\0")
            out += self._msg(b"E", b"\0" + struct.pack("!I", 0))
        self.send(out + self._msg(b"S", b""))
        rows, tags, _ = self._until_ready()
        return rows, tags

    def _until_ready(self):
        """Read up to ReadyForQuery: (rows, command_tags, row_descriptions);
        raises PgServerError for the first ErrorResponse (after ReadyForQuery)."""
        rows, tags, descs, error = [], [], [], None
        while True:
            mtype, payload = self.read_msg()
            if mtype == b"D":
                rows.append(_parse_datarow(payload))
            elif mtype == b"C":
                tags.append(payload.rstrip(b"\0").decode())
            elif mtype == b"T":
                descs.append(payload)
            elif mtype == b"E":
                error = error or PgServerError(_parse_fields(payload))
            elif mtype == b"Z":
                if error:
                    raise error
                return rows, tags, descs

    def prepare(self, name, sql):
        """Prepare as pgx does: Parse, Describe statement, Sync.  Returns the
        RowDescription payload (None for NoData)."""
        self.send(self._msg(b"P", name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!H", 0))
                  + self._msg(b"D", b"S" + name.encode() + b"\0") + self._msg(b"S", b""))
        _, _, descs = self._until_ready()
        return descs[0] if descs else None

    @classmethod
    def _bind(cls, portal, name, params, result_formats):
        """A Bind message: text parameters (None = NULL), result format codes."""
        bind = portal.encode() + b"\0" + name.encode() + b"\0" + struct.pack("!HH", 0, len(params))
        for p in params:
            if p is None:
                bind += struct.pack("!i", -1)
            else:
                v = str(p).encode()
                bind += struct.pack("!i", len(v)) + v
        bind += struct.pack("!H", len(result_formats))
        bind += b"".join(struct.pack("!H", f) for f in result_formats)
        return cls._msg(b"B", bind)

    @classmethod
    def bind_execute(cls, name, params, result_formats=(), portal=""):
        """Bind and Execute, without Describe: the bytes, for pipelining."""
        return (cls._bind(portal, name, params, result_formats)
                + cls._msg(b"E", portal.encode() + b"\0" + struct.pack("!I", 0)))

    def run_prepared(self, calls):
        """Run prepared statements as pgx does once it knows their columns:
        for each (name, params, result_formats) Bind and Execute, then one
        Sync.  Returns (rows, command_tags)."""
        self.send(b"".join(self.bind_execute(*c) for c in calls) + self._msg(b"S", b""))
        rows, tags, _ = self._until_ready()
        return rows, tags

    @staticmethod
    def _msg(mtype, payload):
        return mtype + struct.pack("!I", len(payload) + 4) + payload

    def terminate(self):
        try:
            self.send_msg(b"X", b"")
        except OSError:
            pass
        self.close()


def _parse_datarow(payload):
    (n,) = struct.unpack("!H", payload[:2])
    off, cols = 2, []
    for _ in range(n):
        (ln,) = struct.unpack("!i", payload[off:off + 4])
        off += 4
        if ln < 0:
            cols.append(None)
        else:
            cols.append(payload[off:off + ln])
            off += ln
    return cols


def send_cancel(host, port, pid, key, timeout=5.0):
    """Send a CancelRequest and wait for the server to close the connection."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(struct.pack("!IIII", 16, PgRaw.CANCEL_REQUEST, pid, key))
        try:
            s.recv(1)
        except OSError:
            pass


class _Scram:
    """SCRAM-SHA-256 client side (RFC 5802/7677), no channel binding."""

    def __init__(self, password):
        self.password = password.encode()
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = "n=,r=" + self.nonce

    def client_first(self):
        return ("n,," + self.first_bare).encode()

    def client_final(self, server_first):
        server_first = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        if not attrs["r"].startswith(self.nonce):
            raise RuntimeError("SCRAM nonce mismatch")
        salted = hashlib.pbkdf2_hmac("sha256", self.password, base64.b64decode(attrs["s"]),
                                     int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = "c=biws,r=" + attrs["r"]
        self.auth_message = ",".join([self.first_bare, server_first, without_proof]).encode()
        signature = hmac.new(stored_key, self.auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()

    def verify_server_final(self, server_final):
        attrs = dict(kv.split("=", 1) for kv in server_final.decode().split(","))
        expect = hmac.new(self.server_key, self.auth_message, hashlib.sha256).digest()
        if base64.b64decode(attrs["v"]) != expect:
            raise RuntimeError("SCRAM server signature mismatch")


def wait_until(pred, timeout, interval=0.05):
    """Poll pred() until truthy; returns its last value."""
    deadline = time.monotonic() + timeout
    v = pred()
    while not v and time.monotonic() < deadline:
        time.sleep(interval)
        v = pred()
    return v


def raise_nofile(minimum=4096):
    """Raise RLIMIT_NOFILE's soft limit to at least minimum (bounded by the hard limit)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = minimum if hard == resource.RLIM_INFINITY else min(max(soft, minimum), hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)



# ---------------------------------------------------------------------------
# a throwaway third cluster (tests that stop their target)

SCRATCH_PORTS = (26000, 27999)


class ScratchCluster:
    """A private PostgreSQL cluster under $LMS_TEST_DIR/scratch-<name> on a free
    port in 26000-27999, with the roles/database the proxy needs (lms_admin
    superuser, app, appdb owned by app). For tests that stop or kill a
    database: the shared source/target clusters are never touched. Runs as
    $LMS_TEST_OS_USER (default postgres) when the tests run as root."""

    __test__ = False

    def __init__(self, env, name):
        self.env = env
        self.name = name
        self.dir = os.path.join(env.test_dir, "scratch-" + name)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.logfile = os.path.join(self.dir, "postgresql.log")
        self.port = None
        self.os_user = os.environ.get("LMS_TEST_OS_USER", "postgres") if os.geteuid() == 0 else None

    def __repr__(self):
        return "<ScratchCluster %s 127.0.0.1:%s>" % (self.name, self.port)

    def _run(self, *cmd, timeout=120):
        cmd = [os.path.join(self.env.pgbin, cmd[0])] + list(cmd[1:])
        if self.os_user:
            cmd = ["runuser", "-u", self.os_user, "--"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=self.env.t(timeout),
                           cwd="/", env=self.env.clean_env())
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s%s%s" % (
                " ".join(cmd), r.returncode, r.stdout, r.stderr, self.log_tail()))
        return r

    def log_tail(self, n=20):
        try:
            with open(self.logfile, errors="replace") as f:
                return "\n--- %s:\n" % self.logfile + "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def url(self, db=APP_DB):
        return "postgresql://%s:%s@127.0.0.1:%d/%s?sslmode=disable" % (
            ADMIN_USER, ADMIN_PASSWORD, self.port, db)

    def create(self):
        """initdb, start, create roles and appdb."""
        import shutil
        if os.path.exists(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.data, mode=0o700)
        os.makedirs(self.sock)
        if self.os_user:
            import pwd
            pw = pwd.getpwnam(self.os_user)
            for d in (self.dir, self.data, self.sock):
                os.chown(d, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync",
                  "--no-instructions")
        candidates = list(range(SCRATCH_PORTS[0], SCRATCH_PORTS[1] + 1))
        random.shuffle(candidates)
        self.port = next(p for p in candidates if port_is_free(p))
        conf = ("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
                "max_connections = 100\nshared_buffers = 16MB\nfsync = off\n"
                "full_page_writes = off\n"
                "password_encryption = 'scram-sha-256'\nlog_line_prefix = '%%m [%%p] %%q%%u@%%d '\n"
                "timezone = 'UTC'\nlog_timezone = 'UTC'\n" % (self.port, self.sock))
        self._append(os.path.join(self.data, "postgresql.conf"), conf)
        self.start()
        conn = psycopg2.connect(host=self.sock, port=self.port, user="postgres", dbname="postgres")
        try:
            conn.autocommit = True
            cur = conn.cursor()
            cur.execute("create role %s superuser login password %%s" % ADMIN_USER,
                        (ADMIN_PASSWORD,))
            cur.execute("create role %s login password %%s" % APP_USER, (APP_PASSWORD,))
            cur.execute("create database %s owner %s" % (APP_DB, APP_USER))
        finally:
            conn.close()
        return self

    def _append(self, path, text):
        # the data directory belongs to the server account: write as it
        if self.os_user:
            subprocess.run(["runuser", "-u", self.os_user, "--", "sh", "-c",
                            'cat >> "$1"', "sh", path], input=text, text=True, check=True,
                           cwd="/")
        else:
            with open(path, "a") as f:
                f.write(text)

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "60", "start")

    def stop(self, mode="immediate"):
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def running(self):
        r = subprocess.run([os.path.join(self.env.pgbin, "pg_isready"), "-q", "-h", "127.0.0.1",
                            "-p", str(self.port)], capture_output=True, timeout=10)
        return r.returncode == 0

    def destroy(self):
        import shutil
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            try:
                self.stop("immediate")
            except RuntimeError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def connect(self, user=ADMIN_USER, password=ADMIN_PASSWORD, db=APP_DB, **kw):
        conn = register_conn(psycopg2.connect(
            host="127.0.0.1", port=self.port, user=user, password=password, dbname=db,
            sslmode="disable", connect_timeout=10, **kw))
        conn.autocommit = True
        return conn


# ---------------------------------------------------------------------------
# both databases, directly (shadowing tests)

class BothSides:
    """Direct autocommit connections to the source (as app) and the target (as
    lms_admin, like the proxy's shadow connection), both to appdb, bypassing the proxy, so that shadowing tests can set up
    identical (or deliberately different) data and check what each server holds.
    Tables made with table() are dropped on both by close(). target_port points
    "target" at another cluster (a ScratchCluster)."""

    __test__ = False

    def __init__(self, env, target_port=None):
        self.env = env
        # each side with the role the proxy uses there: the application's on
        # the source, INIT_TARGET's (lms_admin) on the target
        self.conns = {
            "source": env.direct_connect("source", user=APP_USER, password=APP_PASSWORD),
            "target": env.direct_connect("target", port=target_port),
        }
        self.tables = []
        self.cleanups = []

    def on_close(self, sql, side="both"):
        """Run sql on side(s) at close(), before the tables are dropped."""
        self.cleanups.append((sql, side))

    def sides(self, side):
        return ("source", "target") if side == "both" else (side,)

    def run(self, sql, args=None, side="both"):
        """Execute on one side ("source", "target") or on "both"."""
        for s in self.sides(side):
            self.conns[s].cursor().execute(sql, args)

    def rows(self, side, sql, args=None):
        cur = self.conns[side].cursor()
        cur.execute(sql, args)
        return cur.fetchall()

    def value(self, side, sql, args=None):
        return self.rows(side, sql, args)[0][0]

    def table(self, name, columns, side="both"):
        """CREATE TABLE name (columns) on side(s); dropped on both at the end."""
        if name not in self.tables:
            self.tables.append(name)
        self.run("create table %s (%s)" % (name, columns), side=side)
        return name

    def close(self):
        for s, conn in self.conns.items():
            if conn.closed:
                continue
            stmts = [sql for sql, side in reversed(self.cleanups) if s in self.sides(side)]
            stmts += ["drop table if exists %s cascade" % t for t in reversed(self.tables)]
            for sql in stmts:
                try:
                    conn.cursor().execute(sql)
                except psycopg2.Error:
                    pass
            conn.close()


class TargetLock:
    """ACCESS EXCLUSIVE lock on a table, held by a direct target connection
    until release() (or, as a safety net, after max_seconds)."""

    def __init__(self, env, table, max_seconds):
        self.env = env
        self.table = table
        self.conn = env.target_admin_connect()
        self.conn.autocommit = False
        self.conn.cursor().execute("lock table %s in access exclusive mode" % table)
        self.since = time.monotonic()
        self._lock = threading.Lock()
        self._timer = threading.Timer(max_seconds, self.release)
        self._timer.daemon = True
        self._timer.start()

    def release(self):
        with self._lock:
            if not self.conn.closed:
                self.conn.rollback()
                self.conn.close()
        self._timer.cancel()

    def held(self):
        return time.monotonic() - self.since

    def waiters(self):
        """Target backends waiting for this table's lock (the proxy's shadow)."""
        c = self.env.target_admin_connect()
        try:
            cur = c.cursor()
            cur.execute("select count(*) from pg_locks where relation = %s::regclass "
                        "and not granted", (self.table,))
            return cur.fetchone()[0]
        finally:
            c.close()
