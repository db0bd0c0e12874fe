"""Activities of the payment intent: validation and valuation, control numbers, status records."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.webhooks import EventRelay
from domain.control_number import with_check_digits
from domain.errors import NotFound
from domain.intent import PaymentIntentInput, bill_error, validate_intent
from domain.money import amount_to_be_paid, transfer_fee
from domain.payment_flow import (
    DUPLICATE_CONTROL_NUMBER,
    ControlNumberWrite,
    LineState,
    MatchRequest,
    MatchResult,
    ReceiptResult,
    ReceiptWrite,
    StatusWrite,
    StoreView,
    ValuationResult,
)
from domain.status import PaymentStatus
from domain.valuation import expected_amount, local_date, value_line
from infra.settings import Settings
from store.db import SessionFactory
from store.matching import ReceiptConflict, match_payment, record_receipt
from store.models import Payment, PaymentDetail
from store.payments import CNOutcome, PaymentStore, ValuedLine
from store.registry import RegistryReader

MAX_CN_DRAWS = 20


class IntentActivities:
    def __init__(
        self,
        settings: Settings,
        sessions: SessionFactory,
        payments: PaymentStore,
        registry: RegistryReader,
        relay: EventRelay,
        now: Callable[[], datetime] = partial(datetime.now, UTC),
    ) -> None:
        self._settings = settings
        self._now = now
        self._sessions = sessions
        self._payments = payments
        self._registry = registry
        self._relay = relay

    @activity.defn
    async def value_intent(self, request: PaymentIntentInput) -> ValuationResult:
        """Validate in openIMIS order, value each line and persist the payment (once per intent)."""
        existing = await self._payments.by_intent(request.intent_id)
        if existing is None:
            existing, details = await self._create(request)
            metrics.intent_status(PaymentStatus(existing.status))
        else:
            assert existing.id is not None
            details = await self._payments.details(existing.id)
        self._relay.kick()
        return _result(existing, details)

    async def _create(self, request: PaymentIntentInput) -> tuple[Payment, list[PaymentDetail]]:
        facts = await self._registry.intent_facts(request)
        today = local_date(self._now(), self._settings.timezone)
        billed = request.received is None  # the bill rules refuse bills, never money already paid
        error = validate_intent(
            request,
            facts.officer,
            [ln.facts for ln in facts.lines],
            prior_enrolment=request.options.prior_enrolment,
            today=today if billed else None,
        )
        if error is not None:
            return await self._payments.create(request, PaymentStatus.REJECTED, reason=error.message)
        values = []
        for line, found in zip(request.lines, facts.lines, strict=True):
            assert found.product is not None
            values.append(
                value_line(
                    found.product,
                    found.family,
                    line.stage,
                    is_eo=bool(request.officer_code),
                    enroll_date=today,
                    provided_amount=line.amount,
                    proxy=self._settings.proxy_family,
                    age_of_majority=self._settings.age_of_majority,
                )
            )
        expected = expected_amount(values, request.amount_to_be_paid)
        policy = self._settings.fee_policy
        fee = transfer_fee(expected, request.type_of_payment, policy)
        to_be_paid = amount_to_be_paid(expected, fee, policy)
        valued = [ValuedLine(v.amount, v.basis.value) for v in values]
        nothing_due = bill_error(to_be_paid) if billed else None
        if nothing_due is not None:
            return await self._payments.create(
                request, PaymentStatus.REJECTED, lines=valued, reason=nothing_due.message, valued_on=today
            )
        return await self._payments.create(
            request,
            PaymentStatus.CREATED,
            lines=valued,
            expected=expected,
            fee=fee,
            to_be_paid=to_be_paid,
            valued_on=today,
        )

    @activity.defn
    async def assign_internal_control_number(self, payment_id: int) -> str:
        """Draw random digits with check digits until one is unique in the store (retry-safe);
        "" when the payment no longer awaits a number (cancelled meanwhile)."""
        digits = self._settings.cn_length - 2
        for _ in range(MAX_CN_DRAWS):
            base = str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1))
            cn = with_check_digits(base)
            outcome = await self._payments.assign_control_number(payment_id, cn)
            if outcome is CNOutcome.ASSIGNED:
                metrics.intent_status(PaymentStatus.ASSIGNED)
                self._relay.kick()
                return cn
            if outcome is CNOutcome.NOT_AWAITING:
                # an earlier or overlapping run of this activity stored its number first: that one wins
                current = await self._payments.by_id(payment_id)
                self._relay.kick()
                return current.control_number or "" if current is not None else ""
            if outcome is CNOutcome.NOT_FOUND:
                raise NotFound(f"payment {payment_id} not found")
        raise RuntimeError("could not draw a unique control number")  # retried: a fresh set of draws

    @activity.defn
    async def store_control_number(self, write: ControlNumberWrite) -> str:
        outcome = await self._payments.assign_control_number(write.payment_id, write.control_number)
        if outcome is CNOutcome.ASSIGNED:
            metrics.intent_status(PaymentStatus.ASSIGNED)
        if outcome is CNOutcome.DUPLICATE and await self._payments.set_status(
            write.payment_id,
            PaymentStatus.FAILED_CONTROL_NUMBER,
            reason=DUPLICATE_CONTROL_NUMBER,
            only_from=[PaymentStatus.CREATED, PaymentStatus.POSTED],
        ):
            metrics.intent_status(PaymentStatus.FAILED_CONTROL_NUMBER)
        self._relay.kick()
        return outcome.value

    @activity.defn
    async def record_receipt(self, write: ReceiptWrite) -> ReceiptResult:
        try:
            result = await record_receipt(self._sessions, write.payment_id, write.report, write.partial)
        except ReceiptConflict as err:
            raise ApplicationError(str(err), type="ReceiptConflict", non_retryable=True) from err
        if result.complete:
            metrics.intent_status(PaymentStatus.RECEIVED)
        self._relay.kick()
        return result

    @activity.defn
    async def match_payment(self, request: MatchRequest) -> MatchResult:
        result = await match_payment(
            self._sessions,
            request.payment_id,
            request.paid_on,
            age_of_majority=self._settings.age_of_majority,
            fees=self._settings.fee_policy,
        )
        metrics.match(result.matched)
        if result.matched:
            metrics.intent_status(PaymentStatus.MATCHED)
        self._relay.kick()  # payment.matched
        return result

    @activity.defn
    async def record_status(self, write: StatusWrite) -> bool:
        changed = await self._payments.set_status(
            write.payment_id, write.status, reason=write.reason, only_from=write.only_from
        )
        if changed:
            metrics.intent_status(write.status)
        self._relay.kick()
        return changed

    @activity.defn
    async def move_status(self, write: StatusWrite) -> StoreView:
        """The guarded status write, answering what the store holds after it (the workflow adopts it)."""
        payment = await self._payments.move_status(
            write.payment_id, write.status, reason=write.reason, only_from=write.only_from
        )
        assert payment.id is not None
        if payment.status == write.status:
            metrics.intent_status(write.status)
        self._relay.kick()
        return StoreView(
            status=PaymentStatus(payment.status),
            control_number=payment.control_number,
            reason=payment.rejected_reason,
            received_amount=payment.received_amount,
            paid_on=payment.payment_date or payment.received_date,
            transactions=await self._payments.transaction_ids(payment.id),
        )


def _result(payment: Payment, details: list[PaymentDetail]) -> ValuationResult:
    """What the workflow learns from the valuation: the payment, its lines, its amounts or refusal."""
    assert payment.id is not None
    lines = [
        LineState(
            insurance_number=d.insurance_number,
            product_code=d.product_code,
            stage=d.stage,
            expected_amount=d.expected_amount,
            basis=d.basis,
        )
        for d in details
    ]
    if payment.status == PaymentStatus.REJECTED:
        code = int((payment.rejected_reason or "0").split("-", 1)[0])
        return ValuationResult(
            payment_id=payment.id, error_code=code, reason=payment.rejected_reason, lines=lines
        )
    return ValuationResult(
        payment_id=payment.id,
        lines=lines,
        expected_amount=payment.expected_amount,
        transfer_fee=payment.transfer_fee,
        amount_to_be_paid=payment.amount_to_be_paid,
    )
