"""Payee conservation (issue 23 item 12, deliver 5): whatever a case goes through — settle, reopen and
settle again, cancel any revision — summing every `case_settled` it emitted, each line's direction
taken from its parties, gives exactly its latest valid revision (nothing, when every one is cancelled).

Run on the store (SQLite) as the worker calls it: the base of each delta is what the store reads, and a
cancel's reversal is written there. The generated sequences mix Scalepoint's form (reductions claimant
→ claimant, paid out externally or through Scalepoint) with the demo's (a deductible claimant →
insurer and an RV invoice), so deltas also cross forms. Counterexamples found are kept as plain tests.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from domain.errors import Conflict
from domain.settlement import CaseRef, ChangedBy, SettlementInput
from store import claims
from store.db import SessionFactory, make_engine, session_factory
from tests.claims.sample import settlement, validate
from tests.claims.scalepoint_cases import Step, assert_conserved, revision

AT = datetime(2026, 12, 7, 9, tzinfo=UTC)
BY = ChangedBy(fullName="Hanne Holm")


class Case:
    """One case driven through the store the way ClaimWorkflow drives it."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions
        self.id = str(uuid.uuid4())
        self.revisions: list[tuple[str, dict[str, Any]]] = []
        self.cancelled: set[str] = set()

    async def open(self) -> Case:
        ref = CaseRef(uuid=self.id, token=f"c.{self.id[:8]}", number="N1", tenant="demo")
        await claims.create_case(self.sessions, ref, "corr", AT)
        return self

    async def settle(self, doc: dict[str, Any]) -> None:
        n = len(self.revisions) + 1
        parsed = SettlementInput.model_validate(doc)
        token, _ = await claims.record_settlement(self.sessions, self.id, n, parsed, "corr", AT, BY)
        self.revisions.append((token, doc))

    async def cancel(self, n: int) -> None:
        token = self.revisions[n][0]
        assert await claims.cancel_revision(self.sessions, self.id, token)
        self.cancelled.add(token)

    async def settled_events(self) -> list[dict[str, Any]]:
        events = await claims.case_events(self.sessions, "demo", self.id, 1000)
        found = [json.loads(e.payload) for e in reversed(events) if e.type == "case_settled"]
        for event in found:
            validate(event)
        return found

    def latest(self) -> dict[str, Any] | None:
        valid = [doc for token, doc in self.revisions if token not in self.cancelled]
        return valid[-1] if valid else None


def summary_of(doc: dict[str, Any]) -> tuple[Any, ...]:
    """A generated settlement, briefly: its form and figures."""
    return (doc["details"]["settlementType"], *(e["total"] for e in doc["expenses"]), doc["summary"])


def scalepoint_form(
    expense: int, depreciation: int, deductible: int, manual: int, via: bool
) -> dict[str, Any]:
    step = Step(expense, depreciation, deductible, manual, (0, 0, 0, 0), [], ([], []), ([], []))
    return revision(step, via, str(uuid.uuid4()))


async def test_a_cancelled_revision_is_reversed_and_the_next_delta_starts_from_what_was_emitted(
    any_db_url: str,
) -> None:
    """Item 12: rev1 10,000, rev2 12,000 (+2,000), cancel rev2, rev3 11,000 ran +1,000 against rev1 with
    no event for the cancel: the claimant's running total was 13,000 against a true 11,000."""
    case = await Case(session_factory(make_engine(any_db_url))).open()
    await case.settle(settlement(compensation=10000))
    await case.settle(settlement(compensation=12000))
    await case.cancel(1)
    reversal = (await case.settled_events())[-1]
    assert [(e["expenseType"], e["total"]) for e in reversal["expenses"]] == [("creditNote", 2000)]
    assert reversal["settlement"]["revisionToken"] == case.revisions[1][0]
    await case.settle(settlement(compensation=11000))
    assert_conserved(await case.settled_events(), case.latest())
    tokens = [t for t, _ in case.revisions]  # each points to its successor (the Settlement API's read)
    found = [await claims.revision_by_token(case.sessions, t) for t in tokens]
    assert [f[2] if f else "?" for f in found] == [tokens[1], tokens[2], None]


async def test_cancelling_the_only_revision_then_settling_again_pays_once(any_db_url: str) -> None:
    """Item 12: the whole settlement went out twice."""
    case = await Case(session_factory(make_engine(any_db_url))).open()
    await case.settle(settlement())
    await case.cancel(0)
    assert_conserved(await case.settled_events(), None)
    await case.settle(settlement())
    assert_conserved(await case.settled_events(), case.latest())


async def test_an_expense_lowered_to_nothing_is_credited_once(any_db_url: str) -> None:
    """The property's counterexample on 578d22a without cancels: 500 then 0 emitted a creditNote of
    −500 with swapped parties, so the claimant's sum was −500 (reversed twice) instead of 0."""
    case = await Case(session_factory(make_engine(any_db_url))).open()
    await case.settle(scalepoint_form(500, 0, 0, 0, via=False))
    await case.settle(scalepoint_form(0, 0, 0, 0, via=False))
    assert_conserved(await case.settled_events(), case.latest())


async def test_a_repeated_cancel_writes_one_reversal(any_db_url: str) -> None:
    """The cancel activity retried after its commit: the reversal is in the log once."""
    case = await Case(session_factory(make_engine(any_db_url))).open()
    await case.settle(settlement())
    await case.cancel(0)
    await case.cancel(0)
    assert len(await case.settled_events()) == 2


@st.composite
def scalepoint_docs(draw: st.DrawFn) -> dict[str, Any]:
    expense = 500 * draw(st.integers(0, 8))
    depreciation = min(250 * draw(st.integers(0, 4)), expense)
    deductible = min(100 * draw(st.integers(0, 4)), expense - depreciation)
    manual = min(50 * draw(st.integers(0, 2)), expense - depreciation - deductible)
    return scalepoint_form(expense, depreciation, deductible, manual, draw(st.booleans()))


@st.composite
def demo_docs(draw: st.DrawFn) -> dict[str, Any]:
    """The demo's form; the claimant paid in euro or the repair by another repairer now and then."""
    doc = settlement(
        compensation=1000 * draw(st.integers(0, 6)) + 250, deductible=50 * draw(st.integers(0, 3))
    )
    if draw(st.booleans()):
        for line in (doc["expenses"][0], *doc["obligations"][:2], doc["payments"][0]):
            line["currencyCode"] = "EUR"
    if draw(st.booleans()):
        doc["parties"][2] |= {"id": {"schemeId": "DK:CVR", "value": "11223344"}, "name": "Rude & Co ApS"}
    return doc


DOCS = st.one_of(scalepoint_docs(), demo_docs())
STEPS = st.lists(st.one_of(DOCS.map(lambda d: ("settle", d)), st.integers(0, 5).map(lambda n: ("cancel", n))))


ENGINES: dict[str, SessionFactory] = {}


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS.filter(lambda s: 0 < len(s) <= 7))
async def test_payee_conservation(db_url: str, steps: list[tuple[str, Any]]) -> None:
    note(repr([(kind, arg if kind == "cancel" else summary_of(arg)) for kind, arg in steps]))
    if db_url not in ENGINES:  # one engine for the test's examples, not one per example
        ENGINES[db_url] = session_factory(make_engine(db_url))
    case = await Case(ENGINES[db_url]).open()
    for kind, arg in steps:
        if kind == "settle":
            await case.settle(arg)
        else:
            standing = [n for n, (t, _) in enumerate(case.revisions) if t not in case.cancelled]
            if standing:
                await case.cancel(standing[arg % len(standing)])
        assert_conserved(await case.settled_events(), case.latest())


async def test_the_store_refuses_a_settlement_key_reused_with_another_body(any_db_url: str) -> None:
    """Item 16 at the store (the activity's path): the key's first revision answered any body."""
    case = await Case(session_factory(make_engine(any_db_url))).open()
    first = SettlementInput.model_validate(settlement())
    token, _ = await claims.record_settlement(case.sessions, case.id, 1, first, "c", AT, BY, "settle-k")
    again = await claims.record_settlement(case.sessions, case.id, 2, first, "c", AT, BY, "settle-k")
    assert again[0] == token  # a retry of the same settlement
    other = SettlementInput.model_validate(settlement(compensation=9000))
    with pytest.raises(Conflict):
        await claims.record_settlement(case.sessions, case.id, 2, other, "c", AT, BY, "settle-k")
