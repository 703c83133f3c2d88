"""9. TLS: client-to-proxy (server cert, required TLS, client certificates)
and proxy-to-source (INIT_SOURCE sslmode=verify-full)."""

import re
import ssl
import subprocess

import psycopg2
import pytest

from lmsproxy import APP_DB, APP_PASSWORD, APP_USER, PgRaw, PgServerError, http_get, run_tool


def backend_ssl(conn):
    cur = conn.cursor()
    cur.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
    return cur.fetchone()[0]


def tls_source_url(env, rootcert):
    return env.source_url(host="localhost",
                          query="sslmode=verify-full&sslrootcert=%s" % env.cert(rootcert))


def pem_to_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


@pytest.fixture
def tls_proxy(lms_env, proxy_factory):
    """Client TLS with the proxy's own certificate; backend leg without TLS."""
    return proxy_factory(name="tls", tls=True)


def test_verify_full_psycopg2(lms_env, tls_proxy):
    conn = tls_proxy.connect()  # sslmode=verify-full, sslrootcert=ca.crt, host=localhost
    try:
        assert conn.info.ssl_in_use
        assert conn.info.ssl_attribute("protocol") in ("TLSv1.2", "TLSv1.3")
        # pg_stat_ssl describes the proxy->source connection: plaintext here
        assert backend_ssl(conn) is False
    finally:
        conn.close()


def test_verify_full_psql(lms_env, tls_proxy):
    r = run_tool(lms_env, tls_proxy, "psql",
                 ["-X", "-At", "-c", "select 'over tls', ssl from pg_stat_ssl "
                                     "where pid = pg_backend_pid()"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "over tls|f"


def test_proxy_presents_its_own_certificate(lms_env, tls_proxy):
    ctx = ssl.create_default_context(cafile=lms_env.cert("ca.crt"))
    with PgRaw("localhost", tls_proxy.port) as c:
        assert c.request_ssl() == b"S"
        s = c.wrap_tls(ctx, "localhost")
        assert s.getpeercert(binary_form=True) == pem_to_der(lms_env.cert("proxy.crt"))
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        rows, _ = c.query("select 1")
        assert rows == [[b"1"]]
        c.terminate()


def test_wrong_ca_rejected_by_client(lms_env, tls_proxy):
    with pytest.raises(psycopg2.OperationalError) as ei:
        tls_proxy.connect(sslrootcert=lms_env.cert("other-ca.crt"))
    assert "certificate verify failed" in str(ei.value)


def test_plaintext_client_refused(lms_env, tls_proxy):
    # raw: a startup packet without SSLRequest gets a FATAL 28000 error
    with PgRaw("127.0.0.1", tls_proxy.port) as c:
        with pytest.raises(PgServerError) as ei:
            c.startup(APP_USER, APP_DB, APP_PASSWORD)
    assert ei.value.sqlstate == "28000", ei.value.fields
    assert re.search(r"sslmode|TLS|SSL", ei.value.message), ei.value.fields
    # libpq with sslmode=disable sees the message
    with pytest.raises(psycopg2.OperationalError) as ei2:
        tls_proxy.connect(sslmode="disable", host="127.0.0.1")
    assert re.search(r"sslmode=require|TLS|SSL", str(ei2.value)), str(ei2.value)
    # sslmode=prefer (libpq's default) upgrades to TLS and works
    conn = tls_proxy.connect(sslmode="prefer")
    assert conn.info.ssl_in_use
    conn.close()


def test_metrics_over_https(lms_env, tls_proxy):
    status, body = http_get(tls_proxy.metrics_url + "/healthz", cafile=lms_env.cert("ca.crt"))
    assert status == 200
    status, body = http_get(tls_proxy.metrics_url + "/metrics", cafile=lms_env.cert("ca.crt"))
    assert status == 200 and "lms_connections_total" in body
    # plain http to the HTTPS port does not get the metrics
    try:
        st, _ = http_get(tls_proxy.metrics_url.replace("https:", "http:") + "/metrics", timeout=3)
    except Exception:  # connection reset / bad status line: fine
        st = None
    assert st != 200


def test_client_certificates(lms_env, proxy_factory):
    """--ssl-ca: clients need a certificate signed by that CA."""
    p = proxy_factory(name="mtls", tls=True, ssl_ca=True)
    with pytest.raises(psycopg2.OperationalError):
        c = p.connect()
        try:  # TLS 1.3: a missing client certificate may surface on the first read
            c.cursor().execute("select 1")
        finally:
            c.close()
    with pytest.raises(psycopg2.OperationalError):
        c = p.connect(sslcert=lms_env.cert("other-client.crt"),
                      sslkey=lms_env.cert("other-client.key"))
        try:
            c.cursor().execute("select 1")
        finally:
            c.close()
    conn = p.connect(sslcert=lms_env.cert("client.crt"), sslkey=lms_env.cert("client.key"))
    try:
        assert conn.info.ssl_in_use
        cur = conn.cursor()
        cur.execute("select current_user")
        assert cur.fetchone()[0] == "app"
    finally:
        conn.close()
    r = run_tool(lms_env, p, "psql", ["-X", "-At", "-c", "select current_user"],
                 sslcert=lms_env.cert("client.crt"), sslkey=lms_env.cert("client.key"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "app"


@pytest.fixture
def tls_both_legs(lms_env, proxy_factory):
    """TLS from the client (verify-full) and to the source (INIT_SOURCE verify-full)."""
    return proxy_factory(name="tls2", tls=True, init_source=tls_source_url(lms_env, "ca.crt"))


@pytest.mark.parametrize("user,password", [("app_md5", "md5-pw"), ("app_clear", "clear-pw")])
def test_tls_both_legs_non_scram(tls_both_legs, user, password):
    conn = tls_both_legs.connect(user=user, password=password)
    try:
        assert conn.info.ssl_in_use
        assert backend_ssl(conn) is True
    finally:
        conn.close()


@pytest.mark.parametrize("user", ["app", "app_md5", "app_clear"])
def test_tls_both_legs_wrong_password(tls_both_legs, user):
    """The source's FATAL arrives over its TLS connection and must be relayed."""
    with pytest.raises(psycopg2.OperationalError) as ei:
        tls_both_legs.connect(user=user, password="wrong", channel_binding="disable")
    assert 'password authentication failed for user "%s"' % user in str(ei.value), str(ei.value)


def test_tls_both_legs_scram_default_libpq(lms_env, tls_both_legs):
    """SCRAM user, libpq defaults (channel_binding=prefer), TLS on both legs.
    The client's channel binding would be to the proxy's certificate, so a
    relaying proxy cannot pass it on (a documented limitation until LMS
    terminates SCRAM itself). What matters: the client is told why and what
    to do, with SQLSTATE 28000, instead of PostgreSQL's "SCRAM channel
    binding negotiation error"; and the documented workaround works."""
    with pytest.raises(psycopg2.OperationalError) as ei:
        tls_both_legs.connect()
    msg = str(ei.value)
    assert "cannot relay SCRAM channel binding" in msg, msg
    assert "channel_binding=disable" in msg, msg
    assert "negotiation error" not in msg, msg
    r = run_tool(lms_env, tls_both_legs, "psql",
                 ["-X", "-At", "-c", "select ssl from pg_stat_ssl where pid = pg_backend_pid()"],
                 channel_binding="disable")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "t"


def test_tls_both_legs_scram_channel_binding_disabled(lms_env, tls_both_legs):
    conn = tls_both_legs.connect(channel_binding="disable")
    try:
        assert backend_ssl(conn) is True
    finally:
        conn.close()


def test_backend_tls_plain_client(lms_env, proxy_factory):
    """Plain client listener (--allow-tls-mode-disable), TLS to the source."""
    p = proxy_factory(name="btls", init_source=tls_source_url(lms_env, "ca.crt"))
    conn = p.connect(sslmode="disable")
    try:
        assert not conn.info.ssl_in_use
        assert backend_ssl(conn) is True
    finally:
        conn.close()


def test_backend_tls_wrong_ca(lms_env, proxy_factory):
    p = proxy_factory(name="badca", init_source=tls_source_url(lms_env, "other-ca.crt"))
    with pytest.raises(psycopg2.OperationalError) as ei:
        p.connect(sslmode="disable")
    assert re.search(r"certificate.{0,40}verif|verif.{0,40}certificate", str(ei.value), re.I), \
        str(ei.value)
    # and the proxy keeps serving (the failure is per connection)
    assert p.running()
    with pytest.raises(psycopg2.OperationalError):
        p.connect(sslmode="disable")
    assert p.running()


def test_openssl_s_client_sees_proxy_cert(lms_env, tls_proxy):
    """Independent check with the openssl CLI (STARTTLS-style postgres negotiation)."""
    try:
        r = subprocess.run(["openssl", "s_client", "-starttls", "postgres", "-connect",
                            "127.0.0.1:%d" % tls_proxy.port, "-CAfile", lms_env.cert("ca.crt"),
                            "-verify_return_error", "-servername", "localhost"],
                           input="", capture_output=True, text=True, timeout=15)
    except FileNotFoundError:
        pytest.fail("openssl CLI not installed")
    out = r.stdout + r.stderr
    assert "Verify return code: 0 (ok)" in out, out
    assert re.search(r"subject=.*CN\s*=\s*localhost", out), out


def test_backend_tls_client_half_close(lms_env, proxy_factory, sides, uniq):
    """A client half-close reaches a TLS source as close_notify and a TCP
    half-close: the source answers every request sent before it, the
    answers come back over TLS, then the session ends (test_15 has the
    plain case)."""
    from test_15_protocol import _check_half_close, _half_closed_session
    p = proxy_factory(name="btls-half", init_source=tls_source_url(lms_env, "ca.crt"))
    t = sides.table(uniq, "i int", side="source")
    n = 10
    sql = ["insert into %s values (%d)" % (t, i) for i in range(n)]
    sql += ["select pg_sleep(0.3)", "select count(*) from %s" % t]
    msgs, took = _half_closed_session(p.host, p.port, sql)
    _check_half_close(msgs, n)
    assert took < 10, took
    assert sides.rows("source", "select count(*) from %s" % t) == [(n,)]
