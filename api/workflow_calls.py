"""Bounded calls to workflows: a worker that does not answer in time is a 503 to retry, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

from api.errors import ApiError

T = TypeVar("T")


async def within(call: Awaitable[T], seconds: float, what: str) -> T:
    try:
        async with asyncio.timeout(seconds):
            return await call
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
        raise ApiError(
            503,
            "workflow_unavailable",
            f"{what} did not answer in time; retry (with the same Idempotency-Key, if you sent one).",
            headers={"Retry-After": "5"},
        ) from err
