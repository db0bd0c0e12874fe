"""`payflow api --workers N`: N processes on one port sign and verify with one key, and stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from payflow.servers import free_port
from store.clients import ClientStore
from store.db import make_engine, session_factory

PAYFLOW = str(Path(sys.executable).with_name("payflow"))


async def test_two_api_processes_share_the_signing_key_and_stop_cleanly(
    tmp_path: Path, db_url: str, dev_env: WorkflowEnvironment
) -> None:
    engine = make_engine(db_url)
    issued = await ClientStore(session_factory(engine)).create("demo", ["payments:read"], name="reader")
    await engine.dispose()
    port = free_port()
    env = os.environ | {
        "PAYFLOW_DATABASE_URL": db_url,
        "PAYFLOW_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PAYFLOW_JWT_PRIVATE_KEY_PATH": str(tmp_path / "key.pem"),
    }
    process = await asyncio.create_subprocess_exec(
        PAYFLOW, "api", "--workers", "2", "--port", str(port), "--log-level", "warning", env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            for _ in range(300):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            token = (
                await http.post(
                    "/connect/token",
                    data={"grant_type": "client_credentials"},
                    auth=(issued.client_id, issued.client_secret),
                )
            ).json()["access_token"]
        # A new connection per request: the kernel spreads them over both processes, and each accepts
        # the token the other signed (an unknown intent is 404, a token it could not verify 401).
        for _ in range(20):
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                r = await http.get("/v1/payment-intents/123456", headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 404 and r.json()["code"] == "intent_not_found", r.text
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_several_api_processes_need_a_key_file(tmp_path: Path) -> None:
    env = os.environ | {"PAYFLOW_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    env.pop("PAYFLOW_JWT_PRIVATE_KEY_PATH", None)
    done = subprocess.run(
        [PAYFLOW, "api", "--workers", "2"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "PAYFLOW_JWT_PRIVATE_KEY_PATH" in done.stderr, done.stderr
