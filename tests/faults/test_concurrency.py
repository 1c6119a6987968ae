"""Concurrency on the real services: one winner among 50 mixed actions on a request of every type, one
request from concurrent submissions for one contract (returns, and selection's 再分割審査申込 and
早期完済受付), applications racing category changes, and per-key order of status events kept end to end."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from shared.events import RequestUpdate
from shared.topics import REQUEST_STATUS, RETURN_SUBMISSIONS, TFC_REQUEST_UPDATES
from tests.faults.support import figure
from tests.faults.system import (
    APPLICATIONS,
    REQUEST_TYPES,
    System,
    application_body,
    contract,
    new_no,
    return_body,
    system,
)
from tests.returns.factory import read_all
from tests.support import auth, eventually, publish

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults-concurrency")]

STAFF, MANAGER, HQ = "d1s1-staff1", "d1s1-manager", "d1-hq"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sys(kafka_bootstrap: str) -> AsyncIterator[System]:
    async with system(kafka_bootstrap, ["search", "selection", "returns", "approvals"]) as s:
        r = await s.request(
            "PUT",
            "/api/v1/approval-flow",
            json={"store_approval": True, "hq_approval": False, "hq_approver_emails": []},
            headers=auth(HQ),
        )
        assert r.status_code == 200
        yield s


async def status_events(s: System, request_id: str) -> list[dict]:
    records = await read_all(s.bootstrap, REQUEST_STATUS)
    return [json.loads(r.value)["data"] for r in records if r.key == request_id.encode()]


@pytest.mark.parametrize("request_type", REQUEST_TYPES)
async def test_fifty_concurrent_approve_send_back_withdraw_one_winner(sys: System, request_type: str) -> None:
    s = sys
    rid = await s.request_of_type(contract(new_no("CC")), STAFF, request_type)
    await s.wait_request(rid, STAFF, "store_pending")

    def call(i: int):  # type: ignore[no-untyped-def]
        action, user = [("approve", MANAGER), ("send-back", MANAGER), ("withdraw", STAFF)][i % 3]
        return s.request(
            "POST",
            f"/api/v1/requests/{rid}/{action}",
            json={"version": 1, "note": f"#{i}"},
            headers=auth(user),
        )

    responses = await asyncio.gather(*(call(i) for i in range(50)))
    codes = Counter(r.status_code for r in responses)
    winner = next(r.json() for r in responses if r.status_code == 200)
    after = await s.wait_request(rid, STAFF)

    async def one_event() -> list[dict]:
        events = await status_events(s, rid)
        assert [e["version"] for e in events] == [1, 2], events
        return events

    events = await one_event()
    await asyncio.sleep(1.0)  # nothing else shows up later
    events = await eventually(one_event)
    figure(
        f"concurrent actions: 50 approve/send-back/withdraw on one {request_type} request, {codes[200]} won "
        f"({winner['status']}), {codes[409]} got 409, {len(after['history']) - 1} history entry, "
        f"{len(events) - 1} outgoing status event"
    )
    assert codes == {200: 1, 409: 49}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"stale_version"}
    assert after["version"] == 2 and len(after["history"]) == 2


async def thirty_at_once(s: System, no: str, path: str, body: dict[str, Any], what: str) -> None:
    """30 submissions for contract `no` by four users at once: one accepted, 29 refused with 409
    `open_request_exists`, one request listed and one submission event."""
    users = [STAFF, "d1s1-staff2", MANAGER, HQ]
    responses = await asyncio.gather(
        *(
            s.request("POST", path, json=body, headers={**auth(users[i % 4]), "Idempotency-Key": f"{no}-{i}"})
            for i in range(30)
        )
    )
    codes = Counter(r.status_code for r in responses)
    (rid,) = {r.json()["request_id"] for r in responses if r.status_code == 202}
    await s.wait_request(rid, STAFF)
    listed = await s.get("/api/v1/requests", HQ, params={"contract_no": no})
    submissions = [
        json.loads(r.value) for r in await read_all(s.bootstrap, RETURN_SUBMISSIONS) if r.key == no.encode()
    ]
    figure(
        f"concurrent submissions: 30 {what} for one contract at once, {codes[202]} accepted, "
        f"{codes[409]} refused with 409, {len(listed.json()['items'])} request, {len(submissions)} event"
    )
    assert codes == {202: 1, 409: 29}, (codes, [r.text for r in responses if r.status_code not in (202, 409)])
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"open_request_exists"}
    assert len(listed.json()["items"]) == 1 and len(submissions) == 1


async def test_concurrent_submissions_for_one_contract_create_one_request(sys: System) -> None:
    s = sys
    snap = contract(new_no("CS"))
    await s.add_contract(snap)
    await s.record_selection(snap.contract_no, STAFF)
    await s.wait_eligible(snap.contract_no, STAFF)
    await thirty_at_once(s, snap.contract_no, "/api/v1/returns", return_body(snap.contract_no), "returns")


@pytest.mark.parametrize("request_type", sorted(APPLICATIONS))
async def test_concurrent_applications_for_one_contract_create_one_request(
    sys: System, request_type: str
) -> None:
    """selection checks and records each application under the contract's row lock (SPEC §9.1: one open
    request per contract and type)."""
    s = sys
    path, category = APPLICATIONS[request_type]
    snap = contract(new_no("CA"))
    await s.add_contract(snap)
    await s.record_selection(snap.contract_no, STAFF, category)
    no = snap.contract_no
    await thirty_at_once(
        s, no, f"/api/v1/contracts/{no}/{path}", application_body(request_type), request_type
    )


async def race_applications_and_changes(s: System, applications_first: bool) -> str:
    """15 早期完済受付 and 15 changes of the category to 現金決済 at once on a new contract; the outcome."""
    snap = contract(new_no("CR"))
    await s.add_contract(snap)
    await s.record_selection(snap.contract_no, STAFF, "early_payoff")
    no = snap.contract_no

    def apply(i: int):  # type: ignore[no-untyped-def]
        return s.request(
            "POST",
            f"/api/v1/contracts/{no}/early-payoff-request",
            json=application_body("early_payoff"),
            headers={**auth(STAFF), "Idempotency-Key": f"{no}-{i}"},
        )

    def change() -> Any:
        body = {"category": "cash", "replacement": "no", "confirmation_received_on": "2026-05-14"}
        return s.request("PUT", f"/api/v1/contracts/{no}/selection", json=body, headers=auth(MANAGER))

    first, second = (apply, lambda i: change()) if applications_first else (lambda i: change(), apply)
    calls = [first(i) if i % 2 == 0 else second(i) for i in range(30)]
    responses = await asyncio.gather(*calls)
    assert all(r.status_code < 500 for r in responses), [r.text for r in responses if r.status_code >= 500]
    is_application = [(i % 2 == 0) == applications_first for i in range(30)]
    applied = Counter(r.status_code for r, a in zip(responses, is_application, strict=True) if a)
    changed = Counter(r.status_code for r, a in zip(responses, is_application, strict=True) if not a)
    refusals = {r.json()["code"] for r in responses if r.status_code == 409}
    category = (await s.get(f"/api/v1/contracts/{no}/selection", HQ)).json()["selection"]["category"]
    accepted = [r.json()["request_id"] for r in responses if r.status_code == 202]
    for rid in accepted:
        await s.wait_request(rid, STAFF)  # approvals took it in
    listed = (await s.get("/api/v1/requests", HQ, params={"contract_no": no})).json()["items"]
    if applied[202]:
        assert applied == {202: 1, 409: 14} and changed == {409: 15}, (applied, changed)
        assert refusals == {"open_request_exists"}, refusals  # a second one; a change under it
        assert category == "early_payoff" and [i["request_id"] for i in listed] == accepted
        return "application first"
    assert applied == {409: 15} and changed[200] >= 1, (applied, changed)
    assert refusals <= {"not_early_payoff"}, refusals
    assert category == "cash" and listed == []
    return "change first"


async def test_applications_racing_category_changes_leave_one_consistent_outcome(sys: System) -> None:
    """Either the application came first (one request, every change refused: the category is held by it)
    or a change did (no request, every application refused: 早期完済 is no longer chosen) — never a request
    under another category, whichever starts first."""
    outcomes = Counter([await race_applications_and_changes(sys, i % 2 == 0) for i in range(4)])
    figure(
        "applications racing category changes: 4 × (15 早期完済受付 + 15 changes to 現金決済 at once), "
        f"{outcomes['application first']} won by the application, {outcomes['change first']} by a change, "
        "0 requests under another category"
    )


async def test_per_key_order_is_kept_end_to_end(sys: System) -> None:
    s = sys
    rids = [await s.request_for(contract(new_no("CO")), STAFF) for _ in range(3)]
    for rid in rids:
        r = await s.request(
            "POST", f"/api/v1/requests/{rid}/approve", json={"version": 1}, headers=auth(MANAGER)
        )
        assert r.status_code == 200
    steps = ["accept", "hold", "resume", "message", "resume", "hold", "resume", "complete"]
    for step in steps:  # TFC answers all three requests, interleaved
        for rid in rids:
            message = f"連絡 {step}" if step == "message" else None
            update = RequestUpdate(request_id=rid, action=step, message=message, at=datetime.now(UTC))  # type: ignore[arg-type]
            await publish(s.bootstrap, TFC_REQUEST_UPDATES, rid, update)

    async def completed_everywhere() -> None:
        for rid in rids:
            assert (await s.get(f"/api/v1/requests/{rid}", HQ)).json()["status"] == "completed"
            no = (await s.get(f"/api/v1/requests/{rid}", HQ)).json()["contract_no"]
            detail = (await s.get(f"/api/v1/contracts/{no}", HQ)).json()
            assert detail["completed"], detail
            submitted = (await s.get(f"/api/v1/returns/{rid}", HQ)).json()
            assert submitted["status"] == "completed", submitted

    await eventually(completed_everywhere, timeout_s=30)
    out_of_order = 0
    total = 0
    for rid in rids:
        versions = [e["version"] for e in await status_events(s, rid)]
        total += len(versions)
        out_of_order += sum(1 for a, b in itertools.pairwise(versions) if b != a + 1)
        assert versions == list(range(1, len(steps) + 3)), versions
    figure(
        f"per-key order: {total} status events of 3 requests interleaved, {out_of_order} out of order; "
        "search and returns end at 完了 for all"
    )
