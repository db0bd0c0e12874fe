"""Money conservation over the domain rules (issue 23 deliver 3): whatever the lines, policies and
amounts, the money credited is split into shares and surplus exactly, no premium takes a policy
beyond its value, an officer's payment never takes more than the open contribution, and a bill paid
as billed credits at least what was billed whatever the fee's rounding."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.matching import Decided, LinePolicy, MatchAction, MatchError, choose_action, line_policy, settle
from domain.money import FeePolicy, TypeOfPayment, amount_to_be_paid, fee_added_back, transfer_fee
from domain.registry import PolicyStage, PolicyStatus

TODAY = date(2026, 11, 10)
money = st.integers(0, 5_000_000).map(lambda cents: D(cents) / 100)


@st.composite
def policies(draw: st.DrawFn, pid: int) -> LinePolicy:
    value = draw(money)
    return LinePolicy(
        id=pid,
        status=draw(st.sampled_from(list(PolicyStatus))),
        stage=draw(st.sampled_from(list(PolicyStage))),
        value=value,
        premiums_paid=draw(st.one_of(st.just(value), money)),
        start_date=TODAY - timedelta(days=draw(st.integers(0, 400))),
        expiry_date=TODAY + timedelta(days=draw(st.integers(-200, 400))),
        open_contribution=draw(st.one_of(st.just(D(0)), money)),
    )


lines = st.lists(
    st.tuples(
        st.integers(0, 3),  # which of four policies (a repeated one: the same policy twice)
        st.sampled_from(list(PolicyStage)),
        st.sampled_from(["policy_value", "idle_outstanding", "eo_outstanding", "provided", None]),
        money,  # the renewal's value
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=120, deadline=None, derandomize=True)
@given(
    family=st.tuples(*(policies(pid) for pid in range(4))),
    drawn=lines,
    officer=st.booleans(),
    credited=money,
    paid_on=st.integers(-30, 60).map(lambda d: TODAY + timedelta(days=d)),
)
def test_every_shilling_is_a_share_or_surplus(
    family: tuple[LinePolicy, ...],
    drawn: list[tuple[int, PolicyStage, str | None, D]],
    officer: bool,
    credited: D,
    paid_on: date,
) -> None:
    decided = []
    for index, stage, basis, renewal in drawn:
        policy = line_policy(family[index:] + family[:index], stage, by_officer=officer)
        action = choose_action(policy, stage, by_officer=officer, paid_on=paid_on, basis=basis)
        if isinstance(action, MatchError):
            return  # the payment waits at 4 with its reasons: nothing is booked
        assert policy is not None
        decided.append(Decided(action, policy, renewal))
    plans, surplus = settle(decided, credited)
    assert surplus >= 0 and all(p.share >= 0 for p in plans)
    assert sum((p.share for p in plans), surplus) == credited
    booked: dict[int, D] = {}
    for line, plan in zip(decided, plans, strict=True):
        pid = line.policy.id
        if plan.action is MatchAction.SAME_POLICY:
            assert plan.share == 0 and pid in booked
            continue
        booked[pid] = booked.get(pid, D(0)) + plan.premium
        if plan.action is MatchAction.LINK_EO_PREMIUM:
            assert plan.premium == 0 and plan.share <= line.policy.open_contribution
        elif plan.action is MatchAction.CREATE_RENEWAL:
            assert plan.premium <= line.renewal_value
        else:  # never beyond the policy's value, unless it was already beyond it before
            assert line.policy.premiums_paid + plan.premium <= max(
                line.policy.value, line.policy.premiums_paid
            )
        was_active = (
            plan.action is not MatchAction.CREATE_RENEWAL and line.policy.status is PolicyStatus.ACTIVE
        )
        assert was_active or not plan.active or plan.outstanding == 0  # activated only when paid in full


@settings(max_examples=120, deadline=None, derandomize=True)
@given(
    expected=st.integers(1, 10_000_000).map(D),
    places=st.sampled_from([0, 2]),
    over=st.integers(0, 5000).map(D),
)
def test_a_bill_paid_as_billed_credits_what_was_billed(expected: D, places: int, over: D) -> None:
    fees = FeePolicy(mobile_rate=D("0.011"), to_be_paid_places=places)
    mobile = TypeOfPayment.MOBILE_PHONE
    fee = transfer_fee(expected, mobile, fees)
    to_be_paid = amount_to_be_paid(expected, fee, fees)
    credited = to_be_paid + fee_added_back(to_be_paid, to_be_paid, fee, mobile, fees)
    assert credited >= expected  # paid as billed, paid in full
    received = to_be_paid + over
    assert received + fee_added_back(received, to_be_paid, fee, mobile, fees) >= credited  # more never less
    assert fee_added_back(received, to_be_paid, fee, TypeOfPayment.CASH, fees) == 0
