"""What every benchmark of one run shares: the stack, the report, the run's size, earlier results."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.history.v1 import HistoryEvent

from bench import load
from bench.history import quiet_history
from bench.report import Report
from bench.stack import Stack, cpu_share

BENCH_ROOT = Path(__file__).parents[1]
BARE_QUEUE = "bench-bare"
WORKFLOW_ID = "payment-intent-{}"
"""payflow's workflow id of an intent (domain.payment_flow.payment_workflow_id)."""
ACTIVITY_FAILED = "Completing activity as failed"
"""What the Temporal SDK logs when an activity attempt fails."""


@dataclass
class Context:
    stack: Stack
    report: Report
    args: argparse.Namespace
    shared: dict[str, Any] = field(default_factory=dict)
    """Figures one benchmark measured that another compares against (P2's 10 req/s, say)."""
    _bare_started: bool = False

    @property
    def quick(self) -> bool:
        return bool(self.args.quick)

    def size(self, full: float, quick: float) -> float:
        return quick if self.quick else full

    @property
    def timeout_s(self) -> float:
        """Client timeout of a GetControlNumber: above the API's own wait + update timeout (5 + 20 s)."""
        return 10.0 if self.quick else 30.0

    async def mode(self, cn_mode: str) -> None:
        if self.stack.options.cn_mode != cn_mode:
            print(f"· restarting the API and workers with cn-mode {cn_mode}", flush=True)
            await self.stack.restart_app(cn_mode=cn_mode)

    async def control_numbers(self, http: httpx.AsyncClient) -> load.ControlNumbers:
        return load.ControlNumbers(http, self.stack.url["api"], await self.stack.token("eo"))

    async def settle(self, max_s: float | None = None) -> float:
        """Wait until a lone GetControlNumber answers within a second again (the previous load has
        drained); seconds waited."""
        max_s = max_s if max_s is not None else self.size(90, 30)
        started = time.monotonic()
        async with load.client(self.timeout_s) as http:
            probe = await self.control_numbers(http)
            while time.monotonic() - started < max_s:
                t0 = time.monotonic()
                answer = await _safe(probe)
                if answer.ok and time.monotonic() - t0 < 1.0:
                    break
                await asyncio.sleep(0.5)
            else:
                print(f"  (stack still slow after {max_s:g} s; measuring anyway)", flush=True)
        await self.quiet(max(0.0, max_s - (time.monotonic() - started)))
        return round(time.monotonic() - started, 1)

    async def measure(
        self, call: load.Call, rate: float, seconds: float
    ) -> tuple[dict[str, Any], list[load.Outcome]]:
        """One open-loop run: its summary with the CPU each process used (% of a core, ms per request)."""
        cpu0, t0 = self.stack.cpu(), time.monotonic()
        outcomes = await load.open_loop(call, rate, seconds)
        wall = time.monotonic() - t0
        cpu = cpu_share(cpu0, self.stack.cpu(), wall)
        per_request = {k: round(v * wall * 10 / len(outcomes)) for k, v in cpu.items()} if outcomes else {}
        summary = load.summary(outcomes, seconds) | {"cpu_percent": cpu, "cpu_ms_per_request": per_request}
        return summary, outcomes

    async def quiet(self, max_s: float = 30.0) -> None:
        """Wait until the workers and Temporal have caught up: under 10 % of a core each over a second."""
        deadline = time.monotonic() + max_s
        busy = ("worker", "bare-worker", "temporal")
        while time.monotonic() < deadline:
            before = self.stack.cpu()
            await asyncio.sleep(1)
            after = self.stack.cpu()
            if all(after.get(k, 0) - before.get(k, 0) < 0.1 for k in busy):
                return

    async def bare_queue(self) -> str:
        """The bare baselines' worker, a process of its own like `payflow worker`; its task queue."""
        if not self._bare_started:
            proc = self.stack.spawn(
                "bare-worker",
                [
                    sys.executable,
                    "-m",
                    "bench.bare",
                    "--address",
                    self.stack.temporal_address,
                    "--task-queue",
                    BARE_QUEUE,
                ],
                {"PYTHONPATH": str(BENCH_ROOT)},
            )
            await self.stack.wait_log(proc, "bare worker polling")
            self._bare_started = True
        return BARE_QUEUE

    async def histories(
        self, identifiers: list[str], last_activity: str = "send_sms"
    ) -> dict[str, list[HistoryEvent]]:
        """Histories of a few flows by GetControlNumber's internal_identifier (a payment id, or the
        intent id when no record existed yet), read once `last_activity` is done and they are idle."""
        found = {}
        for identifier in identifiers:
            intent_id = identifier
            if identifier.isdigit():
                sql = "select intent_id from payment where id = :id"
                intent_id = await self.stack.scalar(sql, id=int(identifier))
            handle = self.stack.temporal.get_workflow_handle(WORKFLOW_ID.format(intent_id))
            try:
                found[identifier] = await quiet_history(handle, last_activity)
            except TimeoutError as err:
                print(f"  ({err})", flush=True)
        return found

    def activity_failures(self) -> int:
        return sum(w.log_count(ACTIVITY_FAILED) for w in self.stack.workers)


def counts_text(counts: dict[str, float]) -> str:
    if not counts:
        return "–"
    return (
        f"{counts['events']:g} events, {counts['workflow_tasks']:g} workflow tasks "
        f"({counts['tasks_before_answer']:g} before the answer), {counts['activities']:g} activities "
        f"+ {counts['local_activities']:g} local, {counts['search_attribute_upserts']:g} SA upserts"
    )


async def _safe(call: load.Call) -> load.Answer:
    try:
        return await call()
    except httpx.HTTPError:
        return load.Answer(0, False)
