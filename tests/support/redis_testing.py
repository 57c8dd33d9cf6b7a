"""Real redis-server processes for the e2e tests: a single server and a three-node Redis
Cluster, each on free 127.0.0.1 ports in its own temporary directory, stopped by PID.

    server = RedisServer()           # .port, .url ("redis://127.0.0.1:<port>/0"), .cli(*args)
    server.stop(); server.start()    # killed, then started again on the same port
    cluster = RedisCluster()         # .seeds ("127.0.0.1:<p>" x 3), .cli(*args), .stop()
"""

import random
import socket
import subprocess
import tempfile
import time

import portico_testing as pt


def cluster_port():
    """A free port that leaves room for its cluster bus port (+10000, at most 65535)."""
    for _ in range(100):
        port = random.randint(20000, 45000)
        ok = True
        for p in (port, port + 10000):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
        if ok:
            return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisServer:
    def __init__(self, port=None, extra=(), cluster=False, tls=None):
        """`tls`: a tls_testing.Certificates; the server then speaks only TLS (rediss://)."""
        self.port = port or (cluster_port() if cluster else pt.free_port())
        self.tls = tls
        self.dir = tempfile.mkdtemp(prefix="portico-redis-")
        self.extra = list(extra)
        self.cluster = cluster
        self.proc = None
        self.start()

    @property
    def url(self):
        return "%s://127.0.0.1:%d/0" % ("rediss" if self.tls else "redis", self.port)

    def start(self):
        port_args = ["--port", str(self.port)]
        if self.tls:
            port_args = ["--port", "0", "--tls-port", str(self.port),
                         "--tls-cert-file", str(self.tls.server_cert),
                         "--tls-key-file", str(self.tls.server_key),
                         "--tls-ca-cert-file", str(self.tls.ca_cert), "--tls-auth-clients", "no"]
        argv = ["redis-server", "--bind", "127.0.0.1", *port_args, "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--enable-debug-command", "yes",
                "--protected-mode", "no"] + self.extra
        if self.cluster:
            argv += ["--cluster-enabled", "yes", "--cluster-config-file",
                     "%s/nodes-%d.conf" % (self.dir, self.port)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.cli("PING").strip() == "PONG":
                    return
            except subprocess.CalledProcessError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server on port %d did not start" % self.port)
            time.sleep(0.05)

    def cli(self, *args, timeout=10):
        tls = ["--tls", "--cacert", str(self.tls.ca_cert)] if self.tls else []
        return subprocess.run(["redis-cli", "-p", str(self.port)] + tls + [str(a) for a in args],
                              capture_output=True, text=True, check=True, timeout=timeout).stdout

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class RedisCluster:
    def __init__(self):
        self.nodes = [RedisServer(cluster=True) for _ in range(3)]
        self.seeds = ["127.0.0.1:%d" % n.port for n in self.nodes]
        subprocess.run(["redis-cli", "--cluster", "create", *self.seeds, "--cluster-replicas", "0",
                        "--cluster-yes"], capture_output=True, text=True, check=True, timeout=30)
        deadline = time.monotonic() + 20
        while not all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    def keys(self):
        found = []
        for n in self.nodes:
            found += [k for k in n.cli("KEYS", "portico:rl:*").split("\n") if k]
        return found

    def stop(self):
        for n in self.nodes:
            n.stop()
