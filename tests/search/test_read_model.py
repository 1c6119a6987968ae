"""The read model applies events in any order and with duplicates (PostgreSQL and SQLite)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.search.consumers import apply_contract, apply_envelope
from services.search.db import Base, Contract, MemoHistory
from shared.db import make_engine, make_sessionmaker
from shared.events import RawEnvelope
from tests.search.factories import AT, assignment, memo, request_status, selection, snapshot

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(any_database: Callable[[str], Awaitable[str]]) -> AsyncIterator[Maker]:
    engine = make_engine(await any_database("search_rm"))
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def apply(sessions: Maker, *items: object) -> None:
    for item in items:
        async with sessions() as session, session.begin():
            if isinstance(item, RawEnvelope):
                await apply_envelope(session, item)
            else:
                await apply_contract(session, item)  # type: ignore[arg-type]


async def load(sessions: Maker, no: str) -> Contract:
    async with sessions() as session:
        contract = await session.get(Contract, no)
        assert contract is not None
        return contract


async def test_selection_events_in_any_order_and_duplicated(sessions: Maker) -> None:
    first = selection("C1", 1, category="cash", replacement="no")
    second = selection("C1", 3, category="vehicle_return", replacement="yes", model="アクア")
    note = memo("C1", 2, "来店予定")
    for n, order in enumerate(itertools.permutations([first, second, note, snapshot("C1")])):
        no = f"C1-{n}"
        renamed = [_rename(item, no) for item in order]
        await apply(sessions, *renamed, *renamed)  # each twice
        c = await load(sessions, no)
        assert c.version == 1, order
        assert (c.selection_category, c.replacement, c.replacement_model) == (
            "vehicle_return",
            "yes",
            "アクア",
        )
        assert c.memo_text == "来店予定" and c.memo_seq == 2
        assert c.seq == 3
        assert c.handling_status == "selected"
        assert c.contractor_name == "山田 太郎"


def _rename(item: object, no: str) -> object:
    if isinstance(item, RawEnvelope):
        data = {**item.data, "contract_no": no}
        return item.model_copy(update={"id": f"{item.id}-{no}", "subject": no, "data": data})
    return item.model_copy(update={"contract_no": no})  # type: ignore[attr-defined]


async def test_memo_keeps_history_and_newest_wins(sessions: Maker) -> None:
    await apply(
        sessions, snapshot("M1"), memo("M1", 2, "二回目"), memo("M1", 1, "一回目"), memo("M1", 2, "二回目")
    )
    c = await load(sessions, "M1")
    assert c.memo_text == "二回目"
    async with sessions() as session:
        history = (await session.execute(MemoHistory.__table__.select())).all()
    assert sorted(h.text for h in history) == ["一回目", "二回目"]


async def test_a_duplicate_event_id_is_applied_once(sessions: Maker) -> None:
    await apply(sessions, snapshot("D1"))
    event = selection("D1", 5)
    await apply(sessions, event)
    # same id, but pretend the data differs: the inbox refuses it
    replay = event.model_copy(update={"data": {**event.data, "seq": 9, "category": "refinance"}})
    await apply(sessions, replay)
    c = await load(sessions, "D1")
    assert (c.selection_category, c.seq) == ("cash", 5)


async def test_request_status_newest_version_wins(sessions: Maker) -> None:
    await apply(sessions, snapshot("R1"), selection("R1", 1, category="vehicle_return"))
    events = [
        request_status("R1", "req-1", 1, "store_pending", "店舗承認者手続中"),
        request_status("R1", "req-1", 2, "requested", "依頼中"),
        request_status("R1", "req-1", 3, "completed", "完了"),
    ]
    await apply(sessions, events[2], events[0], events[1], events[2])
    c = await load(sessions, "R1")
    assert (c.request_id, c.request_status, c.request_status_label) == ("req-1", "completed", "完了")
    assert c.completed and c.handling_status == "completed"


async def test_a_withdrawn_request_then_a_new_one(sessions: Maker) -> None:
    await apply(
        sessions,
        snapshot("R2"),
        selection("R2", 1, category="vehicle_return"),
        request_status("R2", "new", 1, "requested", "依頼中", at=AT + timedelta(days=2)),
        request_status("R2", "old", 2, "withdrawn", "取下げ", at=AT + timedelta(days=1)),
        request_status("R2", "old", 1, "store_pending", "店舗承認者手続中"),
    )
    c = await load(sessions, "R2")
    assert (c.request_id, c.handling_status) == ("new", "in_progress")
    await apply(sessions, request_status("R2", "new", 2, "withdrawn", "取下げ", at=AT + timedelta(days=3)))
    c = await load(sessions, "R2")
    assert (c.request_id, c.request_status, c.handling_status) == ("new", "withdrawn", "selected")


async def test_assignment_makes_green_until_the_new_store_selects(sessions: Maker) -> None:
    await apply(sessions, snapshot("G1"), selection("G1", 1, store="S0101"), assignment("G1", 2))
    c = await load(sessions, "G1")
    assert (c.store_code, c.store_name, c.staff_code, c.transferred_in) == (
        "S0102",
        "世田谷店",
        "010201",
        True,
    )
    # a TFC snapshot that does not change TFC's ownership keeps the reassignment
    await apply(sessions, snapshot("G1", version=2, model="アクア"))
    c = await load(sessions, "G1")
    assert (c.store_code, c.model, c.transferred_in) == ("S0102", "アクア", True)
    # an older selection arriving late does not clear it; the new store's selection does
    await apply(sessions, selection("G1", 1, store="S0101"))
    assert (await load(sessions, "G1")).transferred_in
    await apply(sessions, selection("G1", 3, store="S0102"))
    assert not (await load(sessions, "G1")).transferred_in


async def test_staff_only_assignment_is_not_a_transfer(sessions: Maker) -> None:
    await apply(sessions, snapshot("G2"), assignment("G2", 1, to="S0101", frm="S0101", staff="010102"))
    c = await load(sessions, "G2")
    assert (c.staff_code, c.transferred_in) == ("010102", False)


async def test_tfc_store_change_makes_green(sessions: Maker) -> None:
    await apply(sessions, snapshot("G3"), snapshot("G3", version=2, store="S0102"))
    c = await load(sessions, "G3")
    assert (c.store_code, c.transferred_in) == ("S0102", True)
    await apply(sessions, selection("G3", 1, store="S0102"))
    assert not (await load(sessions, "G3")).transferred_in


async def test_assignment_before_the_first_snapshot(sessions: Maker) -> None:
    await apply(sessions, assignment("G4", 1), snapshot("G4"))
    c = await load(sessions, "G4")
    assert (c.version, c.store_code, c.transferred_in) == (1, "S0102", True)


async def test_tfc_completion_states(sessions: Maker) -> None:
    await apply(sessions, snapshot("T1"), snapshot("T1", version=2, status="settled"))
    c = await load(sessions, "T1")
    assert c.completed and c.handling_status == "completed"
