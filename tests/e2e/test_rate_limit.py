"""Rate limits with the memory store (GCRA): the burst then 429, refill at the rate, every header
exact, every key kind, combined and missing keys, defaults, several policies on a route, and a
reload that resets only the policy it changed."""

import subprocess
import time

import pytest
import requests

import auth_testing as at
import portico_testing as pt

SECRET = "ratelimit-hs256-secret-0123456789abcdef"

CONFIG = """
auth:
  keys:
    type: api_key
    header: X-API-Key
    keys: {"k-1": alice, "k-2": bob}
  jwt: {type: jwt, secret: "%(secret)s", algorithms: [HS256]}
rate_limits:
  policies:
    burst3:    {key: client_ip, rate: 1/min, burst: 3}
    per-key:   {key: header:X-Tenant, rate: 1/min, burst: 2}
    consumer:  {key: consumer, rate: 1/min, burst: 2}
    tenant:    {key: jwt:tenant, rate: 1/min, burst: 2}
    per-route: {key: route, rate: 1/min, burst: 2}
    global:    {key: global, rate: 1/min, burst: 4}
    combined:  {key: client_ip+header:X-Tenant, rate: 1/min, burst: 1}
    fast:      {key: client_ip, rate: 20/s, burst: 1}
    wide:      {key: client_ip, rate: 1/min, burst: 10}
    narrow:    {key: header:X-Tenant, rate: 1/min, burst: 1}
""" % {"secret": SECRET}

ROUTES = """
- {name: burst, match: {prefix: /burst}, upstream: up, rate_limit: [burst3]}
- {name: per-key, match: {prefix: /per-key}, upstream: up, rate_limit: [per-key]}
- {name: consumer, match: {prefix: /consumer}, upstream: up, auth: keys, rate_limit: [consumer]}
- {name: tenant, match: {prefix: /tenant}, upstream: up, auth: jwt, rate_limit: [tenant]}
- {name: route-a, match: {prefix: /route-a}, upstream: up, rate_limit: [per-route]}
- {name: route-b, match: {prefix: /route-b}, upstream: up, rate_limit: [per-route]}
- {name: global, match: {prefix: /global}, upstream: up, rate_limit: [global]}
- {name: combined, match: {prefix: /combined}, upstream: up, rate_limit: [combined]}
- {name: fast, match: {prefix: /fast}, upstream: up, rate_limit: [fast]}
- {name: both, match: {prefix: /both}, upstream: up, rate_limit: [wide, narrow]}
- {name: wide-only, match: {prefix: /wide-only}, upstream: up, rate_limit: [wide]}
- {name: open, match: {prefix: /open}, upstream: up}
"""


@pytest.fixture(scope="module")
def up(module_upstream):
    return module_upstream("ratelimit-up")


@pytest.fixture(scope="module")
def gw(module_gateway, up):
    return module_gateway(
        pt.make_config(upstreams={"up": up.url}, routes=ROUTES, top_extra=CONFIG,
                       server_extra="trusted_proxies: [127.0.0.0/8]"))


def get(gw, path, ip, **headers):
    headers["X-Forwarded-For"] = ip
    return requests.get(gw.url + path, headers=headers, timeout=5)


def statuses(gw, path, ip, n, **headers):
    return [get(gw, path, ip, **headers).status_code for _ in range(n)]


def test_burst_then_429_with_exact_headers_and_nothing_forwarded(gw, up):
    ip = "198.51.100.1"
    seen = []
    for i in range(3):
        r = get(gw, "/burst/x", ip)
        assert r.status_code == 200, r.text
        seen.append(r)
    assert [r.headers["X-RateLimit-Remaining"] for r in seen] == ["2", "1", "0"]
    for r in seen:
        assert r.headers["X-RateLimit-Limit"] == "3"
        assert r.headers["RateLimit-Policy"] == '"burst3";q=3;w=60'
        assert "Retry-After" not in r.headers
    # One request a minute refills: the bucket is full again 60, 120, 180 s after the first.
    assert [r.headers["X-RateLimit-Reset"] for r in seen] == ["60", "120", "180"]
    assert seen[0].headers["RateLimit"] == '"burst3";r=2;t=60'

    before = up.stats()["received"]
    refused = get(gw, "/burst/x", ip)
    assert refused.status_code == 429
    assert up.stats()["received"] == before, "a refused request never reaches the upstream"
    body = refused.json()
    assert body["status"] == 429 and body["retry_after"] == 60
    assert body["request_id"] == refused.headers["X-Correlation-ID"]
    assert refused.headers["Retry-After"] == "60"
    assert refused.headers["RateLimit"] == '"burst3";r=0;t=60'
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["Content-Type"] == "application/json"

    assert get(gw, "/burst/x", "198.51.100.2").status_code == 200, "another client, another bucket"
    assert 'portico_rate_limited_total{route="burst",policy="burst3"} 1' in gw.metrics()
    entry = gw.wait_access_log(lambda e: e.get("status") == 429 and e.get("path") == "/burst/x")
    assert entry["error"] == "rate_limited:burst3"


def test_refills_at_the_configured_rate(gw):
    ip = "198.51.100.10"
    assert get(gw, "/fast", ip).status_code == 200
    assert get(gw, "/fast", ip).status_code == 429
    time.sleep(0.06)  # one request every 50 ms
    assert get(gw, "/fast", ip).status_code == 200
    # Over one second of back-to-back requests, 20/s admits about 20 (+1 for the full bucket).
    ip = "198.51.100.11"
    admitted, start = 0, time.monotonic()
    with requests.Session() as s:
        while time.monotonic() - start < 1.0:
            r = s.get(gw.url + "/fast", headers={"X-Forwarded-For": ip}, timeout=5)
            admitted += r.status_code == 200
    elapsed = time.monotonic() - start
    expected = 1 + 20 * elapsed
    assert abs(admitted - expected) <= 2, (admitted, expected)


def test_header_keys_and_a_missing_header_is_the_dash_key(gw):
    ip = "198.51.100.20"
    assert statuses(gw, "/per-key", ip, 3, **{"X-Tenant": "a"}) == [200, 200, 429]
    assert statuses(gw, "/per-key", ip, 2, **{"X-Tenant": "b"}) == [200, 200]
    # No header: every such request shares the key "-", whichever client sends it.
    assert get(gw, "/per-key", "198.51.100.21").status_code == 200
    assert get(gw, "/per-key", "198.51.100.22").status_code == 200
    assert get(gw, "/per-key", "198.51.100.23").status_code == 429


def test_repeated_headers_are_joined_before_keying(gw):
    ip = "198.51.100.25"
    # Two X-Tenant fields "x" and "y" are the value "x, y": not the bucket of "x".
    raw = pt.connect(gw.port)
    reader = pt.RawReader(raw)
    try:
        for expected in (200, 200, 429):
            raw.sendall(b"GET /per-key HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: " + ip.encode() +
                        b"\r\nX-Tenant: x\r\nX-Tenant: y\r\n\r\n")
            assert reader.read_response().status == expected
    finally:
        raw.close()
    assert statuses(gw, "/per-key", ip, 1, **{"X-Tenant": "x"}) == [200]
    assert statuses(gw, "/per-key", ip, 1, **{"X-Tenant": "x, y"}) == [429]


def test_consumer_keys_follow_the_authenticated_identity(gw):
    assert statuses(gw, "/consumer", "198.51.100.30", 2, **{"X-API-Key": "k-1"}) == [200, 200]
    # Same consumer from another address: the same bucket.
    assert statuses(gw, "/consumer", "198.51.100.31", 1, **{"X-API-Key": "k-1"}) == [429]
    assert statuses(gw, "/consumer", "198.51.100.30", 1, **{"X-API-Key": "k-2"}) == [200]
    # Authentication runs first: without a key the answer is 401, not a rate-limit figure.
    r = get(gw, "/consumer", "198.51.100.30")
    assert r.status_code == 401 and "X-RateLimit-Limit" not in r.headers


def test_jwt_claim_keys(gw):
    acme = at.token(SECRET, "HS256", sub="u1", tenant="acme")
    acme2 = at.token(SECRET, "HS256", sub="u2", tenant="acme")
    other = at.token(SECRET, "HS256", sub="u3", tenant="other")
    no_claim = at.token(SECRET, "HS256", sub="u4")
    ip = "198.51.100.40"
    assert statuses(gw, "/tenant", ip, 1, Authorization="Bearer " + acme) == [200]
    assert statuses(gw, "/tenant", ip, 2, Authorization="Bearer " + acme2) == [200, 429]
    assert statuses(gw, "/tenant", ip, 1, Authorization="Bearer " + other) == [200]
    assert statuses(gw, "/tenant", ip, 3, Authorization="Bearer " + no_claim) == [200, 200, 429]


def test_route_keys_are_per_route_and_global_is_shared_by_every_client(gw):
    assert statuses(gw, "/route-a", "198.51.100.50", 2) == [200, 200]
    assert statuses(gw, "/route-a", "198.51.100.51", 1) == [429]
    assert statuses(gw, "/route-b", "198.51.100.50", 2) == [200, 200]
    results = [get(gw, "/global", "198.51.100.%d" % (60 + i)).status_code for i in range(6)]
    assert results == [200, 200, 200, 200, 429, 429]


def test_combined_keys(gw):
    assert statuses(gw, "/combined", "198.51.100.70", 2, **{"X-Tenant": "a"}) == [200, 429]
    assert statuses(gw, "/combined", "198.51.100.70", 1, **{"X-Tenant": "b"}) == [200]
    assert statuses(gw, "/combined", "198.51.100.71", 1, **{"X-Tenant": "a"}) == [200]


def test_a_request_refused_by_one_policy_consumes_nothing_from_the_others(gw):
    ip = "198.51.100.80"
    r = get(gw, "/both", ip, **{"X-Tenant": "t1"})
    assert r.status_code == 200
    # narrow (1 of 1 used) is closest to refusing, so its figures are shown.
    assert r.headers["RateLimit-Policy"] == '"narrow";q=1;w=60'
    for _ in range(5):
        refused = get(gw, "/both", ip, **{"X-Tenant": "t1"})
        assert refused.status_code == 429
        assert refused.headers["RateLimit-Policy"] == '"narrow";q=1;w=60'
    # wide was charged once (by the admitted request), not six times.
    r = get(gw, "/wide-only", ip)
    assert r.status_code == 200
    assert r.headers["X-RateLimit-Remaining"] == "8"


def test_workers_share_one_table(gateway, upstream):
    up = upstream("ratelimit-workers-up")
    config = pt.make_config(
        upstreams={"up": up.url}, workers=2,
        top_extra="rate_limits:\n  policies:\n    g: {key: global, rate: 1/min, burst: 50}\n",
        routes="- {name: g, match: {prefix: /}, upstream: up, rate_limit: [g]}\n")
    gw = gateway(config)
    # Many connections, spread over both workers by the kernel.
    sessions = [requests.Session() for _ in range(8)]
    codes = [sessions[i % 8].get(gw.url + "/x", timeout=5).status_code for i in range(120)]
    assert codes.count(200) == 50 and codes.count(429) == 70


def test_defaults_apply_and_a_route_can_opt_out(gateway, upstream):
    up = upstream("ratelimit-defaults-up")
    config = pt.make_config(
        upstreams={"up": up.url},
        top_extra="rate_limits:\n  policies:\n    d: {key: client_ip, rate: 1/min, burst: 1}\n"
                  "defaults:\n  rate_limit: [d]\n",
        routes="- {name: limited, match: {prefix: /limited}, upstream: up}\n"
               "- {name: free, match: {prefix: /free}, upstream: up, rate_limit: []}\n")
    gw = gateway(config)
    assert [requests.get(gw.url + "/limited", timeout=5).status_code for _ in range(2)] == [200, 429]
    assert [requests.get(gw.url + "/free", timeout=5).status_code for _ in range(3)] == [200] * 3


RELOAD_POLICIES = """rate_limits:
  policies:
    kept:    {key: client_ip, rate: 1/min, burst: 1}
    changed: {key: client_ip, rate: 1/min, burst: %d}
"""
RELOAD_ROUTES = """
- {name: kept, match: {prefix: /kept}, upstream: up, rate_limit: [kept]}
- {name: changed, match: {prefix: /changed}, upstream: up, rate_limit: [changed]}
"""


def test_a_reload_resets_only_the_policy_it_changed(gateway, upstream):
    import signal
    up = upstream("ratelimit-reload-up")
    gw = gateway(pt.make_config(upstreams={"up": up.url}, routes=RELOAD_ROUTES,
                                top_extra=RELOAD_POLICIES % 1))
    assert [requests.get(gw.url + "/kept", timeout=5).status_code for _ in range(2)] == [200, 429]
    assert [requests.get(gw.url + "/changed", timeout=5).status_code for _ in range(2)] == [200, 429]
    gw.write_config(pt.make_config(upstreams={"up": up.url}, routes=RELOAD_ROUTES,
                                   top_extra=RELOAD_POLICIES % 2))
    gw.signal(signal.SIGHUP)
    assert pt.wait_until(lambda: pt.metric_value(gw.metrics(), "portico_config_reloads_total",
                                                 result="success") == 1, 5)
    assert requests.get(gw.url + "/kept", timeout=5).status_code == 429, "kept its bucket"
    assert [requests.get(gw.url + "/changed", timeout=5).status_code for _ in range(3)] == [200, 200, 429]


def flood(port, first_key, count, batch=2000):
    """`count` requests, each from its own client address (X-Forwarded-For from the trusted
    peer), pipelined on one connection in batches; returns how many were answered 200 and 429."""
    sock = pt.connect(port)
    ok = limited = 0
    pending = b""
    try:
        for start in range(first_key, first_key + count, batch):
            n = min(batch, first_key + count - start)
            sock.sendall(b"".join(
                b"GET /flood HTTP/1.1\r\nHost: f\r\nX-Forwarded-For: 10.%d.%d.%d\r\n\r\n"
                % ((k >> 16) & 255, (k >> 8) & 255, k & 255) for k in range(start, start + n)))
            seen = 0
            while seen < n:
                chunk = sock.recv(1 << 20)
                assert chunk, "the gateway closed the connection"
                pending += chunk
                # Every answer has a body of 2 bytes ("ok") or the JSON error; count status lines.
                while True:
                    at = pending.find(b"HTTP/1.1 ")
                    end = pending.find(b"HTTP/1.1 ", at + 9)
                    if at < 0 or end < 0:
                        break
                    code = pending[at + 9:at + 12]
                    ok += code == b"200"
                    limited += code == b"429"
                    seen += 1
                    pending = pending[end:]
                if seen == n - 1 and pending.count(b"\r\n\r\n") and pending.endswith((b"ok", b"}")):
                    code = pending[9:12]
                    ok += code == b"200"
                    limited += code == b"429"
                    seen += 1
                    pending = b""
    finally:
        sock.close()
    return ok, limited


@pytest.mark.parametrize("max_keys, keys", [
    (100000, 300000),
    pytest.param(1000000, 1000000, marks=pytest.mark.slow),
])
def test_a_flood_of_distinct_keys_keeps_memory_within_the_tables_bound(gateway, max_keys, keys):
    # Only the Release build's memory says anything: a sanitizer's allocator keeps freed blocks
    # in quarantine and grows regardless. Under a sanitizer the flood is smaller (it is slower)
    # and checks only that eviction keeps answering correctly.
    version = subprocess.run([str(pt.portico_bin()), "version"], capture_output=True, text=True).stdout
    release = "mimalloc" in version
    if not release:
        max_keys, keys = 10000, 30000
    config = pt.make_config(
        server_extra="trusted_proxies: [127.0.0.0/8]", workers=1, access_log="off",
        top_extra="rate_limits:\n  max_keys: %d\n  policies:\n"
                  "    per-ip: {key: client_ip, rate: 1/min, burst: 1}\n" % max_keys,
        routes="- {name: flood, match: {path: /flood}, respond: {status: 200, body: ok},"
               " rate_limit: [per-ip]}\n")
    gw = gateway(config)
    assert flood(gw.port, 0, 2000) == (2000, 0)
    start = pt.vm_rss_kib(gw.pid)
    half = keys // 2
    assert flood(gw.port, 2000, half - 2000) == (half - 2000, 0)
    middle = pt.vm_rss_kib(gw.pid)
    assert flood(gw.port, half, keys - half) == (keys - half, 0)
    end = pt.vm_rss_kib(gw.pid)
    # The table: max_keys rounded up to a power of two, 16 bytes a slot (2 MiB for 100,000,
    # 16 MiB for 1,000,000), touched as keys arrive; then flat.
    table_kib = 16 * (1 << (max_keys - 1).bit_length()) // 1024
    if not release:
        assert flood(gw.port, keys - 1, 1) == (0, 1)
        return
    if keys > 2 * max_keys:
        assert end - middle < 1024, (start, middle, end)
    assert end - start < table_kib + 4096, (start, middle, end, table_kib)
    # A key seen moments ago is still limited after the flood went by.
    assert flood(gw.port, keys - 1, 1) == (0, 1)
