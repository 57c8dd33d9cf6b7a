#!/usr/bin/env python3
"""Load benchmark: Portico against nginx and haproxy as proxies, per shared/design/benchmarking.md.

One backend (nginx, 1 worker, `return 200 "ok\\n"`); each proxy with one worker in front of it;
wrk -t1 at each concurrency, a warm-up first, peers interleaved, several rounds, medians.
Reports requests/s, p50/p99 latency, requests per CPU-second of the proxy process, RSS, and RSS
with many idle keep-alive client connections. Writes bench/RESULTS.md.

Everything binds 127.0.0.1; every process started here is stopped by its PID.
Run through bench/run.sh (it raises the open-file limit and checks the tools).
"""

import argparse
import datetime
import os
import platform
import re
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
    port = free_port()
    body = """  server {
    listen 127.0.0.1:%d;
    location / { return 200 "ok\\n"; }
  }""" % port
    return start_nginx("backend", tmp, port, body)


def start_nginx_proxy(tmp, backend_port):
    port = free_port()
    body = """  upstream backend {
    server 127.0.0.1:%d;
    keepalive %d;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:%d;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }""" % (backend_port, UPSTREAM_POOL, port)
    return start_nginx("nginx", tmp, port, body)


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


def start_portico(tmp, backend_port, binary, access_log=False, name="portico"):
    port = free_port()
    admin = free_port()
    conf = Path(tmp) / ("%s.yaml" % name)
    log = "%s/%s-access.log" % (tmp, name) if access_log else "off"
    conf.write_text("""server:
  listen: [127.0.0.1:%d]
  workers: 1
  limits: {idle_timeout: 120s}
admin:
  listen: 127.0.0.1:%d
upstreams:
  backend:
    targets: [http://127.0.0.1:%d]
    max_connections: %d
observability:
  access_log: {path: %s, format: json}
  log_level: warn
routes:
  - name: all
    match: {prefix: /}
    upstream: backend
""" % (port, admin, backend_port, UPSTREAM_POOL, log))
    return Proc(name, [str(binary), "run", "-c", str(conf)], port, tmp)


# --- wrk -------------------------------------------------------------------------------------

def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        return float("nan")
    v = float(m.group(1))
    return {"us": v / 1000, "ms": v, "s": v * 1000, "m": v * 60000}[m.group(2)]


def wrk(port, conns, seconds, latency=True):
    argv = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "--timeout", "5s"]
    if latency:
        argv.append("--latency")
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
    wrk(proc.port, conns, warmup, latency=False)
    before = cpu_seconds(proc.pid)
    res = wrk(proc.port, conns, seconds)
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
        "nginx: %s; haproxy: %s; wrk: %s" % (tool_version(["nginx", "-v"]),
                                              tool_version(["haproxy", "-v"]),
                                              tool_version(["wrk", "-v"])),
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


def write_report(path, args, results, idle, notes, peers, dead=None):
    lines = ["# Portico benchmark results", "",
             "Run on %s by `make bench` (bench/run.sh)." % datetime.datetime.now().strftime("%Y-%m-%d %H:%M %Z").strip(),
             "", "## Machine", ""]
    lines += ["- " + n for n in notes]
    lines += ["", "## Setup", "",
              "- Backend: nginx, 1 worker, `return 200 \"ok\\n\"`, access log off, keepalive_requests 1000000.",
              "- nginx proxy: 1 worker (`master_process off`), `upstream { keepalive %d; keepalive_requests 1000000; }`, "
              "`proxy_http_version 1.1`, `proxy_set_header Connection \"\"`, access log off." % UPSTREAM_POOL,
              "- haproxy: `nbthread 1`, `http-reuse always`.",
              "- Portico: `workers: 1`, upstream `max_connections: %d`, access log off "
              "(`portico+log`: access log on, JSON to a file)." % UPSTREAM_POOL,
              "- Load: `wrk -t1 -c<N> -d%ds --latency` after a %d s warm-up, peers interleaved, "
              "%d rounds, medians. Everything on 127.0.0.1; wrk, proxy and backend share the machine's cores."
              % (args.duration, args.warmup, args.rounds),
              "- Requests per CPU-second: requests served / (utime+stime of the proxy process during the run, "
              "from /proc/PID/stat). Steadier than req/s on a shared 2-core machine; differences in req/s "
              "under ~20% are noise here.", ""]
    for conns in args.conns:
        lines += ["## wrk -c%d" % conns, "",
                  "| peer | req/s | p50 ms | p99 ms | req per CPU-s | RSS MiB | req/s vs nginx | req/CPU-s vs nginx | errors |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        base = results.get(("nginx", conns))
        for peer in peers:
            runs = results.get((peer, conns))
            if not runs:
                continue
            rps = med([r["rps"] for r in runs])
            rpc = med([r["req_per_cpu_s"] for r in runs]) if peer != "direct" else float("nan")
            rss = max(r["rss_kib"] for r in runs) / 1024
            errors = sum(r["non2xx"] for r in runs)
            sock = "; ".join(sorted({r["socket_errors"] for r in runs if r["socket_errors"]}))
            ratio_rps = ratio_cpu = float("nan")
            if base and peer not in ("nginx", "direct"):
                ratio_rps = rps / med([r["rps"] for r in base])
                ratio_cpu = rpc / med([r["req_per_cpu_s"] for r in base])
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                peer + (" (backend alone)" if peer == "direct" else ""),
                fmt(rps, ".0f"), fmt(med([r["p50"] for r in runs]), ".2f"),
                fmt(med([r["p99"] for r in runs]), ".2f"), fmt(rpc, ".0f"), fmt(rss, ".1f"),
                fmt(ratio_rps, ".2f") + ("×" if ratio_rps == ratio_rps else ""),
                fmt(ratio_cpu, ".2f") + ("×" if ratio_cpu == ratio_cpu else ""),
                (("non-2xx %d" % errors) if errors else "") + ((" " + sock) if sock else "") or "—"))
        lines.append("")
        lines.append("Per round req/s: " + "; ".join(
            "%s %s" % (p, "/".join("%.0f" % r["rps"] for r in results.get((p, conns), [])))
            for p in peers if results.get((p, conns))))
        lines.append("")
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
    # Hand-written analysis below the marker survives a rerun.
    old = Path(path).read_text() if Path(path).exists() else ""
    if NOTES_MARKER in old:
        lines += ["", NOTES_MARKER + old.split(NOTES_MARKER, 1)[1].rstrip("\n")]
    Path(path).write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--portico", default=str(ROOT / "build" / "portico"))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 3)))
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", 10)))
    ap.add_argument("--warmup", type=int, default=int(os.environ.get("BENCH_WARMUP", 3)))
    ap.add_argument("--conns", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--idle", type=int, default=int(os.environ.get("BENCH_IDLE", 10000)))
    ap.add_argument("--peers", nargs="+", default=["direct", "nginx", "haproxy", "portico", "portico+log"])
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()

    for tool in ("nginx", "haproxy", "wrk"):
        if not shutil.which(tool):
            sys.exit("bench: %s not found (scripts/install-deps.sh --bench)" % tool)
    binary = Path(args.portico)
    if not binary.exists():
        sys.exit("bench: %s not found (make build)" % binary)

    tmp = tempfile.mkdtemp(prefix="portico-bench-")
    procs = {}
    results = {}
    idle = {}
    dead = {}
    try:
        backend = start_backend(tmp)
        procs["direct"] = backend
        starters = {
            "nginx": lambda: start_nginx_proxy(tmp, backend.port),
            "haproxy": lambda: start_haproxy(tmp, backend.port),
            "portico": lambda: start_portico(tmp, backend.port, binary),
            "portico+log": lambda: start_portico(tmp, backend.port, binary, True, "portico-log"),
        }
        for peer in args.peers:
            if peer in starters:
                procs[peer] = starters[peer]()
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
                        r = measure(procs[peer], conns, args.duration, args.warmup)
                    except (OSError, RuntimeError) as e:
                        procs[peer].proc.poll()
                        dead[peer] = "died during round %d c%d (%s)" % (
                            rnd, conns, exit_text(procs[peer].proc.returncode) if
                            procs[peer].proc.returncode is not None else e)
                        print("bench: %s %s" % (peer, dead[peer]), flush=True)
                        continue
                    results.setdefault((peer, conns), []).append(r)
                    print("round %d c%-4d %-12s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  %8.0f req/CPU-s  "
                          "rss %6.1f MiB%s" % (rnd, conns, peer, r["rps"], r["p50"], r["p99"],
                                                r["req_per_cpu_s"], r["rss_kib"] / 1024,
                                                "  non-2xx %d" % r["non2xx"] if r["non2xx"] else ""),
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
        for p in procs.values():
            p.stop()
    write_report(args.out, args, results, idle, machine_notes(binary), args.peers, dead)
    print("bench: wrote %s" % args.out)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    main()
