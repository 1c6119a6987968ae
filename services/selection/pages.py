"""Server-rendered pages under /selection/...: the same use cases as the API, Japanese forms.

A refused entry re-renders the form with the message next to its field and changes nothing; a
successful write redirects to the customer detail (search) with the consistency token.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.selection import domain, labels, queries, views
from services.selection.deps import HandlersDep, Today
from shared.identity import CurrentUser, User
from shared.refusal import Refusal
from shared.web import http_status, make_templates, set_flash

router = APIRouter(prefix="/selection", include_in_schema=False)
templates = make_templates(Path(__file__).parent / "templates")
templates.env.globals.update(
    CATEGORY_LABELS=labels.CATEGORY_LABELS,
    REPLACEMENT_MODELS=labels.REPLACEMENT_MODELS,
    REPLACEMENT_OTHER=labels.REPLACEMENT_OTHER,
    REPLACEMENT_NO_HINT=labels.REPLACEMENT_NO_HINT,
    SELECTION_NOTES=labels.SELECTION_NOTES,
    VEHICLE_RETURN_NOTE=labels.VEHICLE_RETURN_NOTE,
    VEHICLE_RETURN_NOTE_EXTRA=labels.VEHICLE_RETURN_NOTE_EXTRA,
    MEMO_PURPOSE=labels.MEMO_PURPOSE,
    yen=labels.yen,
)
OTHER_MODEL = "__other__"


def detail_url(contract_no: str, token: str) -> str:
    return f"/contracts/{quote(contract_no)}?after={quote(token)}"


async def _contract_context(request: Request, user: User, contract_no: str, today: date) -> dict[str, Any]:
    async with request.app.state.runtime.sessionmaker() as session:
        contract = await queries.get_contract(session, user, contract_no)
        row = await queries.get_selection(session, contract_no)
        lock = await queries.category_lock(session, contract_no)
        freed = await queries.category_freed(session, contract_no)
    return {
        "user": user,
        "today": today.isoformat(),
        "c": views.contract_summary(contract, today, lock, freed=freed),
        "selection": views.selection_view(row),
    }


def _parse_date(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as e:
        raise Refusal(
            "invalid", "invalid_date", labels.MSG_INVALID_DATE, field="confirmation_received_on"
        ) from e


# ---------------------------------------------------------------------------------------------
# 進捗・結果入力


@router.get("/contracts/{contract_no}/input", response_class=HTMLResponse)
async def input_form(request: Request, user: CurrentUser, today: Today, contract_no: str) -> Response:
    ctx = await _contract_context(request, user, contract_no, today)
    current = ctx["selection"]
    form = {
        "category": current.category if current else "",
        "replacement": current.replacement if current else "",
        "replacement_model": "",
        "replacement_model_other": "",
        "confirmation_received_on": current.confirmation_received_on if current else "",
    }
    model = current.replacement_model if current else None
    if model:
        if model in labels.ALL_REPLACEMENT_MODELS:
            form["replacement_model"] = model
        else:
            form["replacement_model"], form["replacement_model_other"] = OTHER_MODEL, model
    return templates.TemplateResponse(request, "input.html", {**ctx, "form": form, "error": None})


@router.post("/contracts/{contract_no}/input", response_class=HTMLResponse)
async def input_submit(
    request: Request, user: CurrentUser, today: Today, commands: HandlersDep, contract_no: str
) -> Response:
    raw = await request.form()
    form = {
        k: str(raw.get(k, ""))
        for k in (
            "category",
            "replacement",
            "replacement_model",
            "replacement_model_other",
            "confirmation_received_on",
        )
    }
    model: str | None = None
    if form["replacement"] == "yes":
        model = (
            form["replacement_model_other"]
            if form["replacement_model"] == OTHER_MODEL
            else form["replacement_model"]
        )
    try:
        entry = domain.SelectionInput(
            form["category"] or None,
            form["replacement"] or None,
            model,
            _parse_date(form["confirmation_received_on"]),
        )
        result = await commands.record_selection(user, contract_no, entry, today)
    except Refusal as e:
        if e.kind == "not_found":
            raise
        ctx = await _contract_context(request, user, contract_no, today)
        return templates.TemplateResponse(
            request, "input.html", {**ctx, "form": form, "error": e}, status_code=http_status(e)
        )
    if form["category"] == "early_payoff":  # 早期完済確認 says what was recorded itself: no second message
        return RedirectResponse(
            f"/selection/contracts/{quote(contract_no)}/early-payoff?after={quote(result.token)}",
            status_code=303,
        )
    # 車両返却: the detail page repeats the manual's note to enter the result once the vehicle is back
    saved = "selection_saved_vehicle_return" if form["category"] == "vehicle_return" else "selection_saved"
    return set_flash(RedirectResponse(detail_url(contract_no, result.token), status_code=303), saved)


@router.get("/contracts/{contract_no}/early-payoff", response_class=HTMLResponse)
async def early_payoff(
    request: Request, user: CurrentUser, today: Today, contract_no: str, after: str = ""
) -> Response:
    """早期完済確認画面: go on to the early-payoff acceptance now, or back to the list for later. Only for a
    contract whose recorded category is 早期完済; any other gets what is recorded and where to change it."""
    ctx = await _contract_context(request, user, contract_no, today)
    token = after or f"{contract_no}@{ctx['c'].seq}"
    refusal: Refusal | None = None
    try:
        domain.check_early_payoff_recorded(ctx["selection"].category if ctx["selection"] else None)
    except Refusal as e:
        refusal = e
    return templates.TemplateResponse(
        request,
        "early_payoff.html",
        {**ctx, "token": token, "refusal": refusal},
        status_code=http_status(refusal) if refusal else 200,
    )


# ---------------------------------------------------------------------------------------------
# 自由記入欄


async def _memo_page(
    request: Request,
    user: User,
    today: date,
    contract_no: str,
    draft: str | None,
    error: Refusal | None,
) -> Response:
    async with request.app.state.runtime.sessionmaker() as session:
        contract = await queries.get_contract(session, user, contract_no)
        history = await queries.memo_history(session, contract_no)
    memo = views.memo_view(contract, history)
    return templates.TemplateResponse(
        request,
        "memo.html",
        {
            "user": user,
            "c": views.contract_summary(contract, today),
            "memo": memo,
            "draft": memo.text if draft is None else draft,
            "error": error,
        },
        status_code=http_status(error) if error else 200,
    )


@router.get("/contracts/{contract_no}/memo", response_class=HTMLResponse)
async def memo_form(request: Request, user: CurrentUser, today: Today, contract_no: str) -> Response:
    return await _memo_page(request, user, today, contract_no, None, None)


@router.post("/contracts/{contract_no}/memo", response_class=HTMLResponse)
async def memo_submit(
    request: Request, user: CurrentUser, today: Today, commands: HandlersDep, contract_no: str
) -> Response:
    text = str((await request.form()).get("text", ""))
    try:
        result = await commands.update_memo(user, contract_no, text)
    except Refusal as e:
        if e.kind == "not_found":
            raise
        return await _memo_page(request, user, today, contract_no, text, e)
    return set_flash(RedirectResponse(detail_url(contract_no, result.token), status_code=303), "memo_saved")


# ---------------------------------------------------------------------------------------------
# 再分割シミュレーション


def _default_rate_percent(rate: float) -> str:
    return f"{Decimal(str(rate)) * 100:.3f}".rstrip("0").rstrip(".")


@router.get("/contracts/{contract_no}/refinance", response_class=HTMLResponse)
async def refinance_form(request: Request, user: CurrentUser, today: Today, contract_no: str) -> Response:
    ctx = await _contract_context(request, user, contract_no, today)
    form = {"months": "60", "rate_percent": _default_rate_percent(ctx["c"].annual_rate)}
    return templates.TemplateResponse(
        request, "refinance.html", {**ctx, "form": form, "plan": None, "error": None}
    )


@router.post("/contracts/{contract_no}/refinance", response_class=HTMLResponse)
async def refinance_submit(request: Request, user: CurrentUser, today: Today, contract_no: str) -> Response:
    raw = await request.form()
    form = {
        "months": str(raw.get("months", "")).strip(),
        "rate_percent": str(raw.get("rate_percent", "")).strip(),
    }
    ctx = await _contract_context(request, user, contract_no, today)
    plan, error = None, None
    try:
        try:
            months = int(form["months"])
        except ValueError as e:
            raise Refusal("invalid", "invalid_number", labels.MSG_INVALID_NUMBER, field="months") from e
        try:
            rate = Decimal(form["rate_percent"]) / 100 if form["rate_percent"] else None
        except ArithmeticError as e:  # not a number (InvalidOperation), or beyond Decimal's exponents
            raise Refusal("invalid", "invalid_number", labels.MSG_INVALID_NUMBER, field="annual_rate") from e
        if rate is not None and not rate.is_finite():
            raise Refusal("invalid", "invalid_number", labels.MSG_INVALID_NUMBER, field="annual_rate")
        async with request.app.state.runtime.sessionmaker() as session:
            _, result = await queries.refinance_plan(session, user, contract_no, months, rate, today)
        plan = views.plan_view(contract_no, result)
    except Refusal as e:
        if e.kind == "not_found":
            raise
        error = e
    return templates.TemplateResponse(
        request,
        "refinance.html",
        {**ctx, "form": form, "plan": plan, "error": error},
        status_code=http_status(error) if error else 200,
    )


# ---------------------------------------------------------------------------------------------
# 店舗・スタッフ変更


async def _assignment_page(
    request: Request,
    user: User,
    today: date,
    contract_no: str,
    form: dict[str, str] | None,
    error: Refusal | None,
) -> Response:
    directory = request.app.state.handlers.staff_directory
    async with request.app.state.runtime.sessionmaker() as session:
        contract = await queries.get_contract(session, user, contract_no)
        stores = await queries.dealer_stores(session, contract.dealer_code)
        staff = await queries.dealer_staff(session, contract.dealer_code, directory)
    allowed = user.role == "hq" or (user.role == "store_manager" and user.store_code == contract.store_code)
    form = form or {"store_code": contract.store_code, "staff_code": contract.staff_code}
    return templates.TemplateResponse(
        request,
        "assignment.html",
        {
            "user": user,
            "c": views.contract_summary(contract, today),
            "stores": stores,
            "staff": staff,
            "form": form,
            "allowed": allowed,
            "forbidden_message": labels.MSG_ASSIGNMENT_FORBIDDEN,
            "error": error,
        },
        status_code=http_status(error) if error else (200 if allowed else 403),
    )


@router.get("/contracts/{contract_no}/assignment", response_class=HTMLResponse)
async def assignment_form(request: Request, user: CurrentUser, today: Today, contract_no: str) -> Response:
    return await _assignment_page(request, user, today, contract_no, None, None)


@router.post("/contracts/{contract_no}/assignment", response_class=HTMLResponse)
async def assignment_submit(
    request: Request, user: CurrentUser, today: Today, commands: HandlersDep, contract_no: str
) -> Response:
    raw = await request.form()
    form = {"store_code": str(raw.get("store_code", "")), "staff_code": str(raw.get("staff_code", ""))}
    async with request.app.state.runtime.sessionmaker() as session:
        from_store = (await queries.get_contract(session, user, contract_no)).store_name
    try:
        result = await commands.change_assignment(user, contract_no, form["store_code"], form["staff_code"])
    except Refusal as e:
        if e.kind == "not_found":
            raise
        return await _assignment_page(request, user, today, contract_no, form, e)
    moved = {
        "from_store": from_store,
        "to_store": result.data["store_name"],
        "staff": result.data["staff_code"],
    }
    if not user.sees_store(user.dealer_code, result.data["store_code"]):
        # a store manager moved the contract to another store: it left their scope, back to their list
        response = RedirectResponse(f"/contracts?after={quote(result.token)}", status_code=303)
        return set_flash(response, "assignment_moved_away", contract_no=contract_no, **moved)
    response = RedirectResponse(detail_url(contract_no, result.token), status_code=303)
    return set_flash(response, "assignment_changed", **moved)
