"""Which route answers: match kinds, conditions, precedence, and the path the upstream sees."""

import pytest
import requests

import portico_testing as pt

# Routes that answer with their own name, so the body says which one won.
PRECEDENCE_ROUTES = """
- name: regex-r
  match: {regex: "^/r/.*$"}
  respond: {body: "regex-r"}
- name: prefix-short
  match: {prefix: /r}
  respond: {body: "prefix-short"}
- name: prefix-long
  match: {prefix: /r/a}
  respond: {body: "prefix-long"}
- name: template-1lit
  match: {path: "/r/{x}/{y}"}
  respond: {body: "template-1lit"}
- name: template-2lit
  match: {path: "/r/a/{id}"}
  respond: {body: "template-2lit"}
- name: exact
  match: {path: /r/a/b}
  respond: {body: "exact"}
- name: legacy
  match: {regex: "^/legacy/v[0-9]+$"}
  respond: {body: "legacy"}

- name: cond-plain
  match: {prefix: /c}
  respond: {body: "cond-plain"}
- name: cond-header
  match: {prefix: /c, headers: {X-Api-Version: "2"}}
  respond: {body: "cond-header"}
- name: cond-header-regex
  match: {prefix: /c, headers: {X-Client: "~^mobile-[a-z]+$"}}
  respond: {body: "cond-header-regex"}
- name: cond-query
  match: {prefix: /c, query: {beta: "true"}}
  respond: {body: "cond-query"}
- name: cond-host
  match: {prefix: /c, host: api.example.com}
  respond: {body: "cond-host"}
- name: cond-wildcard-host
  match: {prefix: /c, host: "*.example.org"}
  respond: {body: "cond-wildcard-host"}
- name: cond-two
  match: {prefix: /c, methods: [POST], headers: {X-Api-Version: "2"}}
  respond: {body: "cond-two"}

- name: tie-first
  match: {prefix: /t, headers: {X-A: "1"}}
  respond: {body: "tie-first"}
- name: tie-second
  match: {prefix: /t, query: {a: "1"}}
  respond: {body: "tie-second"}

- name: m-get
  match: {path: /m, methods: [GET]}
  respond: {body: "m-get"}
- name: m-post
  match: {path: /m, methods: [POST, PUT]}
  respond: {body: "m-post"}

- name: ping
  match: {path: /ping}
  respond: {status: 201, body: "pong", headers: {Content-Type: text/plain, X-Answered-By: gateway}}

- name: files
  match: {path: "/files/{rest...}"}
  upstream: up
  rewrite: /echo/{rest}
- name: user-order
  match: {path: "/api/users/{id}/orders/{oid}"}
  upstream: up
  rewrite: /echo/u/{id}/o/{oid}
- name: admin
  match: {path: /api/admin}
  upstream: up
  rewrite: /echo/admin
- name: v1
  match: {prefix: /api/v1}
  upstream: up
  strip_prefix: /api/v1
- name: pre
  match: {prefix: /pre}
  upstream: up
  rewrite: /echo/tail/{rest}
"""


@pytest.fixture(scope="module")
def gw(module_gateway, module_upstream):
    up = module_upstream("routing-up")
    return module_gateway(pt.make_config(upstreams={"up": up.url}, routes=PRECEDENCE_ROUTES))


def get(gw, path, **kw):
    return requests.get(gw.url + path, timeout=10, **kw)


@pytest.mark.parametrize("path,winner", [
    ("/r/a/b", "exact"),                   # exact path beats every other kind
    ("/r/a/c", "template-2lit"),           # more literal segments beat fewer
    ("/r/z/q", "template-1lit"),
    ("/r/a/c/d", "prefix-long"),           # longest prefix
    ("/r/a", "prefix-long"),
    ("/r/q", "prefix-short"),              # a prefix beats a regex
    ("/r/ax", "prefix-short"),             # prefixes match whole segments
    ("/legacy/v2", "legacy"),              # a regex alone
])
def test_most_specific_path_wins(gw, path, winner):
    r = get(gw, path)
    assert r.status_code == 200, r.text
    assert r.text == winner


@pytest.mark.parametrize("path", ["/rx", "/legacy/vx", "/legacy/v2/x", "/nowhere"])
def test_no_match_is_404(gw, path):
    assert get(gw, path).status_code == 404


@pytest.mark.parametrize("headers,query,winner", [
    ({}, "", "cond-plain"),
    ({"X-Api-Version": "2"}, "", "cond-header"),
    ({"X-Api-Version": "3"}, "", "cond-plain"),
    ({"X-Client": "mobile-ios"}, "", "cond-header-regex"),
    ({"X-Client": "mobile-iOS"}, "", "cond-plain"),
    ({"X-Client": "desktop"}, "", "cond-plain"),
    ({}, "?beta=true", "cond-query"),
    ({}, "?beta=false", "cond-plain"),
    ({"Host": "api.example.com"}, "", "cond-host"),
    ({"Host": "api.example.com:8080"}, "", "cond-host"),
    ({"Host": "other.example.com"}, "", "cond-plain"),
    ({"Host": "eu.example.org"}, "", "cond-wildcard-host"),
])
def test_conditions_select_route(gw, headers, query, winner):
    r = get(gw, "/c/x" + query, headers=headers)
    assert r.status_code == 200
    assert r.text == winner


def test_more_conditions_win_among_equal_paths(gw):
    r = requests.post(gw.url + "/c", headers={"X-Api-Version": "2"}, timeout=10)
    assert r.text == "cond-two"
    r = requests.get(gw.url + "/c", headers={"X-Api-Version": "2"}, timeout=10)
    assert r.text == "cond-header"


def test_first_written_wins_a_tie(gw):
    r = get(gw, "/t?a=1", headers={"X-A": "1"})
    assert r.text == "tie-first"
    assert get(gw, "/t?a=1").text == "tie-second"


def test_methods_select_route(gw):
    assert get(gw, "/m").text == "m-get"
    assert requests.post(gw.url + "/m", timeout=10).text == "m-post"
    assert requests.put(gw.url + "/m", data=b"x", timeout=10).text == "m-post"


def test_wrong_method_is_405_with_allow(gw):
    r = requests.delete(gw.url + "/m", timeout=10)
    assert r.status_code == 405
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert {"GET", "POST", "PUT"} <= allow
    body = r.json()
    assert body["status"] == 405
    assert body["request_id"] == r.headers["X-Correlation-ID"]


def test_404_body_is_json_error(gw):
    r = get(gw, "/no/such/route")
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["status"] == 404
    assert isinstance(body["error"], str) and body["error"]
    assert body["request_id"] and body["request_id"] == r.headers["X-Correlation-ID"]


def test_respond_action(gw):
    r = get(gw, "/ping")
    assert r.status_code == 201
    assert r.text == "pong"
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["X-Answered-By"] == "gateway"
    assert r.headers.get("X-Correlation-ID")


def echo(gw, path, **kw):
    r = requests.get(gw.url + path, timeout=10, **kw)
    assert r.status_code == 200, r.text
    assert r.headers.get("X-Upstream-Name") == "routing-up"
    return r.json()


def test_strip_prefix(gw):
    e = echo(gw, "/api/v1/echo/x/y?q=1")
    assert e["path"] == "/echo/x/y"
    assert e["query"] == "q=1"


def test_rest_param_rewrite(gw):
    assert echo(gw, "/files/a/b/c.txt")["path"] == "/echo/a/b/c.txt"


def test_template_params_rewrite(gw):
    assert echo(gw, "/api/users/7/orders/9")["path"] == "/echo/u/7/o/9"


def test_prefix_rest_rewrite(gw):
    assert echo(gw, "/pre/x/y")["path"] == "/echo/tail/x/y"


@pytest.mark.parametrize("raw_path", [
    "/api/%61dmin",          # %61 = 'a', unreserved: decoded before matching
    "/api/%61%64%6D%69%6E",
    "//api///admin",         # repeated slashes merged
    "/api/x/../admin",       # dot segments resolved
    "/api/./admin",
])
def test_normalized_path_routes(gw, raw_path):
    req = ("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % raw_path).encode()
    r = pt.raw_exchange(gw.port, req)
    assert r.status == 200, r
    assert r.json()["path"] == "/echo/admin"


def test_path_climbing_above_root_is_400(gw):
    for raw in ("/../x", "/a/../../x", "/api/%2e%2e/%2e%2e/x"):
        with pt.connect(gw.port) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % raw).encode())
            r = pt.RawReader(s).read_response()
            assert r.status == 400, (raw, r)
            assert r.json()["status"] == 400
