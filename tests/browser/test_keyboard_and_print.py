"""Keyboard use and print: every form control has a label, focus is visible when tabbing, and the
print stylesheet hides navigation and buttons (screenshots of the print media too)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import BROWSER_SUITE, Screens, System, login

pytestmark = BROWSER_SUITE

UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby') && !el.getAttribute('title'))
  .map(el => el.outerHTML.slice(0, 120))"""

PAGES = {
    "d1s1-staff1": [
        "/contracts",
        "/contracts?mode=general&model=プリウス",
        "/contracts/T9000002",
        "/selection/contracts/T9000002/input",
        "/selection/contracts/T9000002/memo",
        "/selection/contracts/T9000002/refinance",
        "/saved-searches",
        "/requests",
    ],
    "d1s1-manager": ["/selection/contracts/T9000002/assignment", "/dashboard"],
    "d1-hq": ["/approval-flow", "/mail-log", "/dashboard"],
}


def test_every_form_control_has_a_label(page: Page, system: System) -> None:
    missing: dict[str, list[str]] = {}
    for user, paths in PAGES.items():
        login(page, user)
        for path in paths:
            page.goto(path)
            found = page.evaluate(UNLABELLED)
            if found:
                missing[f"{user} {path}"] = found
    assert missing == {}


def test_tabbing_shows_where_the_focus_is(page: Page, system: System, shot: Screens) -> None:
    login(page, "d1s1-staff1", "/contracts")
    outlines = []
    for _ in range(8):
        page.keyboard.press("Tab")
        outlines.append(
            page.evaluate(
                "() => { const s = getComputedStyle(document.activeElement);"
                " return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; }"
            )
        )
    assert all(style != "none" and width != "0px" for _, style, width in outlines), outlines
    shot(page, "focus-visible", full_page=False)
    # a search by keyboard alone: type the name, Enter
    page.locator("#contractor_name").focus()
    page.keyboard.type("けんしょう")
    page.keyboard.press("Enter")
    expect(page.locator("#contracts tr[data-contract='T9000002']")).to_be_visible()


def test_print_media_hides_navigation_and_buttons(page: Page, system: System, shot: Screens) -> None:
    login(page, "d1s1-staff1", "/contracts/T9000002")
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.locator("#actions")).to_be_hidden()
    expect(page.locator("#contract")).to_be_visible()
    shot(page, "detail-print")
    page.goto("/contracts?mode=individual&contract_no=T9000002")
    expect(page.locator("#mode-general")).to_be_hidden()
    first_cell = page.locator("#contracts tbody tr td").first
    colour = first_cell.evaluate("el => getComputedStyle(el).backgroundColor")
    assert colour != "rgba(0, 0, 0, 0)"  # the row colour is printed
    shot(page, "list-print")
