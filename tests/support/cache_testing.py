"""The cache tests' backend (cache_backend.py) in its own process, stopped by its PID."""

import subprocess

import requests

import portico_testing as pt

BACKEND = pt.SUPPORT / "cache_backend.py"


class CacheBackend:
    def __init__(self):
        self.proc = subprocess.Popen([pt.PYTHON, str(BACKEND), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("READY "), line
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def count(self, target):
        return requests.get(self.url + "/stats", timeout=5).json()["targets"].get(target, 0)

    def total(self):
        return requests.get(self.url + "/stats", timeout=5).json()["total"]

    def control(self, **state):
        requests.post(self.url + "/control", json=state, timeout=5).raise_for_status()

    def stop(self):
        pt.stop_pid(self.proc)
