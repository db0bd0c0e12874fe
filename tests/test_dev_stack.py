"""`payflow dev` as a user runs it: ready within 30 s, serves flow A end to end, stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from temporalio.client import Client

from domain.valuation import add_months
from infra.settings import Settings
from infra.temporal import data_converter
from payflow.servers import free_port
from tests.api.test_get_control_number import SEED_SAMPLE
from tests.claims.sample import validate
from tests.dev_history import assert_personal_data_only_through_codec
from tests.dev_telemetry import assert_metrics_and_logs

PAYFLOW = str(Path(sys.executable).with_name("payflow"))


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@asynccontextmanager
async def dev_stack(
    tmp_path: Path, cn_mode: str, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> AsyncIterator[dict[str, Any]]:
    """Start `payflow dev` (with `env` added to its environment and `args` to its options), yield
    dev.json once it exists (within 30 s); SIGTERM must stop every child. It runs in a process group
    of its own, so whatever happens in the test (a failure, a timeout) the group is stopped after it."""
    names = ("api", "temporal", "ui", "gateway", "sms", "receiver", "worker-metrics")
    manifest_path = tmp_path / "data" / "dev.json"
    for _ in range(3):  # a free port another process took before payflow dev bound it: others
        ports = {name: free_port() for name in names}
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            PAYFLOW,
            "dev",
            *[f"--{name}-port={port}" for name, port in ports.items()],
            f"--data-dir={tmp_path / 'data'}",
            f"--cn-mode={cn_mode}",
            *args,
            cwd=tmp_path,
            env=os.environ | {"COLUMNS": "200"} | (env or {}),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        while not manifest_path.exists() and process.returncode is None:
            if time.monotonic() - started > 30:
                await stop_group(process)
                raise AssertionError("payflow dev was not ready within 30 s")
            await asyncio.sleep(0.1)
        if manifest_path.exists():
            break
        output = (await process.stdout.read()).decode()  # type: ignore[union-attr]
        assert "is in use" in output, output
    try:
        assert manifest_path.exists(), "payflow dev found a port in use three times"
        manifest = json.loads(manifest_path.read_text())
        assert manifest["ready_after_s"] < 30 and manifest["cn_mode"] == cn_mode
        yield manifest
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        for _ in range(100):
            if not any(_port_open(p) for p in ports.values()):
                break
            await asyncio.sleep(0.1)
        assert not [name for name, p in ports.items() if _port_open(p)], "a child outlived payflow dev"
    finally:
        await stop_group(process)


async def stop_group(process: asyncio.subprocess.Process, grace_s: float = 10) -> None:
    """SIGTERM to the process group (payflow dev stops its children), SIGKILL to what outlasts it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), grace_s)
            if not _group_alive(process.pid):
                return


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def dev_converter(manifest: dict[str, Any]) -> Any:
    """The converter with the stack's own codec keys (generated under its data dir)."""
    return data_converter(Settings(codec_keys="", codec_keys_path=Path(manifest["codec_keys"])))


async def _token(http: httpx.AsyncClient, manifest: dict[str, Any], name: str) -> dict[str, str]:
    client = manifest["clients"][name]
    r = await http.post(
        "/connect/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _messages(http: httpx.AsyncClient, manifest: dict[str, Any], count: int) -> list[dict[str, Any]]:
    for _ in range(200):
        sent = (await http.get(f"{manifest['sms_simulator']}/messages")).json()["messages"]
        if len(sent) >= count:
            return list(sent)
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} SMS, got {sent}")


@pytest.mark.parametrize("cn_mode", ["gateway", "internal"])
async def test_seed_sample_against_payflow_dev(tmp_path: Path, cn_mode: str) -> None:
    async with (
        dev_stack(tmp_path, cn_mode) as manifest,
        httpx.AsyncClient(base_url=manifest["api"], timeout=30) as http,
    ):
        eo = manifest["clients"]["demo-eo-app"]
        assert eo["tenant"] == "demo" and "payments:write" in eo["scopes"]
        headers = await _token(http, manifest, "demo-eo-app") | {"Content-Type": "application/json"}
        answer = (await http.post("/api/GetControlNumber", content=SEED_SAMPLE, headers=headers)).json()
        assert answer["error_occured"] is False and answer["internal_identifier"], answer
        cn = answer["control_number"]
        assert cn
        [sms] = await _messages(http, manifest, 1)
        assert sms["text"].startswith(f"Control No:{cn},")
        client = await Client.connect(manifest["temporal"], data_converter=dev_converter(manifest))
        for _ in range(200):
            found = [w async for w in client.list_workflows(f"ControlNumber = '{cn}'")]
            if found:
                break
            await asyncio.sleep(0.05)
        assert [w.workflow_type for w in found] == ["PaymentIntentWorkflow"]


@pytest.mark.parametrize("gateway", ["json", "gepg"])
async def test_paid_bill_is_matched_against_payflow_dev(tmp_path: Path, gateway: str) -> None:
    """GetControlNumber → the simulator pays the bill → GetPaymentData → status 5 within 10 s; with
    `--gateway gepg` the bill, its control number and the payment travel as signed GePG XML."""
    body = json.loads(SEED_SAMPLE) | {"enrolment_officer_code": None, "amount_to_be_paid": None}
    async with (
        dev_stack(tmp_path, "gateway", args=(f"--gateway={gateway}",)) as manifest,
        httpx.AsyncClient(base_url=manifest["api"], timeout=30) as http,
    ):
        headers = await _token(http, manifest, "demo-eo-app")
        answer = (await http.post("/api/GetControlNumber", json=body, headers=headers)).json()
        cn, payment_id = answer["control_number"], int(answer["internal_identifier"])
        paid = (
            await http.post(
                f"{manifest['gateway_simulator']}/payments",
                json={"control_number": cn, "payer_phone": "0681333045"},
            )
        ).json()
        started = time.monotonic()
        db = sqlite3.connect(manifest["database"].split("///", 1)[1])
        while (
            status := db.execute("select status from payment where id=?", (payment_id,)).fetchone()[0]
        ) != 5:
            assert time.monotonic() - started < 10, f"status {status} after 10 s"
            await asyncio.sleep(0.05)
        premiums = db.execute(
            "select count(*) from premium p join paymentdetail d on d.premium_id = p.id where d.payment_id=?",
            (payment_id,),
        ).fetchone()[0]
        [(stage, status_, start, expiry, paid_on)] = db.execute(
            "select stage, status, start_date, expiry_date, pay_date from policy join premium "
            "on premium.policy_id = policy.id where receipt = ?",
            (paid["transaction_id"],),
        ).fetchall()
        assert premiums == 1 and (stage, status_) == ("R", 2)
        # The renewal follows the demo policy (expired 2026-11-30), or starts on the day it was paid
        # once that is later: whatever day the test runs, a year of cover from that start.
        expected_start = max(date(2026, 12, 1), date.fromisoformat(paid_on))
        assert (date.fromisoformat(start), date.fromisoformat(expiry)) == (
            expected_start,
            add_months(expected_start, 12) - timedelta(days=1),
        )
        texts = [m["text"] for m in await _messages(http, manifest, 3)]
        assert [t.split(" ")[0] for t in texts] == ["Control", "Payment", "Payment"]
        assert "has been made" in texts[1] and "paid successfully" in texts[2]
        db.close()
        sim = (await http.get(f"{manifest['gateway_simulator']}/_sim/bills")).json()
        acks = [m["answer"] for m in sim["callbacks"] + sim["notifications"]]
        assert manifest["gateway_protocol"] == gateway and len(acks) == 2
        signed = ["<gepgSignature>" in a and "<TrxStsCode>7101</TrxStsCode>" in a for a in acks]
        assert signed == [gateway == "gepg"] * 2, acks


async def test_payflow_demo_drives_both_flows(tmp_path: Path) -> None:
    async with dev_stack(tmp_path, "gateway") as manifest:
        demo = await asyncio.create_subprocess_exec(
            PAYFLOW,
            "demo",
            f"--manifest={tmp_path / 'data' / 'dev.json'}",
            cwd=tmp_path,
            env=os.environ | {"COLUMNS": "200"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(demo.communicate(), 60)
        text = output.decode()
        assert demo.returncode == 0, text
        assert "flow A: 1 CREATED → 2 POSTED → 3 ASSIGNED → 4 RECEIVED → 5 MATCHED" in text
        assert text.count("SMS to 0681333045") == 3 and "paid successfully" in text
        assert '"eventType": "case_settled"' in text
        assert '"settlementType": "SETTLED_WITH_EMAIL"' in text and manifest["cn_mode"] == "gateway"
        async with httpx.AsyncClient() as http:  # the demo endpoint got every event, signed
            for _ in range(100):
                received = (await http.get(f"{manifest['receiver_simulator']}/_sim/received")).json()[
                    "received"
                ]
                types = {json.loads(r["body"])["type"] for r in received if r["answered"] == 200}
                if {"payment.matched", "case_settled"} <= types:
                    break
                await asyncio.sleep(0.1)
        assert {"payment_intent.created", "payment.matched", "case_created", "case_settled"} <= types
        assert all(r["valid"] for r in received)
        bodies = [json.loads(r["body"]) for r in received]
        validate(next(b["data"] for b in bodies if b["type"] == "case_settled"))  # made by `payflow dev`
        await assert_metrics_and_logs(manifest)
        async with httpx.AsyncClient(base_url=manifest["api"]) as http:
            operator = (await _token(http, manifest, "demo-operator"))["Authorization"].split()[1]
        await assert_personal_data_only_through_codec(manifest, operator)

        stack_env = {
            "PAYFLOW_DATABASE_URL": manifest["database"],
            "PAYFLOW_TEMPORAL_ADDRESS": manifest["temporal"],
            "PAYFLOW_CODEC_KEYS_PATH": manifest["codec_keys"],
        }
        check = await asyncio.create_subprocess_exec(
            PAYFLOW,
            "check",
            cwd=tmp_path,
            env=os.environ | stack_env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(check.communicate(), 60)
        assert check.returncode == 0, output.decode()
        [summary] = output.decode().splitlines()  # nothing wrong, nothing to warn about
        assert summary.startswith("no violations (checked 1 payments, 1 matched lines, 1 revisions"), summary


def _stack_processes(data_dir: Path) -> list[psutil.Process]:
    """`payflow dev` on `data_dir` and every process under it (Temporal, API, worker)."""
    for process in psutil.process_iter(["cmdline"]):
        if f"--data-dir={data_dir}" in (process.info["cmdline"] or []):
            return [process, *process.children(recursive=True)]
    return []


async def test_a_test_failing_inside_dev_stack_leaves_no_process_behind(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError):
        async with dev_stack(tmp_path, "internal"):
            family = _stack_processes(tmp_path / "data")
            names = " ".join(" ".join(p.cmdline()) for p in family)
            assert "temporal" in names and " api " in f"{names} " and "worker" in names, names
            1 / 0  # noqa: B018 (the failing test)
    alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [" ".join(p.cmdline()) for p in alive]
