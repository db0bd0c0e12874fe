"""A receiver cannot exhaust the worker (issue 20 item 3): its answer is read to a bounded size within
one total deadline. The receiver is a real process on 127.0.0.1; the worker is this test's process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path

import psutil
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.delivery_flow import delivery_workflow_id
from domain.webhooks import RESPONSE_LIMIT
from payflow.servers import free_port
from store.models import DeliveryAttempt
from tests.webhooks.harness import Hooks, hooks

BIG = 300 * 2**20
DEADLINE_S = 2.0


@contextmanager
def bad_receiver() -> Iterator[str]:
    port = free_port()
    script = Path(__file__).with_name("bad_receiver.py")
    process = subprocess.Popen([sys.executable, str(script), str(port), str(BIG)], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


async def first_attempt(h: Hooks, path: str, base: str, limit_s: float) -> DeliveryAttempt:
    """Deliver one event to `base + path` and return its first logged attempt (polled, bounded)."""
    endpoint = await h.endpoint(url=f"{base}{path}")
    [event_id] = await h.emit()
    handle = h.client.get_workflow_handle(delivery_workflow_id(event_id, endpoint.id))
    try:
        async with asyncio.timeout(limit_s):
            while True:
                [delivery] = await h.store.deliveries("demo", endpoint_id=endpoint.id)
                if attempts := await h.store.attempts(delivery.id):  # type: ignore[arg-type]
                    return attempts[0]
                await asyncio.sleep(0.05)
    finally:
        with suppress(RPCError):  # the delivery may have ended already
            await handle.terminate()


@asynccontextmanager
async def peak_rss() -> AsyncIterator[list[int]]:
    """[baseline, peak] of this process' resident memory, sampled every 20 ms while the block runs."""
    me = psutil.Process()
    sampled = [me.memory_info().rss] * 2

    async def sample() -> None:
        while True:
            sampled[1] = max(sampled[1], me.memory_info().rss)
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    try:
        yield sampled
    finally:
        sampler.cancel()


async def test_a_300_mb_answer_is_not_buffered(dev_env: WorkflowEnvironment, db_url: str) -> None:
    with bad_receiver() as base:
        async with hooks(dev_env.client, db_url, webhook_timeout_s=DEADLINE_S) as h:
            async with peak_rss() as rss:
                attempt = await first_attempt(h, "/big", base, 30)
            assert attempt.status_code == 200
            assert attempt.response_body == "x" * RESPONSE_LIMIT
            assert rss[1] - rss[0] < 50 * 2**20, f"the worker grew by {(rss[1] - rss[0]) >> 20} MiB"


async def test_a_trickling_receiver_is_cut_at_the_total_deadline(
    dev_env: WorkflowEnvironment, db_url: str
) -> None:
    with bad_receiver() as base:
        async with hooks(dev_env.client, db_url, webhook_timeout_s=DEADLINE_S) as h:
            attempt = await first_attempt(h, "/trickle", base, DEADLINE_S + 10)
            assert attempt.status_code is None and "no complete answer within 2 s" in (attempt.error or "")
            assert attempt.latency_ms is not None and attempt.latency_ms < (DEADLINE_S + 1) * 1000
