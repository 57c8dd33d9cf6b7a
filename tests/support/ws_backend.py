#!/usr/bin/env python3
"""A WebSocket backend for Portico's end-to-end tests, in a process of its own.

    ws_backend.py --port 0           WebSocket mode (python3-websockets 10.x)
    ws_backend.py --port 0 --raw     raw-socket mode: plain sockets, for smuggling tests

Binds 127.0.0.1 (only) and prints `READY <port>` once it listens. Stop it by its PID (SIGTERM).
The request log of either mode is at GET /log (ask the backend directly, not through a
gateway); /log requests are not logged themselves.

WebSocket mode. The last path segment (query ignored) decides what a request gets:
  refuse-NNN      -> an HTTP answer with status NNN and body "refused NNN\n", no upgrade
  http            -> 200 "plain http\n" (a request that is not an upgrade, answered as HTTP)
  log             -> 200, JSON list of every request received so far (see `record` below)
  anything else   -> the WebSocket handshake; then, on the connection:
    text "headers?"             -> a text message: JSON {"path", "headers": [[name, value]...]}
    text "close:CODE[:REASON]"  -> the backend closes with CODE and REASON (default "backend")
    text "tick:COUNT:MS"        -> COUNT text messages "tick N", one every MS milliseconds
    any other text or binary    -> echoed as it came (same type, same bytes)
  Pings are answered by websockets itself; the backend sends no pings of its own.

  Each request is recorded as {"id", "path", "headers", "upgraded", "closed", "close_code",
  "close_reason", "messages": [[kind, length, sha256]...] (the first 100), "message_count"};
  close_code/close_reason are what the client's close frame said (1006: no close frame).

Raw mode. Every connection is recorded as {"id", "requests": [request lines],
"received": all bytes received, latin-1 text, "before_101": bytes received while a /switch
request waited, "switched": bool}. Per request head (a GET without body is assumed):
  .../switch?ms=N -> waits N ms (default 300), recording whatever arrives meanwhile in
                     before_101, then answers 101 with the right Sec-WebSocket-Accept and from
                     then on echoes every byte it receives, unchanged
  /log            -> 200, JSON list of the connections so far
  anything else   -> 200 "not switching\n" with Content-Length, keeping the connection open
                     and reading it further: whatever follows is recorded, and parsed as the
                     next request head once complete
"""

import argparse
import asyncio
import base64
import hashlib
import http
import json
import signal
import socket
import socketserver
import sys
import threading
import time

import upstream_server  # this folder is on sys.path when run as a script

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_RECORDED_MESSAGES = 100
MAX_HEAD_BYTES = 65536


def last_segment(path):
    return path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


# --- WebSocket mode --------------------------------------------------------------------------

def websocket_main(port):
    import websockets
    from websockets.legacy.server import WebSocketServerProtocol

    records = []
    lock = threading.Lock()

    def snapshot():
        with lock:
            return json.dumps(records).encode()

    class Protocol(WebSocketServerProtocol):
        record = None

        async def process_request(self, path, request_headers):
            segment = last_segment(path)
            if segment == "log":
                return http.HTTPStatus.OK, [("Content-Type", "application/json")], snapshot()
            rec = {"id": len(records) + 1, "path": path,
                   "headers": [[k, v] for k, v in request_headers.raw_items()],
                   "upgraded": False, "closed": False, "close_code": None, "close_reason": None,
                   "messages": [], "message_count": 0, "time": time.time()}
            with lock:
                records.append(rec)
            self.record = rec
            if segment.startswith("refuse-"):
                try:
                    status = http.HTTPStatus(int(segment[len("refuse-"):]))
                except ValueError:
                    status = http.HTTPStatus.BAD_REQUEST
                return status, [("Content-Type", "text/plain")], b"refused %d\n" % status.value
            if segment == "http":
                return http.HTTPStatus.OK, [("Content-Type", "text/plain")], b"plain http\n"
            return None

    async def handler(ws):
        rec = ws.record
        rec["upgraded"] = True
        try:
            async for message in ws:
                kind = "text" if isinstance(message, str) else "binary"
                data = message.encode() if kind == "text" else message
                rec["message_count"] += 1
                if len(rec["messages"]) < MAX_RECORDED_MESSAGES:
                    rec["messages"].append([kind, len(data), hashlib.sha256(data).hexdigest()])
                if kind == "text" and message == "headers?":
                    await ws.send(json.dumps({"path": rec["path"], "headers": rec["headers"]}))
                elif kind == "text" and message.startswith("close:"):
                    parts = message.split(":", 2)
                    code = int(parts[1])
                    reason = parts[2] if len(parts) > 2 else "backend"
                    await ws.close(code, reason)
                    break
                elif kind == "text" and message.startswith("tick:"):
                    _, count, ms = message.split(":")
                    for i in range(int(count)):
                        await asyncio.sleep(int(ms) / 1000.0)
                        await ws.send("tick %d" % i)
                else:
                    await ws.send(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            await ws.wait_closed()
            rec["close_code"] = ws.close_code
            rec["close_reason"] = ws.close_reason
            rec["closed"] = True

    async def serve():
        stop = asyncio.get_running_loop().create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
        async with websockets.serve(handler, "127.0.0.1", port, create_protocol=Protocol,
                                    compression=None, ping_interval=None, max_size=None,
                                    close_timeout=2) as server:
            print("READY %d" % server.sockets[0].getsockname()[1], flush=True)
            await stop

    asyncio.run(serve())
    return 0


# --- raw mode --------------------------------------------------------------------------------

class RawHandler(socketserver.BaseRequestHandler):
    def setup(self):
        self.rec = {"id": 0, "requests": [], "received": "", "before_101": "", "switched": False}
        self.buf = b""

    def recv_some(self, timeout=None):
        self.request.settimeout(timeout)
        try:
            data = self.request.recv(65536)
        except socket.timeout:
            return None
        finally:
            self.request.settimeout(None)
        if data:
            with self.server.lock:
                self.rec["received"] += data.decode("latin-1")
        return data

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD_BYTES:
                return None
            data = self.recv_some()
            if not data:
                return None
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head.decode("latin-1")

    def handle(self):
        try:
            self.serve()
        except OSError:
            pass

    def serve(self):
        registered = False
        while True:
            head = self.read_head()
            if head is None:
                return
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            target = parts[1] if len(parts) > 1 else ""
            if target == "/log":
                body = self.server.snapshot()
                self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                                     % len(body) + body)
                return
            if not registered:
                self.server.register(self.rec)
                registered = True
            with self.server.lock:
                self.rec["requests"].append(lines[0])
            headers = {}
            for l in lines[1:]:
                name, _, value = l.partition(":")
                headers[name.strip().lower()] = value.strip()
            if last_segment(target) == "switch":
                self.switch(target, headers)
                return
            body = b"not switching\n"
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def switch(self, target, headers):
        ms = 300
        if "?" in target:
            for pair in target.split("?", 1)[1].split("&"):
                k, _, v = pair.partition("=")
                if k == "ms" and v.isdigit():
                    ms = int(v)
        before = self.buf
        deadline = time.monotonic() + ms / 1000.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            data = self.recv_some(left)
            if data is None:
                break
            if not data:
                return
            before += data
        with self.server.lock:
            self.rec["before_101"] = before.decode("latin-1")
            self.rec["switched"] = True
        key = headers.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.request.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                              % accept).encode())
        if before:
            self.request.sendall(before)  # what came early is echoed after the 101
        while True:
            data = self.recv_some()
            if not data:
                return
            self.request.sendall(data)


class RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, addr):
        self.lock = threading.Lock()
        self.records = []
        super().__init__(addr, RawHandler)

    def register(self, rec):
        with self.lock:
            rec["id"] = len(self.records) + 1
            self.records.append(rec)

    def snapshot(self):
        with self.lock:
            return json.dumps(self.records).encode()


def raw_main(port):
    server = RawServer(("127.0.0.1", port))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    return upstream_server.serve_until_stopped(server)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--raw", action="store_true", help="raw-socket mode (see the docstring)")
    args = ap.parse_args()
    return raw_main(args.port) if args.raw else websocket_main(args.port)


if __name__ == "__main__":
    sys.exit(main())
