"""SMS notices of the control-number process (research §7), in the request's primary or secondary language.

Texts follow openIMIS' ePayment templates; the secondary language is Swahili as in the CHF build.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


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
