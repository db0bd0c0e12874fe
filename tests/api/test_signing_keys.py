"""Token-signing keys: RFC 7638 kids, rotation through previous keys, and no API without a key file."""

from __future__ import annotations

import base64
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth import TokenService
from api.signing_keys import SigningKeyError, jwk, load_or_create_key, load_signing_keys
from infra.settings import Settings

RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
    "ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8K"
    "JZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xB"
    "niIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)


def test_kid_is_the_rfc_7638_thumbprint_of_the_rfc_example_key() -> None:
    n = int.from_bytes(base64.urlsafe_b64decode(RFC7638_N + "=" * (-len(RFC7638_N) % 4)), "big")
    public = rsa.RSAPublicNumbers(65537, n).public_key()
    key = jwk(public)
    assert key["kid"] == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    assert key["n"] == RFC7638_N and key["e"] == "AQAB"


def test_a_rotated_key_still_verifies_its_tokens_until_it_is_dropped(tmp_path: Path) -> None:
    old_path, new_path = tmp_path / "old.pem", tmp_path / "new.pem"
    old = load_or_create_key(old_path)
    original = Settings(jwt_private_key_path=old_path)
    before = TokenService(original, load_signing_keys(original))
    token = before.issue("c1", "demo", ["events"])["access_token"]

    load_or_create_key(new_path)
    public_only = tmp_path / "old.pub.pem"
    public_only.write_bytes(
        old.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    for previous in (old_path, public_only):  # the old key as it was, or only its public part
        rotated = Settings(jwt_private_key_path=new_path, jwt_previous_key_paths=f" {previous} ")
        after = TokenService(rotated, load_signing_keys(rotated))
        assert after.verify(token).client_id == "c1"
        assert [k["kid"] for k in after.jwks()["keys"]] == [after.kid, before.kid]
        fresh = after.issue("c2", "demo", [])["access_token"]
        assert jwt.get_unverified_header(fresh)["kid"] == after.kid != before.kid

    dropped = Settings(jwt_private_key_path=new_path)
    with pytest.raises(jwt.InvalidTokenError, match="unknown kid"):
        TokenService(dropped, load_signing_keys(dropped)).verify(token)


def test_the_api_has_no_key_unless_one_is_configured(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="PAYFLOW_JWT_PRIVATE_KEY_PATH is not set"):
        load_signing_keys(Settings(jwt_private_key_path=None))
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(SigningKeyError, match="does not exist"):
        load_signing_keys(Settings(jwt_private_key_path=missing))
    assert not missing.exists()  # never made up on the spot: a restart would invalidate every token
    missing.write_text("not a key")
    with pytest.raises(SigningKeyError, match="not a readable"):
        load_signing_keys(Settings(jwt_private_key_path=missing))


def test_a_generated_key_is_made_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "dev" / "jwt-signing-key.pem"
    first = load_or_create_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path).private_numbers() == first.private_numbers()
    assert [p.name for p in path.parent.iterdir()] == [path.name]
