"""Routes that need a feature this build does not have are refused, never served without it."""

import requests

import portico_testing as pt

UPSTREAMS = """
up:
  targets: [@UP@]
"""

TOP = """
auth:
  users-jwt: {type: jwt, secret: s3cret, algorithms: [HS256]}
"""

ROUTES = """
- {name: private, match: {prefix: /private}, upstream: up, auth: users-jwt}
- {name: open, match: {prefix: /open}, upstream: up, auth: none}
"""


def test_route_with_auth_answers_501_and_never_reaches_upstream(gateway, upstream):
    up = upstream("unbuilt-up")
    gw = gateway(pt.make_config(upstreams=UPSTREAMS, top_extra=TOP, routes=ROUTES), UP=up.url)
    before = up.stats()["requests"]
    r = requests.get(gw.url + "/private/data", timeout=5)
    assert r.status_code == 501
    assert r.json()["status"] == 501
    assert "authentication" in r.json()["error"]
    assert up.stats()["requests"] == before + 1  # only the stats call itself
    assert requests.get(gw.url + "/open/x", timeout=5).status_code == 200
    assert "route private" in gw.stderr_text() and "501" in gw.stderr_text()
