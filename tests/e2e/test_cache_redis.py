"""Response cache on the Redis store: entries shared by every instance, a Redis failure is a
miss and never an error, purges reach Redis, and the memory store keeps to max_size."""

import concurrent.futures
import threading
import time

import pytest
import requests

import portico_testing as pt
import redis_testing as rt
from cache_testing import CacheBackend

ROUTES = """
- {name: cached, match: {prefix: /c/}, upstream: be, cache: {ttl: 60s}}
- {name: swr, match: {prefix: /swr/}, upstream: be, cache: {ttl: 1s, stale_while_revalidate: 30s}}
"""


def redis_config(redis):
    return pt.make_config(upstreams={"be": "@BE@"}, routes=ROUTES, top_extra="""
cache:
  store: redis
  redis: {url: %s, timeout: 200ms}
""" % redis.url)


@pytest.fixture(scope="module")
def be():
    backend = CacheBackend()
    yield backend
    backend.stop()


@pytest.fixture
def redis():
    server = rt.RedisServer()
    yield server
    server.stop()


def get(gw, path, headers=None, **kw):
    # Instances behind one name: the host (part of the key) is the same whichever answers.
    kw.setdefault("timeout", 10)
    return requests.get(gw.url + path, headers={"Host": "api.example", **(headers or {})}, **kw)


def test_two_instances_share_entries(gateway, be, redis):
    one = gateway(redis_config(redis), BE=be.url)
    two = gateway(redis_config(redis), BE=be.url)
    first = get(one, "/c/shared")
    assert first.headers["X-Cache"] == "MISS"
    assert pt.wait_until(lambda: get(two, "/c/shared").headers["X-Cache"] == "HIT", 3)
    hit = get(two, "/c/shared")
    assert hit.json()["n"] == 1
    assert hit.content == first.content
    assert int(hit.headers["Age"]) >= 0
    assert be.count("/c/shared") == 1
    # Stored with its lifetime as the key's expiry.
    ttl_ms = int(redis.cli("EVAL", "return redis.call('PTTL', redis.call('KEYS', ARGV[1])[1])",
                           "0", "portico:cache:{c}:/c/shared*"))
    assert 50000 < ttl_ms <= 60000


def test_upstream_vary_works_across_instances(gateway, be, redis):
    one = gateway(redis_config(redis), BE=be.url)
    two = gateway(redis_config(redis), BE=be.url)
    path = "/c/vary?vary=X-Tenant"
    get(one, path, headers={"X-Tenant": "a"})
    get(one, path, headers={"X-Tenant": "b"})
    time.sleep(0.2)
    a = get(two, path, headers={"X-Tenant": "a"})
    b = get(two, path, headers={"X-Tenant": "b"})
    assert (a.headers["X-Cache"], b.headers["X-Cache"]) == ("HIT", "HIT")
    assert a.json()["headers"]["x-tenant"] == "a"
    assert b.json()["headers"]["x-tenant"] == "b"


def test_coalescing_and_stale_while_revalidate_on_redis(gateway, be, redis):
    gw = gateway(redis_config(redis), BE=be.url)
    path = "/c/herd?ms=400"
    with concurrent.futures.ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(lambda _: get(gw, path), range(30)))
    assert {a.json()["n"] for a in answers} == {1}
    assert be.count(path) == 1
    get(gw, "/swr/r")
    time.sleep(1.2)
    stale = get(gw, "/swr/r")
    assert stale.headers["X-Cache"] == "STALE"
    assert pt.wait_until(lambda: get(gw, "/swr/r").headers["X-Cache"] == "HIT", 5)
    assert be.count("/swr/r") == 2


def test_redis_down_means_misses_and_no_errors(gateway, be, redis):
    gw = gateway(redis_config(redis), BE=be.url)
    get(gw, "/c/down")
    assert pt.wait_until(lambda: get(gw, "/c/down").headers["X-Cache"] == "HIT", 3)
    redis.stop()
    answers = [get(gw, "/c/down") for _ in range(20)]
    assert all(a.status_code == 200 for a in answers)
    assert all(a.headers["X-Cache"] == "MISS" for a in answers[1:])
    before = be.count("/c/down")
    assert before >= 20
    redis.start()
    assert pt.wait_until(lambda: get(gw, "/c/down").headers["X-Cache"] == "HIT", 10)


def test_redis_stalled_costs_at_most_the_timeout(gateway, be, redis):
    gw = gateway(redis_config(redis), BE=be.url)
    get(gw, "/c/stall")
    sleeper = threading.Thread(target=lambda: redis.cli("DEBUG", "SLEEP", "2"))
    sleeper.start()
    time.sleep(0.2)
    started = time.monotonic()
    r = get(gw, "/c/stall")
    elapsed = time.monotonic() - started
    sleeper.join()
    assert r.status_code == 200
    assert r.headers["X-Cache"] == "MISS"
    assert elapsed < 1.5 * pt.SLOWDOWN


def test_purge_reaches_redis(gateway, be, redis):
    gw = gateway(redis_config(redis), BE=be.url)
    for p in ("/c/purge/a", "/c/purge/b", "/c/purge/c?vary=X-T", "/c/other"):
        get(gw, p, headers={"X-T": "1"})
        get(gw, p, headers={"X-T": "2"})
    time.sleep(0.3)
    r = requests.delete(gw.admin_url + "/admin/cache?prefix=/c/purge", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"purged": 4}  # a, b, and c's two variants
    assert get(gw, "/c/purge/a").headers["X-Cache"] == "MISS"
    assert get(gw, "/c/other").headers["X-Cache"] == "HIT"


def test_the_memory_store_keeps_to_max_size(gateway, be):
    gw = gateway(pt.make_config(upstreams={"be": "@BE@"}, routes=ROUTES, top_extra="""
cache: {max_size: 8MiB, max_object_size: 64KiB}
"""), BE=be.url)
    get(gw, "/c/warm?size=1000")
    base = pt.vm_rss_kib(gw.pid)
    with requests.Session() as s:
        for i in range(1500):  # 1500 x 32 KiB = 47 MiB offered to an 8 MiB store
            assert s.get(gw.url + "/c/bound/%d?size=32768" % i, timeout=10).status_code == 200
    grown_mib = (pt.vm_rss_kib(gw.pid) - base) / 1024.0
    print("RSS grew %.1f MiB for an 8 MiB store" % grown_mib)
    if pt.SLOWDOWN == 1.0:  # a sanitizer's shadow memory grows with every byte touched
        assert grown_mib < 8 * 1.25 + 4
    # The most recent entries are there, the first ones were evicted.
    last = requests.get(gw.url + "/c/bound/1499?size=32768", timeout=10)
    assert last.headers["X-Cache"] == "HIT"
    first = requests.get(gw.url + "/c/bound/0?size=32768", timeout=10)
    assert first.headers["X-Cache"] == "MISS"
