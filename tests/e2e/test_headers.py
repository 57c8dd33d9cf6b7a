"""Headers toward the upstream and back: route header edits, hop-by-hop, forwarding, request id."""

import re

import pytest
import requests

import portico_testing as pt

ROUTES = """
- name: edit
  match: {prefix: /edit}
  upstream: up
  rewrite: /echo
  set_headers: {X-Gateway: portico, X-Overwritten: by-gateway}
  remove_headers: [Cookie, X-Remove-Me]
  response_headers: {Cache-Control: no-store, X-Served-By: portico}
- name: echo
  match: {prefix: /echo}
  upstream: up
- name: down
  match: {prefix: /down}
  upstream: dead
"""


@pytest.fixture(scope="module")
def up(module_upstream):
    return module_upstream("headers-up")


@pytest.fixture(scope="module")
def gw(module_gateway, up):
    dead = "http://127.0.0.1:%d" % pt.free_port()
    return module_gateway(pt.make_config(upstreams={"up": up.url, "dead": dead}, routes=ROUTES))


@pytest.fixture(scope="module")
def trusting_gw(module_gateway, up):
    return module_gateway(pt.make_config(upstreams={"up": up.url, "dead": "http://127.0.0.1:9"},
                                         routes=ROUTES,
                                         server_extra="trusted_proxies: [127.0.0.0/8]"))


def headers_of(echo):
    """Upstream-seen headers as {lower-name: [values]}."""
    out = {}
    for n, v in echo["headers"]:
        out.setdefault(n.lower(), []).append(v)
    return out


def raw_echo(port, head_lines, path="/echo"):
    req = "GET %s HTTP/1.1\r\nHost: gw.test\r\n%s\r\n" % (path, "".join(l + "\r\n" for l in head_lines))
    r = pt.raw_exchange(port, req.encode("latin-1"))
    assert r.status == 200, r
    return r, r.json()


def test_set_remove_and_response_headers(gw):
    r = requests.get(gw.url + "/edit", timeout=10, headers={
        "Cookie": "session=secret", "X-Remove-Me": "1", "X-Overwritten": "by-client",
        "X-Kept": "yes"})
    assert r.status_code == 200
    h = headers_of(r.json())
    assert h["x-gateway"] == ["portico"]
    assert h["x-overwritten"] == ["by-gateway"]
    assert "cookie" not in h and "x-remove-me" not in h
    assert h["x-kept"] == ["yes"]
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Served-By"] == "portico"


def test_hop_by_hop_headers_removed(gw):
    _, e = raw_echo(gw.port, [
        "Connection: keep-alive, X-Hop-Named",
        "X-Hop-Named: secret",
        "Keep-Alive: timeout=5",
        "TE: trailers",
        "Trailer: X-Checksum",
        "Upgrade: foo/1",
        "Proxy-Authorization: Basic Zm9vOmJhcg==",
        "Proxy-Connection: keep-alive",
        "X-End-To-End: stays",
    ])
    h = headers_of(e)
    for name in ("x-hop-named", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization",
                 "proxy-connection"):
        assert name not in h, (name, e["headers"])
    assert "keep-alive" not in [v.lower() for v in h.get("connection", [])]
    assert h["x-end-to-end"] == ["stays"]


def test_connection_cannot_remove_gateway_headers(gw):
    # A header named in Connection is dropped on arrival, before the gateway sets its own.
    _, e = raw_echo(gw.port, ["Connection: X-Gateway, X-Forwarded-For, X-Correlation-ID"],
                    path="/edit")
    h = headers_of(e)
    assert h["x-gateway"] == ["portico"]
    assert h["x-forwarded-for"] == ["127.0.0.1"]
    assert len(h["x-correlation-id"]) == 1 and h["x-correlation-id"][0]


def test_forwarding_headers_from_untrusted_peer(gw):
    _, e = raw_echo(gw.port, ["X-Forwarded-For: 203.0.113.9", "X-Forwarded-Host: evil.test",
                              "X-Forwarded-Proto: https", "Forwarded: for=203.0.113.9"])
    h = headers_of(e)
    assert h["x-forwarded-for"] == ["127.0.0.1"]  # replaced: 127.0.0.1 is not trusted here
    assert h["x-forwarded-proto"] == ["http"]
    assert h["x-forwarded-host"] == ["gw.test"]
    assert len(h["forwarded"]) == 1
    fwd = h["forwarded"][0].lower()
    assert "for=" in fwd and "127.0.0.1" in fwd
    assert "203.0.113.9" not in fwd
    assert "proto=http" in fwd
    assert "host=" in fwd and "gw.test" in fwd


def test_forwarding_headers_without_client_copies(gw):
    _, e = raw_echo(gw.port, [])
    h = headers_of(e)
    assert h["x-forwarded-for"] == ["127.0.0.1"]
    assert h["x-forwarded-proto"] == ["http"]
    assert h["x-forwarded-host"] == ["gw.test"]


def test_x_forwarded_for_appended_for_trusted_peer(trusting_gw):
    _, e = raw_echo(trusting_gw.port, ["X-Forwarded-For: 203.0.113.9"])
    h = headers_of(e)
    xff = [p.strip() for v in h["x-forwarded-for"] for p in v.split(",")]
    assert xff == ["203.0.113.9", "127.0.0.1"]


def test_request_id_generated_when_absent(gw):
    r = requests.get(gw.url + "/echo", timeout=10)
    rid = r.headers.get("X-Correlation-ID")
    assert rid
    assert headers_of(r.json())["x-correlation-id"] == [rid]
    r2 = requests.get(gw.url + "/echo", timeout=10)
    assert r2.headers["X-Correlation-ID"] != rid  # unique per request


def test_valid_request_id_kept(gw):
    rid = "client-id-0123456789-ABC:/x"
    r = requests.get(gw.url + "/echo", headers={"X-Correlation-ID": rid}, timeout=10)
    assert r.headers["X-Correlation-ID"] == rid
    assert headers_of(r.json())["x-correlation-id"] == [rid]


def test_request_id_of_128_bytes_kept(gw):
    rid = "a" * 128
    r = requests.get(gw.url + "/echo", headers={"X-Correlation-ID": rid}, timeout=10)
    assert r.headers["X-Correlation-ID"] == rid


@pytest.mark.parametrize("bad", ["a" * 129, "has\ttab", "caf\xe9"])
def test_invalid_request_id_replaced(gw, bad):
    r, e = raw_echo(gw.port, ["X-Correlation-ID: " + bad])
    rid = r.header("X-Correlation-ID")
    assert rid and rid != bad
    assert len(rid) <= 128 and re.fullmatch(r"[\x21-\x7e]+", rid)
    assert headers_of(e)["x-correlation-id"] == [rid]


def test_request_id_on_gateway_errors(gw):
    r = requests.get(gw.url + "/nothing-routes-here", timeout=10)
    assert r.status_code == 404
    assert r.headers["X-Correlation-ID"] == r.json()["request_id"]
    r = requests.get(gw.url + "/down", headers={"X-Correlation-ID": "err-1"}, timeout=10)
    assert r.status_code == 502
    assert r.headers["X-Correlation-ID"] == "err-1"
    assert r.json()["request_id"] == "err-1"


def test_repeated_request_headers_reach_upstream(gw):
    _, e = raw_echo(gw.port, ["X-Multi: one", "X-Multi: two"])
    values = headers_of(e)["x-multi"]
    joined = ",".join(values).replace(" ", "")
    assert joined == "one,two"
