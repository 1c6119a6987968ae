"""Builders of the events returns consumes (TFC contracts, selection, request status) for tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from devtools.demo import USERS_BY_ID
from shared.events import (
    ASSIGNMENT_CHANGED,
    MEMO_UPDATED,
    REQUEST_STATUS_CHANGED,
    SELECTION_RECORDED,
    AssignmentChanged,
    Envelope,
    MemoUpdated,
    Party,
    RequestStatusChanged,
    SelectionRecorded,
)
from shared.topics import REQUEST_STATUS, SELECTION_EVENTS, TFC_CONTRACTS
from tests.factories import STORE_NAMES, contract_snapshot
from tests.support import publish

# "Now" of the returns apps under test: 2026-05-15 10:00 in Tokyo.
NOW = datetime(2026, 5, 15, 1, 0, tzinfo=UTC)
TODAY = date(2026, 5, 15)


def new_contract_no(prefix: str = "R") -> str:
    return f"{prefix}{uuid.uuid4().hex[:9].upper()}"


def party(user_id: str) -> Party:
    u = USERS_BY_ID[user_id]
    return Party(user_id=u.user_id, name=u.name, role=u.role, email=u.email)


contract = contract_snapshot  # returns' cases: the shared defaults (final payment 2026-06-30)


def envelope(type_: str, subject: str, data: Any) -> Envelope[Any]:
    return Envelope[type(data)](source="tests", type=type_, subject=subject, data=data)  # type: ignore[misc]


def selection_recorded(no: str, category: str = "vehicle_return", *, seq: int = 1, store: str = "S0101"):
    data = SelectionRecorded(
        contract_no=no,
        dealer_code="D001",
        store_code=store,
        seq=seq,
        category=category,  # type: ignore[arg-type]
        replacement="no",
        confirmation_received_on=TODAY,
        late=False,
        recorded_by=party("d1s1-staff1"),
        recorded_at=NOW,
    )
    return envelope(SELECTION_RECORDED, no, data)


def memo_updated(no: str, *, seq: int) -> Envelope[Any]:
    data = MemoUpdated(
        contract_no=no, dealer_code="D001", seq=seq, text="メモ", author=party("d1s1-staff1"), updated_at=NOW
    )
    return envelope(MEMO_UPDATED, no, data)


def assignment_changed(no: str, *, seq: int, to_store: str = "S0102") -> Envelope[Any]:
    data = AssignmentChanged(
        contract_no=no,
        dealer_code="D001",
        seq=seq,
        from_store_code="S0101",
        store_code=to_store,
        store_name=STORE_NAMES[to_store],
        staff_code="010201",
        changed_by=party("d1-hq"),
        changed_at=NOW,
    )
    return envelope(ASSIGNMENT_CHANGED, no, data)


def status_changed(
    request_id: str, no: str, *, version: int, new: str, label: str, old: str | None = None
) -> Envelope[Any]:
    data = RequestStatusChanged(
        request_id=request_id,
        type="vehicle_return",
        contract_no=no,
        contractor_name="山田 太郎",
        dealer_code="D001",
        store_code="S0101",
        version=version,
        action="submit" if old is None else "tfc",
        old_status=old,
        new_status=new,
        new_status_label=label,
        actor=None,
        submitter=party("d1s1-staff1"),
        at=NOW,
    )
    return envelope(REQUEST_STATUS_CHANGED, request_id, data)


async def seed(
    bootstrap: str, no: str, *, category: str | None = "vehicle_return", **contract_kw: Any
) -> None:
    """A contract from TFC and (unless None) its recorded selection."""
    await publish(bootstrap, TFC_CONTRACTS, no, contract(no, **contract_kw))
    if category is not None:
        await publish(bootstrap, SELECTION_EVENTS, no, selection_recorded(no, category))


async def publish_status(bootstrap: str, event: Envelope[Any]) -> None:
    await publish(bootstrap, REQUEST_STATUS, event.subject, event)


def body(no: str, **kw: Any) -> dict[str, Any]:
    """A valid 返却済み submission body for contract `no`."""
    return {
        "contract_no": no,
        "contact1": "03-1234-5678",
        "contact2": "",
        "contact3_email": "tanto@dealer.example.jp",
        "notify_on_completion": True,
        "result": "returned",
        "returned_on": "2026-05-14",
        **kw,
    }


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record of `topic` up to its current end (no consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            await consumer.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < end for tp, end in ends.items()])

        while await behind():
            for msgs in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(msgs)
        return records
    finally:
        await consumer.stop()


def submissions_for(records: list[Any], contract_nos: set[str]) -> list[dict[str, Any]]:
    """Decoded ReturnSubmitted envelopes of RETURN_SUBMISSIONS records about `contract_nos`."""
    out = []
    for r in records:
        if r.key.decode() in contract_nos:
            out.append(json.loads(r.value))
    return out
