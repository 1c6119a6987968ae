"""Identity in Chromium (SPEC §9.3): the access token expires and the provider session renews it without
the user seeing a login; an open page renews ahead of expiry; logout is a button (a POST) that ends the
session, and the token from before the logout no longer opens a page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import BROWSER_SUITE, Screens, System, login

pytestmark = BROWSER_SUITE


def token(page: Page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "jpass_token")


def test_silent_renewal_and_logout(page: Page, system: System, shot: Screens) -> None:
    login(page, "d1s1-staff1", "/contracts")
    expect(page.get_by_role("heading", name="最終回対象顧客一覧")).to_be_visible()
    first = token(page)

    # the 5-minute token expired (the browser dropped the cookie): the next page renews it unseen
    page.context.clear_cookies(name="jpass_token")
    seen: list[str] = []
    page.on("framenavigated", lambda frame: seen.append(frame.url))
    page.goto("/requests")
    expect(page.get_by_role("heading", name="契約内容変更受付")).to_be_visible()
    assert page.url.endswith("/requests")
    assert not page.get_by_text("J-PASS ログイン（デモ）").is_visible()
    assert any("/login/callback" in url for url in seen)  # through the provider, without its login page
    renewed = token(page)
    assert renewed != first
    shot(page, "renewed")

    # an open page renews ahead of expiry (renew.js's call), no navigation
    status = page.evaluate("fetch('/login/renew', {credentials: 'same-origin'}).then(r => r.status)")
    assert status == 204 and token(page) != renewed
    before_logout = token(page)

    page.get_by_role("button", name="ログアウト").click()
    expect(page.get_by_role("heading", name="ログアウトしました")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "jpass_token"]
    shot(page, "logged-out")

    # the token from before the logout, put back by hand: refused, and no silent renewal either — once the
    # services' list of ended sessions is at most JPASS_ENDED_SESSIONS_REFRESH_S (1 s) old
    page.wait_for_timeout(1100)
    page.context.add_cookies([{"name": "jpass_token", "value": before_logout, "url": system.base}])
    page.goto("/contracts")
    expect(page.get_by_role("heading", name="J-PASS ログイン（デモ）")).to_be_visible()
    shot(page, "login-again")
