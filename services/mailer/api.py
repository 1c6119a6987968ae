"""JSON API of the sent-mail log (本部 only, own dealer only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.mailer import views
from services.mailer.queries import MAX_LOG_ROWS, MAX_OFFSET, mail_log, normalise_reception_no
from shared.identity import User, require_role

router = APIRouter(prefix="/api/v1", tags=["mail-log"])
HqUser = Annotated[User, Depends(require_role("hq"))]


@router.get("/mail-log")
async def get_mail_log(
    request: Request,
    user: HqUser,
    request_id: str | None = None,
    reception_no: Annotated[str | None, Query(description="受付番号, exact (NFKC, blanks ignored)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_ROWS)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> views.MailLog:
    """E-mails of the user's dealer, newest first: time, kind, recipient, subject, delivery status."""
    async with request.app.state.runtime.sessionmaker() as session:
        total, rows = await mail_log(
            session,
            user.dealer_code,
            request_id=request_id,
            reception_no=normalise_reception_no(reception_no),
            limit=limit,
            offset=offset,
        )
    return views.mail_log(total, rows, request.app.state.settings.public_base_url)
