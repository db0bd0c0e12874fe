"""Payment intents: the normalised request a workflow runs on, and openIMIS' intent validation rules.

Validation follows uspInsertPaymentIntent's order (research §4.2), first failure wins, with two
fixes: an unknown product answers code 2 with its own text (the SP says 4 with the code-2 text), and
a missing insurance number answers code 6 "Missing insurance number" as the API's code table says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from domain.money import TypeOfPayment
from domain.registry import PolicyStage

INTENT_MESSAGES: dict[int, str] = {
    0: "Success",
    1: "1-Wrong format of insurance number",
    2: "2-Not valid insurance or missing product code",
    3: "3-Not valid enrolment officer code",
    4: "4-Enrolment officer code and insurance product code are not compatible",
    5: "5-Beneficiary has no policy of specified insurance product for renewal",
    6: "6-Missing insurance number",
    7: "7-Insuree not enrolled while prior enrolment mandatory.",
    8: "8-Duplicated control number assigned",
    9: "9-Control number cannot be assigned",
    10: "10-Uknown type of payment",
}
"""openIMIS SaveIntentResponse texts, spelling kept ("Uknown") because clients match on them."""

PAYMENT_DATA_MESSAGES: dict[int, str] = {
    0: "Success",
    1: "1-Wrong or missing receiving date",
    2: "2-Wrong format of input data",
    3: "3-Wrong control_number",
    4: "4-Wrong Amount",
    5: "5-Duplicate Payment Amount",
    6: "6-Enrolment Officer Code does not exist",
    7: "7-Product Code Does not Exist",
    8: "8-Beneficiary has no policy of specified insurance product for renewal",
    9: "9-Uknown type of payment",
}
"""openIMIS SavePayResponse texts (GetPaymentData); for an intent, a later check wins (5 over 4 over 3)."""

MAX_INSURANCE_NUMBER = 11
MAX_OFFICER_CODE = 7


class CNMode(StrEnum):
    GATEWAY = "gateway"
    INTERNAL = "internal"
    POOL = "pool"
    """A free number of the product's pool, billed in bulk beforehand (research §5.3, CHF since 2021)."""


class GatewayProtocol(StrEnum):
    """How the worker talks to the payment gateway: payflow's JSON simulator protocol or GePG's
    signed XML (gepg/). Fixed per intent at its start, so a deployment can switch without moving
    running intents to another gateway."""

    JSON = "json"
    GEPG = "gepg"


class IntentLine(BaseModel):
    insurance_number: str | None = None
    product_code: str
    stage: PolicyStage = PolicyStage.NEW
    amount: Decimal | None = None
    """A non-zero amount sent by the client overrides the computed value of the line."""


class IntentOptions(BaseModel):
    """Per-intent knobs fixed at start, so a settings change never alters a running workflow."""

    cn_mode: CNMode = CNMode.GATEWAY
    gateway_protocol: GatewayProtocol = GatewayProtocol.JSON
    """JSON for every intent started before GePG existed (their recorded inputs have no such field)."""
    cn_callback_timeout_s: int = 3600
    bill_expiry_days: int = 30
    prior_enrolment: bool = False
    """openIMIS Defaults:PriorEnrolment: a family must already hold a policy of the product (code 7)."""
    partial_payments: bool = False
    """Accumulate payments until the amount is covered; openIMIS accepts the exact amount only."""
    reminder_days: int = 3
    """Send a reminder SMS this many days before the bill expires (0: none)."""
    match_retry_hours: int = 24
    not_matched_sms_days: int = 7
    """One "paid but not matched" SMS per this many days at most (0: never; PeriodPayNotMatchedSms)."""


class PaymentReport(BaseModel):
    """A payment the gateway reports (openIMIS GetPaymentData), for an intent or without one."""

    control_number: str | None = None
    transaction_id: str = Field(min_length=1, max_length=50)
    receipt_no: str | None = None
    amount: Decimal = Field(gt=0)
    received_date: date
    payment_date: date | None = None
    origin: str | None = None
    payer_phone: str | None = None


class PaymentIntentInput(BaseModel):
    intent_id: str
    tenant: str
    phone_number: str
    request_date: date
    officer_code: str | None = None
    lines: list[IntentLine] = Field(min_length=1)
    amount_to_be_paid: Decimal | None = None
    language: str | None = None
    type_of_payment: TypeOfPayment | None = None
    sms_required: bool = False
    options: IntentOptions = IntentOptions()
    received: PaymentReport | None = None
    """Set for a payment notified without an intent: the flow starts at "received" (SPEC §3.2 step 7)."""
    resume_state: dict[str, Any] | None = None
    """The IntentState carried over when the workflow continues as new while it retries matching."""

    @property
    def insurance_numbers(self) -> list[str]:
        return sorted({ln.insurance_number for ln in self.lines if ln.insurance_number})


@dataclass(frozen=True)
class IntentError:
    code: int

    @property
    def message(self) -> str:
        return INTENT_MESSAGES[self.code]


@dataclass(frozen=True)
class OfficerFacts:
    location_id: int | None
    parent_location_id: int | None


@dataclass(frozen=True)
class LineFacts:
    """What the registry says about one line: product found, family found, policy of the product."""

    product_found: bool
    product_location_id: int | None = None
    family_exists: bool = False
    has_policy_of_product: bool = False
    product_from: date | None = None
    product_to: date | None = None

    def product_current(self, on: date) -> bool:
        """The product may be sold on `on` (its DateFrom..DateTo, research §6.2 check 5)."""
        return not (
            (self.product_from and on < self.product_from) or (self.product_to and on > self.product_to)
        )


def validate_intent(
    request: PaymentIntentInput,
    officer: OfficerFacts | None,
    lines: Sequence[LineFacts],
    *,
    prior_enrolment: bool,
    today: date | None = None,
) -> IntentError | None:
    """Return the first openIMIS business error of the intent, or None when it may be valued. A
    product outside its date range on `today` is not a valid product (code 2): matching would refuse
    it (106) every day, so it is never billed."""
    pairs = list(zip(request.lines, lines, strict=True))
    if any(not (ln.insurance_number or "").strip() for ln, _ in pairs):
        return IntentError(6)
    if any(not f.product_found or (today and not f.product_current(today)) for _, f in pairs):
        return IntentError(2)
    if request.officer_code:
        if officer is None:
            return IntentError(3)
        allowed = {officer.location_id, officer.parent_location_id}
        if any(f.product_location_id is not None and f.product_location_id not in allowed for _, f in pairs):
            return IntentError(4)
    for ln, f in pairs:
        if ln.stage is PolicyStage.RENEWAL and not (f.family_exists and f.has_policy_of_product):
            return IntentError(5)
    if prior_enrolment and any(not f.has_policy_of_product for _, f in pairs):
        return IntentError(7)
    return None


def bill_error(expected: Decimal) -> IntentError | None:
    """No bill of 0 or less is ever sent (research §4.7, §9): such a request fails (code 9)."""
    return IntentError(9) if expected <= 0 else None


def repeated_policy(lines: Sequence[IntentLine]) -> IntentLine | None:
    """The first line naming a policy (insurance number and product) an earlier line names: one
    intent pays a policy once (openIMIS processes a policy once per run, research §6.3)."""
    seen: set[tuple[str, str]] = set()
    for ln in lines:
        if not (ln.insurance_number or "").strip():
            continue
        key = (ln.insurance_number.strip(), ln.product_code.strip())  # type: ignore[union-attr]
        if key in seen:
            return ln
        seen.add(key)
    return None


def insurance_number_format_ok(value: str) -> bool:
    """Generic openIMIS rule: 1 to 11 characters."""
    return 1 <= len(value) <= MAX_INSURANCE_NUMBER
