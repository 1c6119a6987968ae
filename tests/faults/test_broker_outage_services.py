"""The broker stops answering while users record selections, submit returns and approve through the real
services: every write succeeds, the outboxes hold the events, and everything drains and flows on when the
broker is back. The broker is paused, not restarted: a restarted memory-only Tansu starts its offsets again
at 0, and a consumer whose position was N silently skips the first N new messages (a production Kafka
keeps its log; tests/faults/test_broker_outage.py covers the relay against a restarted, empty broker)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from shared.topics import JPASS_REQUESTS, REQUEST_STATUS, RETURN_SUBMISSIONS, SELECTION_EVENTS
from tests.faults.support import figure
from tests.faults.system import contract, new_no, system
from tests.returns.factory import read_all
from tests.support import Tansu, auth, eventually

pytestmark = pytest.mark.faults

STAFF, MANAGER, HQ = "d1s1-staff1", "d1s1-manager", "d1-hq"
N = 6
OUTAGE_S = 7.0  # longer than the producers' request timeout (5 s)


async def test_services_keep_working_through_a_broker_outage() -> None:
    broker = Tansu()
    broker.start()
    try:
        async with system(broker.bootstrap, ["search", "selection", "returns", "approvals"]) as s:
            flow = await s.request(
                "PUT",
                "/api/v1/approval-flow",
                json={"store_approval": True, "hq_approval": False, "hq_approver_emails": []},
                headers=auth(HQ),
            )
            assert flow.status_code == 200
            pending = [await s.request_for(contract(new_no("BOP")), STAFF) for _ in range(N)]
            to_return = [contract(new_no("BOR")) for _ in range(N)]
            for snap in to_return:
                await s.add_contract(snap)
            selected = [contract(new_no("BOS")) for _ in range(N)]
            for snap in selected:
                await s.add_contract(snap)
            for snap in to_return:
                await s.record_selection(snap.contract_no, STAFF)
                await s.wait_eligible(snap.contract_no, STAFF)

            broker.pause()
            stopped = time.monotonic()
            writes = 0
            for snap in selected:  # 進捗・結果入力 during the outage
                await s.record_selection(snap.contract_no, STAFF, "cash")
                writes += 1
            submitted = []
            for snap in to_return:  # 車両返却 結果入力 during the outage
                submitted.append(await s.submit_return(snap.contract_no, STAFF))
                writes += 1
            for rid in pending:  # 店長 approves during the outage
                r = await s.request(
                    "POST", f"/api/v1/requests/{rid}/approve", json={"version": 1}, headers=auth(MANAGER)
                )
                assert r.status_code == 200, r.text
                writes += 1
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
            restarted = time.monotonic()
            broker.resume()

            async def drained() -> None:
                for name, app in s.apps.items():
                    async with app.state.runtime.sessionmaker() as session:
                        assert await app.state.runtime.outbox.backlog(session) == 0, name

            await eventually(drained, timeout_s=60)
            drained_s = time.monotonic() - restarted

            async def flowed_on() -> None:
                for snap in selected:  # search applied the selections made during the outage
                    r = await s.get(f"/api/v1/contracts/{snap.contract_no}", HQ)
                    assert r.json()["selection"] is not None, r.json()
                for rid in submitted:  # approvals created the requests submitted during the outage
                    r = await s.get(f"/api/v1/requests/{rid}", HQ)
                    assert r.status_code == 200 and r.json()["status"] == "store_pending", r.text
                for rid in pending:
                    r = await s.get(f"/api/v1/requests/{rid}", HQ)
                    assert r.json()["status"] == "requested"

            await eventually(flowed_on, timeout_s=90)
            recovered_s = time.monotonic() - restarted
            # A producer that timed out while the broker was paused sends again, and the paused broker
            # may still append the first try (Tansu has no idempotent producer): a copy on the topic is
            # allowed, a copy in any effect is not. Each request's history holds each action once.
            repeated_effects = 0
            for rid in submitted + pending:
                history = (await s.get(f"/api/v1/requests/{rid}", HQ)).json()["history"]
                actions = [(h["action"], h["to_status"]) for h in history]
                repeated_effects += len(actions) - len(set(actions))
            selection_events = [
                json.loads(r.value) for r in await read_all(broker.bootstrap, SELECTION_EVENTS)
            ]
            submissions = [json.loads(r.value) for r in await read_all(broker.bootstrap, RETURN_SUBMISSIONS)]
            statuses = [json.loads(r.value) for r in await read_all(broker.bootstrap, REQUEST_STATUS)]
            to_tfc = [json.loads(r.value) for r in await read_all(broker.bootstrap, JPASS_REQUESTS)]
    finally:
        broker.stop()
    delivered = (
        len({e["subject"] for e in selection_events} & {c.contract_no for c in selected})
        + len({e["data"]["request_id"] for e in submissions} & set(submitted))
        + len({e["data"]["request_id"] for e in statuses if e["data"]["version"] == 2} & set(pending))
    )
    ids = [e["id"] for e in selection_events + submissions + statuses]
    copies = len(ids) - len(set(ids))
    requested = {m["request_id"] for m in to_tfc if m["event"] == "requested"}
    figure(
        f"broker outage (real services): {writes} writes during a {OUTAGE_S:.0f} s outage all accepted, "
        f"{delivered} of {writes} events delivered, {writes - delivered} lost, {repeated_effects} duplicate "
        f"effects ({copies} copies on the topics absorbed by the consumers' inboxes), "
        f"outboxes drained {drained_s:.1f} s and consumers caught up {recovered_s:.1f} s after it came back"
    )
    assert delivered == writes and repeated_effects == 0 and set(pending) <= requested
