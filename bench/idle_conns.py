#!/usr/bin/python3
"""Open many idle connections to a proxy and hold them (helper of bench/run.sh).

Modes:
  tcp   open COUNT plain TCP connections to HOST:PORT and send nothing (the
        server never sees a startup packet), then hold them.
  pg    open COUNT fully authenticated PostgreSQL sessions with psycopg2
        (DSN given with --dsn) and leave them idle, then hold them.
  sink  listen on HOST:PORT, accept every connection and hold it without
        reading or writing (a stand-in backend for a TCP proxy).

Once every connection is open (or the listener is ready, for sink) the script
writes a one-line JSON status to --ready-file (written atomically), then waits
until --hold seconds have passed or it receives SIGTERM/SIGINT. On exit it
prints a one-line JSON summary on stdout: how many connections were opened,
how many failed, and how many the peer had already closed.

Run with /usr/bin/python3; only the pg mode needs psycopg2, the rest is stdlib.
"""

import argparse
import errno
import json
import os
import resource
import select
import signal
import socket
import sys
import time

STOP = False


def on_signal(_signum, _frame):
    global STOP
    STOP = True


def raise_nofile(need):
    """Raise RLIMIT_NOFILE to cover `need` descriptors if at all possible."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need + 256
    if hard != resource.RLIM_INFINITY and hard < want:
        try:  # only works with CAP_SYS_RESOURCE (root)
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            pass
    new_soft = hard if hard != resource.RLIM_INFINITY else max(soft, want)
    if new_soft > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def write_ready(path, status):
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(json.dumps(status) + "\n")
    os.replace(tmp, path)


def hold(seconds):
    deadline = time.monotonic() + seconds
    while not STOP and time.monotonic() < deadline:
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def count_closed(socks):
    """How many sockets has the peer closed (readable with EOF or error)."""
    closed = 0
    for i in range(0, len(socks), 512):
        chunk = socks[i:i + 512]
        poller = select.poll()
        by_fd = {}
        for s in chunk:
            poller.register(s.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
            by_fd[s.fileno()] = s
        for fd, ev in poller.poll(0):
            if ev & (select.POLLHUP | select.POLLERR):
                closed += 1
                continue
            try:
                if by_fd[fd].recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
    return closed


def mode_tcp(args):
    socks = []
    failed = 0
    first_error = None
    t0 = time.monotonic()
    for _ in range(args.count):
        if STOP:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(args.connect_timeout)
        try:
            s.connect((args.host, args.port))
        except OSError as e:
            s.close()
            failed += 1
            if first_error is None:
                first_error = str(e)
            if e.errno in (errno.EMFILE, errno.ENFILE):
                break
            if failed > args.max_failures:
                break
            continue
        s.setblocking(False)
        socks.append(s)
    status = {"mode": "tcp", "opened": len(socks), "failed": failed,
              "first_error": first_error,
              "open_seconds": round(time.monotonic() - t0, 3)}
    write_ready(args.ready_file, status)
    hold(args.hold)
    status["closed_by_peer"] = count_closed(socks)
    for s in socks:
        s.close()
    return status


def mode_pg(args):
    try:
        import psycopg2  # pylint: disable=import-outside-toplevel
    except ImportError:
        sys.exit("idle_conns.py: pg mode needs psycopg2 (run with /usr/bin/python3)")
    conns = []
    failed = 0
    first_error = None
    t0 = time.monotonic()
    for _ in range(args.count):
        if STOP:
            break
        try:
            conns.append(psycopg2.connect(args.dsn, connect_timeout=int(args.connect_timeout)))
        except psycopg2.Error as e:
            failed += 1
            if first_error is None:
                first_error = str(e).strip()
            if failed > args.max_failures:
                break
    status = {"mode": "pg", "opened": len(conns), "failed": failed,
              "first_error": first_error,
              "open_seconds": round(time.monotonic() - t0, 3)}
    write_ready(args.ready_file, status)
    hold(args.hold)
    status["closed_by_peer"] = sum(1 for c in conns if c.closed)
    for c in conns:
        try:
            c.close()
        except psycopg2.Error:
            pass
    return status


def mode_sink(args):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.host, args.port))
    lsock.listen(4096)
    lsock.setblocking(False)
    accepted = []
    write_ready(args.ready_file, {"mode": "sink", "listening": True})
    deadline = time.monotonic() + args.hold
    while not STOP and time.monotonic() < deadline:
        r, _, _ = select.select([lsock], [], [], 0.2)
        if not r:
            continue
        while True:
            try:
                c, _ = lsock.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    time.sleep(0.05)
                    break
                raise
            c.setblocking(False)
            accepted.append(c)
    status = {"mode": "sink", "accepted": len(accepted),
              "closed_by_peer": count_closed(accepted)}
    for c in accepted:
        c.close()
    lsock.close()
    return status


def main():
    p = argparse.ArgumentParser(
        description="Open and hold many idle connections (TCP-only, PostgreSQL "
                    "sessions, or a TCP sink). Helper of bench/run.sh.")
    p.add_argument("mode", choices=("tcp", "pg", "sink"))
    p.add_argument("--host", default="127.0.0.1", help="target/listen address (tcp, sink)")
    p.add_argument("--port", type=int, help="target/listen port (tcp, sink)")
    p.add_argument("--dsn", help="libpq connection string (pg mode)")
    p.add_argument("--count", type=int, default=10000, help="connections to open (default 10000)")
    p.add_argument("--hold", type=float, default=60.0,
                   help="seconds to hold them before exiting (default 60); SIGTERM ends earlier")
    p.add_argument("--ready-file", help="write a JSON status line here once all are open")
    p.add_argument("--connect-timeout", type=float, default=10.0)
    p.add_argument("--max-failures", type=int, default=100,
                   help="give up opening after this many failures (default 100)")
    args = p.parse_args()
    if args.mode in ("tcp", "sink") and args.port is None:
        p.error("--port is required for tcp and sink modes")
    if args.mode == "pg" and not args.dsn:
        p.error("--dsn is required for pg mode")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    limit = raise_nofile(args.count if args.mode != "sink" else 65536)
    if args.mode != "sink" and limit < args.count + 32:
        print(f"idle_conns.py: warning: RLIMIT_NOFILE is {limit}, "
              f"fewer than {args.count} connections will fit", file=sys.stderr)

    status = {"tcp": mode_tcp, "pg": mode_pg, "sink": mode_sink}[args.mode](args)
    print(json.dumps(status), flush=True)


if __name__ == "__main__":
    main()
