#!/usr/bin/env python3
"""Load benchmark: Portico against nginx and haproxy as proxies, per shared/design/benchmarking.md.

One backend (nginx, 1 worker, `return 200 "ok\\n"`, listening on 4 ports); each proxy with one
worker in front of it; wrk -t1 at each concurrency, a warm-up first, peers interleaved, several
rounds, medians. Reports requests/s, p50/p99 latency, requests per CPU-second of the proxy
process, RSS, and RSS with many idle keep-alive client connections. Writes bench/RESULTS.md.

Besides the plain proxy rows, Portico runs with features on, each in its own process with the
plain row's shape, and is compared with the plain `portico` row of the same run:
  portico+log         access log on (JSON to a file)
  portico+resilience  an upstream of 4 targets (4 ports of the backend) with least_connections,
                      circuit breaker, retries and outlier detection (issue 3: within 5%)
  portico+jwt-hs256   `auth:` a JWT provider with an HMAC secret, one valid HS256 token (issue 4:
                      within 10%)
  portico+jwt-rs256   the same with an RSA 2048 public key (openssl) and an RS256 token
  portico+rate-limit  a per-client-IP rate limit (memory store) that never refuses at these rates
                      (issue 9: within 3%)
  portico+rate-limit-redis  the same policy with `store: redis` (a redis-server on the same cores)
  portico+post, portico+validate  wrk POSTs a 2 KiB JSON order; +validate checks it against a
                      JSON Schema (issue 9: compared with portico+post)
  portico+respond     a route that answers itself (`respond: {status: 200, body: "ok\\n"}`)
  portico+cache-hit   `cache: {ttl: 60s}` in front of the backend, every request a HIT (issue 10:
                      >= 2x the plain row; also reported against portico+respond)
  nginx+json10k, portico+json10k  the plain proxies fetching /json10k, a ~10 KiB JSON body
  nginx+gzip, portico+gzip, portico+br, portico+zstd  the same body compressed (wrk sends
                      Accept-Encoding; issue 10: portico+gzip >= 1x nginx+gzip per CPU-s)
  portico+cache-hit-10k, portico+cache-gzip-hit  cached hits of /json10k, plain and gzip-compressed
                      (the entry holds the compressed answer)
  portico+aggregate   a three-call aggregate over the backend's small JSON answers (issue 11:
                      3x its req/s and req/CPU-s >= 0.9x the plain row's: fan-out costs no more
                      than the calls it makes)
  gin-dashboard       the seed's own gin "user dashboard" handler (bench/gin_dashboard, built with
                      Debian's golang-go and golang-github-gin-gonic-gin-dev) on the same answers
  portico@REV         with --baseline REV (or BENCH_BASELINE): git revision REV built in the
                      worktree /tmp/portico-baseline-REV, the same config as `portico`
Rows of other kinds, compared with their own peer:
  nginx+tls-listener, portico+tls-listener    TLS 1.3 terminated on the listener (ECDSA P-256
                      certificate made with openssl), wrk over https with keep-alive
  nginx+tls-handshake, portico+tls-handshake  the same processes, wrk -H "Connection: close" with
                      bench/wrk_no_resume.c preloaded: a full handshake per request (connections/s)
  ws-direct, portico+ws  bench/ws_echo.py: 16 WebSocket connections ping-ponging 64-byte messages,
                      to the echo backend alone and through Portico (msgs/s, CPU per message)
Before every timed run the row's request is sent once: it must answer 200 with the backend's body
(decoded, with the Content-Encoding asked for, for the compression rows; after a cache purge a
MISS then `X-Cache: HIT` for the cache-hit rows, whose hits are also counted on /metrics during
the run; for the JWT rows, 401 without the token and with a forged signature; for the TLS rows over
TLS 1.3 with the certificate verified; for the handshake rows with `Connection: close` answered and,
once, no session resumed by wrk; for the WebSocket rows one echo through the websockets library),
else the row is aborted, reported, and the run exits non-zero. Then build/src/filters/jwt_auth/portico_jwt_bench
(Google Benchmark), when built, gives verifications per second per algorithm.

Everything binds 127.0.0.1; every process started here is stopped by its PID.
Run through bench/run.sh (it raises the open-file limit and checks the tools).
"""

import argparse
import base64
import copy
import datetime
import hashlib
import hmac
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
import portico_testing as pt  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
LOAD_AT_START = os.getloadavg()
# HEAD when the run started (the report is written at the end, when it may have moved on).
HEAD_AT_START = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                               capture_output=True, text=True).stdout.strip() or "?"
NOTES_MARKER = "<!-- Notes below this line are written by hand; bench.py keeps them when it rewrites the tables. -->"
UPSTREAM_POOL = 256  # nginx `keepalive` / the size every proxy may keep toward the backend
BACKEND_PORTS = 4  # the backend listens on this many ports: the targets of portico+resilience
BACKEND_TLS_NAME = "backend.bench"  # the name in its certificate, sent as SNI and checked
LISTENER_TLS_NAME = "listener.bench"  # the name in the proxies' listener certificate (and IP 127.0.0.1)
WS_CONNS, WS_SIZE, WS_MAX_MESSAGES = 16, 64, 10_000_000  # WebSocket rows: connections, message bytes, cap
IDLE_TARGET_MIB = 40  # Portico's RSS with 10,000 idle keep-alive connections must stay under this

# The rows that run Portico with a feature on, and the requirement on each against the plain
# `portico` row of the same run (minimum ratio of req/s and of req per CPU-s).
FEATURE_TARGETS = {"portico+resilience": 0.95, "portico+jwt-hs256": 0.90, "portico+jwt-rs256": 0.90,
                   "portico+rate-limit": 0.97}
# A per-client-IP policy that never refuses at these rates: the cost of deciding, not of 429s.
RATE_LIMIT_POLICY = "    per-ip: {key: client_ip, rate: 100000000/s, burst: 100000000}\n"
RATE_LIMIT_ROUTE = "    rate_limit: [per-ip]\n"
# portico+post / portico+validate: a 2 KiB order, and the schema it is valid under.
ORDER_SCHEMA = """{
  "type": "object", "required": ["id", "customer", "items"], "additionalProperties": false,
  "properties": {
    "id": {"type": "string", "pattern": "^ord-[0-9]+$"},
    "customer": {"type": "object", "required": ["name", "email"],
                 "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100},
                                "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"}}},
    "items": {"type": "array", "items": {"$ref": "#/definitions/item"}},
    "note": {"type": "string", "maxLength": 500}
  },
  "definitions": {"item": {"type": "object", "required": ["sku", "qty"],
                           "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
                                          "qty": {"type": "integer", "minimum": 1, "maximum": 100},
                                          "gift": {"type": "boolean"}}}}
}
"""


# The aggregate rows (issue 11): a dashboard of three calls to small JSON answers the backend
# serves itself, through Portico's `aggregate` and through the seed's gin handler.
AGG_PATH = "/dashboard/1"
AGG_ANSWERS = {"/agg/users/1": '{"id":1,"name":"ann"}',
               "/agg/orders": '[{"id":1,"user_id":1},{"id":2,"user_id":1}]',
               "/agg/profiles/1": '{"bio":"hi"}'}
AGG_ACTION = """    aggregate:
      calls:
        user: {upstream: backend, path: /agg/users/1}
        orders: {upstream: backend, path: "/agg/orders?user_id=1"}
        profile: {upstream: backend, path: /agg/profiles/1}
"""
AGG_EXPECT = ('{"user":%s,"orders":%s,"profile":%s}' % tuple(AGG_ANSWERS.values())).encode()
# Upstream calls one request of the row makes: its figures are scaled by this against a row
# making one (the aggregate's req/s x 3 against the plain proxy's).
CALLS_PER_REQUEST = {"portico+aggregate": 3, "gin-dashboard": 3}
GIN_SOURCE = Path(__file__).resolve().parent / "gin_dashboard" / "main.go"


def calls_factor(peer, other):
    return CALLS_PER_REQUEST.get(peer, 1) / CALLS_PER_REQUEST.get(other, 1)


def build_gin_dashboard():
    """bench/gin_dashboard built with Debian's Go and gin (GOPATH mode, /usr/share/gocode), kept
    in /tmp by the source's hash; RuntimeError when Go or gin is missing."""
    digest = hashlib.sha256(GIN_SOURCE.read_bytes()).hexdigest()[:12]
    out = Path("/tmp/portico-gin-dashboard-%s" % digest)
    if out.exists():
        return out
    if not shutil.which("go") or not Path("/usr/share/gocode/src/github.com/gin-gonic/gin").is_dir():
        raise RuntimeError("Go or gin is missing (scripts/install-deps.sh --bench installs golang-go "
                           "and golang-github-gin-gonic-gin-dev)")
    work = Path(tempfile.mkdtemp(prefix="gin-dashboard-"))
    (work / "src" / "dashboard").mkdir(parents=True)
    shutil.copy(GIN_SOURCE, work / "src" / "dashboard" / "main.go")
    env = dict(os.environ, GO111MODULE="off", GOPATH="%s:/usr/share/gocode" % work,
               GOCACHE=str(work / "cache"), GOFLAGS="")
    p = subprocess.run(["go", "build", "-o", str(out), "dashboard"], cwd=work, env=env,
                       capture_output=True, text=True, timeout=600)
    shutil.rmtree(work, ignore_errors=True)
    if p.returncode != 0:
        raise RuntimeError("go build of bench/gin_dashboard failed: %s" % p.stderr[-500:])
    return out


def order_body():
    items = []
    k = 0
    while True:
        items.append({"sku": "ABC-%04d" % k, "qty": 1 + k % 9, "gift": k % 2 == 0})
        body = json.dumps({"id": "ord-42", "customer": {"name": "Ada", "email": "ada@example.com"},
                           "items": items, "note": "leave at the door"}).encode()
        if len(body) >= 2048:
            return body
        k += 1


def post_row(p, tmp):
    p.body = order_body()
    script = Path(tmp) / "post-order.lua"
    body_file = Path(tmp) / "order.json"
    body_file.write_bytes(p.body)
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      'local f = io.open("%s", "rb")\nwrk.body = f:read("*a")\nf:close()\n' % body_file)
    p.wrk_script = script
    return p
# The cache and compression rows (issue 10). The backend serves JSON10K_PATH: a ~10 KiB JSON
# product page (json10k(), made once per run and written to a file the backend aliases).
JSON10K_PATH = "/json10k"
CACHE_ROUTE = "    cache: {ttl: 60s}\n"
# Every request of a cache-hit row after the first is a HIT (X-Cache checked before each run).
CACHE_PEERS = ("portico+cache-hit", "portico+cache-hit-10k", "portico+cache-gzip-hit")
# Rows with a bar against a peer of their own (not the plain proxy): peer -> [(other, minimum
# ratio, the figures the bar is on)], and rows only reported against one: peer -> [other].
PEER_TARGETS = {"portico+cache-hit": [("portico", 2.0, ("rps", "req_per_cpu_s"))],
                "portico+h2c": [("haproxy+h2c", 1.0, ("rps", "req_per_cpu_s")),
                                ("nginx+h2c", 1.0, ("rps", "req_per_cpu_s"))],
                "portico+aggregate": [("portico", 0.9, ("rps", "req_per_cpu_s"))],
                "portico+gzip": [("nginx+gzip", 1.0, ("req_per_cpu_s",))]}
PEER_REPORTS = {"portico+cache-hit": ["portico+respond"], "portico+aggregate": ["gin-dashboard"],
                "gin-dashboard": ["portico"], "portico+br": ["nginx+gzip", "portico+gzip"],
                "portico+zstd": ["nginx+gzip", "portico+gzip"], "portico+gzip": ["portico+json10k"],
                "portico+cache-gzip-hit": ["portico+cache-hit-10k", "portico+gzip"],
                "portico+cache-hit-10k": ["portico+json10k"], "nginx+gzip": ["nginx+json10k"],
                "portico+h2-tls": ["haproxy+h2-tls", "nginx+h2-tls"],
                "portico+h2c-1conn": ["haproxy+h2c-1conn"], "haproxy+h2c": ["haproxy"], "nginx+h2c": ["nginx"]}


def json10k(size=10240):
    """A JSON product listing of a little over `size` bytes (deterministic: the same every run):
    ids, SKUs, names, prices, tags, dates, as an API answers them (compact, one line)."""
    import random
    rnd = random.Random(10240)
    words = ("alpine trail running shoe waterproof lightweight breathable mesh cushioned grip durable "
             "classic leather boot winter insulated wool sock merino jacket rain shell hiking pack "
             "daypack bottle steel vacuum lamp rechargeable tent ultralight ground sheet stove").split()
    items = []
    while True:
        items.append({
            "id": 100000 + len(items) * 7 + rnd.randrange(7),
            "sku": "%s-%04d" % (rnd.choice(["FTW", "APP", "CMP", "ACC", "LGT"]), rnd.randrange(10000)),
            "name": " ".join(rnd.choice(words).capitalize() for _ in range(3)),
            "category": rnd.choice(["footwear", "apparel", "camping", "accessories", "lighting"]),
            "price": {"amount": round(rnd.uniform(5, 400), 2), "currency": "EUR"},
            "in_stock": rnd.random() < 0.8, "stock": rnd.randrange(0, 500),
            "rating": round(rnd.uniform(1, 5), 1), "reviews": rnd.randrange(0, 3000),
            "tags": rnd.sample(words, 3),
            "updated_at": "2026-%02d-%02dT%02d:%02d:%02dZ" % (
                rnd.randrange(1, 13), rnd.randrange(1, 29), rnd.randrange(24), rnd.randrange(60),
                rnd.randrange(60))})
        body = json.dumps({"page": 1, "per_page": len(items), "total": 4812, "items": items},
                          separators=(",", ":")).encode() + b"\n"
        if len(body) >= size:
            return body


def decode_body(encoding, data):
    """`data` decoded from Content-Encoding `encoding` (gzip, br, zstd) with Python's modules."""
    if encoding == "gzip":
        import gzip
        return gzip.decompress(data)
    if encoding == "br":
        import brotli
        return brotli.decompress(data)
    if encoding == "zstd":
        import zstandard
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    raise ValueError("unknown Content-Encoding %r" % encoding)


def compression_config(encoding, level=None):
    """The top-level `compression:` of a row compressing with `encoding` only."""
    text = "compression:\n  encodings: [%s]\n" % encoding
    if level is not None:
        text += "  level: {%s: %d}\n" % (encoding, level)
    return text


RESILIENCE = """balance: least_connections
circuit_breaker: {consecutive_failures: 5, open_for: 30s, max_requests: 100000}
retries: {attempts: 1}
outlier_detection: {consecutive_failures: 5}"""


def free_port():
    return pt.free_port()


def fd_limit():
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_port(port, timeout=10):
    def ok():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False
    if not pt.wait_until(ok, timeout):
        raise RuntimeError("nothing listens on 127.0.0.1:%d" % port)


# --- the processes ---------------------------------------------------------------------------

NGINX_COMMON = """
daemon off;
master_process off;
worker_processes 1;
error_log {tmp}/{name}-error.log warn;
pid {tmp}/{name}.pid;
events {{ worker_connections {conns}; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path {tmp}/{name}-client-body;
  proxy_temp_path {tmp}/{name}-proxy;
  fastcgi_temp_path {tmp}/{name}-fastcgi;
  uwsgi_temp_path {tmp}/{name}-uwsgi;
  scgi_temp_path {tmp}/{name}-scgi;
{body}
}}
"""


class Proc:
    def __init__(self, name, argv, port, tmp, env=None):
        self.name = name
        self.port = port
        self.headers = {}  # sent with every request (wrk -H)
        self.token = None  # the JWT in `headers`, for the rows that need one
        self.tls_ca = None  # set: the listener speaks TLS 1.3 with a certificate this file verifies
        self.closes = False  # the row sends `Connection: close`: a new connection per request
        self.session_probe = None  # a path answering nginx's $ssl_session_reused (nginx TLS listener)
        self.wrk_preload = None  # LD_PRELOAD for wrk (the handshake rows: bench/wrk_no_resume.c)
        self.body = None  # bytes: wrk POSTs them as application/json (wrk_script), not GET
        self.wrk_script = None
        self.path = "/"  # what wrk requests
        self.expect = b"ok\n"  # the body the check wants (decoded, for a compressing row)
        self.encoding = None  # set: the answer must carry this Content-Encoding (wrk sends Accept-Encoding)
        self.cache_hit = False  # the answer must be a cache HIT (X-Cache), counted during the run too
        self.admin_port = None  # Portico's admin listener (/metrics, DELETE /admin/cache)
        self.h2 = None  # set: h2load drives the row over HTTP/2, {"streams": -m, "conns": -c or None}
        self.tmp = tmp
        self.log = open(Path(tmp) / ("%s.out" % name), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        try:
            wait_port(port)
        except RuntimeError:
            self.stop()
            raise RuntimeError("%s did not start; see %s" % (name, self.log.name))

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        pt.stop_pid(self.proc)
        self.log.close()


def start_nginx(name, tmp, port, body):
    conf = Path(tmp) / ("%s.conf" % name)
    conf.write_text(NGINX_COMMON.format(tmp=tmp, name=name, body=body, conns=max(1024, fd_limit() - 200)))
    return Proc(name, ["nginx", "-p", str(tmp), "-c", str(conf), "-e", "%s/%s-error.log" % (tmp, name)],
                port, tmp)


def start_backend(tmp):
    """The nginx backend; one worker listening on BACKEND_PORTS ports (`.ports`; `.port` is the first)."""
    ports = [free_port() for _ in range(BACKEND_PORTS)]
    while len(set(ports)) < len(ports):
        ports = [free_port() for _ in range(BACKEND_PORTS)]
    tls_port = free_port()
    while tls_port in ports:
        tls_port = free_port()
    cert, key = backend_certificate(tmp)
    # A file, since nginx's config parser refuses parameters over 4 KiB (`return 200 '<10 KiB>'`).
    json_file = Path(tmp) / "json10k.json"
    json_file.write_bytes(json10k())
    body = """  server {
%s
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    location / { return 200 "ok\\n"; }
    location = %s { default_type application/json; alias %s; }
%s
  }""" % ("\n".join("    listen 127.0.0.1:%d;" % p for p in ports), tls_port, cert, key, JSON10K_PATH,
         json_file, "\n".join("    location = %s { default_type application/json; return 200 '%s'; }"
                              % item for item in AGG_ANSWERS.items()))
    backend = start_nginx("backend", tmp, ports[0], body)
    for p in ports[1:] + [tls_port]:
        wait_port(p)
    backend.ports = ports
    backend.tls_port = tls_port  # the same answers over TLS: the target of the *+tls-upstream rows
    backend.json10k = json_file.read_bytes()  # what JSON10K_PATH answers
    return backend


def backend_certificate(tmp, stem="backend", name=BACKEND_TLS_NAME, san_ip=False):
    """A self-signed ECDSA P-256 certificate for `name`, made with openssl for the run."""
    cert, key = Path(tmp) / ("%s-cert.pem" % stem), Path(tmp) / ("%s-key.pem" % stem)
    san = "DNS:%s" % name + (",IP:127.0.0.1" if san_ip else "")
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=%s" % name,
             "-addext", "subjectAltName=%s" % san])
    return cert, key


def listener_certificate(tmp):
    """The certificate both proxies' TLS listeners present (made once per run)."""
    cert, key = Path(tmp) / "listener-cert.pem", Path(tmp) / "listener-key.pem"
    if not cert.exists():
        backend_certificate(tmp, "listener", LISTENER_TLS_NAME, san_ip=True)
    return cert, key


SESSION_PROBE = "/bench-session-reused"


def start_nginx_proxy(tmp, backend_port, tls_ca=None, name="nginx", listener_tls=False, server_extra="",
                      listen_extra=""):
    """nginx proxying to the backend; with `tls_ca`, over TLS verified against that CA; with
    `listener_tls`, its listener terminates TLS 1.3 (listener_certificate) and SESSION_PROBE
    answers $ssl_session_reused ("r" or ".")."""
    port = free_port()
    listen = "127.0.0.1:%d%s" % (port, listen_extra)
    probe = ""
    if listener_tls:
        cert, key = listener_certificate(tmp)
        listen += """ ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_protocols TLSv1.3""" % (cert, key)
        probe = """
    location = %s { return 200 "$ssl_session_reused\n"; }""" % SESSION_PROBE
    tls = ""
    if tls_ca:
        tls = """
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate %s;
      proxy_ssl_name %s;
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;""" % (tls_ca, BACKEND_TLS_NAME)
    body = """  upstream backend {
    server 127.0.0.1:%d;
    keepalive %d;
    keepalive_requests 1000000;
  }
  server {
    listen %s;%s%s
    location / {
      proxy_pass %s://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";%s
    }
  }""" % (backend_port, UPSTREAM_POOL, listen, probe, server_extra, "https" if tls_ca else "http", tls)
    p = start_nginx(name, tmp, port, body)
    if listener_tls:
        p.tls_ca = listener_certificate(tmp)[0]
        p.session_probe = SESSION_PROBE
    return p


def HAPROXY_MAXCONN():
    # haproxy needs about two descriptors per connection and refuses to start without them.
    return min(40000, (fd_limit() - 100) // 2)


def start_haproxy(tmp, backend_port, name="haproxy", bind_extra=""):
    port = free_port()
    conf = Path(tmp) / ("%s.cfg" % name)
    conf.write_text("""global
  nbthread 1
  maxconn %d
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
  http-reuse always
frontend fe
  bind 127.0.0.1:%d%s
  default_backend be
backend be
  server s1 127.0.0.1:%d
""" % (HAPROXY_MAXCONN(), port, bind_extra, backend_port))
    return Proc(name, ["haproxy", "-db", "-f", str(conf)], port, tmp)


# The HTTP/2 rows (issue 12): h2load -m H2_STREAMS over h2c (prior knowledge) or h2 over TLS with
# the listener certificate, at each -c of the run; the one-connection rows open one connection with
# H2_ONE_CONN_STREAMS streams. Upstreams stay HTTP/1.1 with the same keep-alive pool.
H2_STREAMS, H2_ONE_CONN_STREAMS = 10, 100
H2_PEERS = ("nginx+h2c", "haproxy+h2c", "portico+h2c", "nginx+h2-tls", "haproxy+h2-tls", "portico+h2-tls",
            "haproxy+h2c-1conn", "portico+h2c-1conn")


def h2_row(p, tls=False, one_connection=False):
    p.h2 = {"streams": H2_ONE_CONN_STREAMS if one_connection else H2_STREAMS,
            "conns": 1 if one_connection else None}
    if tls:
        p.tls_ca = listener_certificate(p.tmp)[0]
    return p


def start_haproxy_h2(tmp, backend_port, tls=False, name="haproxy-h2c"):
    if not tls:
        return start_haproxy(tmp, backend_port, name, " proto h2")
    cert, key = listener_certificate(tmp)
    bundle = Path(tmp) / "listener-bundle.pem"
    bundle.write_text(Path(cert).read_text() + Path(key).read_text())
    return start_haproxy(tmp, backend_port, name, " ssl crt %s alpn h2,http/1.1" % bundle)


def indent(text, by):
    return "\n".join(by + line for line in text.splitlines())


def start_portico(tmp, backend_ports, binary, access_log=False, name="portico", upstream_extra="",
                  auth=None, scheme="http", listener_tls=False, top_extra="", route_extra="",
                  action="    upstream: backend\n", max_connections=UPSTREAM_POOL):
    """Portico, `workers: 1`, one route `/` to upstream `backend` (targets: `backend_ports`, a port
    or a list), with extra upstream keys (YAML) and optionally `auth`: (provider name, provider
    YAML flow mapping) that the route uses. With `listener_tls` the listener terminates TLS 1.3
    (`server.tls`, listener_certificate). `action` replaces the route's `upstream: backend` (e.g.
    a `respond:`)."""
    if isinstance(backend_ports, int):
        backend_ports = [backend_ports]
    port = free_port()
    admin = free_port()
    conf = Path(tmp) / ("%s.yaml" % name)
    log = "%s/%s-access.log" % (tmp, name) if access_log else "off"
    targets = ", ".join("%s://127.0.0.1:%d" % (scheme, p) for p in backend_ports)
    text = """server:
  listen: [127.0.0.1:%d]
  workers: 1
  limits: {idle_timeout: 120s}
""" % port
    if listener_tls:
        cert, key = listener_certificate(tmp)
        text += """  tls:
    certificates: [{cert: %s, key: %s}]
    min_version: "1.3"
""" % (cert, key)
    text += """admin:
  listen: 127.0.0.1:%d
upstreams:
  backend:
    targets: [%s]
    max_connections: %d
""" % (admin, targets, max_connections)
    if upstream_extra:
        text += indent(upstream_extra, "    ") + "\n"
    if auth:
        text += "auth:\n  %s: %s\n" % auth
    text += top_extra
    text += """observability:
  access_log: {path: %s, format: json}
  log_level: warn
routes:
  - name: all
    match: {prefix: /}
""" % log
    text += action
    if auth:
        text += "    auth: %s\n" % auth[0]
    text += route_extra
    conf.write_text(text)
    p = Proc(name, [str(binary), "run", "-c", str(conf)], port, tmp)
    p.admin_port = admin
    if listener_tls:
        p.tls_ca = listener_certificate(tmp)[0]
    return p


def start_ws_backend(tmp):
    """bench/ws_echo.py server: the WebSocket echo backend (one asyncio process)."""
    port = free_port()
    return Proc("ws-backend", [sys.executable, str(HERE / "ws_echo.py"), "server", "--port", str(port)],
                port, tmp)


# --- the previous release, built from a worktree ----------------------------------------------

def git(*argv, check=True):
    p = subprocess.run(["git", "-C", str(ROOT)] + list(argv), capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("git %s failed: %s" % (" ".join(argv), p.stderr.strip()[-300:]))
    return p.stdout.strip()


def build_baseline(rev, log_path):
    """Builds git revision `rev` (Release, target portico) in the worktree
    /tmp/portico-baseline-REV (made with `git worktree add --detach`, or reused and moved to
    `rev`), with ccache keyed relative to the worktree. Returns (binary, full commit)."""
    commit = git("rev-parse", "--verify", "%s^{commit}" % rev)
    wt = Path("/tmp/portico-baseline-%s" % re.sub(r"[^A-Za-z0-9._-]", "_", rev))
    if (wt / ".git").exists():
        head = subprocess.run(["git", "-C", str(wt), "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        if head != commit:
            subprocess.run(["git", "-C", str(wt), "checkout", "--detach", "--quiet", commit], check=True)
    else:
        if wt.exists():
            raise RuntimeError("%s exists and is not a git worktree: remove it" % wt)
        git("worktree", "prune")
        git("worktree", "add", "--detach", str(wt), commit)
    env = dict(os.environ, CCACHE_BASEDIR=str(wt), CCACHE_NOHASHDIR="1")
    with open(log_path, "w") as log:
        for argv in (["cmake", "-S", str(wt), "-B", str(wt / "build"), "-G", "Ninja",
                      "-DCMAKE_BUILD_TYPE=Release"],
                     ["ninja", "-C", str(wt / "build"), "-j2", "portico"]):
            print("bench: %s" % " ".join(argv), flush=True)
            log.write("$ %s\n" % " ".join(argv))
            log.flush()
            p = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
            if p.returncode != 0:
                log.close()
                tail = Path(log_path).read_text()[-1500:]
                raise RuntimeError("building %s failed (%s); log %s:\n%s" % (rev, exit_text(p.returncode),
                                                                             log_path, tail))
    binary = wt / "build" / "portico"
    if not binary.exists():
        raise RuntimeError("%s missing after the build" % binary)
    return binary, commit


# --- JWT tokens --------------------------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_input(alg, lifetime):
    """base64url(header).base64url(claims) of a typical access token expiring in `lifetime` s."""
    now = int(time.time())
    header = {"alg": alg, "typ": "JWT"}
    claims = {"sub": "bench-user-0001", "iat": now, "exp": now + lifetime,
              "scope": "orders:read orders:write", "roles": ["customer"]}
    return "%s.%s" % (b64url(json.dumps(header, separators=(",", ":")).encode()),
                      b64url(json.dumps(claims, separators=(",", ":")).encode()))


def hs256_token(secret, lifetime):
    head = signing_input("HS256", lifetime)
    sig = hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + b64url(sig)


def openssl(argv, data=None):
    p = subprocess.run(["openssl"] + argv, input=data, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(argv), p.stderr.decode(errors="replace")[-300:]))
    return p.stdout


def rs256_token(tmp, lifetime):
    """An RSA 2048 key pair made with openssl in `tmp`, and an RS256 token signed with it
    (checked against the public key with openssl too). Returns (token, public key PEM path)."""
    if not shutil.which("openssl"):
        raise RuntimeError("openssl not found (apt-get install openssl)")
    private, public = Path(tmp) / "jwt-rs256-private.pem", Path(tmp) / "jwt-rs256-public.pem"
    openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(private)])
    openssl(["pkey", "-in", str(private), "-pubout", "-out", str(public)])
    head = signing_input("RS256", lifetime)
    sig = openssl(["dgst", "-sha256", "-sign", str(private)], head.encode())
    sig_file = Path(tmp) / "jwt-rs256.sig"
    sig_file.write_bytes(sig)
    openssl(["dgst", "-sha256", "-verify", str(public), "-signature", str(sig_file)], head.encode())
    return head + "." + b64url(sig), public


def forged(token):
    """The token with its signature changed (still valid base64url of the same length)."""
    head, sig = token.rsplit(".", 1)
    return head + "." + ("A" if sig[0] != "A" else "B") + sig[1:]


# --- checking a row before timing it -------------------------------------------------------------

class RowAborted(Exception):
    pass


def client_tls(ca):
    """A client context verifying the listener certificate (name and IP 127.0.0.1)."""
    return ssl.create_default_context(cafile=str(ca))


def get(port, headers, tls_ca=None, info=None, body=None, path="/"):
    """GET `path` on 127.0.0.1:port with `headers` ({name: value}), over TLS verified against
    `tls_ca` when given; returns (status, body as sent, chunked decoded). `info` (a dict) gets the
    TLS version and cipher, the response's Connection header and all its fields (`headers`,
    lower-case names)."""
    if tls_ca:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=client_tls(tls_ca))
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        if body is None:
            conn.request("GET", path, headers=headers)
        else:
            conn.request("POST", path, body=body,
                         headers=dict(headers, **{"Content-Type": "application/json"}))
        if tls_ca and info is not None:
            info["version"], info["cipher"] = conn.sock.version(), conn.sock.cipher()[0]
        r = conn.getresponse()
        if info is not None:
            info["connection"] = r.getheader("Connection")
            info["headers"] = {k.lower(): v for k, v in r.getheaders()}
        return r.status, r.read()
    finally:
        conn.close()


def tls_fetch(port, context, path, session=None):
    """One `GET path` with `Connection: close` over a new TLS connection made with `context`
    (offering `session`, which must come from the same context); returns (response bytes, the
    session, whether it was resumed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=LISTENER_TLS_NAME, session=session) as t:
            t.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                      % (path.encode(), LISTENER_TLS_NAME.encode()))
            data = b""
            while True:
                try:
                    chunk = t.recv(65536)
                except ssl.SSLZeroReturnError:
                    break
                if not chunk:
                    break
                data += chunk
            return data, t.session, t.session_reused


WRK_SESSION_LUA = """-- counts the bodies of %s: "r" = resumed TLS session, "." = full handshake
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) reused = 0; full = 0; other = 0 end
function response(status, headers, body)
  if body == "r\\n" then reused = reused + 1 elseif body == ".\\n" then full = full + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("SESSIONS reused %%d full %%d other %%d\\n", t:get("reused"), t:get("full"), t:get("other")))
  end
end
"""


def build_wrk_shim(tmp):
    """bench/wrk_no_resume.c built into `tmp`; returns its path (RuntimeError if it cannot be)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise RuntimeError("no C compiler (cc) to build bench/wrk_no_resume.c")
    out = Path(tmp) / "wrk_no_resume.so"
    p = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(HERE / "wrk_no_resume.c"), "-ldl"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("building bench/wrk_no_resume.c failed: %s" % p.stderr[-300:])
    return out


def wrk_sessions(proc, tmp, preload):
    """1 s of wrk -c4 with `Connection: close` on the nginx listener's SESSION_PROBE: (resumed, full)."""
    script = Path(tmp) / "wrk-sessions.lua"
    script.write_text(WRK_SESSION_LUA % proc.session_probe)
    argv = ["wrk", "-t1", "-c4", "-d1s", "--timeout", "5s", "-H", "Connection: close", "-s", str(script),
            "https://127.0.0.1:%d%s" % (proc.port, proc.session_probe)]
    env = dict(os.environ, LD_PRELOAD=str(preload)) if preload else None
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env).stdout
    m = re.search(r"SESSIONS reused (\d+) full (\d+) other (\d+)", out)
    if not m:
        raise RowAborted("the wrk session check printed no counts: %r" % out[-300:])
    return int(m.group(1)), int(m.group(2))


def check_resumption(proc, tmp):
    """For a handshake row: the listener resumes a TLS 1.3 session when a client offers one
    (Python's ssl, a second connection with the first one's session), and wrk with
    `Connection: close` and proc.wrk_preload offers none (nginx only: its SESSION_PROBE tells,
    per request, whether the session was resumed; wrk alone resumes nearly all). Returns a
    sentence for the report; raises RowAborted if wrk resumed."""
    path = proc.session_probe or "/"
    context = client_tls(proc.tls_ca)
    try:
        first, session, _ = tls_fetch(proc.port, context, path)
        second, _, reused = tls_fetch(proc.port, context, path, session)
    except (OSError, ssl.SSLError) as e:
        raise RowAborted("the resumption check failed: %s" % e)
    if proc.session_probe and (not first.endswith(b"\r\n\r\n.\n") or not second.endswith(b"\r\n\r\nr\n")):
        raise RowAborted("%s answered %r then %r, not '.' then 'r'" % (path, first[-40:], second[-40:]))
    text = "Python's ssl offering the session of a first connection on a second: %s" % (
        "resumed" if reused else "NOT resumed")
    if not proc.session_probe:
        return text + " (what wrk offers is checked on nginx's listener: the same client and shim)"
    plain_reused, plain_full = wrk_sessions(proc, tmp, None)
    reused_n, full_n = wrk_sessions(proc, tmp, proc.wrk_preload)
    if reused_n or not full_n:
        raise RowAborted("wrk with Connection: close (LD_PRELOAD %s) resumed %d of %d TLS sessions: the "
                         "row would not measure full handshakes" % (proc.wrk_preload, reused_n, reused_n + full_n))
    return text + "; nginx's $ssl_session_reused over 1 s of `wrk -c4 -H 'Connection: close'`: wrk " \
                  "alone resumed %d of %d connections, with bench/wrk_no_resume.c (LD_PRELOAD, the " \
                  "load of these rows) %d of %d" % (plain_reused, plain_reused + plain_full, reused_n,
                                                     reused_n + full_n)


def check_ws(port):
    """One 64-byte binary message echoed through a websockets (library) connection to /ws."""
    try:
        import asyncio
        import websockets
    except ImportError as e:
        raise RowAborted("python websockets missing (apt-get install python3-websockets; run with "
                         "/usr/bin/python3): %s" % e)

    async def once():
        payload = os.urandom(WS_SIZE)
        async with websockets.connect("ws://127.0.0.1:%d/ws" % port, open_timeout=5,
                                      close_timeout=2) as ws:
            await ws.send(payload)
            echo = await asyncio.wait_for(ws.recv(), 5)
            if echo != payload:
                raise RowAborted("the echo differed from the message (%d bytes back)" % len(echo))
    try:
        asyncio.run(once())
    except RowAborted:
        raise
    except Exception as e:  # websockets' errors, OSError, timeouts
        raise RowAborted("a WebSocket echo through 127.0.0.1:%d failed: %s: %s" % (port, type(e).__name__, e))


def check_row(proc):
    """Raise RowAborted unless the request wrk will send answers 200 with the backend's body and,
    for a row with a token, the same request answers 401 without it and with a forged one; over
    TLS 1.3 for a TLS listener, and with `Connection: close` answered for a handshake row; over
    HTTP/2 (curl) for an h2 row."""
    info = {}
    if proc.h2:
        argv = ["curl", "-s", "-o", "-", "-w", "\n%{http_version} %{http_code}", "--max-time", "5"]
        if proc.tls_ca:
            argv += ["--http2", "--cacert", str(proc.tls_ca), "https://127.0.0.1:%d%s" % (proc.port, proc.path)]
        else:
            argv += ["--http2-prior-knowledge", "http://127.0.0.1:%d%s" % (proc.port, proc.path)]
        out = subprocess.run(argv, capture_output=True, timeout=10).stdout
        body, _, tail = out.rpartition(b"\n")
        if tail != b"2 200" or body != proc.expect:
            raise RowAborted("over HTTP/2 the row answered %r with %r, not HTTP/2 200 with the backend's "
                             "body" % (tail, body[:120]))
        return

    def fetch(headers, what):
        try:
            return get(proc.port, headers, proc.tls_ca, info, proc.body, proc.path)
        except (OSError, http.client.HTTPException, ssl.SSLError) as e:
            raise RowAborted("%s: %s" % (what, e))
    if proc.cache_hit:
        # Purge, so that the entry is fresh for the whole run (ttl 60 s), then fill it: this first
        # answer is a MISS and the next (below) must be a HIT.
        purge_cache(proc)
        status, body = fetch(proc.headers, "the request filling the cache")
        if status != 200 or info["headers"].get("x-cache") != "MISS":
            raise RowAborted("after a purge the request answered %d with X-Cache: %r, not 200 MISS"
                             % (status, info["headers"].get("x-cache")))
    status, body = fetch(proc.headers, "the request wrk sends")
    fields = info.get("headers", {})
    if proc.encoding or proc.headers.get("Accept-Encoding"):
        got = fields.get("content-encoding")
        if got != proc.encoding:
            raise RowAborted("the request wrk sends (Accept-Encoding: %s) answered Content-Encoding: %r, "
                             "not %r" % (proc.headers.get("Accept-Encoding"), got, proc.encoding))
        try:
            body = decode_body(got, body) if got else body
        except Exception as e:  # zlib.error, brotli.error, zstandard.ZstdError, ImportError
            raise RowAborted("the %s body (%d bytes) did not decode: %s: %s" % (got, len(body), type(e).__name__, e))
    if status != 200 or body != proc.expect:
        raise RowAborted("the request wrk sends (%s) answered %d %r (%d bytes), not 200 with the "
                         "backend's body (%d bytes)" % (proc.path, status, body[:120], len(body), len(proc.expect)))
    if proc.cache_hit and fields.get("x-cache") != "HIT":
        raise RowAborted("the second request after a purge answered X-Cache: %r, not HIT"
                         % fields.get("x-cache"))
    if proc.tls_ca and info.get("version") != "TLSv1.3":
        raise RowAborted("the listener negotiated %s, not TLSv1.3" % info.get("version"))
    if proc.closes and (info.get("connection") or "").lower() != "close":
        raise RowAborted("`Connection: close` was answered with Connection: %r: wrk would not "
                         "reconnect per request" % info.get("connection"))
    if proc.token:
        status, body = fetch({}, "the request without its token")
        if status != 401:
            raise RowAborted("without the token the route answered %d %r, not 401: the row "
                             "would not measure authentication" % (status, body[:200]))
        status, body = fetch({"Authorization": "Bearer " + forged(proc.token)},
                             "the request with a forged signature")
        if status != 401:
            raise RowAborted("with a forged signature the route answered %d %r, not 401"
                             % (status, body[:200]))


# --- wrk -------------------------------------------------------------------------------------

def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        return float("nan")
    v = float(m.group(1))
    return {"us": v / 1000, "ms": v, "s": v * 1000, "m": v * 60000}[m.group(2)]


def wrk(port, conns, seconds, latency=True, headers=None, scheme="http", preload=None, script=None,
        path="/"):
    argv = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "--timeout", "5s"]
    if script:
        argv += ["-s", str(script)]
    if latency:
        argv.append("--latency")
    for name, value in (headers or {}).items():
        argv += ["-H", "%s: %s" % (name, value)]
    argv.append("%s://127.0.0.1:%d%s" % (scheme, port, path))
    env = dict(os.environ, LD_PRELOAD=str(preload)) if preload else None
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, env=env).stdout
    res = {"raw": out}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "99"):
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, out, re.M)
        res["p" + pct] = to_ms(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    res["socket_errors"] = m.group(1).strip() if m else ""
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w*)", out)
    res["transfer_mib_s"] = float(m.group(1)) * {"B": 1 / 1048576, "KB": 1 / 1024, "MB": 1, "GB": 1024}.get(
        m.group(2), float("nan")) if m else float("nan")
    return res


def purge_cache(proc):
    """DELETE /admin/cache?prefix=/ on the row's admin listener: every entry goes."""
    conn = http.client.HTTPConnection("127.0.0.1", proc.admin_port, timeout=5)
    try:
        conn.request("DELETE", "/admin/cache?prefix=/")
        r = conn.getresponse()
        text = r.read()
        if r.status // 100 != 2:
            raise RowAborted("DELETE /admin/cache answered %d %r" % (r.status, text[:200]))
    except (OSError, http.client.HTTPException) as e:
        raise RowAborted("DELETE /admin/cache failed: %s" % e)
    finally:
        conn.close()


def cache_counts(proc):
    """{result: count} of portico_cache_requests_total on the row's /metrics (hit, miss, ...)."""
    conn = http.client.HTTPConnection("127.0.0.1", proc.admin_port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
    finally:
        conn.close()
    counts = {}
    for name, labels, value in pt.parse_metrics(text):
        if name == "portico_cache_requests_total":
            key = labels.get("result", "?")
            counts[key] = counts.get(key, 0) + value
    return counts


def h2load(port, conns, streams, seconds, warmup, scheme, tmp, pid):
    """h2load for `seconds` after `warmup`; p50/p99 from its per-request log (microseconds);
    `cpu`: the CPU seconds process `pid` spent in the timed part."""
    log = Path(tmp) / "h2load.log"
    argv = ["h2load", "-t1", "-c%d" % conns, "-m%d" % streams, "-D", str(seconds),
            "--warm-up-time=%d" % warmup, "--log-file=%s" % log, "%s://127.0.0.1:%d/" % (scheme, port)]
    run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(warmup + 0.2)  # h2load connects, then warms up
    before = cpu_seconds(pid)
    out, _ = run.communicate(timeout=seconds + warmup + 30)
    res = {"raw": out, "cpu": cpu_seconds(pid) - before}
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    res["requests"] = int(m.group(3)) if m else 0
    res["failed"] = int(m.group(4)) if m else 0
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    res["rps"] = float(m.group(3)) if m else 0.0
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    res["non2xx"] = sum(int(m.group(i)) for i in (2, 3, 4)) if m else 0
    res["socket_errors"] = ""
    res["transfer_mib_s"] = float("nan")
    durations = []
    if log.exists():
        for line in log.read_text().splitlines():
            fields = line.split("\t")
            if len(fields) >= 3 and fields[1] == "200":
                durations.append(int(fields[2]) / 1000.0)
        log.unlink()
    durations.sort()
    for pct in (50, 99):
        res["p%d" % pct] = durations[min(len(durations) - 1, len(durations) * pct // 100)] if durations else float("nan")
    return res


def measure(proc, conns, seconds, warmup):
    scheme = "https" if proc.tls_ca else "http"
    if proc.h2:
        c = proc.h2["conns"] or conns
        res = h2load(proc.port, c, proc.h2["streams"], seconds, warmup, scheme, proc.tmp, proc.pid)
        res["req_per_cpu_s"] = res["requests"] / res["cpu"] if res["cpu"] > 0 else float("nan")
        res["rss_kib"] = pt.vm_rss_kib(proc.pid)
        return res
    wrk(proc.port, conns, warmup, latency=False, headers=proc.headers, scheme=scheme,
        preload=proc.wrk_preload, script=proc.wrk_script, path=proc.path)
    counts = cache_counts(proc) if proc.cache_hit else None
    before = cpu_seconds(proc.pid)
    res = wrk(proc.port, conns, seconds, headers=proc.headers, scheme=scheme, preload=proc.wrk_preload,
              script=proc.wrk_script, path=proc.path)
    res["cpu"] = cpu_seconds(proc.pid) - before
    if counts is not None:
        # What the cache said of the timed run's requests (wrk's last ones may not be counted
        # by wrk, which stops mid-flight: the sum can exceed its count by up to -c).
        after = cache_counts(proc)
        res["cache"] = {k: after.get(k, 0) - counts.get(k, 0) for k in set(after) | set(counts)}
    res["req_per_cpu_s"] = res["requests"] / res["cpu"] if res["cpu"] > 0 else float("nan")
    res["rss_kib"] = pt.vm_rss_kib(proc.pid)
    return res


def measure_ws(proc, seconds, warmup, conns=WS_CONNS, size=WS_SIZE, max_messages=WS_MAX_MESSAGES):
    """bench/ws_echo.py client against `proc` (the echo backend or a proxy in front of it): a
    warm-up, then `conns` connections ping-ponging `size`-byte messages for `seconds` (or
    `max_messages`). CPU of `proc` and of the backend (`proc.backend`, when it is a proxy)."""
    def client(secs):
        argv = [sys.executable, str(HERE / "ws_echo.py"), "client", "--port", str(proc.port),
                "--conns", str(conns), "--size", str(size), "--seconds", str(secs),
                "--max-messages", str(max_messages)]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 60)
        try:
            return json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeError("ws_echo.py client failed (%s): %s" % (exit_text(p.returncode), p.stderr[-300:]))
    if warmup:
        client(warmup)
    pids = [proc.pid] + ([proc.backend.pid] if getattr(proc, "backend", None) else [])
    before = [cpu_seconds(p) for p in pids]
    res = client(seconds)
    cpu = [cpu_seconds(p) - b for p, b in zip(pids, before)]
    n = res["messages"]
    res["rate"] = n / res["seconds"] if res["seconds"] > 0 else float("nan")
    res["cpu"] = cpu[0]
    res["backend_cpu"] = cpu[-1]
    res["us_per_msg"] = cpu[0] / n * 1e6 if n else float("nan")
    res["per_cpu_s"] = n / cpu[0] if cpu[0] > 0 else float("nan")
    res["rss_kib"] = pt.vm_rss_kib(proc.pid)
    return res


def idle_connections_rss(proc, count):
    """RSS of `proc` before and while `count` idle keep-alive connections (one request each) are open."""
    before = pt.vm_rss_kib(proc.pid)
    cmd = [sys.executable, str(HERE / "idle_connections.py"), "--port", str(proc.port),
           "--count", str(count), "--hold", "3", "--pid", str(proc.pid)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    m = re.search(r"OPEN (\d+) RSS_KIB (\d+)", out.stdout)
    if not m:
        return {"before_kib": before, "open": 0, "rss_kib": None, "error": out.stderr[-500:]}
    return {"before_kib": before, "open": int(m.group(1)), "rss_kib": int(m.group(2))}


# --- the JWT microbenchmark ----------------------------------------------------------------------

MICRO_MIN_TIME = "0.5"
MICRO_NAMES = {"verify/HS256": "HS256 verification (signature + claims, no cache)",
               "verify/RS256_2048": "RS256 verification, RSA 2048 (no cache)",
               "verify/ES256": "ES256 verification (no cache)",
               "verify/EdDSA": "EdDSA (Ed25519) verification (no cache)",
               "cache_hit/threads:1": "token cache hit, 1 thread",
               "cache_hit/threads:2": "token cache hit, 2 threads on the same token (shard lock contended)"}


def run_jwt_micro(path):
    """Run portico_jwt_bench; {"rows": [...], "context": {...}} or {"error": text}."""
    if not path.exists():
        return {"error": "%s not built (target portico_jwt_bench; needs libbenchmark-dev)" % path}
    argv = [str(path), "--benchmark_min_time=%s" % MICRO_MIN_TIME, "--benchmark_format=json"]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        data = json.loads(p.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError) as e:
        return {"error": "%s failed: %s" % (" ".join(argv), e)}
    if p.returncode != 0:
        return {"error": "%s exited with %s: %s" % (" ".join(argv), exit_text(p.returncode), p.stderr[-300:])}
    rows = []
    for b in data.get("benchmarks", []):
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}.get(b.get("time_unit", "ns"), 1)
        rows.append({"name": b["name"], "threads": b.get("threads", 1),
                     "cpu_ns": b.get("cpu_time", float("nan")) * scale,
                     "per_cpu_s": b.get("items_per_second", float("nan")),
                     "error": b.get("error_message", "") if b.get("error_occurred") else ""})
    return {"rows": rows, "context": data.get("context", {}), "argv": argv}


# --- report ----------------------------------------------------------------------------------

def med(values):
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def tool_version(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except Exception:
        return "?"


def machine_notes(binary, args=None):
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kib = int(open("/proc/meminfo").readline().split()[1])
        mem = "%.1f GiB" % (kib / 1048576)
    except Exception:
        pass
    commit = HEAD_AT_START
    built = getattr(args, "binary_built", None) or binary_mtime(binary)
    baseline = []
    if args is not None and getattr(args, "baseline_commit", None):
        baseline = ["Previous release for the A/B: `portico@%s` = commit %s, built in the same run from "
                    "the worktree /tmp/portico-baseline-%s (`cmake -G Ninja -DCMAKE_BUILD_TYPE=Release`, "
                    "`ninja -j2 portico`)" % (args.baseline, args.baseline_commit[:12],
                                                re.sub(r"[^A-Za-z0-9._-]", "_", args.baseline))]
    return [
        "CPU: %s, %d cores; memory %s; kernel %s" % (cpu, os.cpu_count(), mem, platform.release()),
        "nginx: %s; haproxy: %s; wrk: %s; openssl: %s" % (
            tool_version(["nginx", "-v"]), tool_version(["haproxy", "-v"]),
            tool_version(["wrk", "-v"]), tool_version(["openssl", "version"])),
        "Portico: %s (HEAD %s when the run started%s; the binary %s, modified %s)" % (
            tool_version([str(binary), "version"]), commit,
            ", with uncommitted changes in src/" if git_dirty() else "", binary, built),
    ] + baseline + [
        "Load average when the run started: %.2f %.2f %.2f (other work on the machine shows up as "
        "noise between rounds)" % LOAD_AT_START,
    ]


def binary_mtime(binary):
    try:
        return datetime.datetime.fromtimestamp(Path(binary).stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S")
    except OSError:
        return "?"


def git_dirty():
    p = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--", "src"],
                       capture_output=True, text=True)
    return bool(p.stdout.strip())


def fmt(v, spec):
    return "n/a" if v is None or v != v else format(v, spec)


def exit_text(code):
    if code is None:
        return "?"
    if code < 0:
        try:
            return "signal %s" % signal.Signals(-code).name
        except ValueError:
            return "signal %d" % -code
    return "code %d" % code


def ratio_text(v):
    return fmt(v, ".2f") + ("×" if v == v else "")


def per_round(results, peer, base, conns, key):
    """Ratios peer/base of `key` for each round both were measured in."""
    b = {r["round"]: r[key] for r in results.get((base, conns), [])}
    return [r[key] / b[r["round"]] for r in results.get((peer, conns), [])
            if r["round"] in b and b[r["round"]] > 0]


def ratio_of_medians(results, peer, other, key, conns):
    mine, theirs = results.get((peer, conns)), results.get((other, conns))
    if not mine or not theirs:
        return float("nan")
    return med([r[key] for r in mine]) / med([r[key] for r in theirs])


def comparison(results, peer, other, conns, keys=("rps", "req_per_cpu_s"), factor=1):
    """'req/s 2.10×, req/CPU-s 2.31× [req/s 2.0/2.2/2.1; req/CPU-s ...]' of `peer` against `other`
    (its figures multiplied by `factor`)."""
    names = {"rps": "req/s", "req_per_cpu_s": "req/CPU-s"}
    return "%s [%s]" % (
        ", ".join("%s %s" % (names[k], ratio_text(factor * ratio_of_medians(results, peer, other, k, conns)))
                  for k in keys),
        "; ".join("%s %s" % (names[k], "/".join("%.2f" % (factor * v) for v in per_round(results, peer, other, conns, k)))
                  for k in keys))


def peer_comparisons(results, peers, conns, aborted=None, dead=None):
    """The lines of the cache and compression rows against their own peers (PEER_TARGETS with a
    bar, PEER_REPORTS without), and what the cache said of each cache-hit row's timed requests."""
    lines = []
    bars = [(p, o, t, keys) for p in peers if p in PEER_TARGETS for o, t, keys in PEER_TARGETS[p]]
    if bars:
        lines += ["Requirements against their own peer (ratio of medians; per round in brackets):", ""]
        names = {"rps": "req/s", "req_per_cpu_s": "req/CPU-s"}
        for peer, other, target, keys in bars:
            if not results.get((peer, conns)) or not results.get((other, conns)):
                why = (aborted or {}).get(peer) or (dead or {}).get(peer) or (
                    "no `%s` row in this run to compare with" % other if results.get((peer, conns)) else "not measured")
                lines.append("- %s against %s (≥ %.2f× %s): no result — %s" % (
                    peer, other, target, " and ".join(names[k] for k in keys), why))
                continue
            f = calls_factor(peer, other)
            verdict = ", ".join("%s %s %s" % (names[k], ratio_text(v), "met" if v == v and v >= target else "NOT met")
                                for k in keys for v in [f * ratio_of_medians(results, peer, other, k, conns)])
            lines.append("- %s%s against %s (≥ %.2f× %s): %s [%s]" % (
                peer, " × %g calls" % f if f != 1 else "", other, target, " and ".join(names[k] for k in keys),
                verdict, "; ".join("%s %s" % (names[k], "/".join("%.2f" % (f * v) for v in per_round(
                    results, peer, other, conns, k))) for k in keys)))
        lines.append("")
    reports = [(p, o) for p in peers if p in PEER_REPORTS for o in PEER_REPORTS[p]
               if results.get((p, conns)) and results.get((o, conns))]
    if reports:
        lines += ["Reported against other peers (no bar; ratio of medians, per round in brackets):", ""]
        lines += ["- %s%s against %s: %s" % (p, " × %g calls" % calls_factor(p, o) if calls_factor(p, o) != 1 else "",
                                             o, comparison(results, p, o, conns, factor=calls_factor(p, o)))
                  for p, o in reports]
        lines.append("")
    hits = [p for p in peers if p in CACHE_PEERS and results.get((p, conns))]
    if hits:
        said = []
        for p in hits:
            runs = results[(p, conns)]
            total = {}
            for r in runs:
                for k, v in (r.get("cache") or {}).items():
                    total[k] = total.get(k, 0) + v
            served = sum(r["requests"] for r in runs)
            said.append("%s %s of %d requests wrk counted (%s)" % (
                p, "%d HIT" % total.get("hit", 0), served,
                ", ".join("%s %d" % (k, v) for k, v in sorted(total.items()) if k != "hit" and v) or "nothing else"))
        lines += ["Cache results of the timed runs (portico_cache_requests_total on /metrics before and after "
                  "each run, all rounds; wrk stops with up to -c requests in flight, which the cache counted "
                  "and wrk did not): " + "; ".join(said) + ".", ""]
    return lines


def write_report(path, args, results, idle, notes, peers, dead=None, aborted=None, micro=None,
                 micro_path=None, session_checks=None):
    baseline_peer = BASELINE_PREFIX + args.baseline if getattr(args, "baseline", "") else None
    wrk_peers = [p for p in peers if p not in HANDSHAKE_PEERS and p not in WS_PEERS]
    lines = ["# Portico benchmark results", "",
             "Run on %s by `make bench` (bench/run.sh)." % datetime.datetime.now().strftime("%Y-%m-%d %H:%M %Z").strip(),
             "", "## Machine", ""]
    lines += ["- " + n for n in notes]
    lines += ["", "## Setup", "",
              "- Backend: nginx, 1 worker, `return 200 \"ok\\n\"`, access log off, keepalive_requests 1000000; "
              "it listens on %d ports (one process): the single-target rows use the first." % BACKEND_PORTS,
              "- nginx proxy: 1 worker (`master_process off`), `upstream { keepalive %d; keepalive_requests 1000000; }`, "
              "`proxy_http_version 1.1`, `proxy_set_header Connection \"\"`, access log off." % UPSTREAM_POOL,
              "- haproxy: `nbthread 1`, `http-reuse always`.",
              "- Portico: `workers: 1`, upstream `max_connections: %d` (per target), access log off "
              "(`portico+log`: access log on, JSON to a file). Every `portico+…` row is its own "
              "process with the same settings plus one feature:" % UPSTREAM_POOL,
              "  - `portico+resilience` (issue 3): the upstream has %d targets (the backend's %d ports) with "
              "`balance: least_connections`, `circuit_breaker: {consecutive_failures: 5, open_for: 30s, "
              "max_requests: 100000}`, `retries: {attempts: 1}`, `outlier_detection: {consecutive_failures: 5}`."
              % (BACKEND_PORTS, BACKEND_PORTS),
              "  - `portico+jwt-hs256` (issue 4): the route has `auth: jwt-hs`, "
              "`jwt-hs: {type: jwt, secret: <43 random characters>, algorithms: [HS256]}`; wrk sends "
              "`Authorization: Bearer <token>`, one valid token (made with Python's hmac; sub, iat, exp, "
              "scope, roles) for the whole run.",
              "  - `portico+jwt-rs256`: the same with `public_key: <PEM>` and `algorithms: [RS256]`; an RSA "
              "2048 key pair made for the run with `openssl genpkey`/`openssl pkey -pubout`, the token signed "
              "with `openssl dgst -sha256 -sign`. One token reused, so after the first request each one "
              "costs a token-cache hit.",
              "  - `portico+rate-limit` (issue 9): the route has `rate_limit: [per-ip]`, "
              "`per-ip: {key: client_ip, rate: 100000000/s, burst: 100000000}` in the memory store: every "
              "request is decided (one bucket, since wrk is one client address) and none refused.",
              "  - `portico+rate-limit-redis`: the same policy with `store: redis` and a redis-server "
              "(defaults, no persistence) on the same two cores: one EVALSHA per request.",
              "  - `portico+respond`: the route answers itself, `respond: {status: 200, body: \"ok\\n\"}` "
              "(no upstream): the gateway's own ceiling.",
              "  - `portico+cache-hit` (issue 10): the route has `cache: {ttl: 60s}` (memory store, defaults) "
              "in front of the same backend. Before each timed run the cache is purged (`DELETE /admin/cache?prefix=/`) "
              "and the request sent twice: the first must answer `X-Cache: MISS`, the second `X-Cache: HIT`; "
              "so every request of the run is a HIT (the entry outlives the run; counted on /metrics, below). "
              "Bar: ≥ 2.0× the plain `portico` row in req/s and req/CPU-s; reported against `portico+respond`.",
              "  - 10 KiB JSON rows: the backend also serves `%s`, a %d-byte JSON product listing (made by "
              "bench.py, the same every run) from a file (`location = %s { default_type application/json; "
              "alias …; }`). `nginx+json10k` / `portico+json10k`: the plain proxies requesting it, no "
              "compression (the context of the rows below). `nginx+gzip`: the nginx proxy with `gzip on; "
              "gzip_comp_level 5; gzip_types application/json;`; `portico+gzip`: the route has `compress: "
              "true` and `compression: {encodings: [gzip], level: {gzip: 5}}`; `portico+br`: `encodings: "
              "[br]` (default level 4); `portico+zstd`: `encodings: [zstd]` (default level 3). wrk sends "
              "`Accept-Encoding: gzip` (br, zstd); the check before each run wants that Content-Encoding "
              "and a body that decodes (Python's gzip, brotli, zstandard) to the backend's. Bar: "
              "portico+gzip ≥ 1.0× nginx+gzip in req/CPU-s." % (JSON10K_PATH, len(json10k()), JSON10K_PATH),
              "  - `portico+cache-hit-10k`: `cache: {ttl: 60s}` on the 10 KiB body, no compression; "
              "`portico+cache-gzip-hit`: `compress: true` (gzip, level 5) and the same cache, wrk sends "
              "`Accept-Encoding: gzip`: the entry holds the compressed answer, so each HIT is served "
              "pre-compressed (checked as for portico+cache-hit, and decoded as for portico+gzip).",
              "  - `portico+aggregate` (issue 11): the route is `aggregate:` of three calls (`user`, `orders`, "
              "`profile`) to small JSON answers the backend makes itself (`location = /agg/... { return 200 '...'; }`), "
              "upstream `max_connections: %d` (three per client connection at -c256, as three separately proxied "
              "requests would use); "
              "wrk requests %s, and the check wants the merged object. Bar: 3 × its req/s and req/CPU-s ≥ 0.9× "
              "the plain `portico` row's (each of its requests makes three upstream calls, each plain request "
              "one). `gin-dashboard`: the seed's gin handler (bench/gin_dashboard/main.go: three goroutines, a "
              "mutex, a WaitGroup; Go 1.19 and gin 1.8 from Debian, `GOMAXPROCS=1`, release mode without the "
              "logger, the default transport keeping 256 idle connections per host) on the same answers, "
              "reported against `portico+aggregate`." % (3 * UPSTREAM_POOL, AGG_PATH),
              "  - Before each timed run of a row its request is sent once and must answer 200 with the "
              "backend's body; for the JWT rows the same request must answer 401 without the token and "
              "with a forged signature. A row that fails is aborted (listed below) and `make bench` fails.",
              "- Load: `wrk -t1 -c<N> -d%ds --latency` after a %d s warm-up, peers interleaved, "
              "%d rounds, medians. Everything on 127.0.0.1; wrk, proxy and backend share the machine's cores."
              % (args.duration, args.warmup, args.rounds),
              "- Requests per CPU-second: requests served / (utime+stime of the proxy process during the run, "
              "from /proc/PID/stat). Steadier than req/s on a shared 2-core machine; differences in req/s "
              "under ~20% are noise here.",
              "- `nginx+tls-upstream` / `portico+tls-upstream`: the same proxies, speaking TLS to the "
              "backend's TLS port (the same nginx; a P-256 certificate made for the run with `openssl "
              "req`), verified against that certificate and its name (nginx: `proxy_ssl_verify on`, "
              "`proxy_ssl_trusted_certificate`, `proxy_ssl_name`, `proxy_ssl_server_name on`, "
              "`proxy_ssl_session_reuse on`; Portico: `tls: {ca: …, server_name: …}`); "
              "keep-alive pools as above, so handshakes happen only while pools fill.",
              "- `nginx+tls-listener` / `portico+tls-listener`: the same proxies terminating TLS 1.3 on "
              "their listener (nginx: `listen … ssl`, `ssl_protocols TLSv1.3`; Portico: `server.tls: "
              "{certificates: [{cert, key}], min_version: \"1.3\"}`) with an ECDSA P-256 certificate made "
              "for the run with `openssl req` (names `%s` and IP 127.0.0.1), proxying plain HTTP to the "
              "backend; wrk over `https://` with keep-alive, so each of its connections does one full "
              "handshake and then only record encryption. Both servers' defaults otherwise (X25519, "
              "session tickets on; wrk sends no ALPN, so HTTP/1.1). The check before each run verifies "
              "the certificate and that TLS 1.3 was negotiated." % LISTENER_TLS_NAME,
              "- `nginx+tls-handshake` / `portico+tls-handshake`: the same two processes, loaded with "
              "`wrk -H \"Connection: close\"` over `https://`: both servers answer with "
              "`Connection: close` (checked), so every request is a new TCP connection with a full "
              "TLS 1.3 handshake (ECDHE X25519 + an ECDSA P-256 signature by the server, plus the "
              "session tickets each server sends after it), one request, close_notify and close. wrk "
              "alone would resume nearly every session (it reconnects with `SSL_clear`, which keeps the "
              "session), so it runs with bench/wrk_no_resume.c preloaded (`LD_PRELOAD`; drops the "
              "session before each reconnection); that no handshake is resumed is checked once per row "
              "with nginx's `$ssl_session_reused` (see the TLS handshakes section). Requests/s there are "
              "connections/s; wrk's latency does not include "
              "its connect and handshake. wrk itself does the client half of every handshake on one "
              "core, so connections per CPU-second of the proxy is the figure to compare.",
              "- `ws-direct` / `portico+ws`: bench/ws_echo.py: a raw asyncio WebSocket echo backend (one "
              "process) and a client that opens %d connections to `/ws` and on each sends a %d-byte "
              "binary message and waits for its echo, again and again, for %d s (at most %d messages), "
              "after a %d s warm-up; once per round, after the wrk rows. `ws-direct` is the backend "
              "alone; `portico+ws` a Portico (`workers: 1`, one route `/` with the backend as upstream, "
              "`websocket` relayed by default) in front of it. Each echo is compared byte for byte; "
              "before each run one message goes through the websockets library (python3-websockets). "
              "Python is the client and the backend: msgs/s is bound by them, Portico's CPU per message "
              "is the figure about Portico." % (args.ws_conns, WS_SIZE, args.duration, WS_MAX_MESSAGES,
                                                args.warmup),
              ("- `%s`: the previous release (see Machine), the same configuration as `portico`, its "
               "own process, interleaved with the others in every round." % baseline_peer)
              if baseline_peer else "- No previous release measured (`--baseline REV` / "
                                    "`BENCH_BASELINE=REV` adds a `portico@REV` row).",
              "- \"vs plain proxy\": a `portico+…` row against the `portico` row of the same run.", ""]
    for conns in args.conns:
        lines += ["## wrk -c%d" % conns, "",
                  "| peer | req/s | p50 ms | p99 ms | req per CPU-s | RSS MiB | req/s vs nginx | req/CPU-s vs nginx "
                  "| req/s vs plain proxy | req/CPU-s vs plain proxy | errors |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        base = results.get(("nginx", conns))
        plain = results.get(("portico", conns))
        summary = {}
        for peer in wrk_peers:
            runs = results.get((peer, conns))
            if not runs:
                continue
            rps = med([r["rps"] for r in runs])
            rpc = med([r["req_per_cpu_s"] for r in runs]) if peer != "direct" else float("nan")
            rss = max(r["rss_kib"] for r in runs) / 1024
            errors = sum(r["non2xx"] for r in runs)
            sock = "; ".join(sorted({r["socket_errors"] for r in runs if r["socket_errors"]}))
            ratio_rps = ratio_cpu = plain_rps = plain_cpu = float("nan")
            if base and peer not in ("nginx", "direct"):
                ratio_rps = rps / med([r["rps"] for r in base])
                ratio_cpu = rpc / med([r["req_per_cpu_s"] for r in base])
            if plain and peer.startswith("portico+"):
                plain_rps = rps / med([r["rps"] for r in plain])
                plain_cpu = rpc / med([r["req_per_cpu_s"] for r in plain])
            summary[peer] = (plain_rps, plain_cpu, errors, sum(r["requests"] for r in runs))
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                peer + (" (backend alone)" if peer == "direct" else ""),
                fmt(rps, ".0f"), fmt(med([r["p50"] for r in runs]), ".2f"),
                fmt(med([r["p99"] for r in runs]), ".2f"), fmt(rpc, ".0f"), fmt(rss, ".1f"),
                ratio_text(ratio_rps), ratio_text(ratio_cpu), ratio_text(plain_rps), ratio_text(plain_cpu),
                (("non-2xx %d" % errors) if errors else "") + ((" " + sock) if sock else "") or "—"))
        lines.append("")
        lines.append("Per round req/s: " + "; ".join(
            "%s %s" % (p, "/".join("%.0f" % r["rps"] for r in results.get((p, conns), [])))
            for p in wrk_peers if results.get((p, conns))))
        lines.append("")
        for peer, other in PAIRS.items():
            if results.get((peer, conns)) and results.get((other, conns)):
                mine, theirs = results[(peer, conns)], results[(other, conns)]
                lines.append("%s against %s: req/s %s, req/CPU-s %s, p99 %s (ratios of medians; per "
                             "round req/s %s)." % (
                                 peer, other,
                                 ratio_text(med([r["rps"] for r in mine]) / med([r["rps"] for r in theirs])),
                                 ratio_text(med([r["req_per_cpu_s"] for r in mine]) /
                                            med([r["req_per_cpu_s"] for r in theirs])),
                                 ratio_text(med([r["p99"] for r in mine]) / med([r["p99"] for r in theirs])),
                                 "/".join("%.2f" % v for v in per_round(results, peer, other, conns, "rps"))))
                lines.append("")
        checks = [p for p in peers if p in FEATURE_TARGETS]
        if checks:
            lines += ["Requirements against the plain proxy (ratio of medians; per round in brackets; "
                      "req/CPU-s is the steadier figure):", ""]
            for peer in checks:
                target = FEATURE_TARGETS[peer]
                if peer not in summary or not plain:
                    why = (aborted or {}).get(peer) or (dead or {}).get(peer) or "not measured"
                    if peer in summary:
                        why = "no plain `portico` row in this run to compare with"
                    lines.append("- %s (≥ %.2f×): no result — %s" % (peer, target, why))
                    continue
                plain_rps, plain_cpu, errors, total = summary[peer]
                verdict = []
                for label, v in (("req/s", plain_rps), ("req/CPU-s", plain_cpu)):
                    verdict.append("%s %s %s" % (label, ratio_text(v),
                                                 "met" if v == v and v >= target else "NOT met"))
                rounds = "; ".join(
                    "%s %s" % (label, "/".join("%.2f" % v for v in per_round(results, peer, "portico", conns, key)))
                    for label, key in (("req/s", "rps"), ("req/CPU-s", "req_per_cpu_s")))
                note = ""
                if errors:
                    note = " — %d of %d responses were not 2xx: the row partly measured an error path" % (errors, total)
                lines.append("- %s (≥ %.2f×): %s [%s]%s" % (peer, target, ", ".join(verdict), rounds, note))
            lines.append("")
        lines += peer_comparisons(results, peers, conns, aborted, dead)
    if baseline_peer and any(results.get((baseline_peer, c)) for c in args.conns):
        lines += ["## Against the previous release (%s)" % baseline_peer, ""]
        cs = [c for c in args.conns if results.get(("portico", c)) and results.get((baseline_peer, c))]
        rounds = "; ".join("-c%d req/s %s, req/CPU-s %s" % (
            c, "/".join("%.2f" % v for v in per_round(results, "portico", baseline_peer, c, "rps")),
            "/".join("%.2f" % v for v in per_round(results, "portico", baseline_peer, c, "req_per_cpu_s")))
            for c in cs)
        lines += ["Against the previous release (`portico` of this tree / `%s`, ratios of medians): "
                  "req/s %s, req/CPU-s %s at %s (per round %s)." % (
                      baseline_peer,
                      " / ".join(ratio_text(ratio_of_medians(results, "portico", baseline_peer, "rps", c))
                                 for c in cs),
                      " / ".join(ratio_text(ratio_of_medians(results, "portico", baseline_peer,
                                                             "req_per_cpu_s", c)) for c in cs),
                      " / ".join("-c%d" % c for c in cs), rounds or "none"),
                  "", "Above 1 the tree is faster. Differences in req/s under ~20% are noise here; "
                  "req/CPU-s is the steadier figure.", ""]
    hs = [p for p in peers if p in HANDSHAKE_PEERS and any(results.get((p, c)) for c in args.conns)]
    if hs or any(p in HANDSHAKE_PEERS for p in peers):
        lines += ["## TLS handshakes (a new connection per request)", "",
                  "wrk -H \"Connection: close\" over https:// (with bench/wrk_no_resume.c preloaded) against "
                  "the TLS listener rows' processes: every request is a new TCP connection and a full TLS 1.3 "
                  "handshake (no resumption), so "
                  "requests/s are connections/s; per CPU-second counts the proxy process only.", "",
                  "| peer | -c | connections/s | p50 ms | p99 ms | connections per CPU-s | CPU µs per connection "
                  "| RSS MiB | errors |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for conns in args.conns:
            for peer in hs:
                runs = results.get((peer, conns))
                if not runs:
                    continue
                rpc = med([r["req_per_cpu_s"] for r in runs])
                errors = sum(r["non2xx"] for r in runs)
                sock = "; ".join(sorted({r["socket_errors"] for r in runs if r["socket_errors"]}))
                lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
                    peer, conns, fmt(med([r["rps"] for r in runs]), ".0f"),
                    fmt(med([r["p50"] for r in runs]), ".2f"), fmt(med([r["p99"] for r in runs]), ".2f"),
                    fmt(rpc, ".0f"), fmt(1e6 / rpc if rpc == rpc and rpc > 0 else float("nan"), ".0f"),
                    fmt(max(r["rss_kib"] for r in runs) / 1024, ".1f"),
                    (("non-2xx %d" % errors) if errors else "") + ((" " + sock) if sock else "") or "—"))
        lines.append("")
        for peer, other in HANDSHAKE_PAIRS.items():
            for conns in args.conns:
                if results.get((peer, conns)) and results.get((other, conns)):
                    lines.append("%s against %s at -c%d: connections/s %s, connections per CPU-s %s "
                                 "(ratios of medians; per round connections/s %s, per CPU-s %s)." % (
                                     peer, other, conns,
                                     ratio_text(ratio_of_medians(results, peer, other, "rps", conns)),
                                     ratio_text(ratio_of_medians(results, peer, other, "req_per_cpu_s", conns)),
                                     "/".join("%.2f" % v for v in per_round(results, peer, other, conns, "rps")),
                                     "/".join("%.2f" % v for v in per_round(results, peer, other, conns,
                                                                            "req_per_cpu_s"))))
                    lines.append("")
        for peer, text in (session_checks or {}).items():
            lines += ["Session resumption, %s: %s." % (peer, text), ""]
    ws = [p for p in peers if p in WS_PEERS and results.get((p, "ws"))]
    if ws or any(p in WS_PEERS for p in peers):
        lines += ["## WebSocket echo (bench/ws_echo.py)", "",
                  "%d connections, %d-byte binary messages ping-pong (send, wait for the echo), %d s per "
                  "round after a %d s warm-up, medians of %d rounds. CPU is the process named (for `ws-direct` "
                  "the backend, for `portico+ws` Portico; the backend's own is in the last column)."
                  % (args.ws_conns, WS_SIZE, args.duration, args.warmup, args.rounds), "",
                  "| row | msgs/s | mean round trip ms | CPU µs per msg | msgs per CPU-s | backend CPU µs per msg "
                  "| RSS MiB | errors |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for peer in ws:
            runs = results[(peer, "ws")]
            rate = med([r["rate"] for r in runs])
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                peer + (" (backend alone)" if peer == "ws-direct" else ""), fmt(rate, ".0f"),
                fmt(args.ws_conns / rate * 1000 if rate > 0 else float("nan"), ".3f"),
                fmt(med([r["us_per_msg"] for r in runs]), ".1f"), fmt(med([r["per_cpu_s"] for r in runs]), ".0f"),
                fmt(med([r["backend_cpu"] / r["messages"] * 1e6 if r["messages"] else float("nan")
                         for r in runs]), ".1f"),
                fmt(max(r["rss_kib"] for r in runs) / 1024, ".1f"),
                str(sum(r["errors"] for r in runs)) if sum(r["errors"] for r in runs) else "—"))
        lines.append("")
        if results.get(("portico+ws", "ws")) and results.get(("ws-direct", "ws")):
            lines += ["Through Portico / direct: msgs/s %s (ratio of medians; per round %s); Portico's CPU "
                      "per message %s µs (%s messages per CPU-second of Portico)." % (
                          ratio_text(ratio_of_medians(results, "portico+ws", "ws-direct", "rate", "ws")),
                          "/".join("%.2f" % v for v in per_round(results, "portico+ws", "ws-direct", "ws", "rate")),
                          fmt(med([r["us_per_msg"] for r in results[("portico+ws", "ws")]]), ".1f"),
                          fmt(med([r["per_cpu_s"] for r in results[("portico+ws", "ws")]]), ",.0f")), ""]
    if aborted:
        lines += ["## Rows aborted (their check before a timed run failed)", ""]
        lines += ["- %s: %s" % (p, why) for p, why in aborted.items()]
        lines.append("")
    dead = {p: why for p, why in (dead or {}).items() if p not in (aborted or {})}
    if dead:
        lines += ["## Peers that stopped during the run", ""]
        lines += ["- %s: %s; its rows above hold only the rounds before that." % (p, why)
                  for p, why in dead.items()]
        lines.append("")
    if idle:
        lines += ["## Idle keep-alive connections", "",
                  "%d client connections, each after one request, held open; RSS of the proxy process." % args.idle,
                  "", "| peer | connections open | RSS before MiB | RSS with them MiB | KiB per connection |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for peer, r in idle.items():
            if r.get("rss_kib") is None:
                lines.append("| %s | %d | %.1f | n/a | n/a (%s) |" % (peer, r["open"], r["before_kib"] / 1024,
                                                                    r.get("error", "").replace("\n", " ")[:80]))
                continue
            per = (r["rss_kib"] - r["before_kib"]) / max(r["open"], 1)
            lines.append("| %s | %d | %.1f | %.1f | %.2f |" % (peer, r["open"], r["before_kib"] / 1024,
                                                               r["rss_kib"] / 1024, per))
        lines.append("")
        said = []
        for peer in ("portico", "nginx"):
            r = idle.get(peer)
            if r and r.get("rss_kib") is not None:
                said.append("%s %.1f MiB with %d open (%.2f KiB more per connection)" % (
                    peer, r["rss_kib"] / 1024, r["open"], (r["rss_kib"] - r["before_kib"]) / max(r["open"], 1)))
        p = idle.get("portico")
        if p and p.get("rss_kib") is not None:
            if p["open"] >= 10000:
                verdict = "%.1f MiB, %s" % (p["rss_kib"] / 1024,
                                             "met" if p["rss_kib"] / 1024 < IDLE_TARGET_MIB else "NOT met")
            else:
                verdict = "not judged, %d connections were open" % p["open"]
        else:
            verdict = "no result"
        lines += ["RSS with the idle connections: %s. Target: under %d MiB for portico with 10,000 idle "
                  "keep-alive connections: %s." % ("; ".join(said) or "n/a", IDLE_TARGET_MIB, verdict), ""]
    if micro is not None:
        rel = micro_path
        try:
            rel = micro_path.relative_to(ROOT)
        except ValueError:
            pass
        lines += ["## JWT verification microbenchmark (portico_jwt_bench)", "",
                  "Google Benchmark, bench/micro/jwt_verify_bench.cc (target `portico_jwt_bench`, built by "
                  "`make build` when libbenchmark-dev is installed): one typical access token (iss, sub, aud, "
                  "exp, iat, roles, scope, email) verified with the signature and claims checks and no cache, "
                  "per algorithm, and a token-cache hit (what the load rows above pay per request for their "
                  "one token). Run after the load rounds, with the load processes stopped: "
                  "`%s --benchmark_min_time=%s`." % (rel, MICRO_MIN_TIME), ""]
        if "error" in micro:
            lines += ["Not run: %s." % micro["error"], ""]
        else:
            lines += ["| benchmark | what | CPU ns per op | per CPU-second | error |",
                      "| --- | --- | ---: | ---: | --- |"]
            for r in micro["rows"]:
                lines.append("| %s | %s | %s | %s | %s |" % (
                    r["name"], MICRO_NAMES.get(r["name"], ""), fmt(r["cpu_ns"], ".0f"),
                    fmt(r["per_cpu_s"], ",.0f"), r["error"] or "—"))
            load = " ".join("%.2f" % v for v in micro.get("context", {}).get("load_avg", [])) or "?"
            lines += ["", "Per CPU-second is Google Benchmark's items_per_second (items / CPU time of all "
                      "threads), i.e. verifications per second of one core. Load average then: %s." % load, ""]
    # Hand-written analysis below the marker survives a rerun.
    old = Path(path).read_text() if Path(path).exists() else ""
    if NOTES_MARKER in old:
        lines += ["", NOTES_MARKER + old.split(NOTES_MARKER, 1)[1].rstrip("\n")]
    Path(path).write_text("\n".join(lines) + "\n")


DEFAULT_PEERS = ["direct", "nginx", "haproxy", "portico", "portico+log", "portico+resilience",
                 "portico+jwt-hs256", "portico+jwt-rs256", "portico+rate-limit", "portico+rate-limit-redis",
                 "portico+post", "portico+validate", "nginx+tls-upstream", "portico+tls-upstream",
                 "nginx+tls-listener", "portico+tls-listener", "nginx+tls-handshake", "portico+tls-handshake",
                 "ws-direct", "portico+ws", "portico+respond", "portico+cache-hit", "nginx+json10k",
                 "portico+json10k", "portico+cache-hit-10k", "nginx+gzip", "portico+gzip", "portico+br",
                 "portico+zstd", "portico+cache-gzip-hit", "portico+aggregate", "gin-dashboard",
                 "nginx+h2c", "haproxy+h2c", "portico+h2c", "nginx+h2-tls", "haproxy+h2-tls", "portico+h2-tls",
                 "haproxy+h2c-1conn", "portico+h2c-1conn"]
# Rows compared with a peer of their own kind rather than with plain nginx.
PAIRS = {"portico+tls-upstream": "nginx+tls-upstream", "portico+tls-listener": "nginx+tls-listener",
         "portico+validate": "portico+post"}
# wrk with `Connection: close` over the TLS listeners: their own table (connections per second).
HANDSHAKE_PAIRS = {"portico+tls-handshake": "nginx+tls-handshake"}
HANDSHAKE_PEERS = set(HANDSHAKE_PAIRS) | set(HANDSHAKE_PAIRS.values())
# WebSocket ping-pong (bench/ws_echo.py), once per round: the backend alone and through Portico.
WS_PEERS = ("ws-direct", "portico+ws")
BASELINE_PREFIX = "portico@"
# Rows whose failure to start aborts only that row (the run goes on and exits non-zero).
ABORTABLE = set(FEATURE_TARGETS) | HANDSHAKE_PEERS | set(WS_PEERS) | {
    "nginx+tls-listener", "portico+tls-listener", "portico+rate-limit-redis", "portico+post",
    "portico+validate"} | set(PEER_TARGETS) | set(PEER_REPORTS) | set(CACHE_PEERS) | {
    "portico+respond", "nginx+json10k", "portico+json10k"} | set(H2_PEERS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--portico", default=str(ROOT / "build" / "portico"))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 3)))
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", 10)))
    ap.add_argument("--warmup", type=int, default=int(os.environ.get("BENCH_WARMUP", 3)))
    ap.add_argument("--conns", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--idle", type=int, default=int(os.environ.get("BENCH_IDLE", 10000)))
    ap.add_argument("--peers", nargs="+", default=None, metavar="PEER",
                    help="rows to measure, in this order (default: all: %s, and portico@REV with "
                         "--baseline)" % " ".join(DEFAULT_PEERS))
    ap.add_argument("--baseline", default=os.environ.get("BENCH_BASELINE", ""), metavar="REV",
                    help="also build git revision REV (a worktree in /tmp/portico-baseline-REV) and "
                         "measure it as the row portico@REV, interleaved like portico (default: "
                         "$BENCH_BASELINE, else none)")
    ap.add_argument("--ws-conns", type=int, default=WS_CONNS,
                    help="WebSocket connections of the ws rows (default %d)" % WS_CONNS)
    ap.add_argument("--jwt-micro", action=argparse.BooleanOptionalAction,
                    default=os.environ.get("BENCH_JWT_MICRO", "1") != "0",
                    help="run portico_jwt_bench after the load rounds (default: yes, when it is built)")
    ap.add_argument("--jwt-micro-bin", default=None,
                    help="default: src/filters/jwt_auth/portico_jwt_bench next to --portico")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()
    named = [p for p in (args.peers or []) if p.startswith(BASELINE_PREFIX)]
    if named and not args.baseline:
        args.baseline = named[0][len(BASELINE_PREFIX):]
    baseline_peer = BASELINE_PREFIX + args.baseline if args.baseline else None
    if args.peers is None:
        args.peers = list(DEFAULT_PEERS)
        if baseline_peer:
            args.peers.insert(args.peers.index("portico") + 1, baseline_peer)
    unknown = [p for p in args.peers if p not in DEFAULT_PEERS and p != baseline_peer]
    if unknown:
        ap.error("unknown peer(s) %s; known: %s%s" % (" ".join(unknown), " ".join(DEFAULT_PEERS),
                                                       " %s" % baseline_peer if baseline_peer else
                                                       " portico@REV (with --baseline REV)"))
    if baseline_peer and baseline_peer not in args.peers:
        args.peers.insert(args.peers.index("portico") + 1 if "portico" in args.peers else 0, baseline_peer)
    args.baseline_commit = None

    for tool in ("nginx", "haproxy", "wrk"):
        if not shutil.which(tool):
            sys.exit("bench: %s not found (scripts/install-deps.sh --bench)" % tool)
    binary = Path(args.portico)
    if not binary.exists():
        sys.exit("bench: %s not found (make build)" % binary)
    args.binary_built = binary_mtime(binary)  # the processes run this one, even if it is rebuilt meanwhile
    micro_path = Path(args.jwt_micro_bin) if args.jwt_micro_bin else \
        binary.resolve().parent / "src" / "filters" / "jwt_auth" / "portico_jwt_bench"

    tmp = tempfile.mkdtemp(prefix="portico-bench-")
    baseline_bin = None
    if baseline_peer:
        log_path = Path(tmp) / "baseline-build.log"
        try:
            baseline_bin, args.baseline_commit = build_baseline(args.baseline, log_path)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
            sys.exit("bench: the baseline %s: %s" % (args.baseline, e))
        print("bench: baseline %s = %s (%s)" % (baseline_peer, args.baseline_commit[:12], baseline_bin),
              flush=True)
    procs = {}
    started = {}  # processes that several rows share (TLS listeners, the WebSocket backend)
    started_files = {}  # built once per run (the wrk shim)
    session_checks = {}
    results = {}
    idle = {}
    dead = {}
    aborted = {}
    micro = None
    # The tokens live through the whole run: an hour beyond the longest it can take.
    lifetime = 3600 + args.rounds * len(args.conns) * len(args.peers) * (args.duration + args.warmup + 5)

    def abort(peer, why):
        aborted[peer] = dead[peer] = why
        print("bench: ROW ABORTED %s: %s" % (peer, why), file=sys.stderr, flush=True)

    try:
        backend = start_backend(tmp)
        procs["direct"] = backend

        def jwt_hs256():
            secret = secrets.token_urlsafe(32)  # 43 characters
            p = start_portico(tmp, backend.port, binary, name="portico-jwt-hs256",
                              auth=("jwt-hs", '{type: jwt, secret: "%s", algorithms: [HS256]}' % secret))
            p.token = hs256_token(secret, lifetime)
            return p

        def jwt_rs256():
            token, public = rs256_token(tmp, lifetime)
            p = start_portico(tmp, backend.port, binary, name="portico-jwt-rs256",
                              auth=("jwt-rs", '{type: jwt, public_key: "%s", algorithms: [RS256]}' % public))
            p.token = token
            return p

        def once(key, start):
            if key not in started:
                started[key] = start()
            return started[key]

        def nginx_tls_listener():
            return once("nginx-tls-listener", lambda: start_nginx_proxy(
                tmp, backend.port, name="nginx-tls-listener", listener_tls=True))

        def portico_tls_listener():
            return once("portico-tls-listener", lambda: start_portico(
                tmp, backend.port, binary, name="portico-tls-listener", listener_tls=True))

        def handshakes(listener):
            """The listener's process with wrk sending `Connection: close` (and made unable to
            resume a session: bench/wrk_no_resume.c)."""
            if "wrk-shim" not in started_files:
                started_files["wrk-shim"] = build_wrk_shim(tmp)
            view = copy.copy(listener())
            view.headers = {"Connection": "close"}
            view.closes = True
            view.wrk_preload = started_files["wrk-shim"]
            return view

        def redis_server():
            def start():
                port = free_port()
                return Proc("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                                      "--save", "", "--appendonly", "no", "--dir", str(tmp)], port, tmp)
            return once("redis", start)

        def portico_rate_limit_redis():
            redis = redis_server()
            p = start_portico(tmp, backend.port, binary, name="portico-rate-limit-redis",
                              top_extra="rate_limits:\n  store: redis\n  redis: {url: redis://127.0.0.1:%d/0}\n"
                                        "  policies:\n" % redis.port + RATE_LIMIT_POLICY,
                              route_extra=RATE_LIMIT_ROUTE)
            p.redis = redis
            return p

        def portico_validate():
            schema = Path(tmp) / "order.schema.json"
            schema.write_text(ORDER_SCHEMA)
            return post_row(start_portico(
                tmp, backend.port, binary, name="portico-validate",
                route_extra="    validate: {json_schema: %s, max_body_bytes: 64KiB}\n" % schema), tmp)

        def ws_backend():
            return once("ws-backend", lambda: start_ws_backend(tmp))

        def json_row(p, encoding=None, cache_hit=False):
            """The row requests JSON10K_PATH (with `Accept-Encoding: encoding` when given)."""
            p.path, p.expect, p.encoding, p.cache_hit = JSON10K_PATH, backend.json10k, encoding, cache_hit
            if encoding:
                p.headers = {"Accept-Encoding": encoding}
            return p

        def portico_compress(name, encoding, level=None, cache=False):
            return json_row(start_portico(
                tmp, backend.port, binary, name=name, top_extra=compression_config(encoding, level),
                route_extra="    compress: true\n" + (CACHE_ROUTE if cache else "")), encoding, cache)

        def portico_cache_hit():
            p = start_portico(tmp, backend.port, binary, name="portico-cache-hit", route_extra=CACHE_ROUTE)
            p.cache_hit = True
            return p

        def portico_aggregate():
            # Three calls per request: the pool may hold three connections per client connection,
            # as three separately proxied requests would (nginx opens what it needs; `keepalive`
            # only bounds the idle ones).
            p = start_portico(tmp, backend.port, binary, name="portico-aggregate", action=AGG_ACTION,
                              max_connections=3 * UPSTREAM_POOL)
            p.path, p.expect = AGG_PATH, AGG_EXPECT
            return p

        def gin_dashboard():
            port = free_port()
            p = Proc("gin-dashboard", [str(build_gin_dashboard()), "-listen", "127.0.0.1:%d" % port,
                                       "-backend", "http://127.0.0.1:%d" % backend.port],
                     port, tmp, env=dict(os.environ, GOMAXPROCS="1"))
            p.path, p.expect = AGG_PATH, AGG_EXPECT
            return p

        def portico_ws():
            p = start_portico(tmp, ws_backend().port, binary, name="portico-ws")
            p.backend = ws_backend()
            return p

        starters = {
            "nginx+h2c": lambda: h2_row(start_nginx_proxy(tmp, backend.port, name="nginx-h2c",
                                                          listen_extra=" http2")),
            "haproxy+h2c": lambda: h2_row(start_haproxy_h2(tmp, backend.port)),
            "portico+h2c": lambda: h2_row(start_portico(tmp, backend.port, binary, name="portico-h2c")),
            "nginx+h2-tls": lambda: h2_row(start_nginx_proxy(tmp, backend.port, name="nginx-h2-tls",
                                                             listener_tls=True, listen_extra=" http2"), tls=True),
            "haproxy+h2-tls": lambda: h2_row(start_haproxy_h2(tmp, backend.port, tls=True,
                                                              name="haproxy-h2-tls"), tls=True),
            "portico+h2-tls": lambda: h2_row(start_portico(tmp, backend.port, binary, name="portico-h2-tls",
                                                           listener_tls=True), tls=True),
            "haproxy+h2c-1conn": lambda: h2_row(start_haproxy_h2(tmp, backend.port, name="haproxy-h2c-1conn"),
                                                one_connection=True),
            "portico+h2c-1conn": lambda: h2_row(start_portico(tmp, backend.port, binary,
                                                              name="portico-h2c-1conn"), one_connection=True),
            "nginx": lambda: start_nginx_proxy(tmp, backend.port),
            "haproxy": lambda: start_haproxy(tmp, backend.port),
            "portico": lambda: start_portico(tmp, backend.port, binary),
            "portico+log": lambda: start_portico(tmp, backend.port, binary, True, "portico-log"),
            "portico+resilience": lambda: start_portico(tmp, backend.ports, binary, name="portico-resilience",
                                                        upstream_extra=RESILIENCE),
            "portico+jwt-hs256": jwt_hs256,
            "portico+jwt-rs256": jwt_rs256,
            "portico+rate-limit": lambda: start_portico(
                tmp, backend.port, binary, name="portico-rate-limit",
                top_extra="rate_limits:\n  policies:\n" + RATE_LIMIT_POLICY, route_extra=RATE_LIMIT_ROUTE),
            "portico+rate-limit-redis": portico_rate_limit_redis,
            "portico+post": lambda: post_row(start_portico(tmp, backend.port, binary, name="portico-post"), tmp),
            "portico+validate": portico_validate,
            "nginx+tls-upstream": lambda: start_nginx_proxy(
                tmp, backend.tls_port, tls_ca=Path(tmp) / "backend-cert.pem", name="nginx-tls"),
            "portico+tls-upstream": lambda: start_portico(
                tmp, backend.tls_port, binary, name="portico-tls", scheme="https",
                upstream_extra="tls: {ca: %s, server_name: %s}" % (Path(tmp) / "backend-cert.pem",
                                                                    BACKEND_TLS_NAME)),
            "nginx+tls-listener": nginx_tls_listener,
            "portico+tls-listener": portico_tls_listener,
            "nginx+tls-handshake": lambda: handshakes(nginx_tls_listener),
            "portico+tls-handshake": lambda: handshakes(portico_tls_listener),
            "ws-direct": ws_backend,
            "portico+ws": portico_ws,
            "portico+respond": lambda: start_portico(
                tmp, backend.port, binary, name="portico-respond",
                action='    respond: {status: 200, body: "ok\\n"}\n'),
            "portico+cache-hit": portico_cache_hit,
            "nginx+json10k": lambda: json_row(start_nginx_proxy(tmp, backend.port, name="nginx-json10k")),
            "portico+json10k": lambda: json_row(start_portico(tmp, backend.port, binary, name="portico-json10k")),
            "portico+cache-hit-10k": lambda: json_row(start_portico(
                tmp, backend.port, binary, name="portico-cache-hit-10k", route_extra=CACHE_ROUTE),
                cache_hit=True),
            "nginx+gzip": lambda: json_row(start_nginx_proxy(
                tmp, backend.port, name="nginx-gzip",
                server_extra="\n    gzip on;\n    gzip_comp_level 5;\n    gzip_types application/json;"), "gzip"),
            "portico+gzip": lambda: portico_compress("portico-gzip", "gzip", 5),
            "portico+br": lambda: portico_compress("portico-br", "br"),
            "portico+zstd": lambda: portico_compress("portico-zstd", "zstd"),
            "portico+cache-gzip-hit": lambda: portico_compress("portico-cache-gzip-hit", "gzip", 5, cache=True),
            "portico+aggregate": portico_aggregate,
            "gin-dashboard": gin_dashboard,
        }
        if baseline_peer:
            starters[baseline_peer] = lambda: start_portico(
                tmp, backend.port, baseline_bin,
                name="portico-at-%s" % re.sub(r"[^A-Za-z0-9._-]", "_", args.baseline))
        for peer in args.peers:
            if peer in starters:
                try:
                    procs[peer] = starters[peer]()
                except RuntimeError as e:
                    if peer not in ABORTABLE and peer != baseline_peer:
                        raise
                    abort(peer, "did not start: %s" % e)
                    continue
                if procs[peer].token:
                    procs[peer].headers = {"Authorization": "Bearer " + procs[peer].token}
        print("bench: processes %s (tmp %s)" % ({k: p.pid for k, p in procs.items()}, tmp), flush=True)
        def alive(peer, rnd, where):
            if peer in dead:
                return False
            if procs[peer].proc.poll() is not None:
                dead[peer] = "exited with %s before round %d %s" % (
                    exit_text(procs[peer].proc.returncode), rnd, where)
                print("bench: %s %s" % (peer, dead[peer]), flush=True)
                return False
            return True

        for rnd in range(1, args.rounds + 1):
            for conns in args.conns:
                for peer in args.peers:
                    if peer in dead or peer in WS_PEERS:
                        continue
                    if procs[peer].proc.poll() is not None:
                        dead[peer] = "exited with %s before round %d c%d" % (
                            exit_text(procs[peer].proc.returncode), rnd, conns)
                        print("bench: %s %s" % (peer, dead[peer]), flush=True)
                        continue
                    try:
                        check_row(procs[peer])
                        if procs[peer].closes and peer not in session_checks:
                            session_checks[peer] = check_resumption(procs[peer], tmp)
                    except RowAborted as e:
                        abort(peer, "before round %d c%d: %s" % (rnd, conns, e))
                        continue
                    try:
                        r = measure(procs[peer], conns, args.duration, args.warmup)
                    except (OSError, RuntimeError) as e:
                        procs[peer].proc.poll()
                        dead[peer] = "died during round %d c%d (%s)" % (
                            rnd, conns, exit_text(procs[peer].proc.returncode) if
                            procs[peer].proc.returncode is not None else e)
                        print("bench: %s %s" % (peer, dead[peer]), flush=True)
                        continue
                    r["round"] = rnd
                    results.setdefault((peer, conns), []).append(r)
                    print("round %d c%-4d %-18s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  %8.0f req/CPU-s  "
                          "rss %6.1f MiB%s" % (rnd, conns, peer, r["rps"], r["p50"], r["p99"],
                                                r["req_per_cpu_s"], r["rss_kib"] / 1024,
                                                "  non-2xx %d" % r["non2xx"] if r["non2xx"] else ""),
                          flush=True)
                    if r["non2xx"] and peer in FEATURE_TARGETS:
                        print("bench: WARNING %s: %d of %d responses were not 2xx" % (
                            peer, r["non2xx"], r["requests"]), file=sys.stderr, flush=True)
            for peer in (p for p in args.peers if p in WS_PEERS):
                if not alive(peer, rnd, "ws"):
                    continue
                try:
                    check_ws(procs[peer].port)
                except RowAborted as e:
                    abort(peer, "before round %d: %s" % (rnd, e))
                    continue
                try:
                    r = measure_ws(procs[peer], args.duration, args.warmup, conns=args.ws_conns)
                except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
                    procs[peer].proc.poll()
                    dead[peer] = "died during round %d ws (%s)" % (
                        rnd, exit_text(procs[peer].proc.returncode) if
                        procs[peer].proc.returncode is not None else e)
                    print("bench: %s %s" % (peer, dead[peer]), flush=True)
                    continue
                r["round"] = rnd
                results.setdefault((peer, "ws"), []).append(r)
                print("round %d ws%-3d %-18s %9.0f msg/s  %6.1f CPU us/msg  %8.0f msg/CPU-s  errors %d"
                      % (rnd, args.ws_conns, peer, r["rate"], r["us_per_msg"], r["per_cpu_s"], r["errors"]),
                      flush=True)
        if args.idle:
            for peer in ("nginx", "haproxy", "portico"):
                if peer == "haproxy" and HAPROXY_MAXCONN() < args.idle + 10:
                    print("idle haproxy: skipped, maxconn %d under the open-file limit" % HAPROXY_MAXCONN())
                    continue
                if peer in procs and peer not in dead and procs[peer].proc.poll() is None:
                    idle[peer] = idle_connections_rss(procs[peer], args.idle)
                    print("idle %s: %s" % (peer, idle[peer]), flush=True)
    finally:
        stopped = set()
        for p in list(procs.values()) + list(started.values()):
            if id(p.proc) not in stopped:
                stopped.add(id(p.proc))
                p.stop()
    if args.jwt_micro:
        print("bench: %s --benchmark_min_time=%s" % (micro_path, MICRO_MIN_TIME), flush=True)
        micro = run_jwt_micro(micro_path)
        if "error" in micro:
            print("bench: JWT microbenchmark not run: %s" % micro["error"], file=sys.stderr, flush=True)
        for r in micro.get("rows", []):
            print("micro %-22s %10.0f CPU ns/op %12.0f per CPU-s%s" % (
                r["name"], r["cpu_ns"], r["per_cpu_s"], "  " + r["error"] if r["error"] else ""), flush=True)
    write_report(args.out, args, results, idle, machine_notes(binary, args), args.peers, dead, aborted,
                 micro, micro_path, session_checks)
    print("bench: wrote %s" % args.out)
    shutil.rmtree(tmp, ignore_errors=True)
    if aborted:
        sys.exit("bench: FAILED: %d row(s) aborted, their check before a timed run failed:\n%s" % (
            len(aborted), "\n".join("  %s: %s" % kv for kv in aborted.items())))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    main()
