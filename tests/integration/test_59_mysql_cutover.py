"""59. Consistent cutover of a MySQL (MariaDB) source onto a PostgreSQL-wire
target, end to end (issue 7): tests/mysql-replicator.py stands in for a CDC
tool (it copies every committed change, and the orchestrator's watermark,
from MariaDB to PostgreSQL), three molt-lms instances with
sourceDialect=mysql, the orchestrator with a mysql:// SOURCE_URL, and a
sysbench oltp_read_write workload plus acknowledged PyMySQL writes through
every instance the whole time.

begin -> commit: no client transaction fails, every acknowledged write is on
the target, MariaDB gets no write after commit, and afterwards the clients
(connected before the cutover, and new ones) keep working against
PostgreSQL through molt-lms."""

import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid

import psycopg2
import pymysql
import pytest

from lmsproxy import ADMIN_PASSWORD, ADMIN_USER, register_conn, wait_until
from mysqlraw import MY_ADMIN, MyRaw
from test_40_cutover import Orchestrator, cli, instances_ready

HERE = os.path.dirname(os.path.abspath(__file__))
REPLICATOR = os.path.join(HERE, "..", "mysql-replicator.py")
SB_TABLES, SB_SIZE = 2, 10000


def need(tool):
    if not shutil.which(tool):
        pytest.fail("%s is not installed (tests/setup-debian.sh installs it)" % tool)


def pg_url(env, db):
    return "postgresql://%s:%s@127.0.0.1:%d/%s?sslmode=disable" % (ADMIN_USER, ADMIN_PASSWORD,
                                                                  env.target_port, db)


def pg_connect(env, db):
    c = register_conn(psycopg2.connect(host="127.0.0.1", port=env.target_port, user=ADMIN_USER,
                                       password=ADMIN_PASSWORD, dbname=db, sslmode="disable"))
    c.autocommit = True
    return c


def my_connect(port, db, user=MY_ADMIN, **kw):
    args = dict(host="127.0.0.1", port=port, user=user[0], password=user[1], database=db,
                connect_timeout=10, read_timeout=60, write_timeout=60, autocommit=True)
    args.update(kw)
    return pymysql.connect(**args)


def one(conn, sql, args=None):
    cur = conn.cursor()
    cur.execute(sql, args)
    row = cur.fetchone()
    return row[0] if row else None


def sysbench(port, db, test, command, *extra, timeout=180):
    cmd = ["sysbench", "--db-driver=mysql", "--mysql-host=127.0.0.1", "--mysql-port=%d" % port,
           "--mysql-user=" + MY_ADMIN[0], "--mysql-password=" + MY_ADMIN[1], "--mysql-db=" + db,
           "--mysql-ssl=off", "--tables=%d" % SB_TABLES, "--table-size=%d" % SB_SIZE, test, command]
    return cmd + list(extra)


class Writer(threading.Thread):
    """Inserts numbered rows through one instance, one transaction each,
    remembering every id whose COMMIT was acknowledged."""

    def __init__(self, port, db, tag):
        super().__init__(daemon=True)
        self.port, self.db, self.tag = port, db, tag
        self.acked, self.errors = [], []
        self.stop = threading.Event()

    def run(self):
        try:
            c = my_connect(self.port, self.db, autocommit=False)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append("connect: %r" % (e,))
            return
        n = 0
        while not self.stop.is_set():
            n += 1
            key = "%s-%d" % (self.tag, n)
            try:
                cur = c.cursor()
                cur.execute("insert into acked (k, v) values (%s, %s)", (key, n))
                c.commit()
                self.acked.append(key)
            except Exception as e:  # noqa: BLE001
                self.errors.append("%s: %r" % (key, e))
                return
            time.sleep(0.005)
        c.close()


@pytest.fixture
def mycut(lms_env, mysql_server):
    """A fresh database of the same name on MariaDB and on the target
    cluster; sysbench tables with rows on MariaDB, the same tables (empty
    until the copy) on PostgreSQL; a table for acknowledged writes."""
    need("sysbench")
    env = lms_env
    db = "mycut_" + uuid.uuid4().hex[:8]
    my = my_connect(mysql_server.port, None)
    my.cursor().execute("create database %s" % db)
    pgc = pg_connect(env, "postgres")
    pgc.cursor().execute("create database %s" % db)
    pgc.close()
    r = subprocess.run(sysbench(mysql_server.port, db, "oltp_read_write", "prepare"), capture_output=True,
                       text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    my.select_db(db)
    my.cursor().execute("create table acked (k varchar(64) primary key, v int not null)")
    pg = pg_connect(env, db)
    for i in range(1, SB_TABLES + 1):
        pg.cursor().execute("create table sbtest%d (id integer primary key, k integer not null default 0, "
                            "c char(120) not null default '', pad char(60) not null default '')" % i)
        pg.cursor().execute("create index k_%d on sbtest%d (k)" % (i, i))
    pg.cursor().execute("create table acked (k varchar(64) primary key, v int not null)")
    ctx = {"db": db, "my": my, "pg": pg, "procs": []}
    yield ctx
    for p in ctx["procs"]:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    my.cursor().execute("drop database if exists %s" % db)
    my.cursor().execute("drop database if exists _molt_lms")
    my.close()
    pg.close()
    pgc = pg_connect(env, "postgres")
    pgc.cursor().execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s "
                         "and pid <> pg_backend_pid()", (db,))
    pgc.cursor().execute("drop database if exists %s" % db)
    pgc.close()


def replicator(env, mysql_server, ctx, *args):
    my_url = "mysql://%s:%s@127.0.0.1:%d/%s" % (MY_ADMIN[0], MY_ADMIN[1], mysql_server.port, ctx["db"])
    tables = ",".join(["sbtest%d" % i for i in range(1, SB_TABLES + 1)] + ["acked"])
    return ["/usr/bin/python3", REPLICATOR, "--mysql", my_url, "--pg", pg_url(env, ctx["db"]),
            "--tables", tables] + list(args)


def sb_stats(out):
    got = {}
    for name in ("transactions", "ignored errors", "reconnects"):
        m = re.search(r"^\s+%s:\s+(\d+)" % name, out, re.M)
        assert m, "no '%s' in sysbench output:\n%s" % (name, out)
        got[name] = int(m.group(1))
    return got


def table_rows(conn, table):
    cur = conn.cursor()
    cur.execute("select id, k, rtrim(c), rtrim(pad) from %s order by id" % table)
    return [tuple(str(v) for v in r) for r in cur.fetchall()]


def test_mysql_cutover_under_load(lms_env, mysql_server, proxy_factory, mycut):
    need("mariadb")
    env, ctx, db = lms_env, mycut, mycut["db"]
    my_src = "mysql://%s:%s@127.0.0.1:%d/%s?ssl-mode=DISABLED" % (MY_ADMIN[0], MY_ADMIN[1], mysql_server.port, db)
    orch = Orchestrator(env, pg_url(env, db), my_src)
    orch.args[orch.args.index("--source-dialect") + 1] = "mysql"
    orch.start()
    try:
        init = json.loads(cli(env, orch, "initialize").stdout)
        assert "created" in init, init
        # change capture, then the initial copy (nothing falls between)
        r = subprocess.run(replicator(env, mysql_server, ctx, "--install", "--copy"), capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert one(ctx["pg"], "select count(*) from sbtest1") == SB_SIZE
        repl_log = open(os.path.join(env.log_dir, "replicator-%s.log" % db), "wb")
        rp = subprocess.Popen(replicator(env, mysql_server, ctx, "--run"), stdout=repl_log,
                              stderr=subprocess.STDOUT)
        ctx["procs"].append(rp)

        proxies = [proxy_factory(name="mycut%d" % i, source_dialect="mysql", init_source=my_src,
                                 init_target=pg_url(env, db)) for i in range(3)]
        assert wait_until(lambda: instances_ready(env, orch, 3), env.t(30)), cli(env, orch, "status",
                                                                                 check=False).stdout
        before = my_connect(proxies[0].port, db)  # a client connected before the cutover
        assert one(before, "select count(*) from sbtest1") == SB_SIZE

        # one UPDATE per transaction (no DELETE/INSERT pairs): the workload's
        # transactions cannot conflict with each other, so no error at all is
        # allowed.  (With conflicts the two databases differ in what an
        # error leaves: InnoDB keeps the transaction, PostgreSQL aborts it
        # until ROLLBACK; docs/mysql.md, "After the cutover".)
        sb = [subprocess.Popen(sysbench(p.port, db, "oltp_read_write", "run", "--threads=2", "--time=14",
                                        "--mysql-ignore-errors=none", "--index_updates=1",
                                        "--non_index_updates=0", "--delete_inserts=0"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for p in proxies]
        ctx["procs"] += sb
        writers = [Writer(p.port, db, "w%d" % i) for i, p in enumerate(proxies)]
        for w in writers:
            w.start()
        time.sleep(4)
        begin = json.loads(cli(env, orch, "cutover", "consistent", "begin", "--drain-timeout", "30").stdout)
        commit = json.loads(cli(env, orch, "cutover", "consistent", "commit").stdout)
        assert commit.get("source_of_truth") == "target", (begin, commit)
        at_commit = one(ctx["my"], "select count(*) from acked")
        time.sleep(3)
        for w in writers:
            w.stop.set()
        for w in writers:
            w.join(timeout=env.t(60))
        for p in sb:
            out, _ = p.communicate(timeout=env.t(120))
            assert p.returncode == 0, out[-4000:]
            st = sb_stats(out)
            assert "FATAL" not in out, out[-4000:]
            assert st["ignored errors"] == 0 and st["reconnects"] == 0 and st["transactions"] > 0, st
        for w in writers:
            assert not w.errors, w.errors
        acked = [k for w in writers for k in w.acked]
        assert acked
        pg = ctx["pg"]
        cur = pg.cursor()
        cur.execute("select k from acked")
        on_target = {r[0] for r in cur.fetchall()}
        missing = [k for k in acked if k not in on_target]
        assert not missing, "acknowledged writes missing on the target: %s" % missing[:20]
        # nothing reached MariaDB after the commit
        assert one(ctx["my"], "select count(*) from acked") == at_commit
        assert at_commit < len(acked)

        # the client connected before the cutover is now served by PostgreSQL
        assert one(before, "select count(*) from acked") == len(on_target)
        cur = before.cursor()
        cur.execute("select version()")
        assert "PostgreSQL" in cur.fetchone()[0]
        before.close()

        # new clients log in after the cutover (LMS verifies the password)
        for p in proxies:
            c = my_connect(p.port, db)
            assert one(c, "select count(*) from sbtest2") >= 1
            c.close()
        c = my_connect(proxies[0].port, db)
        try:
            with pytest.raises(pymysql.err.IntegrityError) as e:
                c.cursor().execute("insert into acked (k, v) values (%s, 0)", (acked[0],))
            assert e.value.args[0] == 1062, e.value.args
            assert one(c, "select @@version_comment") is not None  # a connector's start-up query
        finally:
            c.close()
        with pytest.raises(pymysql.err.OperationalError) as e:
            my_connect(proxies[0].port, db, user=(MY_ADMIN[0], "wrong-password"))
        assert e.value.args[0] == 1045, e.value.args
        # the mariadb command-line client, logged in after the cutover
        r = subprocess.run(["mariadb", "-h", "127.0.0.1", "-P", str(proxies[2].port), "-u", MY_ADMIN[0],
                            "-p" + MY_ADMIN[1], "--skip-ssl", "-N", "-e", "select count(*) from acked", db],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.strip() == str(len(on_target)), (r.stdout, r.stderr)
        r = subprocess.run(sysbench(proxies[1].port, db, "oltp_point_select", "run", "--threads=2", "--time=3",
                                    "--mysql-ignore-errors=none"), capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr
        assert sb_stats(r.stdout)["transactions"] > 0
        raw = MyRaw("127.0.0.1", proxies[2].port)
        try:
            raw.login(*MY_ADMIN, db=db)
        finally:
            raw.close()
    finally:
        orch.stop()
