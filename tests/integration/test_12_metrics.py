"""12. The metrics/health HTTP listener."""

import re
import urllib.request

import psycopg2
import pytest

from lmsproxy import http_get, metric_sum, parse_metrics


@pytest.fixture
def mproxy(proxy):
    if not proxy.is_proxy:
        pytest.skip("needs molt-lms (LMS_IT_DIRECT=1 has no metrics endpoint)")
    return proxy


def test_health_endpoints(mproxy):
    for path, _ in (("/healthz", None), ("/readyz", None)):
        status, _body = http_get(mproxy.metrics_url + path)
        assert status == 200, path
    status, _ = http_get(mproxy.metrics_url + "/no-such-endpoint")
    assert status == 404


def test_metrics_format(mproxy):
    with urllib.request.urlopen(mproxy.metrics_url + "/metrics", timeout=5) as r:
        assert r.status == 200
        assert r.headers.get("Content-Type", "").startswith("text/plain")
        text = r.read().decode()
    m = parse_metrics(text)  # every sample line is well-formed
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert types.get("lms_connections_total") == "counter"
    assert types.get("lms_connections_active") == "gauge"
    assert types.get("lms_requests_total") == "counter"
    assert types.get("lms_request_duration_seconds") == "histogram"
    for name in ("lms_connections_total", "lms_connections_active"):
        assert (name, "") in m, name
    assert any(n == "lms_requests_total" and labels for n, labels in m), "no labelled requests"
    # histogram: cumulative buckets ending in +Inf == _count, per label set
    series = {}
    for (n, labels), v in m.items():
        if n == "lms_request_duration_seconds_bucket":
            le = re.search(r'le="([^"]+)"', labels).group(1)
            key = re.sub(r',?le="[^"]+"', "", labels).replace("{,", "{")
            series.setdefault(key, []).append((float("inf") if le == "+Inf" else float(le), v))
    assert series, "no lms_request_duration_seconds_bucket series"
    for key, buckets in series.items():
        buckets.sort()
        values = [v for _, v in buckets]
        assert values == sorted(values), "buckets not cumulative for %s" % key
        assert buckets[-1][0] == float("inf")
        count = m.get(("lms_request_duration_seconds_count", key))
        assert count == values[-1], (key, count, values[-1])
        assert ("lms_request_duration_seconds_sum", key) in m


def test_metrics_increase(mproxy):
    before = mproxy.metrics()
    n_conns, n_ok, n_err = 5, 0, 0
    for _ in range(n_conns):
        conn = mproxy.connect()
        conn.autocommit = True
        cur = conn.cursor()
        for q in ("select 1", "select 2", "select pg_sleep(0.01)"):
            cur.execute(q)
            n_ok += 1
        with pytest.raises(psycopg2.errors.DivisionByZero):
            cur.execute("select 1/0")
        n_err += 1
        conn.close()
    after = mproxy.metrics()

    def delta(name, flt=None):
        return (metric_sum(after, name, flt) or 0) - (metric_sum(before, name, flt) or 0)

    assert delta("lms_connections_total") >= n_conns
    assert delta("lms_requests_total") >= n_ok + n_err
    assert delta("lms_requests_total", 'outcome="error"') >= n_err
    assert delta("lms_requests_total", 'outcome="ok"') >= n_ok
    assert delta("lms_request_duration_seconds_count") >= n_ok + n_err
    assert delta("lms_request_duration_seconds_bucket", 'le="+Inf"') >= n_ok + n_err
    assert delta("lms_request_duration_seconds_sum") >= 0.01 * n_conns * 0.9
    # the pg_sleep(0.01) calls cannot land in a bucket below 0.01 s
    fast = delta("lms_request_duration_seconds_bucket", 'le="0.005"')
    total = delta("lms_request_duration_seconds_bucket", 'le="+Inf"')
    assert total - fast >= n_conns
