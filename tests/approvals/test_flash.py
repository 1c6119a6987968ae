"""Feedback after every write on the approvals pages (issue 16): 承認, 差戻し, 訂正, 取下げ and
承認フロー設定's 保存 redirect to a plain URL and the page they land on shows the message once
(the flash cookie of shared.web); a reload no longer does."""

from __future__ import annotations

from typing import Any

from shared.web import FLASH_COOKIE
from tests.approvals.conftest import Env
from tests.approvals.support import cookies, payload, submit

STAFF, MANAGER, HQ = "d1s1-staff1", "d1s1-manager", "d1-hq"


async def _post_and_land(env: Env, user: str, path: str, form: dict[str, Any]) -> str:
    """POST a page form; follow its redirect with the flash cookie it set; the landing page clears it.
    Returns the landing page, and checks that loading it again shows no message."""
    written = await env.client.post(path, data=form, cookies=cookies(user))
    assert written.status_code == 303, written.text
    env.client.cookies.clear()  # the message travels only with the cookie passed on below
    assert written.headers["location"] == path  # no ?done=…: a reload or a shared link shows nothing
    flash = written.cookies.get(FLASH_COOKIE)
    assert flash, written.headers
    page = await env.client.get(path, cookies={**cookies(user), FLASH_COOKIE: flash})
    assert page.status_code == 200
    cleared = page.headers.get("set-cookie", "")
    assert cleared.startswith(f"{FLASH_COOKIE}=") and "Max-Age=0" in cleared
    again = await env.client.get(path, cookies=cookies(user))
    assert 'id="flash"' not in again.text
    return page.text


def _action(version: int, action: str, **fields: Any) -> dict[str, Any]:
    return {"version": str(version), "action": action, **fields}


async def test_every_request_action_lands_on_the_request_with_its_message(env: Env) -> None:
    await env.set_flow(True, False)
    rid = (await submit(env.bootstrap, env.client, STAFF, body=payload()))["request_id"]
    path = f"/requests/{rid}"

    page = await _post_and_land(env, MANAGER, path, _action(1, "send_back", note="受領日をご確認ください"))
    assert page.count("差戻しが完了しました。") == 1 and "別途ご連絡ください" not in page

    correction = _action(
        2,
        "correct",
        has_payload="1",
        request_type="vehicle_return",
        contact1="03-1234-5678",
        contact2="090-1111-2222",
        result="returned",
        returned_on=payload()["returned_on"],
        notify_on_completion="on",
    )
    page = await _post_and_land(env, STAFF, path, correction)
    assert page.count("訂正が完了しました。") == 1
    assert "店舗承認者手続中」となりました" in page  # the manual's 「承認者へ承認依頼のご連絡」

    page = await _post_and_land(env, MANAGER, path, _action(3, "approve"))
    assert page.count("承認が完了しました。") == 1

    other = (await submit(env.bootstrap, env.client, STAFF, body=payload()))["request_id"]
    page = await _post_and_land(env, STAFF, f"/requests/{other}", _action(1, "withdraw"))
    assert page.count("取下げが完了しました。") == 1


async def test_a_send_back_to_someone_without_email_says_to_tell_them(env: Env) -> None:
    await env.set_flow(True, False)
    rid = (await submit(env.bootstrap, env.client, STAFF, body=payload(contact3_email=None)))["request_id"]
    page = await _post_and_land(env, MANAGER, f"/requests/{rid}", _action(1, "send_back", note="要確認"))
    assert "差戻しが完了しました。" in page and "別途ご連絡ください。" in page


async def test_saving_the_approval_flow_says_so_once(env: Env) -> None:
    form = {"store_approval": "on", "hq_approval": "on", "hq_approver_emails": "approver@d1.example"}
    page = await _post_and_land(env, HQ, "/approval-flow", form)
    assert page.count("承認フロー設定を保存しました。") == 1
