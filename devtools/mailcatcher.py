"""A local SMTP mail catcher (aiosmtpd) keeping every message in memory: `GET /dev/mail/messages` (JSON)
and `GET /dev/mail` (the same, as a page: what each recipient received, newest first)."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from shared.web import make_templates

PAGE_LIMIT = 200  # the newest messages the page shows
templates = make_templates(Path(__file__).parent / "templates")


class CatchingHandler:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        text_part = msg.get_body(preferencelist=("plain",))
        html_part = msg.get_body(preferencelist=("html",))
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "subject": str(msg.get("Subject", "")),
                "text": text_part.get_content() if text_part is not None else "",
                "html": html_part.get_content() if html_part is not None else None,
                "message_id": str(msg.get("Message-ID", "")),
                "received_at": datetime.now(UTC).isoformat(),
            }
        )
        return "250 Message accepted for delivery"


def start_mail_catcher(host: str, port: int) -> tuple[Controller, CatchingHandler]:
    handler = CatchingHandler()
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return controller, handler


def matching(messages: list[dict[str, Any]], q: str) -> list[dict[str, Any]]:
    """The newest first; with `q`, those whose subject, recipients or text contain it."""
    newest = list(reversed(messages))
    if q:
        newest = [m for m in newest if q in m["subject"] or q in m["text"] or any(q in to for to in m["to"])]
    return newest


router = APIRouter(tags=["mail-catcher"])


@router.get("/dev/mail", response_class=HTMLResponse, include_in_schema=False)
async def mail_page(request: Request, q: str = "") -> Response:
    found = matching(request.app.state.mail.messages, q.strip())
    return templates.TemplateResponse(
        request,
        "mail.html",
        {"user": None, "q": q, "total": len(found), "messages": found[:PAGE_LIMIT], "limit": PAGE_LIMIT},
    )
