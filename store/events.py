"""The per-tenant event log: appended inside the writer's transaction (outbox), read by cursor.

Readers move a cursor past the highest id they saw, so a tenant's ids must commit in id order (see
the README, "Commit order of the event log"). On PostgreSQL `append` takes the tenant's advisory
lock before it draws the id and holds it until the writer commits: the tenant's next writer draws its
id only once this one is visible. SQLite has one writer at a time, which orders ids the same way.
Appends are the last writes of their transaction (of one tenant), so the lock is held briefly and
never while waiting for a row lock. The dedupe look-up comes before the lock to keep it short; two
concurrent appends of one key (a retry racing its first attempt) still meet the unique key.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.payment_events import EVENT_OF_STATUS, payment_event
from domain.status import PaymentStatus
from store.db import SessionFactory
from store.models import Event, Payment, utcnow

CHANNEL = "payflow_events"
"""PostgreSQL NOTIFY channel: the payload is the tenant whose log grew (delivered at commit)."""

_ORDER_AND_NOTIFY = text(
    "SELECT pg_advisory_xact_lock(hashtext('payflow-events:' || :tenant)), pg_notify(:channel, :tenant)"
)


async def append(s: AsyncSession, tenant: str, dedupe_key: str, payload: dict[str, Any]) -> Event:
    """Add the event unless `dedupe_key` is already in the log (a retried writer); returns the row."""
    existing = (await s.exec(select(Event).where(Event.dedupe_key == dedupe_key))).first()
    if existing is not None:
        return existing
    if s.get_bind().dialect.name == "postgresql":
        await s.flush()  # the writer's own rows first: none waits for a row lock under the log lock
        await s.exec(_ORDER_AND_NOTIFY, params={"tenant": tenant, "channel": CHANNEL})
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


async def page(
    sessions: SessionFactory, tenant: str, cursor: int, *, limit: int, since: datetime
) -> list[tuple[int, str, datetime, str]]:
    """The Events API's read: (id, type, created_at, payload as stored) after `cursor`, oldest first, in
    one indexed query (tenant index or primary key) and without building ORM objects."""
    q = (
        select(Event.id, Event.type, Event.created_at, Event.payload)
        .where(Event.tenant == tenant, col(Event.id) > cursor, col(Event.created_at) >= since)
        .order_by(col(Event.id))
        .limit(limit)
    )
    async with sessions() as s:
        return [(int(i or 0), t, at, payload) for i, t, at, payload in (await s.exec(q)).all()]


async def expired_beyond(
    sessions: SessionFactory, tenant: str, cursor: int, since: datetime
) -> tuple[int, int] | None:
    """(how many, the last id) of the tenant's events after `cursor` created before `since`: past
    retention, so a reader there would miss them; None when there are none."""
    q = select(func.count(col(Event.id)), func.max(Event.id)).where(
        Event.tenant == tenant, col(Event.id) > cursor, col(Event.created_at) < since
    )
    async with sessions() as s:
        count, last = (await s.exec(q)).one()
        return (int(count), int(last)) if count else None


async def search(
    sessions: SessionFactory,
    tenant: str,
    *,
    type: str | None = None,
    since: datetime | None = None,
    after: int = 0,
    limit: int = 50,
) -> list[Event]:
    """The tenant's events of `type` created since `since`, by id after `after` (support's read)."""
    q = select(Event).where(Event.tenant == tenant, col(Event.id) > after)
    if type is not None:
        q = q.where(Event.type == type)
    if since is not None:
        q = q.where(col(Event.created_at) >= since)
    async with sessions() as s:
        return list((await s.exec(q.order_by(col(Event.id)).limit(limit))).all())


async def one(sessions: SessionFactory, tenant: str, event_id: int) -> Event | None:
    async with sessions() as s:
        q = select(Event).where(Event.id == event_id, Event.tenant == tenant)
        return (await s.exec(q)).first()


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
