"""Aggregation: behaviour.md "Aggregation" (both editions), config.md `routes[].aggregate`.

One client request fans out to several calls to real backends (tests/support/aggregate_backend.py,
which logs every request it gets), and the answers come back as one JSON object.
"""

import concurrent.futures
import gzip
import subprocess
import time

import pytest
import requests

import auth_testing as at
import portico_testing as pt

SECRET = b"aggregate-tests-secret-of-some-length"

UPSTREAMS = """
svc: {targets: ["@BE@"]}
other: {targets: ["@BE@"]}
quick: {targets: ["@BE@"], timeouts: {request: 300ms}}
dead: {targets: ["http://127.0.0.1:@DEAD@"]}
brk:
  targets: ["@BE@"]
  circuit_breaker: {consecutive_failures: 2, open_for: 30s}
single:
  targets: ["@BE@"]
  max_connections: 1
  timeouts: {connect: 5s, request: 10s}
retrying:
  targets: ["@BE@"]
  retries: {attempts: 2, on: [503], backoff: 10ms}
"""

ROUTES = """
- name: dashboard
  match: {path: "/dash/{id}", methods: [GET]}
  auth: users
  set_headers: {X-Gateway: portico}
  aggregate:
    timeout: 2s
    calls:
      user:    {upstream: svc, path: "/users/{id}"}
      orders:  {upstream: other, path: "/orders?user_id={id}"}
      profile: {upstream: svc, path: "/profiles/{id}", optional: true, fields: [bio, avatar]}
- name: open-dash
  match: {path: "/open/{id}"}
  aggregate:
    calls:
      user:    {upstream: svc, path: "/users/{id}"}
      orders:  {upstream: svc, path: "/orders?user_id={id}&{query}"}
- name: mixed
  match: {path: /mixed}
  aggregate:
    calls:
      words: {upstream: svc, path: /text}
      user: {upstream: svc, path: /users/5, fields: [name]}
- name: parallel
  match: {path: /parallel}
  aggregate:
    calls:
      a: {upstream: svc, path: /slow/300/a}
      b: {upstream: other, path: /slow/300/b}
      c: {upstream: svc, path: /slow/300/c}
- name: chain
  match: {path: "/chain/{id}"}
  aggregate:
    calls:
      user: {upstream: svc, path: "/users/{id}"}
      team: {upstream: svc, path: "/teams/{user.team}", depends_on: [user]}
      lead: {upstream: svc, path: "/leads/{team.lead}?for={user.name}", depends_on: [team, user]}
- name: missing-required
  match: {path: "/missing/{id}"}
  aggregate:
    calls:
      user: {upstream: svc, path: "/users/{id}"}
      team: {upstream: svc, path: "/teams/{user.nope}", depends_on: [user]}
- name: missing-optional
  match: {path: "/missing-opt/{id}"}
  aggregate:
    calls:
      user: {upstream: svc, path: "/users/{id}"}
      team: {upstream: svc, path: "/teams/{user.nope}", depends_on: [user], optional: true}
      lead: {upstream: svc, path: "/leads/{team.lead}", depends_on: [team], optional: true}
- name: optional-failures
  match: {path: /opt-fail}
  aggregate:
    timeout: 800ms
    calls:
      user: {upstream: svc, path: /users/1}
      error500: {upstream: svc, path: /status/500, optional: true}
      refused: {upstream: dead, path: /users/1, optional: true}
      own-timeout: {upstream: quick, path: /slow/2000/q, optional: true}
      aggregate-timeout: {upstream: svc, path: /slow/3000/s, optional: true}
- name: required-500
  match: {path: /req-500}
  aggregate:
    calls:
      user: {upstream: svc, path: /users/1}
      broken: {upstream: svc, path: /status/500}
- name: required-refused
  match: {path: /req-refused}
  aggregate:
    calls:
      user: {upstream: svc, path: /users/1}
      refused: {upstream: dead, path: /users/1}
- name: required-timeout
  match: {path: /req-timeout}
  aggregate:
    timeout: 500ms
    calls:
      user: {upstream: svc, path: /users/1}
      slow: {upstream: svc, path: /slow/3000/s}
- name: required-own-timeout
  match: {path: /req-own-timeout}
  aggregate:
    calls:
      slow: {upstream: quick, path: /slow/2000/q}
- name: cancel
  match: {path: "/cancel/{tag}"}
  aggregate:
    calls:
      failing: {upstream: svc, path: "/status/502?ms=300"}
      hanging: {upstream: other, path: "/hang/{tag}"}
- name: breaker
  match: {path: /breaker}
  aggregate:
    calls:
      user: {upstream: svc, path: /users/1}
      flaky: {upstream: brk, path: /status/500, optional: true}
- name: retry
  match: {path: "/retry/{key}"}
  aggregate:
    calls:
      f: {upstream: retrying, path: "/flaky/{key}"}
- name: big
  match: {path: "/big/{n}"}
  aggregate:
    calls:
      b: {upstream: svc, path: "/big/{n}"}
      user: {upstream: svc, path: /users/1}
- name: cached
  match: {path: "/cached/{id}"}
  cache: {ttl: 30s}
  aggregate:
    calls:
      user: {upstream: svc, path: "/users/{id}"}
      orders: {upstream: svc, path: "/orders?user_id={id}"}
- name: latin1
  match: {path: /latin1}
  aggregate:
    calls:
      user: {upstream: svc, path: /users/1}
      words: {upstream: svc, path: /latin1, optional: true}
- name: cached-private
  match: {path: "/cached-private/{x}"}
  cache: {ttl: 30s}
  aggregate:
    calls:
      user: {upstream: svc, path: /users/1}
      secret: {upstream: svc, path: "/private/{x}"}
- name: single-direct
  match: {prefix: /single}
  upstream: single
  strip_prefix: /single
- name: queued
  match: {path: /queued}
  aggregate:
    calls:
      failing: {upstream: svc, path: "/status/502?ms=200"}
      queued: {upstream: single, path: /users/1, optional: true}
- name: limited
  match: {path: /limited}
  rate_limit: [tiny]
  cors: true
  aggregate:
    calls:
      user: {upstream: svc, path: /users/1}
- name: packed
  match: {path: "/packed/{n}"}
  compress: true
  response_headers: {X-Route: packed}
  aggregate:
    calls:
      b: {upstream: svc, path: "/big/{n}"}
"""

TOP = """
auth:
  users:
    type: jwt
    secret: "%s"
    algorithms: [HS256]
    forward_claims: {sub: X-User-Id}
rate_limits:
  policies:
    tiny: {key: client_ip, rate: 2/min, burst: 2}
cors:
  allow_origins: [https://app.example]
""" % SECRET.decode()


class Backend:
    def __init__(self):
        self.proc = subprocess.Popen([pt.PYTHON, str(pt.SUPPORT / "aggregate_backend.py"),
                                      "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("READY "), line
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def get(self, what):
        return requests.get(self.url + "/" + what, timeout=5).json()

    def log(self, prefix=""):
        return [e for e in self.get("log") if e["path"].startswith(prefix)]

    def stop(self):
        pt.stop_pid(self.proc)


@pytest.fixture(scope="module")
def be():
    backend = Backend()
    yield backend
    backend.stop()


@pytest.fixture(scope="module")
def gw(module_gateway, be):
    config = pt.make_config(upstreams=UPSTREAMS, routes=ROUTES, top_extra=TOP)
    return module_gateway(config, BE=be.url, DEAD=pt.free_port())


@pytest.fixture(autouse=True)
def _fresh_log(be):
    be.get("reset")


def token(sub="alice"):
    return at.hmac_token_raw(SECRET, at.claims(sub=sub))


def get(gw, path, **kw):
    kw.setdefault("timeout", 10)
    return requests.get(gw.url + path, **kw)


# --- the answer ------------------------------------------------------------------------------

def test_the_seeds_dashboard_merges_user_orders_and_profile(gw, be):
    r = get(gw, "/dash/7", headers=at.bearer(token()))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["X-Aggregate-Complete"] == "true"
    assert r.json() == {
        "user": {"id": 7, "name": "user-7", "team": "t7"},
        "orders": [{"id": 1, "user_id": 7}, {"id": 2, "user_id": 7}],
        "profile": {"bio": "bio of 7", "avatar": "/img/7.png"},  # fields: only these two
    }
    assert list(r.json()) == ["user", "orders", "profile"]  # in the order written
    paths = sorted((e["path"], e["query"]) for e in be.log())
    assert paths == [("/orders", "user_id=7"), ("/profiles/7", ""), ("/users/7", "")]


def test_a_non_json_body_becomes_a_string_and_fields_keeps_members(gw):
    r = get(gw, "/mixed")
    assert r.status_code == 200
    assert r.json() == {"words": "plain words", "user": {"name": "user-5"}}


def test_params_are_encoded_where_they_land_and_the_query_passes_where_asked(gw, be):
    r = get(gw, "/open/a%26b?page=2&sort=desc")
    assert r.status_code == 200, r.text
    entries = {e["path"]: e for e in be.log()}
    assert "/users/a%26b" in entries  # a path param stays path text
    assert entries["/orders"]["query"] == "user_id=a%26b&page=2&sort=desc"
    r = get(gw, "/open/9")
    orders = [e for e in be.log("/orders")][-1]
    assert orders["query"] == "user_id=9"  # no client query: no empty item left
    r = get(gw, "/open/9?user_id=1&page=3")  # the template's user_id stays
    assert be.log("/orders")[-1]["query"] == "user_id=9&page=3"


def test_calls_run_in_parallel(gw, be):
    started = time.monotonic()
    r = get(gw, "/parallel")
    elapsed = time.monotonic() - started
    assert r.status_code == 200
    assert r.json() == {"a": {"name": "a"}, "b": {"name": "b"}, "c": {"name": "c"}}
    # Three calls of 300 ms each: one after another would take 900 ms.
    assert elapsed < 0.75 * pt.SLOWDOWN, elapsed
    arrivals = sorted(e["at"] for e in be.log("/slow"))
    assert len(arrivals) == 3 and arrivals[-1] - arrivals[0] < 0.2 * pt.SLOWDOWN


# --- depends_on ------------------------------------------------------------------------------

def test_a_chain_of_three_uses_fields_of_earlier_answers(gw, be):
    r = get(gw, "/chain/3")
    assert r.status_code == 200, r.text
    assert r.json() == {"user": {"id": 3, "name": "user-3", "team": "t3"},
                        "team": {"team": "t3", "lead": "lead-of-t3"},
                        "lead": {"lead": "lead-of-t3", "phone": "555"}}
    log = be.log()
    order = [e["path"] for e in sorted(log, key=lambda e: e["at"])]
    assert order == ["/users/3", "/teams/t3", "/leads/lead-of-t3"]
    assert [e["query"] for e in log if e["path"].startswith("/leads")] == ["for=user-3"]


def test_calls_waiting_on_a_failed_required_call_are_cancelled_not_failed(gw, be):
    r = get(gw, "/chain/missing")  # the user service answers 404
    pt.assert_gateway_error(r, 502)
    assert r.json()["failed"] == ["user"]
    assert [e["path"] for e in be.log()] == ["/users/missing"]


def test_a_missing_field_fails_a_required_call(gw, be):
    r = get(gw, "/missing/3")
    pt.assert_gateway_error(r, 502)
    assert r.json()["failed"] == ["team"]
    assert r.headers["X-Aggregate-Complete"] == "false"
    assert [e["path"] for e in be.log()] == ["/users/3"]  # the call was never made


def test_a_missing_field_of_an_optional_call_gives_null_and_its_dependents_null(gw, be):
    r = get(gw, "/missing-opt/3")
    assert r.status_code == 200
    assert r.headers["X-Aggregate-Complete"] == "false"
    assert r.json() == {"user": {"id": 3, "name": "user-3", "team": "t3"},
                        "team": None, "lead": None}


CYCLE = """\
server:
  listen: [127.0.0.1:8080]
upstreams:
  svc: {targets: [http://127.0.0.1:8081]}
routes:
  - match: {path: /c}
    aggregate:
      calls:
        a: {upstream: svc, path: "/a/{b.id}", depends_on: [b]}
        b: {upstream: svc, path: "/b/{a.id}", depends_on: [a]}
"""


def test_a_dependency_cycle_is_refused_at_its_line(tmp_path):
    f = tmp_path / "cycle.yaml"
    f.write_text(CYCLE)
    p = subprocess.run([str(pt.portico_bin()), "validate", "-c", str(f)], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert p.returncode == 1
    out = p.stdout + p.stderr
    assert "cycle.yaml:9:" in out and "routes[0].aggregate.calls.a.depends_on" in out, out
    assert "depends_on makes a cycle: a -> b -> a" in out, out


# --- failures --------------------------------------------------------------------------------

def test_optional_failures_are_null_and_the_answer_incomplete(gw):
    started = time.monotonic()
    r = get(gw, "/opt-fail")
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert r.headers["X-Aggregate-Complete"] == "false"
    assert r.json() == {"user": {"id": 1, "name": "user-1", "team": "t1"}, "error500": None,
                        "refused": None, "own-timeout": None, "aggregate-timeout": None}
    # The aggregate's 800 ms timeout ended the 3 s call.
    assert 0.7 < elapsed < 2.0 * pt.SLOWDOWN, elapsed


@pytest.mark.parametrize("path, failed", [("/req-500", ["broken"]),
                                          ("/req-refused", ["refused"])])
def test_a_failed_required_call_gives_502_with_the_failed_names(gw, path, failed):
    r = get(gw, path)
    pt.assert_gateway_error(r, 502)
    assert r.json()["failed"] == failed
    assert r.headers["X-Aggregate-Complete"] == "false"


def test_a_required_call_past_the_aggregate_timeout_gives_504(gw):
    started = time.monotonic()
    r = get(gw, "/req-timeout")
    elapsed = time.monotonic() - started
    pt.assert_gateway_error(r, 504)
    assert r.json()["failed"] == ["slow"]
    assert elapsed < 2.0 * pt.SLOWDOWN, elapsed


def test_a_required_call_past_its_upstreams_timeout_gives_504(gw):
    r = get(gw, "/req-own-timeout")
    pt.assert_gateway_error(r, 504)
    assert r.json()["failed"] == ["slow"]


def test_a_failed_required_call_cancels_the_calls_still_running(gw, be):
    started = time.monotonic()
    r = get(gw, "/cancel/t1")
    elapsed = time.monotonic() - started
    pt.assert_gateway_error(r, 502)
    assert r.json()["failed"] == ["failing"]
    assert elapsed < 5.0, elapsed  # not the backend's 30 s
    # The hanging backend saw its connection closed at about the time the answer left.
    assert pt.wait_until(lambda: "t1" in be.get("closed"), 5.0)
    assert be.get("closed")["t1"] - time.time() < 1.0


def test_a_breaker_open_on_one_calls_upstream(gw, be):
    for _ in range(2):  # two 500s open the breaker of `brk`
        r = get(gw, "/breaker")
        assert r.status_code == 200 and r.json()["flaky"] is None
    assert len(be.log("/status/500")) == 2
    r = get(gw, "/breaker")
    assert r.status_code == 200
    assert r.json() == {"user": {"id": 1, "name": "user-1", "team": "t1"}, "flaky": None}
    assert r.headers["X-Aggregate-Complete"] == "false"
    assert len(be.log("/status/500")) == 2  # refused by the open breaker, never sent


def test_retries_within_a_call(gw, be):
    r = get(gw, "/retry/k1")
    assert r.status_code == 200, r.text
    assert r.json() == {"f": {"key": "k1"}}
    assert len(be.log("/flaky/k1")) == 2  # a 503, then the retry
    entry = gw.wait_access_log(lambda e: e.get("path") == "/retry/k1")
    assert entry["retries"] == 1


def test_an_oversized_call_body_fails_that_call(gw):
    small = get(gw, "/big/1000")
    assert small.status_code == 200 and len(small.json()["b"]) == 998
    r = get(gw, "/big/2000000")  # over the 1 MiB default
    pt.assert_gateway_error(r, 502)
    assert r.json()["failed"] == ["b"]
    assert get(gw, "/big/1000").status_code == 200  # and the gateway is fine


# --- what the calls carry, what is recorded ----------------------------------------------

def test_auth_guards_the_aggregate_and_its_headers_reach_every_call(gw, be):
    r = get(gw, "/dash/1")
    assert r.status_code == 401
    assert be.log() == []  # no call made
    tok = token("bob")
    r = get(gw, "/dash/1", headers={**at.bearer(tok), "X-Correlation-ID": "agg-req-1",
                                    "Cookie": "session=secret"})
    assert r.status_code == 200
    assert r.headers["X-Correlation-ID"] == "agg-req-1"
    log = be.log()
    assert len(log) == 3
    for entry in log:
        headers = entry["headers"]
        assert headers["authorization"] == "Bearer " + tok
        assert headers["x-user-id"] == "bob"
        assert headers["x-correlation-id"] == "agg-req-1"
        assert headers["x-gateway"] == "portico"
        assert headers["x-forwarded-for"] == "127.0.0.1"
        assert "cookie" not in headers


def test_access_log_and_metrics(gw, be):
    def successes():
        return pt.metric_value(gw.metrics(), "portico_upstream_requests_total", upstream="svc",
                               outcome="success") or 0

    before = successes()
    r = get(gw, "/dash/5", headers={**at.bearer(token()), "X-Correlation-ID": "agg-log-5"})
    assert r.status_code == 200
    entry = gw.wait_access_log(lambda e: e.get("request_id") == "agg-log-5")
    assert entry["upstream"] == "aggregate"
    assert entry["calls"] == 3
    assert entry["status"] == 200
    assert entry["route"] == "dashboard"
    assert pt.wait_until(lambda: successes() - before == 2, 5.0)  # user and profile
    failed = get(gw, "/req-500", headers={"X-Correlation-ID": "agg-log-500"})
    assert failed.status_code == 502
    entry = gw.wait_access_log(lambda e: e.get("request_id") == "agg-log-500")
    assert entry["error"] == "aggregate_call_failed" and entry["calls"] == 2


# --- filters around it -----------------------------------------------------------------------

def test_an_aggregate_answer_can_be_cached(gw, be):
    first = get(gw, "/cached/4")
    assert first.status_code == 200 and first.headers["X-Cache"] == "MISS"
    second = get(gw, "/cached/4")
    assert second.headers["X-Cache"] == "HIT"
    assert second.json() == first.json()
    assert len(be.log()) == 2  # the two calls of the first request only


def test_an_aggregate_answer_can_be_compressed(gw):
    r = requests.get(gw.url + "/packed/5000", headers={"Accept-Encoding": "gzip"}, stream=True,
                     timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Encoding"] == "gzip"
    assert r.headers["X-Route"] == "packed"
    body = gzip.decompress(r.raw.read())
    assert body == b'{"b":"' + b"x" * 4998 + b'"}'


def test_rate_limits_and_cors_guard_an_aggregate(gw, be):
    origin = {"Origin": "https://app.example"}
    answers = [get(gw, "/limited", headers=origin) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert answers[0].headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert answers[0].headers["X-RateLimit-Limit"] == "2"
    assert "Retry-After" in answers[2].headers
    assert len(be.log("/users/1")) == 2  # the refused request made no call


def test_a_body_that_is_not_utf8_text_fails_its_call(gw):
    r = get(gw, "/latin1")
    assert r.status_code == 200
    assert r.json() == {"user": {"id": 1, "name": "user-1", "team": "t1"}, "words": None}
    assert r.headers["X-Aggregate-Complete"] == "false"


def test_a_dot_segment_from_an_answer_never_reaches_a_path(gw, be):
    r = get(gw, "/chain/dotdot")
    pt.assert_gateway_error(r, 502)
    assert r.json()["failed"] == ["team"]
    assert "user.team" in r.json()["error"]
    assert [e["path"] for e in be.log()] == ["/users/dotdot"]


def test_a_private_part_keeps_the_whole_answer_out_of_the_cache(gw, be):
    first = get(gw, "/cached-private/s1")
    second = get(gw, "/cached-private/s1")
    assert first.status_code == second.status_code == 200
    assert second.headers["Cache-Control"] == "no-store"
    assert second.headers.get("X-Cache") != "HIT"
    assert len(be.log("/private/s1")) == 2


def test_a_call_waiting_for_a_pooled_connection_is_cancelled_at_once(gw, be):
    # Another client holds the one connection of `single` for 3 s; the aggregate's call to it
    # queues, and when the required call fails after 200 ms, the queued one is given up.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        holder = pool.submit(get, gw, "/single/slow/3000/h")
        assert pt.wait_until(lambda: be.log("/slow/3000"), 5.0)
        started = time.monotonic()
        r = get(gw, "/queued")
        elapsed = time.monotonic() - started
        assert holder.result().status_code == 200
    pt.assert_gateway_error(r, 502)
    assert r.json()["failed"] == ["failing"]
    assert elapsed < 1.5 * pt.SLOWDOWN, elapsed  # not the 3 s the connection was held


def test_head_answers_the_heads_of_the_merged_answer(gw):
    with requests.Session() as s:
        full = s.get(gw.url + "/mixed", timeout=10)
        head = s.head(gw.url + "/mixed", timeout=10)
        again = s.get(gw.url + "/mixed", timeout=10)  # the connection is still in step
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(full.content))
    assert head.headers["X-Aggregate-Complete"] == "true"
    assert again.json() == full.json()


def test_a_request_body_the_aggregate_does_not_use_leaves_the_connection_in_step(gw, be):
    with requests.Session() as s:
        posted = s.post(gw.url + "/mixed", data=b"x" * 20000, timeout=10)
        after = s.get(gw.url + "/mixed", timeout=10)
    assert posted.status_code == 200
    assert after.status_code == 200 and after.json() == posted.json()
    assert all(e["path"] in ("/text", "/users/5") for e in be.log())  # calls are GETs
