"""Issue 19, items 1, 2 and 4: a bill that may exist at the gateway is either payable and its payment
accepted, or cancelled at the gateway before payflow refuses anything for it; the workflow's status is
the store's. Each race is made deterministic with substitute activities that block on events
(`tests/faults/wiring.py`), on the time-skipping server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.gateway import GatewayActivities
from activities.payment_intent import IntentActivities
from activities.reconciliation import ReconciliationActivities
from activities.webhooks import EventRelay
from domain.intent import CNMode, GatewayProtocol, IntentOptions, PaymentReport
from domain.payment_flow import (
    Acknowledgement,
    BillAck,
    BillRequest,
    CancelOutcome,
    CancelRequest,
    ControlNumberReceipt,
    IntentState,
    StatusWrite,
    StoreView,
)
from domain.pool import BulkRequest, PooledBill
from domain.reconciliation import MissingPayment, StatementLine
from domain.status import PaymentStatus as S
from store.db import make_engine, session_factory
from store.payments import PaymentStore
from store.pool import PoolStore
from store.registry import SqlRegistry
from store.webhooks import WebhookStore
from tests.faults.wiring import fault_harness, fault_settings
from tests.workflows.harness import Harness, intent_input, record
from workflows.payment_intent import PaymentIntentWorkflow

SELF_PAYER = {"officer_code": None}
WAIT_S = 30


@dataclass
class Gate:
    """A point a substitute activity stops at until the test opens it."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    async def stop(self) -> None:
        self.reached.set()
        await self.opened.wait()

    async def wait_reached(self) -> None:
        await asyncio.wait_for(self.reached.wait(), WAIT_S)


@dataclass
class Gated:
    """Substitutes of post_bill, record_status (for one status) and cancel_bill that stop at a gate,
    then run the real activity of this tree."""

    intents: IntentActivities
    gateway: GatewayActivities
    post: Gate = field(default_factory=Gate)
    write: Gate = field(default_factory=Gate)
    cancel: Gate = field(default_factory=Gate)
    gated_status: S | None = None
    cancels: int = 0
    answer_lost: bool = False
    """post_bill gives up after the gateway took the bill (its answer lost)."""

    def substitutes(self) -> list[Any]:
        @activity.defn(name="post_bill")
        async def post_bill(bill: BillRequest) -> BillAck:
            await self.post.stop()
            ack = await self.gateway.post_bill(bill)
            if self.answer_lost:
                raise ApplicationError("the gateway's answer was lost", type="ReplyLost", non_retryable=True)
            return ack

        @activity.defn(name="record_status")
        async def record_status(write: StatusWrite) -> bool:
            if write.status is self.gated_status:
                await self.write.stop()
            return await self.intents.record_status(write)

        @activity.defn(name="move_status")
        async def move_status(write: StatusWrite) -> StoreView:
            if write.status is self.gated_status:
                await self.write.stop()
            return await self.intents.move_status(write)

        @activity.defn(name="cancel_bill")
        async def cancel_bill(
            intent_id: str, protocol: GatewayProtocol = GatewayProtocol.JSON
        ) -> CancelOutcome:
            self.cancels += 1
            await self.cancel.stop()
            return await self.gateway.cancel_bill(intent_id, protocol)

        return [post_bill, record_status, move_status, cancel_bill]


@asynccontextmanager
async def gated_harness(
    env: WorkflowEnvironment, db_url: str, gated_status: S | None = None, opened: tuple[str, ...] = ()
) -> AsyncIterator[tuple[Harness, Gated]]:
    settings = fault_settings(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    payments = PaymentStore(sessions)
    relay = EventRelay(settings, WebhookStore(sessions))
    try:
        async with httpx.AsyncClient() as http:
            gated = Gated(
                IntentActivities(settings, sessions, payments, SqlRegistry(sessions), relay),
                GatewayActivities(settings, http, payments),
                gated_status=gated_status,
            )
            for name in opened:
                getattr(gated, name).opened.set()
            async with fault_harness(env.client, settings, gated.substitutes()) as h:
                yield h, gated
    finally:
        await engine.dispose()


async def status(handle: WorkflowHandle[Any, Any]) -> IntentState:
    state: IntentState = await handle.query(PaymentIntentWorkflow.status)
    return state


async def store_status(db_url: str, payment_id: int | None) -> int:
    assert payment_id is not None
    engine = make_engine(db_url)
    try:
        payment = await PaymentStore(session_factory(engine)).by_id(payment_id)
    finally:
        await engine.dispose()
    assert payment is not None
    return payment.status


def report(cn: str | None, amount: Any, tx: str = "TX-1") -> PaymentReport:
    return PaymentReport(
        control_number=cn, transaction_id=tx, amount=amount, received_date=date(2026, 11, 22)
    )


# --- item 1: an acknowledgement never moves an assigned intent back ------------------------------


async def test_a_slow_ack_write_never_moves_an_assigned_intent_back(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """Bill in flight (1), the ack's status write is slow, the control number is stored meanwhile (3):
    the ack must leave the intent at 3, and its payment must be accepted."""
    async with gated_harness(time_env, db_url, gated_status=S.POSTED) as (h, gated):
        request = intent_input(CNMode.GATEWAY, **SELF_PAYER)
        handle = await h.client.start_workflow(
            PaymentIntentWorkflow.run,
            request,
            id=f"payment-intent-{request.intent_id}",
            task_queue=h.settings.task_queue,
            task_timeout=timedelta(seconds=2),  # the held local write lets other updates in sooner
        )
        await gated.post.wait_reached()
        ack = await handle.start_update(
            PaymentIntentWorkflow.acknowledge, Acknowledgement(), wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        await gated.write.wait_reached()
        cn = "990000000771"
        await handle.execute_update(
            PaymentIntentWorkflow.receive_control_number, ControlNumberReceipt(control_number=cn)
        )
        gated.write.opened.set()
        await ack.result()
        after_ack = await status(handle)
        await record(handle, "ack_write_overtaken_by_the_number")
        assert after_ack.status is S.ASSIGNED, [t.status for t in after_ack.timeline]
        gated.post.opened.set()
        receipt = await handle.execute_update(
            PaymentIntentWorkflow.record_payment, report(cn, after_ack.amount_to_be_paid)
        )
        final = await handle.result()
    assert receipt.complete and final.status is S.MATCHED
    assert await store_status(db_url, final.payment_id) == S.MATCHED


# --- item 2: a flow never ends while its bill stays payable ----------------------------------


def bill_of(h: Harness) -> dict[str, Any]:
    [bill] = h.gateway.bills.values()
    return bill


async def test_cancel_while_the_bill_is_posted_cancels_it_at_the_gateway(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with gated_harness(time_env, db_url, opened=("write", "cancel")) as (h, gated):
        handle = await h.start(CNMode.GATEWAY, **SELF_PAYER)
        await gated.post.wait_reached()
        cancel = await handle.start_update(
            PaymentIntentWorkflow.cancel, CancelRequest(), wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        gated.post.opened.set()
        outcome = await cancel.result()
        final = await handle.result()
        await record(handle, "cancel_while_posting")
    assert outcome.cancelled and final.status is S.CANCELLED
    assert bill_of(h).get("cancelled") is True, bill_of(h)
    assert [t.status for t in final.timeline][-1] is S.CANCELLED  # written once the gateway cancelled it
    assert gated.cancels >= 1
    assert await store_status(db_url, final.payment_id) == S.CANCELLED


async def test_callback_timeout_cancels_the_bill_before_refusing(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with gated_harness(time_env, db_url, opened=("post", "write", "cancel")) as (h, _):
        options = IntentOptions(cn_mode=CNMode.GATEWAY, cn_callback_timeout_s=600)
        final = await (await h.start(CNMode.GATEWAY, options=options, **SELF_PAYER)).result()
    assert final.status is S.FAILED_REQUEST
    assert bill_of(h).get("cancelled") is True, bill_of(h)


async def test_post_bill_giving_up_after_the_gateway_took_the_bill_cancels_it(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """The gateway takes the bill, its answer is lost, and post_bill gives up."""
    async with gated_harness(time_env, db_url, opened=("post", "write", "cancel")) as (h, gated):
        gated.answer_lost = True
        handle = await h.start(CNMode.GATEWAY, **SELF_PAYER)
        final = await handle.result()
        await record(handle, "post_bill_gave_up_after_the_gateway_took_it")
    assert final.status is S.FAILED_REQUEST
    assert bill_of(h).get("cancelled") is True, bill_of(h)


async def pooled(h: Harness, db_url: str, cn: str) -> None:
    """One free pool number of FCUL0001, billed at the gateway simulator."""
    engine = make_engine(db_url)
    try:
        pool = PoolStore(session_factory(engine))
        request = BulkRequest(key=f"k-{cn}", product_code="FCUL0001", count=1, expiry_days=1000)
        row = await pool.open_request(request)
        assert row.expires_at is not None
        await pool.fill(request.key, [PooledBill(bill_id=f"pool-1-{cn}", control_number=cn)], row.expires_at)
    finally:
        await engine.dispose()
    h.gateway.bills[f"pool-1-{cn}"] = {"bill_id": f"pool-1-{cn}", "control_number": cn, "pooled": "FCUL0001"}


async def test_a_pool_intent_cancelled_on_request_cancels_its_bill(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with gated_harness(time_env, db_url, opened=("post", "write", "cancel")) as (h, _):
        await pooled(h, db_url, "990000000555")
        handle = await h.start(CNMode.POOL, options=IntentOptions(cn_mode=CNMode.POOL), **SELF_PAYER)
        for _ in range(200):
            if (await status(handle)).status is S.ASSIGNED:
                break
        outcome = await handle.execute_update(PaymentIntentWorkflow.cancel, CancelRequest())
        final = await handle.result()
        await record(handle, "pool_cancelled_on_request")
    assert outcome.cancelled and final.status is S.CANCELLED
    assert bill_of(h).get("cancelled") is True, bill_of(h)


async def test_a_pool_intent_that_expires_cancels_its_bill(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with gated_harness(time_env, db_url, opened=("post", "write", "cancel")) as (h, _):
        await pooled(h, db_url, "990000000556")
        options = IntentOptions(cn_mode=CNMode.POOL, bill_expiry_days=1, reminder_days=0)
        handle = await h.start(CNMode.POOL, options=options, **SELF_PAYER)
        final = await handle.result()
        await record(handle, "pool_expired")
    assert final.status is S.CANCELLED and final.reason == "Bill expired"
    assert bill_of(h).get("cancelled") is True, bill_of(h)


# --- item 4: a cancel never holds the lock while the gateway is down -----------------------------


async def test_a_payment_is_answered_while_the_cancel_waits_for_a_down_gateway(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """The cancel's call to the gateway hangs (down); the payment of this bill is answered at once and
    accepted, since the bill was never cancelled; the cancel then gives way to it."""
    async with gated_harness(time_env, db_url, opened=("post", "write")) as (h, gated):
        handle = await h.start(CNMode.GATEWAY, **SELF_PAYER)
        for _ in range(200):
            if (await status(handle)).status is S.POSTED:
                break
        cn = "990000000772"
        await handle.execute_update(
            PaymentIntentWorkflow.receive_control_number, ControlNumberReceipt(control_number=cn)
        )
        cancel = await handle.start_update(
            PaymentIntentWorkflow.cancel, CancelRequest(), wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        await gated.cancel.wait_reached()
        amount = (await status(handle)).amount_to_be_paid
        receipt = await asyncio.wait_for(
            handle.execute_update(PaymentIntentWorkflow.record_payment, report(cn, amount)), 2
        )
        outcome = await cancel.result()
        final = await handle.result()
        assert not bill_of(h).get("cancelled")
        gated.cancel.opened.set()
    assert receipt.complete and not outcome.cancelled
    assert final.status is S.MATCHED


async def test_feeding_a_payment_to_a_workflow_that_does_not_answer_is_bounded(
    dev_env: WorkflowEnvironment, db_url: str
) -> None:
    """No worker answers the intent's workflow: the feed's attempt ends (and is retried) instead of
    waiting without limit."""
    request = intent_input(CNMode.INTERNAL, **SELF_PAYER)
    unpolled = f"nobody-{request.intent_id}"
    handle = await dev_env.client.start_workflow(
        PaymentIntentWorkflow.run, request, id=f"payment-intent-{request.intent_id}", task_queue=unpolled
    )
    settings = fault_settings(db_url).model_copy(update={"update_timeout_s": 1.0})
    line = StatementLine(
        control_number="990000000999", transaction_id="TX-FEED", amount=1, paid_on=date(2026, 11, 22)
    )
    engine = make_engine(db_url)
    try:
        async with httpx.AsyncClient() as http:
            recon = ReconciliationActivities(settings, http, session_factory(engine))
            feed = ActivityEnvironment(client=dev_env.client).run(
                recon.feed_payment, MissingPayment(intent_id=request.intent_id, line=line)
            )
            with pytest.raises(RuntimeError, match="did not answer within 1 s"):
                await asyncio.wait_for(feed, 10)
    finally:
        await handle.terminate()
        await engine.dispose()


# --- item 11: a workflow behind its store never refuses a valid payment --------------------------


async def test_a_payment_for_a_number_the_workflow_has_not_seen_waits_instead_of_being_refused(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """The store holds the number (its callback's update was lost with a crashed server) while the
    workflow is at 2 POSTED: the payment waits for the workflow to catch up (the callback's retry),
    then is accepted, instead of a final "3-Wrong control_number" or "4-Wrong Amount"."""
    async with gated_harness(time_env, db_url, opened=("post", "write", "cancel")) as (h, _):
        handle = await h.start(CNMode.GATEWAY, **SELF_PAYER)
        for _ in range(200):
            posted = await status(handle)
            if posted.status is S.POSTED:
                break
        cn = "990000000773"
        engine = make_engine(db_url)
        try:
            assert posted.payment_id is not None
            await PaymentStore(session_factory(engine)).assign_control_number(posted.payment_id, cn)
        finally:
            await engine.dispose()
        payment = await handle.start_update(
            PaymentIntentWorkflow.record_payment,
            report(cn, posted.amount_to_be_paid),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await handle.execute_update(
            PaymentIntentWorkflow.receive_control_number, ControlNumberReceipt(control_number=cn)
        )
        receipt = await payment.result()
        final = await handle.result()
    assert receipt.complete and final.status is S.MATCHED
