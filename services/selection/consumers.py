"""Incoming events → selection's own copies: TFC's contracts and the requests of each contract.

The requests matter for the category rules of SPEC §9.1: an intake's submission (returns' or selection's
own) marks a request open at once (so the category is locked from the moment the user pressed OK),
approvals' status changes then say where it stands (newest version wins, in any order).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.selection.use_cases import (
    apply_contract_snapshot,
    apply_request_status,
    apply_request_submitted,
)
from shared.events import (
    REQUEST_STATUS_CHANGED,
    SUBMISSION_EVENT_TYPES,
    ContractSnapshot,
    RequestStatusChanged,
    RequestSubmitted,
)
from shared.messaging import EventTable, Handler, subscribe
from shared.runtime import Runtime
from shared.topics import REQUEST_STATUS, REQUEST_SUBMISSIONS, TFC_CONTRACTS


def _opens(request_type: str) -> Handler:
    async def apply(session: AsyncSession, submitted: RequestSubmitted) -> None:
        await apply_request_submitted(session, submitted.request_id, submitted.contract_no, request_type)

    return apply


EVENTS: dict[str, EventTable] = {
    REQUEST_SUBMISSIONS: {
        event_type: (RequestSubmitted, _opens(request_type))
        for event_type, request_type in SUBMISSION_EVENT_TYPES.items()
    },
    REQUEST_STATUS: {REQUEST_STATUS_CHANGED: (RequestStatusChanged, apply_request_status)},
}


def register(runtime: Runtime, group: str) -> None:
    """`group`: JPASS_CONSUMER_GROUP, so that tests can run several instances apart."""
    subscribe(runtime, TFC_CONTRACTS, model=ContractSnapshot, handler=apply_contract_snapshot, group=group)
    for topic, events in EVENTS.items():
        subscribe(runtime, topic, events=events, group=group)
