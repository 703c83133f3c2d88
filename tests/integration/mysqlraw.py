"""MySQL helpers for the integration suite (test_50_mysql*.py).

* MysqlEnv: the throwaway MariaDB of tests/mysql-cluster.sh (port, users).
* MyRaw: a small MySQL client/server protocol client for what PyMySQL
  cannot express: the binary prepared-statement commands, raw or unknown
  commands, sequence ids, COM_CHANGE_USER, COM_RESET_CONNECTION.
"""

import datetime
import hashlib
import os
import socket
import ssl
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

MY_ADMIN = ("lms_admin", "lms-admin-pw")
MY_APP = ("app", "app-pw")
MY_ED = ("app_ed", "ed-pw")
MY_TLS = ("app_tls", "tls-pw")
MY_DB = "appdb"

CAP_LONG_PASSWORD = 0x1
CAP_CONNECT_WITH_DB = 0x8
CAP_COMPRESS = 0x20
CAP_LOCAL_FILES = 0x80
CAP_PROTOCOL_41 = 0x200
CAP_SSL = 0x800
CAP_TRANSACTIONS = 0x2000
CAP_SECURE_CONNECTION = 0x8000
CAP_MULTI_STATEMENTS = 0x10000
CAP_MULTI_RESULTS = 0x20000
CAP_PS_MULTI_RESULTS = 0x40000
CAP_PLUGIN_AUTH = 0x80000
CAP_DEPRECATE_EOF = 0x1000000

ST_IN_TRANS = 0x1
ST_MORE_RESULTS = 0x8

COM_QUIT, COM_INIT_DB, COM_QUERY, COM_FIELD_LIST = 0x01, 0x02, 0x03, 0x04
COM_STATISTICS, COM_PING, COM_CHANGE_USER = 0x09, 0x0e, 0x11
COM_BINLOG_DUMP = 0x12
COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_SEND_LONG_DATA = 0x16, 0x17, 0x18
COM_STMT_CLOSE, COM_STMT_RESET, COM_SET_OPTION, COM_RESET_CONNECTION = 0x19, 0x1a, 0x1b, 0x1f


class MysqlEnv:
    """The MariaDB server of tests/mysql-cluster.sh."""

    def __init__(self, test_dir):
        self.test_dir = test_dir
        self.port = int(os.environ.get("LMS_TEST_MYSQL_PORT") or 13306)
        self.script = os.path.join(REPO_ROOT, "tests", "mysql-cluster.sh")
        self.certs = os.path.join(test_dir, "certs")

    def start(self):
        env = dict(os.environ, LMS_TEST_DIR=self.test_dir, LMS_TEST_MYSQL_PORT=str(self.port))
        r = subprocess.run([self.script, "start"], capture_output=True, text=True, env=env, timeout=300)
        if r.returncode != 0:
            raise RuntimeError("mysql-cluster.sh start failed:\n%s%s" % (r.stdout, r.stderr))
        return self

    def url(self, user=MY_ADMIN, query="ssl-mode=DISABLED", db=MY_DB):
        return "mysql://%s:%s@127.0.0.1:%d/%s?%s" % (user[0], user[1], self.port, db, query)

    def cert(self, name):
        return os.path.join(self.certs, name)


class MyError(Exception):
    """An ERR packet: .code, .sqlstate, .message, .seq."""

    def __init__(self, payload, seq=None):
        self.code = struct.unpack("<H", payload[1:3])[0]
        if payload[3:4] == b"#":
            self.sqlstate = payload[4:9].decode()
            self.message = payload[9:].decode("utf-8", "replace")
        else:
            self.sqlstate = ""
            self.message = payload[3:].decode("utf-8", "replace")
        self.seq = seq
        super().__init__("%d (%s): %s" % (self.code, self.sqlstate, self.message))


def lenenc(b, off):
    """(value, new offset) of the length-encoded integer at b[off]; None for NULL."""
    c = b[off]
    if c < 0xFB:
        return c, off + 1
    if c == 0xFB:
        return None, off + 1
    n = {0xFC: 2, 0xFD: 3, 0xFE: 8}[c]
    return int.from_bytes(b[off + 1:off + 1 + n], "little"), off + 1 + n


def lenenc_bytes(n):
    if n < 0xFB:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + n.to_bytes(2, "little")
    if n < 1 << 24:
        return b"\xfd" + n.to_bytes(3, "little")
    return b"\xfe" + n.to_bytes(8, "little")


def lenenc_str(b, off):
    n, off = lenenc(b, off)
    if n is None:
        return None, off
    return bytes(b[off:off + n]), off + n


def native_scramble(password, salt):
    if not password:
        return b""
    h1 = hashlib.sha1(password.encode()).digest()
    h2 = hashlib.sha1(h1).digest()
    h3 = hashlib.sha1(salt + h2).digest()
    return bytes(a ^ b for a, b in zip(h1, h3))


class MyRaw:
    """One connection speaking the MySQL protocol by hand."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.caps = 0
        self.status = 0
        self.greeting = None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- packets
    def _recv(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("connection closed after %d of %d bytes" % (len(out), n))
            out += chunk
        return out

    def read_packet(self):
        """(seq, payload) of one physical packet."""
        h = self._recv(4)
        n = int.from_bytes(h[:3], "little")
        return h[3], self._recv(n)

    def read(self, expect_seq=None):
        """(seq of the first packet, payload) of one logical packet (16 MiB
        pieces joined); checks sequence ids when expect_seq is given."""
        seq, pl = self.read_packet()
        if expect_seq is not None and seq != expect_seq % 256:
            raise AssertionError("sequence id %d, expected %d" % (seq, expect_seq % 256))
        first = seq
        self.seq = seq
        while len(pl) % 0xFFFFFF == 0 and len(pl) > 0:
            s2, more = self.read_packet()
            if s2 != (self.seq + 1) % 256:
                raise AssertionError("continuation sequence id %d, expected %d" % (s2, self.seq + 1))
            self.seq = s2
            pl += more
            if len(more) < 0xFFFFFF:
                break
        return first, pl

    def send(self, payload, seq):
        """Send one logical packet from seq; returns the next seq."""
        off = 0
        while True:
            chunk = payload[off:off + 0xFFFFFF]
            self.sock.sendall(len(chunk).to_bytes(3, "little") + bytes([seq % 256]) + chunk)
            seq += 1
            off += len(chunk)
            if len(chunk) < 0xFFFFFF:
                return seq

    def send_raw(self, data):
        self.sock.sendall(data)

    # -- login
    def read_greeting(self):
        seq, pl = self.read(0)
        if pl[0] == 0xFF:
            raise MyError(pl, seq)
        assert pl[0] == 10, "protocol %d" % pl[0]
        nul = pl.index(b"\0", 1)
        off = nul + 1
        g = {"version": pl[1:nul].decode(), "conn_id": struct.unpack("<I", pl[off:off + 4])[0]}
        salt = pl[off + 4:off + 12]
        off += 13
        caps = struct.unpack("<H", pl[off:off + 2])[0]
        caps |= struct.unpack("<H", pl[off + 5:off + 7])[0] << 16
        auth_len = pl[off + 7]
        off += 8 + 10
        part2 = max(13, auth_len - 8)
        salt += pl[off:off + part2 - 1]
        off += part2
        plugin = pl[off:pl.index(b"\0", off)].decode() if b"\0" in pl[off:] else ""
        g.update(caps=caps, salt=salt, plugin=plugin, ext=pl[nul + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 6:
                                                          nul + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10])
        self.greeting = g
        return g

    def login(self, user, password, db=MY_DB, tls=False, cafile=None, deprecate_eof=False, extra_caps=0):
        g = self.read_greeting() if self.greeting is None else self.greeting
        caps = (CAP_LONG_PASSWORD | CAP_PROTOCOL_41 | CAP_SECURE_CONNECTION | CAP_PLUGIN_AUTH |
                CAP_TRANSACTIONS | CAP_MULTI_STATEMENTS | CAP_MULTI_RESULTS | CAP_PS_MULTI_RESULTS |
                CAP_LOCAL_FILES | extra_caps)
        if db:
            caps |= CAP_CONNECT_WITH_DB
        if deprecate_eof:
            caps |= CAP_DEPRECATE_EOF
        caps &= g["caps"] | CAP_SSL
        seq = 1
        header = lambda c: struct.pack("<IIB", c, 64 << 20, 45) + b"\0" * 23  # noqa: E731
        if tls:
            caps |= CAP_SSL
            seq = self.send(header(caps), seq)
            ctx = ssl.create_default_context(cafile=cafile)
            if not cafile:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.caps = caps
        auth = native_scramble(password, g["salt"][:20])
        body = header(caps) + user.encode() + b"\0" + bytes([len(auth)]) + auth
        if db:
            body += db.encode() + b"\0"
        body += b"mysql_native_password\0"
        seq = self.send(body, seq)
        return self._auth_loop(seq, password)

    def _auth_loop(self, seq, password):
        while True:
            s, pl = self.read(seq)
            if pl[0] == 0x00:
                self._ok(pl)
                return pl
            if pl[0] == 0xFF:
                raise MyError(pl, s)
            if pl[0] == 0xFE:
                nul = pl.index(b"\0", 1)
                plugin = pl[1:nul].decode()
                salt = pl[nul + 1:].rstrip(b"\0")
                if plugin != "mysql_native_password":
                    raise AssertionError("auth switch to %s not supported by MyRaw" % plugin)
                seq = self.send(native_scramble(password, salt[:20]), s + 1)
                continue
            raise AssertionError("unexpected login packet %r" % pl[:20])

    def _ok(self, pl):
        affected, off = lenenc(pl, 1)
        insert_id, off = lenenc(pl, off)
        self.status = struct.unpack("<H", pl[off:off + 2])[0]
        self.insert_id = insert_id
        return affected, insert_id

    # -- commands
    def command(self, cmd, body=b""):
        return self.send(bytes([cmd]) + body, 0)

    def read_ok(self, seq=1):
        s, pl = self.read(seq)
        if pl[0] == 0xFF:
            raise MyError(pl, s)
        if pl[0] == 0xFE and len(pl) < 9:
            self.status = struct.unpack("<H", pl[3:5])[0] if len(pl) >= 5 else 0
            return s, pl
        assert pl[0] == 0x00, "expected OK, got %r" % pl[:16]
        self._ok(pl)
        return s, pl

    def _eof_or_ok_end(self, pl):
        if self.caps & CAP_DEPRECATE_EOF:
            return pl[0] == 0xFE and len(pl) < 0xFFFFFF
        return pl[0] == 0xFE and len(pl) < 9

    def _end_status(self, pl):
        if self.caps & CAP_DEPRECATE_EOF:
            self._ok(pl)
        else:
            self.status = struct.unpack("<H", pl[3:5])[0]

    def read_coldefs(self, n, seq):
        cols = []
        for _ in range(n):
            _, pl = self.read(seq)
            seq += 1
            off = 0
            parts = []
            for _i in range(6):
                v, off = lenenc_str(pl, off)
                parts.append(v)
            _, off = lenenc(pl, off)
            ctype = pl[off + 6]
            cols.append({"name": parts[4].decode(), "type": ctype})
        if n and not self.caps & CAP_DEPRECATE_EOF:
            _, pl = self.read(seq)
            assert pl[0] == 0xFE, "expected EOF after definitions, got %r" % pl[:10]
            self.last_eof = pl
            seq += 1
        return cols, seq

    def read_result(self, seq=1, binary=False):
        """One result: ("ok", affected) or ("rows", columns, rows); raises MyError.
        self.status holds the terminator's status flags."""
        s, pl = self.read(seq)
        if pl[0] == 0xFF:
            raise MyError(pl, s)
        if pl[0] == 0x00:
            affected, _ = self._ok(pl)
            self.next_seq = s + 1
            return ("ok", affected)
        if pl[0] == 0xFB:
            return ("infile", pl[1:].decode())
        ncols, _ = lenenc(pl, 0)
        cols, seq = self.read_coldefs(ncols, s + 1)
        rows = []
        while True:
            s, pl = self.read(seq)
            seq = self.seq + 1
            if pl[0] == 0xFF:
                raise MyError(pl, s)
            if self._eof_or_ok_end(pl):
                self._end_status(pl)
                break
            rows.append(self._binary_row(pl, cols) if binary else self._text_row(pl, ncols))
        self.next_seq = seq
        return ("rows", cols, rows)

    @staticmethod
    def _text_row(pl, n):
        out, off = [], 0
        for _ in range(n):
            v, off = lenenc_str(pl, off)
            out.append(v)
        return out

    @staticmethod
    def _binary_row(pl, cols):
        """One binary result row: integers, floats, DATE/DATETIME/TIME as
        Python values, everything else as bytes (lenenc)."""
        assert pl[0] == 0x00
        nb = (len(cols) + 7 + 2) // 8
        bitmap = pl[1:1 + nb]
        off = 1 + nb
        out = []
        for i, c in enumerate(cols):
            bit = i + 2
            if bitmap[bit // 8] & (1 << (bit % 8)):
                out.append(None)
                continue
            t = c["type"]
            fixed = {1: "<b", 2: "<h", 3: "<i", 8: "<q", 4: "<f", 5: "<d", 9: "<i", 13: "<h"}
            if t in fixed:
                n = struct.calcsize(fixed[t])
                out.append(struct.unpack(fixed[t], pl[off:off + n])[0])
                off += n
            elif t in (7, 10, 12):
                n = pl[off]
                f = pl[off + 1:off + 1 + n]
                off += 1 + n
                y, mo, d = struct.unpack("<HBB", f[:4]) if n >= 4 else (0, 0, 0)
                h, mi, s = (f[4], f[5], f[6]) if n >= 7 else (0, 0, 0)
                us = struct.unpack("<I", f[7:11])[0] if n == 11 else 0
                out.append(datetime.date(y, mo, d) if t == 10 else datetime.datetime(y, mo, d, h, mi, s, us))
            elif t == 11:
                n = pl[off]
                f = pl[off + 1:off + 1 + n]
                off += 1 + n
                neg, days, h, mi, s = struct.unpack("<BIBBB", f[:8]) if n >= 8 else (0, 0, 0, 0, 0)
                us = struct.unpack("<I", f[8:12])[0] if n == 12 else 0
                out.append(datetime.timedelta(days=days, hours=h, minutes=mi, seconds=s, microseconds=us))
            else:
                v, off = lenenc_str(pl, off)
                out.append(v)
        return out

    def query(self, sql):
        """All results of a COM_QUERY (several with multi-statements)."""
        self.command(COM_QUERY, sql.encode() if isinstance(sql, str) else sql)
        out = [self.read_result(1)]
        while self.status & ST_MORE_RESULTS:
            out.append(self.read_result(self.next_seq))
        return out

    def prepare(self, sql):
        self.command(COM_STMT_PREPARE, sql.encode())
        s, pl = self.read(1)
        if pl[0] == 0xFF:
            raise MyError(pl, s)
        stmt, ncols, nparams = struct.unpack("<IHH", pl[1:9])
        seq = s + 1
        params, seq = self.read_coldefs(nparams, seq)
        cols, seq = self.read_coldefs(ncols, seq)
        return {"id": stmt, "params": nparams, "cols": ncols}

    def execute(self, stmt, params=(), long_data=()):
        """Execute with string (or None) parameters; indexes in long_data were
        sent with send_long_data and are not repeated."""
        body = struct.pack("<IBI", stmt["id"], 0, 1)
        if stmt["params"]:
            bitmap = bytearray((stmt["params"] + 7) // 8)
            for i, p in enumerate(params):
                if p is None:
                    bitmap[i // 8] |= 1 << (i % 8)
            body += bytes(bitmap) + b"\x01" + b"\xfd\x00" * stmt["params"]
            for i, p in enumerate(params):
                if p is None or i in long_data:
                    continue
                b = p.encode() if isinstance(p, str) else p
                body += lenenc_bytes(len(b)) + b
        self.command(COM_STMT_EXECUTE, body)
        return self.read_result(1, binary=True)

    def open_cursor(self, stmt):
        """COM_STMT_EXECUTE with a read-only cursor: definitions only, the
        rows come with fetch(); returns the columns."""
        self.command(COM_STMT_EXECUTE, struct.pack("<IBI", stmt["id"], 1, 1))
        s, pl = self.read(1)
        if pl[0] == 0xFF:
            raise MyError(pl, s)
        ncols, _ = lenenc(pl, 0)
        cols, seq = self.read_coldefs(ncols, s + 1)
        if self.caps & CAP_DEPRECATE_EOF:  # no EOF after the definitions: an OK says "cursor"
            _, pl = self.read(seq)
            assert pl[0] == 0xFE
            self._ok(pl)
        else:
            self.status = struct.unpack("<H", self.last_eof[3:5])[0]
        self.cursor_cols = cols
        return cols

    def fetch(self, stmt, n):
        """COM_STMT_FETCH n rows: (rows, status)."""
        self.command(0x1c, struct.pack("<II", stmt["id"], n))
        rows, seq = [], 1
        while True:
            s, pl = self.read(seq)
            seq = self.seq + 1
            if pl[0] == 0xFF:
                raise MyError(pl, s)
            if self._eof_or_ok_end(pl):
                self._end_status(pl)
                return rows, self.status
            rows.append(self._binary_row(pl, self.cursor_cols))

    def send_long_data(self, stmt, param, data):
        self.command(COM_STMT_SEND_LONG_DATA, struct.pack("<IH", stmt["id"], param) + data)

    def reset(self, stmt):
        self.command(COM_STMT_RESET, struct.pack("<I", stmt["id"]))
        return self.read_ok(1)

    def close_stmt(self, stmt):
        self.command(COM_STMT_CLOSE, struct.pack("<I", stmt["id"]))

    def change_user(self, user, password, db=MY_DB):
        auth = native_scramble(password, self.greeting["salt"][:20])
        body = user.encode() + b"\0" + bytes([len(auth)]) + auth + db.encode() + b"\0"
        body += struct.pack("<H", 45) + b"mysql_native_password\0"
        self.command(COM_CHANGE_USER, body)
        return self._auth_loop(1, password)

    def scalar(self, sql):
        res = self.query(sql)
        kind, cols, rows = res[-1]
        v = rows[0][0]
        return v.decode() if isinstance(v, bytes) else v
