"""Issue 15 point 5 (SPEC §9.1 "Time for people") on the search service's pages and CSV: a moment just after
15:00 UTC is shown as the next day in Japan time, dates `YYYY/MM/DD`, date-times `YYYY/MM/DD HH:MM`; the
JSON API keeps ISO 8601 with the offset. (Before: the memo's 最終更新 on 顧客詳細 showed UTC.)"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import update

from services.search.config import SearchSettings
from services.search.db import SavedSearch
from services.search.main import create_app
from shared.events import MEMO_UPDATED, MemoUpdated
from shared.topics import SELECTION_EVENTS, TFC_CONTRACTS
from tests.search.factories import STAFF, envelope, selection, snapshot
from tests.support import auth, eventually, publish, running, token_for

TODAY = date(2026, 5, 2)
AFTER_15_UTC = datetime(2026, 5, 1, 15, 5, tzinfo=UTC)  # 2026/05/02 00:05 in Tokyo


async def test_search_pages_and_csv_show_japan_time_in_one_format(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]]
) -> None:
    settings = SearchSettings(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=await pg_database("search_time")
    )
    no = f"TZ{uuid.uuid4().hex[:8].upper()}"
    hq, page_cookie = auth("d1-hq"), {"jpass_token": token_for("d1-hq")}
    app = create_app(settings, clock=lambda: TODAY)
    async with running(app) as client:
        await publish(
            kafka_bootstrap,
            TFC_CONTRACTS,
            no,
            snapshot(no, final_payment_date=date(2026, 8, 20), first_registration_date="2023-04"),
        )
        await publish(kafka_bootstrap, SELECTION_EVENTS, no, selection(no, 1).model_dump_json().encode())
        for seq, text, minutes in ((2, "下見", 0), (3, "来店予定", 1)):  # the history shows from two on
            note = MemoUpdated(
                contract_no=no,
                dealer_code="D001",
                seq=seq,
                text=text,
                author=STAFF,
                updated_at=AFTER_15_UTC + timedelta(minutes=minutes),
            )
            event = envelope(MEMO_UPDATED, no, note)
            await publish(kafka_bootstrap, SELECTION_EVENTS, no, event.model_dump_json().encode())

        async def memo_arrived() -> dict:
            r = await client.get(f"/api/v1/contracts/{no}", headers=hq)
            assert r.status_code == 200 and r.json()["memo"]["text"] == "来店予定", r.text
            return r.json()

        detail = await eventually(memo_arrived)
        assert detail["memo"]["updated_at"] == "2026-05-01T15:06:00+00:00"  # the API: ISO with its offset

        page = (await client.get(f"/contracts/{no}", cookies=page_cookie)).text
        assert "最終更新：佐藤 健一 2026/05/02 00:06" in page  # was "2026-05-01 15:06" (UTC)
        assert "<tr><td>2026/05/02 00:05</td><td>佐藤 健一</td>" in page  # the memo's history
        assert "<dd>2026/08/20</dd>" in page  # 最終回年月日
        assert "<dd>2026/04/28</dd>" in page  # 確認書受領日
        assert "<dd>2023/04</dd>" in page  # 初度登録 known to the month
        assert "2026-05-01" not in page and "15:0" not in page

        listed = (
            await client.get(
                "/contracts", params={"mode": "individual", "contract_no": no}, cookies=page_cookie
            )
        ).text
        assert "2026/08/20" in listed and "2026/06/20" in listed  # 最終回年月日, 結果入力期限

        csv = await client.get(
            "/api/v1/contracts/export.csv",
            params={"mode": "individual", "contract_no": no, "encoding": "utf-8-sig"},
            headers=hq,
        )
        assert csv.status_code == 200 and "2026/08/20" in csv.text and "2026/06/20" in csv.text

        dashboard = (await client.get("/dashboard", cookies=page_cookie)).text
        assert "2026/05/02 現在" in dashboard

        r = await client.post(
            "/api/v1/saved-searches", json={"name": "品川", "params": {"mode": "general"}}, headers=hq
        )
        assert r.status_code == 201, r.text
        async with app.state.runtime.sessionmaker() as session, session.begin():
            await session.execute(
                update(SavedSearch).where(SavedSearch.id == r.json()["id"]).values(updated_at=AFTER_15_UTC)
            )
        saved_page = (await client.get("/saved-searches", cookies=page_cookie)).text
        assert "<td>2026/05/02 00:05</td>" in saved_page
