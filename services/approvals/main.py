"""Approvals service: request workflow, flow settings, progress list, TFC exchange, timeout sweep."""

from __future__ import annotations

from fastapi import FastAPI

from services.approvals.config import ApprovalsSettings
from services.approvals.db import Base, inbox, outbox
from shared.runtime import Runtime
from shared.topics import (
    JPASS_REQUESTS,
    REQUEST_STATUS,
    REQUEST_TIMEOUTS,
    RETURN_SUBMISSIONS,
    TFC_REQUEST_UPDATES,
)
from shared.web import service_app


def create_app(settings: ApprovalsSettings | None = None) -> FastAPI:
    settings = settings or ApprovalsSettings()
    runtime = Runtime(
        "approvals",
        settings,
        settings.database_url,
        Base.metadata,
        outbox,
        inbox,
        [RETURN_SUBMISSIONS, TFC_REQUEST_UPDATES, JPASS_REQUESTS, REQUEST_STATUS, REQUEST_TIMEOUTS],
    )
    return service_app("approvals", "J-PASS approvals (契約内容変更受付)", runtime)
