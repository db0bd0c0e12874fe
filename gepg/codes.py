"""GePG status codes (research §5.6): one table of what each means for the flow, read by every place
that reads a GePG reply or callback, and the "code:description" reasons openIMIS stores for them.

A reply is read by its TrxStsCode (or ReconcStsCode), not its TrxSts: GePG answers a retried cancel
"GF 7283 Bill has been cancelled", and some replies carry no TrxSts at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

SUCCESS = "7101"
FAILURE = "7201"
INVALID_REQUEST = "7242"
INVALID_SIGNATURE = "7303"
NO_PAYMENT_FOUND = "7324"
DUPLICATE_BILL = "7226"
BILL_SETTLED = "7279"
BILL_CANCELLED = "7283"
SETTLED, FAILED = "GS", "GF"
"""TrxSts of a bill in a control-number or cancellation reply (what we send; we read the code)."""


class Meaning(IntEnum):
    """What a code means for the flow, ordered so the worst of several codes decides."""

    ACCEPTED = 0
    """Done as asked."""
    ALREADY_DONE = 1
    """A retry met what an earlier attempt did (its reply lost): counts as done."""
    RETRY = 2
    """Nothing about the bill: ask again later (the activity raises and Temporal retries)."""
    REFUSED = 3
    """Final: the flow records the refusal with its reasons."""


@dataclass(frozen=True)
class Code:
    description: str
    meaning: Meaning


CODES = {
    SUCCESS: Code("Successful", Meaning.ACCEPTED),
    NO_PAYMENT_FOUND: Code("No payment(s) found for specified bill control number", Meaning.ACCEPTED),
    # a reconciliation day without payments: an empty statement
    DUPLICATE_BILL: Code("Duplicate Bill Information", Meaning.ALREADY_DONE),  # a retried bill submission
    BILL_CANCELLED: Code("Bill has been cancelled", Meaning.ALREADY_DONE),  # a retried cancel
    INVALID_SIGNATURE: Code("Invalid Signature", Meaning.RETRY),  # keys being rotated: an operator's fix
    FAILURE: Code("Failure", Meaning.REFUSED),
    INVALID_REQUEST: Code("Invalid Request Data", Meaning.REFUSED),
    BILL_SETTLED: Code("Bill already settled", Meaning.REFUSED),  # cannot cancel: its payment is notified
    "7301": Code("Bill has been paid partially", Meaning.REFUSED),
    "7302": Code("Paid amount is not exact billed amount", Meaning.REFUSED),
}
UNKNOWN = Code("Unknown", Meaning.REFUSED)


def _split(codes: str) -> list[str]:
    return [c.strip() for c in codes.split(";") if c.strip()] or [FAILURE]


def meaning(codes: str) -> Meaning:
    """The meaning of a status field, which may list several codes (`7242;7627`): the worst one's."""
    return max(CODES.get(c, UNKNOWN).meaning for c in _split(codes))


def done(codes: str) -> bool:
    """Accepted, or already done by an earlier attempt."""
    return meaning(codes) <= Meaning.ALREADY_DONE


def reasons(codes: str) -> str:
    """`7242;7627` → `7242:Invalid Request Data;7627:Unknown` (ImisPayment.PrepareRejectedReason)."""
    return ";".join(f"{c}:{CODES.get(c, UNKNOWN).description}" for c in _split(codes))
