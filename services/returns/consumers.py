"""Incoming events → returns' own copies: contracts, selection (category, store), request statuses.

All instances of returns share one database, so they share the consumer groups (one per topic, named by
shared.messaging.consumer_group): each event is applied once, by whichever instance holds its partition.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.returns.db import Contract, ContractSelection, OpenReturn, RequestStatus
from services.returns.domain import CLOSED_STATUSES
from services.returns.queries import tfc_ownership
from shared import rules
from shared.events import (
    ASSIGNMENT_CHANGED,
    MEMO_UPDATED,
    REQUEST_STATUS_CHANGED,
    SELECTION_RECORDED,
    AssignmentChanged,
    ContractSnapshot,
    RequestStatusChanged,
    SelectionRecorded,
    foreign_dealer,
)
from shared.messaging import EventTable, PoisonMessage, subscribe
from shared.runtime import Runtime
from shared.topics import REQUEST_STATUS, SELECTION_EVENTS, TFC_CONTRACTS

PENDING_BASIS = -1  # a reassignment without a basis, seen before the contract's first snapshot


async def apply_contract(session: AsyncSession, snapshot: ContractSnapshot) -> bool:
    """Newest version wins. TFC's ownership remembers since when it is unchanged, so that a reassignment
    stands or not by the one rule of shared.rules, whatever order the two streams arrive in."""
    existing = await session.get(Contract, snapshot.contract_no, with_for_update=True)
    if existing is not None and existing.version >= snapshot.version:
        return False
    if (foreign := foreign_dealer(existing.dealer_code if existing else None, snapshot)) is not None:
        raise PoisonMessage(foreign)
    tfc = rules.tfc_after_snapshot(
        None if existing is None else tfc_ownership(existing),
        rules.Owner(snapshot.store_code, snapshot.store_name, snapshot.staff_code),
        snapshot.version,
    )
    values = {
        "version": snapshot.version,
        "dealer_code": snapshot.dealer_code,
        "dealer_name": snapshot.dealer_name,
        "tfc_store_code": snapshot.store_code,
        "tfc_store_name": snapshot.store_name,
        "tfc_staff_code": snapshot.staff_code,
        "contractor_name": snapshot.contractor_name,
        "contractor_name_kana": snapshot.contractor_name_kana,
        "contractor_postal_code": snapshot.contractor_postal_code,
        "contractor_address": snapshot.contractor_address,
        "registration_no": snapshot.registration_no,
        "model": snapshot.model,
        "program": snapshot.program,
        "contract_kind": snapshot.contract_kind,
        "final_payment_date": snapshot.final_payment_date,
        "final_payment_amount": snapshot.final_payment_amount,
        "receivable_purchased": snapshot.receivable_purchased,
        "status": snapshot.status,
        "tfc_owner_since": tfc.since_version,
    }
    if existing is None:
        session.add(Contract(contract_no=snapshot.contract_no, **values))
        selection = await session.get(ContractSelection, snapshot.contract_no, with_for_update=True)
        if selection is not None and selection.assignment_basis_version == PENDING_BASIS:
            selection.assignment_basis_version = snapshot.version
    else:
        for k, v in values.items():
            setattr(existing, k, v)
    return True


async def _selection_row(session: AsyncSession, contract_no: str) -> ContractSelection:
    row = await session.get(ContractSelection, contract_no, with_for_update=True)
    if row is None:
        row = ContractSelection(contract_no=contract_no, category_seq=0, assignment_seq=0)
        session.add(row)
    return row


async def apply_selection(session: AsyncSession, recorded: SelectionRecorded) -> None:
    row = await _selection_row(session, recorded.contract_no)
    if recorded.seq > row.category_seq:
        row.category_seq, row.category = recorded.seq, recorded.category


async def apply_assignment(session: AsyncSession, changed: AssignmentChanged) -> None:
    row = await _selection_row(session, changed.contract_no)
    if changed.seq > row.assignment_seq:
        row.assignment_seq = changed.seq
        row.store_code, row.store_name = changed.store_code, changed.store_name
        row.staff_code = changed.staff_code
        if changed.tfc_version is not None:
            row.assignment_basis_version = changed.tfc_version
        else:  # an older producer: the snapshot we hold now (or the first to come) is the best guess
            contract = await session.get(Contract, changed.contract_no)
            row.assignment_basis_version = contract.version if contract is not None else PENDING_BASIS


async def apply_request_status(session: AsyncSession, changed: RequestStatusChanged) -> None:
    row = await session.get(RequestStatus, changed.request_id, with_for_update=True)
    if row is not None and row.version >= changed.version:
        return
    if row is None:
        row = RequestStatus(request_id=changed.request_id)
        session.add(row)
    row.type, row.contract_no, row.version = changed.type, changed.contract_no, changed.version
    row.status, row.status_label, row.at = changed.new_status, changed.new_status_label, changed.at
    row.reception_no = changed.reception_no or row.reception_no  # an older producer's event has none
    if changed.new_status in CLOSED_STATUSES:
        await session.execute(delete(OpenReturn).where(OpenReturn.request_id == changed.request_id))


EVENTS: dict[str, EventTable] = {
    SELECTION_EVENTS: {
        SELECTION_RECORDED: (SelectionRecorded, apply_selection),
        ASSIGNMENT_CHANGED: (AssignmentChanged, apply_assignment),
        MEMO_UPDATED: None,  # memos do not matter to returns
    },
    REQUEST_STATUS: {REQUEST_STATUS_CHANGED: (RequestStatusChanged, apply_request_status)},
}


def register(runtime: Runtime) -> None:
    subscribe(runtime, TFC_CONTRACTS, model=ContractSnapshot, handler=apply_contract)
    for topic, events in EVENTS.items():
        subscribe(runtime, topic, events=events, inbox=True)
