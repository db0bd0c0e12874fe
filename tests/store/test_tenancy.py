"""Tenants in the store, on SQLite and PostgreSQL: transaction ids are keys per tenant, look-ups name
the tenant, and every event carries a webhook-id unique everywhere (old events keep `msg_<id>`)."""

from __future__ import annotations

import asyncio
import re
from datetime import date
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import text

from domain.intent import PaymentReport
from domain.reconciliation import Statement, StatementLine
from domain.status import PaymentStatus as S
from store.db import alembic_config, make_engine, session_factory, transaction
from store.events import after
from store.matching import ReceiptConflict, record_receipt
from store.models import Payment
from store.payments import PaymentStore, ValuedLine
from store.reconciliation import compare
from tests.store.test_store import _request

DAY = date(2026, 11, 22)


async def _bill(store: PaymentStore, n: int, tenant: str) -> Payment:
    """An assigned bill of 21 000 for `tenant`, control number 99100000000n."""
    payment, _ = await store.create(
        _request(f"0f6e1b7c-0000-4000-8000-00000000010{n}", tenant=tenant, officer_code=None),
        S.CREATED,
        lines=[ValuedLine(Decimal("21000"), "policy_value")] * 2,
        to_be_paid=Decimal("21000"),
    )
    assert payment.id is not None
    await store.assign_control_number(payment.id, f"99100000000{n}")
    return payment


def _paid(transaction_id: str = "TX-SAME") -> PaymentReport:
    return PaymentReport(
        control_number=None, transaction_id=transaction_id, amount=Decimal("21000"), received_date=DAY
    )


async def test_transaction_ids_are_unique_per_tenant_and_lookups_name_the_tenant(any_db_url: str) -> None:
    sessions = session_factory(make_engine(any_db_url))
    store = PaymentStore(sessions)
    a, b, a2 = (await _bill(store, 1, "demo"), await _bill(store, 2, "other"), await _bill(store, 3, "demo"))
    assert a.id and b.id and a2.id
    await record_receipt(sessions, a.id, _paid(), partial=False)
    assert (await record_receipt(sessions, b.id, _paid(), partial=False)).complete  # not a conflict
    with pytest.raises(ReceiptConflict, match=f"belongs to payment {a.id}"):
        await record_receipt(sessions, a2.id, _paid(), partial=False)  # twice in one tenant is

    assert await store.receipt_payment_id("demo", "TX-SAME") == a.id
    assert await store.receipt_payment_id("other", "TX-SAME") == b.id
    assert await store.receipt_payment_id("third", "TX-SAME") is None
    assert await store.by_id(a.id, "other") is None and await store.by_intent(a.intent_id, "other") is None
    assert await store.by_control_number("991000000001", "other") is None
    assert (await store.by_control_number("991000000001", "demo")) is not None
    assert [p.id for p in await store.by_ids("other", [a.id, b.id], [a2.intent_id])] == [b.id]

    # the gateway bills for every tenant: a statement line is its bill's tenant's, so a third tenant's
    # bill paid with TX-SAME is missing from its records even though demo and other recorded TX-SAME
    c = await _bill(store, 4, "third")
    line = StatementLine(control_number="991000000001", transaction_id="TX-SAME", amount=21000, paid_on=DAY)
    lines = [line, line.model_copy(update={"control_number": "991000000004"})]
    comparison = await compare(sessions, Statement(day=DAY, lines=lines))
    assert [m.intent_id for m in comparison.missing] == [c.intent_id]
    assert (comparison.mismatches, comparison.unknown) == (0, 0)


async def test_webhook_ids_are_unique_across_tenants_and_old_events_keep_theirs(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    sessions = session_factory(engine)
    store = PaymentStore(sessions)
    await _bill(store, 1, "demo")
    await _bill(store, 2, "other")
    [first_a] = await after(sessions, "demo", 0, limit=1)
    [first_b] = await after(sessions, "other", 0, limit=1)
    assert first_a.webhook_id != first_b.webhook_id
    assert all(re.fullmatch(r"msg_[0-9A-HJKMNP-TV-Z]{26}", e.webhook_id) for e in (first_a, first_b))

    # a database from before 0007: its events and receipts, then the migration
    await asyncio.to_thread(command.downgrade, alembic_config(any_db_url), "0006")
    async with transaction(sessions) as s:
        await s.exec(  # type: ignore[call-overload]
            text(
                "INSERT INTO paymentreceipt (payment_id, transaction_id, amount, received_date, created_at) "
                "SELECT id, 'TX-OLD', 1, request_date, created_at FROM payment WHERE tenant = 'other'"
            )
        )
    await asyncio.to_thread(command.upgrade, alembic_config(any_db_url), "head")
    async with sessions() as s:
        ids = (await s.exec(text("SELECT id, webhook_id FROM event ORDER BY id"))).all()  # type: ignore[call-overload]
        receipts = (await s.exec(text("SELECT tenant, transaction_id FROM paymentreceipt"))).all()  # type: ignore[call-overload]
    assert ids and all(webhook_id == f"msg_{i}" for i, webhook_id in ids)  # as their deliveries were sent
    assert [tuple(r) for r in receipts] == [("other", "TX-OLD")]
    await engine.dispose()
