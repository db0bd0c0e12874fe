"""Every openIMIS validation code, with its message, and no half-written record behind it."""

from __future__ import annotations

import pytest

from store.models import Payment, PaymentDetail, SmsMessage
from tests.api.helpers import count, intent, workflows_on
from tests.stack import StackFactory

MODEL_ERRORS = [
    (
        "1",
        intent(
            policies=[
                {"insurance_number": "070707070123", "insurance_product_code": "FCUL0001", "renewal": 1}
            ]
        ),
        "1:Wrong format of insurance number ",
    ),
    (
        "2",
        intent(policies=[{"insurance_number": "070707070", "renewal": 1}]),
        "2:Not valid insurance or missing product code",
    ),
    ("3", intent(enrolment_officer_code="E00000005"), "3:Not valid enrolment officer code"),
    ("9", intent(phone_number=None), "9: Phone number not provided"),
    ("10-type", intent(type_of_payment=7), "10-Uknown type of payment"),
    ("10-date", intent(request_date="12.03.2021"), "10: Request Date not valid"),
    (
        "10-renewal",
        intent(policies=[{"insurance_number": "070707070", "insurance_product_code": "FCUL0001"}]),
        "10:EnrolmentType was not provided",
    ),
    ("10-null-body", None, "10-Uknown type of payment"),
    (
        "eo-amount",
        intent(enrolment_officer_code=None, amount_to_be_paid=100),
        "amunt to be paid is not required if Enrolment officer is not provided",
    ),
]


@pytest.mark.parametrize(("case", "body", "message"), MODEL_ERRORS, ids=[c[0] for c in MODEL_ERRORS])
async def test_model_errors_answer_400_and_store_nothing(
    make_stack: StackFactory, case: str, body: object, message: str
) -> None:
    async with make_stack(cn_mode="internal") as stack:
        r = await stack.post("/api/GetControlNumber", json=body)
        assert r.status_code == 400, r.text
        assert r.json() == {"error_occured": True, "error_message": message}
        assert await count(stack, Payment) == 0
        assert await workflows_on(stack) == 0


BUSINESS_ERRORS = [
    (
        "2-unknown-product",
        {},
        intent(
            policies=[{"insurance_number": "070707070", "insurance_product_code": "NOPE0001", "renewal": 1}]
        ),
        "2-Not valid insurance or missing product code",
    ),
    ("3-unknown-officer", {}, intent(enrolment_officer_code="E99999"), "3-Not valid enrolment officer code"),
    (
        "4-officer-elsewhere",
        {},
        intent(enrolment_officer_code="E00009"),
        "4-Enrolment officer code and insurance product code are not compatible",
    ),
    (
        "5-no-policy-to-renew",
        {},
        intent(
            policies=[{"insurance_number": "080808080", "insurance_product_code": "FCUL0001", "renewal": 1}]
        ),
        "5-Beneficiary has no policy of specified insurance product for renewal",
    ),
    (
        "5-proxy-family-renewal",
        {},
        intent(
            policies=[{"insurance_number": "555555555", "insurance_product_code": "FCUL0001", "renewal": 1}]
        ),
        "5-Beneficiary has no policy of specified insurance product for renewal",
    ),
    (
        "6-missing-insurance-number",
        {},
        intent(policies=[{"insurance_product_code": "FCUL0001", "renewal": 0}]),
        "6-Missing insurance number",
    ),
    (
        "7-prior-enrolment",
        {"prior_enrolment": True},
        intent(
            policies=[{"insurance_number": "080808080", "insurance_product_code": "FCUL0001", "renewal": 0}]
        ),
        "7-Insuree not enrolled while prior enrolment mandatory.",
    ),
]


@pytest.mark.parametrize(
    ("case", "settings", "body", "message"), BUSINESS_ERRORS, ids=[c[0] for c in BUSINESS_ERRORS]
)
async def test_business_errors_reject_the_intent_with_the_openimis_message(
    make_stack: StackFactory, case: str, settings: dict[str, object], body: dict[str, object], message: str
) -> None:
    async with make_stack(cn_mode="gateway", **settings) as stack:
        r = await stack.post("/api/GetControlNumber", json=body)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["error_occured"] is True
        assert answer["error_message"] == message
        assert answer["control_number"] is None
        # One complete audit record with status -1 and the reason; nothing downstream of it.
        async with stack.sessions() as s:
            payment = await s.get(Payment, int(answer["internal_identifier"]))
        assert payment is not None and payment.status == -1 and payment.rejected_reason == message
        assert payment.control_number is None and payment.expected_amount == 0
        assert await count(stack, Payment) == 1
        assert await count(stack, PaymentDetail, PaymentDetail.expected_amount != 0) == 0
        assert await count(stack, SmsMessage) == 0
        assert stack.gateway.bills == {}


async def test_prior_enrolment_passes_when_the_family_holds_the_product(make_stack: StackFactory) -> None:
    async with make_stack(cn_mode="internal", prior_enrolment=True) as stack:
        r = await stack.post("/api/GetControlNumber", json=intent())
        assert r.json()["error_occured"] is False and r.json()["control_number"]
