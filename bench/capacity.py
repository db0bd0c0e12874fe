"""`python -m bench capacity`: what one flow A and one flow B cost, for docs/capacity.md.

Flow A: `POST /v1/payment-intents?wait=10` (self-payer renewal, internal control number), the
gateway simulator's `POST /payments` (GetPaymentData), until the intent's workflow has ended
matched. Flow B: `POST /v1/cases`, `POST /v1/cases/{id}/settlements` (the demo settlement), one
Events API read from the case's first event. Each tenant has one webhook endpoint at the receiver
simulator taking every event type, so every event of a flow is delivered once.

The flows run one after the other (N of each). Before and after each batch, once the stack is quiet:
rows and bytes per table of the store (bench.costs). The workflows a batch started are found by
visibility (`StartTime` after the batch began), so nothing the flow starts is missed, and their
histories are counted once every delivery has succeeded. Per flow = batch totals / N. The CPU each
process used over the batch is reported too; unlike the counts it moves with the machine's load.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.table import Table
from temporalio.client import WorkflowExecutionStatus

from bench import load
from bench.context import WORKFLOW_ID, Context
from bench.costs import history_cost, store_usage, usage_delta
from bench.report import console
from bench.stack import cpu_share

DONE_S = 60.0
RUNNING = WorkflowExecutionStatus.RUNNING
Flow = Callable[[httpx.AsyncClient, int], Awaitable[None]]


async def _endpoint(ctx: Context, tenant: str, name: str) -> list[str]:
    """One endpoint of `tenant` at the receiver's `/webhooks/<name>`; its signing secrets."""
    stack = ctx.stack
    url = f"{stack.url['receiver']}/webhooks/{name}"
    args = ["seed-events", "--db-url", stack.db_url, "--tenant", tenant, "--count", "0", "--url", url]
    seeded = await stack.sut_task(*args)
    return list(seeded["secrets"])


def flow_a(ctx: Context, auth: dict[str, str]) -> Flow:
    url = ctx.stack.url

    async def one(http: httpx.AsyncClient, _: int) -> None:
        r = await http.post(f"{url['api']}/v1/payment-intents?wait=10", json=load.SELF_PAYER, headers=auth)
        intent = r.json() if r.status_code == 201 else {}
        if not intent.get("control_number"):
            raise RuntimeError(f"intent answered {r.status_code}: {r.text[:200]}")
        pay = {
            "control_number": intent["control_number"],
            "amount": intent["amount_to_be_paid"],
            "payer_phone": "0681333045",
        }
        paid = await http.post(f"{url['gateway']}/payments", json=pay)
        if paid.status_code != 201:
            raise RuntimeError(f"payment answered {paid.status_code}: {paid.text[:200]}")
        handle = ctx.stack.temporal.get_workflow_handle(WORKFLOW_ID.format(intent["id"]))
        deadline = time.monotonic() + DONE_S
        while (await handle.describe()).status == RUNNING:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{handle.id} still running after {DONE_S:g} s")
            await asyncio.sleep(0.1)

    return one


def flow_b(ctx: Context, auth: dict[str, str], tenant: str) -> Flow:
    api = ctx.stack.url["api"]
    document = json.loads(Path(ctx.stack.info["demo_settlement"]).read_text())

    async def one(http: httpx.AsyncClient, n: int) -> None:
        r = await http.post(
            f"{api}/v1/cases", json={"number": f"CAP-{n}", "policy_number": "P-CAP"}, headers=auth
        )
        r.raise_for_status()
        case = r.json()
        s = await http.post(f"{api}/v1/cases/{case['id']}/settlements", json=document, headers=auth)
        s.raise_for_status()
        cursor = f"_{case['case_created_event_id'] - 1}"
        feed = f"{api}/api/events/v1/dk/external/{tenant}/receive?lastEventId={cursor}"
        (await http.get(feed, headers=auth)).raise_for_status()

    return one


DELIVERY = "WebhookDeliveryWorkflow"
ENDPOINT = "select id, tenant from webhookendpoint where url = :url"
EVENTS = "select type, count(*) from event where id > :since and tenant = :tenant group by type"
SUCCEEDED = (
    "select count(*) from delivery where endpoint_id = :ep and event_id > :since and status = 'succeeded'"
)


async def _delivered(ctx: Context, endpoint_url: str, since: int) -> tuple[int, dict[str, int]]:
    """Wait until every event after `since` has been delivered to the endpoint; the deliveries, and
    the events written by type."""
    endpoint, tenant = (await ctx.stack.rows(ENDPOINT, url=endpoint_url))[0]
    deadline = time.monotonic() + DONE_S
    while True:
        events = {t: int(n) for t, n in await ctx.stack.rows(EVENTS, since=since, tenant=tenant)}
        got = int(await ctx.stack.scalar(SUCCEEDED, ep=endpoint, since=since))
        if events and got >= sum(events.values()):
            return got, events
        if time.monotonic() > deadline:
            raise TimeoutError(f"{got} of {sum(events.values())} deliveries succeeded after {DONE_S:g} s")
        await asyncio.sleep(0.25)


async def _histories(ctx: Context, since: datetime) -> dict[str, list[dict[str, int]]]:
    """Cost of every workflow started since `since`, by workflow type."""
    client = ctx.stack.temporal
    query = f"StartTime >= '{since.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}'"
    found: dict[str, list[dict[str, int]]] = defaultdict(list)
    async for wf in client.list_workflows(query):
        events = (await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()).events
        found[wf.workflow_type].append(history_cost(list(events)))
    return dict(found)


def _per(total: Counter[str] | dict[str, int], n: int) -> dict[str, float]:
    return {k: round(v / n, 2) for k, v in sorted(total.items())}


async def measure(ctx: Context, name: str, flow: Flow, flows: int, endpoint_url: str) -> dict[str, Any]:
    """N flows one after the other; their costs per flow."""
    stack = ctx.stack
    await ctx.quiet()
    since_event = int(await stack.scalar("select coalesce(max(id), 0) from event") or 0)
    before = await store_usage(stack.db)
    since = datetime.now(UTC)
    cpu0, t0 = stack.cpu(), time.monotonic()
    async with load.client(30) as http:
        for n in range(flows):
            await flow(http, n)
    deliveries, events = await _delivered(ctx, endpoint_url, since_event)
    wall = time.monotonic() - t0
    cpu = cpu_share(cpu0, stack.cpu(), wall)
    await ctx.quiet()
    written = usage_delta(before, await store_usage(stack.db))
    by_type = await _histories(ctx, since)
    temporal: Counter[str] = Counter()
    for costs in by_type.values():
        for c in costs:
            temporal.update(c)
    return {
        "flows": flows,
        "wall_s": round(wall, 1),
        "workflows": {t: len(c) for t, c in by_type.items()},
        "per_workflow": {t: _per(sum(map(Counter, c), Counter()), len(c)) for t, c in by_type.items()},
        "temporal": _per(temporal, flows),
        "webhook_deliveries": round(deliveries / flows, 2),
        "events_written": _per(events, flows),
        "store": {t: _per(d, flows) for t, d in written.items()},
        "store_total": _per(sum(map(Counter, written.values()), Counter()), flows),
        "cpu_ms_per_flow": {k: round(v * wall * 10 / flows) for k, v in cpu.items()},
        "name": name,
    }


def table(results: dict[str, dict[str, Any]]) -> Table:
    t = Table(title="cost of one flow (mean of the batch)")
    t.add_column("")
    for name in results:
        t.add_column(name, justify="right")
    rows = [
        (
            "workflows started",
            lambda r: ", ".join(f"{k} {v / r['flows']:g}" for k, v in r["workflows"].items()),
        ),
        ("history events", lambda r: f"{r['temporal']['events']:g}"),
        ("history bytes", lambda r: f"{r['temporal']['history_bytes']:,.0f}"),
        ("billable actions", lambda r: f"{r['temporal']['actions']:g}"),
        ("actions per run, by workflow", lambda r: _by_workflow(r, "actions")),
        ("events per run, by workflow", lambda r: _by_workflow(r, "events")),
        ("workflow tasks", lambda r: f"{r['temporal']['workflow_tasks']:g}"),
        ("activities (attempts) + local", lambda r: _activities(r["temporal"])),
        ("webhook deliveries", lambda r: f"{r['webhook_deliveries']:g}"),
        ("payflow events written", lambda r: ", ".join(f"{k} {v:g}" for k, v in r["events_written"].items())),
        ("store rows written", lambda r: f"{r['store_total'].get('rows', 0):g}"),
        ("store bytes written", lambda r: f"{r['store_total'].get('bytes', 0):,.0f}"),
        ("CPU ms: worker / temporal / api", lambda r: _cpu(r["cpu_ms_per_flow"])),
    ]
    for label, cell in rows:
        t.add_row(label, *(cell(r) for r in results.values()))
    return t


def _by_workflow(r: dict[str, Any], key: str) -> str:
    return ", ".join(f"{t.removesuffix('Workflow')} {c.get(key, 0):g}" for t, c in r["per_workflow"].items())


def _activities(c: dict[str, float]) -> str:
    return f"{c['activities']:g} ({c['activity_attempts']:g}) + {c['local_activities']:g}"


def _cpu(c: dict[str, int]) -> str:
    return f"{c.get('worker', 0)} / {c.get('temporal', 0)} / {c.get('api', 0)}"


async def run(ctx: Context) -> None:
    await ctx.mode("internal")
    stack = ctx.stack
    flows = int(ctx.size(10, 4))
    claims = stack.clients["claims"]["tenant"]
    receiver = stack.url["receiver"]
    secrets = await _endpoint(ctx, stack.clients["eo"]["tenant"], "capacity-a")
    secrets += await _endpoint(ctx, claims, "capacity-b")
    async with httpx.AsyncClient(timeout=30) as http:
        await http.post(f"{receiver}/_sim/secrets", json=secrets)
    eo = {"Authorization": f"Bearer {await stack.token('eo')}"}
    cl = {"Authorization": f"Bearer {await stack.token('claims')}"}
    results = {
        "flow A": await measure(ctx, "A", flow_a(ctx, eo), flows, f"{receiver}/webhooks/capacity-a"),
        "flow B": await measure(ctx, "B", flow_b(ctx, cl, claims), flows, f"{receiver}/webhooks/capacity-b"),
    }
    ctx.report.data["capacity"] = results
    console.print(table(results))
    for label, r in results.items():
        c = r["temporal"]
        ctx.report.add(
            "CAPACITY",
            f"{label}: Temporal per flow",
            f"{c['events']:g} events, {c['actions']:g} actions, {c['workflow_tasks']:g} workflow tasks, "
            f"{_activities(c)} activities, {r['webhook_deliveries']:g} deliveries",
        )
        fan_out = r["per_workflow"].get(DELIVERY, {})
        runs, delivered = r["workflows"].get(DELIVERY, 0), r["webhook_deliveries"] * r["flows"]
        ctx.report.add(
            "P4b",
            f"{label}: Temporal per delivered event (delivery workflows)",
            f"{fan_out.get('events', 0) * runs / delivered:.2f} events, "
            f"{fan_out.get('actions', 0) * runs / delivered:.2f} actions "
            f"({runs} workflows for {delivered:g} deliveries)",
        )
        s = r["store_total"]
        ctx.report.add(
            "CAPACITY",
            f"{label}: store per flow",
            f"{s.get('rows', 0):g} rows, {s.get('bytes', 0):,.0f} bytes",
        )
