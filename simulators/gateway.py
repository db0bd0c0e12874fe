"""Payment-gateway simulator (GePG-like): bills, control numbers, payments, cancellations, statements.

A real HTTP peer for `payflow dev` and the tests. It accepts bills and calls back with a control
number; `POST /payments` is a payer paying a control number at a PSP, which the gateway reports to
payflow (GetPaymentData); bills can be cancelled unless paid; `GET /statements` is the day's
statement for reconciliation; `POST /bills/bulk` bills a product's pool numbers at once.
`/_sim/behaviour` switches it: accept or refuse bills, answer 503, assign / duplicate / fail control
numbers, hold callbacks until `/_sim/release`, refuse cancels or statements.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import httpx
from fastapi import FastAPI, Header, Response
from pydantic import BaseModel, Field

CALLBACK_ATTEMPTS = 120
RETRY_DELAY_S = 0.5
MAX_RETRY_AFTER_S = 30.0


def retry_after(response: httpx.Response) -> float | None:
    """The server's Retry-After in seconds (capped), when it sent one as a number."""
    try:
        return min(float(response.headers["retry-after"]), MAX_RETRY_AFTER_S)
    except (KeyError, ValueError):
        return None


class Behaviour(BaseModel):
    ack: Literal["accept", "refuse", "unavailable"] = "accept"
    callback: Literal["assign", "duplicate", "error", "hold"] = "assign"
    cancel: Literal["accept", "refuse"] = "accept"
    statement: Literal["answer", "refuse"] = "answer"
    delay_ms: int = 100


class PayBill(BaseModel):
    """A payer pays a control number at a PSP (mobile money, bank)."""

    control_number: str
    amount: str | None = None
    """Defaults to the bill's amount; required for a control number the gateway did not issue."""
    payer_phone: str | None = None
    psp: str = "M-Pesa"
    paid_on: date | None = None
    notify: bool = True
    """False: the gateway keeps the payment to itself until reconciliation finds it."""


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
    payment_url: str | None = None


class BulkOrder(BaseModel):
    """Bills for a product's control-number pool (GePG bulk `gepgBillSubReq`), answered at once."""

    request_key: str
    product_code: str
    amount: str
    expires_at: str
    count: int = Field(ge=1, le=1000)


@dataclass
class GatewayState:
    behaviour: Behaviour = field(default_factory=Behaviour)
    bills: dict[str, dict[str, Any]] = field(default_factory=dict)
    replies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    held: list[tuple[Bill, str]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    statements: list[dict[str, Any]] = field(default_factory=list)
    """Statements delivered by callback (GePG's `gepgSpReconcResp`), with payflow's answers."""
    api_url: str | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    numbers: itertools.count = field(default_factory=lambda: itertools.count(secrets.randbelow(10**8)))

    def next_control_number(self) -> str:
        return f"99{next(self.numbers):010d}"

    def refused(self) -> int:
        """How many of payflow's answers to payment notifications were 4xx (final refusals)."""
        return sum(400 <= a < 500 and a != 401 for n in self.notifications for a in n["answers"])


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


@dataclass(frozen=True)
class Outbound:
    """What the simulator sends payflow: `summary` is the JSON body (and the log entry); `content`,
    when set, is sent instead (the GePG simulator's signed XML)."""

    summary: dict[str, Any]
    content: bytes | None = None


class JsonWire:
    """payflow's JSON protocol: openIMIS GetReqControlNumber and GetPaymentData bodies."""

    def control_number(self, bill: Bill, cn: str | None) -> Outbound:
        body: dict[str, Any] = {"control_number": cn, "error_occured": cn is None}
        if cn is None:
            body["error_message"] = "7201:Failure"
        return Outbound({"bill_id": bill.bill_id, "internal_identifier": bill.bill_id, **body})

    def payment(self, record: dict[str, Any], bill: dict[str, Any] | None) -> Outbound:
        return Outbound(payment_data(record))


@dataclass(frozen=True)
class Operations:
    """The gateway's behaviour, for a simulator of another wire (simulators/gepg.py) to reuse:
    `submit(bill, key)` and `cancel(reference)` answer (HTTP status, reply with its GePG code);
    `send(url, message, log)` delivers a message of its own in the background, retried as callbacks are."""

    submit: Callable[[Bill, str], tuple[int, dict[str, Any]]]
    cancel: Callable[[str], tuple[int, dict[str, Any]]]
    send: Callable[[str, Outbound, list[dict[str, Any]]], None]


def create_app(
    credentials: ApiCredentials | None = None, wire: JsonWire | None = None, title: str = "gateway"
) -> FastAPI:
    credentials = credentials or credentials_from_env()
    out = wire or JsonWire()
    app = FastAPI(title=f"payflow {title} simulator")
    state = GatewayState(
        api_url=credentials.token_url.removesuffix("/connect/token") if credentials else None
    )
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

    async def deliver(url: str, message: Outbound, log: list[dict[str, Any]]) -> None:
        """POST to payflow until it answers below 500, as a real gateway does: a 5xx or a connection
        error is retried (after its Retry-After, if any), a 4xx is final. Logs the final answer, the
        status of every attempt (`answers`, 0 for a connection error) and each Retry-After honoured."""
        answers: list[int] = []
        waits: list[float | None] = []
        attempts = {"answers": answers, "waits": waits}
        body = message.summary
        send: dict[str, Any] = (
            {"json": body}
            if message.content is None
            else {"content": message.content, "headers": {"Content-Type": "application/xml"}}
        )
        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(CALLBACK_ATTEMPTS):
                delay = None
                try:
                    headers = {**send.get("headers", {}), **await token(http)}
                    r = await http.post(
                        url, **{k: v for k, v in send.items() if k != "headers"}, headers=headers
                    )
                    answers.append(r.status_code)
                    if r.status_code == 401 and credentials:
                        credentials.token = None
                    if r.status_code < 500 and r.status_code != 401:
                        log.append({"status": r.status_code, "answer": r.text, **attempts, **body})
                        return
                    delay = retry_after(r)
                except httpx.HTTPError:
                    answers.append(0)
                waits.append(delay)
                await asyncio.sleep(delay or RETRY_DELAY_S)
            log.append({"status": None, "answer": "gave up", **attempts, **body})

    async def call_back(bill: Bill, kind: str) -> None:
        await asyncio.sleep(state.behaviour.delay_ms / 1000)
        cn = None
        if kind != "error":
            issued = [b["control_number"] for b in state.bills.values() if b.get("control_number")]
            cn = issued[-1] if kind == "duplicate" and issued else state.next_control_number()
            state.bills[bill.reference]["control_number"] = cn
        await deliver(bill.callback_url, out.control_number(bill, cn), state.callbacks)

    def background(coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    def schedule(bill: Bill, kind: str) -> None:
        background(call_back(bill, kind))

    def bill_of(control_number: str) -> dict[str, Any] | None:
        return next((b for b in state.bills.values() if b.get("control_number") == control_number), None)

    def submit(bill: Bill, idempotency_key: str) -> tuple[int, dict[str, Any]]:
        if idempotency_key in state.replies:
            return state.replies[idempotency_key]
        behaviour = state.behaviour
        if behaviour.ack == "unavailable":
            return 503, {"code": "7201", "message": "Service unavailable"}
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
        return status, reply

    @app.post("/bills")
    async def post_bill(bill: Bill, response: Response, idempotency_key: str = Header()) -> dict[str, Any]:
        response.status_code, reply = submit(bill, idempotency_key)
        return reply

    @app.post("/bills/bulk")
    async def post_bulk(
        order: BulkOrder, response: Response, idempotency_key: str = Header()
    ) -> dict[str, Any]:
        """`count` bills with their numbers in the reply; `ack` refuses or fails them as for one
        bill, and `callback: duplicate` puts a number already issued last in the batch."""
        if idempotency_key in state.replies:
            response.status_code, reply = state.replies[idempotency_key]
            return reply
        if state.behaviour.ack == "unavailable":
            response.status_code = 503
            return {"code": "7201", "message": "Service unavailable"}
        if state.behaviour.ack == "refuse":
            status, reply = 400, {"code": "7242", "message": "Invalid Request Data"}
        else:
            issued = [b["control_number"] for b in state.bills.values() if b.get("control_number")]
            batch = secrets.token_hex(4)
            bills = []
            for n in range(1, order.count + 1):
                duplicate = state.behaviour.callback == "duplicate" and n == order.count and issued
                cn = issued[-1] if duplicate else state.next_control_number()
                bill = {"bill_id": f"pool-{batch}-{n}", "control_number": cn}
                state.bills[bill["bill_id"]] = {**bill, "amount": order.amount, "pooled": order.product_code}
                bills.append(bill)
            status, reply = 200, {"code": "7101", "message": "Successful", "bills": bills}
        state.replies[idempotency_key] = (status, reply)
        response.status_code = status
        return reply

    @app.post("/payments", status_code=201)
    async def pay(payment: PayBill, response: Response) -> dict[str, Any]:
        bill = bill_of(payment.control_number)
        if bill is not None and bill.get("cancelled"):
            response.status_code = 409
            return {"code": "7283", "message": "Bill has been cancelled"}
        amount = payment.amount or (bill["amount"] if bill else None)
        if amount is None:
            response.status_code = 422
            return {
                "code": "7242",
                "message": "amount is required for a control number this gateway did not issue",
            }
        n = len(state.payments) + 1
        paid_on = payment.paid_on or datetime.now(UTC).date()
        record = {
            "control_number": payment.control_number,
            "transaction_id": f"TX{n:06d}{secrets.token_hex(2).upper()}",
            "receipt": f"RC{n:06d}",
            "amount": amount,
            "paid_on": paid_on.isoformat(),
            "payer_phone": payment.payer_phone,
            "psp": payment.psp,
        }
        state.payments.append(record)
        if bill is not None:
            bill["paid"] = True
        url = (bill or {}).get("payment_url") or (
            f"{state.api_url}/api/GetPaymentData" if state.api_url else None
        )
        if payment.notify and url:
            background(deliver(url, out.payment(record, bill), state.notifications))
        return record

    def cancel_bill(reference: str) -> tuple[int, dict[str, Any]]:
        bill = state.bills.get(reference)
        if bill is None:
            return 404, {"status": "GF", "code": "7201", "message": "Bill not found"}
        if bill.get("paid") or state.behaviour.cancel == "refuse":
            return 409, {"status": "GF", "code": "7279", "message": "Bill already settled"}
        bill["cancelled"] = True
        return 200, {"status": "GS", "code": "7101", "message": "Successful"}

    def send(url: str, message: Outbound, log: list[dict[str, Any]]) -> None:
        background(deliver(url, message, log))

    app.state.operations = Operations(submit, cancel_bill, send)

    @app.post("/bills/{reference}/cancel")
    async def cancel(reference: str, response: Response) -> dict[str, Any]:
        response.status_code, reply = cancel_bill(reference)
        return reply

    @app.get("/statements")
    async def statement(day: date, response: Response) -> dict[str, Any]:
        if state.behaviour.statement == "refuse":
            response.status_code = 403
            return {"error": "statement refused"}
        return {
            "date": day.isoformat(),
            "transactions": [p for p in state.payments if p["paid_on"] == day.isoformat()],
        }

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
        return {
            "bills": list(state.bills.values()),
            "callbacks": state.callbacks,
            "held": len(state.held),
            "payments": state.payments,
            "notifications": state.notifications,
        }

    return app


def payment_data(payment: dict[str, Any]) -> dict[str, Any]:
    """The openIMIS GetPaymentData body a gateway sends for a payment."""
    return {
        "control_number": payment["control_number"],
        "transaction_identification": payment["transaction_id"],
        "receipt_identification": payment["receipt"],
        "received_amount": payment["amount"],
        "received_date": payment["paid_on"],
        "payment_date": payment["paid_on"],
        "payment_origin": payment["psp"],
        "payer_phone_number": payment["payer_phone"],
    }
