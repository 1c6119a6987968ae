"""Read side: the progress list (進捗一覧) and a request's page data, always within the user's scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.approvals import domain
from services.approvals.db import HistoryEntry, Request
from services.approvals.use_cases import TOKYO, aware, normalise_name, request_flow
from shared.events import SubmittedContract
from shared.identity import User
from shared.requests import REQUEST_TYPE_LABELS
from shared.rules import REFINANCE_RESULT_LABELS

MAX_ITEMS = 500


@dataclass
class ListFilters:
    tab: str = "current"  # current | past
    type: str = ""  # "" = 全件
    statuses: list[str] = field(default_factory=list)
    contractor_name: str = ""
    contract_no: str = ""
    reception_no: str = ""  # normalised (domain.normalise_reception_no); exact match
    updated_from: datetime | None = None
    updated_to: datetime | None = None


MOMENT_MIN = datetime(1900, 1, 1, tzinfo=TOKYO)
MOMENT_MAX = datetime(3000, 1, 1, tzinfo=TOKYO)


MSG_REVERSED_RANGE = "最終更新日時の開始は終了より前の日付を入力してください（開始と終了が逆です）。"


def reversed_range(start: datetime | None, end: datetime | None) -> bool:
    return start is not None and end is not None and start >= end  # the end is exclusive: an empty range


def parse_moment(value: str | None, *, end: bool) -> datetime | None:
    """`YYYY-MM-DD` (a Tokyo day, inclusive) or an ISO date-time (naive = Tokyo), from 1900 to 2999:
    ValueError beyond (9999-12-31's next day, or year 1 at +14:00 in UTC, is no datetime at all)."""
    if not value:
        return None
    value = value.strip()
    if len(value) == 10:
        moment = datetime.combine(date.fromisoformat(value), time.min, TOKYO)
    else:
        parsed = datetime.fromisoformat(value)
        moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=TOKYO)
    if not (MOMENT_MIN <= moment < MOMENT_MAX):
        raise ValueError(f"out of range: {value}")
    return moment + timedelta(days=1) if end and len(value) == 10 else moment


def scoped(user: User) -> Select[Request]:
    stmt = select(Request).where(Request.dealer_code == user.dealer_code)
    if user.role != "hq":
        stmt = stmt.where(Request.store_code == user.store_code)
    return stmt


async def count_types(session: AsyncSession, user: User, tab: str) -> dict[str, int]:
    """Requests per type (申込内容) in the tab, over the user's whole scope (like the status counts)."""
    tab_statuses = domain.PAST_STATUSES if tab == "past" else frozenset(domain.CURRENT_STATUSES)
    stmt = (
        scoped(user)
        .with_only_columns(Request.type, func.count())
        .where(Request.status.in_(tab_statuses))
        .group_by(Request.type)
    )
    counts = dict.fromkeys(REQUEST_TYPE_LABELS, 0)
    for request_type, n in (await session.execute(stmt)).all():
        counts[request_type] = int(n)
    return counts


async def list_requests(
    session: AsyncSession, user: User, filters: ListFilters
) -> tuple[list[Request], dict[str, int]]:
    stmt = scoped(user)
    tab_statuses = domain.PAST_STATUSES if filters.tab == "past" else frozenset(domain.CURRENT_STATUSES)
    stmt = stmt.where(Request.status.in_(tab_statuses))
    if filters.type:
        stmt = stmt.where(Request.type == filters.type)
    if filters.statuses:
        stmt = stmt.where(Request.status.in_(filters.statuses))
    if filters.contractor_name.strip():
        stmt = stmt.where(
            Request.contractor_search.contains(normalise_name(filters.contractor_name), autoescape=True)
        )
    if filters.contract_no.strip():
        stmt = stmt.where(Request.contract_no == filters.contract_no.strip())
    if filters.reception_no:
        stmt = stmt.where(Request.reception_no == filters.reception_no)
    if filters.updated_from:
        stmt = stmt.where(Request.updated_at >= filters.updated_from.astimezone(UTC))
    if filters.updated_to:
        op = Request.updated_at < filters.updated_to.astimezone(UTC)
        stmt = stmt.where(op)
    rows = (await session.execute(stmt.order_by(Request.updated_at.desc()).limit(MAX_ITEMS))).scalars().all()
    counted = scoped(user).with_only_columns(Request.status, func.count()).group_by(Request.status)
    if filters.type:
        counted = counted.where(Request.type == filters.type)
    counts = dict.fromkeys(domain.STATUSES, 0)
    for status, n in (await session.execute(counted)).all():
        counts[status] = int(n)
    return list(rows), counts


async def get_request(session: AsyncSession, user: User, request_id: str) -> Request | None:
    req = await session.get(Request, request_id)
    if req is None or not user.sees_store(req.dealer_code, req.store_code):
        return None
    return req


async def history_of(session: AsyncSession, request_id: str) -> list[HistoryEntry]:
    stmt = select(HistoryEntry).where(HistoryEntry.request_id == request_id).order_by(HistoryEntry.id)
    return list((await session.execute(stmt)).scalars().all())


def iso(dt: datetime | None) -> str | None:
    dt = aware(dt)
    return dt.isoformat() if dt else None


def actor_of(user: User, req: Request) -> domain.Actor:
    return domain.Actor(role=user.role, is_submitter=req.submitter.get("user_id") == user.user_id)


def list_item(req: Request) -> dict[str, Any]:
    return {
        "request_id": req.request_id,
        "reception_no": req.reception_no,
        "type": req.type,
        "type_label": REQUEST_TYPE_LABELS.get(req.type, req.type),
        "status": req.status,
        "status_label": domain.STATUS_LABELS[req.status],
        "status_color": domain.status_colour(req.status),
        "version": req.version,
        "contract_no": req.contract_no,
        "contractor_name": req.contractor_name,
        "dealer_code": req.dealer_code,
        "store_code": req.store_code,
        "store_name": req.store_name,
        "submitter": req.submitter,
        "submitted_at": iso(req.submitted_at),
        "requested_at": iso(req.requested_at),
        "updated_at": iso(req.updated_at),
    }


def history_item(h: HistoryEntry) -> dict[str, Any]:
    return {
        "version": h.version,
        "at": iso(h.at),
        "actor": h.actor,
        "role": h.actor_role,
        "role_label": domain.ACTOR_ROLE_LABELS.get(h.actor_role, h.actor_role),
        "action": h.action,
        "action_label": domain.ACTION_LABELS.get(h.action, h.action),
        "from_status": h.from_status,
        "from_status_label": domain.STATUS_LABELS.get(h.from_status or "", None),
        "to_status": h.to_status,
        "to_status_label": domain.STATUS_LABELS[h.to_status],
        "changes": h.changes or {},
        "note": h.note,
    }


def send_back_item(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The latest send-back as shown: reason, sender (None = TFC) and who that is in words."""
    if not stored:
        return None
    sender = stored.get("sender")
    if sender is None:
        sender_label = domain.ACTOR_ROLE_LABELS["tfc"]
    else:
        role = domain.ACTOR_ROLE_LABELS.get(sender.get("role", ""), sender.get("role", ""))
        sender_label = f"{sender.get('name', '')}（{role}）"
    return {
        "reason": stored.get("reason"),
        "sender": sender,
        "sender_label": sender_label,
        "at": stored.get("at"),
    }


def contract_item(req: Request) -> dict[str, Any]:
    """The contract beside the request: the facts its submission carried; for a request submitted before
    submissions carried them, the 最終回年月日 an 早期完済受付's payload holds (else None: not known)."""
    facts: dict[str, Any] = {key: None for key in ("contractor_name_kana", *SubmittedContract.model_fields)}
    facts.update(req.contract_facts or {})
    facts["final_payment_date"] = facts["final_payment_date"] or (req.payload or {}).get("final_payment_date")
    facts["recorded"] = req.contract_facts is not None
    return facts


def detail(req: Request, history: list[HistoryEntry], user: User) -> dict[str, Any]:
    return {
        **list_item(req),
        "program": req.program,
        "contract": contract_item(req),
        "payload": req.payload,
        "result": req.result,
        "result_label": REFINANCE_RESULT_LABELS.get(req.result or "", None),
        "payoff_amount": req.payoff_amount,
        "dealer_note": req.dealer_note,
        "tfc_message": req.tfc_message,
        "last_send_back": send_back_item(req.last_send_back),
        "approvers": req.approvers or [],
        "flow": {"store_step": req.store_step, "hq_step": req.hq_step},
        "allowed_actions": domain.allowed_actions(req.status, actor_of(user, req), request_flow(req)),
        "history": [history_item(h) for h in history],
    }
