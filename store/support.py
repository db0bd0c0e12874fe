"""Read-only look-ups for the support CLI (`payflow payments|cases|events …`).

The operator on the deployment sees every tenant, so `tenant` is a filter here (None: all tenants),
not the caller's identity as in the API's keyset searches (`PaymentStore.search`, `claims.search_cases`,
`events.search`), and lists come newest first: what support looks at is usually recent. Nothing here
writes: changes to a payment go through its workflow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import true
from sqlmodel import col, select

from store.db import SessionFactory
from store.models import ClaimCase, Delivery, Event, Payment, PaymentDetail


def _tenant(column: Any, tenant: str | None) -> Any:
    return true() if tenant is None else column == tenant


async def payments(
    sessions: SessionFactory,
    *,
    tenant: str | None = None,
    control_number: str | None = None,
    insurance_number: str | None = None,
    status: int | None = None,
    limit: int = 100,
) -> list[Payment]:
    """Newest first; `insurance_number` matches any line of the payment."""
    q = select(Payment).where(_tenant(Payment.tenant, tenant))
    if control_number is not None:
        q = q.where(Payment.control_number == control_number)
    if status is not None:
        q = q.where(Payment.status == status)
    if insurance_number is not None:
        lines = select(PaymentDetail.payment_id).where(PaymentDetail.insurance_number == insurance_number)
        q = q.where(col(Payment.id).in_(lines))
    async with sessions() as s:
        return list((await s.exec(q.order_by(col(Payment.id).desc()).limit(limit))).all())


async def payment_events(sessions: SessionFactory, payment_id: int) -> list[Event]:
    """The payment's flow-A events (keyed `payment:<id>:<type>` by `publish_payment`), oldest first."""
    q = select(Event).where(col(Event.dedupe_key).startswith(f"payment:{payment_id}:"))
    async with sessions() as s:
        return list((await s.exec(q.order_by(col(Event.id)))).all())


async def cases(
    sessions: SessionFactory,
    *,
    tenant: str | None = None,
    number: str | None = None,
    closed: bool | None = None,
    limit: int = 100,
) -> list[ClaimCase]:
    q = select(ClaimCase).where(_tenant(ClaimCase.tenant, tenant))
    if number is not None:
        q = q.where(ClaimCase.number == number)
    if closed is not None:
        q = q.where(ClaimCase.closed == closed)
    async with sessions() as s:
        return list((await s.exec(q.order_by(col(ClaimCase.created_at).desc()).limit(limit))).all())


async def events(
    sessions: SessionFactory,
    *,
    tenant: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[Event]:
    """Newest first."""
    q = select(Event).where(_tenant(Event.tenant, tenant))
    if event_type is not None:
        q = q.where(Event.type == event_type)
    if since is not None:
        q = q.where(col(Event.created_at) >= since)
    async with sessions() as s:
        return list((await s.exec(q.order_by(col(Event.id).desc()).limit(limit))).all())


async def event_deliveries(sessions: SessionFactory, event_id: int) -> list[Delivery]:
    async with sessions() as s:
        q = select(Delivery).where(Delivery.event_id == event_id)
        return list((await s.exec(q.order_by(col(Delivery.id)))).all())
