"""50d. Shadowing a MySQL source is accepted (ABI 1.3 translates the
requests).  A cutover is no longer refused since mysql.so logs clients in
itself when the target serves (ABI 1.4, test_58_mysql_login.py)."""

import pymysql
import pytest

from mysqlraw import MY_APP, MY_DB


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
