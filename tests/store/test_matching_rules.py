"""Flow A's money rules carried out on a real store (SQLite and PostgreSQL), one test per rule of
issue 23: intents valued and paid through the worker's own activities, on the demo registry."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from temporalio.testing import ActivityEnvironment

from activities.payment_intent import IntentActivities
from domain.intent import IntentLine, IntentOptions, PaymentIntentInput, PaymentReport
from domain.money import TypeOfPayment
from domain.payment_flow import MatchRequest, MatchResult, ReceiptWrite, ValuationResult
from domain.registry import PolicyStage, PolicyStatus
from domain.status import PaymentStatus
from infra.settings import Settings
from store.db import SessionFactory, make_engine, session_factory
from store.invariants import premium_findings
from store.models import Insuree, Payment, PaymentDetail, Policy, Premium, Product
from store.payments import PaymentStore
from store.registry import SqlRegistry

R, N = PolicyStage.RENEWAL, PolicyStage.NEW
DAR = ZoneInfo("Africa/Dar_es_Salaam")
DEMO_HEAD, NEW_FAMILY = "070707070", "080808080"


class _Relay:
    def kick(self) -> None:
        """Events are published by the store; nothing to wake in these tests."""


@dataclass
class Flow:
    """Intents valued and paid the way the worker does it, with the clock in the test's hands."""

    sessions: SessionFactory
    settings: Settings
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def activities(self, at: datetime) -> IntentActivities:
        store = PaymentStore(self.sessions)
        return IntentActivities(
            self.settings, self.sessions, store, SqlRegistry(self.sessions), _Relay(), now=lambda: at
        )  # type: ignore[arg-type]

    async def intent(
        self,
        *lines: IntentLine,
        on: date | datetime,
        officer: str | None = None,
        type_of_payment: TypeOfPayment | None = None,
        partial: bool = False,
        received: PaymentReport | None = None,
    ) -> ValuationResult:
        at = on if isinstance(on, datetime) else datetime.combine(on, time(9), DAR).astimezone(UTC)
        request = PaymentIntentInput(
            intent_id=f"00000000-0000-4000-8000-{next(self.ids):012d}",
            tenant="demo",
            phone_number="0681333045",
            request_date=at.date(),
            officer_code=officer,
            lines=list(lines),
            type_of_payment=type_of_payment,
            options=IntentOptions(partial_payments=partial),
            received=received,
        )
        return await ActivityEnvironment().run(self.activities(at).value_intent, request)

    async def pay(
        self, valued: ValuationResult, amount: Decimal | int | str, on: date, *, partial: bool = False
    ) -> MatchResult:
        acts = self.activities(datetime.combine(on, time(12), DAR))
        report = PaymentReport(
            transaction_id=f"TX-{valued.payment_id}-{next(self.ids)}",
            receipt_no="R1",
            amount=Decimal(amount),
            received_date=on,
            payment_date=on,
        )
        write = ReceiptWrite(payment_id=valued.payment_id, report=report, partial=partial)
        receipt = await ActivityEnvironment().run(acts.record_receipt, write)
        if not receipt.complete:
            return MatchResult(matched=False)
        return await self.rematch(valued, on)

    async def rematch(self, valued: ValuationResult, on: date) -> MatchResult:
        acts = self.activities(datetime.combine(on, time(12), DAR))
        request = MatchRequest(payment_id=valued.payment_id, paid_on=on)
        return await ActivityEnvironment().run(acts.match_payment, request)

    async def payment(self, payment_id: int) -> Payment:
        async with self.sessions() as s:
            found = await s.get(Payment, payment_id)
            assert found is not None
            return found

    async def rows(self, model: type, *where: Any) -> list[Any]:
        async with self.sessions() as s:
            return list((await s.exec(select(model).where(*where).order_by(col(model.id)))).all())

    async def policies(self, chfid: str, product: str = "FCUL0001") -> list[Policy]:
        async with self.sessions() as s:
            head = (await s.exec(select(Insuree).where(Insuree.chfid == chfid))).one()
            prod = (await s.exec(select(Product).where(Product.code == product))).one()
            q = select(Policy).where(Policy.family_id == head.family_id, Policy.product_id == prod.id)
            return list((await s.exec(q.order_by(col(Policy.id)))).all())

    async def premiums(self, policy: Policy) -> list[Premium]:
        return await self.rows(Premium, Premium.policy_id == policy.id)

    async def add_policy(
        self,
        chfid: str,
        *,
        status: PolicyStatus,
        start: date,
        expiry: date,
        value: str = "21000",
        stage: PolicyStage = R,
        premium: str | None = None,
        product: str = "FCUL0001",
    ) -> Policy:
        """A policy entered in the registry (by an officer or the demo data), with its premium."""
        async with self.sessions() as s:
            head = (await s.exec(select(Insuree).where(Insuree.chfid == chfid))).one()
            prod = (await s.exec(select(Product).where(Product.code == product))).one()
            policy = Policy(
                family_id=head.family_id,
                product_id=prod.id,
                stage=stage.value,
                status=int(status),
                enroll_date=start,
                start_date=start,
                effective_date=start if status is PolicyStatus.ACTIVE else None,
                expiry_date=expiry,
                value=Decimal(value),
            )
            s.add(policy)
            await s.flush()
            if premium is not None:
                s.add(Premium(policy_id=policy.id, amount=Decimal(premium), receipt="EO-1", pay_date=start))
            await s.commit()
            await s.refresh(policy)
            return policy


def flow(url: str, **settings: Any) -> Flow:
    return Flow(session_factory(make_engine(url)), Settings(database_url=url, **settings))


def line(chfid: str = DEMO_HEAD, stage: PolicyStage = R, product: str = "FCUL0001", **kw: Any) -> IntentLine:
    return IntentLine(insurance_number=chfid, product_code=product, stage=stage, **kw)


async def test_mobile_money_fee_is_added_back_before_matching(any_db_url: str) -> None:
    """Item 2: a renewal valued 21,000 is billed 20,772 (fee 228); paid as billed it is paid in full."""
    f = flow(any_db_url, mobile_fee_rate=Decimal("0.011"), to_be_paid_places=0)
    valued = await f.intent(line(), on=date(2026, 11, 10), type_of_payment=TypeOfPayment.MOBILE_PHONE)
    assert (valued.expected_amount, valued.transfer_fee, valued.amount_to_be_paid) == (21000, 228, 20772)
    result = await f.pay(valued, 20772, date(2026, 11, 12))
    assert result.matched and result.lines[0].activated and result.lines[0].outstanding == 0
    renewal = (await f.policies(DEMO_HEAD))[-1]
    assert renewal.stage == "R" and renewal.status == PolicyStatus.ACTIVE
    assert [p.amount for p in await f.premiums(renewal)] == [Decimal("21000")]
    payment = await f.payment(valued.payment_id)
    assert (payment.received_amount, payment.fee_added, payment.surplus) == (20772, 228, 0)
    assert (await premium_findings(f.sessions, None))[0] == []  # `payflow check` counts the fee in


async def test_officer_payment_waits_for_the_contribution_of_the_billed_policy(any_db_url: str) -> None:
    """Item 1: after the demo policy expired, the officer's renewal payment is not linked to its
    premium DEMO-0001; it waits at 4 until the officer enters this year's renewal contribution."""
    f = flow(any_db_url)
    valued = await f.intent(line(), on=date(2026, 12, 7), officer="E00005")
    assert valued.error_code is None and valued.expected_amount == 21000
    result = await f.pay(valued, 21000, date(2026, 12, 7))
    assert not result.matched and result.lines[0].error == 109
    assert (await f.payment(valued.payment_id)).status == PaymentStatus.RECEIVED
    demo = (await f.policies(DEMO_HEAD))[0]
    assert await f.rows(PaymentDetail, col(PaymentDetail.premium_id).is_not(None)) == []

    renewal = await f.add_policy(
        DEMO_HEAD,
        status=PolicyStatus.IDLE,
        start=date(2026, 12, 8),
        expiry=date(2027, 12, 7),
        premium="21000",
    )
    again = await f.rematch(valued, date(2026, 12, 9))
    assert again.matched and again.lines[0].activated
    (linked,) = await f.rows(PaymentDetail, col(PaymentDetail.premium_id).is_not(None))
    assert linked.premium_id == (await f.premiums(renewal))[0].id and linked.amount == 21000
    assert [p.receipt for p in await f.premiums(demo)] == ["DEMO-0001"]


async def test_early_renewal_discount_quoted_is_kept_at_payment(any_db_url: str) -> None:
    """Item 5: FCUL0001 gives 5 % up to a month before expiry; quoted 19,950 on 2026-10-25 and paid
    on 2026-11-05 within the bill's validity, the renewal costs 19,950 and is Active."""
    f = flow(any_db_url)
    valued = await f.intent(line(), on=date(2026, 10, 25))
    assert valued.expected_amount == Decimal("19950.00")
    result = await f.pay(valued, "19950", date(2026, 11, 5))
    assert result.matched and result.lines[0].activated and result.lines[0].outstanding == 0
    renewal = (await f.policies(DEMO_HEAD))[-1]
    assert (renewal.value, renewal.status) == (Decimal("19950.00"), PolicyStatus.ACTIVE)
    assert (await f.payment(valued.payment_id)).valued_on == date(2026, 10, 25)


async def test_a_child_turning_18_between_bill_and_payment_keeps_the_quoted_value(any_db_url: str) -> None:
    """Item 5: per-member product, a child born 2008-11-01 is priced as a child on the bill of
    2026-10-25; paid on 2026-11-05 (now 18), the renewal still costs what the bill said."""
    f = flow(any_db_url)
    async with f.sessions() as s:
        head = (await s.exec(select(Insuree).where(Insuree.chfid == DEMO_HEAD))).one()
        s.add(
            Insuree(chfid="070707103", family_id=head.family_id, birth_date=date(2008, 11, 1), relationship=2)
        )
        await s.commit()
    await f.add_policy(
        DEMO_HEAD,
        status=PolicyStatus.ACTIVE,
        start=date(2025, 12, 1),
        expiry=date(2026, 11, 30),
        value="20000",
        stage=N,
        product="PMEM0001",
        premium="20000",
    )
    valued = await f.intent(line(product="PMEM0001"), on=date(2026, 10, 25))
    quoted = valued.expected_amount  # 2 adults, 2 children: 18,000 + 2,000 assembly
    assert quoted == Decimal("20000.00")
    result = await f.pay(valued, quoted, date(2026, 11, 5))
    assert result.matched and result.lines[0].activated
    renewal = (await f.policies(DEMO_HEAD, "PMEM0001"))[-1]
    assert (renewal.value, renewal.status) == (quoted, PolicyStatus.ACTIVE)


async def test_intents_are_valued_on_the_local_date(any_db_url: str) -> None:
    """Item 10: the early-renewal discount's last day is 2026-11-01; 2026-11-01 22:30 UTC is already
    2026-11-02 01:30 in Dar es Salaam, so the bill has no discount (on the UTC date it had one)."""
    f = flow(any_db_url)
    valued = await f.intent(line(), on=datetime(2026, 11, 1, 22, 30, tzinfo=UTC))
    assert valued.expected_amount == Decimal("21000.00")  # 11-02 in Tanzania: no early-renewal discount
    assert (await f.payment(valued.payment_id)).valued_on == date(2026, 11, 2)


async def test_an_idle_policy_paid_after_its_period_ended_gets_a_new_period(any_db_url: str) -> None:
    """Item 6: an Idle renewal 2025-01-01..2025-12-31 paid on 2026-03-01 is not activated in the
    past: the payment buys a renewal whose period starts on the payment day."""
    f = flow(any_db_url)
    idle = await f.add_policy(
        NEW_FAMILY, status=PolicyStatus.IDLE, start=date(2025, 1, 1), expiry=date(2025, 12, 31)
    )
    valued = await f.intent(line(NEW_FAMILY), on=date(2026, 2, 20))
    assert valued.error_code is None
    result = await f.pay(valued, valued.amount_to_be_paid, date(2026, 3, 1))
    assert result.matched and result.lines[0].activated
    assert result.lines[0].policy_start == date(2026, 3, 1)
    old, renewal = await f.policies(NEW_FAMILY)
    assert old.id == idle.id and old.status == PolicyStatus.IDLE and await f.premiums(old) == []
    assert (renewal.start_date, renewal.expiry_date, renewal.status) == (
        date(2026, 3, 1),
        date(2027, 2, 28),
        PolicyStatus.ACTIVE,
    )


async def test_a_new_enrolment_line_on_an_active_paid_policy_buys_its_renewal(any_db_url: str) -> None:
    """Item 7: openIMIS creates a renewal when the policy found is neither Idle nor Ready; the bill
    quotes that renewal (21,000), not a second enrolment (23,000) booked onto the paid policy."""
    f = flow(any_db_url)
    valued = await f.intent(line(stage=N), on=date(2026, 11, 10))
    assert valued.expected_amount == Decimal("21000.00")
    result = await f.pay(valued, valued.amount_to_be_paid, date(2026, 11, 12))
    assert result.matched and result.lines[0].activated
    demo, renewal = await f.policies(DEMO_HEAD)
    assert sum(p.amount for p in await f.premiums(demo)) == Decimal("23000")
    assert (renewal.start_date, renewal.status, renewal.value) == (
        date(2026, 12, 1),
        PolicyStatus.ACTIVE,
        Decimal("21000.00"),
    )


async def test_two_intents_for_one_idle_policy_leave_the_second_as_surplus(any_db_url: str) -> None:
    """Item 7: both bills quote the Idle policy's 21,000; the first pays it, the second's money is
    surplus (recorded on its payment), not a second premium on a 21,000 policy."""
    f = flow(any_db_url)
    idle = await f.add_policy(
        NEW_FAMILY, status=PolicyStatus.IDLE, start=date(2026, 12, 1), expiry=date(2027, 11, 30)
    )
    first = await f.intent(line(NEW_FAMILY), on=date(2026, 11, 10))
    second = await f.intent(line(NEW_FAMILY), on=date(2026, 11, 11))
    assert first.expected_amount == second.expected_amount == 21000
    assert (await f.pay(first, 21000, date(2026, 11, 12))).lines[0].activated
    result = await f.pay(second, 21000, date(2026, 11, 13))
    assert result.matched and result.lines[0].amount == 0
    assert [p.amount for p in await f.premiums(idle)] == [Decimal("21000")]
    assert len(await f.policies(NEW_FAMILY)) == 1
    assert (await f.payment(second.payment_id)).surplus == 21000
    assert (await premium_findings(f.sessions, None))[0] == []  # a line that took nothing has no premium


async def test_overpayment_beyond_the_value_is_surplus(any_db_url: str) -> None:
    """Item 7: with partial payments on, 25,000 paid against a 21,000 renewal books 21,000 of premium."""
    f = flow(any_db_url)
    valued = await f.intent(line(), on=date(2026, 11, 10), partial=True)
    result = await f.pay(valued, 25000, date(2026, 11, 12), partial=True)
    assert result.matched and result.lines[0].amount == 21000
    payment = await f.payment(valued.payment_id)
    assert payment.surplus == 4000


async def test_a_product_outside_its_dates_is_refused_when_billed(any_db_url: str) -> None:
    """Item 9: a product whose date range has ended is refused at validation (code 2), not billed."""
    f = flow(any_db_url)
    async with f.sessions() as s:
        product = (await s.exec(select(Product).where(Product.code == "FCUL0001"))).one()
        product.date_to = date(2026, 6, 30)
        s.add(product)
        await s.commit()
    valued = await f.intent(line(), on=date(2026, 11, 10))
    assert valued.error_code == 2 and valued.reason == "2-Not valid insurance or missing product code"


async def test_a_bill_of_nothing_is_never_sent(any_db_url: str) -> None:
    """Item 3: an officer's contribution already fully linked leaves 0 to pay: refused (code 9)."""
    f = flow(any_db_url)
    await f.add_policy(
        DEMO_HEAD,
        status=PolicyStatus.IDLE,
        start=date(2026, 12, 1),
        expiry=date(2027, 11, 30),
        premium="21000",
    )
    first = await f.intent(line(), on=date(2026, 11, 10), officer="E00005")
    assert first.expected_amount == 21000
    assert (await f.pay(first, 21000, date(2026, 11, 11))).matched
    second = await f.intent(line(), on=date(2026, 11, 12), officer="E00005")
    assert second.error_code == 9 and (await f.payment(second.payment_id)).status == PaymentStatus.REJECTED


async def test_a_payment_without_intent_is_never_refused_as_a_bill(any_db_url: str) -> None:
    """The bill rules (nothing to bill, a product out of its dates) refuse bills, not money already
    paid: a payment notified without an intent is kept (matched as surplus, or waiting at 4 with 106)."""
    f = flow(any_db_url)
    await f.add_policy(
        DEMO_HEAD,
        status=PolicyStatus.IDLE,
        start=date(2026, 12, 1),
        expiry=date(2027, 11, 30),
        premium="21000",
    )
    first = await f.intent(line(), on=date(2026, 11, 10), officer="E00005")
    assert (await f.pay(first, 21000, date(2026, 11, 11))).matched
    paid = PaymentReport(transaction_id="TX-NO-INTENT", amount=Decimal(500), received_date=date(2026, 11, 12))
    valued = await f.intent(line(), on=date(2026, 11, 12), officer="E00005", received=paid)
    assert valued.error_code is None and valued.expected_amount == 0

    async with f.sessions() as s:
        product = (await s.exec(select(Product).where(Product.code == "PMEM0001"))).one()
        product.date_to = date(2026, 6, 30)
        s.add(product)
        await s.commit()
    paid = PaymentReport(transaction_id="TX-ENDED", amount=Decimal(500), received_date=date(2026, 11, 12))
    valued = await f.intent(line(product="PMEM0001", stage=N), on=date(2026, 11, 12), received=paid)
    assert valued.error_code is None
