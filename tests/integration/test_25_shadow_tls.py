"""25. Shadowing over TLS: the shadow connection honours INIT_TARGET's
sslmode=verify-full (and refuses a target whose certificate does not match),
while the client and the source also use TLS."""

from lmsproxy import wait_until


def tls_url(env, port_url, rootcert="ca.crt"):
    return port_url(host="localhost", query="sslmode=verify-full&sslrootcert=%s" % env.cert(rootcert))


def test_shadow_over_verify_full(proxy_factory, lms_env, uniq):
    p = proxy_factory(name="shadow-tls", tls=True, shadow_mode="sync",
                      init_source=tls_url(lms_env, lms_env.source_url),
                      init_target=tls_url(lms_env, lms_env.target_url))
    conn = p.connect(channel_binding="disable")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("create table %s (id int primary key, v text)" % uniq)
    try:
        cur.execute("insert into %s values (1, 'x'), (2, 'y')" % uniq)
        cur.execute("select v from %s order by id" % uniq)
        assert [r[0] for r in cur.fetchall()] == ["x", "y"]
        assert wait_until(lambda: p.shadow_counts()["match"] >= 3, 10)
        c = p.shadow_counts()
        assert c["mismatch"] == 0 and c["lost"] == 0, c
        # the shadow really used TLS: the target sees an SSL connection from lms_admin
        tgt = lms_env.target_admin_connect()
        try:
            tcur = tgt.cursor()
            tcur.execute("select count(*) from pg_stat_ssl s join pg_stat_activity a using (pid) "
                         "where a.usename = 'lms_admin' and a.datname = 'appdb' and s.ssl "
                         "and a.pid <> pg_backend_pid()")
            assert tcur.fetchone()[0] >= 1
        finally:
            tgt.close()
    finally:
        cur.execute("drop table if exists %s" % uniq)
        conn.close()


def test_shadow_refuses_wrong_target_certificate(proxy_factory, lms_env):
    # the target's certificate is checked against another CA: the shadow
    # login fails, the application is served, the request counts as lost
    p = proxy_factory(name="shadow-badca", tls=True, shadow_mode="sync",
                      init_source=tls_url(lms_env, lms_env.source_url),
                      init_target=tls_url(lms_env, lms_env.target_url, rootcert="other-ca.crt"),
                      # the coordination store is in that target too: with a
                      # wrong CA it cannot be read and SQL would be refused
                      extra_args=["--coordination", "off"])
    conn = p.connect(channel_binding="disable")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("select 41 + 1")
    assert cur.fetchone()[0] == 42
    assert wait_until(lambda: p.shadow_counts()["lost"] >= 1, 10)
    assert p.shadow_counts()["match"] == 0
    assert "shadow_lost" in p.read_log()
    conn.close()
