"""Upstream resilience as a client sees it: retries, the circuit breaker and `max_requests`,
outlier detection, active health checks, and timeouts.

Failures come from tests/support/upstream_server.py switched at runtime (POST /control: fail500,
reset, hang, slow, the /health status), from stopped upstream processes, and from black-holed
listeners. Which target answered shows in the upstream's `name` in the body; whether a backend was
reached shows in its /stats. test_upstreams.py and test_proxy.py already cover the plain connect
and request timeouts (504), a refused connect (502) and a shorter route timeout."""

import concurrent.futures
import time

import pytest
import requests

import portico_testing as pt

ROUTE = "- {name: all, match: {prefix: /}, upstream: pool}"


def pool_config(targets, extra="", workers=1):
    """One upstream `pool` with `targets` (URLs or YAML items) and extra keys, one route to it."""
    text = "pool:\n  targets: [%s]\n" % ", ".join(targets)
    if extra:
        text += pt._block(extra) + "\n"
    return pt.make_config(upstreams=text, routes=ROUTE, workers=workers)


def dead_url():
    return "http://127.0.0.1:%d" % pt.free_port()  # nothing listens there


def log_entries_for(gw, ids):
    """Access-log entries of the requests sent with these X-Correlation-ID values."""
    assert gw.wait_access_log(lambda e: e.get("request_id") == ids[-1]) is not None
    assert pt.wait_until(
        lambda: len([e for e in gw.access_log_entries() if e.get("request_id") in ids]) == len(ids),
        5)
    return [e for e in gw.access_log_entries() if e.get("request_id") in ids]


def retry_count(gw):
    return pt.metric_value(gw.metrics(), "portico_upstream_requests_total", upstream="pool",
                           outcome="retry") or 0


# --- retries -------------------------------------------------------------------------------------

RETRIES = ("retries: {attempts: 2, on: [connect_failure, reset, 502, 503], backoff: 5ms, "
           "budget: 100%}")


def test_get_load_survives_a_target_dying(gateway, upstream):
    a, b = upstream("live"), upstream("dying")
    gw = gateway(pool_config([a.url, b.url], RETRIES + "\ntimeouts: {connect: 1s, request: 5s}"))
    statuses, names = [], []
    start = time.monotonic()
    with requests.Session() as s:
        for i in range(200):
            if i == 50:
                b.stop()
            r = s.get(gw.url + "/x?i=%d" % i, timeout=10)
            statuses.append(r.status_code)
            if r.status_code == 200:
                names.append(r.json()["name"])
            assert time.monotonic() - start < 60
    assert statuses == [200] * 200, [(i, c) for i, c in enumerate(statuses) if c != 200][:10]
    assert "dying" in names[:50] and set(names[50:]) == {"live"}


def test_post_is_not_retried_but_get_is(gateway, upstream):
    live = upstream("post-live")
    gw = gateway(pool_config([live.url, dead_url()], RETRIES))
    with requests.Session() as s:
        gets = [s.get(gw.url + "/x", timeout=10) for _ in range(10)]
        posts = [s.post(gw.url + "/x", data=b"payload", timeout=10) for _ in range(10)]
    assert [r.status_code for r in gets] == [200] * 10
    failed = [r for r in posts if r.status_code != 200]
    assert failed, "every POST succeeded: POSTs to the dead target were retried"
    for r in failed:
        pt.assert_gateway_error(r, 502)
    assert all(r.json()["name"] == "post-live" for r in posts if r.status_code == 200)


def test_post_to_a_single_dead_target_is_502(gateway):
    gw = gateway(pool_config([dead_url()], RETRIES))
    pt.assert_gateway_error(requests.post(gw.url + "/x", data=b"payload", timeout=10), 502)


def test_post_that_reached_a_failing_backend_is_relayed_not_retried(gateway, upstream):
    failing, ok = upstream("post-503"), upstream("post-ok")
    pt.upstream_control(failing, mode="fail503")
    gw = gateway(pool_config([failing.url, ok.url], RETRIES))
    with requests.Session() as s:
        posts = [s.post(gw.url + "/x", data=b"p", timeout=10) for _ in range(10)]
    relayed = [r for r in posts if r.status_code == 503]
    assert relayed and all(r.json() == {"name": "post-503", "status": 503} for r in relayed)
    # Each POST reached the failing backend at most once, and each such POST was answered 503.
    assert pt.upstream_hits(failing, "/x") == len(relayed)
    assert pt.upstream_hits(ok, "/x") == 10 - len(relayed)


def test_methods_list_makes_post_retryable(gateway, upstream):
    live = upstream("methods-live")
    gw = gateway(pool_config([live.url, dead_url()], """
retries: {attempts: 2, on: [connect_failure, reset, 502, 503], backoff: 5ms, budget: 100%,
          methods: [GET, POST]}"""))
    with requests.Session() as s:
        posts = [s.post(gw.url + "/x", data=b"payload", timeout=10) for _ in range(10)]
    assert [r.status_code for r in posts] == [200] * 10
    assert {r.json()["name"] for r in posts} == {"methods-live"}


# mode of one target, the `on:` condition that covers it, the status the client sees without
# retries, extra upstream keys
FAILURES = [
    ("reset", "reset", 502, ""),
    ("fail502", "502", 502, ""),
    ("fail503", "503", 503, ""),
    ("hang", "timeout", 504, "timeouts: {request: 300ms}"),
]


@pytest.mark.parametrize("mode, condition, status, extra", FAILURES,
                         ids=[f[0] for f in FAILURES])
def test_failure_is_retried_on_the_other_target(gateway, upstream, mode, condition, status, extra):
    bad, good = upstream("retry-bad"), upstream("retry-good")
    pt.upstream_control(bad, mode=mode)
    gw = gateway(pool_config([bad.url, good.url], """
retries: {attempts: 1, on: [%s], backoff: 5ms, budget: 100%%}
%s""" % (condition, extra)))
    ids = ["retry-%s-%d-%d" % (mode, i, time.time_ns()) for i in range(10)]
    with requests.Session() as s:
        answers = [s.get(gw.url + "/x", headers={"X-Correlation-ID": rid}, timeout=10)
                   for rid in ids]
    assert [r.status_code for r in answers] == [200] * 10
    assert {r.json()["name"] for r in answers} == {"retry-good"}
    hits = pt.upstream_hits(bad, "/x")
    assert hits >= 1, "the failing target was never tried"
    entries = log_entries_for(gw, ids)
    retried = [e for e in entries if e["retries"] >= 1]
    assert len(retried) == hits, [(e["request_id"], e["retries"]) for e in entries]
    assert all(e["retries"] == 1 and e["status"] == 200 for e in retried)
    assert all(e["target"] == pt.target_key(good) for e in retried)
    assert all(e["retries"] == 0 for e in entries if e not in retried)
    assert retry_count(gw) == hits


@pytest.mark.parametrize("mode, condition, status, extra", FAILURES + [
    ("fail503", "attempts-0", 503, "retries: {attempts: 0, on: [503]}")],
    ids=[f[0] for f in FAILURES] + ["fail503-attempts-0"])
def test_failure_is_relayed_without_retries(gateway, upstream, mode, condition, status, extra):
    bad, good = upstream("noretry-bad"), upstream("noretry-good")
    pt.upstream_control(bad, mode=mode)
    gw = gateway(pool_config([bad.url, good.url], extra))
    ids = ["noretry-%s-%d-%d" % (mode, i, time.time_ns()) for i in range(10)]
    with requests.Session() as s:
        answers = [s.get(gw.url + "/x", headers={"X-Correlation-ID": rid}, timeout=10)
                   for rid in ids]
    failed = [r for r in answers if r.status_code != 200]
    assert len(failed) == pt.upstream_hits(bad, "/x") >= 1
    for r in failed:
        assert r.status_code == status, r.text
        if mode.startswith("fail"):
            assert r.json() == {"name": "noretry-bad", "status": status}  # relayed as is
        else:
            pt.assert_gateway_error(r, status)
    assert all(e["retries"] == 0 for e in log_entries_for(gw, ids))
    assert retry_count(gw) == 0


def test_retries_stop_after_the_configured_attempts(gateway, upstream):
    ups = [upstream("attempts-a"), upstream("attempts-b")]
    for u in ups:
        pt.upstream_control(u, mode="fail503")
    gw = gateway(pool_config([u.url for u in ups],
                             "retries: {attempts: 2, on: [503], backoff: 5ms, budget: 100%}"))
    with requests.Session() as s:
        answers = [s.get(gw.url + "/x", timeout=10) for _ in range(4)]
    # After the last attempt the backend's answer goes to the client as it is.
    assert [r.status_code for r in answers] == [503] * 4
    assert all(r.json()["name"].startswith("attempts-") for r in answers)
    assert sum(pt.upstream_hits(u, "/x") for u in ups) == 4 * 3  # first try + 2 retries each


def test_never_retried_after_response_bytes_reached_the_client(gateway, upstream):
    ups = [upstream("partial-a"), upstream("partial-b")]
    gw = gateway(pool_config([u.url for u in ups], RETRIES))
    for _ in range(4):
        with pt.connect(gw.port, timeout=5) as s:
            s.sendall(b"GET /partial?bytes=1000&ms=300 HTTP/1.1\r\nHost: t\r\n\r\n")
            reader = pt.RawReader(s)
            _, status, _, headers = reader.read_head()
            assert status == 200
            got = 0
            with pytest.raises((pt.ConnectionClosed, ConnectionResetError)):
                for piece in reader.iter_body(status, headers):
                    got += len(piece)
            assert got <= 1000  # the cut response was not completed from another attempt
    assert sum(pt.upstream_hits(u, "/partial") for u in ups) == 4


def test_connect_timeout_to_a_black_hole_is_retried(gateway, upstream):
    good = upstream("beside-the-hole")
    with pt.Blackhole() as hole:
        gw = gateway(pool_config([hole.url, good.url], """
timeouts: {connect: 300ms, request: 5s}
retries: {attempts: 1, on: [connect_failure, timeout], backoff: 5ms, budget: 100%}"""))
        with requests.Session() as s:
            for _ in range(6):
                start = time.monotonic()
                r = s.get(gw.url + "/x", timeout=10)
                assert r.status_code == 200 and r.json()["name"] == "beside-the-hole"
                assert time.monotonic() - start < 2.0


# --- circuit breaker -----------------------------------------------------------------------------

BREAKER_FAILURES = [
    ("fail500", 500, ""),
    ("reset", 502, ""),
    ("hang", 504, "timeouts: {request: 300ms}"),
]


def assert_open_answer(s, gw, backend):
    """The next request is refused by the open breaker at once, without reaching `backend`.
    Returns how long the answer took, client included."""
    hits = pt.upstream_hits(backend)
    start = time.monotonic()
    r = s.get(gw.url + "/x", timeout=10)
    elapsed = time.monotonic() - start
    pt.assert_gateway_error(r, 503)
    assert elapsed < 0.05, "the open breaker took %.1f ms to answer" % (elapsed * 1000)
    retry_after = r.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit(), r.headers
    assert 1 <= int(retry_after) <= 2
    assert pt.upstream_hits(backend) == hits
    return elapsed


@pytest.mark.parametrize("mode, status, extra", BREAKER_FAILURES,
                         ids=[f[0] for f in BREAKER_FAILURES])
def test_breaker_opens_after_consecutive_failures_and_closes_after_recovery(
        gateway, upstream, mode, status, extra):
    backend = upstream("breaker-" + mode)
    pt.upstream_control(backend, mode=mode)
    gw = gateway(pool_config([backend.url], """
circuit_breaker: {consecutive_failures: 3, open_for: 1s}
%s""" % extra))
    with requests.Session() as s:
        for _ in range(3):
            assert s.get(gw.url + "/x", timeout=10).status_code == status
        assert pt.upstream_hits(backend, "/x") == 3
        took = [assert_open_answer(s, gw, backend) for _ in range(3)]
        # The bound: under 5 ms. Each answer gets slack for a loaded machine; the best of
        # three, client time included, must meet the bound itself.
        assert min(took) < 0.005, "open-breaker answers took %s ms" % [round(t * 1000, 2) for t in took]
        pt.upstream_control(backend, mode="ok")
        time.sleep(1.2)
        answers = [s.get(gw.url + "/x", timeout=10) for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 6
    assert pt.upstream_hits(backend, "/x") == 3 + 6


def test_failed_probe_opens_the_breaker_again(gateway, upstream):
    backend = upstream("breaker-probe")
    pt.upstream_control(backend, mode="fail500")
    gw = gateway(pool_config([backend.url],
                             "circuit_breaker: {consecutive_failures: 3, open_for: 1s}"))
    with requests.Session() as s:
        for _ in range(3):
            assert s.get(gw.url + "/x", timeout=10).status_code == 500
        assert_open_answer(s, gw, backend)
        time.sleep(1.2)
        probe = s.get(gw.url + "/x", timeout=10)
        assert probe.status_code == 500 and probe.json()["name"] == "breaker-probe"
        assert pt.upstream_hits(backend, "/x") == 4
        assert_open_answer(s, gw, backend)
        assert_open_answer(s, gw, backend)
    assert pt.upstream_hits(backend, "/x") == 4


def test_breaker_opens_on_failure_rate(gateway, upstream):
    backend = upstream("breaker-rate")
    gw = gateway(pool_config([backend.url], """
circuit_breaker: {failure_rate: 50%, window: 10s, min_requests: 10, consecutive_failures: 1000,
                  open_for: 5s}"""))
    statuses = []
    with requests.Session() as s:
        for i in range(16):
            # failure, success, failure, ...: 50% after an even count, above it after an odd one
            r = s.get(gw.url + ("/status/500" if i % 2 == 0 else "/x"), timeout=10)
            statuses.append(r.status_code)
            if r.status_code == 503:
                pt.assert_gateway_error(r, 503)
                break
    assert 503 not in statuses[:10], statuses  # fewer than min_requests: no verdict yet
    assert 503 in statuses[10:13], statuses
    hits = pt.upstream_hits(backend)
    with requests.Session() as s:
        pt.assert_gateway_error(s.get(gw.url + "/x", timeout=10), 503)
    assert pt.upstream_hits(backend) == hits


def test_breaker_stays_closed_below_the_failure_rate(gateway, upstream):
    backend = upstream("breaker-low-rate")
    gw = gateway(pool_config([backend.url], """
circuit_breaker: {failure_rate: 50%, window: 10s, min_requests: 10, consecutive_failures: 1000,
                  open_for: 5s}"""))
    with requests.Session() as s:
        statuses = [s.get(gw.url + ("/status/500" if i % 4 == 0 else "/x"), timeout=10).status_code
                    for i in range(40)]
    assert statuses == [500 if i % 4 == 0 else 200 for i in range(40)]


def test_max_requests_refuses_beyond_the_in_flight_bound(gateway, upstream):
    backend = upstream("bounded-flight")
    gw = gateway(pool_config([backend.url], "circuit_breaker: {max_requests: 2}"))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = [pool.submit(requests.get, gw.url + "/slow?ms=1000", timeout=10) for _ in range(2)]
        assert pt.wait_until(lambda: pt.upstream_hits(backend, "/slow") == 2, 5)
        start = time.monotonic()
        r = requests.get(gw.url + "/x", timeout=10)
        elapsed = time.monotonic() - start
        pt.assert_gateway_error(r, 503)
        assert elapsed < 0.2, elapsed
        assert "Retry-After" not in r.headers
        assert pt.upstream_hits(backend, "/x") == 0
        assert [f.result().status_code for f in slow] == [200, 200]
    assert requests.get(gw.url + "/x", timeout=10).status_code == 200


# --- outlier detection ---------------------------------------------------------------------------

OUTLIER = "outlier_detection: {consecutive_failures: 3, eject_for: 2s, max_ejected: 50%}"


def test_outlier_is_ejected_for_a_while_then_returns(gateway, upstream):
    bad, good = upstream("outlier-bad"), upstream("outlier-good")
    pt.upstream_control(bad, mode="fail500")
    gw = gateway(pool_config([bad.url, good.url], OUTLIER))
    with requests.Session() as s:
        for _ in range(20):
            if pt.upstream_hits(bad, "/x") >= 3:
                break
            s.get(gw.url + "/x", timeout=10)
        ejected_at = time.monotonic()
        assert pt.upstream_hits(bad, "/x") == 3
        assert pt.admin_target(gw, "pool", bad)["ejected"] is True
        assert pt.admin_target(gw, "pool", good)["ejected"] is False
        during = [s.get(gw.url + "/x", timeout=10) for _ in range(20)]
        assert time.monotonic() - ejected_at < 1.5, "too slow to observe the ejection"
        assert [r.status_code for r in during] == [200] * 20
        assert {r.json()["name"] for r in during} == {"outlier-good"}
        assert pt.upstream_hits(bad, "/x") == 3

        pt.upstream_control(bad, mode="ok")

        def bad_is_back():
            return s.get(gw.url + "/x", timeout=10).json().get("name") == "outlier-bad"

        assert pt.wait_until(bad_is_back, 6, 0.05), "the ejected target never came back"
    back_after = time.monotonic() - ejected_at
    assert 1.5 <= back_after <= 5, back_after
    assert pt.admin_target(gw, "pool", bad)["ejected"] is False


def test_outlier_detection_ejects_at_most_max_ejected(gateway, upstream):
    ups = [upstream("outlier-a"), upstream("outlier-b")]
    for u in ups:
        pt.upstream_control(u, mode="fail500")
    gw = gateway(pool_config([u.url for u in ups], OUTLIER))
    with requests.Session() as s:
        statuses = [s.get(gw.url + "/x", timeout=10).status_code for _ in range(20)]
    assert statuses == [500] * 20  # traffic still flows: one target stays in
    ejected = [t["target"] for t in pt.admin_upstreams(gw)["pool"]["targets"] if t["ejected"]]
    assert len(ejected) == 1, pt.admin_upstreams(gw)


# --- active health checks ------------------------------------------------------------------------

HEALTH = ("health_check: {type: http, path: /health, interval: 200ms, timeout: 200ms, "
          "healthy_after: 1, unhealthy_after: 2}")


def names_seen(s, gw, count=10):
    return {r.json().get("name") for r in (s.get(gw.url + "/x", timeout=10) for _ in range(count))}


def all_from(s, gw, name, count=10):
    """`count` requests in a row, all answered 200 by the target `name`."""
    for _ in range(count):
        r = s.get(gw.url + "/x", timeout=10)
        if r.status_code != 200 or r.json().get("name") != name:
            return False
    return True


def test_failing_health_check_takes_a_target_out_and_back(gateway, upstream):
    sick, well = upstream("hc-sick"), upstream("hc-well")
    gw = gateway(pool_config([sick.url, well.url], HEALTH))
    with requests.Session() as s:
        # Both targets in service once their first checks passed.
        assert pt.wait_until(lambda: names_seen(s, gw) == {"hc-sick", "hc-well"}, 5, 0.1)
        pt.upstream_control(sick, health=500)
        start = time.monotonic()
        assert pt.wait_until(lambda: all_from(s, gw, "hc-well"), 5, 0.05), \
            "the target failing its health check still gets traffic"
        assert time.monotonic() - start < 3.0
        hits = pt.upstream_hits(sick, "/x")
        assert all_from(s, gw, "hc-well", 20)
        assert pt.upstream_hits(sick, "/x") == hits  # it still answers, but gets nothing

        pt.upstream_control(sick, health=200)
        assert pt.wait_until(
            lambda: s.get(gw.url + "/x", timeout=10).json().get("name") == "hc-sick", 5, 0.05), \
            "the recovered target gets no traffic"


def test_all_targets_unhealthy_is_panic_mode(gateway, upstream):
    ups = [upstream("panic-a"), upstream("panic-b")]
    gw = gateway(pool_config([u.url for u in ups], HEALTH))
    for u in ups:
        pt.upstream_control(u, health=500)

    def all_unhealthy():
        m = gw.metrics()
        return all(pt.metric_value(m, "portico_upstream_healthy", upstream="pool",
                                   target=pt.target_key(u)) == 0 for u in ups)

    assert pt.wait_until(all_unhealthy, 5, 0.1), gw.metrics()
    with requests.Session() as s:
        answers = [s.get(gw.url + "/x", timeout=10) for _ in range(20)]
    assert [r.status_code for r in answers] == [200] * 20
    assert {r.json()["name"] for r in answers} == {"panic-a", "panic-b"}


def test_tcp_health_check_notices_a_stopped_target(gateway, upstream):
    stays, goes = upstream("tcp-stays"), upstream("tcp-goes")
    gw = gateway(pool_config([stays.url, goes.url], """
health_check: {type: tcp, interval: 200ms, timeout: 200ms, healthy_after: 1, unhealthy_after: 1}
"""))
    with requests.Session() as s:
        assert pt.wait_until(lambda: names_seen(s, gw, 6) == {"tcp-stays", "tcp-goes"}, 5, 0.1)
        goes.stop()
        assert pt.wait_until(lambda: all_from(s, gw, "tcp-stays"), 5, 0.05)
        assert all_from(s, gw, "tcp-stays", 30)


# --- timeouts ------------------------------------------------------------------------------------

def test_route_timeout_longer_than_the_upstream_timeout_wins(gateway, upstream):
    backend = upstream("long-route")
    gw = gateway(pt.make_config(
        upstreams="pool:\n  targets: [%s]\n  timeouts: {request: 300ms}" % backend.url,
        routes="""
- {name: patient, match: {prefix: /patient}, upstream: pool, strip_prefix: /patient, timeout: 3s}
- {name: all, match: {prefix: /}, upstream: pool}
""", workers=1))
    assert requests.get(gw.url + "/patient/slow?ms=800", timeout=10).status_code == 200
    start = time.monotonic()
    r = requests.get(gw.url + "/slow?ms=800", timeout=10)
    pt.assert_gateway_error(r, 504)
    assert time.monotonic() - start < 0.75


def test_a_listed_4xx_status_is_retried_on_the_other_target(gateway, upstream):
    busy, calm = upstream("r429-busy"), upstream("r429-calm")
    pt.upstream_control(busy, mode="fail", status=429)
    gw = gateway(pool_config([busy.url, calm.url],
                             "retries: {attempts: 1, on: [429], backoff: 5ms, budget: 100%}"))
    with requests.Session() as s:
        answers = [s.get(gw.url + "/x", timeout=10) for _ in range(10)]
    assert [r.status_code for r in answers] == [200] * 10
    assert {r.json()["name"] for r in answers} == {"r429-calm"}
    assert pt.upstream_hits(busy) >= 1  # it was tried, and its 429 never reached the client
