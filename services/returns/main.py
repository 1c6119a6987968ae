"""Returns service: vehicle-return result intake (scales out on its own: no in-process state)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from services.returns import api, consumers, pages
from services.returns.config import ReturnsSettings
from services.returns.db import Base, inbox, outbox
from shared.runtime import Runtime
from shared.topics import REQUEST_STATUS, RETURN_SUBMISSIONS, SELECTION_EVENTS, TFC_CONTRACTS
from shared.web import service_app


def system_clock() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: ReturnsSettings | None = None, clock: Callable[[], datetime] = system_clock
) -> FastAPI:
    """`clock` gives "now" (aware); tests fix it to decide what "today" (Asia/Tokyo) is."""
    settings = settings or ReturnsSettings()
    runtime = Runtime(
        "returns",
        settings,
        settings.database_url,
        Base.metadata,
        outbox,
        inbox,
        [TFC_CONTRACTS, SELECTION_EVENTS, RETURN_SUBMISSIONS, REQUEST_STATUS],
    )
    consumers.register(runtime)
    app = service_app("returns", "J-PASS returns (車両返却 結果入力)", runtime)
    app.state.clock = clock
    app.include_router(api.router)
    app.include_router(pages.router)
    return app
