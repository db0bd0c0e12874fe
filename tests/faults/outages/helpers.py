"""Helpers of the fault tests: intents to pay, payment bodies, the audit log, the API's failure lines."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from store.models import Payment, PaymentNotification
from tests.api.helpers import intent
from tests.stack import Stack

SELF_PAYER = {"enrolment_officer_code": None}
"""A self-payer renewal of the demo family: paid in full, it is matched (5) at once."""


async def assigned_intent(stack: Stack, **changes: Any) -> Payment:
    """A payment intent with its control number, through GetControlNumber."""
    r = await stack.post("/api/GetControlNumber", json=intent(**(SELF_PAYER | changes)))
    answer = r.json()
    assert r.status_code == 200 and answer["control_number"], r.text
    return await payment(stack, int(answer["internal_identifier"]))


async def payment(stack: Stack, payment_id: int) -> Payment:
    async with stack.sessions() as s:
        found = await s.get(Payment, payment_id)
    assert found is not None
    return found


def payment_data(bill: Payment, transaction_id: str) -> dict[str, Any]:
    """The GetPaymentData body a gateway sends for a payment of `bill`."""
    return {
        "control_number": bill.control_number,
        "transaction_identification": transaction_id,
        "receipt_identification": f"R-{transaction_id}",
        "received_amount": str(bill.amount_to_be_paid),
        "received_date": "2026-11-22",
        "payment_date": "2026-11-22",
        "payment_origin": "M-Pesa",
        "payer_phone_number": "0754111222",
    }


async def audit_log(stack: Stack, transaction_id: str | None = None) -> list[PaymentNotification]:
    q = select(PaymentNotification).order_by(col(PaymentNotification.id))
    if transaction_id is not None:
        q = q.where(PaymentNotification.transaction_id == transaction_id)
    async with stack.sessions() as s:
        return list((await s.exec(q)).all())


def assert_retryable(r: httpx.Response, openimis: bool) -> None:
    """503 with Retry-After, in the openIMIS shape on /api/* and as problem+json elsewhere."""
    assert r.status_code == 503, (r.request.url.path, r.status_code, r.text)
    assert r.headers["retry-after"] == "5", r.headers
    body = r.json()
    if openimis:
        assert body["error_occured"] is True and body["error_message"], body
        assert r.headers["content-type"] == "application/json", r.headers
    else:
        assert r.headers["content-type"] == "application/problem+json", r.headers
        assert body["status"] == 503 and body["code"], body


def failure_lines(log: pytest.LogCaptureFixture) -> list[str]:
    """The API's warning lines for failed requests; fails when the API logged a traceback or an error."""
    api = [r for r in log.records if r.name.startswith(("payflow.api", "uvicorn"))]
    tracebacks = [r.getMessage() for r in api if r.exc_info or r.levelno >= logging.ERROR]
    assert not tracebacks, tracebacks
    return [r.getMessage() for r in api if r.name == "payflow.api" and r.levelno == logging.WARNING]


def is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 30.0) -> None:
    """Poll an async condition on real peers (the store, the API), bounded in time."""
    try:
        async with asyncio.timeout(within):
            while not await check():  # noqa: ASYNC110 - the state lives in other peers
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def quiet(stack: Stack) -> bool:
    """Is every workflow of the stack waiting (no activity or workflow task in flight)? A server killed
    then loses no task result, which would come back only after its 30 s StartToClose timeout."""
    async for found in stack.temporal.list_workflows(f"TaskQueue = '{stack.settings.task_queue}'"):
        raw = (await stack.temporal.get_workflow_handle(found.id).describe()).raw_description
        if raw.pending_activities or raw.HasField("pending_workflow_task"):
            return False
    return True


async def status_is(stack: Stack, payment_id: int, status: int) -> bool:
    return (await payment(stack, payment_id)).status == status
