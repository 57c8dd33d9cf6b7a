"""What the gateway answers itself on the wire: timeouts, size limits, malformed and smuggling requests."""

import time

import pytest

import portico_testing as pt

ROUTES = """
- name: all
  match: {prefix: /}
  upstream: up
"""


@pytest.fixture(scope="module")
def up(module_upstream):
    return module_upstream("limits-up")


@pytest.fixture(scope="module")
def gw(module_gateway, up):
    return module_gateway(pt.make_config(
        upstreams={"up": up.url}, routes=ROUTES,
        limits="{max_header_bytes: 8KiB, max_body_bytes: 1KiB, header_timeout: 1s, idle_timeout: 2s}"))


def assert_error(r, status):
    assert r.status == status, r
    body = r.json()
    assert body["status"] == status
    assert body["error"]
    assert body["request_id"] == r.header("X-Correlation-ID")


def send_and_read(gw, data, expect_close=True):
    with pt.connect(gw.port) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reader = pt.RawReader(s)
        r = reader.read_response()
        closed = reader.closed_within(3) if expect_close else None
    return r, closed


def test_incomplete_head_is_408_and_closed(gw):
    with pt.connect(gw.port) as s:
        start = time.monotonic()
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n")
        reader = pt.RawReader(s)
        r = reader.read_response()
        elapsed = time.monotonic() - start
        assert reader.closed_within(3)
    assert_error(r, 408)
    assert 0.8 <= elapsed < 4, elapsed


def test_slowly_trickled_head_is_408(gw):
    # Each byte arrives quickly, but the whole head does not within header_timeout.
    with pt.connect(gw.port) as s:
        start = time.monotonic()
        reader = pt.RawReader(s)
        try:
            for ch in b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 40:
                s.sendall(bytes([ch]))
                time.sleep(0.1)
                if time.monotonic() - start > 4:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = reader.read_response()
        assert time.monotonic() - start < 4.5
    assert_error(r, 408)


def test_content_length_over_limit_is_413(gw):
    r, closed = send_and_read(
        gw, b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
    assert_error(r, 413)


def test_body_at_limit_is_accepted(gw):
    body = b"x" * 1024
    r, _ = send_and_read(gw, b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n"
                             b"Connection: close\r\n\r\n" + body)
    assert r.status == 200 and r.json()["bytes"] == 1024


def test_chunked_body_over_limit_is_413_while_streaming(gw):
    with pt.connect(gw.port) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(3):  # 1500 bytes, over the 1 KiB limit; the body never ends
                s.sendall(b"1f4\r\n" + b"y" * 500 + b"\r\n")
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = pt.RawReader(s).read_response()
    assert_error(r, 413)


def test_huge_header_is_431(gw):
    r, _ = send_and_read(gw, b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 12000 + b"\r\n\r\n")
    assert_error(r, 431)


def test_many_headers_over_limit_is_431(gw):
    head = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 90) for i in range(120))
    r, _ = send_and_read(gw, b"GET /echo HTTP/1.1\r\nHost: t\r\n" + head + b"\r\n")
    assert_error(r, 431)


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /echo HTTP/1.1 extra\r\nHost: t\r\n\r\n",
    b"GET /echo HTTP/1.1\r\nBad Header Name: x\r\n\r\n",
    b"GET /echo HTTP/1.1\r\nNoColon\r\n\r\n",
], ids=["garbage", "no-target", "extra-token", "space-in-name", "no-colon"])
def test_malformed_request_is_400_and_closed(gw, request_bytes):
    r, closed = send_and_read(gw, request_bytes)
    assert_error(r, 400)
    assert closed


def test_http11_without_host_is_400(gw):
    r, closed = send_and_read(gw, b"GET /echo HTTP/1.1\r\n\r\n")
    assert_error(r, 400)


@pytest.mark.parametrize("head", [
    b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    b"Content-Length: 5\r\nContent-Length: 6\r\n",
    b"Content-Length: 5, 6\r\n",
    b"Content-Length: -5\r\n",
    b"Content-Length: 0x5\r\n",
], ids=["cl-te", "te-cl", "two-cl", "cl-list", "negative-cl", "hex-cl"])
def test_smuggling_signs_are_400(gw, head, up):
    before = up.stats()["received"]
    r, closed = send_and_read(gw, b"POST /echo HTTP/1.1\r\nHost: t\r\n" + head + b"\r\nhello\r\n\r\n")
    assert_error(r, 400)
    assert closed
    assert up.stats()["received"] == before  # nothing was forwarded


@pytest.mark.parametrize("body", [
    b"zz\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhelloXX0\r\n\r\n",
    b"-5\r\nhello\r\n0\r\n\r\n",
    b"ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
], ids=["non-hex", "missing-crlf", "negative", "overflow"])
def test_bad_chunk_is_400(gw, body):
    r, closed = send_and_read(
        gw, b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    allowed = (400, 413) if body.startswith(b"ffff") else (400,)  # a huge size may read as too large
    assert r.status in allowed, r
    assert closed


def test_unsupported_transfer_encoding_is_rejected(gw):
    r, closed = send_and_read(
        gw, b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nabc")
    assert r.status in (400, 501), r
    assert closed


def test_http10_request_is_served_and_closed(gw):
    r, closed = send_and_read(gw, b"GET /echo HTTP/1.0\r\nHost: t\r\n\r\n")
    assert r.status == 200
    assert closed


def test_idle_client_connection_closed(gw):
    with pt.connect(gw.port) as s:
        reader = pt.RawReader(s)
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        assert reader.read_response().status == 200
        time.sleep(1.0)  # under idle_timeout: the connection is still usable
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        assert reader.read_response().status == 200
        start = time.monotonic()
        assert reader.closed_within(5), "idle connection not closed"
        assert time.monotonic() - start >= 1.5


def test_connection_close_honoured(gw):
    r, closed = send_and_read(gw, b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert r.status == 200
    assert closed


def test_gateway_still_serves_after_bad_clients(gw):
    r, _ = send_and_read(gw, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert r.status == 200


def test_max_connections_bounds_client_connections(gateway, upstream):
    up = upstream("limits-up")
    gw = gateway(pt.make_config(upstreams={"up": up.url}, routes=ROUTES,
                                limits="{max_connections: 3}", workers=1))
    held = []
    try:
        for _ in range(3):
            s = pt.connect(gw.port)
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
            assert pt.RawReader(s).read_response().status == 200
            held.append(s)
        extra = pt.connect(gw.port, timeout=1.5)
        served = False
        try:
            extra.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
            served = pt.RawReader(extra).read_response().status == 200
        except (OSError, pt.ConnectionClosed):
            pass
        finally:
            extra.close()
        assert not served, "a 4th connection was served with max_connections: 3"
    finally:
        for s in held:
            s.close()

    def serves():
        try:
            r = pt.raw_exchange(gw.port, b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                                timeout=2)
            return r.status == 200
        except (OSError, pt.ConnectionClosed):
            return False
    assert pt.wait_until(serves, 5), "not serving again after connections closed"


def test_pipelined_heads_that_straddle_the_read_buffer_end_parse_intact(gateway):
    # Thousands of pipelined requests of varying size: some head always starts near the end of
    # the read buffer, its start line already parsed when the buffer must be compacted.
    config = pt.make_config(access_log="off", workers=1, routes=(
        "- {name: ping, match: {path: /ping}, respond: {status: 200, body: pong}}\n"))
    gw = gateway(config)
    sock = pt.connect(gw.port)
    n = 6000
    try:
        sock.sendall(b"".join(b"GET /ping HTTP/1.1\r\nHost: p\r\nX-Pad: %s\r\n\r\n" % (b"x" * (k % 97))
                              for k in range(n)))
        got = b""
        sock.settimeout(5)
        while got.count(b"pong") < n:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            got += chunk
    finally:
        sock.close()
    assert got.count(b"HTTP/1.1 200 ") == n, (got.count(b"HTTP/1.1 200 "), got[-400:])
