"""Rate limits shared through Redis: several Portico processes on one redis-server and on a
real three-node Redis Cluster hold a policy's rate together (counted at the backend), and what
happens while Redis is down or slow (on_store_error allow, deny, local)."""

import signal
import threading
import time

import pytest
import requests

import portico_testing as pt
import redis_testing as rt

RATE, BURST = 100, 20


def config(up, redis_block, on_store_error="allow", policy_key="global", extra="", rate="%d/s" % RATE,
           burst=BURST):
    top = """rate_limits:
  store: redis
  redis: %s
  on_store_error: %s
%s  policies:
    shared: {key: %s, rate: %s, burst: %d}
""" % (redis_block, on_store_error, extra, policy_key, rate, burst)
    return pt.make_config(upstreams={"up": up.url}, top_extra=top,
                          routes="- {name: all, match: {prefix: /}, upstream: up, "
                                 "rate_limit: [shared]}\n")


def hammer(urls, seconds, threads_per_url=3):
    """Back-to-back requests to every gateway for `seconds`: (statuses, elapsed)."""
    counts = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def run(url):
        local = {}
        with requests.Session() as s:
            while time.monotonic() < stop_at:
                code = s.get(url + "/x", timeout=5).status_code
                local[code] = local.get(code, 0) + 1
        with lock:
            for k, v in local.items():
                counts[k] = counts.get(k, 0) + v

    start = time.monotonic()
    threads = [threading.Thread(target=run, args=(u,)) for u in urls for _ in range(threads_per_url)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts, time.monotonic() - start


def store_errors(gw):
    return pt.metric_value(gw.metrics(), "portico_rate_limit_store_errors_total", store="redis") or 0


@pytest.fixture
def redis_server():
    server = rt.RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_cluster():
    cluster = rt.RedisCluster()
    yield cluster
    cluster.stop()


def assert_shared_rate(up, gateways, seconds):
    before = up.stats()["received"]
    counts, elapsed = hammer([g.url for g in gateways], seconds)
    admitted = up.stats()["received"] - before
    expected = BURST + RATE * elapsed
    assert counts.get(200, 0) == admitted
    assert counts.get(429, 0) > admitted, "the load must exceed the policy for the test to mean anything"
    assert abs(admitted - expected) <= 0.02 * expected, (admitted, expected, counts)
    for g in gateways:
        assert store_errors(g) == 0


@pytest.mark.parametrize("instances", [2, 3])
def test_gateways_on_one_redis_hold_the_rate_together(gateway, upstream, redis_server, instances):
    up = upstream("rl-redis-up")
    block = "{url: %s, timeout: 500ms}" % redis_server.url
    gateways = [gateway(config(up, block)) for _ in range(instances)]
    r = requests.get(gateways[0].url + "/x", timeout=5)
    assert r.status_code == 200 and r.headers["RateLimit-Policy"] == '"shared";q=20;w=1'
    time.sleep(BURST / RATE + 0.1)  # the bucket full again
    assert_shared_rate(up, gateways, 10)
    keys = [k for k in redis_server.cli("KEYS", "portico:rl:*").split("\n") if k]
    assert len(keys) == 1 and keys[0].startswith("portico:rl:shared:")
    ttl = int(redis_server.cli("PTTL", keys[0]))
    assert 0 < ttl <= 1000 * BURST // RATE + 50, "idle keys expire once their bucket is full"


@pytest.mark.parametrize("instances", [2, 3])
def test_gateways_on_a_redis_cluster_hold_the_rate_together(gateway, upstream, redis_cluster,
                                                             instances):
    up = upstream("rl-cluster-up")
    block = "{cluster: [%s], timeout: 500ms}" % ", ".join(redis_cluster.seeds)
    gateways = [gateway(config(up, block)) for _ in range(instances)]
    assert_shared_rate(up, gateways, 6)


def test_per_client_keys_spread_over_the_cluster_nodes(gateway, upstream, redis_cluster):
    up = upstream("rl-cluster-keys-up")
    block = "{cluster: [%s], timeout: 500ms}" % ", ".join(redis_cluster.seeds)
    gw = gateway(config(up, block, policy_key="header:X-Client", rate="1/min", burst=3))
    for i in range(30):
        codes = [requests.get(gw.url + "/x", headers={"X-Client": "c%d" % i}, timeout=5).status_code
                 for _ in range(4)]
        assert codes == [200, 200, 200, 429], (i, codes)
    per_node = [len([k for k in n.cli("KEYS", "portico:rl:*").split("\n") if k])
                for n in redis_cluster.nodes]
    assert sum(per_node) >= 30 and all(c > 0 for c in per_node), per_node


def stop_redis_and_check(gw, redis_server):
    redis_server.stop()
    return [requests.get(gw.url + "/x", timeout=5) for _ in range(40)]


def test_allow_keeps_serving_while_redis_is_down_and_limits_resume_when_it_is_back(
        gateway, upstream, redis_server):
    up = upstream("rl-allow-up")
    gw = gateway(config(up, "{url: %s}" % redis_server.url, "allow", rate="1/min", burst=3))
    assert requests.get(gw.url + "/x", timeout=5).status_code == 200
    answers = stop_redis_and_check(gw, redis_server)
    assert all(r.status_code == 200 for r in answers)
    assert store_errors(gw) >= 40
    assert gw.stderr_text().count("redis store does not answer") == 1, gw.stderr_text()
    redis_server.start()
    # Back without a restart (the client retries after its backoff): the burst, then 429.
    assert pt.wait_until(lambda: requests.get(gw.url + "/x", timeout=5).status_code == 429, 10)
    assert gw.stderr_text().count("answers again") == 1


def test_deny_refuses_while_redis_is_down(gateway, upstream, redis_server):
    up = upstream("rl-deny-up")
    gw = gateway(config(up, "{url: %s}" % redis_server.url, "deny"))
    assert requests.get(gw.url + "/x", timeout=5).status_code == 200
    before = up.stats()["received"]
    answers = stop_redis_and_check(gw, redis_server)
    assert all(r.status_code == 429 for r in answers)
    assert all(r.headers["Retry-After"] == "1" and r.json()["retry_after"] == 1 for r in answers)
    assert up.stats()["received"] == before


def test_local_enforces_this_instances_share_while_redis_is_down(gateway, upstream, redis_server):
    up = upstream("rl-local-up")
    gw = gateway(config(up, "{url: %s}" % redis_server.url, "local",
                        extra="  expected_instances: 4\n", rate="100/min", burst=20))
    assert requests.get(gw.url + "/x", timeout=5).status_code == 200
    redis_server.stop()
    codes = [requests.get(gw.url + "/x", timeout=5).status_code for _ in range(30)]
    # The local share: burst 20 / 4 = 5 at once (and 25/min after).
    assert codes.count(200) == 5, codes
    assert codes[-1] == 429


def test_a_slow_redis_costs_its_timeout_not_the_requests(gateway, upstream, redis_server):
    up = upstream("rl-slow-up")
    gw = gateway(config(up, "{url: %s, timeout: 50ms}" % redis_server.url, "allow"))
    assert requests.get(gw.url + "/x", timeout=5).status_code == 200
    sleeper = threading.Thread(target=lambda: redis_server.cli("DEBUG", "SLEEP", "1.5"))
    sleeper.start()
    time.sleep(0.2)
    start = time.monotonic()
    r = requests.get(gw.url + "/x", timeout=5)
    took = time.monotonic() - start
    sleeper.join()
    assert r.status_code == 200
    assert took < 0.5, took
    assert store_errors(gw) >= 1


def test_rediss_speaks_tls_to_a_verified_redis(gateway, upstream, tmp_path):
    import os

    import tls_testing as tt
    certs = tt.make_certificates(tmp_path / "certs")
    server = rt.RedisServer(tls=certs)
    try:
        up = upstream("rl-tls-up")
        # The contract has no CA key for Redis: the system's trust store is used, which OpenSSL
        # lets SSL_CERT_FILE replace, so the test CA is trusted for this process only.
        gw = gateway(config(up, "{url: %s}" % server.url, "deny", rate="1/min", burst=2),
                     env=dict(os.environ, SSL_CERT_FILE=str(certs.ca_cert)))
        codes = [requests.get(gw.url + "/x", timeout=5).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert store_errors(gw) == 0
        keys = [k for k in server.cli("KEYS", "portico:rl:*").split("\n") if k]
        assert len(keys) == 1
        # Without the CA the server's certificate is refused: the store fails, deny refuses.
        gw2 = gateway(config(up, "{url: %s}" % server.url, "deny", rate="1/min", burst=2))
        r = requests.get(gw2.url + "/x", timeout=5)
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert store_errors(gw2) >= 1
    finally:
        server.stop()
