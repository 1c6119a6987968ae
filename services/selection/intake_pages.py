"""Pages of 再分割審査申込 and 早期完済受付 (SPEC §9.2): form → 確認 → OK → 送信が完了しました, 入力内容印刷.

再分割シミュレーション → 審査申込へ (the simulated months and rate come along and are simulated again here);
早期完済確認 → 早期完済受付へ. A refused entry re-renders the form with the messages next to their fields.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.selection import labels, queries, views
from services.selection import request_forms as forms
from services.selection.db import ContractRequest
from services.selection.deps import Today
from services.selection.intake import IntakeDep, contract_facts
from services.selection.request_print import render_pdf, sections
from shared.identity import CurrentUser, User
from shared.refusal import Refusal
from shared.requests import PAYMENT_METHOD_LABELS, REQUEST_TYPE_LABELS
from shared.rules import REQUEST_STATUS_LABELS
from shared.web import http_status, make_templates

router = APIRouter(prefix="/selection", include_in_schema=False)
templates = make_templates(Path(__file__).parent / "templates")
templates.env.globals.update(
    REQUEST_TYPE_LABELS=REQUEST_TYPE_LABELS,
    PAYMENT_METHOD_LABELS=PAYMENT_METHOD_LABELS,
    NOTIFY_LABEL=forms.NOTIFY_LABEL,
    STATUS_LABELS=REQUEST_STATUS_LABELS,
    yen=labels.yen,
)
CONTACT_FIELDS = ("contact1", "contact2", "contact3_email")
FIELDS = {
    forms.REFINANCE_APPLICATION: (*CONTACT_FIELDS, "consent_obtained_on", "months", "rate_percent"),
    forms.EARLY_PAYOFF: (*CONTACT_FIELDS, "desired_payoff_date", "payment_method"),
}
PATHS = {
    forms.REFINANCE_APPLICATION: "refinance/application",
    forms.EARLY_PAYOFF: "early-payoff/acceptance",
}
APPROVAL_PENDING = frozenset({"store_pending", "hq_pending"})


def _values(data: Any, request_type: str) -> dict[str, Any]:
    values: dict[str, Any] = {name: str(data.get(name) or "").strip() for name in FIELDS[request_type]}
    values["notify_on_completion"] = data.get("notify_on_completion") in ("on", "1", "true")
    return values


def _contacts(values: dict[str, Any]) -> forms.Contacts:
    return forms.Contacts(
        values["contact1"], values["contact2"], values["contact3_email"], values["notify_on_completion"]
    )


def _months_and_rate(values: dict[str, Any]) -> tuple[int | None, Decimal | None]:
    """The simulation's terms as the form carries them (rate in percent, blank = the contract's)."""
    try:
        months = int(values["months"]) if values["months"] else None
    except ValueError as e:
        raise Refusal("invalid", "invalid_number", labels.MSG_INVALID_NUMBER, field="months") from e
    try:
        rate = Decimal(values["rate_percent"]) / 100 if values["rate_percent"] else None
    except InvalidOperation as e:
        raise Refusal("invalid", "invalid_number", labels.MSG_INVALID_NUMBER, field="annual_rate") from e
    if rate is not None and not rate.is_finite():
        raise Refusal("invalid", "invalid_number", labels.MSG_INVALID_NUMBER, field="annual_rate")
    return months, rate


async def _form_page(
    request: Request,
    user: User,
    today: Any,
    contract_no: str,
    request_type: str,
    values: dict[str, Any],
    key: str,
    refusal: Refusal | None = None,
) -> Response:
    intake = request.app.state.intake
    contract, blocked = await intake.start(user, contract_no, request_type, today)
    summary = views.contract_summary(contract, today)
    if blocked is not None:
        context = {"user": user, "c": summary, "type": request_type, "refusal": blocked}
        return templates.TemplateResponse(
            request, "request_refused.html", context, status_code=http_status(blocked)
        )
    plan, plan_error = None, None
    if request_type == forms.REFINANCE_APPLICATION:
        try:
            months, rate = _months_and_rate(values)
            async with request.app.state.runtime.sessionmaker() as session:
                _, simulated = await queries.refinance_plan(session, user, contract_no, months, rate, today)
            plan = views.plan_view(contract_no, simulated)
        except Refusal as e:
            plan_error = e
    shown = refusal or plan_error
    field_errors, top_errors = shown.by_field() if shown else ({}, [])
    return templates.TemplateResponse(
        request,
        "request_form.html",
        {
            "user": user,
            "c": summary,
            "type": request_type,
            "action": f"/selection/contracts/{quote(contract_no)}/{PATHS[request_type]}",
            "values": values,
            "plan": plan,
            "idempotency_key": key,
            "today": today.isoformat(),
            "errors": field_errors,
            "top_errors": top_errors,
        },
        status_code=http_status(shown) if shown else 200,
    )


async def _new(request: Request, user: User, today: Any, contract_no: str, request_type: str) -> Response:
    contacts = await request.app.state.intake.last_contacts(user)
    values = {**dict.fromkeys(FIELDS[request_type], ""), **contacts, "notify_on_completion": True}
    if request_type == forms.REFINANCE_APPLICATION:
        values["months"] = request.query_params.get("months", "")
        values["rate_percent"] = request.query_params.get("rate_percent", "")
    return await _form_page(request, user, today, contract_no, request_type, values, str(uuid.uuid4()))


def _form(values: dict[str, Any], request_type: str) -> Any:
    if request_type == forms.REFINANCE_APPLICATION:
        return forms.RefinanceApplicationForm(_contacts(values), values["consent_obtained_on"])
    return forms.EarlyPayoffForm(_contacts(values), values["desired_payoff_date"], values["payment_method"])


async def _confirm(request: Request, user: User, today: Any, contract_no: str, request_type: str) -> Response:
    """確認: every rule checked on the server; the confirmation page, or the form with the messages."""
    data = await request.form()
    values = _values(data, request_type)
    key = str(data.get("idempotency_key") or uuid.uuid4())
    intake = request.app.state.intake
    try:
        contract, blocked = await intake.start(user, contract_no, request_type, today)
        if blocked is not None:
            raise blocked
        if request_type == forms.REFINANCE_APPLICATION:
            months, rate = _months_and_rate(values)
            async with request.app.state.runtime.sessionmaker() as session:
                _, plan = await queries.refinance_plan(session, user, contract_no, months, rate, today)
            payload = forms.validate_refinance_application(
                _form(values, request_type), plan, role=user.role, today=today
            )
        else:
            payload = forms.validate_early_payoff(
                _form(values, request_type), contract.final_payment_date, role=user.role, today=today
            )
    except Refusal as e:
        if e.kind == "not_found":
            raise
        return await _form_page(request, user, today, contract_no, request_type, values, key, e)
    preview = sections(request_type, payload, contract_facts(contract), {"name": user.name})
    return templates.TemplateResponse(
        request,
        "request_confirm.html",
        {
            "user": user,
            "c": views.contract_summary(contract, today),
            "type": request_type,
            "action": f"/selection/contracts/{quote(contract_no)}/{PATHS[request_type]}",
            "values": values,
            "idempotency_key": key,
            "sections": preview,
        },
    )


async def _back(request: Request, user: User, today: Any, contract_no: str, request_type: str) -> Response:
    """戻る: the form again with what was typed."""
    data = await request.form()
    key = str(data.get("idempotency_key") or uuid.uuid4())
    return await _form_page(request, user, today, contract_no, request_type, _values(data, request_type), key)


async def _submit(
    request: Request, user: User, today: Any, intake: Any, contract_no: str, request_type: str
) -> Response:
    """OK: submit (the hidden key makes a double click one request) → 送信が完了しました."""
    data = await request.form()
    values = _values(data, request_type)
    key = str(data.get("idempotency_key") or "") or None
    now = request.app.state.now()
    try:
        if request_type == forms.REFINANCE_APPLICATION:
            months, rate = _months_and_rate(values)
            request_id, _ = await intake.refinance_application(
                user,
                contract_no,
                months,
                rate,
                _form(values, request_type),
                today=today,
                now=now,
                idempotency_key=key,
            )
        else:
            request_id, _ = await intake.early_payoff(
                user, contract_no, _form(values, request_type), today=today, now=now, idempotency_key=key
            )
    except Refusal as e:
        if e.kind == "not_found":
            raise
        return await _form_page(
            request, user, today, contract_no, request_type, values, key or str(uuid.uuid4()), e
        )
    return RedirectResponse(f"/selection/requests/{quote(request_id)}/done", status_code=303)


# ---------------------------------------------------------------------------------------------
# 再分割審査申込


@router.get("/contracts/{contract_no}/refinance/application", response_class=HTMLResponse)
async def refinance_application_form(
    request: Request, user: CurrentUser, today: Today, contract_no: str
) -> Response:
    return await _new(request, user, today, contract_no, forms.REFINANCE_APPLICATION)


@router.post("/contracts/{contract_no}/refinance/application/confirm", response_class=HTMLResponse)
async def refinance_application_confirm(
    request: Request, user: CurrentUser, today: Today, contract_no: str
) -> Response:
    return await _confirm(request, user, today, contract_no, forms.REFINANCE_APPLICATION)


@router.post("/contracts/{contract_no}/refinance/application/back", response_class=HTMLResponse)
async def refinance_application_back(
    request: Request, user: CurrentUser, today: Today, contract_no: str
) -> Response:
    return await _back(request, user, today, contract_no, forms.REFINANCE_APPLICATION)


@router.post("/contracts/{contract_no}/refinance/application", response_class=HTMLResponse)
async def refinance_application_submit(
    request: Request, user: CurrentUser, today: Today, intake: IntakeDep, contract_no: str
) -> Response:
    return await _submit(request, user, today, intake, contract_no, forms.REFINANCE_APPLICATION)


# ---------------------------------------------------------------------------------------------
# 早期完済受付


@router.get("/contracts/{contract_no}/early-payoff/acceptance", response_class=HTMLResponse)
async def early_payoff_form(request: Request, user: CurrentUser, today: Today, contract_no: str) -> Response:
    return await _new(request, user, today, contract_no, forms.EARLY_PAYOFF)


@router.post("/contracts/{contract_no}/early-payoff/acceptance/confirm", response_class=HTMLResponse)
async def early_payoff_confirm(
    request: Request, user: CurrentUser, today: Today, contract_no: str
) -> Response:
    return await _confirm(request, user, today, contract_no, forms.EARLY_PAYOFF)


@router.post("/contracts/{contract_no}/early-payoff/acceptance/back", response_class=HTMLResponse)
async def early_payoff_back(request: Request, user: CurrentUser, today: Today, contract_no: str) -> Response:
    return await _back(request, user, today, contract_no, forms.EARLY_PAYOFF)


@router.post("/contracts/{contract_no}/early-payoff/acceptance", response_class=HTMLResponse)
async def early_payoff_submit(
    request: Request, user: CurrentUser, today: Today, intake: IntakeDep, contract_no: str
) -> Response:
    return await _submit(request, user, today, intake, contract_no, forms.EARLY_PAYOFF)


# ---------------------------------------------------------------------------------------------
# 送信が完了しました, the submitted input, 入力内容印刷


def _elsewhere(known: ContractRequest, pdf: bool = False) -> Response:
    """A request another intake took in (車両返却): its own page there, or the request in 進捗一覧."""
    if known.type == "vehicle_return":
        target = f"/returns/{quote(known.request_id)}" + ("/print.pdf" if pdf else "")
    else:
        target = f"/requests/{quote(known.request_id)}"
    return RedirectResponse(target, status_code=303)


async def _submitted(request: Request, user: User, intake: Any, request_id: str, *, sent: bool) -> Response:
    s = await intake.submission(user, request_id)
    if isinstance(s, ContractRequest):
        return _elsewhere(s)
    wait_s = request.app.state.request_status_wait_s if sent else 0.0
    status = await intake.status(request_id, wait_s)
    return templates.TemplateResponse(
        request,
        "request_done.html",
        {
            "user": user,
            "s": s,
            "c": s.contract,
            "sent": sent,
            "status": status,
            "status_label": REQUEST_STATUS_LABELS.get(status.status, status.status) if status else None,
            "approval_pending": status is not None and status.status in APPROVAL_PENDING,
            "sections": sections(s.type, s.payload, s.contract, s.submitter),
        },
    )


@router.get("/requests/{request_id}/done", response_class=HTMLResponse)
async def request_done(request: Request, user: CurrentUser, intake: IntakeDep, request_id: str) -> Response:
    return await _submitted(request, user, intake, request_id, sent=True)


@router.get("/requests/{request_id}", response_class=HTMLResponse)
async def request_input(request: Request, user: CurrentUser, intake: IntakeDep, request_id: str) -> Response:
    return await _submitted(request, user, intake, request_id, sent=False)


@router.get("/requests/{request_id}/print.pdf", response_class=Response)
async def request_pdf(user: CurrentUser, intake: IntakeDep, request_id: str) -> Response:
    """入力内容印刷 (pages and API clients alike: the same token)."""
    s = await intake.submission(user, request_id)
    if isinstance(s, ContractRequest):
        return _elsewhere(s, pdf=True)
    status = await intake.status(request_id)
    pdf = render_pdf(
        s.type, s.payload, s.contract, s.submitter, s.submitted_at, status.reception_no if status else None
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{s.type}-{s.contract_no}.pdf"',
            "Cache-Control": "no-store",
        },
    )
