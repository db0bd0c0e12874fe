"""Issue 9, items 1, 2, 6, 8 and 9: each fault made deterministic on real servers, with the end state
the fix promises (items 3 and 5 are in test_continue_as_new_faults.py). Substitute activities and the
interceptors are in `tests/faults/wiring.py` and `tests/faults/inject.py`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import select
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.gateway import GatewayActivities
from activities.payment_intent import IntentActivities
from activities.reconciliation import ReconciliationActivities
from activities.webhooks import EventRelay
from domain.claim_flow import ClaimInput, ClaimState
from domain.intent import CNMode, IntentLine, IntentOptions, PaymentReport
from domain.payment_flow import CancelOutcome, ControlNumberReceipt, IntentState
from domain.reconciliation import MissingPayment, ReconciliationInput, ReconciliationReport
from domain.registry import PolicyStage
from domain.settlement import CaseRef, SettlementInput
from domain.status import PaymentStatus as S
from store.db import SessionFactory, make_engine, session_factory
from store.models import Payment, ReconciliationIssue
from store.payments import CNOutcome, PaymentStore
from store.registry import SqlRegistry
from store.webhooks import WebhookStore
from tests.claims.sample import settlement
from tests.faults.inject import FailAfterCommit
from tests.faults.wiring import GiveUpRetrying, fault_harness, fault_settings, fault_worker
from tests.workflows.harness import Harness
from workflows.claim import ClaimWorkflow, case_workflow_id
from workflows.payment_intent import PaymentIntentWorkflow
from workflows.reconciliation import ReconciliationWorkflow

SELF_PAYER = {"officer_code": None}
OUTAGE = timedelta(days=2)
OFFICERS_NEW_FAMILY = {
    "officer_code": "E00005",
    "lines": [IntentLine(insurance_number="080808080", product_code="FCUL0001", stage=PolicyStage.NEW)],
}
"""An officer's payment for a policy the officer has not entered yet: it waits at 4 for matching."""
EXPIRING = IntentOptions(cn_mode=CNMode.GATEWAY, bill_expiry_days=1, reminder_days=0)


async def _payment(db_url: str, payment_id: int | None) -> Payment:
    assert payment_id is not None
    engine = make_engine(db_url)
    payment = await PaymentStore(session_factory(engine)).by_id(payment_id)
    await engine.dispose()
    assert payment is not None
    return payment


async def _assign(handle: WorkflowHandle[Any, Any], cn: str) -> None:
    """Deliver the gateway's control number once the bill is posted, as its callback would."""
    for _ in range(200):
        if (await handle.query(PaymentIntentWorkflow.status)).status is S.POSTED:
            break
    await handle.execute_update(
        PaymentIntentWorkflow.receive_control_number, ControlNumberReceipt(control_number=cn)
    )


# --- item 1: a status write retried after its first attempt committed ---------------------------


async def test_expiry_write_retried_after_its_commit_still_cancels(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """The expiry's write to 0 commits, the worker dies before reporting; the retry must read as done."""
    fault = FailAfterCommit(["move_status"])
    async with fault_harness(time_env.client, fault_settings(db_url), interceptors=[fault]) as h:
        options = IntentOptions(cn_mode=CNMode.INTERNAL, bill_expiry_days=1, reminder_days=0)
        handle = await h.start(CNMode.INTERNAL, options=options)
        state = await handle.result()
        assert fault.injected["move_status"] == 1
        payment = await _payment(db_url, state.payment_id)
        assert payment.status == 0
        assert state.status is S.CANCELLED and [t.status for t in state.timeline][-1] is S.CANCELLED
        texts = [m["text"] for m in h.sms.messages.values()]
        assert [t[:11] for t in texts] == ["Control No:", "Invoice num"]


async def test_timeout_write_retried_after_its_commit_still_fails_the_request(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """The callback timeout's write to -2 commits, the worker dies; the workflow must be at -2 too."""
    fault = FailAfterCommit(["move_status"])
    async with fault_harness(time_env.client, fault_settings(db_url), interceptors=[fault]) as h:
        options = IntentOptions(cn_mode=CNMode.GATEWAY, cn_callback_timeout_s=600)
        handle = await h.start(CNMode.GATEWAY, options=options)
        state = await handle.result()
        assert fault.injected["move_status"] == 1
        assert (await _payment(db_url, state.payment_id)).status == -2
        assert state.status is S.FAILED_REQUEST and state.reason == "Timeout when requesting control number"
        [sms] = h.sms.messages.values()
        assert sms["text"].startswith("Request for control number for CHFID:070707070")


# --- item 2: the gateway is down when the bill expires -------------------------------------------


def gateway_down(real: GatewayActivities, tried: list[datetime]) -> Callable[..., Any]:
    """`cancel_bill` with the gateway unreachable for OUTAGE from the first attempt, then the real one."""

    @activity.defn(name="cancel_bill")
    async def cancel_bill(intent_id: str) -> CancelOutcome:
        info = activity.info()
        tried.append(info.current_attempt_scheduled_time)
        if info.current_attempt_scheduled_time - info.scheduled_time < OUTAGE:
            raise RuntimeError("gateway unreachable")
        return await real.cancel_bill(intent_id)

    return cancel_bill


@asynccontextmanager
async def gateway_down_harness(
    time_env: WorkflowEnvironment, db_url: str, tried: list[datetime]
) -> AsyncIterator[Harness]:
    """A harness whose gateway cannot be reached for the bill's cancel until OUTAGE has passed."""
    settings = fault_settings(db_url)
    async with httpx.AsyncClient() as http:
        real = GatewayActivities(settings, http, PaymentStore(session_factory(make_engine(db_url))))
        async with fault_harness(time_env.client, settings, [gateway_down(real, tried)]) as h:
            yield h


async def test_expiry_waits_out_a_two_day_gateway_outage_then_cancels(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    tried: list[datetime] = []
    async with gateway_down_harness(time_env, db_url, tried) as h:
        handle = await h.start(CNMode.GATEWAY, options=EXPIRING, **SELF_PAYER)
        await _assign(handle, "990000000901")
        state = await handle.result()
    assert tried[-1] - tried[0] >= OUTAGE  # it kept trying through the outage
    assert state.status is S.CANCELLED and state.reason == "Bill expired"
    assert state.timeline[-1].at - state.timeline[-2].at >= timedelta(days=1) + OUTAGE
    assert (await _payment(db_url, state.payment_id)).status == 0
    [bill] = h.gateway.bills.values()
    assert bill["cancelled"] is True
    texts = [m["text"] for m in h.sms.messages.values()]
    assert [t[:11] for t in texts] == ["Control No:", "Invoice num"]


async def test_payment_during_the_outage_after_expiry_is_matched(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    tried: list[datetime] = []
    async with gateway_down_harness(time_env, db_url, tried) as h:
        handle = await h.start(CNMode.GATEWAY, options=EXPIRING, **SELF_PAYER)
        cn = "990000000902"
        await _assign(handle, cn)
        await time_env.sleep(timedelta(days=1, hours=6))  # expired; the cancel is retrying
        assert tried, "the expiry's cancel has not started"
        amount = (await handle.query(PaymentIntentWorkflow.status)).amount_to_be_paid
        report = PaymentReport(
            control_number=cn, transaction_id="TX-OUTAGE", amount=amount, received_date=date(2026, 12, 2)
        )
        receipt = await handle.execute_update(PaymentIntentWorkflow.record_payment, report)
        state = await handle.result()
    assert receipt.complete
    assert state.status is S.MATCHED and state.transactions == ["TX-OUTAGE"]
    assert S.CANCELLED not in [t.status for t in state.timeline]
    assert (await _payment(db_url, state.payment_id)).status == 5
    [bill] = h.gateway.bills.values()
    assert not bill.get("cancelled")
    assert not any(m["text"].startswith("Invoice num") for m in h.sms.messages.values())


# --- item 6: a logic error fails at once instead of retrying forever -----------------------------


async def test_settling_a_case_missing_from_the_store_fails_at_once(
    dev_env: WorkflowEnvironment, db_url: str
) -> None:
    """A case whose row is gone: "not found" is no outage, so no retry can mend it."""
    guard = GiveUpRetrying(after=3)
    settings = fault_settings(db_url)
    case = CaseRef(uuid=str(uuid.uuid4()), token="c.gone", number="GONE-1", tenant="demo")
    async with fault_worker(dev_env.client, settings, interceptors=[guard]):
        handle = await dev_env.client.start_workflow(
            ClaimWorkflow.run,
            ClaimInput(case=case, state=ClaimState(case=case, created_event_id=1)),
            id=case_workflow_id("demo", case.uuid),
            task_queue=settings.task_queue,
        )
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(ClaimWorkflow.settle, SettlementInput.model_validate(settlement()))
        await handle.terminate()
    cause = failed.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert (cause.cause.type, guard.attempts["record_settlement"]) == ("NotFound", 1)


# --- item 8: reconciliation feeds a payment, its activity is retried after the update landed ------


def _paid_at_psp(control_number: str, transaction_id: str, amount: object, day: date) -> dict[str, Any]:
    return {
        "control_number": control_number,
        "transaction_id": transaction_id,
        "receipt": f"R-{transaction_id}",
        "amount": str(amount),
        "paid_on": day.isoformat(),
        "payer_phone": None,
        "psp": "NMB",
    }


def feed_then_die(
    real: ReconciliationActivities, died: list[str], *, after_flow_ends: bool
) -> Callable[..., Any]:
    """`feed_payment` whose first attempt feeds the payment (the update lands), then dies before
    reporting; with `after_flow_ends`, only once the intent's flow has ended, so the retry finds it closed."""

    @activity.defn(name="feed_payment")
    async def feed_payment(missing: MissingPayment) -> bool:
        fed = await real.feed_payment(missing)
        if not died:
            if after_flow_ends:
                await activity.client().get_workflow_handle(f"payment-intent-{missing.intent_id}").result()
            died.append(missing.line.transaction_id)
            raise RuntimeError("worker died after the payment was fed")
        return fed

    return feed_payment


async def _reconciled(
    h: Harness, time_env: WorkflowEnvironment, payer: dict[str, Any]
) -> tuple[ReconciliationReport, IntentState, WorkflowHistory]:
    """An assigned intent paid at the PSP without the gateway telling us, and a stray payment for an
    unknown number; the day's reconciliation runs. Its report, the intent's state, its history."""
    handle = await h.start(CNMode.INTERNAL, **payer)
    for _ in range(200):
        state = await handle.query(PaymentIntentWorkflow.status)
        if state.status is S.ASSIGNED:
            break
    assert state.control_number is not None
    today = (await time_env.get_current_time()).date()
    silent = _paid_at_psp(state.control_number, "TX-SILENT", state.amount_to_be_paid, today)
    h.gateway.payments += [silent, _paid_at_psp("991111111111", "TX-STRAY", 5, today)]
    recon = await time_env.client.start_workflow(
        ReconciliationWorkflow.run,
        ReconciliationInput(day=today),
        id=f"recon-{h.settings.task_queue}",
        task_queue=h.settings.task_queue,
    )
    report = await recon.result()
    final = await handle.query(PaymentIntentWorkflow.status)
    if final.status is S.RECEIVED:
        await handle.terminate()  # it would retry matching daily
    return report, final, await recon.fetch_history()


@pytest.mark.parametrize(
    ("payer", "final_status"),
    [
        pytest.param(OFFICERS_NEW_FAMILY, S.RECEIVED, id="flow-still-waits-for-matching"),
        pytest.param(SELF_PAYER, S.MATCHED, id="flow-already-ended"),
    ],
)
async def test_feed_retried_after_its_update_landed_records_no_refusal(
    time_env: WorkflowEnvironment, db_url: str, payer: dict[str, Any], final_status: S
) -> None:
    """The statement line we lack is fed to its intent; the worker dies before `feed_payment` reports,
    so it runs again: the retry must join the same update, neither be refused as a duplicate payment
    nor fail on a flow that has ended since."""
    settings = fault_settings(db_url)
    died: list[str] = []
    guard = GiveUpRetrying(after=5)
    engine = make_engine(db_url)
    async with httpx.AsyncClient() as http:
        feed = feed_then_die(
            ReconciliationActivities(settings, http, session_factory(engine)),
            died,
            after_flow_ends=final_status is S.MATCHED,
        )
        async with fault_harness(time_env.client, settings, [feed], [guard]) as h:
            report, final, _ = await _reconciled(h, time_env, payer)
    assert died == ["TX-SILENT"] and guard.attempts["feed_payment"] == 2
    assert (report.checked, report.recorded, report.unknown) == (2, 1, 1)
    assert final.status is final_status and final.transactions == ["TX-SILENT"]
    async with session_factory(engine)() as s:
        issues = (await s.exec(select(ReconciliationIssue))).all()
    await engine.dispose()
    assert sorted(i.kind for i in issues) == ["recorded_missing_payment", "unknown_control_number"]


async def test_the_gateway_statement_stays_out_of_the_reconciliation_history(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with fault_harness(time_env.client, fault_settings(db_url)) as h:
        report, _, history = await _reconciled(h, time_env, SELF_PAYER)
    assert (report.recorded, report.unknown) == (1, 1)
    carried = [e.event_id for e in history.events if b"TX-STRAY" in e.SerializeToString()]
    assert carried == [], "the statement's lines went into the workflow history"


async def test_a_late_payment_for_an_ended_flow_is_an_issue_not_an_endless_retry(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """The bill expired and its flow ended (0 CANCELLED), yet the PSP took the payment: the statement
    line has no receipt, so it is fed to a workflow that has completed. No retry can mend that."""
    guard = GiveUpRetrying(after=5)
    async with fault_harness(time_env.client, fault_settings(db_url), interceptors=[guard]) as h:
        options = IntentOptions(cn_mode=CNMode.INTERNAL, bill_expiry_days=1, reminder_days=0)
        ended = await (await h.start(CNMode.INTERNAL, options=options, **SELF_PAYER)).result()
        assert ended.status is S.CANCELLED and ended.control_number is not None
        today = (await time_env.get_current_time()).date()
        h.gateway.payments.append(
            _paid_at_psp(ended.control_number, "TX-LATE", ended.amount_to_be_paid, today)
        )
        report = await time_env.client.execute_workflow(
            ReconciliationWorkflow.run,
            ReconciliationInput(day=today),
            id=f"recon-{h.settings.task_queue}",
            task_queue=h.settings.task_queue,
        )
    assert guard.attempts["feed_payment"] == 1
    assert (report.checked, report.recorded) == (1, 0)
    engine = make_engine(db_url)
    async with session_factory(engine)() as s:
        issues = (await s.exec(select(ReconciliationIssue))).all()
    await engine.dispose()
    assert [(i.kind, i.transaction_id) for i in issues] == [("payment_refused", "TX-LATE")]


# --- item 9: two overlapping attempts of the internal control-number draw -----------------------


class Overtaken(PaymentStore):
    """The store of an attempt that read "no number yet" and drew one: before its write lands, an
    overlapping attempt of the same activity (the real code on a plain store) stores its own number."""

    def __init__(self, sessions: SessionFactory, overlapping: IntentActivities) -> None:
        super().__init__(sessions)
        self._overlapping = overlapping
        self.winner: list[str] = []

    async def assign_control_number(self, payment_id: int, control_number: str) -> CNOutcome:
        if not self.winner:
            self.winner.append(await self._overlapping.assign_internal_control_number(payment_id))
        return await super().assign_control_number(payment_id, control_number)


async def test_overlapping_draws_answer_the_winners_number(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    settings = fault_settings(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    relay = EventRelay(settings, WebhookStore(sessions))
    plain = IntentActivities(settings, sessions, PaymentStore(sessions), SqlRegistry(sessions), relay)
    overtaken = Overtaken(sessions, plain)
    loser = IntentActivities(settings, sessions, overtaken, SqlRegistry(sessions), relay)
    try:
        async with fault_harness(time_env.client, settings, [loser.assign_internal_control_number]) as h:
            options = IntentOptions(cn_mode=CNMode.INTERNAL, bill_expiry_days=1, reminder_days=0)
            handle = await h.start(CNMode.INTERNAL, options=options)
            state = await handle.result()
    finally:
        await engine.dispose()
    [winner] = overtaken.winner
    assert state.control_number == winner
    assert [t.status for t in state.timeline] == [S.CREATED, S.ASSIGNED, S.CANCELLED]
    payment = await _payment(db_url, state.payment_id)
    assert (payment.control_number, payment.status) == (winner, 0)
    texts = [m["text"] for m in h.sms.messages.values()]
    assert [t[:11] for t in texts] == ["Control No:", "Invoice num"] and winner in texts[0]
