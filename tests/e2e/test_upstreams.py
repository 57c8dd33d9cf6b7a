"""Upstream targets: weighted round robin, the per-target connection bound, connect timeouts,
and `watch: true` reloads."""

import concurrent.futures
import socket
import time
from collections import Counter

import requests

import portico_testing as pt


def names_of(gw, path, count):
    session = requests.Session()
    return Counter(session.get(gw.url + path, timeout=5).json()["name"] for _ in range(count))


def test_round_robin_splits_evenly(gateway, upstream):
    a, b, c = upstream("rr-a"), upstream("rr-b"), upstream("rr-c")
    gw = gateway(pt.make_config(
        upstreams={"pool": [a.url, b.url, c.url]}, workers=1,
        routes="- {name: all, match: {prefix: /}, upstream: pool}"))
    counts = names_of(gw, "/x", 90)
    assert counts == {"rr-a": 30, "rr-b": 30, "rr-c": 30}


def test_weights_split_traffic_in_proportion(gateway, upstream):
    light, heavy = upstream("light"), upstream("heavy")
    upstreams = """
pool:
  targets: [{url: %s, weight: 1}, {url: %s, weight: 3}]
""" % (light.url, heavy.url)
    gw = gateway(pt.make_config(upstreams=upstreams, workers=1,
                                routes="- {name: all, match: {prefix: /}, upstream: pool}"))
    counts = names_of(gw, "/x", 80)
    assert counts == {"light": 20, "heavy": 60}


def test_connection_bound_makes_requests_wait_their_turn(gateway, upstream):
    up = upstream("bounded")
    upstreams = """
one:
  targets: [%s]
  max_connections: 1
  timeouts: {connect: 5s, request: 5s}
""" % up.url
    gw = gateway(pt.make_config(upstreams=upstreams, workers=1,
                                routes="- {name: all, match: {prefix: /}, upstream: one}"))
    before = up.stats()["connections"]
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(
            lambda _: requests.get(gw.url + "/slow?ms=300", timeout=10).status_code, range(4)))
    elapsed = time.monotonic() - start
    assert codes == [200, 200, 200, 200]
    # One connection at a time: four 300 ms requests take at least 1.2 s in a row.
    assert elapsed >= 1.15, elapsed
    # Every /stats call is a connection of its own: one for this call, one for the gateway.
    assert up.stats()["connections"] - before == 2


def test_a_waiting_request_is_not_overtaken_by_one_arriving_later(gateway, upstream):
    # Far more requests than connections, arriving all the time: what frees a connection goes
    # to the request that waited longest, so none is refused before its connect timeout.
    up = upstream("bounded-busy")
    upstreams = """
one:
  targets: [%s]
  max_connections: 2
  timeouts: {connect: 10s, request: 10s}
""" % up.url
    gw = gateway(pt.make_config(upstreams=upstreams, workers=1,
                                routes="- {name: all, match: {prefix: /}, upstream: one}"))

    def client(_):
        with requests.Session() as s:
            return [s.get(gw.url + "/slow?ms=5", timeout=20).status_code for _ in range(12)]

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        codes = [c for batch in pool.map(client, range(24)) for c in batch]
    assert codes.count(200) == len(codes), {c: codes.count(c) for c in set(codes)}


def test_connection_bound_answers_503_when_the_wait_runs_out(gateway, upstream):
    up = upstream("bounded-short")
    upstreams = """
one:
  targets: [%s]
  max_connections: 1
  timeouts: {connect: 200ms, request: 5s}
""" % up.url
    gw = gateway(pt.make_config(upstreams=upstreams, workers=1,
                                routes="- {name: all, match: {prefix: /}, upstream: one}"))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(requests.get, gw.url + "/slow?ms=1500", timeout=10)
        time.sleep(0.3)
        queued = requests.get(gw.url + "/x", timeout=10)
        assert slow.result().status_code == 200
    assert queued.status_code == 503
    assert queued.json()["status"] == 503


def test_connect_timeout_is_504(gateway):
    # A listener whose accept queue is full: the kernel leaves further SYNs unanswered, so a
    # connect attempt hangs like one to a black-holed host, on 127.0.0.1 only.
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)
    port = blackhole.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.2)
        upstreams = """
hole:
  targets: [http://127.0.0.1:%d]
  timeouts: {connect: 300ms, request: 5s}
""" % port
        gw = gateway(pt.make_config(upstreams=upstreams,
                                    routes="- {name: all, match: {prefix: /}, upstream: hole}"))
        start = time.monotonic()
        r = requests.get(gw.url + "/x", timeout=10)
        elapsed = time.monotonic() - start
        assert r.status_code == 504
        assert r.json()["status"] == 504
        assert 0.25 <= elapsed < 2.0, elapsed
    finally:
        for s in fillers:
            s.close()
        blackhole.close()


def test_watch_reloads_when_the_file_changes(gateway, upstream):
    up = upstream("watched")
    config = pt.make_config(upstreams={"up": up.url}, top_extra="watch: true",
                            routes="- {name: old, match: {prefix: /old}, upstream: up}")
    gw = gateway(config)
    assert requests.get(gw.url + "/new", timeout=5).status_code == 404
    time.sleep(1.1)  # a new modification time, even on coarse-grained file systems
    gw.write_config(config.replace("/old", "/new").replace("name: old", "name: new"))
    assert pt.wait_until(lambda: requests.get(gw.url + "/new", timeout=5).status_code == 200, 5)
    assert requests.get(gw.url + "/old", timeout=5).status_code == 404


def test_without_watch_a_changed_file_waits_for_a_signal(gateway, upstream):
    up = upstream("unwatched")
    config = pt.make_config(upstreams={"up": up.url},
                            routes="- {name: old, match: {prefix: /old}, upstream: up}")
    gw = gateway(config)
    time.sleep(1.1)
    gw.write_config(config.replace("/old", "/new"))
    time.sleep(2.5)
    assert requests.get(gw.url + "/new", timeout=5).status_code == 404
    assert requests.get(gw.url + "/old", timeout=5).status_code == 200
