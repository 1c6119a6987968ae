"""Mailer service: e-mails on request status changes and timeouts."""

from __future__ import annotations

from fastapi import FastAPI

from services.mailer.config import MailerSettings
from services.mailer.db import Base, inbox, outbox
from shared.runtime import Runtime
from shared.topics import REQUEST_STATUS, REQUEST_TIMEOUTS
from shared.web import service_app


def create_app(settings: MailerSettings | None = None) -> FastAPI:
    settings = settings or MailerSettings()
    runtime = Runtime(
        "mailer",
        settings,
        settings.database_url,
        Base.metadata,
        outbox,
        inbox,
        [REQUEST_STATUS, REQUEST_TIMEOUTS],
    )
    return service_app("mailer", "J-PASS mailer (メール通知)", runtime)
