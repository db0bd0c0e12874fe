"""Issue 20 item 8: /api/GetAssignedControlNumbers takes a bounded number of ids, and ids the store does
not know cost one Temporal call per request, not one each."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from api.openimis_schemas import MAX_IDENTIFIERS
from tests.api.helpers import intent
from tests.stack import StackFactory


def _requests(ids: list[Any]) -> dict[str, Any]:
    return {"requests": [{"internal_identifier": i} for i in ids]}


async def test_unknown_ids_cost_one_temporal_call_and_the_list_is_bounded(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def counted(name: str, original: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return original(*args, **kwargs)

        return call

    monkeypatch.setattr(WorkflowHandle, "describe", counted("describe", WorkflowHandle.describe))
    monkeypatch.setattr(Client, "list_workflows", counted("list", Client.list_workflows))
    async with make_stack(with_worker=False, cn_wait_s=0.2) as stack:
        # an intent whose worker has not written its payment record: known by its workflow alone
        r = await stack.post("/api/GetControlNumber", json=intent())
        started = r.json()["internal_identifier"]
        assert uuid.UUID(started), r.text
        r = await stack.post("/api/GetAssignedControlNumbers", json=_requests([started]))
        assert r.json() == {
            "error_occured": False,
            "assigned_control_numbers": [{"internal_identifier": started, "control_number": None}],
        }
        # another tenant does not see it
        r = await stack.post("/api/GetAssignedControlNumbers", as_="other", json=_requests([started]))
        assert r.json()["error_occured"] is True, r.text

        calls.clear()
        unknown = [str(uuid.uuid4()) for _ in range(MAX_IDENTIFIERS - 1)]
        r = await stack.post("/api/GetAssignedControlNumbers", json=_requests([*unknown, started]))
        assert r.status_code == 400 and r.json()["error_message"].startswith("2-Not valid internal"), r.text
        assert len(calls) <= 1, calls

        r = await stack.post("/api/GetAssignedControlNumbers", json=_requests([*unknown, started, 7]))
        assert r.status_code == 400 and r.json()["error_occured"] is True, r.text
        assert str(MAX_IDENTIFIERS) in r.json()["error_message"]
