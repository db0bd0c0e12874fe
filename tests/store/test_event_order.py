"""The event log is read by cursor: an event that commits after a higher id must still be seen.

Eight writers append (one to four events a transaction) and pause a random 0-2 ms before each
commit, so without care ids commit out of order. Meanwhile one poller follows the cursor the way
the Events API does (`after`, woken by the EventFeed: NOTIFY on PostgreSQL, polling on SQLite) and
one relay loop dispatches what is undispatched. Each sees every event exactly once, the poller in id
order. SQLite runs fewer events: it is commit-ordered by its single writer, and its writers queue on
the busy handler's sleeps, which makes a long run slow without testing more.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable

from sqlmodel import select

from api.event_feed import EventFeed, listen_connector
from store.db import make_engine, session_factory, transaction
from store.events import after, append
from store.models import Event
from store.webhooks import WebhookStore

TENANT = "demo"
WRITERS = 8


async def _until(awaitable: Awaitable[object], done: asyncio.Event) -> None:
    """Wait for `awaitable` or for `done`, whichever comes first."""
    tasks = {asyncio.ensure_future(awaitable), asyncio.ensure_future(done.wait())}
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


async def test_late_commits_are_seen_once_in_id_order(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    sessions = session_factory(engine)
    feed = EventFeed(sessions, connect=listen_connector(engine))
    store = WebhookStore(sessions)
    total = 2000 if engine.dialect.name == "postgresql" else 400
    done, committed = asyncio.Event(), asyncio.Event()
    polled: list[int] = []
    relayed: list[int] = []

    async def poller() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            page = await after(sessions, TENANT, cursor, limit=100)
            polled.extend(e.id for e in page if e.id is not None)
            if page:
                cursor = polled[-1]
            elif finished:
                return
            else:
                await _until(feed.wait_beyond(TENANT, cursor, 30), done)

    async def relay() -> None:
        while True:
            finished = done.is_set()
            committed.clear()
            batch = [e.id for e in await store.undispatched(TENANT) if e.id is not None]
            relayed.extend(batch)
            if batch:
                await store.mark_dispatched(batch)
            elif finished:
                return
            else:
                await _until(committed.wait(), done)

    async def writer(w: int) -> None:
        rng, n = random.Random(w), 0
        while n < total // WRITERS:
            async with transaction(sessions) as s:
                for _ in range(min(rng.randint(1, 4), total // WRITERS - n)):
                    await append(s, TENANT, f"order:{w}:{n}", {"eventType": "test.order", "n": n})
                    n += 1
                await asyncio.sleep(rng.uniform(0, 0.002))  # the late commit
            committed.set()  # as an activity relays after its write

    readers = [asyncio.create_task(poller()), asyncio.create_task(relay())]
    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*(writer(w) for w in range(WRITERS)))
            done.set()
            await asyncio.gather(*readers)
        async with sessions() as s:
            ids = sorted((await s.exec(select(Event.id).where(Event.tenant == TENANT))).all())
        listened = feed.listening
    finally:
        for task in readers:
            task.cancel()
        await feed.close()
        await engine.dispose()
    assert len(ids) == total
    missed = sorted(set(ids) - set(polled))
    assert not missed, f"the poller skipped {len(missed)} late commits, e.g. {missed[:5]}"
    assert polled == ids, "the poller saw an event twice or out of id order"
    assert sorted(relayed) == ids, "the relay missed or repeated an event"
    assert listened == (engine.dialect.name == "postgresql")
