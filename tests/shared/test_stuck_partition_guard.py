"""The stuck-partition guard: the per-partition metrics, the alert rule over them, and the operator command
that dead-letters one offset by hand (issue 18)."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.dead_letter_offset import dead_letter_offset
from shared.runtime import partition_positions
from shared.settings import CommonSettings
from shared.topics import dead_letter
from tests.support import publish, read_topic

ROOT = Path(__file__).resolve().parents[2]


async def test_one_offset_is_dead_lettered_by_hand_and_the_group_moves_past_it(kafka_bootstrap: str) -> None:
    topic = f"guard.{uuid.uuid4().hex[:8]}"
    group = f"guard-group-{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1), NewTopic(dead_letter(topic), 1, 1)])
    finally:
        await admin.close()
    for n in range(3):
        await publish(kafka_bootstrap, topic, f"k{n}", {"n": n})
    settings = CommonSettings(kafka_bootstrap_servers=kafka_bootstrap)
    assert await partition_positions(settings, [(topic, group)]) == [(topic, 0, 0, 3)]  # 3 behind

    moved = await dead_letter_offset(kafka_bootstrap, group, topic, 0, 0, "poison the decoder missed")
    assert moved.committed == 1
    assert await partition_positions(settings, [(topic, group)]) == [(topic, 0, 1, 3)]
    [copy] = await read_topic(kafka_bootstrap, dead_letter(topic), expect=1)
    headers = dict(copy.headers)
    assert copy.key == b"k0" and b'"n": 0' in copy.value
    assert headers["dlq-reason"].startswith(b"dead-lettered by hand: poison")
    assert (headers["dlq-source-offset"], headers["dlq-consumer-group"]) == (b"0", group.encode())
    # the group's consumers start at the next message
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=1000,
        heartbeat_interval_ms=200,
    )
    await consumer.start()
    try:
        first = await consumer.getone()
        assert (first.offset, first.key) == (1, b"k1")
    finally:
        await consumer.stop()
    try:
        await dead_letter_offset(kafka_bootstrap, group, topic, 0, 99, "nothing there")
    except LookupError:
        pass
    else:
        raise AssertionError("an offset with no record must be refused")


def test_the_alert_rule_watches_the_guard_metrics() -> None:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    by_name = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    stuck = by_name["JPassPartitionStuck"]["expr"]
    assert "jpass_consumer_partition_lag" in stuck and "jpass_consumer_committed_offset" in stuck
    from shared import observability

    exported = {m.name for m in observability.REGISTRY.collect()}
    assert {"jpass_consumer_partition_lag", "jpass_consumer_committed_offset"} <= exported
