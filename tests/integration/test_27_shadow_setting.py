"""27. CockroachDB behaviour the comparison must not count as a mismatch: a
session setting the target refuses (here SET ROLE to a role that exists on
the source only) is counted and logged as "setting"; the target's version
string is reported."""

from lmsproxy import wait_until


def test_refused_setting_is_not_a_mismatch(proxy_factory, lms_env, uniq):
    role = "r_" + uniq
    src = lms_env.admin_connect()
    src.cursor().execute("create role %s; grant %s to app" % (role, role))
    try:
        p = proxy_factory(name="setting", shadow_mode="sync")
        c = p.connect()
        c.autocommit = True
        cur = c.cursor()
        cur.execute("set role %s" % role)       # fine on the source, refused by the target
        cur.execute("select current_user")
        assert cur.fetchone()[0] == role
        cur.execute("reset role")
        assert wait_until(lambda: p.shadow_counts()["setting"] >= 1, lms_env.t(10)), p.shadow_counts()
        counts = p.shadow_counts()
        assert counts["mismatches"] == 0 or all(
            r["fingerprint"] != "set role " + role for r in p.mismatch_records()), counts
        assert "shadow_setting_refused" in p.read_log()
        api = p.api_mismatches()
        rows = [f for f in api["fingerprints"] if f["fingerprint"] == "set role %s" % role]
        assert rows and rows[0]["setting"] == 1 and rows[0]["mismatch"] == 0, api
        # the target's version, as it announced it at login
        versions = [line for line in p.metrics_text().splitlines()
                    if line.startswith('lms_backend_info{role="target"')]
        assert versions and 'server_version="15.' in versions[0], versions
        c.close()
    finally:
        src.cursor().execute("drop role if exists %s" % role)
        src.close()
