#!/usr/bin/python3
"""mysql-replicator.py - a CDC stand-in: MariaDB/MySQL tables -> PostgreSQL.

Used by the cutover tests (issue 7) where a real CDC tool would copy the
source's committed changes to the target.  Not a product: a test tool that
is small enough to reason about.  See --help for the command line.

How it works
------------
--install creates, on every chosen table, AFTER INSERT/UPDATE/DELETE
triggers that append one row (table, op, primary key as a JSON array, time)
to the change log `_lms_repl_log` in the source URL's database.  The log is
InnoDB, so a log row commits (or rolls back) with the transaction that
wrote it.  `_molt_lms.watermark` (the cutover watermark) is always included.

--copy copies the chosen tables' current contents (one consistent snapshot)
after replacing the target tables' rows; run it after --install so that no
change falls between the copy and the log.

--run polls the log.  One batch:
  1. START TRANSACTION WITH CONSISTENT SNAPSHOT on the source; read the log
     rows visible in it (ordered by id, at most --batch), then read, in the
     same snapshot, the current row of every primary key they name;
  2. in one PostgreSQL transaction, upsert the keys whose row exists and
     delete the others;
  3. after that commit, delete exactly the log ids read in 1 (by id, never
     by range: see below), on a second connection in a thread of its own
     while the next batches run; they skip the ids whose deletion is still
     pending (applying one twice would be harmless, only wasted work).

Commit order.  AUTO_INCREMENT ids are taken when a log row is inserted, not
when its transaction commits, so id 7 may be visible while id 5 is not yet
(and a rolled-back id never appears).  The replicator does not wait for such
gaps.  It does not need to: the log carries no row images, only keys, and
the rows are read from the same snapshot as the log.  A snapshot contains
whole committed transactions; for every key named by a log row visible in
it, the row read is the row as of that snapshot, and every key changed by a
transaction committed before the snapshot is named by a visible log row that
was not consumed yet (or was consumed by an earlier batch whose snapshot
already saw that change).  So after each batch the target tables hold
exactly the source tables as of one source snapshot: the changes appear in
commit order, transaction by transaction, with no wait for gaps.  A log row
that becomes visible later (id 5 above) is simply read by a later batch.
This is why log rows are deleted by id and not "up to the largest id": that
would drop id 5.  With --batch smaller than the log, a batch is a prefix of
the log and the target can briefly hold a mix of two snapshots; it converges
on the next batch.  If the replicator dies between steps 2 and 3, the next
batch applies the same keys again (reads and upserts are idempotent).

Types: the rows are read with PyMySQL (DECIMAL -> Decimal keeping its scale,
DATETIME/TIMESTAMP/DATE -> datetime/date, BLOB/BINARY -> bytes -> bytea,
CHAR/VARCHAR/TEXT -> str) and written with psycopg2; a tinyint(1) (or any
integer) going to a PostgreSQL boolean column is converted to True/False.
Both sessions run in UTC, so TIMESTAMP and DATETIME values land in a
timestamptz column as UTC.  The target columns are looked up by name; every
source column must exist on the target.  Not handled: MySQL zero dates
('0000-00-00'), tables without a primary key, foreign keys or unique keys
on the target that a batch could violate midway (it deletes, then upserts
table by table), two source databases with tables of the same name (the
trigger names would collide).

Lag: each log row records UNIX_TIMESTAMP(SYSDATE(6)) when the trigger ran;
a batch's lag is the time from its oldest change to the target commit.
The summary at exit (and each batch line with -v) reports it.
"""

import argparse
import base64
import json
import logging
import queue
import signal
import sys
import threading
import time
import urllib.parse

import psycopg2
import psycopg2.extras
import pymysql

LOG_TABLE = "_lms_repl_log"
TRIGGER_PREFIX = "_lms_repl_"
WATERMARK = ("_molt_lms", "watermark")
WATERMARK_DDL = ("CREATE TABLE IF NOT EXISTS `_molt_lms`.`watermark` (id INT PRIMARY KEY, "
                 "token VARCHAR(128) NOT NULL, written_at DATETIME(6) NOT NULL) ENGINE=InnoDB")
BINARY_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
CHUNK = 500  # keys per IN (...) list

log = logging.getLogger("mysql-replicator")


class ReplError(Exception):
    """A problem the user must fix (bad URL, missing table or column)."""


# ---------------------------------------------------------------------------
# connections


def mysql_connect(url):
    """Connect to a mysql://user:password@host:port/db URL (autocommit, UTC).
    Returns (connection, database name)."""
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("mysql", "mariadb"):
        raise ReplError("--mysql must be a mysql:// URL, got %r" % url)
    db = urllib.parse.unquote(u.path.lstrip("/"))
    if not db:
        raise ReplError("--mysql URL needs a database (mysql://user:pw@host:port/db)")
    conn = pymysql.connect(host=u.hostname or "127.0.0.1", port=u.port or 3306,
                           user=urllib.parse.unquote(u.username or ""),
                           password=urllib.parse.unquote(u.password or ""),
                           database=db, charset="utf8mb4", autocommit=True,
                           connect_timeout=10, init_command="SET time_zone = '+00:00'")
    return conn, db


def pg_connect(url):
    """Connect to a postgres:// URL (or a libpq key=value string), in UTC."""
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
    conn.commit()
    return conn


def my_ident(name):
    return "`" + name.replace("`", "``") + "`"


def pg_ident(name):
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------
# table metadata


class Table:
    """One replicated table: its source name (db, table), its target name,
    the columns copied, the primary key, and per-column converters."""

    def __init__(self, my, pg, default_db, db, name):
        self.db, self.name = db, name
        self.key = "%s.%s" % (db, name)
        self.my_name = my_ident(db) + "." + my_ident(name)
        # The URL's database maps to the target's search_path; another
        # database (such as _molt_lms) to the schema of the same name.
        self.pg_name = pg_ident(name) if db == default_db else pg_ident(db) + "." + pg_ident(name)
        with my.cursor() as cur:
            cur.execute("SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (db, name))
            cols = [(r[0], r[1].lower()) for r in cur.fetchall()]
            cur.execute("SELECT column_name FROM information_schema.statistics WHERE table_schema = %s "
                        "AND table_name = %s AND index_name = 'PRIMARY' ORDER BY seq_in_index", (db, name))
            self.pk = [r[0] for r in cur.fetchall()]
        if not cols:
            raise ReplError("source table %s does not exist" % self.key)
        if not self.pk:
            raise ReplError("source table %s has no primary key" % self.key)
        self.columns = [c for c, _ in cols]
        self.my_types = dict(cols)
        pg_types = pg_columns(pg, self.pg_name)
        missing = [c for c in self.columns if c not in pg_types]
        if missing:
            raise ReplError("target table %s lacks column(s) %s" % (self.pg_name, ", ".join(missing)))
        self.to_bool = [pg_types[c] == "boolean" for c in self.columns]
        self.pk_idx = [self.columns.index(c) for c in self.pk]

    def pk_expr(self, rec):
        """SQL for the JSON array of the primary key of NEW or OLD (rec)."""
        parts = []
        for c in self.pk:
            ref = "%s.%s" % (rec, my_ident(c))
            t = self.my_types[c]
            if t in BINARY_TYPES:
                ref = "TO_BASE64(%s)" % ref
            elif t in ("decimal", "float", "double"):
                ref = "CAST(%s AS CHAR)" % ref
            parts.append(ref)
        return "JSON_ARRAY(%s)" % ", ".join(parts)

    def decode_pk(self, text):
        """The primary key tuple of a log row's JSON array."""
        vals = json.loads(text)
        out = []
        for c, v in zip(self.pk, vals):
            if self.my_types[c] in BINARY_TYPES:
                v = base64.b64decode(v)
            out.append(v)
        return tuple(out)

    def convert(self, row):
        """A source row as the target's parameters."""
        return tuple(bool(v) if b and v is not None else v for v, b in zip(row, self.to_bool))


def pg_columns(pg, pg_name):
    """{column: type} of a target table; ReplError if it does not exist."""
    with pg.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (pg_name,))
        if cur.fetchone()[0] is None:
            pg.rollback()
            raise ReplError("target table %s does not exist" % pg_name)
        cur.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", (pg_name,))
        types = {r[0]: r[1] for r in cur.fetchall()}
    pg.commit()
    return types


def chosen_tables(my, db, args):
    """[(db, table)] named by --tables / --all, plus the watermark."""
    if args.all:
        with my.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                        "AND table_type = 'BASE TABLE' AND table_name <> %s ORDER BY table_name",
                        (db, LOG_TABLE))
            names = [(db, r[0]) for r in cur.fetchall()]
    else:
        names = []
        for t in args.tables.split(","):
            t = t.strip()
            if t:
                names.append(tuple(t.split(".", 1)) if "." in t else (db, t))
    if not args.no_watermark and WATERMARK not in names:
        names.append(WATERMARK)
    return names


# ---------------------------------------------------------------------------
# --install / --uninstall / --copy


def install(my, pg, db, names):
    """Create the change log and the triggers (replacing older ones)."""
    with my.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS %s (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, "
                    "tbl VARCHAR(200) NOT NULL, op CHAR(1) NOT NULL, pk TEXT NOT NULL, "
                    "at DECIMAL(17,6) NOT NULL) ENGINE=InnoDB" % my_ident(LOG_TABLE))
        if WATERMARK in names:
            cur.execute("CREATE DATABASE IF NOT EXISTS `_molt_lms`")
            cur.execute(WATERMARK_DDL)
    log_name = my_ident(db) + "." + my_ident(LOG_TABLE)
    for d, n in names:
        t = Table(my, pg, db, d, n)
        ins = "INSERT INTO %s (tbl, op, pk, at) VALUES (%s, '%%s', %%s, UNIX_TIMESTAMP(SYSDATE(6)))" % (
            log_name.replace("%", "%%"), pymysql.converters.escape_string(t.key).replace("%", "%%").join("''"))
        pk_changed = " OR ".join("NOT (OLD.%s <=> NEW.%s)" % (my_ident(c), my_ident(c)) for c in t.pk)
        bodies = {
            "ins": ("INSERT", ins % ("I", t.pk_expr("NEW")) + ";"),
            "del": ("DELETE", ins % ("D", t.pk_expr("OLD")) + ";"),
            "upd": ("UPDATE", "BEGIN %s; IF %s THEN %s; END IF; END" % (
                ins % ("U", t.pk_expr("NEW")), pk_changed, ins % ("U", t.pk_expr("OLD")))),
        }
        with my.cursor() as cur:
            for suffix, (event, body) in bodies.items():
                trg = my_ident(d) + "." + my_ident(trigger_name(n, suffix))
                cur.execute("DROP TRIGGER IF EXISTS " + trg)
                cur.execute("CREATE TRIGGER %s AFTER %s ON %s FOR EACH ROW %s" % (trg, event, t.my_name, body))
        log.info("installed triggers on %s -> %s", t.key, t.pg_name)


def trigger_name(table, suffix):
    """A trigger name within MySQL's 64 characters."""
    return (TRIGGER_PREFIX + table)[:60] + "_" + suffix


def uninstall(my, db, names, everything):
    """Drop the triggers on names; with everything, every trigger of ours
    in db and on the watermark, and the change log."""
    with my.cursor() as cur:
        targets = [(d, trigger_name(n, s)) for d, n in names for s in ("ins", "upd", "del")]
        if everything:
            cur.execute("SELECT trigger_schema, trigger_name FROM information_schema.triggers "
                        "WHERE trigger_schema IN (%s, %s) AND trigger_name LIKE %s",
                        (db, WATERMARK[0], TRIGGER_PREFIX.replace("_", "\\_") + "%"))
            targets += list(cur.fetchall())
        for d, trg in sorted(set(targets)):
            cur.execute("DROP TRIGGER IF EXISTS %s.%s" % (my_ident(d), my_ident(trg)))
        if everything:
            cur.execute("DROP TABLE IF EXISTS " + my_ident(LOG_TABLE))
    log.info("uninstalled from %d table(s)%s", len(names), ", change log dropped" if everything else "")


def copy(my, pg, db, names):
    """Replace the target rows of names with the source rows, all read in
    one source snapshot and written in one target transaction."""
    tables = [Table(my, pg, db, d, n) for d, n in names]
    total = 0
    with my.cursor() as cur:
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
    try:
        with pg.cursor() as pcur:
            for t in tables:
                pcur.execute("DELETE FROM " + t.pg_name)
                with my.cursor(pymysql.cursors.SSCursor) as cur:
                    cur.execute("SELECT %s FROM %s" % (", ".join(map(my_ident, t.columns)), t.my_name))
                    while True:
                        rows = cur.fetchmany(1000)
                        if not rows:
                            break
                        upsert(pcur, t, [t.convert(r) for r in rows])
                        total += len(rows)
        pg.commit()
    finally:
        my.rollback()
    log.info("copied %d row(s) of %d table(s)", total, len(tables))


# ---------------------------------------------------------------------------
# --run


def upsert(pcur, t, rows):
    """INSERT ... ON CONFLICT (pk) DO UPDATE of rows (target parameters)."""
    cols = ", ".join(map(pg_ident, t.columns))
    others = [c for c in t.columns if c not in t.pk]
    if others:
        action = "DO UPDATE SET " + ", ".join("%s = EXCLUDED.%s" % (pg_ident(c), pg_ident(c)) for c in others)
    else:
        action = "DO NOTHING"
    sql = "INSERT INTO %s (%s) VALUES %%s ON CONFLICT (%s) %s" % (
        t.pg_name, cols, ", ".join(map(pg_ident, t.pk)), action)
    psycopg2.extras.execute_values(pcur, sql, rows, page_size=CHUNK)


def delete(pcur, t, keys):
    """DELETE the target rows of keys (primary key tuples)."""
    where = " AND ".join("%s = %%s" % pg_ident(c) for c in t.pk)
    psycopg2.extras.execute_batch(pcur, "DELETE FROM %s WHERE %s" % (t.pg_name, where), keys, page_size=CHUNK)


class Forgetter(threading.Thread):
    """Step 3 on a connection of its own: deletes applied log rows by id, so
    that the next batch does not wait for that commit.  pending holds the
    ids applied but not deleted yet."""

    def __init__(self, my):
        super().__init__(name="forgetter", daemon=True)
        self.my = my
        self.queue = queue.Queue()
        self.lock = threading.Lock()
        self.pending = set()
        self.error = None

    def add(self, ids):
        with self.lock:
            self.pending.update(ids)
        self.queue.put(ids)

    def skip(self):
        """A copy of the pending ids."""
        with self.lock:
            return set(self.pending)

    def finish(self):
        """Delete what is queued, then stop; raises the thread's error."""
        self.queue.put(None)
        self.join()
        if self.error is not None:
            raise self.error

    def run(self):
        done = False
        while not done and self.error is None:
            ids = []
            item = self.queue.get()
            while True:  # one DELETE for everything queued meanwhile
                if item is None:
                    done = True
                else:
                    ids.extend(item)
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
            try:
                self.delete(ids)
            except Exception as e:  # raised by the main thread
                self.error = e

    def delete(self, ids):
        with self.my.cursor() as cur:
            for i in range(0, len(ids), CHUNK):
                part = ids[i:i + CHUNK]
                cur.execute("DELETE FROM %s WHERE id IN (%s)" % (my_ident(LOG_TABLE), ", ".join(map(str, part))))
                with self.lock:
                    self.pending.difference_update(part)


class Replicator:
    """Polls the change log and applies it (see the module comment)."""

    def __init__(self, my, my2, pg, db, batch, interval):
        self.my, self.pg, self.db = my, pg, db
        self.forgetter = Forgetter(my2)
        self.batch, self.interval = batch, interval
        self.tables = {}
        self.stopping = False
        self.batches = self.changes = 0
        self.lags = []

    def table(self, key):
        t = self.tables.get(key)
        if t is None:
            d, n = key.split(".", 1)
            t = self.tables[key] = Table(self.my, self.pg, self.db, d, n)
        return t

    def read(self):
        """Step 1: (log ids, oldest change time, {table: {pk: row or None}})
        from one snapshot; ids is empty when nothing new is logged."""
        skip = self.forgetter.skip()
        with self.my.cursor() as cur:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            try:
                cur.execute("SELECT id, tbl, pk, at FROM %s ORDER BY id LIMIT %d" % (
                    my_ident(LOG_TABLE), self.batch + len(skip)))
                entries = [e for e in cur.fetchall() if e[0] not in skip]
                keys = {}
                for _, tbl, pk, _ in entries:
                    t = self.table(tbl)
                    keys.setdefault(tbl, {})[t.decode_pk(pk)] = None
                for tbl, found in keys.items():
                    self.fetch_rows(cur, self.table(tbl), found)
            finally:
                self.my.rollback()
        ids = [e[0] for e in entries]
        oldest = min((float(e[3]) for e in entries), default=None)
        return ids, oldest, keys

    def fetch_rows(self, cur, t, found):
        """Fill found {pk: None} with the current source rows."""
        pks = list(found)
        cols = ", ".join(map(my_ident, t.columns))
        key = "(%s)" % ", ".join(map(my_ident, t.pk))
        one = "(%s)" % ", ".join(["%s"] * len(t.pk))
        for i in range(0, len(pks), CHUNK):
            part = pks[i:i + CHUNK]
            cur.execute("SELECT %s FROM %s WHERE %s IN (%s)" % (cols, t.my_name, key, ", ".join([one] * len(part))),
                        [v for pk in part for v in pk])
            for row in cur.fetchall():
                found[tuple(row[j] for j in t.pk_idx)] = row

    def apply(self, keys):
        """Step 2: one target transaction."""
        with self.pg.cursor() as pcur:
            for tbl, found in keys.items():
                t = self.table(tbl)
                gone = [pk for pk, row in found.items() if row is None]
                rows = [t.convert(row) for row in found.values() if row is not None]
                if gone:
                    delete(pcur, t, gone)
                if rows:
                    upsert(pcur, t, rows)
        self.pg.commit()

    def step(self):
        """One batch; the number of log rows applied."""
        if self.forgetter.error is not None:
            raise self.forgetter.error
        t0 = time.monotonic()
        ids, oldest, keys = self.read()
        if not ids:
            return 0
        t1 = time.monotonic()
        try:
            self.apply(keys)
        except Exception:
            self.pg.rollback()
            raise
        lag = time.time() - oldest
        self.forgetter.add(ids)
        self.batches += 1
        self.changes += len(ids)
        self.lags.append(lag)
        log.debug("batch: %d change(s), %d key(s), read %.1f ms, apply %.1f ms, lag %.1f ms", len(ids),
                  sum(len(f) for f in keys.values()), (t1 - t0) * 1000, (time.monotonic() - t1) * 1000, lag * 1000)
        return len(ids)

    def run(self, once):
        """Batches until the log is empty (once) or until SIGTERM/SIGINT."""
        self.forgetter.start()
        while not self.stopping:
            n = self.step()
            if n == 0:
                if once:
                    break
                time.sleep(self.interval)
        self.forgetter.finish()
        self.summary()

    def summary(self):
        lags = sorted(self.lags)
        if lags:
            pct = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))] * 1000  # noqa: E731
            log.info("applied %d change(s) in %d batch(es); lag ms p50 %.1f p95 %.1f max %.1f; cpu %.2f s",
                     self.changes, self.batches, pct(0.5), pct(0.95), lags[-1] * 1000, time.process_time())
        else:
            log.info("applied 0 changes")


# ---------------------------------------------------------------------------
# command line


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="mysql-replicator.py",
        description="Copy committed changes of MariaDB/MySQL tables to PostgreSQL (a CDC stand-in for "
                    "cutover tests). Triggers log changed primary keys; --run applies them in commit order.",
        epilog="Actions run in the order install, copy, run (uninstall alone). Tables of the --mysql URL's "
               "database map to the --pg search_path; db.table to the PostgreSQL schema db. "
               "_molt_lms.watermark is always included unless --no-watermark. Target tables must exist.")
    p.add_argument("--mysql", required=True, metavar="URL", help="source, mysql://user:password@host:port/db")
    p.add_argument("--pg", metavar="URL", help="target, postgresql://user:password@host:port/db")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--tables", metavar="T1,T2", help="tables to replicate (table or db.table)")
    sel.add_argument("--all", action="store_true", help="every base table of the --mysql database")
    p.add_argument("--no-watermark", action="store_true", help="leave _molt_lms.watermark out")
    p.add_argument("--install", action="store_true", help="create the change log and the triggers")
    p.add_argument("--uninstall", action="store_true",
                   help="drop the triggers (with --all: all of ours and the change log)")
    p.add_argument("--copy", action="store_true", help="replace the target rows with a source snapshot")
    p.add_argument("--run", action="store_true", help="apply the change log continuously")
    p.add_argument("--once", action="store_true", help="with --run: stop when the log is empty")
    p.add_argument("--batch", type=int, default=10000, metavar="N", help="log rows per batch (default 10000)")
    p.add_argument("--interval", type=float, default=0.005, metavar="S",
                   help="seconds between polls of an empty log (default 0.005)")
    p.add_argument("-v", "--verbose", action="store_true", help="log one line per batch")
    a = p.parse_args(argv)
    if not (a.install or a.uninstall or a.copy or a.run):
        p.error("give an action: --install, --uninstall, --copy or --run")
    if a.uninstall and (a.install or a.copy or a.run):
        p.error("--uninstall goes alone")
    if (a.install or a.uninstall or a.copy) and not (a.tables or a.all):
        p.error("--install, --uninstall and --copy need --tables or --all")
    if (a.install or a.copy or a.run) and not a.pg:
        p.error("--pg is required")
    if a.once and not a.run:
        p.error("--once goes with --run")
    if a.batch < 1 or a.interval < 0:
        p.error("--batch must be positive and --interval not negative")
    return a


def main(argv):
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s mysql-replicator: %(message)s")
    try:
        my, db = mysql_connect(args.mysql)
        if args.uninstall:
            uninstall(my, db, chosen_tables(my, db, args), args.all)
            return 0
        pg = pg_connect(args.pg)
        if args.install:
            install(my, pg, db, chosen_tables(my, db, args))
        if args.copy:
            copy(my, pg, db, chosen_tables(my, db, args))
        if args.run:
            r = Replicator(my, mysql_connect(args.mysql)[0], pg, db, args.batch, args.interval)

            def stop(signum, frame):
                r.stopping = True

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            r.run(args.once)
    except ReplError as e:
        log.error("%s", e)
        return 2
    except (pymysql.Error, psycopg2.Error) as e:
        log.error("database error: %s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
