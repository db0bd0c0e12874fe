"""PaymentIntentWorkflow: one payment intent from validation to matched premiums (SPEC §3.2).

Orchestration only: every record is written by an activity; this class keeps the flow state, answers
the `status` query and keeps search attributes and the UI details current. Steps 4–7 (receipt,
matching, cancellation, expiry with reminder) came after the first release and sit behind the
`receipt-and-matching` patch, so intents started before it replay unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import interfaces as acts
    from domain.intent import (
        PAYMENT_DATA_MESSAGES,
        CNMode,
        GatewayProtocol,
        PaymentIntentInput,
        PaymentReport,
    )
    from domain.payment_flow import (
        DUPLICATE_CONTROL_NUMBER,
        Acknowledgement,
        BillRequest,
        CancelOutcome,
        CancelRequest,
        ControlNumberReceipt,
        ControlNumberResult,
        ControlNumberWrite,
        IntentState,
        MatchRequest,
        MatchResult,
        ReceiptResult,
        ReceiptWrite,
        SmsNotice,
        StatusWrite,
        StoreView,
        TimelineEntry,
        store_is_ahead,
    )
    from domain.pool import PoolTake
    from domain.sms import SmsKind
    from domain.status import PaymentStatus
    from workflows import search_attributes as sa
    from workflows import ui_details
    from workflows.activity_options import LOCAL_STORE_CALL, STORE_CALL, local_since, retrying

S = PaymentStatus
GATEWAY_RETRY = retrying(maximum=timedelta(seconds=20))
CANCEL_CALL = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": retrying(maximum=timedelta(minutes=10)),
}
"""Cancelling a bill retries until the gateway is back, however long it is down."""
SMS_RETRY = retrying(2, timedelta(minutes=1), maximum_attempts=5)
TIMEOUT_REASON = "Timeout when requesting control number"
RECEIPT_PATCH = "receipt-and-matching"
EXPIRY_PATCH = "expiry-survives-gateway-outage"
PAID_EARLY_PATCH = "paid-before-the-bill-was-acknowledged"
LOCAL_STEPS_PATCH = "local-store-steps"
NO_PLAIN_SEARCH_PATCH = "no-personal-data-in-search-attributes"
BILL_RULE_PATCH = "bill-payable-or-cancelled"
"""A bill that may exist at the gateway is payable and its payment accepted, or cancelled at the
gateway before anything is refused for it; the workflow's status is what the store holds."""
CANCELLABLE = (S.CREATED, S.POSTED, S.ASSIGNED)
DUPLICATE_BILL_PATCH = "duplicate-number-bill-cancelled"
"""The bill rule on a duplicate control number (-3): its bill is cancelled at the gateway too."""
AT_REST_PATCH = "search-attributes-at-rest"
"""Asked first in a new run, so a run started by a worker before it (even one the API started with
`PaymentStatus`) replays on its old branch; a run that took it asks no earlier patch."""
PARTIAL_PATCH = "partial-payments-kept"
"""Money received never vanishes: a partly paid bill is not cancelled on request, and at expiry what
was received is matched as it is (premiums, the policy Idle with its balance; research §6)."""
PARTLY_PAID_EXPIRED = "Bill expired partly paid: the amount received is matched as it is"
PARTLY_PAID = "the bill is partly paid: it cannot be cancelled (the rest may still be paid until it expires)"
T = TypeVar("T")
SETTLE_PASSES = 4
"""Condition passes a change of search attributes waits, still at rest, before it is upserted."""
CANCEL_RETRY = timedelta(days=1)
CANCEL_ATTEMPTS = 3


@workflow.defn
class PaymentIntentWorkflow:
    @workflow.init
    def __init__(self, request: PaymentIntentInput) -> None:
        self._request = request
        self._state = IntentState(
            intent_id=request.intent_id, tenant=request.tenant, cn_mode=request.options.cn_mode
        )
        if request.resume_state is not None:
            self._state = IntentState.model_validate(request.resume_state)
        self._lock = asyncio.Lock()
        self._rematch_requested = False
        self._sms_queue: list[SmsNotice] = []
        self._sms_busy = False
        self._bill_sent = False
        """post_bill was scheduled: from then on the gateway may hold a bill for this intent."""
        self._posting = False
        self._cancelling = False
        self._current = False
        """The run took AT_REST_PATCH: every patch before it applies without asking (a patch is a marker
        plus a TemporalChangeVersion upsert, two history events each), and search attributes are
        written at rest, once per workflow task, not at every step."""
        started = workflow.info().typed_search_attributes.get(sa.PAYMENT_STATUS)
        self._saved: dict[str, object] = {} if started is None else {sa.PAYMENT_STATUS.name: started}
        self._unsaved: dict[str, SearchAttributeUpdate] = {}
        self._in_store = 0

    @workflow.run
    async def run(self, request: PaymentIntentInput) -> IntentState:
        if request.resume_state is not None:  # continued as new while retrying the match
            await self._match_until_done()
            return await self._finish()
        self._current = workflow.patched(AT_REST_PATCH)
        if self._current:
            asyncio.create_task(self._save_at_rest())  # noqa: RUF006 - ends with the run
        if (
            workflow.info().typed_search_attributes.get(sa.TENANT) is None
        ):  # started before they came at start
            known = (  # the workflow holds no hash secret: no insurance numbers at all
                sa.from_request(request, [])
                if self._patched(NO_PLAIN_SEARCH_PATCH)
                else sa.before_at_start(request)
            )
            workflow.upsert_search_attributes([pair.key.value_set(pair.value) for pair in known])
        valued = await self._store(acts.value_intent, request, "validate and value the intent")
        self._state.payment_id = valued.payment_id
        self._state.lines = valued.lines
        if valued.error_code is not None:
            self._state.error_code = valued.error_code
            self._advance(S.REJECTED, valued.reason)
            return await self._finish()
        self._state.expected_amount = valued.expected_amount
        self._state.transfer_fee = valued.transfer_fee
        self._state.amount_to_be_paid = valued.amount_to_be_paid
        self._advance(S.CREATED)
        if request.received is not None:  # a payment notified without an intent: start at "received"
            self._patched(RECEIPT_PATCH)
            async with self._lock:
                await self._receive(request.received)
            await self._match_until_done()
            return await self._finish()

        if request.options.cn_mode is CNMode.INTERNAL:
            cn = await self._store(
                acts.assign_internal_control_number, valued.payment_id, "generate a control number"
            )
            if cn:  # "" when a cancellation came first
                self._assigned(cn)
        elif request.options.cn_mode is CNMode.POOL:  # a mode new with this branch: no patch needed
            await self._take_from_pool(valued.payment_id)
        else:
            await self._request_from_gateway(valued.payment_id)

        if self._state.status is S.CANCELLED:  # cancelled on request before the number came: no SMS
            return await self._finish()
        # In gateway mode the number comes by update, so the bill may be paid before this line is reached.
        paid_early = self._state.status is S.RECEIVED and self._patched(PAID_EARLY_PATCH)
        assigned = self._state.status is S.ASSIGNED or paid_early
        await self._notify(SmsKind.CN_ASSIGNED if assigned else SmsKind.CN_NOT_ASSIGNED)
        if assigned:
            await self._await_payment()
        return await self._finish()

    async def _request_from_gateway(self, payment_id: int) -> None:
        options = self._request.options
        self._bill_sent = self._posting = True
        try:
            ack = await workflow.execute_activity(
                acts.post_bill,
                BillRequest(
                    intent_id=self._request.intent_id,
                    payment_id=payment_id,
                    expires_at=workflow.now() + timedelta(days=options.bill_expiry_days),
                    protocol=options.gateway_protocol,
                ),
                summary="post the bill to the gateway",
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=5),
                retry_policy=GATEWAY_RETRY,
            )
        except ActivityError:
            self._posting = False
            if self._patched(BILL_RULE_PATCH):  # the gateway may have taken the bill
                await self._give_up_bill(TIMEOUT_REASON)
            else:
                await self._fail(S.FAILED_REQUEST, TIMEOUT_REASON, only_from=[S.CREATED])
            return
        self._posting = False
        if not ack.accepted:
            reason = f"{ack.code}:{ack.message}"
            if self._patched(BILL_RULE_PATCH):
                await self._fail(S.FAILED_REQUEST, reason, only_from=[S.CREATED, S.POSTED])
            else:
                self._advance(S.FAILED_REQUEST, reason)
            return
        if self._state.status is S.CREATED:
            self._advance(S.POSTED)
        if not self._state.control_number_settled:
            limit = workflow.now() + timedelta(seconds=options.cn_callback_timeout_s)
            self._show(f"wait for the gateway's control number until {ui_details.at(limit)}")
        try:
            await workflow.wait_condition(
                lambda: self._state.control_number_settled,
                timeout=timedelta(seconds=options.cn_callback_timeout_s),
                timeout_summary="wait for the gateway's control number",
            )
        except TimeoutError:
            if self._patched(BILL_RULE_PATCH):  # the bill is at the gateway, unnumbered
                await self._give_up_bill(TIMEOUT_REASON)
            else:
                await self._fail(S.FAILED_REQUEST, TIMEOUT_REASON, only_from=[S.CREATED, S.POSTED])
        if self._state.status is S.FAILED_CONTROL_NUMBER and self._patched(DUPLICATE_BILL_PATCH):
            await self._cancel_duplicate_bill()

    async def _give_up_bill(self, reason: str) -> None:
        """Refuse (-2) a bill the gateway may hold only once it is cancelled there; while the gateway
        refuses to cancel it (it numbered or was paid meanwhile), wait for its number."""

        def settled() -> bool:
            return self._state.control_number_settled

        for _ in range(CANCEL_ATTEMPTS):
            outcome = await self._cancel_at_gateway(settled, "cancel the bill the gateway did not number")
            if outcome is None:  # the number came, or a cancel on request ended the step
                return
            if outcome.cancelled:
                async with self._lock:
                    if not settled():
                        await self._fail(S.FAILED_REQUEST, reason, only_from=[S.CREATED, S.POSTED])
                return
            self._state.reason = f"The gateway refused to cancel the unnumbered bill ({outcome.message})"
            if await self._wait(settled, CANCEL_RETRY, "the gateway's control number, then cancel again"):
                return
        await workflow.wait_condition(settled)

    async def _cancel_duplicate_bill(self) -> None:
        """The gateway numbered this bill with a number another intent holds (-3, written with the
        number): cancel it there, so no bill of a refused intent stays payable at the gateway."""
        outcome = await self._cancel_at_gateway(lambda: False, "cancel the bill numbered with a duplicate")
        if outcome is not None and not outcome.cancelled:
            workflow.logger.warning("the gateway refused to cancel a duplicate's bill: %s", outcome.message)

    async def _take_from_pool(self, payment_id: int) -> None:
        """A free number of the product's pool whose bill outlives this one's expiry, taken in the
        transaction that assigns it. An empty pool fails the intent at once (-2 with the reason)
        instead of holding the caller: the top-up schedule refills the pool, and the client asks again."""
        valid_until = workflow.now() + timedelta(days=self._request.options.bill_expiry_days)
        draw = await self._store(
            acts.take_pool_number,
            PoolTake(payment_id=payment_id, valid_until=valid_until),
            "take a control number from the pool",
        )
        if draw.control_number:
            self._assigned(draw.control_number)
        elif draw.reason:
            self._advance(S.FAILED_REQUEST, draw.reason)

    async def _await_payment(self) -> None:
        """Hold the assigned bill until it is paid, cancelled or expires (with a reminder before)."""
        options = self._request.options
        deadline = workflow.now() + timedelta(days=options.bill_expiry_days)
        reminder_at = deadline - timedelta(days=options.reminder_days)
        reminder = f" (reminder {ui_details.at(reminder_at)})" if options.reminder_days > 0 else ""
        self._show(f"wait for payment until {ui_details.at(deadline)}{reminder}")
        if not self._patched(RECEIPT_PATCH):
            try:
                await workflow.wait_condition(
                    lambda: self._state.status is not S.ASSIGNED,
                    timeout=timedelta(days=self._request.options.bill_expiry_days),
                    timeout_summary="bill expiry",
                )
            except TimeoutError:
                await self._fail(S.CANCELLED, "Bill expired", only_from=[S.ASSIGNED])
            return

        def settled() -> bool:
            return self._state.status is not S.ASSIGNED

        if options.reminder_days > 0 and reminder_at > workflow.now():
            if not await self._wait(settled, reminder_at - workflow.now(), "payment reminder due"):
                self._notify_later(SmsKind.REMINDER, fields={"expiry_date": f"{deadline:%d-%m-%Y}"})
        for _ in range(CANCEL_ATTEMPTS):
            if await self._wait(settled, deadline - workflow.now(), "bill expiry"):
                break
            if self._patched(EXPIRY_PATCH):
                expired = await self._expire(settled)
                if expired is None:  # a payment came first
                    break
                outcome = expired
            else:
                async with self._lock:
                    if settled():
                        break
                    outcome = await self._cancel("Bill expired")
            if outcome.cancelled:  # or, partly paid, received as it is
                break
            self._state.reason = (
                f"The gateway refused to cancel the expired bill ({outcome.message}); waiting for its payment"
            )
            deadline = workflow.now() + CANCEL_RETRY  # a payment is probably on its way
            self._show(f"wait for payment until {ui_details.at(deadline)}, then cancel the bill again")
        else:
            await workflow.wait_condition(settled)
        if self._state.status is S.RECEIVED:
            await self._match_until_done()

    async def _receive(self, report: PaymentReport) -> ReceiptResult:
        """Record a gateway payment (call with the lock held); 4 RECEIVED once the amount is covered."""
        assert self._state.payment_id is not None
        partial = self._request.options.partial_payments and self._request.received is None
        result = await self._store(
            acts.record_receipt,
            ReceiptWrite(payment_id=self._state.payment_id, report=report, partial=partial),
            f"record payment {report.transaction_id}",
        )
        self._state.received_amount = result.received_total
        self._state.transactions.append(report.transaction_id)
        self._state.paid_on = report.payment_date or report.received_date
        if result.complete:
            self._advance(S.RECEIVED)
        self._notify_later(
            SmsKind.PAYMENT_CONFIRMATION,
            key=f"{self._request.intent_id}:{SmsKind.PAYMENT_CONFIRMATION}:{report.transaction_id}",
            recipient=report.payer_phone or self._request.phone_number,
            always=bool(report.payer_phone),
        )
        return result

    async def _match_until_done(self) -> None:
        """Match now; while a line cannot match, retry daily and on `rematch` (SPEC §3.2 step 6)."""
        assert self._state.payment_id is not None and self._state.paid_on is not None
        options = self._request.options
        while True:
            async with self._lock:
                result = await self._store(
                    acts.match_payment,
                    MatchRequest(payment_id=self._state.payment_id, paid_on=self._state.paid_on),
                    "match the payment to its policies",
                )
                self._state.match_attempts += 1
                self._state.match = result
            if result.matched:
                self._state.reason = None
                self._advance(S.MATCHED)
                for line in result.lines:
                    self._notify_line(line.line_no, result)
                return
            self._state.reason = result.reasons
            self._notify_not_matched()
            self._rematch_requested = False
            retry_at = workflow.now() + timedelta(hours=options.match_retry_hours)
            self._show(f"match again at {ui_details.at(retry_at)}, or at once on rematch")
            await self._wait(
                lambda: self._rematch_requested,
                timedelta(hours=options.match_retry_hours),
                "matching retry",
            )
            if workflow.info().is_continue_as_new_suggested() and await self._quiet_unless_rematch():
                self._save()
                workflow.continue_as_new(
                    self._request.model_copy(update={"resume_state": self._state.model_dump(mode="json")})
                )

    async def _quiet_unless_rematch(self) -> bool:
        """Wait until no SMS or handler is pending before continuing as new; False when a `rematch`
        came meanwhile: it waits for a match, so match first (waiting for it to finish would deadlock)."""
        await workflow.wait_condition(
            lambda: (
                self._rematch_requested
                or (not self._sms_queue and not self._sms_busy and workflow.all_handlers_finished())
            )
        )
        return not self._rematch_requested

    async def _cancel(self, reason: str) -> CancelOutcome:
        """Cancel the bill (at the gateway first in gateway mode), then 0 CANCELLED and the SMS."""
        outcome = CancelOutcome(cancelled=True)
        if self._at_gateway():
            try:
                outcome = await workflow.execute_activity(
                    acts.cancel_bill,
                    args=self._cancel_args(),
                    summary="cancel the bill at the gateway",
                    **CANCEL_CALL,
                )
            except ActivityError as err:  # a logic error: outages are retried until they end
                outcome = CancelOutcome(cancelled=False, code=3, message=str(err.cause or err))
        if outcome.cancelled:
            await self._fail(S.CANCELLED, reason, only_from=[S.CREATED, S.POSTED, S.ASSIGNED])
            if self._state.control_number:
                self._notify_later(SmsKind.CANCELLATION)
        return outcome

    def _cancel_args(self) -> list[Any]:
        """The intent id, and its gateway protocol when it is not JSON: JSON intents keep the one
        argument their recorded histories carry."""
        protocol = self._request.options.gateway_protocol
        return [self._request.intent_id] + ([protocol] if protocol is not GatewayProtocol.JSON else [])

    async def _expire(self, settled: Callable[[], bool]) -> CancelOutcome | None:
        """Cancel the expired bill without holding the lock: the gateway may be down for days, and a
        payment that arrives meanwhile wins (the cancel is abandoned). None when a payment came first."""
        outcome = await self._cancel_at_gateway(settled, "cancel the expired bill")
        if outcome is None:
            return None
        async with self._lock:
            if settled():
                return None
            if outcome.cancelled and self._partly_paid() and self._patched(PARTIAL_PATCH):
                await self._write(S.RECEIVED, PARTLY_PAID_EXPIRED, only_from=[S.ASSIGNED])
            elif outcome.cancelled:
                await self._fail(S.CANCELLED, "Bill expired", only_from=[S.ASSIGNED])
                if self._state.status is S.CANCELLED or not self._patched(BILL_RULE_PATCH):
                    self._notify_later(SmsKind.CANCELLATION)
        return outcome

    def _partly_paid(self) -> bool:
        return self._state.received_amount > 0

    async def _cancel_at_gateway(self, settled: Callable[[], bool], summary: str) -> CancelOutcome | None:
        """Cancel the bill at the gateway, if it may hold one, without holding the lock (the gateway
        may be down for days); abandoned, None, when `settled` first (a payment or a number came)."""
        if not self._at_gateway():
            return CancelOutcome(cancelled=True)
        call = workflow.start_activity(
            acts.cancel_bill, args=self._cancel_args(), summary=summary, **CANCEL_CALL
        )
        await workflow.wait_condition(lambda: call.done() or settled())
        if not call.done():
            call.cancel()
        try:
            outcome = await call
        except (ActivityError, asyncio.CancelledError) as err:
            outcome = CancelOutcome(cancelled=False, code=3, message=str(getattr(err, "cause", err)))
        return None if settled() and self._patched(BILL_RULE_PATCH) else outcome

    def _at_gateway(self) -> bool:
        """The gateway may hold a bill of this intent: posted to it (even if unanswered), or pooled."""
        mode = self._request.options.cn_mode
        if self._patched(BILL_RULE_PATCH):
            return (mode is CNMode.GATEWAY and self._bill_sent) or (
                mode is CNMode.POOL and self._state.control_number is not None
            )
        return mode is CNMode.GATEWAY and self._state.status is not S.CREATED

    async def _wait(self, condition: Callable[[], bool], limit: timedelta, summary: str) -> bool:
        """Wait for `condition` on a durable timer; False when the time ran out."""
        try:
            await workflow.wait_condition(condition, timeout=limit, timeout_summary=summary)
        except TimeoutError:
            return False
        return True

    async def _finish(self) -> IntentState:
        await self._drain()
        self._save()
        return self._state

    async def _drain(self) -> None:
        await workflow.wait_condition(
            lambda: not self._sms_queue and not self._sms_busy and workflow.all_handlers_finished()
        )

    # --- messages -------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> IntentState:
        return self._state

    @workflow.update
    async def await_control_number(self, wait_seconds: float) -> IntentState:
        """Answer once the intent is valued and its control-number step is over, or `wait_seconds` later."""
        await workflow.wait_condition(lambda: self._state.status is not None)
        if wait_seconds > 0 and not self._state.control_number_settled:
            try:
                await workflow.wait_condition(
                    lambda: self._state.control_number_settled,
                    timeout=timedelta(seconds=wait_seconds),
                    timeout_summary="synchronous control-number wait",
                )
            except TimeoutError:
                pass
        return self._state

    @workflow.update
    async def record_payment(self, report: PaymentReport) -> ReceiptResult:
        """The gateway reports a payment of the bill (openIMIS GetPaymentData). A workflow behind its
        store (the number stored by a step it has not seen yet) waits for its number step to end
        instead of refusing; a transaction it recorded already is answered as accepted again."""
        if not self._state.control_number_settled:
            await workflow.wait_condition(lambda: self._state.control_number_settled)
        async with self._lock:
            if self._recorded(report):
                paid = self._state.status in (S.RECEIVED, S.MATCHED)
                return ReceiptResult(received_total=self._state.received_amount, complete=paid)
            self._check_payment(report)  # again: an earlier payment may have won the lock
            return await self._receive(report)

    @record_payment.validator
    def _validate_payment(self, report: PaymentReport) -> None:
        if self._state.control_number_settled and not self._recorded(report):
            self._check_payment(report)

    def _recorded(self, report: PaymentReport) -> bool:
        """The same notification again: its transaction recorded for this bill's number."""
        known = self._state.transactions
        return report.transaction_id in known and report.control_number == self._state.control_number

    def _check_payment(self, report: PaymentReport) -> None:
        status = self._state.status
        codes = []
        if report.control_number != self._state.control_number or status not in (
            S.ASSIGNED,
            S.RECEIVED,
            S.MATCHED,
        ):
            codes.append(3)
        if not self._request.options.partial_payments and report.amount != self._state.amount_to_be_paid:
            codes.append(4)
        paid = status in (S.RECEIVED, S.MATCHED)
        if report.transaction_id in self._state.transactions or paid:
            codes.append(5)
        if codes:
            code = max(codes)
            raise ApplicationError(
                PAYMENT_DATA_MESSAGES[code], code, type="PaymentRejected", non_retryable=True
            )

    @workflow.update
    async def cancel(self, request: CancelRequest) -> CancelOutcome:
        """Cancel an unpaid bill on request (openIMIS payment/cancel)."""
        if self._patched(BILL_RULE_PATCH):
            return await self._cancel_on_request(request.reason)
        async with self._lock:
            if self._state.status not in CANCELLABLE:
                return CancelOutcome(cancelled=False, code=2, message="the intent is no longer cancellable")
            return await self._cancel(request.reason)

    async def _cancel_on_request(self, reason: str) -> CancelOutcome:
        """Once the bill's post has been answered, cancel it at the gateway without the lock, so payments
        keep being answered while the gateway is down; one that comes first wins. 0 CANCELLED only once
        the gateway cancelled it; a second request joins the first."""
        await workflow.wait_condition(lambda: not self._posting and not self._cancelling)
        if self._state.status not in CANCELLABLE:
            return self._cancel_answer()
        if self._partly_paid() and self._patched(PARTIAL_PATCH):
            return CancelOutcome(cancelled=False, code=2, message=PARTLY_PAID)
        self._cancelling = True
        try:
            outcome = await self._cancel_at_gateway(
                lambda: self._state.status not in CANCELLABLE, "cancel the bill at the gateway"
            )
            if outcome is None or not outcome.cancelled:
                return outcome or self._cancel_answer()
            async with self._lock:
                if self._state.status in CANCELLABLE:
                    await self._fail(S.CANCELLED, reason, only_from=list(CANCELLABLE))
                    if self._state.status is S.CANCELLED and self._state.control_number:
                        self._notify_later(SmsKind.CANCELLATION)
            return self._cancel_answer()
        finally:
            self._cancelling = False

    def _cancel_answer(self) -> CancelOutcome:
        if self._state.status is S.CANCELLED:
            return CancelOutcome(cancelled=True)
        return CancelOutcome(cancelled=False, code=2, message="the intent is no longer cancellable")

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        if self._state.status not in (S.CREATED, S.POSTED, S.ASSIGNED):
            raise ApplicationError(
                f"the intent cannot be cancelled ({self._state.status_name})", type="NotCancellable"
            )
        if self._partly_paid():
            raise ApplicationError(PARTLY_PAID, type="NotCancellable")

    @workflow.update
    async def rematch(self) -> MatchResult | None:
        """Try matching again now, e.g. after the family was registered (openIMIS MatchPayment)."""
        if self._state.status is S.MATCHED:
            return self._state.match
        attempts = self._state.match_attempts
        self._rematch_requested = True
        await workflow.wait_condition(lambda: self._state.match_attempts > attempts)
        return self._state.match

    @rematch.validator
    def _validate_rematch(self) -> None:
        if self._state.status not in (S.RECEIVED, S.MATCHED):
            raise ApplicationError(f"nothing to match ({self._state.status_name})", type="NothingToMatch")

    @workflow.update
    async def acknowledge(self, ack: Acknowledgement) -> IntentState:
        """The gateway confirms (2 POSTED) or refuses (-2) the bill."""
        if self._state.status is not S.CREATED and not ack.error_occured:
            return self._state
        if ack.error_occured:
            reason = ack.error_message or "Request for control number cannot be posted"
            await self._fail(S.FAILED_REQUEST, reason, only_from=[S.CREATED, S.POSTED])
        else:
            await self._write(S.POSTED, None, only_from=[S.CREATED])  # since BILL_RULE_PATCH: adopted
            if not self._patched(BILL_RULE_PATCH):
                self._advance(S.POSTED)
        return self._state

    @acknowledge.validator
    def _validate_ack(self, ack: Acknowledgement) -> None:
        self._require_gateway_step(allow_assigned=not ack.error_occured)

    @workflow.update
    async def receive_control_number(self, receipt: ControlNumberReceipt) -> ControlNumberResult:
        """The gateway delivers the control number (3), a duplicate (-3), or its failure (-2)."""
        if self._state.status is S.ASSIGNED:
            return ControlNumberResult(outcome="assigned", status=S.ASSIGNED)
        assert self._state.payment_id is not None
        if receipt.error_occured or not receipt.control_number:
            reason = (
                receipt.error_message or "Control number cannot be assigned by the external payment gateway"
            )
            await self._fail(S.FAILED_REQUEST, reason, only_from=[S.CREATED, S.POSTED])
            return ControlNumberResult(outcome="failed", status=S.FAILED_REQUEST, message=reason)
        outcome = await self._store(
            acts.store_control_number,
            ControlNumberWrite(payment_id=self._state.payment_id, control_number=receipt.control_number),
            "store the control number",
        )
        if outcome == "assigned":
            self._assigned(receipt.control_number)
            return ControlNumberResult(outcome=outcome, status=S.ASSIGNED)
        if outcome != "duplicate":  # cancelled while the gateway was issuing it
            assert self._state.status is not None
            message = "the intent no longer awaits a control number"
            return ControlNumberResult(outcome="refused", status=self._state.status, message=message)
        reason = DUPLICATE_CONTROL_NUMBER
        self._advance(S.FAILED_CONTROL_NUMBER, reason)  # store_control_number recorded it
        return ControlNumberResult(outcome="duplicate", status=S.FAILED_CONTROL_NUMBER, message=reason)

    @receive_control_number.validator
    def _validate_receipt(self, receipt: ControlNumberReceipt) -> None:
        if self._state.status is S.ASSIGNED and receipt.control_number != self._state.control_number:
            raise ApplicationError("a different control number is already assigned", type="AlreadyAssigned")
        self._require_gateway_step(allow_assigned=True)

    def _require_gateway_step(self, *, allow_assigned: bool) -> None:
        if self._request.options.cn_mode is not CNMode.GATEWAY:
            raise ApplicationError(
                "this intent's control number is generated internally", type="NotGatewayMode"
            )
        allowed = {S.CREATED, S.POSTED} | ({S.ASSIGNED} if allow_assigned else set())
        if self._state.payment_id is None or self._state.status not in allowed:
            raise ApplicationError(
                f"the intent is not awaiting a control number ({self._state.status_name})",
                type="NotAwaitingControlNumber",
            )

    # --- state ----------------------------------------------------------------------------------

    def _assigned(self, control_number: str) -> None:
        """The number arrived; a cancellation that got in first keeps the intent cancelled."""
        self._state.control_number = control_number
        self._search(sa.CONTROL_NUMBER, control_number)
        if self._state.status in (S.CREATED, S.POSTED):
            self._advance(S.ASSIGNED)

    async def _fail(self, status: PaymentStatus, reason: str, *, only_from: list[PaymentStatus]) -> None:
        if await self._write(status, reason, only_from=only_from) and not self._patched(BILL_RULE_PATCH):
            self._advance(status, reason)

    async def _write(
        self, status: PaymentStatus, reason: str | None, *, only_from: list[PaymentStatus]
    ) -> bool:
        """The guarded status write; since BILL_RULE_PATCH the workflow then holds what the store holds."""
        assert self._state.payment_id is not None
        write = StatusWrite(
            payment_id=self._state.payment_id, status=status, only_from=only_from, reason=reason
        )
        if not self._patched(BILL_RULE_PATCH):
            return await self._store(acts.record_status, write, f"record status {status.name}")
        view = await self._store(acts.move_status, write, f"record status {status.name}")
        self._adopt(view)
        return view.status is status

    def _adopt(self, view: StoreView) -> None:
        """Take the store's status when it is ahead of the workflow's. A payment the store holds is
        taken as received (not matched), so the flow matches it (idempotent) and sends its notices."""
        if not store_is_ahead(view.status, self._state.status):
            return
        if view.control_number and view.control_number != self._state.control_number:
            self._state.control_number = view.control_number
            self._search(sa.CONTROL_NUMBER, view.control_number)
        status = view.status
        if status in (S.RECEIVED, S.MATCHED):
            status = S.RECEIVED
            self._state.received_amount = view.received_amount
            self._state.paid_on = view.paid_on
            known = self._state.transactions
            self._state.transactions = known + [tx for tx in view.transactions if tx not in known]
        if status is not self._state.status:
            self._advance(status, view.reason)

    async def _store(self, step: Callable[[Any], Awaitable[T]], arg: Any, summary: str) -> T:
        """A short idempotent store step; a local activity since LOCAL_STEPS_PATCH, so GetControlNumber
        is answered after one workflow task instead of one per step."""
        self._in_store += 1
        try:
            return await local_since(
                LOCAL_STEPS_PATCH, step, arg, summary, LOCAL_STORE_CALL, STORE_CALL, current=self._current
            )
        finally:
            self._in_store -= 1

    def _patched(self, patch: str) -> bool:
        return self._current or workflow.patched(patch)

    def _search(self, key: SearchAttributeKey[str], value: str) -> None:
        """Upsert at once in runs without AT_REST_PATCH; else keep it for `_save_at_rest`."""
        if not self._current:
            workflow.upsert_search_attributes([key.value_set(value)])
        elif self._saved.get(key.name) == value:
            self._unsaved.pop(key.name, None)
        else:
            self._unsaved[key.name] = key.value_set(value)

    async def _save_at_rest(self) -> None:
        """Upsert what changed once the workflow rests (no store step in flight): one upsert per
        workflow task, holding only the statuses a flow can be found at. Operators query a status a
        flow waits in (docs/operations.md); one it passes within a task would be overwritten before
        the visibility store could answer with it."""
        while True:
            # still at rest a few condition passes later: a coroutine woken in the same pass may start a
            # store step after a wait or two (a payment ends the reminder wait, then the expiry wait)
            for _ in range(SETTLE_PASSES):
                await workflow.wait_condition(self._unsaved_at_rest)
            self._save()

    def _unsaved_at_rest(self) -> bool:
        return bool(self._unsaved) and not self._in_store

    def _save(self) -> None:
        if self._unsaved:
            workflow.upsert_search_attributes(list(self._unsaved.values()))
            self._saved |= {name: update.value for name, update in self._unsaved.items()}
            self._unsaved.clear()

    def _advance(self, status: PaymentStatus, note: str | None = None) -> None:
        self._state.status = status
        if note is not None and (status.is_failure or status is S.CANCELLED):
            self._state.reason = note
        self._state.timeline.append(TimelineEntry(status=status, at=workflow.now(), note=note))
        self._search(sa.PAYMENT_STATUS, status.name)
        self._show(ui_details.payment_next_step(self._state))

    def _show(self, next_step: str) -> None:
        """The UI's current details: status, control number, amounts, next step and its time."""
        workflow.set_current_details(ui_details.payment(self._state, next_step))

    def _notify_later(
        self,
        kind: SmsKind,
        *,
        key: str | None = None,
        recipient: str | None = None,
        fields: dict[str, str] | None = None,
        always: bool = False,
    ) -> None:
        """Queue a notice; one sender sends the queue in order, so SMS arrive in the flow's order."""
        if not (self._request.sms_required or always) or self._state.payment_id is None:
            return
        self._sms_queue.append(
            SmsNotice(
                payment_id=self._state.payment_id,
                kind=kind,
                key=key or f"{self._request.intent_id}:{kind}",
                recipient=recipient,
                fields=fields or {},
            )
        )
        if not self._sms_busy:
            self._sms_busy = True
            asyncio.create_task(self._send_queue())  # noqa: RUF006 - _drain waits for it

    async def _send_queue(self) -> None:
        try:
            while self._sms_queue:
                await self._send(self._sms_queue.pop(0))
        finally:
            self._sms_busy = False

    def _notify_line(self, line_no: int, result: MatchResult) -> None:
        line = next(ln for ln in result.lines if ln.line_no == line_no)
        fields = {
            "line_no": str(line_no),
            "chfid": line.insurance_number or "",
            "product_code": line.product_code,
            "paid_amount": f"{line.amount:,.2f}",
            "outstanding": f"{line.outstanding:,.2f}",
            "start_date": f"{line.policy_start:%d-%m-%Y}" if line.policy_start else "",
            "expiry_date": f"{line.policy_expiry:%d-%m-%Y}" if line.policy_expiry else "",
        }
        kind = SmsKind.PAID_AND_ACTIVATED if line.activated else SmsKind.PAID_NOT_ACTIVATED
        self._notify_later(kind, key=f"{self._request.intent_id}:{kind}:{line_no}", fields=fields)

    def _notify_not_matched(self) -> None:
        """openIMIS PeriodPayNotMatchedSms: at most one notice per `not_matched_sms_days`."""
        days = self._request.options.not_matched_sms_days
        now = workflow.now()
        sent = self._state.not_matched_sms
        if days <= 0 or (sent and now - sent[-1] < timedelta(days=days)):
            return
        sent.append(now)
        kind = SmsKind.PAID_NOT_MATCHED
        self._notify_later(kind, key=f"{self._request.intent_id}:{kind}:{len(sent)}")

    async def _notify(self, kind: SmsKind) -> None:
        """SMS notices are best effort: a failed notice is logged and never fails the payment."""
        if not self._request.sms_required or self._state.payment_id is None:
            return
        await self._send(
            SmsNotice(payment_id=self._state.payment_id, kind=kind, key=f"{self._request.intent_id}:{kind}")
        )

    async def _send(self, notice: SmsNotice) -> None:
        try:
            await workflow.execute_activity(
                acts.send_sms,
                notice,
                summary=f"SMS {notice.kind}",
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=SMS_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("SMS %s not sent: %s", notice.kind, err.cause)
