"""TLS listeners (`server.tls`): the client-facing side of the gateway speaking TLS.

Certificates are made at test time with the `openssl` command line (a listener CA that no system
store trusts, server certificates for default.test + 127.0.0.1, api.example.test and
*.example.test, client certificates signed by that CA and by a rogue one). Real clients talk to
the gateway: Python's ssl module and `requests`, `openssl s_client` and curl. What the backend
saw shows in tests/support/upstream_server.py's /echo answer (path and request headers).

What is asserted:
- SNI picks the certificate naming the host (exact, then one-label wildcard), else the first;
- ALPN offers h2 before http/1.1 (server.http2, on by default): a client offering both gets h2,
  one offering http/1.1 only gets HTTP/1.1 (HTTP/2 itself: tests/e2e/test_http2.py);
- TLS 1.0 and 1.1 are refused; min_version "1.3" refuses TLS 1.2;
- sessions resume (TLS 1.3 tickets and TLS 1.2);
- mutual TLS: require / optional, the verified subject in X-Client-Cert-Subject (RFC 2253) and
  in {client_cert.subject}; a client-sent X-Client-Cert-Subject never reaches the backend;
- X-Forwarded-Proto: https;
- plain HTTP on the TLS port, a silent connection, a half-sent head all end in bounded time;
- a reload reads the certificate files again: new handshakes get the new certificate, open
  connections keep serving; a reload to a broken certificate keeps the old one;
- `portico validate` refuses unreadable / non-PEM / mismatched files and client_auth without
  client_ca, at the line naming them;
- (slow) 1 GiB through a TLS listener with flat memory.
"""

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import warnings
from collections import namedtuple
from types import SimpleNamespace
from urllib.parse import unquote

import pytest
import requests

import portico_testing as pt
import tls_testing
import upstream_server

Pair = namedtuple("Pair", "cert key")

ROUTES = """
- {name: whoami, match: {prefix: /whoami}, upstream: up, rewrite: "/echo/{client_cert.subject}"}
- {name: all, match: {prefix: /}, upstream: up}
"""

ALICE_SUBJECT = "CN=alice,O=Portico Test"
GIB = 1 << 30
RSS_LIMIT_KIB = 64 * 1024

# --- certificates ---------------------------------------------------------------------------

_CNF = tls_testing.CA_CNF
_NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(d, *args):
    tls_testing._run(*args, cwd=d)


def _make_ca(d, name, subject):
    _openssl(d, "req", "-x509", "-config", "openssl.cnf", "-extensions", "ca_ext", *_NEW_KEY,
             "-keyout", name + ".key", "-out", name + ".pem", "-days", "2", "-subj", subject)
    return Pair(d / (name + ".pem"), d / (name + ".key"))


def _issue(d, name, subject, ca, names=(), client=False):
    """A leaf certificate signed by `ca` (a Pair in `d`): for servers with subjectAltName
    `names`, or for clients (extendedKeyUsage clientAuth)."""
    ext = ["basicConstraints = critical, CA:FALSE",
           "keyUsage = critical, digitalSignature",
           "extendedKeyUsage = " + ("clientAuth" if client else "serverAuth"),
           "subjectKeyIdentifier = hash",
           "authorityKeyIdentifier = keyid"]
    if names:
        ext.append("subjectAltName = " + ", ".join(names))
    (d / (name + ".ext")).write_text("\n".join(ext) + "\n")
    _openssl(d, "req", "-new", "-config", "openssl.cnf", *_NEW_KEY, "-keyout", name + ".key",
             "-out", name + ".csr", "-subj", subject)
    _openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", ca.cert.name, "-CAkey", ca.key.name,
             "-set_serial", "0x" + secrets.token_hex(8), "-days", "2",
             "-extfile", name + ".ext", "-out", name + ".pem")
    return Pair(d / (name + ".pem"), d / (name + ".key"))


def rfc2253_subject(cert_path):
    """The certificate's subject as `openssl x509 -nameopt RFC2253` prints it."""
    p = subprocess.run([tls_testing.openssl_bin(), "x509", "-in", str(cert_path), "-noout",
                        "-subject", "-nameopt", "RFC2253"], capture_output=True, text=True,
                       timeout=10, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip().split("=", 1)[1].strip()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("listener-certs")
    (d / "openssl.cnf").write_text(_CNF)
    ca = _make_ca(d, "ca", "/O=Portico Test/CN=Portico Listener Test CA")
    rogue_ca = _make_ca(d, "rogue-ca", "/O=Elsewhere/CN=Rogue CA")
    c = SimpleNamespace(dir=d, ca=ca, rogue_ca=rogue_ca)
    c.default = _issue(d, "default", "/CN=default.test", ca, ["DNS:default.test", "IP:127.0.0.1"])
    c.exact = _issue(d, "exact", "/CN=api.example.test", ca, ["DNS:api.example.test"])
    c.wildcard = _issue(d, "wildcard", "/CN=*.example.test", ca, ["DNS:*.example.test"])
    c.rotated = _issue(d, "rotated", "/CN=rotated.test", ca, ["DNS:rotated.test", "IP:127.0.0.1"])
    c.alice = _issue(d, "alice", "/O=Portico Test/CN=alice", ca, client=True)
    c.bob = _issue(d, "bob", "/C=DE/O=Portico Test/OU=Team, Ops/CN=bob", ca, client=True)
    c.mallory = _issue(d, "mallory", "/O=Portico Test/CN=mallory", rogue_ca, client=True)
    (d / "not-pem.txt").write_text("this is not a PEM file\n")
    return c


# --- gateways and clients -------------------------------------------------------------------

def q(value):
    return json.dumps(str(value))


def tls_yaml(certificates, **options):
    """`tls: {...}` (flow style) for server_extra: certificates is a list of Pairs."""
    items = ["certificates: [%s]" % ", ".join("{cert: %s, key: %s}" % (q(p.cert), q(p.key))
                                             for p in certificates)]
    items += ["%s: %s" % (k, q(v)) for k, v in options.items()]
    return "tls: {%s}" % ", ".join(items)


def listener_config(up, tls, limits="", workers=2, extra="", routes=ROUTES, access_log="@ACCESS_LOG@"):
    server_extra = tls + ("\n" + extra if extra else "")
    return pt.make_config(upstreams={"up": up.url}, routes=routes, server_extra=server_extra,
                          limits=limits, workers=workers, access_log=access_log)


def _start(launcher, certs, config_text, tls_client_cert=None, wait=True, **subst):
    gw = pt.Gateway(config_text, subst=subst, wait=False, tls_ca=certs.ca.cert,
                    tls_client_cert=tls_client_cert,
                    tmp_dir=launcher.tmp_path_factory.mktemp("gateway"))
    launcher.started.append(gw)  # stopped by PID at the end, also when it fails to start
    if wait:
        gw.wait_healthy()
    return gw


@pytest.fixture
def tls_gateway(_launcher, certs):
    """Factory: tls_gateway(config_text, tls_client_cert=None, **placeholders) -> a healthy
    pt.Gateway whose .url is https and verified against the listener test CA."""
    return lambda config_text, **kw: _start(_launcher, certs, config_text, **kw)


@pytest.fixture(scope="module")
def up(module_upstream):
    return module_upstream("listener-tls-up")


@pytest.fixture(scope="module")
def sni_gw(_module_launcher, certs, up):
    """One gateway with three certificates: the default first, the wildcard before the exact
    name (so that exact-before-wildcard is not an accident of the order)."""
    return _start(_module_launcher, certs,
                  listener_config(up, tls_yaml([certs.default, certs.wildcard, certs.exact])))


@pytest.fixture(scope="module")
def mtls_gw(_module_launcher, certs, up):
    return _start(_module_launcher, certs,
                  listener_config(up, tls_yaml([certs.default], client_ca=certs.ca.cert,
                                               client_auth="require")),
                  tls_client_cert=certs.alice)


@pytest.fixture(scope="module")
def optional_gw(_module_launcher, certs, up):
    return _start(_module_launcher, certs,
                  listener_config(up, tls_yaml([certs.default], client_ca=certs.ca.cert,
                                               client_auth="optional")))


def client_context(ca, client=None, alpn=None, min_version=None, max_version=None,
                   ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # which certificate came is what these tests look at
    ctx.load_verify_locations(str(ca))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1 / TLSv1_1 on purpose
        if min_version is not None:
            ctx.minimum_version = min_version
        if max_version is not None:
            ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    if client is not None:
        ctx.load_cert_chain(str(client.cert), str(client.key))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_connect(port, ca, sni=None, timeout=5.0, **ctx_options):
    """A TLS connection to 127.0.0.1:port, handshake done; SNI `sni` (None: no SNI)."""
    ctx = client_context(ca, **ctx_options)
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        return ctx.wrap_socket(raw, server_hostname=sni)
    except BaseException:
        raw.close()
        raise


def common_name(tls):
    for rdn in tls.getpeercert()["subject"]:
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


class Client:
    """HTTP/1.1 over one TLS connection."""

    def __init__(self, tls):
        self.tls = tls
        self.reader = pt.RawReader(tls)

    def send(self, method="GET", path="/echo", headers=(), body=b""):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: tls.test"]
        lines += ["%s: %s" % h for h in headers]
        if body or method in ("POST", "PUT"):
            lines.append("Content-Length: %d" % len(body))
        self.tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def request(self, method="GET", path="/echo", headers=(), body=b""):
        self.send(method, path, headers, body)
        return self.reader.read_response(method)

    def close(self):
        self.tls.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def header_values(echo, name):
    return [v for k, v in echo["headers"] if k.lower() == name.lower()]


def outcome(port, ca, **kw):
    """What a client gets from a handshake and one GET: "answered <status>", "refused" (the
    handshake, or TLS 1.3's post-handshake certificate check, failed; or the connection
    closed without an answer), or "hung"."""
    try:
        with Client(tls_connect(port, ca, **kw)) as c:
            r = c.request("GET", "/echo")
            return "answered %d" % r.status
    except TimeoutError:  # socket.timeout
        return "hung"
    except (ssl.SSLError, ConnectionError, pt.ConnectionClosed, OSError):
        return "refused"


def s_client(port, *args, stdin=b"", timeout=15):
    """`openssl s_client -connect 127.0.0.1:port ARGS` fed `stdin`: (exit code, output)."""
    cmd = [tls_testing.openssl_bin(), "s_client", "-connect", "127.0.0.1:%d" % port, *args]
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).decode("latin-1")


HTTP_CLOSE = b"GET /health HTTP/1.1\r\nHost: tls.test\r\nConnection: close\r\n\r\n"


def curl_bin():
    path = shutil.which("curl")
    if path is None:
        pytest.skip("curl is not installed")
    return path


# --- serving over TLS -----------------------------------------------------------------------

def test_https_request_is_proxied_with_forwarded_proto_https(sni_gw):
    """A request over TLS reaches the backend whole; X-Forwarded-Proto says https even when the
    (untrusted) client claimed http, and Forwarded carries proto=https."""
    with sni_gw.session() as s:
        r = s.get(sni_gw.url + "/echo/a?x=1", headers={"X-Forwarded-Proto": "http",
                                                       "X-Tls-Listener": "kept"}, timeout=10)
    assert r.status_code == 200, r.text
    echo = r.json()
    assert echo["path"] == "/echo/a" and echo["query"] == "x=1", echo
    assert header_values(echo, "X-Tls-Listener") == ["kept"]
    assert header_values(echo, "X-Forwarded-Proto") == ["https"], echo["headers"]
    forwarded = header_values(echo, "Forwarded")
    assert len(forwarded) == 1 and "proto=https" in forwarded[0].lower(), forwarded
    assert header_values(echo, "X-Client-Cert-Subject") == []  # no client_ca: no subject


@pytest.mark.parametrize("flag, version", [("--http2", "2"), ("--http1.1", "1.1")])
def test_curl_gets_an_answer_over_h2_or_http11(sni_gw, flag, version):
    """curl verifying against the test CA gets HTTP/2 when it asks for it (ALPN h2), else
    HTTP/1.1; either way the backend sees X-Forwarded-Proto: https."""
    p = subprocess.run([curl_bin(), "-sS", flag, "--cacert", str(sni_gw.tls_ca),
                        "-o", "-", "-w", "\n%{http_code} %{http_version}",
                        sni_gw.url + "/echo"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    body, _, tail = p.stdout.rpartition("\n")
    assert tail == "200 " + version, (tail, p.stderr)
    assert header_values(json.loads(body), "X-Forwarded-Proto") == ["https"]


def test_keepalive_and_pipelining_over_one_tls_connection(sni_gw, certs):
    """Sequential requests, a POST body spanning many TLS records, pipelined requests sent in
    one write, and requests after an idle pause all get their answers, in order, on one
    connection."""
    body = os.urandom(300_000)
    with Client(tls_connect(sni_gw.port, certs.ca.cert)) as c:
        for i in range(3):
            r = c.request("GET", "/echo?i=%d" % i)
            assert r.status == 200 and r.json()["query"] == "i=%d" % i, r
        r = c.request("POST", "/upload", body=body)
        assert r.status == 200 and r.json()["bytes"] == len(body), r
        assert r.json()["sha256"] == pt.sha256_hex(body)
        for pause in (0, 1.5):  # 1.5 s: the connection has gone from hot to cold waiting
            time.sleep(pause)
            for i in range(3):
                c.send("GET", "/echo?p=%d" % i)
            for i in range(3):
                r = c.reader.read_response()
                assert r.status == 200 and r.json()["query"] == "p=%d" % i, (pause, i, r)


class CoalescingClient:
    """TLS 1.3 through memory BIOs, so that the client's last handshake flight (its Finished)
    and the first request leave in ONE write and arrive in one TCP segment, as they often do
    from real clients. recv() makes it usable with pt.RawReader."""

    def __init__(self, port, ca, first_bytes, timeout=3.0):
        ctx = client_context(ca, min_version=ssl.TLSVersion.TLSv1_3)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname=None)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._pull()
        # The handshake is complete here on the client side; its Finished is not sent yet.
        self.obj.write(first_bytes)
        self._flush()

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _pull(self):
        data = self.sock.recv(65536)
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()

    def recv(self, n):
        while True:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:  # also after TLS 1.3 session tickets
                self._pull()
            except ssl.SSLZeroReturnError:
                return b""

    def close(self):
        self.sock.close()


def test_a_request_in_the_same_segment_as_the_client_finished_is_answered(sni_gw, certs):
    """Client Finished and the first request in one TCP segment: the request is answered at
    once (the gateway must not wait for the socket to become readable again for bytes its TLS
    layer already holds)."""
    for i in range(5):
        c = CoalescingClient(sni_gw.port, certs.ca.cert,
                             b"GET /echo?n=%d HTTP/1.1\r\nHost: tls.test\r\n\r\n" % i)
        try:
            start = time.monotonic()
            try:
                r = pt.RawReader(c).read_response()
            except TimeoutError:
                pytest.fail("no answer within 3 s to a request sent with the client Finished "
                            "(attempt %d)" % i)
            assert r.status == 200 and r.json()["query"] == "n=%d" % i, r
            assert time.monotonic() - start < 2.0
        finally:
            c.close()


@pytest.mark.parametrize("path", ["/health", "/echo"])
def test_connection_close_ends_with_close_notify(sni_gw, certs, path):
    """An answer with `Connection: close` ends with a TLS close_notify before the TCP FIN
    (RFC 8446 6.1), so that clients can tell the end from a truncation (openssl s_client
    otherwise reports "unexpected eof while reading" and exits 1)."""
    ctx = client_context(certs.ca.cert)
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)  # Python 3.10+ hides it
    raw = socket.create_connection(("127.0.0.1", sni_gw.port), timeout=5)
    with ctx.wrap_socket(raw, suppress_ragged_eofs=False) as t:
        t.sendall(b"GET %s HTTP/1.1\r\nHost: tls.test\r\nConnection: close\r\n\r\n"
                  % path.encode())
        got = b""
        try:
            while True:
                data = t.recv(65536)
                if not data:
                    break
                got += data
        except ssl.SSLError as e:  # SSLEOFError, or UNEXPECTED_EOF_WHILE_READING
            if "eof" not in str(e).lower():
                raise
            pytest.fail("the gateway closed the TCP connection without a close_notify "
                        "(after %r)" % got[:60])
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    code, out = s_client(sni_gw.port, "-CAfile", str(certs.ca.cert), "-ign_eof",
                         stdin=HTTP_CLOSE)
    assert "HTTP/1.1 200" in out and code == 0, out[-1500:]


def test_every_listen_address_speaks_tls(tls_gateway, certs, up):
    """With server.tls, each address in server.listen speaks TLS."""
    config = listener_config(up, tls_yaml([certs.default])).replace(
        "listen: [127.0.0.1:@PORT@]", "listen: [127.0.0.1:@PORT@, 127.0.0.1:@PORT2@]")
    gw = tls_gateway(config)
    for port in (gw.port, gw.port2):
        with Client(tls_connect(port, certs.ca.cert)) as c:
            assert c.request("GET", "/echo").status == 200


# --- SNI ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sni, served", [
    (None, "default.test"),                 # no SNI: the first certificate
    ("default.test", "default.test"),
    ("api.example.test", "api.example.test"),   # exact beats the wildcard listed before it
    ("b.example.test", "*.example.test"),   # the wildcard covers one label
    ("api2.example.test", "*.example.test"),
    ("a.b.example.test", "default.test"),   # ... not two
    ("example.test", "default.test"),       # ... nor none
    ("unknown.test", "default.test"),       # no certificate names it: the first
], ids=["no-sni", "default", "exact", "wildcard", "wildcard-2", "two-labels", "bare-domain",
        "unknown"])
def test_sni_picks_the_certificate(sni_gw, certs, sni, served):
    """The certificate served for each SNI; a request on that connection is answered."""
    with Client(tls_connect(sni_gw.port, certs.ca.cert, sni=sni)) as c:
        assert common_name(c.tls) == served
        r = c.request("GET", "/echo")
        assert r.status == 200, r


def test_sni_with_openssl_s_client_ignores_case(sni_gw, certs):
    """`openssl s_client -servername` shows the certificate chosen; host names compare without
    regard to case."""
    for name, served in [("api.example.test", "CN=api.example.test"),
                         ("API.Example.TEST", "CN=api.example.test"),
                         ("Other.Example.Test", "CN=*.example.test")]:
        code, out = s_client(sni_gw.port, "-servername", name, "-CAfile", str(certs.ca.cert),
                             "-nameopt", "RFC2253", "-verify_return_error", "-ign_eof",
                             stdin=HTTP_CLOSE)
        # (not the exit code: see test_connection_close_ends_with_close_notify)
        assert "HTTP/1.1 200" in out, out
        subjects = re.findall(r"^subject=(.*)$", out, re.M)
        assert subjects and subjects[0].strip() == served, (name, subjects, out[-2000:])
        assert "Verify return code: 0 (ok)" in out


# --- ALPN -----------------------------------------------------------------------------------

def test_alpn_h2_and_http11_offered_selects_h2(sni_gw, certs):
    with tls_connect(sni_gw.port, certs.ca.cert, alpn=["http/1.1", "h2"]) as t:
        assert t.selected_alpn_protocol() == "h2"  # the server's preference


def test_alpn_http11_only_is_served_http11(sni_gw, certs):
    with Client(tls_connect(sni_gw.port, certs.ca.cert, alpn=["http/1.1"])) as c:
        assert c.tls.selected_alpn_protocol() == "http/1.1"
        assert c.request("GET", "/echo").status == 200


def test_no_alpn_offered_is_served(sni_gw, certs):
    with Client(tls_connect(sni_gw.port, certs.ca.cert)) as c:
        assert c.tls.selected_alpn_protocol() is None
        assert c.request("GET", "/echo").status == 200


# --- versions -------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls12_and_tls13_are_accepted(sni_gw, certs, version):
    v = getattr(ssl.TLSVersion, version)
    with Client(tls_connect(sni_gw.port, certs.ca.cert, min_version=v, max_version=v)) as c:
        assert c.tls.version() == version.replace("_", ".")
        assert c.request("GET", "/echo").status == 200


_old_client_can = {}


def old_tls_client_works(certs, version):
    """Whether this machine's Python/OpenSSL can speak `version` at all (against a local
    server that allows it): else a refusal by the gateway would prove nothing."""
    if version in _old_client_can:
        return _old_client_can[version]
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server_ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    try:
        server_ctx.set_ciphers("DEFAULT@SECLEVEL=0")
        server_ctx.load_cert_chain(str(certs.default.cert), str(certs.default.key))
    except ssl.SSLError:
        _old_client_can[version] = False
        return False
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(5)

    def serve():
        try:
            conn, _ = listener.accept()
            conn.settimeout(5)
            with server_ctx.wrap_socket(conn, server_side=True):
                pass
        except (OSError, ssl.SSLError):
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with tls_connect(listener.getsockname()[1], certs.ca.cert, min_version=version,
                         max_version=version, ciphers="DEFAULT@SECLEVEL=0") as tls:
            ok = tls.version() is not None
    except (ssl.SSLError, OSError):
        ok = False
    finally:
        t.join(5)
        listener.close()
    _old_client_can[version] = ok
    return ok


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_tls10_and_tls11_are_refused(sni_gw, certs, version):
    v = getattr(ssl.TLSVersion, version)
    if not old_tls_client_works(certs, v):
        pytest.skip("this Python/OpenSSL cannot speak %s even to a server allowing it" % version)
    with pytest.raises(ssl.SSLError):
        with tls_connect(sni_gw.port, certs.ca.cert, min_version=v, max_version=v,
                         ciphers="DEFAULT@SECLEVEL=0"):
            pass
    with Client(tls_connect(sni_gw.port, certs.ca.cert)) as c:  # still serving
        assert c.request("GET", "/echo").status == 200


def test_openssl_s_client_tls11_is_refused(sni_gw, certs):
    if not old_tls_client_works(certs, ssl.TLSVersion.TLSv1_1):
        pytest.skip("this OpenSSL cannot speak TLS 1.1 even to a server allowing it")
    code, out = s_client(sni_gw.port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0",
                         "-CAfile", str(certs.ca.cert), stdin=HTTP_CLOSE)
    assert code != 0, out
    assert not re.search(r"Protocol\s*:\s*TLSv1\.1", out) or "Cipher is (NONE)" in out, out
    assert "HTTP/1.1 200" not in out


def test_min_version_13_refuses_tls12(tls_gateway, certs, up):
    gw = tls_gateway(listener_config(up, tls_yaml([certs.default], min_version="1.3")))
    v12, v13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
    with pytest.raises(ssl.SSLError):
        with tls_connect(gw.port, certs.ca.cert, max_version=v12):
            pass
    code, out = s_client(gw.port, "-tls1_2", "-CAfile", str(certs.ca.cert), stdin=HTTP_CLOSE)
    assert code != 0 and "HTTP/1.1 200" not in out, out
    with Client(tls_connect(gw.port, certs.ca.cert, min_version=v13)) as c:
        assert c.tls.version() == "TLSv1.3"
        assert c.request("GET", "/echo").status == 200


# --- session resumption ---------------------------------------------------------------------

@pytest.mark.parametrize("version", ["-tls1_3", "-tls1_2"])
def test_sessions_resume(sni_gw, certs, version, tmp_path):
    """A second `openssl s_client` with the first one's session makes an abbreviated
    handshake: "Reused"."""
    sess = tmp_path / "session.pem"
    common = [version, "-CAfile", str(certs.ca.cert), "-servername", "default.test", "-ign_eof"]
    # (The exit code is not looked at: test_connection_close_ends_with_close_notify is about
    # how the connection ends.)
    _, out = s_client(sni_gw.port, *common, "-sess_out", str(sess), stdin=HTTP_CLOSE)
    assert "HTTP/1.1 200" in out, out
    assert re.search(r"^New, TLSv1\.[23]", out, re.M), out
    assert sess.exists() and sess.stat().st_size > 0
    _, out = s_client(sni_gw.port, *common, "-sess_in", str(sess), stdin=HTTP_CLOSE)
    assert "HTTP/1.1 200" in out, out
    assert re.search(r"^Reused, TLSv1\.[23]", out, re.M), out


def test_python_client_resumes_a_session(sni_gw, certs):
    """The same with Python's ssl: the session of a first connection (after an answer, so
    that TLS 1.3 tickets have arrived) resumes on a second one."""
    ctx = client_context(certs.ca.cert)
    with socket.create_connection(("127.0.0.1", sni_gw.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="default.test") as t:
            assert Client(t).request("GET", "/echo").status == 200
            session = t.session
            assert not t.session_reused
    with socket.create_connection(("127.0.0.1", sni_gw.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="default.test", session=session) as t:
            assert t.session_reused
            assert Client(t).request("GET", "/echo").status == 200


# --- mutual TLS -----------------------------------------------------------------------------

def test_mtls_require_forwards_the_verified_subject(mtls_gw, certs):
    """With a certificate signed by client_ca: answered, and the backend sees exactly one
    X-Client-Cert-Subject, the verified subject in RFC 2253 form (a forged copy is gone)."""
    assert rfc2253_subject(certs.alice.cert) == ALICE_SUBJECT
    with mtls_gw.session() as s:
        r = s.get(mtls_gw.url + "/echo", headers={"X-Client-Cert-Subject": "CN=forged"},
                  timeout=10)
    assert r.status_code == 200, r.text
    echo = r.json()
    assert header_values(echo, "X-Client-Cert-Subject") == [ALICE_SUBJECT], echo["headers"]
    assert header_values(echo, "X-Forwarded-Proto") == ["https"]


def test_mtls_subject_is_rfc2253_with_escapes(mtls_gw, certs):
    """A subject with several RDNs and a comma in a value reads as OpenSSL prints it with
    -nameopt RFC2253 (most specific RDN first, the comma escaped)."""
    expected = rfc2253_subject(certs.bob.cert)
    assert expected == r"CN=bob,OU=Team\, Ops,O=Portico Test,C=DE", expected
    with Client(tls_connect(mtls_gw.port, certs.ca.cert, client=certs.bob)) as c:
        r = c.request("GET", "/echo")
    assert r.status == 200, r
    assert header_values(r.json(), "X-Client-Cert-Subject") == [expected]


def test_mtls_with_curl(mtls_gw, certs):
    p = subprocess.run([curl_bin(), "-sS", "--cacert", str(certs.ca.cert),
                        "--cert", str(certs.alice.cert), "--key", str(certs.alice.key),
                        "-H", "X-Client-Cert-Subject: CN=forged", mtls_gw.url + "/echo"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert header_values(json.loads(p.stdout), "X-Client-Cert-Subject") == [ALICE_SUBJECT]


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_mtls_require_refuses_a_client_without_certificate(mtls_gw, certs, up, version):
    """No certificate: the handshake fails (TLS 1.3: right after it, before any answer); the
    backend sees nothing."""
    v = getattr(ssl.TLSVersion, version)
    before = pt.upstream_hits(up)
    assert outcome(mtls_gw.port, certs.ca.cert, min_version=v, max_version=v) == "refused"
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(mtls_gw.url + "/echo", verify=str(certs.ca.cert), timeout=10)
    flag = {"TLSv1_2": "-tls1_2", "TLSv1_3": "-tls1_3"}[version]
    code, out = s_client(mtls_gw.port, flag, "-CAfile", str(certs.ca.cert), "-ign_eof",
                         stdin=HTTP_CLOSE)
    assert "HTTP/1.1 200" not in out, out
    assert pt.upstream_hits(up) == before


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_mtls_require_refuses_a_certificate_from_another_ca(mtls_gw, certs, up, version):
    v = getattr(ssl.TLSVersion, version)
    before = pt.upstream_hits(up)
    assert outcome(mtls_gw.port, certs.ca.cert, client=certs.mallory, min_version=v,
                   max_version=v) == "refused"
    assert pt.upstream_hits(up) == before


def test_client_cert_subject_placeholder_in_rewrite(mtls_gw, certs):
    """`rewrite: /echo/{client_cert.subject}` puts the verified subject into the upstream path
    (percent-encoded where a path needs it)."""
    for who in (certs.alice, certs.bob):
        with Client(tls_connect(mtls_gw.port, certs.ca.cert, client=who)) as c:
            r = c.request("GET", "/whoami")
        assert r.status == 200, r
        path = r.json()["path"]
        assert " " not in path, path
        assert unquote(path) == "/echo/" + rfc2253_subject(who.cert), path


def test_mtls_optional_serves_clients_without_certificate(optional_gw, certs):
    """client_auth optional: no certificate is served and gets no subject (a forged one is
    removed); a valid certificate's subject is forwarded."""
    with Client(tls_connect(optional_gw.port, certs.ca.cert)) as c:
        r = c.request("GET", "/echo", headers=[("X-Client-Cert-Subject", "CN=forged")])
        assert r.status == 200, r
        assert header_values(r.json(), "X-Client-Cert-Subject") == []
        r = c.request("GET", "/whoami")
        assert r.status == 200 and unquote(r.json()["path"]).rstrip("/") == "/echo", r
    with Client(tls_connect(optional_gw.port, certs.ca.cert, client=certs.alice)) as c:
        r = c.request("GET", "/echo", headers=[("X-Client-Cert-Subject", "CN=forged")])
        assert r.status == 200, r
        assert header_values(r.json(), "X-Client-Cert-Subject") == [ALICE_SUBJECT]
    r = requests.get(optional_gw.url + "/echo", verify=str(certs.ca.cert), timeout=10)
    assert r.status_code == 200 and header_values(r.json(), "X-Client-Cert-Subject") == []


def test_mtls_optional_never_forwards_an_unverified_subject(optional_gw, certs):
    """A certificate from another CA is refused, or at least its subject is not forwarded."""
    try:
        with Client(tls_connect(optional_gw.port, certs.ca.cert, client=certs.mallory)) as c:
            r = c.request("GET", "/echo")
    except (ssl.SSLError, ConnectionError, pt.ConnectionClosed):
        return  # refused: fine
    assert r.status == 200, r
    assert header_values(r.json(), "X-Client-Cert-Subject") == [], r.json()["headers"]


def test_client_sent_subject_is_removed_on_a_plain_listener(gateway, up):
    gw = gateway(pt.make_config(upstreams={"up": up.url}, routes=ROUTES))
    r = requests.get(gw.url + "/echo", headers={"X-Client-Cert-Subject": "CN=forged",
                                                "x-client-cert-subject": "CN=again"}, timeout=10)
    assert r.status_code == 200, r.text
    echo = r.json()
    assert header_values(echo, "X-Client-Cert-Subject") == [], echo["headers"]
    assert header_values(echo, "X-Forwarded-Proto") == ["http"]


def test_client_sent_subject_is_removed_on_a_tls_listener_without_client_ca(sni_gw, certs):
    with Client(tls_connect(sni_gw.port, certs.ca.cert, client=certs.alice)) as c:
        r = c.request("GET", "/echo", headers=[("X-Client-Cert-Subject", "CN=forged")])
    assert r.status == 200, r
    assert header_values(r.json(), "X-Client-Cert-Subject") == []


# --- wrong or slow peers --------------------------------------------------------------------

def test_plain_http_on_the_tls_port_is_closed_quickly(sni_gw, certs):
    """Plain HTTP to a TLS listener: the connection ends (perhaps after an alert or an error
    answer) within 2 s, never with a served answer; the listener goes on serving TLS."""
    start = time.monotonic()
    with pt.connect(sni_gw.port, timeout=5) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: tls.test\r\n\r\n")
        reader = pt.RawReader(s)
        assert reader.closed_within(2.0), "still open after 2 s"
        assert not reader.buf.startswith(b"HTTP/1.1 200"), reader.buf[:200]
    assert time.monotonic() - start < 2.5
    with Client(tls_connect(sni_gw.port, certs.ca.cert)) as c:
        assert c.request("GET", "/echo").status == 200


@pytest.mark.parametrize("send", [b"", b"\x16\x03\x01\x02\x00"], ids=["nothing", "partial-hello"])
def test_a_connection_without_a_client_hello_is_closed_after_header_timeout(
        tls_gateway, certs, up, send):
    """A TCP connection that never completes a ClientHello is closed within
    server.limits.header_timeout (1 s here), not at once and not never."""
    gw = tls_gateway(listener_config(up, tls_yaml([certs.default]),
                                     limits="{header_timeout: 1s, idle_timeout: 30s}"))
    with pt.connect(gw.port, timeout=10) as s:
        start = time.monotonic()
        if send:
            s.sendall(send)
        assert pt.RawReader(s).closed_within(3.5), "open 3.5 s after connecting"
        elapsed = time.monotonic() - start
    assert 0.7 <= elapsed <= 3.5, elapsed


def test_an_incomplete_request_head_over_tls_gets_408(tls_gateway, certs, up):
    """After the handshake, a head that does not complete within header_timeout: 408, closed."""
    gw = tls_gateway(listener_config(up, tls_yaml([certs.default]),
                                     limits="{header_timeout: 1s, idle_timeout: 30s}"))
    with Client(tls_connect(gw.port, certs.ca.cert, timeout=10)) as c:
        start = time.monotonic()
        c.tls.sendall(b"GET /echo HTTP/1.1\r\nHost: tls.test\r\nX-Half: ")
        r = c.reader.read_response()
        assert r.status == 408, r
        assert c.reader.closed_within(2.0)
    assert time.monotonic() - start < 4.0


# --- reload ---------------------------------------------------------------------------------

def reloads(gw, result):
    return pt.metric_value(gw.metrics(), "portico_config_reloads_total", result=result) or 0


def served_certificate(gw, certs):
    with tls_connect(gw.port, certs.ca.cert) as t:
        cert = t.getpeercert()
    cn = [v for rdn in cert["subject"] for k, v in rdn if k == "commonName"][0]
    return cn, cert["serialNumber"]


@pytest.fixture
def live_files(tmp_path, certs):
    """A cert/key pair the config names, starting as a copy of the default certificate."""
    live = Pair(tmp_path / "live.pem", tmp_path / "live.key")
    shutil.copyfile(certs.default.cert, live.cert)
    shutil.copyfile(certs.default.key, live.key)
    return live


def test_reload_reads_certificates_again_and_keeps_open_connections(tls_gateway, certs, up,
                                                                     live_files):
    """Overwrite the certificate and key files, SIGHUP: new handshakes get the new certificate;
    a keep-alive connection opened before goes on serving requests."""
    gw = tls_gateway(listener_config(up, tls_yaml([live_files]), extra="drain_timeout: 5s"))
    old = served_certificate(gw, certs)
    assert old[0] == "default.test"
    with Client(tls_connect(gw.port, certs.ca.cert)) as kept:
        assert kept.request("GET", "/echo?before").status == 200
        shutil.copyfile(certs.rotated.cert, live_files.cert)
        shutil.copyfile(certs.rotated.key, live_files.key)
        gw.signal(signal.SIGHUP)
        assert pt.wait_until(lambda: served_certificate(gw, certs)[0] == "rotated.test", 5, 0.1), \
            "new handshakes still get the old certificate; stderr:\n" + gw.stderr_text()
        new = served_certificate(gw, certs)
        assert new[1] != old[1]
        assert reloads(gw, "success") >= 1
        for i in range(3):
            r = kept.request("GET", "/echo?after=%d" % i)
            assert r.status == 200 and r.json()["query"] == "after=%d" % i, r
        assert common_name(kept.tls) == "default.test"
    with gw.session() as s:  # https verified against the CA, checking 127.0.0.1 on the new one
        assert s.get(gw.url + "/echo", timeout=10).status_code == 200


@pytest.mark.parametrize("breakage", ["not-pem", "key-mismatch", "missing"])
def test_reload_to_a_broken_certificate_keeps_the_old_one(tls_gateway, certs, up, live_files,
                                                          breakage):
    """A reload whose certificate cannot be used fails (400 from the admin API, naming
    server.tls), counts as a failed reload, and changes nothing: the old certificate is still
    served to new handshakes and open connections keep working."""
    gw = tls_gateway(listener_config(up, tls_yaml([live_files])))
    old = served_certificate(gw, certs)
    with Client(tls_connect(gw.port, certs.ca.cert)) as kept:
        assert kept.request("GET", "/echo").status == 200
        if breakage == "not-pem":
            live_files.cert.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
        elif breakage == "key-mismatch":
            shutil.copyfile(certs.rotated.cert, live_files.cert)  # the key stays default's
        else:
            live_files.cert.unlink()
        r = requests.post(gw.admin_url + "/admin/reload", timeout=10)
        assert r.status_code == 400, r.text
        assert "server.tls" in r.text, r.text
        assert reloads(gw, "failure") == 1
        assert served_certificate(gw, certs) == old
        assert kept.request("GET", "/echo").status == 200
    with gw.session() as s:
        assert s.get(gw.url + "/echo", timeout=10).status_code == 200


# --- validation -----------------------------------------------------------------------------

def config_errors(output, filename):
    """[(line, col, key path, message)] of the `file:line:col: key: message` lines."""
    return [(int(l), int(c), k, m) for l, c, k, m in
            re.findall(r"^\S*%s:(\d+):(\d+): (\S+): (.+)$" % re.escape(filename), output, re.M)]


def write_tls_config(path, tls_lines):
    """A config whose server.tls is the block-style `tls_lines` (indented below `tls:`);
    returns {text of a line: its line number} for the tls lines, and the block's range."""
    lines = ["server:",
             "  listen: [127.0.0.1:%d]" % pt.free_port(),
             "  tls:"]
    first = len(lines)
    numbers = {}
    for l in tls_lines:
        lines.append("    " + l)
        numbers[l.strip()] = len(lines)
    last = len(lines)
    lines += ["upstreams:",
              "  up: {targets: [http://127.0.0.1:%d]}" % pt.free_port(),
              "routes:",
              "  - {name: all, match: {prefix: /}, upstream: up}"]
    path.write_text("\n".join(lines) + "\n")
    return numbers, (first, last)


def cert_lines(cert, key):
    return ["certificates:", "  - cert: %s" % q(cert), "    key: %s" % q(key)]


def test_validate_accepts_a_full_tls_block(tmp_path, certs):
    f = tmp_path / "tls-good.yaml"
    write_tls_config(f, cert_lines(certs.default.cert, certs.default.key) +
                     ["  - {cert: %s, key: %s}" % (q(certs.exact.cert), q(certs.exact.key)),
                      'min_version: "1.3"',
                      "client_ca: %s" % q(certs.ca.cert),
                      "client_auth: optional"])
    p = pt.run_portico("validate", "-c", str(f))
    assert p.returncode == 0, p.stdout + p.stderr


def _broken_cases(certs, tmp):
    missing = tmp / "no-such-cert.pem"
    not_pem = certs.dir / "not-pem.txt"
    d, e = certs.default, certs.exact
    # (tls lines, the line the error must point at (its text), text the message must hold)
    return {
        "missing-cert": (cert_lines(missing, d.key), "- cert: %s" % q(missing), str(missing)),
        "missing-key": (cert_lines(d.cert, missing), "key: %s" % q(missing), str(missing)),
        "cert-not-pem": (cert_lines(not_pem, d.key), "- cert: %s" % q(not_pem), str(not_pem)),
        "key-not-pem": (cert_lines(d.cert, not_pem), "key: %s" % q(not_pem), str(not_pem)),
        "key-mismatch": (cert_lines(d.cert, e.key), "key: %s" % q(e.key), str(e.key)),
        "client-auth-without-ca": (cert_lines(d.cert, d.key) + ["client_auth: require"],
                                   "client_auth: require", "client_ca"),
        "client-ca-missing": (cert_lines(d.cert, d.key) + ["client_ca: %s" % q(missing)],
                              "client_ca: %s" % q(missing), str(missing)),
        "client-ca-not-pem": (cert_lines(d.cert, d.key) + ["client_ca: %s" % q(not_pem)],
                              "client_ca: %s" % q(not_pem), str(not_pem)),
        "min-version-1.1": (cert_lines(d.cert, d.key) + ['min_version: "1.1"'],
                            'min_version: "1.1"', "1.2"),
        "bad-client-auth": (cert_lines(d.cert, d.key) + ["client_ca: %s" % q(certs.ca.cert),
                                                         "client_auth: sometimes"],
                            "client_auth: sometimes", "require"),
        "no-certificates": (["certificates: []"], "certificates: []", "certificate"),
    }


BROKEN = ["missing-cert", "missing-key", "cert-not-pem", "key-not-pem", "key-mismatch",
          "client-auth-without-ca", "client-ca-missing", "client-ca-not-pem", "min-version-1.1",
          "bad-client-auth", "no-certificates"]


@pytest.mark.parametrize("case", BROKEN)
def test_validate_refuses_broken_tls(tmp_path, certs, case):
    """`portico validate` exits 1 with a `file:line:col: server.tls...: message` line at the
    line naming the problem; `portico run` refuses the same file and never serves."""
    tls_lines, at, needle = _broken_cases(certs, tmp_path)[case]
    f = tmp_path / ("tls-%s.yaml" % case)
    numbers, (first, last) = write_tls_config(f, tls_lines)
    expected_line = numbers[at]

    def check(out):
        errors = [e for e in config_errors(out, f.name) if e[2].startswith("server.tls")]
        assert errors, out
        assert str(f) in out or f.name in out, out
        lines = [e[0] for e in errors]
        assert expected_line in lines, (expected_line, errors)
        line, col, key, message = [e for e in errors if e[0] == expected_line][0]
        assert col >= 1
        assert needle in key + " " + message, (needle, errors)
        assert "unknown" not in message, message

    v = pt.run_portico("validate", "-c", str(f))
    assert v.returncode == 1, v.stdout + v.stderr
    check(v.stdout + v.stderr)
    try:
        started = pt.run_portico("run", "-c", str(f), timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("portico started serving a config that validate refuses")
    assert started.returncode == 1, started.stdout + started.stderr
    check(started.stdout + started.stderr)


# --- gigabyte transfers over TLS: memory must stay bounded -----------------------------------

@pytest.fixture(scope="module")
def big_tls_gw(_module_launcher, certs, up):
    return _start(_module_launcher, certs, pt.make_config(
        upstreams="up:\n  targets: [%s]\n  timeouts: {request: 120s}" % up.url,
        routes="- name: all\n  match: {prefix: /}\n  upstream: up",
        server_extra=tls_yaml([certs.default]),
        limits="{max_body_bytes: 2GiB}", access_log="off", workers=1))


@pytest.mark.slow
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_1gib_upload_over_tls_streams_with_bounded_memory(big_tls_gw, certs, chunked):
    with tls_connect(big_tls_gw.port, certs.ca.cert, timeout=60) as t:
        r, sha256 = pt.upload_gib(t, chunked)
    assert r.status == 200, r
    assert r.json()["bytes"] == GIB
    assert r.json()["sha256"] == sha256
    hwm = pt.vm_hwm_kib(big_tls_gw.pid)
    assert hwm < RSS_LIMIT_KIB, "gateway peak RSS %d KiB" % hwm


@pytest.mark.slow
def test_1gib_download_over_tls_streams_with_bounded_memory(big_tls_gw, certs):
    start = time.monotonic()
    got = hashlib.sha256()
    n = 0
    with tls_connect(big_tls_gw.port, certs.ca.cert, timeout=60) as t:
        t.sendall(b"GET /download?bytes=%d&chunked=0 HTTP/1.1\r\nHost: t\r\n"
                  b"Connection: close\r\n\r\n" % GIB)
        reader = pt.RawReader(t)
        _, status, _, headers = reader.read_head()
        assert status == 200
        assert ("Content-Length", str(GIB)) in headers
        for piece in reader.iter_body(status, headers):
            got.update(piece)
            n += len(piece)
            assert time.monotonic() - start < 180
    assert n == GIB
    assert got.hexdigest() == upstream_server.expected_sha256(GIB)
    hwm = pt.vm_hwm_kib(big_tls_gw.pid)
    assert hwm < RSS_LIMIT_KIB, "gateway peak RSS %d KiB" % hwm
