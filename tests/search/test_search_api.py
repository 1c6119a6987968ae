"""Searches, validation, list rules, CSV and customer detail through the API and the pages.

One app on PostgreSQL for the module; a dealer of its own (T…) keeps it apart from other tests.
Contracts are loaded straight into the read model (the Kafka path is covered in test_event_flow).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import httpx
import pytest
import pytest_asyncio

from services.search.config import SearchSettings
from services.search.consumers import apply_contract, apply_envelope
from services.search.main import create_app
from shared.identity import User
from tests.search.factories import request_status, selection, snapshot
from tests.support import create_pg_database, drop_pg_database, running, sign_token

TODAY = date(2026, 5, 20)


@dataclass
class World:
    client: httpx.AsyncClient
    dealer: str
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def cookies(self, who: str) -> dict[str, str]:
        return {"jpass_token": self.tokens[who]}

    async def get(self, who: str, path: str, **params: str) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self.headers(who))

    async def items(self, who: str, **params: str) -> list[dict]:
        r = await self.get(who, "/api/v1/contracts", **params)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    async def nos(self, who: str, **params: str) -> list[str]:
        return [i["contract_no"] for i in await self.items(who, **params)]


def users(dealer: str) -> dict[str, User]:
    common = {"dealer_code": dealer, "dealer_name": "テスト販売"}
    return {
        "staff": User(
            user_id="t-staff",
            name="試験 一郎",
            role="staff",
            store_code="S1",
            store_name="本店",
            staff_code="S101",
            **common,
        ),
        "manager": User(
            user_id="t-mgr",
            name="試験 店長",
            role="store_manager",
            store_code="S1",
            store_name="本店",
            **common,
        ),
        "manager2": User(
            user_id="t-mgr2",
            name="試験 二店長",
            role="store_manager",
            store_code="S2",
            store_name="二号店",
            **common,
        ),
        "hq": User(user_id="t-hq", name="試験 本部", role="hq", **common),
        "other": User(user_id="t-x", name="他社 本部", role="hq", dealer_code="D001"),
    }


def seed(dealer: str) -> list[object]:
    def c(no: str, **kw: object) -> object:
        kw.setdefault("store", "S1")
        kw.setdefault("store_name", "本店" if kw["store"] == "S1" else "二号店")
        return snapshot(no, dealer=kw.pop("dealer", dealer), **kw)  # type: ignore[arg-type]

    items: list[object] = [
        c(
            "A1",
            final_payment_date=date(2026, 6, 10),
            first_registration_date="2023-06-10",
            staff_code="S103",
        ),
        c(
            "B1",
            final_payment_date=date(2026, 9, 10),
            contractor_name="佐藤 花子",
            contractor_name_kana="サトウ ハナコ",
            registration_no="世田谷 500 さ 56-78",
            model="アクア",
            contract_kind="lease",
            first_registration_date="2021-07-15",
            program="deferred_tfc",
            staff_code="S102",
        ),
        c(
            "C1",
            final_payment_date=date(2026, 5, 19),
            contractor_name="鈴木 一郎",
            contractor_name_kana="スズキ イチロウ",
            registration_no="品川 330 た 1-1",
            model="ノア",
            staff_code="S101",
            first_registration_date="2019-01",
        ),
        c(
            "D1",
            final_payment_date=date(2027, 1, 31),
            contractor_name="高橋 次郎",
            contractor_name_kana="タカハシ ジロウ",
            registration_no="練馬 500 な 9-99",
            model="ハリアー",
            tfc_handling="total_loss",
            staff_code="S101",
            first_registration_date="2024-01-01",
            vehicle_use="commercial",
        ),
        c(
            "E1",
            final_payment_date=date(2026, 7, 1),
            contractor_name="𠮷田 三郎",
            contractor_name_kana="ヨシダ サブロウ",
            model='=HYPERLINK("http://x")',
            registration_no="-12",
            staff_code="S101",
        ),
        c("X1", final_payment_date=date(2026, 7, 2), status="cancelled", contractor_name="解約 済"),
        c("O1", dealer="D001", store="S0101", store_name="品川店"),
    ]
    items += [
        c(
            f"Z{n:03d}",
            store="S2",
            final_payment_date=date(2026, 10, 1 + n % 28),
            contractor_name=f"大量 {n}",
            contractor_name_kana="タイリョウ",
            staff_code=f"S2{n % 7}",
            registration_no=f"足立 500 あ {n}",
        )
        for n in range(120)
    ]
    items += [
        selection(
            "A1", 1, category="vehicle_return", replacement="yes", model="クラウン", store="S1", dealer=dealer
        )
    ]
    return items


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(kafka_bootstrap: str) -> AsyncIterator[World]:
    dealer = f"T{uuid.uuid4().hex[:6].upper()}"
    url = await create_pg_database("t_search_api")
    settings = SearchSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=url)
    app = create_app(settings, clock=lambda: TODAY)
    try:
        async with running(app) as client:
            async with app.state.runtime.sessionmaker() as session, session.begin():
                for item in seed(dealer):
                    if hasattr(item, "type"):
                        await apply_envelope(session, item)  # type: ignore[arg-type]
                    else:
                        await apply_contract(session, item)  # type: ignore[arg-type]
            tokens = {k: sign_token(u) for k, u in users(dealer).items()}
            yield World(client, dealer, tokens)
    finally:
        await drop_pg_database(url)


pytestmark = pytest.mark.asyncio(loop_scope="session")


# --------------------------------------------------------------------------------------------
# searches


async def test_individual_search_is_forgiving(world: World) -> None:
    for name in ("ﾔﾏﾀﾞ", "やまだ", "山田", "山田太郎", "たろう"):
        assert await world.nos("staff", mode="individual", contractor_name=name) == ["A1"], name
    assert await world.nos("staff", mode="individual", registration_no="１２－３４") == ["A1"]
    assert await world.nos("staff", mode="individual", registration_no="品川") == ["C1", "A1"]
    assert await world.nos("staff", mode="individual", contract_no="b1") == ["B1"]
    assert await world.nos("staff", mode="individual", contract_no="B") == []  # exact only
    assert await world.nos("staff", mode="individual", contractor_name="%") == []  # no wildcard
    both = await world.nos("staff", mode="individual", contractor_name="山田", registration_no="世田谷")
    assert both == []


async def test_individual_search_needs_a_key(world: World) -> None:
    r = await world.get("staff", "/api/v1/contracts", mode="individual", contractor_name=" ")
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "individual_criteria_required" and "いずれか" in body["detail"]
    assert body["errors"][0]["field"] == "individual"


async def test_general_search(world: World) -> None:
    assert await world.nos("staff") == ["C1", "A1", "E1", "B1", "D1"]  # nearest final date first
    assert await world.nos("staff", mode="general", final_to="2026-06") == ["C1", "A1"]
    assert await world.nos("staff", final_from="2026-07", final_to="2026-09") == ["E1", "B1"]
    assert await world.nos("staff", model="ｱｸｱ") == ["B1"]
    assert await world.nos("staff", program="deferred_tfc") == ["B1"]
    assert await world.nos("staff", handling_status="selected") == ["A1"]
    assert await world.nos("staff", handling_status="unselected", final_to="2026-06") == ["C1"]
    r = await world.get("staff", "/api/v1/contracts", final_from="2026-07", final_to="2026-06")
    assert r.status_code == 422 and r.json()["code"] == "final_range_reversed"
    r = await world.get("staff", "/api/v1/contracts", final_from="2026-7x")
    assert r.status_code == 422 and r.json()["code"] == "invalid_month"


async def test_inspection_search(world: World) -> None:
    # A1: first registration 2023-06 → 1st inspection 2026-06 (1 month ahead of 2026-05)
    assert await world.nos("staff", mode="inspection", inspection="1", months_from="0", months_to="1") == [
        "A1"
    ]
    assert await world.nos("staff", mode="inspection", inspection="1", months_from="2", months_to="35") == [
        "D1"  # 2024-01 → 2027-01, 8 months ahead
    ]
    # B1: 2021-07 → 2nd inspection 2026-07
    assert await world.nos("staff", mode="inspection", inspection="2", months_from="2", months_to="2") == [
        "B1"
    ]
    assert await world.nos("staff", mode="inspection", inspection="3", months_from="0", months_to="23") == []
    for params, code in [
        ({"inspection": "1", "months_to": "36"}, "inspection_range_out_of_bounds"),
        ({"inspection": "2", "months_to": "24"}, "inspection_range_out_of_bounds"),
        ({"inspection": "3", "months_from": "5", "months_to": "1"}, "inspection_range_reversed"),
        ({"months_to": "3"}, "inspection_kind_required"),
    ]:
        r = await world.get("staff", "/api/v1/contracts", mode="inspection", **params)
        assert r.status_code == 422 and r.json()["code"] == code, params


# --------------------------------------------------------------------------------------------
# list rules


async def test_rows_carry_colours_marks_and_labels(world: World) -> None:
    rows = {r["contract_no"]: r for r in await world.items("staff")}
    assert {k: v["color"] for k, v in rows.items()} == {
        "C1": "gray",
        "A1": "red",
        "E1": "red",
        "B1": "yellow",
        "D1": "blue",
    }
    a = rows["A1"]
    assert a["result_input_deadline"] == "2026-04-10"
    assert (a["selection"], a["selection_label"], a["replacement_mark"]) == (
        "vehicle_return",
        "車両返却",
        "○",
    )
    assert a["inspection_ym"] == "2026-06" and a["inspection_no"] == 1
    assert not a["completed"] and a["handling_status"] == "selected"
    assert rows["B1"]["replacement_mark"] == "未"  # within 4 months, nothing entered
    assert rows["D1"]["replacement_mark"] == ""  # more than 4 months ahead
    assert rows["B1"]["final_payment_date_label"] == "リース満了年月日"
    assert rows["A1"]["final_payment_date_label"] == "最終回年月日"
    assert rows["D1"]["inspection_may_differ"] and not rows["A1"]["inspection_may_differ"]
    expected = {
        "contract_no",
        "final_payment_date",
        "result_input_deadline",
        "selection",
        "replacement_mark",
        "completed",
        "contractor_name",
        "inspection_ym",
        "model",
        "registration_no",
        "staff_code",
        "store_name",
        "color",
    }
    assert expected <= set(a)


async def test_completed_request_marks_the_row(world: World) -> None:
    app = world.client._transport.app  # type: ignore[attr-defined]
    async with app.state.runtime.sessionmaker() as session, session.begin():
        await apply_envelope(
            session,
            request_status("A1", "req-a1", 1, "completed", "完了").model_copy(
                update={
                    "data": {
                        **request_status("A1", "req-a1", 1, "completed", "完了").data,
                        "dealer_code": world.dealer,
                        "store_code": "S1",
                    }
                }
            ),
        )
    rows = {r["contract_no"]: r for r in await world.items("staff", final_to="2026-06")}
    assert rows["A1"]["completed"] and rows["A1"]["color"] == "white"
    assert await world.nos("staff", handling_status="completed") == ["A1"]
    detail = (await world.get("staff", "/api/v1/contracts/A1")).json()
    assert detail["request"]["href"] == "/requests/req-a1" and detail["request"]["status_label"] == "完了"


async def test_hundred_row_cap_and_staff_code_sort(world: World) -> None:
    r = await world.get("hq", "/api/v1/contracts")
    body = r.json()
    assert body["total"] == 125 and body["truncated"] and len(body["items"]) == 100
    assert "表示できる件数は100件までです" in body["message"]
    dates = [i["final_payment_date"] for i in body["items"]]
    assert dates == sorted(dates)
    small = (await world.get("staff", "/api/v1/contracts")).json()
    assert small["total"] == 5 and not small["truncated"] and small["message"] is None
    by_staff = await world.items("staff", sort="staff_code")
    assert [i["staff_code"] for i in by_staff] == ["S101", "S101", "S101", "S102", "S103"]
    assert [i["contract_no"] for i in by_staff][:3] == ["C1", "E1", "D1"]  # then by date
    r = await world.get("staff", "/api/v1/contracts", sort="name")
    assert r.status_code == 422 and r.json()["code"] == "invalid_sort"


async def test_scope(world: World) -> None:
    assert "Z000" not in await world.nos("staff", mode="individual", contract_no="Z000")
    assert await world.nos("manager2", mode="individual", contract_no="Z000") == ["Z000"]
    assert await world.nos("hq", mode="individual", contract_no="Z000") == ["Z000"]
    assert (await world.get("staff", "/api/v1/contracts/Z000")).status_code == 404
    assert (await world.get("hq", "/api/v1/contracts/Z000")).status_code == 200
    r = await world.get("hq", "/api/v1/contracts/O1")  # another dealer's
    assert r.status_code == 404 and r.json()["code"] == "contract_not_found"
    page = await world.client.get("/contracts/O1", cookies=world.cookies("hq"))
    assert page.status_code == 404 and "見つかりません" in page.text
    assert await world.nos("other", mode="individual", contract_no="A1") == []
    assert "X1" not in await world.nos("staff")  # cancelled contracts are not listed


# --------------------------------------------------------------------------------------------
# CSV


async def test_csv_is_for_hq_and_store_managers(world: World) -> None:
    r = await world.get("staff", "/api/v1/contracts/export.csv")
    assert r.status_code == 403 and r.json()["code"] == "csv_forbidden"
    r = await world.get("manager", "/api/v1/contracts/export.csv", encoding="latin-1")
    assert r.status_code == 422 and r.json()["code"] == "invalid_encoding"
    r = await world.get("manager", "/api/v1/contracts/export.csv", mode="individual")
    assert r.status_code == 422 and r.json()["code"] == "individual_criteria_required"


async def test_csv_cp932_default(world: World) -> None:
    r = await world.get("manager", "/api/v1/contracts/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("cp932"))))
    assert rows[0][0] == "最終回年月日/リース満了年月日" and "代替車種" in rows[0]
    body = {row[14]: row for row in rows[1:-1]}
    assert set(body) == {"A1", "B1", "C1", "D1", "E1"}
    assert body["A1"][4:6] == ["○", "クラウン"]
    assert body["A1"][0] == "2026/06/10" and body["B1"][1] == "リース"
    assert body["E1"][10].startswith("'=HYPERLINK") and body["E1"][11] == "'-12"  # formula-safe
    assert body["E1"][8] == "?田 三郎"
    assert rows[-1][0].startswith("※CP932") and "1文字" in rows[-1][0]  # the replacement count


async def test_csv_utf8_with_bom_and_every_row(world: World) -> None:
    r = await world.get("hq", "/api/v1/contracts/export.csv", encoding="utf-8-sig", sort="staff_code")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 1 + 125  # every row, no cap, no replacement row
    assert any(row[8] == "𠮷田 三郎" for row in rows)
    staff = [row[12] for row in rows[1:]]
    assert staff == sorted(staff)
    r = await world.get("hq", "/api/v1/contracts/export.csv", mode="individual", contractor_name="やまだ")
    assert len(list(csv.reader(io.StringIO(r.content.decode("cp932"))))) == 2


# --------------------------------------------------------------------------------------------
# detail and pages


async def test_detail_json(world: World) -> None:
    d = (await world.get("staff", "/api/v1/contracts/B1")).json()
    assert d["contract"]["program_label"] == "残額据置き払い（TFC保証）"
    assert d["contract"]["contractor_address"] == "東京都品川区北品川1-2-3"
    assert d["memo"] == {"text": None, "author": None, "updated_at": None, "history": []}
    assert d["selection"] is None and d["request"] is None
    actions = {a["key"]: a for a in d["actions"]}
    assert actions["refinance"]["enabled"]  # 2025-12-10 ≤ today ≤ 2026-09-10
    assert not actions["assignment"]["enabled"]
    d = (await world.get("manager", "/api/v1/contracts/D1")).json()
    assert (d["contract"]["tfc_handling"], d["contract"]["tfc_handling_label"]) == ("total_loss", "車両全損")
    page = (await world.client.get("/contracts/D1", cookies=world.cookies("manager"))).text
    assert "TFC対応: 車両全損" in page and "total_loss" not in page
    actions = {a["key"]: a for a in d["actions"]}
    assert actions["refinance"]["enabled"] and d["refinance_window"]["from"] == "2026-04-30"
    assert actions["assignment"]["enabled"]
    d = (await world.get("manager", "/api/v1/contracts/C1")).json()  # final date was yesterday
    actions = {a["key"]: a for a in d["actions"]}
    assert not actions["refinance"]["enabled"] and "実施可能" in actions["refinance"]["reason"]


async def test_pages(world: World) -> None:
    top = await world.client.get("/", cookies=world.cookies("staff"))
    assert (
        "J-PASS トップ" in top.text and "1. 最終回対象顧客一覧" in top.text and "契約内容変更受付" in top.text
    )
    page = await world.client.get("/contracts", cookies=world.cookies("staff"))
    assert page.status_code == 200
    for label in (
        "個別契約検索",
        "汎用検索",
        "車検軸検索",
        "グレー",
        "最終回期日経過",
        "結果入力期限",
        "リース満了",
        "顧客詳細",
    ):
        assert label in page.text, label
    # What is due comes first: the page leaves out contracts past their final date (and complete ones)
    # until asked; the API keeps listing everything in scope (SPEC §2.1); the marks are explained.
    assert 'data-contract="C1"' not in page.text and 'id="done-toggle"' in page.text
    assert "未 入力要だが未入力" in page.text and "入力不要" in page.text
    shown = await world.client.get("/contracts", params={"done": "show"}, cookies=world.cookies("staff"))
    assert 'data-contract="C1" data-color="gray"' in shown.text
    api = await world.get("staff", "/api/v1/contracts")
    assert "C1" in {i["contract_no"] for i in api.json()["items"]}
    hidden = await world.get("staff", "/api/v1/contracts", done="hide")
    assert "C1" not in {i["contract_no"] for i in hidden.json()["items"]}
    assert all(i["color"] != "gray" and not i["completed"] for i in hidden.json()["items"])
    bogus = await world.get("staff", "/api/v1/contracts", done="maybe")
    assert bogus.status_code == 422 and bogus.json()["code"] == "invalid_done"
    assert "顧客リスト（csv）出力" not in page.text  # staff may not export
    page = await world.client.get("/contracts", cookies=world.cookies("hq"))
    assert "表示できる件数は100件までです" in page.text and "顧客リスト（csv）出力" in page.text
    bad = await world.client.get(
        "/contracts",
        params={"mode": "inspection", "inspection": "1", "months_to": "40"},
        cookies=world.cookies("staff"),
    )
    assert bad.status_code == 422 and "0～35ヶ月の範囲で入力してください" in bad.text
    detail = await world.client.get("/contracts/A1", cookies=world.cookies("staff"))
    assert detail.status_code == 200
    for text in (
        "進捗・結果入力",
        "車両返却 結果入力・進捗確認",
        "再分割シミュレーション",
        "お支払方法確認書印刷",
        "店舗・スタッフ変更",
        "自由記入欄",
        "/selection/contracts/A1/input",
        "/returns/contracts/A1",
    ):
        assert text in detail.text, text
