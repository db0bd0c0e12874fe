"""The store's searches behind the /v1 list routes, on SQLite and PostgreSQL: filters, keyset pages
that neither skip nor repeat rows sharing a timestamp, and the case's updated_at kept current."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.settlement import CaseRef, ChangedBy, SettlementInput
from domain.status import PaymentStatus
from store import claims
from store.db import make_engine, session_factory, transaction
from store.models import ClaimCase
from store.payments import PaymentStore
from tests.claims.sample import settlement
from tests.store.test_store import _request

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CASES = [f"{n:08d}-0000-4000-8000-000000000000" for n in range(5)]
"""Case ids are UUIDs: the `case_settled` event carries them as `case.uuid` (schema: uuid pattern)."""


async def test_case_pages_walk_ties_once_and_filters_combine(any_db_url: str) -> None:
    sessions = session_factory(make_engine(any_db_url))
    async with transaction(sessions) as s:
        for n in range(5):  # one created_at for all: the id breaks the tie
            s.add(ClaimCase(id=CASES[n], tenant="demo", token=f"t{n}", number=f"N{n % 2}", created_at=AT))
        s.add(ClaimCase(id="x", tenant="other", token="tx", number="N0", created_at=AT))

    seen: list[str] = []
    after = None
    while page := await claims.search_cases(sessions, "demo", after=after, limit=2):
        seen += [c.id for c in page]
        after = (page[-1].created_at, page[-1].id)
    assert seen == CASES

    ref = CaseRef(uuid=CASES[3], token="t3", number="N1", tenant="demo", country="dk")
    await claims.create_case(sessions, ref, "corr", AT)
    doc = SettlementInput.model_validate(settlement())
    recent = datetime.now(UTC)
    await claims.record_settlement(sessions, CASES[3], 1, doc, "corr", AT, ChangedBy(fullName="Ann"))
    found = await claims.search_cases(sessions, "demo", number="N1", closed=True, updated_since=recent)
    assert [c.id for c in found] == [CASES[3]]
    assert await claims.search_cases(sessions, "demo", number="N0", closed=True) == []
    assert [e.type for e in await claims.case_events(sessions, "demo", CASES[3], 10)] == [
        "claim_updated",
        "case_settled",
        "case_created",
    ]
    assert await claims.case_events(sessions, "other", CASES[3], 10) == []


async def test_payment_search_filters_by_line_and_status(any_db_url: str) -> None:
    store = PaymentStore(session_factory(make_engine(any_db_url)))
    first, _ = await store.create(_request(), PaymentStatus.CREATED)
    second, _ = await store.create(
        _request("0f6e1b7c-0000-4000-8000-000000000002", tenant="other"), PaymentStatus.CREATED
    )
    assert first.id is not None and second.id is not None
    found = await store.search("demo", insurance_number="080808080", status=PaymentStatus.CREATED)
    assert [p.id for p in found] == [first.id]
    assert await store.search("demo", after=first.id) == []
    assert await store.search("demo", status=PaymentStatus.ASSIGNED) == []
    assert await store.insurance_numbers([first.id]) == {first.id: ["070707070", "080808080"]}
