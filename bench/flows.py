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
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import temporalio
from rich.console import Console
from rich.table import Table
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench import run_and_exit
from bench.bare import BarePlan, bare_flow, bare_worker
from bench.history import HISTORY_TIMEOUT_S, Run, Shape, drive, sample, shape_of
from domain.payment_flow import payment_workflow_id
from simulators.gateway import Behaviour
from store.payments import PaymentStore
from tests.api.helpers import intent
from tests.keys import CONVERTER
from tests.stack import Stack, StackFactory, prepare_database
from workflows import search_attributes

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).with_name("results")
NOTICE_ACTIVITY = "send_sms"
"""The real flow's last activity before it waits for payment (smsRequired is true)."""


# --- the bare baseline (bench.bare) -------------------------------------------------------------


def plan_of(shape: Shape) -> BarePlan:
    """The bare plan with the real flow's activity and update counts."""
    after = shape.activities.count(NOTICE_ACTIVITY)
    callbacks = len(shape.updates) - 1
    before = len(shape.activities) - after - callbacks
    if before < 0 or before + shape.local_activities < 1 or callbacks < 0:
        raise RuntimeError(f"unexpected flow shape: {shape}")
    return BarePlan(before=before, callbacks=callbacks, after=after, local=shape.local_activities)


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
            handles.append(stack.temporal.get_workflow_handle(payment_workflow_id(payment.intent_id)))
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


async def measure_bare(client: Client, plan: BarePlan, args: argparse.Namespace) -> tuple[Run, Shape]:
    task_queue = f"bench-bare-{uuid.uuid4()}"
    prefix = f"bare-intent-{uuid.uuid4().hex[:8]}"
    wait_s = args.cn_wait_s

    async def one(flow_id: str) -> bool:
        call = bare_flow(client, plan, task_queue, wait_s, flow_id)
        return bool(await asyncio.wait_for(call, wait_s + 30))

    async with bare_worker(client, task_queue):
        warm = await drive(args.warmup, args.concurrency, lambda i: one(f"{prefix}-warmup-{i}"))
        if warm.failures == warm.flows:
            raise RuntimeError("no warm-up bare flow returned a control number")
        run = await drive(args.flows, args.concurrency, lambda i: one(f"{prefix}-{i}"))
        ids = [f"{prefix}-{i}" for i in range(args.flows)]
        handles = [client.get_workflow_handle(i) for i in sample(ids, args.history_samples)]
        shape = await shape_of(handles, "bare_notify")
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
        "activities (+local) / updates",
        f"{len(a_shape.activities)} (+{a_shape.local_activities}) / {len(a_shape.updates)}",
        f"{len(b_shape.activities)} (+{b_shape.local_activities}) / {len(b_shape.updates)}",
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
        data_converter=CONVERTER,
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableExecuteMultiOperation=true"],
    )
    try:
        with tempfile.TemporaryDirectory(prefix="payflow-bench-") as tmp:
            db_url = await prepare_database(f"sqlite+aiosqlite:///{Path(tmp) / 'payflow.db'}")
            api = await measure_api(StackFactory(env.client, db_url, Path(tmp) / "jwt-signing-key.pem"), args)
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
    run_and_exit(bench(parse(argv)))


if __name__ == "__main__":
    main()
