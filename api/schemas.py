"""Wire schemas of the modern /v1 API: pydantic models, so /docs is the reference."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.intent import MAX_INSURANCE_NUMBER, MAX_OFFICER_CODE, IntentLine, repeated_policy
from domain.money import TypeOfPayment
from domain.payment_flow import IntentState
from domain.status import PaymentStatus
from store.models import Payment

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8)]
Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
ROW_ID_MAX = 2**31 - 1
"""Largest id a store row can have (PostgreSQL `integer`): a larger one is refused as bad input, not
passed to the database, which would fail on it."""
RowId = Annotated[int, Field(gt=0, le=ROW_ID_MAX)]


class PolicyToPay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    insurance_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_INSURANCE_NUMBER)] | None
    )
    product_code: Code
    renewal: bool = False
    amount: Money | None = None


class PaymentIntentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=20)]
    request_date: date
    officer_code: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_OFFICER_CODE)] | None
    ) = None
    policies: list[PolicyToPay] = Field(min_length=1, max_length=50)
    amount_to_be_paid: Money | None = None
    language: Annotated[str, StringConstraints(max_length=10)] | None = None
    type_of_payment: TypeOfPayment | None = None
    sms_required: bool = False

    @model_validator(mode="after")
    def _each_policy_once(self) -> PaymentIntentCreate:
        """One intent pays a policy once (openIMIS processes a policy once per run)."""
        lines = [
            IntentLine(insurance_number=p.insurance_number, product_code=p.product_code)
            for p in self.policies
        ]
        twice = repeated_policy(lines)
        if twice is not None:
            raise ValueError(f"names policy {twice.insurance_number} {twice.product_code} twice")
        return self


class TimelineStep(BaseModel):
    status: int
    status_name: str
    at: datetime
    note: str | None


class IntentLineView(BaseModel):
    insurance_number: str | None
    product_code: str
    stage: str
    expected_amount: Decimal
    basis: str | None


class PaymentIntentView(BaseModel):
    id: str
    payment_id: int | None
    status: int | None
    status_name: str
    control_number: str | None
    expected_amount: Decimal | None
    transfer_fee: Decimal | None
    amount_to_be_paid: Decimal | None
    error_code: int | None
    reason: str | None
    lines: list[IntentLineView]
    timeline: list[TimelineStep]

    @classmethod
    def of(cls, state: IntentState) -> PaymentIntentView:
        return cls(
            id=state.intent_id,
            payment_id=state.payment_id,
            status=int(state.status) if state.status is not None else None,
            status_name=state.status_name,
            control_number=state.control_number,
            expected_amount=state.expected_amount,
            transfer_fee=state.transfer_fee,
            amount_to_be_paid=state.amount_to_be_paid,
            error_code=state.error_code,
            reason=state.reason,
            lines=[IntentLineView(**ln.model_dump(mode="python")) for ln in state.lines],
            timeline=[
                TimelineStep(status=int(t.status), status_name=t.status.name, at=t.at, note=t.note)
                for t in state.timeline
            ],
        )


class PaymentIntentSummary(BaseModel):
    """One intent in a list, as the store has it (the list reads no workflow)."""

    id: str
    payment_id: int
    """The openIMIS `internal_identifier`: `/v1/payment-intents/{id}` takes it as well as the id."""
    status: int
    status_name: str
    control_number: str | None
    insurance_numbers: list[str]
    officer_code: str | None
    expected_amount: Decimal
    amount_to_be_paid: Decimal
    received_amount: Decimal
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, payment: Payment, insurance_numbers: list[str]) -> PaymentIntentSummary:
        assert payment.id is not None
        return cls(
            id=payment.intent_id,
            payment_id=payment.id,
            status=payment.status,
            status_name=PaymentStatus(payment.status).name,
            control_number=payment.control_number,
            insurance_numbers=insurance_numbers,
            officer_code=payment.officer_code,
            expected_amount=payment.expected_amount,
            amount_to_be_paid=payment.amount_to_be_paid,
            received_amount=payment.received_amount,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
        )
