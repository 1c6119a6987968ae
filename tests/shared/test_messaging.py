"""Consumers: poison messages go to the dead-letter topic and the partition keeps flowing;
a handler failure that is not the message's fault is retried, not lost."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from shared.messaging import PoisonMessage, consume, ensure_topics, make_broker
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

    consume(
        broker,
        topic,
        settings=settings,
        service="test",
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


HOSTILE_VALUES: dict[str, bytes] = {
    "deep nesting": b"[" * 20_000 + b"]" * 20_000,
    "huge integer": b'{"n": ' + b"9" * 5_000 + b"}",
    "invalid utf-8": b'{"n": "\xff\xfe"}',
    "lone surrogate": b'{"n": "\\ud800"}',
    "nul byte": b'{"n": "\x00"}',
    "escaped nul": b'{"n": 1, "s": "a\\u0000b"}',
    "empty": b"",
    "null": b"null",
    "wrong type": b'{"n": [1, 2]}',
    "too large": b'{"n": 1, "pad": "' + b"x" * 3_000_000 + b'"}',
}


async def test_no_value_or_header_can_stop_a_partition(kafka_bootstrap: str) -> None:
    """Whatever the bytes (values FastStream's own decoder chokes on, undecodable or empty headers), each
    hostile message is dead-lettered with a reason and the good message behind it is handled."""
    topic = f"test.hostile.{uuid.uuid4().hex[:8]}"
    settings = CommonSettings(kafka_bootstrap_servers=kafka_bootstrap)
    await ensure_topics(settings, [topic])
    broker = make_broker(settings, "test-hostile")
    seen: list[int] = []

    async def handler(ping: Ping) -> None:
        seen.append(ping.n)

    consume(
        broker, topic, settings=settings, service="test", group_id=f"g-{topic}", model=Ping, handler=handler
    )
    records: list[tuple[bytes | None, list[tuple[str, bytes]]]] = [(v, []) for v in HOSTILE_VALUES.values()]
    records += [
        (b'{"n": 7}', [("traceparent", b"\xff\xfe not utf-8")]),
        (b"{not json", [("content-type", b"application/json")]),
        (None, []),  # a tombstone
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=8_000_000)
    await producer.start()
    try:
        for value, headers in records:
            await producer.send_and_wait(topic, value, key=b"one-key", headers=headers)
        await producer.send_and_wait(topic, b'{"n": 1}', key=b"one-key")
    finally:
        await producer.stop()
    await broker.start()
    try:

        async def good_seen() -> None:
            assert 1 in seen

        await eventually(good_seen, timeout_s=30)
    finally:
        await broker.stop()
    assert seen == [7, 1]  # the undecodable header is not the value's fault: the message is handled
    dead = await read_topic(kafka_bootstrap, dead_letter(topic), expect=len(records) - 1)
    reasons = {
        dict(r.headers)["dlq-source-offset"].decode(): dict(r.headers)["dlq-reason"].decode() for r in dead
    }
    assert len(dead) == len(records) - 1, reasons
    assert all(reasons.values())
    assert any("too large" in r for r in reasons.values()), reasons
    assert any("NUL" in r for r in reasons.values()), reasons
    cut = [r for r in dead if "dlq-original-bytes" in dict(r.headers)]
    assert len(cut) == 1 and len(cut[0].value) == settings.kafka_max_message_bytes
