"""A throw-away self-signed TLS certificate for the benchmark servers.

Why this module exists: every TLS scenario needs the same certificate for every server, made at
run time (nothing secret is ever committed). The key is written as PKCS#8 because granian only
accepts that format; gunicorn, hypercorn and greenh2 read it as well. ECDSA P-256 keeps the
handshake cost equal and small for every server.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertPair:
    certfile: str
    keyfile: str


def make_cert(directory: str) -> CertPair:
    """Write bench.crt / bench.key (valid for localhost and 127.0.0.1) into *directory*."""
    os.makedirs(directory, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = x509.SubjectAlternativeName([
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    pair = CertPair(os.path.join(directory, "bench.crt"), os.path.join(directory, "bench.key"))
    with open(pair.keyfile, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(pair.certfile, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return pair
