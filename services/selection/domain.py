"""Rules of the final-payment selection (manual ご留意事項), pure: no framework, no I/O, no clock.

`today` is always passed in (an Asia/Tokyo date), so every rule can be tested at its boundaries.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Literal

from services.selection import labels
from shared import rules
from shared.refusal import Refusal
from shared.timefmt import jp_date

Category = rules.Category
CATEGORIES: tuple[Category, ...] = rules.CATEGORIES
Replacement = Literal["yes", "no"]
REPLACEMENTS: tuple[Replacement, ...] = ("yes", "no")

REPLACEMENT_MODEL_MAX = 100
MEMO_MAX_CHARS = 2000
# お支払方法確認書 is received in the months before the final payment: a date older than a year is a typo
# (year 1 was accepted and stored).
CONFIRMATION_MAX_AGE = timedelta(days=366)
REFINANCE_MONTHS_MIN = 12
REFINANCE_MONTHS_MAX = 84
REFINANCE_RATE_MAX = Decimal("0.3")
RATE_STEP = Decimal("0.000001")
INSTALMENT_UNIT = 100  # yen: instalments are rounded down to 100 yen


# ---------------------------------------------------------------------------------------------
# Calendar


def months_before(day: date, months: int) -> date:
    """Calendar months before `day`, clamped to the month end (2026-04-30 − 2 months = 2026-02-28)."""
    return rules.add_months(day, -months)


result_input_deadline = rules.result_input_deadline
category_change_deadline = rules.category_change_deadline
refinance_available = rules.refinance_available


def refinance_opens_on(final_payment_date: date) -> date:
    return rules.refinance_window(final_payment_date)[0]


def is_late(final_payment_date: date, today: date) -> bool:
    return today > result_input_deadline(final_payment_date)


def can_change_category(final_payment_date: date, today: date) -> bool:
    return today <= category_change_deadline(final_payment_date)


# ---------------------------------------------------------------------------------------------
# Selection (進捗・結果入力)


@dataclass(frozen=True)
class SelectionInput:
    category: str | None
    replacement: str | None
    replacement_model: str | None
    confirmation_received_on: date | None


@dataclass(frozen=True)
class Selection:
    category: Category
    replacement: Replacement
    replacement_model: str | None
    confirmation_received_on: date
    late: bool

    def same_values(self, other: Selection) -> bool:
        return (
            self.category == other.category
            and self.replacement == other.replacement
            and self.replacement_model == other.replacement_model
            and self.confirmation_received_on == other.confirmation_received_on
        )


@dataclass(frozen=True)
class SelectionDecision:
    selection: Selection
    changed: bool  # False: the same values were submitted again: nothing is stored, nothing published


def validate_selection(entry: SelectionInput, today: date) -> tuple[Category, Replacement, str | None, date]:
    """Shape rules of one entry, each with the message shown next to its field."""
    category = next((c for c in CATEGORIES if c == entry.category), None)
    if category is None:
        raise Refusal("invalid", "category_required", labels.MSG_CATEGORY_REQUIRED, field="category")
    replacement = next((r for r in REPLACEMENTS if r == entry.replacement), None)
    if replacement is None:
        raise Refusal("invalid", "replacement_required", labels.MSG_REPLACEMENT_REQUIRED, field="replacement")
    model = (entry.replacement_model or "").strip() or None
    if entry.replacement == "yes":
        if model is None:
            raise Refusal(
                "invalid",
                "replacement_model_required",
                labels.MSG_REPLACEMENT_MODEL_REQUIRED,
                field="replacement_model",
            )
        if len(model) > REPLACEMENT_MODEL_MAX:
            raise Refusal(
                "invalid",
                "replacement_model_too_long",
                labels.MSG_REPLACEMENT_MODEL_TOO_LONG.format(max=REPLACEMENT_MODEL_MAX),
                field="replacement_model",
            )
    elif model is not None:
        raise Refusal(
            "invalid",
            "replacement_model_not_allowed",
            labels.MSG_REPLACEMENT_MODEL_NOT_ALLOWED,
            field="replacement_model",
        )
    received = entry.confirmation_received_on
    if received is None:
        raise Refusal(
            "invalid",
            "confirmation_required",
            labels.MSG_CONFIRMATION_REQUIRED,
            field="confirmation_received_on",
        )
    if received > today:
        raise Refusal(
            "invalid",
            "confirmation_in_future",
            labels.MSG_CONFIRMATION_IN_FUTURE,
            field="confirmation_received_on",
        )
    if received < today - CONFIRMATION_MAX_AGE:
        raise Refusal(
            "invalid",
            "confirmation_too_old",
            labels.MSG_CONFIRMATION_TOO_OLD.format(since=jp_date(today - CONFIRMATION_MAX_AGE)),
            field="confirmation_received_on",
        )
    return category, replacement, model, received


def decide_selection(
    current: Selection | None,
    entry: SelectionInput,
    final_payment_date: date,
    today: date,
    requests: Iterable[rules.RequestFact] = (),
) -> SelectionDecision:
    """Record a selection, or refuse it. The category may change only until final − 1 month; an entry
    after final − 2 months is accepted but late. `late` belongs to the category: a new or changed
    category entered after the deadline is late; changing only the replacement keeps the flag.
    Under an open request of the current category the category cannot leave it (取下げ first); after
    such a request completed nothing changes any more (SPEC §9.1, shared.rules). After TFC declined the
    再分割審査申込 the category 再分割 may change even inside the last month (SPEC §9.2)."""
    requests = list(requests)
    category, replacement, model, received = validate_selection(entry, today)
    category_changes = current is None or current.category != category
    late = (
        current.late if current is not None and not category_changes else is_late(final_payment_date, today)
    )
    proposed = Selection(category, replacement, model, received, late)
    if current is not None and current.same_values(proposed):
        return SelectionDecision(current, changed=False)
    refusal = rules.may_change_category(requests, current.category if current else None, category)
    if refusal is not None:
        raise Refusal("conflict", refusal.code, refusal.message, field="category")
    if (
        current is not None
        and category_changes
        and not can_change_category(final_payment_date, today)
        and not rules.declined_frees_category(requests, current.category)
    ):
        raise Refusal(
            "conflict", "category_change_locked", labels.MSG_CATEGORY_CHANGE_LOCKED, field="category"
        )
    return SelectionDecision(proposed, changed=True)


# ---------------------------------------------------------------------------------------------
# Memo (自由記入欄)


def validate_memo(text: str) -> str:
    """The memo as stored: line breaks normalised, trailing blanks removed; at most MEMO_MAX_CHARS."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").rstrip()
    if len(normalised) > MEMO_MAX_CHARS:
        raise Refusal(
            "invalid",
            "memo_too_long",
            labels.MSG_MEMO_TOO_LONG.format(max=MEMO_MAX_CHARS, n=len(normalised)),
            field="text",
        )
    return normalised


# ---------------------------------------------------------------------------------------------
# Store / staff change (店舗・スタッフ変更)


@dataclass(frozen=True)
class StaffMember:
    """Someone a contract can be handed to (SPEC §9.1 staff directory): a user of the identity provider
    (with a name), or a staff code TFC's feed carries for the store (named if the directory knows it)."""

    dealer_code: str
    store_code: str
    staff_code: str
    name: str = ""

    @property
    def label(self) -> str:
        return f"{self.staff_code} {self.name}" if self.name else self.staff_code


def store_staff(
    dealer_code: str, directory: Iterable[StaffMember], feed: Iterable[tuple[str, str]]
) -> dict[str, list[StaffMember]]:
    """The dealer's staff per store, by staff code: the directory's people of the dealer, and every
    (store_code, staff_code) TFC's feed carries. A staff code names one person of a dealer, so a code
    from the feed takes its name from the directory even if the directory files them under another store."""
    mine = [m for m in directory if m.dealer_code == dealer_code]
    names = {m.staff_code: m.name for m in mine}
    staff: dict[str, dict[str, StaffMember]] = {}
    for m in mine:
        staff.setdefault(m.store_code, {})[m.staff_code] = m
    for store_code, staff_code in feed:
        staff.setdefault(store_code, {}).setdefault(
            staff_code, StaffMember(dealer_code, store_code, staff_code, names.get(staff_code, ""))
        )
    return {store: [people[c] for c in sorted(people)] for store, people in sorted(staff.items())}


def validate_assignment(
    role: str,
    user_store_code: str | None,
    contract_store_code: str,
    new_store_code: str,
    new_staff_code: str,
    dealer_store_codes: frozenset[str] | set[str],
    *,
    store_staff_codes: Mapping[str, Collection[str]],
) -> tuple[str, str]:
    """hq reassigns within its dealer; a store manager moves contracts of its own store (to any store
    of the dealer). Staff may not. The staff code must be one of the target store's staff (the staff
    directory: `store_staff`). Returns the cleaned (store_code, staff_code)."""
    if role not in ("hq", "store_manager"):
        raise Refusal("forbidden", "forbidden", labels.MSG_ASSIGNMENT_FORBIDDEN)
    if role == "store_manager" and contract_store_code != user_store_code:
        raise Refusal("forbidden", "forbidden", labels.MSG_ASSIGNMENT_FORBIDDEN)
    store = (new_store_code or "").strip()
    staff = (new_staff_code or "").strip()
    if store not in dealer_store_codes:
        raise Refusal("invalid", "unknown_store", labels.MSG_UNKNOWN_STORE, field="store_code")
    if not staff:
        raise Refusal("invalid", "staff_code_required", labels.MSG_STAFF_CODE_REQUIRED, field="staff_code")
    if len(staff) > 32 or not staff.isascii() or not staff.isalnum():
        raise Refusal("invalid", "staff_code_invalid", labels.MSG_STAFF_CODE_INVALID, field="staff_code")
    if staff not in store_staff_codes.get(store, ()):
        raise Refusal(
            "invalid",
            "unknown_staff_code",
            labels.MSG_UNKNOWN_STAFF.format(staff_code=staff),
            field="staff_code",
        )
    return store, staff


# ---------------------------------------------------------------------------------------------
# Refinance simulation (再分割シミュレーション): level payments (元利均等), exact yen arithmetic


@dataclass(frozen=True)
class Instalment:
    no: int
    payment: int
    principal: int
    interest: int
    balance: int


@dataclass(frozen=True)
class RefinancePlan:
    principal: int
    months: int
    annual_rate: Decimal
    first_payment: int  # absorbs the difference
    monthly_payment: int  # 2nd instalment onwards, a multiple of 100 yen
    total_payment: int
    total_interest: int
    schedule: tuple[Instalment, ...]


def validate_refinance(
    months: int | None, annual_rate: Decimal | None, contract_rate: Decimal
) -> tuple[int, Decimal]:
    if months is None or not (REFINANCE_MONTHS_MIN <= months <= REFINANCE_MONTHS_MAX):
        raise Refusal(
            "invalid",
            "months_out_of_range",
            labels.MSG_MONTHS_OUT_OF_RANGE.format(min=REFINANCE_MONTHS_MIN, max=REFINANCE_MONTHS_MAX),
            field="months",
        )
    rate = contract_rate if annual_rate is None else annual_rate
    if not rate.is_finite() or not (Decimal(0) <= rate <= REFINANCE_RATE_MAX):
        raise Refusal(
            "invalid",
            "rate_out_of_range",
            labels.MSG_RATE_OUT_OF_RANGE.format(max=REFINANCE_RATE_MAX * 100),
            field="annual_rate",
        )
    # The precision rates are kept in (6 places, 0.0001 %): 1e-400 is 0 %, not a rate whose level payment
    # divides by zero at any working precision.
    return months, rate.quantize(RATE_STEP) + 0


def check_refinance_window(final_payment_date: date, today: date) -> None:
    if not refinance_available(final_payment_date, today):
        raise Refusal(
            "conflict",
            "refinance_not_available",
            labels.MSG_REFINANCE_WINDOW.format(
                opens=jp_date(refinance_opens_on(final_payment_date)),
                closes=jp_date(final_payment_date),
            ),
        )


def _floor(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_FLOOR))


def simulate_refinance(principal: int, months: int, annual_rate: Decimal) -> RefinancePlan:
    """Level-payment schedule in whole yen.

    The exact level payment A = P·r / (1 − (1+r)^−n) (r = annual rate / 12; A = P/n when r = 0) gives the
    total to repay, floor(A·n) yen. The 2nd instalment onwards is total / n rounded down to 100 yen; the
    first absorbs the rest, so the instalments add up exactly to the total. Each row's interest is the
    balance × r rounded down; the last row takes what is left, so interest adds up to the total interest
    and the balance ends at 0.
    """
    if principal <= 0:
        raise Refusal("invalid", "no_principal", labels.MSG_NO_PRINCIPAL)
    if not (REFINANCE_MONTHS_MIN <= months <= REFINANCE_MONTHS_MAX):
        raise Refusal(
            "invalid",
            "months_out_of_range",
            labels.MSG_MONTHS_OUT_OF_RANGE.format(min=REFINANCE_MONTHS_MIN, max=REFINANCE_MONTHS_MAX),
            field="months",
        )
    with localcontext() as ctx:
        ctx.prec = 60
        monthly_rate = annual_rate / 12
        if monthly_rate == 0:
            total = principal
        else:
            p = Decimal(principal)
            level = p * monthly_rate / (1 - (1 + monthly_rate) ** -months)
            # floor(A·n) ≥ P in exact arithmetic; max() keeps it so through Decimal's last digit.
            total = max(_floor(level * months), principal)
        regular = total // months // INSTALMENT_UNIT * INSTALMENT_UNIT
        first = total - regular * (months - 1)
        rows: list[Instalment] = []
        balance = principal
        for no in range(1, months + 1):
            payment = first if no == 1 else regular
            if no == months:
                principal_part = balance
                interest = payment - principal_part
            else:
                interest = min(_floor(balance * monthly_rate), payment)
                principal_part = min(payment - interest, balance)
                interest = payment - principal_part
            balance -= principal_part
            rows.append(Instalment(no, payment, principal_part, interest, balance))
    return RefinancePlan(
        principal=principal,
        months=months,
        annual_rate=annual_rate,
        first_payment=first,
        monthly_payment=regular,
        total_payment=total,
        total_interest=total - principal,
        schedule=tuple(rows),
    )


# ---------------------------------------------------------------------------------------------
# 早期完済確認 (the page after 早期完済 is recorded)


def check_early_payoff_recorded(category: str | None) -> None:
    """早期完済確認 says 「選択区分「早期完済」を登録しました。」: only true while the recorded category is
    early_payoff. Any other (or none) is refused with what is recorded and where to change it."""
    if category == "early_payoff":
        return
    message = (
        labels.MSG_NOT_EARLY_PAYOFF.format(category=labels.CATEGORY_LABELS.get(category, category))
        if category
        else labels.MSG_NO_CATEGORY_FOR_EARLY_PAYOFF
    )
    raise Refusal("conflict", "not_early_payoff", message)
