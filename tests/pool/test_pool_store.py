"""The control-number pool in the store, on SQLite and PostgreSQL: concurrent hand-outs, all-or-nothing
batches, and the checker's view of a number handed out twice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlmodel import col, select

from domain.intent import CNMode, IntentLine, IntentOptions, PaymentIntentInput
from domain.pool import BulkRequest, PooledBill
from domain.status import PaymentStatus as S
from payflow.check import check
from store.db import SessionFactory, make_engine, session_factory
from store.models import Payment, PooledNumber, PoolRequest
from store.payments import PaymentStore, ValuedLine
from store.pool import PoolStore

PRODUCT = "FCUL0001"
SOON = datetime.now(UTC) + timedelta(days=30)


async def _payment(payments: PaymentStore, officer_code: str | None = None) -> int:
    request = PaymentIntentInput(
        intent_id=str(uuid.uuid4()),
        tenant="demo",
        officer_code=officer_code,
        phone_number="0681333045",
        request_date=datetime.now(UTC).date(),
        lines=[IntentLine(insurance_number="070707070", product_code=PRODUCT)],
        options=IntentOptions(cn_mode=CNMode.POOL),
    )
    payment, _ = await payments.create(request, S.CREATED, lines=[ValuedLine(Decimal("10000"), "lump")])
    assert payment.id is not None
    return payment.id


async def _stock(pool: PoolStore, count: int, *, prefix: str = "77") -> str:
    key = f"test:{uuid.uuid4()}"
    await pool.open_request(BulkRequest(key=key, product_code=PRODUCT, count=count, expiry_days=1095))
    bills = [PooledBill(bill_id=f"b{n}", control_number=f"{prefix}{n:08d}") for n in range(count)]
    assert await pool.fill(key, bills, datetime.now(UTC) + timedelta(days=1095)) == count
    return key


async def test_concurrent_intents_take_different_numbers_and_the_rest_fail_clearly(any_db_url: str) -> None:
    sessions = session_factory(make_engine(any_db_url))
    payments, pool = PaymentStore(sessions), PoolStore(sessions)
    await _stock(pool, 45)
    ids = [await _payment(payments) for _ in range(50)]

    draws = await asyncio.gather(*(pool.take(pid, SOON) for pid in ids))

    numbers = [d.control_number for d in draws if d.control_number]
    assert len(numbers) == len(set(numbers)) == 45
    failed = [d.reason for d in draws if d.control_number is None]
    assert (
        failed == ["9-Control number cannot be assigned: no free number in the pool of product FCUL0001"] * 5
    )
    async with sessions() as s:
        rows = {r.payment_id: r.control_number for r in (await s.exec(select(PooledNumber))).all()}
        stored = {p.id: (p.status, p.control_number) for p in (await s.exec(select(Payment))).all()}
    assert None not in rows and sorted(rows) == sorted(
        pid for pid, d in zip(ids, draws, strict=True) if d.control_number
    )
    for pid, draw in zip(ids, draws, strict=True):
        expected = (
            (int(S.ASSIGNED), draw.control_number) if draw.control_number else (int(S.FAILED_REQUEST), None)
        )
        assert stored[pid] == expected
        assert draw.control_number is None or rows[pid] == draw.control_number
    # a retried take returns the number the first attempt took, and takes no other
    assert await pool.take(ids[0], SOON) == draws[0]
    assert (await check(sessions, None)).violations == []


async def test_a_batch_is_pooled_whole_or_not_at_all(any_db_url: str) -> None:
    sessions = session_factory(make_engine(any_db_url))
    pool = PoolStore(sessions)
    await _stock(pool, 3, prefix="55")
    key = f"test:{uuid.uuid4()}"
    await pool.open_request(BulkRequest(key=key, product_code=PRODUCT, count=3, expiry_days=1095))
    clash = [
        PooledBill(bill_id="x1", control_number="6600000001"),
        PooledBill(bill_id="x2", control_number="5500000002"),
    ]

    assert await pool.fill(key, clash, SOON) == 0

    async with sessions() as s:
        numbers = (await s.exec(select(PooledNumber.control_number))).all()
        request = (await s.exec(select(PoolRequest).where(PoolRequest.key == key))).one()
    assert sorted(numbers) == ["5500000000", "5500000001", "5500000002"]
    assert (request.state, request.reason) == (
        "failed",
        "the gateway returned a control number that is already pooled or in use",
    )
    assert (await pool.free_counts([PRODUCT], datetime.now(UTC)))[PRODUCT] == 3
    # a bill that expires before the intent's own would be cut short: not handed out, not counted
    assert (await pool.free_counts([PRODUCT], datetime.now(UTC) + timedelta(days=1100)))[PRODUCT] == 0


async def test_check_flags_a_pool_number_handed_out_twice(db_url: str) -> None:
    sessions: SessionFactory = session_factory(make_engine(db_url))
    payments, pool = PaymentStore(sessions), PoolStore(sessions)
    await _stock(pool, 1, prefix="44")
    first, second = await _payment(payments), await _payment(payments)
    draw = await pool.take(first, SOON)
    async with sessions() as s, s.begin():  # a number handed out behind the pool's back
        await s.exec(update(Payment).where(col(Payment.id) == first).values(control_number=None))
        await s.exec(
            update(Payment).where(col(Payment.id) == second).values(control_number=draw.control_number)
        )

    found = (await check(sessions, None)).violations

    assert [(f.check, f.subject) for f in found] == [("pool", f"pool number {draw.control_number}")]
    assert found[0].ids == {"value": draw.control_number, "payments": [second, first]}


async def test_officers_reserve_disjoint_numbers_and_their_intents_use_them_first(any_db_url: str) -> None:
    sessions = session_factory(make_engine(any_db_url))
    payments, pool = PaymentStore(sessions), PoolStore(sessions)
    await _stock(pool, 12, prefix="33")

    asha, juma = await asyncio.gather(pool.reserve("E00005", PRODUCT, 8), pool.reserve("E00009", PRODUCT, 8))

    held = {"E00005": {r.control_number for r in asha}, "E00009": {r.control_number for r in juma}}
    assert not held["E00005"] & held["E00009"]  # 12 numbers shared out, none twice
    assert len(held["E00005"] | held["E00009"]) == 12 and max(map(len, held.values())) <= 8
    assert (await pool.free_counts([PRODUCT], datetime.now(UTC)))[PRODUCT] == 0  # reserved is not free
    assert await pool.reserve("E00005", PRODUCT, 1) == []
    mine = await pool.take(await _payment(payments, "E00005"), SOON)
    assert mine.control_number in held["E00005"]
    nobodys = await pool.take(await _payment(payments), SOON)  # no officer: only free numbers
    assert nobodys.control_number is None and nobodys.reason is not None
    async with sessions() as s:
        owner = (
            await s.exec(
                select(PooledNumber.officer_code).where(PooledNumber.control_number == mine.control_number)
            )
        ).one()
    assert owner == "E00005"
