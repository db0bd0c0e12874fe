"""Payment records: written by activities only, each write idempotent under retry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import true, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from domain.errors import NotFound
from domain.intent import PaymentIntentInput
from domain.status import PaymentStatus
from store.db import SessionFactory, transaction
from store.events import publish_payment
from store.models import Payment, PaymentDetail, PaymentReceipt, PooledNumber, utcnow


@dataclass(frozen=True)
class ValuedLine:
    expected_amount: Decimal
    basis: str


class CNOutcome(StrEnum):
    ASSIGNED = "assigned"
    DUPLICATE = "duplicate"
    NOT_FOUND = "not_found"
    NOT_AWAITING = "not_awaiting"
    """The payment moved on (cancelled, say) while its number was being drawn or delivered."""


def _of(tenant: str | None) -> Any:
    """The tenant filter of a look-up: the API always names the caller's tenant; activities, which act
    on the payment their own workflow made, pass None."""
    return true() if tenant is None else col(Payment.tenant) == tenant


class PaymentStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def by_intent(self, intent_id: str, tenant: str | None = None) -> Payment | None:
        async with self._sessions() as s:
            q = select(Payment).where(Payment.intent_id == intent_id, _of(tenant))
            return (await s.exec(q)).first()

    async def by_id(self, payment_id: int, tenant: str | None = None) -> Payment | None:
        async with self._sessions() as s:
            return (await s.exec(select(Payment).where(Payment.id == payment_id, _of(tenant)))).first()

    async def by_ids(
        self, tenant: str, payment_ids: Iterable[int], intent_ids: Iterable[str] = ()
    ) -> list[Payment]:
        """The tenant's payments by id or by intent id, in one query (both are unique keys)."""
        wanted = col(Payment.id).in_(list(payment_ids)) | col(Payment.intent_id).in_(list(intent_ids))
        async with self._sessions() as s:
            return list((await s.exec(select(Payment).where(wanted, _of(tenant)))).all())

    async def details(self, payment_id: int) -> list[PaymentDetail]:
        async with self._sessions() as s:
            q = select(PaymentDetail).where(PaymentDetail.payment_id == payment_id)
            return list((await s.exec(q.order_by(col(PaymentDetail.line_no)))).all())

    async def create(
        self,
        request: PaymentIntentInput,
        status: PaymentStatus,
        *,
        lines: Sequence[ValuedLine] | None = None,
        expected: Decimal = Decimal("0"),
        fee: Decimal = Decimal("0"),
        to_be_paid: Decimal = Decimal("0"),
        reason: str | None = None,
        valued_on: date | None = None,
    ) -> tuple[Payment, list[PaymentDetail]]:
        """Insert the payment and its details in one transaction; a retry (the intent id is unique)
        returns the first insert."""
        payment = Payment(
            intent_id=request.intent_id,
            tenant=request.tenant,
            status=int(status),
            rejected_reason=reason,
            officer_code=request.officer_code,
            phone_number=request.phone_number,
            language=request.language,
            sms_required=request.sms_required,
            request_date=request.request_date,
            type_of_payment=request.type_of_payment.name if request.type_of_payment is not None else None,
            expected_amount=expected,
            transfer_fee=fee,
            amount_to_be_paid=to_be_paid,
            valued_on=valued_on,
        )
        details = []
        try:
            async with transaction(self._sessions) as s:
                s.add(payment)
                await s.flush()
                for n, ln in enumerate(request.lines, 1):
                    valued = lines[n - 1] if lines else None
                    details.append(
                        PaymentDetail(
                            payment_id=payment.id,
                            line_no=n,
                            insurance_number=(ln.insurance_number or "").strip()[:12] or None,
                            product_code=ln.product_code[:8],
                            stage=ln.stage.value,
                            expected_amount=valued.expected_amount if valued else Decimal("0"),
                            basis=valued.basis if valued else None,
                        )
                    )
                s.add_all(details)
                await publish_payment(s, payment, status)
        except IntegrityError:
            # An earlier or concurrent run of the same activity made it: return its rows.
            found = await self.by_intent(request.intent_id)
            if found is None or found.id is None:
                raise
            return found, await self.details(found.id)
        return payment, details

    async def set_status(
        self,
        payment_id: int,
        status: PaymentStatus,
        *,
        reason: str | None = None,
        only_from: Iterable[PaymentStatus],
    ) -> bool:
        """Move a payment to `status` if it is in one of `only_from`; False when it was not. A payment
        already at `status` answers True: a retried write whose first attempt committed must read as done."""
        payment = await self.move_status(payment_id, status, reason=reason, only_from=only_from)
        return payment.status == int(status)

    async def move_status(
        self,
        payment_id: int,
        status: PaymentStatus,
        *,
        reason: str | None = None,
        only_from: Iterable[PaymentStatus],
    ) -> Payment:
        """`set_status`, answering the row as the write left it: the status the store holds is the
        truth, whether this write moved it or another step had moved it elsewhere first."""
        values: dict[str, object] = {"status": int(status), "updated_at": utcnow()}
        if reason is not None:
            values["rejected_reason"] = reason[:255]
        if status is PaymentStatus.POSTED:
            values["cn_requested_at"] = utcnow()
        async with transaction(self._sessions) as s:
            result = await s.exec(
                update(Payment)
                .where(col(Payment.id) == payment_id, col(Payment.status).in_([int(x) for x in only_from]))
                .values(**values)
            )
            payment = await s.get(Payment, payment_id)
            if payment is None:
                raise NotFound(f"payment {payment_id} not found")
            if result.rowcount == 1:
                await publish_payment(s, payment, status)
            return payment

    async def pooled_bill_id(self, payment_id: int) -> str | None:
        """The gateway's id of the pool bill whose number the payment holds (pool mode), if any."""
        async with self._sessions() as s:
            q = select(PooledNumber.bill_id).where(PooledNumber.payment_id == payment_id)
            return (await s.exec(q)).first()

    async def transaction_ids(self, payment_id: int) -> list[str]:
        """The gateway transactions recorded for the payment, in the order they came."""
        async with self._sessions() as s:
            q = select(PaymentReceipt.transaction_id).where(PaymentReceipt.payment_id == payment_id)
            return list((await s.exec(q.order_by(col(PaymentReceipt.id)))).all())

    async def assign_control_number(self, payment_id: int, control_number: str) -> CNOutcome:
        """Store the control number of a payment still awaiting one (1 CREATED or 2 POSTED); a number
        already held by another payment is a duplicate. One transaction when it is assigned."""
        try:
            async with transaction(self._sessions) as s:
                awaiting = [int(PaymentStatus.CREATED), int(PaymentStatus.POSTED)]
                result = await s.exec(
                    update(Payment)
                    .where(col(Payment.id) == payment_id, col(Payment.status).in_(awaiting))
                    .values(
                        control_number=control_number,
                        status=int(PaymentStatus.ASSIGNED),
                        cn_received_at=utcnow(),
                        updated_at=utcnow(),
                    )
                )
                if result.rowcount == 1:
                    payment = await s.get(Payment, payment_id)
                    assert payment is not None
                    await publish_payment(s, payment, PaymentStatus.ASSIGNED)
                    return CNOutcome.ASSIGNED
                current = await s.get(Payment, payment_id)
                if current is None:
                    return CNOutcome.NOT_FOUND
                if current.control_number == control_number:  # an earlier run of this same write
                    return CNOutcome.ASSIGNED
                holder = (
                    await s.exec(select(Payment.id).where(Payment.control_number == control_number))
                ).first()
                return CNOutcome.NOT_AWAITING if holder is None else CNOutcome.DUPLICATE
        except IntegrityError:  # the unique control number: another payment holds it
            return CNOutcome.DUPLICATE

    async def by_control_number(self, control_number: str, tenant: str | None = None) -> Payment | None:
        """Control numbers are unique per deployment (one gateway bills for every tenant), but only
        the bill's own tenant may find it."""
        async with self._sessions() as s:
            q = select(Payment).where(Payment.control_number == control_number, _of(tenant))
            return (await s.exec(q)).first()

    async def receipt(self, tenant: str, transaction_id: str) -> PaymentReceipt | None:
        """The tenant's record of a gateway transaction, if it was recorded."""
        async with self._sessions() as s:
            q = select(PaymentReceipt).where(
                PaymentReceipt.tenant == tenant, PaymentReceipt.transaction_id == transaction_id
            )
            return (await s.exec(q)).first()

    async def receipt_payment_id(self, tenant: str, transaction_id: str) -> int | None:
        """The tenant's payment a gateway transaction was recorded for, if any: transaction ids are
        unique per tenant only, and another tenant's payment must never be named."""
        async with self._sessions() as s:
            q = select(PaymentReceipt.payment_id).where(
                PaymentReceipt.tenant == tenant, PaymentReceipt.transaction_id == transaction_id
            )
            return (await s.exec(q)).first()

    async def received_between(self, tenant: str, first: date, last: date) -> list[Payment]:
        async with self._sessions() as s:
            q = select(Payment).where(
                Payment.tenant == tenant,
                col(Payment.received_date).is_not(None),
                col(Payment.received_date) >= first,
                col(Payment.received_date) <= last,
            )
            return list((await s.exec(q.order_by(col(Payment.id)))).all())

    async def awaiting_match(self, tenant: str) -> list[Payment]:
        async with self._sessions() as s:
            q = select(Payment).where(Payment.tenant == tenant, Payment.status == int(PaymentStatus.RECEIVED))
            return list((await s.exec(q.order_by(col(Payment.id)))).all())

    async def search(
        self,
        tenant: str,
        *,
        control_number: str | None = None,
        insurance_number: str | None = None,
        status: PaymentStatus | None = None,
        created_since: datetime | None = None,
        after: int = 0,
        limit: int = 50,
    ) -> list[Payment]:
        """The tenant's payments matching every filter given, by id after `after` (a keyset page, so
        a walk sees each payment once while others are added). Insurance numbers are the lines'."""
        q = select(Payment).where(Payment.tenant == tenant, col(Payment.id) > after)
        if control_number is not None:
            q = q.where(Payment.control_number == control_number)
        if status is not None:
            q = q.where(Payment.status == int(status))
        if created_since is not None:
            q = q.where(col(Payment.created_at) >= created_since)
        if insurance_number is not None:
            lines = select(PaymentDetail.payment_id).where(PaymentDetail.insurance_number == insurance_number)
            q = q.where(col(Payment.id).in_(lines))
        async with self._sessions() as s:
            return list((await s.exec(q.order_by(col(Payment.id)).limit(limit))).all())

    async def insurance_numbers(self, payment_ids: Iterable[int]) -> dict[int, list[str]]:
        """Each payment's insurance numbers, in line order, in one query."""
        q = (
            select(PaymentDetail.payment_id, PaymentDetail.insurance_number)
            .where(col(PaymentDetail.payment_id).in_(list(payment_ids)))
            .order_by(col(PaymentDetail.payment_id), col(PaymentDetail.line_no))
        )
        found: dict[int, list[str]] = {}
        async with self._sessions() as s:
            for pid, number in (await s.exec(q)).all():
                if number:
                    found.setdefault(pid, []).append(number)
        return found

    async def control_numbers(self, payment_ids: Iterable[int]) -> dict[int, str | None]:
        async with self._sessions() as s:
            q = select(Payment.id, Payment.control_number).where(col(Payment.id).in_(list(payment_ids)))
            return {pid: cn for pid, cn in (await s.exec(q)).all() if pid is not None}
