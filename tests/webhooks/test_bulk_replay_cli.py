"""`payflow deliveries replay` of 200 failed deliveries by endpoint and time range, with progress."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from store.models import DeliveryAttempt
from tests.api.helpers import wait_for
from tests.webhooks.harness import Hooks, hooks

PAYFLOW = str(Path(sys.executable).with_name("payflow"))


async def _count(h: Hooks, status: str) -> int:
    return len(await h.store.deliveries("demo", status=status, limit=10000))


async def _settle(h: Hooks, status: str, n: int) -> None:
    for _ in range(600):
        if await _count(h, status) == n:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {n} {status} deliveries, have {await _count(h, status)}")


async def _failed(h: Hooks, n: int) -> None:
    """`n` deliveries failed for good, written to the store as their workflows leave them (their
    failing is tested elsewhere; here only their replay is)."""
    endpoints = await h.store.endpoints("demo")
    ids = await h.emit(n=n, relayed=False)
    for event in [e for e in await h.store.undispatched("demo") if e.id in ids]:
        [delivery] = await h.store.ensure_deliveries(event, endpoints)
        assert delivery.id is not None
        at = datetime.now(UTC)
        attempt = DeliveryAttempt(
            delivery_id=delivery.id, series=1, number=1, at=at, status_code=503, result="failed"
        )
        await h.store.record_attempt(attempt)
        await h.store.finish(delivery.id, 1, "failed")
    await h.store.mark_dispatched(ids)


async def test_bulk_replay_by_endpoint_and_time_range(dev_env: WorkflowEnvironment, db_url: str) -> None:
    async with hooks(dev_env.client, db_url, webhook_schedule="0", relay_sweep_s=3600) as h:
        endpoint = await h.endpoint()
        await _failed(h, 10)  # older failures, outside the range
        since = datetime.now(UTC)
        await _failed(h, 200)
        until = datetime.now(UTC)
        assert await _count(h, "failed") == 210

        env = os.environ | {
            "PAYFLOW_DATABASE_URL": db_url,
            "PAYFLOW_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "PAYFLOW_TASK_QUEUE": h.settings.task_queue,
            "PAYFLOW_WEBHOOK_SCHEDULE": "0",
            "COLUMNS": "120",
        }
        cli = await asyncio.create_subprocess_exec(
            PAYFLOW,
            "deliveries",
            "replay",
            f"--endpoint={endpoint.id}",
            f"--since={since:%Y-%m-%dT%H:%M:%S.%f}",
            f"--until={until:%Y-%m-%dT%H:%M:%S.%f}",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(cli.communicate(), 120)
        text = output.decode()
        assert cli.returncode == 0, text
        assert "200/200" in text and "200 matched, 200 replayed, 0 skipped" in text

        await _settle(h, "succeeded", 200)
        assert await _count(h, "failed") == 10
        await wait_for(lambda: len(h.receiver.delivered()) == 200, "200 deliveries")
        assert len({r["webhook_id"] for r in h.receiver.delivered()}) == 200
        replayed = await h.store.deliveries("demo", status="succeeded", limit=1000)
        assert {d.series for d in replayed} == {2}
