"""The dashboard's figures as pure functions (no I/O): rates, medians, time per approval step, the
months where the final payment meets the predicted inspection, and the bars of the inline SVG charts."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise

from services.search.rules import add_months, inspection_offset, month_index

# The steps whose time the dashboard measures (a request's time in each status), in flow order.
MEASURED_STEPS = {
    "store_pending": "店舗承認者手続中",
    "hq_pending": "本部承認者手続中",
    "requested": "依頼中（TFC受付待ち）",
    "tfc_processing": "TFC対応中",
}
INSPECTIONS_CHECKED = 6  # 1st to 6th inspection (+36 … +156 months)
HIGHLIGHT_MONTHS_AHEAD = 12  # final payments from this month to 11 months ahead
HIGHLIGHT_LIMIT = 100


def rate(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to divide (shown as 「―」, never as 0%)."""
    if whole < 0 or part < 0 or part > whole:
        raise ValueError(f"invalid rate {part}/{whole}")
    return None if whole == 0 else part / whole


def percent_label(value: float | None) -> str:
    return "―" if value is None else f"{value * 100:.1f}%"


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def duration_label(seconds: float | None) -> str:
    """A readable span: 「3日4時間」, 「2時間5分」, 「4分」, 「12秒」."""
    if seconds is None:
        return "―"
    s = round(seconds)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}日{hours}時間" if hours else f"{days}日"
    if hours:
        return f"{hours}時間{minutes}分" if minutes else f"{hours}時間"
    if minutes:
        return f"{minutes}分"
    return f"{secs}秒"


@dataclass(frozen=True)
class StatusChange:
    request_id: str
    version: int
    new_status: str
    at: datetime


def step_durations(changes: Iterable[StatusChange]) -> dict[str, list[float]]:
    """Seconds each request spent in each measured status: from entering it (version v) to the next
    change (version v+1). A status the request is still in, or a gap in the versions (an event not
    received yet), gives no figure."""
    by_request: dict[str, list[StatusChange]] = defaultdict(list)
    for change in changes:
        by_request[change.request_id].append(change)
    durations: dict[str, list[float]] = {step: [] for step in MEASURED_STEPS}
    for history in by_request.values():
        history.sort(key=lambda c: c.version)
        for entered, left in pairwise(history):
            if entered.new_status in MEASURED_STEPS and left.version == entered.version + 1:
                durations[entered.new_status].append(max((left.at - entered.at).total_seconds(), 0.0))
    return durations


@dataclass(frozen=True)
class StepFigure:
    status: str
    label: str
    count: int
    median_seconds: float | None

    @property
    def median_label(self) -> str:
        return duration_label(self.median_seconds)


def step_figures(changes: Iterable[StatusChange]) -> list[StepFigure]:
    durations = step_durations(changes)
    return [
        StepFigure(step, label, len(durations[step]), median(durations[step]))
        for step, label in MEASURED_STEPS.items()
    ]


# --------------------------------------------------------------------------------------------
# Final payment in the predicted inspection month (the strongest replacement prospects)


def final_meets_inspection(final_payment_date: date, first_registration_month: int | None) -> bool:
    """True when the final-payment month is one of the predicted inspection months (+36, +60, … months
    after first registration: the private passenger-car cycle)."""
    if first_registration_month is None:
        return False
    final_month = month_index(final_payment_date.year, final_payment_date.month)
    return any(
        final_month - first_registration_month == inspection_offset(n)
        for n in range(1, INSPECTIONS_CHECKED + 1)
    )


@dataclass(frozen=True)
class MonthWindow:
    """Final payments in [first_day, next_month_first_day) whose first registration month index is one
    of `first_registration_months` (the query's condition for final_meets_inspection)."""

    first_day: date
    next_month_first_day: date
    first_registration_months: tuple[int, ...]


def highlight_windows(today: date, months_ahead: int = HIGHLIGHT_MONTHS_AHEAD) -> list[MonthWindow]:
    """One window per month from this month on: portable SQL (no date arithmetic in the database)."""
    start = today.replace(day=1)
    windows = []
    for k in range(months_ahead):
        first = add_months(start, k)
        final_month = month_index(first.year, first.month)
        windows.append(
            MonthWindow(
                first,
                add_months(start, k + 1),
                tuple(final_month - inspection_offset(n) for n in range(1, INSPECTIONS_CHECKED + 1)),
            )
        )
    return windows


# --------------------------------------------------------------------------------------------
# Grouped selection figures


@dataclass(frozen=True)
class SelectionCounts:
    """Selections of one group (a store, a staff code, or everything in scope)."""

    key: str
    label: str
    selections: int
    replacement_yes: int
    on_time: int

    @property
    def replacement_rate(self) -> float | None:
        return rate(self.replacement_yes, self.selections)

    @property
    def on_time_rate(self) -> float | None:
        return rate(self.on_time, self.selections)


def total_counts(groups: Iterable[SelectionCounts], label: str = "合計") -> SelectionCounts:
    groups = list(groups)
    return SelectionCounts(
        "",
        label,
        sum(g.selections for g in groups),
        sum(g.replacement_yes for g in groups),
        sum(g.on_time for g in groups),
    )


# --------------------------------------------------------------------------------------------
# Inline SVG bar charts (server-rendered, no JavaScript)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: no data (no bar, 「―」)
    value_label: str
    y: int
    width: float  # of the bar area, in SVG units


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    height: int
    label_width: int
    bar_area: int
    row_height: int
    value_width: int = 70  # room right of the bars for the figures (「10日23時間」 needs more than 「45.5%」)

    @property
    def total_width(self) -> int:
        return self.label_width + self.bar_area + self.value_width


LABEL_FONT_PX = 13  # the charts' label size (templates/_bars.html)
LABEL_WIDTH_MIN, LABEL_WIDTH_MAX = 60, 220


def text_width(text: str, font_px: float = LABEL_FONT_PX) -> float:
    """About how wide `text` is drawn: a full-width character is one font size, others about 0.6."""
    return sum(font_px if unicodedata.east_asian_width(ch) in "WF" else font_px * 0.6 for ch in text)


def fit_label(text: str, width: float) -> str:
    """`text`, or as much of it as fits `width` and 「…」 (never drawn beyond the chart's left edge)."""
    if text_width(text) <= width:
        return text
    while text and text_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def bar_chart(
    items: Sequence[tuple[str, float | None, str]],
    *,
    max_value: float | None = None,
    bar_area: int = 240,
    row_height: int = 26,
    panel: Sequence[tuple[str, float | None, str]] | None = None,
) -> BarChart:
    """Horizontal bars for (label, value, value_label); the longest bar is `max_value` (default the
    largest value; 1.0 for rates). The label column is as wide as the widest label (within 60–220 units),
    so no label is clipped; a longer one is shortened with 「…」. `panel`: the items of every chart shown
    with this one (one panel): they share the label and figure columns, so their bars start at the same
    place and the charts scale alike (代替率 店舗別 above スタッフ別)."""
    values = [v for _, v, _ in items if v is not None]
    top = max_value if max_value is not None else max(values, default=0.0)
    columns = items if panel is None else panel
    widest = max((text_width(label) for label, _, _ in columns), default=0.0)
    label_width = round(min(max(widest + 12, LABEL_WIDTH_MIN), LABEL_WIDTH_MAX))
    bars = [
        Bar(
            fit_label(label, label_width - 8),
            value,
            value_label,
            i * row_height,
            0.0 if value is None or top <= 0 else round(bar_area * min(value / top, 1.0), 1),
        )
        for i, (label, value, value_label) in enumerate(items)
    ]
    figures = max((text_width(value_label) for _, _, value_label in columns), default=0.0)
    value_width = round(max(figures * 1.1 + 10, 70))  # the figures are bold
    return BarChart(bars, max(len(bars), 1) * row_height, label_width, bar_area, row_height, value_width)
