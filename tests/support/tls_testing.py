"""Test certificates for TLS end-to-end tests, made at test time with the `openssl` command line.

Nothing here is checked into git: make_certificates(directory) writes a fresh set (EC P-256 keys,
valid for 2 days) into a temporary directory and returns their paths:

    ca          a test CA (self-signed, CA:TRUE); NOT in any system trust store
    server      signed by the CA, CN api.internal, subjectAltName IP:127.0.0.1, DNS:api.internal
    stranger    self-signed, not signed by the CA (same names as `server`: only trust differs)
    other       signed by the CA, subjectAltName DNS:other.internal only
    client      signed by the CA, CN portico-gateway, extendedKeyUsage clientAuth

Certificates.server_tls(...) gives the `tls` argument of portico_testing.Upstream for a server
presenting one of them.
"""

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CLIENT_CN = "portico-gateway"
SERVER_NAME = "api.internal"
OTHER_NAME = "other.internal"

# The request defaults and the CA's extensions: every test certificate set starts from these.
CA_CNF = """\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = unused

[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

_OPENSSL_CNF = CA_CNF + """\

[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:api.internal
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[stranger_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:api.internal
subjectKeyIdentifier = hash

[other_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.internal
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

_NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
DAYS = "2"


@dataclass(frozen=True)
class Certificates:
    """Paths of one set of test certificates and keys (PEM)."""
    dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    stranger_cert: Path
    stranger_key: Path
    other_cert: Path
    other_key: Path
    client_cert: Path
    client_key: Path

    def server_tls(self, which="server", client_auth=False):
        """The `tls` argument of portico_testing.Upstream for a server presenting certificate
        `which` (server, stranger or other). With client_auth the server requires a client
        certificate signed by the test CA; the test harness then presents the client one."""
        tls = {"cert": getattr(self, which + "_cert"), "key": getattr(self, which + "_key")}
        if client_auth:
            tls.update(client_ca=self.ca_cert, client_cert=self.client_cert,
                       client_key=self.client_key)
        return tls


def openssl_bin():
    path = shutil.which("openssl")
    if path is None:
        raise RuntimeError("the openssl command line is needed to make test certificates")
    return path


def _run(*args, cwd):
    p = subprocess.run([openssl_bin(), *args], cwd=str(cwd), capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed (%d):\n%s%s"
                           % (" ".join(args), p.returncode, p.stdout, p.stderr))


def _self_signed(d, cnf, name, cn, extensions):
    _run("req", "-x509", "-config", cnf, "-extensions", extensions, *_NEW_KEY,
         "-keyout", name + ".key", "-out", name + ".pem", "-days", DAYS, "-subj", "/CN=" + cn,
         cwd=d)


def _signed_by_ca(d, cnf, name, cn, extensions):
    _run("req", "-new", "-config", cnf, *_NEW_KEY, "-keyout", name + ".key",
         "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
    _run("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-set_serial", "0x" + secrets.token_hex(8), "-days", DAYS,
         "-extfile", cnf, "-extensions", extensions, "-out", name + ".pem", cwd=d)
    (d / (name + ".csr")).unlink()


def make_certificates(directory):
    """Writes a fresh CA, server, stranger, other-name and client certificate into `directory`."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    cnf = "openssl.cnf"
    (d / cnf).write_text(_OPENSSL_CNF)
    _self_signed(d, cnf, "ca", "Portico Test CA", "ca_ext")
    _self_signed(d, cnf, "stranger", SERVER_NAME, "stranger_ext")
    _signed_by_ca(d, cnf, "server", SERVER_NAME, "server_ext")
    _signed_by_ca(d, cnf, "other", OTHER_NAME, "other_ext")
    _signed_by_ca(d, cnf, "client", CLIENT_CN, "client_ext")
    return Certificates(
        dir=d,
        ca_cert=d / "ca.pem", ca_key=d / "ca.key",
        server_cert=d / "server.pem", server_key=d / "server.key",
        stranger_cert=d / "stranger.pem", stranger_key=d / "stranger.key",
        other_cert=d / "other.pem", other_key=d / "other.key",
        client_cert=d / "client.pem", client_key=d / "client.key")
