"""Money arithmetic for payment intents: transfer fees and the "to be paid" amount.

Sources: shared/research/openimis-payments.md §4.7. The generic openIMIS build charges no fee and rounds to
2 decimals; the Tanzania CHF build takes a 1.1 % mobile-money fee and rounds to whole shillings. .NET
`Math.Round` rounds half to even, so that is the default here for parity. Amounts are always `Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from enum import IntEnum, StrEnum

ZERO = Decimal("0")


class TypeOfPayment(IntEnum):
    """openIMIS TypeOfPayment enum (stored by name on tblPayment)."""

    CASH = 0
    MOBILE_PHONE = 1
    BANK_TRANSFER = 2


class RoundingMode(StrEnum):
    HALF_EVEN = "half_even"
    HALF_UP = "half_up"

    @property
    def decimal_rounding(self) -> str:
        return ROUND_HALF_EVEN if self is RoundingMode.HALF_EVEN else ROUND_HALF_UP


@dataclass(frozen=True)
class FeePolicy:
    """Fee and rounding rules of a deployment; the defaults are the generic openIMIS build."""

    mobile_rate: Decimal = ZERO
    """0 = no fee (generic build); Decimal("0.011") = Tanzania CHF build."""
    to_be_paid_places: int = 2
    """Decimals kept in the amount to be paid: 2 generic, 0 CHF."""
    rounding: RoundingMode = RoundingMode.HALF_EVEN


def round_money(amount: Decimal, places: int, rounding: RoundingMode) -> Decimal:
    """Round to `places` decimals with an explicit midpoint rule (never the ambient context's)."""
    return amount.quantize(Decimal(1).scaleb(-places), rounding=rounding.decimal_rounding)


def _charges_fee(type_of_payment: TypeOfPayment | None, policy: FeePolicy) -> bool:
    return type_of_payment == TypeOfPayment.MOBILE_PHONE and policy.mobile_rate > 0


def transfer_fee(expected: Decimal, type_of_payment: TypeOfPayment | None, policy: FeePolicy) -> Decimal:
    """Fee included in `expected`, so that expected - fee reaches the scheme (CHF ImisPayment)."""
    if not _charges_fee(type_of_payment, policy):
        return ZERO
    return round_money(expected - expected / (1 + policy.mobile_rate), 0, policy.rounding)


def reverse_transfer_fee(
    received: Decimal, type_of_payment: TypeOfPayment | None, policy: FeePolicy
) -> Decimal:
    """Fee on an amount actually received, as CHF computes it when the payment is notified."""
    if not _charges_fee(type_of_payment, policy):
        return ZERO
    return round_money(received * policy.mobile_rate, 0, policy.rounding)


def amount_to_be_paid(expected: Decimal, fee: Decimal, policy: FeePolicy) -> Decimal:
    return round_money(expected - fee, policy.to_be_paid_places, policy.rounding)


def fee_added_back(
    received: Decimal,
    to_be_paid: Decimal,
    billed_fee: Decimal,
    type_of_payment: TypeOfPayment | None,
    policy: FeePolicy,
) -> Decimal:
    """The fee the carrier kept, added back before matching (research §2.5 step 2): the reverse fee
    of what was received, and never less than the bill's own fee once the bill is paid, so a payer
    who pays exactly what was billed is paid in full whatever the rounding of the reverse fee."""
    if type_of_payment != TypeOfPayment.MOBILE_PHONE:
        return ZERO
    fee = reverse_transfer_fee(received, type_of_payment, policy)
    if received >= to_be_paid > 0 and billed_fee > fee:
        return billed_fee
    return fee


def type_of_payment_named(name: str | None) -> TypeOfPayment | None:
    """The TypeOfPayment stored by name on a payment (openIMIS keeps the enum name)."""
    return TypeOfPayment[name] if name in TypeOfPayment.__members__ else None


def remaining(to_be_paid: Decimal, received: Decimal) -> Decimal:
    """What a bill still asks for after the payments received so far."""
    return max(ZERO, to_be_paid - received)
