"""Issue 9, items 1 and 3 at the store, on SQLite and PostgreSQL: a status write repeated after its
commit reads as done (and publishes nothing twice); a settlement's idempotency key answers the first
revision whatever revision number a later run asks for."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from sqlmodel import col, func, select

from domain.intent import CNMode, IntentLine, IntentOptions, PaymentIntentInput
from domain.registry import PolicyStage
from domain.settlement import CaseRef, ChangedBy, SettlementInput
from domain.status import PaymentStatus as S
from store import claims
from store.db import SessionFactory, make_engine, session_factory
from store.models import Event, SettlementRevision
from store.payments import PaymentStore
from tests.claims.sample import settlement

AT = datetime(2026, 12, 1, tzinfo=UTC)
BY = ChangedBy(fullName="Hanne Holm")


async def _count(sessions: SessionFactory, *where: object) -> int:
    async with sessions() as s:
        return int((await s.exec(select(func.count()).select_from(Event).where(*where))).one())  # type: ignore[arg-type]


async def test_a_status_write_repeated_after_its_commit_reads_as_done(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    sessions = session_factory(engine)
    store = PaymentStore(sessions)
    request = PaymentIntentInput(
        intent_id=str(uuid.uuid4()),
        tenant="demo",
        phone_number="0681333045",
        request_date=date(2026, 11, 20),
        lines=[IntentLine(insurance_number="070707070", product_code="FCUL0001", stage=PolicyStage.RENEWAL)],
        options=IntentOptions(cn_mode=CNMode.INTERNAL),
    )
    payment, _ = await store.create(request, S.CREATED)
    assert payment.id is not None
    cancelled = col(Event.dedupe_key) == f"payment:{payment.id}:cancelled"
    assert await store.set_status(payment.id, S.CANCELLED, reason="Bill expired", only_from=[S.CREATED])
    events = await _count(sessions, col(Event.dedupe_key).startswith(f"payment:{payment.id}:"))
    # the retry of the committed write: done, not refused, and no second event
    assert await store.set_status(payment.id, S.CANCELLED, reason="Bill expired", only_from=[S.CREATED])
    assert await _count(sessions, col(Event.dedupe_key).startswith(f"payment:{payment.id}:")) == events
    assert await _count(sessions, cancelled) <= 1
    # a payment that moved elsewhere still refuses the write, and a missing one is no outage
    assert not await store.set_status(payment.id, S.FAILED_REQUEST, only_from=[S.CREATED])
    with pytest.raises(LookupError):
        await store.set_status(987654, S.CANCELLED, only_from=[S.CREATED])
    await engine.dispose()


async def test_a_settlement_key_answers_its_first_revision_in_any_later_run(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    sessions = session_factory(engine)
    case = CaseRef(uuid=str(uuid.uuid4()), token="c.key", number="K-1", tenant="demo")
    await claims.create_case(sessions, case, "corr", AT)
    doc = SettlementInput.model_validate(settlement(close=False))

    async def settle(number: int, key: str) -> tuple[str, list[int]]:
        return await claims.record_settlement(sessions, case.uuid, number, doc, "corr", AT, BY, key)

    first = await settle(1, "settle-A")
    assert await settle(1, "settle-A") == first  # the activity retried after its commit
    assert await settle(2, "settle-A") == first  # a later run (continued as new) asks with its next number
    other = await settle(2, "settle-B")
    assert other[0] != first[0]
    recorded = await claims.settled_with_key(sessions, case.uuid, "settle-A")
    assert recorded is not None and (recorded.revision_token, recorded.event_ids) == first
    async with sessions() as s:
        keys = (
            await s.exec(
                select(SettlementRevision.idempotency_key).where(SettlementRevision.case_id == case.uuid)
            )
        ).all()
    assert sorted(k or "" for k in keys) == ["settle-A", "settle-B"]
    assert (
        await _count(sessions, Event.type == "case_settled", col(Event.dedupe_key).startswith(case.uuid)) == 2
    )
    await engine.dispose()
