"""Graceful overload (issue 11): starts beyond the admission limit answer 503 + Retry-After at once,
in the route's shape, and leave nothing behind; the stack serves normally right after the burst."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable

import httpx
from sqlmodel import col, func, select

from domain.control_number import is_valid
from store.models import Payment, PaymentNotification, SmsMessage
from tests.api.helpers import count, intent, wait_for, workflows_on
from tests.faults.outages.helpers import eventually
from tests.stack import Stack, StackFactory

BURST = 100
LIMIT = 5


def assert_shed(r: httpx.Response, openimis: bool) -> None:
    assert r.status_code == 503, (r.request.url.path, r.status_code, r.text)
    assert r.headers["retry-after"] == "1"
    body = r.json()
    if openimis:
        assert r.headers["content-type"] == "application/json"
        assert body["error_occured"] is True and "Too many" in body["error_message"], body
    else:
        assert r.headers["content-type"] == "application/problem+json"
        assert (body["status"], body["code"]) == (503, "overloaded"), body


async def _sms_per_payment(stack: Stack) -> dict[int, int]:
    async with stack.sessions() as s:
        q = select(SmsMessage.payment_id, func.count()).group_by(col(SmsMessage.payment_id))
        return {int(p): int(n) for p, n in (await s.exec(q)).all() if p is not None}


async def test_a_burst_beyond_the_limit_is_shed_and_leaves_nothing_half_started(
    make_stack: StackFactory,
) -> None:
    async with make_stack(cn_mode="internal", max_inflight_starts=LIMIT) as stack:
        await stack.token("eo")  # fetched once, before the burst
        answers = await asyncio.gather(
            *[stack.post("/api/GetControlNumber", json=intent()) for _ in range(BURST)]
        )
        assert set(Counter(r.status_code for r in answers)) <= {200, 503}
        ok = [r.json() for r in answers if r.status_code == 200]
        shed = [r for r in answers if r.status_code == 503]
        admission = stack.app.state.admission
        assert ok and shed and admission.peak == LIMIT and admission.refused == len(shed)
        for r in shed:
            assert_shed(r, openimis=True)
        assert all(a["error_occured"] is False for a in ok), ok

        # Every 200 is one payment with its own control number and one SMS (an answer given before the
        # worker took its intent up names the intent); the 503s left no payment and no workflow.
        named = {a["internal_identifier"] for a in ok}
        payments: list[Payment] = []
        sms: dict[int, int] = {}

        async def all_done() -> bool:
            async with stack.sessions() as s:
                payments[:] = (await s.exec(select(Payment))).all()
            sms.update(await _sms_per_payment(stack))
            return len(payments) >= len(ok) and all(p.control_number and p.id in sms for p in payments)

        await eventually(all_done, "a control number and an SMS for every admitted intent")
        assert len(payments) == len(ok) == len(named)
        assert all(str(p.id) in named or p.intent_id in named for p in payments)
        assert all(is_valid(p.control_number) for p in payments)
        assert {a["control_number"] for a in ok} - {None} <= {p.control_number for p in payments}
        assert len({p.control_number for p in payments}) == len(ok) and set(sms.values()) == {1}
        await eventually(lambda: _at_least(workflows_on(stack), len(ok)), "the admitted workflows")
        assert await workflows_on(stack) == len(ok)

        # The burst is over: the next start is served normally, with nothing queued ahead of it.
        assert admission.in_flight == 0
        r = await stack.post("/api/GetControlNumber", json=intent())
        assert r.status_code == 200 and r.json()["control_number"], r.text


async def test_every_start_path_sheds_in_its_own_shape_while_the_limit_is_taken(
    make_stack: StackFactory,
) -> None:
    """One start holds the only slot (no worker answers it); meanwhile each start path answers 503."""
    overrides = {"cn_mode": "internal", "cn_wait_s": 0.2, "start_timeout_s": 2.0}
    async with make_stack(with_worker=False, max_inflight_starts=1, **overrides) as stack:
        admission = stack.app.state.admission
        held = asyncio.create_task(stack.post("/api/GetControlNumber", json=intent()))
        await wait_for(lambda: admission.in_flight == 1, "the first start to take the slot")

        key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
        v1 = {
            "phone_number": "0681333045",
            "request_date": "2026-11-20",
            "policies": [{"insurance_number": "070707070", "product_code": "FCUL0001", "renewal": True}],
        }
        assert_shed(await stack.post("/v1/payment-intents", json=v1, headers=key), openimis=False)
        assert_shed(await stack.post("/v1/cases", as_="claims", json={"number": "4711"}), openimis=False)
        unpaid = {
            "transaction_identification": "TX-SHED",
            "receipt_identification": "R-SHED",
            "received_amount": 23000,
            "received_date": "2026-11-22",
            "payment_date": "2026-11-22",
            "payment_origin": "M-Pesa",
            "payer_phone_number": "0754999888",
            "insurance_number": "070707070",
            "insurance_product_code": "FCUL0001",
            "renewal": 1,
        }
        assert_shed(await stack.post("/api/GetPaymentData", as_="gateway", json=unpaid), openimis=True)
        async with stack.sessions() as s:
            [logged] = (await s.exec(select(PaymentNotification))).all()
        assert (logged.transaction_id, logged.outcome) == ("TX-SHED", "unavailable")

        # The held start answers within its bounded wait, with the intent it started (no worker yet).
        first = (await held).json()
        assert first["error_occured"] is False and first["control_number"] is None, first
        await eventually(lambda: _at_least(workflows_on(stack), 1), "the held start's workflow")
        assert await workflows_on(stack) == 1 and await count(stack, Payment) == 0
        assert admission.in_flight == 0 and admission.refused == 3


async def _at_least(found: Awaitable[int], wanted: int) -> bool:
    return await found >= wanted
