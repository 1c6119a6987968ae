"""Mailer service: e-mails on request status changes and timeouts (SPEC §6), and the sent-mail log."""

from __future__ import annotations

from fastapi import FastAPI

from services.mailer import api, consumers, pages
from services.mailer.config import MailerSettings
from services.mailer.db import Base, inbox, outbox
from services.mailer.render import MailRenderer
from services.mailer.sender import MailSender
from shared.asyncapi import Channel
from shared.events import REQUEST_STATUS_CHANGED, REQUEST_TIMED_OUT, RequestStatusChanged, RequestTimedOut
from shared.runtime import Runtime
from shared.topics import REQUEST_STATUS, REQUEST_TIMEOUTS
from shared.web import service_app

CHANNELS = [
    Channel(
        REQUEST_STATUS,
        "subscribe",
        ((REQUEST_STATUS_CHANGED, RequestStatusChanged),),
        key="request_id",
        description="Every status change of a request (approvals): completion, send-back and approval-request"
        " e-mails.",
    ),
    Channel(
        REQUEST_TIMEOUTS,
        "subscribe",
        ((REQUEST_TIMED_OUT, RequestTimedOut),),
        key="request_id",
        description="Reminder periods that elapsed with no change (approvals' sweep): status-check e-mails.",
    ),
]


class MailerRuntime(Runtime):
    """The common runtime plus the background SMTP sender."""

    def __init__(self, settings: MailerSettings) -> None:
        super().__init__(
            "mailer",
            settings,
            settings.database_url,
            Base.metadata,
            outbox,
            inbox,
            [REQUEST_STATUS, REQUEST_TIMEOUTS],
        )
        self.sender = MailSender(settings, self.sessionmaker)

    async def start(self) -> None:
        await super().start()
        self.spawn(self.sender.run(self.stopping), "smtp-sender")

    async def stop(self) -> None:
        self.sender.notify()
        await super().stop()


def create_app(settings: MailerSettings | None = None) -> FastAPI:
    settings = settings or MailerSettings()
    runtime = MailerRuntime(settings)
    renderer = MailRenderer(settings.public_base_url, settings.mail_from)
    consumers.register(runtime, settings, renderer, runtime.sender)
    app = service_app("mailer", "J-PASS mailer (メール通知)", runtime, channels=CHANNELS)
    app.include_router(api.router)
    app.include_router(pages.router)
    return app
