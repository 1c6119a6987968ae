"""Server-rendered page of the sent-mail log (メール送信履歴, 本部 only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.mailer.domain import KIND_LABELS
from services.mailer.labels import status_label
from services.mailer.queries import MAX_OFFSET, mail_log, normalise_reception_no
from shared.identity import User, require_role
from shared.web import make_templates

router = APIRouter(include_in_schema=False)
templates = make_templates(Path(__file__).parent / "templates")
PAGE_SIZE = 100

templates.env.globals["KIND_LABELS"] = KIND_LABELS
templates.env.globals["mail_status_label"] = status_label


@router.get("/mail-log", response_class=HTMLResponse)
async def mail_log_page(
    request: Request,
    user: Annotated[User, Depends(require_role("hq"))],
    request_id: str | None = None,
    reception_no: str | None = None,
    page: Annotated[int, Query(ge=1, le=MAX_OFFSET // PAGE_SIZE)] = 1,
) -> Response:
    async with request.app.state.runtime.sessionmaker() as session:
        total, rows = await mail_log(
            session,
            user.dealer_code,
            request_id=request_id,
            reception_no=normalise_reception_no(reception_no),
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    return templates.TemplateResponse(
        request,
        "mail_log.html",
        {
            "user": user,
            "total": total,
            "rows": rows,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "request_id": request_id or "",
            "reception_no": reception_no or "",
        },
    )
