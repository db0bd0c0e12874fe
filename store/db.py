"""Async engine and sessions for SQLite (dev, tests) and PostgreSQL (production), plus migrations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(
    url: str, connections: int | None = None, wait_s: float = 30.0, *, pre_ping: bool = True
) -> AsyncEngine:
    """An engine whose pool holds `connections` (SQLAlchemy's 5 + 10 overflow when None); a caller
    waits at most `wait_s` for a connection, and on SQLite as long for the single writer's lock.
    `pre_ping` (PostgreSQL): a round trip at each checkout, so that a request after a database restart
    finds no dead connection; the worker goes without it (0.3 ms of CPU per session, `bench.sessions`),
    since its store steps retry and the first failure after a restart empties its pool."""
    pool: dict[str, Any] = {"pool_timeout": wait_s}
    if connections is not None:
        pool |= {"pool_size": connections, "max_overflow": 0}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": wait_s}, **pool)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers never wait; one writer at a time
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(wait_s * 1000)}")
            cur.close()

        engine.sync_engine.payflow_writer = OneWriter()  # type: ignore[attr-defined]
        return engine
    return create_async_engine(url, pool_pre_ping=pre_ping, **pool)


class OneWriter:
    """SQLite takes one writer at a time. Writers of this process queue here, in order, instead of
    colliding in SQLite: its busy handler sleeps up to 100 ms a try, and a transaction that read
    before another committed cannot start writing at all ("database is locked")."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        me = asyncio.current_task()
        if me is not None and me is self._holder:  # a transaction opened inside this one's turn
            yield
            return
        async with self._lock:
            self._holder = me
            try:
                yield
            finally:
                self._holder = None


SessionFactory = async_sessionmaker[AsyncSession]


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """One session in one transaction: committed on success, rolled back on any error."""
    bind = factory.kw.get("bind")
    writer = getattr(bind.sync_engine, "payflow_writer", None) if bind is not None else None
    async with writer.turn() if writer is not None else nullcontext():
        async with factory() as session, session.begin():
            yield session


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # alembic only where migrations run: every process imports this

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def migrate(url: str) -> None:
    """Bring the database at `url` to the latest schema (sync; call before the event loop needs it)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def migrated_sessions(url: str) -> SessionFactory:
    """Sessions on a database brought to the latest schema first: what a CLI command starts with."""
    migrate(url)
    return session_factory(make_engine(url))


async def add_once(sessions: SessionFactory, row: Any) -> bool:
    """Insert `row` in its own transaction unless a unique key already holds it (an earlier run or a
    concurrent writer of the same fact): True when this call inserted it."""
    try:
        async with transaction(sessions) as s:
            s.add(row)
    except IntegrityError:
        return False
    return True
