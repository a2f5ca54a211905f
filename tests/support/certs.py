"""Self-signed (CA-less) certificates for localhost / 127.0.0.1 / ::1."""
import datetime
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class CertPair:
    certfile: str
    keyfile: str


def _write_key(key, path):
    with open(path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )


def make_self_signed(directory, name="localhost", common_name="localhost"):
    """Create ``<name>.crt`` / ``<name>.key`` in *directory*; return a CertPair.

    The certificate is self-signed (it is its own issuer, usable as a --cacert
    trust anchor) and valid for DNS:localhost, IP:127.0.0.1 and IP:::1.
    """
    os.makedirs(directory, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile = os.path.join(directory, name + ".crt")
    keyfile = os.path.join(directory, name + ".key")
    with open(certfile, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, keyfile)
    return CertPair(certfile, keyfile)


def make_unrelated_key(directory, name="other"):
    """A private key that matches no certificate (for mismatch tests)."""
    os.makedirs(directory, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    path = os.path.join(directory, name + ".key")
    _write_key(key, path)
    return path
