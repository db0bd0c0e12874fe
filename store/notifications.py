"""The audit log of payment notifications, written by the API as they arrive, accepted or not."""

from __future__ import annotations

from decimal import Decimal

from store.db import SessionFactory, transaction
from store.models import PaymentNotification

MAX_BODY = 4096


async def log_notification(
    sessions: SessionFactory,
    *,
    tenant: str,
    client_id: str,
    body: str,
    code: int,
    reason: str,
    payment_id: int | None = None,
    control_number: str | None = None,
    transaction_id: str | None = None,
    amount: Decimal | None = None,
) -> None:
    async with transaction(sessions) as s:
        s.add(
            PaymentNotification(
                tenant=tenant,
                client_id=client_id,
                payment_id=payment_id,
                control_number=control_number,
                transaction_id=transaction_id,
                amount=amount,
                accepted=code == 0,
                code=code,
                reason=reason,
                body=body[:MAX_BODY],
            )
        )
