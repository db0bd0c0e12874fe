"""Every GetPaymentData error code of research §2.5, from a request that triggers it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col

from store.models import Payment, PaymentNotification, PaymentReceipt
from tests.api.helpers import count, intent
from tests.stack import Stack, StackFactory


async def _assigned(stack: Stack) -> tuple[str, str]:
    answer = (await stack.post("/api/GetControlNumber", json=intent(enrolment_officer_code=None))).json()
    async with stack.sessions() as s:
        payment = await s.get(Payment, int(answer["internal_identifier"]))
    assert payment is not None
    return answer["control_number"], str(payment.amount_to_be_paid)


def _paid(cn: str | None, amount: str, **changes: Any) -> dict[str, Any]:
    body = {
        "control_number": cn,
        "transaction_identification": "TX-9",
        "receipt_identification": "R-9",
        "received_amount": amount,
        "received_date": "2026-11-22",
        "payment_date": "2026-11-22",
        "payment_origin": "M-Pesa",
        "payer_phone_number": "0754111222",
    }
    return {k: v for k, v in (body | changes).items() if v is not None}


def _without_intent(**changes: Any) -> dict[str, Any]:
    return (
        _paid(None, "21000", insurance_number="070707070", insurance_product_code="FCUL0001", renewal=1)
        | changes
    )


CASES = [
    ("1", 1, lambda cn, amount: _paid(cn, amount, received_date=None), "1-Wrong or missing receiving date"),
    ("2", 2, lambda cn, amount: _paid(cn, "a lot"), "2-Wrong format of input data"),
    ("3", 3, lambda cn, amount: _paid("990000000000", amount), "3-Wrong control_number"),
    ("4", 4, lambda cn, amount: _paid(cn, "1.00"), "4-Wrong Amount"),
    ("5-date", 5, lambda cn, amount: _paid(cn, amount, payment_date="22/11/2026"), "5-Invalid Payment Date"),
    (
        "6",
        6,
        lambda cn, amount: _without_intent(enrolment_officer_code="E99999"),
        "6-Enrolment Officer Code does not exist",
    ),
    (
        "7",
        7,
        lambda cn, amount: _without_intent(insurance_product_code="NOPE0001"),
        "7-Product Code Does not Exist",
    ),
    (
        "8",
        8,
        lambda cn, amount: _without_intent(insurance_number="080808080"),
        "8-Beneficiary has no policy of specified insurance product for renewal",
    ),
    ("9", 9, lambda cn, amount: _paid(cn, amount, type_of_payment=9), "9-Uknown type of payment"),
    (
        "cn-and-policy",
        2,
        lambda cn, amount: _paid(cn, amount, insurance_number="070707070"),
        "insurance_number is not required if Control Number is provided",
    ),
]


@pytest.mark.parametrize(("case", "code", "make", "message"), CASES, ids=[c[0] for c in CASES])
async def test_error_codes(make_stack: StackFactory, case: str, code: int, make: Any, message: str) -> None:
    async with make_stack(cn_mode="internal") as stack:
        cn, amount = await _assigned(stack)
        r = await stack.post("/api/GetPaymentData", as_="gateway", json=make(cn, amount))
        assert (r.status_code, r.json()) == (400, {"error_message": message})
        assert await count(stack, PaymentReceipt) == 0
        assert await count(stack, Payment, Payment.status == 3) == 1  # the intent stays assigned
        [log] = await _log(stack)
        assert (log.accepted, log.code) == (False, code)  # kept for audit with its code


async def test_duplicate_payment_is_code_5(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        cn, amount = await _assigned(stack)
        assert (
            await stack.post("/api/GetPaymentData", as_="gateway", json=_paid(cn, amount))
        ).status_code == 200
        r = await stack.post("/api/GetPaymentData", as_="gateway", json=_paid(cn, amount))
        assert r.status_code == 200, r.text  # the same notification again (issue 19 item 6)
        r = await stack.post("/api/GetPaymentData", as_="gateway", json=_paid(cn, "1.00"))
        assert (r.status_code, r.json()) == (400, {"error_message": "5-Duplicate Payment Amount"})
        r = await stack.post(
            "/api/GetPaymentData", as_="gateway", json=_paid(cn, amount, transaction_identification="TX-10")
        )
        assert r.json() == {"error_message": "5-Duplicate Payment Amount"}  # the bill is paid already
        assert await count(stack, PaymentReceipt) == 1
        assert await count(stack, PaymentNotification, col(PaymentNotification.accepted)) == 1
        log = await _log(stack)
        assert [n.code for n in log] == [0, 0, 5, 5]
        assert log[2].reason == "5-Duplicate Payment Amount" and log[2].payment_id == log[0].payment_id


async def _log(stack: Stack) -> list[PaymentNotification]:
    from sqlmodel import select

    async with stack.sessions() as s:
        return list((await s.exec(select(PaymentNotification).order_by(col(PaymentNotification.id)))).all())


async def test_without_intent_bad_insurance_number_is_logged(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        r = await stack.post(
            "/api/GetPaymentData", as_="gateway", json=_without_intent(insurance_number="1" * 12)
        )
        assert (r.status_code, r.json()) == (400, {"error_message": "1:Wrong format of insurance number "})
        [log] = await _log(stack)
        assert (log.accepted, log.code) == (False, 1)
