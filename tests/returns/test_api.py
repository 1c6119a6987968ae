"""POST/GET /api/v1/returns through a running app with the real broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date

from shared.events import RETURN_SUBMITTED, RawEnvelope, ReturnSubmitted, SubmittedContract
from shared.requests import VehicleReturnPayload
from shared.timefmt import jp_datetime
from shared.topics import RETURN_SUBMISSIONS, SELECTION_EVENTS, TFC_CONTRACTS, dead_letter
from tests.returns.conftest import Env
from tests.returns.factory import (
    NOW,
    assignment_changed,
    body,
    contract,
    memo_updated,
    new_contract_no,
    publish_status,
    read_all,
    seed,
    selection_recorded,
    status_changed,
    submissions_for,
)
from tests.support import auth, eventually, publish, read_topic

STAFF = auth("d1s1-staff1")


async def submitted_events(env: Env, contract_nos: set[str], expect: int) -> list[dict]:
    records = await read_all(env.bootstrap, RETURN_SUBMISSIONS)
    events = submissions_for(records, contract_nos)
    assert len(events) == expect, events
    return events


async def test_a_submission_enters_the_workflow_once_and_blocks_a_second_until_closed(env: Env) -> None:
    no = new_contract_no()
    await seed(env.bootstrap, no)
    await env.wait_eligibility(no)
    key = str(uuid.uuid4())
    r = await env.client.post("/api/v1/returns", json=body(no), headers={**STAFF, "Idempotency-Key": key})
    assert r.status_code == 202, r.text
    request_id = r.json()["request_id"]
    uuid.UUID(request_id)

    # a retry with the same key answers the same request and creates nothing
    again = await env.client.post("/api/v1/returns", json=body(no), headers={**STAFF, "Idempotency-Key": key})
    assert (again.status_code, again.json()["request_id"], again.json()["replayed"]) == (
        202,
        request_id,
        True,
    )
    # the same key with another body is a mistake, said so
    other = await env.client.post(
        "/api/v1/returns", json=body(no, contact1="03-9999-0000"), headers={**STAFF, "Idempotency-Key": key}
    )
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    # the key is scoped by user: another user's identical key is a new submission (refused: open request)
    theirs = await env.client.post(
        "/api/v1/returns", json=body(no), headers={**auth("d1s1-staff2"), "Idempotency-Key": key}
    )
    assert (theirs.status_code, theirs.json()["code"]) == (409, "open_request_exists")
    assert "手続中" in theirs.json()["detail"]

    [event] = await eventually(lambda: submitted_events(env, {no}, 1))
    envelope = RawEnvelope.model_validate(event)
    assert (envelope.type, envelope.subject) == (RETURN_SUBMITTED, no)
    data = ReturnSubmitted.model_validate(envelope.data)
    assert (data.request_id, data.contract_no, data.dealer_code, data.store_code, data.store_name) == (
        request_id,
        no,
        "D001",
        "S0101",
        "品川店",
    )
    assert (data.submitter.user_id, data.contractor_name, data.program) == (
        "d1s1-staff1",
        "山田 太郎",
        "gamma_finance",
    )
    payload = VehicleReturnPayload.model_validate(data.payload)
    assert (payload.result, payload.returned_on.isoformat(), payload.contact3_email) == (
        "returned",
        "2026-05-14",
        "tanto@dealer.example.jp",
    )

    got = await env.client.get(f"/api/v1/returns/{request_id}", headers=STAFF)
    assert got.status_code == 200
    assert got.json()["payload"] == data.payload and got.json()["status"] is None
    assert got.json()["contract"]["contractor_name"] == "山田 太郎"
    assert (await env.client.get(f"/api/v1/returns/{request_id}", headers=auth("d1-hq"))).status_code == 200
    for outsider in ("d1s2-staff1", "d2-hq"):
        r = await env.client.get(f"/api/v1/returns/{request_id}", headers=auth(outsider))
        assert (r.status_code, r.json()["code"]) == (404, "return_not_found")

    # approvals reports the status; an older version arriving late changes nothing
    await publish_status(
        env.bootstrap, status_changed(request_id, no, version=1, new="requested", label="依頼中")
    )
    await publish_status(
        env.bootstrap,
        status_changed(request_id, no, version=3, new="tfc_processing", label="TFC対応中（取下げ・訂正NG）"),
    )
    await publish_status(
        env.bootstrap, status_changed(request_id, no, version=2, new="tfc_on_hold", label="TFC対応保留")
    )

    async def status_is(label: str) -> None:
        r = await env.client.get(f"/api/v1/returns/{request_id}", headers=STAFF)
        assert r.json()["status_label"] == label, r.json()

    await eventually(lambda: status_is("TFC対応中（取下げ・訂正NG）"))
    r = await env.client.post("/api/v1/returns", json=body(no), headers=STAFF)
    assert (r.status_code, r.json()["code"]) == (409, "open_request_exists")

    # completed is final (SPEC §9.1): no new return request, said so
    await publish_status(
        env.bootstrap, status_changed(request_id, no, version=4, new="completed", label="完了")
    )
    await env.wait_eligibility(no, "request_completed")
    r = await env.client.post(
        "/api/v1/returns", json=body(no, result="not_returned", not_returned_reason="theft"), headers=STAFF
    )
    assert (r.status_code, r.json()["code"]) == (409, "request_completed") and "完了" in r.json()["detail"]
    assert len(await submitted_events(env, {no}, 1)) == 1


async def test_the_submission_carries_the_contracts_facts_for_the_approver(env: Env) -> None:
    """The approver reviews the request beside the contract (issue 16): the address, the vehicle, the final
    date (a lease's リース満了年月日) and amount travel with the submission, as returns holds them."""
    no = new_contract_no()
    await seed(
        env.bootstrap,
        no,
        contract_kind="lease",
        contractor_postal_code="150-0002",
        contractor_address="東京都渋谷区渋谷2-2-2 渋谷ハイツ101",
        model="アルファード",
        registration_no="品川 330 さ 77-01",
        final_payment_date=date(2026, 7, 31),
        final_payment_amount=2_345_000,
    )
    await env.wait_eligibility(no)
    r = await env.client.post("/api/v1/returns", json=body(no), headers=STAFF)
    assert r.status_code == 202, r.text
    [event] = await eventually(lambda: submitted_events(env, {no}, 1))
    data = ReturnSubmitted.model_validate(RawEnvelope.model_validate(event).data)
    assert data.contract == SubmittedContract(
        contractor_postal_code="150-0002",
        contractor_address="東京都渋谷区渋谷2-2-2 渋谷ハイツ101",
        model="アルファード",
        registration_no="品川 330 さ 77-01",
        contract_kind="lease",
        final_payment_date=date(2026, 7, 31),
        final_payment_amount=2_345_000,
    )
    assert (data.contractor_name_kana, data.program) == ("ヤマダ タロウ", "gamma_finance")


async def test_withdrawn_also_closes_the_request(env: Env) -> None:
    no = new_contract_no()
    await seed(env.bootstrap, no)
    await env.wait_eligibility(no)
    request_id = (await env.client.post("/api/v1/returns", json=body(no), headers=STAFF)).json()["request_id"]
    await env.wait_eligibility(no, "open_request_exists")
    await publish_status(
        env.bootstrap,
        status_changed(request_id, no, version=1, new="store_pending", label="店舗承認者手続中"),
    )
    await publish_status(
        env.bootstrap,
        status_changed(request_id, no, version=2, new="withdrawn", label="取下げ", old="store_pending"),
    )
    await env.wait_eligibility(no)


async def test_each_refusal_has_its_status_code_and_japanese_detail(env: Env) -> None:
    ok, open_end, cash, unselected, other_store = (new_contract_no() for _ in range(5))
    await asyncio.gather(
        seed(env.bootstrap, ok, program="max_value_a"),
        seed(env.bootstrap, open_end, program="smart_twice_open"),
        seed(env.bootstrap, cash, category="cash"),
        seed(env.bootstrap, unselected, category=None),
        seed(env.bootstrap, other_store, store="S0102"),
    )
    await asyncio.gather(
        env.wait_eligibility(ok),
        env.wait_eligibility(open_end, "open_end_program"),
        env.wait_eligibility(cash, "selection_not_vehicle_return"),
        env.wait_eligibility(unselected, "selection_not_vehicle_return"),
        env.wait_eligibility(other_store),
    )

    async def refused(json_body: dict, status: int, code: str, user: str = "d1s1-staff1") -> dict:
        r = await env.client.post("/api/v1/returns", json=json_body, headers=auth(user))
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
        assert r.json()["detail"] and not r.json()["detail"].isascii()
        return r.json()

    detail = (await refused(body(open_end), 422, "open_end_program"))["detail"]
    assert "対象外" in detail and "TFCへ必要書類の送付" in detail
    assert "車両返却" in (await refused(body(cash), 422, "selection_not_vehicle_return"))["detail"]
    await refused(body(unselected), 422, "selection_not_vehicle_return")
    await refused(body(other_store), 404, "contract_not_found")
    await refused(body("NO-SUCH-CONTRACT"), 404, "contract_not_found")
    await refused(body(ok), 404, "contract_not_found", user="d2-hq")
    r = await refused(body(ok, returned_on="2026-05-16"), 422, "returned_on_in_future")
    assert r["errors"][0]["field"] == "returned_on" and "本日まで" in r["detail"]
    await refused(body(ok, result="not_returned"), 422, "reason_missing")
    await refused(body(ok, result="not_returned", not_returned_reason="other"), 422, "reason_missing")
    await refused(body(ok, contact3_email=None), 422, "contact3_required_for_hq", user="d1-hq")
    await refused(body(ok, contact1="12345"), 422, "invalid_phone")
    await refused(body(ok, contact2="phone"), 422, "invalid_phone")
    await refused(body(ok, contact3_email="not-an-email"), 422, "invalid_email")
    await refused(body(ok, contact1=None), 422, "contact1_required")
    many = await refused(body(ok, contact1="", contact3_email="x"), 422, "contact1_required")
    assert [e["code"] for e in many["errors"]] == ["contact1_required", "invalid_email"]
    assert (await env.client.post("/api/v1/returns", json=body(ok))).status_code == 401

    # none of that changed anything: nothing was published, and the contract is still free
    assert await submitted_events(env, {ok, open_end, cash, unselected, other_store}, 0) == []
    # staff without 連絡先3 and hq with it are both fine; the store's manager too
    r = await env.client.post(
        "/api/v1/returns", json=body(ok, contact3_email=""), headers=auth("d1s1-manager")
    )
    assert r.status_code == 202, r.text
    r = await env.client.post("/api/v1/returns", json=body(other_store), headers=auth("d1-hq"))
    assert r.status_code == 202, r.text
    events = await eventually(lambda: submitted_events(env, {ok, other_store}, 2))
    by_contract = {e["subject"]: e["data"] for e in events}
    assert by_contract[ok]["payload"]["contact3_email"] is None
    assert by_contract[other_store]["submitter"]["role"] == "hq"


async def test_the_copies_follow_tfc_and_selection(env: Env) -> None:
    moved, newer, reverted = new_contract_no(), new_contract_no(), new_contract_no()
    await asyncio.gather(*(seed(env.bootstrap, n) for n in (moved, newer, reverted)))
    await asyncio.gather(*(env.wait_eligibility(n) for n in (moved, newer, reverted)))

    # 店舗・スタッフ変更 to 世田谷店: its staff may submit, 品川店's may not; a memo changes nothing
    await publish(env.bootstrap, SELECTION_EVENTS, moved, memo_updated(moved, seq=2))
    await publish(env.bootstrap, SELECTION_EVENTS, moved, assignment_changed(moved, seq=3))
    await env.wait_eligibility(moved, user="d1s2-staff1")
    # a newer TFC version of the contract wins (program now open-end); an older one is ignored
    await publish(env.bootstrap, TFC_CONTRACTS, newer, contract(newer, version=3, program="smart_value_open"))
    await publish(env.bootstrap, TFC_CONTRACTS, newer, contract(newer, version=2))
    # an older selection arriving late does not undo the newer one
    await publish(env.bootstrap, SELECTION_EVENTS, reverted, selection_recorded(reverted, "cash", seq=3))
    await publish(
        env.bootstrap, SELECTION_EVENTS, reverted, selection_recorded(reverted, "vehicle_return", seq=2)
    )
    unknown = {
        **json.loads(selection_recorded(reverted).model_dump_json()),
        "type": "jpass.selection.unknown",
    }
    await publish(env.bootstrap, SELECTION_EVENTS, reverted, unknown)
    await env.wait_eligibility(newer, "open_end_program")
    await env.wait_eligibility(reverted, "selection_not_vehicle_return")

    r = await env.client.post("/api/v1/returns", json=body(moved), headers=STAFF)
    assert r.status_code == 404
    r = await env.client.post("/api/v1/returns", json=body(moved), headers=auth("d1s2-staff1"))
    assert r.status_code == 202, r.text
    [event] = await eventually(lambda: submitted_events(env, {moved}, 1))
    assert (event["data"]["store_code"], event["data"]["store_name"]) == ("S0102", "世田谷店")

    # TFC's next snapshot still naming 品川店 does not undo the reassignment; TFC moving it does
    await publish(env.bootstrap, TFC_CONTRACTS, moved, contract(moved, version=2, model="アクア"))

    async def seen(user: str, model: str, store: str) -> None:
        r = await env.client.get(
            "/api/v1/returns/eligibility", params={"contract_no": moved}, headers=auth(user)
        )
        assert r.status_code == 200, r.text
        assert r.json()["code"] == "open_request_exists"
        assert (r.json()["contract"]["model"], r.json()["contract"]["store_code"]) == (model, store)

    await eventually(lambda: seen("d1s2-staff1", "アクア", "S0102"))
    await publish(env.bootstrap, TFC_CONTRACTS, moved, contract(moved, version=3, store="S0102"))
    await publish(
        env.bootstrap, TFC_CONTRACTS, moved, contract(moved, version=4, store="S0101", model="ノア")
    )
    await eventually(lambda: seen("d1s1-staff1", "ノア", "S0101"))

    async def dead_lettered() -> None:  # the topic is shared with other tests: skip their poison
        dead = await read_topic(env.bootstrap, dead_letter(SELECTION_EVENTS), expect=10**6, timeout_s=1)
        assert any(b'"jpass.selection.unknown"' in d.value and reverted.encode() in d.value for d in dead)

    await eventually(dead_lettered)


async def test_input_print_pdf(env: Env) -> None:
    from io import BytesIO

    from pypdf import PdfReader

    no = new_contract_no()
    await seed(env.bootstrap, no, program="deferred_tfc", contract_kind="lease")
    await env.wait_eligibility(no)
    r = await env.client.post(
        "/api/v1/returns",
        json=body(
            no, result="not_returned", not_returned_reason="other", not_returned_reason_text="顧客と連絡不通"
        ),
        headers=STAFF,
    )
    request_id = r.json()["request_id"]
    pdf = await env.client.get(f"/api/v1/returns/{request_id}/print.pdf", headers=STAFF)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    reader = PdfReader(BytesIO(pdf.content))
    text = "".join(page.extract_text() for page in reader.pages)
    for expected in (
        "車両返却 結果入力 入力内容",
        "貴社情報",
        "契約者情報",
        "車両返却情報",
        no,
        "山田 太郎",
        "03-1234-5678",
        "tanto@dealer.example.jp",
        "未返却確定",
        "その他（顧客と連絡不通）",
        "リース満了年月日",
        "残額据置き払い（TFC保証）",
        "TFCから別途ご案内",
        "受付番号: 受付処理中",  # approvals has not numbered it yet (test_reception_no)
        jp_datetime(NOW),
    ):
        assert expected in text, expected
    fonts = [f for page in reader.pages for f in page["/Resources"]["/Font"].values()]
    japanese = [f.get_object() for f in fonts if "IPAex" in str(f.get_object()["/BaseFont"])]
    assert japanese and all(
        "/FontFile2" in f["/FontDescriptor"].get_object() for f in japanese
    )  # the Japanese font travels inside the PDF
    assert (
        await env.client.get(f"/api/v1/returns/{request_id}/print.pdf", headers=auth("d2-hq"))
    ).status_code == 404


async def test_health_openapi_and_asyncapi(env: Env) -> None:
    assert (await env.client.get("/returns/healthz")).json()["status"] == "ok"
    ready = await env.client.get("/returns/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": True, "broker": True}
    paths = (await env.client.get("/openapi/returns.json")).json()["paths"]
    assert {
        "/api/v1/returns",
        "/api/v1/returns/{request_id}",
        "/api/v1/returns/{request_id}/print.pdf",
    } <= set(paths)
    doc = (await env.client.get("/asyncapi/returns.json")).json()
    topics = {c["address"] for c in doc["channels"].values()}
    assert {RETURN_SUBMISSIONS, TFC_CONTRACTS, SELECTION_EVENTS, "jpass.request-status.v1"} <= topics
