"""Reconciliation records: compare statement lines with receipts and keep issues for operators."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlmodel import select

from domain.reconciliation import Comparison, MissingPayment, Statement, StatementLine
from store.db import SessionFactory, add_once
from store.models import Payment, PaymentReceipt, ReconciliationIssue


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
