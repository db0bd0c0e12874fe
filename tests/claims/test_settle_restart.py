"""A worker killed while a settlement is requested: after restart, one revision and one event."""

from __future__ import annotations

import signal

from temporalio.testing import WorkflowEnvironment

from store.models import Event, SettlementRevision
from tests.api.helpers import count
from tests.claims.sample import settlement, validate
from tests.claims.test_settlements import events, new_case
from tests.stack import StackFactory
from tests.test_worker_restart import start_worker


async def test_settle_survives_a_killed_worker(
    make_stack: StackFactory, dev_env: WorkflowEnvironment
) -> None:
    async with make_stack(with_worker=False, update_timeout_s=2, events_hold_s=1) as stack:
        worker = await start_worker(stack, dev_env)
        case = await new_case(stack)
        worker.send_signal(signal.SIGKILL)
        await worker.wait()

        key = {"Idempotency-Key": "settle-4711-1"}
        path = f"/v1/cases/{case['id']}/settlements"
        r = await stack.post(path, as_="claims", json=settlement(), headers=key)
        assert r.status_code == 503 and r.json()["code"] == "workflow_unavailable"  # no worker: retry later

        worker = await start_worker(stack, dev_env)
        try:
            for _ in range(20):  # as a client does on 503 + Retry-After, while Temporal reroutes the case
                first = await stack.post(path, as_="claims", json=settlement(), headers=key)
                if first.status_code != 503:
                    break
            again = await stack.post(path, as_="claims", json=settlement(), headers=key)
            assert first.status_code == again.status_code == 201, first.text
            assert first.json() == again.json() and first.json()["revision_no"] == 1
            assert await count(stack, SettlementRevision) == 1
            assert await count(stack, Event, Event.type == "case_settled") == 1
            page = (await events(stack))["data"]  # made by the worker process: validated here
            assert [i["type"] for i in page] == ["case_created", "case_settled", "claim_updated"]
            validate(page[1]["attributes"])
        finally:
            worker.terminate()
            await worker.wait()
