"""pytest fixtures for the LMS integration suite (see README.md)."""

import faulthandler
import os
import subprocess
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lmsproxy import (BothSides, Direct, Proxy, ProxyStartError, ScratchCluster, TestEnv,  # noqa: E402
                      Watchdog, raise_nofile)

ENV = TestEnv()

# Test 11 opens 1000 connections; every proxy started from here inherits this.
raise_nofile(4096)

# Proxies alive right now: their log lines are attached to failing tests.
_live = []


def pytest_report_header(config):
    if ENV.direct:
        return "LMS integration: DIRECT mode (LMS_IT_DIRECT=1) - no proxy, source at 127.0.0.1:%d" % (
            ENV.source_port)
    return "LMS integration: proxy %s, plugins %s, logs %s%s" % (
        ENV.binary, ENV.plugin_dir, ENV.log_dir,
        (", wrapper: " + " ".join(ENV.wrapper)) if ENV.wrapper else "")


@pytest.fixture(scope="session")
def lms_env():
    return ENV


@pytest.fixture(scope="session")
def clusters(lms_env):
    """Both test clusters are up (tests/pg-cluster.sh start is idempotent)."""
    r = subprocess.run([lms_env.cluster_script, "start"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, "pg-cluster.sh start failed:\n%s%s" % (r.stdout, r.stderr)
    return lms_env


def _stop_checked(p):
    """Stop a proxy; return a list of problems (empty when it exited 0 cleanly)."""
    problems = []
    if p.proc is None or getattr(p, "start_failed", False):
        return problems
    was_running = p.running()
    rc = p.stop(timeout=10)
    if rc is None:
        problems.append("%s did not exit within 10 s of SIGTERM (killed)" % p.name)
    elif rc != 0:
        problems.append("%s exited with status %d (%s)" % (
            p.name, rc, "after SIGTERM" if was_running else "on its own"))
    san = p.sanitizer_reports()
    if san:
        problems.append("%s log contains sanitizer reports: %s" % (p.name, ", ".join(san)))
    if problems:
        problems.append("log %s, last lines:\n%s" % (p.log_path, p.log_tail(30)))
    return problems


def _start(p):
    _live.append(p)
    try:
        p.start()
    except ProxyStartError:
        p.start_failed = True
        raise
    return p


@pytest.fixture(scope="session")
def proxy(clusters):
    """The shared proxy: plaintext listener (--allow-tls-mode-disable), INIT_SOURCE
    without TLS. In direct mode: the source database itself."""
    if clusters.direct:
        yield Direct(clusters)
        return
    p = Proxy(clusters, name="main")
    _start(p)
    yield p
    _live.remove(p)
    problems = _stop_checked(p)
    assert not problems, "\n".join(problems)


@pytest.fixture
def proxy_factory(clusters):
    """Start extra proxies with custom flags: proxy_factory(tls=True, ...). Each is
    stopped with SIGTERM at the end of the test and must exit 0 within 10 s."""
    if clusters.direct:
        pytest.skip("needs molt-lms (LMS_IT_DIRECT=1 runs against the database only)")
    started = []

    def make(**kw):
        p = Proxy(clusters, **kw)
        started.append(p)
        return _start(p)

    yield make
    problems = []
    for p in started:
        if p in _live:
            _live.remove(p)
        problems += _stop_checked(p)
    assert not problems, "\n".join(problems)


@pytest.fixture
def admin(clusters):
    """Direct superuser connection to the source (autocommit), bypassing the proxy."""
    conn = clusters.admin_connect()
    yield conn
    conn.close()


@pytest.fixture
def sides(clusters):
    """BothSides: direct connections (as app) to the source and the target;
    tables made with sides.table() are dropped on both afterwards."""
    b = BothSides(clusters)
    yield b
    b.close()


@pytest.fixture(scope="module")
def scratch_cluster(clusters):
    """A private third cluster (roles and appdb like the others) that a test may
    stop and start at will; removed after the module. See ScratchCluster."""
    c = ScratchCluster(clusters, "%d-%s" % (os.getpid(), uuid.uuid4().hex[:6]))
    try:
        c.create()
    except Exception:
        c.destroy()
        raise
    yield c
    c.destroy()


@pytest.fixture
def uniq():
    """A unique identifier for tables and channels of one test."""
    return "it_" + uuid.uuid4().hex[:12]


@pytest.fixture(autouse=True)
def _per_test_guard(request):
    """Time limits, so that a proxy that stops relaying fails a test instead of
    hanging make check:
    - after LMS_IT_TEST_TIMEOUT s (default 90) every psycopg2 connection the test
      opened is shut down, so blocked libpq calls fail;
    - 60 s later the whole run is aborted with a traceback dump (hang-*.txt).
    Also records log offsets so that a failure shows what the proxies logged."""
    limit = ENV.t(float(os.environ.get("LMS_IT_TEST_TIMEOUT") or 90))
    os.makedirs(ENV.log_dir, exist_ok=True)
    hang = open(os.path.join(ENV.log_dir, "hang-%d.txt" % os.getpid()), "w")
    faulthandler.dump_traceback_later(limit + 60, exit=True, file=hang)
    request.node._lms_marks = {id(p): p.log_mark() for p in _live}
    wd = Watchdog(limit, what=request.node.nodeid)
    request.node._lms_watchdog = wd
    with wd:
        yield
    faulthandler.cancel_dump_traceback_later()
    hang.close()
    os.unlink(hang.name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        wd = getattr(item, "_lms_watchdog", None)
        if wd is not None and wd.fired:
            rep.sections.append(("watchdog", wd.message()))
        marks = getattr(item, "_lms_marks", {})
        for p in list(_live):
            text = p.log_since(marks.get(id(p), 0))
            if len(text) > 12000:
                text = "...\n" + text[-12000:]
            rep.sections.append(("molt-lms log %s (%s) during this test" % (p.name, p.log_path),
                                 text or "(nothing logged)"))


# ---------------------------------------------------------------------------
# MySQL (test_50_mysql*.py): a MariaDB server from tests/mysql-cluster.sh and
# proxies with --source-dialect mysql.  The PostgreSQL clusters still run:
# the target holds the coordination state.

@pytest.fixture(scope="session")
def mysql_server(clusters):
    """The throwaway MariaDB (tests/mysql-cluster.sh start is idempotent)."""
    from mysqlraw import MysqlEnv
    return MysqlEnv(clusters.test_dir).start()


@pytest.fixture(scope="session")
def mysql_proxy(clusters, mysql_server):
    """The shared MySQL proxy: plaintext listener, INIT_SOURCE without TLS."""
    if clusters.direct:
        pytest.skip("needs molt-lms (LMS_IT_DIRECT=1 runs against PostgreSQL only)")
    p = Proxy(clusters, name="mysql", source_dialect="mysql", init_source=mysql_server.url())
    _start(p)
    yield p
    _live.remove(p)
    problems = _stop_checked(p)
    assert not problems, "\n".join(problems)
