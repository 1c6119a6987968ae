"""The manual's customer-list flows in Chromium: login, the three searches (and a refusal beside its
field), the colour legend, the customer detail, and the CSV export of a store manager."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import BROWSER_SUITE, Screens, System, login, open_detail, record_selection

pytestmark = BROWSER_SUITE


def test_login_and_top_menu(page: Page, system: System, shot: Screens) -> None:
    page.goto("/contracts")
    expect(page).to_have_url(re.compile(r"/oidc/authorize\?.*code_challenge_method=S256"))  # the provider
    expect(page.get_by_role("heading", name="J-PASS ログイン（デモ）")).to_be_visible()
    shot(page, "login")
    page.locator("button[data-user='d1s1-staff1']").click()
    expect(page.get_by_role("heading", name="最終回対象顧客一覧")).to_be_visible()
    page.goto("/")
    expect(page.get_by_role("heading", name="J-PASS トップ")).to_be_visible()
    expect(page.locator(".who")).to_contain_text("佐藤 健一")
    shot(page, "top-staff")
    login(page, "d1-hq")
    expect(page.get_by_role("link", name="承認フロー設定（本部用）")).to_be_visible()
    shot(page, "top-hq")


def test_search_three_ways_with_refusal(page: Page, system: System, shot: Screens) -> None:
    login(page, "d1s1-staff1", "/contracts")
    shot(page, "list-empty")
    # 個別契約検索: the name in hiragana finds 試験 一郎 (シケン イチロウ)
    individual = page.locator("#mode-individual")
    individual.get_by_label("②契約者名").fill("しけん")
    individual.get_by_role("button", name="検索").click()
    expect(page.locator("#contracts tr[data-contract='T9000001']")).to_be_visible()
    expect(page.locator("div.legend")).to_contain_text("グレー")
    expect(page.locator("#mark-legend")).to_contain_text("未 入力要だが未入力")
    shot(page, "individual-by-kana")
    # 汎用検索: 車種 ハリアー, all months
    general = page.locator("#mode-general")
    general.get_by_label("②車種").fill("ハリアー")
    general.get_by_role("button", name="検索").click()
    expect(page.locator("#contracts tr[data-contract='T9000003']")).to_be_visible()
    for model_cell in page.locator("#contracts tbody tr td:nth-child(8)").all():
        expect(model_cell).to_contain_text("ハリアー")
    shot(page, "general-by-model")
    # 車検軸検索: 2回目 0–30 months is refused beside the field (0–23 only)
    inspection = page.locator("#mode-inspection")
    inspection.get_by_label("車検の種類").select_option("2")
    inspection.get_by_label("車検前の月数（から）").fill("0")
    inspection.get_by_label("車検前の月数（まで）").fill("30")
    inspection.get_by_label("車検前の月数（まで）").evaluate("el => el.removeAttribute('max')")
    inspection.get_by_role("button", name="検索").click()
    error = page.locator("#mode-inspection .field-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("23")
    shot(page, "inspection-refused")
    # 車検軸検索: 初回 within 0–12 months finds T9000001 (first inspection = its final month, +6)
    inspection = page.locator("#mode-inspection")
    inspection.get_by_label("車検の種類").select_option("1")
    inspection.get_by_label("車検前の月数（から）").fill("0")
    inspection.get_by_label("車検前の月数（まで）").fill("12")
    inspection.get_by_role("button", name="検索").click()
    expect(page.locator("#contracts tr[data-contract='T9000001']")).to_be_visible()
    shot(page, "inspection-first")


def test_detail_and_tablet_width(page: Page, system: System, shot: Screens) -> None:
    login(page, "d1s1-staff1", "/contracts?mode=individual&contract_no=T9000002")
    page.locator("#contracts").get_by_role("link", name="顧客詳細").click()
    expect(page.get_by_role("heading", name="顧客詳細")).to_be_visible()
    expect(page.locator("#contract")).to_contain_text("検証 二郎")
    expect(page.locator("#action-selection")).to_be_visible()
    shot(page, "detail")
    page.set_viewport_size({"width": 820, "height": 1180})
    shot(page, "detail-tablet")
    page.goto("/contracts")
    shot(page, "list-tablet")
    page.goto("/contracts?mode=general")
    shot(page, "list-results-tablet")
    # no horizontal scrolling of the page itself at tablet width (wide tables scroll in their box)
    assert page.evaluate("document.documentElement.scrollWidth") <= 820


def test_csv_export_as_store_manager(page: Page, system: System, shot: Screens) -> None:
    login(page, "d1s1-manager", "/contracts?mode=general&model=プリウス")
    expect(page.locator("#total")).not_to_have_text("0")
    shot(page, "list-manager")
    with page.expect_download() as info:
        page.get_by_role("button", name="顧客リスト（csv）出力").click()
    download = info.value
    expect(page.locator("#export-progress")).to_contain_text("出力が完了しました")
    expect(page.get_by_role("button", name="顧客リスト（csv）出力")).to_be_enabled()
    shot(page, "export-done")
    body = open(download.path(), "rb").read()
    text = body.decode("cp932")
    assert text.splitlines()[0].startswith("最終回")
    assert "T9000001" in text
    assert download.suggested_filename.endswith(".csv")
    # staff have no export button
    login(page, "d1s1-staff1", "/contracts?mode=general&model=プリウス")
    expect(page.get_by_role("button", name="顧客リスト（csv）出力")).to_have_count(0)


def test_saved_searches(page: Page, system: System, shot: Screens) -> None:
    login(page, "d1s1-staff2", "/contracts")
    general = page.locator("#mode-general")
    general.get_by_label("②車種").fill("アクア")
    general.get_by_role("button", name="検索").click()
    expect(page.locator("#contracts tr[data-contract='T9000002']")).to_be_visible()
    page.get_by_role("button", name="保存").click()  # no name: refused beside the field
    expect(page.locator("#save-error")).to_have_text("保存名を入力してください。")
    shot(page, "save-refused")
    page.get_by_label("この検索条件を保存").fill("アクアの顧客")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#flash")).to_contain_text("検索条件「アクアの顧客」を保存しました。")
    expect(page.locator("#saved-searches")).to_contain_text("車種 アクア")
    shot(page, "saved-list")
    # apply it from the list page's selector
    page.goto("/contracts")
    page.get_by_label("保存した検索条件").select_option(label="アクアの顧客")
    expect(page.locator("#contracts tr[data-contract='T9000002']")).to_be_visible()
    expect(page.locator("#mode-general").get_by_label("②車種")).to_have_value("アクア")
    expect(page.get_by_label("保存した検索条件")).to_have_value(re.compile(r"model=%E3%82%A2"))
    shot(page, "saved-applied")
    # private to its owner
    login(page, "d1s1-staff1", "/saved-searches")
    expect(page.locator("#saved-searches")).to_have_count(0)
    login(page, "d1s1-staff2", "/saved-searches")
    page.get_by_role("button", name="アクアの顧客 を削除").click()
    expect(page.locator("#flash")).to_have_text("検索条件を削除しました。")
    expect(page.locator("#saved-searches")).to_have_count(0)


def test_dashboard(page: Page, system: System, shot: Screens) -> None:
    login(page, "d1s1-staff1", "/dashboard")
    expect(page.locator("#error-page")).to_contain_text("本部または店長のみ")
    expect(page.locator(".main-nav").get_by_role("link", name="ダッシュボード")).to_have_count(0)
    # a selection with replacement, so the figures are not empty whatever ran before
    login(page, "d1s1-staff2")
    open_detail(page, "T9000002")
    record_selection(page, "現金決済（口座振替）", "有", "クラウン", system.today.isoformat())
    page.get_by_role("button", name="決定").click()
    expect(page.locator("#selection")).to_contain_text("クラウン")
    login(page, "d1s1-manager", "/")
    page.get_by_role("link", name=re.compile("ダッシュボード（")).click()
    expect(page.get_by_role("heading", name="ダッシュボード")).to_be_visible()
    expect(page.locator("#highlights tr[data-contract='T9000001']")).to_be_visible()
    expect(page.locator("#replacement svg, #replacement .caveat").first).to_be_visible()
    shot(page, "dashboard-manager")
    login(page, "d1-hq", "/dashboard")
    expect(page.locator("#selection-table")).to_contain_text("品川店")
    figures = system.api.get("/api/v1/dashboard", "d1-hq")
    total = figures["selections"]["total"]
    counts = f"{total['replacement_yes']} / {total['selections']}"
    expect(page.locator("#kpi-replacement")).to_contain_text(counts)
    shot(page, "dashboard-hq")
    page.set_viewport_size({"width": 820, "height": 1180})
    shot(page, "dashboard-hq-tablet")
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
