"""Reconciliation records: compare statement lines with receipts and keep issues for operators; and
the statement days, each pending until a run reconciled it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlmodel import col, func, select

from domain.reconciliation import (
    Comparison,
    MissingPayment,
    ReconciliationReport,
    RunDays,
    Statement,
    StatementLine,
    days_to_open,
)
from store.db import SessionFactory, add_once, transaction
from store.models import Payment, PaymentReceipt, ReconciliationDay, ReconciliationIssue, utcnow

PENDING, DONE, MARKED = "pending", "done", "marked"


async def compare(sessions: SessionFactory, statement: Statement) -> Comparison:
    """Receipts we lack become `missing` (to be fed to their flows); amount differences and unknown
    control numbers become issues. Issues are unique per (day, transaction, control number, kind): a re-run
    adds none. The gateway bills for every tenant; a line belongs to its control number's tenant."""
    result = Comparison(day=statement.day, checked=len(statement.lines))
    for line in statement.lines:
        async with sessions() as s:
            payment = (
                await s.exec(select(Payment).where(Payment.control_number == line.control_number))
            ).first()
            receipt = None
            if payment is not None:  # transaction ids are unique per tenant: the bill's tenant's
                receipt = (
                    await s.exec(
                        select(PaymentReceipt).where(
                            PaymentReceipt.tenant == payment.tenant,
                            PaymentReceipt.transaction_id == line.transaction_id,
                        )
                    )
                ).first()
        if receipt is not None:
            if receipt.amount != line.amount:
                result.mismatches += 1
                await record_issue(sessions, statement.day, line, "amount_mismatch", receipt.amount)
        elif payment is None:
            result.unknown += 1
            await record_issue(sessions, statement.day, line, "unknown_control_number", None)
        else:
            result.missing.append(MissingPayment(intent_id=payment.intent_id, line=line))
    return result


async def record_issue(
    sessions: SessionFactory,
    day: date,
    line: StatementLine,
    kind: str,
    ours: Decimal | None,
    detail: str = "",
) -> None:
    issue = ReconciliationIssue(
        day=day,
        kind=kind,
        control_number=line.control_number,
        transaction_id=line.transaction_id,
        gateway_amount=line.amount,
        our_amount=ours,
        detail=detail,
    )
    await add_once(sessions, issue)  # False: recorded by an earlier run of the same day


# --- statement days -----------------------------------------------------------------------------


async def open_days(sessions: SessionFactory, days: RunDays) -> list[date]:
    """The days a run reconciles, each with its row: the given day, or else (a scheduled run) the days
    no run opened yet (`days_to_open`) and every day still pending, oldest first."""
    if days.day is not None:
        await add_once(sessions, ReconciliationDay(day=days.day))
        return [days.day]
    async with sessions() as s:
        last = (await s.exec(select(func.max(ReconciliationDay.day)))).one()
    for day in days_to_open(last, days.yesterday):
        await add_once(sessions, ReconciliationDay(day=day))
    async with sessions() as s:
        q = select(ReconciliationDay.day).where(
            ReconciliationDay.state == PENDING, col(ReconciliationDay.day) <= days.yesterday
        )
        return list((await s.exec(q.order_by(col(ReconciliationDay.day)))).all())


async def finish_day(sessions: SessionFactory, report: ReconciliationReport, at: datetime) -> None:
    """Count the attempt; the day is done unless its statement was refused (then it stays as it was:
    pending, or done by an earlier run). `at` stamps the attempt (the run's step, the same for each
    retry of it): a retry after the commit finds its own stamp and counts nothing more."""
    async with transaction(sessions) as s:
        row = await s.get(ReconciliationDay, report.day) or ReconciliationDay(day=report.day)
        if row.updated_at == at:
            return
        row.attempts += 1
        row.outcome = report.summary()
        row.state = row.state if report.refused is not None else DONE
        row.updated_at = at
        s.add(row)


async def mark_day(sessions: SessionFactory, day: date, reason: str) -> bool:
    """An operator's word that `day` needs no statement (the gateway has none and never will); False
    when the day already has its statement."""
    async with transaction(sessions) as s:
        row = await s.get(ReconciliationDay, day) or ReconciliationDay(day=day)
        if row.state == DONE:
            return False
        row.state, row.outcome, row.updated_at = MARKED, f"marked by an operator: {reason}", utcnow()
        s.add(row)
    return True


async def day_rows(sessions: SessionFactory) -> list[ReconciliationDay]:
    async with sessions() as s:
        return list((await s.exec(select(ReconciliationDay).order_by(col(ReconciliationDay.day)))).all())
