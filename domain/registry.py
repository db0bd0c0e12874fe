"""Registry value objects: what valuation and matching need to know about products, families and policies.

These are plain frozen dataclasses so `domain/` stays free of I/O; `store/` maps its tables onto them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import IntEnum, StrEnum

ZERO = Decimal("0")


class PolicyStage(StrEnum):
    NEW = "N"
    RENEWAL = "R"


class PolicyStatus(IntEnum):
    """openIMIS tblPolicy.PolicyStatus values."""

    IDLE = 1
    ACTIVE = 2
    SUSPENDED = 4
    EXPIRED = 8
    READY = 16


OTHER_RELATIONSHIP = 7
"""openIMIS relationship id 7 ("other"): such members are priced on top of the threshold."""


@dataclass(frozen=True)
class ProductTerms:
    """The pricing and period terms of an insurance product (openIMIS tblProduct)."""

    code: str
    name: str = ""
    lump_sum: Decimal = ZERO
    premium_adult: Decimal = ZERO
    premium_child: Decimal = ZERO
    member_threshold: int = 0
    max_members: int = 0
    general_assembly_lump_sum: Decimal = ZERO
    general_assembly_fee: Decimal = ZERO
    registration_lump_sum: Decimal = ZERO
    registration_fee: Decimal = ZERO
    enrolment_discount_perc: Decimal = ZERO
    enrolment_discount_period: int = 0  # months
    renewal_discount_perc: Decimal = ZERO
    renewal_discount_period: int = 0  # months
    insurance_period: int = 12  # months
    administration_period: int = 0  # months
    grace_period_enrolment: int = 0  # months
    grace_period_renewal: int = 0  # months
    start_cycles: tuple[str, ...] = ()  # "dd-MM" strings, at most four
    location_id: int | None = None


@dataclass(frozen=True)
class Member:
    """One insuree of a family, in the family's enrolment order."""

    birth_date: date
    relationship: int | None = None

    @property
    def is_other(self) -> bool:
        return self.relationship == OTHER_RELATIONSHIP


@dataclass(frozen=True)
class FamilyComposition:
    """Head-count of a family not yet in the registry (proxy family, openIMIS ProxySettings)."""

    adults: int = 3
    children: int = 2
    other_adults: int = 0
    other_children: int = 0


@dataclass(frozen=True)
class PolicySnapshot:
    """The latest policy of a family for a product, as valuation needs it."""

    status: PolicyStatus
    stage: PolicyStage
    value: Decimal
    enroll_date: date
    start_date: date
    expiry_date: date
    premiums_paid: Decimal = ZERO
    """Sum of the premiums already entered for this policy."""
    last_premium_amount: Decimal | None = None
    """Amount of the latest premium, if any (the EO 'contribution entered by phone')."""
    already_linked: Decimal = ZERO
    """Amount of payment details already linked to that latest premium."""


@dataclass(frozen=True)
class FamilyFacts:
    """What the registry knows about the family behind an insurance number."""

    members: tuple[Member, ...] = field(default_factory=tuple)
    latest_policy: PolicySnapshot | None = None
