"""API keys, OAuth2 token introspection (RFC 7662), routes accepting several providers, and
`defaults: {auth: ...}`."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import auth_testing as at
import portico_testing as pt

SECRET = "providers-hs256-secret-0123456789abcdef"
CLIENT_ID = "portico"
CLIENT_SECRET = "intro-secret"


@pytest.fixture(scope="module")
def up(module_upstream):
    return module_upstream("providers-up")


@pytest.fixture(scope="module")
def idp():
    server = at.IntrospectionServer(CLIENT_ID, CLIENT_SECRET)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("api-keys") / "api-keys.yaml"
    path.write_text('"f-1": file-consumer\n"f-2": other-file-consumer\n')
    return path


CONFIG_AUTH = """
auth:
  users-jwt: {type: jwt, secret: "%(secret)s", algorithms: [HS256]}
  partner-keys:
    type: api_key
    header: X-API-Key
    keys: {"k-123": partner-a, "k-456": partner-b}
  file-keys:
    type: api_key
    header: X-Partner-Key
    keys_file: "@KEYS_FILE@"
  introspect:
    type: oauth2_introspection
    url: @IDP@
    client_id: %(client_id)s
    client_secret: %(client_secret)s
    cache_ttl: 60s
  introspect-short:
    type: oauth2_introspection
    url: @IDP@
    client_id: %(client_id)s
    client_secret: %(client_secret)s
    cache_ttl: 1s
  introspect-badcreds:
    type: oauth2_introspection
    url: @IDP@
    client_id: %(client_id)s
    client_secret: not-the-secret
    cache_ttl: 60s
""" % {"secret": SECRET, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}

ROUTES = """
- {name: keys, match: {prefix: /keys}, upstream: up, rewrite: /echo, auth: partner-keys}
- {name: file-keys, match: {prefix: /file-keys}, upstream: up, rewrite: /echo, auth: file-keys}
- {name: intro, match: {prefix: /intro}, upstream: up, rewrite: /echo, auth: introspect}
- name: intro-scoped
  match: {prefix: /scoped}
  upstream: up
  rewrite: /echo
  auth: introspect
  require_scopes: [orders:read]
- {name: intro-short, match: {prefix: /short}, upstream: up, rewrite: /echo, auth: introspect-short}
- {name: intro-badcreds, match: {prefix: /badcreds}, upstream: up, rewrite: /echo, auth: introspect-badcreds}
- {name: either, match: {prefix: /either}, upstream: up, rewrite: /echo, auth: [users-jwt, partner-keys]}
"""


@pytest.fixture(scope="module")
def gw(module_gateway, up, idp, keys_file):
    return module_gateway(pt.make_config(upstreams={"up": "@UP@"}, top_extra=CONFIG_AUTH,
                                         routes=ROUTES),
                          UP=up.url, IDP=idp.introspect_url, KEYS_FILE=keys_file)


def fresh_token():
    return "opaque-" + uuid.uuid4().hex


def active(sub="intro-user", scope="orders:read orders:write", exp_in=3600):
    return {"active": True, "sub": sub, "scope": scope, "exp": at.now() + exp_in,
            "client_id": "some-app", "token_type": "Bearer"}


def consumer_of(gw, rid):
    e = gw.wait_access_log(lambda e: e.get("request_id") == rid)
    assert e is not None, rid
    return e["consumer"]


def rid(prefix):
    return "%s-%d" % (prefix, time.time_ns())


# --- API keys ------------------------------------------------------------------------------

def test_api_key_valid(gw, up):
    traffic = at.UpstreamTraffic(up)
    for key, consumer in (("k-123", "partner-a"), ("k-456", "partner-b")):
        request_id = rid("key-ok")
        r = requests.get(gw.url + "/keys", timeout=10,
                         headers={"X-API-Key": key, "X-Correlation-ID": request_id})
        assert r.status_code == 200, (r.status_code, r.text[:300])
        assert r.json()["path"] == "/echo"
        assert consumer_of(gw, request_id) == consumer
    assert traffic.count() == 2


def test_api_key_missing_is_401_without_error(gw, up):
    traffic = at.UpstreamTraffic(up)
    at.assert_missing_credentials(requests.get(gw.url + "/keys", timeout=10))
    # The key in another header than the configured one is no key.
    at.assert_missing_credentials(requests.get(gw.url + "/keys", headers={"X-Api-Token": "k-123"},
                                               timeout=10))
    assert traffic.count() == 0


@pytest.mark.parametrize("key", ["k-999", "K-123", "k-12", "k-1234", "partner-a", "k-123,k-456",
                                 pytest.param("x" * 10000, id="10000-bytes")])
def test_api_key_wrong_is_401(gw, up, key):
    traffic = at.UpstreamTraffic(up)
    at.assert_invalid_token(requests.get(gw.url + "/keys", headers={"X-API-Key": key}, timeout=10))
    assert traffic.count() == 0


def test_api_key_hostile_values_do_not_crash(gw, up):
    traffic = at.UpstreamTraffic(up)
    for value in (b"\xff\xfe", b"k-123\x00", b"k-\xc3\xa9", b"\x7f" * 64):
        r = at.raw_get(gw.port, "/keys", [b"X-API-Key: " + value])
        assert r.status in (400, 401), (value, r)
    # Repeated headers are joined before any authorization decision: "k-999, k-123" is no key.
    for pair in (("k-123", "k-456"), ("k-999", "k-123"), ("k-123", "k-123")):
        r = at.raw_get(gw.port, "/keys", ["X-API-Key: " + pair[0], "X-API-Key: " + pair[1]])
        assert r.status == 401, (pair, r)
    assert traffic.count() == 0
    at.assert_serving(gw)


def test_api_keys_file(gw, up):
    request_id = rid("keys-file")
    r = requests.get(gw.url + "/file-keys", timeout=10,
                     headers={"X-Partner-Key": "f-1", "X-Correlation-ID": request_id})
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert consumer_of(gw, request_id) == "file-consumer"
    assert requests.get(gw.url + "/file-keys", headers={"X-Partner-Key": "f-2"},
                        timeout=10).status_code == 200
    traffic = at.UpstreamTraffic(up)
    at.assert_invalid_token(requests.get(gw.url + "/file-keys", headers={"X-Partner-Key": "f-3"},
                                         timeout=10))
    # Keys of another provider, or in another header, do not open this route.
    at.assert_invalid_token(requests.get(gw.url + "/file-keys", headers={"X-Partner-Key": "k-123"},
                                         timeout=10))
    at.assert_missing_credentials(requests.get(gw.url + "/file-keys", headers={"X-API-Key": "f-1"},
                                               timeout=10))
    assert traffic.count() == 0


# --- OAuth2 introspection ------------------------------------------------------------------

def test_introspection_active_token(gw, up, idp):
    tok = fresh_token()
    idp.set_answer(tok, active(sub="intro-user-7"))
    request_id = rid("intro-ok")
    traffic = at.UpstreamTraffic(up)
    r = requests.get(gw.url + "/intro", timeout=10,
                     headers={"Authorization": "Bearer " + tok, "X-Correlation-ID": request_id})
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert traffic.count() == 1
    calls = idp.calls_for(tok)
    assert len(calls) == 1, calls
    call = calls[0]
    assert call["path"] == "/introspect"
    assert call["content_type"].split(";")[0].strip() == "application/x-www-form-urlencoded"
    assert call["form"]["token"] == [tok]
    assert call["authorization"] == idp.expected_authorization
    assert consumer_of(gw, request_id) == "intro-user-7"


def test_introspection_inactive_or_unknown_token_is_401(gw, up, idp):
    inactive = fresh_token()
    idp.set_answer(inactive, {"active": False})
    traffic = at.UpstreamTraffic(up)
    at.assert_invalid_token(requests.get(gw.url + "/intro", headers=at.bearer(inactive), timeout=10))
    assert len(idp.calls_for(inactive)) == 1
    unknown = fresh_token()  # the server answers {"active": false}
    at.assert_invalid_token(requests.get(gw.url + "/intro", headers=at.bearer(unknown), timeout=10))
    # Answers that are not "active": true.
    for answer in ({}, {"active": "true"}, {"active": 1}, {"sub": "x", "scope": "orders:read"}):
        tok = fresh_token()
        idp.set_answer(tok, answer)
        at.assert_invalid_token(requests.get(gw.url + "/intro", headers=at.bearer(tok), timeout=10))
    at.assert_missing_credentials(requests.get(gw.url + "/intro", timeout=10))
    assert traffic.count() == 0


def test_introspection_token_comes_from_the_authorization_header(gw, idp):
    tok = fresh_token()
    idp.set_answer(tok, active())
    at.assert_missing_credentials(requests.get(gw.url + "/intro", params={"access_token": tok},
                                               timeout=10))
    assert requests.get(gw.url + "/intro", headers=at.bearer(tok), timeout=10).status_code == 200


def test_introspection_results_are_cached(gw, idp):
    tok = fresh_token()
    idp.set_answer(tok, active())
    for _ in range(8):
        r = requests.get(gw.url + "/intro", headers=at.bearer(tok), timeout=10)
        assert r.status_code == 200
    assert len(idp.calls_for(tok)) == 1


def test_introspection_cache_ttl(gw, idp):
    tok = fresh_token()
    idp.set_answer(tok, active())
    assert requests.get(gw.url + "/short", headers=at.bearer(tok), timeout=10).status_code == 200
    assert requests.get(gw.url + "/short", headers=at.bearer(tok), timeout=10).status_code == 200
    assert len(idp.calls_for(tok)) == 1
    time.sleep(1.6)  # cache_ttl 1s
    assert requests.get(gw.url + "/short", headers=at.bearer(tok), timeout=10).status_code == 200
    assert len(idp.calls_for(tok)) == 2


def test_introspection_cache_ends_at_token_exp(gw, idp):
    tok = fresh_token()
    answer = active(exp_in=2)
    idp.set_answer(tok, answer)
    assert requests.get(gw.url + "/intro", headers=at.bearer(tok), timeout=10).status_code == 200
    idp.set_answer(tok, {"active": False})  # what the IdP says once the token expired
    deadline = answer["exp"] + 1.5
    while time.time() < deadline:
        time.sleep(0.1)
    # cache_ttl is 60s, but the cached active result must not outlive the token.
    at.assert_invalid_token(requests.get(gw.url + "/intro", headers=at.bearer(tok), timeout=10))


def test_introspection_concurrent_requests_make_one_call(gw, idp):
    tok = fresh_token()
    idp.set_answer(tok, active())
    idp.set_delay(0.5)
    barrier = threading.Barrier(10)

    def one(_):
        barrier.wait(timeout=10)
        return requests.get(gw.url + "/intro", headers=at.bearer(tok), timeout=20).status_code

    try:
        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(one, range(10)))
    finally:
        idp.set_delay(0.0)
    assert statuses == [200] * 10, statuses
    assert len(idp.calls_for(tok)) == 1, "%d introspection calls for one token" % len(
        idp.calls_for(tok))


def test_introspection_scopes(gw, up, idp):
    ok = fresh_token()
    idp.set_answer(ok, active(scope="profile orders:read"))
    assert requests.get(gw.url + "/scoped", headers=at.bearer(ok), timeout=10).status_code == 200
    traffic = at.UpstreamTraffic(up)
    for scope in ("profile email", "orders:write", "orders:readonly", "orders", None):
        tok = fresh_token()
        answer = active(scope=scope)
        if scope is None:
            del answer["scope"]
        idp.set_answer(tok, answer)
        r = requests.get(gw.url + "/scoped", headers=at.bearer(tok), timeout=10)
        assert r.status_code == 403, (scope, r.status_code, r.text[:300])
        at.assert_error_body(r, 403)
    assert traffic.count() == 0


def test_introspection_client_credentials_are_checked_by_the_idp(gw, up, idp):
    """With a wrong client_secret the IdP answers 401 invalid_client: never a pass."""
    tok = fresh_token()
    idp.set_answer(tok, active())
    traffic = at.UpstreamTraffic(up)
    r = requests.get(gw.url + "/badcreds", headers=at.bearer(tok), timeout=10)
    assert r.status_code in (401, 503), r.status_code
    assert r.status_code != 200
    calls = idp.calls_for(tok)
    assert calls and calls[0]["authorization"] != idp.expected_authorization
    assert traffic.count() == 0
    at.assert_serving(gw)


def test_introspection_broken_answers_never_pass(gw, up, idp):
    traffic = at.UpstreamTraffic(up)
    try:
        for raw in ((500, '{"error": "boom"}'), (200, "not json"), (200, '{"active": tru'),
                    (200, "[]"), (503, ""), (200, "")):
            idp.set_raw_answer(raw)
            tok = fresh_token()
            idp.set_answer(tok, active())
            r = requests.get(gw.url + "/intro", headers=at.bearer(tok), timeout=10)
            assert r.status_code in (401, 503), (raw, r.status_code, r.text[:300])
            at.assert_error_body(r, r.status_code)
    finally:
        idp.set_raw_answer(None)
    assert traffic.count() == 0
    at.assert_serving(gw)
    tok = fresh_token()
    idp.set_answer(tok, active())
    assert requests.get(gw.url + "/intro", headers=at.bearer(tok), timeout=10).status_code == 200


def test_introspection_unreachable_is_401(gateway, upstream):
    up = upstream("intro-down-up")
    dead = "http://127.0.0.1:%d/introspect" % pt.free_port()
    gw = gateway(pt.make_config(upstreams={"up": up.url}, top_extra="""
auth:
  introspect: {type: oauth2_introspection, url: "%s", client_id: portico, client_secret: s, cache_ttl: 60s}
""" % dead, routes="- {name: intro, match: {prefix: /intro}, upstream: up, auth: introspect}"))
    traffic = at.UpstreamTraffic(up)
    for _ in range(3):
        at.assert_invalid_token(requests.get(gw.url + "/intro", headers=at.bearer(fresh_token()),
                                             timeout=10))
    at.assert_missing_credentials(requests.get(gw.url + "/intro", timeout=10))
    assert traffic.count() == 0
    at.assert_serving(gw)


# --- several providers on one route --------------------------------------------------------

def test_any_listed_provider_may_pass(gw, up):
    good_jwt = at.token(SECRET, "HS256", sub="jwt-user")
    bad_jwt = at.token("some-other-secret-0123456789abcdef", "HS256", sub="jwt-user")
    cases = [
        ({"Authorization": "Bearer " + good_jwt}, 200, "jwt-user"),
        ({"X-API-Key": "k-123"}, 200, "partner-a"),
        ({"Authorization": "Bearer " + bad_jwt, "X-API-Key": "k-123"}, 200, "partner-a"),
        ({"Authorization": "Bearer " + good_jwt, "X-API-Key": "k-nope"}, 200, "jwt-user"),
    ]
    for headers, status, consumer in cases:
        request_id = rid("either")
        r = requests.get(gw.url + "/either", timeout=10,
                         headers=dict(headers, **{"X-Correlation-ID": request_id}))
        assert r.status_code == status, (headers, r.status_code, r.text[:300])
        assert consumer_of(gw, request_id) == consumer
    traffic = at.UpstreamTraffic(up)
    at.assert_missing_credentials(requests.get(gw.url + "/either", timeout=10))
    for headers in ({"Authorization": "Bearer " + bad_jwt}, {"X-API-Key": "k-nope"},
                    {"Authorization": "Bearer " + bad_jwt, "X-API-Key": "k-nope"}):
        r = requests.get(gw.url + "/either", headers=headers, timeout=10)
        assert r.status_code == 401, (headers, r.status_code)
        at.assert_error_body(r, 401)
    assert traffic.count() == 0


# --- defaults ------------------------------------------------------------------------------

def test_defaults_auth_applies_to_routes_without_their_own(gateway, upstream):
    up = upstream("defaults-up")
    gw = gateway(pt.make_config(upstreams={"up": up.url}, top_extra="""
auth:
  users-jwt: {type: jwt, secret: "%s", algorithms: [HS256]}
  partner-keys: {type: api_key, header: X-API-Key, keys: {"k-123": partner-a}}
defaults:
  auth: users-jwt
""" % SECRET, routes="""
- {name: inherits, match: {prefix: /inherits}, upstream: up}
- {name: public, match: {prefix: /public}, upstream: up, auth: none}
- {name: partners, match: {prefix: /partners}, upstream: up, auth: partner-keys}
"""))
    tok = at.token(SECRET, "HS256")
    traffic = at.UpstreamTraffic(up)
    at.assert_missing_credentials(requests.get(gw.url + "/inherits", timeout=10))
    at.assert_invalid_token(requests.get(gw.url + "/inherits",
                                         headers=at.bearer(at.token("x" * 32, "HS256")), timeout=10))
    assert traffic.count() == 0
    assert requests.get(gw.url + "/inherits", headers=at.bearer(tok), timeout=10).status_code == 200
    assert requests.get(gw.url + "/public", timeout=10).status_code == 200
    # A route's own provider replaces the default one.
    assert requests.get(gw.url + "/partners", headers={"X-API-Key": "k-123"},
                        timeout=10).status_code == 200
    traffic = at.UpstreamTraffic(up)
    assert requests.get(gw.url + "/partners", headers=at.bearer(tok), timeout=10).status_code == 401
    assert traffic.count() == 0


# --- reloads -------------------------------------------------------------------------------

def test_a_reload_keeps_the_introspection_cache_of_an_unchanged_provider(gateway, upstream):
    server = at.IntrospectionServer(CLIENT_ID, CLIENT_SECRET)
    try:
        config = pt.make_config(upstreams={"up": "@UP@"}, top_extra="""
auth:
  introspect: {type: oauth2_introspection, url: @IDP@, client_id: %s, client_secret: %s,
               cache_ttl: 60s}
""" % (CLIENT_ID, CLIENT_SECRET), routes="""
- {name: intro, match: {prefix: /intro}, upstream: up, rewrite: /echo, auth: introspect}
- {name: open, match: {prefix: /open}, upstream: up, rewrite: /echo}
""")
        gw = gateway(config, UP=upstream("intro-reload-up").url, IDP=server.introspect_url)
        tok = fresh_token()
        server.set_answer(tok, active())

        def reload_then_get(config_text):
            gw.write_config(config_text)
            r = requests.post(gw.admin_url + "/admin/reload", timeout=10)
            assert r.status_code == 200, r.text
            r = requests.get(gw.url + "/intro", headers=at.bearer(tok), timeout=10)
            assert r.status_code == 200, r.text

        assert requests.get(gw.url + "/intro", headers=at.bearer(tok), timeout=10).status_code == 200
        assert len(server.calls_for(tok)) == 1
        # Another route changes, the provider does not: its cached answer still serves.
        reload_then_get(config.replace("prefix: /open", "prefix: /opened"))
        assert requests.get(gw.url + "/opened", timeout=10).status_code == 200
        assert len(server.calls_for(tok)) == 1
        # The provider changes: a new one, with an empty cache.
        reload_then_get(config.replace("cache_ttl: 60s", "cache_ttl: 120s"))
        assert len(server.calls_for(tok)) == 2
    finally:
        server.stop()
