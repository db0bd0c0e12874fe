"""Pool mode over real HTTP, a real worker and the gateway simulator on the dev server: concurrent
intents through the API, the top-up workflow and its schedule, and failed bulk requests."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlmodel import col, select

from domain.pool import TopUpInput, TopUpResult
from payflow.temporal_setup import POOL_SCHEDULE, ensure_pool_schedule
from store.models import Payment, PooledNumber, PoolRequest
from tests.api.helpers import count, intent
from tests.stack import Stack, StackFactory
from workflows.pool_topup import PoolTopUpWorkflow

PRODUCT = "FCUL0001"
POOL = {"cn_mode": "pool", "max_inflight_starts": 64, "pool_products": PRODUCT}


async def top_up(stack: Stack, minimum: int, batch: int) -> list[TopUpResult]:
    return await stack.temporal.execute_workflow(
        PoolTopUpWorkflow.run,
        TopUpInput(products=[PRODUCT], minimum=minimum, batch=batch),
        id=f"pool-topup-{uuid.uuid4()}",
        task_queue=stack.settings.task_queue,
    )


async def free(stack: Stack) -> int:
    return await count(stack, PooledNumber, col(PooledNumber.payment_id).is_(None))


async def behave(stack: Stack, **behaviour: str) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{stack.settings.gateway_url}/_sim/behaviour", json=behaviour)
        r.raise_for_status()


async def test_fifty_concurrent_intents_take_fifty_numbers_and_the_schedule_refills(
    make_stack: StackFactory,
) -> None:
    async with make_stack(**POOL, pool_minimum=60, pool_batch=30, pool_check_s=3600) as stack:
        empty = await stack.post("/api/GetControlNumber", json=intent(smsRequired=False))
        assert empty.json()["error_occured"] is True, empty.text
        assert empty.json()["error_message"] == "9-Control number cannot be assigned"
        async with stack.sessions() as s:
            failed = await s.get(Payment, int(empty.json()["internal_identifier"]))
        assert failed is not None and failed.status == -2
        assert (
            failed.rejected_reason
            == f"{empty.json()['error_message']}: no free number in the pool of product {PRODUCT}"
        )

        assert await top_up(stack, minimum=50, batch=25) == [
            TopUpResult(product_code=PRODUCT, requested=50, added=50)
        ]
        await stack.token("eo")  # one token for all: the token endpoint is rate-limited
        answers = await asyncio.gather(
            *(stack.post("/api/GetControlNumber", json=intent(smsRequired=False)) for _ in range(50))
        )
        assert [a.status_code for a in answers] == [200] * 50
        numbers = [a.json()["control_number"] for a in answers]
        assert all(numbers) and len(set(numbers)) == 50
        async with stack.sessions() as s:
            pooled = dict((await s.exec(select(PooledNumber.control_number, PooledNumber.payment_id))).all())
            held = dict(
                (await s.exec(select(Payment.control_number, Payment.id).where(Payment.status == 3))).all()
            )
        assert held == {cn: pooled[cn] for cn in numbers}  # each payment holds the number the pool gave it
        assert await free(stack) == 0

        await ensure_pool_schedule(stack.temporal, stack.settings)  # minimum 60, batches of 30
        try:
            await stack.temporal.get_schedule_handle(POOL_SCHEDULE).trigger()
            await wait_until(stack, lambda n: n == 60)
        finally:
            await stack.temporal.get_schedule_handle(POOL_SCHEDULE).delete()


async def wait_until(stack: Stack, wanted: object, within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not wanted(await free(stack)):  # type: ignore[operator]  # noqa: ASYNC110 - state in the store
            await asyncio.sleep(0.1)


async def test_a_failed_bulk_request_leaves_no_half_made_rows(make_stack: StackFactory) -> None:
    async with make_stack(**POOL) as stack:
        await behave(stack, ack="refuse")
        [refused] = await top_up(stack, minimum=5, batch=5)
        assert (refused.added, refused.reason) == (0, "7242:Invalid Request Data")

        await behave(stack, ack="accept")
        assert (await top_up(stack, minimum=5, batch=5))[0].added == 5
        await behave(stack, ack="accept", callback="duplicate")  # the batch repeats a number issued before
        [clash] = await top_up(stack, minimum=10, batch=5)
        assert (clash.added, clash.reason) == (0, "the gateway's numbers could not be pooled")

        await behave(stack, ack="unavailable")  # the gateway is down: retried, marked failed meanwhile
        run = await stack.temporal.start_workflow(
            PoolTopUpWorkflow.run,
            TopUpInput(products=[PRODUCT], minimum=10, batch=5),
            id=f"pool-topup-{uuid.uuid4()}",
            task_queue=stack.settings.task_queue,
        )
        await wait_for_request(stack, "gateway unavailable: gateway answered 503")
        assert await free(stack) == 5
        await behave(stack, ack="accept")
        assert (await run.result())[0].added == 5

        async with stack.sessions() as s:
            requests = (await s.exec(select(PoolRequest).order_by(col(PoolRequest.id)))).all()
            per_request = dict(
                (
                    await s.exec(
                        select(PooledNumber.request_id, PooledNumber.id).order_by(col(PooledNumber.id))
                    )
                ).all()
            )
        assert [(r.state, r.reason) for r in requests] == [
            ("failed", "7242:Invalid Request Data"),
            ("done", None),
            ("failed", "the gateway returned a control number that is already pooled or in use"),
            ("done", None),
        ]
        assert set(per_request) == {requests[1].id, requests[3].id}
        assert await free(stack) == 10


async def wait_for_request(stack: Stack, reason: str, within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while await count(stack, PoolRequest, PoolRequest.reason == reason) == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
