"""The EventFeed wakes long polls by PostgreSQL LISTEN/NOTIFY, and by polling when it cannot listen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

import tests.claims.test_events_api as events_api
from api.event_feed import EventFeed, listen_connector
from store.db import SessionFactory, make_engine, session_factory, transaction
from store.events import append
from tests.api.helpers import wait_for
from tests.conftest import _pg_admin, _pg_database
from tests.stack import StackFactory, prepare_database

TENANT = "demo"


async def _append(sessions: SessionFactory, key: str) -> int:
    async with transaction(sessions) as s:
        event = await append(s, TENANT, key, {"eventType": "test.feed"})
    assert event.id is not None
    return event.id


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with _pg_database() as url:
        yield url


async def _listeners(url: str) -> list[int]:
    """Backend pids of the database's sessions that last ran LISTEN (the feed's connection)."""
    admin = await _pg_admin(url)
    try:
        rows = await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
    finally:
        await admin.close()
    return [r["pid"] for r in rows]


async def test_listens_and_reconnects_after_its_connection_is_killed(pg_url: str) -> None:
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    # no polling and no heartbeat within the test: only NOTIFY and (re)connections wake the feed
    feed = EventFeed(sessions, interval=60, heartbeat=60, retry=0.05, connect=listen_connector(engine))
    try:
        first = asyncio.create_task(feed.wait_beyond(TENANT, 0, 30))
        await wait_for(lambda: feed.listening, "the feed to listen")
        one = await _append(sessions, "one")
        assert await asyncio.wait_for(first, 2)

        second = asyncio.create_task(feed.wait_beyond(TENANT, one, 30))
        await wait_for(lambda: feed.waiting(TENANT) == 1, "a waiting poll")
        (killed,) = await _listeners(pg_url)
        admin = await _pg_admin(pg_url)
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", killed)
        await admin.close()
        two = await _append(sessions, "two")  # while the feed has no connection: found on reconnecting
        assert await asyncio.wait_for(second, 5)

        third = asyncio.create_task(feed.wait_beyond(TENANT, two, 30))
        for _ in range(100):  # the new LISTEN session is up once pg_stat_activity shows it
            pids = await _listeners(pg_url)
            if pids and killed not in pids and feed.listening:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the feed did not listen again")
        await _append(sessions, "three")
        assert await asyncio.wait_for(third, 2)
    finally:
        await feed.close()
        await engine.dispose()
    assert await _listeners(pg_url) == []  # close() ends the LISTEN session


async def test_polls_when_it_cannot_listen(tmp_path: Path) -> None:
    url = await prepare_database(f"sqlite+aiosqlite:///{tmp_path / 'payflow.db'}")
    engine = make_engine(url)
    sessions = session_factory(engine)
    calls = 0

    async def refused() -> asyncpg.Connection:
        nonlocal calls
        calls += 1
        raise OSError("connection refused")

    assert listen_connector(engine) is None  # SQLite: nothing to listen on
    feed = EventFeed(sessions, interval=0.05, retry=0.05, connect=refused)
    try:
        waiting = asyncio.create_task(feed.wait_beyond(TENANT, 0, 30))
        await wait_for(lambda: calls >= 2, "a retried LISTEN")
        assert not feed.listening and not waiting.done()
        await _append(sessions, "one")
        assert await asyncio.wait_for(waiting, 2)
    finally:
        await feed.close()
        await engine.dispose()


async def test_the_api_wakes_fifty_polls_by_notify_on_postgres(
    dev_env: WorkflowEnvironment, pg_url: str, monkeypatch: pytest.MonkeyPatch, signing_key: Path
) -> None:
    """The Events API test of fifty held polls, on PostgreSQL, with the app's feed listening."""
    listened: list[bool] = []
    close = EventFeed.close

    async def noting_close(feed: EventFeed) -> None:
        listened.append(feed.listening)
        await close(feed)

    monkeypatch.setattr(EventFeed, "close", noting_close)
    await events_api.test_fifty_waiting_polls_are_released_within_a_second_and_block_nothing(
        StackFactory(dev_env.client, pg_url, signing_key)
    )
    assert listened == [True]
