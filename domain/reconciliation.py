"""Daily reconciliation of the gateway's statement with the payments payflow recorded."""

from __future__ import annotations

from datetime import date, timedelta
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
    refused: str | None = None
    """Why the gateway refused the day's statement: the day stays pending and the next run asks again."""

    def summary(self) -> str:
        if self.refused is not None:
            return f"statement refused: {self.refused}"
        return (
            f"{self.checked} statement lines, {self.recorded} missing payments recorded, "
            f"{self.mismatches} mismatches, {self.unknown} unknown control numbers"
        )


class RunDays(BaseModel):
    """What a run reconciles: the given `day` only, or else (a scheduled run) every day still pending."""

    yesterday: date
    day: date | None = None


LOOKBACK = timedelta(days=31)
"""How far back a run opens days that no run opened (the schedule skipped them)."""


def days_to_open(last: date | None, yesterday: date) -> list[date]:
    """The days a scheduled run adds to the pending ones: every day after the last one known, up to
    yesterday (the first run: yesterday only), so runs the schedule skipped or that failed leave no
    gap; at most LOOKBACK back."""
    start = yesterday if last is None else max(last + timedelta(days=1), yesterday - LOOKBACK)
    return [start + timedelta(days=n) for n in range((yesterday - start).days + 1)]


def overdue(day: date, today: date) -> bool:
    """A day without its statement by the day after tomorrow: its 06:00 run and the next one are past."""
    return day < today - timedelta(days=1)
