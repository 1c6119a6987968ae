"""axe-core over every main page (issue 16): no serious or critical violation (labels, contrast, lang,
landmarks, names). axe.min.js is vendored beside this file (axe-core 4.14.1 from npm; docs/decisions.md)
and injected into each page as it is, in the state a person sees it: forms empty and refused, the
confirmation, the request under review and in 訂正, error pages, the demo login."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import BROWSER_SUITE, Screens, System, login, open_detail
from tests.browser.conftest import TestContract as Contract

pytestmark = BROWSER_SUITE

AXE = Path(__file__).with_name("axe.min.js")
BLOCKING = {"serious", "critical"}
RETURNED = Contract("T9160101", "点検 一子", "テンケン イチコ", 3, plate="あ 16-01")
REVIEWED = Contract("T9160102", "点検 二郎", "テンケン ジロウ", 4, model="アクア", plate="あ 16-02")

RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
  }));
}"""


class Audit:
    """axe-core on the page as it is now; every page's violations kept for one assertion at the end."""

    def __init__(self, page: Page, shot: Screens) -> None:
        self.page, self.shot = page, shot
        self.found: dict[str, list[dict[str, Any]]] = {}
        self.pages = 0

    def __call__(self, name: str) -> None:
        self.page.wait_for_load_state()
        self.shot(self.page, name)
        if not self.page.evaluate("() => typeof axe !== 'undefined'"):
            self.page.add_script_tag(path=str(AXE))
        violations = self.page.evaluate(RUN_AXE)
        self.pages += 1
        blocking = [v for v in violations if v["impact"] in BLOCKING]
        if blocking:
            self.found[f"{name} ({self.page.url})"] = blocking

    def visit(self, path: str, name: str) -> None:
        self.page.goto(path)
        self(name)


@pytest.fixture(scope="module")
def contracts(system: System) -> None:
    system.add_contracts(RETURNED, REVIEWED)


def choose_vehicle_return(page: Page, system: System, contract_no: str) -> None:
    open_detail(page, contract_no)
    page.locator("#action-selection").click()
    page.get_by_label("車両返却", exact=True).check()
    page.get_by_label("無", exact=True).check()
    page.locator("#confirmation_received_on").fill(system.today.isoformat())
    page.get_by_role("button", name="決定").click()
    expect(page.locator("#selection")).to_contain_text("車両返却")


def test_axe_finds_no_serious_or_critical_violation(
    page: Page, system: System, shot: Screens, contracts: None
) -> None:
    audit = Audit(page, shot)
    page.goto("/login")
    audit("login")

    login(page, "d1s1-staff1")
    audit("top")
    audit.visit("/contracts", "list")
    audit.visit("/contracts?mode=general&model=プリウス&done=show", "list-general")
    audit.visit("/contracts?mode=inspection&inspection=1&months_to=99", "list-refused")
    audit.visit(f"/contracts/{RETURNED.contract_no}", "detail")
    audit.visit(f"/selection/contracts/{RETURNED.contract_no}/input", "selection-input")
    audit.visit(f"/selection/contracts/{RETURNED.contract_no}/memo", "memo")
    audit.visit(f"/selection/contracts/{RETURNED.contract_no}/refinance", "refinance")
    audit.visit("/saved-searches", "saved-searches")
    audit.visit("/requests", "progress-list")
    audit.visit("/requests?tab=past&reception_no=x", "progress-list-refused")
    audit.visit("/contracts/T0000000", "not-found")
    audit.visit("/mail-log", "forbidden")

    # 車両返却: menu, form (empty and refused), confirmation, sent
    choose_vehicle_return(page, system, RETURNED.contract_no)
    audit("detail-after-selection")
    audit.visit(f"/returns/contracts/{RETURNED.contract_no}", "returns-menu")
    audit.visit(f"/returns/contracts/{RETURNED.contract_no}/new", "return-form")
    page.locator("#contact1").fill("")
    page.locator("#contact1").evaluate("el => el.removeAttribute('required')")
    page.get_by_label("未返却確定").check()
    page.get_by_role("button", name="確認").click()
    expect(page.locator("#form-errors")).to_be_visible()
    audit("return-form-refused")
    page.locator("#contact1").fill("03-1234-5678")
    page.get_by_label("返却済み").check()
    page.locator("#returned_on").fill(system.today.isoformat())
    page.get_by_role("button", name="確認").click()
    expect(page.get_by_role("heading", name="車両返却 起票（確認）")).to_be_visible()
    audit("return-confirm")
    page.locator("#ok").click()
    expect(page.locator("#sent")).to_be_visible()
    audit("return-sent")
    request_path = page.locator("a[href^='/requests/']").first.get_attribute("href") or ""
    assert re.fullmatch(r"/requests/[0-9a-f-]{36}", request_path), request_path
    audit.visit(request_path, "request-review-submitter")
    audit.visit(f"{request_path}?mode=correct", "request-correction")

    login(page, "d1s1-manager")
    audit.visit("/dashboard", "dashboard-store")
    audit.visit(f"/selection/contracts/{REVIEWED.contract_no}/assignment", "assignment")
    audit.visit(request_path, "request-manager")

    login(page, "d1-hq")
    audit.visit("/dashboard", "dashboard-dealer")
    audit.visit("/approval-flow", "approval-flow")
    audit.visit("/mail-log", "mail-log")
    audit.visit("/approvals/", "approvals-menu")

    assert audit.pages >= 29  # every page above was audited
    assert audit.found == {}, "\n".join(
        f"{where}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}"
        for where, violations in audit.found.items()
        for v in violations
    )
