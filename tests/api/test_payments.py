"""Flow A from control number to matched premiums, over real HTTP with the simulators as peers."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlmodel import col, select

from domain.registry import PolicyStatus
from store.models import Payment, PaymentDetail, PaymentNotification, Policy, Premium
from tests.api.helpers import count, intent, wait_for
from tests.stack import Stack, StackFactory

SELF_PAYER_RENEWAL = intent(enrolment_officer_code=None)


async def _intent_with_cn(stack: Stack, body: dict | None = None) -> tuple[int, str]:  # type: ignore[type-arg]
    r = await stack.post("/api/GetControlNumber", json=body or SELF_PAYER_RENEWAL)
    answer = r.json()
    assert answer["error_occured"] is False and answer["control_number"], answer
    return int(answer["internal_identifier"]), answer["control_number"]


async def _pay(stack: Stack, control_number: str, **extra: object) -> dict:  # type: ignore[type-arg]
    async with httpx.AsyncClient(base_url=stack.settings.gateway_url) as http:
        r = await http.post("/payments", json={"control_number": control_number, "payer_phone": "0754111222"} | extra)
        assert r.status_code == 201, r.text
        return dict(r.json())


async def _payment(stack: Stack, payment_id: int) -> Payment:
    async with stack.sessions() as s:
        payment = await s.get(Payment, payment_id)
        assert payment is not None
        return payment


async def test_paid_bill_is_matched_and_the_renewal_activated(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="gateway") as stack:
        payment_id, cn = await _intent_with_cn(stack)
        paid = await _pay(stack, cn)
        started = asyncio.get_running_loop().time()
        status = 0
        while status != 5:
            status = (await _payment(stack, payment_id)).status
            assert asyncio.get_running_loop().time() - started < 10, f"still at status {status}"
            await asyncio.sleep(0.05)
        payment = await _payment(stack, payment_id)
        assert payment.received_amount == payment.amount_to_be_paid and payment.transaction_no == paid["transaction_id"]
        assert stack.gateway.notifications[-1]["status"] == 200

        async with stack.sessions() as s:
            [detail] = (await s.exec(select(PaymentDetail).where(PaymentDetail.payment_id == payment_id))).all()
            premiums = (await s.exec(select(Premium))).all()
            policies = (await s.exec(select(Policy).order_by(col(Policy.id)))).all()
        new_premiums = [p for p in premiums if p.payment_detail_id is not None]
        assert len(new_premiums) == 1 and new_premiums[0].id == detail.premium_id
        assert new_premiums[0].amount == payment.received_amount
        previous, renewal = policies
        assert renewal.stage == "R" and renewal.status == PolicyStatus.ACTIVE
        today = datetime.now(UTC).date()
        start = max(previous.expiry_date + timedelta(days=1), today)
        assert renewal.start_date == start and renewal.effective_date == start
        assert renewal.expiry_date == date(start.year + 1, start.month, start.day) - timedelta(days=1)
        assert new_premiums[0].policy_id == renewal.id

        await wait_for(lambda: len(stack.sms.messages) == 3, "three SMS")
        texts = [m["text"] for m in sorted(stack.sms.messages.values(), key=lambda m: m["id"])]
        assert texts[0].startswith(f"Control No:{cn}")
        assert texts[1].startswith(f"Payment has been made to CHF-Dodoma Invoice: {cn} Amount: 21,000.00")
        assert texts[2] == (
            f"Payment for control number {cn} paid successfully. CHFID:070707070,Product:FCUL0001,"
            f"Start Date:{start:%d-%m-%Y},Expire Date:{renewal.expiry_date:%d-%m-%Y}"
        )
        assert stack.sms_to("0754111222")[0]["text"] == texts[1]  # the confirmation goes to the payer


async def test_same_notification_five_times_concurrently_makes_one_premium(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        payment_id, cn = await _intent_with_cn(stack)
        payment = await _payment(stack, payment_id)
        body = {"control_number": cn, "transaction_identification": "TX-1", "receipt_identification": "R-1",
                "received_amount": float(payment.amount_to_be_paid), "received_date": "2026-11-22",
                "payment_date": "2026-11-22", "payment_origin": "M-Pesa", "payer_phone_number": "0754111222"}
        answers = await asyncio.gather(
            *[stack.post("/api/GetPaymentData", as_="gateway", json=body) for _ in range(5)]
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200, 400, 400, 400, 400], [r.text for r in answers]
        assert {r.json()["error_message"] for r in answers if r.status_code == 400} == {"5-Duplicate Payment Amount"}
        ok = next(r for r in answers if r.status_code == 200).json()
        assert ok == {"code": 0, "messageValue": "Success", "errorOccured": False,
                      "data": {"internal_identifier": str(payment_id)}}
        for _ in range(200):
            if (await _payment(stack, payment_id)).status == 5:
                break
            await asyncio.sleep(0.05)
        assert (await _payment(stack, payment_id)).status == 5
        matches = await asyncio.gather(
            *[stack.post("/api/MatchPayment", json={"internal_identifier": payment_id, "audit_user_id": -1})
              for _ in range(5)]
        )
        assert all(m.json()["data"][0]["paymentMatched"] == 1 for m in matches)
        assert await count(stack, Premium, col(Premium.payment_detail_id).is_not(None)) == 1
        assert await count(stack, PaymentNotification) == 5
        assert await count(stack, PaymentNotification, col(PaymentNotification.accepted)) == 1
