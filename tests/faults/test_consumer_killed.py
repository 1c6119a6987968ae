"""A consumer is SIGKILLed between its database commit and its offset commit, then restarted: the
redelivered message has no second effect (the inbox and the request id dedupe it)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from services.approvals.db import HistoryEntry, Request
from shared.db import make_engine
from shared.topics import REQUEST_STATUS, RETURN_SUBMISSIONS
from tests.approvals.support import submission
from tests.faults.support import Uvicorn, figure
from tests.support import Tansu, create_pg_database, drop_pg_database, eventually, publish, read_topic

pytestmark = pytest.mark.faults

SUBMISSIONS = 30
KILL_AFTER = 10


async def counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            requests = (await conn.execute(select(func.count()).select_from(Request))).scalar_one()
            history = (await conn.execute(select(func.count()).select_from(HistoryEntry))).scalar_one()
        return requests, history
    finally:
        await engine.dispose()


def consumed(base: str) -> float:
    text = httpx.get(f"{base}/approvals/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("jpass_messages_consumed_total{")
        and f'topic="{RETURN_SUBMISSIONS}"' in line
        and 'outcome="processed"' in line
    )


async def test_sigkill_between_database_commit_and_offset_commit(tmp_path: Path) -> None:
    broker = Tansu()
    broker.start()
    url = await create_pg_database("t_fault_kill")
    env = {
        "JPASS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "JPASS_DATABASE_URL": url,
        "JPASS_LOG_JSON": "false",
        "JPASS_SWEEP_INTERVAL_S": "3600",
    }
    factory = "tests.faults.killable:approvals_killed_after_commit"
    first = Uvicorn(factory, {**env, "JPASS_FAULT_KILL_AFTER": str(KILL_AFTER)}, tmp_path / "first.log")
    second = Uvicorn(factory, env, tmp_path / "second.log")
    try:
        first.start()
        first.wait_ready("approvals")
        envelopes = [submission("d1s1-staff1") for _ in range(SUBMISSIONS)]
        for e in envelopes:
            await publish(broker.bootstrap, RETURN_SUBMISSIONS, e.subject, e)
        assert first.wait_exit(60) == -9  # killed itself right after a commit
        before_restart = await counts(url)
        assert before_restart == (KILL_AFTER, KILL_AFTER), before_restart
        restarted = time.monotonic()
        second.start()
        second.wait_ready("approvals")

        async def all_created() -> None:
            assert (await counts(url))[0] == SUBMISSIONS

        await eventually(all_created, timeout_s=60)
        recovered_s = time.monotonic() - restarted
        requests, history = await counts(url)
        ids = {e.data.request_id for e in envelopes}

        async def all_published() -> list:
            records = await read_topic(broker.bootstrap, REQUEST_STATUS, expect=10**6, timeout_s=1.5)
            mine = [json.loads(r.value) for r in records if r.key.decode() in ids]
            assert len({m["data"]["request_id"] for m in mine}) == SUBMISSIONS
            return mine

        events = await eventually(all_published, timeout_s=30)
        delivered_after = consumed(second.base)
    finally:
        first.stop()
        second.stop()
        broker.stop()
        await drop_pg_database(url)
    effects = {(m["data"]["request_id"], m["data"]["version"]) for m in events}
    distinct_events = {m["id"] for m in events}
    duplicate_effects = (history - requests) + (len(distinct_events) - len(effects))
    figure(
        f"consumer SIGKILL between DB commit and offset commit: {SUBMISSIONS} submitted, "
        f"{KILL_AFTER} committed "
        f"before the kill, {delivered_after:.0f} delivered after restart (incl. the redelivered one), "
        f"{requests} requests, {duplicate_effects} duplicate effects, recovered in {recovered_s:.1f} s"
    )
    assert requests == SUBMISSIONS and history == SUBMISSIONS
    assert effects == {(rid, 1) for rid in ids} and len(distinct_events) == SUBMISSIONS
    assert delivered_after >= SUBMISSIONS - KILL_AFTER + 1  # the killed message came back
