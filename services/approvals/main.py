"""Approvals service: request workflow, flow settings, progress list, TFC exchange, timeout sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from services.approvals import api, consumers, pages
from services.approvals.config import ApprovalsSettings
from services.approvals.db import Base, inbox, outbox
from services.approvals.use_cases import Approvals, Clock, system_clock
from shared.asyncapi import Channel
from shared.events import (
    REQUEST_STATUS_CHANGED,
    REQUEST_TIMED_OUT,
    SUBMISSION_EVENT_TYPES,
    JpassRequest,
    RequestStatusChanged,
    RequestTimedOut,
    RequestUpdate,
)
from shared.requests import REQUEST_TYPE_LABELS, typed_jpass_request, typed_submission
from shared.runtime import Runtime
from shared.topics import (
    JPASS_REQUESTS,
    REQUEST_STATUS,
    REQUEST_SUBMISSIONS,
    REQUEST_TIMEOUTS,
    TFC_REQUEST_UPDATES,
)
from shared.web import service_app

CHANNELS = [
    Channel(
        REQUEST_SUBMISSIONS,
        "subscribe",
        tuple((event_type, typed_submission(t)) for event_type, t in SUBMISSION_EVENT_TYPES.items()),
        key="contract_no",
        description="The submissions topic: every intake's submissions, one event type per request type"
        f" ({', '.join(f'{t} {label}' for t, label in REQUEST_TYPE_LABELS.items())}). A submission creates"
        " a request (id = data.request_id; the same id twice creates one). An invalid payload or unknown"
        " event type goes to the dead-letter topic.",
    ),
    Channel(
        TFC_REQUEST_UPDATES,
        "subscribe",
        (("RequestUpdate", RequestUpdate),),
        key="request_id",
        description="TFC's answers: accept, hold, message, resume, complete, send_back. Per type (optional"
        " fields): a refinance_application's `complete` carries `result` approved | declined; an"
        " early_payoff's `message` (or `complete`) carries `payoff_amount` (yen), needed before it completes."
        " Unknown requests, impossible transitions, a missing or misplaced result/payoff_amount and invalid"
        " messages go to tfc.request-updates.v1.dlq with the reason (header dlq-reason); an update already"
        " applied (same update_id or same action) has no effect.",
        enveloped=False,
    ),
    Channel(
        JPASS_REQUESTS,
        "publish",
        (
            ("JpassRequest", JpassRequest),
            *((f"JpassRequest.{t}", typed_jpass_request(t)) for t in REQUEST_TYPE_LABELS),
        ),
        key="request_id",
        description="To TFC: `requested` when a request enters 依頼中; `corrected` / `withdrawn` when a"
        " 依頼中 request is corrected or withdrawn (a correction that lands in 依頼中 again is followed by"
        " `requested`). One message shape; `type` says which payload schema applies (the"
        " `JpassRequest.<type>` messages show each).",
        enveloped=False,
    ),
    Channel(
        REQUEST_STATUS,
        "publish",
        ((REQUEST_STATUS_CHANGED, RequestStatusChanged),),
        key="request_id",
        description="Every change of a request incl. creation (old_status null) and corrections that keep"
        " the status; `version` + 1 per change: apply newer versions only.",
    ),
    Channel(
        REQUEST_TIMEOUTS,
        "publish",
        ((REQUEST_TIMED_OUT, RequestTimedOut),),
        key="request_id",
        description="Reminder periods elapsed since the last status change (SPEC §6), once per"
        " (request, kind, status entry, period_no).",
    ),
]


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
        [REQUEST_SUBMISSIONS, TFC_REQUEST_UPDATES, JPASS_REQUESTS, REQUEST_STATUS, REQUEST_TIMEOUTS],
    )
    approvals = Approvals(runtime, settings, clock)
    consumers.register(approvals)

    @asynccontextmanager
    async def sweep(app: FastAPI) -> AsyncIterator[None]:
        # Runs inside the runtime's lifespan (database and broker already up).
        runtime.spawn(approvals.run_sweep(), "timeout-sweep")
        yield

    app = service_app("approvals", "J-PASS approvals (契約内容変更受付)", runtime, channels=CHANNELS)
    app.state.approvals = approvals
    app.include_router(APIRouter(lifespan=sweep))
    app.include_router(api.router)
    app.include_router(pages.router)
    return app
