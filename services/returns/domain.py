"""Rules of vehicle-return result intake (SPEC §4, manual 5. 車両返却のお手続き). Pure: no I/O, no framework.

Two questions: may this user submit a return for this contract now (`check_eligibility`), and is the
form they filled in acceptable (`validate_form`, which builds the `VehicleReturnPayload`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from shared import rules
from shared.events import EXTRA_TFC_PROCEDURE_PROGRAMS, OPEN_END_PROGRAMS, PROGRAM_LABELS
from shared.refusal import Refusal
from shared.requests import NOT_RETURNED_REASONS, VehicleReturnPayload, check_contacts
from shared.user import User

TOKYO = ZoneInfo("Asia/Tokyo")

# Labels of the screens (one place).
RESULT_LABELS: dict[str, str] = {"returned": "返却済み", "not_returned": "未返却確定"}
SELECTION_LABELS: dict[str, str] = rules.CATEGORY_LABELS
NOTIFY_LABEL = "TFCにて手続が完了した際のメール通知を希望する"
EXTRA_TFC_PROCEDURE_NOTICE = (
    "このご契約は、J-PASS WEB（車両返却機能）によるご連絡のみでは手続きは完了いたしません。"
    "車両返却結果入力後、TFCから別途ご案内をお送りいたします。"
)
# Request statuses after which the contract has no open return request any more.
CLOSED_STATUSES = rules.CLOSED_REQUEST_STATUSES
# Shown instead of the 受付番号 until approvals' first status event brings it.
RECEPTION_PENDING = "受付処理中"


def status_colour(status: str) -> str:
    """The colour class of a request status (SPEC §5.2): sent back red, awaiting approval yellow."""
    if status.endswith("_back"):
        return "red"
    if status.endswith("_pending"):
        return "yellow"
    return ""


def today_in_tokyo(now: datetime) -> date:
    return now.astimezone(TOKYO).date()


# --------------------------------------------------------------------------------------------
# Eligibility (前提条件)


@dataclass(frozen=True)
class ContractFacts:
    """What the rules need to know about a contract (from returns' own copies)."""

    contract_no: str
    dealer_code: str
    store_code: str  # the current store (after 店舗・スタッフ変更)
    program: str
    receivable_purchased: bool
    selection_category: str | None  # latest recorded 選択区分, None if none
    requests: tuple[rules.RequestFact, ...] = ()  # the contract's requests as returns knows them

    @property
    def has_open_request(self) -> bool:
        return rules.request_state(self.requests, "vehicle_return") == "open"


def contract_not_found() -> Refusal:
    return Refusal("not_found", "contract_not_found", "指定された契約は見つかりません。")


def check_eligibility(contract: ContractFacts | None, user: User) -> Refusal | None:
    """The preconditions of SPEC §4 in order; None when the user may submit a return now."""
    if contract is None or not user.sees_store(contract.dealer_code, contract.store_code):
        return contract_not_found()
    if contract.program in OPEN_END_PROGRAMS:
        return Refusal(
            "invalid",
            "open_end_program",
            f"{PROGRAM_LABELS[contract.program]}は本機能の対象外です（オープンエンド契約）。"
            "TFCへ必要書類の送付をお願いいたします。",
        )
    if contract.selection_category != "vehicle_return":
        current = SELECTION_LABELS.get(contract.selection_category or "", "未選択")
        return Refusal(
            "invalid",
            "selection_not_vehicle_return",
            f"最終回選択区分が「車両返却」ではありません（現在: {current}）。"
            "進捗・結果入力で「車両返却」を選択してから入力してください。",
        )
    return rules.may_submit_request(contract.requests, "vehicle_return")


def needs_extra_tfc_procedure(program: str, receivable_purchased: bool) -> bool:
    """Manual: 別途手続きが必要な商品・ご契約 (the A plans, TFC保証, and receivables TFC bought)."""
    return program in EXTRA_TFC_PROCEDURE_PROGRAMS or receivable_purchased


# --------------------------------------------------------------------------------------------
# The form (起票画面)


@dataclass(frozen=True)
class ReturnForm:
    """What the user typed, as text (pages and the API both fill it)."""

    contact1: str | None = None
    contact2: str | None = None
    contact3_email: str | None = None
    notify_on_completion: bool = True
    result: str | None = "returned"
    returned_on: str | date | None = None
    not_returned_reason: str | None = None
    not_returned_reason_text: str | None = None


def _parse_date(raw: str | date | None) -> date | None:
    if raw is None or isinstance(raw, date):
        return raw
    text = unicodedata.normalize("NFKC", raw).strip().replace("/", "-")
    if not text:
        return None
    return date.fromisoformat(text)


def _check_returned_on(raw: str | date | None, today: date) -> tuple[date | None, list[Refusal]]:
    def refuse(code: str, message: str) -> list[Refusal]:
        return [Refusal("invalid", code, message, "returned_on")]

    try:
        returned_on = _parse_date(raw)
    except ValueError:
        return None, refuse("invalid_date", "車両返却受領日の日付が正しくありません。")
    if returned_on is None:
        return None, refuse("returned_on_required", "車両返却受領日を入力してください。")
    if returned_on > today:
        return returned_on, refuse(
            "returned_on_in_future", "車両返却受領日は本日までの日付で入力してください。"
        )
    return returned_on, []


def _check_not_returned(reason: str | None, reason_text: str | None) -> tuple[str | None, list[Refusal]]:
    """Checks the 未返却理由; returns the free text kept (for 「その他」 only) and the refusals."""
    errors: list[Refusal] = []
    if reason is None:
        errors.append(
            Refusal("invalid", "reason_missing", "未返却理由を選択してください。", "not_returned_reason")
        )
    elif reason not in NOT_RETURNED_REASONS:
        errors.append(
            Refusal(
                "invalid", "invalid_reason", "未返却理由を一覧から選択してください。", "not_returned_reason"
            )
        )
    elif reason == "other" and reason_text is None:
        message = "未返却理由が「その他」の場合は理由を入力してください。"
        errors.append(Refusal("invalid", "reason_missing", message, "not_returned_reason_text"))
    if reason != "other":
        reason_text = None
    if reason_text is not None and len(reason_text) > 200:
        message = "未返却理由は200文字以内で入力してください。"
        errors.append(Refusal("invalid", "reason_too_long", message, "not_returned_reason_text"))
    return reason_text, errors


def validate_form(
    form: ReturnForm, *, submitter_role: str, today: date
) -> tuple[VehicleReturnPayload | None, list[Refusal]]:
    """Check the form; returns (VehicleReturnPayload, []) or (None, refusals in screen order)."""
    contacts, contact_errors = check_contacts(
        form.contact1, form.contact2, form.contact3_email, submitter_role=submitter_role
    )
    errors = [Refusal("invalid", e.code, e.message, e.field) for e in contact_errors]
    contact1, contact2, email = contacts["contact1"], contacts["contact2"], contacts["contact3_email"]

    result = form.result or "returned"
    returned_on: date | None = None
    reason = (form.not_returned_reason or "").strip() or None
    reason_text = (form.not_returned_reason_text or "").strip() or None
    if result == "returned":
        reason = reason_text = None
        returned_on, refused = _check_returned_on(form.returned_on, today)
        errors += refused
    elif result == "not_returned":
        reason_text, refused = _check_not_returned(reason, reason_text)
        errors += refused
    else:
        message = "車両返却結果は「返却済み」か「未返却確定」を選択してください。"
        errors.append(Refusal("invalid", "invalid_result", message, "result"))

    if errors:
        return None, errors
    try:
        payload = VehicleReturnPayload(
            contact1=contact1,
            contact2=contact2,
            contact3_email=email,
            notify_on_completion=form.notify_on_completion,
            result=result,
            returned_on=returned_on,
            not_returned_reason=reason,
            not_returned_reason_text=reason_text,
        )
    except ValidationError as e:  # the shared schema is stricter than the checks above: say so plainly
        return None, [
            Refusal("invalid", "invalid_input", f"入力内容に誤りがあります: {e.errors()[0]['msg']}")
        ]
    return payload, []
