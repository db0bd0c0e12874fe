"""The bare baselines: payflow's workflow shapes with the business taken out (no store, no API).

`BareIntentWorkflow` has as many no-op activities and updates as a real payment intent's history
shows (read by `bench.history`), `BareDeliveryWorkflow` is one activity posting given bytes. Both run
in their own worker, in this process (`bench.flows`) or in a separate one like `payflow worker`:

    python -m bench.bare --address 127.0.0.1:7233 --task-queue bench-bare
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import httpx
    from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateStage
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
    from temporalio.worker import Worker

STEP = {"start_to_close_timeout": timedelta(seconds=30)}
LOCAL_STEP = {"start_to_close_timeout": timedelta(seconds=10)}


@dataclass
class BarePlan:
    """The real flow's shape: activities before the control number, callbacks (updates), notices,
    and (when the flow is paid) the activities after the payment update."""

    before: int
    callbacks: int
    after: int
    callback_timeout_s: float = 3600.0
    hold_s: float = 30 * 24 * 3600.0
    """How long the flow stays open after its notice, like the real one waiting until bill expiry."""
    local: int = 0
    """Local activities before the control number (run before the regular ones)."""
    payment: int = 0
    """Regular activities of the payment (SMS, …); the flow is paid only when it has payment steps."""
    payment_local: int = 0
    """Local activities of the payment (receipt, match), run before its regular ones."""

    @property
    def payment_steps(self) -> list[bool]:
        """The payment's steps in order, True for a local activity."""
        return [True] * self.payment_local + [False] * self.payment


@dataclass
class BarePost:
    """One webhook delivery's request, as payflow sent it."""

    url: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@activity.defn
async def bare_step(label: str) -> str:
    """No-op stand-in for a valuing / control-number / store activity."""
    return f"bare-{label}"


@activity.defn
async def bare_notify(label: str) -> str:
    """No-op stand-in for the SMS notice."""
    return label


_http: httpx.AsyncClient | None = None


@activity.defn
async def bare_post(post: BarePost) -> int:
    """POST the bytes; the receiver's status (a 2xx ends the delivery)."""
    global _http
    if _http is None:
        _http = httpx.AsyncClient(timeout=15)
    response = await _http.post(post.url, content=post.body.encode(), headers=post.headers)
    return response.status_code


@workflow.defn
class BareIntentWorkflow:
    """The payment-intent flow with the business removed: same activities, updates and waits."""

    @workflow.init
    def __init__(self, plan: BarePlan) -> None:
        self._plan = plan
        self._control_number: str | None = None
        self._ready = False
        self._callbacks = 0
        self._paid = False

    @workflow.run
    async def run(self, plan: BarePlan) -> str | None:
        result = None
        for n in range(plan.local):
            result = await workflow.execute_local_activity(bare_step, f"local-{n}", **LOCAL_STEP)
        for n in range(plan.before):
            result = await workflow.execute_activity(bare_step, f"step-{n}", **STEP)
        if plan.callbacks:
            self._ready = True
            try:
                await workflow.wait_condition(
                    lambda: self._control_number is not None,
                    timeout=timedelta(seconds=plan.callback_timeout_s),
                )
            except TimeoutError:
                pass
        else:
            self._control_number = result
        for n in range(plan.after):
            await workflow.execute_activity(bare_notify, f"notice-{n}", **STEP)
        try:
            await workflow.wait_condition(lambda: self._paid, timeout=timedelta(seconds=plan.hold_s))
        except TimeoutError:
            pass
        for n, local in enumerate(plan.payment_steps[1:] if self._paid else []):
            await _step(f"payment-{n + 1}", local)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._control_number

    @workflow.update
    async def await_control_number(self, wait_seconds: float) -> str | None:
        """Answer once the control number is known, or after `wait_seconds` (as the API's update)."""
        try:
            await workflow.wait_condition(
                lambda: self._control_number is not None, timeout=timedelta(seconds=wait_seconds)
            )
        except TimeoutError:
            pass
        return self._control_number

    @workflow.update
    async def callback(self, label: str) -> str:
        """The gateway's callback: one activity once the bill is out; the last one settles the number."""
        await workflow.wait_condition(lambda: self._ready)
        control_number = await workflow.execute_activity(bare_step, label, **STEP)
        self._callbacks += 1
        if self._callbacks == self._plan.callbacks:
            self._control_number = control_number
        return control_number

    @workflow.update
    async def pay(self, label: str) -> str:
        """The gateway's payment report: the receipt activity, then the flow runs the rest and ends."""
        await workflow.wait_condition(lambda: self._control_number is not None)
        receipt = await _step(label, self._plan.payment_steps[0])
        self._paid = True
        return receipt


async def _step(label: str, local: bool) -> str:
    if local:
        return await workflow.execute_local_activity(bare_step, label, **LOCAL_STEP)
    return await workflow.execute_activity(bare_step, label, **STEP)


@workflow.defn
class BareDeliveryWorkflow:
    """A webhook delivery with the business removed: one activity posting the same bytes."""

    @workflow.run
    async def run(self, post: BarePost) -> int:
        return await workflow.execute_activity(bare_post, post, **STEP)


async def bare_flow(
    client: Client, plan: BarePlan, task_queue: str, wait_s: float, flow_id: str
) -> str | None:
    """One bare flow up to its control number, started like the API starts one (update-with-start);
    callbacks sent as the gateway would."""
    operation = WithStartWorkflowOperation(
        BareIntentWorkflow.run,
        plan,
        id=flow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    if not plan.callbacks:
        return await client.execute_update_with_start_workflow(
            BareIntentWorkflow.await_control_number, wait_s, start_workflow_operation=operation
        )
    update = await client.start_update_with_start_workflow(
        BareIntentWorkflow.await_control_number,
        wait_s,
        start_workflow_operation=operation,
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    handle = await operation.workflow_handle()
    for n in range(plan.callbacks):
        await handle.execute_update(BareIntentWorkflow.callback, f"cn-{n}")
    return await update.result()


WORKFLOWS = [BareIntentWorkflow, BareDeliveryWorkflow]
ACTIVITIES = [bare_step, bare_notify, bare_post]


def bare_worker(client: Client, task_queue: str) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES)


async def _serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with bare_worker(client, task_queue):
        print(f"bare worker polling {task_queue!r}", flush=True)
        await stop.wait()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__.splitlines()[0])
    p.add_argument("--address", required=True)
    p.add_argument("--task-queue", required=True)
    args = p.parse_args()
    asyncio.run(_serve(args.address, args.task_queue))
    sys.stdout.flush()
    os._exit(0)  # the Temporal native runtime can crash at interpreter finalisation (sdk-python #300)


if __name__ == "__main__":
    # Run the importable module, not __main__, so the workflow sandbox can re-import the workflows.
    from bench.bare import main as bare_main

    bare_main()
