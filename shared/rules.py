"""Rules every service must apply identically (SPEC §9.1), as pure functions: no I/O, no framework, no clock.

- request statuses as one closed set (codes, labels, which are open);
- the 選択区分 categories and their labels;
- the final-payment calendar (month arithmetic clamped to the month end, the deadlines and windows);
- ownership of a contract after TFC snapshots and J-PASS reassignments (店舗・スタッフ変更);
- what a contract's requests allow: a new request of a type (車両返却, 再分割審査申込, 早期完済受付), a change
  of the category.

Each service keeps its own copy of the facts (from the events it consumes) and asks these functions; one
test runs them for every service (tests/shared/test_rules.py, tests/e2e/test_invariants.py).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from shared.refusal import Refusal
from shared.timefmt import jp_date

# --------------------------------------------------------------------------------------------
# Request statuses (SPEC §5.2): the closed set

RequestStatusCode = Literal[
    "staff_back",
    "store_pending",
    "store_back",
    "hq_pending",
    "hq_back",
    "requested",
    "tfc_processing",
    "tfc_on_hold",
    "tfc_message",
    "completed",
    "withdrawn",
]
REQUEST_STATUS_LABELS: dict[str, str] = {
    "staff_back": "担当者手続中（差戻）",
    "store_pending": "店舗承認者手続中",
    "store_back": "店舗承認者手続中（差戻）",
    "hq_pending": "本部承認者手続中",
    "hq_back": "本部承認者手続中（差戻）",
    "requested": "依頼中",
    "tfc_processing": "TFC対応中（取下げ・訂正NG）",
    "tfc_on_hold": "TFC対応保留",
    "tfc_message": "TFC連絡事項入力中",
    "completed": "完了",
    "withdrawn": "取下げ",
}
REQUEST_STATUSES: tuple[str, ...] = tuple(REQUEST_STATUS_LABELS)
CLOSED_REQUEST_STATUSES = frozenset({"completed", "withdrawn"})
OPEN_REQUEST_STATUSES = frozenset(s for s in REQUEST_STATUSES if s not in CLOSED_REQUEST_STATUSES)
# An intake service knows of a request it sent before approvals has reported any status of it.
SUBMITTED = "submitted"


def request_is_open(status: str) -> bool:
    """Open: neither 完了 nor 取下げ. A status not in the set (a newer producer) counts as open: safe side."""
    return status not in CLOSED_REQUEST_STATUSES


# --------------------------------------------------------------------------------------------
# 受付番号 as people type or read it out (approvals' 進捗一覧 and the mailer's log both search by it)

_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−ー－ｰ"})


def normalise_reception_no(text: str | None) -> str:
    """NFKC (full-width digits), any dash as `-`, no blanks; "" when nothing was typed."""
    folded = unicodedata.normalize("NFKC", text or "").translate(_DASHES)
    return re.sub(r"\s+", "", folded)


# --------------------------------------------------------------------------------------------
# 選択区分 (SPEC §3)

Category = Literal["early_payoff", "cash", "vehicle_return", "refinance"]
CATEGORIES: tuple[Category, ...] = ("early_payoff", "cash", "vehicle_return", "refinance")
CATEGORY_LABELS: dict[str, str] = {
    "early_payoff": "早期完済",
    "cash": "現金決済（口座振替）",
    "vehicle_return": "車両返却",
    "refinance": "再分割",
}
# The request types of the approvals engine (SPEC §5, §9.2) and the category each belongs to: a request
# of a type is opened only under its category, and an open one keeps the category where it is.
REQUEST_TYPE_CATEGORY: dict[str, str] = {
    "vehicle_return": "vehicle_return",
    "refinance_application": "refinance",
    "early_payoff": "early_payoff",
}
REQUEST_TYPE_LABELS: dict[str, str] = {
    "vehicle_return": "車両返却",
    "refinance_application": "再分割審査申込",
    "early_payoff": "早期完済受付",
}
REQUEST_TYPES: tuple[str, ...] = tuple(REQUEST_TYPE_LABELS)
# TFC's answer to a 再分割審査申込 (on `complete`)
REFINANCE_RESULT_LABELS: dict[str, str] = {"approved": "承認", "declined": "否決"}


# --------------------------------------------------------------------------------------------
# The final-payment calendar (SPEC: all dates are Japan dates)


def add_months(day: date, months: int) -> date:
    """Calendar months after (negative: before) `day`, clamped to the month end
    (2026-04-30 − 2 months = 2026-02-28)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def result_input_deadline(final_payment_date: date) -> date:
    """結果入力期限: the selection is due by the final date − 2 months."""
    return add_months(final_payment_date, -2)


def category_change_deadline(final_payment_date: date) -> date:
    """最終回選択区分の入力変更 is possible until the final date − 1 month (inclusive)."""
    return add_months(final_payment_date, -1)


def replacement_required_from(final_payment_date: date) -> date:
    """代替 must be entered from the final date − 4 months (or once a selection exists)."""
    return add_months(final_payment_date, -4)


def refinance_window(final_payment_date: date) -> tuple[date, date]:
    """再分割シミュレーション: from the final date − 9 months until the final date, both inclusive."""
    return add_months(final_payment_date, -9), final_payment_date


def refinance_available(final_payment_date: date, today: date) -> bool:
    opens, closes = refinance_window(final_payment_date)
    return opens <= today <= closes


# --------------------------------------------------------------------------------------------
# Ownership (SPEC §9.1): a J-PASS reassignment stands over later snapshots until TFC itself changes
# the store or the staff of the contract; from then on TFC's store and staff stand.
#
# Every service sees TFC's snapshots of a contract in order (one partition per key) and the
# reassignments in order (selection's topic), but the two streams interleave differently in each
# service. So a reassignment names the snapshot version it was made on (`basis_version`) and the TFC
# ownership remembers since which version it has been unchanged (`since_version`): the outcome is the
# same in any interleaving, and the same as selection's, which applies both in its own order.


@dataclass(frozen=True)
class Owner:
    store_code: str
    store_name: str
    staff_code: str

    def same_assignment(self, other: Owner) -> bool:
        """Store and staff (a store's name alone is not a change of owner)."""
        return (self.store_code, self.staff_code) == (other.store_code, other.staff_code)


@dataclass(frozen=True)
class TfcOwnership:
    owner: Owner
    version: int  # of the newest snapshot applied
    since_version: int  # the snapshot from which TFC's store and staff have been what they are


@dataclass(frozen=True)
class Reassignment:
    owner: Owner
    seq: int  # selection's per-contract sequence: the newest reassignment wins
    basis_version: int  # the TFC snapshot version the reassignment was made on (-1: none yet)


def tfc_after_snapshot(previous: TfcOwnership | None, owner: Owner, version: int) -> TfcOwnership:
    """TFC's ownership after a newer snapshot (callers ignore older or equal versions)."""
    if previous is None or not previous.owner.same_assignment(owner):
        return TfcOwnership(owner, version, version)
    return TfcOwnership(owner, version, previous.since_version)


def reassignment_stands(tfc: TfcOwnership | None, reassignment: Reassignment | None) -> bool:
    if reassignment is None:
        return False
    return tfc is None or tfc.since_version <= reassignment.basis_version


def effective_owner(tfc: TfcOwnership | None, reassignment: Reassignment | None) -> Owner | None:
    """Who owns the contract now: the reassignment while it stands, else TFC's owner."""
    if reassignment_stands(tfc, reassignment):
        assert reassignment is not None
        return reassignment.owner
    return tfc.owner if tfc else None


def newer_reassignment(current: Reassignment | None, incoming: Reassignment) -> Reassignment:
    return incoming if current is None or incoming.seq > current.seq else current


# --------------------------------------------------------------------------------------------
# What a contract's requests allow (SPEC §9.1, §9.2): one open request per contract and type; a completed
# request is final — except a 再分割審査申込 that TFC declined: after it the category may change again.


@dataclass(frozen=True)
class RequestFact:
    """One request of a contract as a service knows it (`SUBMITTED` before approvals reported).
    `result` is TFC's answer to a 再分割審査申込 (approved | declined), None otherwise or not known yet."""

    request_id: str
    type: str
    status: str
    result: str | None = None


def request_is_final(fact: RequestFact) -> bool:
    """完了 and binding: every completed request but a declined 再分割審査申込 (SPEC §9.2)."""
    return fact.status == "completed" and fact.result != "declined"


RequestState = Literal["none", "open", "completed"]

MSG_OPEN_REQUEST = (
    "このご契約には手続中の{type}の申込があります。"
    "選択区分を変更する場合は、先に進捗一覧から申込を取下げてください。"
)
MSG_COMPLETED_REQUEST = "このご契約の{type}の手続は完了しているため、最終回選択の内容は変更できません。"
MSG_SECOND_OPEN = "このご契約には手続中の{type}の申込がすでにあります。進捗一覧でご確認ください。"
MSG_TYPE_COMPLETED = "このご契約の{type}の手続は完了しています。新たな{type}の申込はできません。"
MSG_SECOND_RETURN_OPEN = MSG_SECOND_OPEN.format(type="車両返却")
MSG_RETURN_COMPLETED = MSG_TYPE_COMPLETED.format(type="車両返却")


def request_state(requests: Iterable[RequestFact], request_type: str) -> RequestState:
    """A final (completed) request of the type wins, then an open one. A declined 再分割審査申込 is
    neither: the contract is as if it had none."""
    facts = [r for r in requests if r.type == request_type]
    if any(request_is_final(r) for r in facts):
        return "completed"
    if any(request_is_open(r.status) for r in facts):
        return "open"
    return "none"


def may_submit_request(requests: Iterable[RequestFact], request_type: str) -> Refusal | None:
    """One open request per contract and type; after a final one of the type, none."""
    state = request_state(requests, request_type)
    label = REQUEST_TYPE_LABELS.get(request_type, request_type)
    if state == "open":
        return Refusal("conflict", "open_request_exists", MSG_SECOND_OPEN.format(type=label))
    if state == "completed":
        return Refusal("conflict", "request_completed", MSG_TYPE_COMPLETED.format(type=label))
    return None


MSG_EARLY_PAYOFF_CLOSED = "最終回期日（{final}）を過ぎているため、早期完済受付はできません。"


def may_accept_early_payoff(
    final_payment_date: date, today: date, requests: Iterable[RequestFact]
) -> Refusal | None:
    """With 早期完済 recorded, an 早期完済受付 may start until the final date (SPEC §9.2), one open at a
    time and none after a completed one: what the intake refuses (selection) and 顧客詳細 offers (search)."""
    if today > final_payment_date:
        return Refusal(
            "conflict",
            "early_payoff_closed",
            MSG_EARLY_PAYOFF_CLOSED.format(final=jp_date(final_payment_date)),
        )
    return may_submit_request(requests, "early_payoff")


def may_change_category(
    requests: Iterable[RequestFact], current_category: str | None, new_category: str
) -> Refusal | None:
    """The category cannot leave a category whose request is open (取下げ first) and cannot change at all
    once a request of any type is final. Re-entering the same category (e.g. correcting 自社代替) is
    allowed while the request is open, not after it completed."""
    facts = list(requests)
    for request_type, category in REQUEST_TYPE_CATEGORY.items():
        state = request_state(facts, request_type)
        label = REQUEST_TYPE_LABELS[request_type]
        if state == "completed":
            return Refusal("conflict", "request_completed", MSG_COMPLETED_REQUEST.format(type=label))
        if state == "open" and current_category == category and new_category != category:
            return Refusal("conflict", "open_request_exists", MSG_OPEN_REQUEST.format(type=label))
    return None


def category_lock(requests: Iterable[RequestFact], current_category: str | None) -> Refusal | None:
    """Why the category cannot be changed away from `current_category` now (None: it can), so screens
    can say so before the user tries."""
    others = [c for c in CATEGORIES if c != current_category]
    return may_change_category(requests, current_category, others[0])


def declined_frees_category(requests: Iterable[RequestFact], current_category: str | None) -> bool:
    """After TFC declined the 再分割審査申込, the category 再分割 may be changed again even inside the last
    month before the final date (SPEC §9.2), as long as nothing else holds it (may_change_category)."""
    return current_category == REQUEST_TYPE_CATEGORY["refinance_application"] and any(
        r.type == "refinance_application" and r.status == "completed" and r.result == "declined"
        for r in requests
    )
