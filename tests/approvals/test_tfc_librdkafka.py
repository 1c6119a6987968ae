"""The TFC interface as TFC's back office would use it: librdkafka (`confluent-kafka`), not aiokafka. TFC
consumes `jpass.requests.v1` and answers on `tfc.request-updates.v1`, key request_id (SPEC §7).

Runs on the suite's broker: Tansu locally, Apache Kafka on the containers backend (tests/backends.py). Two
ways to read, both tried: a consumer group with committed offsets (what a back office runs), and `assign()`
to every partition from the beginning, no group join (what works where a group cannot, README)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from shared.events import JpassRequest, RequestUpdate
from shared.topics import JPASS_REQUESTS, TFC_REQUEST_UPDATES
from tests.approvals.conftest import Env
from tests.approvals.support import submit, wait_request

STAFF = "d1s1-staff1"


def tfc_consumer(bootstrap: str, mode: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            # librdkafka wants a group id even for assign(), which never joins it
            "group.id": f"tfc-backoffice-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # Tansu completes a join after about half the session timeout (librdkafka's default: 45 s)
            "session.timeout.ms": 6000,
        }
    )
    if mode == "group":
        consumer.subscribe([JPASS_REQUESTS])
    else:
        partitions = consumer.list_topics(JPASS_REQUESTS, timeout=10).topics[JPASS_REQUESTS].partitions
        consumer.assign([TopicPartition(JPASS_REQUESTS, p, OFFSET_BEGINNING) for p in partitions])
    return consumer


def read_request(consumer: Consumer, request_id: str, timeout_s: float = 60) -> JpassRequest:
    """Poll until the request's message arrives; in a group, commit it as a back office would."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        assert message.error() is None, message.error()
        if message.key() == request_id.encode():
            if consumer.assignment() and consumer.memberid():
                consumer.commit(message=message, asynchronous=False)
            return JpassRequest.model_validate_json(message.value())
    raise AssertionError(f"no {JPASS_REQUESTS} message for {request_id} within {timeout_s}s")


def answer(bootstrap: str, request_id: str, action: str, **fields: Any) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    update = RequestUpdate(request_id=request_id, action=action, at=datetime.now(UTC), **fields)
    producer.produce(TFC_REQUEST_UPDATES, key=request_id, value=update.model_dump_json().encode())
    assert producer.flush(15) == 0, "not delivered"


@pytest.mark.parametrize("mode", ["group", "assign"])
async def test_tfc_reads_requests_and_answers_with_librdkafka(env: Env, mode: str) -> None:
    await env.set_flow(False, False)  # straight to TFC
    consumer = await asyncio.to_thread(tfc_consumer, env.bootstrap, mode)
    try:
        r = await submit(env.bootstrap, env.client, STAFF, contractor_name="山田 太郎")
        rid = r["request_id"]
        request = await asyncio.to_thread(read_request, consumer, rid)
        assert (request.event, request.request_id) == ("requested", rid)
        assert request.contract_no == r["contract_no"]
        assert request.submitter.user_id == STAFF and request.dealer_code == "D001"
        if mode == "group":
            committed = await asyncio.to_thread(consumer.committed, consumer.assignment(), 10)
            assert any(tp.offset > 0 for tp in committed)  # the group's offsets are kept by the broker
    finally:
        await asyncio.to_thread(consumer.close)

    await asyncio.to_thread(answer, env.bootstrap, rid, "accept", update_id=str(uuid.uuid4()))
    await wait_request(env.client, rid, STAFF, "tfc_processing")
    await asyncio.to_thread(answer, env.bootstrap, rid, "complete")
    done = await wait_request(env.client, rid, STAFF, "completed")
    assert done["history"][-1]["role_label"] == "トヨタファイナンス"
