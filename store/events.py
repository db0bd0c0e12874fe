"""The per-tenant event log: appended inside the writer's transaction (outbox), read by cursor."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.db import SessionFactory
from store.models import Event


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
