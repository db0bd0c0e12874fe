"""Issue 19, item 6: a retry of an accepted payment notification is answered as accepted.

The same transaction id for the same control number and amount is the same notification, however its
first answer was lost (a 200 that never arrived, an API that crashed after the update applied, a
gateway that gave up waiting, two retries at once); the same id with another amount is a duplicate.
"""

from __future__ import annotations

import asyncio

import httpx

from store.models import PaymentReceipt
from tests.api.helpers import count
from tests.faults.outages.helpers import assigned_intent, audit_log, payment_data
from tests.stack import Stack, StackFactory

ACCEPTED = {"code": 0, "messageValue": "Success", "errorOccured": False}


async def _notify(stack: Stack, body: dict[str, object]) -> httpx.Response:
    return await stack.post("/api/GetPaymentData", as_="gateway", json=body)


def _accepted(r: httpx.Response) -> bool:
    return r.status_code == 200 and {k: r.json()[k] for k in ACCEPTED} == ACCEPTED


async def test_retries_of_an_accepted_notification_are_accepted(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        bill = await assigned_intent(stack)
        body = payment_data(bill, "TX-AGAIN")
        first = await _notify(stack, body)
        lost_answer_retry = await _notify(stack, body)
        together = await asyncio.gather(*[_notify(stack, body) for _ in range(2)])
        other_amount = await _notify(stack, body | {"received_amount": "1.00"})
        log = await audit_log(stack, "TX-AGAIN")
        receipts = await count(stack, PaymentReceipt)
    answers = [first, lost_answer_retry, *together]
    assert all(_accepted(r) for r in answers), [r.text for r in answers]
    assert (other_amount.status_code, other_amount.json()) == (
        400,
        {"error_message": "5-Duplicate Payment Amount"},
    )
    assert [(n.outcome, n.code) for n in log] == [
        ("accepted", 0),
        ("repeated", 0),
        ("repeated", 0),
        ("repeated", 0),
        ("rejected", 5),
    ]
    assert receipts == 1


async def test_concurrent_first_notifications_are_all_accepted(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        bill = await assigned_intent(stack)
        answers = await asyncio.gather(*[_notify(stack, payment_data(bill, "TX-BURST")) for _ in range(3)])
        log = await audit_log(stack, "TX-BURST")
        receipts = await count(stack, PaymentReceipt)
    assert all(_accepted(r) for r in answers), [r.text for r in answers]
    assert sorted(n.outcome for n in log) == ["accepted", "repeated", "repeated"]
    assert receipts == 1
