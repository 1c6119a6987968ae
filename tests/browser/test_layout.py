"""Layout at a small laptop (1024×768) and the usual office screen (1366×900), issue 16: the list's rows
are one line of buttons and nothing is cut off at 1024 px; results start above the fold at 1366×900;
no dashboard label is clipped; the 代替率 panel's charts share one label column and one scale; label
columns line up between panels; the approver's review shows the contract's facts beside the request;
未返却確定 hides 受領日 and 「その他の理由」 appears only with その他; the 車両返却 form's notices.
Screenshots of each at both widths."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    BROWSER_SUITE,
    Screens,
    System,
    add_months,
    login,
    open_detail,
    record_selection,
)
from tests.browser.conftest import TestContract as Contract
from tests.browser.test_request_flows import set_approval_flow, submit_return

pytestmark = BROWSER_SUITE

LAPTOP = {"width": 1024, "height": 768}
OFFICE = {"width": 1366, "height": 900}
RETURNING = Contract("T9160201", "配置 一子", "ハイチ イチコ", 3, plate="あ 16-11")
ALIGNED = Contract("T9160202", "配置 二郎", "ハイチ ジロウ", 7, model="アクア", plate="あ 16-12")
SHOWN = Contract("T9160203", "見本 花子", "ミホン ハナコ", 3, model="ハリアー", plate="あ 16-13")
CHARTED = Contract("T9160204", "図表 三太", "ズヒョウ サンタ", 7, model="ヤリス", plate="あ 16-14")


@pytest.fixture(scope="module")
def contracts(system: System) -> None:
    system.add_contracts(RETURNING, ALIGNED, SHOWN, CHARTED)


# how many lines each element's text takes (one client rect per line box of its text)
LINES_OF_TEXT = """els => els.map(e => {
  const range = document.createRange(); range.selectNodeContents(e);
  return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
})"""


def left_edges(page: Page, selector: str) -> list[float]:
    return page.eval_on_selector_all(
        selector, "els => els.map(e => Math.round(e.getBoundingClientRect().left))"
    )


@pytest.mark.parametrize("size", [LAPTOP, OFFICE], ids=["1024", "1366"])
def test_the_list_fits_and_its_buttons_stay_on_one_line(
    page: Page, system: System, shot: Screens, size: dict[str, int]
) -> None:
    page.set_viewport_size(size)
    login(page, "d1-hq", "/contracts?mode=general&done=show")
    rows = page.locator("#contracts tbody tr[data-contract]")
    expect(rows.first).to_be_visible()
    shot(page, f"list-{size['width']}", full_page=False)
    table = page.locator("#contracts")
    scroll, client = table.evaluate("t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
    assert scroll <= client, f"the table is cut off: {scroll} px wide in {client} px"
    buttons = page.locator("#contracts a.button")
    lines = buttons.evaluate_all(LINES_OF_TEXT)
    assert lines and max(lines) == 1, f"a 顧客詳細 button wraps: {max(lines)} lines"
    last = page.locator("#contracts tbody tr[data-contract]").first.locator("td").last
    box = last.bounding_box()
    assert box and box["x"] + box["width"] <= size["width"], box
    if size == OFFICE:  # the results start above the fold: the header and the first rows are on screen
        for i in range(3):
            row_box = rows.nth(i).bounding_box()
            assert row_box and row_box["y"] + row_box["height"] <= size["height"], (i, row_box)


@pytest.mark.parametrize("size", [LAPTOP, OFFICE], ids=["1024", "1366"])
def test_dashboard_labels_are_not_clipped(
    page: Page, system: System, shot: Screens, size: dict[str, int]
) -> None:
    page.set_viewport_size(size)
    login(page, "d1-hq", "/dashboard")
    expect(page.locator("#kpis")).to_be_visible()
    shot(page, f"dashboard-{size['width']}")
    clipped = page.eval_on_selector_all(
        "svg.chart text",
        "ts => ts.filter(t => { const b = t.getBBox(), v = t.ownerSVGElement.viewBox.baseVal;"
        " return b.x < 0 || b.x + b.width > v.width + 0.5; }).map(t => t.textContent)",
    )
    assert clipped == []
    overflowing = page.eval_on_selector_all(
        "#kpis li span", "ss => ss.filter(s => s.scrollWidth > s.clientWidth + 1).map(s => s.textContent)"
    )
    assert overflowing == []


# where each chart of a panel draws its bar track (the grey full-length rect) and its figures, in page pixels
CHART_GEOMETRY = """svgs => svgs.map(svg => {
  const track = svg.querySelector('rect').getBoundingClientRect();
  const figure = svg.querySelector('text[font-weight]').getBoundingClientRect();
  return {track_left: track.left, track_width: track.width, figure_left: figure.left,
          font_px: svg.querySelector('text').getBoundingClientRect().height};
})"""


@pytest.mark.parametrize("size", [LAPTOP, OFFICE], ids=["1024", "1366"])
def test_the_replacement_panels_charts_line_up(
    page: Page, system: System, shot: Screens, contracts: None, size: dict[str, int]
) -> None:
    """代替率（店舗別） and 代替率（スタッフ別） are one panel: their bars start at the same place, are as
    long for the same rate, and their figures and text are the same size."""
    login(page, "d1s1-staff1")
    open_detail(page, CHARTED.contract_no)  # at least one selection: every chart of the panel has a bar
    record_selection(page, "現金決済（口座振替）", "有", "アルファード", system.today.isoformat())
    page.get_by_role("button", name="決定").click()
    expect(page.locator("#selection dl.kv")).to_be_visible()
    page.set_viewport_size(size)
    login(page, "d1-hq", "/dashboard")
    charts = page.locator("#replacement svg.chart")
    expect(charts).to_have_count(2)
    shot(page, f"replacement-{size['width']}", full_page=False)
    shot.part(page.locator("#replacement"), f"replacement-panel-{size['width']}")
    stores, staff = charts.evaluate_all(CHART_GEOMETRY)
    for key in ("track_left", "track_width", "figure_left", "font_px"):
        assert abs(stores[key] - staff[key]) < 0.5, (key, stores, staff)


def test_label_columns_line_up_between_panels(
    page: Page, system: System, shot: Screens, contracts: None
) -> None:
    login(page, "d1s1-staff1")
    open_detail(page, ALIGNED.contract_no)
    record_selection(page, "現金決済（口座振替）", "有", "アルファード", system.today.isoformat())
    page.get_by_role("button", name="決定").click()
    expect(page.locator("#selection dl.kv")).to_be_visible()
    for size in (LAPTOP, OFFICE):
        page.set_viewport_size(size)
        # the values of ご契約内容 and 最終回選択・代替 start at the same distance from their panel
        contract, selection = (
            page.locator(f"#{panel}").evaluate(
                "p => p.querySelector('dl.kv dd').getBoundingClientRect().left"
                " - p.getBoundingClientRect().left"
            )
            for panel in ("contract", "selection")
        )
        assert contract == selection, (size, contract, selection)
        shot(page, f"detail-{size['width']}", full_page=False)
    for size in (LAPTOP, OFFICE):
        page.set_viewport_size(size)
        page.goto("/requests")
        starts = left_edges(page, "#contractor_name, #reception_no")
        assert len(set(starts)) == 1, starts
        starts = left_edges(page, "#contract_no, #updated_from")
        assert len(set(starts)) == 1, starts
        shot(page, f"progress-list-{size['width']}", full_page=False)


def test_return_form_shows_only_the_chosen_results_fields_and_the_manuals_notices(
    page: Page, system: System, shot: Screens, contracts: None
) -> None:
    page.set_viewport_size(LAPTOP)
    login(page, "d1s1-staff1")
    open_detail(page, RETURNING.contract_no)
    page.locator("#action-selection").click()
    note = page.locator("#vehicle-return-note")
    expect(note).to_be_hidden()
    page.get_by_label("車両返却", exact=True).check()
    expect(note).to_be_visible()  # the manual: enter the result promptly once the vehicle is back
    expect(note).to_contain_text("すみやかに")
    shot(page, "selection-vehicle-return-note")
    page.get_by_label("無", exact=True).check()
    page.locator("#confirmation_received_on").fill(system.today.isoformat())
    page.get_by_role("button", name="決定").click()
    expect(page.locator("#flash")).to_contain_text("最終回選択（車両返却）を登録しました。")
    expect(page.locator("#flash")).to_contain_text("車両返却結果を入力してください")
    shot(page, "detail-flash-vehicle-return")

    page.goto(f"/returns/contracts/{RETURNING.contract_no}/new")
    expect(page.locator("#sender-notice")).to_contain_text("j-pass_uketsuke@jpass.example")
    expect(page.locator("#sender-notice")).to_contain_text("受信対象アドレスへの追加登録")
    # one label column for 貴社情報's facts, its inputs and 契約者情報
    starts = left_edges(page, "#return-form dl.kv dd:first-of-type, #contact1, #contact3_email, #returned_on")
    assert len(set(starts)) == 1, starts
    shot(page, "return-form-returned")
    returned_on = page.locator("#returned_on")
    reason, other = page.locator("#not_returned_reason"), page.locator("#not_returned_reason_text")
    expect(returned_on).to_be_visible()
    expect(reason).to_be_hidden()
    page.get_by_label("未返却確定").check()
    expect(returned_on).to_be_hidden()  # not left greyed out on screen
    expect(reason).to_be_visible()
    expect(other).to_be_hidden()  # 「その他の理由」 only once その他 is chosen
    shot(page, "return-form-not-returned")
    reason.select_option("other")
    expect(other).to_be_visible()
    shot(page, "return-form-other-reason")
    reason.select_option("theft")
    expect(other).to_be_hidden()
    page.get_by_label("返却済み").check()
    expect(returned_on).to_be_visible()
    expect(reason).to_be_hidden()


def test_readme_screenshots(page: Page, system: System, shot: Screens, contracts: None) -> None:
    """The README's screens at 1366×900: the list, a customer's detail, the approver's review, the dashboard
    (artifacts/screenshots/test_readme_screenshots/; copied to docs/images/ when the screens change)."""
    set_approval_flow(page, None, store=True, hq=False)
    request_id = submit_return(page, system, None, SHOWN.contract_no)
    page.goto("/contracts")
    expect(page.locator("#contracts tbody tr").first).to_be_visible()
    shot(page, "list", full_page=False)
    open_detail(page, SHOWN.contract_no)
    expect(page.locator("#request")).to_contain_text("ステータス")
    shot(page, "detail", full_page=False)
    login(page, "d1s1-manager", f"/requests/{request_id}")
    expect(page.get_by_role("button", name="承認")).to_be_visible()
    expect(page.locator("#contact1")).to_have_count(0)  # a review, not a form
    shot(page, "review", full_page=False)
    # the contract's facts the approver checks (SPEC §4 契約者情報), beside the request
    facts = page.locator("#contract-facts")
    expect(facts.locator("#contract-address")).to_have_text("〒140-0001 東京都品川区北品川1-2-3")
    expect(facts.locator("#contract-vehicle")).to_have_text("ハリアー 品川 300 あ 16-13")
    expect(facts.locator("#program")).to_have_text("ガンマファイナンス")
    expect(facts.locator("#final-date")).to_have_text(add_months(system.today, 3).strftime("%Y/%m/%d"))
    login(page, "d1-hq", "/dashboard")
    expect(page.locator("#kpis")).to_be_visible()
    shot(page, "dashboard", full_page=False)
