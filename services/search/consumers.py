"""Incoming events → read model updates. Any order, any number of duplicates.

- TFC snapshots: newest `version` wins.
- Selection events (selection, memo, assignment): each kind applies only if its `seq` is newer than
  the last applied of that kind; `Contract.seq` keeps the highest seq seen (read-your-writes).
- Request status: the newest `version` of each request wins; the contract shows rules.current_request.
- Events about a contract not yet received from TFC create a stub row (version −1, never listed)
  that the first snapshot completes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.search import rules
from services.search.db import (
    STUB_VERSION,
    Contract,
    ContractRequest,
    MemoHistory,
    RequestStatusEvent,
    inbox,
)
from shared import rules as rules_shared
from shared.events import (
    ASSIGNMENT_CHANGED,
    MEMO_UPDATED,
    REQUEST_STATUS_CHANGED,
    SELECTION_RECORDED,
    AssignmentChanged,
    ContractSnapshot,
    MemoUpdated,
    RawEnvelope,
    RequestStatusChanged,
    SelectionRecorded,
    foreign_dealer,
)
from shared.messaging import EventTable, PoisonMessage, apply_event, subscribe
from shared.runtime import Runtime
from shared.topics import REQUEST_STATUS, SELECTION_EVENTS, TFC_CONTRACTS

_OWNERSHIP = ("store_code", "store_name", "staff_code")


def refresh_derived(c: Contract) -> None:
    """Recompute the stored, clock-free derivations (the colour is computed when read)."""
    c.transferred_in = rules.transferred_in(
        c.transfer_seq, c.selection_seq, c.selection_store_code, c.store_code
    )
    c.completed = rules.is_completed(c.status, c.request_status, c.request_result)
    c.handling_status = rules.handling_status(
        c.status, c.request_status, c.selection_category, c.request_result
    )


def _tfc_ownership(c: Contract) -> rules_shared.TfcOwnership | None:
    if c.version == STUB_VERSION or c.tfc_store_code is None:
        return None
    return rules_shared.TfcOwnership(
        rules_shared.Owner(c.tfc_store_code, c.tfc_store_name or "", c.tfc_staff_code or ""),
        c.version,
        c.tfc_owner_since,
    )


def _reassignment(c: Contract) -> rules_shared.Reassignment | None:
    if c.assignment_seq is None or c.assigned_store_code is None:
        return None
    return rules_shared.Reassignment(
        rules_shared.Owner(c.assigned_store_code, c.assigned_store_name or "", c.assigned_staff_code or ""),
        c.assignment_seq,
        c.assignment_basis_version if c.assignment_basis_version is not None else -1,
    )


def _settle_owner(c: Contract, transfer_seq: int) -> None:
    """The effective owner by the one rule (shared.rules); a change of store makes the contract green."""
    owner = rules_shared.effective_owner(_tfc_ownership(c), _reassignment(c))
    if owner is None:
        return
    if c.store_code and owner.store_code != c.store_code:
        c.transfer_seq = transfer_seq
    c.store_code, c.store_name, c.staff_code = owner.store_code, owner.store_name, owner.staff_code


async def apply_contract(session: AsyncSession, snapshot: ContractSnapshot) -> bool:
    """Upsert a TFC contract snapshot; older or equal versions change nothing. Returns True if applied."""
    existing = await session.get(Contract, snapshot.contract_no, with_for_update=True)
    if existing is not None and existing.version >= snapshot.version:
        return False
    if (foreign := foreign_dealer(existing.dealer_code if existing else None, snapshot)) is not None:
        raise PoisonMessage(foreign)
    new_tfc = rules_shared.Owner(snapshot.store_code, snapshot.store_name, snapshot.staff_code)
    tfc = rules_shared.tfc_after_snapshot(
        None if existing is None else _tfc_ownership(existing), new_tfc, snapshot.version
    )
    values = snapshot.model_dump(exclude=set(_OWNERSHIP))
    values.update(
        tfc_store_code=new_tfc.store_code,
        tfc_store_name=new_tfc.store_name,
        tfc_staff_code=new_tfc.staff_code,
        tfc_owner_since=tfc.since_version,
        search_name=rules.search_name(snapshot.contractor_name, snapshot.contractor_name_kana),
        search_plate=rules.normalise_plate(snapshot.registration_no),
        search_model=rules.normalise_name(snapshot.model),
        first_registration_month=rules.first_registration_month_index(snapshot.first_registration_date),
        updated_at=datetime.now(UTC),
    )
    if existing is None:
        contract = Contract(
            **values,
            store_code=new_tfc.store_code,
            store_name=new_tfc.store_name,
            staff_code=new_tfc.staff_code,
            seq=0,
        )
        refresh_derived(contract)
        session.add(contract)
        return True
    was_stub = existing.version == STUB_VERSION
    for key, value in values.items():
        setattr(existing, key, value)
    if was_stub and existing.assignment_seq is None:
        existing.store_code = ""  # a stub's store came from an event, not from an owner: no transfer
    if was_stub and existing.assignment_seq is not None and existing.assignment_basis_version is None:
        existing.assignment_basis_version = snapshot.version
    _settle_owner(existing, existing.seq or 0)
    refresh_derived(existing)
    return True


async def _contract_for_event(
    session: AsyncSession, contract_no: str, dealer_code: str, store_code: str
) -> Contract:
    """The contract row (locked), or a stub until TFC's snapshot arrives."""
    contract = await session.get(Contract, contract_no, with_for_update=True)
    if contract is None:
        contract = Contract(
            contract_no=contract_no,
            version=STUB_VERSION,
            dealer_code=dealer_code,
            dealer_name="",
            store_code=store_code,
            store_name="",
            staff_code="",
            contractor_name="",
            contractor_name_kana="",
            brand="",
            model="",
            vehicle_use="passenger",
            first_registration_date="",
            program="",
            contract_kind="installment",
            final_payment_date=date(1900, 1, 1),
            final_payment_amount=0,
            annual_rate=0,
            status="active",
            seq=0,
            selection_late=False,
            transferred_in=False,
            receivable_purchased=False,
            handling_status="unselected",
            completed=False,
        )
        session.add(contract)
        await session.flush()
    elif contract.dealer_code != dealer_code:
        raise PoisonMessage(
            f"{contract_no}: event of dealer {dealer_code}, contract of {contract.dealer_code}"
        )
    return contract


def _newer(seq: int, last: int | None) -> bool:
    return last is None or seq > last


async def apply_selection(session: AsyncSession, e: SelectionRecorded) -> None:
    c = await _contract_for_event(session, e.contract_no, e.dealer_code, e.store_code)
    if _newer(e.seq, c.selection_seq):
        c.selection_seq = e.seq
        c.selection_category = e.category
        c.replacement = e.replacement
        c.replacement_model = e.replacement_model if e.replacement == "yes" else None
        c.confirmation_received_on = e.confirmation_received_on
        c.selection_late = e.late
        c.selection_store_code = e.store_code
        c.selection_recorded_by = e.recorded_by.name
        c.selection_recorded_at = e.recorded_at
    c.seq = max(c.seq or 0, e.seq)
    refresh_derived(c)


async def apply_memo(session: AsyncSession, e: MemoUpdated) -> None:
    c = await _contract_for_event(session, e.contract_no, e.dealer_code, "")
    if await session.get(MemoHistory, (e.contract_no, e.seq)) is None:
        session.add(
            MemoHistory(
                contract_no=e.contract_no,
                seq=e.seq,
                text=e.text,
                author=e.author.name,
                author_role=e.author.role,
                updated_at=e.updated_at,
            )
        )
    if _newer(e.seq, c.memo_seq):
        c.memo_seq, c.memo_text, c.memo_author, c.memo_updated_at = e.seq, e.text, e.author.name, e.updated_at
    c.seq = max(c.seq or 0, e.seq)


async def apply_assignment(session: AsyncSession, e: AssignmentChanged) -> None:
    c = await _contract_for_event(session, e.contract_no, e.dealer_code, e.store_code)
    if _newer(e.seq, c.assignment_seq):
        c.assignment_seq = e.seq
        c.assigned_store_code, c.assigned_store_name = e.store_code, e.store_name
        c.assigned_staff_code = e.staff_code
        # An older producer does not name its basis: the snapshot held now is the best guess (before
        # the first snapshot: that snapshot, once it arrives).
        c.assignment_basis_version = e.tfc_version
        if e.tfc_version is None and c.version != STUB_VERSION:
            c.assignment_basis_version = c.version
        if c.version == STUB_VERSION:
            c.store_code, c.store_name, c.staff_code = e.store_code, e.store_name, e.staff_code
            if e.store_code != e.from_store_code:
                c.transfer_seq = e.seq
        else:
            _settle_owner(c, e.seq)
    c.seq = max(c.seq or 0, e.seq)
    refresh_derived(c)


async def apply_request_status(session: AsyncSession, e: RequestStatusChanged) -> None:
    c = await _contract_for_event(session, e.contract_no, e.dealer_code, e.store_code)
    if await session.get(RequestStatusEvent, (e.request_id, e.version)) is None:
        session.add(
            RequestStatusEvent(
                request_id=e.request_id,
                version=e.version,
                contract_no=e.contract_no,
                dealer_code=e.dealer_code,
                store_code=e.store_code,
                type=e.type,
                old_status=e.old_status,
                new_status=e.new_status,
                at=e.at,
            )
        )
    known = await session.get(ContractRequest, e.request_id, with_for_update=True)
    if known is None:
        session.add(
            ContractRequest(
                request_id=e.request_id,
                contract_no=e.contract_no,
                type=e.type,
                version=e.version,
                status=e.new_status,
                status_label=e.new_status_label,
                at=e.at,
                reception_no=e.reception_no,
                **_answers(e),
            )
        )
        await session.flush()
    elif e.version > known.version:
        known.version, known.status, known.status_label, known.at = (
            e.version,
            e.new_status,
            e.new_status_label,
            e.at,
        )
        known.reception_no = e.reception_no or known.reception_no
        for name, value in _answers(e).items():
            if value is not None:
                setattr(known, name, value)
        await session.flush()
    requests = (
        (await session.execute(select(ContractRequest).where(ContractRequest.contract_no == e.contract_no)))
        .scalars()
        .all()
    )
    current = rules.current_request(rules.RequestView(r.request_id, r.status, _aware(r.at)) for r in requests)
    chosen = next(r for r in requests if current and r.request_id == current.request_id)
    c.request_id, c.request_type = chosen.request_id, chosen.type
    c.request_status, c.request_status_label = chosen.status, chosen.status_label
    c.request_updated_at = chosen.at
    c.request_reception_no = chosen.reception_no
    c.request_result = chosen.result
    refresh_derived(c)


def _answers(e: RequestStatusChanged) -> dict[str, Any]:
    """What a status event adds beyond the status (SPEC §9.2; None from older producers): TFC's 審査結果,
    the 再分割 plan of a 再分割審査申込, the 早期完済金額."""
    plan = (e.payload or {}).get("plan") if e.type == "refinance_application" else None
    return {"result": e.result, "plan": plan, "payoff_amount": e.payoff_amount}


def _aware(at: datetime) -> datetime:
    """SQLite returns naive datetimes (stored as UTC)."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# The internal topics (selection events, request statuses), each event applied once (inbox).
TABLES: dict[str, EventTable] = {
    SELECTION_EVENTS: {
        SELECTION_RECORDED: (SelectionRecorded, apply_selection),
        MEMO_UPDATED: (MemoUpdated, apply_memo),
        ASSIGNMENT_CHANGED: (AssignmentChanged, apply_assignment),
    },
    REQUEST_STATUS: {REQUEST_STATUS_CHANGED: (RequestStatusChanged, apply_request_status)},
}
EVENTS: EventTable = {**TABLES[SELECTION_EVENTS], **TABLES[REQUEST_STATUS]}


async def apply_envelope(session: AsyncSession, envelope: RawEnvelope) -> bool:
    """Apply one internal event exactly once (inbox), as the consumers do. Returns False for a duplicate."""
    return await apply_event(session, envelope, EVENTS, inbox)


def register(runtime: Runtime) -> None:
    subscribe(runtime, TFC_CONTRACTS, model=ContractSnapshot, handler=apply_contract)
    for topic, table in TABLES.items():
        subscribe(runtime, topic, events=table, inbox=True)
