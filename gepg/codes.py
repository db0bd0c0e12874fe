"""GePG status codes (research §5.6) and the "code:description" reasons openIMIS stores for them."""

from __future__ import annotations

SUCCESS = "7101"
FAILURE = "7201"
INVALID_REQUEST = "7242"
INVALID_SIGNATURE = "7303"
NO_PAYMENT_FOUND = "7324"
DUPLICATE_BILL = "7226"
BILL_SETTLED = "7279"
BILL_CANCELLED = "7283"
SETTLED, FAILED = "GS", "GF"
"""TrxSts of a bill in a control-number or cancellation reply."""

DESCRIPTIONS = {
    SUCCESS: "Successful",
    FAILURE: "Failure",
    DUPLICATE_BILL: "Duplicate Bill Information",
    INVALID_REQUEST: "Invalid Request Data",
    BILL_SETTLED: "Bill already settled",
    BILL_CANCELLED: "Bill has been cancelled",
    "7301": "Bill has been paid partially",
    "7302": "Paid amount is not exact billed amount",
    INVALID_SIGNATURE: "Invalid Signature",
    NO_PAYMENT_FOUND: "No payment(s) found for specified bill control number",
}


def reasons(codes: str) -> str:
    """`7242;7627` → `7242:Invalid Request Data;7627:Unknown` (ImisPayment.PrepareRejectedReason)."""
    parts = [c.strip() for c in codes.split(";") if c.strip()] or [FAILURE]
    return ";".join(f"{c}:{DESCRIPTIONS.get(c, 'Unknown')}" for c in parts)
