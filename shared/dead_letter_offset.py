"""Operator command: dead-letter one message by hand and move a consumer group past it.

    python -m shared.dead_letter_offset --bootstrap HOST:PORT --group GROUP --topic TOPIC \\
        --partition P --offset O --reason "why"

The last resort of the stuck-partition guard (docs/operations.md): the consumer wrapper dead-letters every
message it cannot decode or apply, so a partition should never stop; if one does (alert JPassPartitionStuck),
stop the group's consumers (scale the service to 0: Kafka takes a commit from outside only while the group
is empty), run this, start them again. The record is copied to `<topic>.dlq` with the usual `dlq-*`
headers and the group's committed offset for that partition becomes offset + 1. Nothing else moves.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from shared.topics import dead_letter


@dataclass(frozen=True)
class Moved:
    topic: str
    partition: int
    offset: int
    committed: int  # the group's new committed offset
    dead_letter_topic: str


async def dead_letter_offset(
    bootstrap: str, group: str, topic: str, partition: int, offset: int, reason: str
) -> Moved:
    """Copy the record at (topic, partition, offset) to the dead-letter topic; commit offset + 1 for group."""
    tp = TopicPartition(topic, partition)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        reader.assign([tp])
        reader.seek(tp, offset)
        batch = await reader.getmany(tp, timeout_ms=5000, max_records=1)
        records = batch.get(tp, [])
        if not records or records[0].offset != offset:
            raise LookupError(f"no record at {topic}[{partition}]@{offset}")
        record = records[0]
    finally:
        await reader.stop()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        headers = [
            ("dlq-reason", f"dead-lettered by hand: {reason}"[:2000].encode()),
            ("dlq-source-topic", topic.encode()),
            ("dlq-source-partition", str(partition).encode()),
            ("dlq-source-offset", str(offset).encode()),
            ("dlq-consumer-group", group.encode()),
        ]
        await producer.send_and_wait(dead_letter(topic), record.value, key=record.key, headers=headers)
    finally:
        await producer.stop()
    committer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign([tp])
        await committer.commit({tp: OffsetAndMetadata(offset + 1, "dead-lettered by hand")})
    finally:
        await committer.stop()
    return Moved(topic, partition, offset, offset + 1, dead_letter(topic))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--group", required=True, help="e.g. search.tfc.contracts.v1 (the service's group)")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partition", type=int, required=True)
    parser.add_argument("--offset", type=int, required=True)
    parser.add_argument("--reason", required=True)
    args = parser.parse_args(argv)
    moved = asyncio.run(
        dead_letter_offset(args.bootstrap, args.group, args.topic, args.partition, args.offset, args.reason)
    )
    print(
        f"{moved.topic}[{moved.partition}]@{moved.offset} copied to {moved.dead_letter_topic}; "
        f"group {args.group} now at {moved.committed}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
