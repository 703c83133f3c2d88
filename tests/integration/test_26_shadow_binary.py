"""26. Shadow comparison of prepared statements run the way pgx runs them:
Parse + Describe(statement) + Sync (the RowDescription says "text" for every
column), later Bind with binary result formats + Execute + Sync, whose rows
come without a RowDescription.  int4 on the source and int8 on the target
hold the same values: no mismatch; a value changed on the target is one."""

import struct

import pytest

from lmsproxy import APP_DB, APP_PASSWORD, APP_USER, PgRaw

BIN = 1


@pytest.fixture
def sync_proxy(proxy_factory):
    return proxy_factory(name="bin", shadow_mode="sync")


@pytest.fixture
def int_table(sides, uniq):
    t = sides.table(uniq, "id int primary key, n int4, v text", side="source")
    sides.table(t, "id int primary key, n int8, v text", side="target")
    sides.run("insert into %s values (1, 5, 'a'), (2, -7, 'b'), (3, 2147483647, null), (4, null, 'd')" % t)
    return t


def raw_session(p):
    raw = PgRaw("127.0.0.1", p.port)
    raw.startup(APP_USER, APP_DB, APP_PASSWORD)
    return raw


def int4(v):
    return struct.pack("!i", v)


def test_binary_prepared_int4_vs_int8(sync_proxy, int_table):
    t = int_table
    before = sync_proxy.shadow_counts()
    raw = raw_session(sync_proxy)
    try:
        assert raw.prepare("s_one", "select n from %s where id = $1" % t) is not None
        assert raw.prepare("s_all", "select id, n, v from %s order by id" % t) is not None
        assert raw.prepare("s_ins", "insert into %s values ($1, $2, 'x')" % t) is None  # NoData
        for _ in range(2):
            rows, tags = raw.run_prepared([("s_one", [1], [BIN])])
            assert rows == [[int4(5)]] and tags == ["SELECT 1"]
        # several statements in one pipeline, per-column and text formats
        rows, tags = raw.run_prepared([
            ("s_all", [], [BIN, BIN, 0]),
            ("s_one", [2], [BIN]),
            ("s_ins", [10, 10], []),
            ("s_one", [10], []),
        ])
        assert tags == ["SELECT 4", "SELECT 1", "INSERT 0 1", "SELECT 1"]
        assert rows[:4] == [[int4(1), int4(5), b"a"], [int4(2), int4(-7), b"b"],
                            [int4(3), int4(2147483647), None], [int4(4), None, b"d"]]
        assert rows[4:] == [[int4(-7)], [b"10"]]
        # an error mid-pipeline (division by zero), then the statements again
        raw.prepare("s_div", "select n / $1 from %s where id = 1" % t)
        with pytest.raises(Exception):
            raw.run_prepared([("s_one", [1], [BIN]), ("s_div", [0], [BIN]), ("s_one", [2], [BIN])])
        rows, _ = raw.run_prepared([("s_div", [5], [BIN]), ("s_one", [3], [BIN])])
        assert rows == [[int4(1)], [int4(2147483647)]]
        raw.terminate()
    finally:
        raw.close()
    c = sync_proxy.shadow_counts()
    assert c["mismatches"] == before["mismatches"], (before, c, sync_proxy.mismatch_records())
    assert c["mismatch"] == before["mismatch"], (before, c)
    assert c["match"] >= before["match"] + 8, (before, c)


def test_binary_difference_detected(sync_proxy, sides, int_table):
    t = int_table
    sides.run("update %s set n = 6 where id = 1" % t, side="target")
    raw = raw_session(sync_proxy)
    try:
        raw.prepare("s_one", "select n from %s where id = $1" % t)
        rows, _ = raw.run_prepared([("s_one", [2], [BIN])])  # same on both
        assert rows == [[int4(-7)]]
        rows, _ = raw.run_prepared([("s_one", [1], [BIN])])  # differs
        assert rows == [[int4(5)]]  # the source's answer
        raw.terminate()
    finally:
        raw.close()
    assert sync_proxy.wait_metric("lms_shadow_mismatches_total", at_least=1) == 1
    c = sync_proxy.shadow_counts()
    assert c["mismatch"] == 1 and c["match"] >= 2, c
    fp = "select n from %s where id = $?" % t
    recs = [r for r in sync_proxy.mismatch_records() if r.get("diff") == "values"]
    assert len(recs) == 1, sync_proxy.mismatch_records()
    assert recs[0]["fingerprint"].startswith("select n from %s where id" % t), (fp, recs)
