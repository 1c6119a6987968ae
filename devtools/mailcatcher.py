"""A local SMTP mail catcher (aiosmtpd) keeping every message in memory for `GET /dev/mail/messages`."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


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
