"""All five services on one broker. Every event type delivered twice on purpose — state and outgoing events
unchanged by the duplicate, for requests of every type (車両返却, 再分割審査申込, 早期完済受付 with TFC's
result and amount); poison on every consumed topic — dead-lettered with the reason by every consumer group
while the rest of the partition keeps flowing, including TFC's answers misplaced per request type."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer

from shared.events import (
    EARLY_PAYOFF_SUBMITTED,
    MEMO_UPDATED,
    REFINANCE_APPLICATION_SUBMITTED,
    RETURN_SUBMITTED,
    SELECTION_RECORDED,
    Envelope,
    RequestUpdate,
)
from shared.observability import REGISTRY
from shared.topics import (
    JPASS_REQUESTS,
    REQUEST_STATUS,
    REQUEST_TIMEOUTS,
    RETURN_SUBMISSIONS,
    SELECTION_EVENTS,
    TFC_CONTRACTS,
    TFC_REQUEST_UPDATES,
    dead_letter,
)
from tests.faults.support import figure
from tests.faults.system import APPLICATIONS, System, contract, new_no, system
from tests.mailer.factories import envelope as mail_envelope
from tests.mailer.factories import timed_out
from tests.returns.factory import read_all
from tests.support import auth, eventually

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults-messages")]

STAFF, MANAGER, HQ = "d1s1-staff1", "d1s1-manager", "d1-hq"
CONSUMERS = {  # topic → services consuming it
    TFC_CONTRACTS: {"search", "selection", "returns"},
    SELECTION_EVENTS: {"search", "returns"},
    REQUEST_STATUS: {"search", "returns", "mailer", "selection"},
    RETURN_SUBMISSIONS: {"approvals", "selection"},
    TFC_REQUEST_UPDATES: {"approvals"},
    REQUEST_TIMEOUTS: {"mailer"},
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sys(kafka_bootstrap: str) -> AsyncIterator[System]:
    async with system(kafka_bootstrap) as s:
        yield s


def service_of(group: str) -> str:
    return group.split(".")[0].split("-")[0]


def handled(topic: str) -> dict[str, float]:
    """Messages of `topic` each service has finished with (processed or dead-lettered), from the metrics."""
    totals: dict[str, float] = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            labels = sample.labels
            if sample.name == "jpass_messages_consumed_total" and labels.get("topic") == topic:
                if labels.get("outcome") in ("processed", "dead_lettered"):
                    name = service_of(labels["service"])
                    totals[name] = totals.get(name, 0) + sample.value
    return totals


async def until_handled(topic: str, before: dict[str, float], n: int) -> None:
    async def done() -> None:
        now = handled(topic)
        for service in CONSUMERS[topic]:
            assert now.get(service, 0) - before.get(service, 0) >= n, (topic, service, now, before)

    await eventually(done, timeout_s=30)


async def send_raw(bootstrap: str, records: list[tuple[str, str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def keyed(bootstrap: str, topic: str, key: str) -> list[Any]:
    return [r for r in await read_all(bootstrap, topic) if r.key == key.encode()]


async def distinct_ids(bootstrap: str, topic: str, key: str) -> list[str]:
    """Envelope ids published under `key` (this test re-sends some of them itself: count each id once)."""
    return sorted({json.loads(r.value)["id"] for r in await keyed(bootstrap, topic, key)})


async def snapshot_state(
    s: System, no: str, request_id: str | None, request_type: str = "vehicle_return"
) -> dict[str, Any]:
    """What users see of a contract and its request in every service, and the request's outgoing events."""
    state: dict[str, Any] = {
        "search": (await s.get(f"/api/v1/contracts/{no}", HQ)).json(),
        "selection": (await s.get(f"/api/v1/contracts/{no}/selection", HQ)).json(),
        "memo": (await s.get(f"/api/v1/contracts/{no}/memo", HQ)).json(),
        "returns": (await s.get("/api/v1/returns/eligibility", HQ, params={"contract_no": no})).json(),
        "selection_events": await distinct_ids(s.bootstrap, SELECTION_EVENTS, no),
    }
    if request_id:
        state["request"] = (await s.get(f"/api/v1/requests/{request_id}", HQ)).json()
        if request_type == "vehicle_return":
            state["submission"] = (await s.get(f"/api/v1/returns/{request_id}", HQ)).json()
        else:  # selection's intake: may another be made now (no: the request is final)
            path = APPLICATIONS[request_type][0]
            state["submission"] = (await s.get(f"/api/v1/contracts/{no}/{path}", HQ)).json()
        state["status_events"] = len(await distinct_ids(s.bootstrap, REQUEST_STATUS, request_id))
        state["tfc_events"] = len(await keyed(s.bootstrap, JPASS_REQUESTS, request_id))
        log = (await s.get("/api/v1/mail-log", HQ, params={"request_id": request_id})).json()
        state["mails"] = sorted((m["kind"], m["to"]) for m in log["items"])
    return state


async def test_every_event_type_delivered_twice_changes_nothing(sys: System) -> None:
    s, b = sys, sys.bootstrap
    no, moved = new_no("DUP"), new_no("DUP")
    tag = uuid.uuid4().hex[:6]
    await s.add_contract(contract(no))
    await s.add_contract(contract(moved))
    await s.add_contract(contract(new_no("DUP"), "S0102"))  # selection learns the dealer's stores from TFC
    await s.record_selection(no, STAFF)
    memo = await s.request("PUT", f"/api/v1/contracts/{no}/memo", json={"text": "メモ"}, headers=auth(STAFF))
    assert memo.status_code == 200, memo.text
    assignment = await s.request(
        "PUT",
        f"/api/v1/contracts/{moved}/assignment",
        json={"store_code": "S0102", "staff_code": "010201"},
        headers=auth(HQ),
    )
    assert assignment.status_code == 200, assignment.text
    await s.wait_eligible(no, STAFF)
    rid = await s.submit_return(no, STAFF, contact3_email=f"tanto-{tag}@dealer.example.jp")
    await s.wait_request(rid, STAFF, "requested")
    accept = RequestUpdate(request_id=rid, action="accept", at=datetime.now(UTC), update_id=f"u-{tag}")
    complete = RequestUpdate(request_id=rid, action="complete", at=datetime.now(UTC))
    await send_raw(b, [(TFC_REQUEST_UPDATES, rid, accept.model_dump_json().encode())])
    await s.wait_request(rid, STAFF, "tfc_processing")
    await send_raw(b, [(TFC_REQUEST_UPDATES, rid, complete.model_dump_json().encode())])
    await s.wait_request(rid, STAFF, "completed")
    # The two request types of SPEC §9.2 through selection's intake to TFC's answers with result and amount.
    ref_no, ep_no = new_no("DUP"), new_no("DUP")
    ref = await s.application_for(contract(ref_no), STAFF, "refinance_application")
    ep = await s.application_for(contract(ep_no), STAFF, "early_payoff")
    answers = {
        ref: [
            RequestUpdate(request_id=ref, action="accept", at=datetime.now(UTC)),
            RequestUpdate(request_id=ref, action="complete", at=datetime.now(UTC), result="approved"),
        ],
        ep: [
            RequestUpdate(request_id=ep, action="accept", at=datetime.now(UTC)),
            RequestUpdate(request_id=ep, action="message", at=datetime.now(UTC), payoff_amount=1_187_650),
            RequestUpdate(request_id=ep, action="complete", at=datetime.now(UTC)),
        ],
    }
    status_after = {"accept": "tfc_processing", "message": "tfc_message", "complete": "completed"}
    for rid_, updates in answers.items():
        for update in updates:
            await send_raw(b, [(TFC_REQUEST_UPDATES, rid_, update.model_dump_json().encode())])
            await s.wait_request(rid_, STAFF, status_after[update.action])
    reminder = mail_envelope(timed_out(contract_no=no, contact_email=f"rem-{tag}@example.com"))
    rem_id = reminder.subject  # a request still waiting (this one is completed: no reminder for it)
    await send_raw(b, [(REQUEST_TIMEOUTS, rem_id, reminder.model_dump_json().encode())])

    async def settled() -> dict[str, Any]:
        state = await snapshot_state(s, no, rid)
        log = (await s.get("/api/v1/mail-log", HQ, params={"request_id": rem_id})).json()
        state["mails"] += sorted((m["kind"], m["to"]) for m in log["items"])
        assert state["request"]["status"] == "completed" and state["status_events"] == 3
        assert state["search"]["completed"] and state["tfc_events"] == 1
        assert len(state["mails"]) == 2, state["mails"]  # completion to 連絡先3, the reminder
        return state

    before = await eventually(settled, timeout_s=30)

    async def moved_everywhere() -> dict[str, Any]:
        state = await snapshot_state(s, moved, None)
        assert state["search"]["store_name"] == "世田谷店", state["search"]
        assert "S0102" in json.dumps(state["returns"], ensure_ascii=False), state["returns"]
        return state

    before_moved = await eventually(moved_everywhere, timeout_s=30)
    applications = {ref: (ref_no, "refinance_application", 3), ep: (ep_no, "early_payoff", 4)}

    async def applications_settled() -> dict[str, Any]:
        states = {}
        for rid_, (no_, request_type, events) in applications.items():
            state = await snapshot_state(s, no_, rid_, request_type)
            assert state["request"]["status"] == "completed" and state["status_events"] == events, state
            assert state["search"]["completed"] and state["tfc_events"] == 1
            assert "completion" in {kind for kind, _ in state["mails"]}, state["mails"]
            states[rid_] = state
        assert states[ref]["search"]["approved_plan"]["months"] == 24
        assert states[ep]["request"]["payoff_amount"] == 1_187_650
        return states

    before_applications = await eventually(applications_settled, timeout_s=30)

    # Every event again, byte for byte (same envelope ids, versions, update ids).
    originals: list[tuple[str, str, bytes, str]] = [
        (TFC_CONTRACTS, no, contract(no).model_dump_json().encode(), "ContractSnapshot")
    ]
    for r in await keyed(b, SELECTION_EVENTS, no) + await keyed(b, SELECTION_EVENTS, moved):
        originals.append((SELECTION_EVENTS, r.key.decode(), r.value, json.loads(r.value)["type"]))
    for key in (no, ref_no, ep_no):
        for r in await keyed(b, RETURN_SUBMISSIONS, key):
            originals.append((RETURN_SUBMISSIONS, key, r.value, json.loads(r.value)["type"]))
    for key in (ref_no, ep_no):
        originals.append((TFC_CONTRACTS, key, contract(key).model_dump_json().encode(), "ContractSnapshot"))
        for r in await keyed(b, SELECTION_EVENTS, key):
            originals.append((SELECTION_EVENTS, key, r.value, json.loads(r.value)["type"]))
    for rid_, updates in answers.items():
        for r in await keyed(b, REQUEST_STATUS, rid_):
            originals.append((REQUEST_STATUS, rid_, r.value, json.loads(r.value)["type"]))
        for update in updates:
            extra = "(result)" if update.result else "(payoff_amount)" if update.payoff_amount else ""
            originals.append(
                (TFC_REQUEST_UPDATES, rid_, update.model_dump_json().encode(), f"RequestUpdate{extra}")
            )
    for r in await keyed(b, REQUEST_STATUS, rid):
        originals.append((REQUEST_STATUS, rid, r.value, json.loads(r.value)["type"]))
    originals.append((REQUEST_TIMEOUTS, rem_id, reminder.model_dump_json().encode(), reminder.type))
    originals.append(
        (TFC_REQUEST_UPDATES, rid, accept.model_dump_json().encode(), "RequestUpdate(update_id)")
    )
    originals.append((TFC_REQUEST_UPDATES, rid, complete.model_dump_json().encode(), "RequestUpdate"))
    types = {t.split("(")[0] for *_, t in originals}
    submitted = {RETURN_SUBMITTED, REFINANCE_APPLICATION_SUBMITTED, EARLY_PAYOFF_SUBMITTED}
    assert {SELECTION_RECORDED, MEMO_UPDATED, *submitted} <= types and len(types) == 10, types
    counts_before = {topic: handled(topic) for topic in CONSUMERS}
    await send_raw(b, [(topic, key, value) for topic, key, value, _ in originals])
    for topic in CONSUMERS:
        n = sum(1 for t, *_ in originals if t == topic)
        await until_handled(topic, counts_before[topic], n)
    after = await eventually(settled, timeout_s=30)
    after_moved = await snapshot_state(s, moved, None)
    after_applications = await eventually(applications_settled, timeout_s=30)
    changed = (
        [k for k in before if before[k] != after[k]]
        + [k for k in before_moved if before_moved[k] != after_moved[k]]
        + [
            f"{before_applications[r]['request']['type']}.{k}"
            for r in applications
            for k in before_applications[r]
            if before_applications[r][k] != after_applications[r][k]
        ]
    )
    extra_events = (
        after["status_events"]
        - before["status_events"]
        + sum(
            after_applications[r]["status_events"] - before_applications[r]["status_events"]
            for r in applications
        )
    )
    extra_mails = (
        len(after["mails"])
        - len(before["mails"])
        + sum(
            len(after_applications[r]["mails"]) - len(before_applications[r]["mails"]) for r in applications
        )
    )
    figure(
        f"duplicate delivery: {len(originals)} events of {len(types)} types delivered twice to "
        f"{sum(len(CONSUMERS[t]) for t, *_ in originals)} consumers (requests of all 3 types), "
        f"{len(changed)} changes of state, {extra_events} extra status events, {extra_mails} extra e-mails"
    )
    assert not changed, changed


POISON_REASONS = ("invalid message", "unknown event type", "invalid data", "unexpected event type")


def envelope_bytes(type_: str, subject: str, data: dict[str, Any]) -> bytes:
    return Envelope[dict](source="tests", type=type_, subject=subject, data=data).model_dump_json().encode()


async def test_poison_on_every_topic_is_dead_lettered_and_the_rest_flows(sys: System) -> None:
    s, b = sys, sys.bootstrap
    tag = uuid.uuid4().hex[:6]
    no = new_no("PSN")
    await s.add_contract(contract(no))
    rid = await s.request_for(contract(new_no("PSN")), STAFF)
    ref = await s.application_for(contract(new_no("PSN")), STAFF, "refinance_application")
    ep = await s.application_for(contract(new_no("PSN")), STAFF, "early_payoff")
    for app in (ref, ep):
        accept_app = RequestUpdate(request_id=app, action="accept", at=datetime.now(UTC))
        await send_raw(b, [(TFC_REQUEST_UPDATES, app, accept_app.model_dump_json().encode())])
        await s.wait_request(app, STAFF, "tfc_processing")
    # (topic, key, value, services expected to dead-letter it)
    poison: list[tuple[str, str, bytes, set[str]]] = []
    for topic in CONSUMERS:
        key = f"poison-{tag}-{topic}"
        poison.append((topic, key, b"{not json", CONSUMERS[topic]))
        poison.append((topic, key, b'{"what": "wrong schema"}', CONSUMERS[topic]))
    for topic in (SELECTION_EVENTS, REQUEST_STATUS, RETURN_SUBMISSIONS, REQUEST_TIMEOUTS):
        key = f"poison-{tag}-{topic}"
        poison.append((topic, key, envelope_bytes("jpass.bogus.v9", key, {}), CONSUMERS[topic]))
        poison.append(
            (
                topic,
                key,
                envelope_bytes(
                    {
                        SELECTION_EVENTS: SELECTION_RECORDED,
                        REQUEST_STATUS: "jpass.request.status_changed",
                        RETURN_SUBMISSIONS: RETURN_SUBMITTED,
                        REQUEST_TIMEOUTS: "jpass.request.timed_out",
                    }[topic],
                    key,
                    {"contract_no": 42},
                ),
                CONSUMERS[topic],
            )
        )
    # impossible: TFC resumes a request that TFC never held; an update for a request nobody made;
    # a selection event of another dealer about this dealer's contract (search checks ownership)
    poison.append(
        (
            TFC_REQUEST_UPDATES,
            rid,
            RequestUpdate(request_id=rid, action="resume", at=datetime.now(UTC)).model_dump_json().encode(),
            {"approvals"},
        )
    )
    # TFC's answers misplaced per request type (SPEC §9.2): an amount for an application, a complete of
    # an application without its result, a result for an early payoff, an early payoff done before its amount
    misplaced = [
        RequestUpdate(
            request_id=ref, action="message", message="金額", payoff_amount=100, at=datetime.now(UTC)
        ),
        RequestUpdate(request_id=ref, action="complete", at=datetime.now(UTC)),
        RequestUpdate(
            request_id=ep, action="complete", result="approved", payoff_amount=1, at=datetime.now(UTC)
        ),
        RequestUpdate(request_id=ep, action="complete", at=datetime.now(UTC)),
    ]
    for update in misplaced:
        poison.append(
            (TFC_REQUEST_UPDATES, update.request_id, update.model_dump_json().encode(), {"approvals"})
        )
    # the submissions of both new types with data of the wrong shape (approvals and selection read them)
    for event_type in (REFINANCE_APPLICATION_SUBMITTED, EARLY_PAYOFF_SUBMITTED):
        key = f"poison-{tag}-{event_type}"
        bad = envelope_bytes(event_type, key, {"contract_no": 42})
        poison.append((RETURN_SUBMISSIONS, key, bad, CONSUMERS[RETURN_SUBMISSIONS]))
    ghost = str(uuid.uuid4())
    poison.append(
        (
            TFC_REQUEST_UPDATES,
            ghost,
            RequestUpdate(request_id=ghost, action="accept", at=datetime.now(UTC)).model_dump_json().encode(),
            {"approvals"},
        )
    )
    selection = json.loads(
        (
            await keyed(
                b, SELECTION_EVENTS, (await s.get(f"/api/v1/requests/{rid}", HQ)).json()["contract_no"]
            )
        )[0].value
    )
    foreign = {**selection["data"], "contract_no": no, "dealer_code": "D002", "store_code": "S0201"}
    poison.append((SELECTION_EVENTS, no, envelope_bytes(SELECTION_RECORDED, no, foreign), {"search"}))
    await send_raw(b, [(t, k, v) for t, k, v, _ in poison])
    # good messages right behind the poison, on the same keys (partitions)
    good_no = f"poison-{tag}-{TFC_CONTRACTS}"
    await send_raw(b, [(TFC_CONTRACTS, good_no, contract(good_no).model_dump_json().encode())])
    accept = RequestUpdate(request_id=rid, action="accept", at=datetime.now(UTC))
    await send_raw(b, [(TFC_REQUEST_UPDATES, rid, accept.model_dump_json().encode())])
    await s.add_contract(contract(good_no))  # all three services took it
    await s.wait_request(rid, STAFF, "tfc_processing")
    await s.record_selection(no, STAFF)  # the contract the foreign event named still works
    amount = RequestUpdate(request_id=ep, action="message", payoff_amount=1_187_650, at=datetime.now(UTC))
    result = RequestUpdate(request_id=ref, action="complete", result="approved", at=datetime.now(UTC))
    await send_raw(
        b, [(TFC_REQUEST_UPDATES, u.request_id, u.model_dump_json().encode()) for u in (amount, result)]
    )
    assert (await s.wait_request(ep, STAFF, "tfc_message"))["payoff_amount"] == 1_187_650
    assert (await s.wait_request(ref, STAFF, "completed"))["result"] == "approved"

    async def dead_lettered() -> dict[tuple[str, str, bytes], list[tuple[str, str]]]:
        found: dict[tuple[str, str, bytes], list[tuple[str, str]]] = {}
        for topic in CONSUMERS:
            for r in await read_all(b, dead_letter(topic)):
                headers = {k: v.decode() for k, v in r.headers or ()}
                found.setdefault((topic, r.key.decode(), r.value), []).append(
                    (service_of(headers["dlq-consumer-group"]), headers["dlq-reason"])
                )
        for topic, key, value, services in poison:
            got = found.get((topic, key, value), [])
            assert {svc for svc, _ in got} == services, (topic, key, value, got)
            assert all(reason for _, reason in got)
        return found

    found = await eventually(dead_lettered, timeout_s=40)
    records = sum(len(found[(t, k, v)]) for t, k, v, _ in poison)
    figure(
        f"poison messages: {len(poison)} poison messages on {len(CONSUMERS)} topics, {records} dead-lettered "
        f"with a reason (one per consumer group), 0 lost, the good messages behind them applied"
    )
    reasons = " | ".join(reason for t, k, v, _ in poison for _, reason in found[(t, k, v)])
    assert "invalid message" in reasons and "unknown event type" in reasons and "invalid data" in reasons
    assert "unknown request" in reasons and "invalid_tfc_transition" in reasons
    for code in (
        "payoff_amount_not_applicable",
        "result_required",
        "result_not_applicable",
        "payoff_amount_required",
    ):
        assert code in reasons, code
