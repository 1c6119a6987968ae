"""Use cases of the request workflow: load, apply the domain, save + history + outbox in one transaction."""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jaconv
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from services.approvals import domain
from services.approvals.config import ApprovalsSettings
from services.approvals.db import FlowSettings, HistoryEntry, ReceptionCounter, Request, TimeoutNotice
from shared.db import rows_changed, upsert
from shared.events import (
    REQUEST_STATUS_CHANGED,
    REQUEST_TIMED_OUT,
    JpassRequest,
    Party,
    RequestStatusChanged,
    RequestSubmitted,
    RequestTimedOut,
    RequestUpdate,
    SendBack,
)
from shared.identity import User
from shared.messaging import PoisonMessage
from shared.refusal import Refusal
from shared.requests import REQUEST_TYPES
from shared.runtime import Runtime
from shared.topics import JPASS_REQUESTS, REQUEST_STATUS, REQUEST_TIMEOUTS

log = logging.getLogger(__name__)
TOKYO = ZoneInfo("Asia/Tokyo")
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def aware(dt: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back: they are UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def normalise_name(text: str) -> str:
    """Forgiving name for 契約者名 search: NFKC, hiragana → katakana, no spaces, case-folded."""
    return re.sub(r"[\s・･]+", "", jaconv.hira2kata(unicodedata.normalize("NFKC", text or "")).casefold())


def searchable_name(name: str, kana: str) -> str:
    """The name and its reading, each normalised, so that a search by either finds the request (a separator
    no normalised needle contains keeps a match from spanning the two)."""
    return "\x1f".join(part for part in (normalise_name(name), normalise_name(kana)) if part)


def contract_facts(event: RequestSubmitted) -> dict[str, Any] | None:
    """What the submission says of the contract, kept read-only beside the request (None: an older producer
    sent nothing)."""
    if event.contract is None:
        return None
    return {"contractor_name_kana": event.contractor_name_kana, **event.contract.model_dump(mode="json")}


def party_of(user: User) -> Party:
    return Party(user_id=user.user_id, name=user.name, role=user.role, email=user.email or None)


async def next_reception_no(session: AsyncSession, submitted_at: datetime) -> str:
    """The next 受付番号 of the submission's month, unique across request types and instances.

    One upsert on the month's counter row: it takes the row's lock (PostgreSQL; SQLite's write lock),
    so concurrent submissions are served one after the other and each gets its own number.
    """
    period = domain.reception_period(submitted_at)
    counted = (
        upsert(session, ReceptionCounter)
        .values(period=period, last_no=1)
        .on_conflict_do_update(
            index_elements=[ReceptionCounter.period], set_={"last_no": ReceptionCounter.last_no + 1}
        )
        .returning(ReceptionCounter.last_no)
    )
    seq = (await session.execute(counted)).scalar_one()
    return domain.reception_no(period, seq)


@dataclass
class FlowView:
    store_approval: bool = False
    hq_approval: bool = False
    hq_approver_emails: list[str] = field(default_factory=list)


@dataclass
class ActResult:
    request: Request
    send_back_recipient: Party | None = None

    @property
    def recipient_unreachable(self) -> bool:
        """A send-back whose recipient has no e-mail: the sender must tell them separately."""
        return self.request.status in ("staff_back", "store_back", "hq_back") and (
            self.send_back_recipient is None or not self.send_back_recipient.email
        )


def request_flow(req: Request) -> domain.Flow:
    return domain.Flow(store_step=req.store_step, hq_step=req.hq_step)


class Approvals:
    """The request workflow of one service instance."""

    def __init__(self, runtime: Runtime, settings: ApprovalsSettings, clock: Clock = system_clock) -> None:
        self.runtime = runtime
        self.settings = settings
        self.clock = clock

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.runtime.sessionmaker

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return self.now().astimezone(TOKYO).date()

    # ---------------------------------------------------------------------------------------
    # Flow settings

    async def flow_settings(self, session: AsyncSession, dealer_code: str) -> FlowView:
        row = await session.get(FlowSettings, dealer_code)
        if row is None:
            return FlowView()
        return FlowView(row.store_approval, row.hq_approval, list(row.hq_approver_emails or []))

    async def get_flow(self, dealer_code: str) -> FlowView:
        async with self.sessionmaker() as session:
            return await self.flow_settings(session, dealer_code)

    async def put_flow(self, user: User, view: FlowView) -> FlowView:
        async with self.sessionmaker() as session, session.begin():
            row = await session.get(FlowSettings, user.dealer_code, with_for_update=True)
            if row is None:
                row = FlowSettings(dealer_code=user.dealer_code)
                session.add(row)
            row.store_approval = view.store_approval
            row.hq_approval = view.hq_approval
            row.hq_approver_emails = list(dict.fromkeys(view.hq_approver_emails))
            row.updated_at = self.now()
            row.updated_by = user.user_id
        return await self.get_flow(user.dealer_code)

    # ---------------------------------------------------------------------------------------
    # Submission (from an intake: returns, selection)

    async def submit(self, session: AsyncSession, event: RequestSubmitted, request_type: str) -> bool:
        """Create the request of a submission (in the consumer's transaction, after its inbox); the same
        request_id twice creates one. The consumer wakes the outbox relay after the commit."""
        schema = REQUEST_TYPES.get(request_type)
        if schema is None:
            raise PoisonMessage(f"unknown request type {request_type!r}")
        try:
            payload = schema.model_validate(event.payload).model_dump(mode="json")
        except ValidationError as e:
            raise PoisonMessage(f"invalid {request_type} payload: {e.errors()[:3]}") from e
        if await session.get(Request, event.request_id) is not None:
            return False
        settings = await self.flow_settings(session, event.dealer_code)
        flow = domain.effective_flow(settings.store_approval, settings.hq_approval, event.submitter.role)
        now = self.now()
        status = domain.first_status(flow)
        req = Request(
            request_id=event.request_id,
            reception_no=await next_reception_no(session, aware(event.submitted_at) or now),
            type=request_type,
            payload=payload,
            status=status,
            version=1,
            contract_no=event.contract_no,
            contractor_name=event.contractor_name,
            contractor_search=searchable_name(event.contractor_name, event.contractor_name_kana),
            program=event.program,
            dealer_code=event.dealer_code,
            store_code=event.store_code,
            store_name=event.store_name,
            contract_facts=contract_facts(event),
            submitter=event.submitter.model_dump(mode="json"),
            store_step=flow.store_step,
            hq_step=flow.hq_step,
            approvers=[],
            submitted_at=now,
            requested_at=now if status == "requested" else None,
            status_changed_at=now,
            updated_at=now,
        )
        session.add(req)
        await session.flush()  # the history row refers to it
        session.add(
            HistoryEntry(
                request_id=req.request_id,
                version=1,
                at=now,
                actor=req.submitter,
                actor_role=event.submitter.role,
                action="submit",
                from_status=None,
                to_status=status,
                changes={},
                note=None,
            )
        )
        await session.flush()
        await self._stage_events(
            session,
            req,
            action="submit",
            old_status=None,
            actor=event.submitter,
            recipient=None,
            hq_emails=settings.hq_approver_emails,
            jpass_events=["requested"] if status == "requested" else [],
        )
        return True

    # ---------------------------------------------------------------------------------------
    # Dealer actions (approve / send back / withdraw / correct)

    async def act(
        self,
        user: User,
        request_id: str,
        action: str,
        *,
        version: int,
        note: str | None = None,
        payload: dict[str, Any] | None = None,
        dealer_note: str | None = None,
    ) -> ActResult:
        async with self.runtime.unit_of_work() as session:
            req = await self._load_in_scope(session, user, request_id)
            if req.version != version:
                raise domain.stale()
            submitter = Party.model_validate(req.submitter)
            actor = domain.Actor(role=user.role, is_submitter=submitter.user_id == user.user_id)
            settings = await self.flow_settings(session, req.dealer_code)
            flow_now = domain.effective_flow(settings.store_approval, settings.hq_approval, submitter.role)
            outcome = domain.decide(req.status, action, actor, request_flow(req), flow_now=flow_now)
            if action == "correct" and payload is None:
                raise domain.invalid_payload({"payload": "訂正内容を入力してください。"})
            changes: dict[str, list[Any]] = {}
            new_payload = req.payload
            if payload is not None and action != "withdraw":
                new_payload = self._validated(req, payload, submitter.role)
                changes = domain.payload_changes(req.payload, new_payload)
            new_dealer_note = req.dealer_note
            if dealer_note is not None and user.role == "hq" and not actor.is_submitter:
                new_dealer_note = dealer_note.strip() or None
                if new_dealer_note != req.dealer_note:
                    changes["dealer_note"] = [req.dealer_note, new_dealer_note]
            recipient, send_back = None, None
            if action == "send_back":
                reason = domain.approver_send_back_reason(user.role, note, req.dealer_note, new_dealer_note)
                send_back = SendBack(reason=reason, sender=party_of(user), at=self.now())
                recipient = self._send_back_recipient(req, outcome.status, submitter)
            await self._apply(
                session,
                req,
                outcome,
                action=action,
                actor=party_of(user),
                actor_role=user.role,
                note=send_back.reason if send_back else (note or "").strip() or None,
                changes=changes,
                payload=new_payload,
                dealer_note=new_dealer_note,
                tfc_message=req.tfc_message,
                recipient=recipient,
                hq_emails=settings.hq_approver_emails,
                send_back=send_back,
            )
        return ActResult(req, recipient)

    def _validated(self, req: Request, payload: dict[str, Any], submitter_role: str) -> dict[str, Any]:
        data, errors = domain.validate_payload(
            REQUEST_TYPES[req.type],
            payload,
            submitter_role=submitter_role,
            today=self.today(),
            request_type=req.type,
            previous=req.payload,
        )
        if data is None:
            raise domain.invalid_payload(errors)
        return data

    def _send_back_recipient(self, req: Request, new_status: str, submitter: Party) -> Party | None:
        role = domain.send_back_recipient_role(new_status)
        if role == "submitter":
            return submitter.model_copy(update={"email": req.payload.get("contact3_email") or None})
        for approver in reversed(req.approvers or []):
            if approver.get("role") == role:
                return Party.model_validate(approver)
        return None

    async def _load_in_scope(self, session: AsyncSession, user: User, request_id: str) -> Request:
        req = await session.get(Request, request_id)
        if req is None or not user.sees_store(req.dealer_code, req.store_code):
            raise domain.not_found()
        return req

    # ---------------------------------------------------------------------------------------
    # TFC updates (tfc.request-updates.v1)

    async def apply_tfc_update(self, update_msg: RequestUpdate) -> bool:
        """Apply TFC's answer. Refusals dead-letter (PoisonMessage); duplicates change nothing."""
        for _ in range(5):
            try:
                return await self._apply_tfc_update_once(update_msg)
            except Refusal as e:
                if e.kind != "stale":
                    raise
                await asyncio.sleep(0.05)  # a dealer action won the row meanwhile: decide again
        raise RuntimeError(f"request {update_msg.request_id} kept changing; TFC update retried")

    async def _apply_tfc_update_once(self, msg: RequestUpdate) -> bool:
        async with self.runtime.unit_of_work() as session:
            if msg.update_id and not await self.runtime.inbox.first_time(
                session, f"tfc-update:{msg.update_id}"
            ):
                return False
            req = await session.get(Request, msg.request_id)
            if req is None:
                raise PoisonMessage(f"unknown request {msg.request_id}")
            try:
                answer = domain.tfc_answer(
                    req.type,
                    msg.action,
                    message=msg.message,
                    result=msg.result,
                    payoff_amount=msg.payoff_amount,
                    known_payoff_amount=req.payoff_amount,
                )
                outcome = domain.decide(
                    req.status,
                    msg.action,
                    domain.TFC,
                    request_flow(req),
                    tfc_message=req.tfc_message,
                    new_tfc_message=answer.message,
                )
            except Refusal as e:
                raise PoisonMessage(f"{e.code}: {e.message}") from e
            if outcome.duplicate and answer.payoff_amount == req.payoff_amount:
                return False
            if outcome.duplicate:  # the same text with another amount: TFC corrected the amount
                outcome = domain.Outcome(outcome.status, outcome.flow)
            submitter = Party.model_validate(req.submitter)
            settings = await self.flow_settings(session, req.dealer_code)
            new_message = req.tfc_message
            if msg.action == "message" or (msg.action == "complete" and answer.message):
                new_message = answer.message
            changes: dict[str, list[Any]] = {}
            for name, old, new in (
                ("tfc_message", req.tfc_message, new_message),
                ("result", req.result, answer.result or req.result),
                ("payoff_amount", req.payoff_amount, answer.payoff_amount),
            ):
                if new != old:
                    changes[name] = [old, new]
            recipient, send_back = None, None
            if msg.action == "send_back":
                send_back = SendBack(reason=(msg.message or "").strip() or None, sender=None, at=self.now())
                recipient = self._send_back_recipient(req, outcome.status, submitter)
            await self._apply(
                session,
                req,
                outcome,
                action=msg.action,
                actor=None,
                actor_role="tfc",
                note=msg.message,
                changes=changes,
                payload=req.payload,
                dealer_note=req.dealer_note,
                tfc_message=new_message,
                recipient=recipient,
                hq_emails=settings.hq_approver_emails,
                expected_version=req.version,
                send_back=send_back,
                result=answer.result or req.result,
                payoff_amount=answer.payoff_amount,
            )
        return True

    # ---------------------------------------------------------------------------------------
    # The one place a request changes

    async def _apply(
        self,
        session: AsyncSession,
        req: Request,
        outcome: domain.Outcome,
        *,
        action: str,
        actor: Party | None,
        actor_role: str,
        note: str | None,
        changes: dict[str, list[Any]],
        payload: dict[str, Any],
        dealer_note: str | None,
        tfc_message: str | None,
        recipient: Party | None,
        hq_emails: list[str],
        expected_version: int | None = None,
        send_back: SendBack | None = None,
        result: str | None = None,
        payoff_amount: int | None = None,
    ) -> None:
        now = self.now()
        old_status, old_version = req.status, req.version
        if send_back is not None:
            send_back = send_back.model_copy(update={"at": now})  # the same moment as the history entry
        status_changed = outcome.status != old_status or outcome.restart
        approvers = [] if outcome.restart else list(req.approvers or [])
        if action == "approve" and actor is not None:
            approvers = [a for a in approvers if a.get("user_id") != actor.user_id]
            approvers.append(actor.model_dump(mode="json"))
        entered_requested = outcome.status == "requested" and (old_status != "requested" or outcome.restart)
        values = {
            "status": outcome.status,
            "version": old_version + 1,
            "store_step": outcome.flow.store_step,
            "hq_step": outcome.flow.hq_step,
            "approvers": approvers,
            "payload": payload,
            "dealer_note": dealer_note,
            "tfc_message": tfc_message,
            "last_send_back": send_back.model_dump(mode="json") if send_back else req.last_send_back,
            "result": result if result is not None else req.result,
            "payoff_amount": payoff_amount if payoff_amount is not None else req.payoff_amount,
            "requested_at": now if entered_requested else req.requested_at,
            "status_changed_at": now if status_changed else req.status_changed_at,
            "updated_at": now,
        }
        # Optimistic concurrency: exactly one writer moves the row from `old_version`.
        moved = await rows_changed(
            session,
            update(Request)
            .where(Request.request_id == req.request_id, Request.version == (expected_version or old_version))
            .values(**values)
            .execution_options(synchronize_session=False),
        )
        if moved != 1:
            raise domain.stale()
        for k, v in values.items():
            set_committed_value(req, k, v)  # already written: no second UPDATE at flush
        session.add(
            HistoryEntry(
                request_id=req.request_id,
                version=req.version,
                at=now,
                actor=actor.model_dump(mode="json") if actor else None,
                actor_role=actor_role,
                action=action,
                from_status=old_status,
                to_status=outcome.status,
                changes=changes,
                note=note,
            )
        )
        jpass_events: list[str] = []
        if old_status == "requested" and action == "correct":
            jpass_events.append("corrected")
        if old_status == "requested" and action == "withdraw":
            jpass_events.append("withdrawn")
        if entered_requested:
            jpass_events.append("requested")
        await self._stage_events(
            session,
            req,
            action=action,
            old_status=old_status,
            actor=actor,
            recipient=recipient,
            hq_emails=hq_emails,
            jpass_events=jpass_events,
            send_back=send_back,
        )

    async def _stage_events(
        self,
        session: AsyncSession,
        req: Request,
        *,
        action: str,
        old_status: str | None,
        actor: Party | None,
        recipient: Party | None,
        hq_emails: list[str],
        jpass_events: list[str],
        send_back: SendBack | None = None,
    ) -> None:
        now = self.now()
        submitter = Party.model_validate(req.submitter)
        changed = RequestStatusChanged(
            request_id=req.request_id,
            type=req.type,
            contract_no=req.contract_no,
            contractor_name=req.contractor_name,
            dealer_code=req.dealer_code,
            store_code=req.store_code,
            version=req.version,
            action=action,
            old_status=old_status,
            new_status=req.status,
            new_status_label=domain.STATUS_LABELS[req.status],
            actor=actor,
            submitter=submitter,
            approvers=[Party.model_validate(a) for a in req.approvers or []],
            contact_email=req.payload.get("contact3_email") or None,
            notify_on_completion=bool(req.payload.get("notify_on_completion", False)),
            hq_approver_emails=hq_emails,
            send_back_recipient=recipient,
            dealer_note=req.dealer_note,
            tfc_message=req.tfc_message,
            at=now,
            store_name=req.store_name,
            reception_no=req.reception_no,
            send_back=send_back,
            payload=req.payload,
            result=req.result,
            payoff_amount=req.payoff_amount,
        )
        await self.runtime.outbox.stage_event(session, REQUEST_STATUS, REQUEST_STATUS_CHANGED, changed)
        for event in jpass_events:
            message = JpassRequest(
                event=event,
                request_id=req.request_id,
                type=req.type,
                version=req.version,
                contract_no=req.contract_no,
                dealer_code=req.dealer_code,
                store_code=req.store_code,
                submitter=submitter,
                payload=req.payload,
                requested_at=aware(req.requested_at),
                at=now,
                reception_no=req.reception_no,
            )
            await self.runtime.outbox.stage(session, topic=JPASS_REQUESTS, key=req.request_id, value=message)

    # ---------------------------------------------------------------------------------------
    # Timeout sweep (SPEC §6)

    def reminder_rules(self) -> list[tuple[str, frozenset[str], float]]:
        return [
            (
                "submitter_status_check",
                domain.SUBMITTER_REMINDER_STATUSES,
                self.settings.reminder_submitter_after_s,
            ),
            ("hq_approval_status_check", domain.HQ_REMINDER_STATUSES, self.settings.reminder_hq_after_s),
        ]

    async def sweep_once(self) -> int:
        """Publish a RequestTimedOut for every elapsed period not published yet; returns how many."""
        now = self.now()
        published = 0
        for kind, statuses, period_s in self.reminder_rules():
            if period_s <= 0:
                continue
            cutoff = now - timedelta(seconds=period_s)
            async with self.sessionmaker() as session:
                due = (
                    (
                        await session.execute(
                            select(Request.request_id).where(
                                Request.status.in_(statuses), Request.status_changed_at <= cutoff
                            )
                        )
                    )
                    .scalars()
                    .all()
                )
            for request_id in due:
                published += await self._remind(request_id, kind, statuses, period_s, now)
        return published

    async def _remind(
        self, request_id: str, kind: str, statuses: frozenset[str], period_s: float, now: datetime
    ) -> int:
        async with self.runtime.unit_of_work() as session:
            req = await session.get(Request, request_id, with_for_update=True)
            if req is None or req.status not in statuses:
                return 0
            since = aware(req.status_changed_at)
            assert since is not None
            elapsed = int((now - since).total_seconds() // period_s)
            sent = set(
                (
                    await session.execute(
                        select(TimeoutNotice.period_no).where(
                            TimeoutNotice.request_id == request_id,
                            TimeoutNotice.kind == kind,
                            TimeoutNotice.status_since == req.status_changed_at,
                        )
                    )
                ).scalars()
            )
            missing = [n for n in range(1, elapsed + 1) if n not in sent]
            if not missing:
                return 0
            settings = await self.flow_settings(session, req.dealer_code)
            for period_no in missing:
                session.add(
                    TimeoutNotice(
                        request_id=request_id,
                        kind=kind,
                        status_since=req.status_changed_at,
                        period_no=period_no,
                        sent_at=now,
                    )
                )
                event = RequestTimedOut(
                    request_id=req.request_id,
                    type=req.type,
                    kind=kind,
                    period_no=period_no,
                    contract_no=req.contract_no,
                    contractor_name=req.contractor_name,
                    dealer_code=req.dealer_code,
                    store_code=req.store_code,
                    status=req.status,
                    status_label=domain.STATUS_LABELS[req.status],
                    version=req.version,
                    submitter=Party.model_validate(req.submitter),
                    contact_email=req.payload.get("contact3_email") or None,
                    hq_approver_emails=settings.hq_approver_emails,
                    at=now,
                    reception_no=req.reception_no,
                )
                await self.runtime.outbox.stage_event(session, REQUEST_TIMEOUTS, REQUEST_TIMED_OUT, event)
            return len(missing)

    async def run_sweep(self) -> None:
        """The periodic sweep of the service's lifetime (survives database outages)."""
        stopping = self.runtime.stopping
        while not stopping.is_set():
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("timeout sweep failed, retrying: %r", e)
            try:
                await asyncio.wait_for(stopping.wait(), timeout=self.settings.sweep_interval_s)
            except TimeoutError:
                pass
