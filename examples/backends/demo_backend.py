#!/usr/bin/env python3
"""A tiny demo service for Portico's quickstart: users, orders or products, as JSON.

    demo_backend.py users --port 8081
    demo_backend.py orders --port 8082
    demo_backend.py products --port 8083

Standard library only; HTTP/1.1 keep-alive; binds 127.0.0.1.
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DATA = {
    "users": [
        {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"},
        {"id": 2, "name": "Alan Turing", "email": "alan@example.com"},
        {"id": 3, "name": "Grace Hopper", "email": "grace@example.com"},
    ],
    "orders": [
        {"id": 101, "user_id": 1, "product_id": 11, "quantity": 2, "status": "shipped"},
        {"id": 102, "user_id": 1, "product_id": 12, "quantity": 1, "status": "pending"},
        {"id": 103, "user_id": 2, "product_id": 13, "quantity": 5, "status": "delivered"},
    ],
    "products": [
        {"id": 11, "name": "Analytical Engine", "price": 1843.0},
        {"id": 12, "name": "Bombe", "price": 1940.0},
        {"id": 13, "name": "Harvard Mark I", "price": 1944.0},
    ],
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "portico-demo/1"
    # Head and body leave in one send: the writer buffers both until the request is answered
    # (BaseHTTPRequestHandler flushes after each request), and TCP_NODELAY keeps the kernel
    # from holding that send back. Without these, a reused keep-alive connection waits ~40 ms
    # per answer on Nagle's algorithm and the client's delayed ACK.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        sys.stderr.write("[%s] %s\n" % (self.server.service, fmt % args))

    def reply(self, status, obj):
        body = (json.dumps(obj, indent=2) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Service", self.server.service)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        service = self.server.service
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        if parts == ["health"]:
            return self.reply(200, {"status": "ok", "service": service})
        if not parts or parts[0] != service:
            return self.reply(404, {"error": "not found", "service": service, "path": url.path})
        items = DATA[service]
        if len(parts) == 1:
            if service == "orders" and "user_id" in query:
                uid = query["user_id"][0]
                items = [o for o in items if str(o["user_id"]) == uid]
            return self.reply(200, {service: items, "seen_headers": self.interesting_headers()})
        if len(parts) == 2:
            for item in items:
                if str(item["id"]) == parts[1]:
                    return self.reply(200, item)
            return self.reply(404, {"error": "%s %s not found" % (service[:-1], parts[1])})
        return self.reply(404, {"error": "not found", "path": url.path})

    do_HEAD = do_GET

    def do_POST(self):
        body = self.read_body()
        try:
            obj = json.loads(body or b"{}")
        except ValueError:
            return self.reply(400, {"error": "body is not JSON"})
        return self.reply(201, {"created": obj, "service": self.server.service})

    def interesting_headers(self):
        names = ("X-Gateway", "X-Correlation-ID", "X-Forwarded-For", "X-Forwarded-Host",
                 "X-Forwarded-Proto", "Forwarded")
        return {n: self.headers[n] for n in names if self.headers.get(n)}


def main():
    ap = argparse.ArgumentParser(description="Portico quickstart demo service")
    ap.add_argument("service", choices=sorted(DATA))
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.service = args.service
    sys.stderr.write("%s service on http://%s:%d\n" % (args.service, args.host, server.server_address[1]))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
