"""Consumers: poison messages go to the dead-letter topic and the partition keeps flowing;
a handler failure that is not the message's fault is retried, not lost."""

from __future__ import annotations

import asyncio
import uuid

from pydantic import BaseModel

from shared.messaging import PoisonMessage, ensure_topics, make_broker, subscribe
from shared.settings import CommonSettings
from shared.topics import dead_letter
from tests.support import eventually, publish, read_topic


class Ping(BaseModel):
    n: int


async def test_poison_and_failures_are_dead_lettered_and_the_rest_flows(kafka_bootstrap: str) -> None:
    topic = f"test.msg.{uuid.uuid4().hex[:8]}"
    settings = CommonSettings(kafka_bootstrap_servers=kafka_bootstrap)
    await ensure_topics(settings, [topic])
    broker = make_broker(settings, "test-msg")
    seen: list[int] = []
    attempts: dict[int, int] = {}

    async def handler(ping: Ping) -> None:
        attempts[ping.n] = attempts.get(ping.n, 0) + 1
        if ping.n == 2:
            raise PoisonMessage("impossible transition")
        if ping.n == 3:
            raise ValueError("always broken")
        if ping.n == 4 and attempts[4] == 1:
            raise ConnectionError("database blipped")
        seen.append(ping.n)

    subscribe(
        broker,
        topic,
        settings=settings,
        group_id=f"g-{topic}",
        model=Ping,
        handler=handler,
        retry_base_s=0.01,
    )
    await broker.start()
    try:
        for value in ({"n": 1}, b"{broken json", {"n": 2}, {"wrong": "schema"}, {"n": 3}, {"n": 4}, {"n": 5}):
            await publish(kafka_bootstrap, topic, "one-key", value)

        async def all_good_seen() -> None:
            assert seen == [1, 4, 5]

        await eventually(all_good_seen)
    finally:
        await broker.stop()
    assert attempts[3] == 3  # bounded retries, then dead-lettered
    dead = await read_topic(kafka_bootstrap, dead_letter(topic), expect=4)
    reasons = [dict(r.headers)["dlq-reason"].decode() for r in dead]
    assert len(dead) == 4
    assert any("invalid message" in r for r in reasons)
    assert any("impossible transition" in r for r in reasons)
    assert any("always broken" in r for r in reasons)
    assert all(dict(r.headers)["dlq-source-topic"].decode() == topic for r in dead)
    await asyncio.sleep(0)
