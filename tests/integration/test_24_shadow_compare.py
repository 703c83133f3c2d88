"""24. Shadow comparison: data that differs on the target is reported with the
statement's fingerprint (metrics, mismatch log, /api/v1/mismatches); row order
without ORDER BY, int4 vs int8 and numeric scale are not differences; a
transient 40001 on the target is counted apart; the mismatch log rotates."""

import decimal
import os

import psycopg2
import psycopg2.errors
import pytest

from lmsproxy import APP_DB, APP_PASSWORD, APP_USER, PgRaw, wait_until

LOG_KEYS = {"time", "conn", "user", "database", "fingerprint", "diff", "ordered",
            "source_of_truth", "source", "target"}
SIDE_KEYS = {"tag", "rows", "affected", "columns", "digest", "error", "lost", "latency_ms"}


@pytest.fixture
def sync_proxy(proxy_factory):
    return proxy_factory(name="cmp", shadow_mode="sync")


def app_conn(p):
    conn = p.connect()
    conn.autocommit = True
    return conn


def records_for(p, fp, timeout):
    return wait_until(lambda: [r for r in p.mismatch_records() if r.get("fingerprint") == fp],
                      p.env.t(timeout)) or []


def check_record(r, fp, diff):
    assert LOG_KEYS <= set(r), r
    assert r["fingerprint"] == fp, r
    assert r["diff"] == diff, r
    assert r["user"] == "app" and r["database"] == "appdb", r
    assert r["source_of_truth"] == "source", r
    assert isinstance(r["time"], str) and r["time"], r
    assert r["conn"], r
    for side in ("source", "target"):
        assert SIDE_KEYS <= set(r[side]), (side, r)
        assert r[side]["error"] is None, r
        assert not r[side]["lost"], r
        assert r[side]["latency_ms"] >= 0, r
        assert str(r[side]["tag"]).upper().startswith("SELECT"), r
    assert r["source"]["digest"] != r["target"]["digest"], r


def test_changed_row_detected(sync_proxy, sides, uniq):
    t = sides.table(uniq, "id int primary key, v text")
    sides.run("insert into %s select i, 'v' || i from generate_series(1, 5) i" % t)
    sides.run("update %s set v = 'changed' where id = 3" % t, side="target")
    conn = app_conn(sync_proxy)
    cur = conn.cursor()
    cur.execute("select v from %s where id = 3" % t)
    assert cur.fetchall() == [("v3",)]  # the source's answer
    cur.execute("select v from %s where id = 2" % t)  # same fingerprint, same answer
    assert cur.fetchall() == [("v2",)]
    conn.close()

    fp = "select v from %s where id = ?" % t
    assert sync_proxy.wait_metric("lms_shadow_mismatches_total", at_least=1) == 1
    c = sync_proxy.shadow_counts()
    assert c["mismatch"] == 1 and c["match"] >= 1, c
    assert sync_proxy.metric("lms_shadow_differences_total", 'kind="values"') == 1

    recs = records_for(sync_proxy, fp, 5)
    assert len(recs) == 1, sync_proxy.mismatch_records()
    r = recs[0]
    check_record(r, fp, "values")
    assert r["ordered"] is False, r
    assert r["source"]["rows"] == 1 and r["target"]["rows"] == 1, r
    assert r["source"]["columns"] == 1 and r["target"]["columns"] == 1, r

    e = sync_proxy.fingerprint_stats(fp)
    assert e is not None, sync_proxy.api_mismatches()
    assert e["requests"] >= 2 and e["mismatch"] == 1 and e["match"] >= 1, e
    assert e["id"], e
    for k in ("truth_latency_ms", "other_latency_ms"):
        assert e[k]["max"] >= e[k]["avg"] >= 0, e
    api = sync_proxy.api_mismatches()
    assert api["tracked"] >= 1 and api["limit"] >= api["tracked"], api
    # sorted by mismatches: ours is the only one with any
    assert api["fingerprints"][0]["fingerprint"] == fp, api


def test_missing_row_detected(sync_proxy, sides, uniq):
    t = sides.table(uniq, "id int primary key, v text")
    sides.run("insert into %s select i, 'v' || i from generate_series(1, 5) i" % t)
    sides.run("delete from %s where id = 4" % t, side="target")
    conn = app_conn(sync_proxy)
    cur = conn.cursor()
    cur.execute("select id, v from %s" % t)
    assert len(cur.fetchall()) == 5
    conn.close()
    fp = "select id, v from %s" % t
    assert sync_proxy.wait_metric("lms_shadow_mismatches_total", at_least=1) == 1
    recs = records_for(sync_proxy, fp, 5)
    assert len(recs) == 1, sync_proxy.mismatch_records()
    r = recs[0]
    check_record(r, fp, "rows")
    assert r["source"]["rows"] == 5 and r["target"]["rows"] == 4, r
    assert r["source"]["columns"] == 2, r
    e = sync_proxy.fingerprint_stats(fp)
    assert e is not None and e["mismatch"] >= 1, sync_proxy.api_mismatches()


def test_equal_data_is_not_a_mismatch(sync_proxy, sides, uniq):
    # same rows, different physical order (no primary key, inserted in reverse)
    t_order = sides.table(uniq + "_o", "id int, v text")
    sides.run("insert into %s select i, 'v' || i from generate_series(1, 200) i" % t_order,
              side="source")
    sides.run("insert into %s select i, 'v' || i from generate_series(200, 1, -1) i" % t_order,
              side="target")
    q = "select id from %s" % t_order
    assert sides.rows("source", q) != sides.rows("target", q), "physical order should differ"
    assert sorted(sides.rows("source", q)) == sorted(sides.rows("target", q))
    # int4 on the source, int8 on the target
    t_int = sides.table(uniq + "_i", "id int, n int4", side="source")
    sides.table(t_int, "id int, n int8", side="target")
    sides.run("insert into %s values (1, 5), (2, -7), (3, 2147483647), (4, null)" % t_int)
    # numeric with a scale on the source (1.50), without on the target (1.5)
    t_num = sides.table(uniq + "_n", "id int, x numeric(10, 2)", side="source")
    sides.table(t_num, "id int, x numeric", side="target")
    sides.run("insert into %s values (1, 1.5), (2, 2), (3, 0.1), (4, -3.25)" % t_num)
    q = "select x::text from %s where id = 1" % t_num
    assert sides.rows("source", q) == [("1.50",)] and sides.rows("target", q) == [("1.5",)]

    conn = app_conn(sync_proxy)
    cur = conn.cursor()
    before = sync_proxy.shadow_counts()["match"]
    queries = [
        "select id, v from %s" % t_order,
        "select * from %s where id > 100" % t_order,
        "select id, v from %s order by id" % t_order,
        "select n from %s" % t_int,
        "select id, n from %s where n = 5" % t_int,
        "select x from %s" % t_num,
        "select x, id from %s where id = 1" % t_num,
    ]
    for q in queries:
        cur.execute(q)
        assert cur.fetchall()
    conn.close()
    assert sync_proxy.wait_metric("lms_shadow_requests_total", 'result="match"',
                                  at_least=before + len(queries)) >= before + len(queries)
    c = sync_proxy.shadow_counts()
    assert c["mismatches"] == 0 and c["mismatch"] == 0, (c, sync_proxy.mismatch_records())
    assert sync_proxy.mismatch_records() == []
    assert sum(e["mismatch"] for e in sync_proxy.api_mismatches()["fingerprints"]) == 0


def test_transient_error_from_trigger(sync_proxy, sides, uniq):
    """A target-only trigger raising SQLSTATE 40001 (a real serialization_failure
    from a real server): counted as transient, not as a mismatch."""
    t = sides.table(uniq, "id int primary key, v text")
    sides.run("create function %s_f() returns trigger language plpgsql as $$ begin "
              "raise exception 'simulated retry' using errcode = 'serialization_failure'; "
              "end $$" % t, side="target")
    sides.on_close("drop function if exists %s_f() cascade" % t, side="target")
    sides.run("create trigger %s_t before insert on %s for each row execute function %s_f()"
              % (t, t, t), side="target")
    with pytest.raises(psycopg2.errors.SerializationFailure):  # the precondition, directly
        sides.run("insert into %s values (0, 'direct')" % t, side="target")

    conn = app_conn(sync_proxy)
    cur = conn.cursor()
    for i in range(1, 4):
        cur.execute("insert into %s values (%d, 'x')" % (t, i))  # sync: the source's result
        assert cur.rowcount == 1
    conn.close()
    assert sides.value("source", "select count(*) from %s" % t) == 3
    assert sides.value("target", "select count(*) from %s" % t) == 0
    assert sync_proxy.wait_metric("lms_shadow_requests_total", 'result="transient"',
                                  at_least=3) == 3
    c = sync_proxy.shadow_counts()
    assert c["mismatches"] == 0 and c["mismatch"] == 0, c
    e = sync_proxy.fingerprint_stats("insert into %s values (?, ?)" % t)
    assert e is not None and e["transient"] == 3 and e["mismatch"] == 0, \
        sync_proxy.api_mismatches()
    assert all(r.get("diff") == "transient" for r in sync_proxy.mismatch_records())


def test_transient_serialization_failure(sync_proxy, sides, uniq):
    """A real concurrent-update conflict on the target only: the proxied
    SERIALIZABLE transaction's UPDATE fails with 40001 there, not on the source."""
    t = sides.table(uniq, "id int primary key, n int")
    sides.run("insert into %s values (1, 0), (2, 0)" % t)
    conn = app_conn(sync_proxy)
    cur = conn.cursor()
    cur.execute("begin isolation level serializable")
    cur.execute("select n from %s where id = 1" % t)  # both sides take their snapshot
    assert cur.fetchone()[0] == 0
    sides.run("update %s set n = n + 100 where id = 1" % t, side="target")  # committed
    cur.execute("update %s set n = n + 1 where id = 1" % t)  # 40001 on the target only
    assert cur.rowcount == 1
    cur.execute("rollback")
    cur.execute("select n from %s where id = 2" % t)
    assert cur.fetchone()[0] == 0
    conn.close()
    assert sync_proxy.wait_metric("lms_shadow_requests_total", 'result="transient"',
                                  at_least=1) == 1
    c = sync_proxy.shadow_counts()
    assert c["mismatches"] == 0 and c["mismatch"] == 0, (c, sync_proxy.mismatch_records())
    assert c["match"] >= 3, c  # begin, select, rollback, select
    e = sync_proxy.fingerprint_stats("update %s set n = n + ? where id = ?" % t)
    assert e is not None and e["transient"] == 1, sync_proxy.api_mismatches()
    assert sides.value("source", "select n from %s where id = 1" % t) == 0
    assert sides.value("target", "select n from %s where id = 1" % t) == 100


def test_mismatch_log_rotation(proxy_factory, sides, uniq, tmp_path):
    path = str(tmp_path / "mismatches.jsonl")
    keep, cap = 3, 4096
    p = proxy_factory(name="rot", shadow_mode="sync", mismatch_log=path,
                      extra_args=["--mismatch-log-max-bytes", str(cap),
                                  "--mismatch-log-files", str(keep)])
    t = sides.table(uniq, "id int primary key, v text")
    sides.run("insert into %s values (1, 'same'), (2, 'source')" % t, side="source")
    sides.run("insert into %s values (1, 'same'), (2, 'target')" % t, side="target")
    n = 150
    conn = app_conn(p)
    cur = conn.cursor()
    for i in range(n):
        cur.execute("select v, %d as i from %s where id = 2" % (i, t))
        assert cur.fetchone() == ("source", i)
    conn.close()
    assert p.wait_metric("lms_shadow_mismatches_total", at_least=n) == n

    def files():
        return sorted(f for f in os.listdir(str(tmp_path)) if f.startswith("mismatches.jsonl"))
    assert wait_until(lambda: "mismatches.jsonl.%d" % keep in files(), p.env.t(5)), files()
    assert files() == ["mismatches.jsonl"] + ["mismatches.jsonl.%d" % i
                                              for i in range(1, keep + 1)], files()
    for f in files():
        assert os.path.getsize(str(tmp_path / f)) <= cap, (f, os.path.getsize(str(tmp_path / f)))
    recs = p.mismatch_records()  # every line parses as JSON
    assert 4 <= len(recs) < n, len(recs)
    fp = "select v, ? as i from %s where id = ?" % t
    for r in recs:
        assert LOG_KEYS <= set(r), r
        assert r["fingerprint"] == fp and r["diff"] == "values", r


def test_oversized_statement_is_named(sync_proxy, sides, uniq):
    """A statement over the 32 KiB decode limit is not decoded: it is named
    from its first bytes (marked "(oversized)") in the mismatch log and the
    fingerprint stats, for a simple query and for a prepared one."""
    t = sides.table(uniq, "id int primary key, v text")
    sides.run("insert into %s values (1, 'a')" % t, side="source")
    sides.run("insert into %s values (1, 'b')" % t, side="target")
    pad = "x" * 40000
    conn = app_conn(sync_proxy)
    cur = conn.cursor()
    cur.execute("select v from %s where id = 1 and length('%s') > 0" % (t, pad))
    assert cur.fetchone()[0] == "a"
    prefix = "select v from %s where id = ? and length(?" % t
    fp = prefix + " ... (oversized)"
    recs = records_for(sync_proxy, fp, 5)
    assert recs, [r["fingerprint"][:120] for r in sync_proxy.mismatch_records()]
    check_record(recs[0], fp, "values")
    st = sync_proxy.fingerprint_stats(fp)
    assert st is not None and st["mismatch"] == 1, st
    conn.close()
    # extended protocol: an oversized named Parse, then its Binds (each a
    # request of its own) are named from its first bytes too
    with PgRaw("127.0.0.1", sync_proxy.port) as raw:
        raw.startup(APP_USER, APP_DB, password=APP_PASSWORD)
        sql = "select v from %s where id = $1 and length('%s') > 0" % (t, pad)
        raw.prepare("big", sql)
        rows, _ = raw.run_prepared([("big", [1], ())])
        assert rows == [[b"a"]], rows
        raw.terminate()
    fp = "select v from %s where id = $1 and length(? ... (oversized)" % t
    assert wait_until(lambda: (sync_proxy.fingerprint_stats(fp) or {}).get("mismatch") == 1,
                      sync_proxy.env.t(5)), sync_proxy.api_mismatches()


def test_large_rows_compared_by_value(sync_proxy, sides, uniq):
    """Rows over the 32 KiB decode limit stream to the client as they come,
    and a copy of each is described whole at its end: their values are
    compared like any row's.  Before, they were compared by count and
    summed length only: a changed character in a 200 KB value was a match,
    and numeric 1.50 against 1.5 beside a 40 KB value a mismatch."""
    t = sides.table(uniq, "id int primary key, x numeric(10, 2), v text", side="source")
    sides.table(t, "id int primary key, x numeric, v text", side="target")
    sides.run("insert into %s values (1, 1.5, repeat('a', 40000)), (2, 2, repeat('b', 200000)), "
              "(3, 3, repeat('c', 1000000))" % t)
    sides.run("update %s set v = overlay(v placing 'X' from 100000) where id = 2" % t, side="target")
    conn = app_conn(sync_proxy)
    cur = conn.cursor()
    before = sync_proxy.shadow_counts()
    for q in ("select x, v from %s where id = 1" % t,
              "select v, x from %s where id = 3" % t,
              "select id, length(v) from %s order by id" % t):
        cur.execute(q)
        assert len(cur.fetchall()) >= 1
    assert sync_proxy.wait_metric("lms_shadow_requests_total", 'result="match"',
                                  at_least=before["match"] + 3) >= before["match"] + 3
    assert sync_proxy.shadow_counts()["mismatch"] == before["mismatch"], sync_proxy.mismatch_records()
    cur.execute("select id, v from %s where id >= 2" % t)
    rows = cur.fetchall()
    assert [(i, len(v)) for i, v in rows] == [(2, 200000), (3, 1000000)] and "X" not in rows[0][1]
    conn.close()
    fp = "select id, v from %s where id >= ?" % t
    recs = records_for(sync_proxy, fp, 5)
    assert len(recs) == 1, sync_proxy.mismatch_records()
    assert recs[0]["diff"] == "values", recs[0]
    assert recs[0]["source"]["rows"] == 2 and recs[0]["target"]["rows"] == 2, recs[0]
    assert sync_proxy.shadow_counts()["mismatch"] == before["mismatch"] + 1


def test_large_row_copied_on_one_side_only(proxy_factory, sides, uniq):
    """A large row the --translate-memory budget copies on one side but not
    on the other leaves the values incomparable: the request counts as
    "unchecked", per fingerprint too, and is not logged as a mismatch.
    Before, it was a "values" mismatch, though the values are equal.  Here
    the target's row is longer (numeric 1.5 written with 16,000 more digits
    of scale): over half the budget, which is all that copies for
    comparison may take, while the source's row is under it.  What both
    sides did count is still compared: a different number of rows is a
    mismatch."""
    p = proxy_factory(name="cmp1side", shadow_mode="sync", extra_args=["--translate-memory", "98304"])
    t = sides.table(uniq, "id int primary key, x numeric, v text")
    sides.run("insert into %s values (1, 1.5, repeat('a', 40000))" % t, side="source")
    sides.run("insert into %s values (1, round(1.5, 16000), repeat('a', 40000))" % t, side="target")
    assert sides.rows("target", "select length(x::text) from %s" % t)[0][0] > 16000
    conn = app_conn(p)
    cur = conn.cursor()
    cur.execute("select x, v from %s" % t)
    assert cur.fetchall() == [(decimal.Decimal("1.5"), "a" * 40000)]
    assert p.wait_metric("lms_shadow_requests_total", 'result="unchecked"', at_least=1) == 1
    counts = p.shadow_counts()
    assert counts["mismatch"] == 0 and counts["match"] == 0, counts
    assert p.metric("lms_shadow_differences_total", 'kind="unchecked"') == 1
    e = p.fingerprint_stats("select x, v from %s" % t)
    assert e and e["unchecked"] == 1 and e["mismatch"] == 0 and e["match"] == 0, e
    sides.run("insert into %s values (2, 2, 'b')" % t, side="source")
    cur.execute("select x, v from %s" % t)
    assert len(cur.fetchall()) == 2
    conn.close()
    assert p.wait_metric("lms_shadow_mismatches_total", at_least=1) == 1
    assert p.metric("lms_shadow_differences_total", 'kind="rows"') == 1
    assert p.metric("lms_translate_memory_bytes") == 0


@pytest.mark.parametrize("budget", [143360, 1 << 20], ids=["swapped", "all_copied"])
def test_large_rows_copied_on_different_sides(proxy_factory, sides, uniq, budget):
    """Equal answers whose large rows the budget's spare half copies on
    different sides: the source's first row is too large to copy (half of
    140 KiB holds a 33 KB row, not a 73 KB one), the target's second
    (char(n) padding, which the comparison drops, makes the difference).
    Each side describes one row by value, not the same one: "unchecked".
    Before, the described rows were compared with each other, a "values"
    mismatch for equal answers.  With 1 MiB everything is copied: a match."""
    p = proxy_factory(name="cmpswap", shadow_mode="sync", extra_args=["--translate-memory", str(budget)])
    t = sides.table(uniq, "id int primary key, v text, c1 char(40000), c2 text", side="source")
    sides.table(t, "id int primary key, v text, c1 text, c2 char(40000)", side="target")
    sides.run("insert into %s values (1, repeat('a', 33000), 'p', null), (2, repeat('b', 33000), null, 'q')" % t)
    conn = app_conn(p)
    cur = conn.cursor()
    cur.execute("select id, v, c1, c2 from %s order by id" % t)
    rows = cur.fetchall()
    assert [(r[0], r[2] and r[2].strip(), r[3]) for r in rows] == [(1, "p", None), (2, None, "q")]
    conn.close()
    want = "unchecked" if budget < 1 << 20 else "match"
    assert wait_until(lambda: p.shadow_counts()[want] == 1, p.env.t(5)), p.shadow_counts()
    assert p.shadow_counts()["mismatch"] == 0, (p.shadow_counts(), p.mismatch_records())


def test_large_rows_copied_on_neither_side(proxy_factory, sides, uniq):
    """Equal answers when the budget copies no large row on either side
    (other sessions hold it): "unchecked".  Before, such rows were compared
    by their summed wire length, which differs for equal values whenever
    the two schemas write them differently (char(n) padding here; a
    numeric's scale, a type's text on CockroachDB): a "values" mismatch."""
    p = proxy_factory(name="cmpnone", shadow_mode="sync", extra_args=["--translate-memory", "65536"])
    t = sides.table(uniq, "id int primary key, v text, c1 char(40000)", side="source")
    sides.table(t, "id int primary key, v text, c1 text", side="target")
    sides.run("insert into %s values (1, repeat('a', 33000), 'p')" % t)
    conn = app_conn(p)
    cur = conn.cursor()
    cur.execute("select id, v, c1 from %s" % t)
    assert len(cur.fetchall()) == 1
    conn.close()
    assert wait_until(lambda: p.shadow_counts()["unchecked"] == 1, p.env.t(5)), p.shadow_counts()
    assert p.shadow_counts()["mismatch"] == 0, (p.shadow_counts(), p.mismatch_records())


def test_multi_statement_requests(sync_proxy, sides, uniq):
    """A simple query of several statements is compared statement by
    statement: an ORDER BY in one orders only its own rows (the other's,
    in a physical order that differs on the target, still match), and
    affected rows are per statement (1 then 2 is not 2 then 1, though
    both sum to 3).  Before, the first statement's ORDER BY made every
    row compared in order, and the counts were compared by their sum."""
    t = sides.table(uniq, "id int primary key, v text, n int")
    sides.run("insert into %s select i, 'v' || i, 0 from generate_series(1, 200) i" % t, side="source")
    sides.run("insert into %s select i, 'v' || i, 0 from generate_series(200, 1, -1) i" % t, side="target")
    q = "select id from %s" % t
    assert sides.rows("source", q) != sides.rows("target", q), "physical order should differ"
    conn = app_conn(sync_proxy)
    cur = conn.cursor()
    before = sync_proxy.shadow_counts()
    cur.execute("select id from %s where id <= 3 order by id; select id, v from %s" % (t, t))
    assert len(cur.fetchall()) == 200  # psycopg2 keeps the last result
    assert wait_until(lambda: sync_proxy.shadow_counts()["match"] > before["match"], sync_proxy.env.t(5)), \
        (sync_proxy.shadow_counts(), sync_proxy.mismatch_records())
    assert sync_proxy.shadow_counts()["mismatch"] == before["mismatch"], sync_proxy.mismatch_records()
    sides.run("update %s set v = 'a' where id = 1" % t)
    sides.run("update %s set v = 'b' where id in (2, 3)" % t, side="source")
    sides.run("update %s set v = 'a' where id = 2" % t, side="target")
    sides.run("update %s set v = 'b' where id = 3" % t, side="target")
    cur.execute("update %s set n = n + 1 where v = 'a'; update %s set n = n + 1 where v = 'b'" % (t, t))
    assert cur.rowcount == 2  # the source's last statement
    conn.close()
    assert sync_proxy.wait_metric("lms_shadow_mismatches_total", at_least=before["mismatch"] + 1) \
        == before["mismatch"] + 1
    assert sync_proxy.metric("lms_shadow_differences_total", 'kind="affected"') == 1
