"""Bounded calls to Temporal: an outage or a worker that does not answer in time is a 503 to retry.

Every call the API makes to Temporal goes through `within`, so a refusal (validator, NOT_FOUND) keeps
its meaning and an outage never reads as one: UNAVAILABLE, DEADLINE_EXCEEDED, a cut connection or
our own time limit raise `Unavailable` (503 + Retry-After), which no route catches as a refusal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from api import outages
from api.errors import Unavailable

T = TypeVar("T")


async def within(call: Awaitable[T], seconds: float, what: str) -> T:
    try:
        async with asyncio.timeout(seconds):
            return await call
    except TimeoutError as err:
        raise Unavailable(
            f"{what} did not answer in time; retry (with the same Idempotency-Key, if you sent one).",
            cause=f"no answer within {seconds:g} s",
            code="workflow_unavailable",
        ) from err
    except Exception as err:
        if not outages.temporal_outage(err):
            raise
        raise Unavailable(
            f"{what} is unreachable; retry later.", cause=outages.cause(err), code="workflow_unavailable"
        ) from err
