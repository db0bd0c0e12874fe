"""Workflow histories and closed-loop runs, shared by the benchmarks: flow shapes, event counts,
workflow tasks per flow, and a driver that keeps N flows in flight."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle

from bench.bare import BarePlan

HISTORY_TIMEOUT_S = 30.0


@dataclass
class Shape:
    """Sampled histories, each taken once the control number is out and the notice sent."""

    activities: list[str]
    updates: list[str]
    events: list[int]
    """History length of each sampled flow (workflow-task batching varies a little between flows)."""
    event_types: dict[str, float] = field(default_factory=dict)
    """Mean count of each event type per sampled flow."""
    local_activities: int = 0
    """Local activities of the first sampled flow (recorded as markers, not activity events)."""

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
    local = local_activity_count(histories[0]) if histories else 0
    mix = Counter[str]()
    for events in histories:
        mix.update(map(_name, events))
    return Shape(
        activities=shapes[0][0],
        updates=shapes[0][1],
        events=[len(events) for events in histories],
        event_types={name: round(n / len(histories), 2) for name, n in mix.items()},
        local_activities=local,
    )


def sample(ids: Sequence[str], count: int) -> list[str]:
    """Up to `count` (at least one) ids spread evenly over the measured flows."""
    count = max(1, count)
    if len(ids) <= count:
        return list(ids)
    return [ids[round(k * (len(ids) - 1) / (count - 1))] for k in range(count)] if count > 1 else [ids[0]]


LOCAL_ACTIVITY_MARKER = "core_local_activity"
PATCH_MARKER = "core_patch"


def _markers(events: Sequence[HistoryEvent], name: str) -> int:
    return sum(
        1
        for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == name
    )


def local_activity_count(events: Sequence[HistoryEvent]) -> int:
    return _markers(events, LOCAL_ACTIVITY_MARKER)


def split_at_update(
    events: Sequence[HistoryEvent], update: str
) -> tuple[list[HistoryEvent], list[HistoryEvent]]:
    """The history before the update named `update` was accepted, and from there on."""
    for i, e in enumerate(events):
        if (
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
            and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == update
        ):
            return list(events[:i]), list(events[i:])
    return list(events), []


def flow_counts(events: Sequence[HistoryEvent]) -> dict[str, int]:
    """What one flow cost Temporal: events, workflow tasks, activities (regular and local), updates,
    and how many workflow tasks completed before the first update was answered (the API's answer)."""
    names = [_name(e) for e in events]
    answered = next((i for i, n in enumerate(names) if n == "WORKFLOW_EXECUTION_UPDATE_COMPLETED"), None)
    return {
        "events": len(events),
        "workflow_tasks": names.count("WORKFLOW_TASK_COMPLETED"),
        "activities": names.count("ACTIVITY_TASK_SCHEDULED"),
        "local_activities": local_activity_count(events),
        "patch_markers": _markers(events, PATCH_MARKER),
        "updates": names.count("WORKFLOW_EXECUTION_UPDATE_ACCEPTED"),
        "search_attribute_upserts": names.count("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"),
        "tasks_before_answer": names[:answered].count("WORKFLOW_TASK_COMPLETED") if answered else -1,
        "events_before_answer": answered + 1 if answered is not None else -1,
    }


def mean_counts(histories: Sequence[Sequence[HistoryEvent]]) -> dict[str, float]:
    """`flow_counts` averaged over sampled flows."""
    counts = [flow_counts(h) for h in histories]
    return {k: round(statistics.fmean(c[k] for c in counts), 2) for k in counts[0]} if counts else {}


def bare_plan(events: Sequence[HistoryEvent], payment_update: str = "", notice: str = "send_sms") -> BarePlan:
    """The bare plan with one payflow flow's counts: activities (regular and local) before the control
    number, callbacks (updates after the first), notices, and the steps after `payment_update`."""
    before, after = split_at_update(events, payment_update) if payment_update else (list(events), [])
    b, a = flow_counts(before), flow_counts(after) if after else None
    notices = sum(
        1
        for e in before
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == notice
    )
    callbacks = b["updates"] - 1
    return BarePlan(
        before=b["activities"] - notices - callbacks,
        callbacks=callbacks,
        after=notices,
        local=b["local_activities"],
        payment=a["activities"] if a else 0,
        payment_local=a["local_activities"] if a else 0,
    )


def phases(events: Sequence[HistoryEvent], clock: tuple[float, float] | None = None) -> dict[str, float]:
    """Where the time to the API's answer went, in ms, from the history's timestamps: workflow tasks
    and activity tasks waiting to be picked up (scheduled → started) and running (started →
    completed), up to the first update's completion (or the whole history when there is none).
    With the client's wall-clock send and answer times, also `before_start` (client → the workflow
    started: HTTP, the API, the start call) and `after_answer` (update completed → client)."""
    answered = next(
        (e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED), None
    )
    end = answered.event_time.ToMilliseconds() if answered else events[-1].event_time.ToMilliseconds()
    at = {e.event_id: e.event_time.ToMilliseconds() for e in events}
    spent = Counter[str]()
    for e in events:
        t = e.event_time.ToMilliseconds()
        if t > end:
            break
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            spent["workflow_task_wait"] += t - at[e.workflow_task_started_event_attributes.scheduled_event_id]
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            spent["workflow_task_run"] += t - at[e.workflow_task_completed_event_attributes.started_event_id]
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            a = e.activity_task_completed_event_attributes
            spent["activity_wait"] += at[a.started_event_id] - at[a.scheduled_event_id]
            spent["activity_run"] += t - at[a.started_event_id]
    total = end - events[0].event_time.ToMilliseconds()
    found = {"to_answer": total, **spent, "other": total - sum(spent.values())}
    if clock is not None:
        sent, received = clock
        found["before_start"] = events[0].event_time.ToMilliseconds() - sent * 1000
        found["after_answer"] = received * 1000 - end
        found["client"] = (received - sent) * 1000
    return found


def mean_phases(
    histories: Sequence[Sequence[HistoryEvent]], clocks: Sequence[tuple[float, float] | None] = ()
) -> dict[str, float]:
    clocks = list(clocks) or [None] * len(histories)
    found = [phases(h, c) for h, c in zip(histories, clocks, strict=True) if h]
    keys = sorted({k for p in found for k in p}, key=lambda k: (k not in ("client", "to_answer"), k))
    return {k: round(statistics.fmean(p.get(k, 0) for p in found), 1) for k in keys} if found else {}
