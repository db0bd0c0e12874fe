"""Verified access tokens are kept per token until they expire: one RS256 check per token, not per request."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api import auth
from api.auth import Principal, TokenService
from api.signing_keys import SigningKeys
from infra.settings import Settings


def _keys() -> SigningKeys:
    return SigningKeys(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
def service() -> TokenService:
    return TokenService(Settings(token_ttl_s=600), _keys())


def test_a_token_is_verified_once_then_served_from_the_cache(
    service: TokenService, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = service.issue("c1", "demo", ["events"])["access_token"]
    decoded = []
    real = jwt.decode
    monkeypatch.setattr(auth.jwt, "decode", lambda *a, **k: decoded.append(1) or real(*a, **k))
    principals = {service.verify(token) for _ in range(5)}
    assert principals == {Principal("c1", "demo", frozenset({"events"}))} and len(decoded) == 1


def test_an_entry_past_its_expiry_is_never_served(service: TokenService) -> None:
    token = service.issue("c1", "demo", ["events"])["access_token"]
    service.verify(token)
    stale = Principal("someone-else", "other-tenant", frozenset({"support"}))
    service._verified[token] = (stale, time.time() - 1)  # as if its exp had passed
    assert service.verify(token).client_id == "c1"  # verified again, not the stale entry

    expired = TokenService(Settings(token_ttl_s=-10), service._keys).issue("c1", "demo", [])["access_token"]
    with pytest.raises(jwt.ExpiredSignatureError):
        service.verify(expired)
    assert expired not in service._verified


def test_bad_tokens_are_refused_and_the_cache_is_bounded(
    service: TokenService, monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = TokenService(Settings(), _keys()).issue("c1", "demo", [])["access_token"]
    with pytest.raises(jwt.InvalidTokenError, match="unknown kid"):
        service.verify(foreign)
    claims = jwt.decode(foreign, options={"verify_signature": False})
    forged = jwt.encode(claims, _keys().current, algorithm="RS256", headers={"kid": service.kid})
    with pytest.raises(jwt.InvalidSignatureError):
        service.verify(forged)
    monkeypatch.setattr(auth, "VERIFIED_TOKENS", 3)
    tokens = [service.issue(f"c{n}", "demo", [])["access_token"] for n in range(5)]
    for token in tokens:
        service.verify(token)
    assert list(service._verified) == tokens[2:]  # the least recently used went first
