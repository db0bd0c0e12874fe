"""Temporal unreachable: every call that needs it is a 503 to retry, never a refusal (issue 9, 10 and 13).

The stack runs on a Temporal dev server of the test's own, killed while requests arrive and started
again on the same SQLite file: a payment notified meanwhile is recorded by the gateway's retry, a
create answered 503 started nothing, a cancel answered 503 is not refused. The API logs one line per
failed request, without a traceback.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import col

from store.models import Payment, PaymentReceipt
from tests.api.helpers import count, intent, workflows_on
from tests.faults.outages.helpers import (
    assert_retryable,
    assigned_intent,
    audit_log,
    failure_lines,
    payment,
    payment_data,
)
from tests.faults.outages.peers import TemporalServer
from tests.stack import StackFactory

V1_INTENT = {
    "phone_number": "0681333045",
    "request_date": "2026-11-20",
    "policies": [{"insurance_number": "070707070", "product_code": "FCUL0001", "renewal": True}],
}


async def test_payment_notified_while_temporal_is_down_is_503_then_recorded_by_the_retry(
    temporal: TemporalServer, own_stack: StackFactory, api_log: pytest.LogCaptureFixture
) -> None:
    async with own_stack(cn_mode="internal") as stack:
        bill = await assigned_intent(stack)
        body = payment_data(bill, "TX-OUTAGE-1")
        await temporal.stop()

        r = await stack.post("/api/GetPaymentData", as_="gateway", json=body)
        assert_retryable(r, openimis=True)  # was 400 "3-Wrong control_number": final for a gateway
        assert (await payment(stack, bill.id)).status == 3  # type: ignore[arg-type]
        [line] = failure_lines(api_log)
        assert "/api/GetPaymentData" in line and "UNAVAILABLE" in line, line

        await temporal.start()
        r = await stack.post("/api/GetPaymentData", as_="gateway", json=body)
        assert r.status_code == 200 and r.json()["code"] == 0, r.text
        log = await audit_log(stack, "TX-OUTAGE-1")
        assert [(n.outcome, n.attempt, n.accepted) for n in log] == [
            ("unavailable", 1, False),
            ("accepted", 2, True),
        ]
        assert await count(stack, PaymentReceipt) == 1


async def test_every_call_needing_temporal_is_503_and_starts_nothing(
    temporal: TemporalServer, own_stack: StackFactory, api_log: pytest.LogCaptureFixture
) -> None:
    async with own_stack(cn_mode="internal") as stack:
        bill = await assigned_intent(stack)
        assert bill.id is not None
        await temporal.stop()

        calls = {
            "GetControlNumber": stack.post("/api/GetControlNumber", json=intent()),
            "create": stack.post("/v1/payment-intents", json=V1_INTENT),
            "create-with-key": stack.post(
                "/v1/payment-intents", json=V1_INTENT, headers={"Idempotency-Key": "k-1"}
            ),
            "cancel": stack.post(f"/v1/payment-intents/{bill.intent_id}/cancel"),
            "legacy-cancel": stack.post("/api/payment/cancel", json={"payment_id": bill.id}),
            "rematch": stack.post(
                "/api/MatchPayment", json={"internal_identifier": bill.id, "audit_user_id": 1}
            ),
            "GetPaymentData": stack.post(
                "/api/GetPaymentData", as_="gateway", json=payment_data(bill, "TX-OUTAGE-2")
            ),
            "gateway-payment": stack.post(
                "/v1/gateway/payments",
                as_="gateway",
                json={
                    "control_number": bill.control_number,
                    "transaction_id": "TX-OUTAGE-3",
                    "amount": str(bill.amount_to_be_paid),
                    "received_date": "2026-11-22",
                },
            ),
            "control-number": stack.post(
                "/v1/gateway/control-numbers",
                as_="gateway",
                json={"payment_id": bill.id, "control_number": "990000000001"},
            ),
        }
        answers = dict(zip(calls, await asyncio.gather(*calls.values()), strict=True))
        for name, r in answers.items():
            assert_retryable(r, openimis=r.request.url.path.startswith("/api/"))
            assert r.json().get("code") != "not_cancellable", name
        lines = failure_lines(api_log)
        assert len(lines) == len(calls), lines  # one line per failed request, no traceback

        # A read the store can answer still answers, from the store.
        r = await stack.get(f"/v1/payment-intents/{bill.intent_id}")
        assert r.status_code == 200 and r.json()["control_number"] == bill.control_number

        await temporal.start()
        assert await workflows_on(stack) == 1  # the 503 creates started nothing
        assert await count(stack, Payment) == 1 and await count(stack, PaymentReceipt) == 0
        assert (await payment(stack, bill.id)).status == 3  # the 503 cancel cancelled nothing
        log = await audit_log(stack)
        assert {(n.transaction_id, n.outcome) for n in log} == {
            ("TX-OUTAGE-2", "unavailable"),
            ("TX-OUTAGE-3", "unavailable"),
        }
        assert await count(stack, Payment, col(Payment.control_number).is_not(None)) == 1
