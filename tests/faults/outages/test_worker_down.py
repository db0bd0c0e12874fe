"""No worker for the task queue: what Temporal keeps is answered for, never refused (issue 9, 11 and 12).

- A payment notified while no worker runs gets 503; Temporal keeps its update and applies it once a
  worker is back; the gateway's retry of the same transaction is answered as the first accept would
  have been, and the audit log shows the 503 attempts and one accepted retry, no rejection.
- GetControlNumber whose workflow started but got no answer says so (the intent id, no control
  number) instead of 503, so the client does not retry into a second intent; the intent id then works
  wherever a payment id does until the payment record exists.
"""

from __future__ import annotations

from sqlmodel import col, select

from payflow.workers import worker
from store.models import Payment, PaymentReceipt
from tests.api.helpers import count, intent, workflows_on
from tests.faults.outages.helpers import (
    SELF_PAYER,
    assert_retryable,
    assigned_intent,
    audit_log,
    eventually,
    is_uuid,
    payment_data,
    status_is,
)
from tests.stack import Stack, StackFactory

NO_WORKER = {"with_worker": False, "cn_mode": "internal", "cn_wait_s": 0.5, "update_timeout_s": 2}


async def test_retried_notification_of_a_payment_kept_while_the_worker_was_down_is_accepted(
    make_stack: StackFactory,
) -> None:
    async with make_stack(**NO_WORKER) as stack:
        async with worker(stack.temporal, stack.settings):
            bill = await assigned_intent(stack)
        bill_id, body = bill.id or 0, payment_data(bill, "TX-KEPT-1")

        for _ in range(2):  # the first attempt, and a retry while the worker is still down
            r = await stack.post("/api/GetPaymentData", as_="gateway", json=body)
            assert_retryable(r, openimis=True)
        assert await count(stack, PaymentReceipt) == 0

        async with worker(stack.temporal, stack.settings):
            # Temporal kept the first update and applies it now, once (the retry joined it).
            await eventually(lambda: status_is(stack, bill_id, 5), "the kept payment to be matched")
            r = await stack.post("/api/GetPaymentData", as_="gateway", json=body)
            assert r.status_code == 200, r.text  # was 400 "5-Duplicate Payment Amount"
            assert r.json() == {
                "code": 0,
                "messageValue": "Success",
                "errorOccured": False,
                "data": {"internal_identifier": str(bill_id)},
            }
            log = await audit_log(stack, "TX-KEPT-1")
            assert [(n.attempt, n.outcome, n.accepted, n.code) for n in log] == [
                (1, "unavailable", False, -1),
                (2, "unavailable", False, -1),
                (3, "accepted", True, 0),
            ]
            assert log[2].payment_id == bill_id
            assert await count(stack, PaymentReceipt) == 1

            # The same notification after it was answered 0 (its answer lost) is accepted again.
            r = await stack.post("/api/GetPaymentData", as_="gateway", json=body)
            assert r.status_code == 200 and r.json()["code"] == 0, r.text
            log = await audit_log(stack, "TX-KEPT-1")
            assert sum(n.accepted for n in log) == 1 and (log[-1].attempt, log[-1].outcome) == (4, "repeated")


async def test_get_control_number_once_started_answers_the_intent_not_503(make_stack: StackFactory) -> None:
    async with make_stack(**NO_WORKER) as stack:
        r = await stack.post("/api/GetControlNumber", json=intent(**SELF_PAYER))
        assert r.status_code == 200, r.text  # was 503 "retry" after the intent had started
        answer = r.json()
        intent_id = answer["internal_identifier"]
        assert answer["error_occured"] is False and answer["control_number"] is None and is_uuid(intent_id)
        r = await stack.post("/v1/payment-intents", json=_v1_body())
        assert r.status_code == 201 and r.json()["status_name"] == "PENDING", r.text
        assert await workflows_on(stack) == 2 and await count(stack, Payment) == 0

        assert await _assigned(stack, intent_id) is None  # known, no number yet
        r = await stack.get(f"/v1/payment-intents/{intent_id}")
        assert r.status_code == 200 and r.json()["status_name"] == "PENDING", r.text
        r = await stack.post(f"/v1/payment-intents/{intent_id}/cancel")
        assert_retryable(r, openimis=False)  # being created: retry, not "unknown intent"

        async with worker(stack.temporal, stack.settings):
            await eventually(lambda: _has_number(stack, intent_id), "the control number")
            cn = await _assigned(stack, intent_id)
            [bill] = [p for p in await _payments(stack) if p.intent_id == intent_id]
            assert cn and bill.control_number == cn
            r = await stack.get(f"/v1/payment-intents/{bill.id}")  # the payment id works too
            assert r.status_code == 200 and r.json()["id"] == intent_id
            assert await _assigned(stack, bill.id) == cn
        assert await workflows_on(stack) == 2 and await count(stack, Payment) == 2
        assert await count(stack, Payment, col(Payment.control_number).is_not(None)) == 2


def _v1_body() -> dict[str, object]:
    return {
        "phone_number": "0681333045",
        "request_date": "2026-11-20",
        "policies": [{"insurance_number": "070707070", "product_code": "FCUL0001", "renewal": True}],
    }


async def _has_number(stack: Stack, identifier: str) -> bool:
    return await _assigned(stack, identifier) is not None


async def _assigned(stack: Stack, identifier: str | int) -> str | None:
    r = await stack.post(
        "/api/GetAssignedControlNumbers", json={"requests": [{"internal_identifier": identifier}]}
    )
    body = r.json()
    assert r.status_code == 200 and body["error_occured"] is False, r.text
    [row] = body["assigned_control_numbers"]
    assert row["internal_identifier"] == str(identifier)
    return row["control_number"]


async def _payments(stack: Stack) -> list[Payment]:
    async with stack.sessions() as s:
        return list((await s.exec(select(Payment))).all())
