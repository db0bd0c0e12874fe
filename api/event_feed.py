"""Wake long-polling Events API requests when their tenant's log grows.

Events are written by workers, often in other processes, so the API cannot be told in-process. On
PostgreSQL every append NOTIFYs its tenant at commit and one dedicated connection per API process
LISTENs; on SQLite, or while that connection is down, the feed polls every `interval` seconds
instead. Either way a wake-up is confirmed by one query for the newest ids of all waited-on tenants
(50 waiting clients cost one query), and only waiters whose cursor is behind are released.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from store.db import SessionFactory
from store.events import CHANNEL, latest_ids

log = logging.getLogger(__name__)
Connect = Callable[[], Awaitable[asyncpg.Connection]]
CONNECT_TIMEOUT = 10.0


def listen_connector(engine: AsyncEngine) -> Connect | None:
    """How to open a LISTEN connection to the engine's database: asyncpg only (None on SQLite)."""
    if engine.dialect.driver != "asyncpg":
        return None
    _, params = engine.dialect.create_connect_args(engine.url)
    for sqlalchemy_only in ("prepared_statement_cache_size", "prepared_statement_name_func"):
        params.pop(sqlalchemy_only, None)

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(**params, timeout=CONNECT_TIMEOUT)

    return connect


class EventFeed:
    def __init__(
        self,
        sessions: SessionFactory,
        interval: float = 0.1,
        *,
        connect: Connect | None = None,
        heartbeat: float = 10.0,
        retry: float = 1.0,
        max_retry: float = 30.0,
    ) -> None:
        self._sessions = sessions
        self._interval = interval
        self._connect = connect
        self._heartbeat = heartbeat
        self._retry = retry
        self._max_retry = max_retry
        self._backoff = retry
        self._retry_at = 0.0
        self._conn: asyncpg.Connection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._nudge = asyncio.Event()
        self._waiters: dict[str, list[tuple[int, asyncio.Event]]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def wait_beyond(self, tenant: str, cursor: int, hold: float) -> bool:
        """Wait up to `hold` seconds for an event of `tenant` after `cursor`; True when one came."""
        entry = (cursor, asyncio.Event())
        self._waiters.setdefault(tenant, []).append(entry)
        self._nudge.set()  # check once now: the event may have committed after the caller's read
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._run())
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

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def waiting(self, tenant: str) -> int:
        return len(self._waiters.get(tenant, []))

    async def _run(self) -> None:
        """While anyone waits: check on every nudge (a NOTIFY, a new waiter, a (re)connection), on a
        heartbeat while listening, every `interval` while not."""
        while self._waiters:
            self._start_listening()
            self._nudge.clear()  # before the check: a nudge during it runs another
            try:
                await self._check()
                checked = True
            except Exception:  # a failed look-up is retried at the next poll tick
                checked = False
            listening = self.listening
            try:
                async with asyncio.timeout(self._heartbeat if listening and checked else self._next_poll()):
                    await self._nudge.wait()
            except TimeoutError:
                if listening:
                    await self._ping()

    def _next_poll(self) -> float:
        """Seconds to the next check while not listening: the poll interval, or sooner to reconnect."""
        if self._connect is None or self._connecting is not None or self.listening:
            return self._interval
        return min(self._interval, max(0.0, self._retry_at - asyncio.get_running_loop().time()))

    async def _check(self) -> None:
        latest = await latest_ids(self._sessions, set(self._waiters))
        for tenant, entries in list(self._waiters.items()):
            for cursor, woken in entries:
                if latest.get(tenant, 0) > cursor:
                    woken.set()

    def _start_listening(self) -> None:
        if self._connect is None or self.listening or self._connecting is not None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() >= self._retry_at:
            self._connecting = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        """Open the LISTEN connection; on failure poll and retry later, backing off up to a limit."""
        assert self._connect is not None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                conn = await self._connect()
                try:
                    conn.add_termination_listener(self._lost)
                    await conn.add_listener(CHANNEL, self._notified)
                except BaseException:
                    conn.terminate()
                    raise
            self._conn, self._backoff = conn, self._retry
        except Exception as err:  # the database may be away: keep polling meanwhile
            log.warning("event feed: LISTEN failed (%s), polling; retry in %.1fs", err, self._backoff)
            self._retry_at = loop.time() + self._backoff
            self._backoff = min(self._backoff * 2, self._max_retry)
        finally:
            self._connecting = None
        self._nudge.set()  # anything committed while not listening is found by the next check

    def _notified(self, _conn: Any, _pid: int, _channel: str, tenant: str) -> None:
        if tenant in self._waiters:
            self._nudge.set()

    def _lost(self, conn: Any) -> None:
        if conn is self._conn:
            log.warning("event feed: LISTEN connection lost, polling; reconnect in %.1fs", self._backoff)
            self._conn = None
            self._retry_at = asyncio.get_running_loop().time() + self._backoff
            self._nudge.set()

    async def _ping(self) -> None:
        """Find a connection that died silently (no FIN): the heartbeat's round trip fails."""
        conn = self._conn
        if conn is None:
            return
        try:
            await conn.fetchval("SELECT 1", timeout=min(self._heartbeat, 5))
        except Exception:
            conn.terminate()
            self._lost(conn)

    async def close(self) -> None:
        for task in (self._poller, self._connecting):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close(timeout=2)
            except Exception:
                conn.terminate()
