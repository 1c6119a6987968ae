"""SPEC §9.1 through the API, the pages and the topics (PostgreSQL, real broker): every send-back records
its reason and sender, an approver's needs one; every request gets a readable 受付番号 that the progress
list finds and the events carry."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker

from services.approvals.db import Base
from services.approvals.use_cases import next_reception_no
from shared.db import make_engine
from shared.topics import JPASS_REQUESTS, REQUEST_STATUS
from tests.approvals.conftest import Env
from tests.approvals.support import act, cookies, payload, records_for, submit, tfc, wait_request
from tests.support import auth

STAFF, MANAGER, HQ = "d1s1-staff1", "d1s1-manager", "d1-hq"
RECEPTION_NO = re.compile(r"^\d{4}-\d{6,7}$")


async def ok(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return response.json()


def status_event(events: list[dict], version: int) -> dict:
    return next(e["data"] for e in events if e["data"]["version"] == version)


async def test_every_send_back_records_its_reason_and_sender(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(True, True)
    rid = (await submit(b, c, STAFF))["request_id"]

    # the store manager: a note is required; without one nothing changes
    refused = await act(c, MANAGER, rid, "send_back", 1)
    assert refused.status_code == 422, refused.text
    assert refused.json() == {
        "detail": "差戻し理由を入力してください。",
        "code": "send_back_reason_required",
        "field": "note",
    }
    refused = await act(c, MANAGER, rid, "send_back", 1, note="  \n ")
    assert refused.status_code == 422
    r = await wait_request(c, rid, STAFF)
    assert (r["version"], r["status"], len(r["history"])) == (1, "store_pending", 1)
    assert r["last_send_back"] is None

    r = await ok(await act(c, MANAGER, rid, "send_back", 1, note="受領日を確認してください"))
    assert r["status"] == "staff_back"
    back = r["last_send_back"]
    assert back["reason"] == "受領日を確認してください" and back["sender"]["user_id"] == MANAGER
    assert back["sender_label"] == "伊藤 誠（店長）" and back["at"]
    assert (r["history"][-1]["action"], r["history"][-1]["note"]) == ("send_back", "受領日を確認してください")

    r = await ok(await act(c, STAFF, rid, "correct", 2, payload=payload()))
    r = await ok(await act(c, MANAGER, rid, "approve", 3))
    assert r["status"] == "hq_pending"
    # hq gives the reason in the 貴社連絡欄 (the manual's way) ...
    r = await ok(await act(c, HQ, rid, "send_back", 4, dealer_note="返却書類の不備"))
    assert r["status"] == "store_back" and r["dealer_note"] == "返却書類の不備"
    assert r["last_send_back"]["reason"] == "返却書類の不備"
    assert r["last_send_back"]["sender"]["user_id"] == HQ
    r = await ok(await act(c, MANAGER, rid, "approve", 5))
    # ... but the same note again is an older reason, not this send-back's: refused
    refused = await act(c, HQ, rid, "send_back", 6, dealer_note="返却書類の不備")
    assert refused.status_code == 422 and refused.json()["code"] == "send_back_reason_required"
    r = await ok(await act(c, HQ, rid, "approve", 6))
    assert r["status"] == "requested"

    # TFC's send-back: its message is the reason, TFC the sender
    await tfc(b, rid, "send_back", "車検証の写しが不足しています")
    r = await wait_request(c, rid, HQ, "hq_back")
    assert r["last_send_back"]["reason"] == "車検証の写しが不足しています"
    assert r["last_send_back"]["sender"] is None
    assert r["last_send_back"]["sender_label"] == "トヨタファイナンス"
    assert r["dealer_note"] == "返却書類の不備"  # the 貴社連絡欄 stays hq's own

    # each RequestStatusChanged of a send-back carries that send-back; other events none
    events = await records_for(b, REQUEST_STATUS, rid, expect=8)
    manager_back, hq_back, tfc_back = (status_event(events, v) for v in (2, 5, 8))
    assert manager_back["send_back"]["reason"] == "受領日を確認してください"
    assert manager_back["send_back"]["sender"]["user_id"] == MANAGER
    assert hq_back["send_back"]["reason"] == "返却書類の不備"
    assert tfc_back["send_back"]["reason"] == "車検証の写しが不足しています"
    assert tfc_back["send_back"]["sender"] is None
    assert all(status_event(events, v)["send_back"] is None for v in (1, 3, 4, 6, 7))

    # the page shows the latest reason beside the 貴社連絡欄
    page = (await c.get(f"/requests/{rid}", cookies=cookies(HQ))).text
    assert "<dt>差戻し理由</dt>" in page and "車検証の写しが不足しています" in page
    assert "差戻し者：トヨタファイナンス" in page


async def test_the_page_refuses_a_send_back_without_a_reason_next_to_the_field(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(True, False)
    r = await submit(b, c, STAFF)
    rid = r["request_id"]
    form = {
        "version": "1",
        "action": "send_back",
        "has_payload": "1",
        "contact1": "03-1234-5678",
        "contact2": "090-5555-6666",  # typed before pressing 差戻し: kept on the refused page
        "result": "returned",
        "returned_on": r["payload"]["returned_on"],
        "note": "",
    }
    refused = await c.post(f"/requests/{rid}", data=form, cookies=cookies(MANAGER))
    assert refused.status_code == 422
    field = refused.text.split('id="note"')[1].split("</div>")[0]
    assert "差戻し理由を入力してください。" in field and 'class="field-error"' in field
    assert 'value="090-5555-6666"' in refused.text
    after = await wait_request(c, rid, STAFF)
    assert after["version"] == 1 and after["status"] == "store_pending" and len(after["history"]) == 1

    done = await c.post(f"/requests/{rid}", data={**form, "note": "連絡先2を確認"}, cookies=cookies(MANAGER))
    assert done.status_code == 303
    page = (await c.get(f"/requests/{rid}", cookies=cookies(STAFF))).text
    shown = page.split("<dt>差戻し理由</dt>")[1].split("</dd>")[0]
    assert "連絡先2を確認" in shown and "差戻し者：伊藤 誠（店長）" in shown


async def test_reception_numbers_are_readable_unique_and_carried(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(False, False)
    tag = uuid.uuid4().hex[:6].upper()
    submitted = await asyncio.gather(*(submit(b, c, STAFF, contract_no=f"RN{tag}{i}") for i in range(12)))
    numbers = [r["reception_no"] for r in submitted]
    assert all(RECEPTION_NO.match(n) and len(n) <= 12 for n in numbers), numbers
    assert len(set(numbers)) == len(numbers)
    for r in submitted:  # YYMM of the Tokyo submission date
        tokyo = datetime.fromisoformat(r["submitted_at"]).astimezone(ZoneInfo("Asia/Tokyo"))
        assert r["reception_no"][:4] == tokyo.strftime("%y%m")

    one = submitted[0]
    rid, no = one["request_id"], one["reception_no"]
    # jpass.requests.v1 and RequestStatusChanged carry it
    jpass = await records_for(b, JPASS_REQUESTS, rid, expect=1)
    assert jpass[-1]["event"] == "requested" and jpass[-1]["reception_no"] == no
    status = await records_for(b, REQUEST_STATUS, rid, expect=1)
    assert status[-1]["data"]["reception_no"] == no

    # 進捗一覧: in every item, searchable by exact number (typed in full width, with blanks)
    items = (await c.get("/api/v1/requests", params={"contract_no": f"RN{tag}0"}, headers=auth(STAFF))).json()
    assert [i["reception_no"] for i in items["items"]] == [no]
    typed = " " + no.translate(str.maketrans("0123456789-", "０１２３４５６７８９－")) + "　"
    found = (await c.get("/api/v1/requests", params={"reception_no": typed}, headers=auth(STAFF))).json()
    assert [i["request_id"] for i in found["items"]] == [rid]
    unknown = await c.get("/api/v1/requests", params={"reception_no": "9912-999999"}, headers=auth(STAFF))
    assert unknown.status_code == 200 and unknown.json()["items"] == []
    partial = await c.get("/api/v1/requests", params={"reception_no": no[:-1]}, headers=auth(STAFF))
    assert partial.status_code == 422  # exact numbers only: a part of one is not a number
    assert (await c.get("/api/v1/requests", params={"reception_no": no}, headers=auth("d2-hq"))).json()[
        "items"
    ] == []  # another dealer's number finds nothing
    bad = await c.get("/api/v1/requests", params={"reception_no": "12-3"}, headers=auth(STAFF))
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_reception_no"
    assert "受付番号" in bad.json()["detail"]

    page = await c.get("/requests", params={"reception_no": typed}, cookies=cookies(STAFF))
    assert page.status_code == 200 and "<th>受付番号</th>" in page.text
    assert f'<td class="reception-no">{no}</td>' in page.text
    assert page.text.count('class="reception-no"') == 1
    bad_page = await c.get("/requests", params={"reception_no": "abc"}, cookies=cookies(STAFF))
    assert bad_page.status_code == 422 and "「2612-000123」の形式" in bad_page.text
    detail = (await c.get(f"/requests/{rid}", cookies=cookies(STAFF))).text
    assert f'<dd id="reception-no">{no}</dd>' in detail


async def test_concurrent_counters_never_give_a_number_twice(
    any_database: Callable[[str], Awaitable[str]],
) -> None:
    """Many transactions taking numbers at once, on PostgreSQL and SQLite: one after the other."""
    url = await any_database("approvals_reception")
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        december = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # already December in Tokyo

        async def take(moment: datetime) -> str:
            async with sessions() as session, session.begin():
                return await next_reception_no(session, moment)

        moments = [december] * 40 + [datetime(2026, 11, 30, 14, 0, tzinfo=UTC)] * 5
        numbers = await asyncio.gather(*(take(m) for m in moments))
    finally:
        await engine.dispose()
    assert len(set(numbers)) == len(numbers)
    assert sorted(n for n in numbers if n.startswith("2612")) == [f"2612-{i:06d}" for i in range(1, 41)]
    assert sorted(n for n in numbers if n.startswith("2611")) == [f"2611-{i:06d}" for i in range(1, 6)]


async def test_the_asyncapi_document_shows_the_new_optional_fields(env: Env) -> None:
    doc = (await env.client.get("/asyncapi/approvals.json")).json()
    messages = doc["components"]["messages"]
    to_tfc = messages["jpass_requests_v1__JpassRequest"]["payload"]
    assert "reception_no" in to_tfc["properties"] and "reception_no" not in to_tfc.get("required", [])
    assert "reception_no" in str(messages["jpass_request-status_v1__jpass_request_status_changed"])
    assert "send_back" in str(messages["jpass_request-status_v1__jpass_request_status_changed"])
