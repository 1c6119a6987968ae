"""Flash messages after selection's page writes (issue 16): the page the user lands on — in search, another
service behind the same origin — shows the message once; the next page no longer does; a forged cookie
shows nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from services.search.config import SearchSettings
from services.search.main import create_app as create_search
from services.selection.deps import tokyo_today
from shared.web import FLASH_COOKIE
from tests.selection.conftest import Service, months_after, new_contract_no, snapshot, start_service
from tests.support import auth, eventually, running

HQ = auth("d1-hq")
MANAGER = auth("d1s1-manager")


async def _landing(search: httpx.AsyncClient, written: httpx.Response, headers: dict[str, str]) -> str:
    """Follow the write's redirect in search with the cookie it set; the landing page clears it."""
    assert written.status_code == 303, written.text
    cookie = written.cookies.get(FLASH_COOKIE)
    assert cookie, written.headers
    page = await search.get(written.headers["location"], headers=headers, cookies={FLASH_COOKIE: cookie})
    assert page.status_code == 200
    cleared = page.headers.get("set-cookie", "")
    assert cleared.startswith(f"{FLASH_COOKIE}=") and "Max-Age=0" in cleared
    return page.text


async def test_each_selection_write_lands_on_a_page_with_its_message_once(
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
        no, moved_no = new_contract_no(), new_contract_no()
        await svc.add_contract(snapshot(no, final_payment_date=months_after(today, 3)))
        await svc.add_contract(snapshot(moved_no, final_payment_date=months_after(today, 3)))
        await svc.add_contract(snapshot(new_contract_no(), store="S0102"))

        async def search_has_them() -> None:
            for n in (no, moved_no):
                assert (await search.get(f"/api/v1/contracts/{n}", headers=HQ)).status_code == 200

        await eventually(search_has_them)

        written = await sel.post(
            f"/selection/contracts/{no}/input",
            data={
                "category": "vehicle_return",
                "replacement": "no",
                "confirmation_received_on": today.isoformat(),
            },
            headers=MANAGER,
        )
        page = await _landing(search, written, MANAGER)
        # 車両返却: with the manual's note to enter the return result once the vehicle is back
        assert page.count("最終回選択（車両返却）を登録しました。") == 1
        assert "すみやかに「車両返却 結果入力・進捗確認」から車両返却結果を入力してください。" in page
        again = await search.get(written.headers["location"], headers=MANAGER)
        assert "登録しました。" not in again.text

        written = await sel.post(
            f"/selection/contracts/{no}/input",
            data={"category": "cash", "replacement": "no", "confirmation_received_on": today.isoformat()},
            headers=MANAGER,
        )
        page = await _landing(search, written, MANAGER)
        assert page.count("最終回選択を登録しました。") == 1 and "車両返却結果" not in page

        written = await sel.post(
            f"/selection/contracts/{no}/memo", data={"text": "下取り査定済"}, headers=MANAGER
        )
        assert (await _landing(search, written, MANAGER)).count("自由記入欄を保存しました。") == 1

        written = await sel.post(
            f"/selection/contracts/{no}/assignment",
            data={"store_code": "S0102", "staff_code": "010201"},
            headers=HQ,
        )
        page = await _landing(search, written, HQ)
        assert page.count("店舗・スタッフを変更しました（品川店 → 世田谷店、担当 010201）。") == 1

        # a store manager moves a contract out of their scope: their list says where it went
        written = await sel.post(
            f"/selection/contracts/{moved_no}/assignment",
            data={"store_code": "S0102", "staff_code": "010201"},
            headers=MANAGER,
        )
        assert written.headers["location"].startswith("/contracts?")
        page = await _landing(search, written, MANAGER)
        assert page.count(f"契約番号 {moved_no} の店舗・スタッフを変更しました") == 1
        assert "このご契約は世田谷店の一覧に移りました。" in page


async def test_a_forged_flash_cookie_shows_nothing(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]]
) -> None:
    search_app = create_search(
        SearchSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=await pg_database("search"))
    )
    forged = [
        "5pyA57WC5Zue6YG45oqe44KS55m76Yyy44GX44G+44GX44Gf44CC",  # plain text, not a key of the table
        "WyJub3Rfb3VycyIse31d",  # ["not_ours",{}]
        # ["memo_saved",{"x":"y"}]: parameters the message does not take
        "WyJtZW1vX3NhdmVkIix7IngiOiJ5In1d",
        # ["assignment_changed",{"from_store":"<a href=//evil>","to_store":"a","staff":"b"}]
        "WyJhc3NpZ25tZW50X2NoYW5nZWQiLHsiZnJvbV9zdG9yZSI6IjxhIGhyZWY9Ly9ldmlsPiIsInRvX3N0b3JlIjoiYSIsInN0YWZmIjoiYiJ9XQ==",
        "%%%",
    ]
    async with running(search_app) as search:
        for value in forged:
            page = await search.get("/contracts", headers=HQ, cookies={FLASH_COOKIE: value})
            assert page.status_code == 200
            assert 'id="flash"' not in page.text and "evil" not in page.text, value
            assert "Max-Age=0" in page.headers.get("set-cookie", "")
