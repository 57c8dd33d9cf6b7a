"""Response cache, memory store: behaviour.md "Cache".

The backend (tests/support/cache_backend.py) numbers the answers of each target, so a cached
answer shows the number of the request that filled it, and /stats says how many requests
reached it.
"""

import concurrent.futures
import socket
import time

import pytest
import requests

import portico_testing as pt
from cache_testing import CacheBackend

ROUTES = """
- {name: cached, match: {prefix: /c/}, upstream: be, cache: {ttl: 60s}}
- {name: short, match: {prefix: /short/}, upstream: be, cache: {ttl: 2s}}
- {name: lang, match: {prefix: /lang/}, upstream: be, cache: {ttl: 60s, vary: [Accept-Language]}}
- {name: swr, match: {prefix: /swr/}, upstream: be,
   cache: {ttl: 1s, stale_while_revalidate: 30s}}
- {name: sie, match: {prefix: /sie/}, upstream: be, timeout: 500ms,
   cache: {ttl: 1s, stale_if_error: 60s}}
- {name: keyed, match: {prefix: /keyed/}, upstream: be, auth: keys, cache: {ttl: 60s}}
- {name: keyed-shared, match: {prefix: /shared/}, upstream: be, auth: keys,
   cache: {ttl: 60s, shared: true}}
- {name: plain, match: {prefix: /p/}, upstream: be}
- {name: packed, match: {prefix: /z/}, upstream: be, compress: true, cache: {ttl: 60s}}
"""

TOP = """
auth:
  keys:
    type: api_key
    keys: {key-a: alice, key-b: bob}
cache:
  max_object_size: 256KiB
  lock_timeout: 3s
"""


@pytest.fixture(scope="module")
def be():
    backend = CacheBackend()
    yield backend
    backend.stop()


@pytest.fixture(scope="module")
def gw(module_gateway, be):
    return module_gateway(pt.make_config(upstreams={"be": "@BE@"}, routes=ROUTES, top_extra=TOP),
                          BE=be.url)


@pytest.fixture(autouse=True)
def _backend_ok(be):
    be.control(fail=None, ms=0)
    yield
    be.control(fail=None, ms=0)


def get(gw, path, **kw):
    kw.setdefault("timeout", 10)
    return requests.get(gw.url + path, **kw)


def test_a_miss_is_stored_and_the_next_request_is_a_hit(gw, be):
    first = get(gw, "/c/one")
    assert first.status_code == 200
    assert first.headers["X-Cache"] == "MISS"
    assert "Age" not in first.headers
    second = get(gw, "/c/one")
    assert second.status_code == 200
    assert second.headers["X-Cache"] == "HIT"
    assert second.json()["n"] == 1
    assert int(second.headers["Age"]) >= 0
    assert second.headers["Content-Type"] == "application/json"
    assert int(second.headers["Content-Length"]) == len(second.content)
    assert second.headers["X-Correlation-ID"] != first.headers["X-Correlation-ID"]
    assert be.count("/c/one") == 1


def test_routes_without_cache_never_say_x_cache(gw, be):
    for _ in range(2):
        r = get(gw, "/p/x")
        assert "X-Cache" not in r.headers
    assert be.count("/p/x") == 2


@pytest.mark.parametrize("status,stored", [
    (200, True), (203, True), (204, True), (301, True), (404, True), (410, True),
    (201, False), (302, False), (403, False), (500, False), (503, False)])
def test_which_statuses_are_stored(gw, be, status, stored):
    path = "/c/status-%d?status=%d" % (status, status)
    get(gw, path, allow_redirects=False)
    second = get(gw, path, allow_redirects=False)
    assert second.status_code == status
    assert (second.headers.get("X-Cache") == "HIT") == stored
    assert be.count(path) == (1 if stored else 2)


@pytest.mark.parametrize("query", [
    "cc=no-store", "cc=private", "cc=no-cache", "cc=max-age%3D0", "cookie=1", "vary=*",
    "cc=s-maxage%3D0,max-age%3D60"])
def test_answers_that_are_never_stored(gw, be, query):
    path = "/c/never?" + query
    get(gw, path)
    second = get(gw, path)
    assert second.headers["X-Cache"] == "MISS"
    assert be.count(path) == 2


def test_a_request_with_no_store_bypasses_and_leaves_nothing(gw, be):
    r = get(gw, "/c/bypass", headers={"Cache-Control": "no-store"})
    assert r.headers["X-Cache"] == "BYPASS"
    assert get(gw, "/c/bypass").headers["X-Cache"] == "MISS"
    assert get(gw, "/c/bypass").headers["X-Cache"] == "HIT"
    assert be.count("/c/bypass") == 2


def test_other_methods_bypass(gw, be):
    r = requests.post(gw.url + "/c/posted", data=b"x", timeout=5)
    assert r.headers["X-Cache"] == "BYPASS"
    assert get(gw, "/c/posted").headers["X-Cache"] == "MISS"


def test_ttl_caps_the_upstreams_max_age_and_a_smaller_s_maxage_wins(gw, be):
    get(gw, "/short/cap?cc=max-age%3D600")
    get(gw, "/c/smax?cc=max-age%3D600,s-maxage%3D1")
    assert get(gw, "/short/cap?cc=max-age%3D600").headers["X-Cache"] == "HIT"
    assert get(gw, "/c/smax?cc=max-age%3D600,s-maxage%3D1").headers["X-Cache"] == "HIT"
    time.sleep(2.3)
    assert get(gw, "/short/cap?cc=max-age%3D600").headers["X-Cache"] == "MISS"
    assert get(gw, "/c/smax?cc=max-age%3D600,s-maxage%3D1").headers["X-Cache"] == "MISS"


def test_age_grows_and_an_entry_expires_after_its_ttl(gw, be):
    get(gw, "/short/age")
    time.sleep(1.1)
    hit = get(gw, "/short/age")
    assert hit.headers["X-Cache"] == "HIT"
    assert int(hit.headers["Age"]) >= 1
    time.sleep(1.2)
    again = get(gw, "/short/age")
    assert again.headers["X-Cache"] == "MISS"
    assert again.json()["n"] == 2


def test_the_upstreams_own_age_counts(gw, be):
    get(gw, "/c/aged?age=50")
    hit = get(gw, "/c/aged?age=50")
    assert hit.headers["X-Cache"] == "HIT"
    assert int(hit.headers["Age"]) >= 50
    # Older than its max-age already: never stored.
    get(gw, "/c/too-old?age=100&cc=max-age%3D60")
    assert get(gw, "/c/too-old?age=100&cc=max-age%3D60").headers["X-Cache"] == "MISS"


def test_the_query_is_keyed_byte_for_byte(gw, be):
    get(gw, "/c/q?a=1&b=2")
    assert get(gw, "/c/q?a=1&b=2").headers["X-Cache"] == "HIT"
    assert get(gw, "/c/q?b=2&a=1").headers["X-Cache"] == "MISS"
    assert get(gw, "/c/q?a=1&b=2&").headers["X-Cache"] == "MISS"


def test_the_host_is_in_the_key_and_x_forwarded_host_is_not(gw, be):
    a = get(gw, "/c/host", headers={"Host": "a.example"})
    assert a.headers["X-Cache"] == "MISS"
    b = get(gw, "/c/host", headers={"Host": "b.example"})
    assert b.headers["X-Cache"] == "MISS"
    poisoned = get(gw, "/c/host", headers={"Host": "a.example", "X-Forwarded-Host": "evil.example"})
    assert poisoned.headers["X-Cache"] == "HIT"
    assert poisoned.json()["headers"]["host"] == "a.example"
    assert be.count("/c/host") == 2


def test_the_upstreams_vary_splits_entries(gw, be):
    path = "/c/vary?vary=X-Tenant"
    a1 = get(gw, path, headers={"X-Tenant": "a"})
    b1 = get(gw, path, headers={"X-Tenant": "b"})
    a2 = get(gw, path, headers={"X-Tenant": "a"})
    b2 = get(gw, path, headers={"X-Tenant": "b"})
    assert (a1.headers["X-Cache"], b1.headers["X-Cache"]) == ("MISS", "MISS")
    assert (a2.headers["X-Cache"], b2.headers["X-Cache"]) == ("HIT", "HIT")
    assert a2.json()["headers"]["x-tenant"] == "a"
    assert b2.json()["headers"]["x-tenant"] == "b"
    assert a2.headers["Vary"] == "X-Tenant"


def test_the_routes_vary_headers_split_entries(gw, be):
    en = get(gw, "/lang/x", headers={"Accept-Language": "en"})
    fr = get(gw, "/lang/x", headers={"Accept-Language": "fr"})
    assert (en.headers["X-Cache"], fr.headers["X-Cache"]) == ("MISS", "MISS")
    assert get(gw, "/lang/x", headers={"Accept-Language": "fr"}).json()["headers"][
        "accept-language"] == "fr"
    assert get(gw, "/lang/x", headers={"Accept-Language": "en"}).headers["X-Cache"] == "HIT"


def test_entries_are_per_consumer_on_authenticated_routes(gw, be):
    alice = get(gw, "/keyed/me", headers={"X-API-Key": "key-a"})
    bob = get(gw, "/keyed/me", headers={"X-API-Key": "key-b"})
    assert (alice.headers["X-Cache"], bob.headers["X-Cache"]) == ("MISS", "MISS")
    again = get(gw, "/keyed/me", headers={"X-API-Key": "key-a"})
    assert again.headers["X-Cache"] == "HIT"
    assert again.json()["headers"]["x-api-key"] == "key-a"
    # A hit never skips authentication.
    assert get(gw, "/keyed/me").status_code == 401
    assert get(gw, "/keyed/me", headers={"X-API-Key": "wrong"}).status_code == 401


def test_shared_entries_serve_every_consumer_but_still_authenticate(gw, be):
    get(gw, "/shared/x", headers={"X-API-Key": "key-a"})
    bob = get(gw, "/shared/x", headers={"X-API-Key": "key-b"})
    assert bob.headers["X-Cache"] == "HIT"
    assert get(gw, "/shared/x").status_code == 401
    assert be.count("/shared/x") == 1


def test_conditionals_matching_an_entry_get_304_from_the_cache(gw, be):
    path = "/c/cond?etag=%22v7%22&lm=Tue,%2001%20Dec%202026%2010:00:00%20GMT"
    get(gw, path)
    r = get(gw, path, headers={"If-None-Match": '"v7"'})
    assert r.status_code == 304
    assert r.headers["ETag"] == '"v7"'
    assert r.headers["X-Cache"] == "HIT"
    assert r.content == b""
    assert get(gw, path, headers={"If-None-Match": 'W/"v7", "x"'}).status_code == 304
    assert get(gw, path, headers={"If-None-Match": '"other"'}).status_code == 200
    since = get(gw, path, headers={"If-Modified-Since": "Wed, 02 Dec 2026 10:00:00 GMT"})
    assert since.status_code == 304
    older = get(gw, path, headers={"If-Modified-Since": "Mon, 30 Nov 2026 10:00:00 GMT"})
    assert older.status_code == 200
    assert be.count(path) == 1


def test_a_conditional_miss_is_filled_with_the_whole_answer(gw, be):
    path = "/c/cond-miss?etag=%22v1%22"
    first = get(gw, path, headers={"If-None-Match": '"v1"'})
    assert first.status_code == 200  # the upstream was asked without the conditional
    assert "if-none-match" not in first.json()["headers"]
    assert get(gw, path, headers={"If-None-Match": '"v1"'}).status_code == 304


def test_head_is_served_from_the_get_entry(gw, be):
    body = get(gw, "/c/head").content
    r = requests.head(gw.url + "/c/head", timeout=5)
    assert r.status_code == 200
    assert r.headers["X-Cache"] == "HIT"
    assert int(r.headers["Content-Length"]) == len(body)
    assert be.count("/c/head") == 1


def test_a_head_miss_does_not_fill(gw, be):
    r = requests.head(gw.url + "/c/head-first", timeout=5)
    assert r.headers["X-Cache"] == "MISS"
    assert get(gw, "/c/head-first").headers["X-Cache"] == "MISS"
    assert get(gw, "/c/head-first").headers["X-Cache"] == "HIT"


def test_concurrent_misses_make_one_upstream_request(gw, be):
    path = "/c/herd?ms=400"
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: get(gw, path), range(50)))
    assert all(a.status_code == 200 for a in answers)
    assert {a.json()["n"] for a in answers} == {1}
    assert sorted(a.headers["X-Cache"] for a in answers).count("MISS") == 1
    assert be.count(path) == 1


def test_waiters_go_upstream_themselves_after_lock_timeout(module_gateway, be):
    gw = module_gateway(pt.make_config(upstreams={"be": "@BE@"}, routes=ROUTES,
                                       top_extra=TOP.replace("lock_timeout: 3s",
                                                             "lock_timeout: 200ms")),
                        BE=be.url)
    path = "/c/slowfill?ms=1500"
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: get(gw, path), range(5)))
    assert all(a.status_code == 200 for a in answers)
    assert be.count(path) == 5
    assert time.monotonic() - started < 3.5 * pt.SLOWDOWN  # nobody waited for the others in turn
    gw.stop()


def test_an_uncacheable_answer_releases_every_waiter_at_once(gw, be):
    path = "/c/nostore-herd?ms=500&cc=no-store"
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: get(gw, path), range(10)))
    assert all(a.status_code == 200 for a in answers)
    assert be.count(path) == 10
    assert time.monotonic() - started < 2.5 * pt.SLOWDOWN  # 0.5 s, then 0.5 s for all the others


def test_stale_while_revalidate_serves_stale_and_refreshes_in_the_background(gw, be):
    path = "/swr/x?ms=300"
    assert get(gw, path).json()["n"] == 1
    time.sleep(1.2)
    started = time.monotonic()
    stale = get(gw, path)
    assert time.monotonic() - started < 0.25 * pt.SLOWDOWN  # not waiting for the 300 ms upstream
    assert stale.headers["X-Cache"] == "STALE"
    assert stale.json()["n"] == 1
    assert pt.wait_until(lambda: be.count(path) == 2, 5)
    assert pt.wait_until(lambda: get(gw, path).headers["X-Cache"] == "HIT", 5)
    assert get(gw, path).json()["n"] == 2
    assert be.count(path) == 2


def test_one_background_refresh_however_many_stale_hits(gw, be):
    path = "/swr/many?ms=500"
    get(gw, path)
    time.sleep(1.2)
    for _ in range(10):
        assert get(gw, path).headers["X-Cache"] == "STALE"
    time.sleep(1.0)
    assert be.count(path) == 2


def test_stale_if_error_serves_the_stale_entry_when_the_upstream_fails(gw, be):
    path = "/sie/x"
    assert get(gw, path).json()["n"] == 1
    time.sleep(1.2)
    be.control(fail=500)
    r = get(gw, path)
    assert r.status_code == 200
    assert r.headers["X-Cache"] == "STALE"
    assert r.json()["n"] == 1
    be.control(fail=None, ms=1500)  # slower than the route's timeout: 504 -> stale
    slow = get(gw, path)
    assert slow.status_code == 200
    assert slow.headers["X-Cache"] == "STALE"
    be.control(fail=None, ms=0)
    fresh = get(gw, path)
    assert fresh.headers["X-Cache"] == "MISS"
    assert fresh.json()["n"] >= 3


def test_without_stale_if_error_an_upstream_failure_shows(gw, be):
    get(gw, "/short/fail")
    time.sleep(2.2)
    be.control(fail=503)
    assert get(gw, "/short/fail").status_code == 503


def test_an_answer_over_max_object_size_streams_through_and_is_not_stored(gw, be):
    path = "/c/big?size=400000&chunked=1&ct=application/octet-stream"
    for _ in range(2):
        r = get(gw, path)
        assert r.status_code == 200
        assert r.content == b"x" * 400000
        assert r.headers["X-Cache"] == "MISS"
    sized = "/c/big-sized?size=400000"
    get(gw, sized)
    assert get(gw, sized).headers["X-Cache"] == "MISS"
    assert be.count(path) == 2


def test_purge_by_prefix(gw, be):
    for p in ("/c/purge/a", "/c/purge/b", "/c/purgeable", "/c/kept"):
        get(gw, p)
    r = requests.delete(gw.admin_url + "/admin/cache?prefix=/c/purge/", timeout=5)
    assert r.status_code == 200
    assert r.json() == {"purged": 2}
    assert get(gw, "/c/purge/a").headers["X-Cache"] == "MISS"
    assert get(gw, "/c/purgeable").headers["X-Cache"] == "HIT"
    assert get(gw, "/c/kept").headers["X-Cache"] == "HIT"
    assert requests.delete(gw.admin_url + "/admin/cache", timeout=5).status_code == 400


def test_metrics_and_access_log_name_the_result(gw, be):
    get(gw, "/c/metered")
    get(gw, "/c/metered")
    text = gw.metrics()
    assert 'portico_cache_requests_total{route="cached",result="hit"}' in text
    assert 'portico_cache_requests_total{route="cached",result="miss"}' in text
    entry = gw.wait_access_log(lambda e: e["path"] == "/c/metered" and e["cache"] == "HIT")
    assert entry is not None
    assert gw.wait_access_log(lambda e: e["path"] == "/c/metered" and e["cache"] == "MISS")


def test_a_get_with_a_body_bypasses_and_its_body_cannot_smuggle(gw, be):
    get(gw, "/c/smuggle")
    smuggled = b"GET /p/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
        s.sendall(b"GET /c/smuggle HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n"
                  % (gw.port, len(smuggled)) + smuggled)
        s.sendall(b"GET /p/after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert b"X-Cache: BYPASS" in data  # the body may decide the answer: not from the store
    assert b"X-Cache: HIT" not in data
    assert be.count("/p/smuggled") == 0
    assert be.count("/p/after") == 1


def test_a_reload_that_changes_a_routes_cache_settings_drops_its_entries(gateway, be):
    config = pt.make_config(upstreams={"be": "@BE@"}, routes=ROUTES, top_extra=TOP)
    gw = gateway(config, BE=be.url)
    get(gw, "/c/reload")
    get(gw, "/lang/reload", headers={"Accept-Language": "en"})
    gw.write_config(config.replace("cache: {ttl: 60s}}", "cache: {ttl: 61s}}", 1))
    assert requests.post(gw.admin_url + "/admin/reload", timeout=10).status_code == 200
    assert get(gw, "/c/reload").headers["X-Cache"] == "MISS"
    assert get(gw, "/lang/reload", headers={"Accept-Language": "en"}).headers["X-Cache"] == "HIT"


def test_compressed_answers_are_stored_once_per_encoding(gw, be):
    import gzip
    import brotli
    path = "/z/doc?size=20000"
    plain = b"x" * 20000
    g1 = get(gw, path, headers={"Accept-Encoding": "gzip"}, stream=True)
    assert g1.headers["X-Cache"] == "MISS"
    assert g1.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(g1.raw.read()) == plain
    g2 = get(gw, path, headers={"Accept-Encoding": "gzip;q=1, deflate"}, stream=True)
    assert g2.headers["X-Cache"] == "HIT"  # another header text, the same encoding chosen
    assert g2.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(g2.raw.read()) == plain
    b1 = get(gw, path, headers={"Accept-Encoding": "br"}, stream=True)
    assert b1.headers["X-Cache"] == "MISS"
    assert brotli.decompress(b1.raw.read()) == plain
    b2 = get(gw, path, headers={"Accept-Encoding": "br"}, stream=True)
    assert b2.headers["X-Cache"] == "HIT"
    assert b2.headers["Content-Encoding"] == "br"
    assert brotli.decompress(b2.raw.read()) == plain
    i1 = get(gw, path, headers={"Accept-Encoding": "identity"}, stream=True)
    assert "Content-Encoding" not in i1.headers
    assert i1.raw.read() == plain
    i2 = get(gw, path, headers={"Accept-Encoding": "identity"}, stream=True)
    assert i2.headers["X-Cache"] == "HIT"
    assert "Content-Encoding" not in i2.headers
    assert i2.raw.read() == plain
    assert be.count(path) == 3


def test_an_authorization_the_gateway_did_not_check_is_not_shared(gw, be):
    path = "/c/me"
    get(gw, path, headers={"Authorization": "Bearer alice"})
    anonymous = get(gw, path)
    assert anonymous.headers["X-Cache"] == "MISS"
    assert "authorization" not in anonymous.json()["headers"]
    public = "/c/me-public?cc=public,max-age%3D60"
    get(gw, public, headers={"Authorization": "Bearer alice"})
    assert get(gw, public).headers["X-Cache"] == "HIT"  # the upstream said it may be shared


def test_conditionals_do_not_turn_an_error_entry_into_304(gw, be):
    path = "/c/gone?status=404&etag=%22e%22"
    get(gw, path)
    r = get(gw, path, headers={"If-None-Match": '"e"'})
    assert r.status_code == 404
    assert r.headers["X-Cache"] == "HIT"


def test_the_background_refresh_asks_for_the_whole_answer(gw, be):
    path = "/swr/cond?etag=%22v%22"
    get(gw, path)
    time.sleep(1.2)
    stale = get(gw, path, headers={"If-None-Match": '"v"'})
    assert stale.status_code == 304
    assert stale.headers["X-Cache"] == "STALE"
    assert pt.wait_until(lambda: be.count(path) == 2, 5)
    assert pt.wait_until(lambda: get(gw, path).headers["X-Cache"] == "HIT", 5)
    assert get(gw, path).json()["n"] == 2


def test_a_head_in_the_stale_window_leaves_the_refresh_to_a_get(gw, be):
    path = "/swr/head"
    get(gw, path)
    time.sleep(1.2)
    r = requests.head(gw.url + path, timeout=5)
    assert r.headers["X-Cache"] == "STALE"
    time.sleep(0.5)
    assert be.count(path) == 1
    assert get(gw, path).headers["X-Cache"] == "STALE"
    assert pt.wait_until(lambda: be.count(path) == 2, 5)
