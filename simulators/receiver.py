"""Customer webhook receiver simulator: verifies Standard Webhooks signatures, misbehaves on request.

`/_sim/behaviour` makes it fail the next N deliveries (status of choice, with Retry-After), answer
410 Gone, fail always ("down"), or answer slowly. With OAuth on, it issues client-credentials tokens
at `/oauth/token` and wants one of them as a bearer on every delivery, like a customer's own IdP.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Form, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from domain.webhooks import verify


class Behaviour(BaseModel):
    fail_next: int = 0
    failure_status: int = 500
    retry_after: int | None = None
    down: bool = False
    gone: bool = False
    delay_ms: int = 0
    oauth: bool = False
    location: str | None = None
    """Sent with the failures (a 302 with a Location tests that redirects are not followed)."""


@dataclass
class ReceiverState:
    behaviour: Behaviour = field(default_factory=Behaviour)
    named: dict[str, Behaviour] = field(default_factory=dict)
    """Behaviour of `/webhooks/{name}`, so one receiver can play several customers' endpoints."""
    secrets: list[str] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    client_id: str = "payflow"
    client_secret: str = "receiver-secret"
    tokens: list[str] = field(default_factory=list)
    token_ttl: int = 300
    numbers: itertools.count = field(default_factory=itertools.count)

    def delivered(self) -> list[dict[str, Any]]:
        return [r for r in self.received if 200 <= r["answered"] < 300]


def create_app() -> FastAPI:
    app = FastAPI(title="payflow customer webhook receiver")
    state = ReceiverState()
    app.state.sim = state

    @app.post("/webhooks")
    @app.post("/webhooks/{name}")
    async def receive(request: Request, name: str | None = None) -> Response:
        body = await request.body()
        msg_id = request.headers.get("webhook-id", "")
        timestamp = request.headers.get("webhook-timestamp", "0")
        header = request.headers.get("webhook-signature", "")
        valid = timestamp.isdigit() and any(
            verify(msg_id, int(timestamp), body, header, s) for s in state.secrets
        )
        authorization = request.headers.get("authorization")
        b = state.named.get(name or "", state.behaviour)
        if b.delay_ms:
            await asyncio.sleep(b.delay_ms / 1000)
        headers: dict[str, str] = {}
        if b.oauth and authorization not in {f"Bearer {t}" for t in state.tokens}:
            status = 401
        elif b.gone:
            status = 410
        elif b.down or b.fail_next > 0:
            b.fail_next = max(0, b.fail_next - 1)
            status = b.failure_status
            if b.retry_after is not None:
                headers["retry-after"] = str(b.retry_after)
            if b.location is not None:
                headers["location"] = b.location
        else:
            status = 200 if valid else 400
        state.received.append(
            {
                "endpoint": name,
                "webhook_id": msg_id,
                "timestamp": int(timestamp) if timestamp.isdigit() else None,
                "signature": header,
                "valid": valid,
                "body": body.decode(),
                "authorization": authorization,
                "answered": status,
            }
        )
        return Response(
            content='{"ok": %s}' % ("true" if status < 300 else "false"),
            status_code=status,
            media_type="application/json",
            headers=headers,
        )

    @app.post("/oauth/token")
    async def token(request: Request, grant_type: str = Form()) -> Response:
        auth = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(f"{state.client_id}:{state.client_secret}".encode()).decode()
        if grant_type != "client_credentials" or auth != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        issued = f"tok-{next(state.numbers)}"
        state.tokens.append(issued)
        return JSONResponse({"access_token": issued, "token_type": "Bearer", "expires_in": state.token_ttl})

    @app.post("/_sim/behaviour")
    async def set_behaviour(behaviour: Behaviour) -> Behaviour:
        state.behaviour = behaviour
        return behaviour

    @app.post("/_sim/secrets")
    async def set_secrets(secrets: list[str]) -> dict[str, int]:
        state.secrets = secrets
        return {"secrets": len(secrets)}

    @app.get("/_sim/received")
    async def received() -> dict[str, Any]:
        return {"received": state.received}

    return app
