"""Returns service: vehicle-return result intake (scales out on its own: no in-process state)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from services.returns import api, consumers, pages
from services.returns.config import ReturnsSettings
from services.returns.db import Base, inbox, outbox
from shared.asyncapi import Channel
from shared.events import (
    ASSIGNMENT_CHANGED,
    MEMO_UPDATED,
    REQUEST_STATUS_CHANGED,
    RETURN_SUBMITTED,
    SELECTION_RECORDED,
    AssignmentChanged,
    ContractSnapshot,
    MemoUpdated,
    RequestStatusChanged,
    ReturnSubmitted,
    SelectionRecorded,
)
from shared.runtime import Runtime
from shared.topics import REQUEST_STATUS, RETURN_SUBMISSIONS, SELECTION_EVENTS, TFC_CONTRACTS
from shared.web import service_app

CHANNELS = [
    Channel(
        RETURN_SUBMISSIONS,
        "publish",
        ((RETURN_SUBMITTED, ReturnSubmitted),),
        key="contract_no",
        description="A vehicle-return result was submitted (through the outbox). `data.payload` validates as"
        " shared.requests.VehicleReturnPayload; `data.request_id` (uuid4, made here) is the request's id in"
        " approvals too.",
    ),
    Channel(
        TFC_CONTRACTS,
        "subscribe",
        (("ContractSnapshot", ContractSnapshot),),
        key="contract_no",
        description="TFC's contract snapshots; returns keeps program, scope, contractor and"
        " receivable_purchased (newest version wins).",
        enveloped=False,
    ),
    Channel(
        SELECTION_EVENTS,
        "subscribe",
        (
            (SELECTION_RECORDED, SelectionRecorded),
            (ASSIGNMENT_CHANGED, AssignmentChanged),
            (MEMO_UPDATED, MemoUpdated),
        ),
        key="contract_no",
        description="The latest 選択区分 (must be vehicle_return) and 店舗・スタッフ変更 (scope); memos are"
        " ignored. Newer seq wins.",
    ),
    Channel(
        REQUEST_STATUS,
        "subscribe",
        ((REQUEST_STATUS_CHANGED, RequestStatusChanged),),
        key="request_id",
        description="Request statuses (newest version wins): shown after submitting; completed / withdrawn"
        " release the contract's open return request.",
    ),
]


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
    app = service_app("returns", "J-PASS returns (車両返却 結果入力)", runtime, channels=CHANNELS)
    app.state.clock = clock
    app.include_router(api.router)
    app.include_router(pages.router)
    return app
