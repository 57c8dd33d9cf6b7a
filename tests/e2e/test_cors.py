"""CORS: the top-level policy applied by routes with `cors: true` (or `defaults: {cors: true}`).

Preflights (OPTIONS with Origin and Access-Control-Request-Method) are answered by the gateway
itself and never reach the upstream; actual requests are proxied and get the CORS response
headers when their Origin is allowed.
"""

import pytest
import requests

import auth_testing as at
import portico_testing as pt

ORIGIN = "https://app.example"
SECRET = "cors-hs256-secret-0123456789abcdef0123"

POLICY = """
cors:
  allow_origins: [https://app.example]
  allow_methods: [GET, POST]
  allow_headers: [Authorization, Content-Type]
  expose_headers: [X-Correlation-ID]
  allow_credentials: true
  max_age: 10m
"""

TOP = POLICY + """
auth:
  users-jwt: {type: jwt, secret: "%s", algorithms: [HS256]}
""" % SECRET

ROUTES = """
- {name: cors, match: {prefix: /cors}, upstream: up, rewrite: /echo, cors: true}
- {name: secure, match: {prefix: /secure}, upstream: up, rewrite: /echo, cors: true, auth: users-jwt}
- {name: plain, match: {prefix: /plain}, upstream: up, rewrite: /echo}
- {name: cors-upload, match: {prefix: /cors-upload}, upstream: up, rewrite: /upload, cors: true}
"""


@pytest.fixture(scope="module")
def up(module_upstream):
    return module_upstream("cors-up")


@pytest.fixture(scope="module")
def gw(module_gateway, up):
    return module_gateway(pt.make_config(upstreams={"up": "@UP@"}, top_extra=TOP, routes=ROUTES),
                          UP=up.url)


@pytest.fixture(scope="module")
def star_gw(module_gateway, up):
    return module_gateway(pt.make_config(upstreams={"up": "@UP@"}, top_extra="""
cors:
  allow_origins: ["*"]
  allow_methods: [GET, POST]
  allow_headers: [Content-Type]
""", routes="- {name: cors, match: {prefix: /cors}, upstream: up, rewrite: /echo, cors: true}"),
        UP=up.url)


@pytest.fixture(scope="module")
def defaults_gw(module_gateway, up):
    return module_gateway(pt.make_config(upstreams={"up": "@UP@"}, top_extra=POLICY + """
defaults:
  cors: true
""", routes="""
- {name: inherits, match: {prefix: /inherits}, upstream: up, rewrite: /echo}
- {name: off, match: {prefix: /off}, upstream: up, rewrite: /echo, cors: false}
"""), UP=up.url)


def items(value):
    """The comma-separated members of a header value, lower-cased."""
    return [p.strip().lower() for p in (value or "").split(",") if p.strip()]


def preflight(gw, path, origin=ORIGIN, method="POST", request_headers=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if request_headers:
        h["Access-Control-Request-Headers"] = request_headers
    return requests.options(gw.url + path, headers=h, timeout=10)


def assert_no_cors(r):
    for name in ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
                 "Access-Control-Allow-Methods", "Access-Control-Expose-Headers"):
        assert name not in r.headers, (name, r.headers)


# --- preflight -----------------------------------------------------------------------------

def test_preflight_is_answered_by_the_gateway(gw, up):
    traffic = at.UpstreamTraffic(up)
    r = preflight(gw, "/cors/items", request_headers="authorization, content-type")
    assert r.status_code == 204, (r.status_code, r.headers, r.text[:300])
    assert r.content == b""
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert "origin" in items(r.headers.get("Vary"))
    methods = [m.upper() for m in items(r.headers.get("Access-Control-Allow-Methods"))]
    assert "GET" in methods and "POST" in methods, methods
    allowed = items(r.headers.get("Access-Control-Allow-Headers"))
    assert "authorization" in allowed and "content-type" in allowed, allowed
    assert r.headers.get("Access-Control-Max-Age") == "600"
    assert r.headers.get("Access-Control-Allow-Credentials") == "true"
    assert "X-Upstream-Name" not in r.headers
    assert traffic.count() == 0


def test_preflight_for_get_without_request_headers(gw, up):
    traffic = at.UpstreamTraffic(up)
    r = preflight(gw, "/cors", method="GET")
    assert r.status_code == 204, (r.status_code, r.headers)
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert traffic.count() == 0


@pytest.mark.parametrize("origin", [
    "https://evil.example",
    "https://app.example.evil.test",   # the allowed origin as a prefix
    "https://evilapp.example",
    "http://app.example",              # other scheme
    "https://app.example:8443",        # other port
    "null",
])
def test_preflight_from_a_disallowed_origin_is_403(gw, up, origin):
    traffic = at.UpstreamTraffic(up)
    r = preflight(gw, "/cors", origin=origin)
    assert r.status_code == 403, (origin, r.status_code, r.headers)
    assert "Access-Control-Allow-Origin" not in r.headers
    assert traffic.count() == 0


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH"])
def test_preflight_for_a_disallowed_method_is_403(gw, up, method):
    traffic = at.UpstreamTraffic(up)
    r = preflight(gw, "/cors", method=method)
    assert r.status_code == 403, (method, r.status_code, r.headers)
    methods = [m.upper() for m in items(r.headers.get("Access-Control-Allow-Methods"))]
    assert method not in methods
    assert traffic.count() == 0


def test_preflight_on_an_authenticated_route_needs_no_token(gw, up):
    traffic = at.UpstreamTraffic(up)
    r = preflight(gw, "/secure/orders", request_headers="Authorization")
    assert r.status_code == 204, (r.status_code, r.headers, r.text[:300])
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert "authorization" in items(r.headers.get("Access-Control-Allow-Headers"))
    assert traffic.count() == 0


# --- actual requests -----------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_actual_request_from_an_allowed_origin(gw, up, method):
    traffic = at.UpstreamTraffic(up)
    r = requests.request(method, gw.url + "/cors/items", headers={"Origin": ORIGIN},
                         data=b"{}" if method == "POST" else None, timeout=10)
    assert r.status_code == 200
    assert r.headers["X-Upstream-Name"] == "cors-up"
    assert r.json()["method"] == method
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert "origin" in items(r.headers.get("Vary"))
    assert "x-correlation-id" in items(r.headers.get("Access-Control-Expose-Headers"))
    assert r.headers.get("Access-Control-Allow-Credentials") == "true"
    assert traffic.count() == 1


def test_cors_headers_survive_a_body_streamed_past_the_first_read(gw):
    """A body larger than the gateway's read buffer streams through it, reusing the buffer the
    request head arrived in: the response filters still see the request's Origin."""
    body = b"x" * (4 << 20)
    r = requests.post(gw.url + "/cors-upload", headers={"Origin": ORIGIN}, data=body, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["bytes"] == len(body)
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert "origin" in items(r.headers.get("Vary"))


@pytest.mark.parametrize("origin", ["https://evil.example", "https://app.example.evil.test",
                                    "http://app.example", "null"])
def test_actual_request_from_a_disallowed_origin_is_proxied_without_cors_headers(gw, up, origin):
    # Control: the same route answers the allowed origin with CORS headers.
    allowed = requests.get(gw.url + "/cors", headers={"Origin": ORIGIN}, timeout=10)
    assert allowed.headers.get("Access-Control-Allow-Origin") == ORIGIN
    traffic = at.UpstreamTraffic(up)
    r = requests.get(gw.url + "/cors", headers={"Origin": origin}, timeout=10)
    assert r.status_code == 200
    assert r.headers["X-Upstream-Name"] == "cors-up"
    assert "Access-Control-Allow-Origin" not in r.headers
    assert r.headers.get("Access-Control-Allow-Credentials") != "true"
    assert traffic.count() == 1


def test_request_without_origin_gets_no_allow_origin(gw):
    allowed = requests.get(gw.url + "/cors", headers={"Origin": ORIGIN}, timeout=10)
    assert allowed.headers.get("Access-Control-Allow-Origin") == ORIGIN  # control
    r = requests.get(gw.url + "/cors", timeout=10)
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers


def test_gateway_errors_carry_cors_headers(gw, up):
    traffic = at.UpstreamTraffic(up)
    r = requests.get(gw.url + "/secure", headers={"Origin": ORIGIN}, timeout=10)
    at.assert_missing_credentials(r)
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert r.headers.get("Access-Control-Allow-Credentials") == "true"
    r = requests.get(gw.url + "/secure", headers={"Origin": ORIGIN, "Authorization": "Bearer x.y.z"},
                     timeout=10)
    at.assert_invalid_token(r)
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert traffic.count() == 0
    r = requests.get(gw.url + "/secure", headers={"Origin": "https://evil.example"}, timeout=10)
    assert r.status_code == 401
    assert "Access-Control-Allow-Origin" not in r.headers


def test_authenticated_cors_request(gw):
    tok = at.token(SECRET, "HS256")
    r = requests.get(gw.url + "/secure", timeout=10,
                     headers={"Origin": ORIGIN, "Authorization": "Bearer " + tok})
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert r.headers.get("Access-Control-Allow-Credentials") == "true"


# --- "*", routes without CORS, defaults ----------------------------------------------------

def test_wildcard_origin_without_credentials(star_gw, up):
    r = requests.get(star_gw.url + "/cors", headers={"Origin": "https://anyone.test"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["X-Upstream-Name"] == "cors-up"
    assert r.headers.get("Access-Control-Allow-Origin") == "*"
    assert r.headers.get("Access-Control-Allow-Credentials") != "true"
    traffic = at.UpstreamTraffic(up)
    r = preflight(star_gw, "/cors", origin="https://other.test", request_headers="Content-Type")
    assert r.status_code == 204, (r.status_code, r.headers)
    assert r.headers.get("Access-Control-Allow-Origin") == "*"
    assert r.headers.get("Access-Control-Allow-Credentials") != "true"
    assert traffic.count() == 0


def test_route_without_cors_proxies_options_and_adds_nothing(gw, up):
    # Control: the same preflight to a cors route of this gateway is answered by the gateway.
    assert preflight(gw, "/cors/items").status_code == 204
    traffic = at.UpstreamTraffic(up)
    r = preflight(gw, "/plain/items")
    assert r.status_code == 200, (r.status_code, r.headers)
    assert r.headers["X-Upstream-Name"] == "cors-up"
    assert r.json()["method"] == "OPTIONS"
    assert_no_cors(r)
    r = requests.get(gw.url + "/plain", headers={"Origin": ORIGIN}, timeout=10)
    assert r.status_code == 200
    assert_no_cors(r)
    assert traffic.count() == 2


def test_defaults_cors_applies_unless_the_route_turns_it_off(defaults_gw, up):
    traffic = at.UpstreamTraffic(up)
    r = preflight(defaults_gw, "/inherits")
    assert r.status_code == 204, (r.status_code, r.headers)
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert traffic.count() == 0
    r = requests.get(defaults_gw.url + "/inherits", headers={"Origin": ORIGIN}, timeout=10)
    assert r.status_code == 200
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN
    r = preflight(defaults_gw, "/off")
    assert r.status_code == 200 and r.json()["method"] == "OPTIONS"
    assert_no_cors(r)
    r = requests.get(defaults_gw.url + "/off", headers={"Origin": ORIGIN}, timeout=10)
    assert r.status_code == 200
    assert_no_cors(r)


def test_preflight_reaches_a_route_whose_methods_leave_options_out(gateway, upstream):
    up = upstream("cors-methods")
    gw = gateway(pt.make_config(upstreams={"up": "@UP@"}, top_extra=POLICY, routes="""
- {name: posts, match: {prefix: /posts, methods: [POST]}, upstream: up, rewrite: /echo, cors: true}
- {name: gets, match: {prefix: /gets, methods: [GET]}, upstream: up, rewrite: /echo}
"""), UP=up.url)
    hits = pt.upstream_hits(up)
    r = preflight(gw, "/posts")
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    # A method the route does not serve, or a route without CORS: the 405 stands.
    assert preflight(gw, "/posts", method="GET").status_code == 405
    assert preflight(gw, "/gets", method="GET").status_code == 405
    assert pt.upstream_hits(up) == hits
