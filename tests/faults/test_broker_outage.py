"""The broker goes away while users keep changing things: the outbox keeps every event and drains when
the broker is back (a restarted Tansu has forgotten its topics: the relay recreates them)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import Column, MetaData, String, Table

from shared.outbox import Inbox, Outbox
from shared.runtime import Runtime
from shared.settings import CommonSettings
from tests.support import Tansu, eventually, read_topic

TOPIC = "jpass.fault-test.v1"
OUTAGE_S = 7.0  # longer than the producer's request timeout (5 s)


async def test_outbox_survives_a_broker_outage(pg_database: Callable[[str], Awaitable[str]]) -> None:
    broker = Tansu()
    broker.start()
    metadata = MetaData()
    changes = Table("changes", metadata, Column("id", String(40), primary_key=True))
    outbox = Outbox(metadata)
    settings = CommonSettings(kafka_bootstrap_servers=broker.bootstrap, outbox_poll_interval_s=0.1)
    runtime = Runtime(
        "faults", settings, await pg_database("faults"), metadata, outbox, Inbox(metadata), [TOPIC]
    )
    await runtime.start()

    async def change(n: int) -> str:
        event_id = f"{n}-{uuid.uuid4().hex[:6]}"
        async with runtime.sessionmaker() as session, session.begin():
            await session.execute(changes.insert().values(id=event_id))
            await outbox.stage(session, topic=TOPIC, key=f"k{n % 7}", value={"id": event_id})
        outbox.notify()
        return event_id

    try:
        before = [await change(n) for n in range(100)]
        first = await read_topic(broker.bootstrap, TOPIC, expect=100)
        broker.stop()
        stopped = time.monotonic()
        during = [await change(n) for n in range(100, 200)]  # users go on; their commits succeed
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
        async with runtime.sessionmaker() as session:
            assert await outbox.backlog(session) == 100
        restarted = time.monotonic()
        broker.start()  # same port, empty memory

        async def drained() -> None:
            async with runtime.sessionmaker() as session:
                assert await outbox.backlog(session) == 0

        await eventually(drained, timeout_s=60)
        recovered_s = time.monotonic() - restarted
        second = await read_topic(broker.bootstrap, TOPIC, expect=100)
    finally:
        await runtime.stop()
        broker.stop()
    delivered = [json.loads(r.value)["id"] for r in first + second]
    lost = set(before + during) - set(delivered)
    duplicates = len(delivered) - len(set(delivered))
    print(
        f"\nbroker outage: 200 written, {len(set(delivered))} delivered, {len(lost)} lost, "
        f"{duplicates} duplicate, recovered in {recovered_s:.1f} s"
    )
    assert not lost and duplicates == 0
    # per-key order kept
    for key in range(7):
        ids = [d for d in delivered if int(d.split("-")[0]) % 7 == key]
        assert ids == sorted(ids, key=lambda d: int(d.split("-")[0]))
