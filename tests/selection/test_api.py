"""The selection API against the real broker and PostgreSQL: rules, scope, seq, events on the topic."""

from __future__ import annotations

import io
from datetime import date

from pypdf import PdfReader

from shared.events import ASSIGNMENT_CHANGED, MEMO_UPDATED, SELECTION_RECORDED
from tests.selection.conftest import Service, new_contract_no, snapshot
from tests.support import auth, eventually

STAFF, HQ = auth("d1s1-staff1"), auth("d1-hq")


def body(category="cash", replacement="no", model=None, received="2026-01-08") -> dict:
    b = {"category": category, "replacement": replacement, "confirmation_received_on": received}
    if model is not None:
        b["replacement_model"] = model
    return b


async def test_selection_rules_seq_and_events(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))  # final 2026-04-30: deadline 02-28, change lock after 03-30
    url = f"/api/v1/contracts/{no}/selection"

    r = await svc.client.put(url, json=body(received=None), headers=STAFF)
    assert r.status_code == 422 and r.json()["code"] == "confirmation_required"
    assert "お支払方法確認書" in r.json()["detail"] and r.json()["field"] == "confirmation_received_on"
    r = await svc.client.put(url, json=body(received="2026-01-11"), headers=STAFF)
    assert r.status_code == 422 and r.json()["code"] == "confirmation_in_future"
    r = await svc.client.put(url, json=body(replacement="yes"), headers=STAFF)
    assert r.status_code == 422 and r.json()["code"] == "replacement_model_required"
    r = await svc.client.put(url, json=body(category="lottery"), headers=STAFF)
    assert r.status_code == 422 and r.json()["code"] == "invalid_input"
    got = (await svc.client.get(url, headers=STAFF)).json()
    assert got["selection"] is None and got["contract"]["seq"] == 0  # refusals changed nothing

    r = await svc.client.put(url, json=body(), headers=STAFF)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["changed"] and first["seq"] == 1 and first["consistency_token"] == f"{no}@1"
    assert first["selection"]["category"] == "cash" and first["selection"]["late"] is False

    again = (await svc.client.put(url, json=body(), headers=STAFF)).json()
    assert again["changed"] is False and again["seq"] == 1 and again["consistency_token"] == f"{no}@1"

    svc.set_today(date(2026, 3, 1))  # after the input deadline: accepted, late
    late = (await svc.client.put(url, json=body("vehicle_return"), headers=STAFF)).json()
    assert late["seq"] == 2 and late["selection"]["late"] is True
    got = (await svc.client.get(url, headers=STAFF)).json()
    assert got["contract"]["late_now"] and got["contract"]["result_input_deadline"] == "2026-02-28"

    svc.set_today(date(2026, 3, 31))  # after final − 1 month: the category is locked
    r = await svc.client.put(url, json=body("refinance"), headers=STAFF)
    assert r.status_code == 409 and r.json()["code"] == "category_change_locked"
    assert "最終回選択区分の入力変更は、最終回期日の1ヶ月前まで可能です" in r.json()["detail"]
    r = await svc.client.put(url, json=body("vehicle_return", "yes", "ノア"), headers=HQ)
    assert r.status_code == 200 and r.json()["seq"] == 3
    assert r.json()["selection"]["replacement_model"] == "ノア" and r.json()["selection"]["late"] is True

    events = await svc.events(no, expect=3)
    assert [e["type"] for e in events] == [SELECTION_RECORDED] * 3
    assert [e["data"]["seq"] for e in events] == [1, 2, 3]
    assert all(e["subject"] == no for e in events)
    last = events[-1]["data"]
    assert last["category"] == "vehicle_return" and last["replacement"] == "yes" and last["late"] is True
    assert last["recorded_by"]["user_id"] == "d1-hq" and last["dealer_code"] == "D001"
    assert last["store_code"] == "S0101" and last["confirmation_received_on"] == "2026-01-08"


async def test_scope_roles_and_authentication(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    for path in ("selection", "memo", "assignment"):
        url = f"/api/v1/contracts/{no}/{path}"
        for outsider in ("d1s2-staff1", "d1s2-manager", "d2-hq", "d2s1-staff1"):
            r = await svc.client.get(url, headers=auth(outsider))
            assert r.status_code == 404 and r.json()["code"] == "contract_not_found", (path, outsider)
        assert (await svc.client.get(url)).status_code == 401
    for outsider in ("d1s2-staff1", "d2-hq"):
        h = auth(outsider)
        assert (
            await svc.client.put(f"/api/v1/contracts/{no}/selection", json=body(), headers=h)
        ).status_code == 404
        assert (
            await svc.client.put(f"/api/v1/contracts/{no}/memo", json={"text": "x"}, headers=h)
        ).status_code == 404
        assert (
            await svc.client.get(f"/api/v1/contracts/{no}/confirmation.pdf", headers=h)
        ).status_code == 404
        r = await svc.client.post(
            f"/api/v1/contracts/{no}/refinance-simulation", json={"months": 24}, headers=h
        )
        assert r.status_code == 404
    missing = await svc.client.get("/api/v1/contracts/NOPE404/selection", headers=HQ)
    assert missing.status_code == 404 and missing.json()["detail"] == "指定された契約は見つかりません。"
    bad = {"Authorization": "Bearer not-a-token"}
    assert (
        await svc.client.put(f"/api/v1/contracts/{no}/memo", json={"text": "x"}, headers=bad)
    ).status_code == 401
    selection = (await svc.client.get(f"/api/v1/contracts/{no}/selection", headers=STAFF)).json()
    assert selection["selection"] is None and selection["contract"]["seq"] == 0


async def test_memo_history_limit_and_shared_seq(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    url = f"/api/v1/contracts/{no}/memo"
    empty = (await svc.client.get(url, headers=STAFF)).json()
    assert empty["text"] == "" and empty["history"] == [] and empty["max_chars"] == 2000

    r = await svc.client.put(url, json={"text": "査定 120万円 <b>提示済</b>"}, headers=STAFF)
    assert r.status_code == 200 and r.json()["seq"] == 1 and r.json()["author"]["name"] == "佐藤 健一"
    await svc.client.put(f"/api/v1/contracts/{no}/selection", json=body(), headers=STAFF)  # seq 2
    r = await svc.client.put(
        url, json={"text": "査定 120万円\r\n代替はノアで検討"}, headers=auth("d1s1-manager")
    )
    assert r.json()["seq"] == 3 and r.json()["consistency_token"] == f"{no}@3"
    same = (await svc.client.put(url, json={"text": "査定 120万円\n代替はノアで検討"}, headers=STAFF)).json()
    assert same["changed"] is False and same["seq"] == 3

    too_long = await svc.client.put(url, json={"text": "あ" * 2001}, headers=STAFF)
    assert too_long.status_code == 422 and too_long.json()["code"] == "memo_too_long"
    assert "2000文字以内" in too_long.json()["detail"]
    assert (await svc.client.put(url, json={"text": "あ" * 2000}, headers=STAFF)).json()["seq"] == 4

    memo = (await svc.client.get(url, headers=HQ)).json()
    assert memo["text"] == "あ" * 2000 and memo["seq"] == 4
    assert [h["seq"] for h in memo["history"]] == [4, 3, 1]
    assert memo["history"][1]["text"] == "査定 120万円\n代替はノアで検討"
    assert memo["history"][1]["author"] == {
        "user_id": "d1s1-manager",
        "name": "伊藤 誠",
        "role": "store_manager",
    }

    events = await svc.events(no, expect=4)
    assert [(e["type"], e["data"]["seq"]) for e in events] == [
        (MEMO_UPDATED, 1),
        (SELECTION_RECORDED, 2),
        (MEMO_UPDATED, 3),
        (MEMO_UPDATED, 4),
    ]
    assert events[0]["data"]["text"] == "査定 120万円 <b>提示済</b>"


async def test_assignment_within_the_dealer(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    await svc.add_contract(snapshot(new_contract_no(), store="S0102", staff_code="010202"))
    url = f"/api/v1/contracts/{no}/assignment"
    move = {"store_code": "S0102", "staff_code": "010201"}

    r = await svc.client.put(url, json=move, headers=STAFF)
    assert r.status_code == 403 and r.json()["code"] == "forbidden" and "本部または店長" in r.json()["detail"]
    r = await svc.client.put(url, json=move, headers=auth("d1s2-manager"))  # not their store's contract
    assert r.status_code == 404
    r = await svc.client.put(url, json={"store_code": "S0201", "staff_code": "020101"}, headers=HQ)
    assert r.status_code == 422 and r.json()["code"] == "unknown_store"
    r = await svc.client.put(url, json={"store_code": "S0102", "staff_code": ""}, headers=HQ)
    assert r.status_code == 422 and r.json()["code"] == "staff_code_required"

    options = (await svc.client.get(url, headers=auth("d1s1-manager"))).json()
    stores = {s["store_code"]: s["store_name"] for s in options["stores"]}
    assert stores.items() >= {"S0101": "品川店", "S0102": "世田谷店"}.items()
    assert all(s["store_code"].startswith("S01") for s in options["stores"])  # never another dealer's store
    assert "010202" in options["staff_codes"]["S0102"]

    r = await svc.client.put(url, json=move, headers=auth("d1s1-manager"))
    assert r.status_code == 200, r.text
    assert (
        r.json().items()
        >= {"seq": 1, "store_code": "S0102", "store_name": "世田谷店", "staff_code": "010201"}.items()
    )
    assert r.json()["from_store_code"] == "S0101"
    # it left store S0101 and arrived at S0102
    assert (await svc.client.get(url, headers=STAFF)).status_code == 404
    assert (await svc.client.get(url, headers=auth("d1s2-staff1"))).json()["store_code"] == "S0102"
    same = (await svc.client.put(url, json=move, headers=HQ)).json()
    assert same["changed"] is False and same["seq"] == 1
    r = await svc.client.put(url, json={"store_code": "S0102", "staff_code": "010202"}, headers=HQ)
    assert r.json()["seq"] == 2 and r.json()["from_store_code"] == "S0102"

    events = await svc.events(no, expect=2)
    assert [e["type"] for e in events] == [ASSIGNMENT_CHANGED] * 2
    first = events[0]["data"]
    assert first["from_store_code"] == "S0101" and first["store_code"] == "S0102"
    assert first["store_name"] == "世田谷店" and first["changed_by"]["user_id"] == "d1s1-manager"


async def test_tfc_feed_newest_version_wins_and_keeps_a_local_reassignment(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no, version=2, model="ノア"))
    await svc.add_contract(snapshot(no, version=1, model="ヤリス"))  # older: ignored
    sel = f"/api/v1/contracts/{no}/selection"
    assert (await svc.client.get(sel, headers=STAFF)).json()["contract"]["model"] == "ノア"

    await svc.add_contract(snapshot(new_contract_no(), store="S0102"))  # 世田谷店 known, whatever ran first
    moved = await svc.client.put(
        f"/api/v1/contracts/{no}/assignment", json={"store_code": "S0102", "staff_code": "010201"}, headers=HQ
    )
    assert moved.status_code == 200, moved.text
    # TFC sends a newer version with the same (old) ownership: the local reassignment stays
    await svc.add_contract(snapshot(no, version=3, model="ノア", final_payment_amount=900_000))

    async def amount_updated() -> dict:
        got = (await svc.client.get(sel, headers=HQ)).json()["contract"]
        assert got["final_payment_amount"] == 900_000
        return got

    got = await eventually(amount_updated)
    assert got["store_code"] == "S0102"
    # TFC itself moves the contract: TFC's ownership wins again
    await svc.add_contract(snapshot(no, version=4, store="S0101", staff_code="010102"))

    async def tfc_moved() -> None:
        got = (await svc.client.get(sel, headers=HQ)).json()["contract"]
        assert (got["store_code"], got["staff_code"]) == ("S0101", "010102")

    await eventually(tfc_moved)


async def test_refinance_simulation_window_and_schedule(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))  # window 2025-07-30 .. 2026-04-30
    url = f"/api/v1/contracts/{no}/refinance-simulation"
    svc.set_today(date(2025, 7, 29))
    r = await svc.client.post(url, json={"months": 60}, headers=STAFF)
    assert r.status_code == 409 and r.json()["code"] == "refinance_not_available"
    assert "9ヶ月前" in r.json()["detail"]
    svc.set_today(date(2026, 5, 1))
    assert (await svc.client.post(url, json={"months": 60}, headers=STAFF)).status_code == 409

    svc.set_today(date(2025, 7, 30))
    r = await svc.client.post(url, json={"months": 60}, headers=STAFF)
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["annual_rate"] == 0.049 and plan["months"] == 60  # the contract's rate by default
    assert plan["monthly_payment"] == 22_500 and plan["total_payment"] == 1_355_432
    assert plan["total_interest"] == 155_432 and len(plan["schedule"]) == 60
    assert sum(row["payment"] for row in plan["schedule"]) == 1_200_000 + plan["total_interest"]
    assert plan["schedule"][0] == {
        "no": 1,
        "payment": 27_932,
        "principal": 23_032,
        "interest": 4_900,
        "balance": 1_176_968,
    }
    svc.set_today(date(2026, 4, 30))
    zero = (await svc.client.post(url, json={"months": 12, "annual_rate": 0}, headers=STAFF)).json()
    assert zero["total_interest"] == 0 and zero["monthly_payment"] == 100_000

    for bad, code in (({"months": 11}, "months_out_of_range"), ({"months": 85}, "months_out_of_range")):
        r = await svc.client.post(url, json=bad, headers=STAFF)
        assert r.status_code == 422 and r.json()["code"] == code and "12回から84回" in r.json()["detail"]
    r = await svc.client.post(url, json={"months": 24, "annual_rate": 0.5}, headers=STAFF)
    assert r.status_code == 422 and r.json()["code"] == "rate_out_of_range"
    r = await svc.client.post(url, json={"months": "many"}, headers=STAFF)
    assert r.status_code == 422 and r.json()["code"] == "invalid_input"


async def test_confirmation_pdf_has_the_form_and_embeds_the_font(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(
        snapshot(
            no,
            contractor_name="渡邊 花子",
            contractor_address="東京都世田谷区玉川二丁目21番1号 二子玉川ハイツ305",
            contractor_postal_code="158-0094",
            model="ハリアー",
            registration_no="世田谷 330 さ 45-67",
            final_payment_amount=2_345_000,
        )
    )
    r = await svc.client.get(f"/api/v1/contracts/{no}/confirmation.pdf", headers=STAFF)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(r.content))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 in points
    text = reader.pages[0].extract_text().replace(" ", "").replace("\u3000", "")
    for expected in (
        "最終回お支払い方法のご確認",
        "渡邊花子",
        "様",
        "〒158-0094",
        "東京都世田谷区玉川二丁目21番1号",
        no,
        "ハリアー",
        "2026/04/30",
        "2,345,000円",
        "現金決済",
        "車両返却",
        "再分割",
        "早期完済",
        "お申込日",
        "年",
        "月",
        "日",
        "ご署名",
        "ご捺印",
        "東都トヨモビ販売株式会社",
        "品川店",
        "最終回支払い方法のお客様へのご確認は、最終回期日の2ヶ月前までに必ず完了してください",
        "お客様の届出事項（住所、氏名等）に変更がある場合、変更手続き完了後の結果入力をお願いします",
        "本書面の弊社への送付は不要です（最終回対応終了まで貴社で保管願います）",
    ):
        assert expected.replace(" ", "") in text, expected
    fonts = []
    for font in reader.pages[0]["/Resources"]["/Font"].values():
        font = font.get_object()
        for descendant in font.get("/DescendantFonts", [font]):
            descriptor = descendant.get_object().get("/FontDescriptor")
            if descriptor is not None:
                fonts.append(descriptor.get_object())
    assert fonts and all("/FontFile2" in d for d in fonts)  # TrueType embedded: prints the same anywhere
    assert any("IPAexGothic" in str(d["/FontName"]) for d in fonts)


async def test_documents_and_health(svc: Service) -> None:
    openapi = (await svc.client.get("/openapi/selection.json")).json()
    for path in ("selection", "memo", "confirmation.pdf", "refinance-simulation", "assignment"):
        assert f"/api/v1/contracts/{{contract_no}}/{path}" in openapi["paths"], path
    asyncapi = await svc.client.get("/asyncapi/selection.json")
    assert asyncapi.status_code == 200
    assert "jpass.selection.v1" in asyncapi.text and "tfc.contracts.v1" in asyncapi.text
    assert (await svc.client.get("/selection/healthz")).json()["status"] == "ok"
    assert (await svc.client.get("/selection/readyz")).status_code == 200
