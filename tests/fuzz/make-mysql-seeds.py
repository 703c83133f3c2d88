#!/usr/bin/env python3
"""make-mysql-seeds.py - write the seed corpus of fuzz_my_frontend,
fuzz_my_backend, fuzz_my_served and fuzz_my_own (see their header comments for the
layout: options byte, split-seed byte, then what the fuzzed peer sends).

Usage: make-mysql-seeds.py [OUTDIR]   (default: corpus/ next to this script)
"""
import os
import struct
import sys


def pkt(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq % 256]) + payload


def greeting(caps):
    pl = b"\x0a5.5.5-10.11.19-MariaDB\0" + b"\x2a\0\0\0" + b"abcdefgh\0"
    pl += struct.pack("<H", caps & 0xFFFF) + b"\x2d\x02\x00" + struct.pack("<H", caps >> 16) + b"\x15"
    pl += b"\0" * 10 + b"ijklmnopqrst\0mysql_native_password\0"
    return pkt(0, pl)


OK = b"\x00\x00\x00\x02\x00\x00\x00"
OK_TXN = b"\x00\x01\x00\x03\x00\x00\x00"
EOF_ = b"\xfe\x00\x00\x02\x00"
COLDEF = b"\x03def\x00\x00\x00\x01a\x00\x0c\x3f\x00\x0b\x00\x00\x00\x03\x00\x00\x00\x00\x00"
SRV_CAPS = 0x200 | 0x800 | 0x8000 | 0x80000 | 0x20000 | 0x10000 | 0x2000 | 0x80 | 0x1000000 | 0x20


def answers(deprecate, first):
    """The database's answers to the backend fuzzer's commands, in order
    (query, prepare, execute, field list, statistics, change user, ping)."""
    out = b""
    # COM_QUERY: a result set of 1 column, 2 rows, then more results and an OK
    s = first
    out += pkt(s, b"\x01") + pkt(s + 1, COLDEF)
    s += 2
    if not deprecate:
        out += pkt(s, EOF_)
        s += 1
    out += pkt(s, b"\x011") + pkt(s + 1, b"\x0222")
    s += 2
    end = b"\xfe\x00\x00\x0a\x00\x00\x00" if deprecate else b"\xfe\x00\x00\x0a\x00"
    out += pkt(s, end) + pkt(s + 1, OK_TXN)
    # COM_STMT_PREPARE: 1 column, 1 parameter
    out += pkt(1, b"\x00\x01\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00")
    s = 2
    for _ in range(2):
        out += pkt(s, COLDEF)
        s += 1
        if not deprecate:
            out += pkt(s, EOF_)
            s += 1
    # COM_STMT_EXECUTE: binary rows
    out += pkt(1, b"\x01") + pkt(2, COLDEF)
    s = 3
    if not deprecate:
        out += pkt(s, EOF_)
        s += 1
    out += pkt(s, b"\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00")
    out += pkt(s + 1, b"\xfe\x00\x00\x02\x00\x00\x00" if deprecate else EOF_)
    # COM_FIELD_LIST
    out += pkt(1, COLDEF) + pkt(2, b"\xfe\x00\x00\x02\x00\x00\x00" if deprecate else EOF_)
    # COM_STATISTICS
    out += pkt(1, b"Uptime: 5  Threads: 1")
    # COM_CHANGE_USER: auth switch, (client answers 2), OK
    out += pkt(1, b"\xfemysql_native_password\0saltsaltsaltsaltsalt\0") + pkt(3, OK)
    # COM_PING
    out += pkt(1, OK)
    return out


def backend_seeds():
    seeds = {}
    for deprecate in (0, 1):
        data = greeting(SRV_CAPS) + pkt(2, OK) + answers(deprecate, 1)
        opts = 0x10 if deprecate else 0
        seeds["plain_%s" % ("deprecate" if deprecate else "eof")] = bytes([opts, 0]) + data
        seeds["plain_%s_split" % ("deprecate" if deprecate else "eof")] = bytes([opts, 7]) + data
        # moved back holding statements (byte 1 bit 7): PREPARE OKs rewritten
        seeds["remap_%s" % ("deprecate" if deprecate else "eof")] = bytes([opts | 0x40, 0x83]) + data
    # both legs TLS (verify-full, certificate, client TLS): the login ends at 3
    data = greeting(SRV_CAPS) + pkt(3, OK) + answers(0, 1)
    seeds["tls_both"] = bytes([0x04 | 0x08 | 0x20, 0]) + data
    # auth switch during the login, then an ERR
    data = greeting(SRV_CAPS) + pkt(2, b"\xfeclient_ed25519\0" + b"n" * 32) + pkt(4, b"\xff\x15\x04#28000Access denied")
    seeds["login_switch_denied"] = bytes([0, 3]) + data
    # LOCAL INFILE then OK
    data = greeting(SRV_CAPS) + pkt(2, OK) + pkt(1, b"\xfbfile.csv") + pkt(4, OK)
    seeds["local_infile"] = bytes([0, 0]) + data
    # a refusal instead of a greeting
    seeds["refused"] = bytes([0, 0]) + pkt(0, b"\xff\x10\x04Too many connections")
    # observed (bit 6): a text row over 32 KiB streams past and is described
    # whole (core/session.c row_copy), between two small ones
    big = b"\xfc" + struct.pack("<H", 40000) + b"x" * 40000
    data = (greeting(SRV_CAPS) + pkt(2, OK) + pkt(1, b"\x01") + pkt(2, COLDEF) + pkt(3, EOF_) +
            pkt(4, b"\x011") + pkt(5, big) + pkt(6, b"\x0222") + pkt(7, EOF_))
    seeds["observe_long_text_row"] = bytes([0x40, 0]) + data
    seeds["observe_long_text_row_split"] = bytes([0x40, 5]) + data
    return seeds


def own_seeds():
    """fuzz_my_own: the database's side of the backend's own login, then the
    answers to the requests it encodes (query, describe, execute, ping,
    reset, ...), with CLIENT_DEPRECATE_EOF."""
    col = pkt(1, b"\x01") + pkt(2, COLDEF) + pkt(3, b"\x011") + pkt(4, b"\xfe\x00\x00\x02\x00\x00\x00")
    prep = pkt(1, b"\x00\x01\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00") + pkt(2, COLDEF) + pkt(3, COLDEF)
    after = col + prep + col + pkt(1, OK) + pkt(1, OK)
    seeds = {}
    seeds["native"] = bytes([0, 0]) + greeting(SRV_CAPS & ~0x800) + pkt(2, OK) + after
    seeds["native_split"] = bytes([1, 5]) + greeting(SRV_CAPS) + pkt(2, OK) + after
    seeds["tls"] = bytes([2, 0]) + greeting(SRV_CAPS) + pkt(3, OK) + after
    sw = pkt(2, b"\xfecaching_sha2_password\0" + b"abcdefghijklmnopqrst\0")
    seeds["switch_sha2_fast"] = bytes([0, 3]) + greeting(SRV_CAPS) + sw + pkt(4, b"\x01\x03") + pkt(5, OK) + after
    seeds["sha2_full_plain"] = bytes([0, 0]) + greeting(SRV_CAPS) + sw + pkt(4, b"\x01\x04")
    seeds["switch_ed25519"] = bytes([0, 0]) + greeting(SRV_CAPS) + pkt(2, b"\xfeclient_ed25519\0" + b"n" * 32)
    seeds["denied"] = bytes([8, 0]) + greeting(SRV_CAPS) + pkt(2, b"\xff\x15\x04#28000Access denied")
    seeds["refused"] = bytes([0, 0]) + pkt(0, b"\xff\x10\x04Too many connections")
    return seeds


def hs_response(seq, caps, ssl_request=False):
    pl = struct.pack("<IIB", caps, 1 << 24, 45) + b"\0" * 23
    if ssl_request:
        return pkt(seq, pl)
    pl += b"app\0\x14" + b"\x42" * 20 + b"appdb\0mysql_native_password\0"
    return pkt(seq, pl)


def frontend_seeds():
    seeds = {}
    caps = 0x200 | 0x8000 | 0x80000 | 0x20000 | 0x10000 | 0x80 | 0x8
    cmds = (pkt(0, b"\x03select 1") + pkt(0, b"\x16select ?") + pkt(0, b"\x17\x01\0\0\0\0\x01\0\0\0") +
            pkt(0, b"\x18\x01\0\0\0\0\0longdata") + pkt(0, b"\x19\x01\0\0\0") + pkt(0, b"\x09") +
            pkt(0, b"\x04t\0") + pkt(0, b"\x0e") + pkt(0, b"\x7fjunk") + pkt(0, b"\x12binlog") + pkt(0, b"\x01"))
    seeds["plain"] = bytes([0, 0]) + hs_response(1, caps) + cmds
    seeds["plain_split"] = bytes([0, 9]) + hs_response(1, caps) + cmds
    seeds["tls_both"] = bytes([0x01 | 0x02 | (4 << 2), 0]) + hs_response(1, caps | 0x800, True) + \
        hs_response(2, caps | 0x800) + cmds
    seeds["tls_required_refused"] = bytes([0x03, 0]) + hs_response(1, caps)
    seeds["switch"] = bytes([0x20, 0]) + hs_response(1, caps) + pkt(3, b"\x42" * 20) + cmds
    seeds["infile"] = bytes([0x40, 0]) + hs_response(1, caps) + pkt(0, b"\x03load data local infile 'f'") + \
        pkt(2, b"1,2\n") + pkt(3, b"") + pkt(0, b"\x0e")
    big = pkt(0, b"\x03" + b"x" * 200) + pkt(0, b"\x11app\0\0appdb\0")
    seeds["change_user"] = bytes([0, 0]) + hs_response(1, caps) + big + pkt(2, b"\x42" * 20)
    # KILL naming a proxy id (the harness knows ids 0x11xxxxxx), other forms, COM_PROCESS_KILL
    kills = (pkt(0, b"\x03KILL QUERY 287454020") + pkt(0, b"\x03 kill hard connection 287454020;") +
             pkt(0, b"\x03KILL QUERY ID 287454020") + pkt(0, b"\x03kill 5") + pkt(0, b"\x0c\x44\x33\x22\x11"))
    seeds["kill"] = bytes([0, 0]) + hs_response(1, caps) + kills
    seeds["kill_split"] = bytes([0, 5]) + hs_response(1, caps) + kills
    # moved back holding statements (byte 1 bit 7, remap.c): ids patched,
    # the PREPARE OK's id rewritten to the client's (1)
    remap = (pkt(0, b"\x16select ?, ?") +
             pkt(0, b"\x17\x01\0\0\0\x00\x01\0\0\0\x00\x01\xfd\x00\xfd\x00\x01a\x01b") +
             pkt(0, b"\x17\x01\0\0\0\x00\x01\0\0\0\x00\x00\x01a\x01b") +
             pkt(0, b"\x18\x01\0\0\0\0\0longdata") + pkt(0, b"\x1a\x01\0\0\0") +
             pkt(0, b"\x17\xff\xff\xff\xff\x00\x01\0\0\0") + pkt(0, b"\x19\x01\0\0\0") +
             pkt(0, b"\x17\x09\0\0\0\x00\x01\0\0\0") + pkt(0, b"\x01"))
    seeds["remap"] = bytes([0, 0x80]) + hs_response(1, caps) + remap
    seeds["observe-remap"] = bytes([0x80, 0x87]) + hs_response(1, caps) + remap
    return seeds


def served_seeds():
    """fuzz_my_served: commands of a session served after a cutover."""
    seeds = {}
    stmt1 = b"\x01\0\0\0"
    execute = b"\x17" + stmt1 + b"\x00\x01\0\0\0" + b"\x00\x01\xfd\x00" + b"\x01z"
    cursor = b"\x17" + stmt1 + b"\x01\x01\0\0\0" + b"\x00\x01\xfd\x00" + b"\x01z"
    fetch = b"\x1c" + stmt1 + b"\x02\0\0\0"
    queries = (pkt(0, b"\x03SET NAMES utf8mb4") + pkt(0, b"\x03SELECT @@version_comment LIMIT 1") +
               pkt(0, b"\x03select 1") + pkt(0, b"\x02appdb") + pkt(0, b"\x0e"))
    stmts = (pkt(0, b"\x16select ?") + pkt(0, execute) + pkt(0, cursor) + pkt(0, fetch) + pkt(0, fetch) +
             pkt(0, fetch) + pkt(0, b"\x18" + stmt1 + b"\0\0" + b"long ") + pkt(0, b"\x18" + stmt1 + b"\0\0data") +
             pkt(0, b"\x17" + stmt1 + b"\x00\x01\0\0\0" + b"\x00\x01\xfd\x00") +
             pkt(0, b"\x1a" + stmt1) + pkt(0, b"\x19" + stmt1))
    others = pkt(0, b"\x09") + pkt(0, b"\x04t\0") + pkt(0, b"\x7fjunk") + pkt(0, b"\x1f")
    native = b"\x11app\0\x14" + b"\x42" * 20 + b"appdb\0\x2d\x00mysql_native_password\0"
    other = b"\x11app\0\x14" + b"\x42" * 20 + b"appdb\0\x2d\x00caching_sha2_password\0"
    seeds["queries"] = bytes([0, 0]) + queries + stmts + others
    seeds["queries_deprecate_eof_rows"] = bytes([0x01 | (3 << 3), 7]) + queries + stmts + others
    seeds["errors"] = bytes([0x04 | (2 << 3), 0]) + stmts
    seeds["change_user_known"] = bytes([0x02 | 0x40, 0]) + pkt(0, native) + queries
    seeds["change_user_switch"] = bytes([0x40, 3]) + pkt(0, other) + pkt(2, b"\x42" * 20) + queries
    seeds["change_user_no_copy"] = bytes([0x02, 0]) + pkt(0, b"\x03select 1") + pkt(0, native) + queries
    return seeds


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    for target, seeds in (("fuzz_my_backend", backend_seeds()), ("fuzz_my_frontend", frontend_seeds()),
                          ("fuzz_my_served", served_seeds()), ("fuzz_my_own", own_seeds())):
        d = os.path.join(outdir, target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
