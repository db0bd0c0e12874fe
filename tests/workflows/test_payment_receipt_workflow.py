"""Receipt, matching, expiry and reconciliation on the time-skipping server: days pass in an instant."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal

from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from domain.intent import CNMode, IntentLine, IntentOptions, PaymentReport
from domain.payment_flow import ControlNumberReceipt
from domain.reconciliation import ReconciliationInput
from domain.registry import PolicyStage
from domain.status import PaymentStatus as S
from store.db import make_engine, session_factory
from store.models import Payment, Premium, ReconciliationIssue
from tests.api.helpers import register_proxy_family
from tests.workflows.harness import harness, record
from workflows.payment_intent import PaymentIntentWorkflow
from workflows.reconciliation import ReconciliationWorkflow

SELF_PAYER = {"officer_code": None}


async def _query(handle) -> object:  # type: ignore[no-untyped-def]
    return await handle.query(PaymentIntentWorkflow.status)


async def test_expiry_cancels_the_bill_at_the_gateway_after_a_reminder(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with harness(time_env.client, db_url) as h:
        handle = await h.start(CNMode.GATEWAY, **SELF_PAYER)
        for _ in range(200):
            if (await _query(handle)).status is S.POSTED:
                break
        await handle.execute_update(
            PaymentIntentWorkflow.receive_control_number, ControlNumberReceipt(control_number="990000000777")
        )
        state = await handle.result()
        assert [t.status for t in state.timeline] == [S.CREATED, S.POSTED, S.ASSIGNED, S.CANCELLED]
        assert state.timeline[-1].at - state.timeline[2].at >= timedelta(days=30)
        [bill] = h.gateway.bills.values()
        assert bill["cancelled"] is True
        texts = [m["text"] for m in h.sms.messages.values()]
        assert [t[:11] for t in texts] == ["Control No:", "Reminder: C", "Invoice num"]
        await record(handle, "gateway_expired_cancelled")
        await record(handle, "local_steps_gateway_expired_cancelled")  # since the local-store-steps patch


async def test_refused_cancel_waits_for_the_payment(dev_env: WorkflowEnvironment, db_url: str) -> None:
    """A bill the gateway will not cancel (paid a moment ago) stays open for that payment.

    On the dev server with a bill that expires at once: the time-skipping test server stalled the
    payment update after a skipped month here when an earlier test server had run in the process.
    """
    async with harness(dev_env.client, db_url) as h:
        h.gateway.behaviour.cancel = "refuse"
        options = IntentOptions(cn_mode=CNMode.GATEWAY, bill_expiry_days=0, reminder_days=0)
        handle = await h.start(CNMode.GATEWAY, options=options, **SELF_PAYER)
        for _ in range(200):
            if (await _query(handle)).status is S.POSTED:
                break
        cn = "990000000778"
        await handle.execute_update(
            PaymentIntentWorkflow.receive_control_number, ControlNumberReceipt(control_number=cn)
        )
        for _ in range(200):
            state = await _query(handle)
            if "refused to cancel" in (state.reason or ""):
                break
            await asyncio.sleep(0.05)
        assert state.status is S.ASSIGNED and "7279:Bill already settled" in (state.reason or "")
        report = PaymentReport(
            control_number=cn,
            transaction_id="TX-LATE",
            amount=state.amount_to_be_paid,
            received_date=date(2026, 12, 22),
        )
        await handle.execute_update(PaymentIntentWorkflow.record_payment, report)
        final = await handle.result()
        assert final.status is S.MATCHED and final.timeline[-1].status is S.MATCHED


async def test_proxy_family_is_matched_by_the_daily_retry(time_env: WorkflowEnvironment, db_url: str) -> None:
    async with harness(time_env.client, db_url) as h:
        report = PaymentReport(
            transaction_id="TX-PROXY",
            amount=Decimal("23000"),
            received_date=date(2026, 11, 22),
            payer_phone="0754999888",
        )
        handle = await h.start(
            CNMode.INTERNAL,
            officer_code=None,
            phone_number="0754999888",
            lines=[IntentLine(insurance_number="555555555", product_code="FCUL0001", stage=PolicyStage.NEW)],
            received=report,
            options=IntentOptions(cn_mode=CNMode.INTERNAL, not_matched_sms_days=2),
        )
        for _ in range(300):
            state = await _query(handle)
            if state.match is not None:
                break
        assert state.status is S.RECEIVED and state.match.lines[0].error == 103
        await time_env.sleep(timedelta(days=3))  # three daily retries, still no family
        assert (await _query(handle)).status is S.RECEIVED

        sessions = session_factory(make_engine(db_url))
        await register_proxy_family(sessions)
        final = await handle.result()  # the next daily retry matches
        assert final.status is S.MATCHED and final.match.lines[0].activated
        async with sessions() as s:
            premiums = (
                await s.exec(select(Premium).where(col(Premium.payment_detail_id).is_not(None)))
            ).all()
        assert len(premiums) == 1 and premiums[0].amount == Decimal("23000")
        kinds = [m["text"].split(" ")[0] for m in h.sms.messages.values()]
        # confirmation, then "paid but not matched" at most once per 2 days over 3+ days, then activated
        assert kinds[0] == "Payment" and kinds[-1] == "Payment" and kinds.count("The") == 2
        await record(handle, "received_without_intent_matched_by_retry")
        await record(handle, "local_steps_received_matched_by_retry")  # since the local-store-steps patch


async def test_reconciliation_feeds_a_payment_we_never_heard_of(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with harness(time_env.client, db_url) as h:
        handle = await h.start(CNMode.INTERNAL, **SELF_PAYER)
        for _ in range(200):
            state = await _query(handle)
            if state.status is S.ASSIGNED:
                break
        today = (await time_env.get_current_time()).date()
        for record_ in (
            {
                "control_number": state.control_number,
                "transaction_id": "TX-SILENT",
                "receipt": "R1",
                "amount": str(state.amount_to_be_paid),
                "paid_on": today.isoformat(),
                "payer_phone": None,
                "psp": "NMB",
            },
            {
                "control_number": "991111111111",
                "transaction_id": "TX-STRAY",
                "receipt": "R2",
                "amount": "5",
                "paid_on": today.isoformat(),
                "payer_phone": None,
                "psp": "NMB",
            },
        ):
            h.gateway.payments.append(record_)  # paid at the PSP; the gateway never notified us
        run = lambda: time_env.client.execute_workflow(  # noqa: E731
            ReconciliationWorkflow.run,
            ReconciliationInput(day=today),
            id=f"recon-{today}-{h.settings.task_queue}",
            task_queue=h.settings.task_queue,
        )
        report = await run()
        assert (report.checked, report.recorded, report.unknown, report.mismatches) == (2, 1, 1, 0)
        final = await handle.result()
        assert final.status is S.MATCHED and final.transactions == ["TX-SILENT"]
        again = await time_env.client.execute_workflow(
            ReconciliationWorkflow.run,
            ReconciliationInput(day=today),
            id=f"recon2-{today}",
            task_queue=h.settings.task_queue,
        )
        assert (again.recorded, again.unknown) == (0, 1)  # nothing twice
        async with session_factory(make_engine(db_url))() as s:
            issues = (await s.exec(select(ReconciliationIssue).order_by(col(ReconciliationIssue.id)))).all()
            payment = (
                await s.exec(select(Payment).where(Payment.control_number == state.control_number))
            ).one()
        assert sorted(i.kind for i in issues) == ["recorded_missing_payment", "unknown_control_number"]
        assert payment.status == 5 and payment.transaction_no == "TX-SILENT"
