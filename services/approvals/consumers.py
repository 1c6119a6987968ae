"""Incoming events → use cases: submissions from the intakes (returns, selection), TFC's answers."""

from __future__ import annotations

from functools import partial

from services.approvals.use_cases import Approvals
from shared.events import (
    RETURN_SUBMITTED,
    SUBMISSION_EVENT_TYPES,
    RequestSubmitted,
    RequestUpdate,
    ReturnSubmitted,
)
from shared.messaging import EventTable, subscribe
from shared.topics import REQUEST_SUBMISSIONS, TFC_REQUEST_UPDATES


def register(approvals: Approvals) -> None:
    runtime = approvals.runtime
    # Which request type each submission event creates (and the model its data is read with).
    submissions: EventTable = {
        event_type: (
            ReturnSubmitted if event_type == RETURN_SUBMITTED else RequestSubmitted,
            partial(approvals.submit, request_type=request_type),
        )
        for event_type, request_type in SUBMISSION_EVENT_TYPES.items()
    }
    # a submission stages the request's first events: the relay sends them after the commit
    subscribe(
        runtime, REQUEST_SUBMISSIONS, events=submissions, inbox=True, after_commit=runtime.outbox.notify
    )
    # TFC's answers bring their own transactions (retried on a concurrent dealer action) and inbox key
    subscribe(
        runtime,
        TFC_REQUEST_UPDATES,
        model=RequestUpdate,
        handler=approvals.apply_tfc_update,
        transaction=False,
    )
