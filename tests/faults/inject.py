"""Test-only fault injection: an activity runs to its commit, then "dies" before it reports.

A worker interceptor lets the real activity finish (its transaction committed, its HTTP call made),
then raises instead of returning, on the first attempt of each execution of the named activities.
Temporal retries it; the retry must recognise the work as done. This is the crash window between a
commit and the completion report, made deterministic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor


class InjectedFault(Exception):
    """Raised after the activity's work is done: the worker "died" before reporting it."""


class FailAfterCommit(Interceptor):
    def __init__(self, names: Iterable[str]) -> None:
        self.names = set(names)
        self.injected: Counter[str] = Counter()
        """How many executions of each activity had a fault injected (and were then retried)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _FailAfterCommit(next, self)


class _FailAfterCommit(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: FailAfterCommit) -> None:
        super().__init__(next)
        self._owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        info = activity.info()
        if info.activity_type in self._owner.names and info.attempt == 1:
            self._owner.injected[info.activity_type] += 1
            raise InjectedFault(f"{info.activity_type} committed, then the worker died before reporting")
        return result
