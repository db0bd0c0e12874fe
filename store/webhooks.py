"""Webhook endpoints, their secrets, deliveries and the attempt log; every write keyed to happen once."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.delivery_flow import AttemptOutcome, DeliveryInput
from domain.webhooks import matches, new_secret
from store.db import SessionFactory, add_once, transaction
from store.events import append
from store.models import Delivery, DeliveryAttempt, EndpointSecret, Event, WebhookEndpoint, utcnow

ROTATION_OVERLAP = timedelta(hours=24)


def generate_secret() -> str:
    return new_secret(secrets.token_bytes(32))


def delivery_input(delivery: Delivery, last: AttemptOutcome | None = None) -> DeliveryInput:
    """The delivery workflow's input for a delivery row (its schedule comes from the settings);
    `last`: the outcome of the relay's failed first attempt, which the workflow goes on from."""
    assert delivery.id is not None
    return DeliveryInput(
        delivery_id=delivery.id,
        event_id=delivery.event_id,
        endpoint_id=delivery.endpoint_id,
        tenant=delivery.tenant,
        event_type=delivery.event_type,
        series=delivery.series,
        attempted=0 if last is None else 1,
        last=last,
    )


def is_claim(attempt: DeliveryAttempt) -> bool:
    """A row the relay wrote before making the attempt, with no outcome yet."""
    return attempt.result is None and attempt.status_code is None and attempt.error is None


class WebhookStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    # --- endpoints ------------------------------------------------------------------------------

    async def create_endpoint(
        self,
        tenant: str,
        url: str,
        secret: str,
        *,
        event_types: Sequence[str] = (),
        description: str = "",
        oauth: dict[str, str | None] | None = None,
    ) -> WebhookEndpoint:
        endpoint = WebhookEndpoint(
            id=f"ep_{secrets.token_hex(8)}",
            tenant=tenant,
            url=url,
            description=description,
            event_types=",".join(event_types),
            **{f"oauth_{k}": v for k, v in (oauth or {}).items()},
        )
        async with transaction(self._sessions) as s:
            s.add(endpoint)
            await s.flush()
            s.add(EndpointSecret(endpoint_id=endpoint.id, secret=secret))
        return endpoint

    async def endpoint(self, endpoint_id: str, tenant: str | None = None) -> WebhookEndpoint | None:
        async with self._sessions() as s:
            endpoint = await s.get(WebhookEndpoint, endpoint_id)
        return endpoint if endpoint is not None and tenant in (None, endpoint.tenant) else None

    async def endpoints(self, tenant: str | None = None) -> list[WebhookEndpoint]:
        async with self._sessions() as s:
            q = select(WebhookEndpoint).order_by(col(WebhookEndpoint.created_at))
            if tenant is not None:
                q = q.where(WebhookEndpoint.tenant == tenant)
            return list((await s.exec(q)).all())

    async def change_endpoint(
        self, endpoint_id: str, tenant: str | None, **changes: Any
    ) -> WebhookEndpoint | None:
        """Change url, description, event types or enabled; enabling clears the failure record."""
        async with transaction(self._sessions) as s:
            endpoint = await s.get(WebhookEndpoint, endpoint_id)
            if endpoint is None or tenant not in (None, endpoint.tenant):
                return None
            if "event_types" in changes:
                changes["event_types"] = ",".join(changes["event_types"])
            if changes.get("enabled") is True:
                changes |= {"disabled_reason": None, "failing_since": None}
            for name, value in changes.items():
                setattr(endpoint, name, value)
            s.add(endpoint)
            return endpoint

    async def rotate_secret(self, endpoint_id: str, new_secret: str, now: datetime) -> None:
        """The new secret signs from now on; the old ones keep signing for 24 h beside it."""
        async with transaction(self._sessions) as s:
            await s.exec(
                update(EndpointSecret)
                .where(
                    col(EndpointSecret.endpoint_id) == endpoint_id, col(EndpointSecret.expires_at).is_(None)
                )
                .values(expires_at=now + ROTATION_OVERLAP)
            )
            s.add(EndpointSecret(endpoint_id=endpoint_id, secret=new_secret))

    async def signing_secrets(self, endpoint_id: str, now: datetime) -> list[str]:
        async with self._sessions() as s:
            rows = (
                await s.exec(
                    select(EndpointSecret)
                    .where(EndpointSecret.endpoint_id == endpoint_id)
                    .order_by(col(EndpointSecret.id).desc())
                )
            ).all()
        return [r.secret for r in rows if r.expires_at is None or r.expires_at > now]

    async def disable(self, endpoint_id: str, reason: str, at: datetime) -> bool:
        """Disable the endpoint and tell the tenant's other endpoints; False when it already was."""
        async with transaction(self._sessions) as s:
            endpoint = await s.get(WebhookEndpoint, endpoint_id)
            if endpoint is None or not endpoint.enabled:
                return False
            endpoint.enabled = False
            endpoint.disabled_reason = reason
            s.add(endpoint)
            payload = {
                "eventType": "endpoint.disabled",
                "payloadVersion": "1.0.0",
                "correlationId": endpoint.id,
                "timestamp": at.isoformat(),
                "endpoint": {"id": endpoint.id, "url": endpoint.url, "reason": reason},
            }
            await append(s, endpoint.tenant, f"{endpoint.id}:disabled:{at.isoformat()}", payload)
            return True

    async def note_outcome(self, endpoint_id: str, ok: bool, at: datetime) -> datetime | None:
        """Track the current run of failures; returns when it started (None after a success)."""
        async with transaction(self._sessions) as s:
            endpoint = await s.get(WebhookEndpoint, endpoint_id)
            if endpoint is None:
                return None
            endpoint.failing_since = None if ok else (endpoint.failing_since or at)
            s.add(endpoint)
            return endpoint.failing_since

    # --- the outbox relay -----------------------------------------------------------------------

    async def undispatched(
        self, tenant: str | None, limit: int = 500, before: datetime | None = None
    ) -> list[Event]:
        """Events not dispatched yet, oldest first: of `tenant` (every tenant's when None), written
        before `before` when given."""
        async with self._sessions() as s:
            q = select(Event).where(col(Event.dispatched_at).is_(None))
            if tenant is not None:
                q = q.where(Event.tenant == tenant)
            if before is not None:
                q = q.where(col(Event.created_at) < before)
            return list((await s.exec(q.order_by(col(Event.id)).limit(limit))).all())

    async def ensure_deliveries(self, event: Event, endpoints: Sequence[WebhookEndpoint]) -> list[Delivery]:
        """A delivery for every enabled endpoint (of the event's tenant) that takes this event type."""
        assert event.id is not None
        takers = [
            e
            for e in endpoints
            if e.enabled and matches(event.type, [t for t in e.event_types.split(",") if t])
        ]
        if not takers:
            return []
        for endpoint in takers:  # a delivery an earlier relay of this event made is kept
            row = Delivery(
                event_id=event.id, endpoint_id=endpoint.id, tenant=event.tenant, event_type=event.type
            )
            await add_once(self._sessions, row)
        async with self._sessions() as s:
            return list((await s.exec(select(Delivery).where(Delivery.event_id == event.id))).all())

    async def mark_dispatched(self, event_ids: Sequence[int]) -> None:
        async with transaction(self._sessions) as s:
            await s.exec(
                update(Event).where(col(Event.id).in_(list(event_ids))).values(dispatched_at=utcnow())
            )

    # --- deliveries and attempts ----------------------------------------------------------------

    async def delivery(self, delivery_id: int, tenant: str | None = None) -> Delivery | None:
        async with self._sessions() as s:
            found = await s.get(Delivery, delivery_id)
        return found if found is not None and tenant in (None, found.tenant) else None

    async def event(self, event_id: int) -> Event | None:
        async with self._sessions() as s:
            return await s.get(Event, event_id)

    async def webhook_ids(self, event_ids: Iterable[int]) -> dict[int, str]:
        """The webhook-id of each event, to show beside its deliveries."""
        async with self._sessions() as s:
            q = select(Event.id, Event.webhook_id).where(col(Event.id).in_(list(event_ids)))
            return {int(i or 0): w for i, w in (await s.exec(q)).all()}

    async def attempt(self, delivery_id: int, series: int, number: int) -> DeliveryAttempt | None:
        async with self._sessions() as s:
            return (
                await s.exec(
                    select(DeliveryAttempt).where(
                        DeliveryAttempt.delivery_id == delivery_id,
                        DeliveryAttempt.series == series,
                        DeliveryAttempt.number == number,
                    )
                )
            ).first()

    async def claim_attempt(
        self, delivery_id: int, series: int, number: int, at: datetime
    ) -> DeliveryAttempt | None:
        """Claim an attempt before making it, so that two relays never both make it: None when this
        call claimed it, else the row already there (logged, or another relay's claim of `at`)."""
        claim = DeliveryAttempt(delivery_id=delivery_id, series=series, number=number, at=at)
        if await add_once(self._sessions, claim):
            return None
        return await self.attempt(delivery_id, series, number)

    async def record_attempt(
        self, attempt: DeliveryAttempt, *, claimed: bool = False, ends: str | None = None
    ) -> DeliveryAttempt:
        """Log an attempt once: a retried activity finds the first record and keeps it. `claimed`: the
        outcome of an attempt claimed by `claim_attempt`, written into the claim's row unless another
        relay wrote one there first. `ends`: the delivery's status after it, in the same transaction."""
        try:
            async with transaction(self._sessions) as s:
                if claimed:
                    taken = await _fill_claim(s, attempt)
                else:
                    s.add(attempt)
                    taken = True
                if taken:
                    delivery = await s.get(Delivery, attempt.delivery_id)
                    assert delivery is not None
                    delivery.attempts += 1
                    delivery.last_status_code = attempt.status_code
                    delivery.last_error = attempt.error
                    delivery.updated_at = utcnow()
                    if ends is not None and delivery.series == attempt.series:
                        delivery.status = ends
                    s.add(delivery)
        except IntegrityError:
            taken = False
        if taken:
            return attempt
        found = await self.attempt(attempt.delivery_id, attempt.series, attempt.number)
        assert found is not None
        return found

    async def finish(self, delivery_id: int, series: int, status: str) -> None:
        async with transaction(self._sessions) as s:
            await s.exec(
                update(Delivery)
                .where(col(Delivery.id) == delivery_id, col(Delivery.series) == series)
                .values(status=status, updated_at=utcnow())
            )

    async def next_series(self, delivery_id: int) -> int:
        """Start a new attempt series (a replay): same delivery, same webhook-id, attempts from 1."""
        async with transaction(self._sessions) as s:
            delivery = await s.get(Delivery, delivery_id)
            assert delivery is not None
            delivery.series += 1
            delivery.status = "pending"
            delivery.updated_at = utcnow()
            s.add(delivery)
            return delivery.series

    async def deliveries(
        self,
        tenant: str | None,
        *,
        endpoint_id: str | None = None,
        status: str | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[Delivery]:
        async with self._sessions() as s:
            q = select(Delivery)
            for column, value in (
                (Delivery.tenant, tenant),
                (Delivery.endpoint_id, endpoint_id),
                (Delivery.status, status),
                (Delivery.event_type, event_type),
            ):
                if value is not None:
                    q = q.where(column == value)
            if since is not None:
                q = q.where(col(Delivery.created_at) >= since)
            if until is not None:
                q = q.where(col(Delivery.created_at) <= until)
            return list((await s.exec(q.order_by(col(Delivery.id)).limit(limit))).all())

    async def attempts(self, delivery_id: int) -> list[DeliveryAttempt]:
        async with self._sessions() as s:
            q = select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
            return list(
                (await s.exec(q.order_by(col(DeliveryAttempt.series), col(DeliveryAttempt.number)))).all()
            )


async def _fill_claim(s: AsyncSession, attempt: DeliveryAttempt) -> bool:
    """Write the attempt's outcome into its claim's row; False when the row holds one already."""
    result = await s.exec(
        update(DeliveryAttempt)
        .where(
            col(DeliveryAttempt.delivery_id) == attempt.delivery_id,
            col(DeliveryAttempt.series) == attempt.series,
            col(DeliveryAttempt.number) == attempt.number,
            col(DeliveryAttempt.result).is_(None),
            col(DeliveryAttempt.status_code).is_(None),
            col(DeliveryAttempt.error).is_(None),
        )
        .values(
            **{
                name: getattr(attempt, name)
                for name in ("status_code", "latency_ms", "error", "response_body", "result", "retry_after")
            }
        )
    )
    return bool(result.rowcount == 1)
