"""The dashboard's figures as pure functions, at their boundaries; and the saved-search rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest

from services.search import dashboard as d
from services.search import saved
from services.search.rules import month_index
from shared.refusal import Refusal

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


# rate / percent -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("part", "whole", "expected"), [(0, 0, None), (0, 3, 0.0), (1, 4, 0.25), (3, 3, 1.0), (2, 3, 2 / 3)]
)
def test_rate(part: int, whole: int, expected: float | None) -> None:
    assert d.rate(part, whole) == expected


@pytest.mark.parametrize(("part", "whole"), [(4, 3), (-1, 3), (0, -1)])
def test_rate_refuses_impossible_counts(part: int, whole: int) -> None:
    with pytest.raises(ValueError):
        d.rate(part, whole)


@pytest.mark.parametrize(
    ("value", "label"), [(None, "―"), (0.0, "0.0%"), (1.0, "100.0%"), (2 / 3, "66.7%"), (0.0005, "0.1%")]
)
def test_percent_label(value: float | None, label: str) -> None:
    assert d.percent_label(value) == label


# median / durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [([], None), ([5.0], 5.0), ([3.0, 1.0], 2.0), ([9.0, 1.0, 5.0], 5.0), ([4.0, 1.0, 3.0, 2.0], 2.5)],
)
def test_median(values: list[float], expected: float | None) -> None:
    assert d.median(values) == expected


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (None, "―"),
        (0, "0秒"),
        (59.4, "59秒"),
        (60, "1分"),
        (3599, "59分"),
        (3600, "1時間"),
        (3660, "1時間1分"),
        (86399, "23時間59分"),
        (86400, "1日"),
        (86400 * 3 + 7200, "3日2時間"),
    ],
)
def test_duration_label(seconds: float | None, label: str) -> None:
    assert d.duration_label(seconds) == label


def change(request_id: str, version: int, status: str, minutes: float) -> d.StatusChange:
    return d.StatusChange(request_id, version, status, T0 + timedelta(minutes=minutes))


def test_step_durations_time_between_entering_and_the_next_change() -> None:
    changes = [
        change("a", 1, "store_pending", 0),
        change("a", 2, "hq_pending", 10),
        change("a", 3, "requested", 70),
        change("a", 4, "tfc_processing", 75),
        change("a", 5, "completed", 100),
        change("b", 1, "store_pending", 0),
        change("b", 2, "staff_back", 30),  # sent back: 30 minutes in store_pending
        change("b", 3, "store_pending", 40),  # corrected: a second stay
        change("b", 4, "requested", 60),
    ]
    got = {k: sorted(v) for k, v in d.step_durations(reversed(changes)).items()}  # any order
    assert got == {
        "store_pending": [600.0, 1200.0, 1800.0],
        "hq_pending": [3600.0],
        "requested": [300.0],  # b is still in requested: no figure yet
        "tfc_processing": [1500.0],
    }
    figures = {f.status: f for f in d.step_figures(changes)}
    assert figures["store_pending"].count == 3 and figures["store_pending"].median_seconds == 1200.0
    assert figures["store_pending"].median_label == "20分"
    assert figures["hq_pending"].median_label == "1時間"
    assert [f.status for f in d.step_figures([])] == list(d.MEASURED_STEPS)
    assert all(f.count == 0 and f.median_label == "―" for f in d.step_figures([]))


def test_step_durations_skip_gaps_unmeasured_statuses_and_clock_skew() -> None:
    changes = [
        change("a", 1, "store_pending", 0),
        change("a", 3, "requested", 50),  # version 2 not received: the store step is unknown
        change("a", 4, "completed", 40),  # earlier clock than the previous change: 0, never negative
        change("c", 1, "staff_back", 0),
        change("c", 2, "store_pending", 5),
    ]
    got = d.step_durations(changes)
    assert got["store_pending"] == [] and got["requested"] == [0.0]


# final month = predicted inspection month -----------------------------------------------------


@pytest.mark.parametrize(
    ("final", "first_reg", "expected"),
    [
        (date(2027, 4, 30), (2024, 4), True),  # 1st inspection (+36)
        (date(2027, 4, 1), (2022, 4), True),  # 2nd (+60)
        (date(2027, 4, 15), (2020, 4), True),  # 3rd (+84)
        (date(2027, 4, 15), (2014, 4), True),  # 6th (+156)
        (date(2027, 4, 15), (2012, 4), False),  # 7th is not checked
        (date(2027, 4, 15), (2024, 3), False),  # a month off
        (date(2027, 4, 15), (2024, 5), False),
        (date(2027, 4, 15), (2023, 4), False),  # +48: between inspections
        (date(2027, 4, 15), (2025, 4), False),  # +24: before the first
    ],
)
def test_final_meets_inspection(final: date, first_reg: tuple[int, int], expected: bool) -> None:
    assert d.final_meets_inspection(final, month_index(*first_reg)) is expected


def test_final_meets_inspection_without_first_registration() -> None:
    assert d.final_meets_inspection(date(2027, 4, 1), None) is False


def test_highlight_windows_cover_this_month_and_the_next_eleven() -> None:
    windows = d.highlight_windows(date(2026, 11, 30))
    assert len(windows) == 12
    assert windows[0].first_day == date(2026, 11, 1) and windows[0].next_month_first_day == date(2026, 12, 1)
    assert windows[1].first_day == date(2026, 12, 1) and windows[1].next_month_first_day == date(2027, 1, 1)
    assert windows[-1].next_month_first_day == date(2027, 11, 1)
    for w, nxt in pairwise(windows):
        assert w.next_month_first_day == nxt.first_day
    # the window's first-registration months are exactly those final_meets_inspection accepts
    for w in windows:
        final_month = month_index(w.first_day.year, w.first_day.month)
        for first in range(final_month - 200, final_month + 1):
            assert (first in w.first_registration_months) == d.final_meets_inspection(w.first_day, first)


# grouping and bars ----------------------------------------------------------------------------


def test_total_counts_and_rates() -> None:
    groups = [d.SelectionCounts("S1", "品川店", 4, 1, 3), d.SelectionCounts("S2", "世田谷店", 0, 0, 0)]
    total = d.total_counts(groups)
    assert (total.selections, total.replacement_yes, total.on_time) == (4, 1, 3)
    assert total.replacement_rate == 0.25 and total.on_time_rate == 0.75
    assert groups[1].replacement_rate is None
    assert d.total_counts([]).replacement_rate is None


def test_bar_chart_scales_to_the_largest_or_the_given_maximum() -> None:
    chart = d.bar_chart([("a", 2.0, "2"), ("b", 4.0, "4"), ("c", None, "―")], bar_area=200, row_height=20)
    assert [b.width for b in chart.bars] == [100.0, 200.0, 0.0]
    assert [b.y for b in chart.bars] == [0, 20, 40] and chart.height == 60
    rates = d.bar_chart([("a", 0.5, "50%"), ("b", 1.2, "120%")], max_value=1.0, bar_area=100)
    assert [b.width for b in rates.bars] == [50.0, 100.0]  # never beyond the area
    empty = d.bar_chart([])
    assert empty.bars == [] and empty.height > 0
    zeros = d.bar_chart([("a", 0.0, "0件")])
    assert zeros.bars[0].width == 0.0


def test_bar_chart_labels_and_figures_fit_their_columns() -> None:
    """Issue 16: dashboard labels were clipped at the chart's left edge (a fixed 130-unit column)."""
    steps = d.bar_chart([("依頼中（TFC受付待ち）", 1.0, "10日23時間"), ("TFC対応中", 2.0, "4分")])
    assert steps.bars[0].label == "依頼中（TFC受付待ち）"
    assert d.text_width("依頼中（TFC受付待ち）") <= steps.label_width - 8  # drawn right-aligned at -8
    assert d.text_width("10日23時間") * 1.1 <= steps.value_width - 6
    short = d.bar_chart([("品川店", 0.5, "50.0%")])
    assert short.label_width < steps.label_width and short.value_width == 70
    long = d.bar_chart([("東京ベイ江戸川臨海ショールーム本店" * 2, 0.5, "50.0%")])
    assert long.label_width == d.LABEL_WIDTH_MAX and long.bars[0].label.endswith("…")
    assert d.text_width(long.bars[0].label) <= long.label_width - 8


def test_the_charts_of_one_panel_share_their_columns() -> None:
    """代替率（店舗別） and 代替率（スタッフ別） are one panel: one label column, one figure column, one
    width, so their bars start at the same place and scale alike (their columns followed their own labels)."""
    stores = [("品川店", 0.4, "40.0%"), ("世田谷店", 0.571, "57.1%")]
    staff = [("010101", 1.0, "100.0%"), ("010102", 0.0, "0.0%")]
    alone = d.bar_chart(stores, max_value=1.0), d.bar_chart(staff, max_value=1.0)
    assert alone[0].label_width != alone[1].label_width  # what was misaligned
    together = [d.bar_chart(items, max_value=1.0, panel=stores + staff) for items in (stores, staff)]
    assert len({(c.label_width, c.value_width, c.total_width) for c in together}) == 1
    assert together[0].label_width == max(c.label_width for c in alone)
    assert [b.width for b in together[1].bars] == [b.width for b in alone[1].bars]  # the same scale
    assert [b.label for b in together[0].bars] == ["品川店", "世田谷店"]  # its own bars only


# saved searches -------------------------------------------------------------------------------


def test_saved_params_keep_only_the_modes_own_fields() -> None:
    raw = {
        "mode": "general",
        "model": " プリウス ",
        "contractor_name": "山田",  # of another mode: dropped
        "final_from": "",
        "sort": "staff_code",
        "evil": "x",
    }
    assert saved.normalise_params(raw) == {"mode": "general", "model": "プリウス", "sort": "staff_code"}
    assert saved.normalise_params({}) == {"mode": "general"}
    assert saved.normalise_params({"mode": "inspection", "inspection": "2", "months_to": "5"}) == {
        "mode": "inspection",
        "inspection": "2",
        "months_to": "5",
    }


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "saved_search_name_required"),
        ("   ", "saved_search_name_required"),
        ("あ" * 51, "saved_search_name_too_long"),
    ],
)
def test_saved_name_refusals(name: str, code: str) -> None:
    with pytest.raises(Refusal) as e:
        saved.validate(name, {"mode": "general"})
    assert e.value.code == code and e.value.field == "name" and e.value.message == saved.message_for(code)


def test_saved_name_is_trimmed_and_params_validated() -> None:
    assert saved.validate("  今月の  最終回 ", {"mode": "general"}) == ("今月の 最終回", {"mode": "general"})
    assert saved.validate("あ" * 50, {})[0] == "あ" * 50
    with pytest.raises(Refusal) as e:
        saved.validate(
            "範囲外", {"mode": "inspection", "inspection": "2", "months_from": "0", "months_to": "30"}
        )
    assert e.value.field == "params"


def test_saved_description_and_link() -> None:
    params = {"mode": "general", "model": "プリウス", "final_to": "2027-03", "handling_status": "selected"}
    text = saved.describe(params)
    assert text.startswith("【") is False and "汎用検索" in text
    assert "車種 プリウス" in text and "最終回期日 ～2027-03" in text and "対応状況 選択済" in text
    assert saved.list_href(params).startswith("/contracts?mode=general&final_to=2027-03&model=")
    assert "条件なし" in saved.describe({"mode": "general"})
    assert "２回目車検 0～5ヶ月前" in saved.describe(
        {"mode": "inspection", "inspection": "2", "months_from": "0", "months_to": "5"}
    )
    assert saved.message_for("") == "" and "保存できませんでした" in saved.message_for("unknown")
