"""The timeout sweep publishes one RequestTimedOut per elapsed period, never twice, across restarts."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from services.approvals.config import ApprovalsSettings
from services.approvals.main import create_app
from shared.topics import REQUEST_TIMEOUTS
from tests.approvals.support import act, submit
from tests.support import auth, eventually, read_topic, running


class FakeClock:
    def __init__(self) -> None:
        self.start = datetime.now(UTC)
        self.now = self.start

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = self.start + timedelta(seconds=seconds)


async def timeouts(bootstrap: str, request_id: str) -> list[dict[str, Any]]:
    records = await read_topic(bootstrap, REQUEST_TIMEOUTS, expect=10**6, timeout_s=0.5)
    return [json.loads(r.value)["data"] for r in records if r.key == request_id.encode()]


def periods(events: list[dict[str, Any]], kind: str) -> list[int]:
    return [e["period_no"] for e in events if e["kind"] == kind]


async def test_sweep_once_per_period_across_a_restart(
    kafka_bootstrap: str, any_database: Callable[[str], Awaitable[str]]
) -> None:
    b = kafka_bootstrap
    settings = ApprovalsSettings(
        kafka_bootstrap_servers=b,
        database_url=await any_database("approvals_sweep"),
        sweep_interval_s=0.1,
        reminder_submitter_after_s=10,
        reminder_hq_after_s=4,
    )
    clock = FakeClock()
    async with running(create_app(settings, clock=clock)) as c:
        r = await c.put(
            "/api/v1/approval-flow",
            json={"store_approval": False, "hq_approval": True, "hq_approver_emails": ["hq-ap@example.com"]},
            headers=auth("d1-hq"),
        )
        assert r.status_code == 200
        submitted = await submit(b, c, "d1s1-staff1")
        rid = submitted["request_id"]
        clock.at(9)  # two head-office periods (4 s), no submitter period (10 s) yet

        async def two_hq_periods() -> list[dict[str, Any]]:
            events = await timeouts(b, rid)
            assert periods(events, "hq_approval_status_check") == [1, 2]
            return events

        events = await eventually(two_hq_periods)
        first = events[0]
        assert first["status"] == "hq_pending" and first["status_label"] == "本部承認者手続中"
        assert first["contact_email"] == "tanto@example.com"
        assert first["hq_approver_emails"] == ["hq-ap@example.com"]
        assert first["submitter"]["user_id"] == "d1s1-staff1" and first["version"] == 1
        assert first["reception_no"] == submitted["reception_no"]  # 受付番号 for the reminder e-mails

    # a restart sweeps again at once: nothing is repeated
    app = create_app(settings, clock=clock)
    async with running(app) as c:
        clock.at(10.5)

        async def submitter_period() -> list[dict[str, Any]]:
            events = await timeouts(b, rid)
            assert periods(events, "submitter_status_check") == [1]
            return events

        events = await eventually(submitter_period)
        assert periods(events, "hq_approval_status_check") == [1, 2]
        clock.at(12.5)

        async def third_hq_period() -> None:
            assert periods(await timeouts(b, rid), "hq_approval_status_check") == [1, 2, 3]

        await eventually(third_hq_period)
        approvals = app.state.approvals
        assert await approvals.sweep_once() == 0
        # leaving the status ends the reminders; a new status starts counting again from 1
        r = await act(c, "d1-hq", rid, "send_back", 1, note="再確認")
        assert r.status_code == 200 and r.json()["status"] == "staff_back"
        clock.at(100)
        events = await eventually(lambda: _settled(b, rid))
        back = [e for e in events if e["status"] == "staff_back"]
        assert [e["period_no"] for e in back] == list(range(1, 9))  # (100 - 12.5) // 10 periods
        assert await approvals.sweep_once() == 0


async def _settled(bootstrap: str, request_id: str) -> list[dict[str, Any]]:
    events = await timeouts(bootstrap, request_id)
    assert len([e for e in events if e["status"] == "staff_back"]) == 8
    return events
