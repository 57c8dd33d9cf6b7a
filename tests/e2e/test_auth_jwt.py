"""JWT authentication: every algorithm, the registered claims, token sources, hostile tokens.

A route with `auth: <jwt provider>` serves a request only with a valid token; anything else is
a 401 with `WWW-Authenticate: Bearer realm="portico"` (plus `error="invalid_token"` when a
token was presented), a JSON error body, and no request to the upstream.
"""

import hashlib
import hmac
import time

import pytest
import requests

import auth_testing as at
import portico_testing as pt

ISSUER = "https://idp.test"


class Keys:
    """The keys of this module: for each algorithm the one the gateway trusts and a stranger."""

    def __init__(self, directory):
        self.dir = directory
        self.hmac = at.key_for("HS256")
        self.hmac_other = at.key_for("HS256")
        self.rsa = at.rsa_key()
        self.rsa_other = at.rsa_key()
        self.p256 = at.ec_key("P-256")
        self.p256_other = at.ec_key("P-256")
        self.p384 = at.ec_key("P-384")
        self.p384_other = at.ec_key("P-384")
        self.ed = at.ed25519_key()
        self.ed_other = at.ed25519_key()
        self.rsa_pem = at.write_public_pem(self.rsa, directory / "rsa.pem")
        self.p256_pem = at.write_public_pem(self.p256, directory / "p256.pem")
        self.p384_pem = at.write_public_pem(self.p384, directory / "p384.pem")
        self.ed_pem = at.write_public_pem(self.ed, directory / "ed25519.pem")

    def signing(self, alg):
        """(trusted key, other key of the same kind) for `alg`."""
        if alg in at.HMAC_ALGORITHMS:
            return self.hmac, self.hmac_other
        if alg in at.RSA_ALGORITHMS:
            return self.rsa, self.rsa_other
        return {"ES256": (self.p256, self.p256_other), "ES384": (self.p384, self.p384_other),
                "EdDSA": (self.ed, self.ed_other)}[alg]

    def key_source(self, alg):
        """The provider's key line for `alg`."""
        if alg in at.HMAC_ALGORITHMS:
            return 'secret: "%s"' % self.hmac
        pem = self.rsa_pem if alg in at.RSA_ALGORITHMS else \
            {"ES256": self.p256_pem, "ES384": self.p384_pem, "EdDSA": self.ed_pem}[alg]
        return 'public_key: "%s"' % pem


def provider_name(alg):
    return "p-" + alg.lower()


def config(keys):
    providers = ["auth:"]
    for alg in at.ALL_ALGORITHMS:
        providers.append("  %s: {type: jwt, %s, algorithms: [%s]}"
                         % (provider_name(alg), keys.key_source(alg), alg))
    providers.append("""\
  claims:
    type: jwt
    secret: "%s"
    algorithms: [HS256]
    issuer: %s
    audience: [orders-api, billing-api]
    leeway: 30s
  sources:
    type: jwt
    secret: "%s"
    algorithms: [HS256]
    token_from: [header:Authorization, query:access_token, cookie:session]""" % (
        keys.hmac, ISSUER, keys.hmac))
    routes = []
    for alg in at.ALL_ALGORITHMS:
        routes.append("- {name: alg-%s, match: {prefix: /alg/%s}, upstream: up, rewrite: /echo, auth: %s}"
                      % (alg.lower(), alg.lower(), provider_name(alg)))
    routes.append("- {name: claims, match: {prefix: /claims}, upstream: up, rewrite: /echo, auth: claims}")
    routes.append("- {name: sources, match: {prefix: /sources}, upstream: up, rewrite: /echo, auth: sources}")
    routes.append("- {name: open, match: {prefix: /open}, upstream: up, rewrite: /echo}")
    return pt.make_config(upstreams={"up": "@UP@"}, top_extra="\n".join(providers),
                          routes="\n".join(routes))


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return Keys(tmp_path_factory.mktemp("jwt-keys"))


@pytest.fixture(scope="module")
def up(module_upstream):
    return module_upstream("jwt-up")


@pytest.fixture(scope="module")
def gw(module_gateway, up, keys):
    return module_gateway(config(keys), UP=up.url)


def get(gw, path, tok=None, headers=None, **kw):
    h = dict(headers or {})
    if tok is not None:
        h["Authorization"] = "Bearer " + tok
    return requests.get(gw.url + path, headers=h, timeout=10, **kw)


def good_claims(**extra):
    values = {"iss": ISSUER, "aud": "orders-api"}
    values.update(extra)
    return values


# --- missing credentials -------------------------------------------------------------------

def test_missing_token_is_401_without_error_and_never_reaches_upstream(gw, up):
    traffic = at.UpstreamTraffic(up)
    for path in ("/alg/hs256", "/alg/rs256", "/claims/x", "/sources"):
        r = get(gw, path, headers={"X-Correlation-ID": "jwt-missing-1"})
        at.assert_missing_credentials(r)
        assert r.json()["request_id"] == "jwt-missing-1"
    assert traffic.count() == 0
    # The open route on the same gateway still proxies.
    assert get(gw, "/open").status_code == 200


# --- every algorithm -----------------------------------------------------------------------

@pytest.mark.parametrize("alg", at.ALL_ALGORITHMS)
def test_algorithm_accepted_with_its_key(gw, up, keys, alg):
    key, _ = keys.signing(alg)
    traffic = at.UpstreamTraffic(up)
    r = get(gw, "/alg/%s/x" % alg.lower(), at.token(key, alg, sub="sub-" + alg))
    assert r.status_code == 200, (alg, r.status_code, r.text[:300])
    assert r.headers["X-Upstream-Name"] == "jwt-up"
    assert r.json()["path"] == "/echo"
    assert traffic.count() == 1


@pytest.mark.parametrize("alg", at.ALL_ALGORITHMS)
def test_algorithm_rejected_with_another_key_of_the_same_kind(gw, up, keys, alg):
    _, other = keys.signing(alg)
    traffic = at.UpstreamTraffic(up)
    r = get(gw, "/alg/%s" % alg.lower(), at.token(other, alg))
    at.assert_invalid_token(r)
    assert traffic.count() == 0


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256", "EdDSA"])
def test_tampered_payload_or_signature_is_401(gw, up, keys, alg):
    key, _ = keys.signing(alg)
    header, payload, sig = at.token(key, alg, sub="alice").split(".")
    forged_payload = at.b64url_json(at.claims(sub="admin"))
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    traffic = at.UpstreamTraffic(up)
    for tok in ("%s.%s.%s" % (header, forged_payload, sig), "%s.%s.%s" % (header, payload, flipped),
                "%s.%s.%s" % (header, payload, sig[: len(sig) // 2])):
        at.assert_invalid_token(get(gw, "/alg/%s" % alg.lower(), tok))
    assert traffic.count() == 0
    at.assert_serving(gw)


# --- algorithm allow-list, none, and key confusion -----------------------------------------

@pytest.mark.parametrize("route_alg,token_alg", [
    ("HS256", "HS512"),   # same secret, algorithm not in the list
    ("HS256", "HS384"),
    ("RS256", "RS512"),   # same RSA key
    ("RS256", "PS256"),
    ("PS256", "RS256"),
    ("ES256", "ES384"),   # (key of the other curve: still outside the list)
])
def test_algorithm_outside_allow_list_is_401(gw, up, keys, route_alg, token_alg):
    key, _ = keys.signing(token_alg)
    traffic = at.UpstreamTraffic(up)
    r = get(gw, "/alg/%s" % route_alg.lower(), at.token(key, token_alg))
    at.assert_invalid_token(r)
    assert traffic.count() == 0
    at.assert_serving(gw)


def test_alg_none_is_401(gw, up, keys):
    payload = at.claims(sub="admin", iss=ISSUER, aud="orders-api")
    hs_sig = at.token(keys.hmac, "HS256").split(".")[2]
    tokens = []
    for alg in ("none", "None", "NONE", "nOnE"):
        tokens.append(at.unsigned_token(payload, alg))
    tokens.append(at.unsigned_token(payload) + hs_sig)  # none, with a signature attached anyway
    tokens.append(at.unsigned_token(payload)[:-1])      # none, two segments
    traffic = at.UpstreamTraffic(up)
    for path in ("/alg/hs256", "/alg/rs256", "/alg/eddsa", "/claims"):
        for tok in tokens:
            r = get(gw, path, tok)
            assert r.status_code == 401, (path, tok, r.status_code)
            assert "realm=\"portico\"" in r.headers.get("WWW-Authenticate", "")
    assert traffic.count() == 0
    at.assert_serving(gw)


def test_hs256_signed_with_the_public_key_pem_is_401(gw, up, keys):
    """The classic confusion attack against a public_key provider (RS256 only)."""
    pem = keys.rsa_pem.read_bytes()
    payload = at.claims(sub="admin")
    traffic = at.UpstreamTraffic(up)
    for secret in (pem, pem.strip(), pem.replace(b"\n", b"\r\n")):
        for alg in ("HS256", "HS512"):
            r = get(gw, "/alg/rs256", at.hmac_token_raw(secret, payload, alg))
            at.assert_invalid_token(r)
    assert traffic.count() == 0
    # The legitimate RS256 token on the same route passes.
    assert get(gw, "/alg/rs256", at.token(keys.rsa, "RS256")).status_code == 200


def test_public_key_provider_listing_hs256_never_accepts_pem_as_hmac_secret(gateway, upstream,
                                                                            tmp_path):
    """public_key + algorithms [RS256, HS256]: either the config is refused at startup (the
    validator forbids HS* next to a public key), or it runs and still answers 401 to an HS256
    token keyed with the public key PEM."""
    key = at.rsa_key()
    pem = at.write_public_pem(key, tmp_path / "confused.pem")
    up = upstream("confusion-up")
    text = pt.make_config(upstreams={"up": up.url}, top_extra="""
auth:
  mixed: {type: jwt, public_key: "%s", algorithms: [RS256, HS256]}
""" % pem, routes="- {name: mixed, match: {prefix: /mixed}, upstream: up, auth: mixed}")
    try:
        gw = gateway(text)
    except pt.GatewayStartError as e:
        assert "HS256" in str(e), str(e)[-2000:]
        return
    traffic = at.UpstreamTraffic(up)
    forged = at.hmac_token_raw(pem.read_bytes(), at.claims(sub="admin"), "HS256")
    at.assert_invalid_token(get(gw, "/mixed", forged))
    assert traffic.count() == 0
    assert get(gw, "/mixed", at.token(key, "RS256")).status_code == 200


# --- registered claims ---------------------------------------------------------------------

@pytest.mark.parametrize("case,extra,status", [
    ("valid", {}, 200),
    ("audience list in config, token names the second", {"aud": "billing-api"}, 200),
    ("audience array in token, one matches", {"aud": ["someone-else", "orders-api"]}, 200),
    ("audience array in token, none matches", {"aud": ["someone-else", "nobody"]}, 401),
    ("wrong audience", {"aud": "payments-api"}, 401),
    ("no audience", {"aud": None}, 401),
    ("wrong issuer", {"iss": "https://evil.test"}, 401),
    ("issuer differs by a trailing slash", {"iss": ISSUER + "/"}, 401),
    ("no issuer", {"iss": None}, 401),
    ("expired an hour ago", {"exp": -3600}, 401),
    ("expired 10 s ago, within the 30 s leeway", {"exp": -10}, 200),
    ("expired 60 s ago, beyond the leeway", {"exp": -60}, 401),
    ("not valid for an hour", {"nbf": 3600}, 401),
    ("not valid for 10 s, within the leeway", {"nbf": 10}, 200),
    ("exp is not a number", {"exp": "tomorrow"}, 401),
])
def test_registered_claims(gw, up, keys, case, extra, status):
    values = good_claims()
    for k, v in extra.items():
        values[k] = at.now() + v if k in ("exp", "nbf") and isinstance(v, int) else v
    tok = at.token(keys.hmac, "HS256", **values)
    traffic = at.UpstreamTraffic(up)
    r = get(gw, "/claims", tok)
    if status == 200:
        assert r.status_code == 200, (case, r.status_code, r.text[:300])
        assert traffic.count() == 1
    else:
        at.assert_invalid_token(r)
        assert traffic.count() == 0


def test_valid_token_then_the_same_token_after_it_expires(gw, keys):
    # exp just inside the leeway now, beyond it a few seconds later: checked per request.
    tok = at.token(keys.hmac, "HS256", **good_claims(exp=at.now() - 27))
    assert get(gw, "/claims", tok).status_code == 200
    time.sleep(5)
    at.assert_invalid_token(get(gw, "/claims", tok))


# --- where the token comes from ------------------------------------------------------------

def test_token_from_query_and_cookie(gw, keys):
    tok = at.token(keys.hmac, "HS256", sub="query-user")
    assert get(gw, "/sources", tok).status_code == 200
    rid = "jwt-query-%d" % time.time_ns()
    r = requests.get(gw.url + "/sources", params={"access_token": tok}, timeout=10,
                     headers={"X-Correlation-ID": rid})
    assert r.status_code == 200, r.text[:300]
    r = requests.get(gw.url + "/sources", timeout=10,
                     headers={"Cookie": "theme=dark; session=%s; lang=en" % tok})
    assert r.status_code == 200, r.text[:300]
    # A bad token in the query or cookie is still a bad token.
    bad = at.token(keys.hmac_other, "HS256")
    at.assert_invalid_token(requests.get(gw.url + "/sources", params={"access_token": bad},
                                         timeout=10))
    at.assert_invalid_token(requests.get(gw.url + "/sources", headers={"Cookie": "session=" + bad},
                                         timeout=10))
    # The access_token query parameter never reaches the access log.
    e = gw.wait_access_log(lambda e: e.get("request_id") == rid)
    assert e is not None
    assert tok not in gw.access_log_path.read_text()


def test_default_token_source_is_the_authorization_header_only(gw, keys):
    tok = at.token(keys.hmac, "HS256")
    at.assert_missing_credentials(requests.get(gw.url + "/alg/hs256", params={"access_token": tok},
                                               timeout=10))
    at.assert_missing_credentials(requests.get(gw.url + "/alg/hs256",
                                               headers={"Cookie": "session=" + tok}, timeout=10))
    at.assert_missing_credentials(requests.get(gw.url + "/alg/hs256",
                                               headers={"X-Token": tok}, timeout=10))
    assert get(gw, "/alg/hs256", tok).status_code == 200


def test_consumer_is_the_sub_in_the_access_log(gw, keys):
    rid = "jwt-consumer-%d" % time.time_ns()
    tok = at.token(keys.hmac, "HS256", sub="alice-77")
    r = get(gw, "/alg/hs256", tok, headers={"X-Correlation-ID": rid})
    assert r.status_code == 200
    e = gw.wait_access_log(lambda e: e.get("request_id") == rid)
    assert e is not None
    assert e["consumer"] == "alice-77"
    assert e["route"] == "alg-hs256"
    assert tok not in gw.access_log_path.read_text()  # never the Authorization header


# --- hostile and malformed tokens ----------------------------------------------------------

def malformed_tokens(keys):
    hs = at.token(keys.hmac, "HS256")
    h, p, s = hs.split(".")
    good_header = at.b64url_json({"alg": "HS256", "typ": "JWT"})

    def signed(header_b64, payload_b64):
        sig = hmac.new(keys.hmac.encode(), ("%s.%s" % (header_b64, payload_b64)).encode(),
                       hashlib.sha256).digest()
        return "%s.%s.%s" % (header_b64, payload_b64, at.b64url(sig))

    return [
        "abc",                                   # one segment
        "%s.%s" % (h, p),                        # two segments
        "%s.%s.%s.%s" % (h, p, s, s),            # four segments
        hs + ".",                                # four, the last empty
        "..", ".", "...",
        "!!!.@@@.###",                           # not base64url
        "%s.%s.%s" % (h, "%%%%", s),
        "%s.%s.%s" % (at.b64url("not json"), p, s),            # header not JSON
        signed(good_header, at.b64url("not json at all")),     # payload not JSON, signed
        signed(good_header, at.b64url("[1, 2, 3]")),           # payload an array
        signed(good_header, at.b64url("42")),                  # payload a number
        signed(good_header, at.b64url('{"sub": "x", "exp": ')),  # truncated JSON
        signed(good_header, at.b64url(b'{"sub": "\xff\xfe", "exp": 9999999999}')),  # bad UTF-8
        signed(at.b64url_json({"typ": "JWT"}), p),             # header without alg
        signed(at.b64url_json({"alg": 256}), p),               # alg not a string
        signed(at.b64url("[]"), p),                             # header an array
        "%s.%s.%s" % (h, p, "!" * 43),                         # signature not base64url
        "%s.%s.%s" % (h, p, ""),                               # empty signature
    ]


def test_malformed_tokens_are_401_and_the_gateway_keeps_serving(gw, up, keys):
    traffic = at.UpstreamTraffic(up)
    for tok in malformed_tokens(keys):
        r = at.raw_get(gw.port, "/alg/hs256", ["Authorization: Bearer " + tok])
        assert r.status == 401, (tok, r)
        scheme, params = at.auth_params(r.header("WWW-Authenticate"))
        assert scheme == "Bearer" and params.get("realm") == "portico", (tok, r)
        assert r.json()["status"] == 401
    assert traffic.count() == 0
    at.assert_serving(gw)
    assert get(gw, "/alg/hs256", at.token(keys.hmac, "HS256")).status_code == 200


@pytest.mark.parametrize("value", [
    "Bearer",
    "Bearer ",
    "Bearer    ",
    "Basic dXNlcjpwYXNz",
    "Bearertoken",
    "Token abc.def.ghi",
    "Bearer a b c",
])
def test_malformed_authorization_header_is_401(gw, up, value):
    traffic = at.UpstreamTraffic(up)
    r = at.raw_get(gw.port, "/alg/hs256", ["Authorization: " + value])
    assert r.status == 401, (value, r)
    assert "realm=\"portico\"" in (r.header("WWW-Authenticate") or "")
    assert traffic.count() == 0
    at.assert_serving(gw)


def test_non_ascii_bytes_in_the_token_are_401(gw, up, keys):
    tok = at.token(keys.hmac, "HS256").encode()
    traffic = at.UpstreamTraffic(up)
    for bad in (tok[:10] + b"\xc3\xa9" + tok[10:], tok + b"\xff", b"\x80\x81\x82.\x83.\x84",
                b"\x01\x02" + tok):
        # Bytes outside a token's alphabet: an invalid token (401), or a malformed head (400).
        r = at.raw_get(gw.port, "/alg/hs256", [b"Authorization: Bearer " + bad])
        assert r.status in (400, 401), (bad, r)
    assert traffic.count() == 0
    at.assert_serving(gw)


def test_deeply_nested_signed_payload_does_not_crash(gw, keys):
    depth = 20000
    payload = '{"sub": "deep", "exp": %d, "x": %s%s}' % (at.now() + 600, "[" * depth, "]" * depth)
    header = at.b64url_json({"alg": "HS256", "typ": "JWT"})
    body = at.b64url(payload)
    sig = hmac.new(keys.hmac.encode(), ("%s.%s" % (header, body)).encode(), hashlib.sha256).digest()
    tok = "%s.%s.%s" % (header, body, at.b64url(sig))
    # ~53 KB header: larger than max_header_bytes (16 KiB).
    r = at.raw_get(gw.port, "/alg/hs256", ["Authorization: Bearer " + tok])
    assert r.status in (200, 401, 431), r
    at.assert_serving(gw)
    # The same shape within the header limit must be parsed (or refused) without a crash.
    depth = 3000
    payload = '{"sub": "deep", "exp": %d, "x": %s%s}' % (at.now() + 600, "[" * depth, "]" * depth)
    body = at.b64url(payload)
    sig = hmac.new(keys.hmac.encode(), ("%s.%s" % (header, body)).encode(), hashlib.sha256).digest()
    r = get(gw, "/alg/hs256", "%s.%s.%s" % (header, body, at.b64url(sig)))
    assert r.status_code in (200, 401), r.status_code
    at.assert_serving(gw)


def test_large_tokens(gw, up, keys):
    traffic = at.UpstreamTraffic(up)
    # ~10 KB: within the header limits, so the verifier answers.
    big_signed_by_stranger = at.token(keys.hmac_other, "HS256", pad="x" * 7000)
    assert 9000 < len(big_signed_by_stranger) < 12000
    at.assert_invalid_token(get(gw, "/alg/hs256", big_signed_by_stranger))
    at.assert_invalid_token(get(gw, "/alg/hs256", "A" * 10000))
    at.assert_invalid_token(get(gw, "/alg/hs256", ("A" * 3300 + ".") * 2 + "A" * 3300))
    # ~100 KB: over max_header_bytes; 431 or 401, never a crash and never the upstream.
    for tok in ("A" * 100_000, at.token(keys.hmac_other, "HS256", pad="y" * 75_000)):
        r = at.raw_get(gw.port, "/alg/hs256", ["Authorization: Bearer " + tok])
        assert r.status in (401, 431), r
    assert traffic.count() == 0
    at.assert_serving(gw)
    # A valid token with a ~10 KB claim is accepted.
    big_valid = at.token(keys.hmac, "HS256", pad="z" * 7000)
    assert get(gw, "/alg/hs256", big_valid).status_code == 200


def test_a_provider_without_algorithms_accepts_its_own_key_family_only(gateway, upstream):
    up = upstream("jwt-no-algs")
    secret = "no-algorithms-listed-0123456789abcdef"
    gw = gateway(pt.make_config(upstreams={"up": "@UP@"}, top_extra="""
auth:
  hs: {type: jwt, secret: "%s"}
""" % secret, routes="- {name: p, match: {prefix: /p}, upstream: up, auth: hs}"), UP=up.url)
    import jwt as pyjwt
    now = int(time.time())
    for alg in ("HS256", "HS384", "HS512"):
        token = pyjwt.encode({"sub": "u", "exp": now + 60}, secret, algorithm=alg)
        r = requests.get(gw.url + "/p", headers={"Authorization": "Bearer " + token}, timeout=5)
        assert r.status_code == 200, (alg, r.text)
    wrong = pyjwt.encode({"sub": "u", "exp": now + 60}, "another-secret-0123456789abcdef", "HS256")
    r = requests.get(gw.url + "/p", headers={"Authorization": "Bearer " + wrong}, timeout=5)
    assert r.status_code == 401


def test_a_reload_reads_a_changed_key_file_and_drops_tokens_of_the_old_key(gateway, upstream,
                                                                           tmp_path):
    old_key, new_key = at.rsa_key(), at.rsa_key()
    pem = at.write_public_pem(old_key, tmp_path / "rotating.pem")
    config = pt.make_config(upstreams={"up": "@UP@"}, top_extra="""
auth:
  rsa: {type: jwt, public_key: "%s", algorithms: [RS256]}
""" % pem, routes="- {name: p, match: {prefix: /p}, upstream: up, auth: rsa}")
    gw = gateway(config, UP=upstream("jwt-key-file-reload").url)
    old, new = at.token(old_key, "RS256"), at.token(new_key, "RS256")

    def reload():
        gw.write_config(config)
        r = requests.post(gw.admin_url + "/admin/reload", timeout=10)
        assert r.status_code == 200, r.text

    assert get(gw, "/p", old).status_code == 200
    reload()
    assert get(gw, "/p", old).status_code == 200
    # Same config, another key in the file: the provider is built again, its cache with it.
    at.write_public_pem(new_key, pem)
    reload()
    at.assert_invalid_token(get(gw, "/p", old))
    assert get(gw, "/p", new).status_code == 200
