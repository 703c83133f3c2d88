"""Mutual TLS on the orchestrator API and towards the proxies, and how
bad settings are reported."""

import json
import os
import ssl
import subprocess
import urllib.request

import pytest

from conftest import BINARY, CERTS, cert, call

TLS_ENV = {"ORCH_CA_TLS_CERT": cert("ca.crt"), "ORCH_TLS_CERT": cert("proxy.crt"),
           "ORCH_TLS_KEY": cert("proxy.key")}


@pytest.fixture(scope="module")
def orch_cert(tmp_path_factory):
    """A certificate for both ends of the orchestrator's TLS: server (its
    API) and client (calling proxies' admin APIs), signed by the test CA."""
    d = tmp_path_factory.mktemp("orch-cert")
    key, csr, crt, ext = (str(d / n) for n in ("orch.key", "orch.csr", "orch.crt", "ext.cnf"))
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", cert("ca.crt"), "-CAkey", cert("ca.key"),
                    "-CAcreateserial", "-CAserial", str(d / "ca.srl"), "-days", "2", "-out", crt,
                    "-extfile", ext], check=True, capture_output=True)
    return crt, key


def ctx(client=None):
    c = ssl.create_default_context(cafile=cert("ca.crt"))
    if client:
        c.load_cert_chain(cert(client + ".crt"), cert(client + ".key"))
    return c


def test_mutual_tls(orchestrators, dbs, fakes, orch_cert):
    crt, key = orch_cert
    # the proxy's admin API wants a client certificate too
    proxy = fakes("lms-tls", tls=(cert("proxy.crt"), cert("proxy.key"), cert("ca.crt")))
    env = dict(TLS_ENV, ORCH_TLS_CERT=crt, ORCH_TLS_KEY=key)
    o = orchestrators(["--crdb-url", dbs.target, "--lms-addresses", proxy.url], env=env, tls=True)
    code, doc = o.api("POST", "/api/v1/initialize", context=ctx("client"))
    assert code == 200, doc

    code, doc = call(o.url + "/api/v1/status", context=ctx())
    assert code == 401 and "client certificate" in doc["error"]
    with pytest.raises((ssl.SSLError, OSError)):
        call(o.url + "/api/v1/status", context=ctx("other-client"))
    # /healthz needs no certificate (probes cannot present one)
    assert call(o.url + "/healthz", context=ctx())[0] == 200
    text = urllib.request.urlopen("https://127.0.0.1:%d/metrics" % o.metrics_port, context=ctx(),
                                  timeout=10).read().decode()
    assert "lms_orchestrator_state_epoch 1" in text

    code, doc = o.api("POST", "/api/v1/cutover/consistent/begin", {}, context=ctx("client"))
    assert code == 200, doc
    assert proxy.posted("/api/v1/state")[-1]["phase"] == "paused"
    assert o.api("POST", "/api/v1/cutover/consistent/abort", {}, context=ctx("client"))[0] == 200


def test_proxy_with_a_certificate_from_another_ca_is_refused(orchestrators, dbs, fakes, orch_cert):
    crt, key = orch_cert
    proxy = fakes("lms-wrong", tls=(cert("other-client.crt"), cert("other-client.key"), cert("ca.crt")))
    env = dict(TLS_ENV, ORCH_TLS_CERT=crt, ORCH_TLS_KEY=key)
    o = orchestrators(["--crdb-url", dbs.target, "--lms-addresses", proxy.url], env=env, tls=True)
    assert o.api("POST", "/api/v1/initialize", context=ctx("client"))[0] == 200
    code, doc = o.api("POST", "/api/v1/cutover/consistent/begin", {}, context=ctx("client"))
    assert code == 502 and "TLS" in doc["error"], doc
    assert not proxy.posted("/api/v1/state")
    assert o.api("POST", "/api/v1/cutover/consistent/abort", {}, context=ctx("client"))[0] == 200


def run(args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_") and k not in ("CRDB_URL", "LMS_URL")}
    e.update(env or {})
    return subprocess.run([BINARY] + args, env=e, capture_output=True, text=True, timeout=30)


def test_settings_errors(tmp_path):
    r = run(["--allow-tls-mode-disable"])
    assert r.returncode == 2 and "CRDB_URL is required" in r.stderr
    r = run(["--crdb-url", "postgresql://x@127.0.0.1:1/x"])
    assert r.returncode == 2 and "ORCH_TLS_CERT" in r.stderr and "--allow-tls-mode-disable" in r.stderr
    r = run(["--crdb-url", "x", "--allow-tls-mode-disable", "--drain-timeout", "soon"])
    assert r.returncode == 2 and "--drain-timeout" in r.stderr and "'soon'" in r.stderr and "seconds" in r.stderr
    r = run(["--crdb-url", "x", "--allow-tls-mode-disable"], {"ORCH_LMS_ADDRESSES": "10.0.0.1:9044"})
    assert r.returncode == 2 and "'10.0.0.1:9044'" in r.stderr and "http://HOST:PORT" in r.stderr
    r = run(["--crdb-url", "x", "--tls-cert", cert("proxy.crt"), "--tls-key", cert("proxy.key")])
    assert r.returncode == 2 and "ORCH_CA_TLS_CERT" in r.stderr
    r = run(["--crdb-url", "x", "--tls-cert", cert("ca.crt"), "--tls-key", cert("proxy.key"),
             "--tls-ca-cert", cert("ca.crt"), "--listen", "127.0.0.1:1"])
    assert r.returncode == 2 and "ORCH_TLS_KEY" in r.stderr, r.stderr
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"CRDB_URL": "x", "allowTLSModeDisable": True, "sourceDialect": "oracle"}))
    r = run(["--config", str(cfg)])
    assert r.returncode == 2 and "sourceDialect" in r.stderr and "'oracle'" in r.stderr and "postgres" in r.stderr
    # the environment wins over the file, flags over the environment
    r = run(["--config", str(cfg)], {"ORCH_SOURCE_DIALECT": "mysql", "ORCH_DRAIN_TIMEOUT": "0"})
    assert r.returncode == 2 and "ORCH_DRAIN_TIMEOUT" in r.stderr
    cfg.write_text(json.dumps({"CRDB_URL": "x", "drainTimout": 3}))
    r = run(["--config", str(cfg)])
    assert r.returncode == 2 and "unknown key 'drainTimout'" in r.stderr
    r = run(["--help"])
    assert r.returncode == 0 and "--lms-addresses" in r.stdout and "ORCH_CA_TLS_CERT" in r.stdout
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("molt-lms-orchestrator ")


def test_no_password_in_logs(orchestrators, dbs):
    o = orchestrators(["--crdb-url", dbs.target, "--allow-tls-mode-disable", "--log-level", "debug",
                       "--lms-url", "postgresql://app:app-pw@127.0.0.1:1/appdb?connect_timeout=1"])
    assert o.api("POST", "/api/v1/initialize")[0] == 200
    code, status = o.api("GET", "/api/v1/status")
    assert code == 200 and status["lms_probe"]["ok"] is False
    assert "app-pw" not in json.dumps(status)
    text = o.log_text()
    assert "lms-admin-pw" not in text and "app-pw" not in text
