"""OAuth 2.0 client credentials: RS256 access tokens signed by payflow, checked on every route.

Routes declare their scope with `Security(authorize, scopes=[...])`; a missing or bad token is 401,
a token without the scope is 403, both as problem+json with a WWW-Authenticate header. A client sends
the same token until it expires, so its verified claims are kept per token string until its `exp`
(a bounded LRU): the RS256 check runs once per token and process, not once per request.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2, SecurityScopes

from api.errors import ApiError
from payflow.settings import Settings
from store.clients import SCOPES

VERIFIED_TOKENS = 4096
"""Verified tokens kept per process: a few hundred bytes each; the least recently used goes first."""


def load_or_create_key(path: Path | None) -> rsa.RSAPrivateKey:
    """The token-signing key: read from `path`, created there if missing, ephemeral without a path."""
    if path is not None and path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} is not an RSA private key")
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        path.chmod(0o600)
    return key


@dataclass(frozen=True)
class Principal:
    client_id: str
    tenant: str
    scopes: frozenset[str]


class TokenService:
    def __init__(self, settings: Settings, key: rsa.RSAPrivateKey) -> None:
        self._settings = settings
        self._key = key
        self._public = key.public_key()
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        public = self._public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(public).digest()[:12]).decode().rstrip("=")

    def issue(self, client_id: str, tenant: str, scopes: list[str]) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "sub": client_id,
            "client_id": client_id,
            "tenant": tenant,
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + self._settings.token_ttl_s,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self._settings.token_ttl_s,
            "scope": claims["scope"],
        }

    def verify(self, token: str) -> Principal:
        """The token's principal; raises `jwt.PyJWTError` when it is not valid (now)."""
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            self._verified.move_to_end(token)
            return known[0]
        self._verified.pop(token, None)
        claims = jwt.decode(
            token,
            self._public,
            algorithms=["RS256"],
            audience=self._settings.jwt_audience,
            issuer=self._settings.jwt_issuer,
            options={"require": ["exp", "iss", "aud", "client_id", "tenant", "scope"]},
        )
        principal = Principal(claims["client_id"], claims["tenant"], frozenset(claims["scope"].split()))
        self._verified[token] = (principal, float(claims["exp"]))
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)
        return principal

    def jwks(self) -> dict[str, Any]:
        numbers = self._public.public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.kid,
                    "n": _b64int(numbers.n),
                    "e": _b64int(numbers.e),
                }
            ]
        }


def _b64int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


oauth2 = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(tokenUrl="/connect/token", scopes={s: s for s in SCOPES})
    ),
    auto_error=False,
)


async def tokens(request: Request) -> TokenService:
    """`async`: a plain `def` dependency would cost a thread-pool hop on every authorised request."""
    service: TokenService = request.app.state.tokens
    return service


async def authorize(
    security_scopes: SecurityScopes,
    authorization: str | None = Depends(oauth2),
    service: TokenService = Depends(tokens),
) -> Principal:
    challenge = f'Bearer scope="{security_scopes.scope_str}"' if security_scopes.scopes else "Bearer"
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(
            401,
            "unauthorized",
            "A bearer access token is required (POST /connect/token).",
            headers={"WWW-Authenticate": challenge},
        )
    try:
        principal = service.verify(authorization.split(" ", 1)[1].strip())
    except jwt.PyJWTError as err:
        raise ApiError(
            401,
            "invalid_token",
            f"The access token is not valid: {err}.",
            headers={"WWW-Authenticate": f'{challenge}, error="invalid_token"'},
        ) from err
    missing = [s for s in security_scopes.scopes if s not in principal.scopes]
    if missing:
        raise ApiError(
            403,
            "insufficient_scope",
            f"The access token lacks the scope(s): {', '.join(missing)}.",
            headers={"WWW-Authenticate": f'{challenge}, error="insufficient_scope"'},
        )
    return principal
