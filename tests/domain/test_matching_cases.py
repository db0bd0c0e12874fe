"""Flow A's valuation and matching rules as a table of cases, in the style of the research notes
(shared/research/openimis-payments.md §4, §6, §7): inputs, the bill, the premiums booked, the policy's
state and the SMS, one row per rule of issue 23 (items 1–10). Pure domain: no store, no workflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from domain.intent import IntentLine, LineFacts, PaymentIntentInput, bill_error, validate_intent
from domain.matching import (
    Decided,
    LinePolicy,
    MatchAction,
    MatchError,
    choose_action,
    line_policy,
    renewal_enroll_date,
    settle,
)
from domain.money import FeePolicy, TypeOfPayment, amount_to_be_paid, fee_added_back, transfer_fee
from domain.registry import FamilyFacts, Member, PolicySnapshot, PolicyStage, PolicyStatus, ProductTerms
from domain.sms import SmsKind, render
from domain.valuation import local_date, policy_value, value_line

N, R = PolicyStage.NEW, PolicyStage.RENEWAL
IDLE, ACTIVE, EXPIRED = PolicyStatus.IDLE, PolicyStatus.ACTIVE, PolicyStatus.EXPIRED
MOBILE = TypeOfPayment.MOBILE_PHONE
CHF = FeePolicy(mobile_rate=D("0.011"), to_be_paid_places=0)
GENERIC = FeePolicy()
FCUL = ProductTerms(
    code="FCUL0001",
    lump_sum=D("20000"),
    general_assembly_lump_sum=D("1000"),
    registration_lump_sum=D("2000"),
    renewal_discount_perc=D("5"),
    renewal_discount_period=1,
)
PMEM = ProductTerms(
    code="PMEM0001", premium_adult=D("6000"), premium_child=D("3000"), general_assembly_fee=D("500")
)
FAMILY = (Member(date(1984, 5, 12)), Member(date(1982, 2, 1), 1), Member(date(2015, 9, 30), 2))
TEEN = (*FAMILY, Member(date(2008, 11, 1), 2))  # 18 on 2026-11-01


def demo_policy(**kw: object) -> PolicySnapshot:
    """The demo family's policy: FCUL0001, 2025-12-01..2026-11-30, value 23,000, paid."""
    base: dict[str, object] = dict(
        status=ACTIVE,
        stage=N,
        value=D("23000"),
        enroll_date=date(2025, 11, 20),
        start_date=date(2025, 12, 1),
        expiry_date=date(2026, 11, 30),
        premiums_paid=D("23000"),
    )
    return PolicySnapshot(**(base | kw))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Bill:
    """Research §4.3/§4.7: a line valued on `on`, then the fee and the amount to be paid."""

    product: ProductTerms
    family: FamilyFacts | None
    stage: PolicyStage
    on: date
    eo: bool = False
    type_of_payment: TypeOfPayment | None = None
    fees: FeePolicy = GENERIC

    def amounts(self) -> tuple[D, D, D]:
        expected = value_line(
            self.product, self.family, self.stage, is_eo=self.eo, enroll_date=self.on
        ).amount
        fee = transfer_fee(expected, self.type_of_payment, self.fees)
        return expected, fee, amount_to_be_paid(expected, fee, self.fees)


VALUATION = {
    # item 2: CHF mobile money; the fee is inside the bill
    "2 renewal, mobile money 1.1 %, whole shillings": (
        Bill(
            FCUL, FamilyFacts(FAMILY, demo_policy()), R, date(2026, 11, 10), type_of_payment=MOBILE, fees=CHF
        ),
        ("21000.00", "228", "20772"),
    ),
    # item 5: early renewal (5 % up to a month before the previous expiry + 1 day)
    "5 renewal quoted 2026-10-25, discount": (
        Bill(FCUL, FamilyFacts(FAMILY, demo_policy()), R, date(2026, 10, 25)),
        ("19950.00", "0", "19950.00"),
    ),
    "5 renewal quoted 2026-11-02, no discount": (
        Bill(FCUL, FamilyFacts(FAMILY, demo_policy()), R, date(2026, 11, 2)),
        ("21000.00", "0", "21000.00"),
    ),
    "5 per-member renewal, a child of 17 priced as a child": (
        Bill(PMEM, FamilyFacts(TEEN, demo_policy()), R, date(2026, 10, 25)),
        ("20000.00", "0", "20000.00"),
    ),
    # item 7: a new-enrolment line of a covered family is priced as the renewal matching makes
    "7 new-enrolment line, family covered: its renewal": (
        Bill(FCUL, FamilyFacts(FAMILY, demo_policy()), N, date(2026, 11, 10)),
        ("21000.00", "0", "21000.00"),
    ),
    "7 new-enrolment line, family without a policy: enrolment": (
        Bill(FCUL, FamilyFacts(FAMILY), N, date(2026, 11, 10)),
        ("23000.00", "0", "23000.00"),
    ),
    # item 6: an Idle policy whose period is over is quoted as a renewal, not its old balance
    "6 Idle 2025 policy, quoted in 2026: a renewal": (
        Bill(
            FCUL,
            FamilyFacts(
                FAMILY, demo_policy(status=IDLE, premiums_paid=D("0"), expiry_date=date(2025, 12, 31))
            ),
            R,
            date(2026, 2, 20),
        ),
        ("21000.00", "0", "21000.00"),
    ),
    "7 Idle policy still running: its balance": (
        Bill(
            FCUL,
            FamilyFacts(FAMILY, demo_policy(status=IDLE, premiums_paid=D("5000"))),
            R,
            date(2026, 11, 10),
        ),
        ("18000", "0", "18000.00"),
    ),
    # item 3: an officer's contribution fully linked leaves nothing to bill
    "3 officer, contribution fully linked: 0": (
        Bill(
            FCUL,
            FamilyFacts(FAMILY, demo_policy(last_premium_amount=D("21000"), already_linked=D("21000"))),
            R,
            date(2026, 11, 10),
            eo=True,
        ),
        ("0", "0", "0.00"),
    ),
}


@pytest.mark.parametrize(("bill", "expected"), VALUATION.values(), ids=VALUATION.keys())
def test_valuation(bill: Bill, expected: tuple[str, str, str]) -> None:
    assert bill.amounts() == tuple(D(x) for x in expected)


def test_no_bill_of_nothing_is_sent() -> None:
    """Item 3: research §4.7 (CHF): no bill when the amount is 0 or less; the request fails (9)."""
    assert bill_error(D("0")) is not None and bill_error(D("-1")).code == 9  # type: ignore[union-attr]
    assert bill_error(D("0.01")) is None


def test_a_product_outside_its_dates_is_refused_and_the_date_is_local() -> None:
    """Item 9 and item 10: validation refuses a product past its DateTo (2); the day it is judged on
    is the deployment's, 2026-06-30 21:30 UTC being 2026-07-01 in Dar es Salaam."""
    today = local_date(datetime(2026, 6, 30, 21, 30, tzinfo=UTC), "Africa/Dar_es_Salaam")
    assert today == date(2026, 7, 1)
    request = PaymentIntentInput(
        intent_id="i",
        tenant="t",
        phone_number="1",
        request_date=today,
        lines=[IntentLine(insurance_number="070707070", product_code="FCUL0001", stage=R)],
    )
    ended = LineFacts(True, None, True, True, product_to=date(2026, 6, 30))
    error = validate_intent(request, None, [ended], prior_enrolment=False, today=today)
    assert error is not None and error.message == "2-Not valid insurance or missing product code"
    assert validate_intent(request, None, [ended], prior_enrolment=False, today=date(2026, 6, 30)) is None


DEMO = LinePolicy(1, ACTIVE, N, D("23000"), D("23000"), date(2025, 12, 1), date(2026, 11, 30))
IDLE_2026 = LinePolicy(2, IDLE, R, D("21000"), D("0"), date(2026, 12, 1), date(2027, 11, 30))
IDLE_2025 = LinePolicy(3, IDLE, R, D("21000"), D("0"), date(2025, 1, 1), date(2025, 12, 31))
IDLE_PAID_MEANWHILE = LinePolicy(2, ACTIVE, R, D("21000"), D("21000"), date(2026, 12, 1), date(2027, 11, 30))
EO_ENTERED = LinePolicy(4, IDLE, R, D("21000"), D("21000"), date(2026, 12, 8), date(2027, 12, 7), D("21000"))


@dataclass(frozen=True)
class Line:
    policies: tuple[LinePolicy, ...]
    stage: PolicyStage = R
    basis: str = "policy_value"
    renewal_value: D = D("21000")


@dataclass(frozen=True)
class Case:
    lines: tuple[Line, ...]
    received: D
    paid_on: date
    officer: bool = False
    bill: tuple[D, D] = (D("0"), D("0"))
    """(amount to be paid, fee in it) for the fee added back."""
    type_of_payment: TypeOfPayment | None = None
    fees: FeePolicy = GENERIC


@dataclass(frozen=True)
class Outcome:
    actions: tuple[MatchAction | MatchError, ...]
    premiums: tuple[str, ...] = ()
    surplus: str = "0"
    active: tuple[bool, ...] = ()
    sms: tuple[str, ...] = field(default=())


MATCHING = {
    "1 officer, demo policy expired, no renewal entered: waits (109)": (
        Case((Line((DEMO,)),), D("21000"), date(2026, 12, 7), officer=True),
        Outcome((MatchError.NO_PREMIUM_YET,)),
    ),
    "1 officer, this year's renewal entered: linked, no new premium": (
        Case((Line((EO_ENTERED, DEMO)),), D("21000"), date(2026, 12, 9), officer=True),
        Outcome((MatchAction.LINK_EO_PREMIUM,), ("0",), "0", (True,), ("Start Date:08-12-2026",)),
    ),
    "2 mobile money paid as billed (20,772 + fee 228)": (
        Case(
            (Line((DEMO,)),),
            D("20772"),
            date(2026, 11, 12),
            bill=(D("20772"), D("228")),
            type_of_payment=MOBILE,
            fees=CHF,
        ),
        Outcome((MatchAction.CREATE_RENEWAL,), ("21000",), "0", (True,), ("Start Date:01-12-2026",)),
    ),
    "5 renewal priced on the bill's day (19,950), paid later": (
        Case((Line((DEMO,), renewal_value=D("19950")),), D("19950"), date(2026, 11, 5)),
        Outcome((MatchAction.CREATE_RENEWAL,), ("19950",), "0", (True,)),
    ),
    "6 Idle 2025 policy paid 2026-03-01: a renewal, not cover in the past": (
        Case((Line((IDLE_2025,), basis="idle_outstanding"),), D("21000"), date(2026, 3, 1)),
        Outcome((MatchAction.CREATE_RENEWAL,), ("21000",), "0", (True,)),
    ),
    "7 overpaid renewal: 21,000 premium, 4,000 surplus": (
        Case((Line((DEMO,)),), D("25000"), date(2026, 11, 12)),
        Outcome((MatchAction.CREATE_RENEWAL,), ("21000",), "4000", (True,)),
    ),
    "7 Idle policy already paid by another bill: all surplus": (
        Case((Line((IDLE_PAID_MEANWHILE,), basis="idle_outstanding"),), D("21000"), date(2026, 11, 13)),
        Outcome((MatchAction.PAY_POLICY,), ("0",), "21000", (True,)),
    ),
    "7 new-enrolment line on the paid demo policy: its renewal": (
        Case((Line((DEMO,), stage=N),), D("21000"), date(2026, 11, 12)),
        Outcome((MatchAction.CREATE_RENEWAL,), ("21000",), "0", (True,)),
    ),
    "7 partial: 10,000 of an Idle 21,000 stays Idle, 11,000 owed": (
        Case((Line((IDLE_2026,), basis="idle_outstanding"),), D("10000"), date(2026, 11, 12)),
        Outcome((MatchAction.PAY_POLICY,), ("10000",), "0", (False,), ("11,000.00 should be paid",)),
    ),
    "8 one payment naming a policy twice pays it once": (
        Case((Line((IDLE_2026,)), Line((IDLE_2026,))), D("42000"), date(2026, 11, 12)),
        Outcome((MatchAction.PAY_POLICY, MatchAction.SAME_POLICY), ("21000", "0"), "21000", (True, True)),
    ),
}


@pytest.mark.parametrize(("case", "outcome"), MATCHING.values(), ids=MATCHING.keys())
def test_matching(case: Case, outcome: Outcome) -> None:
    chosen = [line_policy(ln.policies, ln.stage, by_officer=case.officer) for ln in case.lines]
    actions = tuple(
        choose_action(p, ln.stage, by_officer=case.officer, paid_on=case.paid_on, basis=ln.basis)
        for p, ln in zip(chosen, case.lines, strict=True)
    )
    if any(isinstance(a, MatchError) for a in actions):
        assert actions == outcome.actions
        return  # the payment stays at 4 RECEIVED with the reasons
    to_be_paid, fee_in_bill = case.bill
    credited = case.received + fee_added_back(
        case.received, to_be_paid, fee_in_bill, case.type_of_payment, case.fees
    )
    decided = [
        Decided(a, p, ln.renewal_value)  # type: ignore[arg-type]
        for a, p, ln in zip(actions, chosen, case.lines, strict=True)
    ]
    plans, surplus = settle(decided, credited)
    assert tuple(p.action for p in plans) == outcome.actions
    assert tuple(p.premium for p in plans) == tuple(D(x) for x in outcome.premiums)
    assert surplus == D(outcome.surplus)
    assert tuple(p.active for p in plans) == outcome.active
    assert sum((p.share for p in plans), surplus) == credited  # every shilling somewhere
    texts = [_sms(plan, p, case.paid_on) for plan, p in zip(plans, chosen, strict=True)]
    for fragment in outcome.sms:
        assert any(fragment in text for text in texts), texts


def _sms(plan, policy: LinePolicy | None, paid_on: date) -> str:  # type: ignore[no-untyped-def]
    """The paid-and-(not-)activated SMS the workflow sends for the line (research §7)."""
    assert policy is not None
    renewal = plan.action is MatchAction.CREATE_RENEWAL
    start = renewal_enroll_date(policy.expiry_date, paid_on) if renewal else policy.start_date
    kind = SmsKind.PAID_AND_ACTIVATED if plan.active else SmsKind.PAID_NOT_ACTIVATED
    return render(
        kind,
        True,
        control_number="991000000001",
        chfid="070707070",
        product_code="FCUL0001",
        paid_amount=f"{plan.share:,.2f}",
        outstanding=f"{plan.outstanding:,.2f}",
        start_date=f"{start:%d-%m-%Y}",
        expiry_date="",
    )


def test_a_renewal_keeps_the_ages_of_the_bill_day() -> None:
    """Item 5: priced on 2026-10-25 the teenager is a child (20,000); on 2026-11-05 an adult (23,000):
    matching prices the renewal on the bill's day, so the payer is charged what the bill said."""
    on_bill = policy_value(PMEM, TEEN, R, date(2026, 10, 25), previous_expiry=date(2026, 11, 30))
    on_payment = policy_value(PMEM, TEEN, R, date(2026, 11, 5), previous_expiry=date(2026, 11, 30))
    assert (on_bill, on_payment) == (D("20000.00"), D("23000.00"))
