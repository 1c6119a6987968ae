"""Use cases of returns: load the facts, apply the rules, save + outbox in one transaction."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.returns.db import (
    OpenReturn,
    Submission,
)
from services.returns.domain import (
    ReturnForm,
    check_eligibility,
    needs_extra_tfc_procedure,
    today_in_tokyo,
    validate_form,
)
from services.returns.queries import load_contract, submitted_contract
from shared import rules
from shared.events import (
    RETURN_SUBMITTED,
    Party,
    ReturnSubmitted,
)
from shared.identity import User
from shared.refusal import Refusal
from shared.runtime import Runtime
from shared.topics import RETURN_SUBMISSIONS


def _fingerprint(contract_no: str, form: ReturnForm) -> str:
    raw = json.dumps({"contract_no": contract_no, **asdict(form)}, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


async def _replay(session: AsyncSession, user: User, key: str, fingerprint: str) -> str | None:
    """The request_id an earlier submission with this key created (same user), if any."""
    done = await session.scalar(
        select(Submission).where(
            Submission.submitter_user_id == user.user_id, Submission.idempotency_key == key
        )
    )
    if done is None:
        return None
    if done.body_fingerprint != fingerprint:
        raise Refusal(
            "invalid",
            "idempotency_key_reused",
            "同じ送信キーで異なる内容が送信されました。画面を開き直して入力してください。",
        )
    return done.request_id


def _party(user: User) -> Party:
    return Party(user_id=user.user_id, name=user.name, role=user.role, email=user.email or None)


async def submit_return(
    runtime: Runtime,
    user: User,
    contract_no: str,
    form: ReturnForm,
    *,
    now: datetime,
    idempotency_key: str | None = None,
) -> tuple[str, bool]:
    """Submit a vehicle-return result; returns (request_id, replayed). Raises a Refusal."""
    key = (idempotency_key or "").strip()[:200] or None
    fingerprint = _fingerprint(contract_no, form)
    try:
        async with runtime.unit_of_work() as session:
            if key and (earlier := await _replay(session, user, key, fingerprint)):
                return earlier, True
            view = await load_contract(session, contract_no)
            if refusal := check_eligibility(view.facts if view else None, user):
                if key and refusal.code == "open_request_exists":
                    # The same click may have committed between our key lookup and this read.
                    if earlier := await _replay(session, user, key, fingerprint):
                        return earlier, True
                raise refusal
            assert view is not None
            payload, errors = validate_form(form, submitter_role=user.role, today=today_in_tokyo(now))
            if errors:
                raise Refusal.invalid(errors)
            assert payload is not None
            request_id = str(uuid.uuid4())
            payload_json = payload.model_dump(mode="json")
            contract = view.contract
            session.add(
                Submission(
                    request_id=request_id,
                    contract_no=contract_no,
                    dealer_code=contract.dealer_code,
                    store_code=view.store_code,
                    submitter_user_id=user.user_id,
                    idempotency_key=key,
                    body_fingerprint=fingerprint,
                    submitter={
                        **_party(user).model_dump(mode="json"),
                        "dealer_name": user.dealer_name,
                        "store_name": user.store_name,
                    },
                    payload=payload_json,
                    contract=view.summary(),
                    needs_extra_tfc_procedure=needs_extra_tfc_procedure(
                        contract.program, contract.receivable_purchased
                    ),
                    submitted_at=now,
                )
            )
            # The primary key of open_returns is what refuses a second open request across instances.
            session.add(OpenReturn(contract_no=contract_no, request_id=request_id, opened_at=now))
            await session.flush()
            submitted = ReturnSubmitted(
                request_id=request_id,
                contract_no=contract_no,
                dealer_code=contract.dealer_code,
                store_code=view.store_code,
                store_name=view.store_name,
                contractor_name=contract.contractor_name,
                contractor_name_kana=contract.contractor_name_kana,
                program=contract.program,
                contract=submitted_contract(contract),
                submitter=_party(user),
                payload=payload_json,
                submitted_at=now,
            )
            await runtime.outbox.stage_event(session, RETURN_SUBMISSIONS, RETURN_SUBMITTED, submitted)
    except IntegrityError:
        # Another submission won the race: the same click twice (same key) or the same contract.
        async with runtime.sessionmaker() as session:
            if key and (earlier := await _replay(session, user, key, fingerprint)):
                return earlier, True
            view = await load_contract(session, contract_no)
            refusal = check_eligibility(view.facts if view else None, user)
        raise refusal or Refusal("conflict", "open_request_exists", rules.MSG_SECOND_RETURN_OPEN) from None
    return request_id, False
