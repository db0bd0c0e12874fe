"""Every writing activity of the four workflows, failed after its commit and before it reports.

Each case runs a whole flow over real HTTP on the session's dev server, with one activity made to
"die" once per execution right after its work is done (tests/faults/inject.py); Temporal retries it.
The flow must end in the same state as without the fault, every write must have happened once, and
the invariant checker (`payflow check`) must find nothing wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from domain.payment_flow import payment_workflow_id
from domain.reconciliation import ReconciliationInput
from domain.sms import ResendInput
from payflow.check import check
from payflow.servers import free_port, serve
from simulators import receiver
from store.db import transaction
from store.events import append
from store.models import (
    Delivery,
    Event,
    Payment,
    PaymentReceipt,
    PooledNumber,
    PoolRequest,
    Premium,
    ReconciliationDay,
    ReconciliationIssue,
    SettlementRevision,
    SmsMessage,
)
from tests.api.helpers import count, intent, wait_for
from tests.claims.sample import settlement
from tests.faults.inject import FailAfterCommit
from tests.pool.test_pool_flow import top_up
from tests.stack import Stack, StackFactory
from workflows.reconciliation import ReconciliationWorkflow
from workflows.sms_resend import SmsResendWorkflow

SELF_PAYER = intent(enrolment_officer_code=None)
Flow = Callable[[Stack], Awaitable[date | None]]
"""A flow to fault; it returns the day by Temporal's clock when its checks depend on the day."""


async def _payment(stack: Stack, status: int) -> Payment:
    """The test's one payment, once it has reached `status` (the flow continues after the answer)."""
    found: list[Payment] = []

    async def reached() -> bool:
        async with stack.sessions() as s:
            found[:] = (await s.exec(select(Payment))).all()
        return len(found) == 1 and found[0].status == status

    async def poll() -> None:
        while not await reached():
            await _tick()

    await _bounded(poll(), f"payment at status {status}; found {[(p.id, p.status) for p in found]}")
    return found[0]


async def _tick() -> None:
    await asyncio.sleep(0.05)


async def _bounded(call: Awaitable[None], what: str, seconds: float = 20) -> None:
    try:
        async with asyncio.timeout(seconds):
            await call
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def _deliveries_done(stack: Stack, expected: int) -> None:
    async def poll() -> None:
        while await count(stack, Delivery, col(Delivery.status) == "succeeded") < expected:
            await _tick()

    await _bounded(poll(), f"{expected} deliveries succeeded")
    assert await count(stack, Delivery) == expected


async def _pay(stack: Stack, control_number: str) -> None:
    async with httpx.AsyncClient(base_url=stack.settings.gateway_url) as http:
        r = await http.post("/payments", json={"control_number": control_number, "payer_phone": "0754111222"})
        assert r.status_code == 201, r.text


async def gateway_paid(stack: Stack) -> None:
    """Flow A in gateway mode: control number, SMS, payment, match, four payment events delivered."""
    r = await stack.post("/api/GetControlNumber", json=SELF_PAYER)
    assert r.status_code == 200 and r.json()["error_occured"] is False, r.text
    payment = await _payment(stack, 3)
    assert payment.control_number
    await _pay(stack, payment.control_number)
    payment = await _payment(stack, 5)
    await wait_for(lambda: len(stack.sms.messages) == 3, "assigned, confirmation and activation SMS")
    assert len(stack.gateway.bills) == 1
    assert await count(stack, PaymentReceipt) == 1 and await count(stack, SmsMessage) == 3
    assert await count(stack, Premium, col(Premium.payment_detail_id).is_not(None)) == 1
    await _deliveries_done(stack, 4)  # created, control number assigned, received, matched


async def gateway_cancelled(stack: Stack) -> None:
    """Flow A cancelled after its control number: the bill cancelled at the gateway, status 0, SMS."""
    await stack.post("/api/GetControlNumber", json=SELF_PAYER)
    payment = await _payment(stack, 3)
    r = await stack.post("/api/payment/cancel", json={"payment_id": payment.id})
    assert r.json()["code"] == 0, r.text
    await _payment(stack, 0)
    [bill] = stack.gateway.bills.values()
    assert bill["cancelled"] is True
    await wait_for(lambda: len(stack.sms.messages) == 2, "assigned and cancellation SMS")
    await _deliveries_done(stack, 3)  # created, control number assigned, cancelled


async def pool_taken(stack: Stack) -> None:
    """Pool mode: the top-up bills a batch in bulk, then an intent takes one of its numbers."""
    [result] = await top_up(stack, minimum=5, batch=5)
    assert (result.requested, result.added) == (5, 5)
    assert await count(stack, PooledNumber) == 5 and await count(stack, PoolRequest) == 1
    r = await stack.post("/api/GetControlNumber", json=SELF_PAYER)
    assert r.status_code == 200 and r.json()["error_occured"] is False, r.text
    payment = await _payment(stack, 3)
    async with stack.sessions() as s:
        taken = (await s.exec(select(PooledNumber).where(PooledNumber.payment_id == payment.id))).all()
    assert [n.control_number for n in taken] == [payment.control_number]  # one number, taken once
    assert await count(stack, PooledNumber) == 5  # and no batch billed twice
    await wait_for(lambda: len(stack.sms.messages) == 1, "the control-number SMS")


async def internal_reconciled(stack: Stack) -> None:
    """Flow A with an internal control number, paid at the PSP without a word to payflow, then
    found by the daily reconciliation and matched."""
    await stack.post("/api/GetControlNumber", json=SELF_PAYER)
    payment = await _payment(stack, 3)
    today = datetime.now(UTC).date()
    _paid_silently(stack, payment, today)
    report = await stack.temporal.execute_workflow(
        ReconciliationWorkflow.run,
        ReconciliationInput(day=today),
        id=f"reconciliation-{stack.settings.task_queue}",
        task_queue=stack.settings.task_queue,
    )
    assert (report.checked, report.recorded, report.mismatches) == (1, 1, 0)
    await _payment(stack, 5)
    async with stack.sessions() as s:
        kinds = (await s.exec(select(ReconciliationIssue.kind))).all()
    assert kinds == ["recorded_missing_payment"]  # never a false "payment_refused"
    assert await count(stack, PaymentReceipt) == 1
    await _deliveries_done(stack, 4)


def _paid_silently(stack: Stack, payment: Payment, day: date) -> None:
    """The payer pays at the PSP; the gateway tells payflow nothing, its statement of `day` has it."""
    stack.gateway.payments.append(
        {
            "control_number": payment.control_number,
            "transaction_id": "TX-SILENT",
            "receipt": "R1",
            "amount": str(payment.amount_to_be_paid),
            "paid_on": day.isoformat(),
            "payer_phone": None,
            "psp": "NMB",
        }
    )


async def scheduled_reconciliation(stack: Stack) -> date:
    """A scheduled run (no day given) opens yesterday, reconciles it (the payment paid silently is fed
    and matched) and records the day done after one attempt."""
    await stack.post("/api/GetControlNumber", json=SELF_PAYER)
    payment = await _payment(stack, 3)
    # the run's yesterday is by Temporal's clock (workflow.now()): the payment flow's start tells it
    started = (
        await stack.temporal.get_workflow_handle(payment_workflow_id(payment.intent_id)).describe()
    ).start_time
    yesterday = started.date() - timedelta(days=1)
    _paid_silently(stack, payment, yesterday)
    report = await stack.temporal.execute_workflow(
        ReconciliationWorkflow.run,
        ReconciliationInput(),
        id=f"reconciliation-{stack.settings.task_queue}",
        task_queue=stack.settings.task_queue,
    )
    assert report is not None and (report.day, report.checked, report.recorded) == (yesterday, 1, 1)
    await _payment(stack, 5)
    return started.date()
    async with stack.sessions() as s:
        days = (await s.exec(select(ReconciliationDay))).all()
    assert [(d.day, d.state, d.attempts) for d in days] == [(yesterday, "done", 1)]
    assert await count(stack, PaymentReceipt) == 1 and await count(stack, ReconciliationIssue) == 1
    await _deliveries_done(stack, 4)


async def sms_resent(stack: Stack) -> None:
    """The SMS provider refuses for a while: the control-number SMS fails in its workflow (twice) and
    in the resend sweep (interval and backoff shortened by settings), which sends it once it is back.
    The workflow's next try comes 4 s after its second: the sweep is there first."""
    stack.sms.fail_next = 10**9
    sweep = await stack.temporal.start_workflow(
        SmsResendWorkflow.run,
        ResendInput(every_s=stack.settings.sms_resend_s),
        id=f"sms-resend-{stack.settings.task_queue}",
        task_queue=stack.settings.task_queue,
    )
    rows: list[SmsMessage] = []

    async def row_is(ready: Callable[[SmsMessage], bool]) -> None:
        while not (len(rows) == 1 and ready(rows[0])):
            await _tick()
            async with stack.sessions() as s:
                rows[:] = (await s.exec(select(SmsMessage))).all()

    try:
        r = await stack.post("/api/GetControlNumber", json=SELF_PAYER)
        assert r.status_code == 200 and r.json()["error_occured"] is False, r.text
        await _bounded(row_is(lambda m: m.attempts - m.resends >= 2 and m.resends >= 1), "both failed")
        stack.sms.fail_next = 0
        await _bounded(row_is(lambda m: m.status == "sent"), "the SMS sent")
    finally:
        await sweep.terminate()
    [row] = rows
    assert stack.sms.accepted == {row.key: 1} and list(stack.sms.messages) == [row.key]
    assert row.resends >= 1 and row.attempts == row.resends + 3  # two failed sends, the sweep's last


async def claim_settled(stack: Stack) -> None:
    """Flow B: a case created, settled, the revision cancelled, then closed."""
    r = await stack.post("/v1/cases", as_="claims", json={"number": "F-1", "policy_number": "P-1"})
    assert r.status_code == 201, r.text
    case = r.json()["id"]
    r = await stack.post(
        f"/v1/cases/{case}/settlements",
        as_="claims",
        json=settlement(close=False),
        headers={"Idempotency-Key": "k1"},
    )
    assert r.status_code == 201, r.text
    token = r.json()["revision_token"]
    r = await stack.post(f"/v1/cases/{case}/settlements/{token}/cancel", as_="claims")
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED", r.text
    r = await stack.post(f"/v1/cases/{case}/close", as_="claims", json={"changed_by": {"full_name": "Ann"}})
    assert r.status_code == 200, r.text
    async with stack.sessions() as s:
        types = (await s.exec(select(Event.type).order_by(col(Event.id)))).all()
        revisions = (await s.exec(select(SettlementRevision.status))).all()
    # the cancel reverses what the revision paid (issue 23 item 12) and names it in claim_updated
    assert types == ["case_created", "case_settled", "case_settled", "claim_updated", "claim_updated"]
    assert revisions == ["CANCELLED"]
    await _deliveries_done(stack, 5)


WRITERS: dict[str, Flow] = {
    # PaymentIntentWorkflow
    "value_intent": gateway_paid,
    "post_bill": gateway_paid,
    "store_control_number": gateway_paid,
    "send_sms": gateway_paid,
    "record_receipt": gateway_paid,
    "match_payment": gateway_paid,
    "move_status": gateway_cancelled,
    "cancel_bill": gateway_cancelled,
    "assign_internal_control_number": internal_reconciled,
    "take_pool_number": pool_taken,
    # PoolTopUpWorkflow
    "request_pool_numbers": pool_taken,
    # ReconciliationWorkflow
    "reconcile_statement": internal_reconciled,
    "feed_payment": internal_reconciled,
    "open_reconciliation_days": scheduled_reconciliation,
    "finish_reconciliation_day": scheduled_reconciliation,
    # SmsResendWorkflow
    "resend_sms": sms_resent,
    # ClaimWorkflow
    "create_case": claim_settled,
    "record_settlement": claim_settled,
    "cancel_revision": claim_settled,
    "record_case_change": claim_settled,
    # WebhookDeliveryWorkflow
    "attempt": claim_settled,
    "finish_delivery": gateway_paid,
}
MODES = {
    gateway_paid: "gateway",
    gateway_cancelled: "gateway",
    internal_reconciled: "internal",
    pool_taken: "pool",
}
SETTINGS: dict[Flow, dict[str, Any]] = {sms_resent: {"sms_resend_s": 0.1, "sms_resend_backoff_s": 0.1}}


FLOWS = sorted(set(WRITERS.values()), key=lambda flow: flow.__name__)


@pytest.mark.parametrize("flow", FLOWS, ids=[flow.__name__ for flow in FLOWS])
async def test_faults_after_the_commit_change_nothing(make_stack: StackFactory, flow: Flow) -> None:
    """Every writing activity of the flow fails once per execution after its commit. The receiver
    fails its first delivery, so each flow has deliveries the relay made at once and one that its
    workflow (`attempt`, `finish_delivery`) made."""
    writers = [name for name, its_flow in WRITERS.items() if its_flow is flow]
    faults = FailAfterCommit(writers)
    app = receiver.create_app()
    app.state.sim.behaviour.fail_next = 1
    settings: dict[str, Any] = {
        "cn_mode": MODES.get(flow, "internal"),
        "webhook_allow_hosts": "127.0.0.1",
        "webhook_schedule": "0,1,1",  # the failed first delivery's next attempt after 1 s, not 5
    }
    settings |= SETTINGS.get(flow, {})
    async with (
        serve(app, free_port()) as url,
        make_stack(interceptors=[faults], **settings) as stack,
    ):
        r = await stack.post("/v1/endpoints", as_="support", json={"url": f"{url}/webhooks"})
        assert r.status_code == 201, r.text
        app.state.sim.secrets.append(r.json()["secret"])
        today = await flow(stack)
        assert sorted(faults.injected) == sorted(writers), "a fault was not injected where planned"
        report = await check(stack.sessions, stack.temporal, today=today)
        assert report.ok, [str(v) for v in report.violations]
        ids = [r["webhook_id"] for r in app.state.sim.delivered()]
        assert len(ids) == len(set(ids)), f"an event was delivered twice: {ids}"


def test_every_writing_activity_has_a_fault_case() -> None:
    from activities import interfaces

    readers = {"compare_statement", "fetch_statement", "pool_shortfalls"}  # read-only steps
    readers.add("record_status")  # called only by workflows started before move_status replaced it
    names = {
        n
        for n, fn in vars(interfaces).items()
        if callable(fn) and hasattr(fn, "__temporal_activity_definition")
    }
    assert names - readers == set(WRITERS)


async def test_an_event_whose_writer_died_before_its_relay_is_delivered(make_stack: StackFactory) -> None:
    """The window the interceptor cannot reach: committed, then killed before the relay ran. The
    worker's sweep relays it."""
    app = receiver.create_app()
    async with (
        serve(app, free_port()) as url,
        make_stack(webhook_allow_hosts="127.0.0.1", relay_sweep_s=0.2) as stack,
    ):
        r = await stack.post("/v1/endpoints", as_="support", json={"url": f"{url}/webhooks"})
        app.state.sim.secrets.append(r.json()["secret"])
        async with transaction(stack.sessions) as s:
            orphan = await append(
                s, "demo", "orphan:1", {"eventType": "case_created", "case": {"number": "O-1"}}
            )
        await _deliveries_done(stack, 1)
        assert [d["webhook_id"] for d in app.state.sim.delivered()] == [orphan.webhook_id]
        assert (await check(stack.sessions, stack.temporal)).ok
