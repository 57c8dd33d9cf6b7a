"""The command line: validate, init, version, schema, and refusing to start on a bad config."""

import json
import os
import re
import subprocess
import time

import pytest
import requests

import portico_testing as pt

# Each problem sits on a known line; validate must report all of them at once.
BROKEN = """\
server:
  listen: [127.0.0.1:8080]
  workers: many
  limits: {header_timeout: 10x}
  bogus_key: 1
upstreams:
  users:
    targets: [http://127.0.0.1:8081]
routes:
  - name: a
    match: {prefix: /a}
    upstream: users
  - name: a
    match: {prefix: /b}
    upstream: nowhere
"""
# line of each problem -> a word its message or key path should carry
BROKEN_LINES = {3: "workers", 4: "header_timeout", 5: "bogus_key", 13: "name", 15: "upstream"}

GOOD = """\
server:
  listen: [127.0.0.1:8080]
upstreams:
  users: {targets: [http://127.0.0.1:8081]}
routes:
  - name: users
    match: {prefix: /api/users}
    upstream: users
    strip_prefix: /api
  - name: ping
    match: {path: /ping}
    respond: {status: 200, body: pong}
"""


def run(*args, cwd=None, timeout=20):
    binary = pt.portico_bin()
    if not binary.exists():
        pytest.fail("portico binary not found at %s (make build)" % binary)
    return subprocess.run([str(binary), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_validate_reports_every_error_with_position(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text(BROKEN)
    p = run("validate", "-c", str(f))
    assert p.returncode == 1
    out = p.stdout + p.stderr
    errors = re.findall(r"^(\S*broken\.yaml):(\d+):(\d+): (\S+): (.+)$", out, re.M)
    assert len(errors) >= len(BROKEN_LINES), out
    by_line = {}
    for _, line, col, key, msg in errors:
        by_line.setdefault(int(line), []).append(key + " " + msg)
    for line, word in BROKEN_LINES.items():
        assert line in by_line, "no error reported on line %d:\n%s" % (line, out)
        assert any(word in e for e in by_line[line]), (line, by_line[line])


def test_validate_good_file(tmp_path):
    f = tmp_path / "good.yaml"
    f.write_text(GOOD)
    p = run("validate", "-c", str(f))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ok" in (p.stdout + p.stderr).lower() or "valid" in (p.stdout + p.stderr).lower()


def test_validate_missing_file(tmp_path):
    p = run("validate", "-c", str(tmp_path / "absent.yaml"))
    assert p.returncode == 1
    assert "absent.yaml" in p.stdout + p.stderr


def test_validate_unset_env_var(tmp_path):
    f = tmp_path / "env.yaml"
    f.write_text(GOOD.replace("http://127.0.0.1:8081", "\"${PORTICO_E2E_SURELY_UNSET}\""))
    p = run("validate", "-c", str(f))
    assert p.returncode == 1
    assert "PORTICO_E2E_SURELY_UNSET" in p.stdout + p.stderr
    assert re.search(r"env\.yaml:4:\d+:", p.stdout + p.stderr)


def test_init_writes_a_valid_file_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "starter.yaml"
    p = run("init", str(target))
    assert p.returncode == 0, p.stderr
    text = target.read_text()
    assert "#" in text  # commented
    v = run("validate", "-c", str(target))
    assert v.returncode == 0, v.stdout + v.stderr
    target.write_text(text + "# edited\n")
    again = run("init", str(target))
    assert again.returncode != 0
    assert target.read_text().endswith("# edited\n")


def test_init_default_name(tmp_path):
    p = run("init", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "portico.yaml").exists()


def test_version():
    p = run("version")
    assert p.returncode == 0
    assert re.search(r"\d+\.\d+\.\d+", p.stdout)
    allocator = re.search(r"^allocator: (mimalloc \d+\.\d+\.\d+|glibc malloc)$", p.stdout, re.M)
    assert allocator, p.stdout
    # The Release build links mimalloc; the sanitizer builds (PORTICO_BIN) keep their own.
    if "PORTICO_BIN" not in os.environ:
        assert allocator.group(1).startswith("mimalloc"), p.stdout


def test_schema_is_json_schema():
    p = run("schema")
    assert p.returncode == 0
    schema = json.loads(p.stdout)
    assert schema.get("type") == "object"
    for key in ("server", "upstreams", "routes"):
        assert key in schema.get("properties", {}), key


def test_no_config_refuses_to_start_and_says_how(tmp_path):
    p = run("run", cwd=tmp_path, timeout=10)
    assert p.returncode != 0
    assert "portico init" in p.stdout + p.stderr


def test_unknown_key_refused_at_startup(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(GOOD.replace("server:\n", "server:\n  unknown_thing: 1\n"))
    p = run("run", "-c", str(f), timeout=10)
    assert p.returncode == 1
    assert re.search(r"bad\.yaml:2:\d+: .*unknown_thing", p.stdout + p.stderr)


def test_short_form_runs(tmp_path):
    port = pt.free_port()
    f = tmp_path / "p.yaml"
    f.write_text(GOOD.replace("127.0.0.1:8080", "127.0.0.1:%d" % port))
    proc = subprocess.Popen([str(pt.portico_bin()), "-c", str(f)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        def up():
            try:
                return requests.get("http://127.0.0.1:%d/ping" % port, timeout=1).text == "pong"
            except requests.RequestException:
                return False
        assert pt.wait_until(up, 10)
    finally:
        assert pt.stop_pid(proc) == 0


def test_validate_reads_key_files_as_starting_would(tmp_path):
    f = tmp_path / "keys.yaml"
    f.write_text("""\
upstreams:
  u: {targets: [http://127.0.0.1:8081]}
auth:
  partner-keys: {type: api_key, keys_file: %s}
  users-jwt: {type: jwt, public_key: %s, algorithms: [RS256]}
routes:
  - {match: {prefix: /}, upstream: u, auth: [partner-keys, users-jwt]}
""" % (tmp_path / "missing-keys.yaml", tmp_path / "missing.pem"))
    p = run("validate", "-c", str(f))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "missing-keys.yaml" in p.stdout and "cannot read" in p.stdout, p.stdout
    (tmp_path / "missing-keys.yaml").write_text("k-1: partner-a\n")
    (tmp_path / "missing.pem").write_text("not a key\n")
    p = run("validate", "-c", str(f))
    assert p.returncode == 1 and "public_key" in p.stdout, p.stdout
