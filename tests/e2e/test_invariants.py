"""SPEC §9.1 across services, through the real broker and each service's own PostgreSQL database:
one return per contract and a completed return is final (returns, selection, search agree), and one
ownership rule after TFC snapshots and reassignments (search, selection, returns agree)."""

from __future__ import annotations

from typing import Any

from tests.approvals.support import tfc
from tests.faults.system import TODAY, System, contract, new_no, system
from tests.support import auth, eventually, publish

STAFF, MANAGER, HQ = "d1s1-staff1", "d1s1-manager", "d1-hq"
INTAKE = ("search", "selection", "returns", "approvals")


async def put_selection(s: System, no: str, user: str, category: str, replacement: str = "no") -> Any:
    return await s.request(
        "PUT",
        f"/api/v1/contracts/{no}/selection",
        json={
            "category": category,
            "replacement": replacement,
            "confirmation_received_on": TODAY.isoformat(),
        },
        headers=auth(user),
    )


async def search_detail(s: System, no: str) -> dict[str, Any]:
    r = await s.get(f"/api/v1/contracts/{no}", HQ)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_completed_return_is_final_everywhere(kafka_bootstrap: str) -> None:
    async with system(kafka_bootstrap, INTAKE) as s:
        no = new_no("INV")
        request_id = await s.request_for(contract(no), STAFF)
        requested = await s.wait_request(request_id, STAFF, "requested")
        # the contract's facts travelled with the submission: the approver reviews them beside the request
        facts = requested["contract"]
        assert (facts["contractor_address"], facts["model"], facts["registration_no"]) == (
            "東京都品川区北品川1-2-3",
            "プリウス",
            "品川 300 あ 12-34",
        )
        assert (facts["final_payment_date"], facts["contractor_name_kana"]) == ("2026-06-30", "ヤマダ タロウ")
        for action in ("accept", "complete"):
            await tfc(kafka_bootstrap, request_id, action)
        done = await s.wait_request(request_id, STAFF, "completed")

        async def everyone_knows() -> None:
            detail = await search_detail(s, no)
            assert detail["completed"] is True and detail["handling_status"] == "completed", detail
            r = await s.get("/api/v1/returns/eligibility", STAFF, params={"contract_no": no})
            assert r.json()["code"] == "request_completed", r.text
            assert (await put_selection(s, no, STAFF, "cash")).status_code == 409

        await eventually(everyone_knows, timeout_s=30)
        # Finding 1: a second return after TFC completed the first is refused and changes nothing.
        again = await s.request("POST", "/api/v1/returns", json=_body(no), headers=auth(STAFF))
        assert again.status_code == 409 and again.json()["code"] == "request_completed", again.text
        menu = await s.request("GET", f"/returns/contracts/{no}", cookies=_cookie(STAFF))
        assert 'aria-disabled="true" id="new-return"' in menu.text and "完了しています" in menu.text
        # Finding 2 (after 完了): neither a category change nor any other change of the selection.
        cash = await put_selection(s, no, STAFF, "cash")
        assert cash.status_code == 409 and cash.json()["code"] == "request_completed", cash.text
        replacement = await put_selection(s, no, STAFF, "vehicle_return", replacement="yes")
        assert replacement.status_code in (409, 422)
        detail = await search_detail(s, no)
        assert detail["completed"] is True and detail["selection"]["category"] == "vehicle_return"
        assert detail["request"]["status"] == "completed"
        assert detail["request"]["reception_no"] == done["reception_no"]  # 受付番号 on 顧客詳細 too
        page = await s.request("GET", f"/contracts/{no}", cookies=_cookie(STAFF))
        assert done["reception_no"] in page.text


async def test_an_open_return_locks_the_category_until_it_is_withdrawn(kafka_bootstrap: str) -> None:
    async with system(kafka_bootstrap, INTAKE) as s:
        no = new_no("INV")
        await s.add_contract(contract(no))
        await s.record_selection(no, STAFF)
        await s.wait_eligible(no, STAFF)
        request_id = await s.submit_return(no, STAFF)

        # Locked from the submission on (selection hears the intake's event), before and after approvals;
        # the input screen says so before anyone tries.
        async def lock_known() -> None:
            r = await s.get(f"/api/v1/contracts/{no}/selection", STAFF)
            assert (r.json()["contract"]["category_lock"] or {}).get("code") == "open_request_exists", r.text

        await eventually(lock_known, timeout_s=30)

        async def locked() -> None:
            r = await put_selection(s, no, STAFF, "cash")
            assert r.status_code == 409 and r.json()["code"] == "open_request_exists", r.text
            assert "取下げ" in r.json()["detail"]

        await locked()
        screen = await s.request("GET", f"/selection/contracts/{no}/input", cookies=_cookie(STAFF))
        assert 'id="request-lock-notice"' in screen.text and "取下げ" in screen.text
        # The page says the same next to the field, and the list never shows 現金決済 beside the return.
        page = await s.request(
            "POST",
            f"/selection/contracts/{no}/input",
            data={"category": "cash", "replacement": "no", "confirmation_received_on": TODAY.isoformat()},
            cookies=_cookie(STAFF),
        )
        assert "取下げ" in page.text
        request = await s.wait_request(request_id, STAFF, "requested")
        await locked()
        # Correcting 自社代替 under the same category is still possible.
        same = await put_selection(s, no, STAFF, "vehicle_return", replacement="yes")
        assert (
            same.status_code == 422 or same.status_code == 200
        )  # 有 needs a model: a field error, not a lock
        withdrawn = await s.request(
            "POST",
            f"/api/v1/requests/{request_id}/withdraw",
            json={"version": request["version"]},
            headers=auth(STAFF),
        )
        assert withdrawn.status_code == 200, withdrawn.text

        async def free_again() -> None:
            r = await put_selection(s, no, STAFF, "cash")
            assert r.status_code == 200, r.text

        await eventually(free_again, timeout_s=30)

        async def search_shows_cash() -> None:
            detail = await search_detail(s, no)
            assert detail["selection"]["category"] == "cash" and detail["completed"] is False

        await eventually(search_shows_cash, timeout_s=30)


async def owners(s: System, no: str) -> dict[str, tuple[str, str]]:
    """(store_code, staff_code) as each of search, selection and returns sees the contract."""
    detail = await search_detail(s, no)
    assignment = (await s.get(f"/api/v1/contracts/{no}/assignment", HQ)).json()
    returns = (await s.get("/api/v1/returns/eligibility", HQ, params={"contract_no": no})).json()["contract"]
    return {
        "search": (detail["store_code"], detail["staff_code"]),
        "selection": (assignment["store_code"], assignment["staff_code"]),
        "returns": (returns["store_code"], returns["staff_code"]),
    }


async def test_one_ownership_rule_in_every_service(kafka_bootstrap: str) -> None:
    async with system(kafka_bootstrap, ("search", "selection", "returns")) as s:
        no, other = new_no("OWN"), new_no("OWN")
        await s.add_contract(contract(other, store="S0102"))  # selection learns the dealer's second store
        await s.add_contract(contract(no, staff_code="010101"))

        async def agree(expected: tuple[str, str]) -> None:
            async def check() -> None:
                seen = await owners(s, no)
                assert set(seen.values()) == {expected}, seen

            await eventually(check, timeout_s=30)

        await agree(("S0101", "010101"))
        # hq moves it to store B / staff y
        r = await s.request(
            "PUT",
            f"/api/v1/contracts/{no}/assignment",
            json={"store_code": "S0102", "staff_code": "010201"},
            headers=auth(HQ),
        )
        assert r.status_code == 200, r.text
        await agree(("S0102", "010201"))
        # an unchanged snapshot from TFC keeps the reassignment
        await publish(s.bootstrap, "tfc.contracts.v1", no, contract(no, version=2, staff_code="010101"))
        await agree(("S0102", "010201"))
        # Finding 3: TFC then changes only the staff (A / z): TFC's store and staff stand everywhere.
        await publish(s.bootstrap, "tfc.contracts.v1", no, contract(no, version=3, staff_code="010109"))
        await agree(("S0101", "010109"))


def _body(no: str) -> dict[str, Any]:
    return {
        "contract_no": no,
        "contact1": "03-1234-5678",
        "notify_on_completion": False,
        "result": "returned",
        "returned_on": TODAY.isoformat(),
    }


def _cookie(user: str) -> dict[str, str]:
    return {"jpass_token": auth(user)["Authorization"][7:]}
