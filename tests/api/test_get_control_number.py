"""POST /api/GetControlNumber over real HTTP, worker and simulators, in both control-number modes."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from sqlmodel import select

from domain.control_number import is_valid
from store.models import Payment, PaymentDetail, SmsMessage
from tests.api.helpers import count, wait_for
from tests.stack import StackFactory
from workflows import search_attributes as sa

# The seed's sample request (shared/seeds/openimis-payment-addendum.txt), verbatim.
SEED_SAMPLE = """{
"phone_number": "0681333045",
"request_date": "2021-03-12",
"enrolment_officer_code": "E00005",
"policies": [
{
"insurance_number": "070707070",
"insurance_product_code": "FCUL0001",
"renewal": 1
}
],
"amount_to_be_paid": 21000,
"language": "en",
"type_of_payment": 1,
"smsRequired": true
}"""


@pytest.mark.parametrize("cn_mode", ["gateway", "internal"])
async def test_seed_sample_gets_a_control_number_sms_and_is_searchable(
    make_stack: StackFactory, cn_mode: str
) -> None:
    async with make_stack(cn_mode=cn_mode) as stack:
        r = await stack.post(
            "/api/GetControlNumber", content=SEED_SAMPLE, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["error_occured"] is False
        assert body["error_message"] == "Success"
        assert body["internal_identifier"].isdigit()
        cn = body["control_number"]
        assert cn, body
        if cn_mode == "internal":
            assert len(cn) == 12 and is_valid(cn)
        else:
            assert cn.startswith("99") and stack.gateway.bills  # issued by the gateway simulator

        async with stack.sessions() as s:
            payment = await s.get(Payment, int(body["internal_identifier"]))
            assert payment is not None
            assert (payment.status, payment.control_number) == (3, cn)
            assert payment.expected_amount == Decimal("21000.00")  # amount_to_be_paid overrides valuation
            assert payment.type_of_payment == "MOBILE_PHONE" and payment.sms_required

        await wait_for(lambda: stack.sms_to("0681333045"), "the assigned SMS")
        [sms] = stack.sms_to("0681333045")
        assert sms["text"].startswith(f"Control No:{cn},Requested Date:12-03-2021,CHFID:070707070")
        for _ in range(200):  # the provider has it before the outbox row is marked sent
            if await count(stack, SmsMessage, SmsMessage.status == "sent") == 1:
                break
            await asyncio.sleep(0.05)
        assert await count(stack, SmsMessage, SmsMessage.status == "sent") == 1

        found = []
        for _ in range(100):  # visibility is eventually consistent
            found = [w async for w in stack.temporal.list_workflows(f"ControlNumber = '{cn}'")]
            if found:
                break
            await asyncio.sleep(0.05)
        assert len(found) == 1 and found[0].workflow_type == "PaymentIntentWorkflow"
        described = await stack.temporal.get_workflow_handle(found[0].id).describe()
        assert described.typed_search_attributes.get(sa.PAYMENT_STATUS) == "ASSIGNED"
        assert described.typed_search_attributes.get(sa.OFFICER_CODE) == "E00005"
        hashed = sa.insurance_number_hash(stack.settings.search_hash_key, "070707070")
        assert described.typed_search_attributes.get(sa.INSURANCE_NUMBER_HASHES) == [hashed]
        assert len(hashed) == sa.HASH_CHARS and "070707070" not in str(described.raw_description)
        assert await described.static_summary() == "Payment intent: 1 policy (FCUL0001), officer E00005"


async def test_lenient_binding_accepts_what_real_clients_send(make_stack: StackFactory) -> None:
    """Json.NET leniency: any key casing, numbers as strings and strings as numbers, enum names."""
    body = {
        "Phone_Number": 681333045,
        "REQUEST_DATE": "2021/3/12",
        "Enrolment_Officer_Code": "E00005",
        "Policies": [{"Insurance_Number": "070707070", "Insurance_Product_Code": "FCUL0001", "Renewal": "1"}],
        "Amount_To_Be_Paid": "21000.50",
        "Type_Of_Payment": "MobilePhone",
        "SMSREQUIRED": "false",
        "unknown_field": {"ignored": True},
    }
    async with make_stack(cn_mode="internal") as stack:
        r = await stack.post("/api/GetControlNumber", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["error_occured"] is False, r.json()
        async with stack.sessions() as s:
            payment = await s.get(Payment, int(r.json()["internal_identifier"]))
            assert payment is not None and payment.expected_amount == Decimal("21000.50")
            assert payment.phone_number == "681333045" and not payment.sms_required
        assert stack.sms.messages == {}  # smsRequired false: no notice


async def test_valued_when_no_amount_is_given(make_stack: StackFactory) -> None:
    """Without amount_to_be_paid the policy is valued: FCUL0001 renewal of the demo family."""
    body = json.loads(SEED_SAMPLE) | {"amount_to_be_paid": 0, "type_of_payment": 0}
    async with make_stack(cn_mode="internal") as stack:
        r = await stack.post("/api/GetControlNumber", json=body)
        assert r.json()["error_occured"] is False
        async with stack.sessions() as s:
            payment = await s.get(Payment, int(r.json()["internal_identifier"]))
            [detail] = (
                await s.exec(select(PaymentDetail).where(PaymentDetail.payment_id == payment.id))
            ).all()
        # EO renewal with no stage-R policy yet: uspPolicyValue(R) = lump sum 20000 + assembly 1000 (no
        # registration for R); renewal discount 5% applies only one month before expiry (2026-11-30).
        assert detail.basis == "policy_value" and detail.stage == "R"
        assert detail.expected_amount == payment.expected_amount == payment.amount_to_be_paid
        assert detail.expected_amount in (Decimal("21000.00"), Decimal("19950.00"))
