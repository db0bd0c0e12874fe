"""Activity options shared by the workflows: how long a call may take and how it retries.

Transient failures (database, gateway or SMS provider down) retry with backoff until they end, so an
outage never fails a workflow; the logic errors of `domain.errors` fail at once.
"""

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

from domain.errors import LOGIC_ERRORS


def retrying(initial_s: float = 1, maximum: timedelta = timedelta(seconds=30), **more: object) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=initial_s),
        maximum_interval=maximum,
        non_retryable_error_types=LOGIC_ERRORS,
        **more,  # type: ignore[arg-type]
    )


STORE_CALL = {"start_to_close_timeout": timedelta(seconds=30), "retry_policy": retrying()}
"""Store writes are idempotent, so they retry until the database answers."""

LOCAL_STORE_CALL = {"start_to_close_timeout": timedelta(seconds=10), "retry_policy": retrying()}
"""The same steps run as local activities: within the workflow task, retried in the worker first."""

FALLBACK_PATCH = "local-steps-fall-back-to-activities"
LOCAL_ATTEMPTS = 3
"""Attempts of a local step before it becomes a regular activity (about 3 s with the 1 s, 2 s backoff):
fewer than reach the 8 s after which the worker heartbeats the workflow task, three history events
each time, so a database outage adds no history while the retries run on the server."""

T = TypeVar("T")


async def local_since(
    patch: str,
    step: Callable[[Any], Awaitable[T]],
    arg: Any,
    summary: str,
    local: dict[str, Any],
    regular: dict[str, Any],
    *,
    current: bool = False,
) -> T:
    """A short idempotent step: a local activity (run inside the workflow task, no round trip through
    the server) in workflows that reached `patch`, the regular activity it was before in older ones.
    `current`: the run was started knowing both patches apply, so neither is asked (no marker)."""
    if not (current or workflow.patched(patch)):
        return await workflow.execute_activity(step, arg, summary=summary, **regular)
    if not (current or workflow.patched(FALLBACK_PATCH)):
        return await workflow.execute_local_activity(step, arg, summary=summary, **local)
    bounded = local | {"retry_policy": replace(local["retry_policy"], maximum_attempts=LOCAL_ATTEMPTS)}
    try:
        return await workflow.execute_local_activity(step, arg, summary=summary, **bounded)
    except (ActivityError, ApplicationError, TimeoutError) as err:
        # a local activity's failure comes wrapped in ActivityError or bare, and not the same way on
        # replay as when it happened (a timeout is ActivityError(TimeoutError), then TimeoutError)
        failure = err.cause if isinstance(err, ActivityError) else err
        if isinstance(failure, ApplicationError) and (failure.non_retryable or failure.type in LOGIC_ERRORS):
            raise  # a logic error: no retry mends it
    return await workflow.execute_activity(step, arg, summary=f"{summary} (retrying)", **regular)
