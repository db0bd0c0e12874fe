"""OAuth 2.0 client credentials: RS256 access tokens signed by payflow, checked on every route.

Routes declare their scope with `Security(authorize, scopes=[...])`; a missing or bad token is 401,
a token without the scope is 403, both as problem+json with a WWW-Authenticate header. A client sends
the same token until it expires, so its verified claims are kept per token string until its `exp`
(a bounded LRU): the RS256 check runs once per token and process, not once per request.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import Depends, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2, SecurityScopes

from api.errors import ApiError
from api.revocations import Revocations
from api.signing_keys import SigningKeys
from infra.settings import Settings
from store.clients import OPERATOR_SCOPES, SCOPES

VERIFIED_TOKENS = 4096
"""Verified tokens kept per process: a few hundred bytes each; the least recently used goes first."""


@dataclass(frozen=True)
class Principal:
    client_id: str
    tenant: str
    scopes: frozenset[str]


class TokenService:
    """Issues tokens signed with the current key; verifies those signed with any key still listed."""

    def __init__(self, settings: Settings, keys: SigningKeys) -> None:
        self._settings = settings
        self._keys = keys
        self._verifiers = keys.verifiers()
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self.kid = keys.kid

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
        token = jwt.encode(claims, self._keys.current, algorithm="RS256", headers={"kid": self.kid})
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
        kid = jwt.get_unverified_header(token).get("kid")
        key = self._verifiers.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise jwt.InvalidTokenError("it is not signed by a key of this server (unknown kid)")
        claims = jwt.decode(
            token,
            key,
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
        return self._keys.jwks()


oauth2 = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl="/connect/token", scopes={s: s for s in (*SCOPES, *OPERATOR_SCOPES)}
        )
    ),
    auto_error=False,
)


async def tokens(request: Request) -> TokenService:
    """`async`: a plain `def` dependency would cost a thread-pool hop on every authorised request."""
    service: TokenService = request.app.state.tokens
    return service


async def authorize(
    request: Request,
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
    revocations: Revocations = request.app.state.revocations
    if await revocations.revoked(principal.client_id):
        raise ApiError(
            401,
            "invalid_token",
            "The access token's client has been revoked.",
            headers={"WWW-Authenticate": f'{challenge}, error="invalid_token"'},
        )
    request.state.tenant = principal.tenant  # for the request's log line (api/telemetry.py)
    missing = [s for s in security_scopes.scopes if s not in principal.scopes]
    if missing:
        raise ApiError(
            403,
            "insufficient_scope",
            f"The access token lacks the scope(s): {', '.join(missing)}.",
            headers={"WWW-Authenticate": f'{challenge}, error="insufficient_scope"'},
        )
    return principal
