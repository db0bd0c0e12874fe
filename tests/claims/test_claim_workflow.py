"""ClaimWorkflow on a real dev server: continue-as-new keeps the case; a recorded history for replay."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.claim_flow import CancelSettlement, ClaimInput, CloseRequest, ReopenRequest
from domain.settlement import CaseRef, ChangedBy, SettlementInput
from infra.settings import Settings
from payflow.workers import worker
from tests.claims.sample import settlement
from tests.keys import CONVERTER
from tests.workflows.harness import record
from workflows import search_attributes as sa
from workflows.claim import ClaimWorkflow, case_workflow_id

BY = ChangedBy(fullName="Hanne Holm")


async def _case(client: Client, task_queue: str, number: str) -> tuple[str, CaseRef]:
    case = CaseRef(uuid=str(uuid.uuid4()), token=f"c.{number}", number=number, tenant="demo")
    wid = case_workflow_id("demo", case.uuid)
    await client.start_workflow(ClaimWorkflow.run, ClaimInput(case=case), id=wid, task_queue=task_queue)
    return wid, case


async def test_case_continues_as_new_and_keeps_its_state(db_url: str) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).with_name("temporal")),
        search_attributes=sa.ALL,
        data_converter=CONVERTER,
        dev_server_extra_args=["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=30"],
    )
    async with env:
        settings = Settings(database_url=db_url, task_queue=f"claims-{uuid.uuid4()}")
        async with worker(env.client, settings):
            wid, _ = await _case(env.client, settings.task_queue, "CAN-1")
            handle = env.client.get_workflow_handle(wid)
            first_run = (await handle.describe()).run_id
            doc = SettlementInput.model_validate(settlement())
            for _ in range(5):
                await handle.execute_update(ClaimWorkflow.settle, doc)
                await handle.execute_update(ClaimWorkflow.reopen, ReopenRequest(changed_by=BY))
            described = await handle.describe()
            assert described.run_id != first_run  # it continued as new along the way
            assert described.typed_search_attributes.get(sa.CASE_NUMBER) == "CAN-1"
            state = await handle.query(ClaimWorkflow.status)
            assert [r.revision_no for r in state.revisions] == [1, 2, 3, 4, 5] and state.closed is False
            assert len({r.token for r in state.revisions}) == 5 and state.created_event_id is not None


async def test_record_a_case_history(dev_env: WorkflowEnvironment, db_url: str) -> None:
    settings = Settings(database_url=db_url, task_queue=f"claims-{uuid.uuid4()}")
    async with worker(dev_env.client, settings):
        wid, _ = await _case(dev_env.client, settings.task_queue, "REC-1")
        handle = dev_env.client.get_workflow_handle(wid)
        doc = SettlementInput.model_validate(settlement())
        first = await handle.execute_update(ClaimWorkflow.settle, doc)
        await handle.execute_update(ClaimWorkflow.reopen, ReopenRequest(changed_by=BY))
        await handle.execute_update(ClaimWorkflow.settle, doc.model_copy(update={"close": False}))
        await handle.execute_update(ClaimWorkflow.close, CloseRequest(changed_by=BY, reason="NotCovered"))
        state = await handle.query(ClaimWorkflow.status)
        assert state.revisions[0].token == first.revision_token and state.closed
        await record(handle, "../claim/settle_reopen_settle_close")
        await handle.terminate()


async def test_record_a_cancel_history(dev_env: WorkflowEnvironment, db_url: str) -> None:
    """A case settled, its revision cancelled, then closed (the cancel's commands, for replay)."""
    settings = Settings(database_url=db_url, task_queue=f"claims-{uuid.uuid4()}")
    async with worker(dev_env.client, settings):
        wid, _ = await _case(dev_env.client, settings.task_queue, "REC-2")
        handle = dev_env.client.get_workflow_handle(wid)
        doc = SettlementInput.model_validate(settlement(close=False))
        first = await handle.execute_update(ClaimWorkflow.settle, doc)
        await handle.execute_update(
            ClaimWorkflow.cancel_settlement, CancelSettlement(revision_token=first.revision_token)
        )
        await handle.execute_update(ClaimWorkflow.close, CloseRequest(changed_by=BY))
        state = await handle.query(ClaimWorkflow.status)
        assert [r.status for r in state.revisions] == ["CANCELLED"] and state.closed
        await record(handle, "../claim/settle_cancel_close")
        await handle.terminate()
