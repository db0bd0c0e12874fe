"""Policy valuation and money rules (research §4.3–4.7); every expected figure is worked out by hand."""

from datetime import date
from decimal import Decimal

from domain.money import (
    FeePolicy,
    RoundingMode,
    TypeOfPayment,
    amount_to_be_paid,
    reverse_transfer_fee,
    round_money,
    transfer_fee,
)
from domain.registry import (
    FamilyComposition,
    FamilyFacts,
    Member,
    PolicySnapshot,
    PolicyStage,
    PolicyStatus,
    ProductTerms,
)
from domain.valuation import (
    LineValue,
    PolicyPeriod,
    ValuationBasis,
    add_months,
    age_on,
    expected_amount,
    policy_period,
    policy_value,
    proxy_family_value,
    value_line,
)

N, R = PolicyStage.NEW, PolicyStage.RENEWAL
ENROL = date(2024, 3, 15)
ADULT = Member(date(1990, 1, 1))
CHILD = Member(date(2015, 1, 1))
OTHER_ADULT = Member(date(1960, 1, 1), relationship=7)
OTHER_CHILD = Member(date(2018, 1, 1), relationship=7)
PER_MEMBER = ProductTerms(code="PM", premium_adult=Decimal("1000"), premium_child=Decimal("500"))
CHF = FeePolicy(mobile_rate=Decimal("0.011"), to_be_paid_places=0)


def D(s: str) -> Decimal:
    return Decimal(s)


def snapshot(**kw) -> PolicySnapshot:
    base = dict(
        status=PolicyStatus.ACTIVE,
        stage=N,
        value=D("10000"),
        enroll_date=date(2023, 6, 1),
        start_date=date(2023, 7, 1),
        expiry_date=date(2024, 6, 30),
    )
    return PolicySnapshot(**(base | kw))


# --- dates -------------------------------------------------------------------------------------------


def test_add_months_clamps_to_month_end():
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)  # leap year
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert add_months(date(2024, 11, 15), 3) == date(2025, 2, 15)  # crosses the year
    assert add_months(date(2024, 1, 15), -2) == date(2023, 11, 15)


def test_age_on_counts_the_birthday_only_once_reached():
    assert age_on(date(2006, 3, 15), ENROL) == 18  # 18th birthday today
    assert age_on(date(2006, 3, 16), ENROL) == 17  # 18th birthday tomorrow
    # DATEDIFF(YEAR) would say 18 here; the real age is 17.
    assert age_on(date(2006, 12, 31), date(2024, 1, 1)) == 17


def test_policy_period_without_cycles():
    product = ProductTerms(code="P", insurance_period=12, administration_period=1)
    # N: 2024-03-15 + 1 month admin = 2024-04-15; expiry = 2025-04-15 - 1 day.
    assert policy_period(product, ENROL, N) == PolicyPeriod(date(2024, 4, 15), date(2025, 4, 14), False)
    # R: no administration period.
    assert policy_period(product, ENROL, R) == PolicyPeriod(date(2024, 3, 15), date(2025, 3, 14), False)


CYCLES = ProductTerms(
    code="CY",
    insurance_period=12,
    start_cycles=("01-07", "01-01"),  # out of order on purpose: calendar order is used
    grace_period_enrolment=1,
    grace_period_renewal=3,
)


def test_policy_period_with_cycles_and_enrolment_grace():
    # 2024-07-01 + 1 month grace = 2024-08-01 > 2024-07-20 -> July cycle.
    assert policy_period(CYCLES, date(2024, 7, 20), N) == PolicyPeriod(
        date(2024, 7, 1), date(2025, 6, 30), True
    )
    # 2024-08-01 is not before 2024-08-01 -> no cycle left this year -> first cycle of next year.
    assert policy_period(CYCLES, date(2024, 8, 1), N) == PolicyPeriod(
        date(2025, 1, 1), date(2025, 12, 31), True
    )
    # 2024-01-20 < 2024-01-01 + 1 month -> January cycle.
    assert policy_period(CYCLES, date(2024, 1, 20), N).start_date == date(2024, 1, 1)


def test_policy_period_renewal_uses_renewal_grace():
    # R: 2024-07-01 + 3 months = 2024-10-01 > 2024-08-01 -> still the July cycle (1 month: 2025-01-01).
    assert policy_period(CYCLES, date(2024, 8, 1), R).start_date == date(2024, 7, 1)
    assert policy_period(CYCLES, date(2024, 10, 1), R).start_date == date(2025, 1, 1)


def test_policy_period_administration_period_shifts_cycle_choice():
    with_admin = ProductTerms(
        code="A", start_cycles=("01-01", "01-07"), grace_period_enrolment=1, administration_period=1
    )
    # 2024-07-05 + 1 month = 2024-08-05, not before 2024-08-01 -> 2025-01-01.
    assert policy_period(with_admin, date(2024, 7, 5), N).start_date == date(2025, 1, 1)
    # Without the administration period the same date lands in the July cycle.
    assert policy_period(CYCLES, date(2024, 7, 5), N).start_date == date(2024, 7, 1)


# --- policy value ------------------------------------------------------------------------------------


def test_lump_sum_product_ignores_head_count():
    product = ProductTerms(code="LS", lump_sum=D("50000"), premium_adult=D("10000"), premium_child=D("5000"))
    # Lump sum 50000, no threshold -> no extras.
    assert policy_value(product, [ADULT, ADULT, CHILD, CHILD], N, ENROL) == D("50000.00")


def test_threshold_with_lump_sum_adds_extra_adults_and_children():
    product = ProductTerms(
        code="TH", lump_sum=D("20000"), premium_adult=D("1000"), premium_child=D("500"), member_threshold=3
    )
    # 4 adults, 2 children: extra adults 4-3=1; room for children 3-4+1=0 -> extra children 2.
    # 20000 + 1*1000 + 2*500 = 22000
    assert policy_value(product, [ADULT] * 4 + [CHILD] * 2, R, ENROL) == D("22000.00")
    # 2 adults, 3 children: no extra adult; room 3-2+0=1 -> extra children 2. 20000 + 2*500 = 21000
    assert policy_value(product, [ADULT] * 2 + [CHILD] * 3, R, ENROL) == D("21000.00")


def test_threshold_with_per_member_premiums_charges_each_member_once():
    product = ProductTerms(code="TP", premium_adult=D("1000"), premium_child=D("500"), member_threshold=3)
    # uspPolicyValue would add the extras again (7000); fixed: 4*1000 + 2*500 = 5000.
    assert policy_value(product, [ADULT] * 4 + [CHILD] * 2, R, ENROL) == D("5000.00")


def test_other_members_are_priced_and_counted_for_fees():
    product = ProductTerms(
        code="O", premium_adult=D("1000"), premium_child=D("500"), general_assembly_fee=D("100")
    )
    # Contribution 1000 + 500 + other adult 1000 + other child 500 = 3000; assembly 4 members * 100 = 400.
    assert policy_value(product, [ADULT, CHILD, OTHER_ADULT, OTHER_CHILD], R, ENROL) == D("3400.00")


def test_max_members_counts_only_the_first_members():
    product = ProductTerms(code="MX", premium_adult=D("1000"), premium_child=D("500"), max_members=2)
    # Only the first two (adults) count: 2*1000 = 2000; the child and the other adult are dropped.
    assert policy_value(product, [ADULT, ADULT, CHILD, OTHER_ADULT], R, ENROL) == D("2000.00")


def test_assembly_and_registration_fees_registration_only_for_new():
    fees = ProductTerms(
        code="F", premium_adult=D("1000"), general_assembly_fee=D("100"), registration_fee=D("200")
    )
    # N: 2*1000 + assembly 2*100 + registration 2*200 = 2600; R: no registration = 2200.
    assert policy_value(fees, [ADULT, ADULT], N, ENROL) == D("2600.00")
    assert policy_value(fees, [ADULT, ADULT], R, ENROL) == D("2200.00")


def test_assembly_and_registration_lump_sums_override_fees():
    lumps = ProductTerms(
        code="L",
        premium_adult=D("1000"),
        general_assembly_fee=D("100"),
        registration_fee=D("200"),
        general_assembly_lump_sum=D("300"),
        registration_lump_sum=D("500"),
    )
    # N: 2000 + 300 + 500 = 2800; R: 2000 + 300 = 2300.
    assert policy_value(lumps, [ADULT, ADULT], N, ENROL) == D("2800.00")
    assert policy_value(lumps, [ADULT, ADULT], R, ENROL) == D("2300.00")


def test_enrolment_discount_applies_with_cycles():
    product = ProductTerms(
        code="ED",
        lump_sum=D("10000"),
        start_cycles=("01-07",),
        enrolment_discount_perc=D("10"),
        enrolment_discount_period=2,
    )
    # Start 2024-07-01; limit 2024-05-01; 2024-03-15 <= limit -> 10000 - 10% = 9000.
    assert policy_value(product, [ADULT], N, ENROL) == D("9000.00")
    # 2024-05-02 is after the limit -> no discount.
    assert policy_value(product, [ADULT], N, date(2024, 5, 2)) == D("10000.00")


def test_enrolment_discount_not_applied_without_cycles():
    product = ProductTerms(
        code="EN", lump_sum=D("10000"), enrolment_discount_perc=D("10"), enrolment_discount_period=0
    )
    # Start = enrolment date, limit = start - 0 months: the date test holds, but the product has no cycles.
    assert policy_value(product, [ADULT], N, ENROL) == D("10000.00")


def test_discount_keeps_cents_rounded_half_up():
    product = ProductTerms(
        code="EC",
        lump_sum=D("10003"),
        start_cycles=("01-07",),
        enrolment_discount_perc=D("12.5"),
        enrolment_discount_period=2,
    )
    # 10003 - 1250.375 = 8752.625 -> 8752.63 half up (8752.62 half even; 8752 if truncated to an integer).
    assert str(policy_value(product, [ADULT], N, ENROL)) == "8752.63"


RENEWAL_DISCOUNT = ProductTerms(
    code="RD", lump_sum=D("10000"), renewal_discount_perc=D("5"), renewal_discount_period=1
)


def test_renewal_discount_from_previous_expiry():
    # Reference 2024-06-30 + 1 day = 2024-07-01; limit 2024-06-01 (inclusive): 10000 - 5% = 9500.
    def renew(on: date) -> Decimal:
        return policy_value(RENEWAL_DISCOUNT, [ADULT], R, on, previous_expiry=date(2024, 6, 30))

    assert renew(date(2024, 6, 1)) == D("9500.00")
    assert renew(date(2024, 6, 2)) == D("10000.00")


def test_renewal_discount_without_previous_expiry_uses_start_date():
    # No cycles: reference = start = enrolment date 2024-04-15, limit 2024-03-15 -> never early enough.
    assert policy_value(RENEWAL_DISCOUNT, [ADULT], R, date(2024, 4, 15)) == D("10000.00")
    # With a July cycle (grace 0): start 2024-07-01, limit 2024-06-01, 2024-05-15 qualifies -> 9500.
    cycled = ProductTerms(
        code="RC",
        lump_sum=D("10000"),
        renewal_discount_perc=D("5"),
        renewal_discount_period=1,
        start_cycles=("01-07",),
    )
    assert policy_value(cycled, [ADULT], R, date(2024, 5, 15)) == D("9500.00")


def test_age_of_majority_is_configurable_and_uses_real_birthdays():
    turns_18_today = Member(date(2006, 3, 15))
    turns_18_tomorrow = Member(date(2006, 3, 16))
    assert policy_value(PER_MEMBER, [turns_18_today], R, ENROL) == D("1000.00")  # adult
    assert policy_value(PER_MEMBER, [turns_18_tomorrow], R, ENROL) == D("500.00")  # child
    # With majority at 21 the 18-year-old is a child.
    assert policy_value(PER_MEMBER, [turns_18_today], R, ENROL, age_of_majority=21) == D("500.00")


# --- proxy family ------------------------------------------------------------------------------------

PROXY_PRODUCT = ProductTerms(
    code="PX",
    premium_adult=D("1000"),
    premium_child=D("500"),
    registration_fee=D("100"),
    general_assembly_fee=D("50"),
)


def test_proxy_family_default_composition():
    # 3*1000 + 2*500 = 4000; registration 5*100 = 500; assembly 5*50 = 250 -> 4750.
    assert proxy_family_value(PROXY_PRODUCT, FamilyComposition(), ENROL) == D("4750.00")


def test_proxy_family_with_others_via_value_line():
    composition = FamilyComposition(adults=2, children=1, other_adults=1, other_children=2)
    # 2000 + 500 + other 1000 + other 2*500 = 4500; 6 members: registration 600, assembly 300 -> 5400.
    line = value_line(PROXY_PRODUCT, None, N, is_eo=False, enroll_date=ENROL, proxy=composition)
    assert line == LineValue(D("5400.00"), ValuationBasis.PROXY_FAMILY)


# --- value_line ----------------------------------------------------------------------------------------


def test_provided_amount_is_kept():
    family = FamilyFacts(members=(ADULT,))
    line = value_line(PER_MEMBER, family, N, is_eo=False, enroll_date=ENROL, provided_amount=D("1234.50"))
    assert line == LineValue(D("1234.50"), ValuationBasis.PROVIDED)
    # Zero means "compute it": 1 adult = 1000.
    line = value_line(PER_MEMBER, family, N, is_eo=False, enroll_date=ENROL, provided_amount=D("0"))
    assert line == LineValue(D("1000.00"), ValuationBasis.POLICY_VALUE)


def test_eo_pays_outstanding_premium_floored_at_zero():
    family = FamilyFacts((ADULT,), snapshot(last_premium_amount=D("5000"), already_linked=D("2000")))
    line = value_line(PER_MEMBER, family, N, is_eo=True, enroll_date=ENROL)
    assert line == LineValue(D("3000"), ValuationBasis.EO_OUTSTANDING)  # 5000 - 2000
    overpaid = FamilyFacts((ADULT,), snapshot(last_premium_amount=D("5000"), already_linked=D("6000")))
    line = value_line(PER_MEMBER, overpaid, N, is_eo=True, enroll_date=ENROL)
    assert line == LineValue(D("0"), ValuationBasis.EO_OUTSTANDING)


def test_eo_without_premium_prices_the_policy_without_previous_expiry():
    family = FamilyFacts((ADULT, CHILD), snapshot())
    # R with previous expiry 2024-06-30 would discount (limit 2024-06-01); the EO path passes none:
    # no cycles -> reference = start = 2024-05-15, limit 2024-04-15 -> no discount -> lump sum 10000.
    line = value_line(RENEWAL_DISCOUNT, family, R, is_eo=True, enroll_date=date(2024, 5, 15))
    assert line == LineValue(D("10000.00"), ValuationBasis.POLICY_VALUE)


def test_self_payer_new_enrolment_includes_registration():
    product = ProductTerms(code="SN", premium_adult=D("1000"), registration_fee=D("200"))
    # 1000 + registration 200.
    line = value_line(product, FamilyFacts((ADULT,)), N, is_eo=False, enroll_date=ENROL)
    assert line == LineValue(D("1200.00"), ValuationBasis.POLICY_VALUE)


def test_a_new_enrolment_line_of_a_covered_family_is_priced_as_its_renewal():
    """Issue 23 item 7: matching renews a running policy (research §6.3 case B), so the bill quotes
    that renewal (no registration fee), not a second enrolment."""
    product = ProductTerms(code="SN", premium_adult=D("1000"), registration_fee=D("200"))
    line = value_line(product, FamilyFacts((ADULT,), snapshot()), N, is_eo=False, enroll_date=ENROL)
    assert line == LineValue(D("1000.00"), ValuationBasis.POLICY_VALUE)


def test_idle_renewal_pays_outstanding_value():
    idle = FamilyFacts((ADULT,), snapshot(status=PolicyStatus.IDLE, premiums_paid=D("4000")))
    line = value_line(PER_MEMBER, idle, R, is_eo=False, enroll_date=ENROL)
    assert line == LineValue(D("6000"), ValuationBasis.IDLE_OUTSTANDING)  # 10000 - 4000
    overpaid = FamilyFacts((ADULT,), snapshot(status=PolicyStatus.IDLE, premiums_paid=D("12000")))
    line = value_line(PER_MEMBER, overpaid, R, is_eo=False, enroll_date=ENROL)
    assert line == LineValue(D("0"), ValuationBasis.IDLE_OUTSTANDING)


def test_active_renewal_uses_previous_expiry_for_the_discount():
    family = FamilyFacts((ADULT,), snapshot(expiry_date=date(2024, 6, 30)))
    # Reference 2024-07-01, limit 2024-06-01, enrolled 2024-05-15 -> 10000 - 5% = 9500.
    line = value_line(RENEWAL_DISCOUNT, family, R, is_eo=False, enroll_date=date(2024, 5, 15))
    assert line == LineValue(D("9500.00"), ValuationBasis.POLICY_VALUE)
    # Without a policy there is no previous expiry -> no discount.
    line = value_line(RENEWAL_DISCOUNT, FamilyFacts((ADULT,)), R, is_eo=False, enroll_date=date(2024, 5, 15))
    assert line == LineValue(D("10000.00"), ValuationBasis.POLICY_VALUE)


def test_expected_amount_sums_lines_unless_overridden():
    lines = [
        LineValue(D("1000"), ValuationBasis.POLICY_VALUE),
        LineValue(D("2500.50"), ValuationBasis.PROVIDED),
    ]
    assert expected_amount(lines, None) == D("3500.50")
    assert expected_amount(lines, D("0")) == D("3500.50")
    assert expected_amount(lines, D("3000")) == D("3000")  # EO override, no calculation
    assert expected_amount([], None) == D("0")


# --- money -----------------------------------------------------------------------------------------------


def test_generic_build_charges_no_fee_and_keeps_two_decimals():
    generic = FeePolicy()
    assert transfer_fee(D("21000"), TypeOfPayment.MOBILE_PHONE, generic) == D("0")
    assert reverse_transfer_fee(D("21000"), TypeOfPayment.MOBILE_PHONE, generic) == D("0")
    assert amount_to_be_paid(D("21000.456"), D("0"), generic) == D("21000.46")


def test_chf_mobile_fee_and_amount_to_be_paid():
    # 21000 / 1.011 = 20771.5133...; fee = 21000 - 20771.5133 = 228.4866 -> 228; to be paid 20772.
    fee = transfer_fee(D("21000"), TypeOfPayment.MOBILE_PHONE, CHF)
    assert fee == D("228")
    assert amount_to_be_paid(D("21000"), fee, CHF) == D("20772")
    # 21000.60 * 0.011 / 1.011 = 228.49... -> 228; 20772.60 -> 20773 with 0 places.
    fee = transfer_fee(D("21000.60"), TypeOfPayment.MOBILE_PHONE, CHF)
    assert fee == D("228")
    assert amount_to_be_paid(D("21000.60"), fee, CHF) == D("20773")


def test_chf_fee_only_for_mobile_phone():
    for other in (TypeOfPayment.CASH, TypeOfPayment.BANK_TRANSFER, None):
        assert transfer_fee(D("21000"), other, CHF) == D("0")
        assert reverse_transfer_fee(D("21000"), other, CHF) == D("0")


def test_chf_reverse_fee():
    # 20772 * 0.011 = 228.492 -> 228.
    assert reverse_transfer_fee(D("20772"), TypeOfPayment.MOBILE_PHONE, CHF) == D("228")


def test_bankers_versus_half_up_rounding():
    assert round_money(D("2.5"), 0, RoundingMode.HALF_EVEN) == D("2")
    assert round_money(D("2.5"), 0, RoundingMode.HALF_UP) == D("3")
    assert round_money(D("10.125"), 2, RoundingMode.HALF_EVEN) == D("10.12")
    assert round_money(D("10.125"), 2, RoundingMode.HALF_UP) == D("10.13")
    # Reverse fee on 1500: 1500 * 0.011 = 16.5 -> 16 (even) or 17 (half up).
    assert reverse_transfer_fee(D("1500"), TypeOfPayment.MOBILE_PHONE, CHF) == D("16")
    half_up = FeePolicy(mobile_rate=D("0.011"), to_be_paid_places=0, rounding=RoundingMode.HALF_UP)
    assert reverse_transfer_fee(D("1500"), TypeOfPayment.MOBILE_PHONE, half_up) == D("17")
    # Forward fee at 25 %: 12.5 - 12.5/1.25 = 2.5 -> 2 (even) or 3 (half up).
    even_25 = FeePolicy(mobile_rate=D("0.25"))
    up_25 = FeePolicy(mobile_rate=D("0.25"), rounding=RoundingMode.HALF_UP)
    assert transfer_fee(D("12.5"), TypeOfPayment.MOBILE_PHONE, even_25) == D("2")
    assert transfer_fee(D("12.5"), TypeOfPayment.MOBILE_PHONE, up_25) == D("3")
