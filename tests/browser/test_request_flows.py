"""The manual's 車両返却 and 契約内容変更受付 flows in Chromium: return intake with its confirmation
(and refusals beside the fields), the approval flow set by hq, send-back and correction, store and
head-office approvals, TFC's completion from the console, the e-mails in the mail catcher, withdrawal,
and the refusal for an open-end contract."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    APPROVER,
    BROWSER_SUITE,
    SUBMITTER_MAIL,
    Screens,
    System,
    login,
    open_detail,
    open_request,
    record_selection,
    set_approval_flow,
    wait_for_status,
    wait_until,
)

pytestmark = BROWSER_SUITE


def submit_return(page: Page, system: System, shot: Screens | None, contract_no: str) -> str:
    """As d1s1-staff1: 車両返却 selected, then the intake form, its confirmation and OK. Returns the id."""
    login(page, "d1s1-staff1")
    open_detail(page, contract_no)
    record_selection(page, "車両返却", "無", None, system.today.isoformat())
    page.get_by_role("button", name="決定").click()
    expect(page.locator("#selection")).to_contain_text("車両返却")
    page.locator("a#action-returns").click()
    expect(page.get_by_role("heading", name=re.compile("契約内容変更受付 メニュー"))).to_be_visible()
    if shot:
        shot(page, "returns-menu")
    page.locator("#new-return").click()
    expect(page.get_by_role("heading", name="車両返却 起票")).to_be_visible()
    if shot:
        # refusals: no phone number, and a receipt date after today, each beside its field
        page.locator("#contact1").evaluate("el => el.removeAttribute('required')")
        page.locator("#contact1").fill("")  # the form may offer this user's last contacts
        page.locator("#returned_on").evaluate("el => el.removeAttribute('max')")
        page.locator("#returned_on").fill(f"{system.today.year + 1}-01-01")
        page.get_by_role("button", name="確認").click()
        expect(page.locator("#error-contact1")).to_be_visible()
        expect(page.locator("#error-returned_on")).to_be_visible()
        shot(page, "return-form-refused")
    page.locator("#contact1").fill("03-1234-5678")
    page.locator("#contact3_email").fill(SUBMITTER_MAIL)
    page.locator("#returned_on").fill(system.today.isoformat())
    if shot:
        shot(page, "return-form")
    page.get_by_role("button", name="確認").click()
    expect(page.get_by_role("heading", name="車両返却 起票（確認）")).to_be_visible()
    if shot:
        shot(page, "return-confirm")
    # The confirmation page is the manual's 確認画面: OK sends at once (no second, JS dialog).
    page.locator("#ok").click()
    expect(page.locator("#sent")).to_have_text("送信が完了しました")
    if shot:
        shot(page, "return-sent")
    link = page.locator("a[href^='/requests/']").first
    return (link.get_attribute("href") or "").rsplit("/", 1)[1]


def test_return_approvals_send_back_correction_and_tfc_completion(
    page: Page, system: System, shot: Screens
) -> None:
    set_approval_flow(page, shot, store=True, hq=True)
    request_id = submit_return(page, system, shot, "T9000005")
    expect(page.locator("#extra-procedure")).to_be_visible()  # マックスバリュープランA: TFC's own procedure

    # the store manager sends it back with a reason
    open_request(page, "d1s1-manager", request_id)
    wait_for_status(page, request_id, "store_pending")
    page.goto("/requests")
    expect(page.locator(f"a[href='/requests/{request_id}']")).to_be_visible()
    shot(page, "progress-list-manager")
    page.goto(f"/requests/{request_id}")
    shot(page, "request-store-pending")
    page.locator("#note").fill("返却受領日を確認してください。")
    page.get_by_role("button", name="差戻し").click()
    expect(page.locator("[data-status='staff_back']").first).to_be_visible()
    expect(page.locator("#flash")).to_have_text("差戻しが完了しました。")  # feedback on the page landed on
    shot(page, "request-sent-back")

    # the submitter corrects it (連絡先2) and sends it again
    open_request(page, "d1s1-staff1", request_id)
    expect(page.locator("[data-status='staff_back']").first).to_be_visible()
    shot(page, "request-review-submitter")
    expect(page.locator("#contact2")).to_have_count(0)  # read-only review first; 訂正 is a mode
    page.locator("#start-correct").click()
    page.locator("#contact2").fill("090-1111-2222")
    shot(page, "request-correction")
    page.get_by_role("button", name="確認（訂正して再送信）").click()
    expect(page.locator("[data-status='store_pending']").first).to_be_visible()
    expect(page.locator("#flash")).to_have_text("訂正が完了しました。")

    # store approval, then head-office approval
    open_request(page, "d1s1-manager", request_id)
    page.get_by_role("button", name="承認").click()
    expect(page.locator("[data-status='hq_pending']").first).to_be_visible()
    expect(page.locator("#flash")).to_have_text("承認が完了しました。")
    shot(page, "request-store-approved")
    open_request(page, "d1-hq", request_id)
    shot(page, "request-hq-pending")
    page.get_by_role("button", name="承認").click()
    expect(page.locator("[data-status='requested']").first).to_be_visible()
    shot(page, "request-requested")

    # TFC accepts and completes it from the console
    page.goto("/tfc")
    row = page.locator(f"tr[data-request-id='{request_id}']")

    def listed() -> bool:
        page.goto("/tfc")
        return row.count() == 1

    wait_until(listed, timeout_s=30, interval_s=0.5)
    shot(page, "tfc-console")
    row.get_by_role("button", name="受付").click()
    wait_for_status(page, request_id, "tfc_processing")
    page.goto("/tfc")
    row.get_by_role("button", name="完了").click()
    expect(page.get_by_text(f"{request_id} に「完了」を送信しました。")).to_be_visible()
    shot(page, "tfc-completed")
    wait_for_status(page, request_id, "completed")
    shot(page, "request-completed")

    # the list shows 完了 for the contract
    page.goto("/contracts?mode=individual&contract_no=T9000005")
    expect(page.locator("#contracts tr[data-contract='T9000005']")).to_contain_text("完了")
    shot(page, "list-completed")

    # the e-mails: send-back to the submitter, approval request to hq, completion to submitter + approvers
    def mails_for(subject_part: str) -> list[dict]:
        return [m for m in system.api.mails() if subject_part in m["subject"] and "T9000005" in m["text"]]

    send_back = wait_until(lambda: mails_for("差戻"), timeout_s=30)
    assert any(SUBMITTER_MAIL in m["to"] for m in send_back)
    approval = wait_until(lambda: mails_for("承認依頼"), timeout_s=30)
    assert any(APPROVER in m["to"] for m in approval)
    done = wait_until(lambda: mails_for("完了"), timeout_s=30)
    assert SUBMITTER_MAIL in {to for m in done for to in m["to"]}
    login(page, "d1-hq", "/mail-log")
    shot(page, "mail-log")


def test_withdrawal(page: Page, system: System, shot: Screens) -> None:
    set_approval_flow(page, None, store=True, hq=False)
    request_id = submit_return(page, system, None, "T9000009")
    # left in 店舗承認者手続中 past the (shortened) 7 days: the 手続状況確認メール reaches the submitter
    reminder = wait_until(
        lambda: [m for m in system.api.mails() if "T9000009" in m["text"] and SUBMITTER_MAIL in m["to"]],
        timeout_s=30,
    )
    assert any("手続状況" in m["subject"] for m in reminder), [m["subject"] for m in reminder]
    page.goto(f"/requests/{request_id}")
    shot(page, "request-before-withdrawal")
    page.get_by_role("button", name="取り下げ").click()
    expect(page.locator("[data-status='withdrawn']").first).to_be_visible()
    expect(page.locator("#flash")).to_have_text("取下げが完了しました。")
    shot(page, "request-withdrawn")
    page.goto("/requests?tab=past")
    expect(page.locator(f"a[href='/requests/{request_id}']")).to_be_visible()
    shot(page, "past-list")
    # final: no correction or withdrawal offered any more
    page.goto(f"/requests/{request_id}")
    expect(page.get_by_role("button", name="取り下げ")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("訂正"))).to_have_count(0)


def test_open_end_contract_is_refused_for_returns(page: Page, system: System, shot: Screens) -> None:
    login(page, "d1s1-staff1")
    open_detail(page, "T9000008")
    expect(page.locator("#action-returns")).to_be_disabled()
    expect(page.locator("#actions")).to_contain_text("対象外")
    shot(page, "detail-open-end")
    page.goto("/returns/contracts/T9000008")
    expect(page.locator("[data-code]").first).to_be_visible()
    shot(page, "returns-menu-refused")
