"""Flows/s of intent → control number through the payflow API vs a bare workflow of the same shape.

One Temporal dev server, one run:

A. the full stack (simulators, worker, API: `tests.stack.StackFactory`) on a temp SQLite store with
   the demo registry; N `POST /api/GetControlNumber` at the given concurrency, each must answer
   with a control number;
B. `BareIntentWorkflow` on the same server: as many no-op activities and updates as one real flow's
   history shows, started with update-with-start like the API, N flows driven straight through the
   Temporal client (no HTTP, no database) with its own worker and task queue.

Prints a table (flows/s of each, the ratio, latency percentiles, history events per flow) and
writes it as JSON to bench/results/flows-<timestamp>.json. Not part of the test run:

    .venv/bin/python -m bench.flows --flows 200 --concurrency 20 --cn-mode internal
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import temporalio
    from rich.console import Console
    from rich.table import Table
    from temporalio.api.enums.v1 import EventType
    from temporalio.api.history.v1 import HistoryEvent
    from temporalio.client import (
        Client,
        WithStartWorkflowOperation,
        WorkflowHandle,
        WorkflowUpdateStage,
    )
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from api.intent_service import workflow_id
    from payflow.temporal import DATA_CONVERTER
    from simulators.gateway import Behaviour
    from store.payments import PaymentStore
    from tests.api.helpers import intent
    from tests.stack import Stack, StackFactory, prepare_database
    from workflows import search_attributes

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).with_name("results")
NOTICE_ACTIVITY = "send_sms"
"""The real flow's last activity before it waits for payment (smsRequired is true)."""
HISTORY_TIMEOUT_S = 30.0
STEP = {"start_to_close_timeout": timedelta(seconds=30)}

# --- the bare baseline --------------------------------------------------------------------------


@dataclass
class BarePlan:
    """The real flow's shape: activities before the control number, callbacks (updates), notices."""

    before: int
    callbacks: int
    after: int
    callback_timeout_s: float = 3600.0
    hold_s: float = 30 * 24 * 3600.0
    """How long the flow stays open after its notice, like the real one waiting until bill expiry."""


@activity.defn
async def bare_step(label: str) -> str:
    """No-op stand-in for a valuing / control-number / store activity."""
    return f"bare-{label}"


@activity.defn
async def bare_notify(label: str) -> str:
    """No-op stand-in for the SMS notice."""
    return label


@workflow.defn
class BareIntentWorkflow:
    """The payment-intent flow with the business removed: same activities, updates and waits."""

    @workflow.init
    def __init__(self, plan: BarePlan) -> None:
        self._plan = plan
        self._control_number: str | None = None
        self._ready = False
        self._callbacks = 0

    @workflow.run
    async def run(self, plan: BarePlan) -> str | None:
        result = None
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
            await workflow.wait_condition(lambda: False, timeout=timedelta(seconds=plan.hold_s))
        except TimeoutError:
            pass
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


# --- measurement --------------------------------------------------------------------------------


@dataclass
class Shape:
    """Sampled histories, each taken once the control number is out and the notice sent."""

    activities: list[str]
    updates: list[str]
    events: list[int]
    """History length of each sampled flow (workflow-task batching varies a little between flows)."""
    event_types: dict[str, float] = field(default_factory=dict)
    """Mean count of each event type per sampled flow."""

    @property
    def mean_events(self) -> float:
        return statistics.fmean(self.events)

    def events_text(self) -> str:
        low, high = min(self.events), max(self.events)
        spread = f" ({low}–{high})" if low != high else ""
        return f"{self.mean_events:.1f}{spread}"


@dataclass
class Run:
    flows: int
    failures: int
    wall_s: float
    latencies_s: list[float]

    @property
    def flows_per_s(self) -> float:
        return (self.flows - self.failures) / self.wall_s if self.wall_s else 0.0

    def percentiles(self) -> dict[str, float]:
        data = sorted(self.latencies_s)
        if not data:
            return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
        cuts = statistics.quantiles(data, n=100, method="inclusive") if len(data) > 1 else data * 99
        return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}

    def summary(self) -> dict[str, Any]:
        return {
            "flows": self.flows,
            "failures": self.failures,
            "wall_s": round(self.wall_s, 3),
            "flows_per_s": round(self.flows_per_s, 2),
            "latency_s": {k: round(v, 4) for k, v in self.percentiles().items()},
        }


async def drive(flows: int, concurrency: int, one: Callable[[int], Awaitable[bool]]) -> Run:
    """Run `one(i)` for i < flows, `concurrency` at a time; `one` answers whether it got a number."""
    latencies: list[float] = []
    failures = 0
    queue = iter(range(flows))

    async def lane() -> None:
        nonlocal failures
        for i in queue:
            t0 = time.perf_counter()
            try:
                ok = await one(i)
            except Exception as err:
                print(f"flow {i} failed: {type(err).__name__}: {err}", file=sys.stderr)
                ok = False
            latencies.append(time.perf_counter() - t0)
            failures += not ok

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(min(concurrency, flows))))
    return Run(flows, failures, time.perf_counter() - start, latencies)


def _name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


async def quiet_history(handle: WorkflowHandle[Any, Any], last_activity: str) -> list[HistoryEvent]:
    """The history once `last_activity` completed and the workflow is idle (bounded poll)."""
    deadline = time.monotonic() + HISTORY_TIMEOUT_S
    busy = {EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED}
    while True:
        events = list((await handle.fetch_history()).events)
        scheduled = {
            e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
            for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        }
        completed = {
            e.activity_task_completed_event_attributes.scheduled_event_id
            for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        }
        done = last_activity in {scheduled[i] for i in completed}
        if done and completed == set(scheduled) and events[-1].event_type not in busy:
            return events
        if time.monotonic() > deadline:
            raise TimeoutError(f"{handle.id}: {last_activity} not completed within {HISTORY_TIMEOUT_S}s")
        await asyncio.sleep(0.1)


async def shape_of(handles: Sequence[WorkflowHandle[Any, Any]], last_activity: str) -> Shape:
    """Activities and updates of the first sampled flow; history length and event mix of all."""
    histories = [await quiet_history(h, last_activity) for h in handles]
    shapes = []
    for events in histories:
        activities = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
        updates = [
            e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ]
        shapes.append((activities, updates))
    if any(s != shapes[0] for s in shapes):
        print(f"sampled flows differ in shape: {shapes}", file=sys.stderr)
    mix = Counter[str]()
    for events in histories:
        mix.update(map(_name, events))
    return Shape(
        activities=shapes[0][0],
        updates=shapes[0][1],
        events=[len(events) for events in histories],
        event_types={name: round(n / len(histories), 2) for name, n in mix.items()},
    )


def sample(ids: Sequence[str], count: int) -> list[str]:
    """Up to `count` (at least one) ids spread evenly over the measured flows."""
    count = max(1, count)
    if len(ids) <= count:
        return list(ids)
    return [ids[round(k * (len(ids) - 1) / (count - 1))] for k in range(count)] if count > 1 else [ids[0]]


def plan_of(shape: Shape) -> BarePlan:
    """The bare plan with the real flow's activity and update counts."""
    after = shape.activities.count(NOTICE_ACTIVITY)
    callbacks = len(shape.updates) - 1
    before = len(shape.activities) - after - callbacks
    if before < 1 or callbacks < 0:
        raise RuntimeError(f"unexpected flow shape: {shape}")
    return BarePlan(before=before, callbacks=callbacks, after=after)


# --- A: the payflow API -------------------------------------------------------------------------


async def api_flow(stack: Stack, paid: list[int]) -> bool:
    """One GetControlNumber; true (and its payment id kept) when it answered with a control number."""
    r = await stack.post("/api/GetControlNumber", json=intent())
    body = r.json() if r.status_code == 200 else {}
    if body.get("error_occured") is not False or not body.get("control_number"):
        print(f"GetControlNumber answered {r.status_code}: {r.text[:200]}", file=sys.stderr)
        return False
    paid.append(int(body["internal_identifier"]))
    return True


async def measure_api(factory: StackFactory, args: argparse.Namespace) -> tuple[Run, Shape]:
    async with factory(cn_mode=args.cn_mode, cn_wait_s=args.cn_wait_s) as stack:
        stack.gateway.behaviour = Behaviour(delay_ms=args.gateway_delay_ms)
        warm: list[int] = []
        await drive(args.warmup, args.concurrency, lambda _: api_flow(stack, warm))
        if not warm:
            raise RuntimeError("no warm-up GetControlNumber answered with a control number")
        measured: list[int] = []
        run = await drive(args.flows, args.concurrency, lambda _: api_flow(stack, measured))
        payments = PaymentStore(stack.sessions)
        handles = []
        for payment_id in sample(measured, args.history_samples):
            payment = await payments.by_id(payment_id)
            assert payment is not None
            handles.append(stack.temporal.get_workflow_handle(workflow_id(payment.intent_id)))
        shape = await shape_of(handles, NOTICE_ACTIVITY)
        await _notices_sent(stack, len(warm) + len(measured))
    return run, shape


async def _notices_sent(stack: Stack, expected: int) -> None:
    """Let the last SMS activities finish before the worker stops (bounded)."""
    deadline = time.monotonic() + HISTORY_TIMEOUT_S
    while len(stack.sms.messages) < expected:
        if time.monotonic() > deadline:
            print(f"only {len(stack.sms.messages)} of {expected} SMS sent", file=sys.stderr)
            return
        await asyncio.sleep(0.1)


# --- B: the bare workflow -----------------------------------------------------------------------


async def bare_flow(
    client: Client, plan: BarePlan, task_queue: str, wait_s: float, flow_id: str
) -> str | None:
    """One bare flow, started like the API starts one; callbacks sent as the gateway would."""
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


async def measure_bare(client: Client, plan: BarePlan, args: argparse.Namespace) -> tuple[Run, Shape]:
    task_queue = f"bench-bare-{uuid.uuid4()}"
    prefix = f"bare-intent-{uuid.uuid4().hex[:8]}"
    wait_s = args.cn_wait_s

    async def one(flow_id: str) -> bool:
        call = bare_flow(client, plan, task_queue, wait_s, flow_id)
        return bool(await asyncio.wait_for(call, wait_s + 30))

    async with Worker(
        client, task_queue=task_queue, workflows=[BareIntentWorkflow], activities=[bare_step, bare_notify]
    ):
        warm = await drive(args.warmup, args.concurrency, lambda i: one(f"{prefix}-warmup-{i}"))
        if warm.failures == warm.flows:
            raise RuntimeError("no warm-up bare flow returned a control number")
        run = await drive(args.flows, args.concurrency, lambda i: one(f"{prefix}-{i}"))
        ids = [f"{prefix}-{i}" for i in range(args.flows)]
        handles = [client.get_workflow_handle(i) for i in sample(ids, args.history_samples)]
        shape = await shape_of(handles, bare_notify.__name__)
    return run, shape


# --- report -------------------------------------------------------------------------------------


def report(args: argparse.Namespace, api: tuple[Run, Shape], bare: tuple[Run, Shape]) -> dict[str, Any]:
    (a, a_shape), (b, b_shape) = api, bare
    ratio = b.flows_per_s / a.flows_per_s if a.flows_per_s else float("inf")
    table = Table(title=f"intent → control number, cn-mode {args.cn_mode}: payflow API vs bare workflow")
    table.add_column("metric")
    table.add_column("payflow API", justify="right")
    table.add_column("bare workflow", justify="right")
    table.add_column("bare / payflow", justify="right")
    ap, bp = a.percentiles(), b.percentiles()
    table.add_row("flows", str(a.flows), str(b.flows), "")
    table.add_row("concurrency", str(args.concurrency), str(args.concurrency), "")
    table.add_row("failures", str(a.failures), str(b.failures), "")
    table.add_row("wall time (s)", f"{a.wall_s:.2f}", f"{b.wall_s:.2f}", "")
    table.add_row("flows/s", f"{a.flows_per_s:.1f}", f"{b.flows_per_s:.1f}", f"[bold]{ratio:.2f}×[/bold]")
    for p in ("p50", "p95", "p99"):
        table.add_row(f"latency {p} (ms)", f"{ap[p] * 1000:.0f}", f"{bp[p] * 1000:.0f}", "")
    table.add_row(
        "activities / updates",
        f"{len(a_shape.activities)} / {len(a_shape.updates)}",
        f"{len(b_shape.activities)} / {len(b_shape.updates)}",
        "",
    )
    table.add_row(
        f"events per flow (n={len(a_shape.events)})",
        a_shape.events_text(),
        b_shape.events_text(),
        f"{b_shape.mean_events / a_shape.mean_events:.2f}×",
    )
    console = Console()
    console.print(table)
    console.print(
        f"shape: {', '.join(a_shape.activities)} | updates: {', '.join(a_shape.updates)}",
        highlight=False,
        soft_wrap=True,
    )
    more, fewer = _event_diff(a_shape, b_shape), _event_diff(b_shape, a_shape)
    console.print(
        f"payflow-only events: {more or '-'} | bare-only events: {fewer or '-'}",
        highlight=False,
        soft_wrap=True,
    )
    return {
        "benchmark": "flows",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": vars(args),
        "ratio_bare_over_payflow": round(ratio, 3),
        "payflow": a.summary() | {"history": asdict(a_shape)},
        "bare": b.summary() | {"history": asdict(b_shape)},
        "environment": {
            "python": platform.python_version(),
            "temporalio": temporalio.__version__,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }


def _event_diff(a: Shape, b: Shape) -> str:
    """Event types `a` has more of per flow than `b` (means over the samples), as `type ×n`."""
    extra = {k: v - b.event_types.get(k, 0.0) for k, v in a.event_types.items()}
    return ", ".join(f"{k.lower()} ×{v:g}" for k, v in sorted(extra.items()) if v > 0.05)


def write(result: dict[str, Any], results: Path) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"flows-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


async def bench(args: argparse.Namespace) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=search_attributes.ALL,
        data_converter=DATA_CONVERTER,
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableExecuteMultiOperation=true"],
    )
    try:
        with tempfile.TemporaryDirectory(prefix="payflow-bench-") as tmp:
            db_url = await prepare_database(f"sqlite+aiosqlite:///{Path(tmp) / 'payflow.db'}")
            api = await measure_api(StackFactory(env.client, db_url), args)
            bare = await measure_bare(env.client, plan_of(api[1]), args)
        result = report(args, api, bare)
        print(f"results: {write(result, args.results)}")
    finally:
        await env.shutdown()


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.flows", description=__doc__.splitlines()[0])
    p.add_argument("--flows", type=int, default=200, help="measured flows per side")
    p.add_argument("--concurrency", type=int, default=20, help="flows in flight at once")
    p.add_argument("--cn-mode", choices=["internal", "gateway"], default="internal")
    p.add_argument("--warmup", type=int, default=5, help="unmeasured flows per side before measuring")
    p.add_argument("--cn-wait-s", type=float, default=30.0, help="GetControlNumber's synchronous wait")
    p.add_argument(
        "--gateway-delay-ms", type=int, default=0, help="gateway simulator's callback delay (gateway mode)"
    )
    p.add_argument("--history-samples", type=int, default=5, help="measured flows whose history is read")
    p.add_argument("--results", type=Path, default=RESULTS, help="where the JSON result goes")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    code = 0
    try:
        asyncio.run(bench(parse(argv)))
    except KeyboardInterrupt:
        code = 130
    except Exception:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the Temporal native runtime can crash at interpreter finalisation (sdk-python #300)


if __name__ == "__main__":
    # Run the importable module, not __main__, so the workflow sandbox can re-import BareIntentWorkflow.
    from bench.flows import main as bench_main

    bench_main()
