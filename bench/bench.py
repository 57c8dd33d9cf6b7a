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
Before every timed run the row's request is sent once: it must answer 200 with the backend's body
(and, for the JWT rows, 401 without the token and with a forged signature), else the row is
aborted, reported, and the run exits non-zero. Then build/src/filters/jwt_auth/portico_jwt_bench
(Google Benchmark), when built, gives verifications per second per algorithm.

Everything binds 127.0.0.1; every process started here is stopped by its PID.
Run through bench/run.sh (it raises the open-file limit and checks the tools).
"""

import argparse
import base64
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
NOTES_MARKER = "<!-- Notes below this line are written by hand; bench.py keeps them when it rewrites the tables. -->"
UPSTREAM_POOL = 256  # nginx `keepalive` / the size every proxy may keep toward the backend
BACKEND_PORTS = 4  # the backend listens on this many ports: the targets of portico+resilience
BACKEND_TLS_NAME = "backend.bench"  # the name in its certificate, sent as SNI and checked

# The rows that run Portico with a feature on, and the requirement on each against the plain
# `portico` row of the same run (minimum ratio of req/s and of req per CPU-s).
FEATURE_TARGETS = {"portico+resilience": 0.95, "portico+jwt-hs256": 0.90, "portico+jwt-rs256": 0.90}
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
    body = """  server {
%s
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    location / { return 200 "ok\\n"; }
  }""" % ("\n".join("    listen 127.0.0.1:%d;" % p for p in ports), tls_port, cert, key)
    backend = start_nginx("backend", tmp, ports[0], body)
    for p in ports[1:] + [tls_port]:
        wait_port(p)
    backend.ports = ports
    backend.tls_port = tls_port  # the same answers over TLS: the target of the *+tls-upstream rows
    return backend


def backend_certificate(tmp):
    """A self-signed P-256 certificate for BACKEND_TLS_NAME, made with openssl for the run."""
    cert, key = Path(tmp) / "backend-cert.pem", Path(tmp) / "backend-key.pem"
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=%s" % BACKEND_TLS_NAME,
             "-addext", "subjectAltName=DNS:%s" % BACKEND_TLS_NAME])
    return cert, key


def start_nginx_proxy(tmp, backend_port, tls_ca=None, name="nginx"):
    """nginx proxying to the backend; with `tls_ca`, over TLS verified against that CA."""
    port = free_port()
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
    listen 127.0.0.1:%d;
    location / {
      proxy_pass %s://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";%s
    }
  }""" % (backend_port, UPSTREAM_POOL, port, "https" if tls_ca else "http", tls)
    return start_nginx(name, tmp, port, body)


def HAPROXY_MAXCONN():
    # haproxy needs about two descriptors per connection and refuses to start without them.
    return min(40000, (fd_limit() - 100) // 2)


def start_haproxy(tmp, backend_port):
    port = free_port()
    conf = Path(tmp) / "haproxy.cfg"
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
  bind 127.0.0.1:%d
  default_backend be
backend be
  server s1 127.0.0.1:%d
""" % (HAPROXY_MAXCONN(), port, backend_port))
    return Proc("haproxy", ["haproxy", "-db", "-f", str(conf)], port, tmp)


def indent(text, by):
    return "\n".join(by + line for line in text.splitlines())


def start_portico(tmp, backend_ports, binary, access_log=False, name="portico", upstream_extra="",
                  auth=None, scheme="http"):
    """Portico, `workers: 1`, one route `/` to upstream `backend` (targets: `backend_ports`, a port
    or a list), with extra upstream keys (YAML) and optionally `auth`: (provider name, provider
    YAML flow mapping) that the route uses."""
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
admin:
  listen: 127.0.0.1:%d
upstreams:
  backend:
    targets: [%s]
    max_connections: %d
""" % (port, admin, targets, UPSTREAM_POOL)
    if upstream_extra:
        text += indent(upstream_extra, "    ") + "\n"
    if auth:
        text += "auth:\n  %s: %s\n" % auth
    text += """observability:
  access_log: {path: %s, format: json}
  log_level: warn
routes:
  - name: all
    match: {prefix: /}
    upstream: backend
""" % log
    if auth:
        text += "    auth: %s\n" % auth[0]
    conf.write_text(text)
    return Proc(name, [str(binary), "run", "-c", str(conf)], port, tmp)


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


def get(port, headers):
    """GET / on 127.0.0.1:port with `headers` ({name: value}); returns (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def check_row(proc):
    """Raise RowAborted unless the request wrk will send answers 200 with the backend's body and,
    for a row with a token, the same request answers 401 without it and with a forged one."""
    def fetch(headers, what):
        try:
            return get(proc.port, headers)
        except (OSError, http.client.HTTPException) as e:
            raise RowAborted("%s: %s" % (what, e))
    status, body = fetch(proc.headers, "the request wrk sends")
    if status != 200 or body != b"ok\n":
        raise RowAborted("the request wrk sends answered %d %r, not 200 'ok\\n' from the backend"
                         % (status, body[:200]))
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


def wrk(port, conns, seconds, latency=True, headers=None):
    argv = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "--timeout", "5s"]
    if latency:
        argv.append("--latency")
    for name, value in (headers or {}).items():
        argv += ["-H", "%s: %s" % (name, value)]
    argv.append("http://127.0.0.1:%d/" % port)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
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
    return res


def measure(proc, conns, seconds, warmup):
    wrk(proc.port, conns, warmup, latency=False, headers=proc.headers)
    before = cpu_seconds(proc.pid)
    res = wrk(proc.port, conns, seconds, headers=proc.headers)
    res["cpu"] = cpu_seconds(proc.pid) - before
    res["req_per_cpu_s"] = res["requests"] / res["cpu"] if res["cpu"] > 0 else float("nan")
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


def machine_notes(binary):
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
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    return [
        "CPU: %s, %d cores; memory %s; kernel %s" % (cpu, os.cpu_count(), mem, platform.release()),
        "nginx: %s; haproxy: %s; wrk: %s; openssl: %s" % (
            tool_version(["nginx", "-v"]), tool_version(["haproxy", "-v"]),
            tool_version(["wrk", "-v"]), tool_version(["openssl", "version"])),
        "Portico: %s (commit %s)" % (tool_version([str(binary), "version"]), commit),
        "Load average when the run started: %.2f %.2f %.2f (other work on the machine shows up as "
        "noise between rounds)" % LOAD_AT_START,
    ]


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


def write_report(path, args, results, idle, notes, peers, dead=None, aborted=None, micro=None,
                 micro_path=None):
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
              "- \"vs plain proxy\": a `portico+…` row against the `portico` row of the same run.", ""]
    for conns in args.conns:
        lines += ["## wrk -c%d" % conns, "",
                  "| peer | req/s | p50 ms | p99 ms | req per CPU-s | RSS MiB | req/s vs nginx | req/CPU-s vs nginx "
                  "| req/s vs plain proxy | req/CPU-s vs plain proxy | errors |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        base = results.get(("nginx", conns))
        plain = results.get(("portico", conns))
        summary = {}
        for peer in peers:
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
            for p in peers if results.get((p, conns))))
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
                 "portico+jwt-hs256", "portico+jwt-rs256", "nginx+tls-upstream", "portico+tls-upstream"]
# Rows compared with a peer of their own kind rather than with plain nginx.
PAIRS = {"portico+tls-upstream": "nginx+tls-upstream"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--portico", default=str(ROOT / "build" / "portico"))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 3)))
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", 10)))
    ap.add_argument("--warmup", type=int, default=int(os.environ.get("BENCH_WARMUP", 3)))
    ap.add_argument("--conns", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--idle", type=int, default=int(os.environ.get("BENCH_IDLE", 10000)))
    ap.add_argument("--peers", nargs="+", default=DEFAULT_PEERS, choices=DEFAULT_PEERS, metavar="PEER",
                    help="rows to measure, in this order (default: all: %s)" % " ".join(DEFAULT_PEERS))
    ap.add_argument("--jwt-micro", action=argparse.BooleanOptionalAction,
                    default=os.environ.get("BENCH_JWT_MICRO", "1") != "0",
                    help="run portico_jwt_bench after the load rounds (default: yes, when it is built)")
    ap.add_argument("--jwt-micro-bin", default=None,
                    help="default: src/filters/jwt_auth/portico_jwt_bench next to --portico")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()

    for tool in ("nginx", "haproxy", "wrk"):
        if not shutil.which(tool):
            sys.exit("bench: %s not found (scripts/install-deps.sh --bench)" % tool)
    binary = Path(args.portico)
    if not binary.exists():
        sys.exit("bench: %s not found (make build)" % binary)
    micro_path = Path(args.jwt_micro_bin) if args.jwt_micro_bin else \
        binary.resolve().parent / "src" / "filters" / "jwt_auth" / "portico_jwt_bench"

    tmp = tempfile.mkdtemp(prefix="portico-bench-")
    procs = {}
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

        starters = {
            "nginx": lambda: start_nginx_proxy(tmp, backend.port),
            "haproxy": lambda: start_haproxy(tmp, backend.port),
            "portico": lambda: start_portico(tmp, backend.port, binary),
            "portico+log": lambda: start_portico(tmp, backend.port, binary, True, "portico-log"),
            "portico+resilience": lambda: start_portico(tmp, backend.ports, binary, name="portico-resilience",
                                                        upstream_extra=RESILIENCE),
            "portico+jwt-hs256": jwt_hs256,
            "portico+jwt-rs256": jwt_rs256,
            "nginx+tls-upstream": lambda: start_nginx_proxy(
                tmp, backend.tls_port, tls_ca=Path(tmp) / "backend-cert.pem", name="nginx-tls"),
            "portico+tls-upstream": lambda: start_portico(
                tmp, backend.tls_port, binary, name="portico-tls", scheme="https",
                upstream_extra="tls: {ca: %s, server_name: %s}" % (Path(tmp) / "backend-cert.pem",
                                                                    BACKEND_TLS_NAME)),
        }
        for peer in args.peers:
            if peer in starters:
                try:
                    procs[peer] = starters[peer]()
                except RuntimeError as e:
                    if peer not in FEATURE_TARGETS:
                        raise
                    abort(peer, "did not start: %s" % e)
                    continue
                if procs[peer].token:
                    procs[peer].headers = {"Authorization": "Bearer " + procs[peer].token}
        print("bench: processes %s (tmp %s)" % ({k: p.pid for k, p in procs.items()}, tmp), flush=True)
        for rnd in range(1, args.rounds + 1):
            for conns in args.conns:
                for peer in args.peers:
                    if peer in dead:
                        continue
                    if procs[peer].proc.poll() is not None:
                        dead[peer] = "exited with %s before round %d c%d" % (
                            exit_text(procs[peer].proc.returncode), rnd, conns)
                        print("bench: %s %s" % (peer, dead[peer]), flush=True)
                        continue
                    try:
                        check_row(procs[peer])
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
        if args.idle:
            for peer in ("nginx", "haproxy", "portico"):
                if peer == "haproxy" and HAPROXY_MAXCONN() < args.idle + 10:
                    print("idle haproxy: skipped, maxconn %d under the open-file limit" % HAPROXY_MAXCONN())
                    continue
                if peer in procs and peer not in dead and procs[peer].proc.poll() is None:
                    idle[peer] = idle_connections_rss(procs[peer], args.idle)
                    print("idle %s: %s" % (peer, idle[peer]), flush=True)
    finally:
        for p in procs.values():
            p.stop()
    if args.jwt_micro:
        print("bench: %s --benchmark_min_time=%s" % (micro_path, MICRO_MIN_TIME), flush=True)
        micro = run_jwt_micro(micro_path)
        if "error" in micro:
            print("bench: JWT microbenchmark not run: %s" % micro["error"], file=sys.stderr, flush=True)
        for r in micro.get("rows", []):
            print("micro %-22s %10.0f CPU ns/op %12.0f per CPU-s%s" % (
                r["name"], r["cpu_ns"], r["per_cpu_s"], "  " + r["error"] if r["error"] else ""), flush=True)
    write_report(args.out, args, results, idle, machine_notes(binary), args.peers, dead, aborted,
                 micro, micro_path)
    print("bench: wrote %s" % args.out)
    shutil.rmtree(tmp, ignore_errors=True)
    if aborted:
        sys.exit("bench: FAILED: %d row(s) aborted, their check before a timed run failed:\n%s" % (
            len(aborted), "\n".join("  %s: %s" % kv for kv in aborted.items())))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    main()
