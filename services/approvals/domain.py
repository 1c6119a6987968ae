"""The request workflow of SPEC §5.2–5.3 as a table: statuses, labels, colours and transitions.

Pure: no framework, no I/O. `decide` either returns the outcome of an action or raises a `Refusal`
with a Japanese message; it never changes anything itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from shared import rules
from shared.refusal import Refusal

TOKYO = ZoneInfo("Asia/Tokyo")

# --------------------------------------------------------------------------------------------
# Statuses

STATUS_LABELS: dict[str, str] = rules.REQUEST_STATUS_LABELS  # the closed set, shared by every service
STATUSES: tuple[str, ...] = tuple(STATUS_LABELS)
STATUS_COLOURS: dict[str, str] = {
    "staff_back": "red",
    "store_pending": "yellow",
    "store_back": "red",
    "hq_pending": "yellow",
    "hq_back": "red",
}
# The submitter may correct or withdraw only here (SPEC §5.2 last column).
SUBMITTER_MAY_CHANGE = frozenset(
    {"staff_back", "store_pending", "store_back", "hq_pending", "hq_back", "requested"}
)
PAST_STATUSES = rules.CLOSED_REQUEST_STATUSES
MAX_HQ_APPROVERS = 20  # 本部承認者のメールアドレス, on the page and in the API alike
CURRENT_STATUSES = tuple(s for s in STATUSES if s not in PAST_STATUSES)
FINAL_STATUSES = PAST_STATUSES
TFC_STATUSES = frozenset({"tfc_processing", "tfc_on_hold", "tfc_message"})
# Timeout sweep (SPEC §6): statuses where the submitter is reminded; where head office is.
SUBMITTER_REMINDER_STATUSES = frozenset(
    {"store_pending", "hq_pending", "staff_back", "store_back", "hq_back"}
)
HQ_REMINDER_STATUSES = frozenset({"hq_pending"})


INVALID_RECEPTION_NO = "受付番号は「2612-000123」の形式（半角数字とハイフン）で入力してください。"


def status_colour(status: str) -> str:
    return STATUS_COLOURS.get(status, "")


# --------------------------------------------------------------------------------------------
# Actions and actors

UserAction = Literal["approve", "send_back", "withdraw", "correct"]
TfcAction = Literal["accept", "hold", "message", "resume", "complete", "send_back"]
USER_ACTIONS: tuple[str, ...] = ("approve", "send_back", "withdraw", "correct")
TFC_ACTIONS: tuple[str, ...] = ("accept", "hold", "message", "resume", "complete", "send_back")
ActorRole = Literal["staff", "store_manager", "hq", "tfc"]
ACTOR_ROLES: tuple[str, ...] = ("staff", "store_manager", "hq", "tfc")

ACTION_LABELS: dict[str, str] = {
    "submit": "送信",
    "approve": "承認",
    "send_back": "差戻し",
    "withdraw": "取下げ",
    "correct": "訂正",
    "accept": "TFC受付",
    "hold": "TFC対応保留",
    "message": "TFC連絡事項入力",
    "resume": "TFC対応再開",
    "complete": "完了",
}
ACTOR_ROLE_LABELS: dict[str, str] = {
    "staff": "営業スタッフ",
    "store_manager": "店長",
    "hq": "本部",
    "tfc": "トヨタファイナンス",
}


@dataclass(frozen=True)
class Flow:
    """The approval steps one request goes through (the dealer's settings minus self-approval)."""

    store_step: bool
    hq_step: bool


def effective_flow(store_approval: bool, hq_approval: bool, submitter_role: str) -> Flow:
    """Nobody approves their own request: a store manager skips the store step, hq skips both."""
    return Flow(
        store_step=store_approval and submitter_role == "staff",
        hq_step=hq_approval and submitter_role != "hq",
    )


def first_status(flow: Flow) -> str:
    if flow.store_step:
        return "store_pending"
    if flow.hq_step:
        return "hq_pending"
    return "requested"


def after_store_approval(flow: Flow) -> str:
    return "hq_pending" if flow.hq_step else "requested"


def after_hq_send_back(flow: Flow) -> str:
    return "store_back" if flow.store_step else "staff_back"


def after_tfc_send_back(flow: Flow) -> str:
    if flow.hq_step:
        return "hq_back"
    return "store_back" if flow.store_step else "staff_back"


@dataclass(frozen=True)
class Actor:
    role: ActorRole
    is_submitter: bool = False


TFC = Actor("tfc")


@dataclass(frozen=True)
class Outcome:
    status: str  # the next status
    flow: Flow  # the request's flow from now on (a submitter's correction picks up new settings)
    restart: bool = False  # every approval of the round is void
    duplicate: bool = False  # a TFC update already applied: change nothing


NOT_FOUND_MESSAGE = "指定された申込は見つかりません。"
STALE_MESSAGE = "この申込は他の方により更新されています。最新の内容を確認のうえ、再度操作してください。"


def not_found() -> Refusal:
    return Refusal("not_found", "request_not_found", NOT_FOUND_MESSAGE)


def stale() -> Refusal:
    """Someone else changed the request since the user saw it (its version moved on)."""
    return Refusal("stale", "stale_version", STALE_MESSAGE)


def invalid_payload(errors: dict[str, str]) -> Refusal:
    """A correction with errors: {field: message} (the API's `errors`, the request page's field messages)."""
    return Refusal("invalid", "invalid_payload", "入力内容に誤りがあります。", errors=errors)


# --------------------------------------------------------------------------------------------
# The transition table. Each row: (action, actor role, from status) → next status (a function of
# the request's flow). The submitter's rows are separate (they apply to whoever submitted).

Next = Callable[[Flow], str]

APPROVER_TABLE: dict[tuple[str, str, str], Next] = {
    ("approve", "store_manager", "store_pending"): after_store_approval,
    ("approve", "store_manager", "store_back"): after_store_approval,
    ("send_back", "store_manager", "store_pending"): lambda f: "staff_back",
    ("send_back", "store_manager", "store_back"): lambda f: "staff_back",
    ("correct", "store_manager", "store_pending"): lambda f: "store_pending",
    ("correct", "store_manager", "store_back"): lambda f: "store_back",
    ("approve", "hq", "hq_pending"): lambda f: "requested",
    ("approve", "hq", "hq_back"): lambda f: "requested",
    ("send_back", "hq", "hq_pending"): after_hq_send_back,
    ("send_back", "hq", "hq_back"): after_hq_send_back,
    ("correct", "hq", "hq_pending"): lambda f: "hq_pending",
    ("correct", "hq", "hq_back"): lambda f: "hq_back",
}

TFC_TABLE: dict[tuple[str, str], Next] = {
    ("accept", "requested"): lambda f: "tfc_processing",
    ("hold", "tfc_processing"): lambda f: "tfc_on_hold",
    ("hold", "tfc_message"): lambda f: "tfc_on_hold",
    ("message", "tfc_processing"): lambda f: "tfc_message",
    ("message", "tfc_on_hold"): lambda f: "tfc_message",
    ("message", "tfc_message"): lambda f: "tfc_message",  # a further message replaces the text
    ("resume", "tfc_on_hold"): lambda f: "tfc_processing",
    ("resume", "tfc_message"): lambda f: "tfc_processing",
    ("complete", "tfc_processing"): lambda f: "completed",
    ("complete", "tfc_on_hold"): lambda f: "completed",
    ("complete", "tfc_message"): lambda f: "completed",
    ("send_back", "requested"): after_tfc_send_back,
    ("send_back", "tfc_processing"): after_tfc_send_back,
    ("send_back", "tfc_on_hold"): after_tfc_send_back,
    ("send_back", "tfc_message"): after_tfc_send_back,
}

# Whose step each pending status is (for the "not your step" message).
STEP_OWNER: dict[str, str] = {
    "store_pending": "store_manager",
    "store_back": "store_manager",
    "hq_pending": "hq",
    "hq_back": "hq",
}


def decide(
    status: str,
    action: str,
    actor: Actor,
    flow: Flow,
    *,
    flow_now: Flow | None = None,
    tfc_message: str | None = None,
    new_tfc_message: str | None = None,
) -> Outcome:
    """The outcome of `action` by `actor` on a request in `status` going through `flow`.

    `flow_now` is the flow the dealer's current settings give this request's submitter: a
    submitter's correction restarts the request on it. Raises a `Refusal` when not allowed.
    """
    label = STATUS_LABELS.get(status)
    if label is None:
        raise Refusal("conflict", "unknown_status", f"不明なステータスです（{status}）。")
    if actor.role == "tfc":
        return _decide_tfc(status, action, flow, tfc_message, new_tfc_message)
    if action not in USER_ACTIONS:
        raise Refusal("forbidden", "tfc_only_action", "この操作はトヨタファイナンスのみ行えます。")
    if status in FINAL_STATUSES:
        raise Refusal("conflict", "request_closed", f"この申込は「{label}」のため、操作できません。")
    if actor.is_submitter and action in ("withdraw", "correct"):
        if status not in SUBMITTER_MAY_CHANGE:
            raise Refusal(
                "conflict",
                "tfc_processing_locked",
                f"ステータスが「{label}」のため、取下げ・訂正はできません。",
            )
        if action == "withdraw":
            return Outcome("withdrawn", flow)
        restart_flow = flow_now or flow
        return Outcome(first_status(restart_flow), restart_flow, restart=True)
    if action == "withdraw":
        raise Refusal("forbidden", "withdraw_submitter_only", "取下げは起票者のみ行えます。")
    if actor.is_submitter and action in ("approve", "send_back"):
        raise Refusal("forbidden", "own_request", "ご自身が起票した申込は承認・差戻しできません。")
    next_status = APPROVER_TABLE.get((action, actor.role, status))
    if next_status is None:
        raise Refusal(
            "forbidden" if status in STEP_OWNER else "conflict",
            "not_your_step",
            _approver_refusal(status, action, actor),
        )
    return Outcome(next_status(flow), flow)


def _approver_refusal(status: str, action: str, actor: Actor) -> str:
    label = STATUS_LABELS[status]
    what = ACTION_LABELS[action]
    owner = STEP_OWNER.get(status)
    if owner is None:
        return f"ステータスが「{label}」のため、{what}できません。"
    return (
        f"ステータスが「{label}」のため、{what}できるのは"
        f"{'店舗承認者（店長）' if owner == 'store_manager' else '本部承認者'}のみです。"
    )


def _decide_tfc(
    status: str, action: str, flow: Flow, tfc_message: str | None, new_tfc_message: str | None
) -> Outcome:
    label = STATUS_LABELS[status]
    if action not in TFC_ACTIONS:
        raise Refusal("forbidden", "dealer_only_action", "この操作は貴社のみ行えます。")
    if action == "message" and not (new_tfc_message or "").strip():
        raise Refusal("invalid", "message_required", "連絡事項が入力されていません。")
    next_status = TFC_TABLE.get((action, status))
    if next_status is None:
        # The same update arriving twice finds the request already where it leads: no effect.
        if _already_applied(status, action, flow):
            return Outcome(status, flow, duplicate=True)
        raise Refusal(
            "conflict",
            "invalid_tfc_transition",
            f"ステータスが「{label}」のため、TFCの「{ACTION_LABELS.get(action, action)}」は適用できません。",
        )
    if action == "message" and status == "tfc_message" and new_tfc_message == tfc_message:
        return Outcome(status, flow, duplicate=True)
    return Outcome(next_status(flow), flow)


@dataclass(frozen=True)
class TfcAnswer:
    """What a TFC update adds to the request beyond its status (SPEC §9.2)."""

    result: str | None  # 審査結果 of a 再分割審査申込 (on complete)
    payoff_amount: int | None  # 早期完済金額 of an 早期完済受付
    message: str | None  # the TFC連絡事項 text (made up from the amount when TFC sent only that)


RESULT_REQUIRED = "再分割審査申込の完了には審査結果（approved / declined）が必要です。"
PAYOFF_AMOUNT_REQUIRED = "早期完済受付の完了には早期完済金額（payoff_amount）が必要です。"


def tfc_answer(
    request_type: str,
    action: str,
    *,
    message: str | None,
    result: str | None,
    payoff_amount: int | None,
    known_payoff_amount: int | None,
) -> TfcAnswer:
    """Check the type-specific parts of a TFC update; refuse what does not belong to the type or action.

    - 再分割審査申込: `complete` carries `result` (approved | declined); nothing else carries one.
    - 早期完済受付: `payoff_amount` comes with `message` (the usual way) or `complete`; the request cannot
      complete before an amount is known.
    """
    if result is not None and not (request_type == "refinance_application" and action == "complete"):
        raise Refusal(
            "invalid",
            "result_not_applicable",
            "審査結果は再分割審査申込の完了（complete）にのみ指定できます。",
        )
    if request_type == "refinance_application" and action == "complete" and result is None:
        raise Refusal("invalid", "result_required", RESULT_REQUIRED)
    amount_fits = request_type == "early_payoff" and action in ("message", "complete")
    if payoff_amount is not None and not amount_fits:
        raise Refusal(
            "invalid",
            "payoff_amount_not_applicable",
            "早期完済金額は早期完済受付の連絡事項（message）または完了（complete）にのみ指定できます。",
        )
    amount = payoff_amount if payoff_amount is not None else known_payoff_amount
    if request_type == "early_payoff" and action == "complete" and amount is None:
        raise Refusal("invalid", "payoff_amount_required", PAYOFF_AMOUNT_REQUIRED)
    text = (message or "").strip() or None
    if action == "message" and text is None and payoff_amount is not None:
        text = f"早期完済金額は{payoff_amount:,}円です。"
    return TfcAnswer(result, amount, text)


def _already_applied(status: str, action: str, flow: Flow) -> bool:
    target = {
        "accept": "tfc_processing",
        "hold": "tfc_on_hold",
        "resume": "tfc_processing",
        "complete": "completed",
        "send_back": after_tfc_send_back(flow),
    }.get(action)
    return target == status


def allowed_actions(status: str, actor: Actor, flow: Flow) -> list[str]:
    """The user actions `actor` may take now (the buttons of the request page)."""
    allowed = []
    for action in USER_ACTIONS:
        try:
            decide(status, action, actor, flow)
        except Refusal:
            continue
        allowed.append(action)
    return allowed


# --------------------------------------------------------------------------------------------
# Send-back recipients (SPEC §6: the previous approver or the submitter)


def send_back_recipient_role(new_status: str) -> str:
    """Who receives a send-back landing in `new_status`: the step's approver, or the submitter."""
    return {"hq_back": "hq", "store_back": "store_manager"}.get(new_status, "submitter")


# --------------------------------------------------------------------------------------------
# Payloads

# What a correction may not change: the 再分割 plan TFC is asked to examine (a new plan is a new
# application: 取下げ and apply again), and the contract's final date an early payoff is checked against.
FIXED_FIELDS: dict[str, tuple[str, ...]] = {
    "refinance_application": ("plan",),
    "early_payoff": ("final_payment_date",),
}


FIXED_FIELD_MESSAGES: dict[str, str] = {
    "plan": (
        "再分割プランは訂正できません。"
        "変更する場合は取下げのうえ、再分割シミュレーションから申込し直してください。"
    ),
    "final_payment_date": "最終回年月日は訂正できません。",
}


def validate_payload(
    schema: type[BaseModel],
    payload: dict[str, Any],
    *,
    submitter_role: str,
    today: date,
    request_type: str = "vehicle_return",
    previous: dict[str, Any] | None = None,
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Validate a (corrected) payload. Returns (normalised payload, {} ) or (None, {field: message})."""
    if previous is not None:
        fixed = [f for f in FIXED_FIELDS.get(request_type, ()) if f in previous]
        changed = {f: FIXED_FIELD_MESSAGES[f] for f in fixed if f in payload and payload[f] != previous[f]}
        if changed:
            return None, changed
        payload = {**payload, **{f: previous[f] for f in fixed}}
    try:
        model = schema.model_validate(payload)
    except ValidationError as e:
        errors: dict[str, str] = {}
        for err in e.errors():
            field = str(err["loc"][0]) if err["loc"] else _field_named_in(err["msg"])
            errors.setdefault(field, FIELD_ERROR_MESSAGES.get(field, "入力内容に誤りがあります。"))
        return None, errors
    data = model.model_dump(mode="json")
    errors = _date_rules(data, today)
    if submitter_role == "hq" and "contact3_email" in data and not data.get("contact3_email"):
        errors["contact3_email"] = "本部の方が起票する場合、連絡先3（メールアドレス）は必須です。"
    return (None, errors) if errors else (data, {})


def _date_rules(data: dict[str, Any], today: date) -> dict[str, str]:
    """The rules of each type tied to the day (SPEC §4, §9.2)."""
    errors: dict[str, str] = {}
    returned_on = data.get("returned_on")
    if data.get("result") == "returned" and returned_on and date.fromisoformat(returned_on) > today:
        errors["returned_on"] = "車両返却受領日は本日以前の日付を入力してください。"
    consent = data.get("consent_obtained_on")
    if consent and date.fromisoformat(consent) > today:
        errors["consent_obtained_on"] = "同意取得日は本日以前の日付を入力してください。"
    payoff = data.get("desired_payoff_date")
    if payoff and date.fromisoformat(payoff) < today:
        errors["desired_payoff_date"] = "完済希望日は本日以降、最終回年月日までの日付を入力してください。"
    return errors


FIELD_ERROR_MESSAGES: dict[str, str] = {
    "contact1": "連絡先1は電話番号（例：03-1234-5678）で入力してください。",
    "contact2": "連絡先2は電話番号（例：03-1234-5678）で入力してください。",
    "contact3_email": "連絡先3はメールアドレスの形式で入力してください。",
    "result": "車両返却結果を選択してください。",
    "returned_on": "車両返却受領日を入力してください。",
    "not_returned_reason": "未返却理由を選択してください。",
    "not_returned_reason_text": "その他の場合は未返却理由を入力してください。",
    "consent_obtained_on": "同意取得日を入力してください。",
    "plan": "再分割プランの内容に誤りがあります。",
    "desired_payoff_date": "完済希望日は本日以降、最終回年月日までの日付を入力してください。",
    "payment_method": "お支払方法（振込または口座振替）を選択してください。",
    "final_payment_date": "最終回年月日に誤りがあります。",
}


def _field_named_in(message: str) -> str:
    """Whole-model validators name the field in their message (`returned_on is required ...`)."""
    words = message.removeprefix("Value error, ").split()
    field = words[0].rstrip(":") if words else ""
    return field if field in FIELD_ERROR_MESSAGES else "payload"


def payload_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """What a correction changed: {field: [old, new]}."""
    return {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


# --------------------------------------------------------------------------------------------
# Send-back reasons (SPEC §9.1)

SEND_BACK_REASON_REQUIRED = "差戻し理由を入力してください。"


def approver_send_back_reason(
    role: str, note: str | None, dealer_note_before: str | None, dealer_note_after: str | None
) -> str:
    """The reason of an approver's send-back: the comment, else (hq only) the 貴社連絡欄 written with it.

    The manual has hq enter 差戻し理由等 in 貴社連絡欄; a note left unchanged from before is an older
    reason, not this send-back's. No reason: refused, nothing changes.
    """
    reason = (note or "").strip()
    if reason:
        return reason
    after = (dealer_note_after or "").strip()
    if role == "hq" and after and after != (dealer_note_before or "").strip():
        return after
    raise Refusal("invalid", "send_back_reason_required", SEND_BACK_REASON_REQUIRED, field="note")


# --------------------------------------------------------------------------------------------
# 受付番号 reception_no (SPEC §9.1): YYMM of the Tokyo submission date, a hyphen, a sequence

RECEPTION_NO_MAX_SEQ = 9_999_999  # 7 digits keep the number within 12 characters
RECEPTION_NO_PATTERN = re.compile(r"^\d{4}-\d{6,7}$")


def reception_period(submitted_at: datetime) -> str:
    """YYMM of the submission's date in Tokyo: the counter each month's numbers come from."""
    return submitted_at.astimezone(TOKYO).strftime("%y%m")


def reception_no(period: str, seq: int) -> str:
    """`2612-000123`: at least 6 digits of sequence (7 after 999,999 in a month), never over 12 characters."""
    if not (len(period) == 4 and period.isdigit()) or not 1 <= seq <= RECEPTION_NO_MAX_SEQ:
        raise ValueError(f"no reception number for period {period!r}, sequence {seq}")
    return f"{period}-{seq:06d}"


normalise_reception_no = rules.normalise_reception_no


def is_reception_no(text: str) -> bool:
    return bool(RECEPTION_NO_PATTERN.match(text))
