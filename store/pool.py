"""The control-number pool (research §5.3): bulk requests, their numbers, and handing one out.

A number is handed out in the same transaction that gives it to the payment: on PostgreSQL the free
row is locked with FOR UPDATE SKIP LOCKED, so concurrent intents take different rows without waiting
on each other; on SQLite the single writer (`store.db.OneWriter`) serialises the transactions. The
unique keys on the number and on its payment make a second hand-out impossible either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from domain.errors import NotFound
from domain.intent import INTENT_MESSAGES
from domain.pool import BulkRequest, PoolDraw, PooledBill
from domain.status import PaymentStatus
from store.db import SessionFactory, transaction
from store.events import publish_payment
from store.models import Officer, Payment, PaymentDetail, PooledNumber, PoolRequest, Product, utcnow

PENDING, DONE, FAILED = "pending", "done", "failed"


class PoolStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def take(self, payment_id: int, valid_until: datetime) -> PoolDraw:
        """Give the payment (1 CREATED) a number of its product that is billed until at least
        `valid_until`, from its officer's reserve first, else a free one; with none left, fail it
        (-2) with the reason. A retry gets the number the first
        attempt took; an empty draw means the payment no longer awaits a number (cancelled)."""
        async with transaction(self._sessions) as s:
            held = (
                await s.exec(select(PooledNumber.control_number).where(PooledNumber.payment_id == payment_id))
            ).first()
            if held is not None:
                return PoolDraw(control_number=held)
            found = (
                await s.exec(
                    select(PaymentDetail.product_code, Payment.officer_code)
                    .join(Payment, col(Payment.id) == col(PaymentDetail.payment_id))
                    .where(PaymentDetail.payment_id == payment_id)
                    .order_by(col(PaymentDetail.line_no))
                )
            ).first()
            if found is None:
                raise NotFound(f"payment {payment_id} not found")
            product, officer = found
            free = None
            if officer:  # the officer's own reserve first (GetControlNumbersForEO), then the free pool
                free = await _unused(s, product, valid_until, officer)
            free = free or await _unused(s, product, valid_until, None)
            if free is None:
                reason = f"{INTENT_MESSAGES[9]}: no free number in the pool of product {product}"
                if await _move(s, payment_id, PaymentStatus.FAILED_REQUEST, rejected_reason=reason):
                    return PoolDraw(reason=reason)
                return PoolDraw()
            assigned = await _move(
                s,
                payment_id,
                PaymentStatus.ASSIGNED,
                control_number=free.control_number,
                cn_received_at=utcnow(),
            )
            if not assigned:
                return PoolDraw()
            free.payment_id, free.assigned_at = payment_id, utcnow()
            s.add(free)
            return PoolDraw(control_number=free.control_number)

    async def free_counts(self, products: Sequence[str], valid_after: datetime) -> dict[str, int]:
        """Free numbers per product (every registry product when `products` is empty), counting only
        bills that are still valid after `valid_after` and held by no officer (research §5.3)."""
        async with self._sessions() as s:
            codes = list(products) or list((await s.exec(select(Product.code).order_by(Product.code))).all())
            q = (
                select(PooledNumber.product_code, func.count())
                .where(
                    col(PooledNumber.product_code).in_(codes),
                    col(PooledNumber.payment_id).is_(None),
                    col(PooledNumber.officer_code).is_(None),
                    col(PooledNumber.expires_at) > valid_after,
                )
                .group_by(col(PooledNumber.product_code))
            )
            counted = dict((await s.exec(q)).all())
        return {code: int(counted.get(code, 0)) for code in codes}

    async def reserve(
        self, officer_code: str, product_code: str, count: int, *, quota: int | None = None
    ) -> list[PooledNumber]:
        """Give the officer up to `count` free, unexpired numbers of the product in one transaction
        (GetControlNumbersForEO, research §2.10), and never so many that he holds more than `quota`
        unused ones of it: fewer, or none, when the pool is short. His officer row is locked while
        counting, so two requests at once cannot both fill the same quota; SKIP LOCKED on PostgreSQL
        keeps concurrent reservations and intents off each other's rows, and a row another transaction
        just took fails the re-checked filter and is skipped."""
        async with transaction(self._sessions) as s:
            if quota is not None:
                await s.exec(select(Officer.id).where(Officer.code == officer_code).with_for_update())
                count = min(count, quota - await _held(s, officer_code, product_code))
            if count <= 0:
                return []
            rows = list(
                (
                    await s.exec(
                        _unused_query(product_code, utcnow(), None)
                        .limit(count)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
            )
            for row in rows:
                row.officer_code, row.reserved_at = officer_code, utcnow()
                s.add(row)
        return rows

    async def held(self, officer_code: str, product_code: str) -> int:
        """Unused, unexpired numbers of the product the officer holds."""
        async with self._sessions() as s:
            return await _held(s, officer_code, product_code)

    async def officer(self, code: str) -> Officer | None:
        async with self._sessions() as s:
            return (await s.exec(select(Officer).where(Officer.code == code))).first()

    async def product(self, product_code: str) -> Product | None:
        async with self._sessions() as s:
            return (await s.exec(select(Product).where(Product.code == product_code))).first()

    async def open_request(self, request: BulkRequest) -> PoolRequest:
        """The request row of `request.key`, made pending on first use (a retry finds it)."""
        async with self._sessions() as s:
            found = (await s.exec(select(PoolRequest).where(PoolRequest.key == request.key))).first()
        if found is not None:
            return found
        row = PoolRequest(
            key=request.key,
            product_code=request.product_code,
            count=request.count,
            state=PENDING,
            expires_at=utcnow() + timedelta(days=request.expiry_days),
        )
        try:
            async with transaction(self._sessions) as s:
                s.add(row)
        except IntegrityError:  # an overlapping attempt made it first
            return await self.open_request(request)
        return row

    async def request(self, request_id: int) -> PoolRequest | None:
        async with self._sessions() as s:
            return await s.get(PoolRequest, request_id)

    async def fill(self, key: str, bills: Sequence[PooledBill], expires_at: datetime) -> int:
        """Store numbers of the request and mark it done, in one transaction: all of them or none
        (a number already pooled fails the batch as a whole; a request without numbers yet is then
        marked failed). A done request takes more: GePG delivers a bulk bill's numbers in several
        callbacks, and a repeated one meets the unique number and adds nothing."""
        try:
            async with transaction(self._sessions) as s:
                request = (await s.exec(select(PoolRequest).where(PoolRequest.key == key))).one()
                assert request.id is not None
                for bill in bills:
                    s.add(
                        PooledNumber(
                            control_number=bill.control_number,
                            product_code=request.product_code,
                            bill_id=bill.bill_id,
                            request_id=request.id,
                            expires_at=expires_at,
                        )
                    )
                request.state, request.reason, request.finished_at = DONE, None, utcnow()
                s.add(request)
        except IntegrityError:
            await self.fail(key, "the gateway returned a control number that is already pooled or in use")
            return 0
        return len(bills)

    async def fail(self, key: str, reason: str) -> None:
        async with transaction(self._sessions) as s:
            await s.exec(
                update(PoolRequest)
                .where(col(PoolRequest.key) == key, col(PoolRequest.state) != DONE)
                .values(state=FAILED, reason=reason[:255], finished_at=utcnow())
            )


def _unused_query(product: str, valid_until: datetime, officer: str | None) -> SelectOfScalar[PooledNumber]:
    """Numbers of the product no payment holds, billed beyond `valid_until`, held by `officer`
    (None: held by nobody), oldest first."""
    return (
        select(PooledNumber)
        .where(
            PooledNumber.product_code == product,
            col(PooledNumber.payment_id).is_(None),
            PooledNumber.officer_code == officer if officer else col(PooledNumber.officer_code).is_(None),
            col(PooledNumber.expires_at) > valid_until,
        )
        .order_by(col(PooledNumber.id))
    )


async def _held(s: AsyncSession, officer_code: str, product_code: str) -> int:
    valid = _unused_query(product_code, utcnow(), officer_code).subquery()
    return int((await s.exec(select(func.count()).select_from(valid))).one())


async def _unused(
    s: AsyncSession, product: str, valid_until: datetime, officer: str | None
) -> PooledNumber | None:
    """One such number, locked for this transaction (skipping those other transactions hold)."""
    return (
        await s.exec(_unused_query(product, valid_until, officer).limit(1).with_for_update(skip_locked=True))
    ).first()


async def _move(s: AsyncSession, payment_id: int, status: PaymentStatus, **values: object) -> bool:
    """Move the payment from 1 CREATED to `status` and publish that status' event; False
    when it is no longer at 1 (cancelled meanwhile, or an overlapping attempt served it)."""
    result = await s.exec(
        update(Payment)
        .where(col(Payment.id) == payment_id, col(Payment.status) == int(PaymentStatus.CREATED))
        .values(status=int(status), updated_at=utcnow(), **values)
    )
    if result.rowcount != 1:
        return False
    payment = await s.get(Payment, payment_id)
    assert payment is not None
    await publish_payment(s, payment, status)
    return True
