"""The pages: menu → 起票 → 確認 → OK → 送信が完了しました, refusals in Japanese, 入力内容印刷."""

from __future__ import annotations

import asyncio
import re
from html import unescape

from shared.topics import RETURN_SUBMISSIONS
from tests.returns.conftest import Env, page_cookies
from tests.returns.factory import (
    new_contract_no,
    publish_status,
    read_all,
    seed,
    status_changed,
    submissions_for,
)
from tests.support import eventually

STAFF = page_cookies("d1s1-staff1")
FORM = {
    "contact1": "03-1234-5678",
    "contact2": "",
    "contact3_email": "tanto@dealer.example.jp",
    "notify_on_completion": "on",
    "result": "returned",
    "returned_on": "2026-05-14",
    "not_returned_reason": "",
    "not_returned_reason_text": "",
}


def hidden(html: str) -> dict[str, str]:
    return {
        unescape(m.group(1)): unescape(m.group(2))
        for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    }


async def test_menu_form_confirm_ok_done(env: Env) -> None:
    no = new_contract_no()
    await seed(env.bootstrap, no, program="max_value_a")
    await env.wait_eligibility(no)
    c = env.client

    menu = await c.get(f"/returns/contracts/{no}", cookies=STAFF)
    assert menu.status_code == 200
    assert "車両返却 結果入力" in menu.text and "進捗一覧" in menu.text
    assert "<dd>2026/06/30</dd>" in menu.text  # 最終回年月日 as YYYY/MM/DD like the other pages
    assert (
        f'href="/returns/contracts/{no}/new"' in menu.text
        and f'href="/requests?contract_no={no}"' in menu.text
    )

    form = await c.get(f"/returns/contracts/{no}/new", cookies=STAFF)
    assert form.status_code == 200
    for label in (
        "貴社情報",
        "契約者情報",
        "車両返却情報",
        "連絡先1",
        "連絡先2",
        "連絡先3",
        "山田 太郎",
        "返却済み",
        "未返却確定",
    ):
        assert label in form.text, label
    assert "TFCにて手続が完了した際のメール通知を希望する" in form.text
    assert re.search(r'name="notify_on_completion" value="on" checked', form.text)
    assert re.search(r'name="result" value="returned" checked', form.text)
    assert 'max="2026-05-15"' in form.text
    assert 'value="d1s1-staff1@demo.jpass.example"' in form.text  # 連絡先3 prefilled with the user's
    # the manual's notice of the sender: the configured From address (JPASS_MAIL_FROM)
    assert "※送信元メールアドレス <strong>uketsuke-test@tfc.example</strong>" in form.text
    assert "受信対象アドレスへの追加登録をお願いいたします" in form.text
    for reason in ("顧客買取", "車両全損", "盗難", "所在不明", "その他"):
        assert reason in form.text
    key = hidden(form.text)["idempotency_key"]

    # 確認 with mistakes: the form again, each message next to its field, nothing sent
    bad = await c.post(
        f"/returns/contracts/{no}/confirm",
        data={**FORM, "idempotency_key": key, "contact1": "", "returned_on": "2026-05-16"},
        cookies=STAFF,
    )
    assert bad.status_code == 422
    assert re.search(r'id="error-contact1"[^>]*>連絡先1（電話番号）を入力してください。', bad.text)
    assert re.search(
        r'id="error-returned_on"[^>]*>車両返却受領日は本日までの日付で入力してください。', bad.text
    )
    assert 'value="2026-05-16"' in bad.text  # what was typed stays

    confirm = await c.post(
        f"/returns/contracts/{no}/confirm", data={**FORM, "idempotency_key": key}, cookies=STAFF
    )
    assert confirm.status_code == 200, confirm.text
    assert "確認" in confirm.text and ">OK<" in confirm.text
    assert "<dd>2026/05/14</dd>" in confirm.text and "<dd>2026/06/30</dd>" in confirm.text
    assert 'id="ok"' in confirm.text and "confirm(" not in confirm.text  # the page is the confirmation
    assert "TFCから別途ご案内" in confirm.text  # マックスバリュープランA needs the extra TFC procedure
    fields = hidden(confirm.text)
    assert fields["idempotency_key"] == key and fields["contact1"] == "03-1234-5678"

    back = await c.post(f"/returns/contracts/{no}/new", data=fields, cookies=STAFF)
    assert (
        back.status_code == 200
        and 'value="2026-05-14"' in back.text
        and hidden(back.text)["idempotency_key"] == key
    )

    # OK clicked twice at once: one request
    ok1, ok2 = await asyncio.gather(
        c.post(f"/returns/contracts/{no}", data=fields, cookies=STAFF),
        c.post(f"/returns/contracts/{no}", data=fields, cookies=STAFF),
    )
    assert ok1.status_code == ok2.status_code == 303
    assert ok1.headers["location"] == ok2.headers["location"]
    done_url = ok1.headers["location"]
    request_id = done_url.split("/")[2]
    assert done_url == f"/returns/{request_id}/done"

    async def sent_once() -> None:  # the outbox relay publishes shortly after the commit
        events = submissions_for(await read_all(env.bootstrap, RETURN_SUBMISSIONS), {no})
        assert [e["data"]["request_id"] for e in events] == [request_id]

    await eventually(sent_once)

    # approvals has not answered yet: 受付処理中 with a link to the request
    done = await c.get(done_url, cookies=STAFF)
    assert done.status_code == 200
    assert "送信が完了しました" in done.text and "受付処理中" in done.text
    assert f'href="/requests/{request_id}"' in done.text
    assert "TFCから別途ご案内" in done.text
    assert "入力内容印刷" in done.text and f'href="/returns/{request_id}/print.pdf"' in done.text

    await publish_status(
        env.bootstrap,
        status_changed(request_id, no, version=1, new="store_pending", label="店舗承認者手続中"),
    )

    async def shows_status() -> None:
        page = await c.get(done_url, cookies=STAFF)
        assert 'class="status status-yellow" data-status="store_pending">店舗承認者手続中' in page.text
        assert "承認者へ承認依頼のご連絡をお願いします" in page.text

    await eventually(shows_status)
    pdf = await c.get(f"/returns/{request_id}/print.pdf", cookies=STAFF)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    shown = await c.get(f"/returns/{request_id}", cookies=STAFF)
    assert (
        shown.status_code == 200 and "送信が完了しました" not in shown.text and "03-1234-5678" in shown.text
    )

    # the menu now says a request is open; the form refuses with the same message
    menu = await c.get(f"/returns/contracts/{no}", cookies=STAFF)
    assert 'data-code="open_request_exists"' in menu.text
    again = await c.get(f"/returns/contracts/{no}/new", cookies=STAFF)
    assert (
        "手続中の車両返却の申込がすでにあります" in again.text
        and "<form" not in again.text.split("<main>")[1]
    )
    # and a stale confirmation page's OK with another key is refused on the page, at the top
    late = await c.post(
        f"/returns/contracts/{no}", data={**fields, "idempotency_key": "other"}, cookies=STAFF
    )
    assert late.status_code == 409 and "手続中の車両返却の申込がすでにあります" in late.text


async def test_not_returned_with_other_reason(env: Env) -> None:
    no = new_contract_no()
    await seed(env.bootstrap, no)
    await env.wait_eligibility(no)
    data = {
        **FORM,
        "result": "not_returned",
        "returned_on": "",
        "not_returned_reason": "other",
        "idempotency_key": "k1",
    }
    missing = await env.client.post(f"/returns/contracts/{no}/confirm", data=data, cookies=STAFF)
    assert (
        missing.status_code == 422
        and "未返却理由が「その他」の場合は理由を入力してください。" in missing.text
    )
    assert re.search(r'name="result" value="not_returned" checked', missing.text)
    data["not_returned_reason_text"] = "顧客と連絡不通"
    del data["notify_on_completion"]  # unchecked
    confirm = await env.client.post(f"/returns/contracts/{no}/confirm", data=data, cookies=STAFF)
    assert (
        confirm.status_code == 200
        and "その他（顧客と連絡不通）" in confirm.text
        and "希望しない" in confirm.text
    )
    ok = await env.client.post(f"/returns/contracts/{no}", data=hidden(confirm.text), cookies=STAFF)
    assert ok.status_code == 303

    async def sent() -> dict:
        events = submissions_for(await read_all(env.bootstrap, RETURN_SUBMISSIONS), {no})
        assert len(events) == 1, events  # eventually retries on AssertionError only
        return events[0]

    payload = (await eventually(sent))["data"]["payload"]
    assert (payload["result"], payload["not_returned_reason"], payload["notify_on_completion"]) == (
        "not_returned",
        "other",
        False,
    )


async def test_refusals_on_pages(env: Env) -> None:
    open_end, cash, elsewhere = new_contract_no(), new_contract_no(), new_contract_no()
    await asyncio.gather(
        seed(env.bootstrap, open_end, program="smart_value_open"),
        seed(env.bootstrap, cash, category="cash"),
        seed(env.bootstrap, elsewhere, store="S0102"),
    )
    await asyncio.gather(
        env.wait_eligibility(open_end, "open_end_program"),
        env.wait_eligibility(cash, "selection_not_vehicle_return"),
        env.wait_eligibility(elsewhere),
    )
    c = env.client
    menu = await c.get(f"/returns/contracts/{open_end}", cookies=STAFF)
    assert "本機能の対象外" in menu.text and "TFCへ必要書類の送付" in menu.text
    new = await c.get(f"/returns/contracts/{open_end}/new", cookies=STAFF)
    assert "本機能の対象外" in new.text and 'name="contact1"' not in new.text
    new = await c.get(f"/returns/contracts/{cash}/new", cookies=STAFF)
    assert "「車両返却」ではありません" in new.text and "現金決済" in new.text
    posted = await c.post(
        f"/returns/contracts/{cash}/confirm", data={**FORM, "idempotency_key": "x"}, cookies=STAFF
    )
    assert posted.status_code == 422 and "「車両返却」ではありません" in posted.text
    for path in (
        f"/returns/contracts/{elsewhere}",
        f"/returns/contracts/{elsewhere}/new",
        "/returns/no-such/done",
    ):
        r = await c.get(path, cookies=STAFF)
        assert r.status_code == 404 and "見つかりません" in r.text, path
    hq = page_cookies("d1-hq")
    hq_form = await c.get(f"/returns/contracts/{elsewhere}/new", cookies=hq)
    assert hq_form.status_code == 200 and "メールアドレス・必須" in hq_form.text
    no_mail = await c.post(
        f"/returns/contracts/{elsewhere}/confirm",
        data={**FORM, "contact3_email": "", "idempotency_key": "y"},
        cookies=hq,
    )
    assert (
        no_mail.status_code == 422
        and "本部担当者は連絡先3（メールアドレス）の入力が必須です。" in no_mail.text
    )
    assert (await c.get(f"/returns/contracts/{cash}")).status_code == 303  # not logged in → /login
