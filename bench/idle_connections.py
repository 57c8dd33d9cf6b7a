#!/usr/bin/env python3
"""Opens N keep-alive connections to 127.0.0.1:PORT, makes one request on each, holds them idle,
and prints the RSS of process PID while they are open:  OPEN <n> RSS_KIB <kib>

    idle_connections.py --port 8080 --count 10000 --pid 1234 [--hold 3]
"""

import argparse
import resource
import selectors
import socket
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_batch(port, n, timeout=30):
    """Connects n sockets, sends one request on each, waits for each response's head+body."""
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_WRITE, b"")
        socks.append(s)
    pending = len(socks)
    deadline = time.monotonic() + timeout
    done = []
    while pending and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=1):
            s = key.fileobj
            if ev & selectors.EVENT_WRITE:
                try:
                    s.send(REQUEST)
                except OSError:
                    sel.unregister(s)
                    s.close()
                    pending -= 1
                    continue
                sel.modify(s, selectors.EVENT_READ, b"")
                continue
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                pending -= 1
                continue
            buf = key.data + data
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(body) >= length:
                    sel.unregister(s)
                    done.append(s)
                    pending -= 1
                    continue
            sel.modify(s, selectors.EVENT_READ, buf)
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    sel.close()
    return done


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--hold", type=float, default=3.0)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.count + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY else want, hard))
    held = []
    try:
        while len(held) < args.count:
            batch = open_batch(args.port, min(args.batch, args.count - len(held)))
            if not batch:
                break
            held.extend(batch)
        time.sleep(args.hold)
        alive = len(held)
        print("OPEN %d RSS_KIB %d" % (alive, rss_kib(args.pid)), flush=True)
    finally:
        for s in held:
            s.close()
    return 0 if len(held) == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
