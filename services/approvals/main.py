"""Approvals service: request workflow, flow settings, progress list, TFC exchange, timeout sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from services.approvals import api, consumers, pages
from services.approvals.config import ApprovalsSettings
from services.approvals.db import Base, inbox, outbox
from services.approvals.handlers import Approvals, Clock, system_clock
from shared.runtime import Runtime
from shared.topics import (
    JPASS_REQUESTS,
    REQUEST_STATUS,
    REQUEST_TIMEOUTS,
    RETURN_SUBMISSIONS,
    TFC_REQUEST_UPDATES,
)
from shared.web import service_app


def create_app(settings: ApprovalsSettings | None = None, clock: Clock = system_clock) -> FastAPI:
    """`clock` is injectable so tests can move time (timeouts, 依頼日時)."""
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
    approvals = Approvals(runtime, settings, clock)
    consumers.register(approvals)

    @asynccontextmanager
    async def sweep(app: FastAPI) -> AsyncIterator[None]:
        # Runs inside the runtime's lifespan (database and broker already up).
        runtime.spawn(approvals.run_sweep(), "timeout-sweep")
        yield

    app = service_app("approvals", "J-PASS approvals (契約内容変更受付)", runtime)
    app.state.approvals = approvals
    app.include_router(APIRouter(lifespan=sweep))
    app.include_router(api.router)
    app.include_router(pages.router)
    return app
