"""50d. What a MySQL source cannot do yet, refused with a clear message:
shadowing (both databases would have to speak MySQL, or molt-lms translate
to PostgreSQL wire) and a cutover (the same translation after it)."""

import subprocess

import pymysql
import pytest

from lmsproxy import free_port, wait_until
from mysqlraw import MY_APP, MY_DB
from test_30_control import Dbs, api


@pytest.mark.parametrize("mode", ["async", "sync", "strict-sync"])
def test_shadowing_refused_at_start(clusters, mysql_server, mode):
    if clusters.direct:
        pytest.skip("needs molt-lms")
    argv = [clusters.binary, "--listen", "127.0.0.1:%d" % free_port(), "--metrics-listen",
            "127.0.0.1:%d" % free_port(), "--plugin-dir", clusters.plugin_dir, "--allow-tls-mode-disable",
            "--source-dialect", "mysql", "--init-source", mysql_server.url(), "--init-target",
            clusters.target_url(), "--shadow-mode", mode]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=clusters.t(20), env=clusters.clean_env(),
                       cwd=clusters.log_dir)
    assert r.returncode == 2, r.stdout + r.stderr
    assert ("shadowMode %s: the cockroach dialect speaks pgwire and the clients speak mysql; shadowing across "
            "wire protocols is not supported yet (use shadowMode none)" % mode) in r.stderr, r.stderr


def test_cutover_refused_by_the_admin_api(proxy_factory, mysql_server):
    p = proxy_factory(name="mysql-cut", source_dialect="mysql", init_source=mysql_server.url(),
                      extra_args=["--coordination", "off"])
    for phase, truth in (("paused", "source"), ("serving", "target"), ("paused", "target")):
        st, doc = api(p, "POST", "/api/v1/state", {"epoch": 5, "phase": phase, "source_of_truth": truth})
        assert st == 409, doc
        assert "cutover is not supported" in doc["error"] and "mysql" in doc["error"], doc
    st, doc = api(p, "GET", "/api/v1/state")
    assert st == 200 and doc["phase"] == "serving" and doc["source_of_truth"] == "source", doc
    # serving from the source is fine, and so are the clients
    st, doc = api(p, "POST", "/api/v1/state", {"epoch": 6, "phase": "serving", "source_of_truth": "source"})
    assert st == 200, doc
    c = pymysql.connect(host="127.0.0.1", port=p.port, user=MY_APP[0], password=MY_APP[1], database=MY_DB,
                        connect_timeout=10)
    try:
        cur = c.cursor()
        cur.execute("select 'served'")
        assert cur.fetchone() == ("served",)
    finally:
        c.close()


def test_paused_store_not_applied(clusters, proxy_factory, mysql_server):
    """The coordination store says paused (an orchestrator's begin): the
    instance does not apply it (nor acknowledge it) and says why; its MySQL
    clients keep being served from the source."""
    dbs = Dbs(clusters)
    try:
        p = proxy_factory(name="mysql-store", source_dialect="mysql", init_source=mysql_server.url(),
                          init_target=clusters.target_url(db=dbs.store))
        assert wait_until(lambda: api(p, "GET", "/api/v1/state")[1].get("store") == "ok", clusters.t(10))
        epoch = dbs.state()[0]
        dbs.write_state(epoch + 1, "paused", "source")

        def refused():
            doc = api(p, "GET", "/api/v1/state")[1]
            return "cutover is not supported" in doc.get("store", "") and doc

        doc = wait_until(refused, clusters.t(10))
        assert doc and doc["phase"] == "serving" and doc["epoch"] == epoch, doc
        acked = dbs.run("target", dbs.store, "select max(acked_epoch) from _molt_lms.instances")[0][0]
        assert acked == epoch
        c = pymysql.connect(host="127.0.0.1", port=p.port, user=MY_APP[0], password=MY_APP[1], database=MY_DB,
                            connect_timeout=10, read_timeout=10)
        try:
            cur = c.cursor()
            cur.execute("select 'still served'")
            assert cur.fetchone() == ("still served",)
        finally:
            c.close()
    finally:
        dbs.drop()
