"""The database restarts under load (a throwaway PostgreSQL cluster): writes during the outage get a quick
503 (never a hang), clients retry, nothing committed is lost, the consumers and the outbox resume."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter

import pytest

from shared.topics import RETURN_SUBMISSIONS, SELECTION_EVENTS, TFC_CONTRACTS
from tests.faults.support import PgCluster, figure
from tests.faults.system import contract, new_no, return_body, system
from tests.returns.factory import read_all, selection_recorded
from tests.support import auth, eventually, publish

pytestmark = pytest.mark.faults

STAFF = "d1s1-staff1"
CONTRACTS = 40
WORKERS = 8
OUTAGE_S = 3.0


async def test_database_restart_under_load(kafka_bootstrap: str) -> None:
    pg = PgCluster()
    pg.init()
    pg.start()
    try:
        async with system(kafka_bootstrap, ["returns"], database_urls={"returns": pg.url}) as s:
            client = s.clients["returns"]
            nos = [new_no("DBR") for _ in range(CONTRACTS)]
            for no in nos:
                await publish(kafka_bootstrap, TFC_CONTRACTS, no, contract(no))
                await publish(kafka_bootstrap, SELECTION_EVENTS, no, selection_recorded(no))
            for no in nos:
                await s.wait_eligible(no, STAFF)

            outcomes: Counter[str] = Counter()
            accepted: dict[str, str] = {}
            slowest = 0.0
            queue: asyncio.Queue[str] = asyncio.Queue()
            for no in nos:
                queue.put_nowait(no)

            async def worker() -> None:
                nonlocal slowest
                while not queue.empty():
                    no = await queue.get()
                    key = f"key-{no}"  # the same Idempotency-Key on every retry of this submission
                    while True:
                        started = time.monotonic()
                        try:
                            r = await asyncio.wait_for(
                                client.post(
                                    "/api/v1/returns",
                                    json=return_body(no),
                                    headers={**auth(STAFF), "Idempotency-Key": key},
                                ),
                                timeout=15,
                            )
                            code = str(r.status_code)
                        except TimeoutError:
                            code = "hung"
                        except Exception as e:  # an unhandled error surfacing from the app
                            code = f"error {type(e).__name__}"
                        slowest = max(slowest, time.monotonic() - started)
                        outcomes[code] += 1
                        if code == "202":
                            accepted[no] = r.json()["request_id"]
                            break
                        await asyncio.sleep(0.2)  # the client retries after a refusal
                    await asyncio.sleep(0.05)

            late = [new_no("DBL") for _ in range(5)]

            async def outage() -> float:
                await asyncio.sleep(0.3)
                pg.stop("fast")
                stopped = time.monotonic()
                for no in late:  # events arrive while the database is down
                    await publish(kafka_bootstrap, TFC_CONTRACTS, no, contract(no))
                    await publish(kafka_bootstrap, SELECTION_EVENTS, no, selection_recorded(no))
                await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
                pg.start()
                return time.monotonic()

            outage_task = asyncio.create_task(outage())
            await asyncio.gather(*(worker() for _ in range(WORKERS)))
            restarted = await outage_task
            for no in late:
                await s.wait_eligible(no, STAFF)  # consumers resumed
            consumers_s = time.monotonic() - restarted

            async def all_published() -> set[str]:
                records = await read_all(kafka_bootstrap, RETURN_SUBMISSIONS)
                ids = set()
                for r in records:  # the topic is shared with other tests: skip their (poison) messages
                    try:
                        ids.add(json.loads(r.value)["data"]["request_id"])
                    except (ValueError, KeyError, TypeError):
                        continue
                assert set(accepted.values()) <= ids
                return ids

            await eventually(all_published, timeout_s=30)
            lost = 0
            for request_id in accepted.values():
                r = await client.get(f"/api/v1/returns/{request_id}", headers=auth(STAFF))
                lost += r.status_code != 200
    finally:
        with contextlib.suppress(Exception):
            pg.destroy()
    refused = sum(n for code, n in outcomes.items() if code.startswith("5"))
    figure(
        f"database restart under load: {CONTRACTS} submissions by {WORKERS} clients, "
        f"{outcomes['202']} accepted, {refused} attempts refused with 503 during a {OUTAGE_S:.0f} s outage "
        f"(slowest answer {slowest:.1f} s), {outcomes['hung']} hung, {lost} accepted lost, "
        f"consumers caught up {consumers_s:.1f} s after restart"
    )
    assert set(outcomes) <= {"202", "503"}, outcomes
    assert len(accepted) == CONTRACTS and lost == 0 and refused > 0
