"""4. COPY FROM STDIN and COPY TO STDOUT through the proxy (100k rows)."""

import hashlib
import io

import psycopg2
import psycopg2.errors
import pytest

N = 100000


def make_data():
    lines = []
    for i in range(1, N + 1):
        # tabs/newlines/backslashes inside values are escaped in COPY text format
        lines.append("%d\tname %d with \\t tab and \\\\ backslash\t%d.%02d\t%s\n"
                     % (i, i, i * 3, i % 100, "\\N" if i % 97 == 0 else "x" * (i % 50)))
    return "".join(lines)


def test_copy_roundtrip(proxy, uniq):
    data = make_data()
    conn = proxy.connect()
    try:
        cur = conn.cursor()
        cur.execute("create table %s (id int primary key, name text, amount numeric, note text)"
                    % uniq)
        cur.copy_expert("copy %s from stdin" % uniq, io.StringIO(data))
        assert cur.rowcount == N
        conn.commit()
        cur.execute("select count(*), sum(id), count(note) from %s" % uniq)
        assert cur.fetchone() == (N, N * (N + 1) // 2, N - N // 97)
        out = io.StringIO()
        cur.copy_expert("copy (select * from %s order by id) to stdout" % uniq, out)
        got = out.getvalue()
        assert len(got) == len(data)
        assert hashlib.sha256(got.encode()).hexdigest() == hashlib.sha256(data.encode()).hexdigest()
        # the session is usable after both COPYs
        cur.execute("select 'still alive'")
        assert cur.fetchone()[0] == "still alive"
        # CSV + binary formats too
        out = io.BytesIO()
        cur.copy_expert("copy (select id, note from %s order by id) to stdout (format binary)"
                        % uniq, out)
        assert out.getvalue().startswith(b"PGCOPY\n\xff\r\n\x00")
        cur.execute("create table %s_b (id int, note text)" % uniq)
        out.seek(0)
        cur.copy_expert("copy %s_b from stdin (format binary)" % uniq, out)
        cur.execute("select count(*), count(note) from %s_b" % uniq)
        assert cur.fetchone() == (N, N - N // 97)
        cur.execute("drop table %s, %s_b" % (uniq, uniq))
        conn.commit()
    finally:
        conn.close()


def test_copy_from_stdin_error(proxy, uniq):
    """A bad row aborts COPY with the server's error; the session stays usable."""
    conn = proxy.connect()
    try:
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("create table %s (id int)" % uniq)
        with pytest.raises(psycopg2.errors.InvalidTextRepresentation):
            cur.copy_expert("copy %s from stdin" % uniq, io.StringIO("1\n2\nnot-a-number\n4\n"))
        cur.execute("select count(*) from %s" % uniq)
        assert cur.fetchone()[0] == 0
        cur.execute("drop table %s" % uniq)
    finally:
        conn.close()
