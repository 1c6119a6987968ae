"""Contracts on tfc.contracts.v1 land in the search read model and appear in the list, in scope only."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from services.search.config import SearchSettings
from services.search.main import create_app
from shared.events import ContractSnapshot
from shared.topics import TFC_CONTRACTS, dead_letter
from tests.factories import contract_snapshot
from tests.support import auth, eventually, publish, running, wait_dead_lettered


def contract(no: str, **kw: Any) -> ContractSnapshot:
    """Final payment in 90 days: listed today."""
    return contract_snapshot(no, **{"final_payment_date": date.today() + timedelta(days=90), **kw})


async def test_contracts_flow_into_the_list_in_scope(
    kafka_bootstrap: str, any_database: Callable[[str], Awaitable[str]]
) -> None:
    settings = SearchSettings(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=await any_database("search")
    )
    tag = uuid.uuid4().hex[:6].upper()
    mine, other_store, other_dealer = f"A{tag}1", f"A{tag}2", f"A{tag}3"
    async with running(create_app(settings)) as client:
        await publish(kafka_bootstrap, TFC_CONTRACTS, mine, contract(mine, model="アクア"))
        await publish(kafka_bootstrap, TFC_CONTRACTS, other_store, contract(other_store, store="S0102"))
        await publish(
            kafka_bootstrap, TFC_CONTRACTS, other_dealer, contract(other_dealer, dealer="D002", store="S0201")
        )
        # a newer version wins; an older one and a duplicate afterwards are ignored
        await publish(kafka_bootstrap, TFC_CONTRACTS, mine, contract(mine, version=3, model="ノア"))
        await publish(kafka_bootstrap, TFC_CONTRACTS, mine, contract(mine, version=2, model="ヤリス"))
        await publish(kafka_bootstrap, TFC_CONTRACTS, mine, contract(mine, version=3, model="ヤリス"))
        await publish(kafka_bootstrap, TFC_CONTRACTS, "junk", b"{not json")
        sentinel = f"A{tag}9"
        await publish(kafka_bootstrap, TFC_CONTRACTS, sentinel, contract(sentinel))

        async def staff_sees_sentinel() -> dict:
            r = await client.get(f"/api/v1/contracts/{sentinel}", headers=auth("d1s1-staff1"))
            assert r.status_code == 200, r.text
            return r.json()

        await eventually(staff_sees_sentinel)
        staff = auth("d1s1-staff1")
        assert (await client.get(f"/api/v1/contracts/{mine}", headers=staff)).json()["model"] == "ノア"
        assert (await client.get(f"/api/v1/contracts/{other_store}", headers=staff)).status_code == 404
        assert (await client.get(f"/api/v1/contracts/{other_dealer}", headers=staff)).status_code == 404
        hq = auth("d1-hq")
        assert (await client.get(f"/api/v1/contracts/{other_store}", headers=hq)).status_code == 200
        r = await client.get(f"/api/v1/contracts/{other_dealer}", headers=hq)
        assert r.status_code == 404 and r.json()["code"] == "contract_not_found"
        listed = {
            i["contract_no"] for i in (await client.get("/api/v1/contracts", headers=staff)).json()["items"]
        }
        assert mine in listed and other_store not in listed and other_dealer not in listed

        page = await client.get("/contracts", cookies={"jpass_token": staff["Authorization"][7:]})
        assert page.status_code == 200 and mine in page.text and "最終回対象顧客一覧" in page.text
        assert (await client.get("/api/v1/contracts")).status_code == 401
        assert (await client.get("/contracts")).status_code == 303

    await wait_dead_lettered(
        kafka_bootstrap,
        dead_letter(TFC_CONTRACTS),
        lambda r: r.value == b"{not json" and r.key == b"junk" and bool(dict(r.headers).get("dlq-reason")),
    )
