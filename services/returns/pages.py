"""Pages of 車両返却 結果入力: menu → 起票 form → 確認 → OK → 送信が完了しました, and 入力内容印刷."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.returns import queries, use_cases
from services.returns.domain import (
    EXTRA_TFC_PROCEDURE_NOTICE,
    NOTIFY_LABEL,
    RESULT_LABELS,
    SELECTION_LABELS,
    ReturnForm,
    check_eligibility,
    needs_extra_tfc_procedure,
    status_colour,
    today_in_tokyo,
    validate_form,
)
from services.returns.printing import input_sections
from services.returns.queries import ContractView
from services.returns.views import pdf_response
from shared.identity import CurrentUser, User
from shared.refusal import Refusal
from shared.requests import NOT_RETURNED_REASONS
from shared.web import http_status, make_templates

router = APIRouter(include_in_schema=False)
templates = make_templates(Path(__file__).parent / "templates")
templates.env.globals.update(
    RESULT_LABELS=RESULT_LABELS,
    NOT_RETURNED_REASONS=NOT_RETURNED_REASONS,
    NOTIFY_LABEL=NOTIFY_LABEL,
    EXTRA_TFC_PROCEDURE_NOTICE=EXTRA_TFC_PROCEDURE_NOTICE,
    SELECTION_LABELS=SELECTION_LABELS,
)
templates.env.filters["status_colour"] = status_colour
# Statuses after which the submitter should tell the approver (manual 5. ⑥).
APPROVAL_PENDING = frozenset({"store_pending", "hq_pending"})
FORM_FIELDS = (
    "contact1",
    "contact2",
    "contact3_email",
    "result",
    "returned_on",
    "not_returned_reason",
    "not_returned_reason_text",
)


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


async def _contract(request: Request, user: User, contract_no: str) -> ContractView:
    async with request.app.state.runtime.sessionmaker() as session:
        return await queries.contract_in_scope(session, user, contract_no)


def _form_from(data: Any) -> tuple[ReturnForm, dict[str, Any]]:
    values: dict[str, Any] = {name: (data.get(name) or "").strip() for name in FORM_FIELDS}
    values["result"] = values["result"] or "returned"
    values["notify_on_completion"] = data.get("notify_on_completion") in ("on", "1", "true")
    return ReturnForm(**values), values


def _form_context(
    request: Request,
    user: User,
    view: ContractView,
    values: dict[str, Any],
    key: str,
    refusal: Refusal | None,
) -> dict[str, Any]:
    errors, top_errors = refusal.by_field() if refusal else ({}, [])
    return {
        "user": user,
        "c": view.summary(),
        "values": values,
        "idempotency_key": key,
        "today": today_in_tokyo(request.app.state.clock()).isoformat(),
        "errors": errors,
        "top_errors": top_errors,
        "mail_from": request.app.state.settings.mail_from,  # the manual's 送信元メールアドレス notice
    }


@router.get("/returns/contracts/{contract_no}", response_class=HTMLResponse)
async def menu(request: Request, user: CurrentUser, contract_no: str) -> Response:
    """メニュー画面: 車両返却 結果入力 / 進捗一覧."""
    view = await _contract(request, user, contract_no)
    refusal = check_eligibility(view.facts, user)
    return _render(request, "menu.html", {"user": user, "c": view.summary(), "refusal": refusal})


@router.get("/returns/contracts/{contract_no}/new", response_class=HTMLResponse)
async def new_form(request: Request, user: CurrentUser, contract_no: str) -> Response:
    """起票画面 (empty, with the user's last contacts filled in)."""
    view = await _contract(request, user, contract_no)
    if refusal := check_eligibility(view.facts, user):
        return _render(request, "refused.html", {"user": user, "c": view.summary(), "refusal": refusal})
    async with request.app.state.runtime.sessionmaker() as session:
        contacts = await queries.last_contacts(session, user)
    values = {
        **dict.fromkeys(FORM_FIELDS, ""),
        **contacts,
        "result": "returned",
        "notify_on_completion": True,
    }
    context = _form_context(request, user, view, values, str(uuid.uuid4()), None)
    return _render(request, "form.html", context)


@router.post("/returns/contracts/{contract_no}/new", response_class=HTMLResponse)
async def back_to_form(request: Request, user: CurrentUser, contract_no: str) -> Response:
    """From the confirmation back to the form, keeping what was typed."""
    view = await _contract(request, user, contract_no)
    data = await request.form()
    _, values = _form_from(data)
    key = str(data.get("idempotency_key") or uuid.uuid4())
    return _render(request, "form.html", _form_context(request, user, view, values, key, None))


@router.post("/returns/contracts/{contract_no}/confirm", response_class=HTMLResponse)
async def confirm(request: Request, user: CurrentUser, contract_no: str) -> Response:
    """確認: check everything; the confirmation page, or the form with the messages."""
    view = await _contract(request, user, contract_no)
    data = await request.form()
    form, values = _form_from(data)
    key = str(data.get("idempotency_key") or uuid.uuid4())
    payload, errors = validate_form(
        form, submitter_role=user.role, today=today_in_tokyo(request.app.state.clock())
    )
    refusal = check_eligibility(view.facts, user) or (Refusal.invalid(errors) if errors else None)
    if refusal is not None or payload is None:
        context = _form_context(request, user, view, values, key, refusal)
        return _render(request, "form.html", context, http_status(refusal) if refusal else 422)
    preview = _Preview(view, user, payload.model_dump(mode="json"))
    return _render(
        request,
        "confirm.html",
        {
            "user": user,
            "c": view.summary(),
            "values": values,
            "idempotency_key": key,
            "sections": input_sections(preview),
            "extra_procedure": needs_extra_tfc_procedure(
                view.contract.program, view.contract.receivable_purchased
            ),
        },
    )


class _Preview:
    """What `input_sections` reads, before anything is saved."""

    def __init__(self, view: ContractView, user: User, payload: dict[str, Any]) -> None:
        self.payload, self.contract = payload, view.summary()
        self.submitter = {"name": user.name}


@router.post("/returns/contracts/{contract_no}", response_class=HTMLResponse)
async def submit(request: Request, user: CurrentUser, contract_no: str) -> Response:
    """OK: submit (the hidden key makes a double click one request) → 送信が完了しました."""
    data = await request.form()
    form, values = _form_from(data)
    key = str(data.get("idempotency_key") or "") or None
    try:
        request_id, _ = await use_cases.submit_return(
            request.app.state.runtime,
            user,
            contract_no,
            form,
            now=request.app.state.clock(),
            idempotency_key=key,
        )
    except Refusal as e:
        if e.kind == "not_found":
            raise
        view = await _contract(request, user, contract_no)
        context = _form_context(request, user, view, values, key or str(uuid.uuid4()), e)
        return _render(request, "form.html", context, http_status(e))
    return RedirectResponse(f"/returns/{request_id}/done", status_code=303)


async def _submitted(request: Request, user: User, request_id: str, *, sent: bool) -> Response:
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session:
        s = await queries.get_submission(session, user, request_id)
    wait_s = request.app.state.settings.status_wait_s if sent else 0.0
    status = await queries.wait_for_status(runtime, request_id, wait_s)
    return _render(
        request,
        "submitted.html",
        {
            "user": user,
            "s": s,
            "c": s.contract,
            "sent": sent,
            "status": status,
            "approval_pending": status is not None and status.status in APPROVAL_PENDING,
            "sections": input_sections(s),
        },
    )


@router.get("/returns/{request_id}/done", response_class=HTMLResponse)
async def done(request: Request, user: CurrentUser, request_id: str) -> Response:
    """送信が完了しました: the status approvals gave it (or 受付処理中), notices, 入力内容印刷."""
    return await _submitted(request, user, request_id, sent=True)


@router.get("/returns/{request_id}", response_class=HTMLResponse)
async def submitted_input(request: Request, user: CurrentUser, request_id: str) -> Response:
    """The submitted input (for reference and printing)."""
    return await _submitted(request, user, request_id, sent=False)


@router.get("/returns/{request_id}/print.pdf", response_class=Response)
async def print_pdf(request: Request, user: CurrentUser, request_id: str) -> Response:
    async with request.app.state.runtime.sessionmaker() as session:
        s = await queries.get_submission(session, user, request_id)
        status = await queries.request_status(session, request_id)
    return pdf_response(s, status.reception_no if status else None)
