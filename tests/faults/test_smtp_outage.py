"""SMTP is down for a while: every mail waits, is retried and goes out exactly once when SMTP is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import pytest

from shared.topics import REQUEST_STATUS
from tests.faults.support import figure
from tests.faults.system import system
from tests.mailer.conftest import publish_all
from tests.mailer.factories import envelope, status_changed
from tests.support import auth, eventually

pytestmark = pytest.mark.faults

MAILS = 20
OUTAGE_S = 3.0


async def test_mails_wait_out_an_smtp_outage(kafka_bootstrap: str) -> None:
    tag = uuid.uuid4().hex[:8]
    async with system(kafka_bootstrap, ["mailer"]) as s:
        assert s.smtp is not None
        await s.smtp.stop()
        stopped = time.monotonic()
        events = [
            envelope(
                status_changed(
                    contract_no=f"M{tag}{n}",
                    old_status="tfc_processing",
                    new_status="completed",
                    contact_email=f"done-{tag}-{n}@example.com",
                )
            )
            for n in range(MAILS)
        ]
        await publish_all(kafka_bootstrap, [(REQUEST_STATUS, e.subject, e) for e in events])

        async def log() -> list[dict]:
            r = await s.get("/api/v1/mail-log", "d1-hq", params={"limit": 500})
            return [i for i in r.json()["items"] if tag in i["to"]]

        async def all_waiting() -> None:
            items = await log()
            assert len(items) == MAILS and all(i["status"] == "pending" for i in items)

        await eventually(all_waiting)
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
        attempts_while_down = sum(i["attempts"] for i in await log())
        await s.smtp.start()
        back = time.monotonic()

        async def all_sent() -> None:
            assert all(i["status"] == "sent" for i in await log())

        await eventually(all_sent, timeout_s=30)
        recovered_s = time.monotonic() - back
        received = Counter(m["to"][0] for m in s.smtp.messages(tag))
        r = await s.clients["mailer"].get("/api/v1/mail-log", headers=auth("d1-hq"))
        assert r.status_code == 200
    duplicates = sum(n - 1 for n in received.values())
    figure(
        f"SMTP outage: {MAILS} e-mails triggered during a {OUTAGE_S:.0f} s outage, "
        f"{attempts_while_down} failed attempts retried, {len(received)} delivered, "
        f"{MAILS - len(received)} lost, {duplicates} duplicate, "
        f"all out {recovered_s:.1f} s after SMTP returned"
    )
    assert len(received) == MAILS and duplicates == 0
