"""JSON API of the sent-mail log (本部 only, own dealer only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from services.mailer.db import Mail, as_utc
from services.mailer.domain import KIND_LABELS
from services.mailer.labels import status_label
from services.mailer.queries import MAX_LOG_ROWS, MAX_OFFSET, mail_log, normalise_reception_no
from shared.identity import User, require_role

router = APIRouter(prefix="/api/v1", tags=["mail-log"])
HqUser = Annotated[User, Depends(require_role("hq"))]


def log_item(mail: Mail, public_base_url: str) -> dict[str, Any]:
    return {
        "id": mail.id,
        "created_at": as_utc(mail.created_at).isoformat(),
        "sent_at": as_utc(mail.sent_at).isoformat() if mail.sent_at else None,
        "kind": mail.kind,
        "kind_label": KIND_LABELS.get(mail.kind, mail.kind),
        "to": mail.recipient,
        "subject": mail.subject,
        "status": mail.status,
        "status_label": status_label(mail),
        "attempts": mail.attempts,
        "last_error": mail.last_error,
        "request_id": mail.request_id,
        "request_type": mail.request_type,
        "request_version": mail.request_version,
        "reception_no": mail.reception_no,
        "contract_no": mail.contract_no,
        "store_code": mail.store_code,
        "request_url": f"{public_base_url.rstrip('/')}/requests/{mail.request_id}",
    }


@router.get("/mail-log")
async def get_mail_log(
    request: Request,
    user: HqUser,
    request_id: str | None = None,
    reception_no: Annotated[str | None, Query(description="受付番号, exact (NFKC, blanks ignored)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_ROWS)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
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
    base = request.app.state.settings.public_base_url
    return {"total": total, "items": [log_item(m, base) for m in rows]}
