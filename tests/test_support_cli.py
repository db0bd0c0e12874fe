"""The support CLI (`payflow payments|cases|events …`) as support uses it, on a live stack: a payment's
timeline live from its workflow or from the store, rematch and cancel through the workflow, cases and
events from the store. Commands that reach Temporal run as subprocesses (they leave with `os._exit`),
concurrently where they do not depend on each other; the read-only ones run in this process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infra.settings import get_settings
from payflow.cli.main import app
from store.models import Payment
from tests.api.helpers import PROXY_FAMILY, PROXY_PAYMENT, intent, register_proxy_family
from tests.claims.sample import settlement, validate
from tests.claims.test_settlements import new_case
from tests.stack import Stack, StackFactory

PAYFLOW = str(Path(sys.executable).with_name("payflow"))


def _env(stack: Stack, temporal: str | None = None) -> dict[str, str]:
    return os.environ | {
        "PAYFLOW_DATABASE_URL": stack.settings.database_url,
        "PAYFLOW_TEMPORAL_ADDRESS": temporal or stack.temporal.service_client.config.target_host,
        "COLUMNS": "200",
    }


async def _cli(env: dict[str, str], *args: str, code: int = 0) -> str:
    """The command's output: stdout when it succeeds, else stderr."""
    process = await asyncio.create_subprocess_exec(
        PAYFLOW, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == code, (args, out.decode(), err.decode())
    assert b"Traceback" not in out + err
    return (out if code == 0 else err).decode()


async def _waiting_for_match(stack: Stack) -> int:
    """A payment of the proxy family, at 4 RECEIVED until the family is registered."""
    own = {"transaction_identification": "TX-SUPPORT-CLI"}  # its workflow id derives from it: not shared
    r = await stack.post("/api/GetPaymentData", as_="gateway", json=PROXY_PAYMENT | own)
    payment_id = int(r.json()["data"]["internal_identifier"])
    async with asyncio.timeout(10):
        while True:
            async with stack.sessions() as s:
                payment = await s.get(Payment, payment_id)
            if payment is not None and payment.status == 4 and payment.match_note:
                return payment_id
            await asyncio.sleep(0.05)


async def _settled_case(stack: Stack) -> tuple[dict[str, Any], int]:
    case = await new_case(stack, number="CLI-7")
    r = await stack.post(f"/v1/cases/{case['id']}/settlements", as_="claims", json=settlement())
    assert r.status_code == 201, r.text
    return case, r.json()["event_ids"][0]


def _read(*args: str) -> str:
    """A read-only command in this process (it needs no Temporal, so no `exit_hard`): no start-up cost."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


async def test_support_commands_on_a_live_stack(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_stack(cn_mode="internal") as stack:
        env = _env(stack)
        answer = (await stack.post("/api/GetControlNumber", json=intent(enrolment_officer_code=None))).json()
        cn = answer["control_number"]
        proxy_id = await _waiting_for_match(stack)
        case, settled_id = await _settled_case(stack)

        await register_proxy_family(stack.sessions)
        cancelled, rematched = await asyncio.gather(
            _cli(env, "payments", "cancel", cn, "--json"),
            _cli(env, "payments", "rematch", str(proxy_id), "--json"),
        )
        assert json.loads(cancelled)["cancelled"] is True
        assert json.loads(rematched) == {"payment_id": proxy_id, "matched": True, "reasons": None}
        shown, stored, nothing = await asyncio.gather(
            _cli(env, "payments", "show", cn),
            _cli(_env(stack, temporal="127.0.0.1:9"), "payments", "show", str(proxy_id), "--json"),
            _cli(env, "payments", "rematch", cn, code=1),
        )
    assert "no received payment waiting to be matched" in nothing  # a cancelled bill
    assert "timeline (from the workflow)" in shown and cn in shown
    steps = [ln.split("│")[2].strip() for ln in shown.splitlines() if "│ 20" in ln]
    assert steps == ["CREATED", "ASSIGNED", "CANCELLED"], shown
    proxy = json.loads(stored)
    assert (proxy["source"], proxy["status_name"]) == ("store", "MATCHED")
    assert [t["status"] for t in proxy["timeline"]] == ["CREATED", "RECEIVED", "MATCHED"], proxy

    for name, value in _env(stack).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        listed, by_insuree, settled, event, cases, closed = await asyncio.to_thread(
            lambda: [
                _read("payments", "list", "--tenant", "demo", "--status", "cancelled", "--json"),
                _read("payments", "list", "--insurance-number", PROXY_FAMILY, "--json"),
                _read("events", "list", "--type", "case_settled"),
                _read("events", "show", str(settled_id), "--json"),
                _read("cases", "show", "CLI-7", "--tenant", "demo", "--json"),
                _read("cases", "list", "--status", "closed", "--json"),
            ]
        )
    finally:
        get_settings.cache_clear()
    assert [p["control_number"] for p in json.loads(listed)] == [cn]
    assert [p["id"] for p in json.loads(by_insuree)] == [proxy_id]
    assert "case_settled" in settled and "case CLI-7" in settled
    event_data = json.loads(event)
    validate(event_data["payload"])
    assert event_data["payload"]["case"]["uuid"] == case["id"]
    case_data = json.loads(cases)
    assert (case_data["id"], case_data["status"]) == (case["id"], "closed")
    assert [r["revision"] for r in case_data["revisions"]] == [1]
    assert [c["number"] for c in json.loads(closed)] == ["CLI-7"]
    assert [e["type"] for e in case_data["last_events"]] == ["case_created", "case_settled", "claim_updated"]
