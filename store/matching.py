"""Receipt and matching writes: premiums, policy activation and renewals, once per payment line.

All of a match happens in one transaction that first claims the payment with a guarded write
(status 4 → 4, bumping `updated_at`): concurrent matchers of one payment queue on that row (a
PostgreSQL row lock, SQLite's write lock), and the loser finds the payment matched and returns the
stored result. `premium.payment_detail_id` is unique, so a line can never make two premiums.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import NotFound
from domain.intent import PaymentReport
from domain.matching import (
    LinePolicy,
    MatchAction,
    MatchError,
    choose_action,
    distribute,
    renewal_enroll_date,
)
from domain.payment_flow import LineMatch, MatchResult, ReceiptResult
from domain.registry import Member, PolicyStage, PolicyStatus
from domain.status import PaymentStatus
from domain.valuation import policy_period, policy_value
from store.db import SessionFactory, transaction
from store.events import publish_payment
from store.models import (
    Family,
    Insuree,
    Location,
    Payment,
    PaymentDetail,
    PaymentReceipt,
    Policy,
    Premium,
    Product,
    utcnow,
)
from store.registry import product_terms


class ReceiptConflict(Exception):
    """The transaction id is already recorded for another payment of the same tenant."""


async def record_receipt(
    sessions: SessionFactory, payment_id: int, report: PaymentReport, partial: bool
) -> ReceiptResult:
    """Add a gateway payment to the intent once per transaction id of its tenant (another tenant's
    PSP may use the same id); 4 RECEIVED when it is covered."""
    async with transaction(sessions) as s:
        payment = await _claimed(s, payment_id)
        seen = (
            await s.exec(
                select(PaymentReceipt).where(
                    PaymentReceipt.tenant == payment.tenant,
                    PaymentReceipt.transaction_id == report.transaction_id,
                )
            )
        ).first()
        if seen is not None and seen.payment_id != payment_id:
            raise ReceiptConflict(f"transaction {report.transaction_id} belongs to payment {seen.payment_id}")
        if seen is None:
            s.add(
                PaymentReceipt(
                    payment_id=payment_id,
                    tenant=payment.tenant,
                    transaction_id=report.transaction_id,
                    amount=report.amount,
                    received_date=report.received_date,
                    payment_date=report.payment_date,
                    receipt_no=report.receipt_no,
                    origin=report.origin,
                    payer_phone=report.payer_phone,
                )
            )
            payment.received_amount += report.amount
            payment.received_date = report.received_date
            payment.payment_date = report.payment_date or report.received_date
            payment.payer_phone = report.payer_phone or payment.payer_phone
            payment.transaction_no = report.transaction_id
            payment.receipt_no = report.receipt_no
            payment.payment_origin = report.origin
        complete = not partial or payment.received_amount >= payment.amount_to_be_paid
        if complete and payment.status in (PaymentStatus.CREATED, PaymentStatus.ASSIGNED):
            payment.status = int(PaymentStatus.RECEIVED)
            await publish_payment(s, payment, PaymentStatus.RECEIVED)
        payment.updated_at = utcnow()
        s.add(payment)
        return ReceiptResult(received_total=payment.received_amount, complete=complete)


async def _claimed(s: AsyncSession, payment_id: int) -> Payment:
    """Take the payment's row for this transaction, then read it (see the module docstring)."""
    await s.exec(update(Payment).where(col(Payment.id) == payment_id).values(updated_at=utcnow()))
    payment = await s.get(Payment, payment_id)
    if payment is None:
        raise NotFound(f"payment {payment_id} not found")
    return payment


@dataclass
class _Line:
    detail: PaymentDetail
    product: Product | None = None
    family_id: int | None = None
    policy: Policy | None = None
    premiums: list[Premium] | None = None
    action: MatchAction | None = None
    error: MatchError | None = None


async def match_payment(
    sessions: SessionFactory, payment_id: int, paid_on: date, *, age_of_majority: int = 18
) -> MatchResult:
    async with transaction(sessions) as s:
        payment = await _claimed(s, payment_id)
        if payment.status == PaymentStatus.MATCHED and payment.match_note:
            return MatchResult.model_validate_json(payment.match_note)
        if payment.status != PaymentStatus.RECEIVED:
            return MatchResult(matched=False)
        details = (
            await s.exec(
                select(PaymentDetail)
                .where(PaymentDetail.payment_id == payment_id)
                .order_by(col(PaymentDetail.line_no))
            )
        ).all()
        lines = [await _inspect(s, d, by_officer=bool(payment.officer_code), today=paid_on) for d in details]
        if any(ln.error for ln in lines):
            result = MatchResult(matched=False, lines=[_report(ln) for ln in lines])
            payment.match_note = result.model_dump_json()
            s.add(payment)
            return result
        shares, surplus = distribute(payment.received_amount, [ln.detail.expected_amount for ln in lines])
        outcomes = [
            await _apply(s, ln, share, payment, paid_on, age_of_majority)
            for ln, share in zip(lines, shares, strict=True)
        ]
        result = MatchResult(matched=True, lines=outcomes)
        payment.status = int(PaymentStatus.MATCHED)
        payment.matched_at = utcnow()
        payment.surplus = surplus
        payment.match_note = result.model_dump_json()
        s.add(payment)
        await publish_payment(s, payment, PaymentStatus.MATCHED)
        return result


def _report(ln: _Line) -> LineMatch:
    return LineMatch(
        line_no=ln.detail.line_no,
        insurance_number=ln.detail.insurance_number,
        product_code=ln.detail.product_code,
        error=ln.error.value if ln.error else None,
        message=ln.error.message if ln.error else "",
    )


async def _inspect(s: AsyncSession, detail: PaymentDetail, *, by_officer: bool, today: date) -> _Line:
    line = _Line(detail)
    if not detail.insurance_number:
        line.error = MatchError.NO_INSURANCE_NUMBER
        return line
    head = (
        await s.exec(select(Insuree).where(Insuree.chfid == detail.insurance_number, col(Insuree.is_head)))
    ).first()
    if head is None:
        line.error = MatchError.UNKNOWN_INSUREE
        return line
    line.family_id = head.family_id
    line.product = (await s.exec(select(Product).where(Product.code == detail.product_code))).first()
    if line.product is None or not await _product_allowed(s, line.product, head.family_id, today):
        line.error = MatchError.PRODUCT_NOT_ALLOWED
        return line
    line.policy = (
        await s.exec(
            select(Policy)
            .where(
                Policy.family_id == head.family_id,
                Policy.product_id == line.product.id,
                Policy.status != PolicyStatus.SUSPENDED,
            )
            .order_by(col(Policy.enroll_date).desc(), col(Policy.id).desc())
        )
    ).first()
    snapshot = None
    if line.policy is not None:
        line.premiums = list(
            (
                await s.exec(
                    select(Premium).where(Premium.policy_id == line.policy.id).order_by(col(Premium.id))
                )
            ).all()
        )
        snapshot = LinePolicy(
            PolicyStatus(line.policy.status),
            line.policy.value,
            sum((p.amount for p in line.premiums), Decimal("0")),
            line.policy.expiry_date,
            bool(line.premiums),
        )
    decision = choose_action(snapshot, PolicyStage(detail.stage), by_officer=by_officer)
    if isinstance(decision, MatchError):
        line.error = decision
    else:
        line.action = decision
    return line


async def _product_allowed(s: AsyncSession, product: Product, family_id: int, today: date) -> bool:
    if (product.date_from and today < product.date_from) or (product.date_to and today > product.date_to):
        return False
    if product.location_id is None:
        return True
    family = await s.get(Family, family_id)
    location_id = family.location_id if family else None
    while location_id is not None:
        if location_id == product.location_id:
            return True
        location = await s.get(Location, location_id)
        location_id = location.parent_id if location else None
    return False


async def _apply(
    s: AsyncSession, ln: _Line, share: Decimal, payment: Payment, paid_on: date, age_of_majority: int
) -> LineMatch:
    assert ln.policy is not None and ln.product is not None and ln.premiums is not None
    detail, policy = ln.detail, ln.policy
    paid_before = sum((p.amount for p in ln.premiums), Decimal("0"))
    if ln.action is MatchAction.CREATE_RENEWAL:
        policy = await _renewal(s, ln, share, paid_on, age_of_majority)
        paid_before = Decimal("0")
    if ln.action is MatchAction.LINK_EO_PREMIUM:
        premium = ln.premiums[-1]
    else:
        premium = Premium(
            policy_id=policy.id,
            amount=share,
            receipt=payment.transaction_no or "",
            pay_date=paid_on,
            pay_type="C",
            payment_detail_id=detail.id,
        )
        s.add(premium)
        await s.flush()
        paid_before += share
    if policy.status in (PolicyStatus.IDLE, PolicyStatus.READY) and paid_before >= policy.value:
        policy.status = int(PolicyStatus.ACTIVE)
        policy.effective_date = max(policy.start_date, paid_on)
        s.add(policy)
    detail.premium_id = premium.id
    detail.amount = share
    s.add(detail)
    return LineMatch(
        line_no=detail.line_no,
        insurance_number=detail.insurance_number,
        product_code=detail.product_code,
        amount=share,
        activated=policy.status == PolicyStatus.ACTIVE,
        outstanding=max(Decimal("0"), policy.value - paid_before),
        policy_start=policy.start_date,
        policy_expiry=policy.expiry_date,
    )


async def _renewal(s: AsyncSession, ln: _Line, share: Decimal, paid_on: date, age_of_majority: int) -> Policy:
    """The next policy after `ln.policy`, valued for its own period; Idle until paid in full."""
    assert ln.policy is not None and ln.product is not None and ln.family_id is not None
    previous, terms = ln.policy, product_terms(ln.product)
    enroll = renewal_enroll_date(previous.expiry_date, paid_on)
    period = policy_period(terms, enroll, PolicyStage.RENEWAL)
    members = (
        await s.exec(select(Insuree).where(Insuree.family_id == ln.family_id).order_by(col(Insuree.id)))
    ).all()
    value = policy_value(
        terms,
        [Member(m.birth_date, m.relationship) for m in members],
        PolicyStage.RENEWAL,
        paid_on,
        previous_expiry=previous.expiry_date,
        age_of_majority=age_of_majority,
    )
    renewal = Policy(
        family_id=ln.family_id,
        product_id=previous.product_id,
        officer_id=previous.officer_id,
        stage=PolicyStage.RENEWAL.value,
        status=int(PolicyStatus.IDLE),
        enroll_date=paid_on,
        start_date=period.start_date,
        expiry_date=period.expiry_date,
        value=value,
    )
    s.add(renewal)
    await s.flush()
    return renewal
