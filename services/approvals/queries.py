"""Read side: the progress list (進捗一覧) and a request with its history, always within the user's scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.approvals import domain
from services.approvals.db import HistoryEntry, Request
from services.approvals.use_cases import TOKYO, normalise_name
from shared.identity import User
from shared.requests import REQUEST_TYPE_LABELS

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
