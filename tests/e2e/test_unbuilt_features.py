"""Routes that need a feature this build does not have are refused, never served without it."""

import requests

import portico_testing as pt

UPSTREAMS = """
up:
  targets: [@UP@]
greeter:
  targets: [@UP@]
  protocol: grpc
"""

ROUTES = """
- name: greet
  match: {path: "/v1/greeter/{name}"}
  grpc: {upstream: greeter, descriptors: greeter.pb, method: helloworld.Greeter/SayHello}
- {name: open, match: {prefix: /open}, upstream: up}
"""


def test_grpc_route_answers_501_and_never_reaches_upstream(gateway, upstream):
    up = upstream("unbuilt-up")
    gw = gateway(pt.make_config(upstreams=UPSTREAMS, routes=ROUTES), UP=up.url)
    before = up.stats()["received"]
    r = requests.get(gw.url + "/v1/greeter/ann", timeout=5)
    assert r.status_code == 501
    assert r.json()["status"] == 501
    assert "grpc" in r.json()["error"]
    assert up.stats()["received"] == before  # nothing was forwarded
    assert requests.get(gw.url + "/open/x", timeout=5).status_code == 200
    assert "route greet" in gw.stderr_text() and "501" in gw.stderr_text()
