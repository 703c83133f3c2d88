"""2. psycopg2 through the proxy: DDL/DML, transactions, PREPARE/EXECUTE,
parameters, plus the extended query protocol with parameters via pgbench."""

import decimal
import hashlib
import os

import psycopg2
import psycopg2.errors
import pytest

from lmsproxy import run_tool


@pytest.fixture
def conn(proxy):
    c = proxy.connect()
    yield c
    c.close()


def test_table_insert_select(conn, uniq):
    cur = conn.cursor()
    cur.execute("create table %s (id int primary key, name text, amount numeric(10,2), "
                "data bytea, ts timestamptz default now())" % uniq)
    rows = [(i, "name-%d \u00e9\u4e2d" % i, decimal.Decimal("%d.25" % i), bytes([i % 256]) * 10)
            for i in range(1, 101)]
    cur.executemany("insert into %s (id, name, amount, data) values (%%s, %%s, %%s, %%s)" % uniq,
                    rows)
    conn.commit()
    cur.execute("select id, name, amount, data from %s order by id" % uniq)
    got = [(r[0], r[1], r[2], bytes(r[3])) for r in cur.fetchall()]
    assert got == rows
    cur.execute("select count(*), sum(amount) from %s" % uniq)
    assert cur.fetchone() == (100, sum(r[2] for r in rows))
    cur.execute("drop table %s" % uniq)
    conn.commit()


def test_commit_and_rollback(proxy, conn, uniq):
    cur = conn.cursor()
    cur.execute("create table %s (v text)" % uniq)
    conn.commit()
    cur.execute("insert into %s values ('committed')" % uniq)
    conn.commit()
    cur.execute("insert into %s values ('rolled-back')" % uniq)
    # another session must not see the uncommitted row
    other = proxy.connect()
    try:
        ocur = other.cursor()
        ocur.execute("select v from %s order by v" % uniq)
        assert ocur.fetchall() == [("committed",)]
        other.rollback()
        conn.rollback()
        ocur.execute("select v from %s order by v" % uniq)
        assert ocur.fetchall() == [("committed",)]
        other.rollback()
    finally:
        other.close()
    cur.execute("select v from %s order by v" % uniq)
    assert cur.fetchall() == [("committed",)]
    # an error inside a transaction aborts it; rollback recovers the session
    cur.execute("insert into %s values ('doomed')" % uniq)
    with pytest.raises(psycopg2.errors.DivisionByZero):
        cur.execute("select 1/0")
    with pytest.raises(psycopg2.errors.InFailedSqlTransaction):
        cur.execute("select 1")
    conn.rollback()
    cur.execute("select array_agg(v order by v) from %s" % uniq)
    assert cur.fetchone()[0] == ["committed"]
    # savepoints
    cur.execute("insert into %s values ('sp-kept')" % uniq)
    cur.execute("savepoint s1")
    cur.execute("insert into %s values ('sp-undone')" % uniq)
    cur.execute("rollback to savepoint s1")
    conn.commit()
    cur.execute("select array_agg(v order by v) from %s" % uniq)
    assert cur.fetchone()[0] == ["committed", "sp-kept"]
    cur.execute("drop table %s" % uniq)
    conn.commit()


def test_server_side_prepare_execute(conn, uniq):
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("create table %s (id int, v text)" % uniq)
    cur.execute("prepare ins_%s (int, text) as insert into %s values ($1, $2)" % (uniq, uniq))
    for i in range(20):
        cur.execute("execute ins_%s (%%s, %%s)" % uniq, (i, "v%d" % i))
    cur.execute("prepare sel_%s (int) as select v from %s where id = $1" % (uniq, uniq))
    cur.execute("execute sel_%s (7)" % uniq)
    assert cur.fetchall() == [("v7",)]
    cur.execute("select name, parameter_types::text from pg_prepared_statements "
                "where name like %s order by name", ("%" + uniq,))
    assert cur.fetchall() == [("ins_" + uniq, "{integer,text}"), ("sel_" + uniq, "{integer}")]
    cur.execute("deallocate sel_%s" % uniq)
    with pytest.raises(psycopg2.errors.InvalidSqlStatementName):
        cur.execute("execute sel_%s (7)" % uniq)
    cur.execute("select count(*) from %s" % uniq)
    assert cur.fetchone()[0] == 20
    cur.execute("drop table %s" % uniq)


def test_parameterized_queries(conn):
    cur = conn.cursor()
    tricky = "it's \"quoted\" \\ back\\slash; -- not a comment \u2603"
    cur.execute("select %s, %s, %s, %s, %s", (tricky, 42, None, [1, 2, 3], b"\x00\x01\xff"))
    r = cur.fetchone()
    assert r[0] == tricky and r[1] == 42 and r[2] is None and r[3] == [1, 2, 3]
    assert bytes(r[4]) == b"\x00\x01\xff"
    cur.execute("select %(a)s::int + %(b)s::int", {"a": 40, "b": 2})
    assert cur.fetchone()[0] == 42
    big = "y" * 1000000
    cur.execute("select length(%s), md5(%s)", (big, big))
    assert cur.fetchone() == (1000000, hashlib.md5(big.encode()).hexdigest())


@pytest.mark.parametrize("mode", ["prepared", "extended"])
def test_extended_protocol_pgbench(lms_env, proxy, admin, uniq, mode):
    """pgbench -M prepared/extended sends Parse/Bind/Execute with parameters;
    the rows the script writes prove every statement ran with the right values."""
    acur = admin.cursor()
    acur.execute("create table %s (client int, v int, doubled int)" % uniq)
    acur.execute("grant all on %s to app" % uniq)
    script = os.path.join(lms_env.log_dir, "%s.sql" % uniq)
    with open(script, "w") as f:
        f.write("\\set v random(1, 1000000)\n"
                "insert into %s (client, v, doubled) values (:client_id, :v, :v * 2);\n"
                "select v, doubled from %s where v = :v limit 1;\n" % (uniq, uniq))
    try:
        r = run_tool(lms_env, proxy, "pgbench", ["-n", "-M", mode, "-c", "2", "-t", "100",
                                                 "-f", script], timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "number of transactions actually processed: 200/200" in r.stdout, r.stdout
        acur.execute("select count(*), count(distinct client), bool_and(doubled = v * 2) from %s"
                     % uniq)
        assert acur.fetchone() == (200, 2, True)
    finally:
        os.unlink(script)
        acur.execute("drop table %s" % uniq)
