"""`python -m tests.faults.hanging_worker ACTIVITY MARKER`: a payflow worker (PAYFLOW_* settings) that,
once ACTIVITY has done its work, writes MARKER and hangs, so the test can kill the process there."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from payflow.settings import get_settings
from payflow.temporal import connect
from payflow.workers import worker


class HangAfterCommit(Interceptor):
    def __init__(self, name: str, marker: Path) -> None:
        self.name, self.marker = name, marker

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        owner = self

        class Hang(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                result = await super().execute_activity(input)
                if activity.info().activity_type == owner.name:
                    owner.marker.write_text(activity.info().workflow_id or "")
                    await asyncio.Event().wait()  # killed here
                return result

        return Hang(next)


async def main(name: str, marker: Path) -> None:
    settings = get_settings()
    async with worker(await connect(settings), settings, interceptors=[HangAfterCommit(name, marker)]):
        print("worker polling task queue", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
