"""The keys that sign and verify payflow's access tokens: one current key, any number of previous ones.

Every API process of a deployment must sign with the same key and every token must survive a restart,
so the key is a file (`PAYFLOW_JWT_PRIVATE_KEY_PATH`), never made up by the process: the API refuses to
start without it. `payflow dev` generates one once under its data dir. Rotation needs no downtime: the
new key becomes current and the old one moves to `PAYFLOW_JWT_PREVIOUS_KEY_PATHS`, where it still
verifies the tokens it signed and stays in the JWKS until it is removed (after the token TTL).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.settings import Settings

GENERATE_HINT = "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out"


class SigningKeyError(Exception):
    """The settings name no usable signing key; the message is one line an operator can act on."""


def jwk(public: rsa.RSAPublicKey) -> dict[str, str]:
    """The RSA public key as a JWK with its RFC 7638 thumbprint as `kid`."""
    numbers = public.public_numbers()
    members = {"e": _b64int(numbers.e), "kty": "RSA", "n": _b64int(numbers.n)}
    return members | {"use": "sig", "alg": "RS256", "kid": thumbprint(members)}


def thumbprint(members: dict[str, str]) -> str:
    """RFC 7638 §3: base64url SHA-256 of the required members (e, kty, n) as compact, sorted JSON."""
    canonical = json.dumps({k: members[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")


def _b64int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class SigningKeys:
    current: rsa.RSAPrivateKey
    previous: tuple[rsa.RSAPublicKey, ...] = ()

    @property
    def kid(self) -> str:
        return jwk(self.current.public_key())["kid"]

    def verifiers(self) -> dict[str, rsa.RSAPublicKey]:
        """Every key a token may be signed with, by kid: the current one and the previous ones."""
        publics = [self.current.public_key(), *self.previous]
        return {jwk(public)["kid"]: public for public in publics}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [jwk(public) for public in self.verifiers().values()]}


def load_signing_keys(settings: Settings) -> SigningKeys:
    """The keys the settings name; raises `SigningKeyError` when the current key is not there."""
    path = settings.jwt_private_key_path
    if path is None:
        raise SigningKeyError(
            "PAYFLOW_JWT_PRIVATE_KEY_PATH is not set: the API needs a persistent RSA signing key "
            f"shared by all its processes (create one with `{GENERATE_HINT} FILE`)"
        )
    if not path.is_file():
        raise SigningKeyError(
            f"PAYFLOW_JWT_PRIVATE_KEY_PATH={path} does not exist (create it with `{GENERATE_HINT} {path}`)"
        )
    current = _read(path)
    if not isinstance(current, rsa.RSAPrivateKey):
        raise SigningKeyError(f"{path} is not an RSA private key")
    previous = []
    for old in settings.jwt_previous_key_path_list:
        key = _read(old)
        if not isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            raise SigningKeyError(f"{old} is not an RSA key")
        previous.append(key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key)
    return SigningKeys(current, tuple(previous))


def _read(path: Path) -> Any:
    """A key from a PEM file: private, or public (enough for a previous key, which only verifies)."""
    try:
        pem = path.read_bytes()
        if b"PRIVATE KEY" in pem:
            return serialization.load_pem_private_key(pem, password=None)
        return serialization.load_pem_public_key(pem)
    except (OSError, ValueError, TypeError) as err:
        raise SigningKeyError(f"{path} is not a readable, unencrypted PEM key: {err}") from err


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    """The key at `path`, generated there (mode 0600) when missing: for `payflow dev` and test stacks,
    which keep theirs under their data dir. Written aside and linked into place, so processes racing
    to create it all end up with the one that won, never with a half-written file."""
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}")
        aside.touch(0o600)
        aside.write_bytes(pem)
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            aside.unlink()
    loaded = _read(path)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise SigningKeyError(f"{path} is not an RSA private key")
    return loaded
