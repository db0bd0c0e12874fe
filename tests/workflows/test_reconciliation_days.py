"""Reconciliation never loses a day (issue 19 item 5): a day whose statement the gateway refused stays
pending, is fetched again by the next run, and its missing payment is fed to its flow."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from domain.intent import CNMode
from domain.reconciliation import ReconciliationInput, ReconciliationReport
from domain.status import PaymentStatus as S
from payflow.check import check
from store.db import make_engine, session_factory
from tests.workflows.harness import Harness, harness, record
from workflows.payment_intent import PaymentIntentWorkflow
from workflows.reconciliation import ReconciliationWorkflow


async def _scheduled_run(env: WorkflowEnvironment, h: Harness, n: int) -> ReconciliationReport | None:
    """A run as the schedule starts it: no day given (yesterday, and every day still without a statement)."""
    try:
        with env.auto_time_skipping_disabled():  # the run takes no time: no intent may expire
            return await env.client.execute_workflow(
                ReconciliationWorkflow.run,
                ReconciliationInput(),
                id=f"reconciliation-run-{n}-{h.settings.task_queue}",
                task_queue=h.settings.task_queue,
            )
    except WorkflowFailureError:
        return None


async def test_a_refused_day_is_fetched_again_by_the_next_run(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    sessions = session_factory(make_engine(db_url))
    async with harness(time_env.client, db_url) as h:
        handle = await h.start(CNMode.INTERNAL, officer_code=None)
        async with asyncio.timeout(30):
            while (state := await handle.query(PaymentIntentWorkflow.status)).status is not S.ASSIGNED:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        yesterday = (await time_env.get_current_time()).date() - timedelta(days=1)
        h.gateway.payments.append(  # paid yesterday; the gateway's notification never reached payflow
            {
                "control_number": state.control_number,
                "transaction_id": "TX-LOST",
                "receipt": "R-LOST",
                "amount": str(state.amount_to_be_paid),
                "paid_on": yesterday.isoformat(),
                "payer_phone": None,
                "psp": "NMB",
            }
        )
        h.gateway.behaviour.statement = "refuse"  # a 403: no retry within the run changes it
        first = await _scheduled_run(time_env, h, 1)
        named = [f.subject for f in (await check(sessions, None)).violations if f.check == "reconciliation"]

        h.gateway.behaviour.statement = "answer"
        await time_env.sleep(timedelta(days=1))  # the next day's run
        second = await _scheduled_run(time_env, h, 2)
        final = await handle.result()
        assert final.status is S.MATCHED and final.transactions == ["TX-LOST"]
        assert first is not None and first.day == yesterday and "403" in (first.refused or "")
        assert named == [f"reconciliation day {yesterday}"]
        assert second is not None and second.day == yesterday + timedelta(days=1)
        assert not [f for f in (await check(sessions, None)).violations if f.check == "reconciliation"]
        for n, scenario in ((1, "days_refused"), (2, "days_refused_day_fed_next_run")):
            run = h.client.get_workflow_handle(f"reconciliation-run-{n}-{h.settings.task_queue}")
            await record(run, f"../reconciliation/{scenario}")  # since the reconciliation-days patch
