"""Migration 0003 numbers the requests that exist (submission order, Tokyo month) and fills their latest
send-back from the history; new submissions then continue each month's sequence."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.approvals.use_cases import next_reception_no
from shared.db import make_engine
from shared.migrations import upgrade

REQUEST = (
    "INSERT INTO requests (request_id, type, payload, status, version, contract_no, contractor_name,"
    " contractor_search, program, dealer_code, store_code, store_name, submitter, store_step, hq_step,"
    " approvers, submitted_at, status_changed_at, updated_at) VALUES (:id, 'vehicle_return', '{}',"
    " 'staff_back', 2, 'C1', '山田', 'ヤマダ', 'gamma_finance', 'D001', 'S0101', '', '{}', false, true,"
    " '[]', :at, :at, :at)"
)
HISTORY = (
    "INSERT INTO request_history (request_id, version, at, actor, actor_role, action, from_status,"
    " to_status, changes, note) VALUES (:id, :v, :at, :actor, :role, :action, 'hq_pending', 'staff_back',"
    " '{}', :note)"
)


async def test_existing_requests_get_numbers_and_their_latest_send_back(
    any_database: Callable[[str], Awaitable[str]],
) -> None:
    url = await any_database("approvals_mig3")
    await asyncio.to_thread(upgrade, "approvals", url, "0002")
    november_late = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # 23:00 in Tokyo: November
    december = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 01:00 on 1 December in Tokyo
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for request_id, at in (("b", december), ("a", november_late), ("c", december)):
                await conn.execute(text(REQUEST), {"id": request_id, "at": at})
            hq = '{"user_id": "d1-hq", "name": "森 隆之", "role": "hq", "email": null}'
            for v, actor, role, action, note in (
                (2, hq, "hq", "send_back", "古い理由"),
                (3, None, "tfc", "send_back", "TFCの理由"),
                (4, hq, "hq", "approve", None),
            ):
                await conn.execute(
                    text(HISTORY),
                    {
                        "id": "a",
                        "v": v,
                        "at": december,
                        "actor": actor,
                        "role": role,
                        "action": action,
                        "note": note,
                    },
                )
        await asyncio.to_thread(upgrade, "approvals", url)
        async with engine.connect() as conn:
            rows = dict((await conn.execute(text("SELECT request_id, reception_no FROM requests"))).all())
            assert rows == {"a": "2611-000001", "b": "2612-000001", "c": "2612-000002"}
            send_back = (
                await conn.execute(text("SELECT last_send_back FROM requests WHERE request_id = 'a'"))
            ).scalar_one()
        stored = send_back if isinstance(send_back, dict) else json.loads(send_back)
        assert stored["reason"] == "TFCの理由" and stored["sender"] is None
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session, session.begin():
            assert await next_reception_no(session, december) == "2612-000003"  # the sequence goes on
    finally:
        await engine.dispose()
