"""Matching a received payment to its policies (openIMIS uspMatchPayment, research §6, defects fixed).

Fixed: the amount is distributed over the lines with cents reconciled (shares always add up to the
amount); "already paid" is the policy's own premiums, not every premium in the database; each line
makes one premium at most; the Idle/Ready activation test is an `or`, not an `and`; a renewal of a
policy that has already expired starts from the payment date instead of failing. Issue 23: shares
are cut against what each line still owes (the rest is surplus, so premiums never exceed a value);
a policy is paid once per payment; an officer's payment links only an unpaid contribution of a
running policy of the billed stage; an Idle policy whose period is over is renewed, not activated
in the past.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
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
    SAME_POLICY = "same_policy"
    """An earlier line of this payment already pays this policy: openIMIS processes a policy once."""


@dataclass(frozen=True)
class LinePolicy:
    """A policy of the line's family and product, as matching needs it."""

    id: int
    status: PolicyStatus
    stage: PolicyStage
    value: Decimal
    premiums_paid: Decimal
    start_date: date
    expiry_date: date
    open_contribution: Decimal = ZERO
    """What the latest premium (an officer's contribution) still has not linked to a payment."""

    def over(self, on: date) -> bool:
        """The policy's period ended before `on`: paying it now would buy cover in the past."""
        return self.expiry_date < on

    @property
    def owed(self) -> Decimal:
        return max(ZERO, self.value - self.premiums_paid)


def line_policy(policies: Sequence[LinePolicy], stage: PolicyStage, *, by_officer: bool) -> LinePolicy | None:
    """The policy a line is about, `policies` latest first: for an officer, the latest of the line's
    stage (the one whose contribution the officer enters, as valuation chose it); for a self-payer,
    the latest one. Suspended policies are never paid."""
    for policy in policies:
        if policy.status is not PolicyStatus.SUSPENDED and (not by_officer or policy.stage is stage):
            return policy
    return None


def choose_action(
    policy: LinePolicy | None,
    stage: PolicyStage,
    *,
    by_officer: bool,
    paid_on: date,
    basis: str | None = None,
) -> MatchAction | MatchError:
    """What matching does for a line, given the policy `line_policy` chose and what the bill was
    for (`basis`, the line's valuation basis)."""
    if by_officer:
        # Only a contribution the officer entered for a running policy of the billed stage, still
        # unpaid: never an already-paid, expired or other year's premium (research §6.2 check 8).
        running = (
            policy is not None and policy.status is not PolicyStatus.EXPIRED and not policy.over(paid_on)
        )
        if running and policy is not None and policy.open_contribution > 0:
            return MatchAction.LINK_EO_PREMIUM
        return MatchError.NO_PREMIUM_YET
    if policy is None:
        return MatchError.NO_POLICY
    pending = policy.status in (PolicyStatus.IDLE, PolicyStatus.READY)
    if not policy.over(paid_on) and (pending or basis == "idle_outstanding"):
        return MatchAction.PAY_POLICY  # a balance paid meanwhile by another bill leaves surplus
    if stage is PolicyStage.RENEWAL or pending or policy.status is PolicyStatus.ACTIVE:
        # research §6.3 case B: neither Idle nor Ready (or Idle with its period over) → a renewal
        return MatchAction.CREATE_RENEWAL
    return MatchError.NO_POLICY


def line_due(action: MatchAction, policy: LinePolicy, renewal_value: Decimal = ZERO) -> Decimal:
    """What a line still owes: the policy's balance (never the quoted amount, which someone else
    may have paid meanwhile), the renewal's value, or the officer's unlinked contribution."""
    if action is MatchAction.PAY_POLICY:
        return policy.owed
    if action is MatchAction.CREATE_RENEWAL:
        return renewal_value
    if action is MatchAction.LINK_EO_PREMIUM:
        return policy.open_contribution
    return ZERO


def once_per_policy(policy_ids: Sequence[int]) -> list[bool]:
    """True for the first line of each policy in a payment; later lines of it pay nothing."""
    seen: set[int] = set()
    first = []
    for pid in policy_ids:
        first.append(pid not in seen)
        seen.add(pid)
    return first


@dataclass(frozen=True)
class Decided:
    """A line matching can carry out: its action, the policy `line_policy` chose, and for a renewal
    its value as the bill priced it."""

    action: MatchAction
    policy: LinePolicy
    renewal_value: Decimal = ZERO


@dataclass(frozen=True)
class Settled:
    action: MatchAction
    share: Decimal
    """The part of the money received that this line takes."""
    premium: Decimal
    """Booked as a new premium: the share, except for an officer's contribution (already booked)."""
    value: Decimal
    """The value of the policy paid (the renewal's for a renewal)."""
    active: bool
    """The policy paid is Active afterwards."""
    outstanding: Decimal


def settle(lines: Sequence[Decided], credited: Decimal) -> tuple[list[Settled], Decimal]:
    """Share `credited` (received plus the fee added back) over the lines by what each still owes;
    a policy is paid once per payment, and the rest is surplus, never premium beyond a value."""
    firsts = once_per_policy([ln.policy.id for ln in lines])
    actions = [
        ln.action if first else MatchAction.SAME_POLICY for ln, first in zip(lines, firsts, strict=True)
    ]
    dues = [line_due(action, ln.policy, ln.renewal_value) for ln, action in zip(lines, actions, strict=True)]
    shares, surplus = distribute(credited, dues)
    settled: list[Settled] = []
    by_policy: dict[int, Settled] = {}
    for ln, action, share in zip(lines, actions, shares, strict=True):
        if action is MatchAction.SAME_POLICY:
            settled.append(replace(by_policy[ln.policy.id], action=action, share=share, premium=ZERO))
            continue
        if action is MatchAction.CREATE_RENEWAL:
            status, value, paid = PolicyStatus.IDLE, ln.renewal_value, ZERO
        else:
            status, value, paid = ln.policy.status, ln.policy.value, ln.policy.premiums_paid
        premium = share if action is not MatchAction.LINK_EO_PREMIUM else ZERO
        paid += premium
        active = status is PolicyStatus.ACTIVE or activates(status, value, paid)
        by_policy[ln.policy.id] = Settled(action, share, premium, value, active, max(ZERO, value - paid))
        settled.append(by_policy[ln.policy.id])
    return settled, surplus


def renewal_enroll_date(previous_expiry: date, paid_on: date) -> date:
    """A renewal follows the previous policy; one paid after that ended starts on the payment day."""
    return max(previous_expiry + timedelta(days=1), paid_on)


def activates(status: PolicyStatus, value: Decimal, premiums_paid: Decimal) -> bool:
    """An Idle or Ready policy becomes Active once its premiums reach its value."""
    return status in (PolicyStatus.IDLE, PolicyStatus.READY) and premiums_paid >= value
