"""Issue 19, item 11: the Temporal server killed (SIGKILL) while flows are being paid.

Self-payer flows in gateway mode on a Temporal dev server of the test's own; each bill is paid at the
gateway simulator as soon as it has its number, and the simulator notifies payflow (retrying 5xx).
The server is killed at the worst moment, made deterministic: right after one payment's receipt was
committed to the store, before its workflow task reached the server, so the server loses the update
while the store holds the payment. It comes back on its SQLite file once that notification has been
answered 503. Every flow must end matched, no notification of a valid payment refused, and `payflow
check` clean: each workflow converges with what the store holds.

`PAYFLOW_CRASH_FLOWS=200` runs it larger; `PAYFLOW_CRASH_DB_URL` (an empty PostgreSQL database, say
postgresql+asyncpg://postgres@127.0.0.1:5432/payflow_crash) runs it on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select
from temporalio import activity
from temporalio.worker import ExecuteActivityInput

from payflow.check import check
from store.models import Payment, PaymentNotification
from tests.api.helpers import intent
from tests.faults.inject import ActivityHook
from tests.faults.outages.helpers import SELF_PAYER, eventually
from tests.faults.outages.peers import TemporalServer
from tests.stack import Stack, StackFactory, prepare_database

FLOWS = int(os.environ.get("PAYFLOW_CRASH_FLOWS", "10"))
ARRIVALS_PER_S = 5
KILL_AT = max(1, FLOWS // 3)
"""The receipt after whose commit the server dies: a third of the way into the payments."""


class KillAfterReceipt(ActivityHook):
    """SIGKILLs the server once the `at`-th `record_receipt` has committed, before it reports."""

    def __init__(self, server: TemporalServer, at: int) -> None:
        self.server, self.at, self.seen = server, at, 0
        self.killed = asyncio.Event()

    async def around(self, input: ExecuteActivityInput, call: Callable[[], Awaitable[Any]]) -> Any:
        result = await call()
        if activity.info().activity_type == "record_receipt":
            self.seen += 1
            if self.seen == self.at:
                await self.server.stop()
                self.killed.set()
        return result


async def _open_intent(stack: Stack) -> str:
    """GetControlNumber, asked again while Temporal is down (503), as a client would: the payment's id,
    or the intent's id when its workflow started but had not answered yet."""
    for _ in range(600):
        try:
            r = await stack.post("/api/GetControlNumber", json=intent(**SELF_PAYER))
        except httpx.TransportError:  # a connection the loaded API dropped: asked again
            await asyncio.sleep(0.5)
            continue
        if r.status_code == 200 and not r.json()["error_occured"]:
            return str(r.json()["internal_identifier"])
        assert r.status_code == 503, r.text
        await asyncio.sleep(0.5)
    raise AssertionError("GetControlNumber never answered")


async def _find(stack: Stack, identifier: str) -> Payment | None:
    found = Payment.id == int(identifier) if identifier.isdigit() else Payment.intent_id == identifier
    async with stack.sessions() as s:
        return (await s.exec(select(Payment).where(found))).first()


async def _pay_when_numbered(stack: Stack, identifier: str) -> str:
    """The payer pays the bill at the gateway as soon as it has its number."""

    async def numbered() -> bool:
        payment = await _find(stack, identifier)
        return payment is not None and payment.control_number is not None

    await eventually(numbered, f"payment {identifier}'s control number", within=120 + FLOWS)
    payment = await _find(stack, identifier)
    assert payment is not None
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{stack.settings.gateway_url}/payments", json={"control_number": payment.control_number}
        )
    assert r.status_code == 201, r.text
    return str(payment.control_number)


async def _flow(stack: Stack, paid: list[str]) -> None:
    number = await _pay_when_numbered(stack, await _open_intent(stack))
    paid.append(number)


async def _all_matched(stack: Stack, paid: list[str]) -> bool:
    async with stack.sessions() as s:
        statuses = (await s.exec(select(Payment.status).where(col(Payment.control_number).in_(paid)))).all()
    return len(statuses) == FLOWS and all(status == 5 for status in statuses)


async def _unanswered(stack: Stack) -> bool:
    async with stack.sessions() as s:
        q = select(PaymentNotification.id).where(col(PaymentNotification.outcome) == "unavailable")
        return (await s.exec(q)).first() is not None


async def test_flows_converge_with_the_store_after_a_server_crash(
    temporal: TemporalServer, db_url: str, signing_key: Path
) -> None:
    database = os.environ.get("PAYFLOW_CRASH_DB_URL")
    url = await prepare_database(database) if database else db_url
    factory = StackFactory(await temporal.client(), url, signing_key)
    kill = KillAfterReceipt(temporal, KILL_AT)
    async with factory(cn_mode="gateway", interceptors=[kill], update_timeout_s=5) as stack:
        paid: list[str] = []
        flows = []
        for _ in range(FLOWS):  # arrivals at a fixed rate, as payers come
            flows.append(asyncio.create_task(_flow(stack, paid)))
            await asyncio.sleep(1 / ARRIVALS_PER_S)
            if kill.killed.is_set():
                break
        await asyncio.wait_for(kill.killed.wait(), 120)
        await eventually(lambda: _unanswered(stack), "a notification answered 503 while the server is down")
        await temporal.start()
        while len(flows) < FLOWS:
            flows.append(asyncio.create_task(_flow(stack, paid)))
            await asyncio.sleep(1 / ARRIVALS_PER_S)
        await asyncio.gather(*flows)
        await eventually(
            lambda: _all_matched(stack, paid), "every paid flow matched in the store", within=180
        )
        refused = [n for n in stack.gateway.notifications if n["status"] != 200]
        async with stack.sessions() as s:
            rejected = (
                await s.exec(
                    select(PaymentNotification).where(col(PaymentNotification.outcome) == "rejected")
                )
            ).all()
        report = await check(stack.sessions, stack.temporal)
    assert refused == [] and list(rejected) == [], (refused, rejected)
    assert report.ok, [str(v) for v in report.violations]
