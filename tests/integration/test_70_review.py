"""70. Review findings (branch review): tests that demonstrate bugs."""

import socket
import subprocess
import struct
import time

from lmsproxy import APP_DB, APP_PASSWORD, APP_USER, PgRaw


def _answer_after_half_close(host, port, nrows, width=1000, probe=False):
    """Send one query whose answer is nrows rows of width bytes, read
    nothing for a while (the answer fills the socket buffers and the
    proxy's client output), half-close, then read everything.  Returns
    (ReadyForQuery seen, rows read, bytes read)."""
    with PgRaw(host, port, timeout=30, rcvbuf=None) as c:
        t0 = time.monotonic()
        c.startup(APP_USER, APP_DB, APP_PASSWORD)
        q = ("select repeat('x', %d) from generate_series(1, %d)" % (width, nrows)).encode()
        c.send(b"Q" + struct.pack("!I", len(q) + 5) + q + b"\0")
        time.sleep(1.0)  # the whole answer reaches the proxy: nothing in flight any more
        if probe:  # what the kernel buffers hold: the proxy's Send-Q, our Recv-Q
            lp = c.sock.getsockname()[1]
            out = subprocess.run(["ss", "-tnH", "( sport = :%d or dport = :%d )" % (lp, lp)],
                                 capture_output=True, text=True).stdout
            return sum(int(line.split()[1]) + int(line.split()[2]) for line in out.splitlines())
        c.sock.shutdown(socket.SHUT_WR)
        time.sleep(0.3)
        c.sock.settimeout(4)
        data = bytearray(c.buf)
        err = None
        try:
            while True:
                chunk = c.sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        except OSError as e:
            err = repr(e)
        # RowDescription, nrows DataRows, CommandComplete, ReadyForQuery
        ready = data.endswith(b"Z\0\0\0\x05I")
        rows = data.count(b"D\0\0\x03\xf2\0\x01\0\0\x03\xe8")
        return ready, rows, len(data), err, round(time.monotonic() - t0, 1)


def test_half_close_after_answer_buffered_loses_its_tail(proxy):
    """A client that half-closes once its last answer has reached the
    proxy, but before it read it (pending == 0, the answer's tail still
    in the proxy's client output): as from PostgreSQL directly, it must
    read the whole answer.  client_half_closed() finds nothing 'busy'
    (it ignores s->client.out) and read_side() frees the session at once,
    dropping what the client output held."""
    # the kernel's buffers hold `held` bytes (ss): an answer a few KiB
    # longer (rows of 1011 bytes) ends in the proxy's 32 KiB client output
    held = _answer_after_half_close(proxy.host, proxy.port, 20000, probe=True)
    lost = []
    for extra in (8000, 16000, 24000):
        nrows = (held + extra) // 1011
        ready, rows, nbytes, err, took = _answer_after_half_close(proxy.host, proxy.port, nrows)
        if not ready or rows != nrows:
            lost.append((held, nrows, rows, ready, nbytes, err, took))
    assert not lost, lost

