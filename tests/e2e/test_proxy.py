"""Proxying: methods and bodies, chunked framing, query strings, keep-alive, upstream failures."""

import os
import socket
import time

import pytest
import requests

import portico_testing as pt
import upstream_server

ROUTES = """
- name: fast
  match: {prefix: /fast}
  upstream: quick
  strip_prefix: /fast
  timeout: 300ms
- name: down
  match: {prefix: /down}
  upstream: dead
  strip_prefix: /down
- name: all
  match: {prefix: /}
  upstream: up
"""


@pytest.fixture(scope="module")
def up(module_upstream):
    return module_upstream("proxy-up")


@pytest.fixture(scope="module")
def gw(module_gateway, up):
    dead = "http://127.0.0.1:%d" % pt.free_port()  # nothing listens there
    upstreams = """
up:
  targets: [%s]
  timeouts: {connect: 1s, request: 1s}
quick:
  targets: [%s]
  timeouts: {connect: 1s, request: 10s}
dead:
  targets: [%s]
  timeouts: {connect: 1s}
""" % (up.url, up.url, dead)
    return module_gateway(pt.make_config(upstreams=upstreams, routes=ROUTES,
                                         limits="{max_body_bytes: 64MiB}"))


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_methods_with_bodies_reach_upstream_intact(gw, method):
    body = os.urandom(300_000)
    r = requests.request(method, gw.url + "/echo", data=body, timeout=20)
    assert r.status_code == 200
    e = r.json()
    assert e["method"] == method
    assert e["body_length"] == len(body)
    assert e["body_sha256"] == pt.sha256_hex(body)


def test_head_and_options(gw):
    r = requests.head(gw.url + "/download?bytes=1000", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Length"] == "1000" and r.content == b""
    r = requests.options(gw.url + "/echo", timeout=10)
    assert r.json()["method"] == "OPTIONS"


def test_upstream_status_and_body_pass_through(gw):
    for code in (201, 404, 418, 500, 503):
        r = requests.get(gw.url + "/status/%d" % code, timeout=10)
        assert r.status_code == code
        assert r.json() == {"name": "proxy-up", "status": code}
    r = requests.get(gw.url + "/status/204", timeout=10)
    assert r.status_code == 204 and r.content == b""


@pytest.mark.parametrize("query", [
    "a=%2F&b=&c&d=%E2%82%AC&a=2",
    "x=1+2&y=%20%2b&z=%7e~",
    "q=%zz&empty=&&=v",
    "path=/a/b?c=d&semi=a;b",
])
def test_query_string_preserved_byte_for_byte(gw, query):
    req = ("GET /echo?%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % query).encode()
    r = pt.raw_exchange(gw.port, req)
    assert r.status == 200, r
    assert r.json()["query"] == query


def test_chunked_request_body_reaches_upstream(gw):
    pieces = [os.urandom(n) for n in (1, 100, 4096, 70000, 3)]
    body = b"".join(pieces)
    wire = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    with pt.connect(gw.port) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        s.sendall(wire[:5000])
        time.sleep(0.1)
        s.sendall(wire[5000:])
        r = pt.RawReader(s).read_response()
    assert r.status == 200, r
    assert r.json()["bytes"] == len(body)
    assert r.json()["sha256"] == pt.sha256_hex(body)


def test_chunked_request_with_extensions_and_trailers(gw):
    wire = (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
    with pt.connect(gw.port) as s:
        s.sendall(wire)
        r = pt.RawReader(s).read_response()
    assert r.status == 200, r
    assert r.json()["body_length"] == 11
    assert r.json()["body_sha256"] == pt.sha256_hex(b"hello world")


def test_expect_100_continue(gw):
    body = os.urandom(100_000)
    with pt.connect(gw.port) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
                  b"Expect: 100-continue\r\n\r\n" % len(body))
        reader = pt.RawReader(s)
        s.settimeout(1.5)  # like curl: wait a moment for 100 Continue, then send anyway
        try:
            reader.read_head()
        except socket.timeout:
            pass
        s.settimeout(10)
        s.sendall(body)
        r = reader.read_response()
        while r.status == 100:
            r = reader.read_response()
    assert r.status == 200, r
    assert r.json()["bytes"] == len(body)
    assert r.json()["sha256"] == pt.sha256_hex(body)


def test_chunked_response_passes_through(gw):
    body = os.urandom(200_000)
    r = requests.post(gw.url + "/chunked-echo", data=iter([body[:1000], body[1000:]]), timeout=20)
    assert r.status_code == 200
    assert r.content == body


def test_chunked_download_through_gateway(gw):
    n = 5_000_000
    r = requests.get(gw.url + "/download?bytes=%d&chunked=1" % n, timeout=30)
    assert r.status_code == 200
    assert len(r.content) == n
    assert pt.sha256_hex(r.content) == upstream_server.expected_sha256(n)


def test_response_streams_without_buffering(gw):
    # 5 chunks 400 ms apart: the first must reach the client long before the last is sent.
    with pt.connect(gw.port) as s:
        start = time.monotonic()
        s.sendall(b"GET /drip?chunks=5&ms=400&size=10 HTTP/1.1\r\nHost: t\r\n\r\n")
        first = s.recv(65536)
        first_at = time.monotonic() - start
        reader = pt.RawReader(s)
        reader.buf = first
        r = reader.read_response()
        total = time.monotonic() - start
    assert r.status == 200
    assert r.body == b"".join(bytes([0x61 + i]) * 10 for i in range(5))
    assert total >= 1.5
    assert first_at < 1.0, "first byte after %.2fs: the response was buffered" % first_at


def test_upstream_keepalive_reuse(gw, up):
    before = up.stats()["connections"]
    with requests.Session() as s:
        for i in range(100):
            r = s.get(gw.url + "/echo?i=%d" % i, timeout=10)
            assert r.status_code == 200
    used = up.stats()["connections"] - before - 1  # the /stats call itself
    assert used <= 4, "100 requests opened %d upstream connections" % used


def test_client_keepalive_many_requests_one_connection(gw):
    with pt.connect(gw.port) as s:
        reader = pt.RawReader(s)
        for i in range(50):
            s.sendall(b"GET /echo?n=%d HTTP/1.1\r\nHost: t\r\n\r\n" % i)
            r = reader.read_response()
            assert r.status == 200
            assert r.json()["query"] == "n=%d" % i


@pytest.mark.parametrize("code", [400, 404, 408, 413, 431, 500])
def test_an_upstreams_error_status_keeps_the_client_connection(gw, code):
    """Only a request the gateway itself could not read closes the connection; an upstream
    answering 4xx or 5xx is an ordinary answer, and the next request follows on the same one."""
    with pt.connect(gw.port) as s:
        reader = pt.RawReader(s)
        s.sendall(b"GET /status/%d HTTP/1.1\r\nHost: t\r\n\r\n" % code)
        r = reader.read_response()
        assert r.status == code
        assert (r.header("Connection") or "").lower() != "close"
        s.sendall(b"GET /echo?n=after HTTP/1.1\r\nHost: t\r\n\r\n")
        assert reader.read_response().json()["query"] == "n=after"


def test_pipelined_requests_answered_in_order(gw):
    with pt.connect(gw.port) as s:
        s.sendall(b"GET /slow?ms=300&n=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"POST /echo?n=2 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                  b"GET /echo?n=3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        reader = pt.RawReader(s)
        r1, r2, r3 = (reader.read_response() for _ in range(3))
        assert reader.closed_within(5)
    assert r1.json()["slept_ms"] == 300
    assert r2.json()["query"] == "n=2" and r2.json()["body_length"] == 3
    assert r3.json()["query"] == "n=3"


def test_backend_down_is_502_json(gw):
    r = requests.get(gw.url + "/down/anything", timeout=15)
    assert r.status_code == 502
    body = r.json()
    assert body["status"] == 502 and body["error"] and body["request_id"]
    assert "127.0.0.1" not in r.text  # no upstream address reaches the client


def test_slow_backend_is_504(gw):
    start = time.monotonic()
    r = requests.get(gw.url + "/slow?ms=3000", timeout=15)
    elapsed = time.monotonic() - start
    assert r.status_code == 504
    assert r.json()["status"] == 504
    assert elapsed < 2.8, "504 after %.1fs; timeouts.request is 1s" % elapsed


def test_route_timeout_overrides_upstream_timeout(gw):
    start = time.monotonic()
    r = requests.get(gw.url + "/fast/slow?ms=1500", timeout=15)
    assert r.status_code == 504
    assert time.monotonic() - start < 1.2
    assert requests.get(gw.url + "/fast/slow?ms=50", timeout=15).status_code == 200


def test_gateway_serves_after_upstream_errors(gw):
    requests.get(gw.url + "/down/x", timeout=15)
    assert requests.get(gw.url + "/echo", timeout=10).status_code == 200


# --- gigabyte transfers: memory must stay bounded --------------------------------------------

GIB = 1 << 30
RSS_LIMIT_KIB = 64 * 1024


@pytest.fixture(scope="module")
def big_gw(module_gateway, up):
    return module_gateway(pt.make_config(
        upstreams="up:\n  targets: [%s]\n  timeouts: {request: 120s}" % up.url,
        routes="- name: all\n  match: {prefix: /}\n  upstream: up",
        limits="{max_body_bytes: 2GiB}", access_log="off", workers=1))


@pytest.mark.slow
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_1gib_upload_streams_with_bounded_memory(big_gw, chunked):
    with pt.connect(big_gw.port, timeout=60) as s:
        r, sha256 = pt.upload_gib(s, chunked)
    assert r.status == 200, r
    assert r.json()["bytes"] == GIB
    assert r.json()["sha256"] == sha256
    hwm = pt.vm_hwm_kib(big_gw.pid)
    assert hwm < RSS_LIMIT_KIB, "gateway peak RSS %d KiB" % hwm


@pytest.mark.slow
@pytest.mark.parametrize("chunked", [0, 1], ids=["content-length", "chunked"])
def test_1gib_download_streams_with_bounded_memory(big_gw, chunked):
    import hashlib
    start = time.monotonic()
    got = hashlib.sha256()
    n = 0
    with pt.connect(big_gw.port, timeout=60) as s:
        s.sendall(b"GET /download?bytes=%d&chunked=%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                  % (GIB, chunked))
        reader = pt.RawReader(s)
        _, status, _, headers = reader.read_head()
        assert status == 200
        if not chunked:
            assert ("Content-Length", str(GIB)) in headers
        for piece in reader.iter_body(status, headers):
            got.update(piece)
            n += len(piece)
            assert time.monotonic() - start < 180
    assert n == GIB
    assert got.hexdigest() == upstream_server.expected_sha256(GIB)
    hwm = pt.vm_hwm_kib(big_gw.pid)
    assert hwm < RSS_LIMIT_KIB, "gateway peak RSS %d KiB" % hwm


def test_idle_upstream_connections_expire_while_others_stay_in_use(gateway, upstream):
    # Four pooled connections age past timeouts.idle while one of them keeps being reused:
    # the pool must close the expired ones and go on serving with the fresh one.
    up = upstream("pool-up")
    gw = gateway(pt.make_config(upstreams="up:\n  targets: [%s]\n  timeouts: {idle: 1s}" % up.url,
                                routes="- name: all\n  match: {prefix: /}\n  upstream: up",
                                workers=1))
    import threading
    burst = [threading.Thread(target=requests.get, args=(gw.url + "/slow?ms=300",),
                              kwargs={"timeout": 5}) for _ in range(4)]
    for t in burst:
        t.start()
    for t in burst:
        t.join()
    start = time.monotonic()
    statuses = []
    while time.monotonic() - start < 3.5:
        try:
            statuses.append(requests.get(gw.url + "/echo", timeout=3).status_code)
        except requests.RequestException as e:
            statuses.append(repr(e))
        time.sleep(0.2)
    assert gw.proc.poll() is None, "gateway died (exit %s)" % gw.proc.returncode
    assert set(statuses) == {200}, statuses
