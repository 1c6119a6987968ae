"""Pure rules of the customer list (no I/O): dates, colours, marks, statuses, inspections, matching.

Every function takes `today` (an Asia/Tokyo date) as an argument; the clock lives at the edges.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import jaconv

from shared import rules as shared_rules
from shared.events import OPEN_END_PROGRAMS, PROGRAM_LABELS
from shared.timefmt import jp_date

TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo_today(now: datetime | None = None) -> date:
    """Today's date in Japan."""
    return (now or datetime.now(TOKYO)).astimezone(TOKYO).date()


# --------------------------------------------------------------------------------------------
# Calendar arithmetic


add_months = shared_rules.add_months


def month_index(year: int, month: int) -> int:
    """Months since year 0: lets month ranges be compared as integers (also in SQL)."""
    return year * 12 + (month - 1)


def month_of_index(index: int) -> tuple[int, int]:
    year, month0 = divmod(index, 12)
    return year, month0 + 1


result_input_deadline = shared_rules.result_input_deadline
refinance_window = shared_rules.refinance_window
refinance_available = shared_rules.refinance_available


# --------------------------------------------------------------------------------------------
# Completion, handling status, colour, replacement mark

COMPLETED_CONTRACT_STATUSES = frozenset({"settled", "returned", "refinanced"})
REQUEST_CLOSED_STATUSES = shared_rules.CLOSED_REQUEST_STATUSES

HandlingStatus = Literal["unselected", "selected", "in_progress", "completed"]
HANDLING_STATUS_LABELS: dict[str, str] = {
    "unselected": "未選択",
    "selected": "選択済",
    "in_progress": "手続中",
    "completed": "完了",
}
# What a search may give for a status: its code or its label.
_HANDLING_STATUSES: tuple[HandlingStatus, ...] = ("unselected", "selected", "in_progress", "completed")
_HANDLING_STATUS_INPUTS: dict[str, HandlingStatus] = {
    **{code: code for code in _HANDLING_STATUSES},
    **{HANDLING_STATUS_LABELS[code]: code for code in _HANDLING_STATUSES},
}
Sort = Literal["final_date", "staff_code"]
SORTS: dict[str, Sort] = {"final_date": "final_date", "staff_code": "staff_code"}

SELECTION_LABELS: dict[str, str] = shared_rules.CATEGORY_LABELS

# Why TFC handles a contract itself (the feed's `tfc_handling`); an unknown code is shown as it is.
TFC_HANDLING_LABELS: dict[str, str] = {"total_loss": "車両全損"}


def tfc_handling_label(code: str | None) -> str | None:
    return TFC_HANDLING_LABELS.get(code, code) if code else None


def is_completed(contract_status: str, request_status: str | None, request_result: str | None = None) -> bool:
    """完了: TFC closed the contract (settled / returned / refinanced) or the request completed — every
    type but a declined 再分割審査申込, after which the final payment is still to be handled (SPEC §9.2)."""
    final = request_status is not None and shared_rules.request_is_final(
        shared_rules.RequestFact("", "", request_status, request_result)
    )
    return contract_status in COMPLETED_CONTRACT_STATUSES or final


def handling_status(
    contract_status: str,
    request_status: str | None,
    selection_category: str | None,
    request_result: str | None = None,
) -> HandlingStatus:
    """債権のステータス（対応状況）: 完了 > 手続中 (an open request) > 選択済 > 未選択."""
    if is_completed(contract_status, request_status, request_result):
        return "completed"
    if request_status is not None and request_status not in REQUEST_CLOSED_STATUSES:
        return "in_progress"
    if selection_category:
        return "selected"
    return "unselected"


Colour = Literal["gray", "green", "blue", "red", "yellow", "white"]
COLOUR_LEGEND: tuple[tuple[str, str, str], ...] = (
    ("gray", "グレー", "最終回期日経過"),
    ("green", "グリーン", "他店舗から異動してきた顧客"),
    ("blue", "ブルー", "TFCにて対応する顧客(車両全損等)"),
    ("red", "レッド", "最終回まで２ヶ月未満、かつ最終回対応未完了"),
    ("yellow", "イエロー", "最終回まで４ヶ月未満２ヶ月超、かつ最終回対応未完了"),
    ("white", "ホワイト", "最終回まで４ヶ月超もしくは最終回対応完了"),
)


def row_colour(
    final_payment_date: date,
    today: date,
    *,
    transferred_in: bool,
    tfc_handling: str | None,
    completed: bool,
) -> Colour:
    """The manual's colours; the first rule that applies wins."""
    if today > final_payment_date:
        return "gray"
    if transferred_in:
        return "green"
    if tfc_handling:
        return "blue"
    if completed:
        return "white"
    if today >= add_months(final_payment_date, -2):
        return "red"
    if today >= add_months(final_payment_date, -4):
        return "yellow"
    return "white"


def replacement_required(final_payment_date: date, today: date, has_selection: bool) -> bool:
    """代替 must be entered once a selection exists or the final date is within 4 months."""
    return has_selection or today >= shared_rules.replacement_required_from(final_payment_date)


def replacement_mark(
    replacement: str | None,
    final_payment_date: date,
    today: date,
    has_selection: bool,
    completed: bool = False,
) -> str:
    """○ yes, ー no, 未 required but missing, blank when not required (and not entered). A contract past
    its final date or complete needs no input any more (manual: ブランク 入力不要)."""
    if replacement == "yes":
        return "○"
    if replacement == "no":
        return "ー"
    if completed or today > final_payment_date:
        return ""
    return "未" if replacement_required(final_payment_date, today, has_selection) else ""


REPLACEMENT_MARK_LEGEND: tuple[tuple[str, str], ...] = (
    ("○", "自社代替有"),
    ("ー", "自社代替無"),
    ("未", "入力要だが未入力"),
    ("（空欄）", "入力不要"),
)


def final_date_label(contract_kind: str) -> str:
    return "リース満了年月日" if contract_kind == "lease" else "最終回年月日"


# --------------------------------------------------------------------------------------------
# Predicted inspection month (車検年月)

INSPECTION_CAVEAT = "※商用車と月初1日登録車については実際の車検月と異なる可能性があります"
INSPECTION_OFFSETS: dict[int, int] = {1: 36, 2: 60, 3: 84}
INSPECTION_LABELS: dict[int, str] = {1: "初回車検", 2: "２回目車検", 3: "３回目車検"}
INSPECTION_MAX_MONTHS: dict[int, int] = {1: 35, 2: 23, 3: 23}
_FIRST_REG = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def first_registration_month_index(first_registration_date: str) -> int | None:
    """Month index of 初度登録 (`YYYY-MM` or `YYYY-MM-DD`); None when unreadable."""
    m = _FIRST_REG.match(first_registration_date or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        return None
    return month_index(int(m.group(1)), int(m.group(2)))


def inspection_offset(ordinal: int) -> int:
    """+36 months for the 1st inspection, then every 24 months (private passenger-car cycle)."""
    return 36 + 24 * (ordinal - 1)


def next_inspection(first_registration_date: str, today: date) -> tuple[int, int, int] | None:
    """The next upcoming predicted inspection (this month counts): (year, month, ordinal)."""
    first = first_registration_month_index(first_registration_date)
    if first is None:
        return None
    this_month = month_index(today.year, today.month)
    ordinal = 1
    while first + inspection_offset(ordinal) < this_month:
        ordinal += 1
    return (*month_of_index(first + inspection_offset(ordinal)), ordinal)


def prediction_may_differ(vehicle_use: str, first_registration_date: str) -> bool:
    """The caveat applies: a commercial vehicle, or registered on the 1st of a month."""
    return vehicle_use == "commercial" or (first_registration_date or "").endswith("-01")


def first_registration_range_for_inspection(
    ordinal: int, months_from: int, months_to: int, today: date
) -> tuple[int, int]:
    """First-registration month indexes whose `ordinal` inspection is in [this month + from, + to]."""
    this_month = month_index(today.year, today.month)
    offset = inspection_offset(ordinal)
    return this_month + months_from - offset, this_month + months_to - offset


# --------------------------------------------------------------------------------------------
# Forgiving matching

_IGNORED = re.compile(r"[\s\-‐‑‒–—―−－・･|]+")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    text = jaconv.hira2kata(text)
    return text.casefold()


def normalise_name(text: str) -> str:
    """Forgiving form of a name: NFKC (width), hiragana → katakana, case, spaces/hyphens/・ removed."""
    return _IGNORED.sub("", _fold(text))


def normalise_plate(text: str) -> str:
    """Forgiving form of a registration number (登録番号): the same folding as names."""
    return _IGNORED.sub("", _fold(text))


def search_name(contractor_name: str, contractor_name_kana: str) -> str:
    """What a name query is matched against: the kanji and the kana reading, kept apart by `|`."""
    return normalise_name(contractor_name) + "|" + normalise_name(contractor_name_kana)


def bigrams(text: str) -> list[str]:
    """Every 2-character piece of `text`, each once, sorted (the SQL function `jpass_bigrams` in
    services/search/db.py yields the same set, prefixed once with the dealer and once with the
    store). A text contains a
    needle only if it holds every bigram of the needle, so the bigram index can narrow a partial
    search to a dealer's candidates; a 1-character needle has none and narrows nothing."""
    return sorted({text[i : i + 2] for i in range(len(text) - 1)})


# --------------------------------------------------------------------------------------------
# Search criteria and their validation

Mode = Literal["individual", "general", "inspection"]
MODE_LABELS: dict[str, str] = {
    "individual": "個別契約検索",
    "general": "汎用検索",
    "inspection": "車検軸検索",
}
_MONTH = re.compile(r"^(\d{4})\s*[-/年.]\s*(\d{1,2})\s*月?$")


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str


@dataclass(frozen=True)
class Criteria:
    """A validated search. Month bounds are inclusive dates; name/plate are normalised."""

    mode: Mode = "general"
    registration_no: str = ""
    contractor_name: str = ""
    contract_no: str = ""
    final_from: date | None = None
    final_to: date | None = None
    model: str = ""
    handling_status: HandlingStatus | None = None
    program: str | None = None
    inspection: int | None = None
    months_from: int = 0
    months_to: int = 0
    sort: Sort = "final_date"
    # Leave out contracts past their final date or complete (no input needed): the list then starts with
    # what is due (manual: 最終回年月日が近い順). Never for an individual search or an explicit date/status.
    hide_done: bool = False


DONE_CHOICES = ("show", "hide")


@dataclass
class Validation:
    criteria: Criteria | None = None
    errors: list[FieldError] = field(default_factory=list)

    def by_field(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for e in self.errors:
            out.setdefault(e.field, e.message)
        return out


def parse_month(text: str) -> tuple[int, int] | None:
    """`2022-03`, `2022/3`, `2022年3月`, full-width digits too; None when malformed."""
    m = _MONTH.match(unicodedata.normalize("NFKC", text).strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        return None
    return int(m.group(1)), int(m.group(2))


def _int(text: str) -> int | None:
    text = unicodedata.normalize("NFKC", text).strip()
    return int(text) if re.fullmatch(r"\d{1,3}", text) else None


def validate_search(params: Mapping[str, str], *, hide_done_by_default: bool = False) -> Validation:
    """Turn raw query parameters into `Criteria`, or field errors with Japanese messages.

    `done=hide|show` leaves out (or keeps) contracts past their final date or complete; without it the
    page hides them (`hide_done_by_default`) and the API keeps them (SPEC §2.1: everything in scope)."""
    errors: list[FieldError] = []
    raw = {k: (v or "").strip() for k, v in params.items()}
    mode = raw.get("mode") or "general"
    sort = SORTS.get(raw.get("sort") or "final_date")
    if sort is None:
        errors.append(FieldError("sort", "invalid_sort", "並び順の指定が正しくありません。"))
        sort = "final_date"
    done = raw.get("done") or ("hide" if hide_done_by_default else "show")
    if done not in DONE_CHOICES:
        errors.append(FieldError("done", "invalid_done", "期日経過・完了の表示の指定が正しくありません。"))
        done = "show"
    if mode == "individual":
        return _validate_individual(raw, sort, errors)
    if mode == "general":
        result = _validate_general(raw, sort, errors)
        c = result.criteria
        explicit = c is not None and (c.final_from or c.final_to or c.handling_status)
        return _hiding(result, done == "hide" and not explicit)
    if mode == "inspection":
        return _hiding(_validate_inspection(raw, sort, errors), done == "hide")
    errors.append(FieldError("mode", "invalid_mode", "検索の種類が正しくありません。"))
    return Validation(None, errors)


def _hiding(result: Validation, hide: bool) -> Validation:
    if result.criteria is not None and hide:
        result.criteria = replace(result.criteria, hide_done=True)
    return result


def _done(criteria: Criteria, errors: list[FieldError]) -> Validation:
    return Validation(None if errors else criteria, errors)


INDIVIDUAL_MAX_CHARS = 100


def _validate_individual(raw: Mapping[str, str], sort: Sort, errors: list[FieldError]) -> Validation:
    too_long = [k for k in ("registration_no", "contractor_name", "contract_no") if len(raw.get(k, "")) > 100]
    if too_long:
        errors.append(
            FieldError(
                "individual",
                "criteria_too_long",
                f"検索条件は{INDIVIDUAL_MAX_CHARS}文字以内で入力してください。",
            )
        )
        return Validation(None, errors)
    plate = normalise_plate(raw.get("registration_no", ""))
    name = normalise_name(raw.get("contractor_name", ""))
    contract_no = unicodedata.normalize("NFKC", raw.get("contract_no", "")).strip().upper()
    if not (plate or name or contract_no):
        errors.append(
            FieldError(
                "individual",
                "individual_criteria_required",
                "登録番号・契約者名・契約番号のいずれかを入力してください。",
            )
        )
    criteria = Criteria(
        mode="individual",
        registration_no=plate,
        contractor_name=name,
        contract_no=contract_no,
        sort=sort,
    )
    return _done(criteria, errors)


def _month_bound(
    raw: Mapping[str, str], name: str, label: str, errors: list[FieldError]
) -> tuple[int, int] | None:
    text = raw.get(name, "")
    if not text:
        return None
    ym = parse_month(text)
    if ym is None:
        errors.append(
            FieldError(name, "invalid_month", f"{label}は「2022-03」のように年と月で入力してください。")
        )
    return ym


def _validate_general(raw: Mapping[str, str], sort: Sort, errors: list[FieldError]) -> Validation:
    start = _month_bound(raw, "final_from", "最終回期日（から）", errors)
    end = _month_bound(raw, "final_to", "最終回期日（まで）", errors)
    if start and end and start > end:
        errors.append(
            FieldError(
                "final_to",
                "final_range_reversed",
                "最終回期日の「から」が「まで」より後になっています。",
            )
        )
    given = raw.get("handling_status") or None
    status = _HANDLING_STATUS_INPUTS.get(given) if given is not None else None
    if given is not None and status is None:
        errors.append(
            FieldError(
                "handling_status",
                "invalid_handling_status",
                "債権のステータス（対応状況）が正しくありません。",
            )
        )
    program = raw.get("program") or None
    if program is not None and program not in PROGRAM_LABELS:
        errors.append(FieldError("program", "invalid_program", "制度の指定が正しくありません。"))
        program = None
    criteria = Criteria(
        mode="general",
        final_from=date(start[0], start[1], 1) if start else None,
        final_to=date(end[0], end[1], calendar.monthrange(*end)[1]) if end else None,
        model=normalise_name(raw.get("model", "")),
        handling_status=status,
        program=program,
        sort=sort,
    )
    return _done(criteria, errors)


def _validate_inspection(raw: Mapping[str, str], sort: Sort, errors: list[FieldError]) -> Validation:
    kind = _int(raw.get("inspection", ""))
    if kind not in INSPECTION_OFFSETS:
        errors.append(
            FieldError(
                "inspection",
                "inspection_kind_required",
                "車検の種類（初回・２回目・３回目）を選択してください。",
            )
        )
        return Validation(None, errors)
    limit = INSPECTION_MAX_MONTHS[kind]
    bounds: dict[str, int] = {}
    for name, default in (("months_from", 0), ("months_to", limit)):
        text = raw.get(name, "")
        value = default if text == "" else _int(text)
        if value is None:
            errors.append(FieldError(name, "invalid_months", "車検前の月数は数字で入力してください。"))
            continue
        if not 0 <= value <= limit:
            which = "初回車検" if kind == 1 else "２回目・３回目車検"
            errors.append(
                FieldError(
                    name,
                    "inspection_range_out_of_bounds",
                    f"{which}のときの車検前の月数は0～{limit}ヶ月の範囲で入力してください。",
                )
            )
            continue
        bounds[name] = value
    if len(bounds) == 2 and bounds["months_from"] > bounds["months_to"]:
        errors.append(
            FieldError(
                "months_to",
                "inspection_range_reversed",
                "車検前の月数の「から」が「まで」より大きくなっています。",
            )
        )
    criteria = Criteria(
        mode="inspection",
        inspection=kind,
        months_from=bounds.get("months_from", 0),
        months_to=bounds.get("months_to", limit),
        sort=sort,
    )
    return _done(criteria, errors)


# --------------------------------------------------------------------------------------------
# Transfers (green) and the current request (ownership itself: shared.rules)


def transferred_in(
    transfer_seq: int | None, selection_seq: int | None, selection_store_code: str | None, store_code: str
) -> bool:
    """Green: moved in, until the new store records a selection after the move."""
    if transfer_seq is None:
        return False
    cleared = (
        selection_seq is not None and selection_seq > transfer_seq and selection_store_code == store_code
    )
    return not cleared


@dataclass(frozen=True)
class RequestView:
    request_id: str
    status: str
    at: datetime


def current_request(requests: Iterable[RequestView]) -> RequestView | None:
    """The request the list shows: the latest open or completed one; a withdrawn one only if nothing else."""
    items = sorted(requests, key=lambda r: (r.at, r.request_id))
    live = [r for r in items if r.status != "withdrawn"]
    if live:
        return live[-1]
    return items[-1] if items else None


# --------------------------------------------------------------------------------------------
# Customer detail actions


@dataclass(frozen=True)
class Action:
    key: str
    label: str
    href: str
    enabled: bool
    reason: str = ""
    method: str = "get"


def detail_actions(
    *,
    contract_no: str,
    role: str,
    final_payment_date: date,
    today: date,
    selection_category: str | None,
    return_request_id: str | None,
    program: str,
    requests: Iterable[shared_rules.RequestFact] = (),
) -> list[Action]:
    """The buttons of 顧客詳細 and whether each is enabled for this user today. `return_request_id`: the
    contract's 車両返却 request, if any (a 再分割審査申込 or 早期完済受付 does not open the returns menu).
    With 早期完済 recorded, 早期完済受付 follows 進捗・結果入力: the manual's 「後日」 starts it from here."""
    start, _ = refinance_window(final_payment_date)
    refinance_ok = refinance_available(final_payment_date, today)
    if program in OPEN_END_PROGRAMS:
        returns_ok, returns_reason = (
            False,
            "本契約は車両返却機能の対象外です。弊社へ必要書類の送付をお願いいたします。",
        )
    else:
        returns_ok = selection_category == "vehicle_return" or return_request_id is not None
        returns_reason = "" if returns_ok else "最終回選択が「車両返却」の場合に利用できます。"
    manager = role in ("hq", "store_manager")
    early_payoff = []
    if selection_category == "early_payoff":
        refused = shared_rules.may_accept_early_payoff(final_payment_date, today, requests)
        early_payoff.append(
            Action(
                "early-payoff",
                "早期完済受付",
                f"/selection/contracts/{contract_no}/early-payoff/acceptance",
                refused is None,
                refused.message if refused else "",
            )
        )
    return [
        Action("selection", "進捗・結果入力", f"/selection/contracts/{contract_no}/input", True),
        *early_payoff,
        Action(
            "returns",
            "車両返却 結果入力・進捗確認",
            f"/returns/contracts/{contract_no}",
            returns_ok,
            returns_reason,
        ),
        Action(
            "refinance",
            "再分割シミュレーション",
            f"/selection/contracts/{contract_no}/refinance",
            refinance_ok,
            ""
            if refinance_ok
            else f"最終回期日－９ヶ月以降（{jp_date(start)}～{jp_date(final_payment_date)}）に実施可能です。",
        ),
        Action(
            "confirmation",
            "お支払方法確認書印刷",
            f"/api/v1/contracts/{contract_no}/confirmation.pdf",
            True,
        ),
        Action(
            "assignment",
            "店舗・スタッフ変更",
            f"/selection/contracts/{contract_no}/assignment",
            manager,
            "" if manager else "本部または店長のみ変更できます。",
        ),
    ]
