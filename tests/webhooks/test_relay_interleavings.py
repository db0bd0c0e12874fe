"""Generated interleavings of outbox relays (issue 21 deliverable 4): relays racing, relays that died
after their claim or after logging their attempt, receivers failing, events appended meanwhile. After
any sequence, once the relays and the delivery workflows are done, every event is delivered exactly
once, every attempt has an outcome and each delivery counts its attempts.

`EXAMPLES` sequences are drawn in the normal run (derandomized); `pytest --interleavings N` draws N
and shrinks a failure; a sequence it shrinks is kept as a plain test in test_relay_first_attempt.py.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from store.webhooks import is_claim
from tests.webhooks.harness import Hooks, finished, hooks

EXAMPLES = 12
Step = tuple[str, ...]
STEPS = st.one_of(
    st.tuples(st.just("relay"), st.sampled_from(["1", "2", "3"])),  # that many relays at once
    st.tuples(st.just("fail_next")),
    st.tuples(st.just("emit")),
    st.tuples(st.just("died_after_claim")),
    st.tuples(st.just("died_after_log"), st.sampled_from(["200", "503"])),
)


async def play(env: WorkflowEnvironment, h: Hooks, steps: list[Step]) -> list[str]:
    """Play `steps` for a tenant of its own; the properties it broke."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await h.endpoint(tenant)
    relays = [h.relay, *(h.another_relay() for _ in range(2))]
    events = await h.emit(tenant=tenant, n=2, relayed=False)
    faked: set[int] = set()  # events whose success a died relay logged (no POST was made here)
    for step in steps:
        if step[0] == "relay":
            await asyncio.gather(*(r.relay(tenant, h.client) for r in relays[: int(step[1])]))
        elif step[0] == "fail_next":
            h.receiver.behaviour.fail_next += 1
        elif step[0] == "emit":
            events += await h.emit(tenant=tenant, relayed=False)
        elif (delivery := await _unattempted(h, tenant)) is not None:
            assert delivery.id is not None
            if step[0] == "died_after_claim":
                await h.died_after_claim(delivery.id)
            else:
                await h.died_after_log(delivery.id, int(step[1]))
                faked |= {delivery.event_id} if step[1] == "200" else set()
    for _ in range(3):  # what the sweep does afterwards
        await h.relay.relay(tenant, h.client)
        await h.relay.settled()
    return await _broken(env, h, tenant, events, faked)


async def _broken(
    env: WorkflowEnvironment, h: Hooks, tenant: str, events: list[int], faked: set[int]
) -> list[str]:
    found = []
    if undispatched := [e.id for e in await h.store.undispatched(tenant)]:
        found.append(f"events left undispatched: {undispatched}")
    deliveries = await h.store.deliveries(tenant)
    if sorted(d.event_id for d in deliveries) != sorted(events):
        found.append(f"deliveries {[d.event_id for d in deliveries]} for events {events}")
    for d in deliveries:
        status = await finished(env, h, d.event_id, d.endpoint_id)
        attempts = await h.store.attempts(d.id or 0)
        again = await h.store.delivery(d.id or 0)
        assert again is not None
        if status != "succeeded":
            found.append(f"delivery of event {d.event_id} {status}")
        if any(is_claim(a) for a in attempts):
            found.append(f"delivery of event {d.event_id} keeps an attempt without outcome")
        if again.attempts != len(attempts):
            found.append(
                f"delivery of event {d.event_id} counts {again.attempts} attempts, logs {len(attempts)}"
            )
    sent: dict[str, int] = {}
    for r in h.receiver.delivered():
        sent[json.loads(r["body"])["id"]] = sent.get(json.loads(r["body"])["id"], 0) + 1
    for event_id in events:
        times = sent.get(f"_{event_id}", 0) + (event_id in faked)
        if times != 1:
            found.append(f"event {event_id} delivered {times} times")
    return found


async def _unattempted(h: Hooks, tenant: str):  # type: ignore[no-untyped-def]
    """The first delivery of an undispatched event with no attempt yet (its row made as a relay would)."""
    endpoints = await h.store.endpoints(tenant)
    for event in await h.store.undispatched(tenant):
        for delivery in await h.store.ensure_deliveries(event, endpoints):
            if delivery.status == "pending" and not await h.store.attempts(delivery.id or 0):
                return delivery
    return None


async def test_generated_relay_interleavings(
    time_env: WorkflowEnvironment, db_url: str, pytestconfig: pytest.Config
) -> None:
    loop = asyncio.get_running_loop()
    longer = pytestconfig.getoption("interleavings", None)
    async with hooks(time_env.client, db_url) as h:

        @settings(
            max_examples=longer or EXAMPLES,
            phases=list(Phase) if longer else [Phase.explicit, Phase.reuse, Phase.generate],
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(st.lists(STEPS, max_size=6))
        def sequence(steps: list[Step]) -> None:
            h.receiver.behaviour.fail_next = 0
            broken = asyncio.run_coroutine_threadsafe(play(time_env, h, steps), loop).result()
            note(repr(steps))
            assert not broken, f"steps: {steps!r}: {broken}"

        await asyncio.to_thread(sequence)
