"""Authorization and what authentication does to the request: require_roles, require_scopes,
path tricks around a protected prefix, forwarded claims that clients cannot spoof, and the
auth failure metric."""

import time

import pytest
import requests

import auth_testing as at
import portico_testing as pt

SECRET = "authorization-hs256-secret-0123456789abcdef"
OTHER_SECRET = "not-the-authorization-secret-0123456789"

TOP = """
auth:
  users-jwt:
    type: jwt
    secret: "%s"
    algorithms: [HS256]
    forward_claims: {sub: X-User-Id, email: X-User-Email}
  groups-jwt:
    type: jwt
    secret: "%s"
    algorithms: [HS256]
    roles_claim: groups
""" % (SECRET, SECRET)

ROUTES = """
- name: admin
  match: {prefix: /admin}
  upstream: up
  rewrite: /echo
  auth: users-jwt
  require_roles: [admin, ops]
- name: groups
  match: {prefix: /groups}
  upstream: up
  rewrite: /echo
  auth: groups-jwt
  require_roles: [admin]
- name: orders
  match: {prefix: /orders}
  upstream: up
  rewrite: /echo
  auth: users-jwt
  require_scopes: [orders:read, orders:write]
- {name: me, match: {prefix: /me}, upstream: up, rewrite: /echo, auth: users-jwt}
- {name: api-admin, match: {prefix: /api/admin}, upstream: up, auth: users-jwt}
- {name: api-open, match: {prefix: /api}, upstream: up}
- {name: public, match: {prefix: /public}, upstream: up}
"""


@pytest.fixture(scope="module")
def up(module_upstream):
    return module_upstream("authz-up")


@pytest.fixture(scope="module")
def gw(module_gateway, up):
    return module_gateway(pt.make_config(upstreams={"up": "@UP@"}, top_extra=TOP, routes=ROUTES),
                          UP=up.url)


def tok(**claim_values):
    return at.token(SECRET, "HS256", **claim_values)


def get(gw, path, token=None, headers=None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    return requests.get(gw.url + path, headers=h, timeout=10)


# --- require_roles -------------------------------------------------------------------------

@pytest.mark.parametrize("roles,status", [
    (["admin"], 200),
    (["viewer", "ops"], 200),
    ("ops viewer", 200),              # space-separated string
    ("admin", 200),
    (["viewer"], 403),
    ([], 403),
    ("", 403),
    (None, 403),                      # no roles claim
    ("administrator", 403),           # whole roles only
    ("admins ops2", 403),
    (["admin ops"], 403),             # one role named "admin ops" is neither
    (["Admin"], 403),                 # roles compare exactly
    (7, 403),                         # not a string or an array
    ({"admin": True}, 403),
])
def test_require_roles(gw, up, roles, status):
    traffic = at.UpstreamTraffic(up)
    r = get(gw, "/admin", tok(roles=roles))
    assert r.status_code == status, (roles, r.status_code, r.text[:300])
    if status == 403:
        at.assert_error_body(r, 403)
        assert traffic.count() == 0
    else:
        assert traffic.count() == 1


def test_roles_claim_names_the_claim(gw):
    assert get(gw, "/groups", tok(groups=["admin"])).status_code == 200
    assert get(gw, "/groups", tok(groups="staff admin")).status_code == 200
    r = get(gw, "/groups", tok(roles=["admin"]))  # the default claim is not read here
    assert r.status_code == 403
    at.assert_error_body(r, 403)


def test_authentication_failures_stay_401_on_rbac_routes(gw, up):
    traffic = at.UpstreamTraffic(up)
    for path in ("/admin", "/orders", "/groups"):
        at.assert_missing_credentials(get(gw, path))
        forged = at.token(OTHER_SECRET, "HS256", roles=["admin"], groups=["admin"],
                          scope="orders:read orders:write")
        at.assert_invalid_token(get(gw, path, forged))
        expired = tok(roles=["admin"], groups=["admin"], scope="orders:read orders:write",
                      exp=at.now() - 3600)
        at.assert_invalid_token(get(gw, path, expired))
    assert traffic.count() == 0


# --- require_scopes ------------------------------------------------------------------------

@pytest.mark.parametrize("claim_values,status", [
    ({"scope": "orders:read orders:write"}, 200),
    ({"scope": "profile orders:write orders:read email"}, 200),
    ({"scp": ["orders:read", "orders:write"]}, 200),
    ({"scope": "orders:read"}, 403),                 # all of them are needed
    ({"scope": "orders:write"}, 403),
    ({"scope": "orders:read,orders:write"}, 403),    # space-separated, not comma
    ({"scope": "orders"}, 403),
    ({"scope": "orders:read orders:writer"}, 403),
    ({"scope": ""}, 403),
    ({}, 403),
    ({"scp": ["orders:read"]}, 403),
    ({"roles": ["admin"]}, 403),                     # roles are not scopes
])
def test_require_scopes(gw, up, claim_values, status):
    traffic = at.UpstreamTraffic(up)
    r = get(gw, "/orders", tok(**claim_values))
    assert r.status_code == status, (claim_values, r.status_code, r.text[:300])
    if status == 403:
        at.assert_error_body(r, 403)
        assert traffic.count() == 0
    else:
        assert traffic.count() == 1


# --- path tricks ---------------------------------------------------------------------------

TRICKS = [
    "/api/admin",
    "/api/admin/users",
    "/api/%61dmin",
    "/api/%61%64%6d%69%6e/users",
    "/public/../api/admin",
    "/public/%2e%2e/api/admin",
    "/public/%2E%2E/api/admin/x",
    "//api/admin",
    "/api//admin",
    "/api///admin//users",
    "/api/./admin",
    "/api/x/../admin",
    "/./api/admin",
    "/api/admin/",
    "/api/admin?role=admin",
]


@pytest.mark.parametrize("target", TRICKS)
def test_path_tricks_cannot_reach_the_protected_prefix_without_a_token(gw, up, target):
    traffic = at.UpstreamTraffic(up)
    r = at.raw_get(gw.port, target)
    assert r.status == 401, (target, r)
    assert r.json()["status"] == 401
    assert traffic.count() == 0, "%s reached the upstream without a token" % target


def test_path_tricks_with_a_token_use_the_protected_route(gw):
    good = tok(sub="path-user")
    for target in ("/api/%61dmin", "/public/../api/admin", "//api/admin", "/api/./admin"):
        rid = "authz-path-%d" % time.time_ns()
        r = at.raw_get(gw.port, target, ["Authorization: Bearer " + good, "X-Correlation-ID: " + rid])
        assert r.status == 200, (target, r)
        e = gw.wait_access_log(lambda e: e.get("request_id") == rid)
        assert e is not None and e["route"] == "api-admin", (target, e)


def test_open_routes_beside_the_protected_prefix_stay_open(gw):
    assert at.raw_get(gw.port, "/api/admin").status == 401  # control: the protected prefix
    for target in ("/api", "/api/users", "/api/administrator", "/public/x", "/api/x/../users"):
        r = at.raw_get(gw.port, target)
        assert r.status == 200, (target, r)


# --- forwarded claims and spoofing ---------------------------------------------------------

def test_forward_claims_reach_the_upstream(gw):
    r = get(gw, "/me", tok(sub="user-42", email="u42@example.test"))
    assert r.status_code == 200, r.text[:300]
    h = at.headers_of(r.json())
    assert h["x-user-id"] == ["user-42"]
    assert h["x-user-email"] == ["u42@example.test"]


def test_client_sent_claim_headers_are_replaced(gw):
    r = get(gw, "/me", tok(sub="user-42"), headers={"X-User-Id": "admin",
                                                    "X-User-Email": "root@example.test"})
    assert r.status_code == 200, r.text[:300]
    h = at.headers_of(r.json())
    assert h["x-user-id"] == ["user-42"]
    assert "x-user-email" not in h  # the token has no email claim: no header at all


def test_spoofed_claim_headers_in_any_case_and_repeated_are_removed(gw):
    r = at.raw_get(gw.port, "/me", ["Authorization: Bearer " + tok(sub="user-43"),
                                    "x-user-id: admin", "X-USER-ID: root", "X-User-Id: 0",
                                    "x-user-email: a@b", "X-User-Email: c@d"])
    assert r.status == 200, r
    h = at.headers_of(r.json())
    assert h["x-user-id"] == ["user-43"]
    assert "x-user-email" not in h


def test_token_without_the_claim_leaves_no_spoofed_header(gw):
    r = get(gw, "/me", tok(sub=None, email="only-email@example.test"),
            headers={"X-User-Id": "admin"})
    assert r.status_code == 200, r.text[:300]
    h = at.headers_of(r.json())
    assert "x-user-id" not in h
    assert h["x-user-email"] == ["only-email@example.test"]


def test_claim_values_cannot_inject_headers(gw):
    r = get(gw, "/me", tok(sub="user-44\r\nX-Injected: yes", email="e@x\nX-Injected2: yes"))
    assert r.status_code in (200, 400, 401), r.status_code
    if r.status_code == 200:
        h = at.headers_of(r.json())
        assert "x-injected" not in h and "x-injected2" not in h, h
        for values in h.values():
            for v in values:
                assert "\r" not in v and "\n" not in v
    at.assert_serving(gw)


# --- metrics and the access log ------------------------------------------------------------

def failures(gw, **labels):
    return pt.metric_value(gw.metrics(), "portico_auth_failures_total", **labels) or 0


def test_auth_failures_metric(gw):
    before_total = failures(gw, route="me", provider="users-jwt")
    before_missing = failures(gw, route="me", provider="users-jwt", reason="missing")
    before_expired = failures(gw, route="me", provider="users-jwt", reason="expired")
    at.assert_missing_credentials(get(gw, "/me"))
    at.assert_missing_credentials(get(gw, "/me"))
    at.assert_invalid_token(get(gw, "/me", tok(exp=at.now() - 3600)))
    at.assert_invalid_token(get(gw, "/me", at.token(OTHER_SECRET, "HS256")))
    at.assert_invalid_token(get(gw, "/me", "not.a.token"))
    assert pt.wait_until(
        lambda: failures(gw, route="me", provider="users-jwt") - before_total >= 5, 5, 0.2), \
        gw.metrics()
    assert failures(gw, route="me", provider="users-jwt", reason="missing") - before_missing == 2
    assert failures(gw, route="me", provider="users-jwt", reason="expired") - before_expired == 1
    assert get(gw, "/me", tok()).status_code == 200
    # Valid requests do not count as failures.
    assert failures(gw, route="me", provider="users-jwt") - before_total == 5


def test_rbac_failures_metric(gw):
    before = failures(gw, route="admin", provider="rbac")
    before_orders = failures(gw, route="orders", provider="rbac")
    assert get(gw, "/admin", tok(roles=["viewer"])).status_code == 403
    assert get(gw, "/orders", tok(scope="orders:read")).status_code == 403
    assert pt.wait_until(lambda: failures(gw, route="admin", provider="rbac") - before == 1, 5, 0.2)
    assert failures(gw, route="orders", provider="rbac") - before_orders == 1


def test_refusals_in_the_access_log(gw):
    rid = "authz-log-401-%d" % time.time_ns()
    get(gw, "/me", headers={"X-Correlation-ID": rid})
    e = gw.wait_access_log(lambda e: e.get("request_id") == rid)
    assert e is not None and e["status"] == 401 and e["route"] == "me" and e.get("error"), e
    rid = "authz-log-403-%d" % time.time_ns()
    get(gw, "/admin", tok(sub="not-an-admin", roles=["viewer"]), headers={"X-Correlation-ID": rid})
    e = gw.wait_access_log(lambda e: e.get("request_id") == rid)
    assert e is not None and e["status"] == 403 and e.get("error"), e
    assert e["consumer"] == "not-an-admin"  # authenticated, then refused
