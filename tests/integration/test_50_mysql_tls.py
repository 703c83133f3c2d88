"""50b. TLS with mysql.so: the client's SSLRequest upgrades to TLS with the
proxy's certificate (TLS required by default), TLS toward MariaDB per
ssl-mode in INIT_SOURCE, each leg on its own (sequence ids shifted), and
logins that go through an auth switch (ed25519) on top."""

import ssl
import subprocess

import pymysql
import pytest

from mysqlraw import MY_APP, MY_DB, MY_ED, MY_TLS, MyError, MyRaw


def tls_proxy(proxy_factory, mysql_server, query="ssl-mode=VERIFY_IDENTITY&ssl-ca=%(ca)s", **kw):
    q = query % {"ca": mysql_server.cert("ca.crt"), "other": mysql_server.cert("other-ca.crt")}
    return proxy_factory(name="mysql-tls", source_dialect="mysql", init_source=mysql_server.url(query=q), **kw)


def connect(proxy, user=MY_APP, tls=True, **kw):
    args = dict(host="localhost" if tls else "127.0.0.1", port=proxy.port, user=user[0], password=user[1], database=MY_DB,
                connect_timeout=10, read_timeout=30)
    if tls:
        args["ssl_ca"] = proxy.env.cert("ca.crt")
        args["ssl_verify_cert"] = True
        args["ssl_verify_identity"] = True
    args.update(kw)
    return pymysql.connect(**args)


def server_tls(conn):
    cur = conn.cursor()
    cur.execute("show session status like 'Ssl_version'")
    row = cur.fetchone()
    return row[1] if row else ""


def test_both_legs_tls(proxy_factory, mysql_server):
    p = tls_proxy(proxy_factory, mysql_server, tls=True)
    c = connect(p)
    try:
        assert isinstance(c._sock, ssl.SSLSocket)  # the client's leg
        assert c._sock.getpeercert()["subject"]  # the proxy's certificate, verified against the test CA
        assert server_tls(c).startswith("TLS")  # the database's leg
        cur = c.cursor()
        cur.execute("select current_user()")
        assert cur.fetchone()[0] == "app@localhost"
    finally:
        c.close()


def test_plain_client_refused_with_err(proxy_factory, mysql_server):
    """Secure by default: a client not asking for TLS gets a proper ERR
    packet (sequence id 2, after its HandshakeResponse) and is closed."""
    p = tls_proxy(proxy_factory, mysql_server, tls=True)
    with pytest.raises(pymysql.err.OperationalError) as ei:
        connect(p, tls=False)
    assert ei.value.args[0] == 3159 and "requires TLS" in ei.value.args[1]
    raw = MyRaw("127.0.0.1", p.port)
    try:
        with pytest.raises(MyError) as ei:
            raw.login(*MY_APP)
        assert ei.value.seq == 2 and ei.value.sqlstate == "08004"
    finally:
        raw.close()


def test_greeting_offers_tls_only_with_a_certificate(proxy_factory, mysql_server):
    plain = tls_proxy(proxy_factory, mysql_server, tls=False)
    raw = MyRaw("127.0.0.1", plain.port)
    try:
        g = raw.read_greeting()
        assert not g["caps"] & 0x800  # CLIENT_SSL cleared: this proxy has no certificate
        assert not g["caps"] & 0x20  # never compression
    finally:
        raw.close()
    secure = tls_proxy(proxy_factory, mysql_server, tls=True)
    raw = MyRaw("127.0.0.1", secure.port)
    try:
        g = raw.read_greeting()
        assert g["caps"] & 0x800
        raw.login(*MY_APP, tls=True, cafile=secure.env.cert("ca.crt"))
        assert raw.scalar("select 'raw over tls'") == "raw over tls"
    finally:
        raw.close()


def test_auth_switch_ed25519_through_tls(proxy_factory, mysql_server):
    """app_ed authenticates with ed25519: MariaDB answers the client's
    mysql_native_password response with an AuthSwitchRequest, relayed."""
    p = tls_proxy(proxy_factory, mysql_server, tls=True)
    r = subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(p.port), "-u", MY_ED[0],
                        "-p" + MY_ED[1], "--ssl", "--ssl-ca=" + p.env.cert("ca.crt"), "--ssl-verify-server-cert",
                        MY_DB, "-N", "-e", "select current_user(), 'switched'"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["app_ed@localhost", "switched"]
    bad = subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(p.port), "-u", MY_ED[0],
                          "-pwrong", "--ssl", MY_DB, "-e", "select 1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "1045" in bad.stderr, bad.stderr


def test_tls_client_plain_database(proxy_factory, mysql_server):
    """Client leg TLS, database leg plain (ssl-mode=DISABLED): the
    HandshakeResponse goes out as sequence 1 without CLIENT_SSL.  A user
    that REQUIREs SSL is refused by the server itself."""
    p = tls_proxy(proxy_factory, mysql_server, query="ssl-mode=DISABLED", tls=True)
    c = connect(p)
    try:
        assert server_tls(c) == ""
        cur = c.cursor()
        cur.execute("select 'tls client, plain database'")
        assert cur.fetchone()[0] == "tls client, plain database"
    finally:
        c.close()
    with pytest.raises(pymysql.err.OperationalError) as ei:
        connect(p, user=MY_TLS)
    assert ei.value.args[0] == 1045


def test_plain_client_tls_database(proxy_factory, mysql_server):
    """Client leg plain (a proxy without a certificate, for testing only),
    database leg TLS: the proxy sends its own SSLRequest with the client's
    capabilities, and shifts the sequence ids by one."""
    p = tls_proxy(proxy_factory, mysql_server, query="ssl-mode=REQUIRED", tls=False)
    c = connect(p, user=MY_TLS, tls=False)
    try:
        assert server_tls(c).startswith("TLS")
        cur = c.cursor()
        cur.execute("select current_user()")
        assert cur.fetchone()[0] == "app_tls@localhost"
    finally:
        c.close()
    r = subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(p.port), "-u", MY_ED[0],
                        "-p" + MY_ED[1], "--skip-ssl", MY_DB, "-N", "-e", "select 'ed over shifted legs'"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ed over shifted legs", r.stderr


def test_preferred_uses_tls(proxy_factory, mysql_server):
    p = tls_proxy(proxy_factory, mysql_server, query="ssl-mode=PREFERRED", tls=True)
    c = connect(p)
    try:
        assert server_tls(c).startswith("TLS")
    finally:
        c.close()


def test_database_certificate_not_trusted(proxy_factory, mysql_server):
    p = tls_proxy(proxy_factory, mysql_server, query="ssl-mode=VERIFY_CA&ssl-ca=%(other)s", tls=True)
    with pytest.raises(pymysql.err.OperationalError) as ei:
        connect(p)
    assert "molt-lms" in str(ei.value) and "certificate" in str(ei.value).lower(), ei.value
