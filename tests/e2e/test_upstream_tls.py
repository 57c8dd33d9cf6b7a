"""TLS to upstream targets (`https://` targets and `upstreams.NAME.tls`) as a user sees it.

The backends are tests/support/upstream_server.py speaking TLS with certificates made at test time
by tests/support/tls_testing.py (a test CA that no system store trusts, a server certificate for
api.internal and 127.0.0.1, a self-signed stranger, one for other.internal only, a client
certificate "portico-gateway"). What the backend saw shows in its /echo answer (tls, tls_version,
sni, client_cert_subject) and its /stats (tls_handshakes, tls_failures, requests received); a TLS
failure shows as the gateway's own 502 and `"error": "upstream_tls_failed"` in the access log.
"""

import json
import os
import re
import subprocess
import time

import pytest
import requests

import portico_testing as pt
import tls_testing
import upstream_server

ROUTE = "- {name: all, match: {prefix: /}, upstream: secure}"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return tls_testing.make_certificates(tmp_path_factory.mktemp("tls-certs"))


def tls_yaml(tls):
    """`tls: {...}` from a dict of options: paths and names quoted, booleans as YAML booleans."""
    items = []
    for k, v in tls.items():
        items.append("%s: %s" % (k, ("true" if v else "false") if isinstance(v, bool)
                                 else json.dumps(str(v))))
    return "tls: {%s}" % ", ".join(items)


def secure_config(targets, tls=None, extra="", workers=1):
    """One upstream `secure` with `targets` (URLs), a `tls:` from the dict `tls` (none when
    None), extra upstream keys, and one route to it."""
    text = "secure:\n  targets: [%s]\n" % ", ".join(targets)
    if tls is not None:
        text += "  " + tls_yaml(tls) + "\n"
    if extra:
        text += pt._block(extra) + "\n"
    return pt.make_config(upstreams=text, routes=ROUTE, workers=workers)


def localhost_url(up):
    """The target URL of `up` by a DNS name instead of the IP literal."""
    return up.url.replace("127.0.0.1", "localhost")


def get_logged(gw, path="/echo", **kwargs):
    """GET `path` with a fresh request id: (response, its access-log entry)."""
    rid = "tls-%d" % time.time_ns()
    r = requests.get(gw.url + path, headers={"X-Correlation-ID": rid}, timeout=10, **kwargs)
    return r, gw.wait_access_log(lambda e: e.get("request_id") == rid)


def assert_tls_failure(gw, backend, path="/echo"):
    """A request answers the gateway's 502, logged as upstream_tls_failed; `backend` saw no
    request (its handshake never completed, or it never answered one)."""
    r, entry = get_logged(gw, path)
    pt.assert_gateway_error(r, 502)
    assert entry is not None, "no access-log entry for the request"
    assert entry["status"] == 502 and entry["upstream"] == "secure", entry
    assert entry["error"] == "upstream_tls_failed", entry
    assert pt.upstream_hits(backend) == 0
    return r


def echo_over_tls(gw, path="/echo"):
    """GET `path` through the gateway: the backend's /echo answer, checked to have come over TLS."""
    r = requests.get(gw.url + path, timeout=10)
    assert r.status_code == 200, (r.status_code, r.text)
    echo = r.json()
    assert echo["tls"] is True, echo
    return echo


def tls_failures(up):
    return up.stats()["tls_failures"]


# --- trust and verification ---------------------------------------------------------------------

def test_https_target_trusting_the_test_ca_is_served_over_tls(gateway, upstream, certs):
    """A user sees a normal answer; the backend got the request over TLS 1.2+, path, query and
    headers intact."""
    up = upstream("tls-basic", tls=certs.server_tls())
    gw = gateway(secure_config([up.url], {"ca": certs.ca_cert}))
    r = requests.get(gw.url + "/echo/a/b?x=1&y=two", headers={"X-Tls-Test": "kept"}, timeout=10)
    assert r.status_code == 200, r.text
    echo = r.json()
    assert echo["name"] == "tls-basic"
    assert echo["tls"] is True and echo["tls_version"] in ("TLSv1.2", "TLSv1.3"), echo
    assert echo["path"] == "/echo/a/b" and echo["query"] == "x=1&y=two"
    assert ["X-Tls-Test", "kept"] in echo["headers"], echo["headers"]
    assert echo["client_cert_subject"] is None  # none configured, none sent
    assert up.stats()["tls_failures"] == 0


@pytest.mark.parametrize("tls", [None, {"server_name": "api.internal"}],
                         ids=["no-tls-block", "server-name-only"])
def test_system_store_does_not_trust_the_test_ca(gateway, upstream, certs, tls):
    """Without `ca` the test CA is not trusted: 502 upstream_tls_failed, the backend serves
    nothing."""
    up = upstream("tls-untrusted", tls=certs.server_tls())
    gw = gateway(secure_config([up.url], tls))
    assert_tls_failure(gw, up)
    assert pt.wait_until(lambda: tls_failures(up) >= 1, 5), "the backend saw no failed handshake"


@pytest.mark.parametrize("which", ["stranger", "other"])
def test_verify_false_accepts_any_certificate(gateway, upstream, certs, which):
    """With `verify: false` a self-signed or wrongly named certificate is accepted: 200 over
    TLS."""
    up = upstream("tls-noverify-" + which, tls=certs.server_tls(which))
    gw = gateway(secure_config([up.url], {"verify": False}))
    assert echo_over_tls(gw)["name"] == "tls-noverify-" + which


def test_a_certificate_from_another_ca_is_refused(gateway, upstream, certs):
    """A self-signed certificate the `ca` did not sign is refused even though its names match."""
    up = upstream("tls-stranger", tls=certs.server_tls("stranger"))
    gw = gateway(secure_config([up.url], {"ca": certs.ca_cert}))
    assert_tls_failure(gw, up)


# --- names and SNI ------------------------------------------------------------------------------

def test_server_name_is_sent_as_sni_and_checked(gateway, upstream, certs):
    """`server_name: api.internal` on an IP target: 200, and the backend saw SNI api.internal."""
    up = upstream("tls-sni", tls=certs.server_tls())
    gw = gateway(secure_config([up.url], {"ca": certs.ca_cert, "server_name": "api.internal"}))
    echo = echo_over_tls(gw)
    assert echo["sni"] == "api.internal", echo


def test_ip_target_is_checked_against_its_ip_san_and_sends_no_sni(gateway, upstream, certs):
    """An IP target without server_name: 200 (the certificate's IP SAN matches), and no SNI."""
    up = upstream("tls-ip", tls=certs.server_tls())
    gw = gateway(secure_config([up.url], {"ca": certs.ca_cert}))
    echo = echo_over_tls(gw)
    assert echo["sni"] is None, echo


def test_dns_target_sends_its_host_as_sni(gateway, upstream, certs):
    """A target named by host name sends that name as SNI (here with verify off: the test
    certificate does not name localhost)."""
    up = upstream("tls-dns", tls=certs.server_tls())
    gw = gateway(secure_config([localhost_url(up)], {"verify": False}))
    echo = echo_over_tls(gw)
    assert echo["sni"] == "localhost", echo


def test_certificate_for_another_name_is_refused(gateway, upstream, certs):
    """A CA-signed certificate only for other.internal does not match the target 127.0.0.1: 502."""
    up = upstream("tls-other-name", tls=certs.server_tls("other"))
    gw = gateway(secure_config([up.url], {"ca": certs.ca_cert}))
    assert_tls_failure(gw, up)


def test_server_name_is_the_name_checked(gateway, upstream, certs):
    """`server_name` decides the check: other.internal passes for its certificate, a name the
    certificate lacks fails even though the IP would have matched."""
    other = upstream("tls-named-other", tls=certs.server_tls("other"))
    gw = gateway(secure_config([other.url], {"ca": certs.ca_cert, "server_name": "other.internal"}))
    echo = echo_over_tls(gw)
    assert echo["name"] == "tls-named-other" and echo["sni"] == "other.internal", echo

    main = upstream("tls-named-wrong", tls=certs.server_tls())
    gw2 = gateway(secure_config([main.url], {"ca": certs.ca_cert, "server_name": "wrong.internal"}))
    assert_tls_failure(gw2, main)


# --- wrong peers --------------------------------------------------------------------------------

def test_plain_http_server_behind_an_https_target_is_a_fast_502(gateway, upstream, certs):
    """An https:// target that speaks plain HTTP: 502 upstream_tls_failed, well before the
    connect timeout."""
    plain = upstream("tls-plain-behind")
    url = plain.url.replace("http://", "https://")
    gw = gateway(secure_config([url], {"ca": certs.ca_cert},
                               "timeouts: {connect: 5s, request: 10s}"))
    start = time.monotonic()
    assert_tls_failure(gw, plain)
    assert time.monotonic() - start < 3.0


# --- mutual TLS ---------------------------------------------------------------------------------

def test_mutual_tls_presents_the_client_certificate(gateway, upstream, certs):
    """A backend requiring a client certificate gets `portico-gateway` from `cert`/`key`: 200."""
    up = upstream("tls-mtls", tls=certs.server_tls(client_auth=True))
    gw = gateway(secure_config([up.url], {"ca": certs.ca_cert, "cert": certs.client_cert,
                                          "key": certs.client_key}))
    echo = echo_over_tls(gw)
    assert echo["client_cert_subject"] == tls_testing.CLIENT_CN, echo


def test_mutual_tls_without_a_client_certificate_is_502(gateway, upstream, certs):
    """Without `cert`/`key` a backend requiring a client certificate refuses: 502
    upstream_tls_failed."""
    up = upstream("tls-mtls-missing", tls=certs.server_tls(client_auth=True))
    gw = gateway(secure_config([up.url], {"ca": certs.ca_cert}))
    assert_tls_failure(gw, up)
    assert pt.wait_until(lambda: tls_failures(up) >= 1, 5), "the backend saw no failed handshake"


# --- pooling and bodies -------------------------------------------------------------------------

def test_keepalive_reuses_the_tls_connection(gateway, upstream, certs):
    """30 requests on one client connection cost at most one TLS handshake per gateway worker."""
    workers = 2
    up = upstream("tls-keepalive", tls=certs.server_tls())
    gw = gateway(secure_config([up.url], {"ca": certs.ca_cert}, workers=workers))
    before = up.stats()
    with requests.Session() as s:
        for i in range(30):
            r = s.get(gw.url + "/echo?i=%d" % i, timeout=10)
            assert r.status_code == 200 and r.json()["tls"] is True, r.text
    after = up.stats()
    # Every harness call to /stats is a TLS connection of its own: the second one counts itself.
    handshakes = after["tls_handshakes"] - before["tls_handshakes"] - 1
    connections = after["connections"] - before["connections"] - 1
    assert after["paths"].get("/echo") == 30
    assert 1 <= handshakes <= workers, "30 requests made %d TLS handshakes" % handshakes
    assert connections == handshakes and after["tls_failures"] == 0, after


def test_a_new_connection_resumes_the_tls_session(gateway, upstream, certs):
    """Once the pooled connection has been closed for idleness, the next connection to the
    target resumes the TLS session of the first instead of making a full handshake."""
    up = upstream("tls-resume", tls=certs.server_tls())
    gw = gateway(secure_config([up.url], {"ca": certs.ca_cert}, extra="timeouts: {idle: 100ms}"))
    first = echo_over_tls(gw)
    assert first["tls_session_reused"] is False, first
    for _ in range(2):
        # Idle pooled connections are swept every second; by then this one is past 100 ms.
        time.sleep(2.2)
        again = echo_over_tls(gw)
        assert again["tls_session_reused"] is True, again  # a new handshake, an abbreviated one


def test_large_bodies_stream_both_ways_over_tls(gateway, upstream, certs):
    """2 MiB uploads (sized and chunked), downloads (sized and chunked) and an echo arrive whole."""
    up = upstream("tls-bodies", tls=certs.server_tls())
    gw = gateway(secure_config([up.url], {"ca": certs.ca_cert}, "timeouts: {request: 30s}"))
    n = 2 * MIB
    data = os.urandom(n)
    digest = pt.sha256_hex(data)
    with requests.Session() as s:
        r = s.post(gw.url + "/upload", data=data, timeout=60)
        assert r.status_code == 200 and r.json()["bytes"] == n and r.json()["sha256"] == digest

        pieces = (data[i:i + 100_000] for i in range(0, n, 100_000))  # chunked request body
        r = s.post(gw.url + "/upload", data=pieces, timeout=60)
        assert r.status_code == 200 and r.json()["bytes"] == n and r.json()["sha256"] == digest

        for chunked in (0, 1):
            r = s.get(gw.url + "/download?bytes=%d&chunked=%d" % (n, chunked), timeout=60)
            assert r.status_code == 200 and len(r.content) == n, (chunked, len(r.content))
            assert pt.sha256_hex(r.content) == upstream_server.expected_sha256(n)

        r = s.post(gw.url + "/chunked-echo", data=data, timeout=60)
        assert r.status_code == 200 and len(r.content) == n
        assert pt.sha256_hex(r.content) == digest
    assert up.stats()["tls_failures"] == 0


# --- TLS failures in retries, the breaker and outlier detection --------------------------------

def test_tls_failure_is_retried_as_a_connect_failure(gateway, upstream, certs):
    """With `retries: {on: [connect_failure]}` a target failing its handshake never shows: every
    GET is 200 from the good target."""
    bad = upstream("tls-retry-bad", tls=certs.server_tls("stranger"))
    good = upstream("tls-retry-good", tls=certs.server_tls())
    gw = gateway(secure_config([bad.url, good.url], {"ca": certs.ca_cert},
                               "retries: {attempts: 1, on: [connect_failure], backoff: 5ms, "
                               "budget: 100%}"))
    with requests.Session() as s:
        answers = [s.get(gw.url + "/x?i=%d" % i, timeout=10) for i in range(10)]
    assert [r.status_code for r in answers] == [200] * 10, [r.text for r in answers]
    assert {r.json()["name"] for r in answers} == {"tls-retry-good"}
    assert pt.upstream_hits(good, "/x") == 10
    assert pt.upstream_hits(bad) == 0
    assert pt.wait_until(lambda: tls_failures(bad) >= 1, 5), "the bad target was never tried"


def test_tls_failures_open_the_circuit_breaker(gateway, upstream, certs):
    """Three failed handshakes in a row open the breaker: the next request is a 503 that does not
    reach the backend."""
    bad = upstream("tls-breaker", tls=certs.server_tls("stranger"))
    gw = gateway(secure_config([bad.url], {"ca": certs.ca_cert},
                               "circuit_breaker: {consecutive_failures: 3, open_for: 30s}"))
    with requests.Session() as s:
        for _ in range(3):
            pt.assert_gateway_error(s.get(gw.url + "/x", timeout=10), 502)
        assert pt.wait_until(lambda: tls_failures(bad) >= 3, 5)
        tried = tls_failures(bad)
        pt.assert_gateway_error(s.get(gw.url + "/x", timeout=10), 503)
    time.sleep(0.3)
    assert tls_failures(bad) == tried, "the open breaker still let handshakes through"


def test_tls_failures_eject_an_outlier(gateway, upstream, certs):
    """Outlier detection ejects a target whose handshakes fail: afterwards every request is 200
    from the good one and the bad one sees no more attempts."""
    bad = upstream("tls-outlier-bad", tls=certs.server_tls("stranger"))
    good = upstream("tls-outlier-good", tls=certs.server_tls())
    gw = gateway(secure_config([bad.url, good.url], {"ca": certs.ca_cert},
                               "outlier_detection: {consecutive_failures: 2, eject_for: 30s, "
                               "max_ejected: 50%}"))
    with requests.Session() as s:
        failed = 0
        for _ in range(20):
            r = s.get(gw.url + "/x", timeout=10)
            if r.status_code != 200:
                pt.assert_gateway_error(r, 502)
                failed += 1
                if failed == 2:
                    break
        assert failed == 2, "the bad target did not fail twice in 20 requests"
        assert pt.wait_until(lambda: tls_failures(bad) >= 2, 5)
        tried = tls_failures(bad)
        after = [s.get(gw.url + "/x", timeout=10) for _ in range(20)]
    assert [r.status_code for r in after] == [200] * 20
    assert {r.json()["name"] for r in after} == {"tls-outlier-good"}
    time.sleep(0.3)
    assert tls_failures(bad) == tried


# --- mixed schemes ------------------------------------------------------------------------------

def test_http_and_https_targets_mix_in_one_upstream(gateway, upstream, certs):
    """An upstream with an http:// and an https:// target uses both; only the https one gets TLS."""
    plain = upstream("mixed-plain")
    secure = upstream("mixed-tls", tls=certs.server_tls())
    gw = gateway(secure_config([plain.url, secure.url], {"ca": certs.ca_cert}))
    seen = {}
    with requests.Session() as s:
        for i in range(10):
            r = s.get(gw.url + "/echo?i=%d" % i, timeout=10)
            assert r.status_code == 200, r.text
            echo = r.json()
            seen.setdefault(echo["name"], set()).add(echo["tls"])
    assert seen == {"mixed-plain": {False}, "mixed-tls": {True}}, seen
    assert secure.stats()["tls_failures"] == 0


# --- health checks over TLS ---------------------------------------------------------------------

HEALTH = ("health_check: {type: http, path: /health, interval: 200ms, timeout: 500ms, "
          "healthy_after: 1, unhealthy_after: 2}")


def test_health_checks_run_over_tls(gateway, upstream, certs):
    """Health checks reach https targets over TLS: a target whose /health fails loses its traffic
    and gets it back once healthy."""
    sick = upstream("tls-hc-sick", tls=certs.server_tls())
    well = upstream("tls-hc-well", tls=certs.server_tls())
    gw = gateway(secure_config([sick.url, well.url], {"ca": certs.ca_cert}, HEALTH))

    def names(s, count=10):
        return {s.get(gw.url + "/x", timeout=10).json().get("name") for _ in range(count)}

    def all_from(s, name, count=10):
        for _ in range(count):
            r = s.get(gw.url + "/x", timeout=10)
            if r.status_code != 200 or r.json().get("name") != name:
                return False
        return True

    with requests.Session() as s:
        assert pt.wait_until(lambda: names(s) == {"tls-hc-sick", "tls-hc-well"}, 5, 0.1)
        assert pt.wait_until(lambda: pt.upstream_hits(sick, "/health") >= 1
                             and pt.upstream_hits(well, "/health") >= 1, 5), \
            "no health check reached the targets"
        pt.upstream_control(sick, health=500)
        assert pt.wait_until(lambda: all_from(s, "tls-hc-well"), 5, 0.05), \
            "the target failing its health check over TLS still gets traffic"
        hits = pt.upstream_hits(sick, "/x")
        assert all_from(s, "tls-hc-well", 20)
        assert pt.upstream_hits(sick, "/x") == hits

        pt.upstream_control(sick, health=200)
        assert pt.wait_until(lambda: all_from(s, "tls-hc-sick", 1), 5, 0.05), \
            "the recovered target gets no traffic"
    assert sick.stats()["tls_failures"] == 0 and well.stats()["tls_failures"] == 0


# --- validation ---------------------------------------------------------------------------------

def write_tls_config(path, tls_lines, target_scheme="https"):
    """A config whose only upstream `secure` has one target and the block-style `tls:` lines
    given (each without indentation); returns the line numbers of `tls:` and its last line."""
    lines = ["server:",
             "  listen: [127.0.0.1:%d]" % pt.free_port(),
             "upstreams:",
             "  secure:",
             "    targets: [%s://127.0.0.1:%d]" % (target_scheme, pt.free_port()),
             "    tls:"]
    tls_line = len(lines)
    lines += ["      " + l for l in tls_lines]
    last_line = len(lines)
    lines += ["routes:", "  " + ROUTE]
    path.write_text("\n".join(lines) + "\n")
    return tls_line, last_line


def config_errors(output, filename):
    """[(line, col, key path, message)] of the `file:line:col: key: message` lines."""
    return [(int(l), int(c), k, m) for l, c, k, m in
            re.findall(r"^\S*%s:(\d+):(\d+): (\S+): (.+)$" % re.escape(filename), output, re.M)]


def assert_refused(path, check):
    """`portico validate` exits 1 and its report passes `check`; `portico run` refuses the same
    file with the same report and never serves."""
    v = pt.run_portico("validate", "-c", str(path))
    out = v.stdout + v.stderr
    assert v.returncode == 1, out
    check(out)
    try:
        started = pt.run_portico("run", "-c", str(path), timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("portico started serving a config that validate refuses")
    assert started.returncode == 1, started.stdout + started.stderr
    check(started.stdout + started.stderr)


@pytest.mark.parametrize("tls", [
    ["ca: @CA@"],
    ["verify: false"],
    ["ca: @CA@", "verify: true", "server_name: api.internal", "cert: @CERT@", "key: @KEY@"],
], ids=["ca", "verify-false", "full"])
def test_validate_accepts_tls_blocks(tmp_path, certs, tls):
    """Well-formed `tls:` blocks on an https upstream validate cleanly."""
    paths = {"@CA@": certs.ca_cert, "@CERT@": certs.client_cert, "@KEY@": certs.client_key}
    lines = list(tls)
    for placeholder, path in paths.items():
        lines = [l.replace(placeholder, json.dumps(str(path))) for l in lines]
    f = tmp_path / "tls-good.yaml"
    write_tls_config(f, lines)
    p = pt.run_portico("validate", "-c", str(f))
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("given", ["cert", "key"])
def test_client_certificate_needs_both_cert_and_key(tmp_path, certs, given):
    """`tls.cert` without `tls.key` (or the reverse) is refused, naming upstreams.secure.tls at
    its position."""
    path = certs.client_cert if given == "cert" else certs.client_key
    f = tmp_path / "tls-half.yaml"
    first, last = write_tls_config(f, ["ca: %s" % json.dumps(str(certs.ca_cert)),
                                       "%s: %s" % (given, json.dumps(str(path)))])

    def check(out):
        errors = [e for e in config_errors(out, f.name) if e[2].startswith("upstreams.secure.tls")]
        assert errors, out
        line, col, key, message = errors[0]
        assert first <= line <= last and col >= 1, (first, last, errors)
        text = key + " " + message
        assert "cert" in text and "key" in text and "unknown" not in text, text

    assert_refused(f, check)


def test_tls_on_an_upstream_without_https_targets_is_refused(tmp_path, certs):
    """`tls:` on an upstream whose targets are all http:// is a configuration error."""
    f = tmp_path / "tls-plain.yaml"
    first, last = write_tls_config(f, ["ca: %s" % json.dumps(str(certs.ca_cert))],
                                   target_scheme="http")

    def check(out):
        errors = [e for e in config_errors(out, f.name) if e[2].startswith("upstreams.secure")]
        assert errors, out
        line, _, key, message = errors[0]
        assert first <= line <= last, (first, last, errors)
        assert "unknown" not in message, message  # `tls` is a known key, misplaced here

    assert_refused(f, check)


def test_unreadable_ca_file_is_refused_naming_the_path(tmp_path):
    """A `tls.ca` that cannot be read is an error naming that path."""
    missing = tmp_path / "no-such-ca.pem"
    f = tmp_path / "tls-ca.yaml"
    write_tls_config(f, ["ca: %s" % json.dumps(str(missing))])

    def check(out):
        assert str(missing) in out, out

    assert_refused(f, check)
