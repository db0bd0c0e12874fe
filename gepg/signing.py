"""GePG signatures: RSA-SHA1, PKCS#1 v1.5, over the UTF-8 bytes of the inner element, Base64.

Each side signs with its own private key (a PKCS#12 file and its password, as GePG issues them) and
verifies with the other side's public certificate. SHA-1 is GePG's choice, not ours: the protocol
fixes it, so it is kept here and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12


@dataclass(frozen=True)
class Signer:
    key: rsa.RSAPrivateKey

    def sign(self, content: bytes) -> str:
        return base64.b64encode(self.key.sign(content, padding.PKCS1v15(), hashes.SHA1())).decode()


@dataclass(frozen=True)
class Verifier:
    key: rsa.RSAPublicKey

    def valid(self, content: bytes, signature: str) -> bool:
        try:
            raw = base64.b64decode(signature.strip(), validate=True)
            self.key.verify(raw, content, padding.PKCS1v15(), hashes.SHA1())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


def signer_from_pkcs12(path: Path, password: str) -> Signer:
    key, _, _ = pkcs12.load_key_and_certificates(path.read_bytes(), password.encode() or None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} holds no RSA private key")
    return Signer(key)


def verifier_from_certificate(path: Path) -> Verifier:
    """The peer's public certificate, PEM or DER."""
    data = path.read_bytes()
    cert = (
        x509.load_pem_x509_certificate(data)
        if b"-----BEGIN" in data
        else x509.load_der_x509_certificate(data)
    )
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path} holds no RSA public key")
    return Verifier(key)
