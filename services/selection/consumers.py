"""Incoming events → selection's own copies: TFC's contracts and the requests of each contract.

The requests matter for the category rules of SPEC §9.1: an intake's submission (returns' or selection's
own) marks a request open at once (so the category is locked from the moment the user pressed OK),
approvals' status changes then say where it stands (newest version wins, in any order).
"""

from __future__ import annotations

from services.selection.handlers import apply_contract_snapshot, apply_request_status, apply_request_submitted
from shared.events import (
    REQUEST_STATUS_CHANGED,
    SUBMISSION_EVENT_TYPES,
    ContractSnapshot,
    RawEnvelope,
    RequestStatusChanged,
    RequestSubmitted,
)
from shared.messaging import PoisonMessage, parse_data, subscribe
from shared.runtime import Runtime
from shared.topics import REQUEST_STATUS, REQUEST_SUBMISSIONS, TFC_CONTRACTS


def register(runtime: Runtime) -> None:
    sessionmaker = runtime.sessionmaker
    group = getattr(runtime.settings, "consumer_group", "selection")

    async def on_contract(snapshot: ContractSnapshot) -> None:
        async with sessionmaker() as session, session.begin():
            await apply_contract_snapshot(session, snapshot)

    async def on_submission(envelope: RawEnvelope) -> None:
        request_type = SUBMISSION_EVENT_TYPES.get(envelope.type)
        if request_type is None:
            raise PoisonMessage(f"unknown event type {envelope.type!r} on {REQUEST_SUBMISSIONS}")
        submitted = parse_data(envelope, RequestSubmitted)
        async with sessionmaker() as session, session.begin():
            await apply_request_submitted(session, submitted.request_id, submitted.contract_no, request_type)

    async def on_request_status(envelope: RawEnvelope) -> None:
        if envelope.type != REQUEST_STATUS_CHANGED:
            raise PoisonMessage(f"unknown event type {envelope.type!r} on {REQUEST_STATUS}")
        changed = parse_data(envelope, RequestStatusChanged)
        async with sessionmaker() as session, session.begin():
            await apply_request_status(session, changed)

    subscribe(
        runtime.broker,
        TFC_CONTRACTS,
        settings=runtime.settings,
        group_id=group,
        model=ContractSnapshot,
        handler=on_contract,
        max_attempts=runtime.settings.consumer_max_attempts,
    )
    for topic, handler in ((REQUEST_SUBMISSIONS, on_submission), (REQUEST_STATUS, on_request_status)):
        subscribe(
            runtime.broker,
            topic,
            settings=runtime.settings,
            group_id=group,
            model=RawEnvelope,
            handler=handler,
            max_attempts=runtime.settings.consumer_max_attempts,
        )
