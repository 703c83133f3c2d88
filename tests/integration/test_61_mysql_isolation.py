"""61. A MySQL session's transaction isolation level and access mode on a
PostgreSQL-protocol database (docs/mysql.md, "Isolation").

MySQL's `SET SESSION TRANSACTION ISOLATION LEVEL x` (Connector/J's
setTransactionIsolation, Django's and SQLAlchemy's isolation settings)
means `SET TRANSACTION` to PostgreSQL, which outside a transaction only
warns: the level asked for was never used, and `SET SESSION
transaction_isolation = '...'` failed outright.  molt-lms now sends
PostgreSQL's words (`SET SESSION CHARACTERISTICS AS TRANSACTION ...`,
plugin ABI 1.9 `lms_request.other_sql`); `SET TRANSACTION ...` without a
scope (go-sql-driver's BeginTx) applies to the next `BEGIN` or `START
TRANSACTION` alone; `SELECT @@transaction_isolation` tells the session's
level.  PostgreSQL's own `SHOW` reports the level it runs at."""

import pymysql
import pytest

from mysqlraw import MyError
from test_56_mysql_shadow import assert_no_mismatch, my_connect, shadow_proxy
from test_57_mysql_served import Jdbc, cut_over, on_target, raw_login, served_proxy, serve_classes, two  # noqa: F401


def one(cur, sql):
    cur.execute(sql)
    return cur.fetchone()[0]


@pytest.mark.parametrize("mode", ["none", "sync"])
def test_levels_after_cutover(proxy_factory, mysql_server, two, mode):
    """A level set on MariaDB is carried across the cutover (ABI 1.9
    fe_switch_state on the new connection; in sync the promoted shadow ran
    it already).  Then, served by PostgreSQL: the session level, the next
    transaction's level, the variable form, the access mode."""
    p = served_proxy(proxy_factory, mysql_server, shadow_mode=mode)
    c = my_connect(p.port, autocommit=True)
    t = two.name
    try:
        cur = c.cursor()
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE")  # on MariaDB
        assert one(cur, "select @@tx_isolation") == "SERIALIZABLE"  # MariaDB 10.11 names it so
        cut_over(p)
        assert one(cur, "select @@transaction_isolation") == "SERIALIZABLE"
        assert one(cur, "show default_transaction_isolation") == "serializable"
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        assert one(cur, "show default_transaction_isolation") == "repeatable read"
        cur.execute("select @@transaction_isolation, @@session.tx_isolation")
        assert cur.fetchone() == ("REPEATABLE-READ", "REPEATABLE-READ")
        cur.execute("SET SESSION transaction_isolation = 'SERIALIZABLE'")  # failed before
        assert one(cur, "show default_transaction_isolation") == "serializable"
        # the next transaction only (go-sql-driver's BeginTx)
        cur.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        cur.execute("START TRANSACTION")
        assert one(cur, "show transaction_isolation") == "read committed"
        cur.execute("COMMIT")
        cur.execute("BEGIN")
        assert one(cur, "show transaction_isolation") == "serializable"
        cur.execute("COMMIT")
        # the access mode
        cur.execute("SET SESSION TRANSACTION READ ONLY")
        assert one(cur, "select @@transaction_read_only") == 1
        with pytest.raises(pymysql.MySQLError) as e:
            cur.execute("insert into %s (id, name) values (90, 'read only')" % t)
        assert "read-only" in str(e.value), e.value.args
        cur.execute("SET SESSION TRANSACTION READ WRITE")
        assert cur.execute("insert into %s (id, name) values (91, 'read write')" % t) == 1
        assert on_target(two, "select id from %s where id in (90, 91)" % t) == [(91,)]
    finally:
        c.close()


def test_connector_j_set_transaction_isolation(serve_classes, proxy_factory, mysql_server, two):
    """Connector/J's setTransactionIsolation after the cutover: PostgreSQL
    runs at that level, and getTransactionIsolation reads it back."""
    p = served_proxy(proxy_factory, mysql_server)
    j = Jdbc(serve_classes, p, "")
    try:
        assert j("Q select 1") == ["row=1"]
        cut_over(p)
        assert j("I SERIALIZABLE") == ["isolation=SERIALIZABLE"]
        assert j("Q show default_transaction_isolation") == ["row=serializable"]
        assert j("I READ_COMMITTED") == ["isolation=READ_COMMITTED"]
        assert j("Q show default_transaction_isolation") == ["row=read committed"]
    finally:
        j.close()


def test_read_only_session_shadowed(proxy_factory, mysql_server, two):
    """MariaDB serves, the target shadows in sync: a session made read-only
    is refused the INSERT by both databases (SQLSTATE 25006 on each), so
    the answers match and the row lands on neither.  Before, PostgreSQL
    ignored the SET (a warning) and took the write."""
    p = shadow_proxy(proxy_factory, mysql_server, "sync")
    c = my_connect(p.port, autocommit=True)
    t = two.name
    try:
        cur = c.cursor()
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY")
        with pytest.raises(pymysql.MySQLError) as e:
            cur.execute("insert into %s (id, name) values (92, 'refused')" % t)
        assert e.value.args[0] == 1792, e.value.args
        cur.execute("SET SESSION TRANSACTION READ WRITE")
        assert cur.execute("insert into %s (id, name) values (93, 'written')" % t) == 1
    finally:
        c.close()
    assert on_target(two, "select id from %s where id in (92, 93)" % t) == [(93,)]
    assert_no_mismatch(p)


def test_cut_back_keeps_isolation_set(proxy_factory, mysql_server, two):
    """A session that set its isolation level and access mode after the
    cutover moves back to MariaDB with them (SET SESSION TRANSACTION ...
    on its new connection before its next command)."""
    from test_60_mysql_shadow_back import switch
    p = proxy_factory(name="myisoback", source_dialect="mysql", init_source=mysql_server.url(),
                      extra_args=["--coordination", "off"])
    r = raw_login(p)
    try:
        switch(p, 5, "target")
        r.query("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        r.query("SET SESSION TRANSACTION READ ONLY")
        switch(p, 7, "source")
        assert r.scalar("select @@tx_isolation") == "SERIALIZABLE"  # MariaDB's own answer
        assert r.scalar("select @@tx_read_only") == "1"
        with pytest.raises(MyError) as e:
            r.query("insert into %s (id, name) values (94, 'read only')" % two.name)
        assert e.value.code == 1792, e.value.message  # MariaDB refuses it
        r.query("SET SESSION TRANSACTION READ WRITE")
        r.query("insert into %s (id, name) values (95, 'written')" % two.name)
    finally:
        r.close()


def test_reset_forgets_the_level(proxy_factory, mysql_server, two):
    """COM_RESET_CONNECTION and COM_CHANGE_USER reset a MariaDB session's
    variables: a level set before them is not carried across the cutover."""
    from mysqlraw import COM_RESET_CONNECTION, MY_ADMIN
    p = served_proxy(proxy_factory, mysql_server)
    r = raw_login(p)
    s = raw_login(p)
    try:
        r.query("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        r.command(COM_RESET_CONNECTION)
        r.read_ok(1)
        s.query("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        s.change_user(*MY_ADMIN)
        assert r.scalar("select @@tx_isolation") == "REPEATABLE-READ"  # MariaDB's default again
        cut_over(p)
        for c in (r, s):
            assert c.scalar("select @@transaction_isolation") == "READ-COMMITTED"
            assert c.scalar("show default_transaction_isolation") == "read committed"
    finally:
        r.close()
        s.close()
