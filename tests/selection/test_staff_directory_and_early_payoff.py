"""Issue 15 through the running selection service (real broker and PostgreSQL):
- point 7, the staff directory (SPEC §9.1): 店舗・スタッフ変更 offers the target store's staff with names,
  from the identity provider's users (the demo users' export, tests/conftest.py) and TFC's feed, and
  refuses an unknown code (API 422 `unknown_staff_code`, the page's message next to the field), changing
  nothing;
- point 8: 早期完済確認 says 「選択区分「早期完済」を登録しました。」 only when that is what is recorded;
- point 5: the memo page shows Japan time in the one format.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import update

from services.selection.db import MemoEntry
from shared.web import FLASH_COOKIE
from tests.selection.conftest import Service, cookies, new_contract_no, snapshot
from tests.support import auth

HQ = auth("d1-hq")
REGISTERED = "選択区分「早期完済」を登録しました。"


async def _assignment(svc: Service, no: str) -> dict:
    r = await svc.client.get(f"/api/v1/contracts/{no}/assignment", headers=HQ)
    assert r.status_code == 200, r.text
    return r.json()


async def test_the_api_offers_names_and_takes_only_known_staff_of_the_target_store(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    # TFC's feed carries 010277 for 世田谷店: a code the identity provider does not know
    await svc.add_contract(snapshot(new_contract_no(), store="S0102", staff_code="010277"))
    url = f"/api/v1/contracts/{no}/assignment"

    offered = await _assignment(svc, no)
    setagaya = {s["staff_code"]: s for s in offered["staff"]["S0102"]}
    assert setagaya["010201"] == {"staff_code": "010201", "name": "田中 由美", "label": "010201 田中 由美"}
    assert setagaya["010290"]["label"] == "010290 山本 香織"  # the store manager, from the directory
    assert setagaya["010277"] == {"staff_code": "010277", "name": "", "label": "010277"}  # from the feed
    assert "020101" not in setagaya and "S0201" not in offered["staff"]  # never another dealer's people
    assert "010201" in offered["staff_codes"]["S0102"]  # the older shape stays

    for code in ("ZZZ999", "010101"):  # nobody; a person of 品川店, not of the target store
        r = await svc.client.put(url, json={"store_code": "S0102", "staff_code": code}, headers=HQ)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["code"] == "unknown_staff_code" and body["field"] == "staff_code"
        assert f"スタッフコード「{code}」は変更先の店舗のスタッフに登録されていません" in body["detail"]
    unchanged = await _assignment(svc, no)
    # seq 0: no change was made, so none was staged for the outbox either
    assert (unchanged["store_code"], unchanged["staff_code"], unchanged["seq"]) == ("S0101", "010101", 0)

    r = await svc.client.put(url, json={"store_code": "S0102", "staff_code": "010277"}, headers=HQ)
    assert r.status_code == 200 and r.json()["staff_code"] == "010277"  # known from the feed
    r = await svc.client.put(url, json={"store_code": "S0102", "staff_code": "010290"}, headers=HQ)
    assert r.status_code == 200 and r.json()["staff_code"] == "010290"  # known from the directory
    assert r.json()["seq"] == 2


async def test_the_page_picks_staff_by_name_and_refuses_an_unknown_code_next_to_the_field(
    svc: Service,
) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(new_contract_no(), store="S0102"))  # selection learns 世田谷店 from TFC
    await svc.add_contract(snapshot(no))
    url = f"/selection/contracts/{no}/assignment"
    page = await svc.client.get(url, cookies=cookies("d1-hq"))
    assert page.status_code == 200
    optgroup = r'<optgroup label="[^"]+" data-store="(S\d+)">(.*?)</optgroup>'
    groups = dict(re.findall(optgroup, page.text, re.S))
    assert set(groups) == {"S0101", "S0102"}
    assert '<option value="010201" >010201 田中 由美</option>' in groups["S0102"]
    assert '<option value="010101" selected>010101 佐藤 健一</option>' in groups["S0101"]  # the current one
    assert "010201" not in groups["S0101"]

    r = await svc.client.post(
        url, data={"store_code": "S0102", "staff_code": "ZZZ999"}, cookies=cookies("d1-hq")
    )
    assert r.status_code == 422
    error = re.search(r'<span class="field-error" id="staff_code-error">([^<]+)</span>', r.text)
    assert error and "スタッフコード「ZZZ999」は変更先の店舗のスタッフに登録されていません" in error.group(1)
    assert (await _assignment(svc, no))["seq"] == 0

    r = await svc.client.post(
        url,
        data={"store_code": "S0102", "staff_code": "010202"},
        cookies=cookies("d1-hq"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    moved = await _assignment(svc, no)
    assert (moved["store_code"], moved["staff_code"]) == ("S0102", "010202")


async def _record(svc: Service, no: str, category: str) -> None:
    body = {"category": category, "replacement": "no", "confirmation_received_on": "2026-01-08"}
    r = await svc.client.put(f"/api/v1/contracts/{no}/selection", json=body, headers=auth("d1s1-staff1"))
    assert r.status_code == 200, r.text


async def test_early_payoff_confirmation_only_says_so_for_early_payoff(svc: Service) -> None:
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    url = f"/selection/contracts/{no}/early-payoff"
    staff = cookies("d1s1-staff1")

    page = await svc.client.get(url, cookies=staff)  # nothing recorded yet
    assert page.status_code == 409 and REGISTERED not in page.text
    assert "まだ登録されていません" in page.text and 'data-code="not_early_payoff"' in page.text

    await _record(svc, no, "refinance")
    page = await svc.client.get(url, cookies=staff)
    assert page.status_code == 409 and REGISTERED not in page.text
    assert "「再分割」で登録されています" in page.text
    assert f'href="/selection/contracts/{no}/input"' in page.text and "早期完済受付へ" not in page.text

    await _record(svc, no, "early_payoff")
    page = await svc.client.get(url, cookies=staff)
    assert page.status_code == 200 and REGISTERED in page.text and "早期完済受付へ" in page.text


async def test_the_memo_page_shows_japan_time(svc: Service) -> None:
    """Issue 15 point 5: a memo saved at 15:05 UTC reads as the next day, 00:05, in Tokyo."""
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    r = await svc.client.put(f"/api/v1/contracts/{no}/memo", json={"text": "来店予定"}, headers=HQ)
    assert r.status_code == 200, r.text
    async with svc.app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(
            update(MemoEntry)
            .where(MemoEntry.contract_no == no)
            .values(created_at=datetime(2026, 1, 9, 15, 5, tzinfo=UTC))
        )
    page = await svc.client.get(f"/selection/contracts/{no}/memo", cookies=cookies("d1-hq"))
    assert page.status_code == 200
    assert "（2026/01/10 00:05）" in page.text  # 最終更新
    assert "<td>2026/01/10 00:05</td>" in page.text  # the history
    assert "2026-01-09" not in page.text and "15:05" not in page.text
    r = await svc.client.get(f"/api/v1/contracts/{no}/memo", headers=HQ)
    assert r.json()["updated_at"] == "2026-01-09T15:05:00+00:00"  # the API keeps ISO 8601 with the offset


async def test_deciding_early_payoff_lands_on_its_confirmation_with_one_message(svc: Service) -> None:
    """早期完済確認 says itself what was recorded; the generic flash (「最終回選択を登録しました。」)
    would say it a second time on the same page."""
    no = new_contract_no()
    await svc.add_contract(snapshot(no))
    staff = auth("d1s1-staff1")
    form = {"category": "early_payoff", "replacement": "no", "confirmation_received_on": "2026-01-08"}
    written = await svc.client.post(f"/selection/contracts/{no}/input", data=form, headers=staff)
    assert written.status_code == 303 and "/early-payoff" in written.headers["location"], written.text
    assert FLASH_COOKIE not in written.cookies
    page = await svc.client.get(written.headers["location"], headers=staff)
    assert page.status_code == 200 and page.text.count("を登録しました。") == 1 and REGISTERED in page.text
