"""Selection service: final-payment choice, memo, PDF form, refinance simulation, store/staff change."""

from __future__ import annotations

from fastapi import FastAPI

from services.selection.config import SelectionSettings
from services.selection.db import Base, inbox, outbox
from shared.runtime import Runtime
from shared.topics import SELECTION_EVENTS, TFC_CONTRACTS
from shared.web import service_app


def create_app(settings: SelectionSettings | None = None) -> FastAPI:
    settings = settings or SelectionSettings()
    runtime = Runtime(
        "selection",
        settings,
        settings.database_url,
        Base.metadata,
        outbox,
        inbox,
        [TFC_CONTRACTS, SELECTION_EVENTS],
    )
    return service_app("selection", "J-PASS selection (進捗・結果入力)", runtime)
