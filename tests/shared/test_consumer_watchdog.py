"""A consumer whose group coordination ended is started again (shared.runtime.Runtime.watch_consumers).

aiokafka ends a consumer's coordination task for good on an error it did not expect; the consumer object
stays, every fetch then fails with "Unexpected error during coordination", it never rejoins its group and
its partitions are stuck while the service looks healthy. The soak (issue 18) met it: returns' selection
consumer stopped on one partition for the rest of the run. Here the coordinator lookup fails once with the
error the soak saw; the next message must still be consumed."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import MetaData

from shared.messaging import subscribe
from shared.outbox import Inbox, Outbox
from shared.runtime import Runtime, dead_consumers
from shared.settings import CommonSettings
from tests.support import eventually, publish


class Note(BaseModel):
    text: str


async def test_a_consumer_whose_coordination_ended_consumes_again(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = f"test.watchdog.{uuid.uuid4().hex[:8]}"
    settings = CommonSettings(kafka_bootstrap_servers=kafka_bootstrap, consumer_watchdog_interval_s=0.5)
    metadata = MetaData()
    runtime = Runtime(
        "watchdog",
        settings,
        f"sqlite+aiosqlite:///{tmp_path}/w.db",
        metadata,
        Outbox(metadata),
        Inbox(metadata),
        [topic],
    )
    seen: list[str] = []

    async def handle(note: Note) -> None:
        seen.append(note.text)

    subscribe(runtime, topic, model=Note, handler=handle, transaction=False)
    await runtime.start()
    try:
        await publish(kafka_bootstrap, topic, "k", {"text": "before"})

        async def consumed(text: str) -> None:
            assert text in seen, seen

        await eventually(lambda: consumed("before"), timeout_s=30)
        (subscriber,) = runtime.broker.subscribers
        consumer = subscriber.consumer
        client = consumer._client
        lookup = client.coordinator_lookup

        async def fails_once(*args, **kwargs):  # type: ignore[no-untyped-def]
            client.coordinator_lookup = lookup
            raise RuntimeError(
                "unable to perform operation on <TCPTransport closed=True>; the handler is closed"
            )

        client.coordinator_lookup = fails_once
        consumer._coordinator.coordinator_dead()  # the coordinator looks gone: it is looked up again
        await eventually(lambda: _ended(consumer), timeout_s=10)  # as in the soak: coordination over
        await publish(kafka_bootstrap, topic, "k", {"text": "after"})
        await eventually(lambda: consumed("after"), timeout_s=60)
        assert not dead_consumers(runtime.broker)
    finally:
        await runtime.stop()


async def _ended(consumer) -> None:  # type: ignore[no-untyped-def]
    task = consumer._coordinator._coordination_task
    assert task.done(), "coordination still running"
    await asyncio.sleep(0)
