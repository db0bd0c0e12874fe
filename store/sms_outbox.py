"""The SMS outbox: one row per notice key. A notice is sent once; a failed one carries when the
resend sweep may try it again (`next_attempt_at`), pushed back after each failure."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from domain.sms import resend_after
from store.db import SessionFactory, transaction
from store.models import SmsMessage, utcnow


async def by_key(sessions: SessionFactory, key: str) -> SmsMessage | None:
    async with sessions() as s:
        return (await s.exec(select(SmsMessage).where(SmsMessage.key == key))).first()


async def mark_sent(sessions: SessionFactory, key: str) -> None:
    async with transaction(sessions) as s:
        row = (await s.exec(select(SmsMessage).where(SmsMessage.key == key))).one()
        row.status, row.attempts, row.error = "sent", row.attempts + 1, None
        row.sent_at, row.next_attempt_at = utcnow(), None
        s.add(row)


async def mark_failed(
    sessions: SessionFactory, key: str, error: str, now: datetime, *, resend: bool, backoff: timedelta
) -> None:
    """Keep the failure and when the sweep may try again (`now`: the caller's clock, workflow time
    for the sweep; `backoff`: the first wait, doubled per resend)."""
    async with transaction(sessions) as s:
        row = (await s.exec(select(SmsMessage).where(SmsMessage.key == key))).one()
        if row.status == "sent":  # sent meanwhile by the other sender: the provider has it
            return
        row.status, row.attempts, row.error = "failed", row.attempts + 1, error
        row.resends += resend
        row.next_attempt_at = now + resend_after(row.resends, backoff)
        s.add(row)


async def due(sessions: SessionFactory, now: datetime, limit: int) -> list[SmsMessage]:
    """Failed notices whose wait is over, the longest waiting first."""
    async with sessions() as s:
        q = select(SmsMessage).where(SmsMessage.status == "failed", col(SmsMessage.next_attempt_at) <= now)
        return list((await s.exec(q.order_by(col(SmsMessage.next_attempt_at)).limit(limit))).all())
