"""P6: N intents waiting for payment: the workers' memory, and P2 at 10 req/s while they wait,
beside P2's 10 req/s run of this stack when fewer flows waited ("idle").

The intents are created through `POST /v1/payment-intents?wait=0` (the workflow started, no wait for
the number), a few in flight at a time, and counted as waiting once their payment is at status 3.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import load
from bench.context import Context
from bench.history import drive
from bench.p2 import line
from bench.report import ms

RATE = 10
RSS_GOAL_MB = 500
P99_GOAL = 1.5
ASSIGNED = 3
CREATE_CONCURRENCY = 8


async def _waiting(ctx: Context) -> int:
    return int(await ctx.stack.scalar("select count(*) from payment where status = :s", s=ASSIGNED))


async def run(ctx: Context) -> None:
    await ctx.mode("internal")
    stack = ctx.stack
    count, seconds = ctx.args.p6_intents or int(ctx.size(10_000, 1_000)), ctx.size(20, 4)
    idle = ctx.shared.get("p2.internal", {}).get(RATE)
    async with load.client(ctx.timeout_s) as http:
        if idle is None:
            await ctx.settle()
            idle = (await ctx.measure(await ctx.control_numbers(http), RATE, seconds))[0]
        auth = {"Authorization": f"Bearer {await stack.token('eo')}"}
        url = f"{stack.url['api']}/v1/payment-intents?wait=0"

        async def create(_: int) -> bool:
            r = await http.post(url, json=load.SELF_PAYER, headers=auth)
            return r.status_code == 201

        before = await _waiting(ctx)
        t0 = time.monotonic()
        created = await drive(count, CREATE_CONCURRENCY, create)
        target = before + created.flows - created.failures
        deadline = time.monotonic() + 120 + count / 5
        while (waiting := await _waiting(ctx)) < target and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(2)  # the flows run in the workers: poll their records
        fill_s = time.monotonic() - t0
        memory = [w.memory_mb() for w in stack.workers]
        await ctx.settle()
        loaded = (await ctx.measure(await ctx.control_numbers(http), RATE, seconds))[0]
    rss = sum(m["rss_mb"] for m in memory)
    ratio = loaded["p99_ms"] / idle["p99_ms"]
    data: dict[str, Any] = {
        "intents": count,
        "created_ok": created.flows - created.failures,
        "waiting": waiting - before,
        "fill_s": round(fill_s, 1),
        "worker_memory_mb": memory,
        "idle": idle,
        "loaded": loaded,
        "p99_ratio": round(ratio, 2),
    }
    ctx.report.data["p6"] = data
    bench = f"P6 {count:,} intents waiting"
    ctx.report.add(bench, "waiting (status 3) / time to create", f"{waiting - before:,} in {fill_s:.0f} s")
    ctx.report.add(
        bench,
        "worker RSS (peak)",
        f"{rss:.0f} MB ({sum(m['peak_rss_mb'] for m in memory):.0f} MB)",
        f"≤ {RSS_GOAL_MB} MB",
        rss <= RSS_GOAL_MB,
    )
    ctx.report.add(bench, f"P2 {RATE} req/s while they wait", line(loaded))
    ctx.report.add(
        bench,
        "p99 while waiting vs idle",
        f"{ms(loaded['p99_ms'])} vs {ms(idle['p99_ms'])} = {ratio:.2f}×",
        f"≤ {P99_GOAL}×",
        ratio <= P99_GOAL,
    )
