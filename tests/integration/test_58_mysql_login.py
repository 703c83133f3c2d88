"""58. MySQL logins once the PostgreSQL-wire target is the source of truth
(docs/mysql-auth.md): the orchestrator, with a MariaDB SOURCE_URL, creates
the watermark on MariaDB and copies mysql.user into the store's
_molt_lms.credentials at initialize and begin; a proxy whose source of
truth is the target greets MySQL clients itself, verifies their
mysql_native_password answer against that copy, logs in to the target with
INIT_TARGET's credentials and only then answers OK.

Queries after the login need the answers translated back (another part of
issue 7), so the clients here check the login itself: the raw protocol
client (OK packet, sequence ids, errors), and PyMySQL's connect() with
autocommit=None (it then sends no query)."""

import json
import os
import threading
import time
import struct
import uuid

import psycopg2
import pymysql
import pytest

from lmsproxy import APP_USER, wait_until
from mysqlraw import (CAP_CONNECT_WITH_DB, CAP_LONG_PASSWORD, CAP_PLUGIN_AUTH, CAP_PROTOCOL_41,
                      CAP_SECURE_CONNECTION, CAP_SSL, MY_ADMIN, MY_APP, MY_DB, MY_ED, MyError, MyRaw,
                      native_scramble)
from test_30_control import api
from test_40_cutover import Orchestrator, cli
from test_57_mysql_served import GoServe, go_serve  # noqa: F401 - a fixture


def my_admin(mysql_server):
    return pymysql.connect(host="127.0.0.1", port=mysql_server.port, user=MY_ADMIN[0], password=MY_ADMIN[1],
                           autocommit=True, connect_timeout=10)


def my_scalar(conn, sql, args=None):
    cur = conn.cursor()
    cur.execute(sql, args)
    row = cur.fetchone()
    return row[0] if row else None


class Store:
    """A database on the target for this module's coordination store."""

    def __init__(self, env):
        self.env = env
        self.db = "login_%s" % uuid.uuid4().hex[:8]
        c = env.direct_connect("target", db="postgres")
        c.cursor().execute("create database %s owner %s" % (self.db, APP_USER))
        c.close()

    def run(self, sql, args=None):
        c = self.env.direct_connect("target", db=self.db)
        try:
            cur = c.cursor()
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
        finally:
            c.close()

    def drop(self):
        c = self.env.direct_connect("target", db="postgres")
        try:
            c.cursor().execute("drop database if exists %s with (force)" % self.db)
        except psycopg2.Error:
            pass
        c.close()


@pytest.fixture(scope="module")
def store(clusters, mysql_server):
    if clusters.direct:
        pytest.skip("needs molt-lms")
    s = Store(clusters)
    a = my_admin(mysql_server)
    a.cursor().execute("DROP DATABASE IF EXISTS _molt_lms")
    a.close()
    yield s
    s.drop()


@pytest.fixture(scope="module")
def orch(clusters, mysql_server, store):
    os.makedirs(clusters.log_dir, exist_ok=True)
    o = Orchestrator(clusters, clusters.target_url(db=store.db), mysql_server.url())
    o.args[o.args.index("--source-dialect") + 1] = "mysql"
    o.start()
    yield o
    o.stop()


def initialize(clusters, orch):
    return json.loads(cli(clusters, orch, "initialize").stdout)


def test_initialize_creates_watermark_on_mariadb_and_copies_logins(clusters, mysql_server, store, orch):
    doc = initialize(clusters, orch)
    assert "source:_molt_lms.watermark" in doc["created"] + doc["existing"], doc
    assert "_molt_lms.credentials" in doc["created"] + doc["existing"], doc
    a = my_admin(mysql_server)
    try:
        cur = a.cursor()
        cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                    "table_schema = '_molt_lms' AND table_name = 'watermark' ORDER BY ordinal_position")
        cols = cur.fetchall()
    finally:
        a.close()
    assert [c[0].lower() for c in cols] == ["id", "token", "written_at"], cols
    assert doc["logins"]["copied"] >= 8, doc  # 4 users x 2 hosts
    assert any(x.startswith("app_ed@") and "ed25519" in x for x in doc["logins"]["not_verifiable"]), doc
    rows = dict(((u, h), (p, v)) for u, h, p, v in
                store.run("select username, host, plugin, verifier from _molt_lms.credentials"))
    plugin, verifier = rows[("app", "127.0.0.1")]
    assert plugin == "mysql_native_password"
    a = my_admin(mysql_server)
    try:
        assert verifier == my_scalar(a, "SELECT PASSWORD('app-pw')")
    finally:
        a.close()
    assert rows[("app_ed", "localhost")][0] == "ed25519"
    # initialize again: nothing new, the copy replaced
    doc = initialize(clusters, orch)
    assert "source:_molt_lms.watermark" in doc["existing"], doc
    assert store.run("select count(*) from _molt_lms.credentials")[0][0] == doc["logins"]["copied"]


def test_begin_copies_logins_and_writes_the_watermark_on_mariadb(clusters, mysql_server, store, orch):
    initialize(clusters, orch)
    a = my_admin(mysql_server)
    try:
        a.cursor().execute("CREATE OR REPLACE USER 'late'@'127.0.0.1' IDENTIFIED BY 'late-pw'")
        r = cli(clusters, orch, "cutover", "consistent", "begin")
        doc = json.loads(r.stdout)
        assert doc["logins"]["copied"] >= 9, doc
        rows = store.run("select plugin, verifier from _molt_lms.credentials where username = 'late'")
        assert rows == [("mysql_native_password", my_scalar(a, "SELECT PASSWORD('late-pw')"))], rows
        token = my_scalar(a, "SELECT token FROM _molt_lms.watermark WHERE id = 1")
        assert token and token == doc["watermark"]["token"], (token, doc["watermark"])
        cli(clusters, orch, "cutover", "consistent", "abort")
    finally:
        a.cursor().execute("DROP USER IF EXISTS 'late'@'127.0.0.1'")
        a.close()


def test_begin_fails_clearly_without_select_on_mysql_user(clusters, mysql_server, store):
    a = my_admin(mysql_server)
    a.cursor().execute("CREATE OR REPLACE USER 'noread'@'127.0.0.1' IDENTIFIED BY 'noread-pw'")
    a.cursor().execute("GRANT ALL ON _molt_lms.* TO 'noread'@'127.0.0.1'")
    o = Orchestrator(clusters, clusters.target_url(db=store.db),
                     mysql_server.url(user=("noread", "noread-pw")))
    o.args[o.args.index("--source-dialect") + 1] = "mysql"
    o.start()
    try:
        epoch = store.run("select epoch from _molt_lms.state")[0][0]
        r = cli(clusters, o, "cutover", "consistent", "begin", check=False)
        assert r.returncode != 0
        assert "GRANT SELECT ON mysql.user" in r.stdout + r.stderr, r.stdout + r.stderr
        # nothing was paused
        assert store.run("select epoch, phase from _molt_lms.state")[0] == (epoch, "serving")
    finally:
        o.stop()
        a.cursor().execute("DROP USER IF EXISTS 'noread'@'127.0.0.1'")
        a.close()


# ---- the proxy, with the target as the source of truth ----

@pytest.fixture(scope="module")
def target_truth(clusters, store, orch):
    initialize(clusters, orch)
    store.run("update _molt_lms.state set epoch = epoch + 1, source_of_truth = 'target', phase = 'serving'")
    yield
    store.run("update _molt_lms.state set epoch = epoch + 1, source_of_truth = 'source', phase = 'serving'")


@pytest.fixture
def tproxy(clusters, mysql_server, store, target_truth, proxy_factory):
    p = proxy_factory(name="mylogin", source_dialect="mysql", init_source=mysql_server.url(),
                      init_target=clusters.target_url(db=store.db), tls=True)
    assert wait_until(lambda: "source_of_truth=target" in p.read_log(), clusters.t(10)), p.read_log()
    assert wait_until(lambda: "credentials_loaded" in p.read_log(), clusters.t(10)), p.read_log()
    return p


def target_sessions(clusters):
    c = clusters.direct_connect("target", db="postgres")
    try:
        cur = c.cursor()
        cur.execute("select count(*) from pg_stat_activity where usename = %s and datname = %s and "
                    "application_name = 'molt-lms' and pid <> pg_backend_pid()", (MY_ADMIN[0], MY_DB))
        return cur.fetchone()[0]
    finally:
        c.close()


def raw_login(p, user, password, tls=True, db=MY_DB):
    r = MyRaw("127.0.0.1", p.port)
    try:
        r.login(user, password, db=db, tls=tls)
    except BaseException:
        r.close()
        raise
    return r


def test_raw_login_verified_by_lms(clusters, tproxy):
    before = target_sessions(clusters)
    r = raw_login(tproxy, *MY_APP)
    try:
        g = r.greeting
        assert g["version"] == "5.5.5-10.11.0-molt-lms", g
        assert g["plugin"] == "mysql_native_password" and len(g["salt"]) == 20, g
        assert r.status & 0x2  # SERVER_STATUS_AUTOCOMMIT in the OK
        # the target got a session of INIT_TARGET's user in the client's database
        assert wait_until(lambda: target_sessions(clusters) == before + 1, clusters.t(5))
    finally:
        r.close()
    log = tproxy.read_log()
    assert "own_login_ok" in log and "user=app" in log, log


def test_scrambles_differ_per_connection(tproxy):
    salts = set()
    for _ in range(3):
        r = MyRaw("127.0.0.1", tproxy.port)
        salts.add(bytes(r.read_greeting()["salt"]))
        r.close()
    assert len(salts) == 3


def test_wrong_password_1045(tproxy):
    with pytest.raises(MyError) as e:
        raw_login(tproxy, MY_APP[0], "not-the-password")
    assert e.value.code == 1045 and e.value.sqlstate == "28000", e.value.message
    assert "Access denied for user 'app'@'127.0.0.1'" in e.value.message and "wrong password" in e.value.message


def test_ed25519_user_1045_with_explanation(tproxy):
    with pytest.raises(MyError) as e:
        raw_login(tproxy, *MY_ED)
    assert e.value.code == 1045 and e.value.sqlstate == "28000"
    assert "ed25519" in e.value.message and "mysql_native_password" in e.value.message, e.value.message


def test_unknown_user_1045(tproxy):
    with pytest.raises(MyError) as e:
        raw_login(tproxy, "nobody_here", "x")
    assert e.value.code == 1045 and "no such login" in e.value.message, e.value.message


def test_tls_still_required(tproxy):
    with pytest.raises(MyError) as e:
        raw_login(tproxy, *MY_APP, tls=False)
    assert e.value.code == 3159, e.value.message


def test_other_client_plugin_gets_auth_switch(tproxy):
    """A MySQL 8 client starts with caching_sha2_password: LMS asks it to
    switch to mysql_native_password over the same scramble."""
    import ssl
    r = MyRaw("127.0.0.1", tproxy.port)
    try:
        g = r.read_greeting()
        caps = (CAP_LONG_PASSWORD | CAP_PROTOCOL_41 | CAP_SECURE_CONNECTION | CAP_PLUGIN_AUTH |
                CAP_CONNECT_WITH_DB | CAP_SSL)
        header = struct.pack("<IIB", caps, 1 << 24, 45) + b"\0" * 23
        seq = r.send(header, 1)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        r.sock = ctx.wrap_socket(r.sock, server_hostname="localhost")
        body = header + b"app\0" + bytes([32]) + b"\x01" * 32 + MY_DB.encode() + b"\0" + \
            b"caching_sha2_password\0"
        seq = r.send(body, seq)
        s, pl = r.read(seq)
        assert pl[0] == 0xFE and pl[1:pl.index(b"\0")] == b"mysql_native_password", pl
        assert pl[pl.index(b"\0") + 1:].rstrip(b"\0") == g["salt"][:20]
        r.send(native_scramble(MY_APP[1], g["salt"][:20]), s + 1)
        s2, ok = r.read(s + 2)
        assert ok[0] == 0x00, ok
    finally:
        r.close()


def test_target_login_failure_is_a_clear_error(tproxy):
    with pytest.raises(MyError) as e:
        raw_login(tproxy, *MY_APP, db="no_such_db_here")
    assert e.value.code == 1045 and "refused molt-lms's own login" in e.value.message, e.value.message


def test_malformed_response_bad_handshake(tproxy):
    """A HandshakeResponse whose user name never ends: ERR 1043, no crash."""
    import ssl
    r = MyRaw("127.0.0.1", tproxy.port)
    try:
        r.read_greeting()
        caps = CAP_LONG_PASSWORD | CAP_PROTOCOL_41 | CAP_SECURE_CONNECTION | CAP_SSL
        header = struct.pack("<IIB", caps, 1 << 24, 45) + b"\0" * 23
        r.send(header, 1)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        r.sock = ctx.wrap_socket(r.sock, server_hostname="localhost")
        r.send(header + b"app-without-end", 2)
        s, pl = r.read(3)
        assert pl[0] == 0xFF and struct.unpack("<H", pl[1:3])[0] == 1043, pl
    finally:
        r.close()
    # the proxy still serves
    raw_login(tproxy, *MY_APP).close()


def test_pymysql_logs_in(clusters, tproxy):
    c = pymysql.connect(host="127.0.0.1", port=tproxy.port, user=MY_APP[0], password=MY_APP[1], database=MY_DB,
                        ssl={"ca": clusters.cert("ca.crt"), "check_hostname": False}, autocommit=None,
                        connect_timeout=10)
    try:
        assert c.open and c.server_version == "5.5.5-10.11.0-molt-lms"
        assert c.get_autocommit() is True
    finally:
        c.close()
    # PyMySQL's default turns autocommit off at connect (SET AUTOCOMMIT = 0):
    # before ABI 1.8 that was refused, and the connect failed
    c = pymysql.connect(host="127.0.0.1", port=tproxy.port, user=MY_APP[0], password=MY_APP[1], database=MY_DB,
                        ssl={"ca": clusters.cert("ca.crt"), "check_hostname": False}, connect_timeout=10)
    try:
        assert c.get_autocommit() is False
        cur = c.cursor()
        cur.execute("select @@autocommit")
        assert cur.fetchone() == (0,)
        c.rollback()
    finally:
        c.close()
    with pytest.raises(pymysql.err.OperationalError) as e:
        pymysql.connect(host="127.0.0.1", port=tproxy.port, user=MY_APP[0], password="wrong", database=MY_DB,
                        ssl={"ca": clusters.cert("ca.crt"), "check_hostname": False}, autocommit=None,
                        connect_timeout=10)
    assert e.value.args[0] == 1045, e.value.args


@pytest.mark.parametrize("options", ["", "interpolateParams=true"], ids=["server-prep", "interpolated"])
def test_go_driver_logs_in(tproxy, go_serve, options):
    """go-sql-driver/mysql over TLS, verified by molt-lms while the target
    serves: queries and a prepared statement run; a wrong password gets
    1045 and the driver's error."""
    g = GoServe(go_serve, tproxy, options)
    try:
        assert g.first == ["connected"]
        assert g("Q select 1") == ["row=1"]
        assert g("P s select ? + 1") == ["prepared"]
        assert g("X s 41") == ["row=42"]
        assert g("V") == ["valid=true"]
    finally:
        g.close()
    wrong = GoServe(go_serve, tproxy, options, password="wrong")
    assert wrong.first[0].startswith("error=1045 "), wrong.first
    assert wrong.p.wait(30) == 1


# ---- the whole flow: begin -> commit through the orchestrator ----

def test_cutover_then_new_logins_verified(clusters, mysql_server, proxy_factory):
    """A MySQL proxy registered with the orchestrator follows begin and
    commit (the test inserts begin's token into the target's watermark
    table, standing in for the CDC tool); afterwards a new client logs in
    with its MySQL password, verified by LMS, and a wrong one is refused."""
    os.makedirs(clusters.log_dir, exist_ok=True)
    st = Store(clusters)
    o = Orchestrator(clusters, clusters.target_url(db=st.db), mysql_server.url())
    o.args[o.args.index("--source-dialect") + 1] = "mysql"
    o.start()
    try:
        initialize(clusters, o)
        p = proxy_factory(name="mycut", source_dialect="mysql", init_source=mysql_server.url(),
                          init_target=clusters.target_url(db=st.db))
        assert wait_until(lambda: st.run("select count(*) from _molt_lms.instances")[0][0] == 1,
                          clusters.t(10))
        copied = st.run("select count(*) from _molt_lms.credentials")[0][0]
        assert wait_until(lambda: api(p, "GET", "/api/v1/state")[1].get("credentials") == copied,
                          clusters.t(10)), api(p, "GET", "/api/v1/state")
        # before: relayed to MariaDB
        c = pymysql.connect(host="127.0.0.1", port=p.port, user=MY_APP[0], password=MY_APP[1], database=MY_DB,
                            connect_timeout=10)
        try:
            cur = c.cursor()
            cur.execute("select version()")
            assert "MariaDB" in cur.fetchone()[0]
        finally:
            c.close()
        begin = json.loads(cli(clusters, o, "cutover", "consistent", "begin").stdout)
        assert begin["logins"]["copied"] >= 8 and len(begin["instances"]) == 1, begin
        token = begin["watermark"]["token"]
        # a client connecting during the pause waits (the server speaks
        # first: no greeting yet), then gets LMS's own login on the target
        queued = {}

        def during_pause():
            try:
                r = raw_login(p, *MY_APP, tls=False)
                queued["version"] = r.greeting["version"]
                r.close()
            except Exception as e:  # noqa: BLE001 - reported below
                queued["error"] = repr(e)
        t = threading.Thread(target=during_pause)
        t.start()
        time.sleep(0.3)
        assert t.is_alive(), queued  # still waiting for its greeting
        st.run("insert into _molt_lms.watermark (id, token, written_at) values (1, %s, now()) "
               "on conflict (id) do update set token = excluded.token", (token,))
        commit = json.loads(cli(clusters, o, "cutover", "consistent", "commit").stdout)
        assert commit["source_of_truth"] == "target", commit
        t.join(clusters.t(10))
        assert queued.get("version", "").endswith("-molt-lms"), queued
        assert wait_until(lambda: "source_of_truth=target" in p.read_log(), clusters.t(10))
        before = target_sessions(clusters)
        r = raw_login(p, *MY_APP, tls=False)
        try:
            assert r.greeting["version"].endswith("-molt-lms")
            assert wait_until(lambda: target_sessions(clusters) == before + 1, clusters.t(5))
        finally:
            r.close()
        with pytest.raises(MyError) as e:
            raw_login(p, MY_APP[0], "app-pw-old", tls=False)
        assert e.value.code == 1045
        # and back: commit reads the token in MariaDB's _molt_lms.watermark
        # (inserted here as the reverse replication would)
        begin = json.loads(cli(clusters, o, "cutover", "consistent", "begin").stdout)
        a = my_admin(mysql_server)
        try:
            a.cursor().execute("REPLACE INTO _molt_lms.watermark (id, token, written_at) VALUES (1, %s, NOW(6))",
                               (begin["watermark"]["token"],))
        finally:
            a.close()
        commit = json.loads(cli(clusters, o, "cutover", "consistent", "commit").stdout)
        assert commit["source_of_truth"] == "source", commit
        # commit pushed the state to the instance before answering: new
        # logins are relayed to MariaDB again
        r = raw_login(p, *MY_APP, tls=False)
        try:
            assert "MariaDB" in r.greeting["version"] and "molt-lms" not in r.greeting["version"]
        finally:
            r.close()
    finally:
        o.stop()
        st.drop()
