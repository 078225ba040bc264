"""TLS for a site without a certificate authority of its own, and the client side of TLS.

- :func:`make_site_certificates` makes a private CA and a server certificate per service (the api,
  MinIO), each valid for the names and addresses clients use (``python -m azaion_shared tls``).
  Devices and the trainer get only ``ca.crt``; each server its own certificate and key.
- :func:`check_url` refuses plain ``http://`` to anything but loopback unless it is explicitly
  allowed: device passwords, tokens and model parts must not travel in clear text.
- :func:`client_context` is the SSL context a client verifies servers with (a CA bundle from
  settings, or the system's).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from azaion_shared.atomic import atomic_write_bytes
from azaion_shared.errors import ConfigError

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, variable: str, allow_insecure: bool, allow_variable: str) -> str:
    """``url`` when it is https, or http to loopback, or http explicitly allowed; else a ConfigError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{variable}={url!r}: expected an http:// or https:// URL")
    if parts.scheme == "http" and not allow_insecure and not is_loopback(parts.hostname or ""):
        raise ConfigError(
            f"{variable}={url} is plain HTTP to another host: passwords, tokens and model parts would travel "
            f"in clear text. Use https:// (the server's certificate is checked against the CA bundle in "
            f"settings; `python -m azaion_shared tls` makes one), or set {allow_variable}=true on a trusted network"
        )
    return url


def client_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Verifies servers against ``ca_bundle`` (a PEM file), or the system's CAs when None."""
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        raise ConfigError(f"the CA bundle {ca_bundle} does not exist (make one with `python -m azaion_shared tls`)")
    return ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)


# --- a private CA and server certificates ---------------------------------------------------------
@dataclass(frozen=True)
class Issued:
    name: str
    cert: Path
    key: Path


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_or_make_ca(folder: Path, days: int):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    cert_path, key_path = folder / "ca.crt", folder / "ca.key"
    if cert_path.exists() and key_path.exists():
        return (
            x509.load_pem_x509_certificate(cert_path.read_bytes()),
            serialization.load_pem_private_key(key_path.read_bytes(), password=None),
        )
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Azaion site CA")])
    now = dt.datetime.now(dt.timezone.utc)  # noqa: UP017 - the edge image runs Python 3.10
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    atomic_write_bytes(key_path, _pem_key(key), mode=0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def make_site_certificates(folder: str | Path, servers: dict[str, list[str]], days: int = 825) -> list[Issued]:
    """A private CA in ``folder`` (kept when it exists) and, for each server name, a certificate valid
    for the given DNS names and IP addresses (``{"api": ["api", "localhost", "127.0.0.1"]}``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _load_or_make_ca(folder, days)
    now = dt.datetime.now(dt.timezone.utc)  # noqa: UP017 - the edge image runs Python 3.10
    issued = []
    for server, hosts in servers.items():
        if not hosts:
            raise ConfigError(f"the certificate of {server} needs at least one host name or address")
        names = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        key = _key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_path, key_path = folder / f"{server}.crt", folder / f"{server}.key"
        atomic_write_bytes(key_path, _pem_key(key), mode=0o600)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        issued.append(Issued(server, cert_path, key_path))
    return issued
