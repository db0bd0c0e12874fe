"""Daily reconciliation of the gateway's statement with the payments payflow recorded."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel


class ReconciliationInput(BaseModel):
    day: date | None = None
    """The statement day; the schedule leaves it empty, meaning yesterday."""


class StatementLine(BaseModel):
    control_number: str
    transaction_id: str
    amount: Decimal
    paid_on: date
    receipt: str | None = None
    payer_phone: str | None = None
    psp: str | None = None


class Statement(BaseModel):
    day: date
    lines: list[StatementLine]


class MissingPayment(BaseModel):
    """A statement line with no receipt in payflow, for an intent that exists: to be fed to its flow."""

    intent_id: str
    line: StatementLine


class Comparison(BaseModel):
    day: date
    checked: int
    missing: list[MissingPayment] = []
    mismatches: int = 0
    unknown: int = 0


class ReconciliationReport(BaseModel):
    day: date
    checked: int
    recorded: int
    mismatches: int
    unknown: int
