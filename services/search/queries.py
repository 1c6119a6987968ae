"""Read-only queries of the customer list (thin: the rules live in rules.py)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, date
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    ColumnExpressionArgument,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from services.search import dashboard, rules
from services.search.db import (
    LISTED_SQL,
    STUB_VERSION,
    Contract,
    ContractRequest,
    MemoHistory,
    RequestStatusEvent,
)
from shared.identity import User

MAX_ROWS = 100
CSV_BATCH = 1000
# What a CSV row shows (services/search/export.py cells): fetching only these keeps the rows the event
# loop receives and processes small.
CSV_COLUMNS = (
    "final_payment_date",
    "contract_kind",
    "selection_category",
    "replacement",
    "replacement_model",
    "completed",
    "handling_status",
    "contractor_name",
    "first_registration_date",
    "model",
    "registration_no",
    "staff_code",
    "store_name",
    "contract_no",
)
_TOKEN = re.compile(r"^(?P<contract_no>[^@\s]{1,32})@(?P<seq>\d{1,12})$")


class bigrams_contain(FunctionElement[bool]):
    """`jpass_bigrams(dealer_code, store_code, column) @> ARRAY[tokens]::text[]` on PostgreSQL, where
    the bigram GIN indexes answer it (services/search/db.py); always true elsewhere (SQLite has no such
    index)."""

    type = Boolean()
    inherit_cache = True
    name = "jpass_bigrams_contain"


@compiles(bigrams_contain, "postgresql")
def _bigrams_contain_postgresql(element: bigrams_contain, compiler: SQLCompiler, **kw: Any) -> str:
    dealer, store, column, *tokens = element.clauses
    array = ", ".join(compiler.process(token, **kw) for token in tokens)
    scope = f"{compiler.process(dealer, **kw)}, {compiler.process(store, **kw)}"
    return f"jpass_bigrams({scope}, {compiler.process(column, **kw)}) @> ARRAY[{array}]::text[]"


@compiles(bigrams_contain)
def _bigrams_contain_other(element: bigrams_contain, compiler: SQLCompiler, **kw: Any) -> str:
    return "1 = 1"


def bigram_scope(user: User) -> str:
    """The key prefix of the user's scope in the bigram index: the dealer for hq, else the store."""
    if user.role == "hq":
        return f"{user.dealer_code}:"
    return f"{user.dealer_code}/{user.store_code or ''}:"


def _contains(column: Any, needle: str, user: User) -> ColumnElement[bool]:
    """`column` holds `needle` (LIKE), narrowed first by the bigram index to the candidates of the
    user's scope (hq: the dealer, others: the store) when the needle has a bigram (two or more
    characters)."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = column.like(f"%{escaped}%", escape="\\")
    scope = bigram_scope(user)
    tokens = [literal(scope + bigram) for bigram in rules.bigrams(needle)]
    if not tokens:
        return like
    return and_(bigrams_contain(Contract.dealer_code, Contract.store_code, column, *tokens), like)


def scope_filter(user: User) -> list[ColumnElement[bool]]:
    """Contracts the user may see: hq its dealer, staff and store managers their store."""
    where: list[ColumnElement[bool]] = [
        Contract.dealer_code == user.dealer_code,
        Contract.version > STUB_VERSION,
    ]
    if user.role != "hq":
        where.append(Contract.store_code == (user.store_code or ""))
    return where


def criteria_filter(
    criteria: rules.Criteria, today: date, user: User
) -> list[ColumnExpressionArgument[bool]]:
    where: list[ColumnExpressionArgument[bool]] = [text(LISTED_SQL)]
    if criteria.hide_done:  # a range on the final date: the scope/final-date indexes still answer it
        where += [Contract.final_payment_date >= today, Contract.completed.is_(False)]
    if criteria.mode == "individual":
        if criteria.contract_no:
            where.append(Contract.contract_no == criteria.contract_no)
        if criteria.contractor_name:
            where.append(_contains(Contract.search_name, criteria.contractor_name, user))
        if criteria.registration_no:
            where.append(_contains(Contract.search_plate, criteria.registration_no, user))
    elif criteria.mode == "general":
        if criteria.final_from:
            where.append(Contract.final_payment_date >= criteria.final_from)
        if criteria.final_to:
            where.append(Contract.final_payment_date <= criteria.final_to)
        if criteria.model:
            where.append(_contains(Contract.search_model, criteria.model, user))
        if criteria.handling_status:
            where.append(Contract.handling_status == criteria.handling_status)
        if criteria.program:
            where.append(Contract.program == criteria.program)
    else:
        lo, hi = rules.first_registration_range_for_inspection(
            criteria.inspection or 1, criteria.months_from, criteria.months_to, today
        )
        where.append(Contract.first_registration_month.between(lo, hi))
    return where


def ordering(sort: str) -> tuple[Any, ...]:
    if sort == "staff_code":
        return (Contract.staff_code, Contract.final_payment_date, Contract.contract_no)
    return (Contract.final_payment_date, Contract.contract_no)


def search_statements(
    user: User, criteria: rules.Criteria, today: date
) -> tuple[Select[int], Select[Contract]]:
    """(count, ordered rows without limit): the API, the CSV and the benchmark all use these."""
    where = [*scope_filter(user), *criteria_filter(criteria, today, user)]
    count = select(func.count()).select_from(Contract).where(*where)
    rows = select(Contract).where(*where).order_by(*ordering(criteria.sort))
    return count, rows


class Record(dict[str, Any]):
    """One row as a dict whose keys are also attributes (`r.contract_no`), like a Contract. Reading
    60 columns of 100 rows by name off SQLAlchemy's Row costs ~1 µs an attribute; this ~0.05 µs."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


async def search(
    session: AsyncSession, user: User, criteria: rules.Criteria, today: date
) -> tuple[int, list[Record]]:
    """The first MAX_ROWS rows (Records with the Contract's attributes) and the total.

    Run on the session's connection as Core statements: no ORM entity or identity map for a
    read-only list (the ORM's execution path costs ~4 ms more per 100 rows)."""
    count, rows = search_statements(user, criteria, today)
    conn = await session.connection()
    result = await conn.execute(rows.with_only_columns(*Contract.__table__.columns).limit(MAX_ROWS))
    keys = list(result.keys())
    page = [Record(zip(keys, row, strict=True)) for row in result.all()]
    total = len(page) if len(page) < MAX_ROWS else (await conn.execute(count)).scalar_one()
    return total, page


async def stream_batches(
    session: AsyncSession, user: User, criteria: rules.Criteria, today: date
) -> AsyncIterator[list[Any]]:
    """Every matching row (plain rows, no ORM identity map) through a server-side cursor, in lists of
    CSV_BATCH rows: one snapshot of the read model, CSV_BATCH rows in memory at a time."""
    where = [*scope_filter(user), *criteria_filter(criteria, today, user)]
    stmt = (
        select(*(Contract.__table__.c[name] for name in CSV_COLUMNS))
        .where(*where)
        .order_by(*ordering(criteria.sort))
        .execution_options(yield_per=CSV_BATCH)
    )
    result = await session.stream(stmt)
    async for rows in result.partitions(CSV_BATCH):
        yield list(rows)


async def get_contract(session: AsyncSession, user: User, contract_no: str) -> Contract | None:
    return (
        await session.execute(
            select(Contract).where(*scope_filter(user), Contract.contract_no == contract_no)
        )
    ).scalar_one_or_none()


async def contract_requests(session: AsyncSession, contract_no: str) -> list[ContractRequest]:
    """Every request of the contract the read model knows of, newest first."""
    stmt = (
        select(ContractRequest)
        .where(ContractRequest.contract_no == contract_no)
        .order_by(ContractRequest.at.desc(), ContractRequest.request_id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def memo_history(session: AsyncSession, contract_no: str) -> list[MemoHistory]:
    stmt = select(MemoHistory).where(MemoHistory.contract_no == contract_no).order_by(MemoHistory.seq.desc())
    return list((await session.execute(stmt)).scalars().all())


async def model_names(session: AsyncSession, user: User) -> list[str]:
    """車種 choices for the general search (distinct models in the user's scope)."""
    stmt = select(Contract.model).where(*scope_filter(user)).distinct().order_by(Contract.model).limit(500)
    return [m for m in (await session.execute(stmt)).scalars().all() if m]


def parse_consistency_token(token: str | None) -> tuple[str, int] | None:
    """`<contract_no>@<seq>` from a writer's response; None when absent or malformed."""
    m = _TOKEN.match((token or "").strip())
    return (m["contract_no"], int(m["seq"])) if m else None


async def wait_for_seq(
    sessionmaker: async_sessionmaker[AsyncSession], user: User, contract_no: str, seq: int, timeout_s: float
) -> bool:
    """Read-your-writes: wait (briefly) until the read model applied `seq` for the contract.

    Only for a contract the user can see: for any other (another dealer's or store's, or none) the answer
    is at once and the same, so neither the time taken nor the outcome tells whether it exists or how
    many changes it has had."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    delay = 0.02
    while True:
        async with sessionmaker() as session:
            applied = (
                await session.execute(
                    select(Contract.seq).where(*scope_filter(user), Contract.contract_no == contract_no)
                )
            ).scalar_one_or_none()
        if applied is None:
            return False
        if applied >= seq:
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(min(delay, max(deadline - loop.time(), 0)))
        delay = min(delay * 1.5, 0.2)


# --------------------------------------------------------------------------------------------
# Dashboard (store_manager: own store; hq: the whole dealer)


def _listed_in_scope(user: User) -> list[ColumnExpressionArgument[bool]]:
    return [*scope_filter(user), text(LISTED_SQL)]


async def selection_counts(session: AsyncSession, user: User, by: str) -> list[dashboard.SelectionCounts]:
    """Selections per store (`by="store"`) or per staff code (`by="staff"`) in the user's scope."""
    yes = func.sum(case((Contract.replacement == "yes", 1), else_=0))
    on_time = func.sum(case((Contract.selection_late.is_(False), 1), else_=0))
    keys = (Contract.store_code, Contract.store_name) if by == "store" else (Contract.staff_code,)
    stmt = (
        select(*keys, func.count(), yes, on_time)
        .where(*_listed_in_scope(user), Contract.selection_category.is_not(None))
        .group_by(*keys)
        .order_by(*keys)
    )
    out = []
    for row in (await session.execute(stmt)).all():
        if by == "store":
            key, label, n, y, t = tuple(row)
        else:
            key, n, y, t = tuple(row)
            label = key
        out.append(dashboard.SelectionCounts(key, label, int(n), int(y or 0), int(t or 0)))
    return out


async def returns_in_progress(session: AsyncSession, user: User) -> list[tuple[str, str, str, int]]:
    """(store_code, store_name, status_label, count) of vehicle-return requests in progress (手続中)."""
    stmt = (
        select(Contract.store_code, Contract.store_name, Contract.request_status_label, func.count())
        .where(
            *_listed_in_scope(user),
            Contract.handling_status == "in_progress",
            Contract.request_type == "vehicle_return",
        )
        .group_by(Contract.store_code, Contract.store_name, Contract.request_status_label)
        .order_by(Contract.store_code, Contract.request_status_label)
    )
    return [(s, n, label or "", int(c)) for s, n, label, c in (await session.execute(stmt)).all()]


async def status_changes(session: AsyncSession, user: User) -> list[dashboard.StatusChange]:
    where = [RequestStatusEvent.dealer_code == user.dealer_code]
    if user.role != "hq":
        where.append(RequestStatusEvent.store_code == (user.store_code or ""))
    stmt = select(
        RequestStatusEvent.request_id,
        RequestStatusEvent.version,
        RequestStatusEvent.new_status,
        RequestStatusEvent.at,
    ).where(*where)
    return [
        dashboard.StatusChange(r, v, s, at if at.tzinfo else at.replace(tzinfo=UTC))
        for r, v, s, at in (await session.execute(stmt)).all()
    ]


async def inspection_highlights(session: AsyncSession, user: User, today: date) -> tuple[int, list[Any]]:
    """Contracts (not complete) whose final-payment month is a predicted inspection month, in the next
    months (dashboard.highlight_windows): (total, the first HIGHLIGHT_LIMIT, final date first)."""
    windows = dashboard.highlight_windows(today)
    matches = or_(
        *(
            and_(
                Contract.final_payment_date >= w.first_day,
                Contract.final_payment_date < w.next_month_first_day,
                Contract.first_registration_month.in_(w.first_registration_months),
            )
            for w in windows
        )
    )
    where = [*_listed_in_scope(user), Contract.completed.is_(False), matches]
    total = (await session.execute(select(func.count()).select_from(Contract).where(*where))).scalar_one()
    rows = (
        await session.execute(
            select(*Contract.__table__.columns)
            .where(*where)
            .order_by(Contract.final_payment_date, Contract.contract_no)
            .limit(dashboard.HIGHLIGHT_LIMIT)
        )
    ).all()
    return int(total), list(rows)
