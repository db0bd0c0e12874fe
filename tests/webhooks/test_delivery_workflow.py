"""WebhookDeliveryWorkflow on the time-skipping server: the retry schedule, dead letters, replay,
410, five days of failures, Retry-After, OAuth, and signatures checked by the reference library."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

from standardwebhooks import Webhook
from temporalio.testing import WorkflowEnvironment

from api.delivery_replay import replay
from domain.delivery_flow import delivery_workflow_id
from domain.webhooks import DEFAULT_SCHEDULE
from simulators.receiver import Behaviour
from store.events import after
from tests.webhooks.harness import Hooks, finished, hooks
from tests.workflows.harness import record
from workflows import search_attributes as sa


async def _webhook_id(h: Hooks, event_id: int) -> str:
    event = await h.store.event(event_id)
    assert event is not None
    return event.webhook_id


def _gaps(attempts) -> list[float]:  # type: ignore[no-untyped-def]
    return [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(attempts)]


def _within_jitter(gap: float, scheduled: int) -> bool:
    return scheduled * 0.8 - 1 <= gap <= scheduled * 1.2 + 1


async def test_receiver_down_then_up_follows_the_schedule(time_env: WorkflowEnvironment, db_url: str) -> None:
    async with hooks(time_env.client, db_url) as h:
        endpoint = await h.endpoint()
        h.receiver.behaviour.fail_next = 3
        [event_id] = await h.emit()
        handle = time_env.client.get_workflow_handle(delivery_workflow_id(event_id, endpoint.id))
        assert await finished(time_env, h, event_id, endpoint.id) == "succeeded"
        [delivery] = await h.store.deliveries("demo")
        attempts = await h.store.attempts(delivery.id)  # type: ignore[arg-type]
        assert [a.status_code for a in attempts] == [500, 500, 500, 200]
        assert all(_within_jitter(g, s) for g, s in zip(_gaps(attempts), DEFAULT_SCHEDULE[1:], strict=False))
        assert {r["webhook_id"] for r in h.receiver.received} == {await _webhook_id(h, event_id)}
        assert len(h.receiver.delivered()) == 1 and all(r["valid"] for r in h.receiver.received)
        timestamps = [r["timestamp"] for r in h.receiver.received]
        assert timestamps == sorted(timestamps)  # fresh per attempt
        assert (delivery.status, delivery.attempts) == ("succeeded", 4)
        described = await handle.describe()
        assert described.typed_search_attributes.get(sa.DELIVERY_STATUS) == "succeeded"
        assert described.typed_search_attributes.get(sa.ENDPOINT_ID) == endpoint.id
        await record(
            handle, "../webhook_delivery/after_relay_first_attempt"
        )  # attempts 2-4 (the relay made 1)


async def test_never_up_is_a_dead_letter_until_replayed(time_env: WorkflowEnvironment, db_url: str) -> None:
    async with hooks(time_env.client, db_url) as h:
        endpoint = await h.endpoint()
        h.receiver.behaviour.down = True
        [event_id] = await h.emit()
        assert await finished(time_env, h, event_id, endpoint.id) == "failed"
        [delivery] = await h.store.deliveries("demo")
        attempts = await h.store.attempts(delivery.id)  # type: ignore[arg-type]
        assert len(attempts) == len(DEFAULT_SCHEDULE) and delivery.status == "failed"
        assert sum(_gaps(attempts)) >= sum(DEFAULT_SCHEDULE) * 0.8  # about 27.6 hours

        h.receiver.behaviour.down = False
        assert await replay(time_env.client, h.settings, h.store, delivery)
        assert await finished(time_env, h, event_id, endpoint.id) == "succeeded"
        [again] = await h.store.deliveries("demo")
        assert (again.status, again.series) == ("succeeded", 2)
        assert [a.series for a in await h.store.attempts(again.id)] == [1] * 8 + [2]  # type: ignore[arg-type]
        assert {r["webhook_id"] for r in h.receiver.received} == {await _webhook_id(h, event_id)}
        assert len(h.receiver.delivered()) == 1


async def test_webhook_ids_differ_across_tenants_and_repeat_across_retries_and_replays(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    """Each tenant's first event: its own webhook-id, sent at every attempt and again on replay."""
    async with hooks(time_env.client, db_url) as h:
        endpoints = {tenant: await h.endpoint(tenant) for tenant in ("demo", "other-tenant")}
        h.receiver.behaviour.fail_next = 2
        firsts = {tenant: (await h.emit(tenant=tenant))[0] for tenant in endpoints}
        for tenant, event_id in firsts.items():
            assert await finished(time_env, h, event_id, endpoints[tenant].id) == "succeeded"
        [delivery] = await h.store.deliveries("other-tenant")
        assert await replay(time_env.client, h.settings, h.store, delivery)
        assert (
            await finished(time_env, h, firsts["other-tenant"], endpoints["other-tenant"].id) == "succeeded"
        )

        sent: dict[str, set[str]] = {}
        for r in h.receiver.received:
            sent.setdefault(json.loads(r["body"])["id"], set()).add(r["webhook_id"])
        assert len(h.receiver.received) == 5  # two failures, two successes, one replay
        expected = {f"_{e}": {await _webhook_id(h, e)} for e in firsts.values()}
        assert sent == expected and len(set.union(*expected.values())) == 2


async def test_retry_after_delays_the_next_attempt(time_env: WorkflowEnvironment, db_url: str) -> None:
    async with hooks(time_env.client, db_url) as h:
        await h.endpoint()
        h.receiver.behaviour.fail_next, h.receiver.behaviour.failure_status = 1, 429
        h.receiver.behaviour.retry_after = 120
        await h.emit()
        [delivery] = await h.store.deliveries("demo")
        while (await h.store.delivery(delivery.id)).status == "pending":  # type: ignore[arg-type,union-attr]
            await time_env.sleep(timedelta(seconds=30))
        first, second = await h.store.attempts(delivery.id)  # type: ignore[arg-type]
        assert first.status_code == 429 and second.status_code == 200
        assert (second.at - first.at).total_seconds() >= 120  # not the scheduled 5 s


async def test_410_disables_the_endpoint_and_tells_the_others(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with hooks(time_env.client, db_url) as h:
        gone = await h.endpoint(path="/webhooks/gone")
        other = await h.endpoint(path="/webhooks/other")
        h.receiver.named["gone"] = Behaviour(gone=True)
        [event_id] = await h.emit()
        assert await finished(time_env, h, event_id, gone.id) == "failed"
        assert await finished(time_env, h, event_id, other.id) == "succeeded"
        disabled = await h.store.endpoint(gone.id)
        assert disabled is not None and not disabled.enabled and "410" in (disabled.disabled_reason or "")
        notices = [d for d in await h.store.deliveries("demo", event_type="endpoint.disabled")]
        assert [d.endpoint_id for d in notices] == [other.id]  # only to the endpoints still enabled
        result = await finished(time_env, h, notices[0].event_id, other.id)
        assert result == "succeeded"
        body = json.loads(h.receiver.delivered()[-1]["body"])
        assert body["type"] == "endpoint.disabled" and body["data"]["endpoint"]["id"] == gone.id


async def test_five_days_of_failures_disable_the_endpoint(time_env: WorkflowEnvironment, db_url: str) -> None:
    async with hooks(time_env.client, db_url) as h:
        endpoint = await h.endpoint()
        h.receiver.behaviour.down = True
        [first] = await h.emit()
        assert await finished(time_env, h, first, endpoint.id) == "failed"
        endpoint = await h.store.endpoint(endpoint.id)  # type: ignore[assignment]
        assert endpoint.enabled and endpoint.failing_since is not None  # ~28 h (±20 %) of failures
        await time_env.sleep(
            endpoint.failing_since + timedelta(days=5, minutes=1) - await time_env.get_current_time()
        )
        [second] = await h.emit()
        assert await finished(time_env, h, second, endpoint.id) == "failed"
        disabled = await h.store.endpoint(endpoint.id)
        assert disabled is not None and not disabled.enabled
        assert (disabled.disabled_reason or "").startswith("every attempt failed since")
        later = [d for d in await h.store.deliveries("demo") if d.event_id == second]
        assert [d.attempts for d in later] == [1]  # stopped at once: the endpoint was disabled
        notices = [e for e in await after(h.sessions, "demo", 0, limit=10) if e.type == "endpoint.disabled"]
        assert len(notices) == 1


async def test_oauth_bearer_from_the_customers_token_url_is_cached(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with hooks(time_env.client, db_url) as h:
        oauth = {
            "token_url": f"{h.url}/oauth/token",
            "client_id": h.receiver.client_id,
            "client_secret": h.receiver.client_secret,
            "scope": "webhooks",
        }
        endpoint = await h.endpoint(oauth=oauth)
        h.receiver.behaviour.oauth = True
        ids = await h.emit(n=3)
        for event_id in ids:
            assert await finished(time_env, h, event_id, endpoint.id) == "succeeded"
        assert h.receiver.tokens == ["tok-0"]  # one token for three deliveries: cached until it expires
        assert {r["authorization"] for r in h.receiver.received} == {"Bearer tok-0"}


async def test_signatures_verify_with_the_reference_library_during_rotation(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    async with hooks(time_env.client, db_url) as h:
        endpoint = await h.endpoint()
        old_secret = h.receiver.secrets[0]
        from store.webhooks import generate_secret

        new_secret = generate_secret()
        await h.store.rotate_secret(endpoint.id, new_secret, datetime.now(UTC))
        [event_id] = await h.emit()
        assert await finished(time_env, h, event_id, endpoint.id) == "succeeded"
        [request] = h.receiver.received
        headers = {
            "webhook-id": request["webhook_id"],
            "webhook-timestamp": str(request["timestamp"]),
            "webhook-signature": request["signature"],
        }
        assert len(request["signature"].split()) == 2  # both secrets sign during the overlap
        for secret in (old_secret, new_secret):
            assert Webhook(secret).verify(request["body"], headers)["type"] == "case_created"
