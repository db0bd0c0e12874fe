"""The store on SQLite and PostgreSQL: schema, registry import, idempotent and guarded writes."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, col, func, select

from domain.intent import CNMode, IntentLine, IntentOptions, PaymentIntentInput, PaymentReport
from domain.registry import PolicyStage, PolicyStatus
from domain.settlement import CaseRef, ChangedBy, SettlementInput
from domain.status import PaymentStatus as S
from payflow.dev import DEMO_REGISTRY
from store.claims import create_case, record_settlement
from store.clients import ClientStore
from store.db import make_engine, session_factory
from store.events import after
from store.matching import match_payment, record_receipt
from store.models import Insuree, Payment, PaymentDetail, PaymentReceipt, Policy, Premium, SettlementRevision
from store.payments import CNOutcome, PaymentStore, ValuedLine
from store.registry import SqlRegistry
from store.registry_import import RegistryFile, import_registry
from tests.claims.sample import settlement


def _request(
    intent_id: str = "0f6e1b7c-0000-4000-8000-000000000001", **changes: object
) -> PaymentIntentInput:
    fields: dict[str, object] = {
        "intent_id": intent_id,
        "tenant": "demo",
        "phone_number": "0681333045",
        "request_date": date(2026, 11, 20),
        "officer_code": "E00005",
        "options": IntentOptions(cn_mode=CNMode.INTERNAL),
        "lines": [
            IntentLine(insurance_number="070707070", product_code="FCUL0001", stage=PolicyStage.RENEWAL),
            IntentLine(insurance_number="080808080", product_code="FCUL0001", stage=PolicyStage.NEW),
        ],
    }
    return PaymentIntentInput(**(fields | changes))


async def _count(sessions, model: type, *where: object) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        return int((await s.exec(select(func.count()).select_from(model).where(*where))).one())


async def test_migration_matches_the_models(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
        )
    await engine.dispose()
    assert diff == []


async def test_registry_import_is_idempotent_and_all_or_nothing(any_db_url: str) -> None:
    sessions = session_factory(make_engine(any_db_url))
    data = RegistryFile.model_validate_json(DEMO_REGISTRY.read_text())
    before = (await _count(sessions, Insuree), await _count(sessions, Policy))
    await import_registry(sessions, data)  # the fixture imported it once already
    assert (await _count(sessions, Insuree), await _count(sessions, Policy)) == before == (4, 1)

    broken = data.model_copy(deep=True)
    broken.families[0].insurees[0].last_name = "Changed"
    broken.officers[0].location = "NOWHERE"
    with pytest.raises(ValueError, match="unknown location 'NOWHERE'"):
        await import_registry(sessions, broken)
    async with sessions() as s:
        head = (await s.exec(select(Insuree).where(Insuree.chfid == "070707070"))).one()
    assert head.last_name == "Mushi"


async def test_registry_facts_for_an_eo_renewal(any_db_url: str) -> None:
    facts = await SqlRegistry(session_factory(make_engine(any_db_url))).intent_facts(_request())
    assert facts.officer is not None and facts.officer.parent_location_id is not None
    renewal, new = facts.lines
    assert renewal.facts.family_exists and renewal.facts.has_policy_of_product
    assert renewal.product is not None and renewal.product.lump_sum == Decimal("20000.00")
    assert renewal.family is not None and len(renewal.family.members) == 3
    assert renewal.family.latest_policy is None  # no stage-R policy yet: the EO pays a fresh valuation
    assert new.facts.family_exists and not new.facts.has_policy_of_product

    self_payer = _request(officer_code=None)
    line = (await SqlRegistry(session_factory(make_engine(any_db_url))).intent_facts(self_payer)).lines[0]
    assert line.family is not None and line.family.latest_policy is not None
    assert line.family.latest_policy.status is PolicyStatus.ACTIVE
    assert line.family.latest_policy.premiums_paid == Decimal("23000.00")


async def test_payment_is_created_once_under_concurrent_retries(any_db_url: str) -> None:
    store = PaymentStore(session_factory(make_engine(any_db_url)))
    lines = [ValuedLine(Decimal("21000"), "policy_value"), ValuedLine(Decimal("23000"), "policy_value")]
    created = await asyncio.gather(
        *[store.create(_request(), S.CREATED, lines=lines, expected=Decimal("44000")) for _ in range(5)]
    )
    assert len({p.id for p, _ in created}) == 1
    sessions = session_factory(make_engine(any_db_url))
    assert await _count(sessions, Payment) == 1
    assert await _count(sessions, PaymentDetail) == 2


async def test_control_numbers_are_unique_and_statuses_guarded(any_db_url: str) -> None:
    store = PaymentStore(session_factory(make_engine(any_db_url)))
    a, _ = await store.create(_request("0f6e1b7c-0000-4000-8000-00000000000a"), S.CREATED)
    b, _ = await store.create(_request("0f6e1b7c-0000-4000-8000-00000000000b"), S.CREATED)
    assert a.id is not None and b.id is not None
    assert await store.set_status(a.id, S.POSTED, only_from=[S.CREATED]) is True
    # a retried write whose first attempt committed reads as done; a payment elsewhere does not move
    assert await store.set_status(a.id, S.POSTED, only_from=[S.CREATED]) is True
    assert await store.set_status(a.id, S.CANCELLED, only_from=[S.CREATED]) is False
    assert await store.assign_control_number(a.id, "991000000001") is CNOutcome.ASSIGNED
    assert await store.assign_control_number(a.id, "991000000001") is CNOutcome.ASSIGNED  # retry
    assert await store.assign_control_number(b.id, "991000000001") is CNOutcome.DUPLICATE
    assert await store.assign_control_number(987654, "991000000002") is CNOutcome.NOT_FOUND
    results = await asyncio.gather(*[store.assign_control_number(b.id, "991000000003") for _ in range(4)])
    assert set(results) == {CNOutcome.ASSIGNED}
    assert await store.control_numbers([a.id, b.id]) == {a.id: "991000000001", b.id: "991000000003"}
    refreshed = await store.by_id(a.id)
    assert refreshed is not None and refreshed.status == S.ASSIGNED and refreshed.cn_received_at is not None


async def test_client_secrets_are_stored_hashed(any_db_url: str) -> None:
    store = ClientStore(session_factory(make_engine(any_db_url)))
    issued = await store.create("demo", ["payments:read"], client_id="c1")
    stored = await store.get("c1")
    assert stored is not None and issued.client_secret not in stored.secret_hash
    assert stored.secret_hash.startswith("scrypt$")
    with pytest.raises(ValueError, match="already exists"):
        await store.create("demo", ["payments:read"], client_id="c1")
    with pytest.raises(ValueError, match="unknown scope"):
        await store.create("demo", ["root"])
    assert await store.revoke("c1") and (await store.get("c1")).revoked  # type: ignore[union-attr]


async def test_concurrent_receipts_and_matches_make_one_premium(any_db_url: str) -> None:
    """Five matchers and five deliveries of one payment at once: one receipt, one premium, one renewal."""
    sessions = session_factory(make_engine(any_db_url))
    store = PaymentStore(sessions)
    request = _request(officer_code=None, lines=[_request().lines[0]])
    payment, _ = await store.create(
        request,
        S.ASSIGNED,
        lines=[ValuedLine(Decimal("21000"), "policy_value")],
        expected=Decimal("21000"),
        to_be_paid=Decimal("21000"),
    )
    assert payment.id is not None
    report = PaymentReport(
        control_number=None, transaction_id="TX-C", amount=Decimal("21000"), received_date=date(2026, 11, 22)
    )
    receipts = await asyncio.gather(*[record_receipt(sessions, payment.id, report, False) for _ in range(5)])
    assert {r.received_total for r in receipts} == {Decimal("21000")}
    results = await asyncio.gather(
        *[match_payment(sessions, payment.id, date(2026, 11, 22)) for _ in range(5)]
    )
    assert all(r.matched for r in results)
    assert len({r.model_dump_json() for r in results}) == 1  # the losers return the stored result
    assert await _count(sessions, Premium, col(Premium.payment_detail_id).is_not(None)) == 1
    assert await _count(sessions, PaymentReceipt) == 1
    assert await _count(sessions, Policy) == 2  # the demo policy and its one renewal
    assert (await store.by_id(payment.id)).status == S.MATCHED  # type: ignore[union-attr]


async def test_a_retried_settlement_write_records_one_revision_and_its_events(any_db_url: str) -> None:
    """What a worker crash mid-activity leads to: the same write again, even concurrently."""
    sessions = session_factory(make_engine(any_db_url))
    case = CaseRef(uuid="6b1f7c9e-0000-4000-8000-000000000001", token="c.1", number="4711", tenant="demo")
    at = datetime(2026, 11, 22, tzinfo=UTC)
    await create_case(sessions, case, "corr", at)
    await create_case(sessions, case, "corr", at)
    doc = SettlementInput.model_validate(settlement())
    by = ChangedBy(fullName="Hanne Holm")
    results = await asyncio.gather(
        *[record_settlement(sessions, case.uuid, 1, doc, "corr", at, by) for _ in range(3)],
        return_exceptions=True,
    )
    results.append(await record_settlement(sessions, case.uuid, 1, doc, "corr", at, by))
    ok = [r for r in results if not isinstance(r, BaseException)]
    assert ok and len({token for token, _ in ok}) == 1 and len({tuple(ids) for _, ids in ok}) == 1
    assert await _count(sessions, SettlementRevision) == 1
    types = sorted(e.type for e in await after(sessions, "demo", 0, limit=10))
    assert types == ["case_created", "case_settled", "claim_updated"]
