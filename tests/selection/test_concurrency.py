"""Two people saving at once: no lost update, no two events with the same seq (row lock / write lock)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date

from services.selection.db import ChangeLog, MemoEntry
from tests.selection.conftest import Service, new_contract_no, snapshot, start_service
from tests.support import auth, running

HQ = auth("d1-hq")


def concurrent_writes(client, no: str, memos: int) -> list[Awaitable]:
    base = f"/api/v1/contracts/{no}"
    writes = [
        client.put(f"{base}/memo", json={"text": f"メモ {i}"}, headers=auth(("d1s1-staff1", "d1-hq")[i % 2]))
        for i in range(memos)
    ]
    writes += [
        client.put(
            f"{base}/selection",
            json={"category": category, "replacement": "no", "confirmation_received_on": "2026-01-05"},
            headers=HQ,
        )
        for category in ("cash", "refinance")
    ]
    writes += [
        client.put(f"{base}/assignment", json={"store_code": "S0101", "staff_code": code}, headers=HQ)
        for code in ("010102", "010190")  # two of 品川店's staff (the staff directory)
    ]
    return writes


async def check_no_lost_update(svc: Service, no: str, memos: int) -> None:
    responses = await asyncio.gather(*concurrent_writes(svc.client, no, memos))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    total = memos + 4
    assert sorted(r.json()["seq"] for r in responses) == list(range(1, total + 1))
    assert all(r.json()["changed"] for r in responses)

    events = await svc.events(no, expect=total)
    assert sorted(e["data"]["seq"] for e in events) == list(range(1, total + 1))  # one event per seq
    assert len({e["id"] for e in events}) == total
    memo = (await svc.client.get(f"/api/v1/contracts/{no}/memo", headers=HQ)).json()
    assert len(memo["history"]) == memos and memo["seq"] == total  # every memo kept, none overwritten
    assert {h["text"] for h in memo["history"]} == {f"メモ {i}" for i in range(memos)}
    async with svc.app.state.runtime.sessionmaker() as session:
        logged = await session.run_sync(
            lambda s: s.query(ChangeLog.seq).filter(ChangeLog.contract_no == no).order_by(ChangeLog.seq).all()
        )
        assert [row.seq for row in logged] == list(range(1, total + 1))
        entries = await session.run_sync(
            lambda s: s.query(MemoEntry).filter(MemoEntry.contract_no == no).count()
        )
        assert entries == memos


async def test_concurrent_saves_on_postgresql(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    await check_no_lost_update(svc, no, memos=12)


async def test_flow_and_concurrency_on_both_databases(
    kafka_bootstrap: str, any_database: Callable[[str], Awaitable[str]]
) -> None:
    """The same writes on PostgreSQL and SQLite (the local default)."""
    app, _ = await start_service(kafka_bootstrap, await any_database("selection"), today=date(2026, 1, 10))
    async with running(app) as client:
        svc = Service(app, client, kafka_bootstrap)
        no = new_contract_no()
        await svc.add_contract(snapshot(no))
        await check_no_lost_update(svc, no, memos=4)
        r = await client.put(
            f"/api/v1/contracts/{no}/selection",
            json={
                "category": "vehicle_return",
                "replacement": "yes",
                "replacement_model": "ノア",
                "confirmation_received_on": "2026-01-09",
            },
            headers=HQ,
        )
        assert r.status_code == 200 and r.json()["seq"] == 9
        svc.set_today(date(2026, 4, 1))
        r = await client.put(
            f"/api/v1/contracts/{no}/selection",
            json={"category": "cash", "replacement": "no", "confirmation_received_on": "2026-01-09"},
            headers=HQ,
        )
        assert r.status_code == 409 and r.json()["code"] == "category_change_locked"
        pdf = await client.get(f"/api/v1/contracts/{no}/confirmation.pdf", headers=HQ)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
