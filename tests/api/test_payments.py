"""Flow A from control number to matched premiums, over real HTTP with the simulators as peers."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlmodel import col, select

from domain.registry import PolicyStatus
from store.models import Payment, PaymentDetail, PaymentNotification, Policy, Premium
from tests.api.helpers import PROXY_PAYMENT, count, intent, register_proxy_family, wait_for
from tests.stack import Stack, StackFactory

SELF_PAYER_RENEWAL = intent(enrolment_officer_code=None)


async def _intent_with_cn(stack: Stack, body: dict | None = None) -> tuple[int, str]:  # type: ignore[type-arg]
    r = await stack.post("/api/GetControlNumber", json=body or SELF_PAYER_RENEWAL)
    answer = r.json()
    assert answer["error_occured"] is False and answer["control_number"], answer
    return int(answer["internal_identifier"]), answer["control_number"]


async def _pay(stack: Stack, control_number: str, **extra: object) -> dict:  # type: ignore[type-arg]
    async with httpx.AsyncClient(base_url=stack.settings.gateway_url) as http:
        r = await http.post(
            "/payments", json={"control_number": control_number, "payer_phone": "0754111222"} | extra
        )
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
        assert (
            payment.received_amount == payment.amount_to_be_paid
            and payment.transaction_no == paid["transaction_id"]
        )
        assert stack.gateway.notifications[-1]["status"] == 200

        async with stack.sessions() as s:
            [detail] = (
                await s.exec(select(PaymentDetail).where(PaymentDetail.payment_id == payment_id))
            ).all()
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


async def test_same_notification_five_times_concurrently_makes_one_premium(
    make_stack_any_db: StackFactory,
) -> None:
    async with make_stack_any_db(cn_mode="internal") as stack:
        payment_id, cn = await _intent_with_cn(stack)
        payment = await _payment(stack, payment_id)
        body = {
            "control_number": cn,
            "transaction_identification": "TX-1",
            "receipt_identification": "R-1",
            "received_amount": float(payment.amount_to_be_paid),
            "received_date": "2026-11-22",
            "payment_date": "2026-11-22",
            "payment_origin": "M-Pesa",
            "payer_phone_number": "0754111222",
        }
        answers = await asyncio.gather(
            *[stack.post("/api/GetPaymentData", as_="gateway", json=body) for _ in range(5)]
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200] * 5, [r.text for r in answers]  # one notification (issue 19 item 6)
        ok = answers[0].json()
        assert ok == {
            "code": 0,
            "messageValue": "Success",
            "errorOccured": False,
            "data": {"internal_identifier": str(payment_id)},
        }
        for _ in range(200):
            if (await _payment(stack, payment_id)).status == 5:
                break
            await asyncio.sleep(0.05)
        assert (await _payment(stack, payment_id)).status == 5
        matches = await asyncio.gather(
            *[
                stack.post("/api/MatchPayment", json={"internal_identifier": payment_id, "audit_user_id": -1})
                for _ in range(5)
            ]
        )
        assert all(m.json()["data"][0]["paymentMatched"] == 1 for m in matches)
        assert await count(stack, Premium, col(Premium.payment_detail_id).is_not(None)) == 1
        assert await count(stack, PaymentNotification) == 5
        assert await count(stack, PaymentNotification, col(PaymentNotification.accepted)) == 1


async def test_cancel_on_request(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="gateway") as stack:
        payment_id, cn = await _intent_with_cn(stack)
        r = await stack.post("/api/payment/cancel", json={"payment_id": payment_id})
        assert r.json() == {
            "code": 0,
            "messageValue": "CancelPayment:0:Success",
            "errorOccured": False,
            "data": {"internal_identifier": str(payment_id)},
        }
        payment = await _payment(stack, payment_id)
        assert (payment.status, payment.rejected_reason) == (0, "Cancelled on request")
        [bill] = stack.gateway.bills.values()
        assert bill["cancelled"] is True
        await wait_for(lambda: len(stack.sms.messages) == 2, "the cancellation SMS")
        assert sorted(m["text"][:15] for m in stack.sms.messages.values()) == [
            "Control No:" + cn[:4],
            "Invoice number ",
        ]
        r = await stack.post("/api/payment/cancel", json={"payment_id": payment_id})
        assert r.json()["code"] == 3 and r.json()["messageValue"] == "CancelPayment:3:Failed to cancel"
        r = await stack.post("/api/payment/cancel", json={"payment_id": 0})
        assert r.json()["messageValue"] == "CancelPayment:2:Control Number doesn't exists"
        r = await stack.post("/api/payment/cancel", json={})
        assert r.json()["messageValue"] == "CancelPayment:1:Missing Control Number"
        async with httpx.AsyncClient(base_url=stack.settings.gateway_url) as http:
            r = await http.post("/payments", json={"control_number": cn})
            assert r.status_code == 409  # a cancelled bill cannot be paid

        paid_id, paid_cn = await _intent_with_cn(stack)
        await _pay(stack, paid_cn)
        for _ in range(200):
            if (await _payment(stack, paid_id)).status == 5:
                break
            await asyncio.sleep(0.05)
        r = await stack.post("/api/payment/cancel", json={"control_number": paid_cn})
        assert r.json()["code"] == 3 and (await _payment(stack, paid_id)).status == 5


async def test_v1_cancel_and_gateway_routes(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        body = {
            "phone_number": "0681333045",
            "request_date": "2026-11-20",
            "policies": [{"insurance_number": "070707070", "product_code": "FCUL0001", "renewal": True}],
        }
        first = (await stack.post("/v1/payment-intents", json=body)).json()
        r = await stack.post(f"/v1/payment-intents/{first['id']}/cancel")
        assert r.status_code == 200 and r.json()["status_name"] == "CANCELLED"
        r = await stack.post(f"/v1/payment-intents/{first['id']}/cancel")
        assert r.status_code == 409 and r.json()["code"] == "not_cancellable"
        r = await stack.post(f"/v1/payment-intents/{first['id']}/rematch")
        assert r.status_code == 409 and r.json()["code"] == "nothing_to_match"

        second = (await stack.post("/v1/payment-intents?wait=5", json=body)).json()
        pay = {
            "control_number": second["control_number"],
            "transaction_id": "TX-V1",
            "amount": second["amount_to_be_paid"],
            "received_date": "2026-11-22",
            "payer_phone": "0754111222",
        }
        r = await stack.post("/v1/gateway/payments", as_="gateway", json=pay)
        assert r.status_code == 202 and r.json()["payment_id"] == second["payment_id"]
        r = await stack.post("/v1/gateway/payments", as_="gateway", json=pay)
        assert r.status_code == 202, r.text  # the same notification again (issue 19 item 6)
        r = await stack.post("/v1/gateway/payments", as_="gateway", json=pay | {"amount": "1.00"})
        assert r.status_code == 409 and r.json()["code"] == "duplicate_payment"
        r = await stack.post(
            "/v1/gateway/payments", as_="gateway", json=pay | {"control_number": "99", "transaction_id": "X"}
        )
        assert r.status_code == 404 and r.json()["code"] == "unknown_control_number"
        r = await stack.post(
            "/v1/gateway/payments", as_="gateway", json=pay | {"insurance_number": "070707070"}
        )
        assert r.status_code == 422 and r.json()["code"] == "policy_with_control_number"
        for _ in range(200):
            state = (await stack.get(f"/v1/payment-intents/{second['id']}")).json()
            if state["status"] == 5:
                break
            await asyncio.sleep(0.05)
        assert [t["status_name"] for t in state["timeline"]] == ["CREATED", "ASSIGNED", "RECEIVED", "MATCHED"]
        r = await stack.post(f"/v1/payment-intents/{second['id']}/rematch")
        assert r.status_code == 200 and r.json()["matched"] is True  # idempotent: the stored result


async def test_proxy_family_waits_at_4_until_registered_then_rematch(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        r = await stack.post("/api/GetPaymentData", as_="gateway", json=PROXY_PAYMENT)
        assert r.status_code == 200, r.text
        payment_id = int(r.json()["data"]["internal_identifier"])
        for _ in range(200):
            payment = await _payment(stack, payment_id)
            if payment.status == 4 and payment.match_note:
                break
            await asyncio.sleep(0.05)
        assert payment.status == 4 and payment.expected_amount == 23000  # proxy family 3+2: lump sums
        r = await stack.post("/api/MatchPayment", json={"internal_identifier": 0, "audit_user_id": -1})
        [row] = r.json()["data"]
        assert row["paymentMatched"] == 0 and row["fdMsg"].startswith("103:")
        await wait_for(lambda: stack.sms_to("0754999888"), "the confirmation SMS")

        await register_proxy_family(stack.sessions)
        r = await stack.post(f"/v1/payment-intents/{payment.intent_id}/rematch")
        assert r.status_code == 200 and r.json()["matched"] is True, r.text
        [line] = r.json()["lines"]
        assert line["activated"] is True and line["policy_start"] == "2026-12-01"
        assert (await _payment(stack, payment_id)).status == 5
        assert await count(stack, Premium, col(Premium.payment_detail_id).is_not(None)) == 1


async def test_partial_payments_accumulate(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal", partial_payments=True) as stack:
        payment_id, cn = await _intent_with_cn(stack)
        total = (await _payment(stack, payment_id)).amount_to_be_paid
        await _pay(stack, cn, amount="1000.00")
        await wait_for(lambda: stack.gateway.notifications, "the first notification")
        assert stack.gateway.notifications[-1]["status"] == 200
        payment = await _payment(stack, payment_id)
        assert (payment.status, payment.received_amount) == (3, 1000)
        await _pay(stack, cn, amount=str(total - 1000))
        for _ in range(200):
            if (await _payment(stack, payment_id)).status == 5:
                break
            await asyncio.sleep(0.05)
        payment = await _payment(stack, payment_id)
        assert (payment.status, payment.received_amount) == (5, total)


async def test_provide_reconciliation_data(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal") as stack:
        payment_id, cn = await _intent_with_cn(stack)
        amount = (await _payment(stack, payment_id)).amount_to_be_paid
        paid = await _pay(stack, cn, amount=str(amount))  # internal mode: the gateway never saw the bill
        await wait_for(lambda: stack.gateway.notifications, "the payment notification")
        today = datetime.now(UTC).date()
        period = {"date_from": f"{today:%d%m%Y}", "date_to": f"{today:%d%m%Y}"}
        r = await stack.post("/api/ProvideReconciliationData", as_="gateway", json=period)
        assert r.status_code == 200 and r.json()["error_occurred"] is False
        [row] = r.json()["transactions"]
        assert row["control_number"] == cn and row["insurance_number"] == "070707070"
        assert (
            row["transaction_identification"] == paid["transaction_id"]
            and row["received_date"] == f"{today:%d%m%Y}"
        )
        errors = [
            ({}, "1-Missing specification of the period"),
            (
                {"date_from": "02012026", "date_to": "01012026"},
                "2-Beginning date follows closing date of the period",
            ),
            ({"date_from": "01013000", "date_to": "02013000"}, "3-The period is in the future"),
        ]
        for body, message in errors:
            r = await stack.post("/api/ProvideReconciliationData", as_="gateway", json=body)
            assert (r.status_code, r.json()["error_message"]) == (400, message)
