#!/usr/bin/env python3
"""An upstream for the cache tests: every answer says how many times its target was asked for,
and the query string chooses the answer's status, headers and body.

    cache_backend.py --port 0          # prints "READY <port>" once listening

Any path: 200 (or `status`), body JSON {"n": <requests for this target so far>, "path",
"query", "headers"} (or `size` bytes of 'x', or `body` as given), and these query parameters:
    status=N  cc=<Cache-Control>  vary=<Vary>  etag=<ETag>  lm=<Last-Modified>
    cookie=1 (Set-Cookie)  ms=N (wait first)  size=N  ct=<Content-Type>  age=N
    chunked=1 (the body in chunks of 64 KiB, no Content-Length)
/control  POST JSON {"fail": N | null, "ms": N}: every other path answers status N (when set)
          after waiting ms
/stats    JSON {"targets": {target: count}, "total": N}: requests received, by target
"""

import argparse
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
counts = {}
control = {"fail": None, "ms": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=(), chunked=False):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for at in range(0, len(body), 65536):
                part = body[at:at + 65536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            if status not in (204, 304):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and status not in (204, 304):
                self.wfile.write(body)
        self.wfile.flush()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if self.path == "/control":
            with lock:
                control.update(json.loads(data or b"{}"))
                state = dict(control)
            self.send(200, json.dumps(state).encode(), [("Content-Type", "application/json")])
            return
        self.do_GET()

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        # A GET may carry a body (the smuggling tests send one): it is read, never taken for
        # the next request.
        if self.command != "POST" and self.headers.get("Content-Length"):
            self.rfile.read(int(self.headers["Content-Length"]))
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/stats":
            with lock:
                body = json.dumps({"targets": counts, "total": sum(counts.values())}).encode()
            self.send(200, body, [("Content-Type", "application/json")])
            return
        with lock:
            counts[self.path] = counts.get(self.path, 0) + 1
            n = counts[self.path]
            fail, ms = control["fail"], control["ms"]
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        wait = int(q.get("ms", 0)) + int(ms or 0)
        if wait:
            time.sleep(wait / 1000.0)
        if fail:
            self.send(int(fail), json.dumps({"failed": True}).encode(),
                      [("Content-Type", "application/json")])
            return
        status = int(q.get("status", 200))
        headers = [("Content-Type", q.get("ct", "application/json"))]
        for key, name in (("cc", "Cache-Control"), ("vary", "Vary"), ("etag", "ETag"),
                          ("lm", "Last-Modified"), ("age", "Age")):
            if key in q:
                headers.append((name, q[key]))
        if q.get("cookie"):
            headers.append(("Set-Cookie", "session=1"))
        if "size" in q:
            body = b"x" * int(q["size"])
        elif "body" in q:
            body = q["body"].encode()
        else:
            body = json.dumps({"n": n, "path": url.path, "query": url.query,
                               "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send(status, body, headers, chunked=bool(q.get("chunked")))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("READY %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
