"""1. psql through the proxy: simple queries, multi-statement, errors."""

from lmsproxy import run_tool


def psql(env, endpoint, script, *extra, **kw):
    return run_tool(env, endpoint, "psql", ["-X", "-At", "-v", "VERBOSITY=verbose", *extra],
                    input_text=script, **kw)


def test_select_1(lms_env, proxy):
    r = run_tool(lms_env, proxy, "psql", ["-X", "-At", "-c", "select 1"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


def test_multi_statement_error_and_recovery(lms_env, proxy):
    script = r"""
\set VERBOSITY verbose
select pg_backend_pid() as pid \gset
select 'first';
select 2 \; select 3 \; select 'multi-last';
select 1/0;
select 'after-error';
select pg_backend_pid() = :pid as same_backend;
begin;
select 1/0;
select 'inside-failed-txn';
rollback;
select 'after-rollback';
"""
    r = psql(lms_env, proxy, script)
    # psql without ON_ERROR_STOP exits 0 even when statements fail; the
    # errors must be on stderr with their SQLSTATE.
    assert r.returncode == 0, r.stderr
    out = [ln for ln in r.stdout.split("\n") if ln]
    assert out == ["first", "2", "3", "multi-last", "after-error", "t",
                   "BEGIN", "ROLLBACK", "after-rollback"], r.stdout
    assert r.stderr.count("ERROR:  22012: division by zero") == 2, r.stderr
    assert "25P02" in r.stderr, r.stderr  # in failed transaction block


def test_multi_statement_one_query_message(lms_env, proxy, uniq):
    """-c with several statements is one Query message: an error in the middle
    aborts the implicit transaction, so the first insert is rolled back too."""
    r = run_tool(lms_env, proxy, "psql", [
        "-X", "-At", "-v", "VERBOSITY=verbose",
        "-c", "create table %s (v int)" % uniq,
        "-c", "insert into %s values (1); select 1/0; insert into %s values (2)" % (uniq, uniq),
        "-c", "select count(*) from %s" % uniq,
        "-c", "drop table %s" % uniq,
    ])
    assert r.returncode == 0, r.stderr
    assert "22012" in r.stderr
    lines = [ln for ln in r.stdout.split("\n") if ln]
    assert lines == ["CREATE TABLE", "INSERT 0 1", "0", "DROP TABLE"], r.stdout


def test_on_error_stop_exit_code(lms_env, proxy):
    r = psql(lms_env, proxy, "select 1/0;\nselect 'not reached';\n", "-v", "ON_ERROR_STOP=1")
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert "22012" in r.stderr
    assert "not reached" not in r.stdout
