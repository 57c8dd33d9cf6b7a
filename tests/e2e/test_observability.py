"""Metrics and the access log, as an operator reads them."""

import time

import pytest
import requests

import portico_testing as pt

ROUTES = """
- name: echo
  match: {prefix: /echo}
  upstream: up
- name: ping
  match: {path: /ping}
  respond: {body: pong}
"""

ACCESS_LOG_FIELDS = ("time", "request_id", "trace_id", "client_ip", "method", "path", "route",
                     "status", "upstream", "target", "duration_ms", "upstream_ms", "bytes_in",
                     "bytes_out", "consumer", "cache", "retries", "error")
CORE_FIELDS = ("time", "request_id", "client_ip", "method", "path", "route", "status",
               "upstream", "duration_ms", "bytes_in", "bytes_out")


@pytest.fixture(scope="module")
def gw(module_gateway, module_upstream):
    up = module_upstream("obs-up")
    return module_gateway(pt.make_config(upstreams={"up": up.url}, routes=ROUTES))


def test_requests_total_by_route_method_status(gw):
    for _ in range(5):
        assert requests.get(gw.url + "/echo", timeout=5).status_code == 200
    for _ in range(2):
        requests.post(gw.url + "/echo/status", data=b"x", timeout=5)
    requests.get(gw.url + "/ping", timeout=5)
    m = gw.metrics()
    assert pt.metric_value(m, "portico_requests_total", route="echo", method="GET", status="200") >= 5
    assert pt.metric_value(m, "portico_requests_total", route="echo", method="POST", status="200") >= 2
    assert pt.metric_value(m, "portico_requests_total", route="ping", method="GET", status="200") >= 1
    assert "# TYPE portico_requests_total counter" in m


def test_metrics_labels_never_hold_raw_paths(gw):
    for i in range(3):
        requests.get(gw.url + "/no-route-%d" % i, timeout=5)
        requests.get(gw.url + "/echo/unique-%d" % i, timeout=5)
    m = gw.metrics()
    assert "/no-route-" not in m and "unique-" not in m


def test_active_connections_gauge(gw):
    socks = []
    try:
        for _ in range(3):
            s = pt.connect(gw.port)
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
            assert pt.RawReader(s).read_response().status == 200
            socks.append(s)
        value = pt.metric_value(gw.metrics(), "portico_active_connections")
        assert value is not None and value >= 3
    finally:
        for s in socks:
            s.close()
    assert pt.wait_until(
        lambda: pt.metric_value(gw.metrics(), "portico_active_connections") < 3, 5)


def test_request_duration_histogram(gw):
    requests.get(gw.url + "/echo", timeout=5)
    m = gw.metrics()
    assert pt.metric_value(m, "portico_request_duration_seconds_count", route="echo") >= 1
    assert pt.metric_value(m, "portico_request_duration_seconds_bucket", route="echo", le="+Inf") >= 1


def test_access_log_lines_are_json_with_contract_fields(gw):
    rid = "obs-access-%d" % time.time_ns()
    r = requests.post(gw.url + "/echo/x?y=1", data=b"12345", headers={"X-Correlation-ID": rid},
                      timeout=5)
    assert r.status_code == 200
    e = gw.wait_access_log(lambda e: e.get("request_id") == rid)
    assert e is not None, gw.access_log_lines()[-5:]
    for field in CORE_FIELDS:
        assert field in e, field
    assert e["method"] == "POST"
    assert e["path"].startswith("/echo/x")
    assert e["route"] == "echo"
    assert e["status"] == 200
    assert e["upstream"] == "up"
    assert e["client_ip"] == "127.0.0.1"
    assert e["bytes_in"] >= 5
    assert e["bytes_out"] > 0
    assert e["duration_ms"] >= 0
    assert "T" in e["time"] and (e["time"].endswith("Z") or "+" in e["time"])


def test_access_log_has_every_contract_field(gw):
    rid = "obs-fields-%d" % time.time_ns()
    requests.get(gw.url + "/echo", headers={"X-Correlation-ID": rid}, timeout=5)
    e = gw.wait_access_log(lambda e: e.get("request_id") == rid)
    assert e is not None
    missing = [f for f in ACCESS_LOG_FIELDS if f not in e]
    assert not missing, missing


def test_access_log_error_field_for_gateway_answers(gw):
    rid = "obs-404-%d" % time.time_ns()
    requests.get(gw.url + "/nothing-here", headers={"X-Correlation-ID": rid}, timeout=5)
    e = gw.wait_access_log(lambda e: e.get("request_id") == rid)
    assert e is not None
    assert e["status"] == 404
    assert e.get("error")


def test_access_log_never_holds_secrets(gw):
    rid = "obs-secret-%d" % time.time_ns()
    requests.get(gw.url + "/echo?access_token=TOKENVALUE123&token=OTHERTOKEN456&keep=visible",
                 headers={"Authorization": "Bearer AUTHSECRET789", "Cookie": "sid=COOKIESECRET0",
                          "X-Correlation-ID": rid}, timeout=5)
    e = gw.wait_access_log(lambda e: e.get("request_id") == rid)
    assert e is not None
    text = gw.access_log_path.read_text()
    for secret in ("TOKENVALUE123", "OTHERTOKEN456", "AUTHSECRET789", "COOKIESECRET0"):
        assert secret not in text, secret
    assert e["path"].startswith("/echo")
