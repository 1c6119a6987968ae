"""Returns service: vehicle-return result intake (scales out on its own)."""

from __future__ import annotations

from fastapi import FastAPI

from services.returns.config import ReturnsSettings
from services.returns.db import Base, inbox, outbox
from shared.runtime import Runtime
from shared.topics import REQUEST_STATUS, RETURN_SUBMISSIONS, SELECTION_EVENTS, TFC_CONTRACTS
from shared.web import service_app


def create_app(settings: ReturnsSettings | None = None) -> FastAPI:
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
    return service_app("returns", "J-PASS returns (車両返却 結果入力)", runtime)
