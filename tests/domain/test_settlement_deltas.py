"""Settlement deltas as Scalepoint emits them (issue 23 items 11, 13–15), without servers.

Scalepoint's own v3 tests are the fixtures (tests/claims/scalepoint_cases.py): every revision of
every case, closed externally and through Scalepoint, must give the event its test asserts. Then the
cases Scalepoint's tests do not cover: currency, parties and `$id`s changing, an expense with VAT
removed, and the demo settlement lowered.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.settlement import CaseRef, SettlementInput
from domain.settlement_delta import case_settled
from tests.claims.sample import settlement, validate
from tests.claims.scalepoint_cases import CASES, assert_conserved, assert_scalepoint, revision

CASE = CaseRef(uuid="0b7e8f2a-4c1d-4e3b-8a9f-5d6c7b8a9e01", token="c.1", number="CH1", tenant="demo")
AT = datetime(2026, 12, 7, 12, tzinfo=UTC)


def emitted(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `case_settled` events of settling `docs` in turn (each after a reopen)."""
    revisions = [SettlementInput.model_validate(d) for d in docs]
    events = []
    for n, doc in enumerate(revisions):
        token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"revision/{n}"))
        events.append(case_settled(CASE, token, "corr", AT, doc, revisions[n - 1] if n else None))
        validate(events[-1])
    return events


@pytest.mark.parametrize("via_scalepoint", [False, True], ids=["externally", "through-scalepoint"])
@pytest.mark.parametrize("name", list(CASES))
def test_scalepoint_v3_cases_figures_and_all(name: str, via_scalepoint: bool) -> None:
    steps = CASES[name]
    docs = [revision(step, via_scalepoint, str(uuid.uuid4())) for step in steps]
    events = emitted(docs)
    for event, step in zip(events, steps, strict=True):
        assert_scalepoint(event, step, via_scalepoint)
    assert_conserved(events, docs[-1])


def test_a_lowered_settlement_is_one_positive_credit_note_and_obligations_keep_their_type() -> None:
    """Item 11: 10,000 → 9,300 with the deductible 250 → 100 (the demo settlement's form: the
    deductible claimant → insurer). Before: a creditNote of −700 with swapped parties (reversed twice)
    and the deductible as an obligation `creditNote −150`."""
    first, second = settlement(), settlement(compensation=9300, deductible=100, depreciation=0)
    events = emitted([first, second])
    delta = events[1]
    names = {p["$id"]: p["name"] for p in delta["parties"]}
    ref = {"Mette Jensen": "C", "ABC Insurance": "I", "Glas & Rude ApS": "R"}

    def read(items: list[dict[str, Any]], kind: str | None) -> list[tuple[Any, ...]]:
        return sorted(
            (kind and i[kind], i["total"], *(ref[names[i[p]["$ref"]]] for p in ("payerParty", "payeeParty")))
            for i in items
        )

    assert read(delta["expenses"], "expenseType") == [("creditNote", 700, "C", "I")]
    assert read(delta["obligations"], "obligationType") == [
        ("compensation", 550, "C", "I"),
        ("deductible", 150, "I", "I"),
    ]
    assert read(delta["payments"], None) == [(None, 550, "C", "I")]
    assert all(line["total"] >= 0 for k in ("expenses", "obligations", "payments") for line in delta[k])
    assert_conserved(events, second)


def test_a_currency_change_credits_the_old_currency_and_charges_the_new() -> None:
    """Item 13: 10,000 DKK → 1,340 EUR was one `creditNote −8,660 EUR`."""
    first = settlement()
    second = settlement()
    for line in (*second["expenses"][:1], *second["obligations"][:2], *second["payments"][:1]):
        line["currencyCode"] = "EUR"
    second["expenses"][0]["total"] = second["obligations"][0]["total"] = 1340
    second["obligations"][1]["total"] = 34
    second["payments"][0]["total"] = 1306
    events = emitted([first, second])
    expenses = sorted((e["expenseType"], e["total"], e["currencyCode"]) for e in events[1]["expenses"])
    assert expenses == [("cashCompensation", 1340, "EUR"), ("creditNote", 10000, "DKK")]
    assert_conserved(events, second)


def test_an_rv_invoice_moved_to_another_repairer_credits_the_first() -> None:
    """Item 13: the payee changed, so the first repairer's invoice is credited (it gave no event)."""
    first = settlement()
    second = settlement()
    second["parties"][2] = second["parties"][2] | {
        "id": {"schemeId": "DK:CVR", "value": "11223344"},
        "name": "Rude & Co ApS",
    }
    events = emitted([first, second])
    names = {p["$id"]: p["name"] for p in events[1]["parties"]}
    expenses = sorted(
        (e["expenseType"], e["total"], names[e["payerParty"]["$ref"]], names[e["payeeParty"]["$ref"]])
        for e in events[1]["expenses"]
    )
    assert expenses == [
        ("creditNote", 2500, "Glas & Rude ApS", "ABC Insurance"),
        ("repairInvoice", 2500, "ABC Insurance", "Rude & Co ApS"),
    ]
    assert_conserved(events, second)


def test_renumbered_ids_with_no_money_changed_emit_no_lines() -> None:
    """Item 14: `$id` is document-local; the same settlement renumbered emitted a compensation and a
    credit note of 2,250."""
    first = settlement()
    text = json.dumps(settlement())
    for old, new in [("/obligations/1", "/obligations/9"), ("/obligations/2", "/obligations/1")]:
        text = text.replace(f'"{old}"', f'"{new}"')
    text = text.replace('"/obligations/9"', '"/obligations/2"')
    text = text.replace('"/parties/1"', '"/parties/7"').replace('"/expenses/1"', '"/expenses/5"')
    second = json.loads(text)
    delta = emitted([first, second])[1]
    assert (delta["expenses"], delta["obligations"], delta["payments"]) == ([], [], [])


def test_a_reused_party_id_names_the_right_payer() -> None:
    """Item 14: the second revision's `/parties/3` is the claimant's bank, not the repairer; a credit
    note for the removed repair invoice must name the repairer, whatever `$id` it had."""
    first = settlement()
    second = settlement()
    second["parties"][2] = {
        "$id": "/parties/3",
        "id": {"schemeId": "DK:CVR", "value": "55667788"},
        "name": "Nordbank",
        "address": {"city": "Vejle"},
    }
    del second["expenses"][1], second["obligations"][2], second["payments"][1]
    events = emitted([first, second])
    names = {p["$id"]: p["name"] for p in events[1]["parties"]}
    [credit] = events[1]["expenses"]
    assert (names[credit["payerParty"]["$ref"]], names[credit["payeeParty"]["$ref"]]) == (
        "Glas & Rude ApS",
        "ABC Insurance",
    )
    assert_conserved(events, second)


def test_removing_an_expense_reverses_its_vat_too() -> None:
    """Item 15: the 2,000 + 500 repair invoice removed gave subtotal 0, vat 0, total −2,500."""
    first = settlement()
    second = settlement()
    del second["expenses"][1], second["obligations"][2], second["payments"][1]
    [credit] = emitted([first, second])[1]["expenses"]
    assert (credit["expenseType"], credit["subtotal"], credit["vat"], credit["total"]) == (
        "creditNote",
        2000,
        500,
        2500,
    )
