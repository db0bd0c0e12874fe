"""The audit log of payment notifications, written by the API as they arrive: one row per attempt.

Each row says how the attempt ended (`outcome`): accepted, repeated (a retry of a transaction accepted
before, answered as accepted again), rejected (a 4xx with its openIMIS code) or unavailable (a 503 the
gateway retries). Retries of a transaction are numbered (`attempt` 2, 3, …),
and a unique key lets one row per gateway transaction be the accepted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from store.db import SessionFactory, transaction
from store.models import PaymentNotification

MAX_BODY = 4096
NO_CODE = -1
"""The code of an attempt that got no openIMIS answer (outcome unavailable)."""


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REPEATED = "repeated"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Received:
    """One notification as it arrived."""

    tenant: str
    client_id: str
    body: str
    control_number: str | None = None
    transaction_id: str | None = None
    amount: Decimal | None = None


async def log_notification(
    sessions: SessionFactory,
    received: Received,
    *,
    code: int,
    reason: str,
    outcome: Outcome | None = None,
    payment_id: int | None = None,
) -> bool:
    """Append the attempt. An accepted one claims its transaction: False (and nothing written) when
    another accepted row holds it already, i.e. this attempt is a duplicate."""
    outcome = outcome or (Outcome.ACCEPTED if code == 0 else Outcome.REJECTED)
    tx = received.transaction_id
    claim = f"{received.tenant}\n{tx}" if outcome is Outcome.ACCEPTED and tx else None
    try:
        async with transaction(sessions) as s:
            attempt = 1
            if tx:
                earlier = select(func.count()).where(
                    PaymentNotification.tenant == received.tenant, PaymentNotification.transaction_id == tx
                )
                attempt += int((await s.exec(earlier)).one())
            s.add(
                PaymentNotification(
                    tenant=received.tenant,
                    client_id=received.client_id,
                    payment_id=payment_id,
                    control_number=received.control_number,
                    transaction_id=tx,
                    amount=received.amount,
                    accepted=outcome is Outcome.ACCEPTED,
                    code=code,
                    reason=reason,
                    body=received.body[:MAX_BODY],
                    outcome=outcome,
                    attempt=attempt,
                    accepted_transaction=claim,
                )
            )
    except IntegrityError:
        if claim is None or not await _claimed(sessions, claim):
            raise
        return False
    return True


async def _claimed(sessions: SessionFactory, claim: str) -> bool:
    async with sessions() as s:
        q = select(PaymentNotification.id).where(PaymentNotification.accepted_transaction == claim)
        return (await s.exec(q)).first() is not None
