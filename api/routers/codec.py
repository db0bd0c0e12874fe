"""The codec server (Temporal's remote-codec protocol) for the Temporal UI and CLI.

`POST /codec/decode` and `/codec/encode` take and answer `{"payloads": [{"metadata": {k: base64},
"data": base64}]}`. Temporal stores only ciphertext; these routes show it in clear to operators with
the `operator:codec` scope (`temporal workflow show --codec-endpoint …/codec --codec-auth "Bearer …"`):
an operator scope, since a payload may be any tenant's, which no tenant client can hold.
Browsers reach them from the UI's origins only (CORS on /codec/* alone). The dev UI has no OIDC and so
no token: with DEV_CODEC_OPEN_TO_UI (set by `payflow dev` only, refused unless the API's own URL is
a loopback one) a request from loopback carrying one of the UI's origins needs none.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.security import SecurityScopes
from pydantic import BaseModel, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload

from api.auth import Principal, TokenService, authorize, oauth2, tokens
from api.errors import ApiError
from infra.codec import CodecKeyError, EncryptionCodec
from infra.settings import Settings

router = APIRouter(prefix="/codec", tags=["codec"])
CODEC_SCOPES = ["operator:codec"]
PREFIX = "/codec/"


class WirePayload(BaseModel):
    """One payload as Temporal's JSON carries it: bytes in standard base64."""

    metadata: dict[str, str] = Field(default_factory=dict, max_length=50)
    data: str = ""


class WirePayloads(BaseModel):
    payloads: list[WirePayload] = Field(default_factory=list, max_length=1000)
    """Optional: proto3 JSON omits an empty list, as `temporal workflow metadata` sends it."""


def _bytes(value: str, where: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ApiError(400, "invalid_payload", f"{where} is not base64.") from err


def _from_wire(wire: WirePayload) -> Payload:
    metadata = {k: _bytes(v, f"metadata {k!r}") for k, v in wire.metadata.items()}
    return Payload(metadata=metadata, data=_bytes(wire.data, "data"))


def _to_wire(payload: Payload) -> WirePayload:
    return WirePayload(
        metadata={k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        data=base64.b64encode(payload.data).decode(),
    )


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_dev_mode(settings: Settings) -> None:
    """DEV_CODEC_OPEN_TO_UI outside a loopback-only API is a misconfiguration: refuse to start."""
    if settings.dev_codec_open_to_ui and not _loopback(urlsplit(settings.api_url).hostname):
        raise ValueError(
            "PAYFLOW_DEV_CODEC_OPEN_TO_UI lets the UI decode payloads without a token and is only "
            f"for `payflow dev` on loopback, but PAYFLOW_API_URL is {settings.api_url}"
        )


def origins(settings: Settings) -> list[str]:
    return [o.strip() for o in settings.codec_cors_origins.split(",") if o.strip()]


async def codec_caller(
    request: Request,
    security_scopes: SecurityScopes,
    authorization: str | None = Depends(oauth2),
    service: TokenService = Depends(tokens),
) -> Principal | None:
    """The operator's principal; none for the dev UI (see the module docstring)."""
    settings: Settings = request.app.state.settings
    if (
        settings.dev_codec_open_to_ui
        and request.headers.get("origin") in origins(settings)
        and _loopback(request.client.host if request.client else None)
    ):
        return None
    return await authorize(request, security_scopes, authorization, service)


async def _apply(
    body: WirePayloads, op: Callable[[Sequence[Payload]], Awaitable[list[Payload]]]
) -> WirePayloads:
    payloads = [_from_wire(p) for p in body.payloads]
    try:
        done = await op(payloads)
    except CodecKeyError as err:
        raise ApiError(400, "undecodable_payload", str(err)) from err
    return WirePayloads(payloads=[_to_wire(p) for p in done])


def _codec(request: Request) -> EncryptionCodec:
    codec: EncryptionCodec = request.app.state.codec
    return codec


@router.post("/decode", response_model=WirePayloads)
async def decode(
    request: Request, body: WirePayloads, _: Principal | None = Security(codec_caller, scopes=CODEC_SCOPES)
) -> WirePayloads:
    """Payloads as stored by Temporal → in clear (payloads this codec did not encrypt pass unchanged)."""
    return await _apply(body, _codec(request).decode)


@router.post("/encode", response_model=WirePayloads)
async def encode(
    request: Request, body: WirePayloads, _: Principal | None = Security(codec_caller, scopes=CODEC_SCOPES)
) -> WirePayloads:
    """Payloads in clear → encrypted with the newest key (what the UI sends, e.g. a signal's input)."""
    return await _apply(body, _codec(request).encode)


class CodecCors:
    """CORS on /codec/* only (preflight included): no other route is meant for a browser."""

    def __init__(self, app: ASGIApp, allow_origins: list[str]) -> None:
        self._app = app
        self._cors = CORSMiddleware(
            app,
            allow_origins=allow_origins,
            allow_methods=["POST"],
            allow_headers=["authorization", "content-type", "x-namespace"],
            allow_credentials=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self._cors(scope, receive, send)
        else:
            await self._app(scope, receive, send)


def install(app: FastAPI, settings: Settings, codec: EncryptionCodec) -> None:
    check_dev_mode(settings)
    app.state.codec = codec
    app.add_middleware(CodecCors, allow_origins=origins(settings))
    app.include_router(router)
