"""Fixtures for the molt-lms-cli tests: the binary, the test certificates,
fake orchestrators (plain and mutual TLS) and a way to run the CLI."""

import os
import subprocess

import pytest

from fakeorch import FakeOrchestrator

HERE = os.path.dirname(os.path.abspath(__file__))
BUILDDIR = os.environ.get("LMS_BUILDDIR", os.path.join(HERE, "..", ".."))
CLI = os.path.join(BUILDDIR, "molt-lms-cli")
CERTS = os.environ.get("LMS_TEST_CERTS") or os.path.join(
    os.environ.get("LMS_TEST_DIR", "/tmp/lms-test"), "certs")
# Every CLI run must end well within this (a hang is a failure, not a stall).
RUN_LIMIT = 20


def cert(name):
    return os.path.join(CERTS, name)


def clean_env(**extra):
    """The environment without CLI_* settings or HTTP proxies, plus EXTRA."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CLI_") and k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update(extra)
    return env


# What AddressSanitizer, LeakSanitizer and UBSan print (an --enable-sanitizers build).
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def assert_no_sanitizer_report(err):
    for marker in SANITIZER_REPORTS:
        assert marker not in err, err


class Result:
    def __init__(self, proc, out, err):
        self.rc = proc.returncode
        self.out = out
        self.err = err
        assert_no_sanitizer_report(err)

    def __repr__(self):
        return f"rc={self.rc}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run(args, url=None, env=None, timeout=RUN_LIMIT):
    """Run molt-lms-cli ARGS (against URL if given) and return its Result."""
    cmd = [CLI] + list(args)
    if url:
        cmd += ["--orchestrator-url", url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env if env is not None else clean_env(), text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"molt-lms-cli {args} did not end in {timeout} s:\n{out}\n{err}")
    return Result(proc, out, err)


def start(args, url=None, env=None):
    """Start molt-lms-cli ARGS in the background; returns the Popen."""
    cmd = [CLI] + list(args)
    if url:
        cmd += ["--orchestrator-url", url]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env if env is not None else clean_env(), text=True)


@pytest.fixture(scope="session", autouse=True)
def _built():
    if not os.access(CLI, os.X_OK):
        pytest.exit(f"{CLI} is not built (run make, or set LMS_BUILDDIR)", 1)
    if not os.path.exists(cert("ca.crt")):
        pytest.exit(f"no test certificates in {CERTS} (tests/certs/gen-certs.sh {CERTS})", 1)


@pytest.fixture
def orch():
    fake = FakeOrchestrator()
    yield fake
    fake.close()


@pytest.fixture
def orch_tls():
    """HTTPS with mutual TLS: a client certificate signed by ca.crt is required."""
    fake = FakeOrchestrator(cert=cert("proxy.crt"), key=cert("proxy.key"), ca=cert("ca.crt"))
    yield fake
    fake.close()


def tls_args(ca="ca.crt", client="client"):
    args = ["--tls-ca-cert", cert(ca)]
    if client:
        args += ["--tls-client-cert", cert(client + ".crt"),
                 "--tls-client-key", cert(client + ".key")]
    return args
