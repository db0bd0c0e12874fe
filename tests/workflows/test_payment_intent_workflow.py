"""PaymentIntentWorkflow on the time-skipping test server: timers of days run in an instant."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.intent import CNMode, IntentOptions, PaymentReport
from domain.payment_flow import CancelRequest, ControlNumberReceipt
from domain.status import PaymentStatus as S
from store.db import make_engine, session_factory
from store.models import Payment, Policy, Premium
from store.payments import PaymentStore
from tests.workflows.harness import harness, intent_input, record
from workflows.payment_intent import PaymentIntentWorkflow


async def _payment(db_url: str, payment_id: int) -> Payment:
    payment = await PaymentStore(session_factory(make_engine(db_url))).by_id(payment_id)
    assert payment is not None
    return payment


async def test_internal_control_number_then_expiry_after_30_days(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with harness(time_env.client, db_url) as h:
        handle = await h.start(CNMode.INTERNAL)
        state = await handle.result()  # the 30-day bill expiry is skipped by the test server
        assert [t.status for t in state.timeline] == [S.CREATED, S.ASSIGNED, S.CANCELLED]
        assert state.timeline[-1].at - state.timeline[1].at >= timedelta(days=30)
        assert state.status is S.CANCELLED and state.reason == "Bill expired"
        payment = await _payment(db_url, state.payment_id)
        assert (payment.status, payment.control_number) == (0, state.control_number)
        texts = [m["text"] for m in h.sms.messages.values()]
        assert [t[:11] for t in texts] == ["Control No:", "Reminder: C", "Invoice num"]
        expiry = state.timeline[1].at + timedelta(days=30)
        assert f"expires on {expiry:%d-%m-%Y}" in texts[1]
        assert texts[2].startswith(f"Invoice number {state.control_number} has been cancelled")
        await record(handle, "internal_assigned_expired")
        await record(handle, "local_steps_internal_assigned_expired")  # since the local-store-steps patch


async def test_gateway_control_number_by_update(time_env: WorkflowEnvironment, db_url: str) -> None:
    async with harness(time_env.client, db_url) as h:
        handle = await h.start(CNMode.GATEWAY)
        # The bill is posted (status 2) and the gateway holds the number; deliver it as its callback would.
        for _ in range(200):
            if (await handle.query(PaymentIntentWorkflow.status)).status is S.POSTED:
                break
        result = await handle.execute_update(
            PaymentIntentWorkflow.receive_control_number, ControlNumberReceipt(control_number="990000000042")
        )
        assert result.outcome == "assigned" and result.status is S.ASSIGNED
        state = await handle.query(PaymentIntentWorkflow.status)
        assert [t.status for t in state.timeline] == [S.CREATED, S.POSTED, S.ASSIGNED]
        assert len(h.gateway.bills) == 1
        [bill] = h.gateway.bills.values()
        assert bill["amount"] == str(state.amount_to_be_paid) and bill["bill_id"] == str(state.payment_id)
        try:
            await handle.execute_update(
                PaymentIntentWorkflow.receive_control_number,
                ControlNumberReceipt(control_number="990000000043"),
            )
        except WorkflowUpdateFailedError as err:
            assert "already assigned" in str(err.cause)
        else:
            raise AssertionError("a second, different control number must be refused")
        await record(handle, "gateway_assigned")
        await record(handle, "local_steps_gateway_assigned")  # since the local-store-steps patch
        await handle.terminate()


async def test_gateway_silence_fails_the_intent_after_the_callback_timeout(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with harness(time_env.client, db_url) as h:
        handle = await h.start(
            CNMode.GATEWAY, options=IntentOptions(cn_mode=CNMode.GATEWAY, cn_callback_timeout_s=7200)
        )
        state = await handle.result()
        assert state.status is S.FAILED_REQUEST and state.reason == "Timeout when requesting control number"
        assert (await _payment(db_url, state.payment_id)).status == -2
        [sms] = h.sms.messages.values()
        assert sms["text"].startswith("Request for control number for CHFID:070707070")
        await record(handle, "gateway_timeout")


async def test_sms_failures_never_fail_the_payment(time_env: WorkflowEnvironment, db_url: str) -> None:
    async with harness(time_env.client, db_url) as h:
        h.sms.fail_next = 1000
        handle = await h.start(
            CNMode.INTERNAL, options=IntentOptions(cn_mode=CNMode.INTERNAL, bill_expiry_days=1)
        )
        state = await handle.result()
        assert [t.status for t in state.timeline] == [S.CREATED, S.ASSIGNED, S.CANCELLED]
        # two notices (assigned, cancellation), five attempts each, then given up
        assert h.sms.messages == {} and h.sms.fail_next == 1000 - 2 * 5


async def test_rejected_intent_ends_at_minus_one(time_env: WorkflowEnvironment, db_url: str) -> None:
    async with harness(time_env.client, db_url) as h:
        handle = await h.start(CNMode.INTERNAL, officer_code="E99999")
        state = await handle.result()
        assert state.status is S.REJECTED and state.error_code == 3
        assert state.reason == "3-Not valid enrolment officer code"
        assert h.sms.messages == {} and h.gateway.bills == {}
        await record(handle, "rejected")


async def test_value_intent_is_idempotent_under_retry(time_env: WorkflowEnvironment, db_url: str) -> None:
    """Two workflows for one intent id (a retried start after a reset) share one payment record."""
    async with harness(time_env.client, db_url) as h:
        request = intent_input(
            CNMode.INTERNAL, options=IntentOptions(cn_mode=CNMode.INTERNAL, bill_expiry_days=1)
        )
        first = await h.client.execute_workflow(
            PaymentIntentWorkflow.run, request, id=f"a-{request.intent_id}", task_queue=h.settings.task_queue
        )
        second = await h.client.execute_workflow(
            PaymentIntentWorkflow.run, request, id=f"b-{request.intent_id}", task_queue=h.settings.task_queue
        )
        assert first.payment_id == second.payment_id
        assert first.control_number == second.control_number


async def test_cancel_while_the_control_number_is_drawn(dev_env: WorkflowEnvironment, db_url: str) -> None:
    """A cancel accepted before the number lands wins: the intent stays cancelled, no number, no SMS."""
    from domain.payment_flow import CancelRequest

    async with harness(dev_env.client, db_url) as h:
        for _ in range(5):  # the race is short: try a few times to land inside it
            handle = await h.start(CNMode.INTERNAL)
            try:
                await handle.execute_update(PaymentIntentWorkflow.cancel, CancelRequest())
            except WorkflowUpdateFailedError:
                continue  # the number came first; that order is covered elsewhere
            state = await handle.result()
            payment = await _payment(db_url, state.payment_id)
            assert state.status is S.CANCELLED and payment.status == 0
            assert payment.control_number is None or state.control_number == payment.control_number
            assert [t.status for t in state.timeline][-1] is S.CANCELLED


async def _partly_paid(h: Any, paid: Decimal) -> Any:
    """An internal-mode intent with partial payments on, `paid` of it received."""
    options = IntentOptions(
        cn_mode=CNMode.INTERNAL, partial_payments=True, bill_expiry_days=1, reminder_days=0
    )
    handle = await h.start(CNMode.INTERNAL, officer_code=None, options=options)
    for _ in range(200):
        state = await handle.query(PaymentIntentWorkflow.status)
        if state.status is S.ASSIGNED:
            break
    report = PaymentReport(
        control_number=state.control_number,
        transaction_id="TX-PART",
        amount=paid,
        received_date=date(2026, 11, 22),
    )
    result = await handle.execute_update(PaymentIntentWorkflow.record_payment, report)
    assert not result.complete
    return handle


async def test_a_partly_paid_bill_that_expires_keeps_its_money_as_premium(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """Issue 23 item 4: the 10,000 received of 21,000 becomes a premium; the policy stays Idle."""
    async with harness(time_env.client, db_url) as h:
        handle = await _partly_paid(h, Decimal("10000"))
        state = await handle.result()
        await record(handle, "partly_paid_expired")
        engine = make_engine(db_url)
        try:
            async with session_factory(engine)() as s:
                q = select(Premium.amount, Policy.status).join(
                    Policy, col(Policy.id) == col(Premium.policy_id)
                )
                booked = (await s.exec(q.where(col(Premium.payment_detail_id).is_not(None)))).all()
        finally:
            await engine.dispose()
    assert state.status is S.MATCHED and state.received_amount == Decimal("10000")
    assert [(amount, status) for amount, status in booked] == [(Decimal("10000"), 1)]  # Idle, a balance


async def test_a_partly_paid_bill_cannot_be_cancelled_on_request(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with harness(time_env.client, db_url) as h:
        handle = await _partly_paid(h, Decimal("10000"))
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(PaymentIntentWorkflow.cancel, CancelRequest())
            await handle.result()
            await record(handle, "partly_paid_cancelled_on_request")
        await handle.terminate()
    assert "partly paid" in str(refused.value.cause)
