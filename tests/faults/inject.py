"""Test-only fault injection: an activity runs to its commit, then "dies" before it reports.

A worker interceptor lets the real activity finish (its transaction committed, its HTTP call made),
then raises instead of returning, on the first attempt of each execution of the named activities.
Temporal retries it; the retry must recognise the work as done. This is the crash window between a
commit and the completion report, made deterministic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor


class ActivityHook(Interceptor):
    """A worker interceptor that wraps every activity execution in `around` (local ones too)."""

    async def around(self, input: ExecuteActivityInput, call: Callable[[], Awaitable[Any]]) -> Any:
        return await call()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        hook = self

        class _Around(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                return await hook.around(input, lambda: super(_Around, self).execute_activity(input))

        return _Around(next)


class InjectedFault(Exception):
    """Raised after the activity's work is done: the worker "died" before reporting it."""


class FailAfterCommit(ActivityHook):
    def __init__(self, names: Iterable[str]) -> None:
        self.names = set(names)
        self.injected: Counter[str] = Counter()
        """How many executions of each activity had a fault injected (and were then retried)."""

    async def around(self, input: ExecuteActivityInput, call: Callable[[], Awaitable[Any]]) -> Any:
        result = await call()
        info = activity.info()
        if info.activity_type in self.names and info.attempt == 1:
            self.injected[info.activity_type] += 1
            raise InjectedFault(f"{info.activity_type} committed, then the worker died before reporting")
        return result
