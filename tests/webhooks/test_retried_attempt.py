"""A retried attempt answers with the whole outcome its first run logged (issue 19 item 10): the
receiver's Retry-After still delays the next attempt, and "disabled" still ends the delivery."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.faults.inject import FailAfterCommit
from tests.webhooks.harness import finished, hooks


async def test_a_retried_attempt_keeps_retry_after_and_disabled(
    time_env: WorkflowEnvironment, db_url: str
) -> None:
    crash = FailAfterCommit(["attempt"])  # every attempt logs its outcome, then "dies" once
    # the workflow's attempts (an endpoint already failing, a replay): the relay makes no first attempt
    async with hooks(
        time_env.client, db_url, interceptors=[crash], webhook_first_attempt_by_relay=False
    ) as h:
        endpoint = await h.endpoint()
        h.receiver.behaviour.fail_next, h.receiver.behaviour.failure_status = 1, 503
        h.receiver.behaviour.retry_after = 3000
        [event_id] = await h.emit()
        [delivery] = await h.store.deliveries("demo")
        async with asyncio.timeout(30):
            while not await h.store.attempts(delivery.id):  # type: ignore[arg-type]  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert await h.store.disable(endpoint.id, "disabled by the test", await time_env.get_current_time())

        assert await finished(time_env, h, event_id, endpoint.id) == "failed"
        first, *others = await h.store.attempts(delivery.id)  # type: ignore[arg-type]
        assert first.status_code == 503 and crash.injected["attempt"] >= 2
        assert [a.error for a in others] == ["endpoint disabled: disabled by the test"]  # then it stopped
        assert others[0].at - first.at >= timedelta(seconds=3000)  # not the scheduled 5 s
