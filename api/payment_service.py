"""Payments as the gateway reports them, shared by the openIMIS and /v1 routes.

A notification for a control number becomes the `record_payment` update of its intent's workflow
(its validator answers codes 3, 4 and 5 before anything is written); one without a control number
starts a workflow at "received" (codes 6, 7 and 8 are checked against the registry first). Every
attempt is kept in the audit log with its outcome: accepted, repeated, rejected, or unavailable (503,
when the workflow could not confirm it; the update keeps a per-transaction id, so Temporal applies it
once). The same transaction for the same bill and amount is the same notification: its retry is
answered as accepted however the first answer was lost, and is handed to the workflow again, so a
workflow that lost it (a Temporal server crash) takes it from the store. A valid payment of a bill the
store holds as payable is never refused for what the workflow has not caught up with: that is a 503.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from api.auth import Principal
from api.errors import Unavailable
from api.intent_service import IntentService
from domain.intent import PAYMENT_DATA_MESSAGES, IntentLine, PaymentIntentInput, PaymentReport
from domain.payment_flow import CancelOutcome, CancelRequest, MatchResult, record_payment_update_id
from domain.registry import PolicyStage
from domain.status import PaymentStatus
from infra.settings import Settings
from store.db import SessionFactory
from store.models import Payment, PaymentReceipt
from store.notifications import NO_CODE, Outcome, Received, log_notification
from store.payments import PaymentStore
from store.registry import RegistryReader
from workflows.payment_intent import PaymentIntentWorkflow

PAYMENT_NAMESPACE = uuid.UUID("0c3f8a9e-6d0b-4f3e-8b8e-2f6f1d7c9a10")
VALIDATION_TO_PAYMENT_CODE = {3: 6, 2: 7, 5: 8}
"""Intent validation codes → GetPaymentData codes for a payment without an intent."""


@dataclass(frozen=True)
class Notification:
    report: PaymentReport
    insurance_number: str | None = None
    product_code: str | None = None
    renewal: bool = False
    officer_code: str | None = None


@dataclass(frozen=True)
class PaymentOutcome:
    code: int
    payment_id: int | None = None
    intent_id: str | None = None


class PaymentService:
    def __init__(
        self,
        intents: IntentService,
        payments: PaymentStore,
        registry: RegistryReader,
        sessions: SessionFactory,
        settings: Settings,
    ) -> None:
        self._intents = intents
        self._payments = payments
        self._registry = registry
        self._sessions = sessions
        self._settings = settings

    async def owned(self, principal: Principal, payment_id: int) -> Payment | None:
        return await self._payments.by_id(payment_id, principal.tenant)

    async def receive(self, principal: Principal, notification: Notification, raw: str) -> PaymentOutcome:
        """Record one notification and log the attempt. Raises `Unavailable` (503, logged as such) when
        its workflow could not confirm it: the gateway retries, and the retry finds what was kept."""
        report = notification.report
        received = Received(
            principal.tenant,
            principal.client_id,
            raw,
            report.control_number,
            report.transaction_id,
            report.amount,
        )
        try:
            outcome = await self._receive(principal, notification)
        except Unavailable as err:
            reason = f"Not confirmed, answered 503 for a retry: {err.cause}"
            await log_notification(
                self._sessions, received, code=NO_CODE, reason=reason, outcome=Outcome.UNAVAILABLE
            )
            raise
        if not await self._log(received, outcome):
            # accepted before, or by a concurrent attempt of the same transaction just now
            await self._log(received, outcome, Outcome.REPEATED)
        return outcome

    async def _log(self, received: Received, outcome: PaymentOutcome, kind: Outcome | None = None) -> bool:
        reason = PAYMENT_DATA_MESSAGES[outcome.code]
        return await log_notification(
            self._sessions,
            received,
            code=outcome.code,
            reason=reason,
            outcome=kind,
            payment_id=outcome.payment_id,
        )

    async def log_rejected_body(self, principal: Principal, raw: str, code: int, reason: str) -> None:
        await log_notification(
            self._sessions, Received(principal.tenant, principal.client_id, raw), code=code, reason=reason
        )

    async def _receive(self, principal: Principal, n: Notification) -> PaymentOutcome:
        report = n.report
        earlier = await self._payments.receipt(principal.tenant, report.transaction_id)
        if earlier is not None:  # this gateway transaction was recorded already
            kept = await self._same_notification(principal, n, earlier)
            if kept is None:
                return PaymentOutcome(5, earlier.payment_id)
            if not report.control_number:  # its workflow started at "received" with the payment
                return PaymentOutcome(0, earlier.payment_id, kept.intent_id)
        if report.control_number:
            payment = await self._payments.by_control_number(report.control_number, principal.tenant)
            if payment is None:
                return PaymentOutcome(3)
            return await self._record(payment, report, repeated=earlier is not None)
        request = self._intent_for(principal, n)
        facts = await self._registry.intent_facts(request)
        line = facts.lines[0].facts
        if n.officer_code and facts.officer is None:
            return PaymentOutcome(6)
        if not line.product_found:
            return PaymentOutcome(7)
        if n.renewal and not (line.family_exists and line.has_policy_of_product):
            return PaymentOutcome(8)
        state = await self._intents.start(request, 0)
        if state.status is None:  # started, but its worker has not taken it up yet
            raise Unavailable(
                "The payment was handed to its workflow but is not confirmed yet; retry.",
                cause="workflow started, no worker answered",
                code="workflow_unavailable",
            )
        if state.error_code is not None:
            return PaymentOutcome(VALIDATION_TO_PAYMENT_CODE.get(state.error_code, 2), state.payment_id)
        return PaymentOutcome(0, state.payment_id, request.intent_id)

    async def _record(self, payment: Payment, report: PaymentReport, *, repeated: bool) -> PaymentOutcome:
        """Hand the payment to its workflow (again, for a repeat: it may have lost it). A repeat is
        accepted whatever a closed or lagging workflow says, since the store holds it."""
        accepted = PaymentOutcome(0, payment.id, payment.intent_id)
        update_id = record_payment_update_id(report.transaction_id)
        try:
            await self._intents.update(
                payment.intent_id, PaymentIntentWorkflow.record_payment, report, update_id=update_id
            )
        except WorkflowUpdateFailedError as err:
            code = _rejection_code(err)
            if repeated:
                return accepted
            if code in (3, 4) and _payable(payment, report, self._settings.intent_options.partial_payments):
                raise Unavailable(
                    "The payment's workflow has not caught up with its bill yet; retry.",
                    cause=f"workflow answered {code} for a bill the store holds as payable",
                    code="workflow_unavailable",
                ) from err
            return PaymentOutcome(code, payment.id, payment.intent_id)
        except RPCError:  # the intent's workflow is closed: paid already (5), or no longer payable (3)
            if repeated:
                return accepted
            paid = payment.status in (PaymentStatus.RECEIVED, PaymentStatus.MATCHED)
            return PaymentOutcome(5 if paid else 3, payment.id, payment.intent_id)
        return accepted

    async def _same_notification(
        self, principal: Principal, n: Notification, earlier: PaymentReceipt
    ) -> Payment | None:
        """The payment, when the recorded transaction is this notification again: same amount, for
        the bill this one names (its control number, or the intent a payment without one implies)."""
        payment = await self._payments.by_id(earlier.payment_id, principal.tenant)
        if payment is None or earlier.amount != n.report.amount:
            return None
        if n.report.control_number:
            same = payment.control_number == n.report.control_number
        else:
            same = payment.intent_id == self._intent_for(principal, n).intent_id
        return payment if same else None

    def _intent_for(self, principal: Principal, n: Notification) -> PaymentIntentInput:
        """The intent a payment without one implies: its line, its payer, starting at "received"."""
        report = n.report
        key = f"{principal.tenant}\n{report.transaction_id}"
        return PaymentIntentInput(
            intent_id=str(uuid.uuid5(PAYMENT_NAMESPACE, key)),
            tenant=principal.tenant,
            phone_number=report.payer_phone or "",
            request_date=report.received_date,
            officer_code=n.officer_code,
            lines=[
                IntentLine(
                    insurance_number=n.insurance_number,
                    product_code=n.product_code or "",
                    stage=PolicyStage.RENEWAL if n.renewal else PolicyStage.NEW,
                )
            ],
            sms_required=bool(report.payer_phone),
            options=self._settings.intent_options,
            received=report,
        )

    async def by_intent(self, principal: Principal, intent_id: str) -> Payment | None:
        return await self._payments.by_intent(intent_id, principal.tenant)

    async def by_control_number(self, principal: Principal, control_number: str) -> Payment | None:
        return await self._payments.by_control_number(control_number, principal.tenant)

    async def reconciliation_items(
        self, principal: Principal, first: date, last: date
    ) -> list[dict[str, Any]]:
        """openIMIS ReconciliationItem rows, with the real control and insurance numbers (not the id)."""
        rows = []
        for p in await self._payments.received_between(principal.tenant, first, last):
            assert p.id is not None
            details = await self._payments.details(p.id)
            rows.append(
                {
                    "control_number": p.control_number,
                    "insurance_number": details[0].insurance_number if details else None,
                    "enrolment_officer_code": p.officer_code,
                    "transaction_identification": p.transaction_no,
                    "receipt_identification": p.receipt_no,
                    "received_amount": float(p.received_amount),
                    "received_date": f"{p.received_date:%d%m%Y}" if p.received_date else None,
                    "payment_date": f"{p.payment_date:%d%m%Y}" if p.payment_date else None,
                    "payment_origin": p.payment_origin,
                    "type_of_payment": p.type_of_payment,
                    "language": p.language,
                }
            )
        return rows

    async def rematch(self, payment: Payment) -> MatchResult | None:
        """Match one received payment now; None when it has nothing to match."""
        if payment.status == PaymentStatus.MATCHED and payment.match_note:
            return MatchResult.model_validate_json(payment.match_note)  # the workflow may be closed
        try:
            result: MatchResult | None = await self._intents.update(
                payment.intent_id, PaymentIntentWorkflow.rematch
            )
        except (WorkflowUpdateFailedError, RPCError):
            return None
        return result

    async def awaiting_match(self, principal: Principal) -> list[Payment]:
        return await self._payments.awaiting_match(principal.tenant)

    async def cancel(self, payment: Payment, reason: str) -> CancelOutcome:
        try:
            outcome: CancelOutcome = await self._intents.update(
                payment.intent_id, PaymentIntentWorkflow.cancel, CancelRequest(reason=reason)
            )
        except WorkflowUpdateFailedError as err:
            return CancelOutcome(cancelled=False, code=3, message=str(err.cause or err))
        except RPCError as err:
            return CancelOutcome(cancelled=False, code=3, message=err.message)
        return outcome


def _payable(payment: Payment, report: PaymentReport, partial: bool) -> bool:
    """The store holds the bill as payable for this amount: a refusal would be the workflow lagging."""
    return payment.status == PaymentStatus.ASSIGNED and (
        partial or report.amount == payment.amount_to_be_paid
    )


def _rejection_code(err: WorkflowUpdateFailedError) -> int:
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == "PaymentRejected" and cause.details:
        return int(cause.details[0])
    return 3
