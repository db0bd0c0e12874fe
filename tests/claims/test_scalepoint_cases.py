"""Scalepoint's v3 `case_settled` tests (Case1, Case2_1–Case2_5) through the API over real HTTP.

Each sequence is posted as a claim handler would (`POST /v1/cases/{id}/settlements`, reopen between),
closed externally and through Scalepoint; the events read from the Events API carry the figures and
parties Scalepoint's tests assert and validate against the published schema. On `payflow dev` the same
runs with `python -m tests.claims.scalepoint_dev` (see its docstring).
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.claims.sample import validate
from tests.claims.scalepoint_cases import CASES, assert_scalepoint, revision
from tests.stack import Stack, StackFactory

HANDLER = {"changed_by": {"full_name": "Hanne Holm", "username": "hh"}}


async def settle_sequence(stack: Stack, name: str, via_scalepoint: bool) -> str:
    """Post the case's revisions in turn, reopening between them; returns the case id."""
    r = await stack.post("/v1/cases", as_="claims", json={"number": f"{name}-{via_scalepoint}"})
    assert r.status_code == 201, r.text
    case_id = str(r.json()["id"])
    for n, step in enumerate(CASES[name]):
        if n:
            r = await stack.post(f"/v1/cases/{case_id}/reopen", as_="claims", json=HANDLER)
            assert r.status_code == 200, r.text
        doc = revision(step, via_scalepoint, str(uuid.uuid4()))
        r = await stack.post(f"/v1/cases/{case_id}/settlements", as_="claims", json=doc)
        assert r.status_code == 201, r.text
    return case_id


async def all_events(stack: Stack) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = "_0"
    while True:
        r = await stack.get(f"/api/events/v1/dk/external/demo/receive?lastEventId={cursor}", as_="claims")
        assert r.status_code == 200, r.text
        if not r.json()["data"]:
            return found
        found += r.json()["data"]
        cursor = found[-1]["id"]


async def test_scalepoint_case1_and_case2_sequences_through_the_api(make_stack: StackFactory) -> None:
    names = ["Case1", "Case2_1", "Case2_2", "Case2_3", "Case2_4", "Case2_5"]
    async with make_stack(events_hold_s=0.2) as stack:
        cases = {
            (name, via): await settle_sequence(stack, name, via) for name in names for via in (False, True)
        }
        events = await all_events(stack)
    for (name, via), case_id in cases.items():
        mine = [e["attributes"] for e in events if e["attributes"].get("case", {}).get("uuid") == case_id]
        settled = [e for e in mine if e["eventType"] == "case_settled"]
        assert len(settled) == len(CASES[name]), name
        for event, step in zip(settled, CASES[name], strict=True):
            validate(event)
            assert_scalepoint(event, step, via)
        if name == "Case1":  # the second event: creditNote 2,000 claimant → insurer, obligations typed
            assert [(e["expenseType"], e["total"]) for e in settled[1]["expenses"]] == [("creditNote", 2000)]
