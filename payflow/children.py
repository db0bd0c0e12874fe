"""The API and the worker of `payflow dev`, each in its own process as production runs them.

Started with this interpreter (`python -m payflow.cli api|worker`) and the dev stack's settings as
PAYFLOW_* variables (the caller's own PAYFLOW_* knobs, such as the worker's slots, pass through); each
writes its output to a log file under the data dir. Ready when the API answers /healthz and the worker
polls its task queue; stopped with SIGTERM (both shut down gracefully), killed past a grace period.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from infra.settings import Settings

READY_S = 30.0
STOP_GRACE_S = 25.0
"""Longer than the worker's graceful shutdown (20 s), which lets running activities finish."""


class ChildFailed(Exception):
    """The API or the worker exited, or was not ready in time."""


@dataclass(frozen=True)
class Child:
    name: str
    process: asyncio.subprocess.Process
    log: Path

    def check_alive(self) -> None:
        if self.process.returncode is not None:
            raise ChildFailed(f"the {self.name} exited with {self.process.returncode}; see {self.log}")


def settings_env(settings: Settings) -> dict[str, str]:
    """`settings` as the PAYFLOW_* variables that make a child read the same settings."""
    env = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is not None:
            env[f"PAYFLOW_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


async def spawn(name: str, args: list[str], settings: Settings, log: Path) -> Child:
    env = os.environ | settings_env(settings) | {"PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "payflow.cli", *args, env=env, stdout=out, stderr=out
        )
    return Child(name, process, log)


async def api_ready(child: Child, url: str) -> None:
    async def answers() -> bool:
        with suppress(httpx.HTTPError):
            return (await http.get(f"{url}/healthz")).status_code == 200
        return False

    async with httpx.AsyncClient(timeout=2) as http:
        await _ready(child, answers)


async def worker_ready(child: Child, client: Client, settings: Settings) -> None:
    """Ready once the child polls the task queue (a poller whose identity is `<its pid>@host`)."""
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal_namespace,
        task_queue=TaskQueue(name=settings.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )

    async def polls() -> bool:
        pollers = (await client.workflow_service.describe_task_queue(request)).pollers
        return any(p.identity.startswith(f"{child.process.pid}@") for p in pollers)

    await _ready(child, polls)


async def _ready(child: Child, check: Callable[[], Awaitable[bool]]) -> None:
    try:
        async with asyncio.timeout(READY_S):
            while not await check():
                child.check_alive()
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise ChildFailed(f"the {child.name} was not ready within {READY_S:g} s; see {child.log}") from None


async def first_exit(children: list[Child], stop: asyncio.Event) -> Child | None:
    """Wait for `stop` or for a child to exit on its own; the child that exited, if one did."""
    waits = {asyncio.ensure_future(c.process.wait()): c for c in children}
    stopped = asyncio.ensure_future(stop.wait())
    done, pending = await asyncio.wait([stopped, *waits], return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    if stop.is_set():  # Ctrl-C reaches the whole process group: children exiting with it are no news
        return None
    return next(waits[t] for t in done if t in waits)


async def stop_all(children: list[Child]) -> None:
    """SIGTERM to every child still running, SIGKILL to any that outlasts the grace period."""
    running = [c.process for c in children if c.process.returncode is None]
    for process in running:
        process.terminate()
    try:
        async with asyncio.timeout(STOP_GRACE_S):
            await asyncio.gather(*(p.wait() for p in running))
    except TimeoutError:
        for process in running:
            if process.returncode is None:
                process.kill()
                await process.wait()
