"""Pure rules of the selection service, at every boundary."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.selection import domain, labels
from services.selection.domain import Selection, SelectionInput
from shared.refusal import Refusal

FINAL = date(2026, 4, 30)  # deadline 2026-02-28, change lock after 2026-03-30, refinance from 2025-07-30
DAY = timedelta(days=1)


# ---------------------------------------------------------------------------------------------
# Calendar


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 4, 30), 2, date(2026, 2, 28)),
        (date(2028, 4, 30), 2, date(2028, 2, 29)),  # leap year
        (date(2026, 3, 31), 1, date(2026, 2, 28)),
        (date(2026, 5, 31), 1, date(2026, 4, 30)),
        (date(2026, 1, 15), 2, date(2025, 11, 15)),  # across the year
        (date(2026, 2, 28), 9, date(2025, 5, 28)),
        (date(2026, 12, 31), 9, date(2026, 3, 31)),
        (date(2026, 3, 1), 1, date(2026, 2, 1)),
        (date(2026, 4, 15), 0, date(2026, 4, 15)),
        (date(2026, 1, 31), 12, date(2025, 1, 31)),
        (date(2025, 11, 30), 9, date(2025, 2, 28)),
    ],
)
def test_months_before_clamps_to_month_end(day: date, months: int, expected: date) -> None:
    assert domain.months_before(day, months) == expected


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)), st.integers(0, 120))
def test_months_before_never_skips_a_month(day: date, months: int) -> None:
    back = domain.months_before(day, months)
    assert (day.year * 12 + day.month) - (back.year * 12 + back.month) == months
    assert back.day <= day.day


def test_deadlines_of_a_month_end_final_date() -> None:
    assert domain.result_input_deadline(FINAL) == date(2026, 2, 28)
    assert domain.category_change_deadline(FINAL) == date(2026, 3, 30)
    assert domain.refinance_opens_on(FINAL) == date(2025, 7, 30)


def test_late_only_after_the_deadline_day() -> None:
    deadline = date(2026, 2, 28)
    assert not domain.is_late(FINAL, deadline - DAY)
    assert not domain.is_late(FINAL, deadline)
    assert domain.is_late(FINAL, deadline + DAY)
    assert domain.is_late(FINAL, FINAL + DAY)


def test_category_change_allowed_until_final_minus_one_month_inclusive() -> None:
    lock = date(2026, 3, 30)
    assert domain.can_change_category(FINAL, lock - DAY)
    assert domain.can_change_category(FINAL, lock)
    assert not domain.can_change_category(FINAL, lock + DAY)


def test_refinance_window_both_ends_inclusive() -> None:
    opens = date(2025, 7, 30)
    assert not domain.refinance_available(FINAL, opens - DAY)
    assert domain.refinance_available(FINAL, opens)
    assert domain.refinance_available(FINAL, FINAL)
    assert not domain.refinance_available(FINAL, FINAL + DAY)


def test_refinance_window_refusal_states_the_rule_and_dates() -> None:
    with pytest.raises(Refusal) as e:
        domain.check_refinance_window(FINAL, date(2025, 7, 29))
    assert e.value.code == "refinance_not_available" and e.value.kind == "conflict"
    assert (
        "9ヶ月前" in e.value.message and "2025/07/30" in e.value.message and "2026/04/30" in e.value.message
    )
    domain.check_refinance_window(FINAL, date(2025, 7, 30))


# ---------------------------------------------------------------------------------------------
# Selection


def entry(category="cash", replacement="no", model=None, received=date(2026, 1, 10)) -> SelectionInput:
    return SelectionInput(category, replacement, model, received)


def refused(current, e, today, final=FINAL) -> Refusal:
    with pytest.raises(Refusal) as info:
        domain.decide_selection(current, e, final, today)
    return info.value


def test_first_entry_before_and_on_the_deadline_is_on_time() -> None:
    for today in (date(2026, 1, 10), date(2026, 2, 28)):
        d = domain.decide_selection(None, entry(), FINAL, today)
        assert d.changed and d.selection == Selection("cash", "no", None, date(2026, 1, 10), late=False)


def test_first_entry_after_the_deadline_is_accepted_but_late() -> None:
    for today in (date(2026, 3, 1), date(2026, 3, 31), FINAL, FINAL + timedelta(days=30)):
        d = domain.decide_selection(None, entry(), FINAL, today)
        assert d.changed and d.selection.late


@pytest.mark.parametrize("category", domain.CATEGORIES)
def test_every_category_can_be_recorded(category: str) -> None:
    d = domain.decide_selection(None, entry(category), FINAL, date(2026, 1, 10))
    assert d.selection.category == category


def test_same_values_resubmitted_change_nothing_even_after_the_lock() -> None:
    current = Selection("cash", "no", None, date(2026, 1, 10), late=False)
    for today in (date(2026, 1, 11), date(2026, 3, 31), FINAL + DAY):
        d = domain.decide_selection(current, entry(), FINAL, today)
        assert not d.changed and d.selection is current


def test_category_change_until_the_lock_day_then_refused_with_the_manuals_words() -> None:
    current = Selection("cash", "no", None, date(2026, 1, 10), late=False)
    assert domain.decide_selection(current, entry("vehicle_return"), FINAL, date(2026, 3, 30)).changed
    err = refused(current, entry("vehicle_return"), date(2026, 3, 31))
    assert err.code == "category_change_locked" and err.kind == "conflict" and err.field == "category"
    assert "最終回選択区分の入力変更は、最終回期日の1ヶ月前まで可能です" in err.message


def test_category_change_between_deadline_and_lock_is_late() -> None:
    current = Selection("cash", "no", None, date(2026, 1, 10), late=False)
    d = domain.decide_selection(current, entry("refinance"), FINAL, date(2026, 3, 1))
    assert d.changed and d.selection.late and d.selection.category == "refinance"


def test_replacement_may_change_after_the_lock_keeping_the_late_flag() -> None:
    current = Selection("cash", "no", None, date(2026, 1, 10), late=False)
    d = domain.decide_selection(current, entry("cash", "yes", "ノア"), FINAL, date(2026, 4, 10))
    assert d.changed and d.selection.replacement_model == "ノア" and d.selection.late is False
    late = Selection("cash", "no", None, date(2026, 1, 10), late=True)
    d = domain.decide_selection(late, entry("cash", "yes", "ノア"), FINAL, date(2026, 1, 20))
    assert d.selection.late is True


def test_confirmation_date_required_and_not_in_the_future() -> None:
    today = date(2026, 1, 10)
    err = refused(None, entry(received=None), today)
    assert err.code == "confirmation_required" and err.field == "confirmation_received_on"
    assert "お支払方法確認書" in err.message
    assert refused(None, entry(received=today + DAY), today).code == "confirmation_in_future"
    assert domain.decide_selection(None, entry(received=today), FINAL, today).changed


def test_confirmation_date_no_older_than_a_year() -> None:
    """Year 1 was accepted (issue 18): a date more than a year back is refused with its bound."""
    today = date(2026, 1, 10)
    oldest = today - domain.CONFIRMATION_MAX_AGE
    assert domain.decide_selection(None, entry(received=oldest), FINAL, today).changed
    for received in (oldest - DAY, date(1, 1, 1), date(1900, 1, 1)):
        err = refused(None, entry(received=received), today)
        assert err.code == "confirmation_too_old" and err.field == "confirmation_received_on"
        assert f"{oldest:%Y/%m/%d}以降" in err.message, err.message


def test_replacement_rules() -> None:
    today = date(2026, 1, 10)
    assert refused(None, entry(replacement=None), today).code == "replacement_required"
    assert refused(None, entry(replacement="maybe"), today).code == "replacement_required"
    assert refused(None, entry(replacement="yes", model=None), today).code == "replacement_model_required"
    assert refused(None, entry(replacement="yes", model="   "), today).code == "replacement_model_required"
    assert (
        refused(None, entry(replacement="yes", model="x" * 101), today).code == "replacement_model_too_long"
    )
    assert refused(None, entry(replacement="no", model="ノア"), today).code == "replacement_model_not_allowed"
    d = domain.decide_selection(None, entry(replacement="yes", model=" 他社の軽 "), FINAL, today)
    assert d.selection.replacement_model == "他社の軽"
    d = domain.decide_selection(None, entry(replacement="yes", model="x" * 100), FINAL, today)
    assert d.changed
    assert domain.decide_selection(None, entry(replacement="no", model=""), FINAL, today).changed


def test_category_required_and_known() -> None:
    today = date(2026, 1, 10)
    assert refused(None, entry(category=None), today).code == "category_required"
    assert refused(None, entry(category="gift"), today).code == "category_required"


def test_a_refused_entry_reports_shape_errors_before_the_lock() -> None:
    current = Selection("cash", "no", None, date(2026, 1, 10), late=False)
    err = refused(current, entry("refinance", received=None), date(2026, 4, 1))
    assert err.code == "confirmation_required"


# ---------------------------------------------------------------------------------------------
# Memo and assignment


def test_memo_limit_and_normalisation() -> None:
    assert domain.validate_memo("a\r\nb\rc  \n") == "a\nb\nc"
    assert domain.validate_memo("あ" * 2000) == "あ" * 2000
    with pytest.raises(Refusal) as e:
        domain.validate_memo("あ" * 2001)
    assert e.value.code == "memo_too_long" and "2000文字以内" in e.value.message


STORES = {"S0101", "S0102"}
# The target stores' staff (the staff directory): the feed's and the identity provider's codes.
STAFF = {"S0101": {"010101", "010190"}, "S0102": {"010201", "010290"}}


def _assign(role: str, user_store: str | None, store: str, staff: str) -> tuple[str, str]:
    return domain.validate_assignment(
        role, user_store, "S0101", store, staff, STORES, store_staff_codes=STAFF
    )


def test_assignment_roles_and_scope() -> None:
    assert _assign("hq", None, " S0102 ", " 010201 ") == ("S0102", "010201")
    assert _assign("store_manager", "S0101", "S0102", "010290")
    for role, store in (("staff", "S0101"), ("store_manager", "S0102")):
        with pytest.raises(Refusal) as e:
            _assign(role, store, "S0102", "010201")
        assert e.value.kind == "forbidden" and e.value.message == labels.MSG_ASSIGNMENT_FORBIDDEN


@pytest.mark.parametrize(
    ("store", "staff", "code"),
    [
        ("S0201", "020101", "unknown_store"),
        ("", "020101", "unknown_store"),
        ("S0102", "", "staff_code_required"),
        ("S0102", "01 02", "staff_code_invalid"),
        ("S0102", "０１０２", "staff_code_invalid"),
        ("S0102", "x" * 33, "staff_code_invalid"),
        ("S0102", "ZZZ999", "unknown_staff_code"),  # nobody's code (issue 15, point 7)
        ("S0102", "010101", "unknown_staff_code"),  # a person of another store
    ],
)
def test_assignment_input_errors(store: str, staff: str, code: str) -> None:
    with pytest.raises(Refusal) as e:
        _assign("hq", None, store, staff)
    assert e.value.code == code and e.value.kind == "invalid"
    if code == "unknown_staff_code":
        assert e.value.field == "staff_code"
        assert f"スタッフコード「{staff}」は変更先の店舗のスタッフに登録されていません" in e.value.message


def test_a_store_without_known_staff_takes_nobody() -> None:
    with pytest.raises(Refusal) as e:
        domain.validate_assignment("hq", None, "S0101", "S0102", "010201", STORES, store_staff_codes={})
    assert e.value.code == "unknown_staff_code"


def _member(store: str, code: str, name: str = "", dealer: str = "D001") -> domain.StaffMember:
    return domain.StaffMember(dealer, store, code, name)


def test_store_staff_merges_the_directory_and_the_feed() -> None:
    directory = [
        _member("S0101", "010102", "高橋 美咲"),
        _member("S0101", "010101", "佐藤 健一"),
        _member("S0102", "010201", "田中 由美"),
        _member("S0201", "020101", "中村 翔太", dealer="D002"),  # another dealer: never offered
    ]
    feed = [("S0101", "010101"), ("S0101", "010177"), ("S0102", "010101"), ("S0103", "010301")]
    staff = domain.store_staff("D001", directory, feed)
    assert {store: [m.label for m in people] for store, people in staff.items()} == {
        "S0101": ["010101 佐藤 健一", "010102 高橋 美咲", "010177"],  # a feed code nobody named: the code
        "S0102": ["010101 佐藤 健一", "010201 田中 由美"],  # TFC files 010101 here too: named all the same
        "S0103": ["010301"],
    }
    assert domain.store_staff("D003", directory, []) == {}


@given(
    directory=st.lists(
        st.tuples(st.sampled_from(["S1", "S2"]), st.sampled_from(["a", "b", "c"]), st.text(max_size=3))
    ),
    feed=st.lists(st.tuples(st.sampled_from(["S1", "S2", "S3"]), st.sampled_from(["a", "b", "d"]))),
)
def test_store_staff_knows_exactly_the_directory_and_the_feed(
    directory: list[tuple[str, str, str]], feed: list[tuple[str, str]]
) -> None:
    staff = domain.store_staff("D", [_member(s, c, n, dealer="D") for s, c, n in directory], feed)
    known = {(store, m.staff_code) for store, people in staff.items() for m in people}
    assert known == {(s, c) for s, c, _ in directory} | set(feed)
    for people in staff.values():
        codes = [m.staff_code for m in people]
        assert codes == sorted(set(codes))


@pytest.mark.parametrize(
    ("category", "says"),
    [
        ("refinance", "「再分割」で登録されています"),
        ("cash", "「現金決済（口座振替）」で登録されています"),
        ("vehicle_return", "「車両返却」で登録されています"),
        (None, "まだ登録されていません"),
    ],
)
def test_early_payoff_confirmation_only_for_early_payoff(category: str | None, says: str) -> None:
    domain.check_early_payoff_recorded("early_payoff")
    with pytest.raises(Refusal) as e:
        domain.check_early_payoff_recorded(category)
    assert e.value.code == "not_early_payoff" and e.value.kind == "conflict"
    assert says in e.value.message and "進捗・結果入力" in e.value.message


# ---------------------------------------------------------------------------------------------
# Refinance simulation


def test_refinance_validation_boundaries() -> None:
    rate = Decimal("0.049")
    assert domain.validate_refinance(12, None, rate) == (12, rate)
    assert domain.validate_refinance(84, Decimal("0"), rate) == (84, Decimal("0"))
    assert domain.validate_refinance(60, Decimal("0.3"), rate)[1] == Decimal("0.3")
    for months in (None, 11, 85, 0, -12):
        with pytest.raises(Refusal) as e:
            domain.validate_refinance(months, None, rate)
        assert e.value.code == "months_out_of_range" and "12回から84回" in e.value.message
    for bad in (
        Decimal("-0.001"),
        Decimal("0.3001"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("1e999999999"),
    ):
        with pytest.raises(Refusal) as e:
            domain.validate_refinance(60, bad, rate)
        assert e.value.code == "rate_out_of_range"


def test_a_rate_is_kept_to_six_places_so_a_tiny_rate_is_zero() -> None:
    """1e-400 passed the range check and then divided by zero in the level payment (issue 18)."""
    for tiny in (Decimal("1e-400"), Decimal("-0"), Decimal("0.0000004")):
        _, kept = domain.validate_refinance(60, tiny, Decimal("0.049"))
        assert kept == 0 and str(kept) == "0.000000"
        assert domain.simulate_refinance(1_200_000, 60, kept).total_interest == 0
    assert domain.validate_refinance(60, Decimal("0.0490004"), Decimal("0"))[1] == Decimal("0.049")


def test_a_known_schedule() -> None:
    plan = domain.simulate_refinance(1_200_000, 60, Decimal("0.049"))
    # A = 22,590.6…; total = floor(A·60) = 1,355,432; 2nd onwards 22,500; the first absorbs the rest
    assert plan.total_payment == 1_355_432 and plan.total_interest == 155_432
    assert plan.monthly_payment == 22_500 and plan.first_payment == 1_355_432 - 22_500 * 59 == 27_932
    first = plan.schedule[0]
    assert (first.no, first.payment, first.interest) == (1, 27_932, 4_900)  # 1,200,000 × 0.049/12
    assert first.principal == 23_032 and first.balance == 1_176_968
    assert plan.schedule[-1].balance == 0 and len(plan.schedule) == 60


def test_zero_rate_repays_exactly_the_principal() -> None:
    plan = domain.simulate_refinance(1_000_000, 12, Decimal(0))
    assert plan.total_interest == 0 and plan.total_payment == 1_000_000
    assert plan.monthly_payment == 83_300 and plan.first_payment == 1_000_000 - 83_300 * 11
    assert all(r.interest == 0 for r in plan.schedule)


def test_nothing_to_refinance() -> None:
    with pytest.raises(Refusal) as e:
        domain.simulate_refinance(0, 12, Decimal("0.05"))
    assert e.value.code == "no_principal"


principals = st.integers(min_value=1, max_value=50_000_000)
month_counts = st.integers(min_value=12, max_value=84)
rates = st.decimals(min_value=Decimal(0), max_value=Decimal("0.3"), places=4)


@settings(max_examples=400, deadline=None)
@given(principals, month_counts, rates)
def test_every_schedule_sums_exactly(principal: int, months: int, rate: Decimal) -> None:
    plan = domain.simulate_refinance(principal, months, rate)
    rows = plan.schedule
    assert len(rows) == months and [r.no for r in rows] == list(range(1, months + 1))
    assert sum(r.payment for r in rows) == plan.total_payment == principal + plan.total_interest
    assert sum(r.principal for r in rows) == principal
    assert sum(r.interest for r in rows) == plan.total_interest >= 0
    assert all(r.payment == plan.monthly_payment for r in rows[1:])
    assert plan.monthly_payment % 100 == 0 and plan.first_payment == rows[0].payment
    assert plan.first_payment >= plan.monthly_payment
    assert all(r.principal >= 0 and r.interest >= 0 and r.payment == r.principal + r.interest for r in rows)
    balances = [principal] + [r.balance for r in rows[:-1]]
    assert all(a - r.principal == r.balance for a, r in zip(balances, rows, strict=True))
    assert rows[-1].balance == 0
    if rate == 0:
        assert plan.total_interest == 0


@settings(max_examples=300, deadline=None)
@given(principals, month_counts, rates, rates)
def test_a_higher_rate_never_costs_less(principal: int, months: int, r1: Decimal, r2: Decimal) -> None:
    low, high = sorted((r1, r2))
    a = domain.simulate_refinance(principal, months, low)
    b = domain.simulate_refinance(principal, months, high)
    assert a.total_interest <= b.total_interest
    assert a.monthly_payment <= b.monthly_payment


@settings(max_examples=300, deadline=None)
@given(principals, month_counts, month_counts, rates)
def test_more_months_mean_lower_instalments_and_more_interest(
    principal: int, m1: int, m2: int, rate: Decimal
) -> None:
    short, long = sorted((m1, m2))
    a = domain.simulate_refinance(principal, short, rate)
    b = domain.simulate_refinance(principal, long, rate)
    assert b.monthly_payment <= a.monthly_payment
    assert b.total_interest >= a.total_interest
    if rate == 0:
        assert a.total_interest == b.total_interest == 0
