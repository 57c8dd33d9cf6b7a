"""HTTP/1.0 clients: keep-alive only when they ask for it, and then confirmed in the response."""

import pytest

import portico_testing as pt


@pytest.fixture(scope="module")
def gw(module_gateway, module_upstream):
    up = module_upstream("http10-up")
    return module_gateway(pt.make_config(
        upstreams={"up": up.url},
        routes="""
- {name: ping, match: {path: /ping}, respond: {status: 200, body: pong}}
- {name: all, match: {prefix: /}, upstream: up}
"""))


@pytest.mark.parametrize("path", ["/ping", "/echo"])
def test_http10_keep_alive_is_confirmed_and_honoured(gw, path):
    with pt.connect(gw.port) as s:
        reader = pt.RawReader(s)
        for _ in range(3):
            s.sendall(b"GET %s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % path.encode())
            r = reader.read_response()
            assert r.status == 200
            assert (r.header("Connection") or "").lower() == "keep-alive"
            assert r.header("Content-Length") is not None


def test_http10_without_keep_alive_is_closed_after_the_response(gw):
    with pt.connect(gw.port) as s:
        reader = pt.RawReader(s)
        s.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
        r = reader.read_response()
        assert r.status == 200
        assert r.body == b"pong"
        assert reader.closed_within(2)
