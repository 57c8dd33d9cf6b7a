"""The quickstart `make run` starts: examples/quickstart.yaml in front of the three demo services
(examples/backends/demo_backend.py), with the ports moved to free ones. Each test is one of the
curl lines scripts/run-quickstart.sh prints, and what it promises."""

import re
import subprocess
from pathlib import Path

import pytest
import requests

import portico_testing as pt

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart.yaml"
DEMO = ROOT / "examples" / "backends" / "demo_backend.py"


@pytest.fixture(scope="module")
def services():
    started = {}
    for name, port in (("users", 8081), ("orders", 8082), ("products", 8083)):
        free = pt.free_port()
        proc = subprocess.Popen([pt.PYTHON, str(DEMO), name, "--port", str(free)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started[port] = (free, proc)
    for free, _ in started.values():
        assert pt.wait_until(lambda: _listening(free), 10)
    yield {port: free for port, (free, _) in started.items()}
    for _, proc in started.values():
        pt.stop_pid(proc)


def _listening(port):
    try:
        return requests.get("http://127.0.0.1:%d/health" % port, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def gw(module_gateway, services):
    text = QUICKSTART.read_text()
    for port, free in services.items():
        text = text.replace("127.0.0.1:%d" % port, "127.0.0.1:%d" % free)
    text = text.replace("127.0.0.1:8080", "127.0.0.1:@PORT@")
    text = text.replace("127.0.0.1:9901", "127.0.0.1:@ADMIN_PORT@")
    text = text.replace("workers: auto", "workers: 2")
    assert not re.search(r"127\.0\.0\.1:(8080|8081|8082|8083|9901)\b", text)
    return module_gateway(text)


def get(gw, path, **kw):
    kw.setdefault("timeout", 10)
    return requests.get(gw.url + path, **kw)


def test_ping_and_users(gw):
    r = get(gw, "/ping")
    assert r.status_code == 200 and r.text == "pong\n"
    r = get(gw, "/api/v1/users")
    assert r.status_code == 200
    assert [u["id"] for u in r.json()["users"]] == [1, 2, 3]


def test_a_user_is_cached(gw):
    first = get(gw, "/api/v1/users/2")
    second = get(gw, "/api/v1/users/2")
    assert first.status_code == second.status_code == 200
    assert second.json()["name"] == "Alan Turing"
    assert second.headers["X-Cache"] == "HIT" and "Age" in second.headers


def test_orders_need_a_key(gw):
    assert get(gw, "/api/v1/orders?user_id=1").status_code == 401
    r = get(gw, "/api/v1/orders?user_id=1", headers={"X-API-Key": "demo-key"})
    assert r.status_code == 200
    assert {o["id"] for o in r.json()["orders"]} == {101, 102}


def test_the_dashboard_is_one_answer_from_three_services(gw):
    r = get(gw, "/api/v1/dashboard/1")
    assert r.status_code == 200, r.text
    assert r.headers["X-Aggregate-Complete"] == "true"
    body = r.json()
    assert body["user"]["name"] == "Ada Lovelace"
    assert list(body["orders"]) == ["orders"]  # fields: [orders]
    assert [o["id"] for o in body["orders"]["orders"]] == [101, 102]
    assert body["product"]["name"] == "Analytical Engine"  # product 11, of order 101
    # A user without orders: the optional product call has no product id to fill in.
    r = get(gw, "/api/v1/dashboard/3")
    assert r.status_code == 200
    assert r.headers["X-Aggregate-Complete"] == "false"
    assert r.json()["orders"] == {"orders": []} and r.json()["product"] is None
    # No such user: the required call fails.
    r = get(gw, "/api/v1/dashboard/9")
    pt.assert_gateway_error(r, 502)
    assert r.json()["failed"] == ["user"]


def test_unknown_paths_and_the_products_rate_limit(gw):
    r = get(gw, "/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["status"] == 404
    codes = [get(gw, "/api/v1/products").status_code for _ in range(12)]
    assert codes[:10] == [200] * 10 and 429 in codes[10:]


def test_metrics_count_the_requests(gw):
    text = gw.metrics()
    assert pt.metric_value(text, "portico_requests_total", route="ping") >= 1
