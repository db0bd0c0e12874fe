"""POST /connect/token (client_secret_basic, client_secret_post, private_key_jwt) and the JWKS that
verifies its tokens; the endpoint's defences against flooding and probing are in api/token_guard.py."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.assertions import JWT_BEARER, AssertionRefused, verify_assertion
from api.auth import TokenService, tokens
from api.token_guard import TokenGuard
from infra.settings import Settings
from store.clients import ClientStore

router = APIRouter(tags=["auth"])


def _oauth_error(status: int, error: str, description: str, basic: bool = False) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="payflow"' if basic else 'Bearer realm="payflow"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    return unquote_plus(user), unquote_plus(password)


async def _form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body: Any = await request.json()
        except ValueError:
            return {}
        return {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


@router.post(
    "/connect/token",
    summary="OAuth 2.0 client-credentials token",
    responses={
        400: {"description": "invalid_request / unsupported_grant_type / invalid_scope"},
        401: {"description": "invalid_client"},
        429: {"description": "too many token requests for this client id or source address"},
    },
)
async def token(request: Request, service: TokenService = Depends(tokens)) -> JSONResponse:
    form = await _form(request)
    basic = _basic(request.headers.get("authorization"))
    guard: TokenGuard = request.app.state.token_guard
    claimed = basic[0] if basic else form.get("client_id", "")
    wait = guard.retry_after(claimed, request.client.host if request.client else "")
    if wait is not None:
        error = _oauth_error(429, "slow_down", f"Too many token requests; retry in {wait} s.")
        error.headers["Retry-After"] = str(wait)
        return error
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Only grant_type=client_credentials is supported.")
    if sum([bool(basic), bool(form.get("client_secret")), bool(form.get("client_assertion"))]) > 1:
        return _oauth_error(400, "invalid_request", "Use one client authentication method, not two.")
    clients: ClientStore = request.app.state.clients
    if form.get("client_assertion"):
        if form.get("client_assertion_type") != JWT_BEARER:
            return _oauth_error(400, "invalid_request", f"client_assertion_type must be {JWT_BEARER}.")
        try:
            client_id = await verify_assertion(
                form["client_assertion"],
                form.get("client_id"),
                request.app.state.client_keys,
                _audiences(request.app.state.settings),
            )
        except AssertionRefused as err:
            return _oauth_error(401, "invalid_client", str(err))
        client = await clients.get(client_id)
        if client is None or client.revoked:
            return _oauth_error(401, "invalid_client", "Unknown or revoked client.")
    else:
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if not client_id or not secret:
            return _oauth_error(401, "invalid_client", "Client authentication is required.", basic=True)
        client = await clients.get(client_id)
        matches = await guard.secret_matches(secret, client.secret_hash if client else None)
        if client is None or client.revoked or not matches:
            return _oauth_error(
                401, "invalid_client", "Unknown client, revoked client or wrong secret.", bool(basic)
            )
    allowed = client.scopes.split()
    requested = form.get("scope", "").split() or allowed
    if not set(requested) <= set(allowed):
        extra = ", ".join(sorted(set(requested) - set(allowed)))
        return _oauth_error(400, "invalid_scope", f"Scope(s) not granted to this client: {extra}.")
    body = service.issue(client.client_id, client.tenant, requested)
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _audiences(settings: Settings) -> list[str]:
    """What a client may put in `aud` (RFC 7523 §3): this server's token endpoint as configured, or its
    issuer identifier; never derived from the request, whose Host header the client chooses."""
    return [f"{settings.api_url}/connect/token", settings.jwt_issuer]


@router.get("/.well-known/jwks.json", summary="Public keys that verify payflow access tokens")
async def jwks(service: TokenService = Depends(tokens)) -> dict[str, Any]:
    return service.jwks()
