"""Server-rendered pages: 進捗一覧, the request page with its actions, 承認フロー設定（本部用）."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import EmailStr as _EmailStr
from pydantic import TypeAdapter, ValidationError

from services.approvals import domain, queries, views
from services.approvals.deps import approvals_of
from services.approvals.use_cases import FlowView
from shared.events import PROGRAM_LABELS
from shared.identity import CurrentUser, User
from shared.refusal import Refusal
from shared.requests import NOT_RETURNED_REASONS, PAYMENT_METHOD_LABELS, REQUEST_TYPE_LABELS
from shared.rules import REFINANCE_RESULT_LABELS
from shared.timefmt import jp_date
from shared.web import flash, http_status, make_templates, set_flash

router = APIRouter(include_in_schema=False)
templates = make_templates(Path(__file__).parent / "templates")

PAYLOAD_LABELS: dict[str, str] = {
    "contact1": "連絡先1",
    "contact2": "連絡先2",
    "contact3_email": "連絡先3（メールアドレス）",
    "notify_on_completion": "TFCにて手続が完了した際のメール通知を希望する",
    "result": "車両返却結果",
    "returned_on": "車両返却受領日",
    "not_returned_reason": "未返却理由",
    "not_returned_reason_text": "未返却理由（その他）",
    "dealer_note": "貴社連絡欄",
    "tfc_message": "TFC連絡事項",
    "consent_obtained_on": "お客様の同意取得日",
    "plan": "再分割プラン",
    "desired_payoff_date": "完済希望日",
    "payment_method": "お支払方法",
    "final_payment_date": "最終回年月日",
    "payoff_amount": "早期完済金額",
}
RESULT_LABELS = {"returned": "返却済み", "not_returned": "未返却確定"}
# The flash message (shared.web.FLASH_MESSAGES) after each action.
DONE_FLASH = {
    "approve": "request_approved",
    "send_back": "request_sent_back",
    "withdraw": "request_withdrawn",
    "correct": "request_corrected",
}
CONFIRMS = {
    "approve": "承認します。よろしいですか？",
    "send_back": "差戻しします。よろしいですか？",
    "withdraw": "取り下げると訂正・再送信はできなくなります。取り下げてよろしいですか？",
    "correct": "入力内容を訂正して送信します。よろしいですか？",
}
_email = TypeAdapter(_EmailStr)


# TFC's answer to a 再分割審査申込 is kept in the history as `result`, a return's 車両返却結果 field name.
TFC_RESULT_LABEL = "審査結果"


def change_label(request_type: str, field: str) -> str:
    """The label of a changed field in the history, in the request's type."""
    if field == "result" and request_type == "refinance_application":
        return TFC_RESULT_LABEL
    return PAYLOAD_LABELS.get(field, field)


def fmt_value(field: str, value: Any, request_type: str = "vehicle_return") -> str:
    if value is None or value == "":
        return "（なし）"
    if field == "result" and request_type == "refinance_application":
        return REFINANCE_RESULT_LABELS.get(value, str(value))
    if field == "result":
        return RESULT_LABELS.get(value, str(value))
    if field == "not_returned_reason":
        return NOT_RETURNED_REASONS.get(value, str(value))
    if field == "payment_method":
        return PAYMENT_METHOD_LABELS.get(value, str(value))
    if field == "payoff_amount" and isinstance(value, int):
        return f"{value:,}円"
    if isinstance(value, bool):
        return "希望する" if value else "希望しない"
    if field.endswith(("_on", "_date")):
        return jp_date(value)
    return str(value)


templates.env.globals.update(
    STATUS_LABELS=domain.STATUS_LABELS,
    STATUS_COLOURS=domain.STATUS_COLOURS,
    CURRENT_STATUSES=domain.CURRENT_STATUSES,
    PAST_STATUSES=[s for s in domain.STATUSES if s in domain.PAST_STATUSES],
    REQUEST_TYPE_LABELS=REQUEST_TYPE_LABELS,
    PROGRAM_LABELS=PROGRAM_LABELS,
    PAYLOAD_LABELS=PAYLOAD_LABELS,
    RESULT_LABELS=RESULT_LABELS,
    NOT_RETURNED_REASONS=NOT_RETURNED_REASONS,
    PAYMENT_METHOD_LABELS=PAYMENT_METHOD_LABELS,
    CONFIRMS=CONFIRMS,
    fmt_value=fmt_value,
    change_label=change_label,
)


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def typed_over_stored(stored: dict[str, Any], entered: dict[str, Any] | None) -> dict[str, Any]:
    return {**stored, **{k: v for k, v in (entered or {}).items() if k != "dealer_note"}}


# --------------------------------------------------------------------------------------------
# メニュー and 進捗一覧


@router.get("/approvals/", response_class=HTMLResponse)
async def menu(request: Request, user: CurrentUser) -> Response:
    return render(request, "menu.html", {"user": user})


@router.get("/requests", response_class=HTMLResponse)
async def progress_list(request: Request, user: CurrentUser) -> Response:
    params = request.query_params
    tab = "past" if params.get("tab") == "past" else "current"
    statuses = [s for s in params.getlist("status") if s in domain.STATUS_LABELS]
    error = None
    try:
        updated_from = queries.parse_moment(params.get("updated_from"), end=False)
        updated_to = queries.parse_moment(params.get("updated_to"), end=True)
    except ValueError:
        updated_from = updated_to = None
        error = "最終更新日時はYYYY-MM-DD形式で入力してください。"
    if queries.reversed_range(updated_from, updated_to):
        updated_from = updated_to = None
        error = queries.MSG_REVERSED_RANGE
    reception_no = domain.normalise_reception_no(params.get("reception_no", ""))
    reception_no_error = None
    if reception_no and not domain.is_reception_no(reception_no):
        reception_no_error = domain.INVALID_RECEPTION_NO
    filters = queries.ListFilters(
        tab=tab,
        type=params.get("type", ""),
        statuses=statuses,
        contractor_name=params.get("contractor_name", ""),
        contract_no=params.get("contract_no", ""),
        reception_no=reception_no,
        updated_from=updated_from,
        updated_to=updated_to,
    )
    type_error = None
    if filters.type and filters.type not in REQUEST_TYPE_LABELS:
        type_error = "申込内容を一覧から選択してください。"
    rows: list[Any] = []
    counts = dict.fromkeys(domain.STATUSES, 0)
    type_counts = dict.fromkeys(REQUEST_TYPE_LABELS, 0)
    if reception_no_error is None and type_error is None:
        async with approvals_of(request).sessionmaker() as session:
            rows, counts = await queries.list_requests(session, user, filters)
            type_counts = await queries.count_types(session, user, tab)
    keep = [(k, v) for k, v in params.multi_items() if k != "tab"]
    return render(
        request,
        "requests.html",
        {
            "user": user,
            "tab": tab,
            "filters": filters,
            "form": params,
            "items": views.list_items(rows),
            "counts": counts,
            "type_counts": type_counts,
            "error": error,
            "reception_no_error": reception_no_error,
            "type_error": type_error,
            "tab_links": {
                "current": "/requests?" + urlencode([*keep, ("tab", "current")]),
                "past": "/requests?" + urlencode([*keep, ("tab", "past")]),
            },
        },
        422 if reception_no_error or type_error else 200,
    )


# --------------------------------------------------------------------------------------------
# A request


async def request_page(
    request: Request,
    user: User,
    request_id: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    field_errors: dict[str, str] | None = None,
    entered: dict[str, Any] | None = None,
    note: str = "",
    correcting: bool = False,
) -> Response:
    async with approvals_of(request).sessionmaker() as session:
        req = await queries.get_request(session, user, request_id)
        if req is None:
            raise domain.not_found()
        history = await queries.history_of(session, request_id)
    data = views.detail(req, history, user)
    return render(
        request,
        "request.html",
        {
            "user": user,
            "r": data,
            # what was typed over what is stored (fields a correction cannot change stay on the page)
            "payload": typed_over_stored(data.payload, entered),
            "dealer_note": (entered or {}).get("dealer_note", data.dealer_note),
            "allowed": set(data.allowed_actions),
            # after an action (its flash message is shown by the layout): whom to tell next
            "acted": flash(request) is not None,
            "error": error,
            "field_errors": field_errors or {},
            "note": note,
            "is_hq_step": user.role == "hq" and "approve" in data.allowed_actions,
            # read-only review first; 訂正 is an explicit mode (?mode=correct, kept by the form's `mode`)
            "correcting": correcting or request.query_params.get("mode") == "correct",
        },
        status_code,
    )


@router.get("/requests/{request_id}", response_class=HTMLResponse)
async def request_detail(request: Request, user: CurrentUser, request_id: str) -> Response:
    return await request_page(request, user, request_id)


def payload_from_form(form: Any, request_type: str) -> dict[str, Any]:
    """The corrected payload as the request page's form sends it (fixed fields are kept by the domain)."""

    def text(name: str) -> str | None:
        value = (form.get(name) or "").strip()
        return value or None

    contacts = {
        "contact1": text("contact1"),
        "contact2": text("contact2"),
        "contact3_email": text("contact3_email"),
        "notify_on_completion": form.get("notify_on_completion") == "on",
    }
    if request_type == "refinance_application":
        return {**contacts, "consent_obtained_on": text("consent_obtained_on")}
    if request_type == "early_payoff":
        return {
            **contacts,
            "desired_payoff_date": text("desired_payoff_date"),
            "payment_method": text("payment_method"),
        }
    result = text("result") or "returned"
    return {
        **contacts,
        "result": result,
        "returned_on": text("returned_on") if result == "returned" else None,
        "not_returned_reason": text("not_returned_reason") if result == "not_returned" else None,
        "not_returned_reason_text": text("not_returned_reason_text") if result == "not_returned" else None,
    }


@router.post("/requests/{request_id}", response_class=HTMLResponse)
async def request_action(request: Request, user: CurrentUser, request_id: str) -> Response:
    form = await request.form()
    correcting = form.get("mode") == "correct"
    action = str(form.get("action") or "")
    if action not in domain.USER_ACTIONS:
        return await request_page(
            request,
            user,
            request_id,
            correcting=correcting,
            status_code=400,
            error="操作を選択してください。",
        )
    try:
        version = int(str(form.get("version") or ""))
    except ValueError:
        return await request_page(
            request, user, request_id, correcting=correcting, status_code=400, error=domain.STALE_MESSAGE
        )
    request_type = str(form.get("request_type") or "vehicle_return")
    wants_payload = form.get("has_payload") and action != "withdraw"
    payload = payload_from_form(form, request_type) if wants_payload else None
    correcting = correcting or bool(wants_payload)  # a refused correction comes back in 訂正 mode
    dealer_note = str(form["dealer_note"]) if "dealer_note" in form else None
    entered = {**(payload or {}), **({"dealer_note": dealer_note} if dealer_note is not None else {})}
    try:
        result = await approvals_of(request).act(
            user,
            request_id,
            action,
            version=version,
            note=str(form.get("note") or ""),
            payload=payload,
            dealer_note=dealer_note,
        )
    except Refusal as e:
        if e.kind == "not_found":
            raise
        # Field errors come back beside what was typed; any other refusal over the stored request.
        field_errors, _ = e.by_field()
        return await request_page(
            request,
            user,
            request_id,
            correcting=correcting,
            status_code=http_status(e),
            error=None if e.field else e.message,
            field_errors=field_errors,
            entered=entered if field_errors else None,
            note=str(form.get("note") or "") if field_errors else "",
        )
    done = DONE_FLASH[action]
    if action == "send_back" and result.recipient_unreachable:
        done = "request_sent_back_no_email"
    return set_flash(RedirectResponse(f"/requests/{request_id}", status_code=303), done)


# --------------------------------------------------------------------------------------------
# 承認フロー設定（本部用）

FORBIDDEN_FLOW = "承認フロー設定は本部の方のみ利用できます。"


@router.get("/approval-flow", response_class=HTMLResponse)
async def approval_flow(request: Request, user: CurrentUser) -> Response:
    if user.role != "hq":
        raise Refusal("forbidden", "forbidden", FORBIDDEN_FLOW)
    flow = await approvals_of(request).get_flow(user.dealer_code)
    return render(
        request,
        "approval_flow.html",
        {"user": user, "flow": flow, "emails_text": "\n".join(flow.hq_approver_emails)},
    )


@router.post("/approval-flow", response_class=HTMLResponse)
async def save_approval_flow(request: Request, user: CurrentUser) -> Response:
    if user.role != "hq":
        raise Refusal("forbidden", "forbidden", FORBIDDEN_FLOW)
    form = await request.form()
    emails_text = str(form.get("hq_approver_emails") or "")
    emails = [e.strip() for e in emails_text.replace(",", "\n").splitlines() if e.strip()]
    bad = []
    for e in emails:
        try:
            _email.validate_python(e)
        except ValidationError:
            bad.append(e)
    view = FlowView(form.get("store_approval") == "on", form.get("hq_approval") == "on", emails)
    error = None
    if bad:
        error = (
            f"メールアドレスの形式が正しくありません：{'、'.join(bad[:5])}{' ほか' if len(bad) > 5 else ''}"
        )
    elif len(dict.fromkeys(emails)) > domain.MAX_HQ_APPROVERS:
        error = f"本部承認者のメールアドレスは{domain.MAX_HQ_APPROVERS}件まで登録できます。"
    if error:
        context = {"user": user, "flow": view, "emails_text": emails_text, "email_error": error}
        return render(request, "approval_flow.html", context, 422)
    await approvals_of(request).put_flow(user, view)
    return set_flash(RedirectResponse("/approval-flow", status_code=303), "approval_flow_saved")
