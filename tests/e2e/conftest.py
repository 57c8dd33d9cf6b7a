"""Fixtures for Portico's end-to-end tests: real gateway and upstream processes on 127.0.0.1.

    gateway(config_text, **subst)  -> a running portico (see portico_testing.Gateway)
    upstream(name, tls=None)       -> a running tests/support/upstream_server.py
    module_gateway / module_upstream: the same, shared by a test module
    free_port()                    -> a free TCP port

The binary is <repo>/build/portico unless PORTICO_BIN says otherwise.
"""

import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

import portico_testing as pt  # noqa: E402

TEST_TIME_LIMIT = 240  # seconds; a hung test fails instead of hanging the suite


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: gigabyte transfers (deselect with -m 'not slow')")


@pytest.fixture(autouse=True)
def _time_limit(request):
    def expire(signum, frame):
        raise TimeoutError("test exceeded %ds" % TEST_TIME_LIMIT)

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TEST_TIME_LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


class _Launcher:
    """Starts gateways and upstreams for one scope and stops them all, by PID, at its end."""

    def __init__(self, tmp_path_factory):
        self.tmp_path_factory = tmp_path_factory
        self.started = []

    def gateway(self, config_text, args=(), wait=True, env=None, **subst):
        gw = pt.Gateway(config_text, subst=subst, args=args, wait=wait, env=env,
                        tmp_dir=self.tmp_path_factory.mktemp("gateway"))
        self.started.append(gw)
        return gw

    def upstream(self, name="upstream", tls=None):
        up = pt.Upstream(name, tls=tls)
        self.started.append(up)
        return up

    def print_gateway_logs(self, limit=4000):
        """Shows what each gateway wrote to stderr (sanitizer reports, errors) in a failure."""
        for p in self.started:
            if isinstance(p, pt.Gateway):
                code = p.proc.poll()
                print("--- portico pid %d (%s), stderr tail ---" % (
                    p.pid, "running" if code is None else "exit %s" % code))
                print(p.stderr_text()[-limit:])

    def close(self):
        for p in reversed(self.started):
            try:
                p.stop()
            except Exception:  # teardown goes on for the others
                pass


@pytest.fixture
def _launcher(request, tmp_path_factory):
    launcher = _Launcher(tmp_path_factory)
    yield launcher
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        launcher.print_gateway_logs()
    launcher.close()


@pytest.fixture(scope="module")
def _module_launcher(tmp_path_factory):
    launcher = _Launcher(tmp_path_factory)
    yield launcher
    launcher.close()


@pytest.fixture
def gateway(_launcher):
    """Factory: gateway(config_text, **placeholders) -> pt.Gateway, healthy and serving."""
    return _launcher.gateway


@pytest.fixture
def upstream(_launcher):
    """Factory: upstream(name, tls=None) -> pt.Upstream (tls: see pt.Upstream)."""
    return _launcher.upstream


@pytest.fixture(scope="module")
def module_gateway(_module_launcher):
    return _module_launcher.gateway


@pytest.fixture(scope="module")
def module_upstream(_module_launcher):
    return _module_launcher.upstream


@pytest.fixture
def free_port():
    return pt.free_port
