"""The /selection pages: Japanese forms, errors next to the field with nothing changed, redirects with
the consistency token, the 早期完済 follow-up, escaping, roles."""

from __future__ import annotations

import re
from datetime import date

from tests.selection.conftest import Service, cookies, new_contract_no, snapshot
from tests.support import auth

STAFF = cookies("d1s1-staff1")


def form(category="cash", replacement="no", model="", other="", received="2026-01-08") -> dict[str, str]:
    return {
        "category": category,
        "replacement": replacement,
        "replacement_model": model,
        "replacement_model_other": other,
        "confirmation_received_on": received,
    }


async def selection_of(svc: Service, no: str) -> dict | None:
    r = await svc.client.get(f"/api/v1/contracts/{no}/selection", headers=auth("d1-hq"))
    return r.json()["selection"]


async def test_input_page_labels_and_late_notice(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no, contract_kind="lease"))
    page = await svc.client.get(f"/selection/contracts/{no}/input", cookies=STAFF)
    assert page.status_code == 200
    html = page.text
    assert "confirm(" not in html  # manual: check the input, press 決定 — the server validates, no dialog
    for label in (
        "進捗・結果入力",
        "選択区分",
        "早期完済",
        "現金決済（口座振替）",
        "車両返却",
        "再分割",
        "自社代替",
        "自社代替無し（他社代替・不明含む）",
        "その他/車種名等",
        "アルファード",
        "レクサス",
        "お支払方法確認書 受領日",
        "リース満了年月日",
        "最終回選択は、お客様から「お支払方法確認書」を受領後に入力してください",
        "最終回選択区分の入力変更は、最終回期日の1ヶ月前まで可能です",
        f"/api/v1/contracts/{no}/confirmation.pdf",
        'max="2026-01-10"',
    ):
        assert label in html, label
    assert 'id="late-notice"' not in html
    assert not re.search(r"<input[^>]*\bchecked", html)  # initially blank

    svc.set_today(date(2026, 3, 1))
    html = (await svc.client.get(f"/selection/contracts/{no}/input", cookies=STAFF)).text
    assert 'id="late-notice"' in html and "2026/02/28" in html


async def test_input_errors_are_shown_next_to_the_field_and_change_nothing(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    url = f"/selection/contracts/{no}/input"
    cases = [
        (form(received=""), "最終回選択は、お客様から「お支払方法確認書」を受領後に入力してください"),
        (form(received="2026-01-11"), "未来の日付"),
        (form(received="2026-13-01"), "日付を正しく入力してください"),
        (form(category=""), "選択区分を選択してください"),
        (form(replacement="yes"), "代替車両を選択してください"),
        (form(replacement="yes", model="__other__", other=""), "代替車両を選択してください"),
    ]
    for data, message in cases:
        r = await svc.client.post(url, data=data, cookies=STAFF, follow_redirects=False)
        assert r.status_code == 422, (data, r.status_code)
        assert 'class="field-error"' in r.text and message in r.text, message
    assert await selection_of(svc, no) is None


async def test_successful_input_redirects_to_the_detail_with_the_token(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    url = f"/selection/contracts/{no}/input"
    r = await svc.client.post(
        url, data=form("cash", "yes", "__other__", "他社SUV"), cookies=STAFF, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/contracts/{no}?after={no}%401"
    saved = await selection_of(svc, no)
    assert saved["category"] == "cash" and saved["replacement_model"] == "他社SUV"
    # the form shows what was saved, including a free-text model
    html = (await svc.client.get(url, cookies=STAFF)).text
    assert (
        'value="cash" checked' in html and 'value="他社SUV"' in html and 'value="__other__" selected' in html
    )

    # 無 ignores a model left selected in the pull-down
    r = await svc.client.post(url, data=form("cash", "no", "ノア"), cookies=STAFF, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("%402")
    assert (await selection_of(svc, no))["replacement_model"] is None

    svc.set_today(date(2026, 3, 31))  # after the change lock
    html = (await svc.client.get(url, cookies=STAFF)).text
    assert 'id="locked-notice"' in html
    r = await svc.client.post(url, data=form("vehicle_return"), cookies=STAFF, follow_redirects=False)
    assert r.status_code == 409 and "最終回選択区分の入力変更は、最終回期日の1ヶ月前まで可能です" in r.text
    assert (await selection_of(svc, no))["category"] == "cash"


async def test_early_payoff_follow_up(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    r = await svc.client.post(
        f"/selection/contracts/{no}/input",
        data=form("early_payoff", "yes", "プリウス"),
        cookies=STAFF,
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/selection/contracts/{no}/early-payoff?after={no}%401"
    page = await svc.client.get(r.headers["location"], cookies=STAFF)
    assert page.status_code == 200
    assert "早期完済受付へ" in page.text and "最終回対象顧客一覧へ" in page.text
    assert "早期完済金額照会・完済確認機能編" in page.text
    assert f'href="/contracts?after={no}%401"' in page.text
    acceptance = re.search(r'id="to-acceptance" href="([^"]+)"', page.text).group(1)
    page = await svc.client.get(acceptance, cookies=STAFF)
    # 早期完済受付 is a request now (SPEC §9.2): its form, not a page of steps to take elsewhere
    assert page.status_code == 200 and "<h1>早期完済受付</h1>" in page.text
    assert 'name="desired_payoff_date"' in page.text and 'name="payment_method"' in page.text


async def test_memo_page_saves_and_escapes(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    url = f"/selection/contracts/{no}/memo"
    page = await svc.client.get(url, cookies=STAFF)
    assert (
        page.status_code == 200
        and "ご入庫時の提案や査定状況" in page.text
        and 'maxlength="2000"' in page.text
    )
    evil = "<script>alert('x')</script>\n下取り 80万円"
    r = await svc.client.post(url, data={"text": evil}, cookies=STAFF, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/contracts/{no}?after={no}%401"
    html = (await svc.client.get(url, cookies=cookies("d1s1-manager"))).text
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "佐藤 健一" in html and "更新履歴" in html
    r = await svc.client.post(url, data={"text": "あ" * 2001}, cookies=STAFF)
    assert r.status_code == 422 and "2000文字以内" in r.text and "あ" * 2001 in r.text  # the draft is kept
    memo = (await svc.client.get(f"/api/v1/contracts/{no}/memo", headers=auth("d1s1-staff1"))).json()
    assert memo["seq"] == 1 and len(memo["history"]) == 1


async def test_refinance_page(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    url = f"/selection/contracts/{no}/refinance"
    svc.set_today(date(2025, 7, 1))
    page = await svc.client.get(url, cookies=STAFF)
    assert page.status_code == 200 and 'id="window-notice"' in page.text and "disabled" in page.text
    r = await svc.client.post(url, data={"months": "60", "rate_percent": "4.9"}, cookies=STAFF)
    assert r.status_code == 409 and "9ヶ月前" in r.text and 'id="schedule"' not in r.text

    svc.set_today(date(2025, 8, 1))
    page = await svc.client.get(url, cookies=STAFF)
    assert 'value="4.9"' in page.text and 'id="window-notice"' not in page.text
    r = await svc.client.post(url, data={"months": "60", "rate_percent": "4.9"}, cookies=STAFF)
    assert r.status_code == 200
    for text in ("27,932円", "22,500円", "1,355,432円", "155,432円", 'id="schedule"', "1,176,968"):
        assert text in r.text, text
    r = await svc.client.post(url, data={"months": "6", "rate_percent": "4.9"}, cookies=STAFF)
    assert r.status_code == 422 and "12回から84回" in r.text
    r = await svc.client.post(url, data={"months": "24", "rate_percent": "abc"}, cookies=STAFF)
    assert r.status_code == 422 and "数値を正しく入力してください" in r.text


async def test_assignment_page_roles_and_redirects(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    await svc.add_contract(snapshot(new_contract_no(), store="S0102"))
    url = f"/selection/contracts/{no}/assignment"
    page = await svc.client.get(url, cookies=STAFF)
    assert page.status_code == 403 and "店舗・スタッフ変更は、本部または店長のみ行えます" in page.text
    assert "<form" not in page.text.split("<main>")[1]  # (the header's logout is a form)
    r = await svc.client.post(url, data={"store_code": "S0102", "staff_code": "010201"}, cookies=STAFF)
    assert r.status_code == 403

    page = await svc.client.get(url, cookies=cookies("d1-hq"))
    assert page.status_code == 200 and "世田谷店（S0102）" in page.text and "梅田店" not in page.text
    r = await svc.client.post(
        url, data={"store_code": "S0102", "staff_code": "01 02"}, cookies=cookies("d1-hq")
    )
    assert r.status_code == 422 and "半角英数字" in r.text

    r = await svc.client.post(
        url,
        data={"store_code": "S0102", "staff_code": "010201"},
        cookies=cookies("d1s1-manager"),
        follow_redirects=False,
    )
    # the store manager moved it out of their store: back to their list rather than a detail they cannot see
    assert r.status_code == 303 and r.headers["location"] == f"/contracts?after={no}%401"
    r = await svc.client.post(
        url,
        data={"store_code": "S0101", "staff_code": "010101"},
        cookies=cookies("d1-hq"),
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/contracts/{no}?after={no}%402"


async def test_pages_need_login_and_scope(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    for path in ("input", "memo", "refinance", "assignment", "early-payoff"):
        r = await svc.client.get(f"/selection/contracts/{no}/{path}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
        r = await svc.client.get(f"/selection/contracts/{no}/{path}", cookies=cookies("d1s2-staff1"))
        assert r.status_code == 404 and "指定された契約は見つかりません" in r.text
    r = await svc.client.post(f"/selection/contracts/{no}/input", data=form(), cookies=cookies("d2-hq"))
    assert r.status_code == 404
    assert await selection_of(svc, no) is None
