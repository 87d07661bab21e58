"""A self-signed certificate for the loopback API, because kubectl sends no token over plain HTTP.

client-go reads a kubeconfig's credentials only when the server URL is ``https`` (``clientcmd`` skips the user's
token, exec plugin and auth provider otherwise), so the API serves TLS with a throw-away certificate made at
start, valid for ``127.0.0.1``, ``::1`` and ``localhost``; the kubeconfig carries it as
``certificate-authority-data``, so every client verifies the server.

In: the host names and addresses to cover.  Out: ``TlsMaterial`` (PEM certificate and key) from the
``cryptography`` package when installed, else from the ``openssl`` command; ``TlsError`` when neither is there.
``client_context`` trusts the certificate for plain HTTP clients (httpx).
``files()`` writes the pair into a private temporary folder (uvicorn loads them from paths) and removes it after.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

DEFAULT_HOSTS = ("127.0.0.1", "::1", "localhost")


class TlsError(RuntimeError):
    """No way to make a certificate here."""


@dataclass(frozen=True)
class TlsMaterial:
    cert_pem: bytes
    key_pem: bytes

    @contextlib.contextmanager
    def files(self) -> Iterator[tuple[str, str]]:
        """(certificate path, key path) in a private folder that is removed on exit."""
        folder = tempfile.mkdtemp(prefix="kibench-tls-")
        try:
            cert, key = os.path.join(folder, "tls.crt"), os.path.join(folder, "tls.key")
            for path, data in ((cert, self.cert_pem), (key, self.key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
            yield cert, key
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def self_signed(hosts: tuple[str, ...] = DEFAULT_HOSTS, days: int = 3650) -> TlsMaterial:
    """A fresh EC P-256 key and a self-signed certificate for ``hosts`` (addresses become IP SANs)."""
    try:
        return _with_cryptography(hosts, days)
    except ImportError:
        pass
    if shutil.which("openssl") is None:
        raise TlsError("cannot make a TLS certificate: install the `cryptography` package or the `openssl` command")
    return _with_openssl(hosts, days)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _with_cryptography(hosts: tuple[str, ...], days: int) -> TlsMaterial:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kibench-local")])
    sans = [x509.IPAddress(ipaddress.ip_address(h)) if _is_ip(h) else x509.DNSName(h) for h in hosts]
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return TlsMaterial(cert.public_bytes(serialization.Encoding.PEM), key_pem)


def _with_openssl(hosts: tuple[str, ...], days: int) -> TlsMaterial:
    sans = ",".join(f"IP:{h}" if _is_ip(h) else f"DNS:{h}" for h in hosts)
    with tempfile.TemporaryDirectory(prefix="kibench-tls-") as folder:
        cert, key = os.path.join(folder, "tls.crt"), os.path.join(folder, "tls.key")
        argv = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", cert, "-days", str(days), "-subj", "/CN=kibench-local",
            "-addext", f"subjectAltName={sans}",
        ]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise TlsError(f"openssl could not make a certificate: {proc.stderr.strip()}")
        with open(cert, "rb") as c, open(key, "rb") as k:
            return TlsMaterial(c.read(), k.read())


def client_context(cert_pem: bytes) -> ssl.SSLContext:
    """An SSL context that trusts exactly this certificate (for httpx and other plain HTTP clients)."""
    return ssl.create_default_context(cadata=cert_pem.decode())
