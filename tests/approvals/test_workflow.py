"""Every path of SPEC §5 through the API and the pages, on PostgreSQL with the real broker."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from shared.topics import JPASS_REQUESTS, REQUEST_STATUS
from shared.web import FLASH_COOKIE
from tests.approvals.conftest import Env
from tests.approvals.support import act, cookies, payload, records_for, submit, tfc, wait_request
from tests.support import auth

STAFF, STAFF2, MANAGER, HQ = "d1s1-staff1", "d1s1-staff2", "d1s1-manager", "d1-hq"


async def ok(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return response.json()


async def test_flow_settings_are_hq_only_and_default_off(env: Env) -> None:
    c = env.client
    r = await c.get("/api/v1/approval-flow", headers=auth("d2-hq"))
    assert r.json() == {"store_approval": False, "hq_approval": False, "hq_approver_emails": []}
    for user in (STAFF, MANAGER):
        r = await c.get("/api/v1/approval-flow", headers=auth(user))
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
        assert (await c.put("/api/v1/approval-flow", json={}, headers=auth(user))).status_code == 403
    r = await c.put(
        "/api/v1/approval-flow",
        json={"store_approval": True, "hq_approval": False, "hq_approver_emails": ["not-an-address"]},
        headers=auth("d2-hq"),
    )
    assert r.status_code == 422
    body = {"store_approval": True, "hq_approval": True, "hq_approver_emails": ["a@example.com"]}
    assert await ok(await c.put("/api/v1/approval-flow", json=body, headers=auth("d2-hq"))) == body
    assert (await c.get("/api/v1/approval-flow", headers=auth(HQ))).json()["store_approval"] is False

    page = await c.get("/approval-flow", cookies=cookies("d2-hq"))
    assert (
        page.status_code == 200 and "承認フロー設定（本部用）" in page.text and "a@example.com" in page.text
    )
    assert "本部承認者のメールアドレス" in page.text and "confirm(" in page.text
    assert (await c.get("/approval-flow", cookies=cookies(STAFF))).status_code == 403
    bad = await c.post(
        "/approval-flow", data={"store_approval": "on", "hq_approver_emails": "x@"}, cookies=cookies("d2-hq")
    )
    assert bad.status_code == 422 and "メールアドレスの形式が正しくありません" in bad.text
    saved = await c.post(
        "/approval-flow",
        data={"hq_approval": "on", "hq_approver_emails": "b@example.com\nc@example.com"},
        cookies=cookies("d2-hq"),
    )
    assert saved.status_code == 303
    assert (await c.get("/api/v1/approval-flow", headers=auth("d2-hq"))).json() == {
        "store_approval": False,
        "hq_approval": True,
        "hq_approver_emails": ["b@example.com", "c@example.com"],
    }


async def test_both_steps_send_backs_corrections_tfc_and_completion(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(True, True, ["hq-approver@example.com"])
    r = await submit(b, c, STAFF, contractor_name="山田 太郎")
    rid = r["request_id"]
    assert (r["status"], r["status_label"], r["status_color"], r["version"]) == (
        "store_pending",
        "店舗承認者手続中",
        "yellow",
        1,
    )
    assert r["requested_at"] is None and r["history"][0]["action"] == "submit"
    assert r["allowed_actions"] == ["withdraw", "correct"]
    assert (await wait_request(c, rid, MANAGER))["allowed_actions"] == ["approve", "send_back", "correct"]
    assert (await wait_request(c, rid, HQ))["allowed_actions"] == []
    assert (await wait_request(c, rid, STAFF2))["allowed_actions"] == []

    # store manager sends back to the submitter (連絡先3 receives it)
    r = await ok(await act(c, MANAGER, rid, "send_back", 1, note="受領日を確認してください"))
    assert (r["status"], r["status_color"]) == ("staff_back", "red")
    assert r["send_back_recipient"]["user_id"] == STAFF
    assert r["send_back_recipient"]["email"] == "tanto@example.com" and r["notice"] is None
    # the submitter corrects: the flow restarts
    r = await ok(await act(c, STAFF, rid, "correct", 2, payload=payload(contact1="045-111-2222")))
    assert r["status"] == "store_pending" and r["history"][-1]["changes"] == {
        "contact1": ["03-1234-5678", "045-111-2222"]
    }
    # the manager corrects in the same step and approves
    r = await ok(
        await act(
            c, MANAGER, rid, "approve", 3, payload=payload(contact1="045-111-2222", contact2="090-1111-2222")
        )
    )
    assert r["status"] == "hq_pending" and r["history"][-1]["changes"] == {
        "contact2": [None, "090-1111-2222"]
    }
    assert [a["user_id"] for a in r["approvers"]] == [MANAGER]
    # hq writes the 貴社連絡欄 and sends back to the store manager
    r = await ok(await act(c, HQ, rid, "send_back", 4, dealer_note="返却書類の不備"))
    assert r["status"] == "store_back" and r["dealer_note"] == "返却書類の不備"
    assert r["send_back_recipient"]["user_id"] == MANAGER
    assert r["send_back_recipient"]["email"] == "d1s1-manager@demo.jpass.example"
    r = await ok(await act(c, MANAGER, rid, "approve", 5))
    assert r["status"] == "hq_pending"
    r = await ok(await act(c, HQ, rid, "approve", 6))
    assert r["status"] == "requested" and r["requested_at"] and r["status_color"] == ""
    first_requested_at = r["requested_at"]
    # TFC sends back → hq_back (head-office approval is on)
    await tfc(b, rid, "send_back", "書類不足")
    r = await wait_request(c, rid, HQ, "hq_back")
    assert r["allowed_actions"] == ["approve", "send_back", "correct"]
    r = await ok(await act(c, HQ, rid, "approve", 8))
    assert r["status"] == "requested" and r["requested_at"] > first_requested_at
    # the submitter corrects a requested request: every approval again
    r = await ok(
        await act(
            c,
            STAFF,
            rid,
            "correct",
            9,
            payload=payload(
                contact1="045-111-2222", contact2="090-1111-2222", contact3_email="new@example.com"
            ),
        )
    )
    assert r["status"] == "store_pending" and r["approvers"] == []
    await ok(await act(c, MANAGER, rid, "approve", 10))
    await ok(await act(c, HQ, rid, "approve", 11))
    await tfc(b, rid, "accept")
    r = await wait_request(c, rid, STAFF, "tfc_processing")
    assert r["status_label"] == "TFC対応中（取下げ・訂正NG）" and r["allowed_actions"] == []
    refused = await act(c, STAFF, rid, "withdraw", 13)
    assert refused.status_code == 409 and refused.json()["code"] == "tfc_processing_locked"
    assert "取下げ・訂正はできません" in refused.json()["detail"]
    await tfc(b, rid, "hold")
    await wait_request(c, rid, STAFF, "tfc_on_hold")
    await tfc(b, rid, "message", "車検証の写しをお送りください")
    r = await wait_request(c, rid, STAFF, "tfc_message")
    assert r["tfc_message"] == "車検証の写しをお送りください"
    await tfc(b, rid, "resume")
    await wait_request(c, rid, STAFF, "tfc_processing")
    await tfc(b, rid, "complete")
    r = await wait_request(c, rid, STAFF, "completed")
    assert r["version"] == 17 and len(r["history"]) == 17
    assert [h["to_status"] for h in r["history"]][-5:] == [
        "tfc_processing",
        "tfc_on_hold",
        "tfc_message",
        "tfc_processing",
        "completed",
    ]
    assert r["history"][-1]["actor"] is None and r["history"][-1]["role_label"] == "トヨタファイナンス"

    past = (await c.get("/api/v1/requests", params={"tab": "past"}, headers=auth(STAFF))).json()
    assert rid in [i["request_id"] for i in past["items"]]
    current = (await c.get("/api/v1/requests", headers=auth(STAFF))).json()
    assert rid not in [i["request_id"] for i in current["items"]]

    events = await records_for(b, REQUEST_STATUS, rid, expect=17)
    data = [e["data"] for e in events]
    assert [d["version"] for d in data] == list(range(1, 18))
    assert data[0]["old_status"] is None and data[0]["new_status"] == "store_pending"
    last = data[-1]
    assert last["new_status"] == "completed" and last["contact_email"] == "new@example.com"
    assert last["notify_on_completion"] is True and last["hq_approver_emails"] == ["hq-approver@example.com"]
    assert [a["user_id"] for a in last["approvers"]] == [MANAGER, HQ]
    tfc_back = next(d for d in data if d["action"] == "send_back" and d["actor"] is None)
    assert tfc_back["send_back_recipient"]["user_id"] == HQ
    assert data[3]["dealer_note"] is None and data[4]["dealer_note"] == "返却書類の不備"
    jpass = await records_for(b, JPASS_REQUESTS, rid, expect=4)
    assert [m["event"] for m in jpass] == ["requested", "requested", "corrected", "requested"]
    assert jpass[-1]["payload"]["contact3_email"] == "new@example.com" and jpass[-1]["dealer_code"] == "D001"


async def test_store_only_hq_only_and_no_approval(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(True, False)
    r = await submit(b, c, STAFF)
    assert r["status"] == "store_pending"
    r = await ok(await act(c, MANAGER, r["request_id"], "approve", 1))
    assert r["status"] == "requested" and r["requested_at"]

    await env.set_flow(False, True)
    r = await submit(b, c, STAFF)
    assert r["status"] == "hq_pending"
    r = await ok(await act(c, HQ, r["request_id"], "send_back", 1, note="再確認"))
    assert r["status"] == "staff_back" and r["send_back_recipient"]["user_id"] == STAFF
    # no 連絡先3: the sender is told to contact the submitter separately
    r = await submit(b, c, STAFF, body=payload(contact3_email=None))
    r = await ok(await act(c, HQ, r["request_id"], "send_back", 1, note="連絡先を確認"))
    assert r["send_back_recipient"]["email"] is None
    assert (
        r["notice"]
        == "差戻し先のメールアドレスが登録されていないため、メールは送信されません。別途ご連絡ください。"
    )
    rid = r["request_id"]
    r = await ok(await act(c, STAFF, rid, "withdraw", 2, note="別途対応"))
    assert r["status"] == "withdrawn" and r["allowed_actions"] == []
    closed = await act(c, STAFF, rid, "correct", 3, payload=payload())
    assert closed.status_code == 409 and closed.json()["code"] == "request_closed"

    await env.set_flow(False, False)
    r = await submit(b, c, STAFF)
    rid = r["request_id"]
    assert r["status"] == "requested" and r["requested_at"] and r["version"] == 1
    await ok(await act(c, STAFF, rid, "withdraw", 1))
    jpass = await records_for(b, JPASS_REQUESTS, rid, expect=2)
    assert [m["event"] for m in jpass] == ["requested", "withdrawn"]


async def test_nobody_approves_their_own_request(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(True, True)
    r = await submit(b, c, MANAGER)
    assert r["status"] == "hq_pending" and r["flow"] == {"store_step": False, "hq_step": True}
    assert r["allowed_actions"] == ["withdraw", "correct"]
    r = await ok(await act(c, HQ, r["request_id"], "send_back", 1, note="再確認"))
    assert r["status"] == "staff_back" and r["send_back_recipient"]["user_id"] == MANAGER
    r = await submit(b, c, HQ, body=payload(contact3_email="hq@example.com"))
    assert r["status"] == "requested" and r["flow"] == {"store_step": False, "hq_step": False}
    # an hq submitter must keep 連絡先3 when correcting
    bad = await act(c, HQ, r["request_id"], "correct", 1, payload=payload(contact3_email=None))
    assert bad.status_code == 422 and "contact3_email" in bad.json()["errors"]


async def test_scope_stale_versions_and_refusals_change_nothing(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(True, True)
    r = await submit(b, c, STAFF)
    rid = r["request_id"]
    for outsider in ("d2-hq", "d2s1-staff1", "d1s2-staff1", "d1s2-manager"):
        got = await c.get(f"/api/v1/requests/{rid}", headers=auth(outsider))
        assert got.status_code == 404 and got.json()["code"] == "request_not_found"
        assert (await act(c, outsider, rid, "approve", 1)).status_code == 404
        assert (await c.get(f"/requests/{rid}", cookies=cookies(outsider))).status_code == 404

    stale = await act(c, MANAGER, rid, "approve", 0)
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version"
    for user, action, code, http in [
        (STAFF2, "approve", "not_your_step", 403),
        (HQ, "approve", "not_your_step", 403),
        (STAFF, "approve", "own_request", 403),
        (MANAGER, "withdraw", "withdraw_submitter_only", 403),
    ]:
        refused = await act(c, user, rid, action, 1)
        assert refused.status_code == http and refused.json()["code"] == code, refused.text
    bad = await act(c, STAFF, rid, "correct", 1, payload=payload(returned_on="2999-01-01"))
    assert bad.status_code == 422 and bad.json()["errors"]["returned_on"].startswith("車両返却受領日")
    bad = await act(c, STAFF, rid, "correct", 1, payload={"contact1": "x"})
    assert bad.status_code == 422 and "contact1" in bad.json()["errors"]
    after = await wait_request(c, rid, STAFF)
    assert after["version"] == 1 and after["status"] == "store_pending" and len(after["history"]) == 1


async def test_progress_list_filters_tabs_counts_and_pages(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(True, False)
    contract_no = "LIST0001"
    kana = "スズキ イチロウ"
    a = await submit(
        b, c, STAFF, contractor_name="鈴木 一郎", contractor_name_kana=kana, contract_no=contract_no
    )
    other = await submit(b, c, "d1s2-staff1", contractor_name="鈴木 次郎")
    back = await submit(b, c, STAFF, contractor_name="佐藤 花子")
    await ok(await act(c, MANAGER, back["request_id"], "send_back", 1, note="再確認"))

    def ids(body: dict) -> set[str]:
        return {i["request_id"] for i in body["items"]}

    staff = auth(STAFF)
    mine = (await c.get("/api/v1/requests", headers=staff)).json()
    assert {a["request_id"], back["request_id"]} <= ids(mine) and other["request_id"] not in ids(mine)
    assert mine["counts"]["store_pending"] >= 1 and mine["counts"]["staff_back"] >= 1
    assert set(mine["counts"]) == {
        "staff_back",
        "store_pending",
        "store_back",
        "hq_pending",
        "hq_back",
        "requested",
        "tfc_processing",
        "tfc_on_hold",
        "tfc_message",
        "completed",
        "withdrawn",
    }
    hq_all = (await c.get("/api/v1/requests", headers=auth(HQ))).json()
    assert {a["request_id"], other["request_id"], back["request_id"]} <= ids(hq_all)
    assert not ids((await c.get("/api/v1/requests", headers=auth("d2-hq"))).json()) & ids(hq_all)

    by_name = (await c.get("/api/v1/requests", params={"contractor_name": "鈴木"}, headers=auth(HQ))).json()
    assert {a["request_id"], other["request_id"]} <= ids(by_name) and back["request_id"] not in ids(by_name)
    spaced = (
        await c.get("/api/v1/requests", params={"contractor_name": "鈴木一郎"}, headers=auth(HQ))
    ).json()
    assert a["request_id"] in ids(spaced) and other["request_id"] not in ids(spaced)
    by_reading = (
        await c.get("/api/v1/requests", params={"contractor_name": "すずき いちろう"}, headers=auth(HQ))
    ).json()
    assert ids(by_reading) & {a["request_id"]} and other["request_id"] not in ids(by_reading)
    reversed_range = await c.get(
        "/api/v1/requests", params={"updated_from": "2026-12-02", "updated_to": "2026-12-01"}, headers=staff
    )
    assert reversed_range.status_code == 422 and reversed_range.json()["code"] == "reversed_updated_range"
    page = await c.get(
        "/requests", params={"updated_from": "2026-12-02", "updated_to": "2026-12-01"}, cookies=cookies(STAFF)
    )
    assert "開始と終了が逆です" in page.text
    by_no = (await c.get("/api/v1/requests", params={"contract_no": contract_no}, headers=auth(HQ))).json()
    assert ids(by_no) == {a["request_id"]}
    both = (
        await c.get(
            "/api/v1/requests", params=[("status", "staff_back"), ("status", "store_pending")], headers=staff
        )
    ).json()
    assert {a["request_id"], back["request_id"]} <= ids(both)
    only_back = (await c.get("/api/v1/requests", params={"status": "staff_back"}, headers=staff)).json()
    assert back["request_id"] in ids(only_back) and a["request_id"] not in ids(only_back)
    item = next(i for i in only_back["items"] if i["request_id"] == back["request_id"])
    assert item["status_color"] == "red" and item["status_label"] == "担当者手続中（差戻）"
    assert item["submitter"]["user_id"] == STAFF and item["type_label"] == "車両返却"
    future = (await c.get("/api/v1/requests", params={"updated_from": "2999-01-01"}, headers=staff)).json()
    assert future["items"] == []
    # The API reads a bare date as a Tokyo day: "today" is the Tokyo date of the update (between 15:00 and
    # 24:00 UTC it is already the next day in Tokyo).
    today = datetime.fromisoformat(a["updated_at"]).astimezone(ZoneInfo("Asia/Tokyo")).date().isoformat()
    ranged = (
        await c.get(
            "/api/v1/requests", params={"updated_from": "2000-01-01", "updated_to": today}, headers=staff
        )
    ).json()
    assert a["request_id"] in ids(ranged)
    assert (await c.get("/api/v1/requests", params={"status": "nope"}, headers=staff)).status_code == 422
    assert (await c.get("/api/v1/requests", params={"type": "vehicle_return"}, headers=staff)).json()["items"]
    other = await c.get("/api/v1/requests", params={"type": "other"}, headers=staff)
    assert other.status_code == 422 and other.json()["code"] == "invalid_type"
    early = await c.get("/api/v1/requests", params={"type": "early_payoff"}, headers=staff)
    assert not early.json()["items"]

    page = await c.get("/requests", params={"status": "staff_back"}, cookies=cookies(STAFF))
    assert page.status_code == 200
    for text in (
        "進捗一覧",
        "現在申込中一覧",
        "過去申込一覧",
        "依頼日時",
        "開く",
        "佐藤 花子",
        "status-red",
        "全件",
    ):
        assert text in page.text, text
    assert "鈴木 一郎" not in page.text
    assert (await c.get("/requests")).status_code == 303


async def test_request_page_shows_only_my_actions_and_acts(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(True, True)
    r = await submit(b, c, STAFF, body=payload(contact3_email=None))
    rid = r["request_id"]
    page = (await c.get(f"/requests/{rid}", cookies=cookies(MANAGER))).text
    assert 'value="approve"' in page and 'value="send_back"' in page and "取り下げ" not in page
    assert "confirm(" in page and "店舗承認者手続中" in page and "履歴" in page
    page = (await c.get(f"/requests/{rid}", cookies=cookies(STAFF))).text
    assert 'value="approve"' not in page and "取り下げ" in page and 'id="start-correct"' in page
    assert "確認（訂正して再送信）" not in page and 'name="contact1"' not in page  # review first (issue 16)
    page = (await c.get(f"/requests/{rid}?mode=correct", cookies=cookies(STAFF))).text
    assert (
        "確認（訂正して再送信）" in page
        and 'name="contact1"' in page
        and 'name="mode" value="correct"' in page
    )
    page = (await c.get(f"/requests/{rid}", cookies=cookies(STAFF2))).text
    assert 'value="approve"' not in page and "取り下げ" not in page and 'name="contact1"' not in page

    form = {
        "version": "1",
        "action": "send_back",
        "has_payload": "1",
        "contact1": "03-1234-5678",
        "result": "returned",
        "returned_on": r["payload"]["returned_on"],
        "notify_on_completion": "on",
        "note": "受領日の確認をお願いします",
    }
    done = await c.post(f"/requests/{rid}", data=form, cookies=cookies(MANAGER))
    assert done.status_code == 303 and done.headers["location"] == f"/requests/{rid}"
    flash = {FLASH_COOKIE: done.cookies[FLASH_COOKIE]}  # the message rides on the flash cookie
    page = (await c.get(done.headers["location"], cookies={**cookies(MANAGER), **flash})).text
    assert "差戻しが完了しました" in page and "別途ご連絡ください" in page and "担当者手続中（差戻）" in page
    # a stale page: the message, nothing changed
    stale = await c.post(f"/requests/{rid}", data=form, cookies=cookies(MANAGER))
    assert stale.status_code == 409 and "他の方により更新されています" in stale.text
    # a wrong field: the message next to it, nothing changed
    bad = {**form, "version": "2", "action": "correct", "contact1": "abc"}
    bad_page = await c.post(f"/requests/{rid}", data=bad, cookies=cookies(STAFF))
    assert bad_page.status_code == 422 and "連絡先1は電話番号" in bad_page.text
    fixed = {**bad, "contact1": "03-9999-0000"}
    assert (await c.post(f"/requests/{rid}", data=fixed, cookies=cookies(STAFF))).status_code == 303
    page = (await c.get(f"/requests/{rid}", cookies=cookies(STAFF))).text
    assert "03-1234-5678 → 03-9999-0000" in page and "受領日の確認をお願いします" in page
    withdraw = await c.post(
        f"/requests/{rid}", data={"version": "3", "action": "withdraw"}, cookies=cookies(STAFF)
    )
    assert withdraw.status_code == 303
    assert (await wait_request(c, rid, STAFF))["status"] == "withdrawn"
    menu = await c.get("/approvals/", cookies=cookies(HQ))
    assert menu.status_code == 200 and "承認フロー設定（本部用）" in menu.text


async def test_fifty_concurrent_actions_have_exactly_one_winner(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(True, False)
    r = await submit(b, c, STAFF)
    rid = r["request_id"]
    calls = [act(c, MANAGER, rid, "approve" if i % 2 else "send_back", 1, note=f"#{i}") for i in range(50)]
    responses = await asyncio.gather(*calls)
    codes = sorted(x.status_code for x in responses)
    assert codes == [200] + [409] * 49
    assert {x.json()["code"] for x in responses if x.status_code == 409} == {"stale_version"}
    after = await wait_request(c, rid, STAFF)
    assert after["version"] == 2 and len(after["history"]) == 2
    events = await records_for(b, REQUEST_STATUS, rid, expect=2)
    assert [e["data"]["version"] for e in events] == [1, 2]


async def test_pages_and_items_show_the_store_name_or_else_the_code(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(True, False)
    named = await submit(b, c, STAFF, contract_no="STORE0001", store_name="品川店")
    unnamed = await submit(b, c, STAFF, contract_no="STORE0002")  # a producer that did not send it
    assert (named["store_name"], unnamed["store_name"]) == ("品川店", "")
    listed = await c.get("/api/v1/requests", params={"contract_no": "STORE0001"}, headers=auth(STAFF))
    assert [i["store_name"] for i in listed.json()["items"]] == ["品川店"]
    page = (await c.get("/requests", params={"contract_no": "STORE0001"}, cookies=cookies(STAFF))).text
    assert "<td>品川店</td>" in page and "<td>S0101</td>" not in page
    page = (await c.get("/requests", params={"contract_no": "STORE0002"}, cookies=cookies(STAFF))).text
    assert "<td>S0101</td>" in page
    detail = (await c.get(f"/requests/{named['request_id']}", cookies=cookies(STAFF))).text
    assert "<dt>店舗</dt><dd>品川店</dd>" in detail
    detail = (await c.get(f"/requests/{unnamed['request_id']}", cookies=cookies(STAFF))).text
    assert "<dt>店舗</dt><dd>S0101</dd>" in detail
    events = await records_for(b, REQUEST_STATUS, named["request_id"], expect=1)
    assert events[0]["data"]["store_name"] == "品川店"


async def test_the_request_opens_as_a_read_only_review_and_correcting_is_a_mode(env: Env) -> None:
    """Issue 16: the approver reviews first (labels and values, the contract's facts, the history); the
    fields of another result stay off the page; 訂正 shows the form only when asked for."""
    c, b = env.client, env.bootstrap
    await env.set_flow(True, False)
    rid = (await submit(b, c, STAFF, body=payload()))["request_id"]
    review = (await c.get(f"/requests/{rid}", cookies=cookies(MANAGER))).text
    assert (
        'id="review"' in review and 'id="review-contacts"' in review and "連絡先3（メールアドレス）" in review
    )
    assert (
        '<input type="tel"' not in review
        and 'name="contact1"' not in review
        and 'name="has_payload"' not in review
    )
    assert "車両返却受領日" in review and "未返却理由" not in review
    assert 'id="program"' in review and "履歴" in review
    assert 'value="approve"' in review and 'value="send_back"' in review and "confirm(" in review
    assert 'href="/requests/' + rid + '?mode=correct"' in review and "訂正を保存" not in review
    correcting = (await c.get(f"/requests/{rid}?mode=correct", cookies=cookies(MANAGER))).text
    assert (
        'name="contact1"' in correcting and 'name="has_payload"' in correcting and "訂正を保存" in correcting
    )
    assert 'name="not_returned_reason"' in correcting and 'id="correct-mode"' in correcting
    assert 'value="approve"' in correcting  # every action stays in 訂正 mode too
    approved = await c.post(
        f"/requests/{rid}", data={"version": "1", "action": "approve"}, cookies=cookies(MANAGER)
    )
    assert approved.status_code == 303
