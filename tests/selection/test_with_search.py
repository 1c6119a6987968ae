"""Selection's writes reach the search read model: the token returned by selection makes search's next
read show the change (read-your-writes across services), for the selection, the memo and a store change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.search.config import SearchSettings
from services.search.main import create_app as create_search
from services.selection.deps import tokyo_today
from tests.selection.conftest import Service, months_after, new_contract_no, snapshot, start_service
from tests.support import auth, eventually, running

HQ = auth("d1-hq")


async def test_search_reflects_selection_memo_and_transfer(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]]
) -> None:
    today = tokyo_today()
    selection_app, _ = await start_service(kafka_bootstrap, await pg_database("sel"), today=today)
    search_app = create_search(
        SearchSettings(
            kafka_bootstrap_servers=kafka_bootstrap, database_url=await pg_database("search"), today=today
        )
    )
    async with running(selection_app) as sel, running(search_app) as search:
        svc = Service(selection_app, sel, kafka_bootstrap)
        no = new_contract_no()
        await svc.add_contract(snapshot(no, final_payment_date=months_after(today, 3)))
        # selection knows a dealer's stores from the contracts it has seen
        await svc.add_contract(snapshot(new_contract_no(), store="S0102"))

        async def search_has_it() -> None:
            assert (await search.get(f"/api/v1/contracts/{no}", headers=HQ)).status_code == 200

        await eventually(search_has_it)

        r = await sel.put(
            f"/api/v1/contracts/{no}/selection",
            json={
                "category": "vehicle_return",
                "replacement": "yes",
                "replacement_model": "ノア",
                "confirmation_received_on": today.isoformat(),
            },
            headers=auth("d1s1-staff1"),
        )
        token = r.json()["consistency_token"]
        detail = (await search.get(f"/api/v1/contracts/{no}", params={"after": token}, headers=HQ)).json()
        assert detail["selection"] not in (None, "", {}), detail
        assert "車両返却" in str(detail["selection"]) or "vehicle_return" in str(detail["selection"])
        assert detail["replacement_mark"] == "○"

        r = await sel.put(f"/api/v1/contracts/{no}/memo", json={"text": "下取り査定済"}, headers=HQ)
        detail = (
            await search.get(
                f"/api/v1/contracts/{no}", params={"after": r.json()["consistency_token"]}, headers=HQ
            )
        ).json()
        assert "下取り査定済" in str(detail["memo"])

        r = await sel.put(
            f"/api/v1/contracts/{no}/assignment",
            json={"store_code": "S0102", "staff_code": "010201"},
            headers=HQ,
        )
        token = r.json()["consistency_token"]
        detail = (await search.get(f"/api/v1/contracts/{no}", params={"after": token}, headers=HQ)).json()
        assert detail["store_name"] == "世田谷店" and detail["staff_code"] == "010201"
        assert detail["color"] == "green"  # transferred in
        moved = await search.get(
            f"/api/v1/contracts/{no}", params={"after": token}, headers=auth("d1s2-staff1")
        )
        assert moved.status_code == 200
        assert (await search.get(f"/api/v1/contracts/{no}", headers=auth("d1s1-staff1"))).status_code == 404
