"""Property (SPEC §9.1): whatever order the streams reach them in, search, selection and returns agree on a
contract's store, staff, 選択区分 and completion.

What happens is drawn at random: TFC snapshots (store/staff changes or not), hq's 店舗・スタッフ変更 and
selections made through selection's real use cases (whose outbox gives the events), and a vehicle-return
request going its way (approvals' status events; returns records its own submission). Selection applies
everything in the order it happened (it is where the commands run). search and returns each receive the
three streams — TFC's snapshots, selection's events, the request events — every stream in its own order
(one partition per key), interleaved at random, some events twice. Each service runs its real consumer
code on its own SQLite database; at the end all three must say the same thing."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devtools.demo import USERS_BY_ID
from services.returns import consumers as returns_consumers
from services.returns import db as returns_db
from services.returns import use_cases as returns_handlers
from services.search import consumers as search_consumers
from services.search import db as search_db
from services.selection import db as selection_db
from services.selection import domain as selection_domain
from services.selection import queries as selection_queries
from services.selection import use_cases as selection_handlers
from shared import rules
from shared.db import make_engine, make_sessionmaker
from shared.events import (
    REQUEST_STATUS_CHANGED,
    ContractSnapshot,
    Envelope,
    Party,
    RawEnvelope,
    RequestStatusChanged,
    ReturnSubmitted,
)
from shared.messaging import apply_event
from shared.refusal import Refusal
from shared.topics import REQUEST_STATUS, SELECTION_EVENTS
from tests.factories import contract_snapshot

NO = "PROP0001"
TODAY = date(2026, 5, 15)
AT = datetime(2026, 5, 15, 1, 0, tzinfo=UTC)
HQ = USERS_BY_ID["d1-hq"]
SUBMITTER = Party(user_id="d1s1-staff1", name="佐藤 健一", role="staff")
OWNERS = [("S0101", "010101"), ("S0101", "010102"), ("S0102", "010201"), ("S0102", "010202")]
Maker = async_sessionmaker[AsyncSession]


def snapshot(no: str, version: int, store: str, staff: str) -> ContractSnapshot:
    return contract_snapshot(
        no, version=version, store=store, staff_code=staff, final_payment_date=date(2027, 6, 30)
    )


def envelope(type_: str, subject: str, data: Any) -> RawEnvelope:
    raw = Envelope[Any](source="tests", type=type_, subject=subject, data=data).model_dump_json()
    return RawEnvelope.model_validate_json(raw)


# What happens, in the order it happens
Step = tuple[str, Any]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("snapshot"), st.sampled_from(OWNERS)),
        st.tuples(st.just("reassign"), st.sampled_from(OWNERS)),
        st.tuples(st.just("select"), st.sampled_from(rules.CATEGORIES)),
        st.tuples(st.just("submit"), st.none()),
        st.tuples(st.just("advance"), st.sampled_from(["tfc_processing", "completed", "withdrawn"])),
    ),
    min_size=1,
    max_size=14,
)


@dataclass
class Streams:
    """What search and returns receive, each list in its own stream order."""

    tfc: list[ContractSnapshot] = field(default_factory=list)
    selection: list[RawEnvelope] = field(default_factory=list)
    requests: list[RawEnvelope] = field(default_factory=list)
    submissions: list[str] = field(default_factory=list)  # returns' own submissions (request ids)


@dataclass
class Request:
    request_id: str
    version: int
    status: str


async def database(tmp: Path, name: str, metadata: Any) -> Maker:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp}/{name}.db")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return make_sessionmaker(engine)


async def drain_outbox(sessions: Maker) -> list[RawEnvelope]:
    table = selection_db.outbox.table
    async with sessions() as session, session.begin():
        rows = (await session.execute(select(table.c.id, table.c.value).order_by(table.c.id))).all()
        await session.execute(delete(table))
    return [RawEnvelope.model_validate_json(value) for _, value in rows]


async def run_selection(sessions: Maker, history: list[Step]) -> Streams:
    """Selection lives through the history in order; the streams are what it and the others published."""
    handlers = selection_handlers.Handlers(sessions, selection_db.outbox)
    streams = Streams()
    version = 0
    request: Request | None = None

    async def tfc_snapshot(store: str, staff: str) -> None:
        nonlocal version
        version += 1
        streams.tfc.append(snapshot(NO, version, store, staff))
        async with sessions() as session, session.begin():
            await selection_handlers.apply_contract_snapshot(session, streams.tfc[-1])

    async def status(new: str) -> None:
        assert request is not None
        old, request.status, request.version = request.status, new, request.version + 1
        changed = RequestStatusChanged(
            request_id=request.request_id,
            type="vehicle_return",
            contract_no=NO,
            contractor_name="山田 太郎",
            dealer_code="D001",
            store_code="S0101",
            version=request.version,
            action="tfc",
            old_status=None if old == rules.SUBMITTED else old,
            new_status=new,
            new_status_label=rules.REQUEST_STATUS_LABELS[new],
            actor=None,
            submitter=SUBMITTER,
            at=AT,
        )
        streams.requests.append(envelope(REQUEST_STATUS_CHANGED, request.request_id, changed))
        async with sessions() as session, session.begin():
            await selection_handlers.apply_request_status(session, changed)

    async with sessions() as session, session.begin():  # selection knows both stores from TFC's feed
        for i, (store, staff) in enumerate(OWNERS):
            await selection_handlers.apply_contract_snapshot(session, snapshot(f"SEED{i}", 1, store, staff))
    await tfc_snapshot(*OWNERS[0])
    for kind, arg in history:
        if kind == "snapshot":
            await tfc_snapshot(*arg)
        elif kind in ("reassign", "select"):
            try:
                if kind == "reassign":
                    await handlers.change_assignment(HQ, NO, arg[0], arg[1])
                else:
                    entry = selection_domain.SelectionInput(arg, "no", None, TODAY)
                    await handlers.record_selection(HQ, NO, entry, TODAY)
            except Refusal:
                pass  # refused by the rules: nothing published
            streams.selection.extend(await drain_outbox(sessions))
        elif kind == "submit":
            async with sessions() as session:
                row = await session.get(selection_db.SelectionRecord, NO)
                facts = await selection_queries.request_facts(session, NO)
            if row is None or row.category != "vehicle_return":
                continue
            if rules.may_submit_request(facts, "vehicle_return") is not None:
                continue
            request = Request(str(uuid.uuid4()), 0, rules.SUBMITTED)
            streams.submissions.append(request.request_id)
            submitted = ReturnSubmitted(
                request_id=request.request_id,
                contract_no=NO,
                dealer_code="D001",
                store_code="S0101",
                contractor_name="山田 太郎",
                program="gamma_finance",
                submitter=SUBMITTER,
                payload={},
                submitted_at=AT,
            )
            async with sessions() as session, session.begin():
                await selection_handlers.apply_request_submitted(
                    session, submitted.request_id, NO, "vehicle_return"
                )
            await status("requested")
        elif kind == "advance" and request is not None:
            if arg == "withdrawn" and request.status != "requested":
                continue  # only the submitter, before TFC took it
            await status(arg)
            if arg in rules.CLOSED_REQUEST_STATUSES:
                request = None
    return streams


async def deliver_search(sessions: Maker, items: list[Any]) -> None:
    for item in items:
        async with sessions() as session, session.begin():
            if isinstance(item, ContractSnapshot):
                await search_consumers.apply_contract(session, item)
            else:
                await search_consumers.apply_envelope(session, item)


async def deliver_returns(sessions: Maker, items: list[Any]) -> None:
    for item in items:
        async with sessions() as session, session.begin():
            if isinstance(item, ContractSnapshot):
                await returns_consumers.apply_contract(session, item)
            elif isinstance(item, str):  # its own submission: the open_returns row, as submit_return adds it
                if await session.get(returns_db.OpenReturn, NO) is None:
                    session.add(returns_db.OpenReturn(contract_no=NO, request_id=item, opened_at=AT))
            else:
                topic = REQUEST_STATUS if item.type == REQUEST_STATUS_CHANGED else SELECTION_EVENTS
                await apply_event(session, item, returns_consumers.EVENTS[topic])


def interleave(streams: Streams, data: st.DataObject, with_submissions: bool) -> list[Any]:
    """The three (four) streams merged at random, each kept in its order, some events delivered twice.
    Returns' own submission comes before approvals' first status of it (approvals answers a submission)."""
    lanes: dict[str, list[Any]] = {
        "tfc": list(streams.tfc),
        "selection": list(streams.selection),
        "requests": list(streams.requests),
    }
    if with_submissions:  # submission i precedes the statuses of request i: one lane, in that order
        by_request: dict[str, list[Any]] = {}
        for env in streams.requests:
            by_request.setdefault(env.subject, []).append(env)
        lanes["requests"] = [
            item for request_id in streams.submissions for item in (request_id, *by_request[request_id])
        ]
    order = data.draw(st.permutations([name for name, items in lanes.items() for _ in items]))
    cursors = {name: iter(items) for name, items in lanes.items()}
    merged: list[Any] = []
    for name in order:
        item = next(cursors[name])
        merged.append(item)
        if not isinstance(item, str) and data.draw(st.integers(0, 5)) == 0:
            merged.append(item)  # delivered twice
    return merged


async def what_each_says(sel: Maker, search: Maker, ret: Maker) -> dict[str, tuple[Any, ...]]:
    async with sel() as session:
        c = await session.get(selection_db.Contract, NO)
        row = await session.get(selection_db.SelectionRecord, NO)
        facts = await selection_queries.request_facts(session, NO)
        assert c is not None
        selection = (
            c.store_code,
            c.staff_code,
            row.category if row else None,
            rules.request_state(facts, "vehicle_return") == "completed",
        )
    async with search() as session:
        s = await session.get(search_db.Contract, NO)
        assert s is not None
        in_search = (s.store_code, s.staff_code, s.selection_category, s.request_status == "completed")
    async with ret() as session:
        view = await returns_handlers.load_contract(session, NO)
        chosen = await session.get(returns_db.ContractSelection, NO)
        assert view is not None
        in_returns = (
            view.store_code,
            view.staff_code,
            chosen.category if chosen else None,
            rules.request_state(view.facts.requests, "vehicle_return") == "completed",
        )
    return {"selection": selection, "search": in_search, "returns": in_returns}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=steps, data=st.data())
def test_search_selection_and_returns_agree_whatever_the_order(
    history: list[Step], data: st.DataObject
) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            sel = await database(Path(tmp), "selection", selection_db.Base.metadata)
            search = await database(Path(tmp), "search", search_db.Base.metadata)
            ret = await database(Path(tmp), "returns", returns_db.Base.metadata)
            try:
                streams = await run_selection(sel, history)
                await deliver_search(search, interleave(streams, data, with_submissions=False))
                await deliver_returns(ret, interleave(streams, data, with_submissions=True))
                seen = await what_each_says(sel, search, ret)
                assert seen["search"] == seen["selection"] == seen["returns"], (history, seen)
            finally:
                for maker in (sel, search, ret):
                    bind = maker.kw["bind"]
                    await bind.dispose()

    asyncio.run(scenario())
