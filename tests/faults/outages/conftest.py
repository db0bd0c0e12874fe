"""Fixtures of the fault tests: a Temporal server of the test's own, and the API's log as captured."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.faults.outages.peers import TemporalServer
from tests.stack import StackFactory


@pytest.fixture
async def temporal(tmp_path: Path) -> AsyncIterator[TemporalServer]:
    server = TemporalServer(tmp_path)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def own_stack(temporal: TemporalServer, db_url: str, signing_key: Path) -> StackFactory:
    """Stacks (worker, API, simulators) on the test's own Temporal server, which it may stop."""
    return StackFactory(await temporal.client(), db_url, signing_key)


@pytest.fixture
def api_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The API's log lines, uvicorn's included (its loggers do not propagate to the root)."""
    caplog.set_level(logging.INFO)
    uvicorn = logging.getLogger("uvicorn")
    uvicorn.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        uvicorn.removeHandler(caplog.handler)
