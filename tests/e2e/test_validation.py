"""Request validation: `validate: {json_schema, max_body_bytes}` on a route.

JSON bodies are checked against the route's JSON Schema (draft 7) before the upstream sees them:
an invalid body gets the gateway's 400 with `errors: [{pointer, message}]` (at most 10), a body
of another content type 415, a body over the route's max_body_bytes 413. A valid body reaches
the upstream byte for byte. The schema file is read at load, so a missing or broken one is a
config error at the line of `json_schema:`, and a reload with one keeps the old config.
"""

import json
import signal
import subprocess

import pytest
import requests

import portico_testing as pt

ORDER_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["customer", "items"],
    "additionalProperties": False,
    "properties": {
        "customer": {"type": "string", "minLength": 2, "maxLength": 12, "pattern": "^[a-z]+$"},
        "status": {"enum": ["new", "paid"]},
        "items": {"type": "array", "items": {"$ref": "#/definitions/item"}},
        "note": {"type": "string"},
    },
    "definitions": {
        "item": {
            "type": "object",
            "required": ["sku", "qty"],
            "properties": {
                "sku": {"type": "string"},
                "qty": {"type": "integer", "minimum": 1, "maximum": 99},
            },
        },
    },
}

ROUTES = """
- name: orders
  match: {prefix: /orders}
  upstream: up
  rewrite: /chunked-echo
  validate: {json_schema: schemas/order.json, max_body_bytes: 2KiB}
- name: orders-echo
  match: {prefix: /inspect}
  upstream: up
  rewrite: /echo
  validate: {json_schema: schemas/order.json, max_body_bytes: 2KiB}
- name: bounded
  match: {prefix: /bounded}
  upstream: up
  rewrite: /upload
  validate: {max_body_bytes: 100}
- name: open
  match: {prefix: /open}
  upstream: up
  rewrite: /upload
"""

VALID = {"customer": "ann", "status": "new", "items": [{"sku": "a-1", "qty": 2}]}


def config(up_url_placeholder="@UP@", routes=ROUTES):
    return pt.make_config(upstreams={"up": up_url_placeholder}, routes=routes)


def start_gateway(directory, up, schema=ORDER_SCHEMA, routes=ROUTES):
    """A gateway whose config file sits in `directory`, beside schemas/order.json."""
    (directory / "schemas").mkdir(exist_ok=True)
    (directory / "schemas" / "order.json").write_text(json.dumps(schema, indent=2))
    return pt.Gateway(config(routes=routes), subst={"UP": up.url}, tmp_dir=directory)


@pytest.fixture(scope="module")
def up(module_upstream):
    return module_upstream("validation-up")


@pytest.fixture(scope="module")
def gw(tmp_path_factory, up):
    g = start_gateway(tmp_path_factory.mktemp("validation"), up)
    yield g
    g.stop()


def received(up, path):
    return up.stats()["paths"].get(path, 0)


def post(gw, path, body, content_type="application/json", headers=None):
    h = {"Content-Type": content_type} if content_type else {}
    h.update(headers or {})
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(gw.url + path, data=data, headers=h, timeout=10)


def assert_refused(r, status):
    pt.assert_gateway_error(r, status)
    assert r.json()["request_id"] == r.headers["X-Correlation-ID"]


def test_a_valid_body_reaches_the_upstream_unchanged(gw, up):
    body = b'{ "customer" : "ann",\n  "items": [ {"sku": "a-1", "qty": 2} ], "note": "\\u00e9t\xc3\xa9" }'
    before = received(up, "/chunked-echo")
    r = post(gw, "/orders", body)
    assert r.status_code == 200, r.text
    assert r.content == body  # the upstream echoed exactly what the client sent
    assert received(up, "/chunked-echo") == before + 1


@pytest.mark.parametrize("body,pointer", [
    ({"customer": 7, "items": []}, "/customer"),                                    # type
    ({"customer": "ann"}, ""),                                                      # required
    ({"customer": "ann", "items": [], "status": "lost"}, "/status"),               # enum
    ({"customer": "Ann", "items": []}, "/customer"),                                # pattern
    ({"customer": "a", "items": []}, "/customer"),                                  # minLength
    ({"customer": "abcdefghijklmnop", "items": []}, "/customer"),                   # maxLength
    ({"customer": "ann", "items": [{"sku": "a", "qty": 0}]}, "/items/0/qty"),       # minimum
    ({"customer": "ann", "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 100}]},
     "/items/1/qty"),                                                               # maximum
    ({"customer": "ann", "items": [], "coupon": "x"}, ""),                          # additionalProperties
    ({"customer": "ann", "items": [{"sku": "a", "qty": 1}, {"qty": 1}]}, "/items/1"),  # nested required
    ({"customer": "ann", "items": [{"sku": 5, "qty": 1}]}, "/items/0/sku"),         # $ref'd type
])
def test_an_invalid_body_gets_400_with_its_pointer_and_never_reaches_the_upstream(
        gw, up, body, pointer):
    before = received(up, "/chunked-echo")
    r = post(gw, "/orders", body)
    assert_refused(r, 400)
    errors = r.json()["errors"]
    assert 1 <= len(errors) <= 10
    assert all(set(e) == {"pointer", "message"} and e["message"] for e in errors), errors
    assert pointer in [e["pointer"] for e in errors], errors
    assert received(up, "/chunked-echo") == before


def test_more_than_ten_errors_are_capped_at_ten(gw, up):
    body = {"customer": "ann", "items": [{"sku": i, "qty": 0} for i in range(15)]}
    r = post(gw, "/orders", body)
    assert_refused(r, 400)
    errors = r.json()["errors"]
    assert len(errors) == 10
    assert errors[0]["pointer"].startswith("/items/0/")


def test_malformed_json_gets_400_with_the_whole_body_pointer(gw, up):
    before = received(up, "/chunked-echo")
    r = post(gw, "/orders", b'{"customer": "ann", "items": [')
    assert_refused(r, 400)
    errors = r.json()["errors"]
    assert len(errors) == 1 and errors[0]["pointer"] == ""
    assert "malformed JSON" in errors[0]["message"]
    assert received(up, "/chunked-echo") == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_another_content_type_gets_415(gw, up, content_type):
    before = received(up, "/chunked-echo")
    r = post(gw, "/orders", json.dumps(VALID), content_type=content_type)
    assert_refused(r, 415)
    assert received(up, "/chunked-echo") == before


def test_a_json_subtype_with_parameters_is_json(gw):
    r = post(gw, "/orders", VALID, content_type="application/vnd.orders+json; charset=utf-8")
    assert r.status_code == 200, r.text


def test_a_body_over_the_routes_bound_gets_413_and_the_upstream_is_not_called(gw, up):
    body = dict(VALID, note="x" * 3000)  # valid by the schema, but over 2KiB
    before = up.stats()["received"]
    r = post(gw, "/orders", body)
    assert_refused(r, 413)
    # Chunked: no length up front, refused while reading.
    data = json.dumps(body).encode()
    with pt.connect(gw.port) as s:
        s.sendall(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(data), 500):
            piece = data[i:i + 500]
            s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        s.sendall(b"0\r\n\r\n")
        resp = pt.RawReader(s).read_response()
    assert resp.status == 413, resp
    assert resp.json()["status"] == 413
    assert up.stats()["received"] == before


def test_max_body_bytes_alone_bounds_any_body(gw, up):
    assert post(gw, "/bounded", b"x" * 100, content_type="text/plain").status_code == 200
    assert_refused(post(gw, "/bounded", b"x" * 101, content_type="text/plain"), 413)
    assert post(gw, "/open", b"x" * 5000, content_type="text/plain").status_code == 200


def test_a_chunked_body_is_validated_and_sent_on_whole(gw, up):
    data = json.dumps(VALID).encode()
    with pt.connect(gw.port) as s:
        s.sendall(b"POST /inspect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(data), 7):
            piece = data[i:i + 7]
            s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        s.sendall(b"0\r\n\r\n")
        resp = pt.RawReader(s).read_response()
        assert resp.status == 200, resp
        echo = resp.json()
        assert echo["body_sha256"] == pt.sha256_hex(data)
        assert echo["body_length"] == len(data)
        headers = {k.lower(): v for k, v in echo["headers"]}
        assert headers.get("content-length") == str(len(data))  # held whole, so sent with its length
        # The connection goes on: the next request is served too.
        bad = json.dumps({"customer": 1, "items": []}).encode()
        s.sendall(b"POST /inspect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(bad), bad))
        again = pt.RawReader(s).read_response()
        assert again.status == 400, again


def test_a_client_expecting_100_continue_is_invited_and_validated(gw):
    data = json.dumps(VALID).encode()
    with pt.connect(gw.port) as s:
        s.sendall(b"POST /inspect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(data))
        reader = pt.RawReader(s)
        _, status, _, _ = reader.read_head()
        assert status == 100
        s.sendall(data)
        resp = reader.read_response()
        assert resp.status == 200, resp
        assert resp.json()["body_sha256"] == pt.sha256_hex(data)


def test_a_request_without_a_body_is_not_validated(gw):
    r = requests.get(gw.url + "/inspect", timeout=5)
    assert r.status_code == 200
    assert r.json()["body_length"] == 0


def test_the_admin_view_shows_the_routes_validation(gw):
    routes = requests.get(gw.admin_url + "/admin/config", timeout=5).json()["routes"]
    orders = next(r for r in routes if r["name"] == "orders")
    assert orders["validate"] == {"json_schema": "schemas/order.json", "max_body_bytes": 2048}


# ---- config errors and reload ------------------------------------------------------------

def validate_cli(config_path, cwd):
    return subprocess.run([str(pt.portico_bin()), "validate", "-c", str(config_path)], cwd=cwd,
                          capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)


CLI_CONFIG = """\
upstreams:
  up: {targets: [http://127.0.0.1:9]}
routes:
  - name: orders
    match: {prefix: /orders}
    upstream: up
    validate:
      max_body_bytes: 1KiB
      json_schema: schemas/order.json
"""


@pytest.mark.parametrize("schema_text,words", [
    (None, ["cannot read", "order.json"]),                            # missing file
    ('{\n  "type": "object",\n  "required": ["a",]\n}', ["not JSON", "line 3"]),
    ('{"type": "objekt"}', ["not a valid JSON Schema"]),
    ('{"properties": {"a": {"$ref": "#/definitions/nowhere"}}}', ["not a valid JSON Schema"]),
    ('{"pattern": "(?<=a)b"}', ["RE2"]),
])
def test_a_bad_schema_file_is_a_validate_error_at_the_line_of_json_schema(tmp_path, schema_text,
                                                                          words):
    conf = tmp_path / "conf"
    (conf / "schemas").mkdir(parents=True)
    if schema_text is not None:
        (conf / "schemas" / "order.json").write_text(schema_text)
    (conf / "portico.yaml").write_text(CLI_CONFIG)
    p = validate_cli(conf / "portico.yaml", cwd=tmp_path)  # not the config's own directory
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    line = [l for l in out.splitlines() if "routes[0].validate.json_schema" in l]
    assert line and ":9:" in line[0], out  # json_schema: is on line 9
    for word in words:
        assert word in line[0], out


def test_a_good_schema_validates_relative_to_the_config_file(tmp_path):
    conf = tmp_path / "conf"
    (conf / "schemas").mkdir(parents=True)
    (conf / "schemas" / "order.json").write_text(json.dumps(ORDER_SCHEMA))
    (conf / "portico.yaml").write_text(CLI_CONFIG)
    p = validate_cli(conf / "portico.yaml", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr


def test_a_route_bound_above_the_server_limit_is_an_error(tmp_path):
    f = tmp_path / "portico.yaml"
    f.write_text("server:\n  limits: {max_body_bytes: 1MiB}\n" + CLI_CONFIG.replace(
        "max_body_bytes: 1KiB", "max_body_bytes: 2MiB").replace(
        "      json_schema: schemas/order.json\n", ""))
    p = validate_cli(f, cwd=tmp_path)
    out = p.stdout + p.stderr
    assert p.returncode == 1
    assert "routes[0].validate.max_body_bytes" in out and "server.limits.max_body_bytes" in out


def reloads(gw, result):
    return pt.metric_value(gw.metrics(), "portico_config_reloads_total", result=result) or 0


def test_a_reload_with_a_bad_schema_keeps_the_old_config(tmp_path, upstream):
    up = upstream("validation-reload-up")
    gw = start_gateway(tmp_path, up)
    try:
        assert post(gw, "/orders", VALID).status_code == 200
        assert post(gw, "/orders", {"customer": "ann"}).status_code == 400

        (tmp_path / "schemas" / "order.json").write_text('{"type": "object", ')
        gw.signal(signal.SIGHUP)
        assert pt.wait_until(lambda: reloads(gw, "failure") == 1, 5), gw.stderr_text()
        assert "order.json" in gw.stderr_text()
        assert post(gw, "/orders", VALID).status_code == 200        # the old schema still holds
        assert post(gw, "/orders", {"customer": "ann"}).status_code == 400

        # A good schema is read again on reload: now every order needs a status.
        stricter = dict(ORDER_SCHEMA, required=["customer", "items", "status"])
        (tmp_path / "schemas" / "order.json").write_text(json.dumps(stricter))
        gw.signal(signal.SIGHUP)
        assert pt.wait_until(lambda: reloads(gw, "success") == 1, 5), gw.stderr_text()
        no_status = {k: v for k, v in VALID.items() if k != "status"}
        r = post(gw, "/orders", no_status)
        assert r.status_code == 400 and "" in [e["pointer"] for e in r.json()["errors"]]
        assert post(gw, "/orders", VALID).status_code == 200
    finally:
        gw.stop()
