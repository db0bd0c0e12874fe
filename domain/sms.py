"""SMS notices of the control-number process (research §7), in the request's primary or secondary language.

Texts follow openIMIS' ePayment templates; the secondary language is Swahili as in the CHF build.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel

from domain.money import remaining


class SmsKind(StrEnum):
    CN_ASSIGNED = "control_number_assigned"
    CN_NOT_ASSIGNED = "control_number_not_assigned"
    PAYMENT_CONFIRMATION = "payment_confirmation"
    PAID_AND_ACTIVATED = "paid_and_activated"
    PAID_NOT_ACTIVATED = "paid_not_activated"
    PAID_NOT_MATCHED = "paid_not_matched"
    REMINDER = "payment_reminder"
    CANCELLATION = "cancellation"


_PRIMARY: Mapping[SmsKind, str] = {
    SmsKind.CN_ASSIGNED: (
        "Control No:{control_number},Requested Date:{request_date},CHFID:{chfid},Product:{product_code},"
        "Amount:{amount}{others} Pay through mobile money or NMB bank"
    ),
    SmsKind.CN_NOT_ASSIGNED: (
        "Request for control number for CHFID:{chfid}, Product:{product_code}{others} was not successfully. "
        "Please try after sometime."
    ),
    SmsKind.PAYMENT_CONFIRMATION: (
        "Payment has been made to CHF-{location} Invoice: {control_number} Amount: {paid_amount} TZS "
        "Receipt: {receipt} Date: {payment_date} Through:{transaction}"
    ),
    SmsKind.PAID_AND_ACTIVATED: (
        "Payment for control number {control_number} paid successfully. CHFID:{chfid},Product:{product_code},"
        "Start Date:{start_date},Expire Date:{expiry_date}"
    ),
    SmsKind.PAID_NOT_ACTIVATED: (
        "Paid amount:{paid_amount} ,Control No:{control_number} CHFID {chfid} is insufficient. "
        "{outstanding} should be paid to activate the policy."
    ),
    SmsKind.PAID_NOT_MATCHED: (
        "The payment {paid_amount} performed on {payment_date} for the control number {control_number} "
        "received but the policies in the set containing the family/group {chfid} with the insurance product "
        "{product_code}{others} cannot be matched for time being."
    ),
    SmsKind.REMINDER: (
        "Reminder: Control No:{control_number} for CHFID:{chfid},Product:{product_code},"
        "Amount:{amount}{others} expires on {expiry_date}. Pay through mobile money or NMB bank"
    ),
    SmsKind.CANCELLATION: "Invoice number {control_number} has been cancelled for CHF payment on {today}",
}

_SECONDARY: Mapping[SmsKind, str] = {
    SmsKind.CN_ASSIGNED: (
        "Ankara Na:{control_number},Tarehe ya Ombi:{request_date},CHFID:{chfid},Bidhaa:{product_code},"
        "Kiasi:{amount}{others} Lipa kwa simu ya mkononi au benki ya NMB"
    ),
    SmsKind.CN_NOT_ASSIGNED: (
        "Ombi la namba ya malipo kwa CHFID:{chfid}, Bidhaa:{product_code}{others} halikufanikiwa. "
        "Tafadhali jaribu tena baadaye."
    ),
    SmsKind.PAYMENT_CONFIRMATION: (
        "Malipo yamefanyika kwa CHF-{location} Ankara: {control_number} Kiasi: {paid_amount} TZS "
        "Risiti: {receipt} Tarehe: {payment_date} Kupitia:{transaction}"
    ),
    SmsKind.PAID_AND_ACTIVATED: (
        "Malipo ya ankara {control_number} yamefanikiwa. CHFID:{chfid},Bidhaa:{product_code},"
        "Tarehe ya Kuanza:{start_date},Tarehe ya Kuisha:{expiry_date}"
    ),
    SmsKind.PAID_NOT_ACTIVATED: (
        "Kiasi kilicholipwa:{paid_amount} ,Ankara Na:{control_number} CHFID {chfid} hakitoshi. "
        "Lipa {outstanding} ili kuanzisha bima."
    ),
    SmsKind.PAID_NOT_MATCHED: (
        "Malipo {paid_amount} ya tarehe {payment_date} kwa ankara {control_number} yamepokelewa lakini bima "
        "za familia {chfid} kwa bidhaa {product_code}{others} hazijaunganishwa kwa sasa."
    ),
    SmsKind.REMINDER: (
        "Kumbusho: Ankara Na:{control_number} ya CHFID:{chfid},Bidhaa:{product_code},Kiasi:{amount}{others} "
        "inaisha tarehe {expiry_date}. Lipa kwa simu ya mkononi au benki ya NMB"
    ),
    SmsKind.CANCELLATION: "Ankara namba {control_number} imefutwa kwa malipo ya CHF tarehe {today}",
}

_OTHERS = {True: " and {n} others", False: " na wengine {n}"}


def is_primary(language: str | None, primary_languages: str) -> bool:
    """openIMIS LocalDefault: no language or one of the configured primary names means primary."""
    if not language:
        return True
    names = {n.strip().lower() for n in primary_languages.split(",")}
    return language.strip().lower() in names


def render(kind: SmsKind, primary: bool, *, others: int = 0, **fields: object) -> str:
    """Render a notice; `others` counts the further families/products of a multi-line intent."""
    template = (_PRIMARY if primary else _SECONDARY)[kind]
    extra = _OTHERS[primary].format(n=others) if others else ""
    return template.format(others=extra, **fields)


@dataclass(frozen=True)
class PaidFacts:
    """One payment the gateway reported, as its confirmation states it."""

    amount: Decimal
    receipt_no: str
    transaction: str
    paid_on: date | None


def confirmed_transaction(key: str) -> str | None:
    """The transaction a payment confirmation is for: its key is `<intent id>:<kind>:<transaction id>`."""
    parts = key.split(":", 2)
    return parts[2] if len(parts) == 3 and parts[1] == SmsKind.PAYMENT_CONFIRMATION else None


def money_fields(to_be_paid: Decimal, received_total: Decimal, paid: PaidFacts | None) -> dict[str, str]:
    """What a notice says about money: the bill's amount is what is left to pay (a reminder after a
    partial payment asks for the rest), and a confirmation states its own payment, never the running
    total nor the latest receipt."""
    fields = {"amount": f"{remaining(to_be_paid, received_total):,.2f}"}
    if paid is not None:
        fields |= {
            "paid_amount": f"{paid.amount:,.2f}",
            "receipt": paid.receipt_no,
            "transaction": paid.transaction,
            "payment_date": f"{paid.paid_on:%d-%m-%Y}" if paid.paid_on else "",
        }
    return fields


# --- the outbox's resend sweep ------------------------------------------------------------------

RESEND_MAX = timedelta(hours=1)
FAILED_TOO_LONG = timedelta(days=1)
"""A notice still unsent this long after it was queued is an operator's problem (`payflow check`)."""


def resend_after(resends: int, first: timedelta) -> timedelta:
    """The wait before the sweep tries a failed notice again: `first` (the SMS_RESEND_BACKOFF_S
    setting), doubling per resend, at most 1 h."""
    return min(first * 2 ** min(resends, 16), RESEND_MAX)


class ResendInput(BaseModel):
    every_s: float = 60.0
    """How often the sweep looks for failed notices that are due."""


class ResendReport(BaseModel):
    due: int = 0
    sent: int = 0
