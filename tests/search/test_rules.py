"""Pure rules of the customer list, at their boundaries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.search import rules
from services.search.rules import (
    add_months,
    current_request,
    detail_actions,
    handling_status,
    is_completed,
    next_inspection,
    normalise_name,
    normalise_plate,
    refinance_available,
    replacement_mark,
    result_input_deadline,
    row_colour,
    search_name,
    transferred_in,
    validate_search,
)
from shared.rules import RequestFact

# --------------------------------------------------------------------------------------------
# month arithmetic


@pytest.mark.parametrize(
    ("d", "months", "expected"),
    [
        (date(2026, 4, 30), -2, date(2026, 2, 28)),  # SPEC's example: clamped to the month end
        (date(2028, 4, 30), -2, date(2028, 2, 29)),  # leap year
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 5, 31), -1, date(2026, 4, 30)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2028, 2, 29), -48, date(2024, 2, 29)),
        (date(2026, 1, 15), -2, date(2025, 11, 15)),  # across the year
        (date(2025, 12, 31), 2, date(2026, 2, 28)),
        (date(2026, 1, 31), 0, date(2026, 1, 31)),
    ],
)
def test_add_months_clamps_to_the_month_end(d: date, months: int, expected: date) -> None:
    assert add_months(d, months) == expected


def test_result_input_deadline_is_two_months_before() -> None:
    assert result_input_deadline(date(2026, 4, 30)) == date(2026, 2, 28)
    assert result_input_deadline(date(2026, 6, 15)) == date(2026, 4, 15)
    assert result_input_deadline(date(2028, 4, 29)) == date(2028, 2, 29)


def test_tokyo_today_uses_japan_time() -> None:
    # 2026-03-31 16:00 UTC is already 2026-04-01 in Tokyo
    assert rules.tokyo_today(datetime(2026, 3, 31, 16, 0, tzinfo=UTC)) == date(2026, 4, 1)
    assert rules.tokyo_today(datetime(2026, 3, 31, 14, 59, tzinfo=UTC)) == date(2026, 3, 31)


# --------------------------------------------------------------------------------------------
# colours

FINAL = date(2026, 6, 15)


def colour(today: date, final: date = FINAL, **kw: object) -> str:
    args = {"transferred_in": False, "tfc_handling": None, "completed": False, **kw}
    return row_colour(final, today, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 6, 16), "gray"),  # the day after the final date
        (date(2027, 1, 1), "gray"),
        (date(2026, 6, 15), "red"),  # the final date itself is not past yet
        (date(2026, 4, 15), "red"),  # exactly 2 months before
        (date(2026, 4, 14), "yellow"),  # one day more than 2 months
        (date(2026, 2, 15), "yellow"),  # exactly 4 months before
        (date(2026, 2, 14), "white"),  # one day more than 4 months
        (date(2025, 1, 1), "white"),
    ],
)
def test_colour_edges(today: date, expected: str) -> None:
    assert colour(today) == expected


def test_colour_with_month_end_clamping() -> None:
    final = date(2026, 4, 30)  # − 2 months = 02-28, − 4 months = 12-30
    assert colour(date(2026, 2, 28), final) == "red"
    assert colour(date(2026, 2, 27), final) == "yellow"
    assert colour(date(2025, 12, 30), final) == "yellow"
    assert colour(date(2025, 12, 29), final) == "white"


def test_colour_on_29_february() -> None:
    final = date(2028, 4, 29)  # − 2 months = 2028-02-29
    assert colour(date(2028, 2, 29), final) == "red"
    assert colour(date(2028, 2, 28), final) == "yellow"
    final = date(2028, 2, 29)
    assert colour(date(2028, 2, 29), final) == "red"
    assert colour(date(2028, 3, 1), final) == "gray"
    assert colour(date(2027, 12, 29), final) == "red"
    assert colour(date(2027, 12, 28), final) == "yellow"
    assert colour(date(2027, 10, 29), final) == "yellow"
    assert colour(date(2027, 10, 28), final) == "white"


def test_colour_precedence_follows_the_manual() -> None:
    late = date(2026, 6, 16)
    everything = {"transferred_in": True, "tfc_handling": "total_loss", "completed": True}
    assert colour(late, **everything) == "gray"
    near = date(2026, 6, 1)
    assert colour(near, **everything) == "green"
    assert colour(near, tfc_handling="total_loss", completed=True) == "blue"
    assert colour(near, completed=True) == "white"  # complete → white even when near
    assert colour(date(2026, 3, 1), completed=True) == "white"
    assert colour(date(2025, 1, 1), transferred_in=True) == "green"
    assert colour(date(2025, 1, 1), tfc_handling="total_loss") == "blue"


# --------------------------------------------------------------------------------------------
# replacement mark, completion, handling status


@pytest.mark.parametrize(
    ("replacement", "today", "has_selection", "expected"),
    [
        ("yes", date(2025, 1, 1), True, "○"),
        ("no", date(2025, 1, 1), True, "ー"),
        (None, date(2026, 2, 15), False, "未"),  # exactly 4 months before: required
        (None, date(2026, 2, 14), False, ""),  # not required yet
        (None, date(2025, 1, 1), True, "未"),  # a selection makes it required
        (None, date(2026, 7, 1), False, ""),  # past the final date: 入力不要 (manual: ブランク)
        ("yes", date(2026, 2, 14), False, "○"),
    ],
)
def test_replacement_mark(replacement: str | None, today: date, has_selection: bool, expected: str) -> None:
    assert replacement_mark(replacement, FINAL, today, has_selection) == expected


def test_no_mark_where_no_input_is_needed_any_more() -> None:
    after_final = FINAL + timedelta(days=1)
    assert replacement_mark(None, FINAL, FINAL, True) == "未"  # on the final date: still due
    assert replacement_mark(None, FINAL, after_final, True) == ""  # past: 入力不要
    assert replacement_mark(None, FINAL, date(2026, 7, 1), False, completed=True) == ""
    assert replacement_mark("no", FINAL, after_final, True, completed=True) == "ー"  # entered: shown


def test_the_page_hides_what_is_done_unless_asked_or_searched_for() -> None:
    def hide(params: dict[str, str], default: bool = True) -> bool:
        criteria = validate_search(params, hide_done_by_default=default).criteria
        assert criteria is not None
        return criteria.hide_done

    assert hide({}) and hide({"mode": "inspection", "inspection": "1"})
    assert not hide({}, default=False)  # the API lists everything in scope
    assert not hide({"done": "show"}) and hide({"done": "hide"}, default=False)
    assert not hide({"mode": "individual", "contractor_name": "山田"})
    assert not hide({"final_to": "2022-03"}) and not hide({"handling_status": "completed"})
    assert validate_search({"done": "x"}).errors[0].code == "invalid_done"


@pytest.mark.parametrize(
    ("status", "request_status", "selection", "completed", "handling"),
    [
        ("active", None, None, False, "unselected"),
        ("active", None, "cash", False, "selected"),
        ("active", "store_pending", "vehicle_return", False, "in_progress"),
        ("active", "requested", "vehicle_return", False, "in_progress"),
        ("active", "tfc_processing", "vehicle_return", False, "in_progress"),
        ("active", "withdrawn", "vehicle_return", False, "selected"),
        ("active", "withdrawn", None, False, "unselected"),
        ("active", "completed", "vehicle_return", True, "completed"),
        ("settled", None, None, True, "completed"),
        ("returned", None, None, True, "completed"),
        ("refinanced", "store_pending", None, True, "completed"),
        ("cancelled", None, None, False, "unselected"),
    ],
)
def test_completion_and_handling_status(
    status: str, request_status: str | None, selection: str | None, completed: bool, handling: str
) -> None:
    assert is_completed(status, request_status) is completed
    assert handling_status(status, request_status, selection) == handling
    assert rules.HANDLING_STATUS_LABELS[handling] in ("未選択", "選択済", "手続中", "完了")


# --------------------------------------------------------------------------------------------
# predicted inspection month


@pytest.mark.parametrize(
    ("first_reg", "today", "expected"),
    [
        ("2023-04-10", date(2026, 4, 1), (2026, 4, 1)),  # +36 this month counts as upcoming
        ("2023-04-10", date(2026, 4, 30), (2026, 4, 1)),
        ("2023-04-10", date(2026, 5, 1), (2028, 4, 2)),  # then +60
        ("2023-04", date(2028, 5, 1), (2030, 4, 3)),  # day unknown; then +84
        ("2023-04-10", date(2030, 5, 1), (2032, 4, 4)),  # every 24 months after that
        ("2024-02-29", date(2025, 1, 1), (2027, 2, 1)),
        ("2023-11-01", date(2026, 11, 30), (2026, 11, 1)),
    ],
)
def test_next_inspection(first_reg: str, today: date, expected: tuple[int, int, int]) -> None:
    assert next_inspection(first_reg, today) == expected


def test_unreadable_first_registration_has_no_prediction() -> None:
    assert next_inspection("", date(2026, 1, 1)) is None
    assert next_inspection("2023-13", date(2026, 1, 1)) is None


def test_inspection_caveat_applies_to_commercial_and_first_of_month() -> None:
    assert rules.INSPECTION_CAVEAT == "※商用車と月初1日登録車については実際の車検月と異なる可能性があります"
    assert rules.prediction_may_differ("commercial", "2023-04-10")
    assert rules.prediction_may_differ("passenger", "2023-04-01")
    assert not rules.prediction_may_differ("passenger", "2023-04-10")
    assert not rules.prediction_may_differ("passenger", "2023-04")


def test_inspection_search_range_maps_to_first_registration_months() -> None:
    today = date(2026, 5, 20)
    lo, hi = rules.first_registration_range_for_inspection(1, 0, 2, today)
    # 1st inspection in 2026-05..2026-07 → first registration 2023-05..2023-07
    assert (lo, hi) == (rules.month_index(2023, 5), rules.month_index(2023, 7))
    lo, hi = rules.first_registration_range_for_inspection(3, 23, 23, today)
    assert lo == hi == rules.month_index(2021, 4)  # 2028-04 − 84 months


# --------------------------------------------------------------------------------------------
# refinance window and actions


@pytest.mark.parametrize(
    ("today", "ok"),
    [
        (date(2025, 9, 14), False),
        (date(2025, 9, 15), True),  # exactly final − 9 months
        (date(2026, 6, 15), True),  # the final date
        (date(2026, 6, 16), False),
    ],
)
def test_refinance_window(today: date, ok: bool) -> None:
    assert refinance_available(FINAL, today) is ok


def test_refinance_window_clamps() -> None:
    assert rules.refinance_window(date(2026, 11, 30)) == (date(2026, 2, 28), date(2026, 11, 30))


def _actions(**kw: object) -> dict[str, rules.Action]:
    args = {
        "contract_no": "C1",
        "role": "staff",
        "final_payment_date": FINAL,
        "today": date(2025, 9, 15),
        "selection_category": None,
        "return_request_id": None,
        "program": "gamma_finance",
        **kw,
    }
    return {a.key: a for a in detail_actions(**args)}  # type: ignore[arg-type]


def test_detail_actions_follow_the_rules() -> None:
    a = _actions()
    assert [x.label for x in a.values()] == [
        "進捗・結果入力",
        "車両返却 結果入力・進捗確認",
        "再分割シミュレーション",
        "お支払方法確認書印刷",
        "店舗・スタッフ変更",
    ]
    assert a["selection"].href == "/selection/contracts/C1/input" and a["selection"].enabled
    assert a["refinance"].enabled and a["refinance"].href == "/selection/contracts/C1/refinance"
    assert a["confirmation"].href == "/api/v1/contracts/C1/confirmation.pdf"
    assert not a["returns"].enabled and "車両返却" in a["returns"].reason
    assert not a["assignment"].enabled
    assert not _actions(today=date(2025, 9, 14))["refinance"].enabled
    assert "2025/09/15" in _actions(today=date(2025, 9, 14))["refinance"].reason
    assert _actions(selection_category="vehicle_return")["returns"].enabled
    assert _actions(return_request_id="R1")["returns"].href == "/returns/contracts/C1"
    assert _actions(selection_category="vehicle_return", return_request_id="R1")["returns"].enabled
    assert not _actions(selection_category="refinance")["returns"].enabled
    assert not _actions(selection_category="vehicle_return", program="smart_value_open")["returns"].enabled
    for role in ("hq", "store_manager"):
        assigned = _actions(role=role)["assignment"]
        assert assigned.enabled and assigned.href == "/selection/contracts/C1/assignment"


def test_early_payoff_acceptance_is_offered_after_early_payoff_until_the_final_date() -> None:
    """Issue 17: who chose 「後日」 on 早期完済確認 starts the 早期完済受付 from 顧客詳細, beside
    進捗・結果入力."""
    for category in (None, "cash", "vehicle_return", "refinance"):
        assert "early-payoff" not in _actions(selection_category=category)
    actions = _actions(selection_category="early_payoff")
    assert list(actions)[:2] == ["selection", "early-payoff"]
    offered = actions["early-payoff"]
    assert (offered.label, offered.enabled) == ("早期完済受付", True)
    assert offered.href == "/selection/contracts/C1/early-payoff/acceptance"
    assert _actions(selection_category="early_payoff", today=FINAL)["early-payoff"].enabled
    closed = _actions(selection_category="early_payoff", today=FINAL + timedelta(days=1))["early-payoff"]
    assert not closed.enabled and f"{FINAL:%Y/%m/%d}" in closed.reason and "過ぎている" in closed.reason

    def with_request(status: str, request_type: str = "early_payoff") -> rules.Action:
        fact = RequestFact("R1", request_type, status)
        return _actions(selection_category="early_payoff", requests=[fact])["early-payoff"]

    assert not with_request("hq_pending").enabled and "手続中" in with_request("hq_pending").reason
    assert not with_request("completed").enabled and "完了" in with_request("completed").reason
    assert with_request("withdrawn").enabled  # after 取下げ it may start again
    assert with_request("hq_pending", "vehicle_return").enabled  # another type's request does not hold it


# --------------------------------------------------------------------------------------------
# forgiving matching


@pytest.mark.parametrize(
    "query", ["ﾔﾏﾀﾞ", "やまだ", "山田", "ヤマダ タロウ", "山田　太郎", "やまだたろう", "ﾀﾛｳ"]
)
def test_name_queries_find_kanji_or_kana(query: str) -> None:
    assert normalise_name(query) in search_name("山田 太郎", "ヤマダ タロウ")


def test_name_query_does_not_match_across_kanji_and_kana() -> None:
    assert normalise_name("太郎ヤマダ") not in search_name("山田 太郎", "ヤマダ タロウ")
    assert normalise_name("|") == ""


@pytest.mark.parametrize(
    "query", ["品川300あ1234", "12-34", "１２－３４", "300 ｱ", "品川 300 ア 12‐34", "あ12"]
)
def test_plate_queries_ignore_width_spaces_and_hyphens(query: str) -> None:
    assert normalise_plate(query) in normalise_plate("品川 300 あ 12-34")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("山", []),
        ("山田", ["山田"]),
        ("ああああ", ["ああ"]),
        ("山田|ヤマ", ["|ヤ", "ヤマ", "山田", "田|"]),
        ("𠮷田", ["𠮷田"]),  # a character outside the BMP is one character, as in PostgreSQL
    ],
)
def test_bigrams(text: str, expected: list[str]) -> None:
    assert rules.bigrams(text) == expected


@given(st.text(max_size=12), st.integers(0, 12), st.integers(0, 12))
def test_a_text_holds_every_bigram_of_its_substrings(text: str, start: int, length: int) -> None:
    """What makes the bigram index safe: it never drops a row the LIKE would keep."""
    needle = text[start : start + length]
    assert set(rules.bigrams(needle)) <= set(rules.bigrams(text))


def test_long_vowel_mark_is_kept() -> None:
    assert normalise_name("ﾊｰﾄ") == "ハート"


# --------------------------------------------------------------------------------------------
# validation


def errors(params: dict[str, str]) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in validate_search(params).errors]


def test_individual_search_needs_a_key() -> None:
    assert errors({"mode": "individual"}) == [("individual", "individual_criteria_required")]
    assert errors({"mode": "individual", "contractor_name": "  ・ "}) == [
        ("individual", "individual_criteria_required")
    ]
    c = validate_search({"mode": "individual", "contract_no": " ｃ１２３ "}).criteria
    assert c is not None and c.contract_no == "C123"


def test_general_search_months() -> None:
    c = validate_search({"mode": "general", "final_to": "2022-03"}).criteria
    assert c is not None and c.final_from is None and c.final_to == date(2022, 3, 31)
    c = validate_search({"mode": "general", "final_from": "２０２４年２月", "final_to": "2024/2"}).criteria
    assert c is not None and (c.final_from, c.final_to) == (date(2024, 2, 1), date(2024, 2, 29))
    assert errors({"mode": "general", "final_from": "2024-13"}) == [("final_from", "invalid_month")]
    assert errors({"mode": "general", "final_to": "march"}) == [("final_to", "invalid_month")]
    assert errors({"mode": "general", "final_from": "2024-04", "final_to": "2024-03"}) == [
        ("final_to", "final_range_reversed")
    ]
    assert validate_search({"mode": "general", "final_from": "2024-03", "final_to": "2024-03"}).criteria
    assert validate_search({}).criteria == rules.Criteria()


def test_general_search_status_and_program() -> None:
    c = validate_search({"mode": "general", "handling_status": "手続中", "program": "deferred_tfc"}).criteria
    assert c is not None and c.handling_status == "in_progress" and c.program == "deferred_tfc"
    assert errors({"handling_status": "x"}) == [("handling_status", "invalid_handling_status")]
    assert errors({"program": "x"}) == [("program", "invalid_program")]
    assert errors({"mode": "x"}) == [("mode", "invalid_mode")]
    assert errors({"sort": "x"}) == [("sort", "invalid_sort")]


@pytest.mark.parametrize(
    ("kind", "frm", "to", "expected"),
    [
        ("1", "0", "35", []),
        ("1", "0", "36", [("months_to", "inspection_range_out_of_bounds")]),
        ("2", "0", "23", []),
        ("2", "0", "24", [("months_to", "inspection_range_out_of_bounds")]),
        ("3", "24", "23", [("months_from", "inspection_range_out_of_bounds")]),
        ("1", "-1", "3", [("months_from", "invalid_months")]),
        ("1", "a", "3", [("months_from", "invalid_months")]),
        ("1", "5", "4", [("months_to", "inspection_range_reversed")]),
        ("1", "４", "４", []),
        ("", "0", "3", [("inspection", "inspection_kind_required")]),
        ("4", "0", "3", [("inspection", "inspection_kind_required")]),
    ],
)
def test_inspection_search_validation(kind: str, frm: str, to: str, expected: list) -> None:
    assert errors({"mode": "inspection", "inspection": kind, "months_from": frm, "months_to": to}) == expected


def test_inspection_messages_name_the_limits() -> None:
    first = validate_search({"mode": "inspection", "inspection": "1", "months_to": "40"}).errors[0]
    assert "0～35ヶ月" in first.message
    other = validate_search({"mode": "inspection", "inspection": "2", "months_to": "30"}).errors[0]
    assert "0～23ヶ月" in other.message
    c = validate_search({"mode": "inspection", "inspection": "2"}).criteria
    assert c is not None and (c.months_from, c.months_to) == (0, 23)


# --------------------------------------------------------------------------------------------
# green, current request (ownership: tests/shared/test_rules.py)


def test_transferred_in_until_the_new_store_records_a_selection() -> None:
    assert not transferred_in(None, None, None, "S0102")
    assert transferred_in(3, None, None, "S0102")
    assert transferred_in(3, 2, "S0101", "S0102")  # an older selection
    assert transferred_in(3, 4, "S0101", "S0102")  # recorded by the old store
    assert not transferred_in(3, 4, "S0102", "S0102")
    assert transferred_in(3, 3, "S0102", "S0102")


def test_current_request_prefers_the_latest_live_one() -> None:
    t = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    w = rules.RequestView("R1", "withdrawn", t[2])
    live = rules.RequestView("R2", "store_pending", t[0])
    done = rules.RequestView("R3", "completed", t[1])
    assert current_request([]) is None
    assert current_request([w]) == w
    assert current_request([w, live]) == live
    assert current_request([live, w, done]) == done


def test_tfc_handling_labels_in_japanese_unknown_codes_as_they_are() -> None:
    assert rules.tfc_handling_label("total_loss") == "車両全損"
    assert rules.tfc_handling_label("fraud_check") == "fraud_check"
    assert rules.tfc_handling_label(None) is None and rules.tfc_handling_label("") is None
