"""`payflow dev` as a user runs it: ready within 30 s, serves the seed sample, stops cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from payflow.servers import free_port
from payflow.temporal import DATA_CONVERTER
from tests.api.test_get_control_number import SEED_SAMPLE

PAYFLOW = str(Path(sys.executable).with_name("payflow"))


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("cn_mode", ["gateway", "internal"])
async def test_payflow_dev_end_to_end(tmp_path: Path, cn_mode: str) -> None:
    ports = {name: free_port() for name in ("api", "temporal", "ui", "gateway", "sms")}
    args = [f"--{name}-port={port}" for name, port in ports.items()]
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        PAYFLOW,
        "dev",
        *args,
        f"--data-dir={tmp_path / 'data'}",
        f"--cn-mode={cn_mode}",
        cwd=tmp_path,
        env=os.environ | {"COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    manifest_path = tmp_path / "data" / "dev.json"
    try:
        while not manifest_path.exists():
            assert process.returncode is None, (await process.stdout.read()).decode()  # type: ignore[union-attr]
            assert time.monotonic() - started < 30, "payflow dev was not ready within 30 s"
            await asyncio.sleep(0.1)
        manifest = json.loads(manifest_path.read_text())
        assert manifest["ready_after_s"] < 30 and manifest["cn_mode"] == cn_mode
        eo = manifest["clients"]["demo-eo-app"]
        assert eo["tenant"] == "demo" and "payments:write" in eo["scopes"]

        async with httpx.AsyncClient(base_url=manifest["api"], timeout=30) as http:
            token = (
                await http.post(
                    "/connect/token",
                    data={"grant_type": "client_credentials"},
                    auth=(eo["client_id"], eo["client_secret"]),
                )
            ).json()["access_token"]
            r = await http.post(
                "/api/GetControlNumber",
                content=SEED_SAMPLE,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            answer = r.json()
            assert answer["error_occured"] is False and answer["internal_identifier"], answer
            cn = answer["control_number"]
            assert cn
            for _ in range(200):
                sent = (await http.get(f"{manifest['sms_simulator']}/messages")).json()["messages"]
                if sent:
                    break
                await asyncio.sleep(0.05)
            assert sent and sent[0]["text"].startswith(f"Control No:{cn},")

        client = await Client.connect(manifest["temporal"], data_converter=DATA_CONVERTER)
        for _ in range(200):
            found = [w async for w in client.list_workflows(f"ControlNumber = '{cn}'")]
            if found:
                break
            await asyncio.sleep(0.05)
        assert [w.workflow_type for w in found] == ["PaymentIntentWorkflow"]

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        for _ in range(100):
            if not any(_port_open(p) for p in ports.values()):
                break
            await asyncio.sleep(0.1)
        assert not [name for name, p in ports.items() if _port_open(p)], "a child outlived payflow dev"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
