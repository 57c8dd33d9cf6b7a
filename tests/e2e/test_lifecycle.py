"""Operating the process: reload (SIGHUP, admin API), graceful drain, listeners, startup checks."""

import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

import portico_testing as pt


def base(up, extra_routes=""):
    return pt.make_config(upstreams={"up": up.url}, routes="""
- name: slow
  match: {prefix: /slow}
  upstream: up
- name: echo
  match: {prefix: /echo}
  upstream: up
""" + extra_routes, server_extra="drain_timeout: 10s")


NEW_ROUTE = """
- name: new
  match: {path: /new}
  respond: {body: "new route"}
"""

BROKEN = """
server:
  listen: [127.0.0.1:@PORT@]
  no_such_key: true
admin:
  listen: 127.0.0.1:@ADMIN_PORT@
routes:
  - name: new
    match: {path: /new}
    upstream: not-defined
"""


class Background:
    """Runs one request in a thread and keeps its outcome."""

    def __init__(self, fn):
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except Exception as e:  # reported by the test
            self.error = e

    def join(self, timeout):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "request still running"
        if self.error:
            raise self.error
        return self.result


def slow_request(gw, ms):
    def fn():
        r = requests.get(gw.url + "/slow?ms=%d" % ms, timeout=30)
        return r.status_code, r.json()
    return Background(fn)


def reloads(gw, result):
    return pt.metric_value(gw.metrics(), "portico_config_reloads_total", result=result) or 0


def test_sighup_reload_adds_route_without_dropping_inflight(gateway, upstream):
    up = upstream("reload-up")
    gw = gateway(base(up))
    assert requests.get(gw.url + "/new", timeout=5).status_code == 404
    inflight = slow_request(gw, 2000)
    time.sleep(0.4)
    gw.write_config(base(up, NEW_ROUTE))
    gw.signal(signal.SIGHUP)
    assert pt.wait_until(
        lambda: requests.get(gw.url + "/new", timeout=5).status_code == 200, 5), \
        "new route not served after SIGHUP; stderr:\n" + gw.stderr_text()
    assert requests.get(gw.url + "/new", timeout=5).text == "new route"
    status, body = inflight.join(10)
    assert status == 200 and body["slept_ms"] == 2000
    assert requests.get(gw.url + "/echo", timeout=5).status_code == 200
    assert reloads(gw, "success") >= 1


def test_invalid_reload_keeps_old_config(gateway, upstream):
    up = upstream("reload-up")
    gw = gateway(base(up))
    gw.write_config(BROKEN)
    gw.signal(signal.SIGHUP)
    assert pt.wait_until(lambda: reloads(gw, "failure") == 1, 5), gw.metrics()
    assert gw.proc.poll() is None
    assert requests.get(gw.url + "/echo", timeout=5).status_code == 200
    assert requests.get(gw.url + "/new", timeout=5).status_code == 404
    assert "no_such_key" in gw.stderr_text() or "no_such_key" in gw.stdout_text()


def test_admin_reload_endpoint(gateway, upstream):
    up = upstream("reload-up")
    gw = gateway(base(up))
    gw.write_config(base(up, NEW_ROUTE))
    r = requests.post(gw.admin_url + "/admin/reload", timeout=10)
    assert r.status_code == 200, r.text
    assert requests.get(gw.url + "/new", timeout=5).text == "new route"

    gw.write_config(BROKEN)
    r = requests.post(gw.admin_url + "/admin/reload", timeout=10)
    assert r.status_code == 400
    assert "no_such_key" in r.text
    assert requests.get(gw.url + "/new", timeout=5).text == "new route"
    assert reloads(gw, "failure") == 1


def test_reload_opens_new_listener(gateway, upstream):
    up = upstream("reload-up")
    gw = gateway(base(up))
    text = base(up).replace("listen: [127.0.0.1:@PORT@]", "listen: [127.0.0.1:@PORT@, 127.0.0.1:@PORT2@]")
    gw.write_config(text)
    gw.signal(signal.SIGHUP)
    url2 = "http://127.0.0.1:%d/echo" % gw.port2

    def serves():
        try:
            return requests.get(url2, timeout=2).status_code == 200
        except requests.RequestException:
            return False
    assert pt.wait_until(serves, 5)


class SlowFirstAnswer:
    """A backend whose first request waits `ms` and gets 503; every later one gets 200 "ok"."""

    def __init__(self, ms):
        self.ms = ms
        self.requests = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                data = data.split(b"\r\n\r\n", 1)[1]
                self.requests += 1
                if self.requests == 1:
                    time.sleep(self.ms / 1000)
                    status, body = "503 Service Unavailable", b"slow 503"
                else:
                    status, body = "200 OK", b"ok"
                conn.sendall(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s"
                             % (status.encode(), len(body), body))

    def close(self):
        self.listener.close()


def test_retry_begun_before_a_reload_stays_on_its_upstream(gateway, upstream):
    # The reload removes the upstream listed before `flaky` and adds one after it, so the index
    # `flaky` had in the old snapshot is `other`'s in the new one. The retry of a request begun
    # before the reload must still go to `flaky`.
    up, other = upstream("first"), upstream("other")
    flaky = SlowFirstAnswer(ms=1500)
    retries = "retries: {attempts: 2, on: [503], backoff: 5ms, budget: 100%}"

    def config(upstreams):
        lines = ["%s: {targets: [%s], %s}" % (n, u, retries) for n, u in upstreams]
        routes = "\n".join("- {name: %s, match: {prefix: /%s}, upstream: %s}" % (n, n, n)
                           for n, _ in upstreams)
        return pt.make_config(upstreams="\n".join(lines), routes=routes)

    try:
        gw = gateway(config([("a", up.url), ("flaky", flaky.url)]))
        inflight = Background(lambda: requests.get(gw.url + "/flaky", timeout=30))
        assert pt.wait_until(lambda: flaky.requests == 1, 5)
        gw.write_config(config([("flaky", flaky.url), ("other", other.url)]))
        gw.signal(signal.SIGHUP)
        assert pt.wait_until(lambda: reloads(gw, "success") == 1, 5), gw.stderr_text()
        r = inflight.join(15)
        assert (r.status_code, r.text) == (200, "ok")
        assert flaky.requests == 2
        assert requests.get(gw.url + "/other", timeout=5).json()["name"] == "other"
        assert requests.get(gw.url + "/flaky", timeout=5).text == "ok"
        assert gw.proc.poll() is None
    finally:
        flaky.close()


def established_to(port):
    """TCP connections established to 127.0.0.1:`port` (from any local process)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", "( dport = :%d )" % port],
                         capture_output=True, text=True, check=True).stdout
    return len([line for line in out.splitlines() if line.strip()])


def test_pooled_connections_to_a_target_a_reload_removed_are_closed_when_idle(gateway, upstream):
    # The idle sweep covers every pool, not only the current config's: a target the reload
    # dropped still has its warm connections closed after the upstream's idle timeout.
    old, new = upstream("old-target"), upstream("new-target")

    def config(url):
        return pt.make_config(upstreams="up: {targets: [%s], timeouts: {idle: 1s}}" % url,
                              routes="- {name: all, match: {prefix: /}, upstream: up}")

    gw = gateway(config(old.url))
    with requests.Session() as s:
        for _ in range(4):
            assert s.get(gw.url + "/x", timeout=5).json()["name"] == "old-target"
    old_port = int(old.url.rsplit(":", 1)[1])
    assert established_to(old_port) >= 1
    gw.write_config(config(new.url))
    gw.signal(signal.SIGHUP)
    assert pt.wait_until(lambda: reloads(gw, "success") == 1, 5), gw.stderr_text()
    assert requests.get(gw.url + "/x", timeout=5).json()["name"] == "new-target"
    assert pt.wait_until(lambda: established_to(old_port) == 0, 6), \
        "the gateway still holds %d connections to the removed target" % established_to(old_port)


def test_sigterm_drains_inflight_then_exits_0(gateway, upstream):
    up = upstream("drain-up")
    gw = gateway(base(up))
    inflight = slow_request(gw, 1500)
    time.sleep(0.4)
    gw.signal(signal.SIGTERM)
    status, body = inflight.join(10)
    assert status == 200 and body["slept_ms"] == 1500
    gw.proc.wait(timeout=10)
    assert gw.proc.returncode == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", gw.port), timeout=2)


def test_draining_stops_accepting(gateway, upstream):
    up = upstream("drain-up")
    gw = gateway(base(up))
    inflight = slow_request(gw, 2000)
    time.sleep(0.4)
    gw.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert gw.proc.poll() is None, "exited before the in-flight request finished"
    with pytest.raises((ConnectionRefusedError, requests.ConnectionError)):
        r = requests.get(gw.url + "/echo", timeout=2)
        raise AssertionError("served %d while draining" % r.status_code)
    assert inflight.join(10)[0] == 200
    assert gw.proc.wait(timeout=10) == 0


def test_ready_is_503_while_draining(gateway, upstream):
    up = upstream("drain-up")
    gw = gateway(base(up))
    assert requests.get(gw.admin_url + "/ready", timeout=5).status_code == 200
    inflight = slow_request(gw, 2000)
    time.sleep(0.4)
    gw.signal(signal.SIGTERM)
    time.sleep(0.3)
    assert requests.get(gw.admin_url + "/ready", timeout=5).status_code == 503
    assert inflight.join(10)[0] == 200
    assert gw.proc.wait(timeout=10) == 0


def test_drain_timeout_bounds_shutdown(gateway, upstream):
    up = upstream("drain-up")
    gw = gateway(base(up).replace("drain_timeout: 10s", "drain_timeout: 1s"))
    inflight = slow_request(gw, 8000)
    time.sleep(0.4)
    start = time.monotonic()
    gw.signal(signal.SIGTERM)
    assert gw.proc.wait(timeout=8) == 0
    assert time.monotonic() - start < 4, "drain outlived drain_timeout"
    try:
        status = inflight.join(10)[0]
    except requests.RequestException:
        status = None
    assert status != 200  # cut off: it could not have finished in time


def test_sigint_exits_0(gateway, upstream):
    up = upstream("drain-up")
    gw = gateway(base(up))
    gw.signal(signal.SIGINT)
    assert gw.proc.wait(timeout=10) == 0


def test_admin_token_guards_admin_endpoints(gateway, upstream):
    up = upstream("admin-up")
    text = base(up).replace("  listen: 127.0.0.1:@ADMIN_PORT@",
                            "  listen: 127.0.0.1:@ADMIN_PORT@\n  token: s3cret-admin")
    assert "s3cret-admin" in text
    gw = gateway(text)
    admin = gw.admin_url
    assert requests.get(admin + "/admin/routes", timeout=5).status_code == 401
    bad = {"Authorization": "Bearer wrong"}
    assert requests.get(admin + "/admin/routes", headers=bad, timeout=5).status_code == 401
    assert requests.post(admin + "/admin/reload", timeout=5).status_code == 401
    good = {"Authorization": "Bearer s3cret-admin"}
    assert requests.get(admin + "/admin/routes", headers=good, timeout=5).status_code == 200
    for open_path in ("/health", "/ready", "/metrics"):
        assert requests.get(admin + open_path, timeout=5).status_code == 200, open_path
    config = requests.get(admin + "/admin/config", headers=good, timeout=5)
    assert config.status_code == 200 and "s3cret-admin" not in config.text


def test_two_listen_addresses_both_serve(gateway, upstream):
    up = upstream("listen-up")
    gw = gateway(base(up).replace("listen: [127.0.0.1:@PORT@]",
                                  "listen: [127.0.0.1:@PORT@, 127.0.0.1:@PORT2@]"))
    for port in (gw.port, gw.port2):
        r = requests.get("http://127.0.0.1:%d/echo" % port, timeout=5)
        assert r.status_code == 200 and r.json()["name"] == "listen-up"


def test_workers_and_log_level_flags(gateway, upstream):
    up = upstream("cli-up")
    gw = gateway(base(up), args=("--workers", "1", "--log-level", "warn"))
    assert requests.get(gw.url + "/echo", timeout=5).status_code == 200


def test_environment_substitution(gateway, upstream):
    import os
    up = upstream("env-up")
    env = dict(os.environ, E2E_UP_URL=up.url)
    text = pt.make_config(upstreams="up: {targets: ['${E2E_UP_URL}']}", routes="""
- name: echo
  match: {prefix: /echo}
  upstream: up
  set_headers: {X-Env: "${E2E_UNSET_VAR:-fallback}"}
""")
    gw = gateway(text, env=env)
    e = requests.get(gw.url + "/echo", timeout=5).json()
    assert ["X-Env", "fallback"] in e["headers"]


def test_admin_health_ready(gateway, upstream):
    up = upstream("admin-up")
    gw = gateway(base(up))
    for url in (gw.url + "/health", gw.admin_url + "/health"):
        r = requests.get(url, timeout=5)
        assert r.status_code == 200 and r.json() == {"status": "healthy"}
    assert requests.get(gw.admin_url + "/ready", timeout=5).status_code == 200
    routes = requests.get(gw.admin_url + "/admin/routes", timeout=5)
    assert routes.status_code == 200 and "slow" in routes.text and "echo" in routes.text
