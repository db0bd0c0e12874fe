"""What one store session costs on PostgreSQL, with and without the pre-ping at checkout.

`python -m bench.sessions [--reads 2000] [--rounds 3]` makes a throw-away database on the machine's
PostgreSQL (127.0.0.1:5432), then reads one payment by id (`PaymentStore.by_id`: a session, a query,
the rollback at its end) `--reads` times per engine, the two engines taking turns for `--rounds`, and
prints wall time and process CPU per read, and the ratio. The worker's engine goes without the
pre-ping (`store.db.make_engine(pre_ping=False)`), the API's keeps it (issue 21 deliverable 2).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.stack import POSTGRES
from store.db import make_engine, migrate, session_factory
from store.payments import PaymentStore


async def _per_read(url: str, pre_ping: bool, reads: int) -> tuple[float, float]:
    engine = make_engine(url, pre_ping=pre_ping)
    store = PaymentStore(session_factory(engine))
    for _ in range(reads // 10):  # the pool filled, the statements cached
        await store.by_id(1)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(reads):
        await store.by_id(1)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await engine.dispose()
    return wall / reads * 1000, cpu / reads * 1000


async def main(reads: int, rounds: int) -> None:
    name = f"payflow_bench_sessions_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as c:
        await c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{POSTGRES}/{name}"
        await asyncio.to_thread(migrate, url)
        figures: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for _ in range(rounds):
            for pre_ping in (True, False):
                figures[pre_ping].append(await _per_read(url, pre_ping, reads))
        for pre_ping, runs in figures.items():
            wall = statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            print(f"pre_ping={pre_ping!s:5}: {wall:.2f} ms wall, {cpu:.2f} ms CPU per session (median)")
        on, off = (statistics.median(c for _, c in figures[p]) for p in (True, False))
        print(f"CPU per session with the pre-ping / without: {on / off:.2f}x")
    finally:
        async with admin.connect() as c:
            await c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.reads, args.rounds))
