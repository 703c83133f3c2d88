"""6. LISTEN/NOTIFY through the proxy: notifications reach an idle listener."""

import select
import time

import psycopg2.extensions


def wait_notifies(conn, count, timeout):
    """Poll an idle connection's socket until count notifications arrived."""
    deadline = time.monotonic() + timeout
    got = []
    while len(got) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([conn], [], [], left)
        if r:
            conn.poll()
            while conn.notifies:
                got.append(conn.notifies.pop(0))
    return got


def test_listen_notify(proxy, uniq):
    listener = proxy.connect()
    notifier = proxy.connect()
    try:
        listener.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        notifier.autocommit = True
        lcur = listener.cursor()
        lcur.execute("listen %s" % uniq)
        ncur = notifier.cursor()
        ncur.execute("select pg_backend_pid()")
        notifier_pid = ncur.fetchone()[0]

        # the listener is idle (no query running): the proxy must forward the
        # asynchronous NotificationResponse on its own
        ncur.execute("notify %s, 'hello through the proxy'" % uniq)
        ncur.execute("select pg_notify(%s, %s)", (uniq, "second \u00fcnicode payload"))
        got = wait_notifies(listener, 2, timeout=5)
        assert [(n.channel, n.payload) for n in got] == [
            (uniq, "hello through the proxy"), (uniq, "second \u00fcnicode payload")]
        assert all(n.pid == notifier_pid for n in got)

        # notifications sent inside a transaction arrive only after commit
        notifier.autocommit = False
        ncur.execute("notify %s, 'after-commit'" % uniq)
        assert wait_notifies(listener, 1, timeout=0.5) == []
        notifier.commit()
        got = wait_notifies(listener, 1, timeout=5)
        assert [n.payload for n in got] == ["after-commit"]

        # unlisten: nothing more arrives, and the listener still answers queries
        lcur.execute("unlisten %s" % uniq)
        ncur.execute("notify %s, 'unheard'" % uniq)
        notifier.commit()
        assert wait_notifies(listener, 1, timeout=0.5) == []
        lcur.execute("select 1")
        assert lcur.fetchone() == (1,)
    finally:
        listener.close()
        notifier.close()
