"""Matching a received payment to its policies (openIMIS uspMatchPayment, research §6, defects fixed).

Fixed: the amount is distributed over the lines with cents reconciled (shares always add up to the
amount); "already paid" is the policy's own premiums, not every premium in the database; each line
makes one premium at most; the Idle/Ready activation test is an `or`, not an `and`; a renewal of a
policy that has already expired starts from the payment date instead of failing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import IntEnum, StrEnum

from domain.registry import PolicyStage, PolicyStatus

CENT = Decimal("0.01")
ZERO = Decimal("0")


class MatchError(IntEnum):
    """Why a line cannot match yet (codes of openIMIS' Python port, be-payment_py services.py)."""

    NO_INSURANCE_NUMBER = 101
    NO_PRODUCT_CODE = 102
    UNKNOWN_INSUREE = 103
    NO_POLICY = 104
    PRODUCT_NOT_ALLOWED = 106
    UNKNOWN_OFFICER = 107
    NO_PREMIUM_YET = 109

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    MatchError.NO_INSURANCE_NUMBER: "no insurance number on the line",
    MatchError.NO_PRODUCT_CODE: "no product code on the line",
    MatchError.UNKNOWN_INSUREE: "insurance number not found (family not yet registered)",
    MatchError.NO_POLICY: "the family has no policy of this product",
    MatchError.PRODUCT_NOT_ALLOWED: "product not allowed for the family's location or not valid today",
    MatchError.UNKNOWN_OFFICER: "enrolment officer not found",
    MatchError.NO_PREMIUM_YET: "premium from the enrolment officer is not yet available",
}


def distribute(amount: Decimal, dues: Sequence[Decimal]) -> tuple[list[Decimal], Decimal]:
    """Split `amount` over lines owing `dues`: in full when it covers them (the rest is surplus),
    else in proportion to the dues, rounded down to cents with the leftover cents given to the
    largest remainders, so the shares add up to the amount exactly."""
    total = sum(dues, ZERO)
    if amount >= total:
        return list(dues), amount - total
    if total <= 0:
        return [ZERO for _ in dues], amount
    exact = [amount * due / total for due in dues]
    shares = [share.quantize(CENT, rounding=ROUND_DOWN) for share in exact]
    leftover = int(((amount - sum(shares, ZERO)) / CENT).to_integral_value())
    by_remainder = sorted(range(len(dues)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_remainder[:leftover]:
        shares[i] += CENT
    return shares, ZERO


class MatchAction(StrEnum):
    PAY_POLICY = "pay_policy"
    """A premium on the line's Idle or Ready policy, activating it once paid in full."""
    CREATE_RENEWAL = "create_renewal"
    """The previous policy is running or over: a new renewal policy starts after it."""
    LINK_EO_PREMIUM = "link_eo_premium"
    """An officer's payment for a contribution already entered: linked to that premium."""


@dataclass(frozen=True)
class LinePolicy:
    status: PolicyStatus
    value: Decimal
    premiums_paid: Decimal
    expiry_date: date
    has_premium: bool


def choose_action(
    policy: LinePolicy | None, stage: PolicyStage, *, by_officer: bool
) -> MatchAction | MatchError:
    """What matching does for a line, given the family's latest policy of the product."""
    if by_officer:
        return (
            MatchAction.LINK_EO_PREMIUM
            if policy is not None and policy.has_premium
            else MatchError.NO_PREMIUM_YET
        )
    if policy is None:
        return MatchError.NO_POLICY
    if policy.status in (PolicyStatus.IDLE, PolicyStatus.READY):
        return MatchAction.PAY_POLICY
    if stage is PolicyStage.RENEWAL:
        return MatchAction.CREATE_RENEWAL
    if policy.status is PolicyStatus.ACTIVE:
        return MatchAction.PAY_POLICY
    return MatchError.NO_POLICY


def renewal_enroll_date(previous_expiry: date, paid_on: date) -> date:
    """A renewal follows the previous policy; one paid after that expired starts on the payment day."""
    return max(previous_expiry + timedelta(days=1), paid_on)


def fully_paid(value: Decimal, premiums_paid: Decimal, share: Decimal) -> bool:
    return premiums_paid + share >= value
