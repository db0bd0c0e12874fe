"""OpenAPI request bodies of the openIMIS ePayment routes: what their lenient readers accept.

The routes read raw JSON themselves (api/openimis_wire.py reads it as ASP.NET Core model binding
does), so FastAPI cannot derive these; they are documentation and fuzzing input, not validation.
Property names are matched case-insensitively on the wire; the schemas give openIMIS' spelling.
"""

from __future__ import annotations

from typing import Any

MAX_POLICIES = 50
"""Policies of one IntentOfPay, as on /v1/payment-intents."""
MAX_IDENTIFIERS = 100
"""Identifiers of one GetAssignedControlNumbers request."""
INTEGER = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^\s*[-+]?\d+\s*$"}]}
NUMBER = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\s*[-+]?\d+(\.\d+)?\s*$"}]}
TEXT = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]}
FLAG = {"anyOf": [{"type": "boolean"}, {"type": "integer"}, {"type": "string", "enum": ["true", "false"]}]}
DATE = {"type": "string", "pattern": r"^\d{4}[-/]\d{2}[-/]\d{2}", "description": "yyyy-mm-dd or yyyy/mm/dd"}
DDMMYYYY = {"type": "string", "pattern": r"^\d{8}$", "description": "ddmmyyyy"}
IDENTIFIER = {
    "anyOf": [INTEGER, {"type": "string", "format": "uuid"}],
    "description": "a payment id, or the intent id GetControlNumber answered before the payment existed",
}
TYPE_OF_PAYMENT = {
    "anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}],
    "description": "by value or by name",
}


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), about: str = "") -> dict[str, Any]:
    """Unknown properties are ignored, as Json.NET ignores them."""
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(required)}
    return schema | ({"description": about} if about else {})


def request_body(schema: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads this JSON body itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


PAYMENT_DETAIL = _object(
    {
        "insurance_number": TEXT,
        "insurance_product_code": {"type": "string"},
        "renewal": INTEGER | {"description": "0 new, 1 or 2 renewal"},
        "amount": {"anyOf": [*NUMBER["anyOf"], {"type": "null"}]},
    },
    ("insurance_product_code", "renewal"),
)
INTENT_OF_PAY = _object(
    {
        "phone_number": {"anyOf": [{"type": "string"}, {"type": "number"}]},
        "request_date": DATE,
        "enrolment_officer_code": TEXT,
        "policies": {"type": "array", "items": PAYMENT_DETAIL, "minItems": 1, "maxItems": MAX_POLICIES},
        "amount_to_be_paid": {"anyOf": [*NUMBER["anyOf"], {"type": "null"}]},
        "language": TEXT,
        "type_of_payment": TYPE_OF_PAYMENT,
        "SmsRequired": FLAG,
    },
    ("phone_number", "request_date", "policies"),
    "IntentOfPay",
)
ASSIGNED_CONTROL_NUMBERS = _object(
    {
        "requests": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_IDENTIFIERS,
            "items": _object({"internal_identifier": IDENTIFIER}, ("internal_identifier",)),
        }
    },
    ("requests",),
)
ACKNOWLEDGEMENT = _object(
    {"internal_identifier": INTEGER, "error_occured": FLAG, "error_message": TEXT}, ("internal_identifier",)
)
CONTROL_NUMBER_DELIVERY = _object(
    {"internal_identifier": INTEGER, "control_number": TEXT, "error_occured": FLAG, "error_message": TEXT},
    ("internal_identifier", "error_occured"),
)
PAYMENT_DATA = _object(
    {
        "control_number": TEXT,
        "insurance_number": TEXT,
        "insurance_product_code": TEXT,
        "renewal": INTEGER,
        "enrolment_officer_code": TEXT,
        "transaction_identification": {"anyOf": [{"type": "string"}, {"type": "number"}]},
        "receipt_identification": TEXT,
        "received_amount": NUMBER,
        "received_date": DATE,
        "payment_date": DATE,
        "payment_origin": TEXT,
        "payer_phone_number": TEXT,
        "type_of_payment": TYPE_OF_PAYMENT,
    },
    ("transaction_identification", "received_amount", "received_date"),
    "PaymentData: a control number, or the policy paid (insurance number, product, renewal)",
)
MATCH_PAYMENT = _object(
    {
        "internal_identifier": INTEGER | {"description": "0 matches every unmatched payment"},
        "audit_user_id": TEXT,
    },
    ("audit_user_id",),
)
CANCEL_PAYMENT = _object(
    {"control_number": TEXT, "payment_id": INTEGER}, about="the bill by control number or payment id"
)
CONTROL_NUMBERS_FOR_EO = _object(
    {
        "OfficerCode": {"type": "string"},
        "ProductCode": {"type": "string"},
        "AvailableControlNumbers": INTEGER,
    },
    ("OfficerCode", "ProductCode"),
    "the officer asking, the product, and how many numbers he still holds unused",
)
RECONCILIATION_PERIOD = _object({"date_from": DDMMYYYY, "date_to": DDMMYYYY}, ("date_from", "date_to"))
