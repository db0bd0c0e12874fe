"""Issue 19, item 11 on the production layout: the Temporal server SIGKILLed for 15 s mid-payments.

bench.stack's layout, each its own process group: a Temporal dev server on a database file, the gateway
and SMS simulators under uvicorn, `payflow api` and two `payflow worker`, a throw-away PostgreSQL
database. Self-payer flows arrive at 5/s in gateway mode; each bill is paid at the gateway simulator as
soon as it has its number, and the simulator notifies payflow (retrying 5xx). Once the store holds a
third of the payments the server is killed, kept down 15 s, and started again on the same file and
port. Every paid flow must end matched in the store and in its workflow's `status` query, no
notification of a valid payment refused, and `payflow check` (the CLI, against this stack) clean.

Opt-in, it takes minutes and sleeps 15 s by design: `PAYFLOW_CRASH_PRODUCTION=1 pytest -s
tests/faults/outages/test_server_crash_production.py` (PAYFLOW_CRASH_FLOWS sets the size, default 200).
It prints a one-line summary; the processes' logs stay in the test's tmp_path/logs.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from bench.stack import Stack, StackOptions, Sut
from tests.api.helpers import intent
from tests.faults.outages.helpers import SELF_PAYER
from workflows.payment_intent import PaymentIntentWorkflow

pytestmark = pytest.mark.skipif(
    not os.environ.get("PAYFLOW_CRASH_PRODUCTION"),
    reason="opt-in (minutes, 15 s of real downtime): set PAYFLOW_CRASH_PRODUCTION=1",
)

FLOWS = int(os.environ.get("PAYFLOW_CRASH_FLOWS", "200"))
ARRIVALS_PER_S = 5
DOWN_S = 15
KILL_AT = max(1, FLOWS // 3)
"""Accepted payment notifications in the store when the server dies: a third of the flows."""
PAYFLOW = Path(sys.executable).with_name("payflow")
MATCHED = 5
SETTLE_S = 300


class Payers:
    """The payers: each asks for a control number, waits for it, pays it at the gateway simulator
    (a fresh connection per payment: a POST /payments on a keep-alive connection the simulator
    closed meanwhile fails, and cannot be sent again without maybe paying twice)."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient, gateway: httpx.AsyncClient, token: str) -> None:
        self.stack, self.http, self.gateway = stack, http, gateway
        self.headers = {"Authorization": f"Bearer {token}"}
        self.paid: list[str] = []
        self.unnumbered: list[str] = []
        """Intents (payment or intent id) that got no control number in SETTLE_S."""
        self.unavailable = 0
        """GetControlNumber answers 503 (or dropped) the payers asked again after."""

    async def pay_one(self) -> None:
        identifier = await self._open_intent()
        try:
            number = await self._number(identifier)
        except AssertionError:
            self.unnumbered.append(identifier)
            return
        r = await self.gateway.post(f"{self.stack.url['gateway']}/payments", json={"control_number": number})
        assert r.status_code == 201, r.text
        self.paid.append(number)

    async def _open_intent(self) -> str:
        """GetControlNumber, asked again after a 503 (after its Retry-After) as a client would: the
        payment's id, or the intent's when its workflow started but had not answered in the API's wait."""
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            try:
                r = await self.http.post(
                    f"{self.stack.url['api']}/api/GetControlNumber",
                    json=intent(**SELF_PAYER),
                    headers=self.headers,
                )
            except httpx.TransportError:
                r = None
            if r is not None and r.status_code == 200 and not r.json()["error_occured"]:
                return str(r.json()["internal_identifier"])
            assert r is None or r.status_code == 503, r.text
            self.unavailable += 1
            await asyncio.sleep(min(float((r.headers if r else {}).get("retry-after", 1)), 5))
        raise AssertionError("GetControlNumber never answered")

    async def _number(self, identifier: str) -> str:
        column = "id" if identifier.isdigit() else "intent_id"
        value: Any = int(identifier) if identifier.isdigit() else identifier
        sql = f"select control_number from payment where {column} = :v"
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            if number := await self.stack.scalar(sql, v=value):
                return str(number)
            await asyncio.sleep(0.5)
        raise AssertionError(f"payment {identifier} got no control number in {SETTLE_S} s")


async def _accepted(stack: Stack) -> int:
    return int(await stack.scalar("select count(*) from paymentnotification where outcome = 'accepted'"))


async def _crash(stack: Stack) -> float:
    """SIGKILL the Temporal server, keep it down DOWN_S, start it on the same file and port; seconds
    until a fresh client connects again."""
    stack.procs["temporal"].kill()
    await asyncio.sleep(DOWN_S)
    t0 = time.monotonic()
    proc = stack.spawn("temporal", stack.temporal_command())
    while True:
        assert proc.alive(), f"temporal did not come back; see {proc.log}"
        try:
            await Client.connect(stack.temporal_address)
            return time.monotonic() - t0
        except RuntimeError:
            assert time.monotonic() - t0 < 60, f"temporal not serving 60 s after restart; see {proc.log}"
            await asyncio.sleep(0.2)


async def _matched(stack: Stack, paid: list[str]) -> dict[str, str]:
    """The paid control numbers whose payment is matched in the store, with their intent ids."""
    sql = "select control_number, intent_id from payment where status = :s"
    found = dict(await stack.rows(sql, s=MATCHED))
    return {cn: found[cn] for cn in paid if cn in found}


async def _workflows_matched(stack: Stack, intents: list[str]) -> list[str]:
    """Intents whose workflow's `status` query does not answer MATCHED."""
    wrong = []
    for intent_id in intents:
        handle = stack.temporal.get_workflow_handle(f"payment-intent-{intent_id}")
        state = await handle.query(PaymentIntentWorkflow.status)
        if state.status is None or int(state.status) != MATCHED:
            wrong.append(f"{intent_id}: {state.status}")
    return wrong


async def _diagnose(stack: Stack, identifiers: list[str], sim: dict[str, Any]) -> list[str]:
    """What the store, the workflow and the gateway simulator say of intents that got no number."""
    lines = [f"callback {c}" for c in sim["callbacks"] if c["status"] != 200]
    lines += [f"notification {n}" for n in sim["notifications"] if n["status"] != 200]
    for identifier in identifiers:
        column = "id" if identifier.isdigit() else "intent_id"
        value: Any = int(identifier) if identifier.isdigit() else identifier
        sql = f"select id, intent_id, status, control_number from payment where {column} = :v"
        rows = await stack.rows(sql, v=value)
        lines.append(f"payment {identifier}: {rows}")
        intent_id = rows[0][1] if rows else identifier
        handle = stack.temporal.get_workflow_handle(f"payment-intent-{intent_id}")
        try:
            state = await handle.query(PaymentIntentWorkflow.status, rpc_timeout=timedelta(seconds=10))
            events = [e.event_type for e in (await handle.fetch_history()).events]
            lines.append(f"  workflow {state.status} {state.reason}; last events {events[-12:]}")
        except Exception as err:  # a diagnosis: whatever went wrong is part of it
            lines.append(f"  workflow: {err!r}")
    return lines


def _payflow_check(stack: Stack) -> tuple[int, dict[str, Any]]:
    """`payflow check --json` run as an operator would, with the stack's settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PAYFLOW_")}
    out = subprocess.run(
        [str(PAYFLOW), "check", "--json"],
        env=base | stack.env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        return out.returncode, json.loads(out.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"payflow check answered {out.returncode}: {out.stdout}{out.stderr}") from None


async def test_production_flows_converge_after_a_server_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    options = StackOptions(db="postgres", cn_mode="gateway", workers=2)
    async with (
        Stack(Sut(PAYFLOW), options, tmp_path) as stack,
        httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=1000)) as http,
        httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_keepalive_connections=0)) as gateway,
    ):
        payers = Payers(stack, http, gateway, await stack.token("eo"))
        flows: list[asyncio.Task[None]] = []

        async def arrive() -> None:
            for _ in range(FLOWS):
                flows.append(asyncio.create_task(payers.pay_one()))
                await asyncio.sleep(1 / ARRIVALS_PER_S)

        arrivals = asyncio.create_task(arrive())
        deadline = time.monotonic() + SETTLE_S
        while await _accepted(stack) < KILL_AT:
            assert time.monotonic() < deadline, f"fewer than {KILL_AT} payments accepted in {SETTLE_S} s"
            await asyncio.sleep(0.2)
        killed_at = await _accepted(stack)
        back_after = await _crash(stack)
        await arrivals
        await asyncio.gather(*flows)
        matched = await _matched(stack, payers.paid)
        deadline = time.monotonic() + SETTLE_S
        while len(matched) < len(payers.paid) and time.monotonic() < deadline:
            await asyncio.sleep(1)
            matched = await _matched(stack, payers.paid)
        wrong_workflows = await _workflows_matched(stack, list(matched.values()))
        sim = (await http.get(f"{stack.url['gateway']}/_sim/bills")).json()
        refused = [n for n in sim["notifications"] if n["status"] != 200]
        refused_answers = sum(400 <= a < 500 and a != 401 for n in sim["notifications"] for a in n["answers"])
        retried = sum(any(a == 0 or a >= 500 for a in n["answers"]) for n in sim["notifications"])
        rejected = await stack.rows(
            "select transaction_id, code, reason from paymentnotification where outcome = 'rejected'"
        )
        code, report = await asyncio.to_thread(_payflow_check, stack)
        diagnosis = await _diagnose(stack, payers.unnumbered, sim)
    (tmp_path / "diagnosis.txt").write_text("\n".join(diagnosis) + "\n")
    summary = (
        f"production crash: {FLOWS} flows, server killed at {killed_at} accepted payments for {DOWN_S} s "
        f"(serving {back_after:.1f} s after restart); {len(matched)} matched in the store, "
        f"{len(matched) - len(wrong_workflows)} in their workflows; {len(sim['notifications'])} "
        f"notifications ({retried} retried after a 5xx or no answer), {len(refused)} refused "
        f"({refused_answers} 4xx answers, {len(rejected)} rejected in the store); {payers.unavailable} "
        f"GetControlNumber retries; payflow check exit {code}, {len(report.get('violations', []))} "
        f"violations; {time.monotonic() - started:.0f} s"
    )
    with capsys.disabled():
        print(
            f"\n{summary}; {len(payers.unnumbered)} intents without a number (see {tmp_path}/diagnosis.txt)"
        )
    assert payers.unnumbered == [], diagnosis
    assert len(payers.paid) == FLOWS
    assert len(matched) == FLOWS, sorted(set(payers.paid) - set(matched))
    assert wrong_workflows == []
    assert refused == [] and refused_answers == 0 and rejected == [], (refused, rejected)
    assert code == 0 and report.get("violations") == [], report
