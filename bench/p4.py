"""P4: webhook deliveries per second, N events to one endpoint, beside a bare one-activity workflow
posting the same bytes to the same receiver.

payflow: N events go into a tenant's log with one endpoint at the receiver, then the outbox relay
(`EventRelay.relay`, as a writing activity runs it, here from a helper process) dispatches them: it
makes each first attempt itself (up to 10 at a time per endpoint) and starts a
`WebhookDeliveryWorkflow` only for one that failed, or one workflow per event with `--set
PAYFLOW_WEBHOOK_FIRST_ATTEMPT_BY_RELAY=false`;
the clock runs from the relay's start to the receiver's last accepted delivery. Bare: the
receiver's copies of those requests (body and signed headers) are posted again by
`BareDeliveryWorkflow` (bench.bare) on the bare worker process, started 20 at a time; the clock runs
from the first start to the last accepted post.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from bench.bare import BareDeliveryWorkflow, BarePost
from bench.context import Context

TENANT = "bench-p4"
GOAL_RATIO = 0.8
START_CONCURRENCY = 20
"""Bare deliveries are started this many at a time: the floor is what Temporal and one worker deliver,
not how fast one client starts workflows one by one."""


async def _stats(http: httpx.AsyncClient, receiver: str, name: str) -> dict[str, Any]:
    stats = (await http.get(f"{receiver}/_bench/stats")).json()
    return dict(stats.get(name, {"count": 0, "first": None, "last": None}))


async def _delivered(
    http: httpx.AsyncClient, receiver: str, name: str, count: int, within_s: float
) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        stats = await _stats(http, receiver, name)
        if stats["count"] >= count or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.25)


async def run(ctx: Context) -> None:
    stack = ctx.stack
    count = ctx.args.p4_events or int(ctx.size(1000, 200))
    receiver = stack.url["receiver"]
    within_s = 60 + count / 2
    async with httpx.AsyncClient(timeout=30) as http:
        seeded = await stack.sut_task(
            "seed-events",
            "--db-url",
            stack.db_url,
            "--tenant",
            TENANT,
            "--count",
            str(count),
            "--url",
            f"{receiver}/webhooks/payflow",
        )
        await http.post(f"{receiver}/_sim/secrets", json=seeded["secrets"])
        relayed = await stack.sut_task("relay", "--tenant", TENANT, env=stack.env())
        mine = await _delivered(http, receiver, "payflow", count, within_s)
        payflow_s = mine["last"] - relayed["t0"] if mine["count"] >= count else float("nan")

        received = (await http.get(f"{receiver}/_sim/received")).json()["received"]
        firsts = {
            r["webhook_id"]: r for r in received if r["endpoint"] == "payflow" and 200 <= r["answered"] < 300
        }
        posts = [
            BarePost(
                url=f"{receiver}/webhooks/bare",
                body=r["body"],
                headers={"content-type": "application/json", "user-agent": "payflow-webhooks/1"}
                | {
                    "webhook-id": r["webhook_id"],
                    "webhook-timestamp": str(r["timestamp"]),
                    "webhook-signature": r["signature"],
                },
            )
            for r in firsts.values()
        ]
        queue = await ctx.bare_queue()
        run_id = uuid.uuid4().hex[:8]
        starts = iter(enumerate(posts))

        async def starter() -> None:
            for n, post in starts:
                await stack.temporal.start_workflow(
                    BareDeliveryWorkflow.run, post, id=f"bare-delivery-{run_id}-{n}", task_queue=queue
                )

        t0 = time.time()
        await asyncio.gather(*(starter() for _ in range(START_CONCURRENCY)))
        started_s = time.time() - t0
        bare = await _delivered(http, receiver, "bare", len(posts), within_s)
        bare_s = bare["last"] - t0 if bare["count"] >= len(posts) else float("nan")
    mine_rate, bare_rate = count / payflow_s, len(posts) / bare_s
    ratio = mine_rate / bare_rate
    ctx.report.data["p4"] = {
        "events": count,
        "payflow": {
            "delivered": mine["count"],
            "seconds": round(payflow_s, 2),
            "per_s": round(mine_rate, 1),
            "relay_s": round(relayed["t1"] - relayed["t0"], 2),
            "workflows_started": relayed["started"],
        },
        "bare": {
            "delivered": bare["count"],
            "seconds": round(bare_s, 2),
            "per_s": round(bare_rate, 1),
            "start_s": round(started_s, 2),
        },
        "ratio": round(ratio, 2),
    }
    ctx.report.add(
        "P4 webhooks",
        f"{count} events, one endpoint: deliveries/s vs bare",
        f"{mine_rate:.1f} vs {bare_rate:.1f} /s = {ratio:.2f}× (relay {relayed['t1'] - relayed['t0']:.1f} s)",
        f"≥ {GOAL_RATIO}×",
        ratio >= GOAL_RATIO,
    )
