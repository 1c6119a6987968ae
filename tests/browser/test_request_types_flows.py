"""SPEC §9.2 in Chromium (issue 17): 再分割シミュレーション → 再分割審査申込 → store and head-office
approval → TFC's 完了 with 審査結果 承認 → 顧客詳細 shows the approved plan; 早期完済 → 早期完済受付 →
approvals → TFC's 早期完済金額 and 完了 → the completion e-mail with the amount.
A screenshot of every step (artifacts/screenshots/<test>/)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
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

# each walks a whole flow through three roles and TFC; the first may also start the suite's system
pytestmark = [*BROWSER_SUITE, pytest.mark.timeout(600)]

REFINANCE_CONTRACT = "T9000010"
EARLY_PAYOFF_CONTRACT = "T9000011"
PAYOFF_AMOUNT = 1_187_650


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def fill_contacts(page: Page) -> None:
    page.locator("#contact1").fill("03-1234-5678")
    page.locator("#contact3_email").fill(SUBMITTER_MAIL)
    page.get_by_label(re.compile("メール通知を希望する")).check()


def confirm_and_send(page: Page, shot: Screens, type_label: str) -> str:
    """確認 → the confirmation page → OK → 送信が完了しました; the request id from its link."""
    page.get_by_role("button", name="確認").click()
    expect(page.get_by_role("heading", name=f"{type_label}（確認）")).to_be_visible()
    shot(page, "confirm")
    page.locator("#ok").click()
    expect(page.locator("#sent")).to_have_text("送信が完了しました")
    expect(page.locator("#reception-no a")).to_be_visible()
    shot(page, "sent")
    href = page.locator("#reception-no a").get_attribute("href") or ""
    assert href.startswith("/requests/"), href
    return href.rsplit("/", 1)[1]


def approve_in_store_and_hq(page: Page, shot: Screens, request_id: str) -> None:
    open_request(page, "d1s1-manager", request_id)
    wait_for_status(page, request_id, "store_pending")
    shot(page, "store-pending")
    # the approver checks the request against the contract (the facts selection sent with it)
    facts = page.locator("#contract-facts")
    expect(facts.locator("#contract-address")).to_have_text("〒140-0001 東京都品川区北品川1-2-3")
    expect(facts.locator("#contract-vehicle")).to_contain_text("品川 300")
    expect(facts.locator("#final-date")).to_have_text(re.compile(r"^\d{4}/\d{2}/\d{2}$"))
    page.get_by_role("button", name="承認").click()
    expect(page.locator("[data-status='hq_pending']").first).to_be_visible()
    open_request(page, "d1-hq", request_id)
    shot(page, "hq-pending")
    page.get_by_role("button", name="承認").click()
    expect(page.locator("[data-status='requested']").first).to_be_visible()


def tfc_row(page: Page, request_id: str):  # type: ignore[no-untyped-def]
    """The request's row on the TFC console, once the console has read it from jpass.requests.v1."""
    row = page.locator(f"tr[data-request-id='{request_id}']")

    def listed() -> bool:
        page.goto("/tfc")
        return row.count() == 1

    wait_until(listed, timeout_s=30, interval_s=0.5)
    return row


def tfc_send(page: Page, request_id: str, action: str) -> None:
    tfc_row(page, request_id).get_by_role("button", name=action, exact=True).click()
    expect(page.get_by_text(f"{request_id} に「{action}」を送信しました。")).to_be_visible()


def test_refinance_application_from_simulation_to_approved_plan(
    page: Page, system: System, shot: Screens
) -> None:
    set_approval_flow(page, None, store=True, hq=True)
    login(page, "d1s1-staff1")
    open_detail(page, REFINANCE_CONTRACT)
    record_selection(page, "再分割", "無", None, system.today.isoformat())
    page.get_by_role("button", name="決定").click()
    expect(page.locator("#selection")).to_contain_text("再分割")
    page.locator("#action-refinance").click()
    expect(page.get_by_role("heading", name="再分割シミュレーション")).to_be_visible()
    page.get_by_label("支払回数").fill("36")
    page.get_by_role("button", name="試算").click()
    expect(page.locator("#schedule tbody tr")).to_have_count(36)
    monthly = page.locator("#monthly-payment").inner_text()
    shot(page, "simulation")

    page.locator("#to-application").click()
    expect(page.get_by_role("heading", name="再分割審査申込", exact=True)).to_be_visible()
    expect(page.locator("#plan-months")).to_have_text("36回")
    expect(page.locator("#plan-monthly")).to_have_text(monthly)
    fill_contacts(page)
    page.locator("#consent_obtained_on").fill(system.today.isoformat())
    shot(page, "application-form")
    request_id = confirm_and_send(page, shot, "再分割審査申込")

    approve_in_store_and_hq(page, shot, request_id)

    # TFC accepts, then completes with 審査結果 承認
    tfc_send(page, request_id, "受付")
    wait_for_status(page, request_id, "tfc_processing")
    row = tfc_row(page, request_id)
    expect(row.locator("td.type")).to_have_text("再分割審査申込")
    row.get_by_label("審査結果（完了時）").select_option("approved")
    shot(page, "tfc-console")
    row.get_by_role("button", name="完了", exact=True).click()  # its confirm dialog is accepted
    expect(page.get_by_text(f"{request_id} に「完了」を送信しました。")).to_be_visible()
    wait_for_status(page, request_id, "completed")
    expect(page.locator("#result")).to_have_attribute("data-result", "approved")
    expect(page.locator("#program")).to_have_text("ガンマファイナンス")
    expect(page.locator("ul.changes").last).to_contain_text("審査結果：（なし） → 承認")
    shot(page, "request-approved")

    # 顧客詳細: the approved plan (the read model follows the status event)
    def plan_shown() -> bool:
        open_detail(page, REFINANCE_CONTRACT)
        return page.locator("#approved-plan").count() == 1

    wait_until(plan_shown, timeout_s=30, interval_s=0.5)
    expect(page.locator("#approved-months")).to_have_text("36回")
    assert digits(page.locator("#approved-monthly").inner_text()) == digits(monthly)
    expect(page.locator("#requests tr[data-type='refinance_application']")).to_contain_text("審査結果：承認")
    expect(page.locator("#handling-status")).to_have_text("完了")
    expect(page.locator("#action-returns")).to_be_disabled()  # an application is no vehicle return
    shot(page, "detail-approved-plan")

    # 進捗一覧, 申込内容 = 再分割審査申込, 過去申込一覧
    page.goto("/requests?tab=past&type=refinance_application")
    expect(page.locator(f"a[href='/requests/{request_id}']")).to_be_visible()
    shot(page, "progress-list-past")


def test_early_payoff_from_selection_to_completion_mail(page: Page, system: System, shot: Screens) -> None:
    set_approval_flow(page, None, store=True, hq=True)
    login(page, "d1s1-staff1")
    open_detail(page, EARLY_PAYOFF_CONTRACT)
    record_selection(page, "早期完済", "無", None, system.today.isoformat())
    page.get_by_role("button", name="決定").click()
    expect(page.get_by_role("heading", name="早期完済確認")).to_be_visible()
    expect(page.locator(".flash")).to_have_count(1)  # 選択区分「早期完済」を登録しました。, once
    shot(page, "early-payoff-choice")

    page.locator("#to-acceptance").click()
    expect(page.get_by_role("heading", name="早期完済受付", exact=True)).to_be_visible()
    fill_contacts(page)
    payoff_day = system.today + timedelta(days=14)
    page.locator("#desired_payoff_date").fill(payoff_day.isoformat())
    page.get_by_label("振込", exact=True).check()
    shot(page, "acceptance-form")
    request_id = confirm_and_send(page, shot, "早期完済受付")

    approve_in_store_and_hq(page, shot, request_id)

    # TFC accepts, answers the amount (連絡事項), then completes
    tfc_send(page, request_id, "受付")
    wait_for_status(page, request_id, "tfc_processing")
    row = tfc_row(page, request_id)
    expect(row.locator("td.type")).to_have_text("早期完済受付")
    row.get_by_label("早期完済金額（円）").fill(str(PAYOFF_AMOUNT))
    shot(page, "tfc-console-amount")
    row.get_by_role("button", name="連絡事項", exact=True).click()
    expect(page.get_by_text(f"{request_id} に「連絡事項」を送信しました。")).to_be_visible()

    def amount_shown() -> bool:
        page.goto(f"/requests/{request_id}")
        return page.locator("#payoff-amount").get_attribute("data-amount") == str(PAYOFF_AMOUNT)

    wait_until(amount_shown, timeout_s=30, interval_s=0.5)
    expect(page.locator("#payoff-amount")).to_have_text(f"{PAYOFF_AMOUNT:,}円")
    shot(page, "request-amount")
    tfc_send(page, request_id, "完了")
    wait_for_status(page, request_id, "completed")
    shot(page, "request-completed")

    # the completion e-mail, as the mail catcher received it, shows the amount
    def completion_mail() -> bool:
        page.goto(f"/dev/mail?q={EARLY_PAYOFF_CONTRACT}")
        found = page.locator("article.mail", has_text="早期完済金額").filter(has_text=SUBMITTER_MAIL)
        return found.count() > 0

    wait_until(completion_mail, timeout_s=30, interval_s=0.5)
    # one message per recipient: the submitter's (連絡先3, notify checked)
    mail = page.locator("article.mail", has_text="早期完済金額").filter(has_text=SUBMITTER_MAIL).first
    expect(mail.locator(".subject")).to_contain_text("完了")
    expect(mail.locator(".body")).to_contain_text(f"早期完済金額：{PAYOFF_AMOUNT:,}円")
    expect(mail.locator(".to")).to_contain_text(SUBMITTER_MAIL)
    shot(page, "completion-mail", full_page=False)  # the newest messages: the completion mails
    login(page, "d1-hq", f"/mail-log?request_id={request_id}")
    expect(page.locator("#mail-log")).to_contain_text("早期完済受付")
    shot(page, "mail-log")
