"""Scalepoint's own v3 `case_settled` tests as fixtures, figures and all.

Source: AnnaRudich/Autotests_ECC, src/main/java/com/scalepoint/automation/tests/api/unifiedpayments/v3
(`SendingCaseSettledEventV3Case1`, `Case2Base`, `Case2_1`–`Case2_5`, `Case3`). Each case is a sequence
of revisions (the claim's figures after each settle) and, per revision, the event Scalepoint's test
asserts: summary (manualReduction, shareOfVat, deductible, depreciation) and the expense, payment and
obligation lines as (type, total, payer, payee), for both ways of closing: externally (the insurer pays
the claimant) and with or without mail (Scalepoint pays out: two legs through Scalepoint). Parties are
numbered as Scalepoint's tests number them (`PartyReference`): 0 Scalepoint, 1 insurer, 2 claimant.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

S, IC, C = "/parties/0", "/parties/1", "/parties/2"
CASH, CREDIT = "cashCompensation", "creditNote"
DEP, DED, MR, COMP = "depreciation", "deductible", "manualReduction", "compensation"
EXPENSE_UUID = "6a0f3b9e-1c2d-4e5f-8a7b-9c0d1e2f3a4b"
Line = tuple[str, float, str, str]


@dataclass(frozen=True)
class Step:
    """One settle: the claim's figures, and the event Scalepoint's test asserts for it."""

    expense: int
    depreciation: int
    deductible: int
    manual: int
    summary: tuple[float, float, float, float]
    expenses: list[Line]
    external: tuple[list[tuple[float, str, str]], list[Line]]
    """(payments, obligations) when closed externally."""
    via_scalepoint: tuple[list[tuple[float, str, str]], list[Line]]
    """(payments, obligations) when closed with or without mail."""


CASE2_FIRST = Step(
    5000, 600, 1000, 0, (0, 0, 1000, 600), [(CASH, 5000, IC, C)],
    ([(3400, IC, C)], [(DEP, 600, C, C), (DED, 1000, C, C), (COMP, 3400, IC, C)]),
    ([(3400, IC, S)], [(DEP, 600, C, C), (DED, 1000, C, C), (COMP, 3400, IC, S), (COMP, 3400, S, C)]),
)  # fmt: skip

CASES: dict[str, list[Step]] = {
    "Case1": [
        Step(
            2100, 700, 250, 50, (50, 0, 250, 700), [(CASH, 2100, IC, C)],
            ([(1100, IC, C)], [(DEP, 700, C, C), (DED, 250, C, C), (MR, 50, C, C), (COMP, 1100, IC, C)]),
            ([(1100, IC, S)], [(DEP, 700, C, C), (DED, 250, C, C), (MR, 50, C, C), (COMP, 1100, IC, S),
                              (COMP, 1100, S, C)]),
        ),
        Step(
            100, 0, 100, 0, (-50, 0, -150, -700), [(CREDIT, 2000, C, IC)],
            ([(1100, C, IC)], [(DEP, 700, IC, IC), (DED, 150, IC, IC), (MR, 50, IC, IC),
                               (COMP, 1100, C, IC)]),
            ([(1100, S, IC)], [(DEP, 700, IC, IC), (DED, 150, IC, IC), (MR, 50, IC, IC), (COMP, 1100, C, S),
                              (COMP, 1100, S, IC)]),
        ),
    ],
    "Case2_1": [
        CASE2_FIRST,
        Step(
            6000, 800, 1000, 0, (0, 0, 0, 200), [(CASH, 1000, IC, C)],
            ([(800, IC, C)], [(DEP, 200, C, C), (COMP, 800, IC, C)]),
            ([(800, IC, S)], [(DEP, 200, C, C), (COMP, 800, S, C), (COMP, 800, IC, S)]),
        ),
    ],
    "Case2_2": [
        CASE2_FIRST,
        Step(
            6000, 1850, 1000, 0, (0, 0, 0, 1250), [(CASH, 1000, IC, C)],
            ([(250, C, IC)], [(DEP, 1000, C, C), (DEP, 250, C, IC)]),
            ([(250, S, IC)], [(DEP, 1000, C, C), (DEP, 250, C, S), (DEP, 250, S, IC)]),
        ),
    ],
    "Case2_3": [
        CASE2_FIRST,
        Step(
            4000, 1850, 1000, 0, (0, 0, 0, 1250), [(CREDIT, 1000, C, IC)],
            ([(2250, C, IC)], [(DEP, 1250, C, IC), (COMP, 1000, C, IC)]),
            ([(2250, S, IC)], [(DEP, 1250, C, S), (DEP, 1250, S, IC), (COMP, 1000, C, S),
                               (COMP, 1000, S, IC)]),
        ),
    ],
    "Case2_4": [
        CASE2_FIRST,
        Step(
            7000, 800, 1500, 500, (500, 0, 500, 200), [(CASH, 2000, IC, C)],
            ([(800, IC, C)], [(DEP, 200, C, C), (DED, 500, C, C), (MR, 500, C, C), (COMP, 800, IC, C)]),
            ([(800, IC, S)], [(DEP, 200, C, C), (DED, 500, C, C), (MR, 500, C, C), (COMP, 800, IC, S),
                             (COMP, 800, S, C)]),
        ),
        Step(
            6000, 600, 700, 0, (-500, 0, -800, -200), [(CREDIT, 1000, C, IC)],
            ([(500, IC, C)], [(DEP, 200, IC, IC), (DED, 800, IC, IC), (MR, 500, IC, C)]),
            ([(500, IC, S)], [(DEP, 200, IC, IC), (DED, 800, IC, IC), (MR, 500, IC, S), (MR, 500, S, C)]),
        ),
        Step(
            5000, 200, 700, 0, (0, 0, 0, -400), [(CREDIT, 1000, C, IC)],
            ([(600, C, IC)], [(DEP, 400, IC, IC), (COMP, 600, C, IC)]),
            ([(600, S, IC)], [(DEP, 400, IC, IC), (COMP, 600, C, S), (COMP, 600, S, IC)]),
        ),
    ],
    "Case2_5": [
        CASE2_FIRST,
        Step(
            7000, 800, 1000, 500, (500, 0, 0, 200), [(CASH, 2000, IC, C)],
            ([(1300, IC, C)], [(DEP, 200, C, C), (MR, 500, C, C), (COMP, 1300, IC, C)]),
            ([(1300, IC, S)], [(DEP, 200, C, C), (MR, 500, C, C), (COMP, 1300, IC, S), (COMP, 1300, S, C)]),
        ),
        Step(
            6000, 600, 750, 1000, (500, 0, -250, -200), [(CREDIT, 1000, C, IC)],
            ([(1050, C, IC)], [(DEP, 200, IC, IC), (DED, 250, IC, IC), (MR, 500, C, IC), (COMP, 550, C, IC)]),
            ([(1050, S, IC)], [(DEP, 200, IC, IC), (DED, 250, IC, IC), (MR, 500, C, S), (MR, 500, S, IC),
                              (COMP, 550, C, S), (COMP, 550, S, IC)]),
        ),
    ],
    "Case3": [
        Step(
            6300, 1200, 1500, 900, (900, 0, 1500, 1200), [(CASH, 6300, IC, C)],
            ([(2700, IC, C)], [(DEP, 1200, C, C), (DED, 1500, C, C), (MR, 900, C, C), (COMP, 2700, IC, C)]),
            ([(2700, IC, S)], [(DEP, 1200, C, C), (DED, 1500, C, C), (MR, 900, C, C), (COMP, 2700, IC, S),
                              (COMP, 2700, S, C)]),
        ),
        Step(
            6300, 4650, 1500, 150, (-750, 0, 0, 3450), [(CASH, 0, IC, C)],
            ([(2700, C, IC)], [(MR, 750, IC, C), (DEP, 3450, C, IC)]),
            ([(2700, S, IC)], [(MR, 750, S, C), (MR, 750, IC, S), (DEP, 3450, C, S), (DEP, 3450, S, IC)]),
        ),
    ],
}  # fmt: skip
"""Case3's second settle: depreciation rises to 4,650 and ClaimShop cuts the manual reduction to 150 so
that the compensation does not go below 0 (the summary's -750)."""

PARTIES = [
    {"$id": S, "id": {"schemeId": "DK:CVR", "value": "10000000"}, "name": "Scalepoint",
     "address": {"city": "Copenhagen", "countryCode": "DK"}},
    {"$id": IC, "id": {"schemeId": "DK:CVR", "value": "12345678"}, "name": "Topdanmark",
     "address": {"city": "Ballerup", "countryCode": "DK"}, "roles": ["insuranceCompany"]},
    {"$id": C, "id": {"schemeId": "DK:CPR", "value": "0101801234"}, "name": "Mette Jensen",
     "address": {"city": "Aarhus", "countryCode": "DK"}, "roles": ["policyHolder", "claimant"]},
]  # fmt: skip


def revision(step: Step, via_scalepoint: bool, payment_uuid: str) -> dict[str, Any]:
    """The settlement a claim handler posts for `step`, in Scalepoint's first-event form: the expense
    insurer → claimant, the reductions claimant → claimant, the rest as compensation (through Scalepoint
    when it pays out)."""
    compensation = step.expense - step.depreciation - step.deductible - step.manual
    refs = {p: {"$ref": p} for p in (S, IC, C)}
    reductions = [(DEP, step.depreciation), (DED, step.deductible), (MR, step.manual)]
    legs = [(IC, S), (S, C)] if via_scalepoint else [(IC, C)]
    lines = [(kind, total, C, C) for kind, total in reductions if total] + [
        (COMP, compensation, payer, payee) for payer, payee in legs if compensation
    ]
    obligations = [
        {
            "$id": f"/obligations/{n}",
            "obligationType": kind,
            "total": total,
            "currencyCode": "DKK",
            "payerParty": refs[payer],
            "payeeParty": refs[payee],
            "expense": {"$ref": "/expenses/0"},
        }
        for n, (kind, total, payer, payee) in enumerate(lines)
    ]
    paid = [o["$id"] for o in obligations if o["obligationType"] == COMP]
    payments = [
        {
            "uuid": payment_uuid,
            "dueDate": "2026-12-07",
            "total": compensation,
            "currencyCode": "DKK",
            "payerParty": refs[IC],
            "payeeParty": refs[legs[0][1]],
            "expenses": [{"$ref": "/expenses/0"}],
            "obligations": [{"$ref": r} for r in paid],
        }
    ]
    return {
        "approvedBy": {"name": "Hanne Holm", "username": "hh", "type": "user"},
        "summary": {
            "manualReduction": step.manual,
            "shareOfVat": 0,
            "deductible": step.deductible,
            "depreciation": step.depreciation,
        },
        "parties": PARTIES,
        "expenses": [
            {
                "$id": "/expenses/0",
                "uuid": EXPENSE_UUID,
                "total": step.expense,
                "currencyCode": "DKK",
                "payerParty": refs[IC],
                "payeeParty": refs[C],
                "expenseType": CASH,
            }
        ],
        "obligations": obligations,
        "payments": payments if compensation else [],
        "details": {
            "settlementType": "SETTLED_WITH_EMAIL" if via_scalepoint else "SETTLED_EXTERNALLY",
            "replacementAmount": step.expense,
        },
    }


def lines(items: list[dict[str, Any]], kind: str) -> list[Line]:
    """An event's lines as Scalepoint's asserts read them, in a stable order."""
    return sorted(
        (i[kind], float(i["total"]), i["payerParty"]["$ref"], i["payeeParty"]["$ref"]) for i in items
    )


def assert_scalepoint(event: dict[str, Any], step: Step, via_scalepoint: bool) -> None:
    """The event carries what Scalepoint's test asserts for this step, figures and parties."""
    summary = event["settlement"]["summary"]
    assert (
        summary["manualReduction"],
        summary["shareOfVat"],
        summary["deductible"],
        summary["depreciation"],
    ) == step.summary
    payments, obligations = step.via_scalepoint if via_scalepoint else step.external
    assert lines(event["expenses"], "expenseType") == sorted(step.expenses)
    assert sorted(
        (float(p["total"]), p["payerParty"]["$ref"], p["payeeParty"]["$ref"]) for p in event["payments"]
    ) == sorted(payments)
    assert lines(event["obligations"], "obligationType") == sorted(obligations)


def positions(docs: list[dict[str, Any]], kind: str) -> dict[tuple[str, str], Decimal]:
    """What each party (by its stable id) is owed net in each currency by the `kind` lines of `docs`,
    each line's direction taken from its parties: how a consumer sums `case_settled` events."""
    owed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for doc in docs:
        names = {p["$id"]: p.get("id", {}).get("value", p["name"]) for p in doc["parties"]}
        for line in doc[kind]:
            total = Decimal(str(line["total"]))
            owed[(names[line["payeeParty"]["$ref"]], line["currencyCode"])] += total
            owed[(names[line["payerParty"]["$ref"]], line["currencyCode"])] -= total
    return {k: v for k, v in owed.items() if v}


def assert_conserved(events: list[dict[str, Any]], latest: dict[str, Any] | None) -> None:
    """Summing `events` gives `latest` (None: nothing stands): every line kind, every summary figure."""
    for kind in ("expenses", "obligations", "payments"):
        assert positions(events, kind) == positions([latest] if latest else [], kind), kind
    for figure in ("manualReduction", "shareOfVat", "deductible", "depreciation"):
        total = sum(Decimal(str(e["settlement"]["summary"].get(figure, 0))) for e in events)
        assert total == Decimal(str(latest["summary"].get(figure, 0) if latest else 0)), figure
