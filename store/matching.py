"""Receipt and matching writes: premiums, policy activation and renewals, once per payment line.

All of a match happens in one transaction that first claims the payment with a guarded write
(status 4 → 4, bumping `updated_at`): concurrent matchers of one payment queue on that row (a
PostgreSQL row lock, SQLite's write lock), and the loser finds the payment matched and returns the
stored result. `premium.payment_detail_id` is unique, so a line can never make two premiums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import NotFound
from domain.intent import PaymentReport
from domain.matching import (
    ZERO,
    Decided,
    LinePolicy,
    MatchAction,
    MatchError,
    Settled,
    choose_action,
    line_policy,
    renewal_enroll_date,
    settle,
)
from domain.money import FeePolicy, fee_added_back, type_of_payment_named
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
    snapshot: LinePolicy | None = None
    premiums: list[Premium] = field(default_factory=list)
    action: MatchAction | None = None
    error: MatchError | None = None


async def match_payment(
    sessions: SessionFactory,
    payment_id: int,
    paid_on: date,
    *,
    age_of_majority: int = 18,
    fees: FeePolicy = FeePolicy(),
) -> MatchResult:
    """Carry out what the domain decides for each line; the money beyond what the lines still owe
    is the payment's surplus, and the transfer fee is added back first (research §2.5 step 2)."""
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
        lines = [
            await _inspect(s, d, by_officer=bool(payment.officer_code), paid_on=paid_on) for d in details
        ]
        if any(ln.error for ln in lines):
            result = MatchResult(matched=False, lines=[_report(ln) for ln in lines])
            payment.match_note = result.model_dump_json()
            s.add(payment)
            return result
        priced_on = payment.valued_on or paid_on  # what the bill quoted holds for the whole bill
        decided = []
        for ln in lines:
            assert ln.snapshot is not None and ln.action is not None
            renewal = ZERO
            if ln.action is MatchAction.CREATE_RENEWAL:
                renewal = await _renewal_value(s, ln, priced_on, age_of_majority)
            decided.append(Decided(ln.action, ln.snapshot, renewal))
        fee = fee_added_back(
            payment.received_amount,
            payment.amount_to_be_paid,
            payment.transfer_fee,
            type_of_payment_named(payment.type_of_payment),
            fees,
        )
        plans, surplus = settle(decided, payment.received_amount + fee)
        renewals: dict[int, Policy] = {}
        matched = [
            await _apply(s, ln, plan, payment, paid_on, renewals)
            for ln, plan in zip(lines, plans, strict=True)
        ]
        result = MatchResult(matched=True, lines=matched)
        payment.status = int(PaymentStatus.MATCHED)
        payment.matched_at = utcnow()
        payment.surplus = surplus
        payment.fee_added = fee
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


async def _inspect(s: AsyncSession, detail: PaymentDetail, *, by_officer: bool, paid_on: date) -> _Line:
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
    if line.product is None or not await _product_allowed(s, line.product, head.family_id, paid_on):
        line.error = MatchError.PRODUCT_NOT_ALLOWED
        return line
    policies = (
        await s.exec(
            select(Policy)
            .where(Policy.family_id == head.family_id, Policy.product_id == line.product.id)
            .order_by(col(Policy.enroll_date).desc(), col(Policy.id).desc())
        )
    ).all()
    snapshots = {p.id: await _snapshot(s, p) for p in policies}
    stage = PolicyStage(detail.stage)
    line.snapshot = line_policy(list(snapshots.values()), stage, by_officer=by_officer)
    if line.snapshot is not None:
        line.policy = next(p for p in policies if p.id == line.snapshot.id)
        line.premiums = await _premiums(s, line.snapshot.id)
    decision = choose_action(line.snapshot, stage, by_officer=by_officer, paid_on=paid_on, basis=detail.basis)
    if isinstance(decision, MatchError):
        line.error = decision
    else:
        line.action = decision
    return line


async def _premiums(s: AsyncSession, policy_id: int) -> list[Premium]:
    q = select(Premium).where(Premium.policy_id == policy_id).order_by(col(Premium.id))
    return list((await s.exec(q)).all())


async def _snapshot(s: AsyncSession, policy: Policy) -> LinePolicy:
    assert policy.id is not None
    premiums = await _premiums(s, policy.id)
    open_contribution = ZERO
    if premiums:
        linked = (
            await s.exec(
                select(func.coalesce(func.sum(PaymentDetail.amount), 0)).where(
                    PaymentDetail.premium_id == premiums[-1].id
                )
            )
        ).one()
        open_contribution = max(ZERO, premiums[-1].amount - Decimal(linked))
    return LinePolicy(
        id=policy.id,
        status=PolicyStatus(policy.status),
        stage=PolicyStage(policy.stage),
        value=policy.value,
        premiums_paid=sum((p.amount for p in premiums), ZERO),
        start_date=policy.start_date,
        expiry_date=policy.expiry_date,
        open_contribution=open_contribution,
    )


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
    s: AsyncSession, ln: _Line, plan: Settled, payment: Payment, paid_on: date, renewals: dict[int, Policy]
) -> LineMatch:
    """Write what `settle` decided for one line: the renewal, the premium or the link, the activation."""
    assert ln.policy is not None and ln.snapshot is not None
    detail, policy = ln.detail, renewals.get(ln.snapshot.id, ln.policy)
    premium: Premium | None = None
    if plan.action is MatchAction.CREATE_RENEWAL:
        policy = renewals[ln.snapshot.id] = await _renewal(s, ln, plan.value, paid_on)
    if plan.action is MatchAction.LINK_EO_PREMIUM:
        premium = ln.premiums[-1]
    elif plan.premium > 0:
        premium = Premium(
            policy_id=policy.id,
            amount=plan.premium,
            receipt=payment.transaction_no or "",
            pay_date=paid_on,
            pay_type="C",
            payment_detail_id=detail.id,
        )
        s.add(premium)
        await s.flush()
    if plan.active and policy.status != PolicyStatus.ACTIVE:
        policy.status = int(PolicyStatus.ACTIVE)
        policy.effective_date = max(policy.start_date, paid_on)
        s.add(policy)
    detail.premium_id = premium.id if premium is not None else None
    detail.amount = plan.share
    s.add(detail)
    return LineMatch(
        line_no=detail.line_no,
        insurance_number=detail.insurance_number,
        product_code=detail.product_code,
        amount=plan.share,
        activated=plan.active,
        outstanding=plan.outstanding,
        policy_start=policy.start_date,
        policy_expiry=policy.expiry_date,
    )


async def _renewal_value(s: AsyncSession, ln: _Line, priced_on: date, age_of_majority: int) -> Decimal:
    """The renewal's value on the day the bill was valued: its discount and its members' ages hold
    while the bill is valid (a child turning 18 meanwhile does not raise it)."""
    assert ln.policy is not None and ln.product is not None
    members = (
        await s.exec(select(Insuree).where(Insuree.family_id == ln.family_id).order_by(col(Insuree.id)))
    ).all()
    return policy_value(
        product_terms(ln.product),
        [Member(m.birth_date, m.relationship) for m in members],
        PolicyStage.RENEWAL,
        priced_on,
        previous_expiry=ln.policy.expiry_date,
        age_of_majority=age_of_majority,
    )


async def _renewal(s: AsyncSession, ln: _Line, value: Decimal, paid_on: date) -> Policy:
    """The next policy after `ln.policy`, for its own period; Idle until paid in full."""
    assert ln.policy is not None and ln.product is not None and ln.family_id is not None
    previous = ln.policy
    enroll = renewal_enroll_date(previous.expiry_date, paid_on)
    period = policy_period(product_terms(ln.product), enroll, PolicyStage.RENEWAL)
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
