"""Wake long-polling Events API requests when their tenant's log grows.

Events are written by workers, often in other processes, so the API cannot be told in-process. One
poller per API process asks the store for the newest event id of every tenant someone waits on,
every `interval` seconds, only while someone waits: 50 waiting clients cost one query per tick.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from store.db import SessionFactory
from store.events import latest_ids


class EventFeed:
    def __init__(self, sessions: SessionFactory, interval: float = 0.1) -> None:
        self._sessions = sessions
        self._interval = interval
        self._waiters: dict[str, list[tuple[int, asyncio.Event]]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def wait_beyond(self, tenant: str, cursor: int, hold: float) -> bool:
        """Wait up to `hold` seconds for an event of `tenant` after `cursor`; True when one came."""
        entry = (cursor, asyncio.Event())
        self._waiters.setdefault(tenant, []).append(entry)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            async with asyncio.timeout(hold):
                await entry[1].wait()
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters[tenant].remove(entry)
            if not self._waiters[tenant]:
                del self._waiters[tenant]

    async def _poll(self) -> None:
        while self._waiters:
            with suppress(Exception):  # a failed look-up is retried on the next tick
                latest = await latest_ids(self._sessions, set(self._waiters))
                for tenant, entries in list(self._waiters.items()):
                    for cursor, woken in entries:
                        if latest.get(tenant, 0) > cursor:
                            woken.set()
            await asyncio.sleep(self._interval)

    def waiting(self, tenant: str) -> int:
        return len(self._waiters.get(tenant, []))

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with suppress(asyncio.CancelledError):
                await self._poller
