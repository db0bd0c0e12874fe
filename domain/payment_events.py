"""Payment events of flow A (SPEC §5), published in the tenant's event log at each status change."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.status import PaymentStatus

EVENT_OF_STATUS = {
    PaymentStatus.CREATED: "payment_intent.created",
    PaymentStatus.ASSIGNED: "control_number.assigned",
    PaymentStatus.RECEIVED: "payment.received",
    PaymentStatus.MATCHED: "payment.matched",
    PaymentStatus.CANCELLED: "payment_intent.cancelled",
}


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def payment_event(
    status: PaymentStatus,
    at: datetime,
    *,
    intent_id: str,
    payment_id: int,
    control_number: str | None,
    expected: Decimal,
    to_be_paid: Decimal,
    received: Decimal,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "eventType": EVENT_OF_STATUS[status],
        "payloadVersion": "1.0.0",
        "correlationId": intent_id,
        "timestamp": at.isoformat(),
        "intent": {
            "id": intent_id,
            "payment_id": payment_id,
            "status": int(status),
            "status_name": status.name,
            "control_number": control_number,
            "expected_amount": _amount(expected),
            "amount_to_be_paid": _amount(to_be_paid),
            "received_amount": _amount(received),
            "reason": reason,
        },
    }
