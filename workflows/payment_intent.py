"""PaymentIntentWorkflow: one payment intent from validation to its control number (SPEC §3.2 steps 1–4).

Orchestration only: every record is written by an activity; this class keeps the flow state, answers
the `status` query and keeps search attributes and the UI details current.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.gateway import GatewayActivities
    from activities.payment_intent import IntentActivities
    from activities.sms import SmsActivities
    from domain.intent import CNMode, PaymentIntentInput
    from domain.payment_flow import (
        Acknowledgement,
        BillRequest,
        ControlNumberReceipt,
        ControlNumberResult,
        ControlNumberWrite,
        IntentState,
        SmsNotice,
        StatusWrite,
        TimelineEntry,
    )
    from domain.sms import SmsKind
    from domain.status import PaymentStatus
    from workflows import search_attributes as sa

S = PaymentStatus
DB_CALL = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
GATEWAY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=20))
SMS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1), maximum_attempts=5
)
TIMEOUT_REASON = "Timeout when requesting control number"


@workflow.defn
class PaymentIntentWorkflow:
    @workflow.init
    def __init__(self, request: PaymentIntentInput) -> None:
        self._request = request
        self._state = IntentState(
            intent_id=request.intent_id, tenant=request.tenant, cn_mode=request.options.cn_mode
        )

    @workflow.run
    async def run(self, request: PaymentIntentInput) -> IntentState:
        workflow.upsert_search_attributes(
            [
                sa.TENANT.value_set(request.tenant),
                sa.INSURANCE_NUMBERS.value_set(request.insurance_numbers),
                *([sa.OFFICER_CODE.value_set(request.officer_code)] if request.officer_code else []),
            ]
        )
        valued = await workflow.execute_activity_method(
            IntentActivities.value_intent, request, summary="validate and value the intent", **DB_CALL
        )
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

        if request.options.cn_mode is CNMode.INTERNAL:
            cn = await workflow.execute_activity_method(
                IntentActivities.assign_internal_control_number,
                valued.payment_id,
                summary="generate a control number",
                **DB_CALL,
            )
            self._assigned(cn)
        else:
            await self._request_from_gateway(valued.payment_id)

        assigned = self._state.status is S.ASSIGNED
        await self._notify(SmsKind.CN_ASSIGNED if assigned else SmsKind.CN_NOT_ASSIGNED)
        if assigned:
            await self._await_payment()
        return await self._finish()

    async def _request_from_gateway(self, payment_id: int) -> None:
        options = self._request.options
        try:
            ack = await workflow.execute_activity_method(
                GatewayActivities.post_bill,
                BillRequest(
                    intent_id=self._request.intent_id,
                    payment_id=payment_id,
                    expires_at=workflow.now() + timedelta(days=options.bill_expiry_days),
                ),
                summary="post the bill to the gateway",
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=5),
                retry_policy=GATEWAY_RETRY,
            )
        except ActivityError:
            await self._fail(S.FAILED_REQUEST, TIMEOUT_REASON, only_from=[S.CREATED])
            return
        if not ack.accepted:
            self._advance(S.FAILED_REQUEST, f"{ack.code}:{ack.message}")
            return
        if self._state.status is S.CREATED:
            self._advance(S.POSTED)
        try:
            await workflow.wait_condition(
                lambda: self._state.control_number_settled,
                timeout=timedelta(seconds=options.cn_callback_timeout_s),
                timeout_summary="wait for the gateway's control number",
            )
        except TimeoutError:
            await self._fail(S.FAILED_REQUEST, TIMEOUT_REASON, only_from=[S.CREATED, S.POSTED])

    async def _await_payment(self) -> None:
        """Hold the assigned bill until it expires; payment receipt comes with the payment updates."""
        try:
            await workflow.wait_condition(
                lambda: self._state.status is not S.ASSIGNED,
                timeout=timedelta(days=self._request.options.bill_expiry_days),
                timeout_summary="bill expiry",
            )
        except TimeoutError:
            await self._fail(S.CANCELLED, "Bill expired", only_from=[S.ASSIGNED])

    async def _finish(self) -> IntentState:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

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
    async def acknowledge(self, ack: Acknowledgement) -> IntentState:
        """The gateway confirms (2 POSTED) or refuses (-2) the bill."""
        if self._state.status is not S.CREATED and not ack.error_occured:
            return self._state
        if ack.error_occured:
            reason = ack.error_message or "Request for control number cannot be posted"
            await self._fail(S.FAILED_REQUEST, reason, only_from=[S.CREATED, S.POSTED])
        else:
            await self._write(S.POSTED, None, only_from=[S.CREATED])
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
        outcome = await workflow.execute_activity_method(
            IntentActivities.store_control_number,
            ControlNumberWrite(payment_id=self._state.payment_id, control_number=receipt.control_number),
            summary="store the control number",
            **DB_CALL,
        )
        if outcome == "assigned":
            self._assigned(receipt.control_number)
            return ControlNumberResult(outcome=outcome, status=S.ASSIGNED)
        reason = "8: Duplicated control number assigned"
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
        self._state.control_number = control_number
        workflow.upsert_search_attributes([sa.CONTROL_NUMBER.value_set(control_number)])
        self._advance(S.ASSIGNED)

    async def _fail(self, status: PaymentStatus, reason: str, *, only_from: list[PaymentStatus]) -> None:
        if await self._write(status, reason, only_from=only_from):
            self._advance(status, reason)

    async def _write(
        self, status: PaymentStatus, reason: str | None, *, only_from: list[PaymentStatus]
    ) -> bool:
        assert self._state.payment_id is not None
        return await workflow.execute_activity_method(
            IntentActivities.record_status,
            StatusWrite(payment_id=self._state.payment_id, status=status, only_from=only_from, reason=reason),
            summary=f"record status {status.name}",
            **DB_CALL,
        )

    def _advance(self, status: PaymentStatus, note: str | None = None) -> None:
        self._state.status = status
        if note is not None and (status.is_failure or status is S.CANCELLED):
            self._state.reason = note
        self._state.timeline.append(TimelineEntry(status=status, at=workflow.now(), note=note))
        workflow.upsert_search_attributes([sa.PAYMENT_STATUS.value_set(status.name)])
        rows = "\n".join(
            f"| {e.at:%Y-%m-%d %H:%M:%S} | {e.status.value} {e.status.name} | {e.note or ''} |"
            for e in self._state.timeline
        )
        workflow.set_current_details(
            f"**Status:** {status.value} {status.name}  \n"
            f"**Control number:** {self._state.control_number or '—'}\n\n"
            f"| time (UTC) | status | note |\n|---|---|---|\n{rows}"
        )

    async def _notify(self, kind: SmsKind) -> None:
        """SMS notices are best effort: a failed notice is logged and never fails the payment."""
        if not self._request.sms_required or self._state.payment_id is None:
            return
        try:
            await workflow.execute_activity_method(
                SmsActivities.send_sms,
                SmsNotice(
                    payment_id=self._state.payment_id, kind=kind, key=f"{self._request.intent_id}:{kind}"
                ),
                summary=f"SMS {kind}",
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=SMS_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("SMS %s not sent: %s", kind, err.cause)
