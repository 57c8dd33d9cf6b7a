"""Load balancing across an upstream's targets: `balance: round_robin | least_connections | random |
consistent_hash` and `hash_key`, seen through which target answered (the upstream's `name`).

test_upstreams.py already covers the default (unnamed) round robin with three targets and
weights over 80 requests; this file names the policies explicitly."""

import concurrent.futures
import socket
import time
from collections import Counter

import pytest
import requests

import portico_testing as pt

ROUTE = "- {name: all, match: {prefix: /}, upstream: pool}"


def pool_config(targets, extra=""):
    """One upstream `pool` with `targets` (YAML list items) and extra keys, one route to it."""
    text = "pool:\n  targets: [%s]\n" % ", ".join(targets)
    if extra:
        text += pt._block(extra) + "\n"
    return pt.make_config(upstreams=text, routes=ROUTE, workers=1)


def answered_by(session, url, **kwargs):
    r = session.get(url, timeout=10, **kwargs)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()["name"]


# --- round robin ---------------------------------------------------------------------------------

@pytest.mark.parametrize("weights, expected", [((1, 1), (50, 50)), ((1, 3), (25, 75))],
                         ids=["equal", "weighted-1-3"])
def test_round_robin_named_explicitly_splits_exactly(gateway, upstream, weights, expected):
    a, b = upstream("rr-a"), upstream("rr-b")
    gw = gateway(pool_config(["{url: %s, weight: %d}" % (a.url, weights[0]),
                              "{url: %s, weight: %d}" % (b.url, weights[1])],
                             "balance: round_robin"))
    with requests.Session() as s:
        counts = Counter(answered_by(s, gw.url + "/x") for _ in range(100))
    assert counts == {"rr-a": expected[0], "rr-b": expected[1]}


# --- least connections ---------------------------------------------------------------------------

def test_least_connections_favours_the_fast_target_under_concurrency(gateway, upstream):
    fast, slow = upstream("lc-fast"), upstream("lc-slow")
    pt.upstream_control(slow, mode="slow", ms=200)
    gw = gateway(pool_config([slow.url, fast.url], "balance: least_connections"))

    def client(_):
        names = []
        with requests.Session() as s:
            for _ in range(12):
                names.append(answered_by(s, gw.url + "/x"))
        return names

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        counts = Counter(n for names in pool.map(client, range(8)) for n in names)
    elapsed = time.monotonic() - start
    assert sum(counts.values()) == 96
    # Round robin would give the slow target half (48, and take >= 1.2 s per client); least
    # connections sends a request there only while it has no more in flight than the fast one.
    assert counts["lc-fast"] >= 72, counts
    assert elapsed < 30, elapsed


# --- random --------------------------------------------------------------------------------------

def test_random_spreads_traffic_without_a_fixed_order(gateway, upstream):
    a, b = upstream("rnd-a"), upstream("rnd-b")
    gw = gateway(pool_config([a.url, b.url], "balance: random"))
    with requests.Session() as s:
        seq = [answered_by(s, gw.url + "/x") for _ in range(200)]
    counts = Counter(seq)
    assert 60 <= counts["rnd-a"] <= 140 and 60 <= counts["rnd-b"] <= 140, counts
    # Round robin alternates a, b, a, b: never the same target twice in a row. Random picks
    # repeat the previous target about half the time (~100 of 199; 20 is ~11 sigma below).
    repeats = sum(1 for x, y in zip(seq, seq[1:]) if x == y)
    assert repeats >= 20, "only %d repeats: the order looks fixed" % repeats


def test_random_follows_weights(gateway, upstream):
    light, heavy = upstream("rnd-light"), upstream("rnd-heavy")
    gw = gateway(pool_config(["{url: %s, weight: 1}" % light.url,
                              "{url: %s, weight: 3}" % heavy.url], "balance: random"))
    with requests.Session() as s:
        seq = [answered_by(s, gw.url + "/x") for _ in range(400)]
    counts = Counter(seq)
    # Expected 100 / 300; the bounds are 5 standard deviations (8.7) either side.
    assert 55 <= counts["rnd-light"] <= 145, counts
    assert counts["rnd-light"] + counts["rnd-heavy"] == 400
    # Weighted round robin never picks the light target twice in a row; random does so for
    # about 1 pair in 16 (~25 of 399).
    doubles = sum(1 for x, y in zip(seq, seq[1:]) if x == y == "rnd-light")
    assert doubles >= 3, "light target picked twice in a row only %d times" % doubles


# --- consistent hash -----------------------------------------------------------------------------

def key_map(gw, keys, request_for_key, rounds=3):
    """{key: target name}, asserting that every round sends each key to the same target."""
    out = {}
    with requests.Session() as s:
        for _ in range(rounds):
            for k in keys:
                name = request_for_key(s, k)
                assert out.setdefault(k, name) == name, \
                    "key %r went to %s, then to %s" % (k, out[k], name)
    return out


def test_consistent_hash_on_a_header_keeps_each_key_on_one_target(gateway, upstream):
    ups = [upstream("ch-%d" % i) for i in range(3)]
    gw = gateway(pool_config([u.url for u in ups],
                             "balance: consistent_hash\nhash_key: header:X-User-Id"))
    # 61 keys: with a count divisible by the target count, round robin would map each key to
    # the same target in every round by coincidence.
    keys = ["user-%d" % i for i in range(61)]
    mapping = key_map(gw, keys, lambda s, k: answered_by(s, gw.url + "/x",
                                                         headers={"X-User-Id": k}))
    # 61 keys spread over all three targets (a decent hash leaves none of them empty).
    assert set(mapping.values()) == {"ch-0", "ch-1", "ch-2"}, Counter(mapping.values())


@pytest.mark.parametrize("hash_key", ["path", "cookie:session"])
def test_consistent_hash_on_path_and_cookie(gateway, upstream, hash_key):
    ups = [upstream("chk-%d" % i) for i in range(3)]
    gw = gateway(pool_config([u.url for u in ups],
                             "balance: consistent_hash\nhash_key: %s" % hash_key))
    keys = ["k%d" % i for i in range(41)]
    if hash_key == "path":
        def ask(s, k):
            return answered_by(s, gw.url + "/items/" + k)
    else:
        def ask(s, k):
            return answered_by(s, gw.url + "/x", headers={"Cookie": "other=1; session=" + k})
    mapping = key_map(gw, keys, ask)
    assert len(set(mapping.values())) >= 2, Counter(mapping.values())


def get_from(source_ip, port):
    """A GET /x from `source_ip` (any 127.x.y.z address works on Linux loopback)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source_ip, 0))
    with s:
        s.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        r = pt.RawReader(s).read_response()
    assert r.status == 200, r
    return r.json()["name"]


def test_consistent_hash_on_client_ip(gateway, upstream):
    ups = [upstream("chip-%d" % i) for i in range(3)]
    gw = gateway(pool_config([u.url for u in ups],
                             "balance: consistent_hash\nhash_key: client_ip"))
    ips = ["127.0.0.%d" % i for i in range(2, 33)]  # 31: not a multiple of 3
    mapping = key_map(gw, ips, lambda s, ip: get_from(ip, gw.port))
    assert len(set(mapping.values())) >= 2, Counter(mapping.values())


def test_consistent_hash_moves_only_the_keys_of_a_lost_target(gateway, upstream):
    ups = [upstream("chm-%d" % i) for i in range(3)]
    gw = gateway(pool_config([u.url for u in ups], """
balance: consistent_hash
hash_key: header:X-User-Id
health_check: {path: /health, interval: 200ms, timeout: 200ms, healthy_after: 1, unhealthy_after: 1}
"""))
    keys = ["user-%d" % i for i in range(61)]

    def ask(s, k):
        return answered_by(s, gw.url + "/x", headers={"X-User-Id": k})

    time.sleep(0.6)  # the first health checks have passed: every target is in the ring

    before = key_map(gw, keys, ask, rounds=2)
    assert set(before.values()) == {"chm-0", "chm-1", "chm-2"}, Counter(before.values())
    lost = [k for k in keys if before[k] == "chm-2"]
    ups[2].stop()

    def lost_keys_served():
        with requests.Session() as s:
            for k in lost:
                if s.get(gw.url + "/x", headers={"X-User-Id": k}, timeout=10).status_code != 200:
                    return False
        return True

    assert pt.wait_until(lost_keys_served, 5, 0.2), "keys of the stopped target still fail"
    after = key_map(gw, keys, ask, rounds=2)
    moved_elsewhere = {k: (before[k], after[k]) for k in keys
                       if before[k] != "chm-2" and after[k] != before[k]}
    assert not moved_elsewhere, moved_elsewhere
    assert all(after[k] in ("chm-0", "chm-1") for k in lost)
