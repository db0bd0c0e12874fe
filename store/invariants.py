"""Store-level invariants for `payflow check`: reads only, each check returning what it finds wrong.

The unique keys already forbid most duplicates; these checks still look for them, so a database
that lost a constraint (or was edited by hand) is caught, and they cover what no constraint can:
premiums that disagree with their lines, a settlement revision without its `case_settled` event (or
its cancel's reversal), an event missing the delivery an endpoint should have had.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, or_, true
from sqlmodel import col, select

from domain.reconciliation import overdue
from domain.sms import FAILED_TOO_LONG
from domain.status import PaymentStatus
from domain.webhooks import matches
from store.db import SessionFactory
from store.models import (
    Delivery,
    Event,
    Payment,
    PaymentDetail,
    PaymentReceipt,
    PooledNumber,
    Premium,
    SettlementRevision,
    SmsMessage,
    WebhookEndpoint,
    utcnow,
)
from store.reconciliation import PENDING, day_rows

MATCHED = int(PaymentStatus.MATCHED)
PAGE = 500


@dataclass(frozen=True)
class Finding:
    """One broken invariant: `subject` names the rows (table and ids), `message` says what is wrong."""

    check: str
    subject: str
    message: str
    ids: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


def _of_tenant(column: Any, tenant: str | None) -> Any:
    return true() if tenant is None else column == tenant


async def payment_pages(sessions: SessionFactory, tenant: str | None) -> AsyncIterator[list[Payment]]:
    """Every payment of the tenant (or all), by id, a page at a time."""
    last = 0
    while True:
        async with sessions() as s:
            q = select(Payment).where(col(Payment.id) > last, _of_tenant(Payment.tenant, tenant))
            page = list((await s.exec(q.order_by(col(Payment.id)).limit(PAGE))).all())
        if not page:
            return
        yield page
        last = page[-1].id or last


async def payments_by_id(sessions: SessionFactory, payment_ids: Sequence[int]) -> dict[int, Payment]:
    async with sessions() as s:
        rows = (await s.exec(select(Payment).where(col(Payment.id).in_(list(payment_ids))))).all()
        return {p.id: p for p in rows if p.id is not None}


# --- premiums -----------------------------------------------------------------------------------


async def premium_findings(sessions: SessionFactory, tenant: str | None) -> tuple[list[Finding], int]:
    """A matched payment's lines each have their premium (made for the line, for the line's share, the
    shares adding up to what was distributed); no other payment has one; no line has a second one.
    Returns the findings and the number of matched lines looked at."""
    found: list[Finding] = []
    shares: dict[int, tuple[Decimal, Decimal]] = {}
    matched_lines = 0
    lines = (
        select(
            col(Payment.id).label("payment"),
            Payment.status,
            Payment.received_amount,
            Payment.fee_added,
            Payment.surplus,
            col(PaymentDetail.id).label("line_id"),
            PaymentDetail.line_no,
            col(PaymentDetail.amount).label("share"),
            col(PaymentDetail.premium_id).label("link"),
            col(Premium.id).label("premium"),
            col(Premium.amount).label("premium_amount"),
            col(Premium.payment_detail_id).label("made_for"),
        )
        .join(PaymentDetail, col(PaymentDetail.payment_id) == col(Payment.id))
        .join(Premium, col(Premium.id) == col(PaymentDetail.premium_id), isouter=True)
        .where(
            or_(col(Payment.status) == MATCHED, col(PaymentDetail.premium_id).is_not(None)),
            _of_tenant(Payment.tenant, tenant),
        )
    )
    strays = (
        select(
            Premium.id,
            Premium.payment_detail_id,
            PaymentDetail.id,
            PaymentDetail.line_no,
            PaymentDetail.premium_id,
            Payment.id,
        )
        .join(PaymentDetail, col(PaymentDetail.id) == col(Premium.payment_detail_id), isouter=True)
        .join(Payment, col(Payment.id) == col(PaymentDetail.payment_id), isouter=True)
        .where(
            col(Premium.payment_detail_id).is_not(None),
            or_(col(PaymentDetail.id).is_(None), col(PaymentDetail.premium_id).is_distinct_from(Premium.id)),
            _of_tenant(Payment.tenant, tenant),
        )
    )
    async with sessions() as s:
        async for row in await s.stream(lines.order_by(col(Payment.id), col(PaymentDetail.line_no))):
            if row.status == MATCHED:
                matched_lines += 1
                total, _ = shares.get(row.payment, (Decimal("0"), Decimal("0")))
                distributed = row.received_amount + row.fee_added - row.surplus
                shares[row.payment] = (total + (row.share or 0), distributed)
            if problem := _line_problem(row):
                ids = {"payment": row.payment, "line": row.line_no, "premium": row.link}
                found.append(Finding("premium", *problem, ids))
        found += [_stray(*row) for row in await s.exec(strays.order_by(col(Premium.id)))]
    for payment_id, (total, distributed) in shares.items():
        if total != distributed:
            message = f"its lines' shares add up to {total}, but {distributed} was distributed"
            found.append(Finding("premium", f"payment {payment_id}", message, {"payment": payment_id}))
    return found, matched_lines


def _line_problem(row: Any) -> tuple[str, str] | None:
    """What is wrong with one payment line's premium, as (subject, message)."""
    line = f"payment {row.payment} line {row.line_no}"
    if row.link is None and not row.share:
        return None  # its policy was paid already (by another line or bill): the money is surplus
    if row.link is None:
        return line, "matched, but no premium"
    if row.premium is None:
        return line, f"its premium {row.link} does not exist"
    subject = f"premium {row.link} of {line}"
    if row.status != MATCHED:
        return subject, f"the payment is not matched (status {row.status}) but the line has this premium"
    if row.made_for is not None and row.made_for != row.line_id:
        return subject, f"made for another payment line (detail {row.made_for})"
    if row.made_for == row.line_id and row.premium_amount != row.share:
        return subject, f"amount {row.premium_amount}, but the line's share is {row.share}"
    return None  # linked to a premium an officer entered earlier: its amount is the officer's


def _stray(
    premium_id: int,
    made_for: int,
    line_id: int | None,
    line_no: int | None,
    link: int | None,
    payment_id: int,
) -> Finding:
    """A premium made for a payment line that is not that line's premium."""
    ids = {"premium": premium_id, "payment": payment_id, "line": line_no}
    if line_id is None:
        return Finding(
            "premium", f"premium {premium_id}", f"made for payment line {made_for}, which does not exist", ids
        )
    subject = f"premium {premium_id} of payment {payment_id} line {line_no}"
    return Finding("premium", subject, f"a second premium for the line (its premium is {link})", ids)


# --- settlements --------------------------------------------------------------------------------


async def settlement_findings(sessions: SessionFactory, tenant: str | None) -> tuple[list[Finding], int]:
    """Every settlement revision has one `case_settled` event for its settlement and, when it was
    cancelled while standing, one more reversing it (issue 23 item 12); both name its token and are
    told apart by the keys store/claims.py writes them under. No other event names it, and none names
    a revision that does not exist. Returns findings and revisions.

    Whether a cancelled revision stood is read from what the store keeps: the latest revision of its
    case stood when it was cancelled, so its reversal is due; a reversal is wrong for a revision not
    cancelled, or when a later revision settled before it is not cancelled (that one stood). A cancelled
    revision with later ones may lack a reversal: it may have been cancelled while one of them stood."""
    async with sessions() as s:
        rows = await s.exec(
            select(
                SettlementRevision.id,
                SettlementRevision.token,
                SettlementRevision.case_id,
                SettlementRevision.revision_no,
                SettlementRevision.status,
            )
            .where(_of_tenant(SettlementRevision.tenant, tenant))
            .order_by(col(SettlementRevision.id))
        )
        revisions = [_Revision(*row) for row in rows.all()]
        settled = await s.stream(
            select(Event.id, Event.dedupe_key, Event.payload)
            .where(Event.type == "case_settled", _of_tenant(Event.tenant, tenant))
            .order_by(col(Event.id))
        )
        events: dict[str | None, list[tuple[str, int]]] = defaultdict(list)
        async for event_id, key, payload in settled:
            events[_revision_token(payload)].append((key, event_id))
    cases: dict[str, list[_Revision]] = defaultdict(list)
    for revision in revisions:
        revision.events = events.pop(revision.token, [])
        cases[revision.case_id].append(revision)
    found = []
    for r in revisions:
        if message := r.problem([later for later in cases[r.case_id] if later.revision_no > r.revision_no]):
            subject = f"settlement revision {r.id} (case {r.case_id} revision {r.revision_no})"
            ids = {"revision": r.id, "case": r.case_id, "events": r.event_ids}
            found.append(Finding("settlement", subject, message, ids))
    for token, named in events.items():
        for _, event_id in named:
            message = f"case_settled for revision token {token}, which does not exist"
            found.append(Finding("settlement", f"event {event_id}", message, {"event": event_id}))
    return found, len(revisions)


@dataclass
class _Revision:
    id: int
    token: str
    case_id: str
    revision_no: int
    status: str
    events: list[tuple[str, int]] = field(default_factory=list)
    """The `case_settled` events naming its token: (dedupe key, id), in id order."""

    @property
    def event_ids(self) -> list[int]:
        return [event_id for _, event_id in self.events]

    def keyed(self, why: str) -> int | None:
        key = f"{self.case_id}:{why}:{self.revision_no}"
        return next((event_id for k, event_id in self.events if k == key), None)

    def problem(self, later: list[_Revision]) -> str | None:
        """What is wrong with its events, given the case's later revisions."""
        settled, reversal = self.keyed("settlement"), self.keyed("cancel")
        if extra := [i for i in self.event_ids if i not in (settled, reversal)]:
            named = self.event_ids
            return (
                f"{len(named)} case_settled events {named}: {extra} neither its settlement nor its reversal"
            )
        if settled is None:
            return "no case_settled event for its settlement"
        cancelled = self.status == "CANCELLED"
        if reversal is None:
            if cancelled and not later:
                return "cancelled while standing (no later revision), but no case_settled reverses it"
            return None
        before = [r for r in later if (at := r.keyed("settlement")) is not None and at < reversal]
        stood = all(r.status == "CANCELLED" for r in before)
        if not (cancelled and stood):
            return f"case_settled {reversal} reverses it, but it was not cancelled while standing"
        return None


def _revision_token(payload: str) -> str | None:
    try:
        return str(json.loads(payload)["settlement"]["revisionToken"])
    except (ValueError, KeyError, TypeError):
        return None


# --- webhook deliveries -------------------------------------------------------------------------


async def delivery_findings(sessions: SessionFactory, tenant: str | None) -> tuple[list[Finding], int, int]:
    """A dispatched event has a delivery to every endpoint of its tenant that takes its type and was
    enabled when it was dispatched: an endpoint created before the event and enabled now, up to the
    endpoint's first recorded `endpoint.disabled` (an endpoint disabled now without such a record is
    skipped: when it was disabled is unknown). Deliveries agree with their event and are not doubled.
    Returns findings, dispatched events and events not yet dispatched (pending, not wrong)."""
    found: list[Finding] = []
    async with sessions() as s:
        endpoints = (
            await s.exec(select(WebhookEndpoint).where(_of_tenant(WebhookEndpoint.tenant, tenant)))
        ).all()
        for endpoint in endpoints:
            until = await _first_disabled(s, endpoint)
            if until is None and not endpoint.enabled:
                continue
            filters = [t for t in endpoint.event_types.split(",") if t]
            q = select(Event.id, Event.type).where(
                Event.tenant == endpoint.tenant,
                col(Event.dispatched_at).is_not(None),
                col(Event.created_at) > endpoint.created_at,
                _type_filter(filters),
                ~exists().where(
                    col(Delivery.event_id) == col(Event.id), col(Delivery.endpoint_id) == endpoint.id
                ),
            )
            if until is not None:
                q = q.where(col(Event.created_at) < until)
            for event_id, event_type in (await s.exec(q.order_by(col(Event.id)))).all():
                if matches(event_type, filters):
                    found.append(
                        Finding(
                            "delivery",
                            f"event {event_id} ({event_type})",
                            f"no delivery to endpoint {endpoint.id}",
                            {"event": event_id, "endpoint": endpoint.id},
                        )
                    )
        found += await _odd_deliveries(s, tenant)
        dispatched, pending = (
            await s.exec(
                select(
                    func.count(col(Event.dispatched_at)),
                    func.count() - func.count(col(Event.dispatched_at)),
                ).where(_of_tenant(Event.tenant, tenant))
            )
        ).one()
    return found, int(dispatched), int(pending)


def _type_filter(filters: Sequence[str]) -> Any:
    """The SQL form of `domain.webhooks.matches` (which still confirms each row)."""
    if not filters:
        return true()
    exact = [f for f in filters if not f.endswith(".*")]
    prefixes = [col(Event.type).startswith(f[:-1], autoescape=True) for f in filters if f.endswith(".*")]
    return or_(col(Event.type).in_(exact), *prefixes)


async def _first_disabled(s: Any, endpoint: WebhookEndpoint) -> datetime | None:
    q = select(func.min(Event.created_at)).where(
        Event.type == "endpoint.disabled",
        Event.tenant == endpoint.tenant,
        col(Event.dedupe_key).startswith(f"{endpoint.id}:disabled:", autoescape=True),
    )
    return (await s.exec(q)).one()


async def _odd_deliveries(s: Any, tenant: str | None) -> list[Finding]:
    found = []
    rows = (
        await s.exec(
            select(Delivery.id, Delivery.event_id, Delivery.endpoint_id, Event.id)
            .join(Event, col(Event.id) == col(Delivery.event_id), isouter=True)
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(Delivery.endpoint_id), isouter=True)
            .where(
                _of_tenant(Delivery.tenant, tenant),
                or_(
                    col(Event.id).is_(None),
                    col(WebhookEndpoint.id).is_(None),
                    col(Delivery.tenant) != col(Event.tenant),
                    col(Delivery.event_type) != col(Event.type),
                    col(WebhookEndpoint.tenant) != col(Event.tenant),
                ),
            )
        )
    ).all()
    for delivery_id, event_id, endpoint_id, known in rows:
        message = "its event does not exist" if known is None else "tenant or type differs from its event's"
        ids = {"delivery": delivery_id, "event": event_id, "endpoint": endpoint_id}
        found.append(Finding("delivery", f"delivery {delivery_id} of event {event_id}", message, ids))
    doubled = (
        await s.exec(
            select(Delivery.event_id, Delivery.endpoint_id, func.count())
            .where(_of_tenant(Delivery.tenant, tenant))
            .group_by(col(Delivery.event_id), col(Delivery.endpoint_id))
            .having(func.count() > 1)
        )
    ).all()
    for event_id, endpoint_id, count in doubled:
        ids = {"event": event_id, "endpoint": endpoint_id}
        found.append(
            Finding("delivery", f"event {event_id}", f"{count} deliveries to endpoint {endpoint_id}", ids)
        )
    return found


# --- keys that must be used once ----------------------------------------------------------------


async def duplicate_findings(sessions: SessionFactory, tenant: str | None) -> list[Finding]:
    """No control number on two payments, no transaction id recorded twice for one tenant (two
    tenants' PSPs may share one), no SMS key twice."""
    found = []
    async with sessions() as s:
        for check, key, table, column, owner, per_tenant in (
            ("control_number", "control number", Payment, Payment.control_number, Payment.id, False),
            ("receipt", "transaction", Payment, Payment.transaction_no, Payment.id, True),
            (
                "receipt",
                "transaction",
                PaymentReceipt,
                PaymentReceipt.transaction_id,
                PaymentReceipt.payment_id,
                True,
            ),
            ("sms", "SMS key", SmsMessage, SmsMessage.key, SmsMessage.payment_id, False),
        ):
            twice = (
                select(column)
                .where(col(column).is_not(None))
                .group_by(column)
                .having(func.count() > 1)
                .scalar_subquery()
            )
            q = select(column, owner, Payment.tenant).where(col(column).in_(twice))
            if table is not Payment:
                q = q.select_from(table).join(Payment, col(Payment.id) == col(owner), isouter=True)
            holders: dict[tuple[str, str | None], list[tuple[int | None, str | None]]] = defaultdict(list)
            for value, owner_id, owner_tenant in (await s.exec(q.order_by(owner))).all():
                holders[value, owner_tenant if per_tenant else None].append((owner_id, owner_tenant))
            for (value, scope), rows in holders.items():
                if len(rows) < 2 or (tenant is not None and all(t != tenant for _, t in rows)):
                    continue
                payments = [p for p, _ in rows]
                owners = ", ".join(str(p) if p is not None else "none" for p in payments)
                message = f"{len(rows)} {table.__tablename__} rows have it (payments {owners})"
                subject = f"{key} {value}" + (f" of tenant {scope}" if per_tenant else "")
                ids = {"value": value, "payments": payments} | ({"tenant": scope} if per_tenant else {})
                found.append(Finding(check, subject, message, ids))
    return found


async def pool_findings(sessions: SessionFactory, tenant: str | None) -> list[Finding]:
    """A pooled number held by a payment the pool did not give it to: handed out twice (the pool
    still lists it free, or as another payment's)."""
    q = (
        select(PooledNumber.control_number, PooledNumber.payment_id, Payment.id)
        .join(Payment, col(Payment.control_number) == col(PooledNumber.control_number))
        .where(
            col(PooledNumber.payment_id).is_(None) | (col(PooledNumber.payment_id) != col(Payment.id)),
            _of_tenant(Payment.tenant, tenant),
        )
    )
    async with sessions() as s:
        rows = (await s.exec(q.order_by(col(PooledNumber.id)))).all()
    return [
        Finding(
            "pool",
            f"pool number {number}",
            f"payment {payment} holds it, but the pool gave it to {pooled or 'nobody (still free)'}",
            {"value": number, "payments": [payment, pooled]},
        )
        for number, pooled, payment in rows
    ]


async def sms_findings(sessions: SessionFactory, tenant: str | None) -> list[Finding]:
    """SMS notices still unsent a day after they were queued: the resend sweep is not running, or the
    provider refuses them (a payer waiting for a control number cannot pay)."""
    q = (
        select(SmsMessage)
        .join(Payment, col(Payment.id) == col(SmsMessage.payment_id), isouter=True)
        .where(
            SmsMessage.status != "sent",
            col(SmsMessage.created_at) <= utcnow() - FAILED_TOO_LONG,
            _of_tenant(Payment.tenant, tenant),
        )
    )
    async with sessions() as s:
        rows = (await s.exec(q.order_by(col(SmsMessage.id)))).all()
    return [
        Finding(
            "sms",
            f"SMS {row.key}",
            f"{row.status} since {row.created_at:%Y-%m-%d %H:%M} UTC after {row.attempts} attempts"
            + (f", next at {row.next_attempt_at:%Y-%m-%d %H:%M}" if row.next_attempt_at else "")
            + (f": {row.error[:200]}" if row.error else ""),
            {"key": row.key, "payment": row.payment_id},
        )
        for row in rows
    ]


async def reconciliation_findings(
    sessions: SessionFactory, tenant: str | None, today: date | None = None
) -> list[Finding]:
    """Statement days without their statement: pending after a run tried them (refused), or overdue,
    and days no run opened between the first one and the day before yesterday. The statement spans
    every tenant's bills: a tenant's check leaves it out. `today` is this machine's unless given (the
    schedule opens days by the Temporal cluster's clock; a test that fakes only its own clock gives
    the cluster's day)."""
    if tenant is not None:
        return []
    rows = await day_rows(sessions)
    today = today or utcnow().date()
    found = [
        Finding(
            "reconciliation",
            f"reconciliation day {row.day}",
            f"no statement after {row.attempts} attempts" + (f" ({row.outcome})" if row.outcome else ""),
            {"day": row.day.isoformat()},
        )
        for row in rows
        if row.state == PENDING and (row.attempts or overdue(row.day, today))
    ]
    known = {row.day for row in rows}
    day = rows[0].day if rows else today
    while overdue(day, today):
        if day not in known:
            found.append(
                Finding(
                    "reconciliation",
                    f"reconciliation day {day}",
                    "no run opened it",
                    {"day": day.isoformat()},
                )
            )
        day += timedelta(days=1)
    return sorted(found, key=lambda f: f.ids["day"])
