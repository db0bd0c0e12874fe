"""Search attributes: what operators query is current while a flow waits, and nothing more is written.

The flows start like the API starts them (Tenant at start), on the dev server so that
visibility queries answer like production's.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.intent import CNMode, PaymentReport
from domain.payment_flow import ControlNumberReceipt, IntentState
from domain.status import PaymentStatus as S
from tests.workflows.harness import Harness, harness, intent_input, record
from workflows import search_attributes as sa
from workflows.payment_intent import PaymentIntentWorkflow

UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
MARKER = EventType.EVENT_TYPE_MARKER_RECORDED
TASK_DONE = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
FLOW_A_UPSERTS = 2
"""A full flow A (internal number, paid, matched): PaymentStatus and ControlNumber once the number is
out (the intent waits for payment), PaymentStatus once matched. 5 before the at-rest patch
(tests/histories/payment_intent/every_status_upserted_flow_a.json): CREATED, ControlNumber, ASSIGNED,
RECEIVED, MATCHED, and 3 patches asked (each a marker and a TemporalChangeVersion upsert)."""
PATCHED = "search-attributes-at-rest"
"""The one patch a new run asks."""
CHANGE_VERSION = "TemporalChangeVersion"


async def _start(h: Harness, mode: CNMode) -> WorkflowHandle[Any, Any]:
    request = intent_input(mode, officer_code=None)  # a self-payer: matched at once
    return await h.client.start_workflow(
        PaymentIntentWorkflow.run,
        request,
        id=f"payment-intent-{request.intent_id}",
        task_queue=h.settings.task_queue,
        search_attributes=sa.at_start(request, []),
    )


async def _at(handle: WorkflowHandle[Any, Any], status: S) -> IntentState:
    for _ in range(600):
        state: IntentState = await handle.query(PaymentIntentWorkflow.status)
        if state.status is status:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never reached {status.name}")


async def _found(client: Client, query: str, workflow_id: str) -> None:
    """Visibility is eventually consistent: poll (bounded) until the query finds the workflow."""
    for _ in range(200):
        if workflow_id in [w.id async for w in client.list_workflows(query)]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{query!r} never found {workflow_id}")


async def _counts(handle: WorkflowHandle[Any, Any]) -> tuple[int, list[str]]:
    """Upserts of our search attributes, and the patches the run asked (Core upserts each patch's id
    into TemporalChangeVersion beside its marker)."""
    events = (await handle.fetch_history()).events
    fields = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in events
        if e.event_type == UPSERT
    ]
    ours = [f for f in fields if set(f) - {CHANGE_VERSION}]
    versions = [f[CHANGE_VERSION] for f in fields if CHANGE_VERSION in f]
    patches = json.loads(versions[-1].data) if versions else []
    markers = [
        e
        for e in events
        if e.event_type == MARKER and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert len(markers) == len(patches), (markers, patches)
    return len(ours), patches


async def _notified(handle: WorkflowHandle[Any, Any]) -> None:
    """Wait (bounded) until the control-number SMS is sent and the workflow has taken it in: the flow
    waits for payment, as it does long before a payer pays."""
    for _ in range(200):
        events = list((await handle.fetch_history()).events)
        sms = {
            e.event_id
            for e in events
            if e.activity_task_scheduled_event_attributes.activity_type.name == "send_sms"
        }
        sent = [
            i
            for i, e in enumerate(events)
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            and e.activity_task_completed_event_attributes.scheduled_event_id in sms
        ]
        if sent and TASK_DONE in [e.event_type for e in events[sent[0] :]]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never took in its SMS")


async def _pay(handle: WorkflowHandle[Any, Any], state: IntentState) -> IntentState:
    await _notified(handle)
    report = PaymentReport(
        control_number=state.control_number,
        transaction_id=f"TX-{state.payment_id}",
        amount=state.amount_to_be_paid,
        received_date=date(2026, 11, 22),
    )
    await handle.execute_update(PaymentIntentWorkflow.record_payment, report)
    final: IntentState = await asyncio.wait_for(handle.result(), 60)
    return final


async def test_flow_a_upserts_at_rest_only(dev_env: WorkflowEnvironment, db_url: str) -> None:
    """Issue 21 deliverable 3: the operators' queries find the intent while it waits for payment and
    once matched, with FLOW_A_UPSERTS upserts for the whole flow."""
    async with harness(dev_env.client, db_url) as h:
        handle = await _start(h, CNMode.INTERNAL)
        state = await _at(handle, S.ASSIGNED)
        open_query = "Tenant = 'demo' AND PaymentStatus IN ('CREATED', 'POSTED', 'ASSIGNED')"
        await _found(h.client, f"{open_query} AND ControlNumber = '{state.control_number}'", handle.id)
        final = await _pay(handle, state)
        assert final.status is S.MATCHED
        matched = f"PaymentStatus = 'MATCHED' AND ControlNumber = '{state.control_number}'"
        await _found(h.client, matched, handle.id)
        await record(handle, "at_rest_flow_a_patched")
        assert await _counts(handle) == (FLOW_A_UPSERTS, [PATCHED])


async def test_gateway_flow_is_found_at_each_resting_status(
    dev_env: WorkflowEnvironment, db_url: str
) -> None:
    """Gateway mode rests at POSTED (waiting for the number) and at ASSIGNED (waiting for payment)."""
    async with harness(dev_env.client, db_url) as h:
        handle = await _start(h, CNMode.GATEWAY)
        await _at(handle, S.POSTED)
        await _found(h.client, "PaymentStatus = 'POSTED' AND Tenant = 'demo'", handle.id)
        cn = f"99{abs(hash(handle.id)) % 10**10:010d}"
        await handle.execute_update(
            PaymentIntentWorkflow.receive_control_number, ControlNumberReceipt(control_number=cn)
        )
        state = await _at(handle, S.ASSIGNED)
        await _found(h.client, f"PaymentStatus = 'ASSIGNED' AND ControlNumber = '{cn}'", handle.id)
        final = await _pay(handle, state)
        assert final.status is S.MATCHED
        await _found(h.client, f"PaymentStatus = 'MATCHED' AND ControlNumber = '{cn}'", handle.id)
        await record(handle, "at_rest_gateway_paid_patched")
        assert await _counts(handle) == (FLOW_A_UPSERTS + 1, [PATCHED])  # POSTED too
