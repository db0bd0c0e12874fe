"""Payment-gateway simulator (GePG-like): accepts bills, then calls back with a control number.

A real HTTP peer for `payflow dev` and the tests. Its behaviour is set through `/_sim/behaviour`:
accept or refuse bills, answer 503, assign / duplicate / fail control numbers, or hold callbacks
until `/_sim/release` (to test a worker that dies while a bill is out).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from fastapi import FastAPI, Header, Response
from pydantic import BaseModel

CALLBACK_ATTEMPTS = 120


class Behaviour(BaseModel):
    ack: Literal["accept", "refuse", "unavailable"] = "accept"
    callback: Literal["assign", "duplicate", "error", "hold"] = "assign"
    delay_ms: int = 100


class BillItem(BaseModel):
    ref: str
    amount: str
    product_code: str | None = None
    insurance_number: str | None = None


class Bill(BaseModel):
    bill_id: str
    reference: str
    amount: str
    currency: str = "TZS"
    payer_phone: str | None = None
    payer_id: str | None = None
    expires_at: str | None = None
    items: list[BillItem] = []
    callback_url: str


@dataclass
class GatewayState:
    behaviour: Behaviour = field(default_factory=Behaviour)
    bills: dict[str, dict[str, Any]] = field(default_factory=dict)
    replies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    held: list[tuple[Bill, str]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    numbers: itertools.count = field(default_factory=lambda: itertools.count(secrets.randbelow(10**8)))

    def next_control_number(self) -> str:
        return f"99{next(self.numbers):010d}"


@dataclass
class ApiCredentials:
    token_url: str
    client_id: str
    client_secret: str
    token: str | None = None


def credentials_from_env() -> ApiCredentials | None:
    """Credentials for `uvicorn --factory` runs: PAYFLOW_SIM_TOKEN_URL, _CLIENT_ID, _CLIENT_SECRET."""
    url, client_id, secret = (
        os.environ.get(f"PAYFLOW_SIM_{k}") for k in ("TOKEN_URL", "CLIENT_ID", "CLIENT_SECRET")
    )
    return ApiCredentials(url, client_id, secret) if url and client_id and secret else None


def create_app(credentials: ApiCredentials | None = None) -> FastAPI:
    credentials = credentials or credentials_from_env()
    app = FastAPI(title="payflow gateway simulator")
    state = GatewayState()
    app.state.sim = state

    async def token(http: httpx.AsyncClient) -> dict[str, str]:
        if credentials is None:
            return {}
        if credentials.token is None:
            r = await http.post(
                credentials.token_url,
                data={"grant_type": "client_credentials", "scope": "gateway"},
                auth=(credentials.client_id, credentials.client_secret),
            )
            r.raise_for_status()
            credentials.token = r.json()["access_token"]
        return {"Authorization": f"Bearer {credentials.token}"}

    async def call_back(bill: Bill, kind: str) -> None:
        await asyncio.sleep(state.behaviour.delay_ms / 1000)
        if kind == "error":
            body: dict[str, Any] = {
                "internal_identifier": bill.bill_id,
                "control_number": None,
                "error_occured": True,
                "error_message": "7201:Failure",
            }
        else:
            issued = [b["control_number"] for b in state.bills.values() if b.get("control_number")]
            cn = issued[-1] if kind == "duplicate" and issued else state.next_control_number()
            state.bills[bill.reference]["control_number"] = cn
            body = {"internal_identifier": bill.bill_id, "control_number": cn, "error_occured": False}
        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(CALLBACK_ATTEMPTS):
                try:
                    r = await http.post(bill.callback_url, json=body, headers=await token(http))
                    if r.status_code == 401 and credentials:
                        credentials.token = None
                    if r.status_code < 500 and r.status_code != 401:
                        state.callbacks.append({"bill_id": bill.bill_id, "status": r.status_code, **body})
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)

    def schedule(bill: Bill, kind: str) -> None:
        task = asyncio.create_task(call_back(bill, kind))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    @app.post("/bills")
    async def post_bill(bill: Bill, response: Response, idempotency_key: str = Header()) -> dict[str, Any]:
        if idempotency_key in state.replies:
            response.status_code, reply = state.replies[idempotency_key]
            return reply
        behaviour = state.behaviour
        if behaviour.ack == "unavailable":
            response.status_code = 503
            return {"code": "7201", "message": "Service unavailable"}
        if behaviour.ack == "refuse":
            status, reply = 400, {"code": "7242", "message": "Invalid Request Data"}
        else:
            status, reply = 200, {"code": "7101", "message": "Successful", "bill_id": bill.bill_id}
            state.bills[bill.reference] = bill.model_dump()
            if behaviour.callback == "hold":
                state.held.append((bill, "assign"))
            else:
                schedule(bill, behaviour.callback)
        state.replies[idempotency_key] = (status, reply)
        response.status_code = status
        return reply

    @app.post("/_sim/behaviour")
    async def set_behaviour(behaviour: Behaviour) -> Behaviour:
        state.behaviour = behaviour
        return behaviour

    @app.post("/_sim/release")
    async def release() -> dict[str, int]:
        held, state.held = state.held, []
        for bill, kind in held:
            schedule(bill, kind)
        return {"released": len(held)}

    @app.get("/_sim/bills")
    async def bills() -> dict[str, Any]:
        return {"bills": list(state.bills.values()), "callbacks": state.callbacks, "held": len(state.held)}

    return app
