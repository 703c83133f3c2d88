"""17. A database host name with several addresses: molt-lms tries them in
order, so a name that resolves to ::1 first (where nothing listens) and then
127.0.0.1 still works, as libpq does. The proxy runs in its own mount
namespace with a private /etc/hosts (util-linux unshare), so the test does
not touch the machine's."""

import os
import shutil

import pytest


def hosts_wrapper(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("::1 lms-two-addresses\n127.0.0.1 lms-two-addresses\n127.0.0.1 localhost\n")
    unshare = shutil.which("unshare")
    assert unshare, "util-linux unshare is required"
    flags = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return [unshare] + flags + ["--", "sh", "-c", script, str(hosts)]


def test_second_address_used_when_first_refuses(clusters, proxy_factory, tmp_path):
    url = "postgresql://lms_admin:lms-admin-pw@lms-two-addresses:%d/appdb?sslmode=disable" % (
        clusters.source_port)
    p = proxy_factory(name="twoaddr", init_source=url, wrapper=hosts_wrapper(tmp_path),
                      extra_args=["--log-level", "debug"])
    conn = p.connect()
    try:
        cur = conn.cursor()
        cur.execute("select host(inet_server_addr())")
        assert cur.fetchone()[0] == "127.0.0.1"
    finally:
        conn.close()
    log = open(p.log_path).read()
    assert "event=backend_address_failed" in log and "index=0" in log, log[-2000:]
