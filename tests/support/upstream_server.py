#!/usr/bin/env python3
"""A configurable HTTP/1.1 upstream for Portico's end-to-end tests and benchmarks.

Standard library only. One thread per connection, keep-alive, and its own HTTP/1.1 parsing so
that it can report exactly what arrived (raw query string, header pairs in order) and stream
request bodies (Content-Length or chunked) without ever holding a whole body in memory.

    upstream_server.py --port 0 --name users      # prints "READY <port>" once listening
    upstream_server.py --tls-cert server.pem --tls-key server.key [--tls-client-ca ca.pem]
                              speaks TLS (1.2 or later) on every connection; with --tls-client-ca
                              a client certificate signed by that CA is required. The handshake
                              runs in the connection's thread; a failed one is counted in /stats
                              as tls_failures and the connection is closed.

Endpoints:
    /echo                     any method: JSON {method, path, query, target, version, headers,
                              body_length, body_sha256, name, tls, tls_version, sni,
                              client_cert_subject}: tls is false and the other three null on a
                              plain connection; else the TLS version ("TLSv1.3"), the server name
                              the client sent (SNI) and the commonName of its certificate, or null
    /slow?ms=N                sleeps N ms, then answers JSON
    /download?bytes=N&chunked=0|1
                              N deterministic bytes (see pattern_block), Content-Length or chunked
    /drip?chunks=N&ms=M&size=S
                              chunked response: N chunks of S bytes, M ms apart
    /content?bytes=N&type=T&status=S&chunked=0|1&chunk=C&ms=M&header=Name:Value...
                              N bytes of the /download stream with Content-Type T (default
                              text/plain) and status S (default 200), Content-Length or chunked in
                              pieces of C bytes (default 65536) M ms apart; each `header` param
                              adds that field (any number of them)
    /events?count=N&ms=M&type=T
                              chunked text/event-stream (or T): N events "id: i\ndata: event i\n\n",
                              one chunk each, M ms apart (default 1000)
    /upload                   reads the body streaming: JSON {bytes, sha256}
    /chunked-echo             answers chunked with the request body, chunk by chunk as it arrives
    /stats                    JSON {connections, requests}: TCP connections accepted so far, requests served
    /status/{code}            answers that status
    /health                   {"status": "ok"} with the configured health status (default 200)
    /partial?bytes=N&ms=M     200 with Content-Length 2N: sends N bytes, waits M ms (default 300),
                              then resets the connection (RST): a response cut after bytes left
    /reset                    reads the request, then resets the connection without answering
    /hang?ms=N                reads the request and never answers; after N ms (default 30000, at
                              most 30000) or when the peer closes, the connection is reset
    /control                  GET: the control state as JSON; POST a JSON object to change it
                              (only the members given change) and get the new state back:
        {"mode": "ok"}                  normal answers (the default)
        {"mode": "fail500"}             every path answers 500 JSON {name, status}; also
                                        "fail502", "fail503", "fail504", or
                                        {"mode": "fail", "status": N} for any status N
        {"mode": "reset"}               every request is read, then the connection is reset
        {"mode": "hang"}                every request is read and never answered (as /hang)
        {"mode": "slow", "ms": N}       every request waits N ms, then is answered as usual
        {"health": 500}                 the status /health answers in mode ok (default 200)
        {"reset_stats": true}           zeroes the counters of /stats
      The mode applies to every path except /control and /stats (so also to /health).
    anything else             200 JSON {path, query, method, name}

/stats answers JSON {connections, requests, received, paths, tls_handshakes, tls_failures}: TCP
connections accepted, requests answered, request heads received (any mode, answered or not),
{path: count} of received request heads, and TLS handshakes that succeeded and that failed (both 0
without TLS). /stats and /control requests are not counted in received or paths.
"""

import argparse
import hashlib
import json
import socket
import select
import socketserver
import ssl
import struct
import sys
import threading
import time
from urllib.parse import parse_qs

MAX_HEAD = 1 << 20
BLOCK_SIZE = 1 << 16


def pattern_block():
    """The 64 KiB block /download repeats: byte j of the block is j % 251."""
    return bytes(j % 251 for j in range(BLOCK_SIZE))


_BLOCK = pattern_block()


def pattern_chunks(n):
    """Yields the first n bytes of the /download stream in blocks."""
    left = n
    while left > 0:
        take = min(left, BLOCK_SIZE)
        yield _BLOCK[:take] if take < BLOCK_SIZE else _BLOCK
        left -= take


def expected_sha256(n):
    """sha256 hex digest of the first n bytes of the /download stream."""
    h = hashlib.sha256()
    for chunk in pattern_chunks(n):
        h.update(chunk)
    return h.hexdigest()


class BadRequest(Exception):
    pass


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = 0
        self.received = 0
        self.paths = {}
        self.tls_handshakes = 0
        self.tls_failures = 0

    def add(self, connections=0, requests=0, tls_handshakes=0, tls_failures=0):
        with self.lock:
            self.connections += connections
            self.requests += requests
            self.tls_handshakes += tls_handshakes
            self.tls_failures += tls_failures

    def receive(self, path):
        with self.lock:
            self.received += 1
            self.paths[path] = self.paths.get(path, 0) + 1

    def reset(self):
        with self.lock:
            self.connections = self.requests = self.received = 0
            self.tls_handshakes = self.tls_failures = 0
            self.paths = {}

    def snapshot(self):
        with self.lock:
            return {"connections": self.connections, "requests": self.requests,
                    "received": self.received, "paths": dict(self.paths),
                    "tls_handshakes": self.tls_handshakes, "tls_failures": self.tls_failures}


MAX_HANG_MS = 30000
FAIL_MODES = {"fail500": 500, "fail502": 502, "fail503": 503, "fail504": 504}
MODES = ("ok", "fail", "reset", "hang", "slow") + tuple(FAIL_MODES)


class Control:
    """Failure modes switched on at runtime with POST /control."""

    def __init__(self):
        self.lock = threading.Lock()
        self.mode = "ok"
        self.status = 500
        self.ms = 0
        self.health = 200

    def snapshot(self):
        with self.lock:
            return {"mode": self.mode, "status": self.status, "ms": self.ms,
                    "health": self.health}

    def update(self, obj):
        if not isinstance(obj, dict):
            raise BadRequest("control body must be a JSON object")
        try:
            self._update(obj)
        except (TypeError, ValueError) as e:
            raise BadRequest("bad control value: %s" % e)

    def _update(self, obj):
        with self.lock:
            mode, status, ms, health = self.mode, self.status, self.ms, self.health
            if "mode" in obj:
                mode = obj["mode"]
                if mode not in MODES:
                    raise BadRequest("mode must be one of " + ", ".join(MODES))
                status = FAIL_MODES.get(mode, status)
            if "status" in obj:
                status = int(obj["status"])
            if "ms" in obj:
                ms = int(obj["ms"])
            if "health" in obj:
                health = int(obj["health"])
            if not (100 <= status <= 599 and 100 <= health <= 599 and ms >= 0):
                raise BadRequest("status/health must be 100..599 and ms >= 0")
            self.mode, self.status, self.ms, self.health = mode, status, ms, health


REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently",
    302: "Found", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    413: "Content Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


class Request:
    def __init__(self, method, target, version, headers):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # [(name, value)] in arrival order, as received
        path, sep, query = target.partition("?")
        self.path = path
        self.query = query if sep else ""
        self.params = {k: v[-1] for k, v in parse_qs(self.query, keep_blank_values=True).items()}

    def header(self, name):
        lname = name.lower()
        values = [v for n, v in self.headers if n.lower() == lname]
        return ", ".join(values) if values else None

    def header_values(self, name):
        lname = name.lower()
        return [v for n, v in self.headers if n.lower() == lname]


class BodyReader:
    """Streams a request body framed by Content-Length or chunked transfer-encoding."""

    def __init__(self, rfile, req, wfile=None):
        self.rfile = rfile
        # Expect: 100-continue is answered when the handler first reads the body.
        self.continue_to = wfile if (req.header("Expect") or "").lower() == "100-continue" else None
        te = req.header("Transfer-Encoding")
        cls = req.header_values("Content-Length")
        self.chunked = False
        self.remaining = 0
        self.done = False
        if te is not None:
            if cls:
                raise BadRequest("both Content-Length and Transfer-Encoding")
            if te.strip().lower().split(",")[-1].strip() != "chunked":
                raise BadRequest("unsupported transfer-encoding")
            self.chunked = True
            self.chunk_left = 0
        elif cls:
            values = {v.strip() for c in cls for v in c.split(",")}
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise BadRequest("bad Content-Length")
            self.remaining = int(next(iter(values)))
            self.done = self.remaining == 0
        else:
            self.done = True

    def read(self, size=BLOCK_SIZE):
        """Returns the next piece of the body, b"" at its end."""
        if self.done:
            return b""
        if self.continue_to is not None:
            self.continue_to.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.continue_to = None
        if not self.chunked:
            data = self.rfile.read1(min(size, self.remaining)) if hasattr(self.rfile, "read1") \
                else self.rfile.read(min(size, self.remaining))
            if not data:
                raise BadRequest("body ended early")
            self.remaining -= len(data)
            if self.remaining == 0:
                self.done = True
            return data
        if self.chunk_left == 0:
            line = self.rfile.readline(4096)
            if not line.endswith(b"\n"):
                raise BadRequest("bad chunk size line")
            size_text = line.split(b";", 1)[0].strip()
            try:
                self.chunk_left = int(size_text, 16)
            except ValueError:
                raise BadRequest("bad chunk size")
            if self.chunk_left == 0:
                while True:  # trailers until the empty line
                    t = self.rfile.readline(MAX_HEAD)
                    if not t:
                        raise BadRequest("eof in trailers")
                    if t in (b"\r\n", b"\n"):
                        break
                self.done = True
                return b""
        data = self.rfile.read1(min(size, self.chunk_left)) if hasattr(self.rfile, "read1") \
            else self.rfile.read(min(size, self.chunk_left))
        if not data:
            raise BadRequest("body ended early")
        self.chunk_left -= len(data)
        if self.chunk_left == 0:
            if self.rfile.readline(4) not in (b"\r\n", b"\n"):
                raise BadRequest("missing CRLF after chunk")
        return data

    def drain(self):
        h = hashlib.sha256()
        n = 0
        while True:
            data = self.read()
            if not data:
                return n, h.hexdigest()
            n += len(data)
            h.update(data)


# --- TLS ------------------------------------------------------------------------------------

TLS_HANDSHAKE_TIMEOUT = 10.0
PLAIN_TLS_INFO = {"tls": False, "tls_version": None, "sni": None, "client_cert_subject": None,
                  "tls_session_reused": False}

# The handshake runs in the connection's own thread, and so does the SNI callback: a
# thread-local carries the name the client sent from the callback to that connection.
_handshake = threading.local()


def _remember_sni(ssl_socket, server_name, context):
    _handshake.sni = server_name
    return None  # go on with the handshake, same context


def server_tls_context(cert, key, client_ca=None):
    """Server side, TLS 1.2 or later; with client_ca, a client certificate signed by it is
    required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    ctx.sni_callback = _remember_sni
    return ctx


def common_name(peer_cert):
    """commonName of a certificate as ssl.SSLSocket.getpeercert() gives it, or None."""
    for rdn in (peer_cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


class Handler(socketserver.StreamRequestHandler):
    rbufsize = BLOCK_SIZE
    wbufsize = 0  # unbuffered: streaming answers (/drip, /chunked-echo) leave piece by piece
    disable_nagle_algorithm = True  # TCP_NODELAY on every accepted socket (also under TLS)

    def setup(self):
        self.tls_info = PLAIN_TLS_INFO
        self.tls_failed = False
        if self.server.ssl_context is not None:
            self.server.stats.add(connections=1)
            self.was_reset = False
            if self.tls_handshake():
                super().setup()
            else:
                self.tls_failed = True
            return
        super().setup()
        self.server.stats.add(connections=1)
        self.was_reset = False

    def tls_handshake(self):
        """Wraps the accepted socket in TLS and shakes hands (bounded in time); False when that
        failed: counted in stats, the connection closed."""
        raw = self.request
        _handshake.sni = None
        tls = None
        try:
            raw.settimeout(TLS_HANDSHAKE_TIMEOUT)
            tls = self.server.ssl_context.wrap_socket(raw, server_side=True,
                                                      do_handshake_on_connect=False)
            tls.do_handshake()
            tls.settimeout(None)
            self.tls_info = {"tls": True, "tls_version": tls.version(),
                             "sni": getattr(_handshake, "sni", None),
                             "client_cert_subject": common_name(tls.getpeercert()),
                             "tls_session_reused": tls.session_reused}
        except (OSError, ValueError):  # ssl.SSLError is an OSError
            self.server.stats.add(tls_failures=1)
            self.close_gently(tls or raw)
            return False
        # The TLS socket owns the descriptor now: the server's own shutdown of the accepted
        # (detached) socket does nothing, finish() closes this one.
        self.request = tls
        self.server.stats.add(tls_handshakes=1)
        return True

    @staticmethod
    def close_gently(sock):
        """After a failed handshake: FIN (after whatever alert OpenSSL sent), then read and
        drop what the client still sends for up to a second, so that the close is no RST that
        could overtake the alert."""
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(0.2)
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and sock.recv(65536):
                pass
        except (OSError, ValueError):
            pass
        try:
            sock.close()
        except OSError:
            pass

    def close_tls(self):
        """Sends close_notify without waiting for the peer's, then closes the socket."""
        conn = self.connection
        try:
            conn.settimeout(0)
            conn.unwrap()
        except (OSError, ValueError):
            pass
        try:
            conn.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            pass
        conn.close()

    def reset_connection(self):
        """Closes the connection with an RST (SO_LINGER 0) instead of a FIN."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.was_reset = True
        self.rfile.close()  # the socket closes for real only when its file objects are closed
        self.connection.close()

    def hang(self, ms):
        """Answers nothing for `ms` (bounded) or until the peer closes; then resets."""
        deadline = time.monotonic() + min(max(ms, 0), MAX_HANG_MS) / 1000.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.1))
            if readable and self.tls_info["tls"]:
                if self.tls_peer_closed():
                    break
            elif readable:
                try:
                    if not self.connection.recv(65536, socket.MSG_PEEK):
                        break  # the peer closed
                    self.connection.recv(65536)  # discard whatever else it sends
                except OSError:
                    break
        self.reset_connection()

    def tls_peer_closed(self):
        """For hang() over TLS (no MSG_PEEK there): reads and discards what came; True at EOF."""
        self.connection.settimeout(0.1)
        try:
            return not self.connection.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False  # only part of a TLS record so far
        except OSError:
            return True

    def finish(self):
        if self.was_reset or self.tls_failed:
            return
        super().finish()
        if self.tls_info["tls"]:
            self.close_tls()

    # -- wire helpers --------------------------------------------------------------------

    def read_head(self):
        line = self.rfile.readline(MAX_HEAD)
        while line in (b"\r\n", b"\n"):  # tolerate empty lines between requests
            line = self.rfile.readline(MAX_HEAD)
        if not line:
            return None
        try:
            method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ")
        except ValueError:
            raise BadRequest("bad request line")
        if not version.startswith("HTTP/1."):
            raise BadRequest("bad version")
        headers = []
        total = len(line)
        while True:
            h = self.rfile.readline(MAX_HEAD)
            total += len(h)
            if not h:
                return None
            if total > MAX_HEAD:
                raise BadRequest("head too large")
            if h in (b"\r\n", b"\n"):
                break
            name, sep, value = h.decode("latin-1").rstrip("\r\n").partition(":")
            if not sep or not name or name != name.strip():
                raise BadRequest("bad header line")
            headers.append((name, value.strip(" \t")))
        return Request(method, target, version, headers)

    def send_head(self, status, headers, keep_alive, body=b""):
        """Writes the response head, and `body` after it in the same write: a sized answer
        leaves in one send, so that Nagle's algorithm and delayed ACKs have no second small
        segment to hold back on a reused connection. Streaming answers call this without a
        body and write their pieces themselves."""
        lines = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status"))]
        lines.append("X-Upstream-Name: " + self.server.name)
        for n, v in headers:
            lines.append("%s: %s" % (n, v))
        if not keep_alive:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def send_body(self, req, status, body, content_type, keep_alive, extra=()):
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        headers.extend(extra)
        if status in (204, 304) or 100 <= status < 200:
            headers = [h for h in headers if h[0] != "Content-Length"]
            body = b""
        self.send_head(status, headers, keep_alive, body if req.method != "HEAD" else b"")

    def send_json(self, req, status, obj, keep_alive, extra=()):
        body = (json.dumps(obj) + "\n").encode()
        self.send_body(req, status, body, "application/json", keep_alive, extra)

    def send_content(self, req, keep_alive):
        """/content: see the module's docstring."""
        p = req.params
        n = int(p.get("bytes", "0") or 0)
        status = int(p.get("status", "200"))
        chunked = p.get("chunked", "0") == "1"
        piece = max(1, int(p.get("chunk", str(BLOCK_SIZE))))
        ms = int(p.get("ms", "0"))
        headers = [("Content-Type", p.get("type", "text/plain"))]
        for value in parse_qs(req.query, keep_blank_values=True).get("header", []):
            name, _, field = value.partition(":")
            headers.append((name.strip(), field.strip()))
        bodyless = status in (204, 304) or 100 <= status < 200
        if chunked and not bodyless:
            headers.append(("Transfer-Encoding", "chunked"))
        elif status != 204 and not 100 <= status < 200:
            headers.append(("Content-Length", str(n)))
        self.send_head(status, headers, keep_alive)
        if bodyless or req.method == "HEAD":
            return
        sent = 0
        for block in pattern_chunks(n):
            for at in range(0, len(block), piece):
                if sent and ms:
                    time.sleep(ms / 1000.0)
                data = block[at:at + piece]
                if chunked:
                    self.write_chunk(data)
                else:
                    self.wfile.write(data)
                sent += len(data)
        if chunked:
            self.end_chunks()

    def write_chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")

    # -- the connection loop -------------------------------------------------------------

    def handle(self):
        if self.tls_failed:
            return
        try:
            while True:
                try:
                    req = self.read_head()
                    if req is None:
                        return
                    body = BodyReader(self.rfile, req, self.wfile)
                except BadRequest as e:
                    self.send_raw_error(400, str(e))
                    return
                conn = (req.header("Connection") or "").lower()
                keep_alive = "close" not in conn and (req.version == "HTTP/1.1" or "keep-alive" in conn)
                if req.path not in ("/stats", "/control"):
                    self.server.stats.receive(req.path)
                try:
                    keep_alive = self.dispatch(req, body, keep_alive)
                except BadRequest as e:
                    self.send_raw_error(400, str(e))
                    return
                if self.was_reset:
                    return
                self.server.stats.add(requests=1)
                if not keep_alive:
                    return
        except (ConnectionError, socket.timeout, OSError):
            return

    def send_raw_error(self, status, message):
        body = (json.dumps({"error": message}) + "\n").encode()
        head = "HTTP/1.1 %d Bad Request\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" \
               "Connection: close\r\n\r\n" % (status, len(body))
        try:
            self.wfile.write(head.encode() + body)
        except OSError:
            pass

    def dispatch(self, req, body, keep_alive):
        """Answers one request; returns whether the connection stays open."""
        path = req.path
        p = req.params
        name = self.server.name
        if path not in ("/stats", "/control"):
            control = self.server.control.snapshot()
            mode = control["mode"]
            if mode == "slow":
                time.sleep(control["ms"] / 1000.0)
            elif mode in ("reset", "hang"):
                body.drain()
                if mode == "reset":
                    self.reset_connection()
                else:
                    self.hang(MAX_HANG_MS)
                return False
            elif mode != "ok":
                body.drain()
                self.send_json(req, control["status"], {"name": name, "status": control["status"]},
                               keep_alive)
                return keep_alive
        if path == "/echo" or path.startswith("/echo/"):
            n, digest = body.drain()
            self.send_json(req, 200, {
                "name": name, "method": req.method, "path": req.path, "query": req.query,
                "target": req.target, "version": req.version,
                "headers": [[k, v] for k, v in req.headers],
                "body_length": n, "body_sha256": digest, **self.tls_info,
            }, keep_alive)
        elif path == "/slow":
            n, _ = body.drain()
            ms = int(p.get("ms", "1000") or 0)
            time.sleep(ms / 1000.0)
            self.send_json(req, 200, {"name": name, "slept_ms": ms, "body_length": n}, keep_alive)
        elif path == "/download":
            body.drain()
            n = int(p.get("bytes", "0") or 0)
            chunked = p.get("chunked", "0") == "1"
            if chunked:
                self.send_head(200, [("Content-Type", "application/octet-stream"),
                                     ("Transfer-Encoding", "chunked")], keep_alive)
                if req.method != "HEAD":
                    for c in pattern_chunks(n):
                        self.write_chunk(c)
                    self.end_chunks()
            else:
                self.send_head(200, [("Content-Type", "application/octet-stream"),
                                     ("Content-Length", str(n))], keep_alive)
                if req.method != "HEAD":
                    for c in pattern_chunks(n):
                        self.wfile.write(c)
        elif path == "/drip":
            body.drain()
            chunks = int(p.get("chunks", "5"))
            ms = int(p.get("ms", "200"))
            size = int(p.get("size", "16"))
            self.send_head(200, [("Content-Type", "application/octet-stream"),
                                 ("Transfer-Encoding", "chunked")], keep_alive)
            for i in range(chunks):
                if i:
                    time.sleep(ms / 1000.0)
                self.write_chunk(bytes([0x61 + i % 26]) * size)
            self.end_chunks()
        elif path == "/content":
            body.drain()
            self.send_content(req, keep_alive)
        elif path == "/events":
            body.drain()
            count = int(p.get("count", "3"))
            ms = int(p.get("ms", "1000"))
            self.send_head(200, [("Content-Type", p.get("type", "text/event-stream")),
                                 ("Cache-Control", "no-cache"),
                                 ("Transfer-Encoding", "chunked")], keep_alive)
            for i in range(count):
                if i:
                    time.sleep(ms / 1000.0)
                self.write_chunk(b"id: %d\ndata: event %d\n\n" % (i, i))
            self.end_chunks()
        elif path == "/upload":
            n, digest = body.drain()
            self.send_json(req, 200, {"name": name, "bytes": n, "sha256": digest}, keep_alive)
        elif path == "/chunked-echo":
            self.send_head(200, [("Content-Type", req.header("Content-Type") or "application/octet-stream"),
                                 ("Transfer-Encoding", "chunked")], keep_alive)
            while True:
                data = body.read()
                if not data:
                    break
                self.write_chunk(data)
            self.end_chunks()
        elif path == "/stats":
            body.drain()
            self.send_json(req, 200, self.server.stats.snapshot(), keep_alive)
        elif path.startswith("/status/"):
            body.drain()
            try:
                code = int(path[len("/status/"):])
            except ValueError:
                code = 400
            self.send_json(req, code, {"name": name, "status": code}, keep_alive)
        elif path == "/health":
            body.drain()
            health = self.server.control.snapshot()["health"]
            self.send_json(req, health, {"status": "ok" if health < 400 else "failing",
                                         "name": name}, keep_alive)
        elif path == "/control":
            if req.method == "POST":
                size = 0
                data = b""
                while True:
                    piece = body.read()
                    if not piece:
                        break
                    size += len(piece)
                    if size > 65536:
                        raise BadRequest("control body too large")
                    data += piece
                try:
                    obj = json.loads(data.decode() or "{}")
                except ValueError:
                    raise BadRequest("control body is not JSON")
                if isinstance(obj, dict) and obj.get("reset_stats"):
                    self.server.stats.reset()
                self.server.control.update(obj)
            else:
                body.drain()
            self.send_json(req, 200, self.server.control.snapshot(), keep_alive)
        elif path == "/reset":
            body.drain()
            self.reset_connection()
            return False
        elif path == "/hang":
            body.drain()
            self.hang(int(p.get("ms", str(MAX_HANG_MS)) or 0))
            return False
        elif path == "/partial":
            body.drain()
            n = int(p.get("bytes", "1000") or 0)
            ms = int(p.get("ms", "300") or 0)
            self.send_head(200, [("Content-Type", "application/octet-stream"),
                                 ("Content-Length", str(2 * n))], keep_alive)
            if req.method != "HEAD":
                for c in pattern_chunks(n):
                    self.wfile.write(c)
            time.sleep(ms / 1000.0)
            self.reset_connection()
            return False
        else:
            n, _ = body.drain()
            self.send_json(req, 200, {"name": name, "method": req.method, "path": req.path,
                                      "query": req.query, "body_length": n}, keep_alive)
        return keep_alive


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    block_on_close = False

    def __init__(self, addr, name, ssl_context=None):
        self.name = name
        self.stats = Stats()
        self.control = Control()
        self.ssl_context = ssl_context
        super().__init__(addr, Handler)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--name", default="upstream")
    ap.add_argument("--tls-cert", help="PEM certificate (chain): speak TLS with it")
    ap.add_argument("--tls-key", help="PEM private key of --tls-cert")
    ap.add_argument("--tls-client-ca", help="PEM CA: require a client certificate signed by it")
    args = ap.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        ap.error("--tls-client-ca needs --tls-cert and --tls-key")
    ssl_context = None
    if args.tls_cert:
        ssl_context = server_tls_context(args.tls_cert, args.tls_key, args.tls_client_ca)
    return serve_until_stopped(Server((args.host, args.port), args.name, ssl_context))


def serve_until_stopped(server):
    """Prints `READY <port>` (what the test support waits for), then serves until
    interrupted; returns the process's exit code."""
    print("READY %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
