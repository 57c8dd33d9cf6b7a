#!/usr/bin/env python3
"""Services for the aggregation tests: users, their orders, profiles, teams and leads, plus
answers that are slow, failing, plain text, large or never finished. Every request is logged
(path, query, headers, when it arrived) so a test can see what each call carried.

    aggregate_backend.py --port 0        # prints "READY <port>" once listening

    /users/{id}            {"id": id, "name": "user-{id}", "team": "t{id}"}  ("missing": 404,
                           "dotdot": team "..")
    /orders?user_id=X      [{"id": 1, "user_id": X}, {"id": 2, "user_id": X}]
    /profiles/{id}         {"bio": ..., "avatar": ..., "private": ...}
    /teams/{team}          {"team": team, "lead": "lead-of-{team}"}
    /leads/{name}          {"lead": name, "phone": "555"}
    /text                  text/plain "plain words"
    /latin1                text/plain in ISO-8859-1 (not UTF-8)
    /private/{x}           JSON with Cache-Control: private
    /slow/{ms}/{name}      waits ms, then {"name": name}
    /status/{code}?ms=N    that status, JSON {"status": code}, after N ms
    /big/{n}               a JSON string of n bytes
    /flaky/{key}           503 on the first request for key, then 200 {"key": key}
    /hang/{tag}            answers nothing; notes when the client closed the connection
    /log                   JSON [{path, query, headers, at}] of every request above
    /closed                JSON {tag: seconds since the epoch when the client closed}
    /reset                 clears the log, /closed and /flaky
"""

import argparse
import json
import select
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
log = []
closed = {}
flaky = {}


def number_or_text(text):
    return int(text) if text.isdigit() else text


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, content_type="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def wait_for_close(self, tag, limit=30.0):
        deadline = time.time() + limit
        sock = self.connection
        while time.time() < deadline:
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                try:
                    data = sock.recv(1)
                except OSError:
                    data = b""
                if not data:
                    with lock:
                        closed[tag] = time.time()
                    self.close_connection = True
                    return

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        head = parts[0] if parts else ""
        if head in ("log", "closed", "reset"):
            with lock:
                if head == "reset":
                    log.clear()
                    closed.clear()
                    flaky.clear()
                self.send(200, {"log": log, "closed": closed, "reset": {}}[head])
            return
        with lock:
            log.append({"path": url.path, "query": url.query, "at": time.time(),
                        "headers": {k.lower(): v for k, v in self.headers.items()}})
        arg = urllib.parse.unquote(parts[1]) if len(parts) > 1 else ""
        if head == "users":
            if arg == "missing":
                self.send(404, {"error": "no such user"})
            elif arg == "dotdot":
                self.send(200, {"id": arg, "name": "user-dotdot", "team": ".."})
            else:
                self.send(200, {"id": number_or_text(arg), "name": "user-" + arg,
                                "team": "t" + arg})
        elif head == "orders":
            user = q.get("user_id", "")
            self.send(200, [{"id": 1, "user_id": number_or_text(user)},
                            {"id": 2, "user_id": number_or_text(user)}])
        elif head == "profiles":
            self.send(200, {"bio": "bio of " + arg, "avatar": "/img/%s.png" % arg,
                            "private": "not for the dashboard"})
        elif head == "teams":
            self.send(200, {"team": arg, "lead": "lead-of-" + arg})
        elif head == "leads":
            self.send(200, {"lead": arg, "phone": "555"})
        elif head == "text":
            self.send(200, b"plain words", "text/plain")
        elif head == "latin1":
            self.send(200, b"caf\xe9", "text/plain; charset=iso-8859-1")
        elif head == "private":
            body = json.dumps({"secret": arg}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "private, max-age=60")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif head == "slow":
            time.sleep(int(arg) / 1000.0)
            self.send(200, {"name": parts[2] if len(parts) > 2 else ""})
        elif head == "status":
            time.sleep(int(q.get("ms", 0)) / 1000.0)
            self.send(int(arg), {"status": int(arg)})
        elif head == "big":
            n = int(arg)
            self.send(200, b'"' + b"x" * max(0, n - 2) + b'"')
        elif head == "flaky":
            with lock:
                seen = flaky.get(arg, 0)
                flaky[arg] = seen + 1
            if seen == 0:
                self.send(503, {"flaky": arg})
            else:
                self.send(200, {"key": arg})
        elif head == "hang":
            self.wait_for_close(arg)
        else:
            self.send(404, {"error": "unknown path"})


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
