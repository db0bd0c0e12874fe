"""Activities of the control-number pool: hand a number to an intent, find and fill the shortfalls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import activity

from activities import metrics
from activities.bulk_bills import BulkBiller
from activities.webhooks import EventRelay
from domain.pool import (
    BulkOrder,
    BulkRequest,
    PoolDraw,
    PoolShortfall,
    PoolTake,
    TopUpInput,
    TopUpResult,
    numbers_to_request,
)
from domain.status import PaymentStatus
from store.payments import PaymentStore
from store.pool import DONE, PoolStore


class PoolActivities:
    def __init__(
        self, pool: PoolStore, payments: PaymentStore, biller: BulkBiller, relay: EventRelay
    ) -> None:
        self._pool = pool
        self._payments = payments
        self._biller = biller
        self._relay = relay

    @activity.defn
    async def take_pool_number(self, take: PoolTake) -> PoolDraw:
        """The intent's pool number (the same one on a retry), or why it has none."""
        draw = await self._pool.take(take.payment_id, take.valid_until)
        if draw.control_number is None and draw.reason is None:
            # cancelled meanwhile, or an overlapping attempt of this activity took the number first
            payment = await self._payments.by_id(take.payment_id)
            draw = PoolDraw(control_number=payment.control_number if payment is not None else None)
        elif draw.reason is not None:
            metrics.intent_status(PaymentStatus.FAILED_REQUEST)
        else:
            metrics.intent_status(PaymentStatus.ASSIGNED)
        self._relay.kick()
        return draw

    @activity.defn
    async def pool_shortfalls(self, topup: TopUpInput) -> list[PoolShortfall]:
        free = await self._pool.free_counts(topup.products, datetime.now(UTC))
        return [
            PoolShortfall(product_code=code, free=n, count=count)
            for code, n in free.items()
            if (count := numbers_to_request(n, topup.minimum, topup.batch)) > 0
        ]

    @activity.defn
    async def request_pool_numbers(self, request: BulkRequest) -> TopUpResult:
        """Bill the numbers in bulk and pool them in one transaction. A refusal marks the request
        failed and pools nothing; an outage marks it failed too and raises, so Temporal retries it."""
        row = await self._pool.open_request(request)
        if row.state == DONE:
            return TopUpResult(product_code=request.product_code, requested=request.count, added=row.count)
        product = await self._pool.product(request.product_code)
        if product is None:
            return await self._failed(request, f"unknown product {request.product_code}")
        assert row.id is not None
        # the bills expire as the request says: a retry, and GePG's later callback, use the same date
        expires_at = row.expires_at or datetime.now(UTC) + timedelta(days=request.expiry_days)
        order = BulkOrder(
            request_key=request.key,
            request_id=row.id,
            product_code=request.product_code,
            amount=product.lump_sum,
            expires_at=expires_at,
            count=request.count,
        )
        try:
            reply = await self._biller.request_bulk(order)
        except Exception as err:
            await self._pool.fail(request.key, f"gateway unavailable: {err}")
            raise
        if not reply.accepted:
            return await self._failed(request, f"{reply.code}:{reply.message}")
        added = await self._pool.fill(request.key, reply.bills, expires_at) if reply.bills else 0
        reason = None if added or not reply.bills else "the gateway's numbers could not be pooled"
        return TopUpResult(
            product_code=request.product_code, requested=request.count, added=added, reason=reason
        )

    async def _failed(self, request: BulkRequest, reason: str) -> TopUpResult:
        await self._pool.fail(request.key, reason)
        return TopUpResult(product_code=request.product_code, requested=request.count, added=0, reason=reason)
