"""The registry behind one interface: what intent validation and valuation read.

`RegistryReader` is the seam: this module reads payflow's own tables; a deployment can provide an
implementation reading an openIMIS database instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.intent import LineFacts, OfficerFacts, PaymentIntentInput
from domain.registry import (
    FamilyFacts,
    Member,
    PolicySnapshot,
    PolicyStage,
    PolicyStatus,
    ProductTerms,
)
from store.db import SessionFactory
from store.models import Insuree, Location, Officer, PaymentDetail, Policy, Premium, Product


@dataclass(frozen=True)
class LineRegistry:
    facts: LineFacts
    product: ProductTerms | None
    family: FamilyFacts | None


@dataclass(frozen=True)
class IntentRegistry:
    officer: OfficerFacts | None
    lines: list[LineRegistry]


class RegistryReader(Protocol):
    async def intent_facts(self, request: PaymentIntentInput) -> IntentRegistry: ...


def product_terms(p: Product) -> ProductTerms:
    return ProductTerms(
        code=p.code,
        name=p.name,
        lump_sum=p.lump_sum,
        premium_adult=p.premium_adult,
        premium_child=p.premium_child,
        member_threshold=p.member_threshold,
        max_members=p.max_members,
        general_assembly_lump_sum=p.general_assembly_lump_sum,
        general_assembly_fee=p.general_assembly_fee,
        registration_lump_sum=p.registration_lump_sum,
        registration_fee=p.registration_fee,
        enrolment_discount_perc=p.enrolment_discount_perc,
        enrolment_discount_period=p.enrolment_discount_period,
        renewal_discount_perc=p.renewal_discount_perc,
        renewal_discount_period=p.renewal_discount_period,
        insurance_period=p.insurance_period,
        administration_period=p.administration_period,
        grace_period_enrolment=p.grace_period_enrolment,
        grace_period_renewal=p.grace_period_renewal,
        start_cycles=tuple(c.strip() for c in p.start_cycles.split(",") if c.strip()),
        location_id=p.location_id,
    )


class SqlRegistry:
    """RegistryReader over payflow's registry tables."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def intent_facts(self, request: PaymentIntentInput) -> IntentRegistry:
        async with self._sessions() as s:
            officer = await self._officer(s, request.officer_code) if request.officer_code else None
            lines = [
                await self._line(
                    s, ln.insurance_number, ln.product_code, ln.stage, bool(request.officer_code)
                )
                for ln in request.lines
            ]
            return IntentRegistry(officer, lines)

    async def _officer(self, s: AsyncSession, code: str) -> OfficerFacts | None:
        officer = (await s.exec(select(Officer).where(Officer.code == code))).first()
        if officer is None:
            return None
        parent = None
        if officer.location_id is not None:
            loc = await s.get(Location, officer.location_id)
            parent = loc.parent_id if loc else None
        return OfficerFacts(officer.location_id, parent)

    async def _line(
        self, s: AsyncSession, chfid: str | None, product_code: str, stage: PolicyStage, is_eo: bool
    ) -> LineRegistry:
        product = (await s.exec(select(Product).where(Product.code == product_code))).first()
        head = None
        if chfid:
            head = (
                await s.exec(select(Insuree).where(Insuree.chfid == chfid.strip(), col(Insuree.is_head)))
            ).first()
        if product is None or head is None:
            facts = LineFacts(
                product is not None,
                product.location_id if product else None,
                head is not None,
                product_from=product.date_from if product else None,
                product_to=product.date_to if product else None,
            )
            return LineRegistry(facts, product_terms(product) if product else None, None)
        policies = (
            await s.exec(
                select(Policy)
                .where(Policy.family_id == head.family_id, Policy.product_id == product.id)
                .order_by(col(Policy.enroll_date).desc(), col(Policy.id).desc())
            )
        ).all()
        if is_eo:
            candidates = [p for p in policies if p.stage == stage.value]
        else:
            candidates = [p for p in policies if p.status != PolicyStatus.EXPIRED]
        members = (
            await s.exec(select(Insuree).where(Insuree.family_id == head.family_id).order_by(col(Insuree.id)))
        ).all()
        family = FamilyFacts(
            members=tuple(Member(m.birth_date, m.relationship) for m in members),
            latest_policy=await self._snapshot(s, candidates[0]) if candidates else None,
        )
        facts = LineFacts(
            True,
            product.location_id,
            True,
            has_policy_of_product=bool(policies),
            product_from=product.date_from,
            product_to=product.date_to,
        )
        return LineRegistry(facts, product_terms(product), family)

    async def _snapshot(self, s: AsyncSession, policy: Policy) -> PolicySnapshot:
        premiums = (
            await s.exec(select(Premium).where(Premium.policy_id == policy.id).order_by(col(Premium.id)))
        ).all()
        last = premiums[-1] if premiums else None
        linked = Decimal("0")
        if last is not None:
            linked = (
                await s.exec(
                    select(func.coalesce(func.sum(PaymentDetail.amount), 0)).where(
                        PaymentDetail.premium_id == last.id
                    )
                )
            ).one()
        return PolicySnapshot(
            status=PolicyStatus(policy.status),
            stage=PolicyStage(policy.stage),
            value=policy.value,
            enroll_date=policy.enroll_date,
            start_date=policy.start_date,
            expiry_date=policy.expiry_date,
            premiums_paid=sum((p.amount for p in premiums), Decimal("0")),
            last_premium_amount=last.amount if last else None,
            already_linked=Decimal(linked),
        )
