"""Killing the worker after the bill is posted loses nothing: one payment, one bill, one control number."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from payflow.check import check
from store.models import Payment, SmsMessage
from tests.api.helpers import count, intent, wait_for
from tests.api_server import spawn_worker
from tests.stack import Stack, StackFactory
from workflows.payment_intent import PaymentIntentWorkflow

STICKY_S = 1


async def start_worker(stack: Stack, env: WorkflowEnvironment, *command: str) -> asyncio.subprocess.Process:
    """`python worker.py` (or `command`) as its own process, configured like production: by
    PAYFLOW_* variables. A killed worker's workflows wait STICKY_S (not 10 s) before another takes them."""
    s = stack.settings
    environment = os.environ | {
        "PAYFLOW_DATABASE_URL": s.database_url,
        "PAYFLOW_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "PAYFLOW_TASK_QUEUE": s.task_queue,
        "PAYFLOW_GATEWAY_URL": s.gateway_url,
        "PAYFLOW_SMS_URL": s.sms_url,
        "PAYFLOW_API_URL": s.api_url,
        "PAYFLOW_WORKER_STICKY_TIMEOUT_S": str(STICKY_S),
    }
    return await spawn_worker(environment, *(command or ["worker.py"]))


async def test_killed_worker_resumes_with_exactly_one_payment_and_control_number(
    make_stack: StackFactory, dev_env: WorkflowEnvironment
) -> None:
    async with make_stack(with_worker=False, cn_mode="gateway", cn_wait_s=0.5, update_timeout_s=2) as stack:
        stack.gateway.behaviour.callback = "hold"
        worker = await start_worker(stack, dev_env)
        r = await stack.post("/api/GetControlNumber", json=intent())
        answer = r.json()
        assert answer["error_occured"] is False and answer["control_number"] is None
        payment_id = int(answer["internal_identifier"])
        async with stack.sessions() as s:
            assert (await s.get(Payment, payment_id)).status == 2  # type: ignore[union-attr]

        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        released = (await stack.gateway_release()).get("released")
        assert released == 1
        await wait_for(lambda: stack.gateway.callbacks or stack.gateway.tasks, "the gateway to call back")

        worker = await start_worker(stack, dev_env)
        try:
            await wait_for(lambda: stack.gateway.callbacks, "the callback to be accepted", within=60)
            assert stack.gateway.callbacks[-1]["status"] == 200
            assigned = stack.gateway.callbacks[-1]["control_number"]
            r = await stack.post(
                "/api/GetAssignedControlNumbers", json={"requests": [{"internal_identifier": payment_id}]}
            )
            assert r.json()["assigned_control_numbers"] == [
                {"internal_identifier": str(payment_id), "control_number": assigned}
            ]
            await wait_for(lambda: stack.sms_to("0681333045"), "the assigned SMS", within=30)
            assert await count(stack, Payment) == 1
            assert len(stack.gateway.bills) == 1 and len(stack.gateway.replies) == 1
            assert await count(stack, Payment, Payment.control_number.is_not(None)) == 1  # type: ignore[union-attr]
            assert await count(stack, SmsMessage) == 1 and len(stack.sms.messages) == 1
        finally:
            worker.terminate()
            await worker.wait()


async def test_worker_killed_inside_the_local_store_steps_leaves_one_of_each(
    make_stack: StackFactory, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Validation, valuation and the internal control number are local activities run inside one
    workflow task: the worker dies after both committed and before the task completed, so the next
    worker runs them again. They must find their own rows: one payment, one number, one SMS."""
    marker = tmp_path / "inside"
    async with make_stack(with_worker=False, cn_mode="internal", cn_wait_s=0.5, update_timeout_s=1) as stack:
        hanging = await start_worker(
            stack, dev_env, "-m", "tests.faults.hanging_worker", "assign_internal_control_number", str(marker)
        )
        request = asyncio.create_task(stack.post("/api/GetControlNumber", json=intent()))
        await wait_for(marker.exists, "the control number to be committed", within=30)
        hanging.send_signal(signal.SIGKILL)
        await hanging.wait()
        assert (await request).json()["error_occured"] is False
        async with stack.sessions() as s:
            [payment] = (await s.exec(select(Payment))).all()
        assert payment.control_number is not None and payment.status == 3  # committed before the kill

        worker = await start_worker(stack, dev_env)
        try:
            await wait_for(lambda: stack.sms_to("0681333045"), "the assigned SMS", within=60)
            handle = stack.temporal.get_workflow_handle(marker.read_text())
            state = await handle.query(PaymentIntentWorkflow.status)
            assert state.control_number == payment.control_number and state.payment_id == payment.id
            assert await count(stack, Payment) == 1 and await count(stack, SmsMessage) == 1
            assert len(stack.sms.messages) == 1
            assert (await check(stack.sessions, stack.temporal)).ok
        finally:
            worker.terminate()
            await worker.wait()
