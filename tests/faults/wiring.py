"""Fault injection on a real worker: substitute activities in place of the real ones.

A substitute is a Temporal activity registered under the real one's name (`@activity.defn(name=...)`,
the names of `activities/interfaces.py`); it replaces or wraps the real activity, e.g. to fail while a
peer is down or to interleave two attempts. A crash between a commit and the activity's report is
`tests.faults.inject.FailAfterCommit`, passed as an interceptor.
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import ExecuteActivityInput, Interceptor, Worker

from infra.settings import Settings
from payflow.servers import free_port, serve
from payflow.workers import worker
from simulators import gateway, sms
from tests.faults.inject import ActivityHook
from tests.keys import CONVERTER
from tests.workflows.harness import Harness
from workflows import search_attributes


@asynccontextmanager
async def dev_server_suggesting_continue_as_new(history: int = 30) -> AsyncIterator[WorkflowEnvironment]:
    """A dev server that suggests continue-as-new once a run's history reaches `history` events."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).with_name("temporal")),
        search_attributes=search_attributes.ALL,
        data_converter=CONVERTER,
        dev_server_extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={history}",
        ],
    )
    async with env:
        yield env


def activity_name(fn: Callable[..., Any]) -> str:
    """The name an activity is registered under (the SDK keeps it on the function's definition)."""
    return activity._Definition.must_from_callable(fn).name


@asynccontextmanager
async def fault_worker(
    client: Client,
    settings: Settings,
    substitutes: Sequence[Callable[..., Any]] = (),
    interceptors: Sequence[Interceptor] = (),
) -> AsyncIterator[Worker]:
    """The real worker with `substitutes` in place of the real activities of the same names."""
    named = {activity_name(fn): fn for fn in substitutes}
    async with worker(client, settings, interceptors=interceptors, substitutes=named) as w:
        yield w


def fault_settings(db_url: str) -> Settings:
    """Settings of a fault harness (own task queue and simulator ports), known before it starts, so a
    substitute can call the real activity with them."""
    return Settings(
        database_url=db_url,
        task_queue=f"payflow-fault-{uuid.uuid4()}",
        gateway_url=f"http://127.0.0.1:{free_port()}",
        sms_url=f"http://127.0.0.1:{free_port()}",
    )


@asynccontextmanager
async def fault_harness(
    client: Client,
    settings: Settings,
    substitutes: Sequence[Callable[..., Any]] = (),
    interceptors: Sequence[Interceptor] = (),
) -> AsyncIterator[Harness]:
    """`tests.workflows.harness.harness` (simulated gateway holding its callbacks, SMS) on a fault worker."""
    sms_app, gw_app = sms.create_app(), gateway.create_app()
    gw_app.state.sim.behaviour.callback = "hold"
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serve(sms_app, port_of(settings.sms_url)))
        await stack.enter_async_context(serve(gw_app, port_of(settings.gateway_url)))
        await stack.enter_async_context(fault_worker(client, settings, substitutes, interceptors))
        yield Harness(client, settings, sms_app.state.sim, gw_app.state.sim)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


class GiveUpRetrying(ActivityHook):
    """Ends an activity's retries at attempt `after` with a non-retryable `StillRetrying` error, so a
    test of a retry policy ends either way; `attempts` keeps the last attempt seen per activity."""

    def __init__(self, after: int = 3) -> None:
        self.after = after
        self.attempts: Counter[str] = Counter()

    async def around(self, input: ExecuteActivityInput, call: Callable[[], Awaitable[Any]]) -> Any:
        info = activity.info()
        self.attempts[info.activity_type] = info.attempt
        if info.attempt >= self.after:
            raise ApplicationError(
                f"{info.activity_type} retried {info.attempt} times", type="StillRetrying", non_retryable=True
            )
        return await call()


class Calls(ActivityHook):
    """Records the argument of every execution (each attempt) of the named activities, in order."""

    def __init__(self, *names: str) -> None:
        self.names = set(names)
        self.calls: list[tuple[str, Any]] = []

    def of(self, name: str) -> list[Any]:
        return [arg for n, arg in self.calls if n == name]

    async def around(self, input: ExecuteActivityInput, call: Callable[[], Awaitable[Any]]) -> Any:
        name = activity.info().activity_type
        if name in self.names:
            self.calls.append((name, input.args[0] if input.args else None))
        return await call()
