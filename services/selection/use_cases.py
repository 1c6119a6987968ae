"""Use cases: load the contract under a row lock, apply the domain rule, save + outbox in one transaction.

Every change increments the contract's one `seq` counter (selection, memo and assignment alike) and
stages exactly one event with that seq. The lock makes two people saving at once queue up: neither
update is lost and no two events share a seq.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.selection import domain, views
from services.selection.db import ChangeLog, Contract, ContractRequest, MemoEntry, SelectionRecord
from services.selection.queries import dealer_staff, dealer_stores, not_found, request_facts
from shared import rules
from shared.db import is_postgresql
from shared.events import (
    ASSIGNMENT_CHANGED,
    MEMO_UPDATED,
    SELECTION_RECORDED,
    AssignmentChanged,
    ContractSnapshot,
    MemoUpdated,
    Party,
    RequestStatusChanged,
    SelectionRecorded,
    foreign_dealer,
)
from shared.identity import User
from shared.messaging import PoisonMessage
from shared.outbox import Outbox, unit_of_work
from shared.topics import SELECTION_EVENTS


def party(user: User) -> Party:
    return Party(user_id=user.user_id, name=user.name, role=user.role, email=user.email)


def consistency_token(contract_no: str, seq: int) -> str:
    return f"{contract_no}@{seq}"


@dataclass(frozen=True)
class WriteResult:
    contract_no: str
    seq: int
    changed: bool
    data: dict[str, Any] = field(default_factory=dict)  # the state after the write, as the API shows it

    @property
    def token(self) -> str:
        return consistency_token(self.contract_no, self.seq)


# ---------------------------------------------------------------------------------------------
# The row lock of every write


async def _lock_contract_row(session: AsyncSession, contract_no: str) -> Contract | None:
    """Read the contract for update: a row lock on PostgreSQL; on SQLite (no row locks) a no-op write
    first takes the database write lock, so the read that follows cannot go stale."""
    if is_postgresql(session):
        stmt = select(Contract).where(Contract.contract_no == contract_no).with_for_update()
        return (await session.execute(stmt)).scalar_one_or_none()
    no_op = update(Contract).where(Contract.contract_no == contract_no).values(seq=Contract.seq)
    await session.execute(no_op)
    return await session.get(Contract, contract_no, populate_existing=True)


async def _locked_contract(session: AsyncSession, user: User, contract_no: str) -> Contract:
    contract = await _lock_contract_row(session, contract_no)
    if contract is None or not user.sees_store(contract.dealer_code, contract.store_code):
        raise not_found()
    return contract


def selection_of(row: SelectionRecord | None) -> domain.Selection | None:
    if row is None:
        return None
    return domain.Selection(
        category=row.category,  # type: ignore[arg-type]
        replacement=row.replacement,  # type: ignore[arg-type]
        replacement_model=row.replacement_model,
        confirmation_received_on=row.confirmation_received_on,
        late=row.late,
    )


# ---------------------------------------------------------------------------------------------
# TFC's feed


def ownership_after_snapshot(
    existing: Contract | None, snapshot: ContractSnapshot
) -> tuple[rules.Owner, rules.TfcOwnership, bool]:
    """The effective owner, TFC's ownership and whether the reassignment still stands (shared.rules)."""
    previous = (
        None
        if existing is None
        else rules.TfcOwnership(
            rules.Owner(existing.tfc_store_code, existing.tfc_store_name, existing.tfc_staff_code),
            existing.version,
            existing.tfc_owner_since,
        )
    )
    tfc = rules.tfc_after_snapshot(
        previous, rules.Owner(snapshot.store_code, snapshot.store_name, snapshot.staff_code), snapshot.version
    )
    reassignment = None
    if existing is not None and existing.reassigned:
        reassignment = rules.Reassignment(
            rules.Owner(existing.store_code, existing.store_name, existing.staff_code),
            existing.seq,
            existing.reassign_basis_version if existing.reassign_basis_version is not None else -1,
        )
    owner = rules.effective_owner(tfc, reassignment)
    assert owner is not None
    return owner, tfc, rules.reassignment_stands(tfc, reassignment)


async def apply_contract_snapshot(session: AsyncSession, snapshot: ContractSnapshot) -> bool:
    """Newest version wins; older or equal versions change nothing. A store/staff change made here stays
    until TFC itself changes the contract's store or staff (shared.rules)."""
    existing = await _lock_contract_row(session, snapshot.contract_no)
    if existing is not None and existing.version >= snapshot.version:
        return False
    if (foreign := foreign_dealer(existing.dealer_code if existing else None, snapshot)) is not None:
        raise PoisonMessage(foreign)
    values: dict[str, Any] = {
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
        "brand": snapshot.brand,
        "model": snapshot.model,
        "program": snapshot.program,
        "contract_kind": snapshot.contract_kind,
        "final_payment_date": snapshot.final_payment_date,
        "final_payment_amount": snapshot.final_payment_amount,
        "annual_rate": Decimal(str(snapshot.annual_rate)),
        "status": snapshot.status,
        "updated_at": datetime.now(UTC),
    }
    owner, tfc, reassigned = ownership_after_snapshot(existing, snapshot)
    values |= {
        "store_code": owner.store_code,
        "store_name": owner.store_name,
        "staff_code": owner.staff_code,
        "reassigned": reassigned,
        "tfc_owner_since": tfc.since_version,
        "reassign_basis_version": existing.reassign_basis_version if existing and reassigned else None,
    }
    if existing is None:
        session.add(Contract(contract_no=snapshot.contract_no, seq=0, **values))
    else:
        for key, value in values.items():
            setattr(existing, key, value)
    return True


async def apply_request_submitted(
    session: AsyncSession, request_id: str, contract_no: str, type_: str
) -> None:
    """An intake sent a request: it is open from now on, even before approvals reports its status."""
    if await session.get(ContractRequest, request_id) is None:
        session.add(
            ContractRequest(
                request_id=request_id, contract_no=contract_no, type=type_, status=rules.SUBMITTED, version=0
            )
        )


async def apply_request_status(session: AsyncSession, changed: RequestStatusChanged) -> None:
    """Newest version of each request wins (any order, any duplicates)."""
    row = await session.get(ContractRequest, changed.request_id, with_for_update=True)
    if row is None:
        session.add(
            ContractRequest(
                request_id=changed.request_id,
                contract_no=changed.contract_no,
                type=changed.type,
                status=changed.new_status,
                version=changed.version,
                result=changed.result,
                reception_no=changed.reception_no,
            )
        )
    elif changed.version > row.version:
        row.status, row.version = changed.new_status, changed.version
        row.result = changed.result or row.result
        row.reception_no = changed.reception_no or row.reception_no


# ---------------------------------------------------------------------------------------------
# Writes


def _log(
    contract: Contract, seq: int, kind: str, summary: dict[str, Any], user: User, now: datetime
) -> ChangeLog:
    return ChangeLog(
        contract_no=contract.contract_no,
        seq=seq,
        kind=kind,
        summary=json.dumps(summary, ensure_ascii=False, default=str),
        actor_id=user.user_id,
        actor_name=user.name,
        at=now,
    )


def _memo_data(entry: MemoEntry | None) -> dict[str, Any]:
    if entry is None:
        return {"text": "", "author": None, "updated_at": None}
    view = views.memo_entry_view(entry)
    return {"text": view.text, "author": view.author, "updated_at": view.created_at}


def _assignment_data(contract: Contract, from_store_code: str | None = None) -> dict[str, Any]:
    return {
        "from_store_code": from_store_code or contract.store_code,
        "store_code": contract.store_code,
        "store_name": contract.store_name,
        "staff_code": contract.staff_code,
    }


class Handlers:
    """The three writes. Built once per app with its sessionmaker, outbox and the staff directory."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        staff_directory: Iterable[domain.StaffMember] = (),
    ) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.staff_directory = tuple(staff_directory)

    def _unit_of_work(self) -> AbstractAsyncContextManager[AsyncSession]:
        return unit_of_work(self.sessionmaker, self.outbox)

    async def _stage(self, session: AsyncSession, type_: str, data: BaseModel) -> None:
        await self.outbox.stage_event(session, SELECTION_EVENTS, type_, data)

    async def record_selection(
        self, user: User, contract_no: str, entry: domain.SelectionInput, today: date
    ) -> WriteResult:
        now = datetime.now(UTC)
        async with self._unit_of_work() as session:
            contract = await _locked_contract(session, user, contract_no)
            row = await session.get(SelectionRecord, contract_no)
            decision = domain.decide_selection(
                selection_of(row),
                entry,
                contract.final_payment_date,
                today,
                await request_facts(session, contract_no),
            )
            if not decision.changed:
                return WriteResult(contract_no, contract.seq, False, {"selection": views.selection_view(row)})
            seq = contract.seq = contract.seq + 1
            chosen = decision.selection
            if row is None:
                row = SelectionRecord(contract_no=contract_no)
                session.add(row)
            row.category = chosen.category
            row.replacement = chosen.replacement
            row.replacement_model = chosen.replacement_model
            row.confirmation_received_on = chosen.confirmation_received_on
            row.late = chosen.late
            row.seq = seq
            row.recorded_by_id, row.recorded_by_name, row.recorded_at = user.user_id, user.name, now
            session.add(
                _log(
                    contract,
                    seq,
                    "selection",
                    {
                        "category": chosen.category,
                        "replacement": chosen.replacement,
                        "replacement_model": chosen.replacement_model,
                        "confirmation_received_on": chosen.confirmation_received_on,
                        "late": chosen.late,
                    },
                    user,
                    now,
                )
            )
            await self._stage(
                session,
                SELECTION_RECORDED,
                SelectionRecorded(
                    contract_no=contract_no,
                    dealer_code=contract.dealer_code,
                    store_code=contract.store_code,
                    seq=seq,
                    category=chosen.category,
                    replacement=chosen.replacement,
                    replacement_model=chosen.replacement_model,
                    confirmation_received_on=chosen.confirmation_received_on,
                    late=chosen.late,
                    recorded_by=party(user),
                    recorded_at=now,
                ),
            )
            data = {"selection": views.selection_view(row)}
        return WriteResult(contract_no, seq, True, data)

    async def update_memo(self, user: User, contract_no: str, text: str) -> WriteResult:
        now = datetime.now(UTC)
        cleaned = domain.validate_memo(text)
        async with self._unit_of_work() as session:
            contract = await _locked_contract(session, user, contract_no)
            latest = (
                await session.execute(
                    select(MemoEntry)
                    .where(MemoEntry.contract_no == contract_no)
                    .order_by(MemoEntry.seq.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if (latest.text if latest else "") == cleaned:
                return WriteResult(contract_no, contract.seq, False, _memo_data(latest))
            seq = contract.seq = contract.seq + 1
            entry = MemoEntry(
                contract_no=contract_no,
                seq=seq,
                text=cleaned,
                author_id=user.user_id,
                author_name=user.name,
                author_role=user.role,
                created_at=now,
            )
            session.add(entry)
            session.add(_log(contract, seq, "memo", {"chars": len(cleaned)}, user, now))
            await self._stage(
                session,
                MEMO_UPDATED,
                MemoUpdated(
                    contract_no=contract_no,
                    dealer_code=contract.dealer_code,
                    seq=seq,
                    text=cleaned,
                    author=party(user),
                    updated_at=now,
                ),
            )
        return WriteResult(contract_no, seq, True, _memo_data(entry))

    async def change_assignment(
        self, user: User, contract_no: str, store_code: str, staff_code: str
    ) -> WriteResult:
        now = datetime.now(UTC)
        async with self._unit_of_work() as session:
            contract = await _locked_contract(session, user, contract_no)
            stores = await dealer_stores(session, contract.dealer_code)
            staff = await dealer_staff(session, contract.dealer_code, self.staff_directory)
            store_code, staff_code = domain.validate_assignment(
                user.role,
                user.store_code,
                contract.store_code,
                store_code,
                staff_code,
                set(stores),
                store_staff_codes={store: {m.staff_code for m in people} for store, people in staff.items()},
            )
            if (contract.store_code, contract.staff_code) == (store_code, staff_code):
                return WriteResult(contract_no, contract.seq, False, _assignment_data(contract))
            seq = contract.seq = contract.seq + 1
            from_store = contract.store_code
            contract.store_code, contract.store_name = store_code, stores[store_code]
            contract.staff_code = staff_code
            contract.reassigned = True
            contract.reassign_basis_version = contract.version
            session.add(
                _log(
                    contract,
                    seq,
                    "assignment",
                    {"from_store_code": from_store, "store_code": store_code, "staff_code": staff_code},
                    user,
                    now,
                )
            )
            await self._stage(
                session,
                ASSIGNMENT_CHANGED,
                AssignmentChanged(
                    contract_no=contract_no,
                    dealer_code=contract.dealer_code,
                    seq=seq,
                    from_store_code=from_store,
                    store_code=store_code,
                    store_name=contract.store_name,
                    staff_code=staff_code,
                    changed_by=party(user),
                    changed_at=now,
                    tfc_version=contract.version,
                ),
            )
        return WriteResult(contract_no, seq, True, _assignment_data(contract, from_store))
