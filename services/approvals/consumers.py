"""Incoming events → use cases: submissions from the returns intake, TFC's answers."""

from __future__ import annotations

from services.approvals.handlers import Approvals
from shared.events import RETURN_SUBMITTED, RawEnvelope, RequestUpdate, ReturnSubmitted
from shared.messaging import PoisonMessage, parse_data, subscribe
from shared.topics import RETURN_SUBMISSIONS, TFC_REQUEST_UPDATES

GROUP = "approvals"

# Which request type each submission event creates.
SUBMISSION_TYPES = {RETURN_SUBMITTED: (ReturnSubmitted, "vehicle_return")}


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
        RETURN_SUBMISSIONS,
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
