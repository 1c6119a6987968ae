"""Selection service: final-payment choice, memo, PDF form, refinance simulation, store/staff change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from fastapi import FastAPI

from services.selection import api, consumers, intake_api, intake_pages, pages
from services.selection.config import SelectionSettings
from services.selection.db import Base, inbox, outbox
from services.selection.deps import make_clock
from services.selection.intake import Intake
from services.selection.staff import load_staff_directory
from services.selection.use_cases import Handlers
from shared.asyncapi import Channel
from shared.events import (
    ASSIGNMENT_CHANGED,
    EARLY_PAYOFF_SUBMITTED,
    MEMO_UPDATED,
    REFINANCE_APPLICATION_SUBMITTED,
    REQUEST_STATUS_CHANGED,
    SELECTION_RECORDED,
    SUBMISSION_EVENT_TYPES,
    AssignmentChanged,
    ContractSnapshot,
    MemoUpdated,
    RequestStatusChanged,
    SelectionRecorded,
)
from shared.requests import typed_submission
from shared.runtime import Runtime
from shared.topics import REQUEST_STATUS, REQUEST_SUBMISSIONS, SELECTION_EVENTS, TFC_CONTRACTS
from shared.web import service_app

CHANNELS = [
    Channel(
        TFC_CONTRACTS,
        "subscribe",
        (("ContractSnapshot", ContractSnapshot),),
        key="contract_no",
        description="TFC's contract snapshots; selection keeps its own copy (newest version wins).",
        enveloped=False,
    ),
    Channel(
        REQUEST_SUBMISSIONS,
        "subscribe",
        tuple((event_type, typed_submission(t)) for event_type, t in SUBMISSION_EVENT_TYPES.items()),
        key="contract_no",
        description="Every submission: its request is open from now on (a vehicle return from returns: the"
        " category stays 車両返却). selection's own submissions come back here too and change nothing.",
    ),
    Channel(
        REQUEST_SUBMISSIONS,
        "publish",
        (
            (REFINANCE_APPLICATION_SUBMITTED, typed_submission("refinance_application")),
            (EARLY_PAYOFF_SUBMITTED, typed_submission("early_payoff")),
        ),
        key="contract_no",
        description="再分割審査申込 and 早期完済受付 submitted here (SPEC §9.2), through the outbox;"
        " approvals creates the request (id = data.request_id). The request is open from the submission"
        " on: the category stays where it is until it is withdrawn or final.",
    ),
    Channel(
        REQUEST_STATUS,
        "subscribe",
        ((REQUEST_STATUS_CHANGED, RequestStatusChanged),),
        key="request_id",
        description="Where each request stands (newest version wins): an open request locks its category,"
        " a completed one the whole selection (SPEC §9.1).",
    ),
    Channel(
        SELECTION_EVENTS,
        "publish",
        (
            (SELECTION_RECORDED, SelectionRecorded),
            (MEMO_UPDATED, MemoUpdated),
            (ASSIGNMENT_CHANGED, AssignmentChanged),
        ),
        key="contract_no",
        description="Every change of a contract made here (selection, memo, store/staff), published through"
        " the outbox. `seq` is one per-contract counter across the three: read models apply newer seqs only.",
    ),
]


def create_app(settings: SelectionSettings | None = None, clock: Callable[[], date] | None = None) -> FastAPI:
    settings = settings or SelectionSettings()
    runtime = Runtime(
        "selection",
        settings,
        settings.database_url,
        Base.metadata,
        outbox,
        inbox,
        [TFC_CONTRACTS, SELECTION_EVENTS, REQUEST_SUBMISSIONS, REQUEST_STATUS],
    )
    consumers.register(runtime, settings.consumer_group)
    app = service_app("selection", "J-PASS selection (進捗・結果入力)", runtime, channels=CHANNELS)
    app.state.clock = clock or make_clock(settings.today)
    directory = load_staff_directory(settings.staff_directory)
    app.state.handlers = Handlers(runtime.sessionmaker, outbox, directory)
    app.state.intake = Intake(runtime.sessionmaker, outbox)
    app.state.now = lambda: datetime.now(UTC)
    app.state.request_status_wait_s = settings.request_status_wait_s

    app.include_router(api.router)
    app.include_router(intake_api.router)
    app.include_router(pages.router)
    app.include_router(intake_pages.router)
    return app
