"""Policy valuation for payment intents: openIMIS uspPolicyValue and friends, with their defects fixed.

Sources: shared/research/openimis-payments.md §4.3–4.7. Fixed defects: Decimal throughout (no integer
truncation of the value), "other" members are counted, the renewal grace period applies to stage R,
the age of majority is configurable and computed from real birthdays, not calendar-year differences.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.registry import (
    ZERO,
    FamilyComposition,
    FamilyFacts,
    Member,
    PolicyStage,
    PolicyStatus,
    ProductTerms,
)

CENT = Decimal("0.01")


@dataclass(frozen=True)
class PolicyPeriod:
    start_date: date
    expiry_date: date
    has_cycles: bool


def add_months(d: date, months: int) -> date:
    """Calendar month arithmetic like SQL DATEADD(MONTH): the day is clamped to the target month's end."""
    years, month0 = divmod(d.month - 1 + months, 12)
    year, month = d.year + years, month0 + 1
    return date(year, month, min(d.day, monthrange(year, month)[1]))


def age_on(birth_date: date, on: date) -> int:
    """Age in whole years, counting the birthday only once reached (not a calendar-year difference)."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def _month_day(spec: str) -> tuple[int, int]:
    day, month = (int(part) for part in spec.split("-"))
    return month, day


def _in_year(month_day: tuple[int, int], year: int) -> date:
    """A cycle start in `year`; 29-02 falls back to 28-02 in common years."""
    month, day = month_day
    return date(year, month, min(day, monthrange(year, month)[1]))


def local_date(now: datetime, zone: str) -> date:
    """The deployment's date at `now`: intents are valued on it, as payment dates are local ones."""
    return now.astimezone(ZoneInfo(zone)).date()


def policy_period(product: ProductTerms, enroll_date: date, stage: PolicyStage) -> PolicyPeriod:
    """uspGetPolicyPeriod, with the renewal grace period used for stage R (the SP only knows GracePeriod)."""
    ref = add_months(enroll_date, product.administration_period) if stage == PolicyStage.NEW else enroll_date
    cycles = [c for c in product.start_cycles if c]
    if cycles:
        grace = product.grace_period_enrolment if stage == PolicyStage.NEW else product.grace_period_renewal
        month_days = sorted(_month_day(c) for c in cycles)
        starts = (_in_year(md, ref.year) for md in month_days)
        start = next((s for s in starts if ref < add_months(s, grace)), _in_year(month_days[0], ref.year + 1))
    else:
        start = ref
    expiry = add_months(start, product.insurance_period) - timedelta(days=1)
    return PolicyPeriod(start, expiry, bool(cycles))


def _discounted(
    product: ProductTerms,
    value: Decimal,
    stage: PolicyStage,
    enroll_date: date,
    previous_expiry: date | None,
) -> Decimal:
    """Early enrolment / early renewal discounts of uspPolicyValue."""
    period = policy_period(product, enroll_date, stage)
    if stage == PolicyStage.NEW:
        perc, months = product.enrolment_discount_perc, product.enrolment_discount_period
        applies, reference = period.has_cycles, period.start_date
    else:
        perc, months = product.renewal_discount_perc, product.renewal_discount_period
        applies = True
        reference = previous_expiry + timedelta(days=1) if previous_expiry else period.start_date
    if perc > 0 and applies and enroll_date <= add_months(reference, -months):
        return value - value * perc / 100
    return value


def _price(
    product: ProductTerms,
    counts: FamilyComposition,
    stage: PolicyStage,
    enroll_date: date,
    previous_expiry: date | None,
) -> Decimal:
    """The uspPolicyValue formula on head-counts, shared by registry families and proxy families."""
    adults, children = counts.adults, counts.children
    threshold = product.member_threshold
    extra_adults = adults - threshold if threshold > 0 and adults > threshold else 0
    room_for_children = threshold - adults + extra_adults
    extra_children = children - room_for_children if threshold > 0 and children > room_for_children else 0
    everyone = adults + children + counts.other_adults + counts.other_children

    # The threshold caps what a lump sum covers; members above it pay their premium on top. A
    # per-member product already charges everyone, so (unlike uspPolicyValue) extras are not charged
    # twice there — openIMIS' Python port (be-policy_py) prices it the same way.
    if product.lump_sum > 0:
        contribution = product.lump_sum
        contribution += extra_adults * product.premium_adult + extra_children * product.premium_child
    else:
        contribution = adults * product.premium_adult + children * product.premium_child
    contribution += counts.other_adults * product.premium_adult
    contribution += counts.other_children * product.premium_child

    if product.general_assembly_lump_sum > 0:
        assembly = product.general_assembly_lump_sum
    else:
        assembly = everyone * product.general_assembly_fee

    registration = ZERO
    if stage == PolicyStage.NEW:
        if product.registration_lump_sum > 0:
            registration = product.registration_lump_sum
        else:
            registration = everyone * product.registration_fee

    value = _discounted(product, contribution + assembly + registration, stage, enroll_date, previous_expiry)
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def policy_value(
    product: ProductTerms,
    members: Sequence[Member],
    stage: PolicyStage,
    enroll_date: date,
    *,
    previous_expiry: date | None = None,
    age_of_majority: int = 18,
) -> Decimal:
    """uspPolicyValue for a registry family: members beyond max_members are not priced."""
    counted = members[: product.max_members] if product.max_members > 0 else members
    adults = children = other_adults = other_children = 0
    for member in counted:
        adult = age_on(member.birth_date, enroll_date) >= age_of_majority
        if member.is_other:
            other_adults += adult
            other_children += not adult
        else:
            adults += adult
            children += not adult
    counts = FamilyComposition(adults, children, other_adults, other_children)
    return _price(product, counts, stage, enroll_date, previous_expiry)


def proxy_family_value(product: ProductTerms, composition: FamilyComposition, enroll_date: date) -> Decimal:
    """uspPolicyValueProxyFamily: a family not yet registered is priced as a new enrolment."""
    return _price(product, composition, PolicyStage.NEW, enroll_date, None)


class ValuationBasis(StrEnum):
    PROVIDED = "provided"
    POLICY_VALUE = "policy_value"
    PROXY_FAMILY = "proxy_family"
    EO_OUTSTANDING = "eo_outstanding"
    IDLE_OUTSTANDING = "idle_outstanding"


@dataclass(frozen=True)
class LineValue:
    amount: Decimal
    basis: ValuationBasis


def value_line(
    product: ProductTerms,
    family: FamilyFacts | None,
    stage: PolicyStage,
    *,
    is_eo: bool,
    enroll_date: date,
    provided_amount: Decimal | None = None,
    proxy: FamilyComposition = FamilyComposition(),
    age_of_majority: int = 18,
) -> LineValue:
    """Value of one intent line (uspInsertPaymentIntent decision tree, research §4.3).

    `family.latest_policy` must already be the policy the caller selected for this line: for an EO, the
    latest policy of that stage; for a self-payer, the latest one not expired.
    """
    if provided_amount:
        return LineValue(provided_amount, ValuationBasis.PROVIDED)
    if family is None:
        return LineValue(proxy_family_value(product, proxy, enroll_date), ValuationBasis.PROXY_FAMILY)

    policy = family.latest_policy
    previous_expiry: date | None = None
    if is_eo:
        # The EO is paying a contribution already entered by phone: only what is not yet linked is due.
        if policy is not None and policy.last_premium_amount is not None:
            outstanding = max(ZERO, policy.last_premium_amount - policy.already_linked)
            return LineValue(outstanding, ValuationBasis.EO_OUTSTANDING)
    elif policy is not None:
        pending = policy.status in (PolicyStatus.IDLE, PolicyStatus.READY)
        if pending and policy.expiry_date >= enroll_date:
            # An Idle policy already exists: pay its balance rather than pricing a second one.
            outstanding = max(ZERO, policy.value - policy.premiums_paid)
            return LineValue(outstanding, ValuationBasis.IDLE_OUTSTANDING)
        if stage is PolicyStage.RENEWAL or pending or policy.status is PolicyStatus.ACTIVE:
            # What matching will buy (research §6.3 case B): the renewal after this policy, also for
            # a new-enrolment line of a family already covered, never a second enrolment on top.
            stage, previous_expiry = PolicyStage.RENEWAL, policy.expiry_date
    value = policy_value(
        product,
        family.members,
        stage,
        enroll_date,
        previous_expiry=previous_expiry,
        age_of_majority=age_of_majority,
    )
    return LineValue(value, ValuationBasis.POLICY_VALUE)


def expected_amount(lines: Sequence[LineValue], amount_to_be_paid: Decimal | None) -> Decimal:
    """ExpectedAmount of the intent: an EO's positive amount overrides the computed line values."""
    if amount_to_be_paid is not None and amount_to_be_paid > 0:
        return amount_to_be_paid
    return sum((line.amount for line in lines), ZERO)
