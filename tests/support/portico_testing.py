"""Process and wire helpers shared by Portico's end-to-end tests and benchmarks.

Everything binds 127.0.0.1 and every process started here is stopped by its PID.
"""

import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests

# Everything here talks to 127.0.0.1 only: never through a proxy from the environment.
for _var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
UPSTREAM_SERVER = SUPPORT / "upstream_server.py"


def portico_bin():
    return Path(os.environ.get("PORTICO_BIN", ROOT / "build" / "portico"))


# How much slower than the Release build the gateway under test runs: the sanitizer builds
# (Debug, instrumented) take several times as long, and timing bounds stretch by this much.
SLOWDOWN = 4.0 if any(tree in str(portico_bin()) for tree in ("build-asan", "build-tsan")) else 1.0


_handed_out_ports = set()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now, and that this process has
    not handed out before: a port is free again once its probe socket closes, so two calls in a
    row (a listener and an admin port not yet bound) could otherwise return the same one."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out_ports:
            _handed_out_ports.add(port)
            return port
    raise RuntimeError("no unused port on 127.0.0.1 after 100 tries")


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def stop_pid(proc, grace=5.0):
    """SIGTERM, then SIGKILL after `grace` seconds; returns the exit code."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


def vm_hwm_kib(pid):
    """Peak resident set size (VmHWM) of a process, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM for pid %d" % pid)


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


# --- the test upstream ---------------------------------------------------------------------

TLS_KEYS = ("cert", "key", "client_ca", "client_cert", "client_key")


def _tls_paths(tls):
    """{cert, key, client_ca, client_cert, client_key} (str or None) from a dict or an object."""
    if tls is None:
        return None
    get = tls.get if isinstance(tls, dict) else (lambda k: getattr(tls, k, None))
    paths = {k: (str(get(k)) if get(k) else None) for k in TLS_KEYS}
    if not (paths["cert"] and paths["key"]):
        raise ValueError("an upstream's tls needs cert and key")
    return paths


class Upstream:
    """tests/support/upstream_server.py in its own process.

    tls: None for plain HTTP, else a dict (or an object with these attributes) of PEM paths:
    cert and key (what the server presents), optional client_ca (the server then requires a
    client certificate signed by it), and optional client_cert/client_key, the certificate this
    harness presents itself when it talks to such a server (stats(), upstream_control()). The
    harness trusts exactly the server's own certificate and does not check names.
    """

    def __init__(self, name="upstream", port=0, tls=None):
        self.name = name
        self.tls = _tls_paths(tls)
        cmd = [PYTHON, str(UPSTREAM_SERVER), "--port", str(port), "--name", name]
        if self.tls:
            cmd += ["--tls-cert", self.tls["cert"], "--tls-key", self.tls["key"]]
            if self.tls["client_ca"]:
                cmd += ["--tls-client-ca", self.tls["client_ca"]]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            stop_pid(self.proc)
            raise RuntimeError("upstream %s did not start: %r" % (name, line))
        self.port = int(line.split()[1])
        self.url = "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    @property
    def pid(self):
        return self.proc.pid

    def _client_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False  # some test certificates name other hosts on purpose
        ctx.load_verify_locations(self.tls["cert"])  # trust this very server certificate
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        if self.tls["client_cert"]:
            ctx.load_cert_chain(self.tls["client_cert"], self.tls["client_key"])
        return ctx

    def call(self, method, path, payload=None, timeout=5):
        """One request straight to the server (no gateway), on a connection of its own:
        the parsed JSON answer; raises on a status >= 400."""
        if not self.tls:
            r = requests.request(method, self.url + path, json=payload, timeout=timeout)
            r.raise_for_status()
            return r.json()
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self._client_context())
        try:
            body = None if payload is None else json.dumps(payload).encode()
            headers = {} if body is None else {"Content-Type": "application/json"}
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status >= 400:
            raise RuntimeError("%s %s on upstream %s: %d %r" % (method, path, self.name,
                                                                resp.status, data[:200]))
        return json.loads(data)

    def stats(self):
        """The server's /stats; over TLS too (then it counts one TLS handshake of its own)."""
        if self.tls:
            return self.call("GET", "/stats")
        return requests.get(self.url + "/stats", timeout=5).json()

    def stop(self):
        if self.proc.stdout:
            self.proc.stdout.close()
        return stop_pid(self.proc)


# --- the gateway ---------------------------------------------------------------------------

class GatewayStartError(RuntimeError):
    pass


class Gateway:
    """A running `portico run -c <file>`: the config is written to a temporary directory.

    Placeholders in the config text: @PORT@ (main listener), @PORT2@ (a second free port),
    @ADMIN_PORT@, @ACCESS_LOG@ (a file in the temporary directory), @DIR@ (that directory),
    and @NAME@ for every keyword given in `subst`.

    For a config whose listeners speak TLS (`server.tls`), give `tls_ca`, the PEM file that
    verifies the listener's certificate (its names are checked against 127.0.0.1), and, when
    the listener requires a client certificate, `tls_client_cert` as a (cert, key) pair: then
    .url is https://..., wait_healthy() checks /health over TLS, and request_kwargs() /
    session() give what a `requests` call needs. The admin listener stays plain HTTP.
    """

    def __init__(self, config_text, subst=None, args=(), wait=True, tmp_dir=None, env=None,
                 start_timeout=10.0, tls_ca=None, tls_client_cert=None):
        self.dir = Path(tmp_dir or tempfile.mkdtemp(prefix="portico-e2e-"))
        self.port = free_port()
        self.port2 = free_port()
        self.admin_port = free_port()
        self.access_log_path = self.dir / "access.log"
        self.values = {"PORT": self.port, "PORT2": self.port2, "ADMIN_PORT": self.admin_port,
                       "ACCESS_LOG": self.access_log_path, "DIR": self.dir}
        self.values.update(subst or {})
        self.config_path = self.dir / "portico.yaml"
        self.write_config(config_text)
        self.stderr_path = self.dir / "stderr.log"
        self.stdout_path = self.dir / "stdout.log"
        self.tls_ca = str(tls_ca) if tls_ca else None
        self.tls_client_cert = tuple(str(x) for x in tls_client_cert) if tls_client_cert else None
        self.url = "%s://127.0.0.1:%d" % ("https" if self.tls_ca else "http", self.port)
        self.admin_url = "http://127.0.0.1:%d" % self.admin_port
        self.uses_admin = "@ADMIN_PORT@" in config_text
        binary = portico_bin()
        if not binary.exists():
            raise GatewayStartError("portico binary not found at %s (run `make build`, or set "
                                    "PORTICO_BIN)" % binary)
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([str(binary), "run", "-c", str(self.config_path), *args],
                                     stdout=self._stdout, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL, cwd=str(self.dir),
                                     env=env)
        if wait:
            self.wait_healthy(start_timeout)

    def render(self, config_text):
        text = config_text
        for k, v in self.values.items():
            text = text.replace("@%s@" % k, str(v))
        return text

    def write_config(self, config_text):
        """Writes (or rewrites, for reload tests) the config file."""
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(self.render(config_text))
        os.replace(tmp, self.config_path)

    @property
    def pid(self):
        return self.proc.pid

    def request_kwargs(self):
        """Keyword arguments of a `requests` call to .url: the CA to verify the listener with
        and the client certificate, when the listener speaks TLS; {} when it does not."""
        if not self.tls_ca:
            return {}
        kwargs = {"verify": self.tls_ca}
        if self.tls_client_cert:
            kwargs["cert"] = self.tls_client_cert
        return kwargs

    def session(self):
        """A requests.Session set up for .url (see request_kwargs). It ignores the environment:
        REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE would otherwise win over the session's `verify`."""
        s = requests.Session()
        s.trust_env = False
        for k, v in self.request_kwargs().items():
            setattr(s, k, v)
        return s

    def wait_healthy(self, timeout=10.0):
        urls = [self.url + "/health"] + ([self.admin_url + "/health"] if self.uses_admin else [])
        deadline = time.monotonic() + timeout
        for url in urls:
            kwargs = self.request_kwargs() if url.startswith(self.url) else {}
            while True:
                if self.proc.poll() is not None:
                    raise GatewayStartError("portico exited with %s before serving; stderr:\n%s"
                                            % (self.proc.returncode, self.stderr_text()))
                try:
                    r = requests.get(url, timeout=1, **kwargs)
                    if r.status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise GatewayStartError("portico did not answer %s within %.0fs; stderr:\n%s"
                                            % (url, timeout, self.stderr_text()))
                time.sleep(0.05)

    def stderr_text(self):
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stdout_text(self):
        self._stdout.flush()
        return self.stdout_path.read_text(errors="replace")

    def access_log_lines(self):
        """Raw lines of the access log file (when the config points it at @ACCESS_LOG@)."""
        if not self.access_log_path.exists():
            return []
        return [l for l in self.access_log_path.read_text(errors="replace").splitlines() if l.strip()]

    def access_log_entries(self):
        return [json.loads(l) for l in self.access_log_lines()]

    def wait_access_log(self, predicate, timeout=5.0):
        """Waits until some access-log entry satisfies `predicate`; returns it (or None)."""
        found = []

        def check():
            for line in self.access_log_lines():
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if predicate(e):
                    found.append(e)
                    return True
            return False

        wait_until(check, timeout, 0.1)
        return found[0] if found else None

    def metrics(self):
        return requests.get(self.admin_url + "/metrics", timeout=5).text

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, grace=5.0):
        code = stop_pid(self.proc, grace)
        for f in (self._stdout, self._stderr):
            if not f.closed:
                f.close()
        return code


def make_config(upstreams=None, routes="", server_extra="", limits="", top_extra="",
                admin=True, access_log="@ACCESS_LOG@", workers=2):
    """A gateway config with the usual test shape: one listener, admin, access log to a file.

    `upstreams`: {name: url or [urls]} or raw YAML text; `routes`: the YAML list under routes:.
    """
    lines = ["server:", "  listen: [127.0.0.1:@PORT@]", "  workers: %s" % workers]
    if limits:
        lines.append("  limits: " + limits)
    if server_extra:
        lines.append(_block(server_extra))
    if admin:
        lines += ["admin:", "  listen: 127.0.0.1:@ADMIN_PORT@"]
    if upstreams:
        lines.append("upstreams:")
        if isinstance(upstreams, str):
            lines.append(_block(upstreams))
        else:
            for name, url in upstreams.items():
                urls = url if isinstance(url, list) else [url]
                lines.append("  %s: {targets: [%s]}" % (name, ", ".join(urls)))
    lines += ["observability:", "  access_log: {path: %s, format: json}" % access_log]
    if top_extra:
        lines.append(textwrap.dedent(top_extra).strip("\n"))
    if routes.strip():
        lines += ["routes:", _block(routes)]
    else:
        lines.append("routes: []")
    return "\n".join(lines) + "\n"


def _block(text, indent="  "):
    return textwrap.indent(textwrap.dedent(text).strip("\n"), indent)


# --- raw HTTP/1.1 over sockets -------------------------------------------------------------

def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class RawResponse:
    def __init__(self, version, status, reason, headers, body, chunked):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)]
        self.body = body
        self.chunked = chunked

    def header(self, name):
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return ", ".join(values) if values else None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<RawResponse %s %r %r>" % (self.status, self.headers, self.body[:200])


class ConnectionClosed(Exception):
    pass


class RawReader:
    """Reads HTTP/1.1 responses from a socket, keeping what was read past one response."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionClosed()
        self.buf += data

    def _until(self, sep):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + len(sep):]
                return out
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self):
        """(version, status, reason, [(name, value)]) of the next response."""
        head = self._until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        version, _, rest = lines[0].partition(" ")
        status_text, _, reason = rest.partition(" ")
        headers = []
        for l in lines[1:]:
            n, _, v = l.partition(":")
            headers.append((n, v.strip()))
        return version, int(status_text), reason, headers

    def iter_body(self, status, headers, method="GET"):
        """Yields the body of a response whose head was read, piece by piece (never whole)."""
        hmap = {n.lower(): v for n, v in headers}
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return
        if "chunked" in hmap.get("transfer-encoding", "").lower():
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    while self._until(b"\r\n"):
                        pass
                    return
                while size > 0:
                    if not self.buf:
                        self._fill()
                    data, self.buf = self.buf[:size], self.buf[size:]
                    size -= len(data)
                    yield data
                self._exact(2)
        elif "content-length" in hmap:
            left = int(hmap["content-length"])
            while left > 0:
                if not self.buf:
                    self._fill()
                data, self.buf = self.buf[:left], self.buf[left:]
                left -= len(data)
                yield data
        else:
            while True:
                if self.buf:
                    data, self.buf = self.buf, b""
                    yield data
                try:
                    self._fill()
                except ConnectionClosed:
                    return

    def read_response(self, method="GET"):
        """One response; raises ConnectionClosed when the peer closed before any byte of it."""
        version, status, reason, headers = self.read_head()
        body = b"".join(self.iter_body(status, headers, method))
        chunked = "chunked" in (dict((n.lower(), v) for n, v in headers)
                                .get("transfer-encoding", "").lower())
        return RawResponse(version, status, reason, headers, body, chunked)

    def closed_within(self, timeout):
        """True when the peer closes the connection (EOF or reset) within `timeout` seconds."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        finally:
            self.sock.settimeout(old)


def raw_exchange(port, data, method="GET", timeout=10.0):
    """Sends `data` on a new connection and reads one response."""
    with connect(port, timeout) as s:
        s.sendall(data)
        return RawReader(s).read_response(method)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# --- Prometheus text format ----------------------------------------------------------------

_LABEL = None


def parse_metrics(text):
    """[(name, {label: value}, float)] for every sample line of a Prometheus text exposition."""
    import re
    global _LABEL
    if _LABEL is None:
        _LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            labels_text, _, value_text = rest.rpartition("}")
            labels = dict(_LABEL.findall(labels_text))
        else:
            name, value_text = line.split(None, 1)
            labels = {}
        value_text = value_text.split()[0]
        out.append((name.strip(), labels, float(value_text)))
    return out


def metric_value(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`; None when there is none."""
    found = [v for n, l, v in parse_metrics(text)
             if n == name and all(l.get(k) == str(x) for k, x in labels.items())]
    return sum(found) if found else None


# --- upstream failure modes, black holes and the admin view of upstreams ---------------------

def assert_gateway_error(r, status):
    """`r` is the gateway's own JSON error answer with `status`, not a backend's."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json")
    body = r.json()
    assert body["status"] == status and body["error"] and body["request_id"], body
    assert "name" not in body  # backends of the tests name themselves in every answer


def upstream_control(up, **changes):
    """POST /control to a running upstream_server.py (see its docstring): mode=, ms=, status=,
    health=, reset_stats=. Returns the new control state."""
    if getattr(up, "tls", None):
        return up.call("POST", "/control", changes)
    r = requests.post(up.url + "/control", json=changes, timeout=5)
    r.raise_for_status()
    return r.json()


def upstream_hits(up, path=None):
    """Request heads the upstream received: on `path`, or in all (any mode, answered or not;
    /stats and /control excluded)."""
    stats = up.stats()
    return stats["received"] if path is None else stats["paths"].get(path, 0)


def target_key(up):
    """How the gateway names a target in metrics, the admin API and the access log."""
    return "127.0.0.1:%d" % up.port


class Blackhole:
    """A 127.0.0.1 listener whose accept queue is full, so that a new connect to it hangs
    (the kernel drops the SYNs) like one to a black-holed host. Use as a context manager, or
    call close()."""

    def __init__(self, fillers=8):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.fillers = []
        for _ in range(fillers):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(s)
        time.sleep(0.2)

    def close(self):
        for s in self.fillers:
            s.close()
        self.fillers = []
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def admin_upstreams(gw):
    """GET /admin/upstreams on the admin listener: {name: upstream object}."""
    r = requests.get(gw.admin_url + "/admin/upstreams", timeout=5)
    r.raise_for_status()
    return {u["name"]: u for u in r.json()["upstreams"]}


def admin_target(gw, upstream_name, up):
    """The /admin/upstreams entry of target `up` (an Upstream, or a "host:port" key)."""
    key = up if isinstance(up, str) else target_key(up)
    for t in admin_upstreams(gw)[upstream_name]["targets"]:
        if t["target"] == key:
            return t
    raise KeyError("no target %s in upstream %s" % (key, upstream_name))


def run_portico(*args, timeout=20):
    """Runs the gateway binary with `args` (validate, run...) to its end; the CompletedProcess."""
    binary = portico_bin()
    if not binary.exists():
        raise FileNotFoundError("portico binary not found at %s (make build)" % binary)
    return subprocess.run([str(binary), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def upload_gib(sock, chunked, gib=1 << 30, time_limit=180):
    """Sends `PUT /upload` with a body of `gib` random bytes (in 1 MiB blocks, chunked or with
    Content-Length) on `sock` and reads the answer: (RawResponse, the body's sha256 hex)."""
    block = os.urandom(1 << 20)
    blocks = gib // len(block)
    expected = hashlib.sha256()
    for _ in range(blocks):
        expected.update(block)
    framed = b"%x\r\n" % len(block) + block + b"\r\n" if chunked else block
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % gib
    start = time.monotonic()
    sock.sendall(b"PUT /upload HTTP/1.1\r\nHost: t\r\n%s\r\n\r\n" % framing)
    for _ in range(blocks):
        sock.sendall(framed)
        assert time.monotonic() - start < time_limit, "upload slower than %ds" % time_limit
    if chunked:
        sock.sendall(b"0\r\n\r\n")
    return RawReader(sock).read_response(), expected.hexdigest()
