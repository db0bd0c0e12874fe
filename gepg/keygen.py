"""Key pairs for the dev stack and the tests: an RSA key with a self-signed certificate per side, our
side as the PKCS#12 file GePG would issue. Real deployments use the files GePG hands out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


def identity(name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def write_pkcs12(path: Path, name: str, password: str) -> Path:
    """A PKCS#12 file (key and certificate) at `path`, made once; returns the certificate's path."""
    cert_path = path.with_suffix(".crt")
    if not path.exists():
        key, cert = identity(name)
        path.write_bytes(
            pkcs12.serialize_key_and_certificates(
                name.encode(), key, cert, None, serialization.BestAvailableEncryption(password.encode())
            )
        )
        path.chmod(0o600)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path
