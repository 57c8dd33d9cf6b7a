#!/usr/bin/env python3
"""A raw asyncio WebSocket echo backend and a ping-pong load client, for bench/bench.py.

    ws_echo.py server --port P
        Listens on 127.0.0.1:P. An `Upgrade: websocket` request is switched (101, RFC 6455
        accept key) and every data frame is echoed back unmasked with its opcode and FIN bit;
        ping gets pong, close gets close. Any other request gets `200 ok\\n` (keep-alive).
    ws_echo.py client --port P [--conns 16] [--size 64] [--seconds 10] [--max-messages N]
        Opens --conns WebSocket connections to 127.0.0.1:P (path /ws), then on each one sends a
        --size byte binary message and waits for its echo, again and again, until --seconds have
        passed or --max-messages echoes were counted (all connections together). Every echo is
        compared byte for byte with what was sent. Prints one JSON line:
        {"messages": n, "seconds": s, "errors": e, "conns": k, "per_conn": [...]}

Hand-written frames instead of the websockets library: the library costs several times more
CPU per message than the proxy under test, and client and backend share the machine's two
cores with it. bench.py checks each row once with the websockets library before timing it.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def unmask(payload, mask):
    n = len(payload)
    if not n:
        return payload
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")


def frame(opcode, payload, fin=True, mask=None):
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask is None:
        return head + payload
    return head + mask + unmask(payload, mask)


# --- the echo backend ----------------------------------------------------------------------------

class EchoServer(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
        self.buf = b""
        self.ws = False
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.buf += data
        if not self.ws:
            self.http()
        if self.ws:
            self.frames()

    def http(self):
        while not self.ws:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            self.buf = rest
            lines = head.split(b"\r\n")
            fields = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                fields[name.strip().lower()] = value.strip()
            if fields.get(b"upgrade", b"").lower() == b"websocket" and b"sec-websocket-key" in fields:
                self.t.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                             accept_key(fields[b"sec-websocket-key"]) + b"\r\n\r\n")
                self.ws = True
            else:
                self.t.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n")

    def frames(self):
        buf = self.buf
        out = []
        pos = 0
        while True:
            if len(buf) - pos < 2:
                break
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            i = pos + 2
            if n == 126:
                if len(buf) - i < 2:
                    break
                n = struct.unpack_from("!H", buf, i)[0]
                i += 2
            elif n == 127:
                if len(buf) - i < 8:
                    break
                n = struct.unpack_from("!Q", buf, i)[0]
                i += 8
            mask = None
            if b1 & 0x80:
                if len(buf) - i < 4:
                    break
                mask = buf[i:i + 4]
                i += 4
            if len(buf) - i < n:
                break
            payload = buf[i:i + n]
            if mask is not None:
                payload = unmask(payload, mask)
            pos = i + n
            opcode = b0 & 0x0F
            if opcode == 0x8:  # close: answer with the same code, then close
                out.append(frame(0x8, payload[:2]))
                self.t.write(b"".join(out))
                self.t.close()
                self.buf = b""
                return
            if opcode == 0x9:  # ping
                out.append(frame(0xA, payload))
            elif opcode == 0xA:  # pong
                pass
            else:  # text, binary, continuation: the same frame back, unmasked
                out.append(frame(opcode, payload, fin=bool(b0 & 0x80)))
        self.buf = buf[pos:]
        if out:
            self.t.write(b"".join(out) if len(out) > 1 else out[0])


async def serve(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoServer, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


# --- the ping-pong client ------------------------------------------------------------------------

class Shared:
    def __init__(self, deadline, max_messages):
        self.deadline = deadline
        self.max_messages = max_messages
        self.total = 0
        self.errors = 0


class PingPong(asyncio.Protocol):
    def __init__(self, host, port, size, shared):
        self.host, self.port = host, port
        self.shared = shared
        self.payload = os.urandom(size)
        self.request = frame(0x2, self.payload, mask=os.urandom(4))
        self.expected = frame(0x2, self.payload)
        self.key = base64.b64encode(os.urandom(16))
        self.buf = b""
        self.ws = False
        self.count = 0
        self.running = False
        self.opened = asyncio.get_running_loop().create_future()
        self.finished = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.t = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(b"GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                        % (self.host.encode(), self.port, self.key))

    def start(self):
        self.running = True
        self.t.write(self.request)

    def stop(self, error=False):
        if error:
            self.shared.errors += 1
        self.running = False
        if not self.finished.done():
            self.finished.set_result(self.count)

    def data_received(self, data):
        self.buf += data
        if not self.ws:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            self.buf = rest
            ok = head.startswith(b"HTTP/1.1 101") and accept_key(self.key) in head
            if not self.opened.done():
                if ok:
                    self.ws = True
                    self.opened.set_result(True)
                else:
                    self.opened.set_exception(RuntimeError("upgrade refused: %r" % head[:200]))
            return
        if not self.running:
            return
        if len(self.buf) < len(self.expected):
            return
        if self.buf != self.expected:
            self.stop(error=True)
            return
        self.buf = b""
        self.count += 1
        s = self.shared
        s.total += 1
        if s.total >= s.max_messages or time.monotonic() >= s.deadline:
            self.stop()
            return
        self.t.write(self.request)

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_exception(RuntimeError("closed before the upgrade: %s" % exc))
        if self.running:
            self.stop(error=True)
        elif not self.finished.done():
            self.finished.set_result(self.count)


async def load(args):
    loop = asyncio.get_running_loop()
    shared = Shared(float("inf"), args.max_messages)
    conns = []
    for _ in range(args.conns):
        _, p = await loop.create_connection(
            lambda: PingPong("127.0.0.1", args.port, args.size, shared), "127.0.0.1", args.port)
        conns.append(p)
    await asyncio.wait_for(asyncio.gather(*(p.opened for p in conns)), 10)
    start = time.monotonic()
    shared.deadline = start + args.seconds
    for p in conns:
        p.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(p.finished for p in conns)), args.seconds + 10)
    except asyncio.TimeoutError:
        for p in conns:
            p.stop(error=True)  # an echo that never came back
    elapsed = time.monotonic() - start
    close = frame(0x8, struct.pack("!H", 1000), mask=os.urandom(4))
    for p in conns:
        p.t.write(close)
        p.t.close()
    return {"messages": shared.total, "seconds": elapsed, "errors": shared.errors,
            "conns": args.conns, "size": args.size, "per_conn": [p.count for p in conns]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, required=True)
    c = sub.add_parser("client")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--conns", type=int, default=16)
    c.add_argument("--size", type=int, default=64)
    c.add_argument("--seconds", type=float, default=10)
    c.add_argument("--max-messages", type=int, default=10_000_000)
    args = ap.parse_args()
    if args.mode == "server":
        try:
            asyncio.run(serve(args.port))
        except KeyboardInterrupt:
            pass
        return 0
    print(json.dumps(asyncio.run(load(args))), flush=True)
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    sys.exit(main())
