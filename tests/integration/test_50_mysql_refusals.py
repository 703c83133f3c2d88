"""50d. What used to be refused for a MySQL source is accepted now:
shadowing (ABI 1.3 translates the requests) and a cutover to the
PostgreSQL-protocol target (ABI 1.4 translates the answers back;
test_57_mysql_served.py serves clients after it, and mysql.so logs new
clients in itself, test_58_mysql_login.py)."""

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


def test_cutover_accepted_by_the_admin_api(proxy_factory, mysql_server):
    """Both plugins serve translated sessions (ABI 1.4): every state is
    applied, and the clients are served on either side."""
    p = proxy_factory(name="mysql-cut", source_dialect="mysql", init_source=mysql_server.url(),
                      extra_args=["--coordination", "off"])
    c = pymysql.connect(host="127.0.0.1", port=p.port, user=MY_APP[0], password=MY_APP[1], database=MY_DB,
                        connect_timeout=10, read_timeout=30, autocommit=True)
    try:
        for epoch, (phase, truth) in enumerate((("paused", "source"), ("serving", "target")), 5):
            st, doc = api(p, "POST", "/api/v1/state", {"epoch": epoch, "phase": phase, "source_of_truth": truth})
            assert st == 200 and doc["applied"], doc
        cur = c.cursor()
        cur.execute("select 'served', current_setting('server_version_num') <> ''")
        assert cur.fetchone() == ("served", 1)  # a PostgreSQL function: the target answers
    finally:
        c.close()
    st, doc = api(p, "GET", "/api/v1/state")
    assert st == 200 and doc["phase"] == "serving" and doc["source_of_truth"] == "target", doc


def test_paused_store_applied(clusters, proxy_factory, mysql_server):
    """The coordination store says paused (an orchestrator's begin): the
    instance applies and acknowledges it, as with a pgwire source."""
    dbs = Dbs(clusters)
    try:
        p = proxy_factory(name="mysql-store", source_dialect="mysql", init_source=mysql_server.url(),
                          init_target=clusters.target_url(db=dbs.store))
        assert wait_until(lambda: api(p, "GET", "/api/v1/state")[1].get("store") == "ok", clusters.t(10))
        epoch = dbs.state()[0]
        dbs.write_state(epoch + 1, "paused", "source")

        def applied():
            doc = api(p, "GET", "/api/v1/state")[1]
            return doc.get("epoch") == epoch + 1 and doc

        doc = wait_until(applied, clusters.t(10))
        assert doc and doc["phase"] == "paused", doc
        dbs.write_state(epoch + 2, "serving", "source")
        assert wait_until(lambda: api(p, "GET", "/api/v1/state")[1].get("epoch") == epoch + 2, clusters.t(10))
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
