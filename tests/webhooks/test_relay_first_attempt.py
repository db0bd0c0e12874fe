"""The outbox relay makes a delivery's first attempt itself (issue 21 deliverable 4): a delivery that
succeeds at once is logged and has no workflow; one that fails goes on in its workflow from attempt 2;
two relays never both make an attempt; a relay that stopped at any step leaves nothing lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI, Response
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import ExecuteActivityInput

from activities.webhooks import NO_OUTCOME
from domain.delivery_flow import delivery_workflow_id
from payflow.servers import free_port, serve
from store.models import Delivery, DeliveryAttempt
from store.webhooks import is_claim
from tests.faults.inject import ActivityHook
from tests.webhooks.harness import Hooks, finished, hooks


async def _workflow_exists(h: Hooks, delivery: Delivery) -> bool:
    try:
        await h.client.get_workflow_handle(
            delivery_workflow_id(delivery.event_id, delivery.endpoint_id)
        ).describe()
    except RPCError as err:
        assert err.status == RPCStatusCode.NOT_FOUND
        return False
    return True


async def _only_delivery(h: Hooks) -> tuple[Delivery, list[DeliveryAttempt]]:
    [delivery] = await h.store.deliveries("demo")
    assert delivery.id is not None
    return delivery, await h.store.attempts(delivery.id)


async def _dispatched(h: Hooks, event_id: int) -> bool:
    return not [e for e in await h.store.undispatched("demo") if e.id == event_id]


async def test_a_delivery_that_succeeds_at_once_is_logged_and_has_no_workflow(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with hooks(time_env.client, db_url) as h:
        await h.endpoint()
        [event_id] = await h.emit()
        delivery, attempts = await _only_delivery(h)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
        assert [(a.number, a.status_code, a.result) for a in attempts] == [(1, 200, "succeeded")]
        assert attempts[0].latency_ms is not None and attempts[0].response_body is not None
        assert not await _workflow_exists(h, delivery)
        assert await _dispatched(h, event_id)
        assert len(h.receiver.delivered()) == 1 and all(r["valid"] for r in h.receiver.received)


async def test_a_failed_first_attempt_goes_on_in_the_workflow_from_attempt_2(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with hooks(time_env.client, db_url) as h:
        endpoint = await h.endpoint()
        h.receiver.behaviour.fail_next = 1
        [event_id] = await h.emit()
        delivery, attempts = await _only_delivery(h)
        assert [(a.number, a.status_code) for a in attempts] == [(1, 500)]  # before the workflow
        assert await _workflow_exists(h, delivery) and await _dispatched(h, event_id)
        assert await finished(time_env, h, event_id, endpoint.id) == "succeeded"
        delivery, attempts = await _only_delivery(h)
        assert [(a.number, a.status_code) for a in attempts] == [(1, 500), (2, 200)]
        assert (delivery.status, delivery.attempts) == ("succeeded", 2)


async def test_an_endpoint_already_failing_gets_every_attempt_from_its_workflow(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with hooks(time_env.client, db_url) as h:
        endpoint = await h.endpoint()
        await h.store.note_outcome(endpoint.id, False, datetime.now(UTC))
        [event_id] = await h.emit()
        delivery, attempts = await _only_delivery(h)
        assert attempts == [] and await _workflow_exists(h, delivery)  # the relay waited for no receiver
        assert await finished(time_env, h, event_id, endpoint.id) == "succeeded"
        assert [a.number for a in (await _only_delivery(h))[1]] == [1]


async def test_a_first_attempt_another_relay_makes_is_left_to_it(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """A claim younger than an attempt can last: the event stays undispatched, nothing is sent."""
    async with hooks(time_env.client, db_url) as h:
        await h.endpoint()
        delivery = await _undispatched_delivery(h)
        assert await h.store.claim_attempt(delivery.id or 0, 1, 1, datetime.now(UTC)) is None
        await h.relay.relay("demo", h.client)
        assert h.receiver.received == [] and not await _workflow_exists(h, delivery)
        assert not await _dispatched(h, delivery.event_id)


async def test_a_relay_that_stopped_during_the_attempt_is_logged_and_the_workflow_goes_on(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """Claimed, then the relay's process died: once the claim is older than an attempt can last, the
    next relay logs attempt 1 with no known outcome and the workflow makes attempt 2."""
    async with hooks(time_env.client, db_url) as h:
        endpoint = await h.endpoint()
        delivery = await _undispatched_delivery(h)
        await h.died_after_claim(delivery.id or 0)
        await h.relay.relay("demo", h.client)
        assert h.receiver.received == [] and await _dispatched(h, delivery.event_id)
        assert await finished(time_env, h, delivery.event_id, endpoint.id) == "succeeded"
        delivery, attempts = await _only_delivery(h)
        assert [(a.number, a.status_code, a.error) for a in attempts] == [
            (1, None, NO_OUTCOME),
            (2, 200, None),
        ]
        assert (delivery.status, delivery.attempts) == ("succeeded", 2)
        assert len(h.receiver.received) == 1


async def test_a_workflow_from_attempt_1_logs_a_stopped_relays_claim_as_no_outcome(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """Kept from the generated interleavings (CI, stop 27): a relay died after its claim, then the
    endpoint failed, so the next relay started the workflow from attempt 1. Its attempt 1 logs the old
    claim as failed with no outcome (it used to leave it a claim, counted 2 attempts and logged 3)."""
    async with hooks(time_env.client, db_url) as h:
        endpoint = await h.endpoint()
        delivery = await _undispatched_delivery(h)
        await h.died_after_claim(delivery.id or 0)
        await h.store.note_outcome(endpoint.id, False, datetime.now(UTC))
        await h.relay.relay("demo", h.client)
        assert h.receiver.received == [] and await _workflow_exists(h, delivery)
        assert await finished(time_env, h, delivery.event_id, endpoint.id) == "succeeded"
        delivery, attempts = await _only_delivery(h)
        assert [(a.number, a.error) for a in attempts] == [(1, NO_OUTCOME), (2, None)]
        assert (delivery.status, delivery.attempts) == ("succeeded", 2)


class _Asked(ActivityHook):
    """Sets `asked` when an `attempt` activity fails because the relay's attempt is in progress."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def around(self, input: ExecuteActivityInput, call: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await call()
        except ApplicationError as err:
            self.asked.set()
            assert err.type == "AttemptInProgress"
            raise


async def test_a_workflow_waits_for_the_relays_attempt_in_progress(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """Relay A claimed attempt 1 while the endpoint was healthy; relay B, seeing it failing since,
    started the workflow from attempt 1. The workflow neither sends attempt 1 again nor calls it
    failed: it asks again until A logs its outcome, and A's success ends the delivery."""
    asked = _Asked()
    async with hooks(time_env.client, db_url, interceptors=[asked]) as h:
        endpoint = await h.endpoint()
        delivery = await _undispatched_delivery(h)
        at = datetime.now(UTC)
        assert await h.store.claim_attempt(delivery.id or 0, 1, 1, at) is None  # relay A
        await h.store.note_outcome(endpoint.id, False, at)
        await h.relay.relay("demo", h.client)  # relay B
        async with asyncio.timeout(30):
            await asked.asked.wait()
        done = DeliveryAttempt(delivery_id=delivery.id, series=1, number=1, at=at, status_code=200)
        await h.store.record_attempt(done.model_copy(update={"result": "succeeded"}), claimed=True)
        assert await finished(time_env, h, delivery.event_id, endpoint.id) == "succeeded"
        delivery, attempts = await _only_delivery(h)
        assert [(a.number, a.status_code) for a in attempts] == [(1, 200)]
        assert (delivery.status, delivery.attempts) == ("succeeded", 1) and h.receiver.received == []


@pytest.mark.parametrize("result", ["succeeded", "failed"])
async def test_a_relay_that_stopped_after_logging_its_attempt_sends_nothing_again(
    time_env: WorkflowEnvironment, db_url: str, result: str
) -> None:
    """Logged, then the relay's process died before it ended the delivery or started its workflow."""
    async with hooks(time_env.client, db_url) as h:
        endpoint = await h.endpoint()
        delivery = await _undispatched_delivery(h)
        await h.died_after_log(delivery.id or 0, 200 if result == "succeeded" else 503)
        await h.relay.relay("demo", h.client)
        assert await _dispatched(h, delivery.event_id)
        assert await finished(time_env, h, delivery.event_id, endpoint.id) == "succeeded"
        assert await _workflow_exists(h, delivery) is (result == "failed")
        attempts = (await _only_delivery(h))[1]
        assert [a.status_code for a in attempts] == ([200] if result == "succeeded" else [503, 200])
        assert len(h.receiver.received) == (0 if result == "succeeded" else 1)


async def test_relays_racing_over_the_same_events_send_each_once(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """Three relays (writers' kicks in two workers and the sweep) over 30 events at once."""
    async with hooks(time_env.client, db_url) as h:
        await h.endpoint()
        h.receiver.behaviour.delay_ms = 20
        event_ids = await h.emit(n=30, relayed=False)
        relays = [h.relay, *(h.another_relay() for _ in range(2))]
        for _ in range(3):  # an event left to another relay's claim is taken by a later pass
            await asyncio.gather(*(r.relay("demo", h.client) for r in relays))
        assert all([await _dispatched(h, e) for e in event_ids])
        deliveries = await h.store.deliveries("demo")
        assert {d.status for d in deliveries} == {"succeeded"} and len(deliveries) == 30
        assert sorted(json.loads(r["body"])["id"] for r in h.receiver.received) == sorted(
            f"_{e}" for e in event_ids
        )
        for d in deliveries:
            assert [a.number for a in await h.store.attempts(d.id or 0)] == [1] and d.attempts == 1


async def _undispatched_delivery(h: Hooks) -> Delivery:
    """One event appended and its delivery row made, as a relay that stopped before its attempt left it."""
    [event_id] = await h.emit(relayed=False)
    [event] = [e for e in await h.store.undispatched("demo") if e.id == event_id]
    [delivery] = await h.store.ensure_deliveries(event, await h.store.endpoints("demo"))
    return delivery


async def test_a_slow_receiver_holds_up_no_later_event(time_env: WorkflowEnvironment, db_url: str) -> None:
    """While a receiver has not answered a first attempt, an event written later (another tenant's)
    is delivered: the relay's next pass does not wait for the one holding the slow attempt."""
    release, held = asyncio.Event(), asyncio.Event()
    slow_app = FastAPI()

    @slow_app.post("/hold")
    async def hold() -> Response:
        held.set()
        await release.wait()
        return Response(status_code=204)

    async with (
        hooks(time_env.client, db_url, relay_sweep_s=3600) as h,  # the worker's own sweep stays out
        serve(slow_app, free_port()) as slow_url,
    ):
        try:
            slow = await h.endpoint(url=f"{slow_url}/hold")
            await h.endpoint("other-tenant")
            await h.emit(relayed=False)
            h.relay.kick(h.client)  # as a writing activity does
            async with asyncio.timeout(30):
                await held.wait()
                await h.emit(tenant="other-tenant", relayed=False)
                h.relay.kick(h.client)
                while not h.receiver.delivered():  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            [waiting] = await h.store.deliveries("demo", endpoint_id=slow.id)
            [in_flight] = await h.store.attempts(waiting.id or 0)
            assert waiting.status == "pending" and is_claim(in_flight)  # the slow attempt still waits
        finally:
            release.set()  # else the held request keeps the server from stopping
        await h.relay.settled()
        statuses = [d.status for t in ("demo", "other-tenant") for d in await h.store.deliveries(t)]
        assert statuses == ["succeeded"] * 2
