"""The outbox sends exactly what committed, in order; the inbox makes a redelivery harmless."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import Column, MetaData, String, Table, func, select

from shared.db import make_engine, make_sessionmaker
from shared.events import (
    MEMO_UPDATED,
    REQUEST_STATUS_CHANGED,
    MemoUpdated,
    Party,
    RequestStatusChanged,
    utcnow,
)
from shared.messaging import ensure_topics, make_producer
from shared.outbox import Inbox, Outbox, unit_of_work
from shared.settings import CommonSettings
from shared.topics import REQUEST_STATUS, SELECTION_EVENTS
from tests.support import read_topic


def _tables() -> tuple[MetaData, Table, Outbox, Inbox]:
    metadata = MetaData()
    things = Table("things", metadata, Column("id", String(40), primary_key=True))
    return metadata, things, Outbox(metadata), Inbox(metadata)


async def test_outbox_publishes_committed_rows_in_order_and_drops_rolled_back(
    kafka_bootstrap: str, any_database: Callable[[str], Awaitable[str]]
) -> None:
    metadata, things, outbox, _ = _tables()
    engine = make_engine(await any_database("outbox"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessionmaker = make_sessionmaker(engine)
    topic = f"test.outbox.{uuid.uuid4().hex[:8]}"
    settings = CommonSettings(kafka_bootstrap_servers=kafka_bootstrap)
    await ensure_topics(settings, [topic])

    for n in range(5):
        async with sessionmaker() as session, session.begin():
            await session.execute(things.insert().values(id=f"t{n}"))
            await outbox.stage(session, topic=topic, key="same-key", value={"n": n})
    try:
        async with sessionmaker() as session, session.begin():
            await session.execute(things.insert().values(id="rolled-back"))
            await outbox.stage(session, topic=topic, key="same-key", value={"n": "never"})
            raise RuntimeError("the change fails")
    except RuntimeError:
        pass

    producer = make_producer(settings, "test")
    await producer.start()
    try:
        assert await outbox.relay_once(sessionmaker, producer) == 5
        assert await outbox.relay_once(sessionmaker, producer) == 0
    finally:
        await producer.stop()
    records = await read_topic(kafka_bootstrap, topic, expect=5)
    assert [json.loads(r.value)["n"] for r in records] == [0, 1, 2, 3, 4]
    assert {r.key for r in records} == {b"same-key"}
    async with sessionmaker() as session:
        assert await outbox.backlog(session) == 0
    await engine.dispose()


async def test_outbox_keeps_a_row_that_commits_while_the_batch_before_it_is_in_flight(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]]
) -> None:
    """Found by the soak (issue 18): a transaction takes its outbox id before another one but commits after
    it (two instances of returns do that all the time; a paused database or broker widens the window). The
    relay publishes the rows it saw and, while the broker acknowledges, the lower-numbered row commits: the
    relay then deleted it unsent (`id <= last id sent`), a 202-accepted return that never became a request.
    It must delete exactly what it sent and publish the late row next time."""
    metadata, _, outbox, _ = _tables()
    engine = make_engine(await pg_database("outbox_late"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessionmaker = make_sessionmaker(engine)
    topic = f"test.outbox.{uuid.uuid4().hex[:8]}"
    settings = CommonSettings(kafka_bootstrap_servers=kafka_bootstrap)
    await ensure_topics(settings, [topic])

    slow = sessionmaker()
    await slow.begin()
    await outbox.stage(slow, topic=topic, key="late", value={"n": "late"})  # takes the lower id, uncommitted
    await slow.flush()
    async with sessionmaker() as session, session.begin():
        await outbox.stage(session, topic=topic, key="early", value={"n": "early"})

    producer = make_producer(settings, "test")
    await producer.start()
    send = producer.send

    async def send_while_the_slow_one_commits(*args, **kwargs):  # type: ignore[no-untyped-def]
        sent = await send(*args, **kwargs)
        if slow.in_transaction():
            await slow.commit()  # the lower-numbered row commits while the batch is in flight
        return sent

    producer.send = send_while_the_slow_one_commits  # type: ignore[method-assign]
    try:
        assert await outbox.relay_once(sessionmaker, producer) == 1  # what it saw: "early"
        assert await outbox.relay_once(sessionmaker, producer) == 1  # then "late", kept meanwhile
    finally:
        await producer.stop()
        await slow.close()
    records = await read_topic(kafka_bootstrap, topic, expect=2)
    assert sorted(json.loads(r.value)["n"] for r in records) == ["early", "late"]
    async with sessionmaker() as session:
        assert await outbox.backlog(session) == 0
    await engine.dispose()


async def test_outbox_keeps_rows_while_broker_is_unreachable(
    any_database: Callable[[str], Awaitable[str]],
) -> None:
    metadata, _, outbox, _ = _tables()
    engine = make_engine(await any_database("outbox_down"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessionmaker = make_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        await outbox.stage(session, topic="t", key="k", value=b"x")
    stopping = asyncio.Event()
    attempts = 0

    async def connect():  # type: ignore[no-untyped-def]
        nonlocal attempts
        attempts += 1
        producer = make_producer(CommonSettings(kafka_bootstrap_servers="127.0.0.1:1"), "down")
        await producer.start()  # the broker is unreachable: this fails
        return producer

    task = asyncio.create_task(outbox.run(sessionmaker, connect, 0.05, stopping))
    await asyncio.sleep(1.0)
    task.cancel()  # as Runtime.stop does
    await asyncio.gather(task, return_exceptions=True)
    async with sessionmaker() as session:
        assert await outbox.backlog(session) == 1
    assert attempts >= 1
    await engine.dispose()


async def test_inbox_records_each_event_once(any_database: Callable[[str], Awaitable[str]]) -> None:
    metadata, things, _, inbox = _tables()
    engine = make_engine(await any_database("inbox"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessionmaker = make_sessionmaker(engine)

    async def handle(event_id: str) -> None:
        async with sessionmaker() as session, session.begin():
            if await inbox.first_time(session, event_id):
                await session.execute(things.insert().values(id=str(uuid.uuid4())))

    await handle("e1")
    await handle("e1")
    await handle("e2")
    await asyncio.gather(*(handle("e3") for _ in range(5)), return_exceptions=True)
    async with sessionmaker() as session:
        count = (await session.execute(select(func.count()).select_from(things))).scalar_one()
    assert count == 3
    await engine.dispose()


async def test_unit_of_work_stages_enveloped_events_and_wakes_the_relay_only_after_a_commit(
    any_database: Callable[[str], Awaitable[str]],
) -> None:
    metadata, things, outbox, _ = _tables()
    outbox.service = "selection"
    engine = make_engine(await any_database("uow"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessionmaker = make_sessionmaker(engine)
    author = Party(user_id="d1s1-staff1", name="佐藤 健一", role="staff")
    memo = MemoUpdated(
        contract_no="0010000001",
        dealer_code="D001",
        seq=1,
        text="来店予定",
        author=author,
        updated_at=utcnow(),
    )
    status = RequestStatusChanged.model_construct(request_id="r-1", contract_no="0010000001")

    try:
        async with unit_of_work(sessionmaker, outbox) as session:
            await session.execute(things.insert().values(id="rolled-back"))
            await outbox.stage_event(session, SELECTION_EVENTS, MEMO_UPDATED, memo)
            raise RuntimeError("the change fails")
    except RuntimeError:
        pass
    assert not outbox._wake.is_set()  # nothing committed: nothing to send

    async with unit_of_work(sessionmaker, outbox) as session:
        await session.execute(things.insert().values(id="t1"))
        await outbox.stage_event(session, SELECTION_EVENTS, MEMO_UPDATED, memo)
        await outbox.stage_event(session, REQUEST_STATUS, REQUEST_STATUS_CHANGED, status)
        assert not outbox._wake.is_set()  # not before the commit
    assert outbox._wake.is_set()

    async with sessionmaker() as session:
        rows = (await session.execute(select(outbox.table).order_by(outbox.table.c.id))).all()
        kept = (await session.execute(select(things.c.id))).scalars().all()
    assert kept == ["t1"]
    assert [(r.topic, r.key) for r in rows] == [(SELECTION_EVENTS, "0010000001"), (REQUEST_STATUS, "r-1")]
    first, second = (json.loads(r.value) for r in rows)
    assert (first["source"], first["type"], first["subject"]) == (
        "jpass/selection",
        MEMO_UPDATED,
        "0010000001",
    )
    assert first["data"]["text"] == "来店予定"
    assert (second["subject"], second["data"]["request_id"]) == (
        "r-1",
        "r-1",
    )  # keyed by request, not contract
    await engine.dispose()
