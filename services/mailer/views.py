"""The shapes the JSON API shows: the sent-mail log (メール送信履歴; typed response models). Their JSON is a
stable interface: field names, nulls and types stay as they are."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from services.mailer.db import Mail, as_utc
from services.mailer.domain import KIND_LABELS
from services.mailer.labels import status_label


class MailLogItem(BaseModel):
    id: int
    created_at: str
    sent_at: str | None
    kind: str
    kind_label: str
    to: str
    subject: str
    status: str
    status_label: str
    attempts: int
    last_error: str | None
    request_id: str
    request_type: str
    request_version: int
    reception_no: str | None = Field(description="受付番号 (null for mails from before it existed)")
    contract_no: str
    store_code: str
    request_url: str = Field(description="the request's page")


class MailLog(BaseModel):
    total: int
    items: list[MailLogItem] = Field(description="newest first")


def _log_item(mail: Mail, public_base_url: str) -> dict[str, Any]:
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


def mail_log(total: int, rows: list[Mail], public_base_url: str) -> MailLog:
    """The page of the log; its rows (up to 500) are validated in one pass, cheaper than a model per row."""
    return MailLog(total=total, items=[_log_item(m, public_base_url) for m in rows])
