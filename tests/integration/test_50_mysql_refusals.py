"""50d. What a MySQL source cannot do yet, refused with a clear message: a
cutover (serving the MySQL client from the PostgreSQL-protocol target needs
the answers translated back).  Shadowing is accepted (ABI 1.3 translates the
requests)."""

import pymysql
import pytest

from lmsproxy import wait_until
from mysqlraw import MY_APP, MY_DB
from test_30_control import Dbs, api


@pytest.mark.parametrize("mode", ["async", "sync", "strict-sync"])
def test_shadowing_accepted_at_start(proxy_factory, mysql_server, mode):
    """Since ABI 1.3 the requests are translated to the target's protocol
    (test_56_mysql_shadow.py compares the answers): every shadow mode
    starts and serves."""
    p = proxy_factory(name="myshadow", source_dialect="mysql", init_source=mysql_server.url(),
                      shadow_mode=mode)
    c = pymysql.connect(host="127.0.0.1", port=p.port, user=MY_APP[0], password=MY_APP[1], database=MY_DB,
                        connect_timeout=10, read_timeout=30, autocommit=True)
    try:
        cur = c.cursor()
        cur.execute("select 1 + 1")
        assert cur.fetchone() == (2,)
    finally:
        c.close()
    assert "shadow_mode=%s" % mode in p.read_log()


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
