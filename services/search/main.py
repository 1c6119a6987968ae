"""Search service: the read model, the customer list, CSV, customer detail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import event

from services.search import api, consumers, pages
from services.search.config import SearchSettings
from services.search.db import Base, inbox, outbox
from services.search.export import ExportSlots
from services.search.rules import tokyo_today
from shared import login
from shared.asyncapi import Channel
from shared.events import (
    ASSIGNMENT_CHANGED,
    MEMO_UPDATED,
    REQUEST_STATUS_CHANGED,
    SELECTION_RECORDED,
    AssignmentChanged,
    ContractSnapshot,
    MemoUpdated,
    RequestStatusChanged,
    SelectionRecorded,
)
from shared.runtime import Runtime
from shared.topics import REQUEST_STATUS, SELECTION_EVENTS, TFC_CONTRACTS
from shared.web import SHARED_STATIC, service_app

CHANNELS = [
    Channel(
        TFC_CONTRACTS,
        "subscribe",
        (("ContractSnapshot", ContractSnapshot),),
        key="contract_no",
        description="TFC's contract snapshots: the base of the read model (newest version wins).",
        enveloped=False,
    ),
    Channel(
        SELECTION_EVENTS,
        "subscribe",
        (
            (SELECTION_RECORDED, SelectionRecorded),
            (MEMO_UPDATED, MemoUpdated),
            (ASSIGNMENT_CHANGED, AssignmentChanged),
        ),
        key="contract_no",
        description="Selection, memo and store/staff changes; each type applied only when its seq is newer.",
    ),
    Channel(
        REQUEST_STATUS,
        "subscribe",
        ((REQUEST_STATUS_CHANGED, RequestStatusChanged),),
        key="request_id",
        description="Request status changes: 手続中 / 完了 and the request link on the list and detail.",
    ),
]


def create_app(settings: SearchSettings | None = None, clock: Callable[[], date] | None = None) -> FastAPI:
    """`clock` returns today's Asia/Tokyo date (tests fix it); default: settings.today or the real date."""
    settings = settings or SearchSettings()
    runtime = Runtime(
        "search",
        settings,
        settings.database_url,
        Base.metadata,
        outbox,
        inbox,
        [TFC_CONTRACTS, SELECTION_EVENTS, REQUEST_STATUS],
    )
    consumers.register(runtime)
    if runtime.engine.dialect.name == "postgresql":
        event.listen(runtime.engine.sync_engine, "connect", _custom_plans)
    app = service_app("search", "J-PASS search (最終回対象顧客一覧)", runtime, channels=CHANNELS)
    fixed = settings.today
    app.state.clock = clock or ((lambda: fixed) if fixed else tokyo_today)
    # an export holds a database connection for its whole stream: at most the pool's own size of them run,
    # so searches and details always find the overflow's connections (docs/decisions.md)
    app.state.export_slots = ExportSlots(min(settings.csv_export_slots, settings.db_pool_size))
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(login.router)  # the page login (OpenID client): the gateway's catch-all is search
    app.mount("/static", StaticFiles(directory=SHARED_STATIC), name="static")
    return app


def _custom_plans(dbapi_connection: Any, _record: Any) -> None:
    """Plan every search with its actual values: a generic plan cannot tell a needle most of the scope
    holds (scan the scope) from a selective one (use the bigram index)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET plan_cache_mode = force_custom_plan")
    cursor.close()
