"""Upstream state that outlives a config snapshot: a reload (or a DNS refresh) that leaves an
upstream unchanged keeps its breaker, ejections and health; hostnames are looked up again every
`dns_refresh` without disturbing traffic."""

import signal
import time

import requests

import portico_testing as pt

ROUTE = "- {name: all, match: {prefix: /}, upstream: pool}"
BREAKER = "circuit_breaker: {consecutive_failures: 2, open_for: 30s}"


def config(target, extra_route=""):
    upstreams = "pool:\n  targets: [%s]\n  %s\n" % (target, BREAKER)
    return pt.make_config(upstreams=upstreams, routes=ROUTE + extra_route, workers=1)


def open_breaker(gw, up):
    pt.upstream_control(up, mode="fail500")
    for _ in range(2):
        assert requests.get(gw.url + "/x", timeout=5).status_code == 500
    r = requests.get(gw.url + "/x", timeout=5)
    assert r.status_code == 503 and "Retry-After" in r.headers, r.text


def test_reload_that_keeps_an_upstream_keeps_its_open_breaker(gateway, upstream):
    up = upstream("state-kept")
    gw = gateway(config(up.url))
    open_breaker(gw, up)
    pt.upstream_control(up, mode="ok")
    # A route is added; the upstream is untouched.
    gw.write_config(config(up.url, "\n- {name: ping, match: {path: /ping}, respond: {body: pong}}"))
    gw.signal(signal.SIGHUP)
    assert pt.wait_until(lambda: requests.get(gw.url + "/ping", timeout=5).status_code == 200, 5)
    hits = pt.upstream_hits(up)
    r = requests.get(gw.url + "/x", timeout=5)
    assert r.status_code == 503, r.text  # still open: the breaker survived the reload
    assert pt.upstream_hits(up) == hits


def test_reload_that_changes_an_upstream_starts_it_afresh(gateway, upstream):
    up = upstream("state-fresh")
    gw = gateway(config(up.url))
    open_breaker(gw, up)
    pt.upstream_control(up, mode="ok")
    changed = config(up.url).replace("consecutive_failures: 2", "consecutive_failures: 3")
    gw.write_config(changed)
    gw.signal(signal.SIGHUP)
    assert pt.wait_until(lambda: requests.get(gw.url + "/x", timeout=5).status_code == 200, 5)


def test_hostname_targets_are_looked_up_again_without_disturbing_traffic(gateway, upstream):
    up = upstream("by-name")
    port = up.url.rsplit(":", 1)[1]
    upstreams = "pool:\n  targets: [http://localhost:%s]\n  dns_refresh: 100ms\n" % port
    gw = gateway(pt.make_config(upstreams=upstreams, routes=ROUTE, workers=1))
    statuses = []
    deadline = time.monotonic() + 1.5  # about 15 refreshes
    with requests.Session() as s:
        while time.monotonic() < deadline and len(statuses) < 2000:
            statuses.append(s.get(gw.url + "/x", timeout=5).status_code)
    assert statuses and set(statuses) == {200}
    assert "dns:" not in gw.stderr_text()  # nothing moved, nothing failed
