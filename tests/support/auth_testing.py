"""Helpers for the authentication, authorization and CORS end-to-end tests.

Keys are generated at test time with `cryptography` and tokens are signed with PyJWT; tokens
that PyJWT refuses to make (alg none, HMAC keyed with a public key, broken encodings) are built
by hand. The small JWKS and OAuth2 introspection servers here are in-process http.server
threads on 127.0.0.1, port 0; `stop()` shuts them down (the fixtures do it at the end).
"""

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
ALL_ALGORITHMS = HMAC_ALGORITHMS + RSA_ALGORITHMS + ("ES256", "ES384", "EdDSA")


# --- keys ----------------------------------------------------------------------------------

def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key(curve_name):
    curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}[curve_name]
    return ec.generate_private_key(curve)


def ed25519_key():
    return ed25519.Ed25519PrivateKey.generate()


def key_for(alg):
    """A new private key of the kind `alg` signs with (for HS*: a random secret string)."""
    if alg in HMAC_ALGORITHMS:
        return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    if alg in RSA_ALGORITHMS:
        return rsa_key()
    if alg == "ES256":
        return ec_key("P-256")
    if alg == "ES384":
        return ec_key("P-384")
    if alg == "EdDSA":
        return ed25519_key()
    raise ValueError(alg)


def public_pem(private_key):
    """The SubjectPublicKeyInfo PEM of a private key, as bytes."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write_public_pem(private_key, path):
    path.write_bytes(public_pem(private_key))
    return path


def jwk(private_key, kid, alg):
    """The public JWK of a private key, with kid, alg and use."""
    pub = private_key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        text = RSAAlgorithm.to_jwk(pub)
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        # Not ECAlgorithm.to_jwk: PyJWT 2.6 drops leading zero bytes of the coordinates, which
        # RFC 7518 section 6.2.1.2 forbids (x and y are the full size of the field).
        size = (pub.curve.key_size + 7) // 8
        numbers = pub.public_numbers()
        text = json.dumps({"kty": "EC", "crv": {256: "P-256", 384: "P-384"}[pub.curve.key_size],
                           "x": b64url(numbers.x.to_bytes(size, "big")),
                           "y": b64url(numbers.y.to_bytes(size, "big"))})
    elif isinstance(pub, ed25519.Ed25519PublicKey):
        text = OKPAlgorithm.to_jwk(pub)
    else:
        raise TypeError(type(pub))
    out = json.loads(text)
    out.pop("key_ops", None)
    out.update({"kid": kid, "alg": alg, "use": "sig"})
    return out


def jwks(*keys):
    """A JWK Set document: jwks((private_key, kid, alg), ...)."""
    return {"keys": [jwk(k, kid, alg) for k, kid, alg in keys]}


# --- tokens --------------------------------------------------------------------------------

def now():
    return int(time.time())


def claims(**extra):
    """Usual claims: a subject, issued now, expiring in 10 minutes; `extra` overrides
    (a value of None removes the claim)."""
    out = {"sub": "user-1", "iat": now(), "exp": now() + 600}
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


def token(key, alg, kid=None, headers=None, **claim_values):
    """A signed JWT with `claims(**claim_values)`."""
    h = dict(headers or {})
    if kid is not None:
        h["kid"] = kid
    return jwt.encode(claims(**claim_values), key, algorithm=alg, headers=h or None)


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_json(obj):
    return b64url(json.dumps(obj, separators=(",", ":")))


def unsigned_token(payload, alg="none"):
    """header {"alg": alg, "typ": "JWT"}, the payload, and an empty signature."""
    return "%s.%s." % (b64url_json({"alg": alg, "typ": "JWT"}), b64url_json(payload))


def hmac_token_raw(secret_bytes, payload, alg="HS256", header_extra=None):
    """An HS* token made by hand, so any bytes (a public key PEM, say) can be the secret."""
    header = {"alg": alg, "typ": "JWT"}
    header.update(header_extra or {})
    signing_input = "%s.%s" % (b64url_json(header), b64url_json(payload))
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    sig = hmac.new(secret_bytes, signing_input.encode(), digest).digest()
    return signing_input + "." + b64url(sig)


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


# --- what a client observes ----------------------------------------------------------------

def auth_params(www_authenticate):
    """('Bearer', {param: value}) of a WWW-Authenticate value."""
    scheme, _, rest = (www_authenticate or "").strip().partition(" ")
    params = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            params[name.strip().lower()] = value.strip().strip('"')
    return scheme, params


def assert_missing_credentials(r):
    """401 for absent credentials: Bearer realm="portico" and no error=, JSON error body."""
    assert r.status_code == 401, (r.status_code, r.text[:300])
    scheme, params = auth_params(r.headers.get("WWW-Authenticate"))
    assert scheme == "Bearer", r.headers.get("WWW-Authenticate")
    assert params.get("realm") == "portico", r.headers.get("WWW-Authenticate")
    assert "error" not in params, r.headers.get("WWW-Authenticate")
    assert_error_body(r, 401)


def assert_invalid_token(r):
    """401 for presented but invalid credentials: error="invalid_token", JSON error body."""
    assert r.status_code == 401, (r.status_code, r.text[:300])
    scheme, params = auth_params(r.headers.get("WWW-Authenticate"))
    assert scheme == "Bearer", r.headers.get("WWW-Authenticate")
    assert params.get("realm") == "portico", r.headers.get("WWW-Authenticate")
    assert params.get("error") == "invalid_token", r.headers.get("WWW-Authenticate")
    assert_error_body(r, 401)


def assert_error_body(r, status):
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body["status"] == status, body
    assert isinstance(body["error"], str) and body["error"], body
    assert body["request_id"] == r.headers.get("X-Correlation-ID"), (body, r.headers)


def assert_serving(gw, path="/health"):
    """The gateway process is alive and still answers."""
    assert gw.proc.poll() is None, "portico exited with %s" % gw.proc.returncode
    r = requests.get(gw.url + path, timeout=5)
    assert r.status_code == 200, (path, r.status_code)


def headers_of(echo):
    """Upstream-seen headers from an /echo body, as {lower-name: [values]}."""
    out = {}
    for n, v in echo["headers"]:
        out.setdefault(n.lower(), []).append(v)
    return out


def poll(fn, timeout, interval=0.2):
    """Calls fn() every `interval` seconds until it returns something truthy or `timeout`
    passes; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


# --- small servers on 127.0.0.1 ------------------------------------------------------------

class _QuietHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 answers, each closing its connection: no keep-alive connection outlives stop().
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply_raw(self, status, data):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def reply_json(self, status, obj):
        self.reply_raw(status, json.dumps(obj).encode())


class _ThreadServer:
    handler = None

    def __init__(self):
        handler = type("Handler", (self.handler,), {"owner": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()
        self.stopped = False

    def stop(self):
        if not self.stopped:
            self.stopped = True
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=5)


class _JwksHandler(_QuietHandler):
    def do_GET(self):
        owner = self.owner
        with owner.lock:
            owner.hits += 1
            doc = owner.document
        if self.path.split("?")[0] != "/jwks.json":
            self.reply_json(404, {"error": "not found"})
            return
        if isinstance(doc, str):  # a broken document, sent as is
            self.reply_raw(200, doc.encode())
            return
        self.reply_json(200, doc)


class JwksServer(_ThreadServer):
    """Serves GET /jwks.json with the current key set (a dict, or a str sent as is); counts the
    fetches in `hits`."""

    handler = _JwksHandler

    def __init__(self, document):
        self.document = document
        self.hits = 0
        super().__init__()
        self.jwks_url = self.url + "/jwks.json"

    def set_document(self, document):
        with self.lock:
            self.document = document

    def hit_count(self):
        with self.lock:
            return self.hits


class _IntrospectionHandler(_QuietHandler):
    def do_POST(self):
        owner = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("latin-1")
        form = parse_qs(body, keep_blank_values=True)
        tok = form.get("token", [""])[-1]
        call = {"path": self.path, "token": tok, "content_type": self.headers.get("Content-Type", ""),
                "authorization": self.headers.get("Authorization", ""), "form": form}
        with owner.lock:
            owner.calls.append(call)
            delay = owner.delay
            answer = owner.answers.get(tok, {"active": False})
            raw = owner.raw_answer
        if delay:
            time.sleep(delay)
        if call["authorization"] != owner.expected_authorization:
            self.reply_json(401, {"error": "invalid_client"})
            return
        if raw is not None:
            status, text = raw
            self.reply_raw(status, text.encode())
            return
        self.reply_json(200, answer)


class IntrospectionServer(_ThreadServer):
    """An RFC 7662 endpoint at POST /introspect.

    `answers` maps a token to its JSON answer (unknown tokens are inactive). Every call is
    recorded in `calls` (token, content type, Authorization header, parsed form). Requests whose
    HTTP Basic credentials are not client_id:client_secret get 401 invalid_client.
    """

    handler = _IntrospectionHandler

    def __init__(self, client_id="portico", client_secret="intro-secret", delay=0.0):
        self.client_id = client_id
        self.client_secret = client_secret
        self.expected_authorization = "Basic " + base64.b64encode(
            ("%s:%s" % (client_id, client_secret)).encode()).decode()
        self.answers = {}
        self.calls = []
        self.delay = delay
        self.raw_answer = None  # (status, text) answered to every call when set
        super().__init__()
        self.introspect_url = self.url + "/introspect"

    def set_answer(self, tok, answer):
        with self.lock:
            self.answers[tok] = answer

    def set_delay(self, seconds):
        with self.lock:
            self.delay = seconds

    def set_raw_answer(self, status_text):
        with self.lock:
            self.raw_answer = status_text

    def calls_for(self, tok):
        with self.lock:
            return [c for c in self.calls if c["token"] == tok]

    def all_calls(self):
        with self.lock:
            return list(self.calls)


# --- raw requests and upstream traffic -----------------------------------------------------

def raw_get(port, target, header_lines=(), method="GET"):
    """One request with exactly these header lines (str or bytes); returns a pt.RawResponse."""
    import portico_testing as pt
    head = ("%s %s HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n" % (method, target)).encode()
    for line in header_lines:
        head += (line.encode("latin-1") if isinstance(line, str) else line) + b"\r\n"
    return pt.raw_exchange(port, head + b"\r\n", method=method)


class UpstreamTraffic:
    """Counts the requests an upstream served between construction and `count()`."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.start = upstream.stats()["received"]

    def count(self):
        # "received" is counted when a request's head arrives, before it is answered, and leaves
        # out /stats itself, so no earlier call can still be adding to it (the "requests"
        # count is bumped after the answer is written and raced with the next test).
        return self.upstream.stats()["received"] - self.start
