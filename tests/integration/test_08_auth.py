"""8. Authentication is relayed from the source: SCRAM, md5, cleartext, and
the source's errors (with their SQLSTATEs) reach the client."""

import psycopg2
import pytest

from lmsproxy import APP_DB, PgRaw, PgServerError

USERS = [("app", "app-pw"), ("app_md5", "md5-pw"), ("app_clear", "clear-pw")]


@pytest.mark.parametrize("user,password", USERS)
def test_login_psycopg2(proxy, user, password):
    conn = proxy.connect(user=user, password=password)
    try:
        cur = conn.cursor()
        cur.execute("select current_user, session_user, current_database()")
        assert cur.fetchone() == (user, user, APP_DB)
    finally:
        conn.close()


@pytest.mark.parametrize("user,password,method", [
    ("app", "app-pw", 10),       # AuthenticationSASL
    ("app_md5", "md5-pw", 5),    # AuthenticationMD5Password
    ("app_clear", "clear-pw", 3),  # AuthenticationCleartextPassword
])
def test_login_method_relayed(proxy, user, password, method):
    """The client sees the source's authentication method, and the proxy's
    ParameterStatus/BackendKeyData/ReadyForQuery sequence is complete."""
    with PgRaw(proxy.host, proxy.port) as c:
        seen = []
        orig = c.read_msg

        def spy():
            m = orig()
            if m[0] == b"R":
                seen.append(int.from_bytes(m[1][:4], "big"))
            return m

        c.read_msg = spy
        c.startup(user, APP_DB, password, application_name="lms-it")
        assert seen[0] == method and seen[-1] == 0, seen
        for k in ("server_version", "client_encoding", "DateStyle", "integer_datetimes",
                  "standard_conforming_strings"):
            assert k in c.params, c.params
        assert c.params.get("application_name") == "lms-it"
        assert c.backend_key is not None
        c.read_msg = orig
        rows, _ = c.query("select current_user, current_setting('application_name')")
        assert rows == [[user.encode(), b"lms-it"]]
        c.terminate()


@pytest.mark.parametrize("user", ["app", "app_md5", "app_clear"])
def test_wrong_password(proxy, user):
    with PgRaw(proxy.host, proxy.port) as c:
        with pytest.raises(PgServerError) as ei:
            c.startup(user, APP_DB, "definitely-wrong")
    assert ei.value.sqlstate == "28P01", ei.value.fields
    assert "password authentication failed" in ei.value.message, ei.value.fields
    assert ei.value.fields.get("S") == "FATAL"
    # libpq's view of the same failure
    with pytest.raises(psycopg2.OperationalError) as ei2:
        proxy.connect(user=user, password="definitely-wrong")
    assert 'password authentication failed for user "%s"' % user in str(ei2.value)


def test_unknown_user(proxy):
    with PgRaw(proxy.host, proxy.port) as c:
        with pytest.raises(PgServerError) as ei:
            c.startup("no_such_user", APP_DB, "x")
    # PostgreSQL does not reveal whether the role exists
    assert ei.value.sqlstate == "28P01", ei.value.fields


def test_unknown_database(proxy):
    with PgRaw(proxy.host, proxy.port) as c:
        with pytest.raises(PgServerError) as ei:
            c.startup("app", "no_such_db", "app-pw")
    assert ei.value.sqlstate == "3D000", ei.value.fields
    assert 'database "no_such_db" does not exist' in ei.value.message
    with pytest.raises(psycopg2.OperationalError) as ei2:
        proxy.connect(dbname="no_such_db")
    assert 'database "no_such_db" does not exist' in str(ei2.value)


def test_other_database(proxy):
    """The database named by the client is used, not INIT_SOURCE's."""
    conn = proxy.connect(user="lms_admin", password="lms-admin-pw", dbname="bench")
    try:
        cur = conn.cursor()
        cur.execute("select current_database()")
        assert cur.fetchone()[0] == "bench"
    finally:
        conn.close()
