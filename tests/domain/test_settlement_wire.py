"""Settlement input against Scalepoint's published `case_settled` schema, without servers.

The published schema decides what a new settlement may carry; revisions stored (and workflow
histories recorded) before the uuid rule must still load, or the Settlement API could not answer them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from domain.settlement import CaseRef, NewSettlement, SettlementInput, settlement_document
from domain.settlement_delta import case_settled
from payflow.demo import DEMO_SETTLEMENT
from tests.claims.sample import VALIDATOR, published_sample

CASE = CaseRef(uuid="0b7e8f2a-4c1d-4e3b-8a9f-5d6c7b8a9e01", token="c.1", number="CH1", tenant="demo")
AT = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _event(doc: SettlementInput) -> dict[str, Any]:
    return case_settled(CASE, "3e1f0c2a-9b8d-4c7e-a6f5-1d2c3b4a5e60", "corr", AT, doc, None)


def test_a_revision_stored_with_the_old_demo_uuids_still_loads_and_renders() -> None:
    old = json.loads(DEMO_SETTLEMENT.read_text())
    for item, uuid in zip([*old["expenses"], *old["payments"]], ["e1", "e2", "p1", "p2"], strict=True):
        item["uuid"] = uuid
    stored = SettlementInput.model_validate(old).model_dump_json()  # as settlementrevision.document holds it

    doc = SettlementInput.model_validate_json(stored)
    assert [e.uuid for e in doc.expenses] == ["e1", "e2"] and doc.expenses[1].issueDate == "2026-11-20"
    answer = settlement_document(CASE, "t", "SETTLED", AT, doc)["settlementDetails"]
    assert (answer["deductible"], answer["subTotalAmount"]) == (250, 12500)
    with pytest.raises(ValidationError) as refused:
        NewSettlement.model_validate(old)
    assert [e["loc"] for e in refused.value.errors()] == [
        ("expenses", 0, "uuid"),
        ("expenses", 1, "uuid"),
        ("payments", 0, "uuid"),
        ("payments", 1, "uuid"),
    ]


@pytest.mark.parametrize("value", ["2018-09-10", "2018-09-10T11:22:39.760Z", "2018-04-04T15:33:58+0200"])
def test_dates_and_date_times_are_kept_as_sent(value: str) -> None:
    doc = published_sample()
    doc["payments"][0]["dueDate"] = value
    event = _event(NewSettlement.model_validate(doc))
    assert event["payments"][0]["dueDate"] == value
    assert list(VALIDATOR.iter_errors(event)) == []


@pytest.mark.parametrize("value", ["", "10/09/2018", "2018-13-40", "tomorrow"])
def test_a_due_date_that_is_no_date_is_refused(value: str) -> None:
    doc = published_sample()
    doc["payments"][0]["dueDate"] = value
    with pytest.raises(ValidationError) as refused:
        NewSettlement.model_validate(doc)
    assert [e["loc"] for e in refused.value.errors()] == [("payments", 0, "dueDate")]


def test_the_schema_check_refuses_what_the_published_schema_forbids() -> None:
    """The check every emitting test runs (tests/conftest.py) can fail: it is the published rules."""
    event = _event(NewSettlement.model_validate(published_sample()))
    assert list(VALIDATOR.iter_errors(event)) == []
    event["expenses"][0]["uuid"] = "e1"
    del event["payments"][0]["obligations"]
    assert sorted(list(e.path) for e in VALIDATOR.iter_errors(event)) == [
        ["expenses", 0, "uuid"],
        ["payments", 0],
    ]
