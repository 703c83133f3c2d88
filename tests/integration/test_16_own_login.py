"""16. The pgwire plugin logs in with a URL's own credentials (no client to
relay for it: the shadow side, cutover). tests/tools/pgwire_login drives
the plugin's backend functions over a plain socket against the real
clusters: SCRAM-SHA-256, md5 and cleartext users, on source and target,
and wrong passwords are refused with the server's own message."""

import os
import subprocess

import pytest

USERS = [
    ("lms_admin", "lms-admin-pw"),  # SCRAM-SHA-256
    ("app", "app-pw"),              # SCRAM-SHA-256
    ("app_md5", "md5-pw"),          # md5
    ("app_clear", "clear-pw"),      # cleartext
]


def tool(env):
    path = os.path.join(env.builddir, "tests", "tools", "pgwire_login")
    assert os.access(path, os.X_OK), "%s is not built (make check builds it)" % path
    return path


def login(env, port, user, password, db="appdb"):
    url = "postgresql://%s:%s@127.0.0.1:%d/%s?sslmode=disable" % (user, password, port, db)
    return subprocess.run([tool(env), url], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("user,password", USERS)
def test_own_login_both_servers(clusters, user, password):
    for port in (clusters.source_port, clusters.target_port):
        r = login(clusters, port, user, password)
        assert r.returncode == 0, r.stderr
        assert "logged in as %s to appdb (authenticated)" % user in r.stdout


@pytest.mark.parametrize("user", [u for u, _ in USERS])
def test_own_login_wrong_password(clusters, user):
    r = login(clusters, clusters.source_port, user, "not-the-password")
    assert r.returncode == 1
    assert 'password authentication failed for user "%s"' % user in r.stderr, r.stderr


def test_own_login_unknown_database(clusters):
    r = login(clusters, clusters.source_port, "app", "app-pw", db="no_such_db")
    assert r.returncode == 1
    assert 'database "no_such_db" does not exist' in r.stderr, r.stderr
