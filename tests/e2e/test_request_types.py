"""SPEC §9.2 end to end through the real broker and each service's own PostgreSQL database: 再分割審査申込 and
早期完済受付 taken in by selection, created and approved in approvals, answered by TFC, mailed by the mailer,
shown by search; and the §9.1 rules per type (one open request per contract and type, the category locked
under it, a completed request final, a declined 再分割審査申込 freeing the category)."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

from shared.topics import JPASS_REQUESTS, TFC_REQUEST_UPDATES, dead_letter
from tests.approvals.support import records_for, tfc
from tests.faults.system import TODAY, System, contract, new_no, system
from tests.support import auth, eventually, token_for, wait_dead_lettered

STAFF, MANAGER, HQ = "d1s1-staff1", "d1s1-manager", "d1-hq"
SERVICES = ("search", "selection", "approvals", "mailer")
# final − 1 month (2026-05-10) is behind TODAY: inside the last month, the category is locked by the calendar
LAST_MONTH_FINAL = date(2026, 6, 10)


def contacts(tag: str) -> dict[str, Any]:
    return {
        "contact1": "03-1234-5678",
        "contact3_email": f"tanto-{tag}@dealer.example.jp",
        "notify_on_completion": True,
    }


async def put_selection(s: System, no: str, category: str, user: str = STAFF) -> Any:
    return await s.request(
        "PUT",
        f"/api/v1/contracts/{no}/selection",
        json={"category": category, "replacement": "no", "confirmation_received_on": TODAY.isoformat()},
        headers=auth(user),
    )


async def apply_refinance(s: System, no: str, tag: str, user: str = STAFF, **kw: Any) -> Any:
    body = {"months": 24, "consent_obtained_on": TODAY.isoformat(), **contacts(tag), **kw}
    return await s.request(
        "POST", f"/api/v1/contracts/{no}/refinance-application", json=body, headers=auth(user)
    )


async def request_early_payoff(s: System, no: str, tag: str, **kw: Any) -> Any:
    body = {
        "desired_payoff_date": (TODAY + timedelta(days=10)).isoformat(),
        "payment_method": "bank_transfer",
        **contacts(tag),
        **kw,
    }
    return await s.request(
        "POST", f"/api/v1/contracts/{no}/early-payoff-request", json=body, headers=auth(STAFF)
    )


async def act(s: System, user: str, request_id: str, verb: str, version: int) -> dict[str, Any]:
    r = await s.request(
        "POST", f"/api/v1/requests/{request_id}/{verb}", json={"version": version}, headers=auth(user)
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def detail(s: System, no: str) -> dict[str, Any]:
    r = await s.get(f"/api/v1/contracts/{no}", HQ)
    assert r.status_code == 200, r.text
    return dict(r.json())


def mails(s: System, tag: str) -> list[dict[str, Any]]:
    assert s.smtp is not None
    return s.smtp.messages(tag)


async def test_refinance_application_through_both_approvals_to_an_approved_plan(kafka_bootstrap: str) -> None:
    tag = uuid.uuid4().hex[:8]
    async with system(kafka_bootstrap, SERVICES) as s:
        flow = {"store_approval": True, "hq_approval": True, "hq_approver_emails": [f"hq-{tag}@example.com"]}
        assert (
            await s.request("PUT", "/api/v1/approval-flow", json=flow, headers=auth(HQ))
        ).status_code == 200
        no = new_no("REF")
        await s.add_contract(contract(no, final_payment_date=LAST_MONTH_FINAL))
        # Not before 再分割 is the recorded category.
        early = await apply_refinance(s, no, tag)
        assert early.status_code == 409 and early.json()["code"] == "selection_not_refinance", early.text
        await s.record_selection(no, STAFF, "refinance")
        # Field errors: each with its code, nothing sent.
        bad = await apply_refinance(
            s, no, tag, contact1="", consent_obtained_on=(TODAY + timedelta(days=1)).isoformat()
        )
        assert bad.status_code == 422, bad.text
        assert {e["code"] for e in bad.json()["errors"]} == {"contact1_required", "consent_in_future"}
        assert (await apply_refinance(s, no, tag, months=6)).json()["code"] == "months_out_of_range"

        r = await apply_refinance(s, no, tag)
        assert r.status_code == 202, r.text
        request_id = r.json()["request_id"]
        # One open application per contract; the category stays 再分割 from the moment OK was pressed.
        again = await apply_refinance(s, no, tag)
        assert again.status_code == 409 and again.json()["code"] == "open_request_exists", again.text
        locked = await put_selection(s, no, "cash")
        assert locked.status_code == 409 and locked.json()["code"] == "open_request_exists", locked.text

        req = await s.wait_request(request_id, STAFF, "store_pending")
        assert req["type"] == "refinance_application" and req["type_label"] == "再分割審査申込"
        facts = req["contract"]  # the contract beside the request, as selection held it at submission
        assert (facts["final_payment_date"], facts["final_payment_amount"]) == ("2026-06-10", 1_200_000)
        assert (facts["contractor_address"], facts["model"]) == ("東京都品川区北品川1-2-3", "プリウス")
        plan = req["payload"]["plan"]
        assert plan["months"] == 24 and plan["principal"] == 1_200_000
        assert plan["first_payment"] + plan["monthly_payment"] * 23 == plan["total_payment"]
        listed = await s.get("/api/v1/requests", STAFF, params={"type": "refinance_application"})
        assert [i["request_id"] for i in listed.json()["items"]] == [request_id]
        assert listed.json()["type_counts"]["refinance_application"] == 1
        # every type is counted; not how many returns: this system's approvals also reads the returns another
        # test submits on the shared broker at the same time (6 of them once, under -n 2)
        every_type = {"vehicle_return", "refinance_application", "early_payoff"}
        assert set(listed.json()["type_counts"]) == every_type

        req = await act(s, MANAGER, request_id, "approve", req["version"])
        assert req["status"] == "hq_pending"
        req = await act(s, HQ, request_id, "approve", req["version"])
        assert req["status"] == "requested"
        (sent,) = [
            m
            for m in await records_for(s.bootstrap, JPASS_REQUESTS, request_id, 1)
            if m["event"] == "requested"
        ]
        assert sent["type"] == "refinance_application" and sent["payload"]["plan"] == plan
        assert sent["reception_no"] == req["reception_no"]

        await tfc(s.bootstrap, request_id, "accept")
        await s.wait_request(request_id, STAFF, "tfc_processing")
        await tfc(s.bootstrap, request_id, "complete", "審査の結果、承認しました。", result="approved")
        done = await s.wait_request(request_id, STAFF, "completed")
        assert done["result"] == "approved" and done["result_label"] == "承認"

        async def plan_on_the_customer_detail() -> None:
            d = await detail(s, no)
            assert d["approved_plan"] is not None and d["approved_plan"]["months"] == 24, d["approved_plan"]
            assert d["completed"] is True
            returns_menu = next(a for a in d["actions"] if a["key"] == "returns")
            assert not returns_menu["enabled"], returns_menu  # an application is not a vehicle return
            page = await s.request("GET", f"/contracts/{no}", cookies={"jpass_token": token_for(STAFF)})
            assert 'id="approved-plan"' in page.text and f"{plan['total_payment']:,}" in page.text

        await eventually(plan_on_the_customer_detail, timeout_s=30)

        # Final: no change of the selection, no second application.
        async def final_everywhere() -> None:
            r = await put_selection(s, no, "cash")
            assert r.status_code == 409 and r.json()["code"] == "request_completed", r.text

        await eventually(final_everywhere, timeout_s=30)
        assert (await apply_refinance(s, no, tag)).json()["code"] == "request_completed"

        mail = await mail_with(s, tag, "再分割審査結果のお知らせ")
        assert "（承認）" in mail["subject"] and req["reception_no"] in mail["subject"]
        assert "審査結果　　：承認" in mail["text"] and "支払回数　　：24回" in mail["text"]
        approval = [m for m in mails(s, tag) if m["subject"].startswith("【J-PASS】承認依頼・再分割審査申込")]
        assert approval, [m["subject"] for m in mails(s, tag)]


async def test_a_declined_application_frees_the_category_inside_the_last_month(kafka_bootstrap: str) -> None:
    tag = uuid.uuid4().hex[:8]
    async with system(kafka_bootstrap, SERVICES) as s:
        no = new_no("DEC")
        await s.add_contract(contract(no, final_payment_date=LAST_MONTH_FINAL))
        await s.record_selection(no, STAFF, "refinance")
        # Inside the last month the calendar locks the category ...
        r = await put_selection(s, no, "cash")
        assert r.status_code == 409 and r.json()["code"] == "category_change_locked", r.text
        request_id = (await apply_refinance(s, no, tag)).json()["request_id"]
        await s.wait_request(request_id, STAFF, "requested")  # no approval steps configured
        await tfc(s.bootstrap, request_id, "accept")
        await s.wait_request(request_id, STAFF, "tfc_processing")
        # TFC's complete of an application without its result is refused (dead letter), nothing changes.
        await tfc(s.bootstrap, request_id, "complete")
        await wait_dead_lettered(
            s.bootstrap,
            dead_letter(TFC_REQUEST_UPDATES),
            lambda rec: (
                rec.key == request_id.encode()  # the DLQ holds other tests' poison too (not all JSON)
                and b"result_required" in dict(rec.headers).get("dlq-reason", b"")
            ),
        )
        assert (await s.wait_request(request_id, STAFF))["status"] == "tfc_processing"
        await tfc(s.bootstrap, request_id, "complete", "今回は見送りとなりました。", result="declined")
        done = await s.wait_request(request_id, STAFF, "completed")
        assert done["result"] == "declined" and done["tfc_message"] == "今回は見送りとなりました。"

        # ... a declined application frees it (SPEC §9.2); the contract is not complete.
        async def freed() -> None:
            r = await put_selection(s, no, "cash")
            assert r.status_code == 200, r.text

        await eventually(freed, timeout_s=30)

        async def search_agrees() -> None:
            d = await detail(s, no)
            assert d["completed"] is False and d["selection"]["category"] == "cash", d
            assert d["approved_plan"] is None
            assert [(x["type"], x["result"]) for x in d["requests"]] == [
                ("refinance_application", "declined")
            ]

        await eventually(search_agrees, timeout_s=30)
        mail = await mail_with(s, tag, "再分割審査結果のお知らせ（否決）")
        assert "進捗・結果入力で改めてご入力ください" in mail["text"]


async def test_early_payoff_with_the_amount_tfc_answers(kafka_bootstrap: str) -> None:
    tag = uuid.uuid4().hex[:8]
    async with system(kafka_bootstrap, SERVICES) as s:
        no = new_no("EP")
        await s.add_contract(contract(no))
        refused = await request_early_payoff(s, no, tag)
        assert refused.status_code == 409 and refused.json()["code"] == "not_early_payoff"
        await s.record_selection(no, STAFF, "early_payoff")
        past = await request_early_payoff(
            s, no, tag, desired_payoff_date=(TODAY - timedelta(days=1)).isoformat()
        )
        assert past.status_code == 422 and past.json()["code"] == "payoff_date_in_past", past.text
        late = await request_early_payoff(s, no, tag, desired_payoff_date="2026-07-01", payment_method=None)
        assert {e["code"] for e in late.json()["errors"]} == {
            "payoff_date_after_final",
            "payment_method_required",
        }
        r = await request_early_payoff(s, no, tag)
        assert r.status_code == 202, r.text
        request_id = r.json()["request_id"]
        assert (await request_early_payoff(s, no, tag)).json()["code"] == "open_request_exists"
        req = await s.wait_request(request_id, STAFF, "requested")
        assert req["payload"]["payment_method"] == "bank_transfer"
        assert req["payload"]["final_payment_date"] == "2026-06-30"
        facts = req["contract"]
        assert (facts["final_payment_date"], facts["registration_no"]) == ("2026-06-30", "品川 300 あ 12-34")

        await tfc(s.bootstrap, request_id, "accept")
        await s.wait_request(request_id, STAFF, "tfc_processing")
        await tfc(s.bootstrap, request_id, "complete")  # no amount yet: refused
        await wait_dead_lettered(
            s.bootstrap,
            dead_letter(TFC_REQUEST_UPDATES),
            lambda rec: (
                rec.key == request_id.encode()  # the DLQ holds other tests' poison too (not all JSON)
                and b"payoff_amount_required" in dict(rec.headers).get("dlq-reason", b"")
            ),
        )
        await tfc(s.bootstrap, request_id, "message", payoff_amount=1_234_567)
        answered = await s.wait_request(request_id, STAFF, "tfc_message")
        assert answered["payoff_amount"] == 1_234_567 and "1,234,567円" in answered["tfc_message"]
        page = await s.request("GET", f"/requests/{request_id}", cookies={"jpass_token": token_for(STAFF)})
        assert 'id="payoff-amount" data-amount="1234567"' in page.text and "1,234,567円" in page.text
        await tfc(s.bootstrap, request_id, "complete")
        await s.wait_request(request_id, STAFF, "completed")

        mail = await mail_with(s, tag, "手続完了のお知らせ・早期完済受付")
        assert "早期完済金額：1,234,567円" in mail["text"] and "お支払方法　：振込" in mail["text"]

        async def final() -> None:
            r = await put_selection(s, no, "cash")
            assert r.status_code == 409 and r.json()["code"] == "request_completed", r.text
            d = await detail(s, no)
            assert d["completed"] is True and d["requests"][0]["payoff_amount"] == 1_234_567

        await eventually(final, timeout_s=30)
        assert (await request_early_payoff(s, no, tag)).json()["code"] == "request_completed"


async def test_the_pages_form_confirm_ok_done_and_print(kafka_bootstrap: str) -> None:
    """The screens of both flows: field errors in Japanese next to the field, 確認 → OK → 送信が完了しました
    with the 受付番号, the PDF of the input."""
    async with system(kafka_bootstrap, ("selection", "approvals")) as s:
        cookie = {"jpass_token": token_for(STAFF)}
        no, other = new_no("PG"), new_no("PG")
        await s.add_contract(contract(no))
        await s.add_contract(contract(other))
        await s.record_selection(no, STAFF, "refinance")
        await s.record_selection(other, STAFF, "early_payoff")

        sim = await s.request(
            "POST",
            f"/selection/contracts/{no}/refinance",
            data={"months": "36", "rate_percent": "4.9"},
            cookies=cookie,
        )
        link = re.search(r'id="to-application" href="([^"]+)"', sim.text)
        assert link, sim.text
        form = await s.request("GET", link.group(1).replace("&amp;", "&"), cookies=cookie)
        assert form.status_code == 200 and 'id="plan-months">36回' in form.text
        key = re.search(r'name="idempotency_key" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        fields = {"idempotency_key": key, "months": "36", "rate_percent": "4.9", "contact1": "03-1234-5678"}
        wrong = await s.request(
            "POST",
            f"/selection/contracts/{no}/refinance/application/confirm",
            data={**fields, "contact1": "abc"},
            cookies=cookie,
        )
        assert wrong.status_code == 422
        assert (
            "連絡先1の電話番号の形式が正しくありません" in wrong.text
            and "お客様の同意取得日を入力してください" in wrong.text
        )
        fields["consent_obtained_on"] = TODAY.isoformat()
        confirm = await s.request(
            "POST", f"/selection/contracts/{no}/refinance/application/confirm", data=fields, cookies=cookie
        )
        assert (
            confirm.status_code == 200 and 'id="ok"' in confirm.text and "再分割審査申込情報" in confirm.text
        )
        ok = await s.request(
            "POST", f"/selection/contracts/{no}/refinance/application", data=fields, cookies=cookie
        )
        assert ok.status_code == 303, ok.text
        twice = await s.request(
            "POST", f"/selection/contracts/{no}/refinance/application", data=fields, cookies=cookie
        )
        assert twice.headers["location"] == ok.headers["location"]  # a double click: one request
        request_id = ok.headers["location"].split("/")[3]
        req = await s.wait_request(request_id, STAFF, "requested")

        async def done_with_number() -> None:
            page = await s.request("GET", ok.headers["location"], cookies=cookie)
            assert "送信が完了しました" in page.text and req["reception_no"] in page.text, page.text

        await eventually(done_with_number, timeout_s=30)
        pdf = await s.request("GET", f"/selection/requests/{request_id}/print.pdf", headers=auth(STAFF))
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF") and b"IPAexGothic" in pdf.content

        # 早期完済確認 → 早期完済受付へ → the form (no longer a static page)
        acceptance = await s.request(
            "GET", f"/selection/contracts/{other}/early-payoff/acceptance", cookies=cookie
        )
        assert acceptance.status_code == 200 and 'name="desired_payoff_date"' in acceptance.text
        data = {
            "contact1": "03-1234-5678",
            "desired_payoff_date": "2026-07-31",
            "idempotency_key": "k-" + other,
        }
        refused = await s.request(
            "POST", f"/selection/contracts/{other}/early-payoff/acceptance/confirm", data=data, cookies=cookie
        )
        assert refused.status_code == 422
        assert (
            "完済希望日は本日（2026/05/15）から最終回年月日（2026/06/30）までの日付で入力してください"
            in refused.text
        )
        assert "お支払方法（振込または口座振替）を選択してください" in refused.text
        data.update(desired_payoff_date="2026-06-01", payment_method="account_transfer")
        sent = await s.request(
            "POST", f"/selection/contracts/{other}/early-payoff/acceptance", data=data, cookies=cookie
        )
        assert sent.status_code == 303
        page = await s.request("GET", sent.headers["location"], cookies=cookie)
        assert "早期完済受付" in page.text and "口座振替" in page.text and "2026/06/01" in page.text
        # The refinance page of a contract without 再分割 says why, before anything is typed.
        blocked = await s.request(
            "GET", f"/selection/contracts/{other}/refinance/application?months=24", cookies=cookie
        )
        assert blocked.status_code == 409 and "再分割」ではありません" in blocked.text


async def mail_with(s: System, tag: str, subject_part: str) -> dict[str, Any]:
    """The one mail to this test's addresses whose subject has `subject_part` (waiting for it)."""

    async def one() -> dict[str, Any]:
        matching = [m for m in mails(s, tag) if subject_part in m["subject"]]
        assert len(matching) == 1, [m["subject"] for m in mails(s, tag)]
        return matching[0]

    return await eventually(one, timeout_s=30)
