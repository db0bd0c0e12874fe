"""Unit tests of the lenient openIMIS body reader (no server needed)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from api.openimis_wire import WireError, intent_of_pay, internal_identifier
from domain.money import TypeOfPayment
from domain.registry import PolicyStage


def test_reads_what_asp_net_would_bind() -> None:
    fields = intent_of_pay(
        {
            "PHONE_NUMBER": "0681333045",
            "request_date": "2021-3-12",
            "enrolment_officer_code": " E00005 ",
            "policies": [
                {
                    "insurance_number": "070707070",
                    "insurance_product_code": "FCUL0001",
                    "renewal": 0,
                    "amount": "1500.5",
                }
            ],
            "amount_to_be_paid": 21000.25,
            "type_of_payment": "bank_transfer",
            "smsrequired": 1,
        }
    )
    assert fields["request_date"] == date(2021, 3, 12) and fields["officer_code"] == "E00005"
    assert fields["amount_to_be_paid"] == Decimal("21000.25")
    assert fields["type_of_payment"] is TypeOfPayment.BANK_TRANSFER and fields["sms_required"] is True
    [line] = fields["lines"]
    assert line.stage is PolicyStage.NEW and line.amount == Decimal("1500.5")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"request_date": "1700-01-01"}, "10: Request Date not valid"),
        ({"type_of_payment": -1}, "10-Uknown type of payment"),
        ({"type_of_payment": "Cheque"}, "10-Uknown type of payment"),
        ({"amount_to_be_paid": "NaN"}, "2-Wrong format of input data"),
        ({"policies": []}, "2:Not valid insurance or missing product code"),
        ({"policies": [{"insurance_product_code": "X", "renewal": 3}]}, "10:EnrolmentType was not provided"),
    ],
)
def test_first_binding_error_wins(change: dict[str, object], message: str) -> None:
    body = {
        "phone_number": "1",
        "request_date": "2021-03-12",
        "enrolment_officer_code": "E1",
        "policies": [{"insurance_product_code": "X", "renewal": 1}],
    } | change
    with pytest.raises(WireError) as err:
        intent_of_pay(body)
    assert str(err.value) == message


def test_internal_identifier() -> None:
    assert internal_identifier("24", "bad") == 24
    for value in (None, 0, "x", 1.5, [1]):
        with pytest.raises(WireError):
            internal_identifier(value, "bad")
