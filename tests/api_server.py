"""`payflow api` as a process of its own, as production runs it, for the tests that need one: several
processes on one port, a restart, the event loop under a flood of token requests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from payflow.servers import free_port
from store.clients import ClientStore, IssuedClient
from store.db import make_engine, session_factory

PAYFLOW = str(Path(sys.executable).with_name("payflow"))
ROOT = Path(__file__).resolve().parents[1]
READY_S = 30.0


@dataclass(frozen=True)
class ApiProcess:
    url: str
    port: int
    process: asyncio.subprocess.Process


def api_env(db_url: str, dev_env: WorkflowEnvironment, signing_key: Path, **settings: str) -> dict[str, str]:
    """This environment with the PAYFLOW_* settings of an API on `db_url` and the session's Temporal."""
    return os.environ | {
        "PAYFLOW_DATABASE_URL": db_url,
        "PAYFLOW_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PAYFLOW_JWT_PRIVATE_KEY_PATH": str(signing_key),
        **{f"PAYFLOW_{name.upper()}": value for name, value in settings.items()},
    }


async def client(db_url: str, scopes: list[str], tenant: str = "demo") -> IssuedClient:
    engine = make_engine(db_url)
    try:
        return await ClientStore(session_factory(engine)).create(tenant, scopes, name="api-process-test")
    finally:
        await engine.dispose()


@asynccontextmanager
async def payflow_api(env: dict[str, str], *args: str, port: int | None = None) -> AsyncIterator[ApiProcess]:
    """`payflow api ARGS` on `port` (a free one by default: a restart takes its old one), once it
    answers /healthz; stopped with SIGTERM when the body is done, which must end it within 30 s."""
    port = port or free_port()
    process = await asyncio.create_subprocess_exec(
        PAYFLOW,
        *("api", "--port", str(port), "--log-level", "warning", "--no-access-log", *args),
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _ready(url, process)
        yield ApiProcess(url, port, process)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
        # one process: uvicorn re-raises the SIGTERM it caught once it has shut down gracefully
        assert code in (0, -signal.SIGTERM), f"payflow api exited with {code} on SIGTERM"
    finally:
        if process.returncode is None:  # the body failed: its process group goes, workers included
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


async def spawn_worker(env: dict[str, str], *command: str) -> asyncio.subprocess.Process:
    """`python COMMAND` (`payflow worker` by default) with `env`, once it says it polls its task queue.
    Only its start-up line goes to the pipe: its logs (stderr) go to the test's output, so a busy
    worker never blocks on a full pipe nobody reads."""
    process = await asyncio.create_subprocess_exec(
        *([sys.executable, *command] if command else [PAYFLOW, "worker"]),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert b"worker polling task queue" in line, line
    return process


async def _ready(url: str, process: asyncio.subprocess.Process) -> None:
    deadline = asyncio.get_running_loop().time() + READY_S
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        while True:
            assert process.returncode is None, f"payflow api exited with {process.returncode}"
            try:
                answer = (await http.get("/healthz")).status_code
            except httpx.TransportError:
                answer = None
            if answer == 200:
                return
            assert asyncio.get_running_loop().time() < deadline, f"payflow api not ready in time ({answer})"
            await asyncio.sleep(0.05)
