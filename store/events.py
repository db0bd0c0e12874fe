"""The per-tenant event log: appended inside the writer's transaction (outbox), read by cursor."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.payment_events import EVENT_OF_STATUS, payment_event
from domain.status import PaymentStatus
from store.db import SessionFactory
from store.models import Event, Payment, utcnow


async def append(s: AsyncSession, tenant: str, dedupe_key: str, payload: dict[str, Any]) -> Event:
    """Add the event unless `dedupe_key` is already in the log (a retried writer); returns the row."""
    existing = (await s.exec(select(Event).where(Event.dedupe_key == dedupe_key))).first()
    if existing is not None:
        return existing
    event = Event(
        tenant=tenant, type=payload["eventType"], dedupe_key=dedupe_key, payload=json.dumps(payload)
    )
    s.add(event)
    await s.flush()
    return event


async def after(
    sessions: SessionFactory, tenant: str, cursor: int, *, limit: int, since: datetime | None = None
) -> list[Event]:
    async with sessions() as s:
        q = select(Event).where(Event.tenant == tenant, col(Event.id) > cursor)
        if since is not None:
            q = q.where(col(Event.created_at) >= since)
        return list((await s.exec(q.order_by(col(Event.id)).limit(limit))).all())


async def latest_ids(sessions: SessionFactory, tenants: set[str]) -> dict[str, int]:
    async with sessions() as s:
        q = (
            select(Event.tenant, func.max(Event.id))
            .where(col(Event.tenant).in_(tenants))
            .group_by(Event.tenant)
        )
        return {tenant: int(last) for tenant, last in (await s.exec(q)).all() if last is not None}


async def publish_payment(s: AsyncSession, payment: Payment, status: PaymentStatus) -> None:
    """The flow-A event of `status`, if it has one, in the same transaction as the status write."""
    if status not in EVENT_OF_STATUS or payment.id is None:
        return
    payload = payment_event(
        status,
        utcnow(),
        intent_id=payment.intent_id,
        payment_id=payment.id,
        control_number=payment.control_number,
        expected=payment.expected_amount,
        to_be_paid=payment.amount_to_be_paid,
        received=payment.received_amount,
        reason=payment.rejected_reason if status is PaymentStatus.CANCELLED else None,
    )
    await append(s, payment.tenant, f"payment:{payment.id}:{EVENT_OF_STATUS[status]}", payload)
