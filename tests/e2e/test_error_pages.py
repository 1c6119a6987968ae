"""Pages answer refusals with a page in the layout and a way back; the API keeps its JSON (issue 16)."""

from __future__ import annotations

from tests.faults.system import contract, new_no, system
from tests.support import token_for


def cookie(user: str) -> dict[str, str]:
    return {"jpass_token": token_for(user)}


def assert_error_page(r, status: int, *texts: str) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("text/html"), (r.headers["content-type"], r.text[:300])
    assert f'data-status="{status}"' in r.text and "トップページへ" in r.text, r.text[:1000]
    for text in texts:
        assert text in r.text, text


async def test_pages_answer_with_pages_and_the_api_with_json(kafka_bootstrap: str) -> None:
    async with system(kafka_bootstrap, ("search", "returns", "mailer")) as s:
        no = new_no("ERR")
        await s.add_contract(contract(no))
        staff = cookie("d1s1-staff1")
        # 403: the mail log is hq's
        page = await s.request("GET", "/mail-log", cookies=staff)
        assert_error_page(page, 403, "権限")
        api = await s.request("GET", "/api/v1/mail-log", cookies=staff)
        assert api.status_code == 403 and api.headers["content-type"].startswith("application/json")
        # 405: reloading the confirmation (a POST-only page)
        page = await s.request("GET", f"/returns/contracts/{no}/confirm", cookies=staff)
        assert_error_page(page, 405, "画面を開き直して")
        # 404: another store's contract looks like none
        page = await s.request("GET", f"/contracts/{no}", cookies=cookie("d1s2-staff1"))
        assert page.status_code == 404 and "見つかりません" in page.text
        # 422 on the list: the message is on the page, next to nothing the user cannot see
        page = await s.request("GET", "/contracts", params={"mode": "bogus"}, cookies=staff)
        assert page.status_code == 422 and 'id="error-mode"' in page.text and "検索の種類" in page.text
        long_name = "山" * 3000
        page = await s.request(
            "GET", "/contracts", params={"mode": "individual", "contractor_name": long_name}, cookies=staff
        )
        assert page.status_code == 422 and "100文字以内" in page.text
        api = await s.request(
            "GET",
            "/api/v1/contracts",
            params={"mode": "individual", "contractor_name": long_name},
            cookies=staff,
        )
        assert api.status_code == 422 and api.json()["code"] == "criteria_too_long"
