"""Search service: the read model, the customer list, CSV, customer detail."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.search import api, consumers, pages
from services.search.config import SearchSettings
from services.search.db import Base, inbox, outbox
from shared.runtime import Runtime
from shared.topics import SELECTION_EVENTS, TFC_CONTRACTS
from shared.web import SHARED_STATIC, service_app


def create_app(settings: SearchSettings | None = None) -> FastAPI:
    settings = settings or SearchSettings()
    runtime = Runtime(
        "search",
        settings,
        settings.database_url,
        Base.metadata,
        outbox,
        inbox,
        [TFC_CONTRACTS, SELECTION_EVENTS],
    )
    consumers.register(runtime)
    app = service_app("search", "J-PASS search (最終回対象顧客一覧)", runtime)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=SHARED_STATIC), name="static")
    return app
