"""63. Shadowing MySQL onto PostgreSQL, value by value: for each MySQL
column type and the PostgreSQL type a migration would give it, the same
values stored on both sides compare equal (no mismatch) through the text
protocol (COM_QUERY) and the binary one (COM_STMT_EXECUTE), and a value
changed on the target only is reported as diff "values" in both.  The
rules per type are in docs/mysql.md ("Shadowing onto CockroachDB")."""

import pytest

from lmsproxy import wait_until
from mysqlraw import MY_APP, MyRaw
from test_56_mysql_shadow import TwoSides, my_connect, shadow_proxy

# (name, MySQL type, PostgreSQL type, [(MySQL literal, PostgreSQL literal), ...],
#  PostgreSQL literal(s) row 1 is changed to on the target only, one after
#  the other: values near the first one, each a different value).
# Each list holds typical, boundary, negative and NULL values.
CASES = [
    ("tinyint", "tinyint", "smallint", [("-128", "-128"), ("127", "127"), ("0", "0"), ("NULL", "NULL")],
     "-127"),
    ("tinyint_unsigned", "tinyint unsigned", "smallint", [("255", "255"), ("0", "0"), ("NULL", "NULL")], "254"),
    ("smallint", "smallint", "smallint", [("-32768", "-32768"), ("32767", "32767"), ("-1", "-1")], "-32767"),
    ("smallint_unsigned", "smallint unsigned", "integer", [("65535", "65535"), ("0", "0")], "65534"),
    ("mediumint", "mediumint", "integer", [("-8388608", "-8388608"), ("8388607", "8388607")], "-8388607"),
    ("mediumint_unsigned", "mediumint unsigned", "integer", [("16777215", "16777215")], "16777214"),
    ("int", "int", "integer", [("-2147483648", "-2147483648"), ("2147483647", "2147483647"), ("NULL", "NULL")],
     "-2147483647"),
    ("int_unsigned", "int unsigned", "bigint", [("4294967295", "4294967295"), ("0", "0")], "4294967294"),
    ("bigint", "bigint", "bigint", [("-9223372036854775808", "-9223372036854775808"),
                                    ("9223372036854775807", "9223372036854775807"), ("-1", "-1")],
     "-9223372036854775807"),
    ("bigint_unsigned", "bigint unsigned", "numeric(20,0)",
     [("18446744073709551615", "18446744073709551615"), ("0", "0"), ("9223372036854775808", "9223372036854775808")],
     ["18446744073709551614", "1844674407370955161"]),
    ("boolean", "boolean", "boolean", [("1", "true"), ("0", "false"), ("NULL", "NULL")], "false"),
    ("decimal", "decimal(10,2)", "numeric(10,2)",
     [("1.50", "1.50"), ("0.00", "0.00"), ("-0.01", "-0.01"), ("-99999999.99", "-99999999.99"),
      ("99999999.99", "99999999.99"), ("-5", "-5"), ("NULL", "NULL")], ["1.51", "-1.50", "15.0"]),
    ("decimal_other_scale", "decimal(12,4)", "numeric", [("1.5000", "1.5"), ("-0.0000", "0"), ("10", "10.000")],
     ["1.5001", "0.15"]),
    ("decimal_wide", "decimal(65,30)", "numeric(65,30)",
     [("-99999999999999999999999999999999999.999999999999999999999999999999",
       "-99999999999999999999999999999999999.999999999999999999999999999999"),
      ("0.000000000000000000000000000001", "0.000000000000000000000000000001")],
     "-99999999999999999999999999999999999.999999999999999999999999999998"),
    ("float", "float", "real",
     [("0.1", "0.1"), ("1.2345678", "1.2345678"), ("-2.5", "-2.5"), ("3.4028234e38", "3.4028234e38"),
      ("-1.17549435e-38", "-1.17549435e-38"), ("'-0'", "'-0'"), ("100", "100"), ("NULL", "NULL")], ["0.100001", "-0.1", "NULL"]),
    ("double", "double", "double precision",
     [("0.1", "0.1"), ("1e300", "1e300"), ("'-0'", "'-0'"), ("1.7976931348623157e308", "1.7976931348623157e308"),
      ("2.2250738585072014e-308", "2.2250738585072014e-308"), ("0.30000000000000004", "0.30000000000000004"),
      ("-2.5", "-2.5"), ("123456789012345680000", "123456789012345680000"), ("NULL", "NULL")],
     ["0.10000000000000002", "-0.1"]),
    ("date", "date", "date",
     [("'2024-02-29'", "'2024-02-29'"), ("'1000-01-01'", "'1000-01-01'"), ("'9999-12-31'", "'9999-12-31'"),
      ("NULL", "NULL")], "'2024-03-01'"),
    ("datetime0", "datetime", "timestamp(0)",
     [("'2024-01-02 03:04:05'", "'2024-01-02 03:04:05'"), ("'1000-01-01 00:00:00'", "'1000-01-01 00:00:00'"),
      ("'9999-12-31 23:59:59'", "'9999-12-31 23:59:59'"), ("'2024-01-02 00:00:00'", "'2024-01-02'")],
     "'2024-01-02 03:04:06'"),
    ("datetime3", "datetime(3)", "timestamp(3)",
     [("'2024-01-02 03:04:05.120'", "'2024-01-02 03:04:05.12'"), ("'2024-01-02 03:04:05'", "'2024-01-02 03:04:05'"),
      ("'1999-12-31 23:59:59.999'", "'1999-12-31 23:59:59.999'")], "'2024-01-02 03:04:05.121'"),
    ("datetime6", "datetime(6)", "timestamp(6)",
     [("'2024-01-02 03:04:05.123456'", "'2024-01-02 03:04:05.123456'"),
      ("'2024-01-02 03:04:05.000001'", "'2024-01-02 03:04:05.000001'"),
      ("'2024-01-02 00:00:00.000000'", "'2024-01-02 00:00:00'")], ["'2024-01-02 03:04:05.123457'", "'2024-01-02 03:04:05.123456'::timestamp - interval '1 hour'"]),
    # MariaDB's session time zone is SYSTEM (UTC here); the target's value
    # is written with another offset for the same instant
    ("timestamp_tz", "timestamp(6) null", "timestamptz(6)",
     [("'2024-01-02 03:04:05.5'", "'2024-01-02 05:04:05.5+02'"), ("'1970-01-01 00:00:01'", "'1970-01-01 00:00:01Z'"),
      ("'2038-01-19 03:14:07.999999'", "'2038-01-18 22:14:07.999999-05'"), ("'2024-03-01 00:00:00'",
                                                                              "'2024-02-29 20:30:00-03:30'"),
      ("NULL", "NULL")],
     ["'2024-01-02 03:04:05.5+02'", "'2024-01-02 03:04:05.500001+00'", "'2024-01-03 03:04:05.5+00'"]),
    ("timestamp_naive", "timestamp(3) null", "timestamp(3)",
     [("'2024-01-02 03:04:05.250'", "'2024-01-02 03:04:05.25'")], "'2024-01-02 03:04:05.251'"),
    ("time", "time(3)", "time(3)",
     [("'12:34:56.789'", "'12:34:56.789'"), ("'00:00:00'", "'00:00:00'"), ("'23:59:59.999'", "'23:59:59.999'"),
      ("NULL", "NULL")], "'12:34:56.788'"),
    ("time_interval", "time", "interval",
     [("'-838:59:59'", "'-838:59:59'"), ("'838:59:59'", "'838:59:59'"), ("'26:00:00'", "'1 day 02:00:00'"),
      ("'-00:00:01'", "'-00:00:01'"), ("'00:00:00'", "'0'"), ("'-49:30:00'", "'-2 days -01:30:00'"),
      ("'01:02:03'", "'01:02:03'")],
     ["'-838:59:58'", "'838:59:59'", "'-838:59:59.000001'", "'-1 mon'"]),
    ("year", "year", "smallint", [("2024", "2024"), ("1901", "1901"), ("2155", "2155"), ("0", "0"),
                                  ("NULL", "NULL")], "2023"),
    ("char", "char(5)", "char(5)",
     [("'ab'", "'ab'"), ("''", "''"), ("'abcde'", "'abcde'"), ("'é ü'", "'é ü'"), ("NULL", "NULL")], ["'ac'", "'Ab'", "' ab'"]),
    ("char_text", "char(5)", "text", [("'ab'", "'ab'"), ("'日本'", "'日本'")], "'ab '"),
    ("varchar", "varchar(20)", "varchar(20)",
     [("'héllo'", "'héllo'"), ("'日本語'", "'日本語'"), ("'😀'", "'😀'"), ("'a  '", "'a  '"), ("''", "''"),
      ("NULL", "NULL")], ["'hello'", "'héllo '"]),
    ("text", "text", "text",
     [("'héllo wörld'", "'héllo wörld'"), ("'line\\nbreak'", "E'line\\nbreak'"), ("'tab\\t'", "E'tab\\t'")],
     "'héllo world'"),
    ("binary", "binary(4)", "bytea", [("x'6162'", "'\\x61620000'"), ("x'00000000'", "'\\x00000000'")],
     ["'\\x61620001'", "'\\x6162'"]),
    ("varbinary", "varbinary(20)", "bytea",
     [("x'00ff'", "'\\x00ff'"), ("x''", "''"), ("x'deadbeef'", "'\\xdeadbeef'"), ("NULL", "NULL")], ["'\\x00fe'", "'\\x00ff00'"]),
    ("blob", "blob", "bytea", [("x'0001020304'", "'\\x0001020304'"), ("'abc'", "'abc'")], "'\\x0001020305'"),
    ("enum", "enum('small','medium','large')", "text", [("'small'", "'small'"), ("'large'", "'large'"),
                                                         ("NULL", "NULL")], "'medium'"),
    ("set", "set('a','b','c')", "text", [("'a,c'", "'a,c'"), ("''", "''")], "'a,b'"),
    ("json", "json", "jsonb",
     [("'{\"b\": 1,  \"a\":[1,2.50, true, null]}'", "'{\"b\": 1,  \"a\":[1,2.50, true, null]}'"),
      ("'[]'", "'[]'"), ("'{}'", "'{}'"), ("'null'", "'null'"), ("'\"str\"'", "'\"str\"'"),
      ("'{\"é\": \"\\\\u00e9\\\\n\", \"x\": {\"z\": [], \"y\": -0.50}}'",
       "'{\"é\": \"é\\n\", \"x\": {\"y\": -0.5, \"z\": []}}'"),
      ("'[1e3, 1.0, -0, 1E-2, 0.5e-1]'", "'[1000, 1, 0, 0.01, 0.05]'"), ("NULL", "NULL")],
     ["'{\"b\": 1, \"a\": [1, 2.51, true, null]}'", "'{\"b\": 1, \"a\": [true, 1, 2.5, null]}'",
      "'{\"B\": 1, \"a\": [1, 2.5, true, null]}'", "'{\"b\": \"1\", \"a\": [1, 2.5, true, null]}'",
      "'{\"b\": 1, \"a\": [1, 2.5, true, null], \"c\": null}'"]),
    ("uuid", "uuid", "uuid", [("'123e4567-e89b-12d3-a456-426614174000'", "'123E4567-E89B-12D3-A456-426614174000'"),
                              ("NULL", "NULL")], ["'123e4567-e89b-12d3-a456-426614174001'"]),
    ("inet6", "inet6", "inet", [("'::1'", "'::1'"), ("'2001:db8::ff00:42:8329'", "'2001:db8::ff00:42:8329'")],
     ["'::2'"]),
    ("bit1", "bit(1)", "boolean", [("b'1'", "true"), ("b'0'", "false"), ("NULL", "NULL")], "false"),
    ("bit10", "bit(10)", "bit(10)", [("b'1010'", "B'0000001010'"), ("b'1111111111'", "B'1111111111'"),
                                     ("0", "B'0000000000'")], ["B'0000001011'", "B'1000001010'"]),
    ("bit64", "bit(64)", "bit varying(64)",
     [("x'8000000000000001'", "B'1000000000000000000000000000000000000000000000000000000000000001'")],
     "B'1000000000000000000000000000000000000000000000000000000000000011'"),
]

IDS = [c[0] for c in CASES]


class Table(TwoSides):
    """One column of one type on both sides: id, v (dropped as TwoSides)."""

    def __init__(self, env, mysql_server, name, case):
        _, my_type, pg_type, values, _changed = case
        self.name = name
        self.my = my_connect(mysql_server.port, charset="utf8mb4")
        self.pg = env.target_admin_connect()
        self.my.cursor().execute("create table %s (id int primary key, v %s) default charset=utf8mb4"
                                 % (name, my_type))
        self.pg.cursor().execute("create table %s (id int primary key, v %s)" % (name, pg_type))
        for i, (my_lit, pg_lit) in enumerate(values, 1):
            self.my.cursor().execute("insert into %s values (%d, %s)" % (name, i, my_lit))
            self.pg.cursor().execute("insert into %s values (%d, %s)" % (name, i, pg_lit))


def settled(p, n):
    """Wait until n requests were compared (match or mismatch); the counts."""
    wait_until(lambda: p.shadow_counts()["match"] + p.shadow_counts()["mismatch"] >= n, p.env.t(20))
    return p.shadow_counts()


def select_both_ways(p, t, names="utf8mb4", first=()):
    """The whole table through the proxy: a COM_QUERY, then a prepared
    statement executed (binary rows).  3 compared requests (prepare too);
    SET NAMES is answered by molt-lms (counted "local").  The queries in
    first run before."""
    r = MyRaw("127.0.0.1", p.port, timeout=30)
    try:
        r.login(*MY_APP)
        r.query("SET NAMES %s" % names)
        for q in first:
            r.query(q)
        res = r.query("select id, v from %s order by id" % t)
        assert res[0][0] == "rows", res
        st = r.prepare("select id, v from %s where id > ? order by id" % t)
        kind, _, rows = r.execute(st, ["0"])
        assert kind == "rows", kind
        return res[0][2], rows
    finally:
        r.close()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sync_types_equal_then_changed(proxy_factory, mysql_server, lms_env, uniq, case):
    """Equal values: every comparison a match, in both protocols.  Row 1
    changed on the target only, to each value near it in turn: both
    selects report diff "values" each time."""
    tab = Table(lms_env, mysql_server, uniq, case)
    try:
        p = shadow_proxy(proxy_factory, mysql_server, "sync")
        text_rows, bin_rows = select_both_ways(p, tab.name)
        assert len(text_rows) == len(bin_rows) == len(case[3])
        c = settled(p, 3)
        assert c["mismatch"] == 0 and c["match"] == 3, (c, p.mismatch_records())
        changes = case[4] if isinstance(case[4], list) else [case[4]]
        for k, changed in enumerate(changes, 1):
            tab.pg.cursor().execute("update %s set v = %s where id = 1" % (tab.name, changed))
            select_both_ways(p, tab.name)
            c = settled(p, 3 + 3 * k)
            recs = p.mismatch_records()
            assert c["mismatch"] == 2 * k and c["match"] == 3 + k, (changed, c, recs)
            assert [r["diff"] for r in recs] == ["values"] * 2 * k, (changed, recs)
    finally:
        tab.drop()


LATIN1_CASE = ("latin1", "varchar(30)", "text",
               [("'héllo ÿ'", "'héllo ÿ'"), ("'€uro ‘q’ Ž'", "'€uro ‘q’ Ž'"), ("'plain'", "'plain'"),
                ("'{\"é\": [1,2]}'", "'{\"é\": [1, 2]}'")],
               "'hëllo ÿ'")


@pytest.mark.parametrize("my_type", ["varchar(30)", "char(20)", "text"])
def test_sync_latin1_results(proxy_factory, mysql_server, lms_env, uniq, my_type):
    """A client whose results are latin1 (SET NAMES latin1, MySQL's cp1252)
    gets non-ASCII text as latin1 bytes, PostgreSQL sends UTF-8: equal
    text compares equal, changed text does not."""
    case = (LATIN1_CASE[0], my_type) + LATIN1_CASE[2:]
    tab = Table(lms_env, mysql_server, uniq, case)
    try:
        p = shadow_proxy(proxy_factory, mysql_server, "sync")
        text_rows, _ = select_both_ways(p, tab.name, names="latin1")
        assert text_rows[0][1] == "héllo ÿ".encode("cp1252"), text_rows
        c = settled(p, 3)
        assert c["mismatch"] == 0 and c["match"] == 3, (c, p.mismatch_records())
        tab.pg.cursor().execute("update %s set v = %s where id = 1" % (tab.name, case[4]))
        select_both_ways(p, tab.name, names="latin1")
        c = settled(p, 6)
        assert c["mismatch"] == 2 and c["match"] == 4, (c, p.mismatch_records())
    finally:
        tab.drop()


def test_sync_timestamp_session_time_zone(proxy_factory, mysql_server, lms_env, uniq):
    """MySQL's TIMESTAMP text is in the MariaDB session's time zone, the
    target's timestamptz is compared in UTC (docs/mysql.md): a session in
    UTC compares equal, one that sets another time zone gets its
    TIMESTAMP values reported as different (a documented limit), never
    as equal."""
    case = [c for c in CASES if c[0] == "timestamp_tz"][0]
    tab = Table(lms_env, mysql_server, uniq, case)
    try:
        p = shadow_proxy(proxy_factory, mysql_server, "sync")
        select_both_ways(p, tab.name, first=["SET time_zone = '+00:00'"])
        c = settled(p, 3)
        assert c["mismatch"] == 0 and c["match"] == 3, (c, p.mismatch_records())
        select_both_ways(p, tab.name, first=["SET time_zone = '+02:00'"])
        c = settled(p, 6)
        assert c["mismatch"] == 2 and c["match"] == 4, (c, p.mismatch_records())
        assert [r["diff"] for r in p.mismatch_records()] == ["values", "values"]
    finally:
        tab.drop()


def test_sync_expressions_of_other_types(proxy_factory, mysql_server, lms_env, uniq):
    """Aggregates and expressions whose result types differ between the
    servers (MySQL's SUM of INT is DECIMAL, PostgreSQL's bigint; a
    comparison is 1/0 on MySQL, boolean on PostgreSQL) still compare by
    value.  Where the two SQL dialects compute different values (AVG's
    scale: -1.3333 against -1.3333333333333333; 1 / 4 is 0.2500 on MySQL,
    0 on PostgreSQL) the difference is reported, not hidden."""
    case = ("expr", "int", "integer", [("1", "1"), ("2", "2"), ("-7", "-7"), ("NULL", "NULL")], [])
    tab = Table(lms_env, mysql_server, uniq, case)
    t = tab.name
    equal = ["select count(*), count(v), sum(v), min(v), max(v) from %s" % t,
             "select id, v > 0, v is null, v * 1.5, -v from %s order by id" % t,
             "select cast(sum(v) as decimal(10,3)), sum(v) + 0.25 from %s" % t]
    different = ["select avg(v) from %s" % t, "select v / 4 from %s order by id" % t]
    try:
        p = shadow_proxy(proxy_factory, mysql_server, "sync")
        r = MyRaw("127.0.0.1", p.port, timeout=30)
        try:
            r.login(*MY_APP)
            for q in equal + different:
                assert r.query(q)[0][0] == "rows"
                st = r.prepare(q.replace("from %s" % t, "from %s where id > ?" % t, 1))
                assert r.execute(st, ["0"])[0] == "rows"
        finally:
            r.close()
        c = settled(p, 3 * len(equal + different))
        recs = p.mismatch_records()
        assert c["mismatch"] == 2 * len(different) and c["match"] == 3 * len(equal) + len(different), (c, recs)
        assert sorted(r["fingerprint"].split(" from ")[0] for r in recs) == \
            ["select avg(v)", "select avg(v)", "select v / ?", "select v / ?"], recs
        assert {r["diff"] for r in recs} == {"values"}, recs
    finally:
        tab.drop()
