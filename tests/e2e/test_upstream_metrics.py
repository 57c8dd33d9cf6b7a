"""What an operator sees of upstreams: the portico_upstream_* and portico_circuit_state metrics,
GET /admin/upstreams, and the upstream / target / retries fields of the access log.

Targets are named "host:port" (127.0.0.1:PORT) in metric labels, the admin API and the log."""

import concurrent.futures
import threading
import time

import requests

import portico_testing as pt


def metric(gw, name, **labels):
    return pt.metric_value(gw.metrics(), name, **labels)


def test_upstream_requests_total_counts_each_outcome(gateway, upstream):
    up = upstream("outcomes")
    dead = pt.free_port()
    gw = gateway(pt.make_config(upstreams="""
pool:
  targets: [%s]
deadpool:
  targets: [http://127.0.0.1:%d]
  timeouts: {connect: 1s}
latepool:
  targets: [%s]
  timeouts: {request: 300ms}
""" % (up.url, dead, up.url), routes="""
- {name: dead, match: {prefix: /dead}, upstream: deadpool}
- {name: late, match: {prefix: /late}, upstream: latepool, strip_prefix: /late}
- {name: all, match: {prefix: /}, upstream: pool}
""", workers=1))
    with requests.Session() as s:
        for _ in range(5):
            assert s.get(gw.url + "/x", timeout=10).status_code == 200
        assert s.get(gw.url + "/status/404", timeout=10).status_code == 404  # an answer: success
        for _ in range(2):
            assert s.get(gw.url + "/status/503", timeout=10).status_code == 503
        for _ in range(2):
            assert s.get(gw.url + "/dead", timeout=10).status_code == 502
        assert s.get(gw.url + "/late/slow?ms=1500", timeout=10).status_code == 504
    m = gw.metrics()
    key = pt.target_key(up)
    name = "portico_upstream_requests_total"
    assert "# TYPE portico_upstream_requests_total counter" in m
    assert pt.metric_value(m, name, upstream="pool", target=key, outcome="success") == 6
    assert pt.metric_value(m, name, upstream="pool", target=key, outcome="failure") == 2
    assert pt.metric_value(m, name, upstream="deadpool", target="127.0.0.1:%d" % dead,
                           outcome="failure") == 2
    assert pt.metric_value(m, name, upstream="latepool", target=key, outcome="timeout") == 1
    assert not pt.metric_value(m, name, upstream="latepool", outcome="success")
    assert not pt.metric_value(m, name, outcome="retry")  # no retries configured


def test_upstream_duration_histogram(gateway, upstream):
    up = upstream("durations")
    gw = gateway(pt.make_config(upstreams={"pool": up.url},
                                routes="- {name: all, match: {prefix: /}, upstream: pool}"))
    requests.get(gw.url + "/x", timeout=10)
    m = gw.metrics()
    assert "# TYPE portico_upstream_duration_seconds histogram" in m
    count0 = pt.metric_value(m, "portico_upstream_duration_seconds_count", upstream="pool")
    sum0 = pt.metric_value(m, "portico_upstream_duration_seconds_sum", upstream="pool")
    assert count0 >= 1
    with requests.Session() as s:
        for _ in range(4):
            assert s.get(gw.url + "/x", timeout=10).status_code == 200
        assert s.get(gw.url + "/slow?ms=300", timeout=10).status_code == 200
    m = gw.metrics()
    count = pt.metric_value(m, "portico_upstream_duration_seconds_count", upstream="pool")
    assert count == count0 + 5
    assert pt.metric_value(m, "portico_upstream_duration_seconds_bucket", upstream="pool",
                           le="+Inf") == count
    grown = pt.metric_value(m, "portico_upstream_duration_seconds_sum", upstream="pool") - sum0
    assert grown >= 0.28, grown  # the 300 ms request, and four quick ones


def test_circuit_state_gauge_and_admin_follow_the_breaker(gateway, upstream):
    up = upstream("breaker-gauge")
    gw = gateway(pt.make_config(upstreams="""
pool:
  targets: [%s]
  circuit_breaker: {consecutive_failures: 3, open_for: 1s, half_open_requests: 1}
""" % up.url, routes="- {name: all, match: {prefix: /}, upstream: pool}", workers=1))

    def state():
        return (metric(gw, "portico_circuit_state", upstream="pool"),
                pt.admin_upstreams(gw)["pool"]["circuit_state"])

    assert requests.get(gw.url + "/x", timeout=10).status_code == 200
    assert state() == (0, "closed")
    pt.upstream_control(up, mode="fail500")
    with requests.Session() as s:
        for _ in range(3):
            assert s.get(gw.url + "/x", timeout=10).status_code == 500
        assert s.get(gw.url + "/x", timeout=10).status_code == 503
    assert state() == (2, "open")
    pt.upstream_control(up, mode="ok")
    time.sleep(1.2)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        probe = pool.submit(requests.get, gw.url + "/slow?ms=800", timeout=10)
        assert pt.wait_until(lambda: pt.upstream_hits(up, "/slow") == 1, 3)
        assert state() == (1, "half_open")  # while its one probe is in flight
        assert probe.result().status_code == 200
    assert state() == (0, "closed")


def test_upstream_healthy_gauge_and_admin_follow_health_checks(gateway, upstream):
    sick, well = upstream("gauge-sick"), upstream("gauge-well")
    gw = gateway(pt.make_config(upstreams="""
pool:
  targets: [%s, %s]
  health_check: {path: /health, interval: 200ms, timeout: 200ms, healthy_after: 1,
                 unhealthy_after: 2}
""" % (sick.url, well.url), routes="- {name: all, match: {prefix: /}, upstream: pool}"))

    def healthy(up):
        return (metric(gw, "portico_upstream_healthy", upstream="pool", target=pt.target_key(up)),
                pt.admin_target(gw, "pool", up)["healthy"])

    assert pt.wait_until(lambda: healthy(sick) == (1, True) and healthy(well) == (1, True), 5, 0.1)
    assert "# TYPE portico_upstream_healthy gauge" in gw.metrics()
    pt.upstream_control(sick, health=500)
    assert pt.wait_until(lambda: healthy(sick) == (0, False), 5, 0.1), healthy(sick)
    assert healthy(well) == (1, True)
    pt.upstream_control(sick, health=200)
    assert pt.wait_until(lambda: healthy(sick) == (1, True), 5, 0.1), healthy(sick)


def test_admin_upstreams_describes_every_target(gateway, upstream):
    a, b, c = upstream("adm-a"), upstream("adm-b"), upstream("adm-c")
    gw = gateway(pt.make_config(upstreams="""
users:
  targets: [%s, {url: %s, weight: 3}]
  balance: least_connections
orders:
  targets: [%s]
""" % (a.url, b.url, c.url), routes="""
- {name: users, match: {prefix: /users}, upstream: users}
- {name: orders, match: {prefix: /orders}, upstream: orders}
"""))
    ups = pt.admin_upstreams(gw)
    assert set(ups) == {"users", "orders"}
    assert ups["users"]["balance"] == "least_connections"
    assert ups["orders"]["balance"] == "round_robin"
    for u in ups.values():
        assert u["circuit_state"] == "closed"
        for t in u["targets"]:
            assert t["healthy"] is True and t["ejected"] is False
            assert isinstance(t["active_connections"], int) and t["active_connections"] >= 0
    assert [(t["target"], t["weight"]) for t in ups["users"]["targets"]] == \
        [(pt.target_key(a), 1), (pt.target_key(b), 3)]
    assert [(t["target"], t["weight"]) for t in ups["orders"]["targets"]] == [(pt.target_key(c), 1)]


def test_admin_upstreams_counts_active_connections(gateway, upstream):
    up = upstream("adm-active")
    gw = gateway(pt.make_config(upstreams={"pool": up.url},
                                routes="- {name: all, match: {prefix: /}, upstream: pool}"))
    threads = [threading.Thread(target=requests.get, args=(gw.url + "/slow?ms=1000",),
                                kwargs={"timeout": 10}) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        assert pt.wait_until(lambda: pt.upstream_hits(up, "/slow") == 2, 3)
        assert pt.admin_target(gw, "pool", up)["active_connections"] >= 2
    finally:
        for t in threads:
            t.join()


def test_access_log_names_upstream_target_and_retries(gateway, upstream):
    up = upstream("log-target")
    gw = gateway(pt.make_config(upstreams={"pool": up.url},
                                routes="- {name: all, match: {prefix: /}, upstream: pool}"))
    rid = "log-target-%d" % time.time_ns()
    r = requests.get(gw.url + "/x", headers={"X-Correlation-ID": rid}, timeout=10)
    assert r.status_code == 200
    e = gw.wait_access_log(lambda e: e.get("request_id") == rid)
    assert e is not None
    assert e["upstream"] == "pool"
    assert e["target"] == pt.target_key(up)
    assert e["retries"] == 0
