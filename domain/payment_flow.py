"""Messages of the payment-intent flow: what the workflow, its activities and the API exchange."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel

from domain.intent import INTENT_MESSAGES, CNMode, GatewayProtocol, PaymentReport
from domain.registry import PolicyStage
from domain.sms import SmsKind
from domain.status import PaymentStatus

DUPLICATE_CONTROL_NUMBER = "8: " + INTENT_MESSAGES[8].removeprefix("8-")
"""The reason an intent whose control number another intent holds ends with (status -3)."""


def payment_workflow_id(intent_id: str) -> str:
    """The id of an intent's workflow: the API starts it, reconciliation and `payflow check` find it."""
    return f"payment-intent-{intent_id}"


class LineState(BaseModel):
    insurance_number: str | None
    product_code: str
    stage: PolicyStage
    expected_amount: Decimal = Decimal("0")
    basis: str | None = None


class ValuationResult(BaseModel):
    payment_id: int
    error_code: int | None = None
    reason: str | None = None
    lines: list[LineState] = []
    expected_amount: Decimal = Decimal("0")
    transfer_fee: Decimal = Decimal("0")
    amount_to_be_paid: Decimal = Decimal("0")


class BillRequest(BaseModel):
    intent_id: str
    payment_id: int
    expires_at: datetime
    protocol: GatewayProtocol = GatewayProtocol.JSON


class BillAck(BaseModel):
    accepted: bool
    code: str = ""
    message: str = ""


BILL_REFUSALS = frozenset({400, 404, 409, 422})
"""HTTP statuses with which a gateway refuses a bill for good, when they carry its refusal code."""


def bill_refused(http_status: int, code: object) -> bool:
    """A definitive refusal of a bill (final: the intent fails with -2). 408, 429, an expired
    credential (401/403), 5xx, or a 4xx without the gateway's code are outages: retried."""
    return http_status in BILL_REFUSALS and bool(code)


class ControlNumberReceipt(BaseModel):
    """The gateway's answer to a bill: a control number, or an error (openIMIS GetReqControlNumber)."""

    control_number: str | None = None
    error_occured: bool = False
    error_message: str | None = None


class ControlNumberWrite(BaseModel):
    payment_id: int
    control_number: str


class ControlNumberResult(BaseModel):
    outcome: str  # assigned, duplicate, failed
    status: PaymentStatus
    message: str = ""


class Acknowledgement(BaseModel):
    """The gateway's acknowledgement of a posted bill (openIMIS PostReqControlNumberAck)."""

    error_occured: bool = False
    error_message: str | None = None


class StatusWrite(BaseModel):
    payment_id: int
    status: PaymentStatus
    only_from: list[PaymentStatus]
    reason: str | None = None


class StoreView(BaseModel):
    """The payment as the store holds it after a guarded status write: the store is the truth the
    workflow adopts when it is ahead (another step, or a run the Temporal server lost, got there)."""

    status: PaymentStatus
    control_number: str | None = None
    reason: str | None = None
    received_amount: Decimal = Decimal("0")
    paid_on: date | None = None
    transactions: list[str] = []


PROGRESS = [
    PaymentStatus.CREATED,
    PaymentStatus.POSTED,
    PaymentStatus.ASSIGNED,
    PaymentStatus.RECEIVED,
    PaymentStatus.MATCHED,
]
"""The order a payment moves in; every other status is final and comes after all of these."""


def progress(status: PaymentStatus | None) -> int:
    if status is None:
        return 0
    return PROGRESS.index(status) + 1 if status in PROGRESS else len(PROGRESS) + 1


def store_is_ahead(store: PaymentStatus, flow: PaymentStatus | None) -> bool:
    """Guarded writes only move a payment forward, so a store status further on than the workflow's
    is news to the workflow (a step it did not see); one behind it is a write the workflow made since."""
    return progress(store) > progress(flow)


class SmsNotice(BaseModel):
    payment_id: int
    kind: SmsKind
    key: str
    """Unique per notice (intent id + kind): the outbox sends each key once."""
    recipient: str | None = None
    """Defaults to the intent's phone number; the payment confirmation goes to the payer's phone."""
    fields: dict[str, str] = {}
    """Template fields the workflow knows (line, dates, amounts), on top of the payment's own."""


class ReceiptWrite(BaseModel):
    payment_id: int
    report: PaymentReport
    partial: bool


class ReceiptResult(BaseModel):
    received_total: Decimal
    complete: bool
    """The amount to be paid is covered: the payment moved to 4 RECEIVED."""


class LineMatch(BaseModel):
    line_no: int
    insurance_number: str | None
    product_code: str
    amount: Decimal = Decimal("0")
    error: int | None = None
    message: str = ""
    activated: bool = False
    outstanding: Decimal = Decimal("0")
    policy_start: date | None = None
    policy_expiry: date | None = None


class MatchResult(BaseModel):
    matched: bool
    lines: list[LineMatch] = []

    @property
    def reasons(self) -> str:
        return "; ".join(f"line {ln.line_no}: {ln.error} {ln.message}" for ln in self.lines if ln.error)


class MatchRequest(BaseModel):
    payment_id: int
    paid_on: date


class CancelRequest(BaseModel):
    reason: str = "Cancelled on request"


class CancelOutcome(BaseModel):
    cancelled: bool
    code: int = 0
    message: str = ""


class TimelineEntry(BaseModel):
    status: PaymentStatus
    at: datetime
    note: str | None = None


class IntentState(BaseModel):
    """What the `status` query answers: status code and name, amounts, control number, lines, steps."""

    intent_id: str
    tenant: str
    cn_mode: CNMode
    payment_id: int | None = None
    status: PaymentStatus | None = None
    control_number: str | None = None
    expected_amount: Decimal | None = None
    transfer_fee: Decimal | None = None
    amount_to_be_paid: Decimal | None = None
    error_code: int | None = None
    reason: str | None = None
    lines: list[LineState] = []
    timeline: list[TimelineEntry] = []
    received_amount: Decimal = Decimal("0")
    paid_on: date | None = None
    transactions: list[str] = []
    match: MatchResult | None = None
    match_attempts: int = 0
    not_matched_sms: list[datetime] = []
    """Loop counter and SMS keys of the matching retry: carried over continue-as-new with the rest."""

    @property
    def status_name(self) -> str:
        return self.status.name if self.status is not None else "PENDING"

    @property
    def control_number_settled(self) -> bool:
        """The control-number step is over: assigned, failed, rejected or cancelled."""
        return self.status is not None and self.status not in (PaymentStatus.CREATED, PaymentStatus.POSTED)


def record_payment_update_id(transaction_id: str) -> str:
    """One `record_payment` update id per gateway transaction, whoever sends it (the gateway's
    notification, its retry, the reconciliation feed): Temporal applies it once per run."""
    return f"record_payment-{transaction_id}"
