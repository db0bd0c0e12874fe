"""Issue 9, items 3 and 5: what a workflow keeps across continue-as-new, on a dev server that suggests
it after 30 events. A settlement's Idempotency-Key answers the first revision in a later run (at
workflow level and through the API); a payment intent neither deadlocks on a `rematch` when
continue-as-new is due nor forgets its matching loop's counters and SMS keys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.claim_flow import ClaimInput, CloseRequest, ReopenRequest
from domain.intent import CNMode, IntentLine, IntentOptions, PaymentReport
from domain.registry import PolicyStage
from domain.settlement import CaseRef, ChangedBy, SettlementInput
from domain.sms import SmsKind
from domain.status import PaymentStatus as S
from store.db import make_engine, session_factory
from store.models import Event, SettlementRevision
from tests.api.helpers import PROXY_FAMILY, register_proxy_family
from tests.claims.sample import settlement
from tests.faults.wiring import (
    Calls,
    dev_server_suggesting_continue_as_new,
    fault_harness,
    fault_settings,
    fault_worker,
)
from tests.stack import StackFactory
from tests.workflows.harness import Harness, intent_input
from workflows.claim import ClaimWorkflow, case_workflow_id
from workflows.payment_intent import PaymentIntentWorkflow

BY = ChangedBy(fullName="Hanne Holm")
HANDLER = {"changed_by": {"full_name": "Hanne Holm", "username": "hh"}}
MAX_CYCLES = 20


@pytest.fixture(scope="module")
async def can_env() -> AsyncIterator[WorkflowEnvironment]:
    async with dev_server_suggesting_continue_as_new(history=30) as env:
        yield env


async def _start_case(client: Client, task_queue: str) -> tuple[CaseRef, WorkflowHandle[Any, Any]]:
    case = CaseRef(uuid=str(uuid.uuid4()), token=f"c.{uuid.uuid4().hex[:8]}", number="F-9", tenant="demo")
    wid = case_workflow_id("demo", case.uuid)
    await client.start_workflow(ClaimWorkflow.run, ClaimInput(case=case), id=wid, task_queue=task_queue)
    return case, client.get_workflow_handle(wid)


async def _store_of(db_url: str, case_id: str) -> tuple[list[SettlementRevision], list[Event]]:
    engine = make_engine(db_url)
    async with session_factory(engine)() as s:
        revisions = (
            await s.exec(select(SettlementRevision).where(SettlementRevision.case_id == case_id))
        ).all()
        events = (
            await s.exec(
                select(Event).where(Event.type == "case_settled", col(Event.dedupe_key).startswith(case_id))
            )
        ).all()
    await engine.dispose()
    return list(revisions), list(events)


# --- item 3: the settlement's Idempotency-Key across continue-as-new ------------------------------


async def test_settle_repeated_after_continue_as_new_answers_the_first_revision(
    can_env: WorkflowEnvironment, db_url: str
) -> None:
    """The API sends the key as the update id `settle-<key>`; Temporal dedupes it within one run only."""
    settings = fault_settings(db_url)
    async with fault_worker(can_env.client, settings):
        case, handle = await _start_case(can_env.client, settings.task_queue)
        doc = SettlementInput.model_validate(settlement(close=False))
        first = await handle.execute_update(ClaimWorkflow.settle, doc, id="settle-K-1")
        first_run = (await handle.describe()).run_id
        for _ in range(MAX_CYCLES):  # other changes of the case until it has continued as new
            await handle.execute_update(ClaimWorkflow.close, CloseRequest(changed_by=BY))
            await handle.execute_update(ClaimWorkflow.reopen, ReopenRequest(changed_by=BY))
            if (await handle.describe()).run_id != first_run:
                break
        assert (await handle.describe()).run_id != first_run, "the case never continued as new"
        again = await handle.execute_update(ClaimWorkflow.settle, doc, id="settle-K-1")
        state = await handle.query(ClaimWorkflow.status)
        await handle.terminate()
    assert again == first
    assert [r.revision_no for r in state.revisions] == [1]
    revisions, events = await _store_of(db_url, case.uuid)
    assert [r.token for r in revisions] == [first.revision_token]
    assert [e.id for e in events] == first.event_ids[:1]


async def test_api_settle_retried_after_continue_as_new_is_one_settlement(
    can_env: WorkflowEnvironment, db_url: str, signing_key: Path
) -> None:
    async with StackFactory(can_env.client, db_url, signing_key)() as stack:
        r = await stack.post("/v1/cases", as_="claims", json={"number": "F-9-API", "policy_number": "P-1"})
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        handle = can_env.client.get_workflow_handle(case_workflow_id("demo", case_id))

        async def settle() -> Any:
            return await stack.post(
                f"/v1/cases/{case_id}/settlements",
                as_="claims",
                json=settlement(close=False),
                headers={"Idempotency-Key": "retry-me"},
            )

        first = await settle()
        assert first.status_code == 201, first.text
        first_run = (await handle.describe()).run_id
        for _ in range(MAX_CYCLES):
            for step in ("close", "reopen"):
                r = await stack.post(f"/v1/cases/{case_id}/{step}", as_="claims", json=HANDLER)
                assert r.status_code == 200, r.text
            if (await handle.describe()).run_id != first_run:
                break
        assert (await handle.describe()).run_id != first_run, "the case never continued as new"
        again = await settle()
        await handle.terminate()
    assert again.status_code in (200, 201) and again.json() == first.json()
    revisions, events = await _store_of(db_url, case_id)
    assert len(revisions) == 1 and len(events) == 1


# --- item 5: the matching loop of a payment intent across continue-as-new ------------------------

DEADLOCK_S = 15
"""A `rematch` answers in well under a second; one still pending after this long never will."""
FAST_TASKS = timedelta(seconds=2)


async def _unmatched(
    h: Harness, task_timeout: timedelta | None = None, **options: Any
) -> WorkflowHandle[Any, Any]:
    """A payment received without an intent for a family not yet registered: it retries matching.
    `task_timeout`: the runs' workflow task timeout (Temporal's default 10 s; continue-as-new keeps it)."""
    report = PaymentReport(
        transaction_id="TX-PROXY", amount=Decimal("23000"), received_date=date(2026, 11, 22)
    )
    request = intent_input(
        CNMode.INTERNAL,
        officer_code=None,
        phone_number="0754999888",
        lines=[IntentLine(insurance_number=PROXY_FAMILY, product_code="FCUL0001", stage=PolicyStage.NEW)],
        received=report,
        options=IntentOptions(cn_mode=CNMode.INTERNAL, **options),
    )
    started = await h.client.start_workflow(
        PaymentIntentWorkflow.run,
        request,
        id=f"payment-intent-{request.intent_id}",
        task_queue=h.settings.task_queue,
        task_timeout=task_timeout,
    )
    handle = h.client.get_workflow_handle_for(PaymentIntentWorkflow.run, started.id)  # the latest run
    for _ in range(200):
        if (await handle.query(PaymentIntentWorkflow.status)).match is not None:
            return handle
        await asyncio.sleep(0.05)
    raise AssertionError("the payment was never matched")


async def _suggested(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the server has suggested continue-as-new to the current run."""
    history = await handle.fetch_history()
    return any(e.workflow_task_started_event_attributes.suggest_continue_as_new for e in history.events)


async def _register_family(db_url: str) -> None:
    engine = make_engine(db_url)
    await register_proxy_family(session_factory(engine))
    await engine.dispose()


async def test_rematch_when_continue_as_new_is_due_matches_instead_of_deadlocking(
    can_env: WorkflowEnvironment, db_url: str
) -> None:
    async with fault_harness(can_env.client, fault_settings(db_url)) as h:
        handle = await _unmatched(h)
        rematch = lambda: asyncio.wait_for(  # noqa: E731
            handle.execute_update(PaymentIntentWorkflow.rematch), DEADLOCK_S
        )
        for _ in range(MAX_CYCLES):  # each rematch lengthens the history
            result = await rematch()
            assert result is not None and not result.matched
            if await _suggested(handle):
                break
        assert await _suggested(handle), "continue-as-new was never suggested"
        result = await rematch()  # continue-as-new is due while this waits for its match
        assert result is not None and not result.matched
        await _register_family(db_url)
        result = await rematch()
        assert result is not None and result.matched
        state = await handle.result()
    assert state.status is S.MATCHED and state.match is not None and state.match.lines[0].activated


async def test_matching_counters_and_sms_keys_survive_continue_as_new(
    can_env: WorkflowEnvironment, db_url: str
) -> None:
    """Matching retried at once (`match_retry_hours=0`) continues as new every few hundred attempts;
    the "paid but not matched" SMS stays one per 7 days across runs, and the attempts keep counting.
    Retried at once, matching loops on local activities inside one workflow task, which asks for a new
    one (where continue-as-new is suggested) at 80 % of the task timeout: FAST_TASKS, not 10 s."""
    calls = Calls("send_sms", "match_payment")
    async with fault_harness(can_env.client, fault_settings(db_url), interceptors=[calls]) as h:
        handle = await _unmatched(h, FAST_TASKS, match_retry_hours=0, not_matched_sms_days=7)
        runs = {(await handle.describe()).run_id}
        for _ in range(200):  # two continue-as-new: the second run has retried (and notified) too
            runs.add((await handle.describe()).run_id)
            if len(runs) > 2:
                break
            await asyncio.sleep(0.05)
        assert len(runs) > 2, "the intent did not continue as new twice"
        await _register_family(db_url)
        state = await handle.result()
    assert state.status is S.MATCHED
    not_matched = [n.key for n in calls.of("send_sms") if n.kind is SmsKind.PAID_NOT_MATCHED]
    assert not_matched == [f"{state.intent_id}:{SmsKind.PAID_NOT_MATCHED}:1"]
    assert len(h.sms.messages) == 3  # confirmation, not matched, paid and activated
    assert state.match_attempts == len(calls.of("match_payment"))
