"""WebSocket relaying: upgrades through the gateway to a real WebSocket backend.

The backend is tests/support/ws_backend.py (python3-websockets 10.x) in its own process; its
raw-socket mode (--raw) stands in for a backend that answers an upgrade request without
switching, or switches late, and records every byte it receives. Clients are the websockets
library (asyncio) or raw sockets when the test needs to see the bytes on the wire.
"""

import asyncio
import base64
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import time

import pytest
import requests
import websockets

import portico_testing as pt

WS_BACKEND = pt.SUPPORT / "ws_backend.py"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MIB = 1 << 20


# --- helpers ---------------------------------------------------------------------------------

class WsBackend:
    """tests/support/ws_backend.py in its own process, on 127.0.0.1 and a free port."""

    def __init__(self, raw=False):
        cmd = [pt.PYTHON, str(WS_BACKEND), "--port", "0"] + (["--raw"] if raw else [])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            pt.stop_pid(self.proc)
            raise RuntimeError("ws_backend did not start: %r" % line)
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def log(self):
        """What the backend received so far (asked directly, not through the gateway)."""
        return requests.get(self.url + "/log", timeout=5).json()

    def seen(self, marker):
        """Records (requests in WebSocket mode, connections in raw mode) that mention `marker`."""
        return [r for r in self.log() if marker in json.dumps(r)]

    def record(self, path, timeout=5.0):
        """The WebSocket-mode record of the one request to `path`, once it is there."""
        found = []
        pt.wait_until(lambda: found.extend(r for r in self.log() if r["path"] == path) or found,
                      timeout, 0.05)
        assert len(found) == 1, (path, found)
        return found[0]

    def stop(self):
        self.proc.stdout.close()
        return pt.stop_pid(self.proc)


def uniq(prefix):
    return "%s-%d" % (prefix, time.time_ns())


def run(coro, timeout=30):
    """Runs one asyncio scenario, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ws_connect(gw, path, **kwargs):
    """A websockets client connection to `path` through the gateway."""
    kwargs.setdefault("compression", None)
    kwargs.setdefault("ping_interval", None)
    kwargs.setdefault("max_size", None)
    kwargs.setdefault("open_timeout", 5)
    kwargs.setdefault("close_timeout", 3)
    return websockets.connect("ws://127.0.0.1:%d%s" % (gw.port, path), **kwargs)


async def refused_status(gw, path, **kwargs):
    """The HTTP status a websockets client gets when the upgrade to `path` is refused."""
    with pytest.raises(websockets.InvalidStatusCode) as info:
        async with ws_connect(gw, path, **kwargs):
            pass
    return info.value.status_code


def upgrade_request(path, key=None, extra=b""):
    """The bytes of a WebSocket opening handshake (RFC 6455 4.1) for a raw socket."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    return (b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
            % (path.encode(), key.encode(), extra))


def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def client_frame(payload, opcode=0x1):
    """One final, masked client frame."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frame(reader):
    """(opcode, payload) of the next frame on a raw socket's RawReader."""
    b0, b1 = reader._exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", reader._exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", reader._exact(8))[0]
    mask = reader._exact(4) if b1 & 0x80 else None
    payload = reader._exact(n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return b0 & 0x0F, payload


def plain_get(path, extra=b""):
    return b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (path.encode(), extra)


def websocket_gauge(gw):
    return pt.metric_value(gw.metrics(), "portico_websocket_connections")


def wait_gauge(gw, value, timeout=5.0):
    seen = []
    ok = pt.wait_until(lambda: seen.append(websocket_gauge(gw)) or seen[-1] == value, timeout, 0.1)
    assert ok, "portico_websocket_connections stayed %s, expected %s" % (seen[-1:], value)


ROUTES = """
- name: ws
  match: {prefix: /ws}
  upstream: wsb
- name: nows
  match: {prefix: /nows}
  upstream: wsb
  websocket: false
- name: idle
  match: {prefix: /idle}
  upstream: wsb
  websocket: {idle_timeout: 1s}
- name: keyed
  match: {prefix: /keyed}
  upstream: wsb
  auth: partner-keys
- name: raw
  match: {prefix: /raw}
  upstream: rawb
- name: smuggled
  match: {prefix: /smuggled}
  upstream: plain
  strip_prefix: /smuggled
"""

AUTH = """
auth:
  partner-keys:
    type: api_key
    header: X-API-Key
    keys: {"k-123": partner-a}
"""


def ws_config(backend, raw=None, plain=None, server_extra="", routes=ROUTES):
    upstreams = {"wsb": backend.url}
    if raw:
        upstreams["rawb"] = raw.url
    if plain:
        upstreams["plain"] = plain.url
    return pt.make_config(upstreams=upstreams, routes=routes, top_extra=AUTH,
                          server_extra=server_extra)


ONLY_WS_ROUTE = """
- name: ws
  match: {prefix: /ws}
  upstream: wsb
"""


@pytest.fixture(scope="module")
def ws_backend():
    backend = WsBackend()
    yield backend
    backend.stop()


@pytest.fixture(scope="module")
def raw_backend():
    backend = WsBackend(raw=True)
    yield backend
    backend.stop()


@pytest.fixture(scope="module")
def plain(module_upstream):
    return module_upstream("plain")


@pytest.fixture(scope="module")
def gw(module_gateway, ws_backend, raw_backend, plain):
    return module_gateway(ws_config(ws_backend, raw_backend, plain))


# --- relaying --------------------------------------------------------------------------------

def test_text_echo(gw, ws_backend):
    """A text message goes to the backend and its echo comes back, character for character."""
    path = "/ws/" + uniq("text")

    async def scenario():
        async with ws_connect(gw, path) as ws:
            for text in ("hello", "h\u00e9llo \u2713 \U0001F600", "x" * 70000):
                await ws.send(text)
                assert await asyncio.wait_for(ws.recv(), 5) == text

    run(scenario())
    rec = ws_backend.record(path)
    assert rec["upgraded"] and [m[0] for m in rec["messages"]] == ["text"] * 3


def test_binary_echo(gw, ws_backend):
    """A binary message comes back as binary, byte for byte (NULs and 0xff included)."""
    path = "/ws/" + uniq("binary")
    data = bytes(range(256)) * 4 + os.urandom(3000)

    async def scenario():
        async with ws_connect(gw, path) as ws:
            await ws.send(data)
            echo = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(echo, bytes) and echo == data

    run(scenario())
    assert ws_backend.record(path)["messages"] == [["binary", len(data), pt.sha256_hex(data)]]


def test_one_mib_message_both_ways(gw, ws_backend):
    """A 1 MiB binary and a 1 MiB text message reach the backend whole and come back whole."""
    path = "/ws/" + uniq("mib")
    data = os.urandom(MIB)
    text = ("0123456789abcdef" * (MIB // 16))

    async def scenario():
        async with ws_connect(gw, path) as ws:
            await ws.send(data)
            assert await asyncio.wait_for(ws.recv(), 20) == data
            await ws.send(text)
            assert await asyncio.wait_for(ws.recv(), 20) == text

    run(scenario())
    assert ws_backend.record(path)["messages"] == [
        ["binary", MIB, pt.sha256_hex(data)], ["text", MIB, pt.sha256_hex(text.encode())]]


def test_ping_gets_pong(gw):
    """A client's ping is answered with a pong carrying the same data."""
    path = "/ws/" + uniq("ping")

    async def scenario():
        async with ws_connect(gw, path) as ws:
            for i in range(3):
                pong = await ws.ping(b"are-you-there-%d" % i)
                await asyncio.wait_for(pong, 5)  # websockets checks the pong's data
            await ws.send("still here")
            assert await asyncio.wait_for(ws.recv(), 5) == "still here"

    run(scenario())


def test_client_close_code_reaches_backend(gw, ws_backend):
    """The client closes with 4001: the backend sees 4001 and the reason."""
    path = "/ws/" + uniq("client-close")

    async def scenario():
        async with ws_connect(gw, path) as ws:
            await ws.send("hi")
            await asyncio.wait_for(ws.recv(), 5)
            await ws.close(4001, "client bye")
            assert ws.close_code == 4001  # the backend echoed the close frame

    run(scenario())
    assert pt.wait_until(lambda: ws_backend.record(path)["closed"], 5)
    rec = ws_backend.record(path)
    assert (rec["close_code"], rec["close_reason"]) == (4001, "client bye"), rec


def test_backend_close_code_reaches_client(gw):
    """The backend closes with 4002: the client sees 4002 and the reason."""
    path = "/ws/" + uniq("backend-close")

    async def scenario():
        async with ws_connect(gw, path) as ws:
            await ws.send("close:4002:backend bye")
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            await asyncio.wait_for(ws.wait_closed(), 5)
            return ws.close_code, ws.close_reason

    assert run(scenario()) == (4002, "backend bye")


def test_handshake_reaches_backend_with_forwarding_headers(gw):
    """The backend sees the client's handshake (key, version, its own headers) plus the
    gateway's forwarding headers; a client-sent X-Forwarded-For is not believed. The client's
    101 carries the request id."""
    path = "/ws/" + uniq("headers")
    rid = uniq("ws-rid")

    async def scenario():
        async with ws_connect(gw, path, extra_headers={
                "X-Forwarded-For": "6.6.6.6", "X-Correlation-ID": rid, "X-Custom": "kept"}) as ws:
            await ws.send("headers?")
            seen = json.loads(await asyncio.wait_for(ws.recv(), 5))
            return seen, ws.request_headers, ws.response_headers

    seen, sent, answered = run(scenario())
    headers = {}
    for name, value in seen["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    assert seen["path"] == path
    assert headers["sec-websocket-key"] == [sent["Sec-WebSocket-Key"]]
    assert headers["sec-websocket-version"] == ["13"]
    assert headers["upgrade"] == ["websocket"]
    assert "upgrade" in headers["connection"][0].lower()
    assert headers["x-custom"] == ["kept"]
    assert headers["x-forwarded-for"] == ["127.0.0.1"]
    assert headers["x-correlation-id"] == [rid]
    assert answered["X-Correlation-ID"] == rid


# --- refused upgrades --------------------------------------------------------------------------

@pytest.mark.parametrize("status", [200, 403, 404])
def test_backend_refusing_upgrade_is_an_ordinary_response(gw, ws_backend, status):
    """The backend answers the upgrade with 200/403/404 instead of 101: the client gets that
    answer as an HTTP response, and the same connection then serves a plain request."""
    marker = uniq("refuse")
    with pt.connect(gw.port) as s:
        reader = pt.RawReader(s)
        s.sendall(upgrade_request("/ws/%s/refuse-%d" % (marker, status)))
        r = reader.read_response()
        assert r.status == status, r
        assert r.body == b"refused %d\n" % status
        assert r.header("Upgrade") is None, r
        s.sendall(plain_get("/ws/%s/http" % marker))
        r2 = reader.read_response()
        assert r2.status == 200 and r2.body == b"plain http\n", r2
    paths = [rec["path"] for rec in ws_backend.seen(marker)]
    assert paths == ["/ws/%s/refuse-%d" % (marker, status), "/ws/%s/http" % marker]

    # A WebSocket client sees the refusal too.
    assert run(refused_status(gw, "/ws/%s-client/refuse-%d" % (marker, status))) == status


def test_200_to_upgrade_keeps_the_connection_http(gw, raw_backend, plain):
    """A backend answers an upgrade with 200 and does not switch: what the client sends next on
    that connection is parsed by the gateway as a new HTTP request and routed on its own (here
    to another upstream), never relayed as bytes to the backend that refused."""
    marker = uniq("no-switch")
    after = uniq("after-200")
    with pt.connect(gw.port) as s:
        reader = pt.RawReader(s)
        s.sendall(upgrade_request("/raw/%s/refuse" % marker))
        r = reader.read_response()
        assert r.status == 200 and r.body == b"not switching\n", r
        s.sendall(plain_get("/smuggled/echo/" + after, b"X-Forwarded-For: 6.6.6.6\r\n"))
        r2 = reader.read_response()
    assert r2.status == 200, r2
    echo = r2.json()
    assert echo["name"] == "plain" and echo["path"] == "/echo/" + after, echo
    assert ["X-Forwarded-For", "127.0.0.1"] in echo["headers"], echo["headers"]
    conns = raw_backend.seen(marker)
    assert len(conns) == 1, conns
    assert after not in json.dumps(raw_backend.log())


def test_frames_after_refused_upgrade_are_not_relayed(gw, raw_backend):
    """After a 200 to an upgrade, WebSocket frames from the client are not HTTP: the gateway
    rejects them (400 or a close) and the backend never receives them."""
    marker = uniq("no-switch-frame")
    payload = uniq("frame-after-200").encode()
    with pt.connect(gw.port) as s:
        reader = pt.RawReader(s)
        s.sendall(upgrade_request("/raw/%s/refuse" % marker))
        r = reader.read_response()
        assert r.status == 200 and r.body == b"not switching\n", r
        s.sendall(client_frame(payload) + b"\r\n\r\n")
        try:
            r2 = reader.read_response()
            assert r2.status == 400, r2
        except (pt.ConnectionClosed, ConnectionResetError):
            pass
    time.sleep(0.3)
    assert payload.decode() not in json.dumps(raw_backend.log())


def test_request_pipelined_behind_refused_upgrade_is_not_smuggled(gw, raw_backend, plain):
    """The client writes an upgrade request and, in the same packet, a second request. The
    backend answers the upgrade with 200: the client gets that 200 as an ordinary response, and
    the second request is either routed by the gateway as a request of its own or refused; it
    never reaches the refusing backend as raw bytes on the upgrade's connection."""
    marker = uniq("pipelined")
    hidden = uniq("smuggled")
    wire = (upgrade_request("/raw/%s/refuse" % marker)
            + plain_get("/smuggled/echo/" + hidden, b"X-Forwarded-For: 6.6.6.6\r\n"))
    with pt.connect(gw.port) as s:
        reader = pt.RawReader(s)
        s.sendall(wire)
        r = reader.read_response()
        assert r.status == 200 and r.body == b"not switching\n", r
        try:
            r2 = reader.read_response()
        except (pt.ConnectionClosed, ConnectionResetError):
            r2 = None  # refusing to go on is safe too
    if r2 is not None:
        assert r2.status == 200, r2
        echo = r2.json()
        assert echo["name"] == "plain" and echo["path"] == "/echo/" + hidden, echo
        assert ["X-Forwarded-For", "127.0.0.1"] in echo["headers"], echo["headers"]
    time.sleep(0.3)
    assert len(raw_backend.seen(marker)) == 1
    assert hidden not in json.dumps(raw_backend.log()), raw_backend.seen(marker)


def test_websocket_false_route_refuses_upgrade_with_403(gw, ws_backend):
    """On a route with `websocket: false` an upgrade gets the gateway's own 403 and the backend
    never sees it; plain HTTP on the same route is still proxied."""
    marker = uniq("disabled")
    with pt.connect(gw.port) as s:
        reader = pt.RawReader(s)
        s.sendall(upgrade_request("/nows/" + marker))
        r = reader.read_response()
        assert r.status == 403, r
        assert r.header("Content-Type").startswith("application/json")
        body = r.json()
        assert body["status"] == 403 and body["error"] and body["request_id"], body
        rid = body["request_id"]
    e = gw.wait_access_log(lambda e: e.get("request_id") == rid)
    assert e is not None and e["status"] == 403 and e["error"] == "websocket_disabled", e
    assert run(refused_status(gw, "/nows/%s-client" % marker)) == 403
    assert ws_backend.seen(marker) == []
    r = requests.get(gw.url + "/nows/%s/http" % marker, timeout=5)
    assert r.status_code == 200 and r.text == "plain http\n"


def test_101_to_a_plain_request_is_not_relayed(gw, raw_backend):
    """A backend that answers 101 to a request that asked for no upgrade does not get a raw
    tunnel to the client: the client gets the gateway's 502."""
    marker = uniq("unasked")
    with pt.connect(gw.port) as s:
        reader = pt.RawReader(s)
        s.sendall(plain_get("/raw/%s/switch?ms=0" % marker))
        r = reader.read_response()
    assert r.status == 502, r
    assert r.json()["status"] == 502
    assert len(raw_backend.seen(marker)) == 1


# --- pipelining ----------------------------------------------------------------------------------

def test_frame_pipelined_behind_upgrade_is_relayed_after_101(gw, ws_backend):
    """A client that sends a frame right behind its upgrade request, without waiting for the
    101, gets the 101 (with the right Sec-WebSocket-Accept) and then the echo of that frame."""
    path = "/ws/" + uniq("early-frame")
    key = base64.b64encode(os.urandom(16)).decode()
    with pt.connect(gw.port) as s:
        reader = pt.RawReader(s)
        s.sendall(upgrade_request(path, key) + client_frame(b"early bird"))
        version, status, reason, headers = reader.read_head()
        assert status == 101, (status, headers)
        assert dict((n.lower(), v) for n, v in headers)["sec-websocket-accept"] == accept_for(key)
        assert read_frame(reader) == (0x1, b"early bird")
    assert ws_backend.record(path)["messages"][0][:2] == ["text", len(b"early bird")]


def test_bytes_behind_upgrade_wait_for_the_101(gw, raw_backend):
    """Bytes pipelined behind an upgrade request reach the backend only after it answered 101:
    a backend that takes its time to switch receives nothing meanwhile."""
    marker = uniq("late-switch")
    early = client_frame(uniq("early").encode())
    key = base64.b64encode(os.urandom(16)).decode()
    with pt.connect(gw.port) as s:
        reader = pt.RawReader(s)
        s.sendall(upgrade_request("/raw/%s/switch?ms=500" % marker, key) + early)
        version, status, reason, headers = reader.read_head()
        assert status == 101, (status, headers)
        assert reader._exact(len(early)) == early  # the raw backend echoes bytes as they come
    conns = raw_backend.seen(marker)
    assert len(conns) == 1, conns
    assert conns[0]["switched"] and conns[0]["before_101"] == "", conns[0]
    assert conns[0]["received"].endswith(early.decode("latin-1"))


# --- timeouts, drain, auth -------------------------------------------------------------------------

def test_idle_websocket_is_closed_after_idle_timeout(gw, ws_backend):
    """With `websocket: {idle_timeout: 1s}`, a connection silent both ways is closed after
    about a second, on the client's side and on the backend's."""
    path = "/idle/" + uniq("quiet")

    async def scenario():
        async with ws_connect(gw, path) as ws:
            await ws.send("one")
            assert await asyncio.wait_for(ws.recv(), 5) == "one"
            start = time.monotonic()
            await asyncio.wait_for(ws.wait_closed(), 6)
            return time.monotonic() - start

    elapsed = run(scenario())
    assert 0.8 <= elapsed <= 3.5, elapsed
    assert pt.wait_until(lambda: ws_backend.record(path)["closed"], 5)


@pytest.mark.parametrize("side", ["client", "backend"])
def test_traffic_keeps_websocket_alive_past_idle_timeout(gw, side):
    """Messages every 0.3 s (from the client, or from the backend alone) keep a connection with
    a 1 s idle timeout open for 3 s and more; silence afterwards closes it."""
    path = "/idle/" + uniq("busy-" + side)

    async def scenario():
        async with ws_connect(gw, path) as ws:
            start = time.monotonic()
            if side == "client":
                for i in range(10):
                    await ws.send("m%d" % i)
                    assert await asyncio.wait_for(ws.recv(), 5) == "m%d" % i
                    await asyncio.sleep(0.3)
            else:
                await ws.send("tick:10:300")
                for i in range(10):
                    assert await asyncio.wait_for(ws.recv(), 5) == "tick %d" % i
            assert time.monotonic() - start >= 2.9
            await ws.send("after")
            assert await asyncio.wait_for(ws.recv(), 5) == "after"
            quiet = time.monotonic()
            await asyncio.wait_for(ws.wait_closed(), 6)
            return time.monotonic() - quiet

    assert run(scenario()) <= 3.5


def test_drain_keeps_websocket_until_drain_timeout_then_closes_and_exits(gateway, ws_backend):
    """SIGTERM with an open WebSocket: it keeps relaying while the gateway drains, is closed at
    the end of drain_timeout (2s), gets its access-log line, and the process exits 0."""
    gw = gateway(ws_config(ws_backend, server_extra="drain_timeout: 2s", routes=ONLY_WS_ROUTE))
    path = "/ws/" + uniq("drain")

    async def scenario():
        async with ws_connect(gw, path) as ws:
            await ws.send("before")
            assert await asyncio.wait_for(ws.recv(), 5) == "before"
            start = time.monotonic()
            gw.signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            await ws.send("during")
            assert await asyncio.wait_for(ws.recv(), 5) == "during"
            await asyncio.wait_for(ws.wait_closed(), 8)
            return time.monotonic() - start

    closed_after = run(scenario())
    assert 1.5 <= closed_after <= 5, closed_after
    assert gw.proc.wait(timeout=8) == 0
    e = gw.wait_access_log(lambda e: e.get("path") == path, timeout=2)
    assert e is not None and e["status"] == 101, gw.access_log_lines()[-5:]


def test_auth_runs_before_upgrade(gw, ws_backend):
    """On a route with an api_key provider an upgrade without a (valid) key gets 401 and the
    backend sees nothing; with the key the WebSocket opens and is logged with its consumer."""
    marker = uniq("keyed")

    async def scenario():
        assert await refused_status(gw, "/keyed/%s/none" % marker) == 401
        assert await refused_status(gw, "/keyed/%s/wrong" % marker,
                                    extra_headers={"X-API-Key": "k-999"}) == 401
        async with ws_connect(gw, "/keyed/%s/ok" % marker,
                              extra_headers={"X-API-Key": "k-123"}) as ws:
            await ws.send("authorized")
            assert await asyncio.wait_for(ws.recv(), 5) == "authorized"

    run(scenario())
    assert [r["path"] for r in ws_backend.seen(marker)] == ["/keyed/%s/ok" % marker]
    e = gw.wait_access_log(lambda e: e.get("path") == "/keyed/%s/ok" % marker)
    assert e is not None and e["status"] == 101 and e["consumer"] == "partner-a", e
    refused = []
    pt.wait_until(lambda: refused.__setitem__(slice(None), [
        x for x in gw.access_log_entries()
        if x.get("path", "").startswith("/keyed/" + marker) and x["status"] == 401]) or
        len(refused) == 2, 5)
    assert len(refused) == 2, refused


# --- observability -------------------------------------------------------------------------------

def test_websocket_connections_gauge(gateway, ws_backend):
    """portico_websocket_connections counts the WebSockets open now: 0, 1, 2, 1, 0, whichever
    side closes; a refused upgrade never counts."""
    gw = gateway(ws_config(ws_backend, routes=ONLY_WS_ROUTE))
    wait_gauge(gw, 0)

    async def scenario():
        assert await refused_status(gw, "/ws/%s/refuse-403" % uniq("gauge")) == 403
        wait_gauge(gw, 0, timeout=1)
        async with ws_connect(gw, "/ws/" + uniq("gauge-a")) as a:
            await a.send("a")
            await asyncio.wait_for(a.recv(), 5)
            wait_gauge(gw, 1)
            b = await ws_connect(gw, "/ws/" + uniq("gauge-b"))
            await b.send("b")
            await asyncio.wait_for(b.recv(), 5)
            wait_gauge(gw, 2)
            await b.send("close:4002")  # the backend closes this one
            await asyncio.wait_for(b.wait_closed(), 5)
            wait_gauge(gw, 1)
        wait_gauge(gw, 0)  # the client closed that one

    run(scenario())


def test_access_log_line_when_websocket_closes(gw):
    """A WebSocket is logged once, when it closes: status 101, its route and upstream, the
    bytes it carried each way and how long it was open."""
    path = "/ws/" + uniq("logged")
    rid = uniq("ws-log")
    size, count = 1000, 3

    async def scenario():
        async with ws_connect(gw, path, extra_headers={"X-Correlation-ID": rid}) as ws:
            for _ in range(count):
                await ws.send(os.urandom(size))
                assert len(await asyncio.wait_for(ws.recv(), 5)) == size
            await asyncio.sleep(0.6)
            assert gw.wait_access_log(lambda e: e.get("request_id") == rid, timeout=0.3) is None, \
                "logged before it closed"

    run(scenario())
    e = gw.wait_access_log(lambda e: e.get("request_id") == rid)
    assert e is not None, gw.access_log_lines()[-5:]
    assert (e["status"], e["method"], e["path"], e["route"], e["upstream"]) == \
        (101, "GET", path, "ws", "wsb"), e
    assert e["bytes_in"] >= count * size + 100, e  # the handshake head and the client's frames
    assert e["bytes_out"] >= count * size + 100, e  # the 101 head and the echoes
    assert e["duration_ms"] >= 600, e
    time.sleep(0.5)
    assert len([x for x in gw.access_log_entries() if x.get("request_id") == rid]) == 1
