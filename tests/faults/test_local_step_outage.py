"""Issue 19, item 8: a local store step retried through a database outage must not grow the history.

A local activity retried inside the workflow task makes the worker heartbeat that task (three events
each time); a regular activity's retries add none. The step is the intent's first store step,
`value_intent`, failing while the database is "down"; the workflow task timeout is 2 s so the
heartbeats come every 1.6 s instead of 8 s. The history is measured between the step's fourth and
sixth attempts (a local step has three), on the time-skipping server.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.payment_intent import IntentActivities
from activities.webhooks import EventRelay
from domain.intent import CNMode, IntentOptions, PaymentIntentInput
from domain.payment_flow import ValuationResult
from domain.status import PaymentStatus as S
from payflow.temporal_setup import WORKFLOWS
from store.db import make_engine, session_factory
from store.payments import PaymentStore
from store.registry import SqlRegistry
from store.webhooks import WebhookStore
from tests.faults.wiring import fault_harness, fault_settings
from tests.keys import CONVERTER
from tests.workflows.harness import intent_input, record
from workflows.activity_options import LOCAL_ATTEMPTS, LOCAL_STORE_CALL
from workflows.payment_intent import PaymentIntentWorkflow

FIRST, UP_AFTER = 4, 6


async def test_a_store_step_retried_through_an_outage_adds_no_history(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    settings = fault_settings(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    real = IntentActivities(
        settings,
        sessions,
        PaymentStore(sessions),
        SqlRegistry(sessions),
        EventRelay(settings, WebhookStore(sessions)),
    )
    attempts: list[int] = []
    reached = {n: asyncio.Event() for n in (FIRST, UP_AFTER)}

    @activity.defn(name="value_intent")
    async def value_intent(request: PaymentIntentInput) -> ValuationResult:
        attempts.append(len(attempts) + 1)
        if len(attempts) in reached:
            reached[len(attempts)].set()
        if len(attempts) < UP_AFTER:
            raise RuntimeError("database unreachable")
        return await real.value_intent(request)

    try:
        async with fault_harness(time_env.client, settings, [value_intent]) as h:
            options = IntentOptions(cn_mode=CNMode.INTERNAL, bill_expiry_days=1, reminder_days=0)
            request = intent_input(CNMode.INTERNAL, options=options)
            handle = await h.client.start_workflow(
                PaymentIntentWorkflow.run,
                request,
                id=f"payment-intent-{request.intent_id}",
                task_queue=settings.task_queue,
                task_timeout=timedelta(seconds=2),
            )
            await asyncio.wait_for(reached[FIRST].wait(), 60)
            before = len((await handle.fetch_history()).events)
            await asyncio.wait_for(reached[UP_AFTER].wait(), 60)
            during = len((await handle.fetch_history()).events)
            state = await handle.result()
            await record(handle, "store_step_through_a_database_outage")
    finally:
        await engine.dispose()
    assert state.status is S.CANCELLED  # the outage ended, the flow went on to its end
    assert during - before <= 1, f"the history grew by {during - before} events while the step retried"


async def test_a_step_whose_local_attempts_timed_out_replays(
    time_env: WorkflowEnvironment, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hung database: the local attempts time out, the step goes on as an activity; the history
    (what a query or a new worker replays) must replay (the SDK raises the timeout differently then)."""
    monkeypatch.setitem(LOCAL_STORE_CALL, "start_to_close_timeout", timedelta(seconds=1))
    settings = fault_settings(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    real = IntentActivities(
        settings,
        sessions,
        PaymentStore(sessions),
        SqlRegistry(sessions),
        EventRelay(settings, WebhookStore(sessions)),
    )
    hung: list[int] = []

    @activity.defn(name="value_intent")
    async def value_intent(request: PaymentIntentInput) -> ValuationResult:
        if len(hung) < LOCAL_ATTEMPTS:
            hung.append(1)
            await asyncio.sleep(5)  # cancelled by the 1 s timeout
        return await real.value_intent(request)

    try:
        async with fault_harness(time_env.client, settings, [value_intent]) as h:
            options = IntentOptions(cn_mode=CNMode.INTERNAL, bill_expiry_days=1, reminder_days=0)
            handle = await h.start(CNMode.INTERNAL, options=options)
            state = await handle.result()
            history = await handle.fetch_history()
    finally:
        await engine.dispose()
    assert state.status is S.CANCELLED
    replayed = await Replayer(workflows=list(WORKFLOWS), data_converter=CONVERTER).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert replayed.replay_failure is None, replayed.replay_failure
