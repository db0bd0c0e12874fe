"""Intent validation order, control-number check digits, SMS texts and secret hashing."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from api.openimis_wire import WireError, intent_of_pay
from api.schemas import PaymentIntentCreate
from domain.control_number import check_digits, is_valid, with_check_digits
from domain.credentials import hash_secret, verify_secret
from domain.intent import IntentLine, LineFacts, OfficerFacts, PaymentIntentInput, validate_intent
from domain.registry import PolicyStage
from domain.sms import SmsKind, is_primary, render

GOOD = LineFacts(product_found=True, product_location_id=1, family_exists=True, has_policy_of_product=True)


def _request(*lines: IntentLine, officer: str | None = "E00005") -> PaymentIntentInput:
    return PaymentIntentInput(
        intent_id="i",
        tenant="t",
        phone_number="1",
        request_date=date(2026, 1, 1),
        officer_code=officer,
        lines=list(lines),
    )


def _line(number: str | None = "070707070", stage: PolicyStage = PolicyStage.RENEWAL) -> IntentLine:
    return IntentLine(insurance_number=number, product_code="P", stage=stage)


@pytest.mark.parametrize(
    ("lines", "facts", "officer", "expected"),
    [
        ([_line()], [GOOD], OfficerFacts(1, None), None),
        ([_line(" ")], [GOOD], OfficerFacts(1, None), 6),
        ([_line()], [LineFacts(product_found=False)], OfficerFacts(1, None), 2),
        ([_line()], [GOOD], None, 3),
        ([_line()], [GOOD], OfficerFacts(2, 3), 4),
        ([_line()], [GOOD], OfficerFacts(9, 1), None),  # product of the officer's parent region
        ([_line()], [LineFacts(True, None, True, False)], OfficerFacts(1, None), 5),
        ([_line()], [LineFacts(True, None, False)], OfficerFacts(1, None), 5),
        # first failing rule wins across all lines: a missing number (6) before an unknown product (2)
        ([_line(), _line(None)], [LineFacts(product_found=False), GOOD], OfficerFacts(1, None), 6),
    ],
)
def test_validation_order(lines, facts, officer, expected) -> None:  # type: ignore[no-untyped-def]
    error = validate_intent(_request(*lines), officer, facts, prior_enrolment=False)
    assert (error.code if error else None) == expected


def test_prior_enrolment_and_self_payers() -> None:
    new = _line(stage=PolicyStage.NEW)
    no_policy = LineFacts(True, None, True, False)
    assert validate_intent(_request(new), OfficerFacts(1, None), [no_policy], prior_enrolment=False) is None
    error = validate_intent(_request(new), OfficerFacts(1, None), [no_policy], prior_enrolment=True)
    assert error is not None and error.message == "7-Insuree not enrolled while prior enrolment mandatory."
    assert validate_intent(_request(new, officer=None), None, [GOOD], prior_enrolment=False) is None


def test_control_number_check_digits_catch_typos() -> None:
    cn = with_check_digits("9912345678")
    assert len(cn) == 12 and is_valid(cn) and int(cn) % 97 == 1
    assert check_digits("9912345678") == cn[-2:]
    typo = cn[:3] + str((int(cn[3]) + 1) % 10) + cn[4:]
    swapped = cn[:4] + cn[5] + cn[4] + cn[6:]
    assert not is_valid(typo)
    assert cn[4] == cn[5] or not is_valid(swapped)
    assert not is_valid("12") and not is_valid("99abc")
    with pytest.raises(ValueError):
        check_digits("x1")


def test_sms_language_and_texts() -> None:
    assert is_primary(None, "english,en,primary,0,1") and is_primary(" EN ", "english,en")
    assert not is_primary("sw", "english,en")
    fields = {
        "control_number": "991",
        "request_date": "12-03-2021",
        "chfid": "070707070",
        "product_code": "FCUL0001",
        "amount": "21,000.00",
    }
    assert render(SmsKind.CN_ASSIGNED, True, **fields) == (
        "Control No:991,Requested Date:12-03-2021,CHFID:070707070,Product:FCUL0001,Amount:21,000.00 "
        "Pay through mobile money or NMB bank"
    )
    assert render(SmsKind.CN_ASSIGNED, False, others=2, **fields).startswith("Ankara Na:991,")
    assert " and 2 others was not successfully" in render(SmsKind.CN_NOT_ASSIGNED, True, others=2, **fields)


def test_secrets_are_salted_hashes() -> None:
    stored = hash_secret("s3cret")
    assert stored != hash_secret("s3cret") and "s3cret" not in stored
    assert verify_secret("s3cret", stored) and not verify_secret("S3cret", stored)
    assert not verify_secret("s3cret", "plain$text") and not verify_secret("s3cret", "")


def _wire(*policies: dict[str, object]) -> dict[str, object]:
    return {"phone_number": "0681333045", "request_date": "2026-11-20", "policies": list(policies)}


RENEWAL = {"insurance_number": "070707070", "insurance_product_code": "FCUL0001", "renewal": 1}


@pytest.mark.parametrize("amount", ["-20999", -1, "-0.01"])
def test_a_negative_line_amount_is_bad_data_on_the_legacy_route(amount: object) -> None:
    """Issue 23 item 3: a renewal line and a line of -20,999 billed 1.00; openIMIS reads a policy
    value it cannot use as bad input (2), as /v1 refuses negatives."""
    with pytest.raises(WireError, match=r"^2-Wrong format of input data$"):
        intent_of_pay(_wire(RENEWAL, RENEWAL | {"insurance_number": "080808080", "amount": amount}))
    assert intent_of_pay(_wire(RENEWAL | {"amount": 0}))["lines"][0].amount == 0  # 0: compute it


def test_one_intent_naming_a_policy_twice_is_refused() -> None:
    """Issue 23 item 8: one intent pays a policy once; a second line for it is bad input on both
    routes (openIMIS processes a policy once per run, research §6.3)."""
    twice = _wire(RENEWAL, RENEWAL | {"renewal": 0, "insurance_number": " 070707070"})
    with pytest.raises(WireError, match=r"^2-Wrong format of input data$"):
        intent_of_pay(twice)
    intent_of_pay(_wire(RENEWAL, RENEWAL | {"insurance_product_code": "PMEM0001"}))  # another product
    policy = {"insurance_number": "070707070", "product_code": "FCUL0001", "renewal": True}
    with pytest.raises(ValidationError, match="names policy 070707070 FCUL0001 twice"):
        PaymentIntentCreate(
            phone_number="0681333045", request_date=date(2026, 11, 20), policies=[policy, policy]
        )


def test_a_product_outside_its_dates_is_not_valid() -> None:
    """Issue 23 item 9: refused at validation (code 2) instead of billed and never matched (106)."""
    ended = LineFacts(True, 1, True, True, product_to=date(2025, 12, 31))
    error = validate_intent(
        _request(_line()), OfficerFacts(1, None), [ended], prior_enrolment=False, today=date(2026, 1, 1)
    )
    assert error is not None and error.code == 2
    assert (
        validate_intent(
            _request(_line()), OfficerFacts(1, None), [ended], prior_enrolment=False, today=date(2025, 12, 31)
        )
        is None
    )
