"""Message-level fuzzing: a corpus of hostile values on every consumed topic, all five services on one broker.

Each hostile message must be dead-lettered, with a reason, by every consumer group that reads it, and the good
message right behind it on the same partition (same key) must be applied — no message can stop a partition."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel, ValidationError

from shared.events import (
    ASSIGNMENT_CHANGED,
    MEMO_UPDATED,
    REQUEST_STATUS_CHANGED,
    REQUEST_TIMED_OUT,
    RETURN_SUBMITTED,
    SELECTION_RECORDED,
    AssignmentChanged,
    ContractSnapshot,
    Envelope,
    MemoUpdated,
    Party,
    RequestUpdate,
    ReturnSubmitted,
    SelectionRecorded,
)
from shared.topics import (
    REQUEST_STATUS,
    REQUEST_TIMEOUTS,
    RETURN_SUBMISSIONS,
    SELECTION_EVENTS,
    TFC_CONTRACTS,
    TFC_REQUEST_UPDATES,
    dead_letter,
)
from tests.faults.support import figure
from tests.faults.system import System, contract, new_no, system
from tests.mailer.factories import envelope as mail_envelope
from tests.mailer.factories import status_changed, timed_out
from tests.returns.factory import read_all
from tests.support import auth, eventually, publish

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("fuzz-messages")]

STAFF, HQ = "d1s1-staff1", "d1-hq"
CONTRACT_READERS = frozenset({"search", "selection", "returns"})
NOW = datetime(2026, 5, 15, 1, 0, tzinfo=UTC)
PARTY = Party(user_id=STAFF, name="佐藤 健一", role="staff", email="staff@example.com")


@dataclass(frozen=True)
class Shape:
    """One kind of message on a topic: a valid sample, its model, a text field, and who reads it."""

    topic: str
    model: type[BaseModel]
    sample: dict[str, Any]
    text_path: tuple[str, ...]
    readers: frozenset[str]
    text_limit: int | None = None  # TFC's texts have limits (what every service stores); ours none


def enveloped(type_: str, data: BaseModel) -> dict[str, Any]:
    return json.loads(Envelope[Any](source="fuzz", type=type_, subject="s", data=data).model_dump_json())


def shapes() -> list[Shape]:
    no = "FUZZ00001"
    plain = [
        Shape(
            TFC_CONTRACTS,
            ContractSnapshot,
            json.loads(contract(no).model_dump_json()),
            ("contractor_name",),
            frozenset({"search", "selection", "returns"}),
            200,
        ),
        Shape(
            TFC_REQUEST_UPDATES,
            RequestUpdate,
            json.loads(
                RequestUpdate(request_id="r", action="message", message="m", at=NOW).model_dump_json()
            ),
            ("message",),
            frozenset({"approvals"}),
            2000,
        ),
    ]
    events: list[tuple[str, str, BaseModel, str, frozenset[str]]] = [
        (
            SELECTION_EVENTS,
            SELECTION_RECORDED,
            SelectionRecorded(
                contract_no=no,
                dealer_code="D001",
                store_code="S0101",
                seq=1,
                category="vehicle_return",
                replacement="yes",
                replacement_model="アクア",
                confirmation_received_on=date(2026, 5, 1),
                late=False,
                recorded_by=PARTY,
                recorded_at=NOW,
            ),
            "replacement_model",
            frozenset({"search", "returns"}),
        ),
        (
            SELECTION_EVENTS,
            MEMO_UPDATED,
            MemoUpdated(contract_no=no, dealer_code="D001", seq=1, text="メモ", author=PARTY, updated_at=NOW),
            "text",
            frozenset({"search"}),  # returns reads no memo
        ),
        (
            SELECTION_EVENTS,
            ASSIGNMENT_CHANGED,
            AssignmentChanged(
                contract_no=no,
                dealer_code="D001",
                seq=1,
                from_store_code="S0101",
                store_code="S0102",
                store_name="世田谷店",
                staff_code="010201",
                changed_by=PARTY,
                changed_at=NOW,
            ),
            "store_name",
            frozenset({"search", "returns"}),
        ),
        (
            RETURN_SUBMISSIONS,
            RETURN_SUBMITTED,
            ReturnSubmitted(
                request_id="r",
                contract_no=no,
                dealer_code="D001",
                store_code="S0101",
                contractor_name="山田 太郎",
                program="gamma_finance",
                submitter=PARTY,
                payload={},
                submitted_at=NOW,
            ),
            "contractor_name",
            frozenset({"approvals", "selection"}),
        ),
        (
            REQUEST_STATUS,
            REQUEST_STATUS_CHANGED,
            status_changed(),
            "contractor_name",
            frozenset({"search", "returns", "mailer", "selection"}),
        ),
        (REQUEST_TIMEOUTS, REQUEST_TIMED_OUT, timed_out(), "contractor_name", frozenset({"mailer"})),
    ]
    return plain + [
        Shape(topic, Envelope[type(data)], enveloped(type_, data), ("data", text), readers)  # type: ignore[misc]
        for topic, type_, data, text, readers in events
    ]


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def enum_paths(
    schema: dict[str, Any], value: Any, defs: dict[str, Any], path: tuple[Any, ...] = ()
) -> Iterator:
    """Paths of `value` (a sample) whose schema is an enum or a constant."""
    schema = _resolve(schema, defs)
    if "enum" in schema or "const" in schema:
        yield path
        return
    for option in schema.get("anyOf", ()):
        option = _resolve(option, defs)
        if option.get("type") != "null" and value is not None:
            yield from enum_paths(option, value, defs, path)
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                yield from enum_paths(sub, value[key], defs, (*path, key))
    if isinstance(value, list) and value and "items" in schema:
        yield from enum_paths(schema["items"], value[0], defs, (*path, 0))


def replaced(sample: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(sample))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return copy


def with_raw(sample: dict[str, Any], path: tuple[Any, ...], raw: bytes) -> bytes:
    """The sample as JSON with the value at `path` replaced by `raw` bytes (not necessarily valid JSON)."""
    marker = f"@@{uuid.uuid4().hex}@@"
    return (
        json.dumps(replaced(sample, path, marker), ensure_ascii=False)
        .encode()
        .replace(json.dumps(marker).encode(), raw)
    )


def corpus(shape: Shape) -> list[tuple[str, bytes]]:
    """(name, value) of every hostile message for one shape; each is refused by its model."""
    s, text = shape.sample, shape.text_path
    values: list[tuple[str, bytes]] = [
        ("deep nesting", b"[" * 20_000 + b"]" * 20_000),
        ("deep nesting in a field", with_raw(s, text, b"[" * 20_000 + b"]" * 20_000)),
        ("huge integer", with_raw(s, text, b"9" * 5_000)),
        ("huge exponent", with_raw(s, text, b"1e999999999")),
        ("invalid utf-8", with_raw(s, text, b'"\xff\xfe\xc3"')),
        ("lone surrogate", with_raw(s, text, b'"\\ud800"')),
        ("escaped NUL", with_raw(s, text, b'"a\\u0000b"')),
        ("raw NUL", with_raw(s, text, b'"a\x00b"')),
        ("3 MB", with_raw(s, text, b'"' + "あ".encode() * 1_000_000 + b'"')),
        ("empty", b""),
        ("null", b"null"),
        ("array", b"[]"),
        ("wrong types", json.dumps({k: [[]] for k in s}).encode()),
        ("text as object", with_raw(s, text, b'{"a": 1}')),
    ]
    if shape.text_limit is not None:
        too_long = json.dumps("あ" * (shape.text_limit + 1)).encode()
        values.append(("text beyond its limit", with_raw(s, text, too_long)))
    defs = shape.model.model_json_schema().get("$defs", {})
    for path in enum_paths(shape.model.model_json_schema(), s, defs):
        variant = replaced(s, path, "zz-not-a-member")
        with pytest.raises(ValidationError):  # the variant is refused for its enum, nothing else
            shape.model.model_validate(variant)
        values.append((f"enum {'.'.join(map(str, path))}", json.dumps(variant).encode()))
    shape.model.model_validate(s)  # while the sample itself is valid
    return values


@dataclass
class Sent:
    name: str
    topic: str
    partition: int
    offset: int
    readers: frozenset[str]


async def send_corpus(bootstrap: str, key: str, topics: set[str]) -> list[Sent]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=8_000_000)
    await producer.start()
    sent: list[Sent] = []
    try:
        for shape in shapes():
            if shape.topic not in topics:
                continue
            kind = shape.sample.get("type", shape.topic)
            for name, value in corpus(shape):
                meta = await producer.send_and_wait(shape.topic, value, key=key.encode())
                sent.append(Sent(f"{kind}: {name}", shape.topic, meta.partition, meta.offset, shape.readers))
    finally:
        await producer.stop()
    return sent


async def all_dead_lettered(bootstrap: str, sent: list[Sent]) -> None:
    async def check() -> int:
        found: dict[tuple[str, int, int], set[str]] = {}
        for topic in {s.topic for s in sent}:
            for r in await read_all(bootstrap, dead_letter(topic)):
                h = {k: v.decode() for k, v in r.headers or ()}
                at = (h["dlq-source-topic"], int(h["dlq-source-partition"]), int(h["dlq-source-offset"]))
                assert h["dlq-reason"], h
                found.setdefault(at, set()).add(h["dlq-consumer-group"].split(".")[0].split("-")[0])
        missing = [
            (s.name, sorted(s.readers - found.get((s.topic, s.partition, s.offset), set())))
            for s in sent
            if not s.readers <= found.get((s.topic, s.partition, s.offset), set())
        ]
        assert not missing, missing
        return sum(len(s.readers) for s in sent)

    records = await eventually(check, timeout_s=60, interval_s=1.0)
    figure(
        f"message fuzzing: {len(sent)} hostile messages on {len({s.topic for s in sent})} topics, "
        f"{records} dead-lettered with a reason (one per reading consumer group), the good messages behind "
        "them applied"
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sys(kafka_bootstrap: str) -> AsyncIterator[System]:
    async with system(kafka_bootstrap) as s:
        yield s


def test_the_corpus_covers_every_enum_of_every_consumed_message() -> None:
    names = {f"{shape.sample.get('type', shape.topic)}: {n}" for shape in shapes() for n, _ in corpus(shape)}
    for expected in (
        "tfc.contracts.v1: enum brand",
        "tfc.contracts.v1: enum program",
        "tfc.contracts.v1: enum status",
        "tfc.request-updates.v1: enum action",
        "jpass.selection.recorded: enum data.category",
        "jpass.selection.recorded: enum data.recorded_by.role",
        "jpass.request.status_changed: enum data.actor.role",
        "jpass.request.timed_out: enum data.kind",
        "jpass.return.submitted: enum specversion",
        "tfc.contracts.v1: text beyond its limit",
        "tfc.request-updates.v1: text beyond its limit",
    ):
        assert expected in names, sorted(names)


async def test_contract_feed_flows_past_every_hostile_message(sys: System) -> None:
    no = new_no("FZC")
    sent = await send_corpus(sys.bootstrap, no, {TFC_CONTRACTS})
    await sys.add_contract(contract(no))  # search, selection and returns all applied the good one behind
    await all_dead_lettered(sys.bootstrap, sent)


async def test_selection_and_submission_flow_past_every_hostile_message(sys: System) -> None:
    no = new_no("FZS")
    await sys.add_contract(contract(no))
    sent = await send_corpus(sys.bootstrap, no, {SELECTION_EVENTS, RETURN_SUBMISSIONS})
    memo = await sys.request(
        "PUT", f"/api/v1/contracts/{no}/memo", json={"text": "メモ"}, headers=auth(STAFF)
    )
    assert memo.status_code == 200, memo.text
    await sys.record_selection(no, STAFF)
    await sys.wait_eligible(no, STAFF)  # returns applied the selection

    async def search_applied() -> None:
        detail = (await sys.get(f"/api/v1/contracts/{no}", HQ)).json()
        assert detail["memo"]["text"] == "メモ" and detail["selection_category"] == "vehicle_return", detail

    await eventually(search_applied, timeout_s=30)
    rid = await sys.submit_return(no, STAFF)
    await sys.wait_request(rid, STAFF, "requested")  # approvals applied the submission
    await all_dead_lettered(sys.bootstrap, sent)


async def test_request_status_updates_and_timeouts_flow_past_every_hostile_message(sys: System) -> None:
    no = new_no("FZR")
    rid = await sys.request_for(contract(no), STAFF)
    await sys.wait_request(rid, STAFF, "requested")
    sent = await send_corpus(sys.bootstrap, rid, {REQUEST_STATUS, TFC_REQUEST_UPDATES, REQUEST_TIMEOUTS})
    tag = uuid.uuid4().hex[:6]
    waiting = str(uuid.uuid4())  # a request still waiting for its store manager, on the poisoned partition
    reminder = mail_envelope(timed_out(request_id=waiting, contact_email=f"rem-{tag}@example.com"))
    await publish(sys.bootstrap, REQUEST_TIMEOUTS, rid, reminder)
    for action in ("accept", "complete"):
        update = RequestUpdate(request_id=rid, action=action, at=datetime.now(UTC))  # type: ignore[arg-type]
        await publish(sys.bootstrap, TFC_REQUEST_UPDATES, rid, update)
    await sys.wait_request(rid, STAFF, "completed")  # approvals applied TFC's updates

    async def applied_everywhere() -> None:
        detail = (await sys.get(f"/api/v1/contracts/{no}", HQ)).json()
        assert detail["request"]["status"] == "completed", detail["request"]
        submission = (await sys.get(f"/api/v1/returns/{rid}", HQ)).json()
        assert submission["status"] == "completed", submission
        mails = (await sys.get("/api/v1/mail-log", HQ, params={"request_id": rid})).json()["items"]
        assert [m["to"] for m in mails] == ["tanto@dealer.example.jp"], mails  # completion (status event)
        mails = (await sys.get("/api/v1/mail-log", HQ, params={"request_id": waiting})).json()["items"]
        assert [m["to"] for m in mails] == [f"rem-{tag}@example.com"], mails  # the reminder

    await eventually(applied_everywhere, timeout_s=30)
    await all_dead_lettered(sys.bootstrap, sent)


async def test_a_snapshot_moving_a_contract_to_another_dealer_is_dead_lettered(sys: System) -> None:
    """TFC's feed cannot hand a dealer's customer to another dealer (and a store of theirs): the three
    services keeping contracts dead-letter it, and the next snapshot of the contract is applied."""
    no = new_no("FZD")
    await sys.add_contract(contract(no))
    foreign = contract(no, "S0201", version=2, contractor_name="別販売店 次郎")
    meta = await send_one(sys.bootstrap, TFC_CONTRACTS, no, foreign.model_dump_json().encode())
    await sys.add_contract(contract(no, version=3, contractor_name="山田 花子"))
    await all_dead_lettered(sys.bootstrap, [Sent("another dealer", TFC_CONTRACTS, *meta, CONTRACT_READERS)])
    reasons = [
        dict(r.headers)["dlq-reason"].decode()
        for r in await read_all(sys.bootstrap, dead_letter(TFC_CONTRACTS))
        if r.key == no.encode()
    ]
    assert len(reasons) == 3 and all("cannot move it to dealer D002" in r for r in reasons), reasons
    for path in (f"/api/v1/contracts/{no}", f"/api/v1/contracts/{no}/selection"):
        assert (await sys.get(path, "d2-hq")).status_code == 404, path
    other = await sys.get("/api/v1/returns/eligibility", "d2-hq", params={"contract_no": no})
    assert other.status_code == 404 or other.json()["contract"] is None, other.text


async def send_one(bootstrap: str, topic: str, key: str, value: bytes) -> tuple[int, int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()
    return meta.partition, meta.offset
