"""13. Command line / configuration errors and informational flags."""

import json
import os
import re
import socket
import subprocess

import pytest

from lmsproxy import free_port


@pytest.fixture
def lms(clusters):
    env = clusters
    if env.direct:
        pytest.skip("needs molt-lms (LMS_IT_DIRECT=1)")
    assert os.access(env.binary, os.X_OK), "%s is not built" % env.binary

    def run(*args, base=True, timeout=20, extra_env=None):
        argv = list(env.wrapper) + [env.binary]
        if base:
            argv += ["--listen", "127.0.0.1:%d" % free_port(),
                     "--metrics-listen", "127.0.0.1:%d" % free_port(),
                     "--plugin-dir", env.plugin_dir,
                     "--init-source", env.source_url(), "--init-target", env.target_url()]
        argv += list(args)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=env.t(timeout),
                           env=env.clean_env(**(extra_env or {})), cwd=env.log_dir)
        r.output = r.stdout + r.stderr
        return r
    return run


def test_help(lms):
    r = lms("--help", base=False)
    assert r.returncode == 0, r.output
    for flag in ("--listen", "--metrics-listen", "--source-dialect", "--shadow-mode",
                 "--init-source", "--init-target", "--ssl-cert", "--ssl-key", "--ssl-ca",
                 "--allow-tls-mode-disable", "--check-config", "--version"):
        assert flag in r.stdout, flag


def test_version(lms):
    r = lms("--version", base=False)
    assert r.returncode == 0, r.output
    assert re.search(r"molt-lms\s+v?\d+\.\d+\.\d+", r.stdout), r.output


def test_no_tls_refuses_to_start(lms):
    r = lms("--source-dialect", "postgres", "--shadow-mode", "none")
    assert r.returncode == 2, r.output
    assert "LMS_SSL_CERT" in r.output, r.output


def test_bad_shadow_mode(lms):
    r = lms("--source-dialect", "postgres", "--shadow-mode", "bogus", "--allow-tls-mode-disable")
    assert r.returncode == 2, r.output
    assert "bogus" in r.output, r.output
    for allowed in ("none", "async", "sync", "strict-sync"):
        assert allowed in r.output, (allowed, r.output)


def test_bad_shadow_mode_env(lms):
    r = lms("--source-dialect", "postgres", "--allow-tls-mode-disable",
            extra_env={"LMS_SHADOW_MODE": "bogus"})
    assert r.returncode == 2, r.output
    assert "bogus" in r.output and "LMS_SHADOW_MODE" in r.output, r.output


def test_unknown_source_dialect(lms, lms_env):
    r = lms("--source-dialect", "nosuch", "--shadow-mode", "none", "--allow-tls-mode-disable")
    assert r.returncode != 0, r.output
    assert os.path.join(lms_env.plugin_dir, "nosuch") in r.output, \
        "message does not name the plugin path tried: %s" % r.output


def test_missing_plugin_dir(lms, tmp_path):
    empty = str(tmp_path)
    r = lms("--source-dialect", "postgres", "--shadow-mode", "none", "--allow-tls-mode-disable",
            "--plugin-dir", empty)
    assert r.returncode != 0, r.output
    assert os.path.join(empty, "postgres") in r.output, r.output


def test_check_config_ok(lms):
    r = lms("--source-dialect", "postgres", "--shadow-mode", "none", "--allow-tls-mode-disable",
            "--check-config")
    assert r.returncode == 0, r.output


def test_check_config_config_file(lms, lms_env, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"INIT_SOURCE": lms_env.source_url(),
                               "INIT_TARGET": lms_env.target_url(),
                               "sourceDialect": "postgres", "shadowMode": "none"}))
    r = lms("--config", str(cfg), "--allow-tls-mode-disable", "--check-config",
            "--plugin-dir", lms_env.plugin_dir, base=False)
    assert r.returncode == 0, r.output


def test_check_config_wrong_port(lms, lms_env):
    port = free_port()  # nothing listens there
    bad = "postgresql://lms_admin:lms-admin-pw@127.0.0.1:%d/appdb?sslmode=disable" % port
    r = lms("--source-dialect", "postgres", "--shadow-mode", "none", "--allow-tls-mode-disable",
            "--check-config", "--init-source", bad)
    assert r.returncode != 0, r.output
    named = ("127.0.0.1:%d" % port in r.output
             or re.search(r'127\.0\.0\.1"?,? port %d' % port, r.output))
    assert named, "host:port not named: %s" % r.output


def test_check_config_wrong_password(lms, lms_env):
    bad = "postgresql://lms_admin:wrong@127.0.0.1:%d/appdb?sslmode=disable" % lms_env.source_port
    r = lms("--source-dialect", "postgres", "--shadow-mode", "none", "--allow-tls-mode-disable",
            "--check-config", "--init-source", bad)
    assert r.returncode != 0, r.output
    assert "password authentication failed" in r.output, r.output
    assert "wrong" not in r.output.replace("wrong password", ""), \
        "the password from the URL leaks into the output: %s" % r.output


def test_listen_port_in_use(lms):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    port = free_port()
    s.bind(("127.0.0.1", port))
    s.listen(1)
    try:
        r = lms("--source-dialect", "postgres", "--shadow-mode", "none",
                "--allow-tls-mode-disable", "--listen", "127.0.0.1:%d" % port, timeout=10)
        assert r.returncode != 0, r.output
        assert str(port) in r.output, r.output
    finally:
        s.close()
