"""Response compression (`compress: true`, `compression:`): each encoding decodes to the exact
bytes the upstream sent; negotiation; what is left alone; heads (Vary, ETag, framing); a 100 MiB
body with flat gateway memory; a server-sent event stream flushed event by event."""

import hashlib
import time
import zlib
from urllib.parse import urlencode

import brotli
import pytest
import zstandard

import portico_testing as pt
import upstream_server

CONFIG_ROUTES = """
- {name: compressed, match: {prefix: /c}, upstream: up, strip_prefix: /c, compress: true}
- {name: plain, match: {prefix: /p}, upstream: up, strip_prefix: /p}
"""

COMPRESSION = """
compression:
  encodings: [zstd, br, gzip]
  min_size: 1KiB
  types: [text/*, application/json, application/javascript, application/xml, image/svg+xml]
  level: {gzip: 5, br: 4, zstd: 3}
"""

TEXT = "text/plain; charset=utf-8"


@pytest.fixture(scope="module")
def up(module_upstream):
    return module_upstream("compress-up")


@pytest.fixture(scope="module")
def gw(module_gateway, up):
    return module_gateway(pt.make_config(upstreams={"up": up.url}, routes=CONFIG_ROUTES,
                                         top_extra=COMPRESSION))


def decode(encoding, body):
    if encoding == "gzip":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == "br":
        return brotli.decompress(body)
    if encoding == "zstd":
        # The frame does not say its size (the body streams): decode as a stream.
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    raise AssertionError("unexpected encoding %r" % encoding)


class StreamDecoder:
    """Decodes a body piece by piece, as a browser does."""

    def __init__(self, encoding):
        self.encoding = encoding
        if encoding == "gzip":
            self.d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "br":
            self.d = brotli.Decompressor()
        else:
            self.d = zstandard.ZstdDecompressor().decompressobj()

    def feed(self, data):
        if self.encoding == "br":
            return self.d.process(data)
        return self.d.decompress(data)


def pattern(n):
    return b"".join(upstream_server.pattern_chunks(n))


def fetch(gw, target, accept="gzip, br, zstd", method="GET", headers=()):
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: t", "Connection: close"]
    if accept is not None:
        lines.append("Accept-Encoding: " + accept)
    lines += ["%s: %s" % h for h in headers]
    return pt.raw_exchange(gw.port, ("\r\n".join(lines) + "\r\n\r\n").encode(), method)


def content(n, type=TEXT, **params):
    """The upstream's /content endpoint behind the compressing route."""
    return "/c/content?" + urlencode({"bytes": n, "type": type, **params}, doseq=True)


def fields(r, name):
    return [v for n, v in r.headers if n.lower() == name.lower()]


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
@pytest.mark.parametrize("chunked", [0, 1], ids=["length", "chunked"])
def test_each_encoding_decodes_to_the_exact_original(gw, encoding, chunked):
    n = 300_000
    r = fetch(gw, content(n, chunked=chunked, chunk=7000), accept=encoding)
    assert r.status == 200
    assert r.header("Content-Encoding") == encoding
    assert r.header("Content-Length") is None
    assert r.chunked
    assert len(r.body) < n // 4
    assert decode(encoding, r.body) == pattern(n)


def test_the_server_preference_picks_among_what_the_client_accepts(gw):
    assert fetch(gw, content(5000), accept="gzip, deflate, br, zstd").header(
        "Content-Encoding") == "zstd"
    assert fetch(gw, content(5000), accept="gzip, br").header("Content-Encoding") == "br"
    assert fetch(gw, content(5000), accept="gzip").header("Content-Encoding") == "gzip"
    assert fetch(gw, content(5000), accept="*").header("Content-Encoding") == "zstd"


def test_the_configured_order_is_the_preference(module_gateway, up):
    only = module_gateway(pt.make_config(
        upstreams={"up": up.url}, routes=CONFIG_ROUTES,
        top_extra="compression: {encodings: [gzip, br]}"))
    r = fetch(only, content(5000), accept="zstd, br, gzip")
    assert r.header("Content-Encoding") == "gzip"
    assert decode("gzip", r.body) == pattern(5000)
    assert fetch(only, content(5000), accept="zstd").header("Content-Encoding") is None


def test_q_values_are_honoured_and_zero_refuses(gw):
    def chosen(accept):
        r = fetch(gw, content(5000), accept=accept)
        encoding = r.header("Content-Encoding")
        assert (decode(encoding, r.body) if encoding else r.body) == pattern(5000)
        return encoding

    assert chosen("zstd;q=0.1, br;q=0.5, gzip;q=0.9") == "gzip"
    assert chosen("zstd;q=0, br;q=0, *") == "gzip"
    assert chosen("ZSTD;Q=0, Br") == "br"
    assert chosen("gzip;q=0") is None
    assert chosen("*;q=0") is None


def test_identity_only_gets_the_body_as_it_is(gw):
    r = fetch(gw, content(5000), accept="identity;q=1, *;q=0")
    assert r.status == 200
    assert r.header("Content-Encoding") is None
    assert r.header("Content-Length") == "5000"
    assert r.body == pattern(5000)
    assert fetch(gw, content(5000), accept=None).header("Content-Encoding") is None
    # The same answer for a client that accepts gzip is compressed: the route does compress.
    assert fetch(gw, content(5000), accept="gzip").header("Content-Encoding") == "gzip"


def test_bodies_below_min_size_by_content_length_are_sent_as_they_are(gw):
    small = fetch(gw, content(1023), accept="gzip")
    assert small.header("Content-Encoding") is None
    assert small.header("Content-Length") == "1023"
    assert small.body == pattern(1023)
    at_min = fetch(gw, content(1024), accept="gzip")
    assert at_min.header("Content-Encoding") == "gzip"
    assert decode("gzip", at_min.body) == pattern(1024)
    # A streamed body's size is unknown until its end: it is compressed, however short.
    streamed = fetch(gw, content(100, chunked=1), accept="gzip")
    assert streamed.header("Content-Encoding") == "gzip"
    assert decode("gzip", streamed.body) == pattern(100)


@pytest.mark.parametrize("type,compressed", [
    ("text/html", True), ("text/csv", True), ("application/json; charset=utf-8", True),
    ("image/svg+xml", True), ("image/png", False), ("application/octet-stream", False),
    ("application/jsonx", False),
])
def test_only_the_configured_media_types_are_compressed(gw, type, compressed):
    r = fetch(gw, content(5000, type=type), accept="br")
    assert r.status == 200
    assert r.header("Content-Encoding") == ("br" if compressed else None)
    assert (decode("br", r.body) if compressed else r.body) == pattern(5000)


def test_an_already_encoded_body_passes_untouched(gw):
    r = fetch(gw, content(5000, header="Content-Encoding: deflate"), accept="gzip, deflate")
    assert fields(r, "Content-Encoding") == ["deflate"]
    assert r.header("Content-Length") == "5000"
    assert r.body == pattern(5000)  # the upstream's bytes, not compressed again
    plain = fetch(gw, content(5000, header="Content-Encoding: identity"), accept="gzip")
    assert fields(plain, "Content-Encoding") == ["gzip"]
    assert decode("gzip", plain.body) == pattern(5000)


def test_head_204_and_304_are_not_compressed(gw):
    assert fetch(gw, content(5000), accept="gzip").header("Content-Encoding") == "gzip"
    head = fetch(gw, content(5000), accept="gzip", method="HEAD")
    assert head.status == 200
    assert head.header("Content-Encoding") is None
    assert head.header("Content-Length") == "5000"
    for status in (204, 304):
        r = fetch(gw, content(5000, status=status, header='ETag: "v1"'), accept="gzip")
        assert r.status == status
        assert r.header("Content-Encoding") is None
        assert r.header("ETag") == '"v1"'
        assert r.body == b""


def test_cache_control_no_transform_is_respected(gw):
    r = fetch(gw, content(5000, header="Cache-Control: public, no-transform"), accept="gzip")
    assert r.header("Content-Encoding") is None
    assert r.body == pattern(5000)
    other = fetch(gw, content(5000, header="Cache-Control: public, max-age=60"), accept="gzip")
    assert other.header("Content-Encoding") == "gzip"


def test_vary_gets_accept_encoding_merged_once(gw):
    r = fetch(gw, content(5000, header="Vary: Origin"), accept="gzip")
    assert r.header("Content-Encoding") == "gzip"
    assert fields(r, "Vary") == ["Origin, Accept-Encoding"]
    already = fetch(gw, content(5000, header="Vary: accept-encoding"), accept="gzip")
    assert fields(already, "Vary") == ["accept-encoding"]
    fresh = fetch(gw, content(5000), accept="gzip")
    assert fields(fresh, "Vary") == ["Accept-Encoding"]
    # A client that gets the plain bytes is told too: a cache must not serve it compressed ones.
    plain = fetch(gw, content(5000), accept=None)
    assert plain.header("Content-Encoding") is None
    assert fields(plain, "Vary") == ["Accept-Encoding"]


def test_a_strong_etag_is_made_weak(gw):
    r = fetch(gw, content(5000, header='ETag: "abc"'), accept="br")
    assert r.header("Content-Encoding") == "br"
    assert r.header("ETag") == 'W/"abc"'
    weak = fetch(gw, content(5000, header='ETag: W/"xyz"'), accept="br")
    assert weak.header("ETag") == 'W/"xyz"'
    plain = fetch(gw, content(5000, header='ETag: "abc"'), accept=None)
    assert plain.header("ETag") == '"abc"'


def test_a_route_without_compress_is_left_alone(gw):
    r = fetch(gw, content(5000).replace("/c/", "/p/", 1), accept="gzip")
    assert r.header("Content-Encoding") is None
    assert r.header("Content-Length") == "5000"
    assert fetch(gw, content(5000), accept="gzip").header("Content-Encoding") == "gzip"


def test_compress_without_a_compression_section_uses_the_defaults(module_gateway, up):
    defaults = module_gateway(pt.make_config(upstreams={"up": up.url}, routes="""
- {name: inherits, match: {prefix: /c}, upstream: up, strip_prefix: /c}
- {name: opts-out, match: {prefix: /p}, upstream: up, strip_prefix: /p, compress: false}
""", top_extra="defaults: {compress: true}"))
    r = fetch(defaults, content(5000, type="application/json"), accept="gzip, br, zstd")
    assert r.header("Content-Encoding") == "zstd"
    assert decode("zstd", r.body) == pattern(5000)
    assert fetch(defaults, content(1000), accept="gzip").header("Content-Encoding") is None
    assert fetch(defaults, content(5000, type="image/png"), accept="gzip").header(
        "Content-Encoding") is None
    off = fetch(defaults, content(5000).replace("/c/", "/p/", 1), accept="gzip")
    assert off.header("Content-Encoding") is None


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_a_100_mib_streamed_body_is_compressed_with_flat_memory(gw, encoding):
    n = 100 << 20
    fetch(gw, content(200_000), accept=encoding)  # the worker's buffers exist already
    before = pt.vm_rss_kib(gw.pid)
    peak = before
    got = hashlib.sha256()
    decoded = compressed = 0
    decoder = StreamDecoder(encoding)
    with pt.connect(gw.port, timeout=60) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nAccept-Encoding: %s\r\nConnection: close"
                   "\r\n\r\n" % (content(n, chunked=1), encoding)).encode())
        reader = pt.RawReader(s)
        _, status, _, headers = reader.read_head()
        assert status == 200
        assert dict((k.lower(), v) for k, v in headers)["content-encoding"] == encoding
        for i, piece in enumerate(reader.iter_body(status, headers)):
            compressed += len(piece)
            plain = decoder.feed(piece)
            decoded += len(plain)
            got.update(plain)
            if i % 64 == 0:
                peak = max(peak, pt.vm_rss_kib(gw.pid))
    peak = max(peak, pt.vm_rss_kib(gw.pid))
    assert decoded == n
    assert got.hexdigest() == upstream_server.expected_sha256(n)
    assert compressed < n // 10
    assert peak - before < 64 * 1024, "gateway RSS grew by %d KiB" % (peak - before)


@pytest.fixture(scope="module")
def events_gw(module_gateway, up):
    return module_gateway(pt.make_config(
        upstreams={"up": up.url}, routes=CONFIG_ROUTES,
        top_extra="compression: {types: [application/json, text/event-stream]}"))


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_a_server_sent_event_stream_is_flushed_event_by_event(events_gw, encoding):
    with pt.connect(events_gw.port, timeout=10) as s:
        start = time.monotonic()
        s.sendall(("GET /c/events?count=2&ms=1000 HTTP/1.1\r\nHost: t\r\nAccept-Encoding: %s"
                   "\r\nConnection: close\r\n\r\n" % encoding).encode())
        reader = pt.RawReader(s)
        _, status, _, headers = reader.read_head()
        assert status == 200
        assert dict((k.lower(), v) for k, v in headers)["content-encoding"] == encoding
        decoder = StreamDecoder(encoding)
        text = b""
        first_at = None
        for piece in reader.iter_body(status, headers):
            text += decoder.feed(piece)
            if first_at is None and b"data: event 0\n\n" in text:
                first_at = time.monotonic() - start
                assert b"event 1" not in text
        assert first_at is not None and first_at < 0.8, first_at
        assert text == b"id: 0\ndata: event 0\n\nid: 1\ndata: event 1\n\n"
