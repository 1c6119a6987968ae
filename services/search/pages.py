"""Server-rendered pages: J-PASS トップ, 最終回対象顧客一覧 (three searches), 顧客詳細."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.search import dashboard, queries, rules, saved, views
from services.search.deps import Today, read_your_writes
from shared.events import PROGRAM_LABELS
from shared.identity import CurrentUser
from shared.refusal import Refusal
from shared.web import http_status, make_templates, set_flash

router = APIRouter(include_in_schema=False)
templates = make_templates(Path(__file__).parent / "templates")


@router.get("/", response_class=HTMLResponse)
async def top(request: Request, user: CurrentUser) -> Response:
    return templates.TemplateResponse(request, "top.html", {"user": user})


@router.get("/contracts", response_class=HTMLResponse)
async def contract_list(request: Request, user: CurrentUser, today: Today) -> Response:
    form = {k: request.query_params.get(k, "") for k in saved.SEARCH_PARAMS}
    form["mode"] = form["mode"] or "general"
    validation = rules.validate_search(form, hide_done_by_default=True)
    hiding = validation.criteria is not None and validation.criteria.hide_done
    context = {
        "user": user,
        "form": form,
        "errors": validation.by_field(),
        "rows": [],
        "total": None,
        "max_rows": queries.MAX_ROWS,
        "too_many_message": views.too_many_message(),
        "legend": rules.COLOUR_LEGEND,
        "mark_legend": rules.REPLACEMENT_MARK_LEGEND,
        "hiding_done": hiding,
        "done_query": lambda done: urlencode(
            {**{k: v for k, v in form.items() if v and k != "done"}, "done": done}
        ),
        "caveat": rules.INSPECTION_CAVEAT,
        "programs": PROGRAM_LABELS,
        "handling_statuses": rules.HANDLING_STATUS_LABELS,
        "inspection_labels": rules.INSPECTION_LABELS,
        "inspection_max": rules.INSPECTION_MAX_MONTHS,
        "mode_labels": rules.MODE_LABELS,
        "can_export": user.role in ("hq", "store_manager"),
        "save_error": saved.message_for(request.query_params.get("save_error", "")),
        "save_name": request.query_params.get("save_name", ""),
        "query": {k: v for k, v in form.items() if v and k != "sort"},
        "sort_query": lambda sort: urlencode(
            {**{k: v for k, v in form.items() if v and k != "sort"}, "sort": sort}
        ),
    }
    if validation.criteria is not None:
        await read_your_writes(request, user, request.query_params.get("after"))
    async with request.app.state.runtime.sessionmaker() as session:
        context["models"] = await queries.model_names(session, user)
        context["saved_searches"] = await saved.list_for(session, user)
        context["current_href"] = saved.list_href(saved.normalise_params(form))
        if validation.criteria is None:
            return templates.TemplateResponse(request, "contracts.html", context, status_code=422)
        total, contracts = await queries.search(session, user, validation.criteria, today)
    context.update(total=total, rows=views.rows(contracts, today))
    return templates.TemplateResponse(request, "contracts.html", context)


@router.get("/contracts/{contract_no}", response_class=HTMLResponse)
async def contract_detail(request: Request, user: CurrentUser, today: Today, contract_no: str) -> Response:
    visible = await read_your_writes(request, user, request.query_params.get("after"))
    async with request.app.state.runtime.sessionmaker() as session:
        c = await queries.get_contract(session, user, contract_no)
        if c is None:
            raise Refusal("not_found", "contract_not_found", views.CONTRACT_NOT_FOUND)
        history = await queries.memo_history(session, contract_no)
        requests = await queries.contract_requests(session, contract_no)
    return templates.TemplateResponse(
        request,
        "contract_detail.html",
        {
            "user": user,
            "d": views.detail(c, today, user.role, history, requests),
            "pending": not visible,
            "caveat": rules.INSPECTION_CAVEAT,
            "legend": dict((k, label) for k, label, _ in rules.COLOUR_LEGEND),
        },
    )


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(request: Request, user: CurrentUser, today: Today) -> Response:
    if user.role not in views.DASHBOARD_ROLES:
        raise Refusal("forbidden", "dashboard_forbidden", views.DASHBOARD_FORBIDDEN)
    async with request.app.state.runtime.sessionmaker() as session:
        d = await views.load_dashboard(session, user, today)
    groups = d.selections.by_store if user.role == "hq" else d.selections.by_staff
    replacement = [(g.label, g.replacement_rate, g.replacement_rate_label) for g in groups]
    replacement_staff = [
        (g.label, g.replacement_rate, g.replacement_rate_label) for g in d.selections.by_staff
    ]
    replacement_panel = replacement + replacement_staff  # the two charts of one panel line up
    charts = {
        "replacement": dashboard.bar_chart(replacement, max_value=1.0, panel=replacement_panel),
        "replacement_staff": dashboard.bar_chart(replacement_staff, max_value=1.0, panel=replacement_panel),
        "on_time": dashboard.bar_chart(
            [(g.label, g.on_time_rate, g.on_time_rate_label) for g in groups], max_value=1.0
        ),
        "returns": dashboard.bar_chart(
            [(r.status_label, r.count, f"{r.count}件") for r in d.returns_in_progress.by_status]
        ),
        "steps": dashboard.bar_chart([(s.label, s.median_seconds, s.median_label) for s in d.approval_steps]),
    }
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        {
            "user": user,
            "d": d,
            "charts": charts,
            "group_title": "店舗別" if user.role == "hq" else "スタッフ別",
            "caveat": rules.INSPECTION_CAVEAT,
        },
    )


# --------------------------------------------------------------------------------------------
# 保存した検索条件


async def _saved_page(
    request: Request, user: Any, *, error: Refusal | None = None, status_code: int = 200
) -> Response:
    async with request.app.state.runtime.sessionmaker() as session:
        items = await saved.list_for(session, user)
    return templates.TemplateResponse(
        request,
        "saved_searches.html",
        {
            "user": user,
            "items": items,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/saved-searches", response_class=HTMLResponse)
async def saved_searches_page(request: Request, user: CurrentUser) -> Response:
    return await _saved_page(request, user)


@router.post("/saved-searches", response_class=HTMLResponse)
async def save_search(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    raw = {k: str(form.get(k) or "") for k in saved.SEARCH_PARAMS}
    try:
        async with request.app.state.runtime.sessionmaker() as session, session.begin():
            item = await saved.save(session, user, str(form.get("name") or ""), raw)
    except Refusal as e:
        return await _contracts_with_save_error(request, user, raw, str(form.get("name") or ""), e)
    response = RedirectResponse("/saved-searches", status_code=303)
    return set_flash(response, "saved_search_saved", fallback="saved_search_saved_unnamed", name=item.name)


async def _contracts_with_save_error(
    request: Request, user: Any, raw: dict[str, str], name: str, error: Refusal
) -> Response:
    """Back to the list page with the message beside the 保存名 field (nothing saved)."""
    query = urlencode({k: v for k, v in saved.normalise_params(raw).items()})
    target = f"/contracts?{query}&{urlencode({'save_error': error.code, 'save_name': name})}"
    return RedirectResponse(target, status_code=303)


@router.post("/saved-searches/{saved_id}/delete", response_class=HTMLResponse)
async def delete_saved_search(request: Request, user: CurrentUser, saved_id: int) -> Response:
    try:
        if not 1 <= saved_id <= saved.ID_MAX:
            raise saved.not_found()
        async with request.app.state.runtime.sessionmaker() as session, session.begin():
            await saved.delete(session, user, saved_id)
    except Refusal as e:
        return await _saved_page(request, user, error=e, status_code=http_status(e))
    return set_flash(RedirectResponse("/saved-searches", status_code=303), "saved_search_deleted")
