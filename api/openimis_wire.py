"""openIMIS ePayment request bodies, read as leniently as ASP.NET Core model binding reads them.

Json.NET matches property names case-insensitively (`smsRequired` = `SmsRequired`), turns numbers
into strings and numeric strings into numbers, and reads enums by value or name. The first failing
attribute's message is the error, in property-declaration order, as the openIMIS controllers answer.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from api.openimis_schemas import MAX_POLICIES
from api.schemas import ROW_ID_MAX
from domain.intent import MAX_OFFICER_CODE, IntentLine, insurance_number_format_ok, repeated_policy
from domain.money import TypeOfPayment
from domain.registry import PolicyStage

UNKNOWN_TYPE_OF_PAYMENT = "10-Uknown type of payment"
BAD_DATA = "2-Wrong format of input data"
_DATE_FORMATS = ("%Y/%m/%d", "%Y-%m-%d")


class WireError(ValueError):
    """A body that model binding rejects; the message is the openIMIS text."""


class Body:
    """Case-insensitive view of a JSON object."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._values = {str(k).lower(): v for k, v in raw.items()}

    def get(self, name: str) -> Any:
        return self._values.get(name.lower())

    def has(self, name: str) -> bool:
        return self.get(name) is not None


def body(raw: Any) -> Body:
    if not isinstance(raw, Mapping):
        raise WireError(BAD_DATA)
    return Body(raw)


def as_str(value: Any, message: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise WireError(message)
    return str(value) if not isinstance(value, str) else value


def as_int(value: Any, message: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    raise WireError(message)


def as_decimal(value: Any, message: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise WireError(message)
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation as err:
        raise WireError(message) from err
    if not result.is_finite():
        raise WireError(message)
    return result


def as_bool(value: Any, message: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise WireError(message)


def as_date(value: Any, message: str) -> date:
    text = as_str(value, message)
    if not text:
        raise WireError(message)
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text.strip()[:10], fmt).date()
        except ValueError:
            continue
        if parsed.year > 1753:
            return parsed
    raise WireError(message)


def type_of_payment(value: Any) -> TypeOfPayment | None:
    if value is None:
        return None
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        names = {t.name.replace("_", "").lower(): t for t in TypeOfPayment}
        found = names.get(value.strip().replace("_", "").lower())
        if found is None:
            raise WireError(UNKNOWN_TYPE_OF_PAYMENT)
        return found
    number = as_int(value, UNKNOWN_TYPE_OF_PAYMENT)
    if number not in {t.value for t in TypeOfPayment}:
        raise WireError(UNKNOWN_TYPE_OF_PAYMENT)
    return TypeOfPayment(number)


def intent_of_pay(raw: Any) -> dict[str, Any]:
    """IntentOfPay → the fields of PaymentIntentInput (without ids), or WireError with openIMIS' text."""
    if raw is None:
        raise WireError(UNKNOWN_TYPE_OF_PAYMENT)
    b = body(raw)
    phone = as_str(b.get("phone_number"), "9: Phone number not provided")
    if not phone or not phone.strip():
        raise WireError("9: Phone number not provided")
    request_date = as_date(b.get("request_date"), "10: Request Date not valid")
    officer = as_str(b.get("enrolment_officer_code"), "3:Not valid enrolment officer code")
    officer = officer.strip() if officer and officer.strip() else None
    if officer and len(officer) > MAX_OFFICER_CODE:
        raise WireError("3:Not valid enrolment officer code")
    policies = b.get("policies")
    if not isinstance(policies, list) or not policies:
        raise WireError("2:Not valid insurance or missing product code")
    if len(policies) > MAX_POLICIES:
        raise WireError(f"2-Wrong format of input data: at most {MAX_POLICIES} policies")
    lines = [_payment_detail(p) for p in policies]
    if repeated_policy(lines) is not None:
        raise WireError(BAD_DATA)
    to_be_paid = _not_negative(as_decimal(b.get("amount_to_be_paid"), BAD_DATA))
    if to_be_paid and not officer:
        raise WireError("amunt to be paid is not required if Enrolment officer is not provided")
    return {
        "phone_number": phone.strip(),
        "request_date": request_date,
        "officer_code": officer,
        "lines": lines,
        "amount_to_be_paid": to_be_paid,
        "language": as_str(b.get("language"), BAD_DATA),
        "type_of_payment": type_of_payment(b.get("type_of_payment")),
        "sms_required": as_bool(b.get("smsrequired"), BAD_DATA),
    }


def _payment_detail(raw: Any) -> IntentLine:
    b = body(raw)
    number = as_str(b.get("insurance_number"), "1:Wrong format of insurance number ")
    if number is not None and number.strip() and not insurance_number_format_ok(number.strip()):
        raise WireError("1:Wrong format of insurance number ")
    product = as_str(b.get("insurance_product_code"), "2:Not valid insurance or missing product code")
    if not product or not product.strip():
        raise WireError("2:Not valid insurance or missing product code")
    renewal = as_int(b.get("renewal"), "10:EnrolmentType was not provided")
    if renewal is None or not 0 <= renewal <= 2:
        raise WireError("10:EnrolmentType was not provided")
    return IntentLine(
        insurance_number=number.strip() if number else None,
        product_code=product.strip(),
        stage=PolicyStage.RENEWAL if renewal else PolicyStage.NEW,
        amount=_not_negative(as_decimal(b.get("amount"), BAD_DATA)),
    )


def _not_negative(amount: Decimal | None) -> Decimal | None:
    """A negative amount is data openIMIS cannot use (one line of -20,999 would bill a year for 1)."""
    if amount is not None and amount < 0:
        raise WireError(BAD_DATA)
    return amount


NOT_WITH_CONTROL_NUMBER = ("insurance_number", "insurance_product_code", "renewal", "enrolment_officer_code")


def payment_data(raw: Any) -> dict[str, Any]:
    """PaymentData (GetPaymentData) → Notification fields, or WireError with openIMIS' text."""
    b = body(raw)
    bad = BAD_DATA
    control_number = as_str(b.get("control_number"), bad)
    control_number = control_number.strip() if control_number and control_number.strip() else None
    if control_number:
        for name in NOT_WITH_CONTROL_NUMBER:
            if b.has(name):
                raise WireError(f"{name} is not required if Control Number is provided")
    received_date = as_date(b.get("received_date"), "1-Wrong or missing receiving date")
    payment_date = as_date(b.get("payment_date"), "5-Invalid Payment Date") if b.has("payment_date") else None
    if b.has("type_of_payment"):
        try:
            type_of_payment(b.get("type_of_payment"))
        except WireError:
            raise WireError("9-Uknown type of payment") from None
    amount = as_decimal(b.get("received_amount"), bad)
    transaction = as_str(b.get("transaction_identification"), bad)
    if amount is None or amount <= 0 or not transaction or not transaction.strip():
        raise WireError(bad)
    fields: dict[str, Any] = {
        "control_number": control_number,
        "transaction_id": transaction.strip()[:50],
        "receipt_no": as_str(b.get("receipt_identification"), bad),
        "amount": amount,
        "received_date": received_date,
        "payment_date": payment_date,
        "origin": as_str(b.get("payment_origin"), bad),
        "payer_phone": as_str(b.get("payer_phone_number"), bad),
    }
    if control_number:
        return {"report": fields}
    number = as_str(b.get("insurance_number"), "1:Wrong format of insurance number ")
    if not number or not insurance_number_format_ok(number.strip()):
        raise WireError("1:Wrong format of insurance number ")
    product = as_str(b.get("insurance_product_code"), "2:Not valid insurance or missing product code")
    renewal = as_int(b.get("renewal"), "10:EnrolmentType was not provided")
    if not product or not product.strip():
        raise WireError("7-Product Code Does not Exist")
    if renewal is None:
        raise WireError("10:EnrolmentType was not provided")
    officer = as_str(b.get("enrolment_officer_code"), bad)
    return {
        "report": fields,
        "insurance_number": number.strip(),
        "product_code": product.strip(),
        "renewal": renewal != 0,
        "officer_code": officer.strip() if officer and officer.strip() else None,
    }


def ddmmyyyy(raw: Any, message: str) -> date:
    text = as_str(raw, message)
    try:
        return datetime.strptime((text or "").strip(), "%d%m%Y").date()
    except ValueError as err:
        raise WireError(message) from err


def payment_or_intent(raw: Any, message: str) -> int | str:
    """An internal identifier: a payment id, or the intent id GetControlNumber answered before the
    payment record existed (its worker was down)."""
    if isinstance(raw, str) and not raw.strip().lstrip("+-").isdigit():
        try:
            return str(uuid.UUID(raw.strip()))
        except ValueError as err:
            raise WireError(message) from err
    return internal_identifier(raw, message)


def internal_identifier(raw: Any, message: str) -> int:
    value = as_int(raw, message)
    if value is None or not 0 < value <= ROW_ID_MAX:
        raise WireError(message)
    return value
