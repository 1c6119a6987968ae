"""Server-rendered pages of the search service: the top page and the customer list."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.search.queries import MAX_ROWS, list_contracts
from shared.identity import CurrentUser
from shared.web import make_templates

router = APIRouter(include_in_schema=False)
templates = make_templates(Path(__file__).parent / "templates")


@router.get("/", response_class=HTMLResponse)
async def top(request: Request, user: CurrentUser) -> Response:
    return templates.TemplateResponse(request, "top.html", {"user": user})


@router.get("/contracts", response_class=HTMLResponse)
async def contract_list(request: Request, user: CurrentUser, sort: str = "final_date") -> Response:
    async with request.app.state.runtime.sessionmaker() as session:
        total, rows = await list_contracts(session, user, sort)
    return templates.TemplateResponse(
        request, "contracts.html", {"user": user, "total": total, "rows": rows, "max_rows": MAX_ROWS}
    )
