"""P2: GetControlNumber at fixed arrival rates (open loop), and the overload point.

Each rate runs for a fixed time after the previous load drained; a rate whose p99 passes 2 s or that
fails requests ends the sweep (higher rates only pile up more). The sustained rate is the highest
with every request answered with a control number and p99 ≤ 300 ms. Overload: 2× that rate (2× the
lowest when none held), then a 2 req/s probe for 10 s from the moment the load stops sending.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bench import load
from bench.bare import BarePlan, bare_flow
from bench.context import Context, counts_text
from bench.history import bare_plan, mean_counts, mean_phases, sample
from bench.report import ms
from bench.stack import cpu_share

RATES = (2, 5, 10, 20, 40)
SUSTAINED_P99_MS = 300
COLLAPSED_P99_MS = 2000
ANSWER_WITHIN_S = 2.0
AFTER_S = 10
HISTORY_SAMPLES = 5


async def run(ctx: Context, mode: str = "internal") -> None:
    """The bare floor first (its shape from a warm-up flow's history), then payflow, rate by rate."""
    await ctx.mode(mode)
    seconds = ctx.size(20, 4)
    results: dict[int, dict[str, Any]] = {}
    async with load.client(ctx.timeout_s) as http:
        cn = await ctx.control_numbers(http)
        for _ in range(3):
            await cn()
        warm = list((await ctx.histories(cn.identifiers)).values())
        plan = bare_plan(warm[0]) if warm else None
        floor = await _floor(ctx, plan, seconds) if plan else {}
        cn.identifiers.clear()
        sampled: dict[int, list[str]] = {}
        for rate in RATES:
            waited = await ctx.settle()
            first = len(cn.identifiers)
            s, _ = await ctx.measure(cn, rate, seconds)
            s["settle_s"] = waited
            results[rate] = s
            print(f"  {mode} {rate:>2} req/s: {line(s)}; CPU % {s['cpu_percent']}", flush=True)
            sampled[rate] = sample(cn.identifiers[first:], HISTORY_SAMPLES)
            if s["failed"] or s["p99_ms"] > COLLAPSED_P99_MS:
                break
    sustained = max((r for r, s in results.items() if _held(s)), default=None)
    by_rate = {rate: await ctx.histories(ids) for rate, ids in sampled.items()}
    for rate, found in by_rate.items():
        clocks = [cn.clock[i] for i in found]
        results[rate]["history_phases_ms"] = mean_phases(list(found.values()), clocks)
    counts = mean_counts(list(by_rate[RATES[0]].values()) or warm)
    ctx.shared[f"p2.{mode}"] = results
    ctx.report.data[f"p2_{mode}"] = {
        "seconds_per_rate": seconds,
        "rates": results,
        "per_flow": counts,
        "floor": floor,
        "floor_plan": plan.__dict__ if plan else None,
    }
    _figures(ctx, mode, results, sustained, counts)
    if mode == "internal":
        await overload(ctx, sustained)


class _BareCall:
    """One bare flow up to its control number, as the API starts one (update-with-start)."""

    def __init__(self, ctx: Context, plan: BarePlan, queue: str) -> None:
        self._ctx, self._plan, self._queue = ctx, plan, queue
        self._prefix = f"bare-p2-{uuid.uuid4().hex[:8]}"
        self._n = 0

    async def __call__(self) -> load.Answer:
        self._n += 1
        flow_id = f"{self._prefix}-{self._n}"
        try:
            call = bare_flow(self._ctx.stack.temporal, self._plan, self._queue, 5, flow_id)
            number = await asyncio.wait_for(call, self._ctx.timeout_s)
        except Exception:  # timeout or RPC error: no answer, as a failed HTTP call
            return load.Answer(0, False)
        return load.Answer(200, number is not None)


async def _floor(ctx: Context, plan: BarePlan, seconds: float) -> dict[int, dict[str, Any]]:
    """The Temporal floor: the bare workflow of the same shape, same server, same open loop."""
    call = _BareCall(ctx, plan, await ctx.bare_queue())
    for _ in range(3):
        await call()
    results: dict[int, dict[str, Any]] = {}
    for rate in RATES:
        await ctx.quiet()
        results[rate] = s = (await ctx.measure(call, rate, seconds))[0]
        ctx.report.add(f"P2 floor ({ctx.stack.options.cn_mode})", f"bare workflow {rate} req/s", line(s))
        if s["failed"] or s["p99_ms"] > COLLAPSED_P99_MS:
            break
    held = max((r for r, s in results.items() if _held(s)), default=None)
    ctx.report.add(
        f"P2 floor ({ctx.stack.options.cn_mode})",
        "bare: highest rate with p99 ≤ 300 ms",
        f"{held} req/s" if held else "none of the rates",
    )
    return results


def _held(s: dict[str, Any]) -> bool:
    return s["requests"] > 0 and s["ok"] == s["requests"] and s["p99_ms"] <= SUSTAINED_P99_MS


def phases_text(p: dict[str, float]) -> str:
    return (
        f"client {p.get('client', 0):,.0f} ms = before the start {p.get('before_start', 0):,.0f} + in the "
        f"workflow {p['to_answer']:,.0f} (workflow tasks wait {p.get('workflow_task_wait', 0):,.0f} + run "
        f"{p.get('workflow_task_run', 0):,.0f}, activities wait {p.get('activity_wait', 0):,.0f} + run "
        f"{p.get('activity_run', 0):,.0f}, between {p.get('other', 0):,.0f}) + after the answer "
        f"{p.get('after_answer', 0):,.0f}"
    )


def line(s: dict[str, Any]) -> str:
    return (
        f"p50 {ms(s['p50_ms'])}, p95 {ms(s['p95_ms'])}, p99 {ms(s['p99_ms'])}, "
        f"{s['failed']} of {s['requests']} failed"
        + (f", {s['shed_503']} shed (503)" if s["shed_503"] else "")
        + (
            f" (others used {others} % of a core)"
            if (others := s.get("cpu_percent", {}).get("others", 0)) >= 25
            else ""
        )
    )


def _figures(
    ctx: Context,
    mode: str,
    results: dict[int, dict[str, Any]],
    sustained: int | None,
    counts: dict[str, float],
) -> None:
    bench = f"P2 {mode}"
    for rate in RATES:
        s = results.get(rate)
        if s is None:
            ctx.report.add(bench, f"{rate} req/s", "not run: a lower rate collapsed")
            continue
        goal, met = "", None
        if rate == 10:
            goal, met = (
                "p50 ≤ 40 ms, p99 ≤ 150 ms",
                s["p50_ms"] <= 40 and s["p99_ms"] <= 150 and not s["failed"],
            )
        ctx.report.add(bench, f"{rate} req/s", line(s), goal, met)
    ctx.report.add(
        bench,
        "highest rate with p99 ≤ 300 ms",
        f"{sustained} req/s" if sustained else "none of the rates",
        "≥ 20 req/s",
        bool(sustained and sustained >= 20),
    )
    ctx.report.add(bench, "history of one flow (to the SMS)", counts_text(counts))
    for rate in (RATES[0], max(results)):
        found = results[rate].get("history_phases_ms")
        if found:
            ctx.report.add(bench, f"time to the answer in history, {rate} req/s", phases_text(found))


async def overload(ctx: Context, sustained: int | None) -> None:
    """2× the sustained rate: answered within 2 s (success or 503 + Retry-After), then how soon a
    lone client gets normal latency again, activity failures, payments left without a number."""
    rate = 2 * (sustained or RATES[0])
    seconds = ctx.size(60, 10)
    await ctx.settle()
    failures_before = ctx.activity_failures()
    async with load.client(ctx.timeout_s) as http, load.client(ctx.timeout_s) as probe_http:
        cn, probe = await ctx.control_numbers(http), await ctx.control_numbers(probe_http)
        cpu0, t0 = ctx.stack.cpu(), time.monotonic()
        loaded = asyncio.create_task(load.open_loop(cn, rate, seconds))
        await asyncio.sleep(seconds)  # the load's last request leaves about now
        cpu = cpu_share(cpu0, ctx.stack.cpu(), time.monotonic() - t0)
        after = await load.open_loop(probe, 2, AFTER_S)
        outcomes = await loaded
    within = sum(o.latency_s <= ANSWER_WITHIN_S and (o.answer.ok or o.shed) for o in outcomes)
    recovered = _recovered_after(after)
    half_made = await _without_number(ctx)
    failures = ctx.activity_failures() - failures_before
    data = {
        "rate": rate,
        "seconds": seconds,
        "cpu_percent": cpu,
        "load": load.summary(outcomes, seconds),
        "answered_within_2s": within,
        "after": load.summary(after, AFTER_S),
        "after_latencies_ms": [round(o.latency_s * 1000) for o in after],
        "recovered_after_s": recovered,
        "activity_failures": failures,
        "payments_without_control_number": half_made,
    }
    ctx.report.data["p2_overload"] = data
    s = data["load"]
    bench = f"P2 overload {rate} req/s × {seconds:g} s"
    ctx.report.add(
        bench,
        "answered within 2 s (200 or 503 + Retry-After)",
        f"{within} of {s['requests']} ({s['shed_503']} × 503; p99 {ms(s['p99_ms'])})",
        "all",
        within == s["requests"],
    )
    ctx.report.add(bench, "activity failures (worker log)", str(failures), "0", failures == 0)
    ctx.report.add(bench, "payments left without a control number", str(half_made), "0", half_made == 0)
    ctx.report.add(
        bench,
        "normal latency (≤ 300 ms) again after the load",
        f"after {recovered:g} s" if recovered is not None else f"not within {AFTER_S} s",
        f"≤ {AFTER_S} s",
        recovered is not None,
    )
    ctx.report.add(bench, "2 req/s probe in the 10 s after", line(data["after"]))


def _recovered_after(after: list[load.Outcome]) -> float | None:
    """Send time of the first probe from which every probe answered normally; None if the last did not."""
    slow = [o.at_s for o in after if not (o.answer.ok and o.latency_s * 1000 <= SUSTAINED_P99_MS)]
    if not slow:
        return 0.0
    later = [o.at_s for o in after if o.at_s > max(slow)]
    return round(later[0], 1) if later else None


async def _without_number(ctx: Context) -> int:
    """Payments still at created / posted (no control number) once the stack has quiesced."""
    sql = "select count(*) from payment where status in (1, 2)"
    deadline = time.monotonic() + ctx.size(60, 20)
    seen: list[int] = []
    while time.monotonic() < deadline:
        seen.append(int(await ctx.stack.scalar(sql)))
        if seen[-1] == 0 or seen[-3:] == [seen[-1]] * 3:
            break
        await asyncio.sleep(1)
    return seen[-1]
