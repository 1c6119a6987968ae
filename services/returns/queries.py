"""Reads of returns for the pages and the API: a contract with its current store and facts, a submission,
the status approvals reported, the last contacts a user gave."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.returns.db import (
    Contract,
    ContractSelection,
    OpenReturn,
    RequestStatus,
    Submission,
)
from services.returns.domain import (
    ContractFacts,
    contract_not_found,
)
from shared import rules
from shared.events import (
    PROGRAM_LABELS,
    SubmittedContract,
)
from shared.identity import User
from shared.refusal import Refusal
from shared.runtime import Runtime


@dataclass(frozen=True)
class ContractView:
    """A contract as returns knows it, with its current store."""

    contract: Contract
    store_code: str
    store_name: str
    staff_code: str
    facts: ContractFacts

    def summary(self) -> dict[str, Any]:
        c = self.contract
        return {
            "contract_no": c.contract_no,
            "dealer_name": c.dealer_name,
            "store_code": self.store_code,
            "store_name": self.store_name,
            "staff_code": self.staff_code,
            "contractor_name": c.contractor_name,
            "contractor_name_kana": c.contractor_name_kana,
            "contractor_postal_code": c.contractor_postal_code,
            "contractor_address": c.contractor_address,
            "registration_no": c.registration_no,
            "model": c.model,
            "program": c.program,
            "program_label": PROGRAM_LABELS.get(c.program, c.program),
            "contract_kind": c.contract_kind,
            "final_payment_date": c.final_payment_date.isoformat(),
        }


def submitted_contract(contract: Contract) -> SubmittedContract:
    """The contract's facts the approver reviews beside the request (carried in the submission)."""
    return SubmittedContract(
        contractor_postal_code=contract.contractor_postal_code,
        contractor_address=contract.contractor_address,
        model=contract.model,
        registration_no=contract.registration_no,
        contract_kind=contract.contract_kind,
        final_payment_date=contract.final_payment_date,
        final_payment_amount=contract.final_payment_amount,
    )


async def request_facts(session: AsyncSession, contract_no: str) -> tuple[rules.RequestFact, ...]:
    """The contract's requests: as approvals reports them, and ours (open_returns) not reported yet."""
    reported = (
        await session.scalars(select(RequestStatus).where(RequestStatus.contract_no == contract_no))
    ).all()
    facts = [rules.RequestFact(r.request_id, r.type, r.status) for r in reported]
    ours = await session.get(OpenReturn, contract_no)
    if ours is not None and all(f.request_id != ours.request_id for f in facts):
        facts.append(rules.RequestFact(ours.request_id, "vehicle_return", rules.SUBMITTED))
    return tuple(facts)


def tfc_ownership(contract: Contract) -> rules.TfcOwnership:
    return rules.TfcOwnership(
        rules.Owner(contract.tfc_store_code, contract.tfc_store_name, contract.tfc_staff_code),
        contract.version,
        contract.tfc_owner_since,
    )


async def load_contract(session: AsyncSession, contract_no: str) -> ContractView | None:
    contract = await session.get(Contract, contract_no)
    if contract is None:
        return None
    selection = await session.get(ContractSelection, contract_no)
    reassignment = None
    if selection is not None and selection.store_code is not None:
        reassignment = rules.Reassignment(
            rules.Owner(selection.store_code, selection.store_name or "", selection.staff_code or ""),
            selection.assignment_seq,
            selection.assignment_basis_version,
        )
    owner = rules.effective_owner(tfc_ownership(contract), reassignment)
    assert owner is not None
    facts = ContractFacts(
        contract_no=contract_no,
        dealer_code=contract.dealer_code,
        store_code=owner.store_code,
        program=contract.program,
        receivable_purchased=contract.receivable_purchased,
        selection_category=selection.category if selection else None,
        requests=await request_facts(session, contract_no),
    )
    return ContractView(contract, owner.store_code, owner.store_name, owner.staff_code, facts)


async def contract_in_scope(session: AsyncSession, user: User, contract_no: str) -> ContractView:
    """The contract if the user may see it; else the 404 refusal (another store's looks like none)."""
    view = await load_contract(session, contract_no)
    if view is None or not user.sees_store(view.facts.dealer_code, view.store_code):
        raise contract_not_found()
    return view


async def get_submission(session: AsyncSession, user: User, request_id: str) -> Submission:
    submission = await session.get(Submission, request_id)
    if submission is None or not user.sees_store(submission.dealer_code, submission.store_code):
        raise Refusal("not_found", "return_not_found", "指定された車両返却の入力内容は見つかりません。")
    return submission


async def request_status(session: AsyncSession, request_id: str) -> RequestStatus | None:
    return await session.get(RequestStatus, request_id)


async def wait_for_status(runtime: Runtime, request_id: str, wait_s: float) -> RequestStatus | None:
    """The status approvals reported for the request, waiting up to `wait_s` for its first report."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        async with runtime.sessionmaker() as session:
            status = await request_status(session, request_id)
        if status is not None or loop.time() >= deadline:
            return status
        await asyncio.sleep(0.1)


async def last_contacts(session: AsyncSession, user: User) -> dict[str, Any]:
    """Prefill of 貴社情報: the contacts this user gave last time (else their own e-mail)."""
    last = await session.scalar(
        select(Submission)
        .where(Submission.submitter_user_id == user.user_id)
        .order_by(Submission.submitted_at.desc())
        .limit(1)
    )
    if last is None:
        return {"contact1": "", "contact2": "", "contact3_email": user.email or ""}
    p = last.payload
    return {
        "contact1": p.get("contact1") or "",
        "contact2": p.get("contact2") or "",
        "contact3_email": p.get("contact3_email") or "",
    }
