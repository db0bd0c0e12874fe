"""`python -m tests.faults.hanging_worker ACTIVITY MARKER`: a payflow worker (PAYFLOW_* settings) that,
once ACTIVITY has done its work, writes MARKER and hangs, so the test can kill the process there."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.worker import ExecuteActivityInput

from infra.settings import get_settings
from infra.temporal import connect
from payflow.workers import worker
from tests.faults.inject import ActivityHook


class HangAfterCommit(ActivityHook):
    def __init__(self, name: str, marker: Path) -> None:
        self.name, self.marker = name, marker

    async def around(self, input: ExecuteActivityInput, call: Callable[[], Awaitable[Any]]) -> Any:
        result = await call()
        if activity.info().activity_type == self.name:
            self.marker.write_text(activity.info().workflow_id or "")
            await asyncio.Event().wait()  # killed here
        return result


async def main(name: str, marker: Path) -> None:
    settings = get_settings()
    async with worker(await connect(settings), settings, interceptors=[HangAfterCommit(name, marker)]):
        print("worker polling task queue", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
