"""Server-rendered pages: J-PASS トップ, 最終回対象顧客一覧 (three searches), 顧客詳細."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.search import queries, rules, views
from services.search.api import SEARCH_PARAMS, too_many_message
from services.search.deps import Today, read_your_writes
from shared.events import PROGRAM_LABELS
from shared.identity import CurrentUser
from shared.web import make_templates

router = APIRouter(include_in_schema=False)
templates = make_templates(Path(__file__).parent / "templates")


@router.get("/", response_class=HTMLResponse)
async def top(request: Request, user: CurrentUser) -> Response:
    return templates.TemplateResponse(request, "top.html", {"user": user})


@router.get("/contracts", response_class=HTMLResponse)
async def contract_list(request: Request, user: CurrentUser, today: Today) -> Response:
    form = {k: request.query_params.get(k, "") for k in SEARCH_PARAMS}
    form["mode"] = form["mode"] or "general"
    validation = rules.validate_search(form)
    context = {
        "user": user,
        "form": form,
        "errors": validation.by_field(),
        "rows": [],
        "total": None,
        "max_rows": queries.MAX_ROWS,
        "too_many_message": too_many_message(),
        "legend": rules.COLOUR_LEGEND,
        "caveat": rules.INSPECTION_CAVEAT,
        "programs": PROGRAM_LABELS,
        "handling_statuses": rules.HANDLING_STATUS_LABELS,
        "inspection_labels": rules.INSPECTION_LABELS,
        "inspection_max": rules.INSPECTION_MAX_MONTHS,
        "mode_labels": rules.MODE_LABELS,
        "can_export": user.role in ("hq", "store_manager"),
        "query": {k: v for k, v in form.items() if v and k != "sort"},
        "sort_query": lambda sort: urlencode(
            {**{k: v for k, v in form.items() if v and k != "sort"}, "sort": sort}
        ),
    }
    if validation.criteria is not None:
        await read_your_writes(request, request.query_params.get("after"))
    async with request.app.state.runtime.sessionmaker() as session:
        context["models"] = await queries.model_names(session, user)
        if validation.criteria is None:
            return templates.TemplateResponse(request, "contracts.html", context, status_code=422)
        total, contracts = await queries.search(session, user, validation.criteria, today)
    context.update(total=total, rows=[views.row(c, today) for c in contracts])
    return templates.TemplateResponse(request, "contracts.html", context)


@router.get("/contracts/{contract_no}", response_class=HTMLResponse)
async def contract_detail(request: Request, user: CurrentUser, today: Today, contract_no: str) -> Response:
    visible = await read_your_writes(request, request.query_params.get("after"))
    async with request.app.state.runtime.sessionmaker() as session:
        c = await queries.get_contract(session, user, contract_no)
        if c is None:
            return templates.TemplateResponse(
                request, "not_found.html", {"user": user, "contract_no": contract_no}, status_code=404
            )
        history = await queries.memo_history(session, contract_no)
    return templates.TemplateResponse(
        request,
        "contract_detail.html",
        {
            "user": user,
            "d": views.detail(c, today, user.role, history),
            "pending": not visible,
            "caveat": rules.INSPECTION_CAVEAT,
            "legend": dict((k, label) for k, label, _ in rules.COLOUR_LEGEND),
        },
    )
