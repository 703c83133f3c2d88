"""5. A 200 MB result set passes through intact while the proxy's RSS stays
below 100 MB (it must stream, and apply backpressure to a slow client)."""

import os
import subprocess
import threading
import time

from lmsproxy import APP_DB, APP_PASSWORD, APP_USER, PgRaw, RssSampler, Watchdog

ROWS = 200000
WIDTH = 1000
TOTAL = ROWS * WIDTH  # 200,000,000 bytes of column data
QUERY = "select repeat('x', %d) from generate_series(1, %d)" % (WIDTH, ROWS)
RSS_LIMIT_KB = 100 * 1024


class NoSampler:
    peak_kb = 0
    samples = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def sampler(proxy):
    return RssSampler(proxy.pid) if proxy.pid else NoSampler()


def check_rss(proxy, s):
    if proxy.pid:
        assert s.samples > 10, "RSS was hardly sampled (%d samples)" % s.samples
        assert s.peak_kb < RSS_LIMIT_KB, "proxy RSS peaked at %.1f MB (limit 100 MB)" % (
            s.peak_kb / 1024)


def test_named_cursor_stream(lms_env, proxy):
    conn = proxy.connect()
    nbytes = nrows = 0
    try:
        with sampler(proxy) as s, Watchdog(lms_env.t(30), [conn], "named cursor") as wd:
            try:
                cur = conn.cursor(name="big")
                cur.itersize = 5000
                cur.execute(QUERY)
                for (v,) in cur:
                    nbytes += len(v)
                    nrows += 1
                cur.close()
                conn.commit()
            except Exception:
                if wd.fired:
                    raise AssertionError("%s after %d rows" % (wd.message(), nrows)) from None
                raise
        assert (nrows, nbytes) == (ROWS, TOTAL)
        check_rss(proxy, s)
    finally:
        conn.close()


def test_psql_stream(lms_env, proxy):
    """One simple query, the whole result in one go; psql prints it into a pipe."""
    env = proxy.libpq_env()
    cmd = [os.path.join(lms_env.pgbin, "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", QUERY]
    with sampler(proxy) as s:
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=lms_env.log_dir)
        killer = threading.Timer(lms_env.t(30), p.kill)
        killer.start()
        nbytes = nlines = 0
        bad = 0
        while True:
            chunk = p.stdout.read(1 << 20)
            if not chunk:
                break
            nbytes += len(chunk)
            nlines += chunk.count(b"\n")
            bad += len(chunk) - chunk.count(b"x") - chunk.count(b"\n")
        err = p.stderr.read()
        rc = p.wait(timeout=lms_env.t(60))
        killer.cancel()
    assert rc != -9, ("psql had not finished after 30 s (it prints only once the whole result "
                      "arrived; %d bytes printed); killed" % nbytes)
    assert rc == 0, err
    assert (nlines, nbytes, bad) == (ROWS, TOTAL + ROWS, 0)
    check_rss(proxy, s)


def test_slow_reader_backpressure(lms_env, proxy):
    """The client does not read for 2 s after sending the query, then reads it all.
    A proxy that buffers instead of applying backpressure swells by ~200 MB."""
    with PgRaw(proxy.host, proxy.port, timeout=lms_env.t(20), rcvbuf=64 * 1024) as c:
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        with sampler(proxy) as s:
            c.send_msg(b"Q", QUERY.encode() + b"\0")
            time.sleep(2.0)
            paused_peak = s.peak_kb
            nrows = nbytes = 0
            tag = last = None
            while True:
                try:
                    mtype, payload = c.read_msg()
                except TimeoutError:
                    raise AssertionError(
                        "stream stalled for 20 s after %d rows, %d bytes from the proxy; "
                        "last message %r"
                        % (nrows, c.bytes_read, last)) from None
                last = mtype
                if mtype == b"D":
                    nrows += 1
                    nbytes += len(payload) - 6  # int16 ncols + int32 length
                elif mtype == b"C":
                    tag = payload.rstrip(b"\0")
                elif mtype == b"E":
                    raise AssertionError("server error: %r" % payload)
                elif mtype == b"Z":
                    break
        assert (nrows, nbytes, tag) == (ROWS, TOTAL, b"SELECT %d" % ROWS)
        if proxy.pid:
            assert paused_peak < RSS_LIMIT_KB, "proxy RSS %.1f MB while the client paused" % (
                paused_peak / 1024)
        check_rss(proxy, s)
        rows, _ = c.query("select 'ok'")
        assert rows == [[b"ok"]]
        c.terminate()
