"""Incoming events → use cases: submissions from the intakes (returns, selection), TFC's answers."""

from __future__ import annotations

from services.approvals.handlers import Approvals
from shared.events import (
    RETURN_SUBMITTED,
    SUBMISSION_EVENT_TYPES,
    RawEnvelope,
    RequestSubmitted,
    RequestUpdate,
    ReturnSubmitted,
)
from shared.messaging import PoisonMessage, parse_data, subscribe
from shared.topics import REQUEST_SUBMISSIONS, TFC_REQUEST_UPDATES

GROUP = "approvals"

# Which request type each submission event creates (and the model its data is read with).
SUBMISSION_TYPES: dict[str, tuple[type[RequestSubmitted], str]] = {
    event_type: (ReturnSubmitted if event_type == RETURN_SUBMITTED else RequestSubmitted, request_type)
    for event_type, request_type in SUBMISSION_EVENT_TYPES.items()
}


def register(approvals: Approvals) -> None:
    runtime = approvals.runtime

    async def on_submission(envelope: RawEnvelope) -> None:
        known = SUBMISSION_TYPES.get(envelope.type)
        if known is None:
            raise PoisonMessage(f"unknown event type {envelope.type!r}")
        model, request_type = known
        await approvals.submit(envelope.id, parse_data(envelope, model), request_type)

    async def on_tfc_update(update: RequestUpdate) -> None:
        await approvals.apply_tfc_update(update)

    subscribe(
        runtime.broker,
        REQUEST_SUBMISSIONS,
        settings=runtime.settings,
        group_id=GROUP,
        model=RawEnvelope,
        handler=on_submission,
        max_attempts=runtime.settings.consumer_max_attempts,
    )
    subscribe(
        runtime.broker,
        TFC_REQUEST_UPDATES,
        settings=runtime.settings,
        group_id=GROUP,
        model=RequestUpdate,
        handler=on_tfc_update,
        max_attempts=runtime.settings.consumer_max_attempts,
    )
