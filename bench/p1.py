"""P1: flow A end to end (intent → control number → paid → matched), payflow vs a bare workflow of
the same shape, closed loop (N flows in flight).

payflow: `POST /v1/payment-intents?wait=10` (a self-payer renewal, internal control number), the
gateway simulator's `POST /payments` (it reports the payment to the API, GetPaymentData), then the
intent's workflow result (it ends once matched). Bare: `BareIntentWorkflow` with the activity,
local-activity and update counts of one payflow flow's history, driven through the Temporal
client: update-with-start, the `pay` update, the result.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
from temporalio.client import Client

from bench import load
from bench.bare import BareIntentWorkflow, BarePlan, bare_flow
from bench.context import WORKFLOW_ID, Context, counts_text
from bench.history import bare_plan, drive, flow_counts
from bench.report import ms

PAYMENT_UPDATE = "record_payment"
GOAL_RATIO = 0.7
FLOW_TIMEOUT_S = 60.0
MATCHED = 5


class PayflowFlow:
    def __init__(self, ctx: Context, http: httpx.AsyncClient, token: str) -> None:
        self._ctx = ctx
        self._http = http
        self._auth = {"Authorization": f"Bearer {token}"}
        self.intents: list[str] = []

    async def __call__(self, _: int) -> bool:
        url = self._ctx.stack.url
        r = await self._http.post(
            f"{url['api']}/v1/payment-intents?wait=10", json=load.SELF_PAYER, headers=self._auth
        )
        intent = r.json() if r.status_code == 201 else {}
        if not intent.get("control_number"):
            print(f"  intent answered {r.status_code}: {r.text[:200]}", flush=True)
            return False
        pay = {
            "control_number": intent["control_number"],
            "amount": intent["amount_to_be_paid"],
            "payer_phone": "0681333045",
        }
        paid = await self._http.post(f"{url['gateway']}/payments", json=pay)
        if paid.status_code != 201:
            print(f"  payment answered {paid.status_code}: {paid.text[:200]}", flush=True)
            return False
        handle = self._ctx.stack.temporal.get_workflow_handle(WORKFLOW_ID.format(intent["id"]))
        result = await asyncio.wait_for(handle.result(), FLOW_TIMEOUT_S)
        self.intents.append(intent["id"])
        return isinstance(result, dict) and result.get("status") == MATCHED


async def bare_one(client: Client, plan: BarePlan, queue: str, flow_id: str) -> bool:
    await bare_flow(client, plan, queue, 10, flow_id)
    handle = client.get_workflow_handle(flow_id)
    await handle.execute_update(BareIntentWorkflow.pay, "receipt")
    return bool(await asyncio.wait_for(handle.result(), FLOW_TIMEOUT_S))


async def run(ctx: Context) -> None:
    await ctx.mode("internal")
    flows, concurrency = int(ctx.size(100, 20)), int(ctx.size(10, 5))
    stack = ctx.stack
    async with load.client(FLOW_TIMEOUT_S) as http:
        flow = PayflowFlow(ctx, http, await stack.token("eo"))
        warm = await drive(2, 1, flow)
        if warm.failures:
            raise RuntimeError("a warm-up flow A did not end matched")
        events = list(
            (
                await stack.temporal.get_workflow_handle(WORKFLOW_ID.format(flow.intents[0])).fetch_history()
            ).events
        )
        plan = bare_plan(events, PAYMENT_UPDATE)
        mine = await drive(flows, concurrency, flow)
    queue = await ctx.bare_queue()
    prefix = f"bare-flow-a-{uuid.uuid4().hex[:8]}"
    await drive(2, 1, lambda i: bare_one(stack.temporal, plan, queue, f"{prefix}-warm-{i}"))
    bare = await drive(flows, concurrency, lambda i: bare_one(stack.temporal, plan, queue, f"{prefix}-{i}"))
    bare_events = list((await stack.temporal.get_workflow_handle(f"{prefix}-0").fetch_history()).events)
    ratio = mine.flows_per_s / bare.flows_per_s if bare.flows_per_s else float("nan")
    mp, bp = mine.percentiles(), bare.percentiles()
    ctx.report.data["p1"] = {
        "flows": flows,
        "concurrency": concurrency,
        "plan": plan.__dict__,
        "payflow": mine.summary() | {"history": flow_counts(events)},
        "bare": bare.summary() | {"history": flow_counts(bare_events)},
        "ratio": round(ratio, 2),
    }
    ctx.report.add(
        "P1 flow A end to end",
        f"flows/s at concurrency {concurrency} vs bare",
        f"{mine.flows_per_s:.1f} vs {bare.flows_per_s:.1f} = {ratio:.2f}× "
        f"({mine.failures} of {flows} failed)",
        f"≥ {GOAL_RATIO}×",
        ratio >= GOAL_RATIO and not mine.failures,
    )
    ctx.report.add(
        "P1 flow A end to end",
        "latency p50 / p99 (payflow; bare)",
        f"{ms(mp['p50'] * 1000)} / {ms(mp['p99'] * 1000)}; {ms(bp['p50'] * 1000)} / {ms(bp['p99'] * 1000)}",
    )
    ctx.report.add("P1 flow A end to end", "history of one flow (payflow)", counts_text(flow_counts(events)))
    ctx.report.add(
        "P1 flow A end to end", "history of one flow (bare)", counts_text(flow_counts(bare_events))
    )
