"""Dashboard and saved searches through the API, with real events through the broker into the read
model (PostgreSQL): the figures per scope, the status-change timestamps, refusals."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from services.search.config import SearchSettings
from services.search.main import create_app
from shared.events import (
    REQUEST_STATUS_CHANGED,
    SELECTION_RECORDED,
    Party,
    RequestStatusChanged,
    SelectionRecorded,
)
from shared.identity import User
from shared.topics import REQUEST_STATUS, SELECTION_EVENTS, TFC_CONTRACTS
from shared.web import FLASH_COOKIE
from tests.search.factories import envelope, snapshot
from tests.support import eventually, publish, running, sign_token

TODAY = date(2026, 5, 20)
T0 = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
STAFF = Party(user_id="x-staff", name="試験 一郎", role="staff")


def people(dealer: str) -> dict[str, User]:
    common: dict[str, Any] = {"dealer_code": dealer, "dealer_name": "ダッシュ販売"}
    return {
        "hq": User(user_id=f"{dealer}-hq", name="本部 花子", role="hq", **common),
        "manager": User(
            user_id=f"{dealer}-mgr",
            name="店長 一",
            role="store_manager",
            store_code="S1",
            store_name="本店",
            **common,
        ),
        "staff": User(
            user_id=f"{dealer}-staff",
            name="営業 二",
            role="staff",
            store_code="S1",
            store_name="本店",
            **common,
        ),
        "staff2": User(
            user_id=f"{dealer}-staff2",
            name="営業 三",
            role="staff",
            store_code="S1",
            store_name="本店",
            **common,
        ),
    }


def selection_event(no: str, dealer: str, store: str, *, replacement: str, late: bool) -> bytes:
    data = SelectionRecorded(
        contract_no=no,
        dealer_code=dealer,
        store_code=store,
        seq=1,
        category="vehicle_return",
        replacement=replacement,  # type: ignore[arg-type]
        replacement_model="クラウン" if replacement == "yes" else None,
        confirmation_received_on=date(2026, 4, 28),
        late=late,
        recorded_by=STAFF,
        recorded_at=T0,
    )
    return envelope(SELECTION_RECORDED, no, data).model_dump_json().encode()


def status_event(
    no: str, dealer: str, store: str, request_id: str, version: int, status: str, minutes: int
) -> bytes:
    data = RequestStatusChanged(
        request_id=request_id,
        type="vehicle_return",
        contract_no=no,
        contractor_name="山田 太郎",
        dealer_code=dealer,
        store_code=store,
        version=version,
        action="submit" if version == 1 else "approve",
        old_status=None,
        new_status=status,
        new_status_label={"store_pending": "店舗承認者手続中", "hq_pending": "本部承認者手続中"}.get(
            status, "依頼中"
        ),
        actor=STAFF,
        submitter=STAFF,
        at=T0 + timedelta(minutes=minutes),
    )
    return envelope(REQUEST_STATUS_CHANGED, request_id, data).model_dump_json().encode()


async def test_dashboard_figures_from_real_events(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]]
) -> None:
    dealer = f"X{uuid.uuid4().hex[:6].upper()}"
    who = people(dealer)
    headers = {k: {"Authorization": f"Bearer {sign_token(u)}"} for k, u in who.items()}
    settings = SearchSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=await pg_database("dash"))
    n = {k: f"{dealer}{k}" for k in ("c1", "c2", "c3", "c4", "c5", "c6", "c7")}

    def contract(key: str, store: str, staff: str, final: date, first_reg: str, **kw: Any) -> Any:
        return snapshot(
            n[key],
            dealer=dealer,
            store=store,
            store_name="本店" if store == "S1" else "二号店",
            staff_code=staff,
            final_payment_date=final,
            first_registration_date=first_reg,
            **kw,
        )

    contracts = [
        contract("c1", "S1", "A1", date(2026, 8, 10), "2021-01-05"),
        contract("c2", "S1", "B1", date(2026, 8, 10), "2021-01-05"),
        contract("c3", "S2", "C2", date(2026, 8, 10), "2021-01-05"),
        contract("c4", "S1", "A1", date(2026, 9, 10), "2023-09-10"),  # final = 1st inspection month
        contract("c5", "S2", "C2", date(2027, 4, 30), "2022-04"),  # final = 2nd inspection month
        contract("c6", "S1", "A1", date(2026, 9, 10), "2023-09-10", status="settled"),  # complete
        contract("c7", "S1", "A1", date(2027, 6, 10), "2024-06-10"),  # beyond 12 months
    ]
    async with running(create_app(settings, clock=lambda: TODAY)) as client:
        for c in contracts:
            await publish(kafka_bootstrap, TFC_CONTRACTS, c.contract_no, c)
        await publish(
            kafka_bootstrap,
            SELECTION_EVENTS,
            n["c1"],
            selection_event(n["c1"], dealer, "S1", replacement="yes", late=False),
        )
        await publish(
            kafka_bootstrap,
            SELECTION_EVENTS,
            n["c2"],
            selection_event(n["c2"], dealer, "S1", replacement="no", late=True),
        )
        await publish(
            kafka_bootstrap,
            SELECTION_EVENTS,
            n["c3"],
            selection_event(n["c3"], dealer, "S2", replacement="yes", late=False),
        )
        r1, r3 = f"{dealer}-r1", f"{dealer}-r3"
        events = [
            (r1, status_event(n["c1"], dealer, "S1", r1, 1, "store_pending", 0)),
            (r1, status_event(n["c1"], dealer, "S1", r1, 2, "hq_pending", 10)),
            (r1, status_event(n["c1"], dealer, "S1", r1, 3, "requested", 70)),
            (r3, status_event(n["c3"], dealer, "S2", r3, 1, "store_pending", 0)),
            (r3, status_event(n["c3"], dealer, "S2", r3, 2, "hq_pending", 30)),
        ]
        for key, raw in [*events, events[1]]:  # a duplicate delivery changes nothing
            await publish(kafka_bootstrap, REQUEST_STATUS, key, raw)

        async def hq_figures() -> dict[str, Any]:
            r = await client.get("/api/v1/dashboard", headers=headers["hq"])
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["selections"]["total"]["selections"] == 3
            assert body["returns_in_progress"]["total"] == 2
            counts = {s["status"]: s["count"] for s in body["approval_steps"]}
            # every status event applied (two requests on two partitions: in any order)
            assert (counts["store_pending"], counts["hq_pending"]) == (2, 1)
            return body

        hq = await eventually(hq_figures, timeout_s=30)
        assert hq["scope"] == {
            "level": "dealer",
            "dealer_code": dealer,
            "dealer_name": "ダッシュ販売",
            "store_code": None,
            "store_name": None,
        }
        total = hq["selections"]["total"]
        assert (total["replacement_yes"], total["replacement_rate"], total["replacement_rate_label"]) == (
            2,
            2 / 3,
            "66.7%",
        )
        assert (total["on_time"], total["on_time_rate_label"]) == (2, "66.7%")
        by_store = {g["key"]: g for g in hq["selections"]["by_store"]}
        assert by_store["S1"]["label"] == "本店" and by_store["S1"]["replacement_rate"] == 0.5
        assert by_store["S2"]["replacement_rate"] == 1.0 and by_store["S2"]["on_time_rate"] == 1.0
        by_staff = {g["key"]: g for g in hq["selections"]["by_staff"]}
        assert by_staff["A1"]["replacement_rate"] == 1.0 and by_staff["B1"]["replacement_rate"] == 0.0
        assert by_staff["B1"]["on_time_rate"] == 0.0
        assert hq["returns_in_progress"]["by_store"] == [
            {"store_code": "S1", "store_name": "本店", "count": 1},
            {"store_code": "S2", "store_name": "二号店", "count": 1},
        ]
        steps = {s["status"]: s for s in hq["approval_steps"]}
        assert steps["store_pending"]["count"] == 2 and steps["store_pending"]["median_seconds"] == 1200.0
        assert steps["store_pending"]["median_label"] == "20分"
        assert steps["hq_pending"]["median_seconds"] == 3600.0 and steps["requested"]["count"] == 0
        highlights = hq["inspection_highlights"]
        assert highlights["total"] == 2
        assert [i["contract_no"] for i in highlights["items"]] == [n["c4"], n["c5"]]

        manager = (await client.get("/api/v1/dashboard", headers=headers["manager"])).json()
        assert manager["scope"]["level"] == "store" and manager["scope"]["store_code"] == "S1"
        assert manager["selections"]["total"]["selections"] == 2
        assert [g["key"] for g in manager["selections"]["by_store"]] == ["S1"]
        assert manager["returns_in_progress"]["total"] == 1
        assert {s["status"]: s["median_seconds"] for s in manager["approval_steps"]}["store_pending"] == 600.0
        assert [i["contract_no"] for i in manager["inspection_highlights"]["items"]] == [n["c4"]]

        refused = await client.get("/api/v1/dashboard", headers=headers["staff"])
        assert refused.status_code == 403 and refused.json()["code"] == "dashboard_forbidden"
        cookie = headers["manager"]["Authorization"].split()[1]
        page = await client.get("/dashboard", cookies={"jpass_token": cookie})
        assert page.status_code == 200 and "代替率" in page.text and "<svg" in page.text
        assert n["c4"] in page.text
        staff_page = await client.get(
            "/dashboard", cookies={"jpass_token": headers["staff"]["Authorization"].split()[1]}
        )
        assert staff_page.status_code == 403 and "本部または店長のみ" in staff_page.text


async def test_saved_searches_per_user(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]]
) -> None:
    dealer = f"X{uuid.uuid4().hex[:6].upper()}"
    who = people(dealer)
    headers = {k: {"Authorization": f"Bearer {sign_token(u)}"} for k, u in who.items()}
    settings = SearchSettings(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=await pg_database("saved")
    )
    async with running(create_app(settings, clock=lambda: TODAY)) as client:
        c: httpx.AsyncClient = client
        params = {"mode": "general", "model": "プリウス", "contractor_name": "無関係", "final_to": "2027-03"}
        r = await c.post(
            "/api/v1/saved-searches",
            json={"name": " 今月の プリウス ", "params": params},
            headers=headers["staff"],
        )
        assert r.status_code == 201, r.text
        first = r.json()
        assert first["name"] == "今月の プリウス"
        assert first["params"] == {"mode": "general", "model": "プリウス", "final_to": "2027-03"}
        assert first["href"].startswith("/contracts?mode=general")
        # the same name again replaces the conditions
        r = await c.post(
            "/api/v1/saved-searches",
            json={"name": "今月の プリウス", "params": {"mode": "general", "model": "アクア"}},
            headers=headers["staff"],
        )
        assert r.status_code == 201 and r.json()["id"] == first["id"]
        listed = (await c.get("/api/v1/saved-searches", headers=headers["staff"])).json()["items"]
        assert [(i["name"], i["params"]["model"]) for i in listed] == [("今月の プリウス", "アクア")]
        # private to the user
        assert (await c.get("/api/v1/saved-searches", headers=headers["staff2"])).json()["items"] == []
        other = await c.delete(f"/api/v1/saved-searches/{first['id']}", headers=headers["staff2"])
        assert other.status_code == 404 and other.json()["code"] == "saved_search_not_found"
        huge = await c.delete("/api/v1/saved-searches/99999999999", headers=headers["staff"])
        assert huge.status_code == 422
        # refusals name the field
        bad = await c.post(
            "/api/v1/saved-searches",
            json={"name": "", "params": {"mode": "general"}},
            headers=headers["staff"],
        )
        assert bad.status_code == 422 and bad.json()["code"] == "saved_search_name_required"
        assert bad.json()["field"] == "name"
        bad = await c.post(
            "/api/v1/saved-searches",
            json={"name": "範囲外", "params": {"mode": "inspection", "inspection": "2", "months_to": "30"}},
            headers=headers["staff"],
        )
        assert bad.status_code == 422 and bad.json()["field"] == "params"
        # pages: the save form on the list and the list of saved searches
        cookies = {"jpass_token": headers["staff"]["Authorization"].split()[1]}
        r = await c.post("/saved-searches", data={"name": "", "mode": "general"}, cookies=cookies)
        assert r.status_code == 303 and "save_error=saved_search_name_required" in r.headers["location"]
        page = await c.get(r.headers["location"], cookies=cookies)
        assert "保存名を入力してください。" in page.text and 'id="save-error"' in page.text
        page = await c.get("/saved-searches", cookies=cookies)
        assert "今月の プリウス" in page.text and "車種 アクア" in page.text
        gone = await c.delete(f"/api/v1/saved-searches/{first['id']}", headers=headers["staff"])
        assert gone.status_code == 204
        assert (await c.get("/api/v1/saved-searches", headers=headers["staff"])).json()["items"] == []


async def test_saving_and_deleting_a_search_on_the_pages_say_so_once(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]]
) -> None:
    """Issue 16: 保存 and 削除 land on 保存した検索条件 with their message (the flash cookie), not `?done=`;
    a name that is not plain words is left out of the message rather than echoed."""
    dealer = f"X{uuid.uuid4().hex[:6].upper()}"
    token = sign_token(people(dealer)["staff"])
    settings = SearchSettings(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=await pg_database("saved_flash")
    )
    async with running(create_app(settings, clock=lambda: TODAY)) as c:

        async def land(path: str, form: dict[str, str]) -> str:
            written = await c.post(path, data=form, cookies={"jpass_token": token})
            assert written.status_code == 303 and written.headers["location"] == "/saved-searches"
            flash = written.cookies.get(FLASH_COOKIE)
            assert flash, written.headers
            c.cookies.clear()
            page = await c.get("/saved-searches", cookies={"jpass_token": token, FLASH_COOKIE: flash})
            assert "Max-Age=0" in page.headers.get("set-cookie", "")
            again = await c.get("/saved-searches", cookies={"jpass_token": token})
            assert 'id="flash"' not in again.text
            return page.text

        form = {"name": "今月の プリウス", "mode": "general", "model": "プリウス"}
        page = await land("/saved-searches", form)
        assert page.count("検索条件「今月の プリウス」を保存しました。") == 1
        page = await land("/saved-searches", {"name": "<b>3月〜4月</b>", "mode": "general"})
        assert page.count("検索条件を保存しました。") == 1 and "「&lt;b&gt;" not in page
        listed = await c.get("/api/v1/saved-searches", headers={"Authorization": f"Bearer {token}"})
        first = listed.json()["items"][0]["id"]
        page = await land(f"/saved-searches/{first}/delete", {})
        assert page.count("検索条件を削除しました。") == 1
