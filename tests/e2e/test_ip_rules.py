"""IP rules: `ip: {allow: [...], deny: [...]}` on a route, over the request's client_ip.

Deny wins; a non-empty allow list admits only its networks; a refused client gets the gateway's
403 and the upstream never sees the request. client_ip is the peer's address, or, from a peer in
server.trusted_proxies, what X-Forwarded-For says.
"""

import socket
import subprocess

import pytest
import requests

import portico_testing as pt

ROUTES = """
- {name: allow-local, match: {prefix: /allow-local}, upstream: up, rewrite: /echo,
   ip: {allow: [127.0.0.1]}}
- {name: allow-other, match: {prefix: /allow-other}, upstream: up, rewrite: /echo,
   ip: {allow: [10.0.0.0/8, "2001:db8::/32"]}}
- {name: deny-local, match: {prefix: /deny-local}, upstream: up, rewrite: /echo,
   ip: {deny: [127.0.0.0/8]}}
- {name: deny-other, match: {prefix: /deny-other}, upstream: up, rewrite: /echo,
   ip: {deny: [10.0.0.0/8]}}
- {name: deny-inside, match: {prefix: /deny-inside}, upstream: up, rewrite: /echo,
   ip: {allow: [127.0.0.0/8], deny: [127.0.0.1/32]}}
- {name: deny-beside, match: {prefix: /deny-beside}, upstream: up, rewrite: /echo,
   ip: {allow: [127.0.0.0/8], deny: [127.0.0.2]}}
- {name: open, match: {prefix: /open}, upstream: up, rewrite: /echo}
"""

FORWARDED_ROUTES = """
- {name: partners, match: {prefix: /partners}, upstream: up, rewrite: /echo,
   ip: {allow: [203.0.113.0/24, "2001:db8::/32"], deny: [203.0.113.7, "2001:db8:bad::/48"]}}
"""


@pytest.fixture(scope="module")
def up(module_upstream):
    return module_upstream("ip-up")


@pytest.fixture(scope="module")
def gw(module_gateway, up):
    return module_gateway(pt.make_config(upstreams={"up": "@UP@"}, routes=ROUTES), UP=up.url)


@pytest.fixture(scope="module")
def behind_proxy(module_gateway, up):
    """A gateway that believes X-Forwarded-For from 127.0.0.1 (its test clients)."""
    return module_gateway(pt.make_config(upstreams={"up": "@UP@"}, routes=FORWARDED_ROUTES,
                                         server_extra="trusted_proxies: [127.0.0.1/32]"),
                          UP=up.url)


@pytest.fixture(scope="module")
def untrusting(module_gateway, up):
    """The same route, with no trusted proxies: X-Forwarded-For decides nothing."""
    return module_gateway(pt.make_config(upstreams={"up": "@UP@"}, routes=FORWARDED_ROUTES),
                          UP=up.url)


def status(gw, path, **kwargs):
    return requests.get(gw.url + path, timeout=5, **kwargs).status_code


def assert_denied(gw, up, path, **kwargs):
    before = up.stats()["received"]
    r = requests.get(gw.url + path, timeout=5, **kwargs)
    pt.assert_gateway_error(r, 403)
    assert up.stats()["received"] == before  # the upstream never saw it


def test_an_allow_list_admits_only_its_networks(gw, up):
    assert status(gw, "/allow-local") == 200
    assert_denied(gw, up, "/allow-other")


def test_a_deny_list_refuses_only_its_networks(gw, up):
    assert_denied(gw, up, "/deny-local")
    assert status(gw, "/deny-other") == 200
    assert status(gw, "/open") == 200


def test_deny_wins_inside_allow(gw, up):
    assert_denied(gw, up, "/deny-inside")
    assert status(gw, "/deny-beside") == 200


def test_a_refusal_is_logged_as_ip_denied(gw):
    r = requests.get(gw.url + "/deny-local", timeout=5)
    request_id = r.headers["X-Correlation-ID"]
    entry = gw.wait_access_log(lambda e: e.get("request_id") == request_id)
    assert entry and entry["status"] == 403 and entry["error"] == "ip_denied", entry


def test_x_forwarded_for_from_a_trusted_proxy_decides_the_client(behind_proxy, up):
    xff = lambda ip: {"headers": {"X-Forwarded-For": ip}}  # noqa: E731
    assert status(behind_proxy, "/partners", **xff("203.0.113.9")) == 200
    assert_denied(behind_proxy, up, "/partners", **xff("198.51.100.1"))
    assert_denied(behind_proxy, up, "/partners", **xff("203.0.113.7"))      # deny wins
    assert_denied(behind_proxy, up, "/partners")                            # the proxy itself
    # The rightmost address not of a trusted proxy is the client.
    assert status(behind_proxy, "/partners", **xff("198.51.100.1, 203.0.113.9")) == 200


def test_ipv6_clients_and_ipv4_mapped_addresses(behind_proxy, up):
    xff = lambda ip: {"headers": {"X-Forwarded-For": ip}}  # noqa: E731
    assert status(behind_proxy, "/partners", **xff("2001:db8::5")) == 200
    assert_denied(behind_proxy, up, "/partners", **xff("2001:db8:bad::5"))
    assert_denied(behind_proxy, up, "/partners", **xff("2001:db9::5"))
    # An IPv4 client seen through a dual-stack socket is judged by its IPv4 address.
    assert status(behind_proxy, "/partners", **xff("::ffff:203.0.113.9")) == 200
    assert_denied(behind_proxy, up, "/partners", **xff("::ffff:203.0.113.7"))


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(untrusting, up):
    assert_denied(untrusting, up, "/partners", headers={"X-Forwarded-For": "203.0.113.9"})


CORS = """
cors:
  allow_origins: [https://app.example]
  allow_methods: [GET, POST]
"""

CORS_ROUTES = """
- {name: posts, match: {prefix: /posts, methods: [POST]}, upstream: up, rewrite: /echo, cors: true,
   ip: {allow: [127.0.0.1]}}
- {name: closed, match: {prefix: /closed, methods: [POST]}, upstream: up, rewrite: /echo,
   cors: true, ip: {deny: [127.0.0.1]}}
"""


def test_ip_rules_run_before_cors_preflights(module_gateway, up):
    """A preflight (OPTIONS) to a POST-only route still reaches the route's cors filter behind its
    ip rules; from a refused network it gets the 403 of the ip rules instead."""
    gw = module_gateway(pt.make_config(upstreams={"up": "@UP@"}, routes=CORS_ROUTES,
                                       top_extra=CORS), UP=up.url)
    h = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    r = requests.options(gw.url + "/posts", headers=h, timeout=5)
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    before = up.stats()["received"]
    r = requests.options(gw.url + "/closed", headers=h, timeout=5)
    pt.assert_gateway_error(r, 403)
    assert up.stats()["received"] == before


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_peer_is_matched_against_ipv6_rules(gateway, upstream):
    up = upstream("ip6-up")
    text = pt.make_config(upstreams={"up": "@UP@"}, routes="""
- {name: v6-only, match: {prefix: /v6-only}, upstream: up, rewrite: /echo, ip: {allow: ["::1"]}}
- {name: no-v6, match: {prefix: /no-v6}, upstream: up, rewrite: /echo, ip: {deny: ["::/0"]}}
""").replace("listen: [127.0.0.1:@PORT@]", 'listen: [127.0.0.1:@PORT@, "[::1]:@PORT2@"]')
    gw = gateway(text, UP=up.url)
    v6 = "http://[::1]:%d" % gw.port2
    assert requests.get(v6 + "/v6-only", timeout=5).status_code == 200
    assert requests.get(gw.url + "/v6-only", timeout=5).status_code == 403
    assert requests.get(v6 + "/no-v6", timeout=5).status_code == 403
    assert requests.get(gw.url + "/no-v6", timeout=5).status_code == 200


BAD = """\
upstreams:
  up: {targets: [http://127.0.0.1:9]}
routes:
  - name: a
    match: {prefix: /a}
    upstream: up
    ip:
      allow:
        - 10.0.0.0/8
        - 10.0.0.0/33
      deny: [fe80::zz]
"""


def test_a_bad_network_is_a_validate_error_at_its_line(tmp_path):
    f = tmp_path / "portico.yaml"
    f.write_text(BAD)
    p = subprocess.run([str(pt.portico_bin()), "validate", "-c", str(f)], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert "portico.yaml:10:" in out and "routes[0].ip.allow[1]" in out and "10.0.0.0/33" in out
    assert "portico.yaml:11:" in out and "routes[0].ip.deny[0]" in out, out
