"""Use cases of the two requests selection takes in (SPEC §9.2): 再分割審査申込 and 早期完済受付.

A submission locks the contract row (the same lock every selection write takes), checks the rules against
selection's own facts, records the submission and the request as open (`contract_requests`, status
`submitted`) and stages the submission event for approvals — one transaction. So a category change and a
submission never interleave, and a second open request of the type is refused from the moment OK was
pressed. Approvals creates the request from the event; nothing calls another service.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.selection import domain, queries, use_cases
from services.selection import request_forms as forms
from services.selection.db import Contract, ContractRequest, RequestSubmission, SelectionRecord
from shared import rules
from shared.events import (
    EARLY_PAYOFF_SUBMITTED,
    PROGRAM_LABELS,
    REFINANCE_APPLICATION_SUBMITTED,
    RequestSubmitted,
    SubmittedContract,
)
from shared.identity import User
from shared.outbox import Outbox, unit_of_work
from shared.refusal import Refusal
from shared.topics import REQUEST_SUBMISSIONS

EVENT_TYPES = {
    forms.REFINANCE_APPLICATION: REFINANCE_APPLICATION_SUBMITTED,
    forms.EARLY_PAYOFF: EARLY_PAYOFF_SUBMITTED,
}
MSG_KEY_REUSED = "同じ送信キーで異なる内容が送信されました。画面を開き直して入力してください。"
MSG_SUBMISSION_NOT_FOUND = "指定された申込の入力内容は見つかりません。"

# (contract, its selection, its requests) → the payload, or a refusal
PayloadBuilder = Callable[[Contract, SelectionRecord | None, list[rules.RequestFact]], dict[str, Any]]


def contract_facts(c: Contract) -> dict[str, Any]:
    """What the screens and the print show of the contract, as it was at submission."""
    return {
        "contract_no": c.contract_no,
        "dealer_name": c.dealer_name,
        "store_code": c.store_code,
        "store_name": c.store_name,
        "staff_code": c.staff_code,
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
        "final_payment_amount": c.final_payment_amount,
    }


def submitted_contract(c: Contract) -> SubmittedContract:
    """The contract's facts the approver reviews beside the request (carried in the submission)."""
    return SubmittedContract(
        contractor_postal_code=c.contractor_postal_code,
        contractor_address=c.contractor_address,
        model=c.model,
        registration_no=c.registration_no,
        contract_kind=c.contract_kind,
        final_payment_date=c.final_payment_date,
        final_payment_amount=c.final_payment_amount,
    )


def _fingerprint(contract_no: str, request_type: str, body: Any) -> str:
    raw = json.dumps(
        {"contract_no": contract_no, "type": request_type, "body": body}, sort_keys=True, default=str
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def _party(user: User) -> dict[str, Any]:
    return use_cases.party(user).model_dump(mode="json")


class Intake:
    """Submissions of 再分割審査申込 and 早期完済受付. Built once per app."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], outbox: Outbox) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox

    # -----------------------------------------------------------------------------------------
    # The two submissions

    async def refinance_application(
        self,
        user: User,
        contract_no: str,
        months: int | None,
        annual_rate: Decimal | None,
        form: forms.RefinanceApplicationForm,
        *,
        today: date,
        now: datetime,
        idempotency_key: str | None = None,
    ) -> tuple[str, bool]:
        """Submit a 再分割審査申込 of the plan simulated from (months, rate) → (request_id, replayed)."""

        def build(c: Contract, row: SelectionRecord | None, facts: list[rules.RequestFact]) -> dict[str, Any]:
            refusal = forms.refinance_application_refusal(
                c.final_payment_date, today, row.category if row else None, facts
            )
            if refusal is not None:
                raise refusal
            checked_months, rate = domain.validate_refinance(months, annual_rate, queries.contract_rate(c))
            plan = domain.simulate_refinance(c.final_payment_amount, checked_months, rate)
            return forms.validate_refinance_application(form, plan, role=user.role, today=today)

        body = {"months": months, "annual_rate": str(annual_rate), **asdict(form)}
        return await self._submit(
            user, contract_no, forms.REFINANCE_APPLICATION, build, body, now, idempotency_key
        )

    async def early_payoff(
        self,
        user: User,
        contract_no: str,
        form: forms.EarlyPayoffForm,
        *,
        today: date,
        now: datetime,
        idempotency_key: str | None = None,
    ) -> tuple[str, bool]:
        """Submit an 早期完済受付; returns (request_id, replayed)."""

        def build(c: Contract, row: SelectionRecord | None, facts: list[rules.RequestFact]) -> dict[str, Any]:
            refusal = forms.early_payoff_refusal(
                c.final_payment_date, today, row.category if row else None, facts
            )
            if refusal is not None:
                raise refusal
            return forms.validate_early_payoff(form, c.final_payment_date, role=user.role, today=today)

        return await self._submit(
            user, contract_no, forms.EARLY_PAYOFF, build, asdict(form), now, idempotency_key
        )

    async def _submit(
        self,
        user: User,
        contract_no: str,
        request_type: str,
        build: PayloadBuilder,
        body: Any,
        now: datetime,
        idempotency_key: str | None,
    ) -> tuple[str, bool]:
        key = (idempotency_key or "").strip()[:200] or None
        fingerprint = _fingerprint(contract_no, request_type, body)
        try:
            async with unit_of_work(self.sessionmaker, self.outbox) as session:
                if key and (earlier := await self._replay(session, user, key, fingerprint)):
                    return earlier, True
                contract = await use_cases._locked_contract(session, user, contract_no)
                row = await session.get(SelectionRecord, contract_no)
                facts = await queries.request_facts(session, contract_no)
                payload = build(contract, row, facts)
                request_id = str(uuid.uuid4())
                session.add(
                    RequestSubmission(
                        request_id=request_id,
                        type=request_type,
                        contract_no=contract_no,
                        dealer_code=contract.dealer_code,
                        store_code=contract.store_code,
                        submitter_user_id=user.user_id,
                        idempotency_key=key,
                        body_fingerprint=fingerprint,
                        submitter={
                            **_party(user),
                            "dealer_name": user.dealer_name,
                            "store_name": user.store_name,
                        },
                        payload=payload,
                        contract=contract_facts(contract),
                        submitted_at=now,
                    )
                )
                await use_cases.apply_request_submitted(session, request_id, contract_no, request_type)
                await session.flush()
                event = RequestSubmitted(
                    request_id=request_id,
                    contract_no=contract_no,
                    dealer_code=contract.dealer_code,
                    store_code=contract.store_code,
                    store_name=contract.store_name,
                    contractor_name=contract.contractor_name,
                    contractor_name_kana=contract.contractor_name_kana,
                    program=contract.program,
                    contract=submitted_contract(contract),
                    submitter=use_cases.party(user),
                    payload=payload,
                    submitted_at=now,
                )
                await self.outbox.stage_event(session, REQUEST_SUBMISSIONS, EVENT_TYPES[request_type], event)
        except IntegrityError:
            # The same click twice (same key) committed first: answer with that request.
            async with self.sessionmaker() as session:
                if key and (earlier := await self._replay(session, user, key, fingerprint)):
                    return earlier, True
            raise
        return request_id, False

    async def _replay(self, session: AsyncSession, user: User, key: str, fingerprint: str) -> str | None:
        """The request an earlier submission with this key created (same user), if any."""
        done = await session.scalar(
            select(RequestSubmission).where(
                RequestSubmission.submitter_user_id == user.user_id, RequestSubmission.idempotency_key == key
            )
        )
        if done is None:
            return None
        if done.body_fingerprint != fingerprint:
            raise Refusal("invalid", "idempotency_key_reused", MSG_KEY_REUSED)
        return done.request_id

    # -----------------------------------------------------------------------------------------
    # Reading

    async def submission(self, user: User, request_id: str) -> RequestSubmission | ContractRequest:
        """What was submitted here; for a request another intake took in (a vehicle return) the request as
        selection knows it, so the page can send the user there; 404 outside the user's scope."""
        async with self.sessionmaker() as session:
            found = await session.get(RequestSubmission, request_id)
            if found is not None and user.sees_store(found.dealer_code, found.store_code):
                return found
            known = await session.get(ContractRequest, request_id) if found is None else None
            contract = await session.get(Contract, known.contract_no) if known is not None else None
        if (
            contract is not None
            and known is not None
            and user.sees_store(contract.dealer_code, contract.store_code)
        ):
            return known
        raise Refusal("not_found", "submission_not_found", MSG_SUBMISSION_NOT_FOUND)

    async def status(self, request_id: str, wait_s: float = 0.0) -> ContractRequest | None:
        """Where approvals says the request stands (None until its first report), waiting up to `wait_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            async with self.sessionmaker() as session:
                row = await session.get(ContractRequest, request_id)
            if (row is not None and row.version > 0) or loop.time() >= deadline:
                return row if row is not None and row.version > 0 else None
            await asyncio.sleep(0.1)

    async def last_contacts(self, user: User) -> dict[str, Any]:
        """Prefill of 貴社情報: the contacts this user gave last time here (else their own e-mail)."""
        async with self.sessionmaker() as session:
            last = await session.scalar(
                select(RequestSubmission)
                .where(RequestSubmission.submitter_user_id == user.user_id)
                .order_by(RequestSubmission.submitted_at.desc())
                .limit(1)
            )
        if last is None:
            return {"contact1": "", "contact2": "", "contact3_email": user.email or ""}
        p = last.payload
        return {k: p.get(k) or "" for k in ("contact1", "contact2", "contact3_email")}

    async def start(
        self, user: User, contract_no: str, request_type: str, today: date
    ) -> tuple[Contract, Refusal | None]:
        """The contract (404 outside the scope) and why the request cannot be started now, if so."""
        async with self.sessionmaker() as session:
            contract = await queries.get_contract(session, user, contract_no)
            row = await session.get(SelectionRecord, contract_no)
            facts = await queries.request_facts(session, contract_no)
        category = row.category if row else None
        check = (
            forms.refinance_application_refusal
            if request_type == forms.REFINANCE_APPLICATION
            else forms.early_payoff_refusal
        )
        return contract, check(contract.final_payment_date, today, category, facts)


async def _intake(request: Request) -> Intake:
    return request.app.state.intake


IntakeDep = Annotated[Intake, Depends(_intake)]
